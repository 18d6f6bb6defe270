/* internal.h - structs and csp__ declarations shared by more than one core
 * file. Nothing here is visible outside core/ (STYLE §1).
 *
 * Lock order (DESIGN §5.1): channel locks in increasing id order; every
 * other lock (scheduler, timer, loop, stack pool, runtime) is a leaf that
 * is never held while a channel lock is taken, and vice versa.
 */
#ifndef CSP_INTERNAL_H
#define CSP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csp.h"
#include "list.h"
#include "platform.h"

#if defined(CSP_DEBUG) || !defined(NDEBUG)
#include <stdio.h>
#include <stdlib.h>
#define CSP_ASSERT(x)                                                        \
    do {                                                                     \
        if (!(x)) {                                                          \
            fprintf(stderr, "csp: assertion failed: %s (%s:%d)\n", #x,       \
                    __FILE__, __LINE__);                                     \
            abort();                                                         \
        }                                                                    \
    } while (0)
#else
#define CSP_ASSERT(x) ((void)0)
#endif

#define CSP__LIKELY(x) __builtin_expect(!!(x), 1)
#define CSP__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------------
 * Runtime (rt.c). */

#define CSP__NSETTINGS 8

struct csp__sched; /* sched.c */
struct csp__timer; /* timer.c */

struct csp_rt {
    csp_alloc_fn alloc;          /* immutable */
    void *alloc_ud;              /* immutable */
    csp__mutex lock;             /* guards settings, started, the starts */
    int64_t settings[CSP__NSETTINGS]; /* indexed by CSP_RT_*; lock */
    _Atomic int started;         /* 1 once workers or timer ran */
    csp_exec pool_exec;          /* immutable; submits to the workers */
    int is_default;              /* immutable */
    _Atomic(struct csp__sched *) sched; /* set once by csp__sched_start */
    _Atomic(struct csp__timer *) timer; /* set once by csp__timer_start */
    _Atomic int64_t nchans;      /* live channels */
    _Atomic int64_t nops;        /* pending callback ops */
    csp__mutex ops_lock;         /* leaf; guards ops list */
    struct csp__list ops;        /* pending callback ops, for forced free */
    csp__mutex chans_lock;       /* leaf; guards chans (fork.c) */
    struct csp__list chans;      /* every live channel, for fork() */
    struct csp__link fork_link;  /* every runtime; fork.c's registry lock */
    _Atomic(struct csp__trace *) trace; /* trace.c; NULL: not tracing */
};

/* Allocation through the runtime's allocator. csp__alloc returns NULL on
 * failure; csp__free accepts NULL and must get the size allocated. */
void *csp__alloc(csp_rt *rt, size_t size);
void *csp__calloc(csp_rt *rt, size_t size);
void csp__free(csp_rt *rt, void *p, size_t size);

int64_t csp__rt_setting(csp_rt *rt, int key);
/* Mark RT started (settings frozen from now on). No lock needed. */
void csp__rt_mark_started(csp_rt *rt);

/* ------------------------------------------------------------------------
 * Waiters and nodes (wait.c). A waiter is one pending op (a single put
 * or take, or one alts); a node is one case of it, linked into one channel
 * queue. The waiter's state word decides who completes it: whoever wins
 * CAS(state, WAITING, CLAIMED) under the node's channel lock.
 */

enum { CSP__W_WAITING = 0, CSP__W_CLAIMED = 1, CSP__W_CANCELLED = 2 };
enum { CSP__CONT_PROC = 1, CSP__CONT_THREAD = 2, CSP__CONT_CB = 3 };

struct csp__parker;
struct csp__proc;

struct csp__node {
    struct csp__link link;         /* in a channel queue; ch->lock */
    struct csp__waiter *w;         /* immutable */
    csp_chan *ch;                  /* immutable */
    void *val;                     /* put value; immutable */
    uint32_t idx;                  /* case index; immutable */
    uint8_t is_put;                /* immutable */
    uint8_t linked;                /* guarded by ch->lock */
};

#define CSP__NODE(l) CSP__CONTAINER(l, struct csp__node, link)

struct csp__waiter {
    _Atomic uint32_t state;        /* WAITING -> CLAIMED | CANCELLED, once */
    uint32_t ncases;               /* immutable */
    uint32_t won;                  /* written by the claimer before wake */
    int rc;                        /* likewise */
    void *val;                     /* likewise: value for a take */
    struct csp__waiter *wnext;     /* local wake list; owned by the claimer */
    uint8_t kind;                  /* CSP__CONT_*; immutable */
    union {
        struct csp__proc *proc;
        struct csp__parker *parker;   /* claimer retains before waking */
        struct csp_pending *pending;  /* the callback op owning us */
    } u;
    struct csp__node *nodes;       /* ncases nodes */
};

static inline void csp__waiter_init(struct csp__waiter *w, int kind,
                                    void *cont, struct csp__node *nodes,
                                    uint32_t n)
{
    atomic_init(&w->state, CSP__W_WAITING);
    w->ncases = n;
    w->kind = (uint8_t)kind;
    w->nodes = nodes;
    w->val = NULL;
    switch (kind) {
    case CSP__CONT_PROC:
        w->u.proc = (struct csp__proc *)cont;
        break;
    case CSP__CONT_THREAD:
        w->u.parker = (struct csp__parker *)cont;
        break;
    default:
        w->u.pending = (struct csp_pending *)cont;
        break;
    }
}

static inline void csp__node_init(struct csp__node *n, struct csp__waiter *w,
                                  csp_chan *ch, void *val, uint32_t idx,
                                  int is_put)
{
    n->w = w;
    n->ch = ch;
    n->val = is_put ? val : NULL;
    n->idx = idx;
    n->is_put = (uint8_t)is_put;
    n->linked = 0;
}

/* Unlink every node of W that is still linked, one channel lock at a
 * time (pass 3, a withdrawn op). Call with no lock held. */
void csp__waiter_unlink(struct csp__waiter *w);

/* A wake list: waiters claimed under a lock, woken after unlocking. */
struct csp__wakes {
    struct csp__waiter *head, **tail;
};

/* Values to drop after unlocking. Overflow beyond the array is dropped at
 * once (under the lock), which drop's contract allows. */
#define CSP__DROPS_MAX 16
struct csp__drops {
    unsigned n;
    struct {
        csp_drop_fn fn;
        void *ud;
        void *val;
    } d[CSP__DROPS_MAX];
};

static inline void csp__wakes_init(struct csp__wakes *wl)
{
    wl->head = NULL;
    wl->tail = &wl->head;
}

/* Wake every waiter on WL (claimed, results written). No lock held. */
void csp__wake_all(struct csp__wakes *wl);
void csp__run_drops(struct csp__drops *dl);
/* After unlocking: run DL's drops, then wake WL's waiters. */
static inline void csp__finish(struct csp__wakes *wl, struct csp__drops *dl)
{
    if (dl->n)
        csp__run_drops(dl);
    if (wl->head)
        csp__wake_all(wl);
}

/* OS-thread parker (Rust std's futex protocol, DESIGN §5.5). */
struct csp__parker *csp__parker_self(void); /* NULL on ENOMEM */
void csp__parker_retain(struct csp__parker *p);
void csp__parker_release(struct csp__parker *p);
/* Consume the token or wait for it until DEADLINE; 0 or CSP_ETIMEDOUT. */
int csp__parker_park(struct csp__parker *p, int64_t deadline);
void csp__parker_unpark(struct csp__parker *p);

/* ------------------------------------------------------------------------
 * Pending callback ops (wait.c). */
struct csp_pending {
    atomic_uint refs;             /* one for the completion, one per handle */
    csp_rt *rt;                   /* immutable */
    struct csp__waiter w;
    csp_task task;                /* submitted to EX on completion */
    csp_exec *ex;                 /* immutable (a fork's child may
                                     move an inline op to the pool) */
    uint8_t is_alts;
    union {
        csp_done_fn done;
        csp_alts_fn alts;
    } cb;
    void *ud;
    struct csp__link rt_link;     /* in rt->ops; rt->ops_lock */
    size_t size;                  /* bytes allocated, for csp__free */
    struct csp__node nodes[];     /* ncases */
};

/* ------------------------------------------------------------------------
 * Transforms (xform.c). An instance is a chain of step states; the last
 * stage emits into the channel's buffer. */
struct csp_xform {
    atomic_uint refs;
    csp_rt *rt;
    size_t nstages;               /* 1 for a plain recipe */
    struct csp__xstage {
        csp_xf_init_fn init;
        csp_xf_step_fn step;
        csp_xf_complete_fn complete;
        csp_xf_fini_fn fini;
        void *ud;
        csp_xf_free_fn ud_free;
        struct csp_xform *owner;  /* retained recipe this stage came from */
    } stages[];
};

/* Where a stage emits: the next stage, or the channel's buffer. */
struct csp_emit {
    struct csp__xinst *inst;
    size_t stage;                 /* the stage whose output this is */
};

struct csp__xinst {
    csp_xform *xf;                /* retained */
    csp_chan *ch;                 /* the channel whose buffer is the sink */
    struct csp__drops *dl;        /* set for the duration of a step */
    int reduced;                  /* a stage said CSP_REDUCED */
    size_t nstages;
    struct csp_emit emits[8];     /* emits[i]: output of stage i; more: heap */
    struct csp_emit *emitp;
    void *states[];               /* nstages */
};

int csp__xinst_new(struct csp__xinst **out, csp_rt *rt, csp_xform *xf,
                   csp_chan *ch);
void csp__xinst_free(csp_rt *rt, struct csp__xinst *xi);
/* Run VAL through the instance (ch->lock held). Returns CSP_OK,
 * CSP_REDUCED, or a negative step error (VAL already disposed of). */
int csp__xinst_step(struct csp__xinst *xi, void *val, struct csp__drops *dl);
/* Flush every stage once (ch->lock held). */
int csp__xinst_complete(struct csp__xinst *xi, struct csp__drops *dl);

/* ------------------------------------------------------------------------
 * Channels (chan.c, buffer.c). */

enum { CSP__KIND_NORMAL = 0, CSP__KIND_TIMEOUT = 1 };

struct csp__buf {                 /* ring buffer; cap may grow (xform) */
    void **slots;
    size_t cap;                   /* logical capacity (full at count==cap) */
    size_t size;                  /* slots allocated (power of two) */
    size_t head, count;
};

struct csp_chan {
    atomic_uint refs;             /* atomic; the last release frees */
    uint64_t id;                  /* immutable; lock order; never reused */
    csp_rt *rt;                   /* immutable */
    csp__lock lock;               /* guards every field below */
    struct csp__list takes;       /* pending take nodes, FIFO */
    struct csp__list puts;        /* pending put nodes, FIFO */
    uint32_t ntakes, nputs;       /* linked nodes, for the 1024 limit */
    uint8_t buf_kind;             /* immutable: CSP_BUF_* */
    uint8_t kind;                 /* immutable: CSP__KIND_* */
    uint8_t closed;               /* 0 -> 1, never back */
    uint8_t flushed;              /* the transform completed */
    uint8_t promised;             /* a promise holds its value */
    uint8_t open_plain;           /* open, no transform, NONE or FIXED, not a
                                     timeout: chan.c's fast paths apply */
    struct csp__buf buf;          /* unused for CSP_BUF_NONE */
    void *promise;                /* the promise value */
    struct csp__xinst *xf;        /* NULL or the transform instance */
    csp_exh_fn exh;               /* immutable */
    void *exh_ud;                 /* immutable */
    csp_drop_fn drop;             /* immutable */
    void *drop_ud;                /* immutable */
    csp_free_fn on_free;          /* set once (lock); read at free */
    void *on_free_ud;
    struct csp__link rt_link;     /* in rt->chans; rt->chans_lock */
};

/* Create a channel of kind KIND (timer.c uses CSP__KIND_TIMEOUT). */
int csp__chan_new_kind(csp_chan **out, csp_rt *rt, int buf, size_t cap,
                       int kind);
/* Close regardless of kind (the timer closes timeout channels). */
void csp__chan_close(csp_chan *ch);

/* The single-case core shared by chan.c and alts.c; all with ch->lock
 * held. try_* return CSP_OK, CSP_ECLOSED or CSP_EAGAIN (not ready). */
int csp__chan_try_take(csp_chan *ch, void **val, struct csp__wakes *wl,
                       struct csp__drops *dl);
int csp__chan_try_put(csp_chan *ch, void *val, struct csp__wakes *wl,
                      struct csp__drops *dl);
/* 1 if N more nodes may be queued on that side (purging dead nodes at
 * the 1024 limit), else 0. */
int csp__chan_has_room(csp_chan *ch, int is_put, size_t n);
/* try_put of *VAL or try_take into *VAL. */
static inline int csp__chan_try(csp_chan *ch, int is_put, void **val,
                                struct csp__wakes *wl, struct csp__drops *dl)
{
    return is_put ? csp__chan_try_put(ch, *val, wl, dl)
                  : csp__chan_try_take(ch, val, wl, dl);
}
/* 1 on a thread running a transform step (CSP_DEBUG builds only): a
 * waiting op there is refused with CSP_EPERM. */
static inline int csp__in_xform_guard(void)
{
#ifdef CSP_DEBUG
    return csp__tls()->in_xform;
#else
    return 0;
#endif
}
void csp__chan_link(csp_chan *ch, struct csp__node *n);
void csp__chan_unlink(csp_chan *ch, struct csp__node *n);
/* The transform's sink: add V to the buffer by the buffer's policy. */
void csp__chan_sink(csp_chan *ch, void *v, struct csp__drops *dl);
/* Hand V to CH's drop hook (discard it), deferred through DL; the
 * argument order is csp__chan_sink's. */
void csp__chan_discard(csp_chan *ch, void *v, struct csp__drops *dl);

/* Pending callback ops (wait.c): allocate one with N nodes, enter it in
 * the runtime's list; finish runs pass 3, the callback and the releases. */
struct csp_pending *csp__pending_new(csp_rt *rt, size_t n);
void csp__pending_discard(struct csp_pending *op); /* never registered */
void csp__pending_finish(struct csp_pending *op);
/* Queue claimed OP's completion (the callback) on its executor. */
void csp__wake_pending(struct csp_pending *op);
/* Cancel RT's waiting callback ops that complete on EX (every one for
 * NULL: forced csp_rt_free), running their callbacks here with
 * CSP_ECANCELED; returns how many of RT's ops on EX are completed but not
 * yet called back. */
int csp__pending_cancel_exec(csp_rt *rt, csp_exec *ex);

/* ------------------------------------------------------------------------
 * fork() (fork.c): the atfork handlers take every csp lock in the parent
 * and rebuild each runtime in the child (docs/design.md, "fork").
 * Registration is done by csp_rt_new/csp_rt_free and chan_alloc/free. */
void csp__fork_register_rt(csp_rt *rt);
void csp__fork_unregister_rt(csp_rt *rt);
/* Each file's part, called by fork.c with every other thread frozen:
 * _lock in prepare, _unlock in the parent, _child in the child (which
 * owns every lock _lock took). */
int csp__chans_fork_trylock(csp_rt *rt); /* 0: one was busy, none held */
void csp__chans_fork_unlock(csp_rt *rt);
/* Child: empty every queue of every channel (the waiters were the
 * parent's), cancelling waiting callback ops onto *CANCELLED (linked by
 * task.next), and unlock the channels. */
void csp__chans_fork_child(csp_rt *rt, csp_task **cancelled);
/* Child: hand each cancelled op its CSP_ECANCELED completion on its
 * executor and requeue completed ops whose queue died with the pool. */
void csp__pending_fork_child(csp_rt *rt, csp_task *cancelled);
void csp__sched_fork_lock(csp_rt *rt);
void csp__sched_fork_unlock(csp_rt *rt);
/* Child: forget the parent's workers, procs and csp_thread threads;
 * workers start again on first need. */
void csp__sched_fork_child(csp_rt *rt);
void csp__timer_fork_lock(csp_rt *rt);
void csp__timer_fork_unlock(csp_rt *rt);
/* Child: restart the timer thread; pending timeouts keep their times. */
void csp__timer_fork_child(csp_rt *rt);
/* bindings/loop.c: every csp_loop's lock, and the child's fresh wake-up
 * descriptor. csp__loop_holds tells whether EX is a loop that has T
 * queued (-1: EX is not a loop). */
void csp__loop_fork_lock(void);
/* value.c: the value domains' lock. */
void csp__value_fork_lock(void);
void csp__value_fork_unlock(void);
void csp__loop_fork_unlock(void);
void csp__loop_fork_child(void);
int csp__loop_holds(csp_exec *ex, csp_task *t);

/* Buffer (buffer.c); all with ch->lock held except init/fini. */
int csp__buf_init(csp_rt *rt, struct csp__buf *b, size_t cap);
void csp__buf_fini(csp_rt *rt, struct csp__buf *b);
/* Double B's slots (a transform's expansion). CSP_OK or CSP_ENOMEM. */
int csp__buf_grow(csp_rt *rt, struct csp__buf *b);
/* Append, growing past cap if needed (a transform's expansion). Returns
 * CSP_OK or CSP_ENOMEM (only when growing). Inline: W4 pushes and pops
 * once per message. */
static inline int csp__buf_push(csp_rt *rt, struct csp__buf *b, void *v)
{
    if (CSP__UNLIKELY(b->count == b->size)) {
        int rc = csp__buf_grow(rt, b);
        if (rc != CSP_OK)
            return rc;
    }
    b->slots[(b->head + b->count) & (b->size - 1)] = v;
    b->count++;
    return CSP_OK;
}
static inline void *csp__buf_pop(struct csp__buf *b)
{
    void *v;

    CSP_ASSERT(b->count > 0);
    v = b->slots[b->head];
    b->head = (b->head + 1) & (b->size - 1);
    b->count--;
    return v;
}
static inline bool csp__buf_full(const struct csp__buf *b)
{
    return b->count >= b->cap;
}

/* ------------------------------------------------------------------------
 * Scheduler and go processes (sched.c, proc.c): the contract chan.c uses.
 */

/* The go process running on this thread, or NULL. Reads TLS: call only at
 * the entry of a public function, before anything that can park. */
static inline struct csp__proc *csp__proc_current(void)
{
    return csp__tls()->proc;
}

/* Park P (the caller) until csp__proc_wake(P). P holds no lock. W is the
 * op it waits on, with its nodes linked (a forced csp_rt_free withdraws
 * it). Before calling, the caller may describe what it waits on with
 * csp__proc_note_wait for csp_rt_dump. */
void csp__proc_park(struct csp__proc *p, struct csp__waiter *w);

/* Make P runnable after a park; exactly once per park, by the claimer of
 * its waiter, with no lock held. Never runs P inline. */
void csp__proc_wake(struct csp__proc *p);
/* csp__proc_wake(P) from the running go process ME, which knows its
 * worker: no TLS read. */
void csp__proc_wake_by(struct csp__proc *p, struct csp__proc *me);

/* Run FN(ARG) on a thread's own stack: called from a go process, on its
 * worker's (the process switched out meanwhile, then resumed at once on
 * that worker); elsewhere, on the caller's. For the runtime's rare deep
 * calls (starting threads and schedulers: pthread_create and snprintf
 * need 2-3.5 KiB of stack, more than a small stack has). FN must not
 * park. */
void csp__call_on_thread_stack(void (*fn)(void *), void *arg);
/* csp__thread_start through csp__call_on_thread_stack. Every runtime
 * thread (timer, csp_thread pool, workers) starts through here. */
int csp__thread_start_any(csp__thread *t, void *(*fn)(void *), void *arg,
                          const char *name);

/* Wakes gathered by csp__wake_all: procs woken from outside their
 * scheduler's workers (the timer thread closing a bucket, a thread's
 * put) are chained here and queued with one push per scheduler, ahead of
 * processes not yet started. Initialise with {0}; flush before the
 * gathering function returns. */
struct csp__wake_batch {
    void *s;                /* struct csp__sched of the chain, or NULL */
    csp_task *first, *last; /* the chain, by task.next */
    uint32_t n;
    struct csp__worker *self; /* the calling thread's worker or NULL */
    int self_read;            /* self is valid */
};
void csp__proc_wake_batched(struct csp__proc *p, struct csp__wake_batch *b);
void csp__wake_batch_flush(struct csp__wake_batch *b);

enum { CSP__WAIT_NONE = 0, CSP__WAIT_PUT, CSP__WAIT_TAKE, CSP__WAIT_ALTS,
       CSP__WAIT_SLEEP, CSP__WAIT_YIELD };
/* Record, for csp_rt_dump, what P is about to wait on: KIND and up to 4
 * channel ids from IDS (N in all). */
void csp__proc_note_wait(struct csp__proc *p, int kind, const uint64_t *ids,
                         size_t n);
/* csp__proc_note_wait(P, KIND, &ID, 1), then csp__proc_park(P, W): a
 * single put or take in one call. */
void csp__proc_park_on(struct csp__proc *p, struct csp__waiter *w, int kind,
                       uint64_t id);

/* Start RT's workers if not yet started (idempotent, thread-safe).
 * Returns CSP_OK or CSP_ENOMEM. */
int csp__sched_start(csp_rt *rt);
/* Queue a task on RT's workers (the pool executor). Workers are started. */
void csp__sched_submit(csp_rt *rt, csp_task *t);
/* Wait for live go processes and csp_thread threads to finish, then stop
 * the workers and free everything (rt_free). Returns CSP_OK or CSP_EBUSY
 * (parked forever, non-forced: nothing changed). */
int csp__sched_shutdown(csp_rt *rt, int force);
int csp__sched_stat(csp_rt *rt, int key, int64_t *value);
void csp__sched_dump(csp_rt *rt, FILE *f);
/* 1 when every live go process is parked (deadlock diagnosis). */
int csp__sched_all_parked(csp_rt *rt);
/* With CSP_RT_DEBUG_DEADLOCK set: if every go process of RT is parked and
 * no timer is pending, print a likely-deadlock report and csp_rt_dump to
 * stderr. WHAT names the caller ("csp_chan_take_blocking"). Call before a
 * blocking op waits, with no lock held. */
void csp__sched_deadlock_check(csp_rt *rt, const char *what);

/* ------------------------------------------------------------------------
 * Timers (timer.c). */
int csp__timer_shutdown(csp_rt *rt);
int64_t csp__timer_pending(csp_rt *rt);

/* ------------------------------------------------------------------------
 * Ids. */
uint64_t csp__next_chan_id(void);

/* ------------------------------------------------------------------------
 * Waiting (wait.c, alts.c). */

/* How the caller of a waiting op waits (wait.c): it parks its go process
 * (MODE_PARK) or blocks its thread until DEADLINE (MODE_BLOCK). */
enum { CSP__MODE_PARK = 0, CSP__MODE_BLOCK = 1 };
struct csp__wait {
    int mode;
    int64_t deadline;          /* MODE_BLOCK: csp_now_ns() or CSP_FOREVER */
    struct csp__proc *p;       /* MODE_PARK: the caller */
    struct csp__parker *pk;    /* MODE_BLOCK: the caller's parker */
};
/* Check the caller may wait so: CSP_OK, CSP_EPERM (park outside a go
 * process, block inside one), CSP_EINVAL (bad deadline), CSP_ENOMEM. */
static inline int csp__wait_begin(struct csp__wait *m, int mode,
                                  int64_t deadline)
{
    m->mode = mode;
    m->deadline = deadline;
    m->pk = NULL;
    m->p = csp__proc_current();
    if (mode == CSP__MODE_PARK)
        return m->p ? CSP_OK : CSP_EPERM;
    if (deadline < 0 && deadline != CSP_FOREVER)
        return CSP_EINVAL;
    if (m->p)
        return CSP_EPERM;
    m->pk = csp__parker_self();
    return m->pk ? CSP_OK : CSP_ENOMEM;
}

/* 1 if a blocking wait's deadline has passed (the op must not queue). */
static inline int csp__wait_expired(const struct csp__wait *m)
{
    return m->mode == CSP__MODE_BLOCK && m->deadline != CSP_FOREVER &&
           m->deadline <= csp__now_ns();
}

/* Initialise W (N nodes) for the caller described by M. */
static inline void csp__waiter_init_for(struct csp__waiter *w,
                                        const struct csp__wait *m,
                                        struct csp__node *nodes, uint32_t n)
{
    if (m->mode == CSP__MODE_PARK)
        csp__waiter_init(w, CSP__CONT_PROC, m->p, nodes, n);
    else
        csp__waiter_init(w, CSP__CONT_THREAD, m->pk, nodes, n);
}

/* A blocked thread's wait: W's token until DEADLINE, then W withdrawn
 * unless it was claimed meanwhile. CSP_OK or CSP_ETIMEDOUT. */
int csp__wait_thread(struct csp__waiter *w, struct csp__parker *pk,
                     int64_t deadline);

/* Wait for W, whose nodes are linked; no lock held. CSP_OK: W completed
 * (its rc, won and val are set); CSP_ETIMEDOUT: withdrawn at the deadline,
 * nothing happened. */
static inline int csp__wait_end(struct csp__wait *m, struct csp__waiter *w)
{
    if (m->mode == CSP__MODE_PARK) {
        csp__proc_park(m->p, w);
        /* Only P's pointer survives the switch; TLS is not read again. */
        return CSP_OK;
    }
    return csp__wait_thread(w, m->pk, m->deadline);
}

#endif /* CSP_INTERNAL_H */
