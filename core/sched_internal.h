/* sched_internal.h - the scheduler's private structs, shared by sched.c
 * (workers, idle protocol, shutdown), runq.c (run queues), sched_stat.c
 * (counters and the report), proc.c (go processes) and thread.c (the
 * csp_thread pool). Nothing outside those files and their
 * tests includes this header. (Not "sched.h": with -Icore that name
 * would hide the system's <sched.h>.)
 *
 * Run queues hold csp_task pointers. A go process embeds a csp_task whose
 * run field is csp__proc_marker, so procs and pool callbacks share one set
 * of queues; a worker tells them apart by that field.
 */
#ifndef CSP_SCHED_INTERNAL_H
#define CSP_SCHED_INTERNAL_H

#include "coro/coro.h"
#include "internal.h"

#if defined(CSP_DEBUG) || !defined(NDEBUG)
#define CSP__SCHED_CHECKS 1
#endif

/* The stack of CSP_GO_SMALL_STACK, and the least stack a proc gets:
 * sanitizers' frames are several times larger, so their builds give
 * small requests 32 KiB; an unoptimised build's (-O0) about twice, so
 * it gives them 8 KiB. */
#if defined(CSP__ASAN) || defined(CSP__TSAN)
#define CSP__SMALL_STACK ((size_t)32 * 1024)
#define CSP__STACK_FLOOR ((size_t)32 * 1024)
#elif !defined(__OPTIMIZE__)
#define CSP__SMALL_STACK ((size_t)8 * 1024)
#define CSP__STACK_FLOOR ((size_t)8 * 1024)
#else
#define CSP__SMALL_STACK ((size_t)CSP_STACK_SMALL)
#endif

#define CSP__RING 256       /* entries in a worker's ring (power of two) */
#define CSP__RUNNEXT_CAP 3  /* runnext runs in a row before the ring */
#define CSP__INJECT_TICK 61 /* every Nth tick checks the inject queue */

struct csp__sched;

/* pstate: the park handshake (DESIGN §5.4). WITHDRAWN: a forced
 * shutdown took a parked proc out of every wait queue; a waker that finds
 * it leaves the proc to the shutdown. */
enum {
    CSP__P_RUNNING = 0,
    CSP__P_PARKED = 1,
    CSP__P_NOTIFIED = 2,
    CSP__P_WITHDRAWN = 3
};
/* after: why a proc switched out to its scheduler. */
enum {
    CSP__AFTER_PARK = 1,
    CSP__AFTER_YIELD = 2,
    CSP__AFTER_EXIT = 3,
    CSP__AFTER_OVERFLOW = 4, /* its stack overflowed: report and abort */
    CSP__AFTER_CALL = 5      /* run p->call on the scheduler's stack, then
                                resume it at once */
};

/* Lives at the top of its own stack (proc.c). */
struct csp__proc {
    csp_task task;              /* first: run queue link; run = marker */
    struct csp__coro ctx;       /* saved context while switched out */
    struct csp__stack *stack;   /* immutable until freed by the scheduler */
    struct csp__sched *s;       /* immutable */
    csp_go_fn fn;               /* immutable */
    void *arg;                  /* immutable */
    csp_chan *result;           /* the proc's reference, or NULL */
    void *ret;                  /* fn's return value, set at exit */
    _Atomic uint32_t pstate;    /* CSP__P_*; the park handshake */
    struct csp__worker *worker; /* set by the scheduler at every resume */
    struct csp__worker *home;   /* pinned procs: the only worker; immutable */
    struct csp__waiter *waiter; /* the op it parks on; set by the proc */
    uint8_t after;              /* CSP__AFTER_*; set by the proc itself */
    uint8_t pinned;             /* immutable */
    uint8_t sleeping;           /* csp_sleep in progress; the proc's own */
    uint8_t canary_hit;         /* AFTER_OVERFLOW: the canary was written */
    struct csp__call *call;     /* AFTER_CALL: what to run; the proc's */
    uint64_t id;                /* immutable; spawn sequence number */
    /* What it waits on, for csp_rt_dump; written by the proc, read by
     * dumpers, hence relaxed atomics. */
    _Atomic int wait_kind;   /* CSP__WAIT_* */
    _Atomic uint32_t wait_n; /* channels in the op (ids: the first 4) */
    _Atomic uint64_t wait_ids[4];
    /* All live procs, sharded; guarded by s->shards[shard].lock. */
    struct csp__link live_link;
    uint32_t shard; /* immutable */
#if defined(CSP__SCHED_CHECKS)
    _Atomic(struct csp__worker *) running_on; /* at most one worker */
    uint64_t fpenv; /* MXCSR/FPCR at start; must not change */
#endif
};

/* Owned by its thread unless marked atomic or locked. */
struct csp__worker {
    struct csp__sched *s;            /* immutable */
    uint32_t index;                  /* immutable */
    struct csp__coro ctx;            /* the scheduler context of this thread */
    _Atomic(struct csp__proc *) cur; /* proc running now; read by thieves */
    /* Run queue: Go's runnext slot plus a single-producer, multi-consumer
     * ring. Only this worker pushes; this worker and thieves pop the head
     * by CAS. */
    _Atomic(csp_task *) runnext;
    _Atomic uint32_t head; /* CAS by owner and thieves */
    _Atomic uint32_t tail; /* stored by the owner only (release) */
    _Atomic(csp_task *) ring[CSP__RING];
    /* Pinned procs: FIFO under pin_lock; nobody steals from it. */
    csp__mutex pin_lock;
    struct csp__taskq pinq;
    _Atomic uint32_t npinned; /* stored under pin_lock, read lock-free */
    /* Idle protocol: the worker sleeps on wake while on the idle list. */
    _Atomic uint32_t wake; /* futex word: 0 sleep, else CSP__WAKE_* */
    _Atomic int idle;      /* on the idle list; written under idle_lock */
    struct csp__link idle_link; /* idle list; s->idle_lock */
    int spinning;                      /* counted in s->nspinning */
    uint32_t schedtick;
    uint32_t streak; /* runnext runs in a row */
    /* Parks minus wakes counted on this thread (owner stores only). */
    _Atomic int64_t nparked;
    struct csp__stack_cache *stacks;
    struct csp__tls *tls; /* the worker thread's TLS; set at its start */
    csp__thread thread;
};

enum { CSP__WAKE_SPIN = 1, CSP__WAKE_WORK = 2, CSP__WAKE_STOP = 3 };

/* csp_thread's pool (thread.c). */
struct csp__tworker;
struct csp__tpool {
    csp__mutex lock;              /* leaf; guards everything below */
    struct csp__list idle;        /* idle threads, most recent first */
    struct csp__list zombies;     /* exited on idle timeout, to join */
    int64_t nthreads;             /* alive (busy, idle or exiting) */
    int64_t nbusy;                /* running a job */
    struct csp__list all;         /* every record (fork's child) */
    int64_t max;                  /* immutable: CSP_RT_THREAD_POOL_MAX */
    int stopping;
};

struct csp__shard {
    csp__mutex lock;       /* leaf; guards the list */
    struct csp__list live; /* of csp__proc.live_link */
};

#define CSP__PROC_OF(l) CSP__CONTAINER(l, struct csp__proc, live_link)

struct csp__sched {
    csp_rt *rt;                   /* immutable */
    uint32_t nworkers;            /* immutable */
    struct csp__worker **workers; /* immutable array; cache-line aligned */
    void *workers_mem;            /* the allocation behind the workers */
    size_t workers_mem_size;
    uint32_t *coprimes; /* steal strides; immutable */
    uint32_t ncoprimes;
    /* Inject queue: spawns and wakes from outside the workers, overflow. */
    csp__mutex inject_lock;              /* leaf */
    struct csp__taskq injectq;           /* inject_lock */
    _Atomic uint32_t ninject;            /* stored under inject_lock */
    /* The first nready entries of injectq are procs woken from outside
     * the workers (a timer, a thread): they run before anything queued
     * after them and before the workers' rings (processes not yet
     * started). ready_tail is the last of them, or NULL. */
    _Atomic uint32_t nready;             /* stored under inject_lock */
    csp_task *ready_tail;                /* inject_lock */
    _Atomic uint64_t epoch;              /* bumped at each inject push */
    /* Idle list and spinning (Go's protocol). */
    csp__mutex idle_lock;          /* leaf */
    csp__cond idle_cond;           /* shutdown waits here for quiescence */
    struct csp__list idle;         /* of csp__worker.idle_link */
    _Atomic int32_t nidle;         /* stored under idle_lock */
    _Atomic int32_t nspinning;
    _Atomic int64_t nwakeups;   /* futex wakes of idle workers */
    int draining;               /* idle_lock: shutdown is waiting */
    _Atomic int stop;           /* workers exit when idle */
    _Atomic int closing;        /* no more spawns (shutdown decided) */
    _Atomic uint32_t next_home; /* round robin for pinned external spawns */
    /* Procs. */
    _Atomic int64_t nlive; /* spawned, not finished */
    _Atomic int64_t nspawned;
    _Atomic int64_t nparked_ext; /* parks minus wakes by non-workers */
    /* Wakes and submissions by threads that are not this scheduler's
     * workers, counted from before they make anything runnable until they
     * are done with S: shutdown waits for 0 before freeing S, since a
     * waker (the timer thread) may still be in wakep after the proc it
     * woke has run and exited. */
    _Atomic int64_t ext_inflight;
    struct csp__shard *shards;   /* nworkers + 1 (the last: non-workers) */
    struct csp__stack_pool *stacks;
    size_t stack_size;  /* immutable */
    int debug_deadlock; /* immutable */
    int64_t spin_ns;    /* an idle spinner looks this long; immutable */
    struct csp__tpool tpool;
};

/* Delay injection (DESIGN §10.2): built with -DCSP_CHAOS, the marked race
 * windows (a proc between enqueueing its op and switching out, the
 * scheduler before its PARKED CAS, a waker before its XCHG, the idle
 * recheck) sometimes spin a random while, and wakes sometimes skip
 * runnext, so that rare interleavings show up in ordinary test runs. */
#if defined(CSP_CHAOS)
static inline int csp__chaos(unsigned one_in)
{
    return csp__rand() % one_in == 0;
}
static inline void csp__chaos_delay(void)
{
    if (csp__chaos(4)) {
        volatile unsigned n = (unsigned)(csp__rand() % 4096);
        while (n)
            n = n - 1;
    }
}
#else
#define csp__chaos(one_in) 0
#define csp__chaos_delay() ((void)0)
#endif

/* The task run function that marks a go process. Never called. */
void csp__proc_marker(csp_task *t);

static inline struct csp__sched *csp__sched_get(csp_rt *rt)
{
    /* acquire: pairs with the release store in csp__sched_start. */
    return atomic_load_explicit(&rt->sched, memory_order_acquire);
}

/* sched.c: queue a new proc (spawn) or a woken one, from any thread;
 * SELF is the calling thread's worker or NULL. */
void csp__sched_spawn(struct csp__sched *s, struct csp__worker *self,
                      struct csp__proc *p);
void csp__sched_ready(struct csp__sched *s, struct csp__worker *self,
                      struct csp__proc *p);
/* Queue the chain FIRST..LAST of N unpinned procs woken from outside the
 * workers, ahead of processes not yet started, with one push. */
void csp__sched_ready_chain(struct csp__sched *s, csp_task *first,
                            csp_task *last, uint32_t n);
/* csp__proc_park (internal.h) is in sched.c: it switches P out straight
 * to the proc in its worker's runnext slot when there is one and the
 * runnext streak allows (no scheduler context in between), else to the
 * worker's scheduler, and returns when P is resumed. */
/* PREV switched straight to the caller, a proc now running on W (the
 * ARG of the transfer that resumed it): finish PREV's park as the
 * scheduler would (the PARKED CAS, or queue it if it was woken
 * meanwhile). */
void csp__sched_park_done(struct csp__proc *prev, struct csp__worker *w);
/* runq.c: the run queues (entries are csp_task pointers). */
/* Append the chain FIRST..LAST (N entries) to the inject queue. */
void csp__inject_push(struct csp__sched *s, csp_task *first, csp_task *last,
                      uint32_t n);
/* Put the chain FIRST..LAST (N procs woken from outside the workers)
 * behind the woken entries at the front of the inject queue. */
void csp__inject_push_ready(struct csp__sched *s, csp_task *first,
                            csp_task *last, uint32_t n);
/* The first woken entry of the inject queue, or NULL if none. */
csp_task *csp__inject_get_ready(struct csp__sched *s);
/* Take up to MAX entries from the inject queue (Go's globrunqget): the
 * first is returned, the rest go on W's ring. NULL if it is empty. */
csp_task *csp__inject_get(struct csp__sched *s, struct csp__worker *w,
                          uint32_t max);
/* Owner only: push T at W's ring tail; a full ring moves half of itself
 * and T to the inject queue. */
void csp__ring_put(struct csp__worker *w, csp_task *t);
/* Owner only: pop W's ring head, or NULL. */
csp_task *csp__ring_pop(struct csp__worker *w);
int csp__ring_empty(struct csp__worker *w);
/* W steals half of V's ring into its own and returns one entry, or
 * (STEALNEXT) V's runnext when V's ring is empty; NULL if nothing. */
csp_task *csp__ring_steal(struct csp__worker *w, struct csp__worker *v,
                          int stealnext);
/* W's pinned FIFO (any thread pushes, W pops); waking W is the caller's. */
void csp__pin_push(struct csp__worker *w, csp_task *t);
csp_task *csp__pin_pop(struct csp__worker *w);

/* A worker for a pinned proc spawned outside the workers. */
struct csp__worker *csp__sched_pick_home(struct csp__sched *s);
/* The total of parks minus wakes (CSP_STAT_PROCS_PARKED). */
int64_t csp__sched_parked(struct csp__sched *s);

/* proc.c: free a proc that switched out for the last time (EXIT) or is
 * discarded by a forced shutdown, with its stack. CACHE is the calling
 * worker's stack cache, or NULL. */
void csp__proc_destroy(struct csp__proc *p, struct csp__stack_cache *cache);
/* Forced shutdown, with every worker idle: take parked P out of its wait
 * queues for good. Returns 1 if P is withdrawn, 0 if a waker got there
 * first (P is or will be queued and runs). Takes channel locks, one at a
 * time; call with no lock held. */
int csp__proc_withdraw(struct csp__proc *p);
/* P's stack overflowed: switch to its scheduler, which reports it. */
_Noreturn __attribute__((noinline, cold)) void
csp__proc_overflow(struct csp__proc *p);
/* At every park, yield and exit: P's canary is intact and the calling
 * frame is not within the red zone at the bottom of its stack. */
static inline __attribute__((always_inline)) void
csp__proc_check(struct csp__proc *p)
{
    if (CSP__UNLIKELY(*p->stack->canary != CSP__STACK_CANARY ||
                      !csp__stack_headroom_ok(p->stack)))
        csp__proc_overflow(p);
}
/* After P's last switch (AFTER_EXIT), on the scheduler's stack: put its
 * return value on its result channel, close and release it. */
void csp__proc_deliver(struct csp__proc *p);
/* Report P's stack overflow (after = AFTER_OVERFLOW) naming P, and
 * abort. Runs on the scheduler's stack. */
_Noreturn void csp__proc_overflowed(struct csp__proc *p);
/* A call that P (AFTER_CALL) asked its worker to make on the scheduler's
 * stack; on P's stack, which waits for it. */
struct csp__call {
    void (*fn)(void *arg);
    void *arg;
};
/* Print P's state and what it waits on (one line) to F. */
void csp__proc_describe(struct csp__proc *p, FILE *f);

/* thread.c */
int csp__tpool_init(struct csp__tpool *tp, int64_t max);
/* Join every pool thread; none may be busy. */
void csp__tpool_fini(csp_rt *rt, struct csp__tpool *tp);
int64_t csp__tpool_busy(struct csp__tpool *tp);
/* fork's child: forget the parent's threads, closing their jobs' result
 * channels; TP is unusable after (its scheduler is freed). */
void csp__tpool_fork_child(csp_rt *rt, struct csp__tpool *tp);
int64_t csp__tpool_live(struct csp__tpool *tp);

/* Test hook (thread.c): idle pool threads exit after this many ms. */
extern _Atomic long csp__thread_idle_ms;

#endif /* CSP_SCHED_INTERNAL_H */
