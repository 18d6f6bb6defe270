/* sched.c - the worker pool: run queues, running and parking go
 * processes, the pool executor, the idle/spinning protocol, counters, the
 * report, and shutdown (DESIGN §6, "Go without P's").
 *
 * Each worker is an OS thread with a scheduler context (its own stack). It
 * runs csp_task entries: a go process (task.run == csp__proc_marker) is
 * switched to; any other task is a pool callback and runs right there, on
 * the scheduler stack, outside any proc. Where entries wait:
 *
 *   runnext   one slot per worker: a proc woken by code running on that
 *             worker runs next (Go's runnext); at most CSP__RUNNEXT_CAP
 *             runs in a row come from it, then it goes to the ring tail.
 *   ring      per worker, CSP__RING entries, Go's SPMC ring: the owner
 *             pushes at the tail, the owner and thieves pop the head by
 *             CAS. When full, half moves to the inject queue.
 *   pinned    per worker FIFO (pin_lock) of CSP_GO_PINNED procs; only the
 *             owner pops it.
 *   inject    global FIFO (inject_lock) for spawns, wakes and callbacks
 *             from non-worker threads, and ring overflow; every 61st tick
 *             a worker looks there first.
 *
 * Invariants:
 *   - A proc is in at most one queue, and in none while it runs or is
 *     parked. It runs on at most one worker at a time (debug builds check
 *     running_on at every switch).
 *   - A resumed proc is always queued, never run inline by its waker.
 *   - The park handshake (DESIGN §5.4): the proc releases its own locks,
 *     sets after = PARK and switches to its worker's scheduler context;
 *     the scheduler then CASes pstate RUNNING -> PARKED. A waker XCHGs
 *     NOTIFIED: if it saw PARKED it queues the proc, if it saw RUNNING the
 *     scheduler's CAS fails and the scheduler runs the proc again at once.
 *   - After a switch the scheduler context is still on its own thread, so
 *     it may keep its TLS pointer; a proc never reads TLS after a switch
 *     and finds its worker in proc->worker (DESIGN §4.4).
 *
 * No lost wake-up (Go's "delicate dance", proc.go): a submitter stores
 * its entry, issues a seq_cst fence, then reads nspinning and nidle
 * (wakep). A spinner that stops decrements nspinning, fences, and
 * rechecks every queue; a worker going idle joins the idle list, fences,
 * and rechecks. One of the two sides always sees the other.
 *
 * Locks: inject_lock, idle_lock, pin_lock and the shard locks are leaves:
 * none is held while another lock is taken, except idle_lock around the
 * worker wake-up bookkeeping, which takes nothing else. No lock is held
 * across a switch. The scheduler never takes a channel lock, except in a
 * forced shutdown, where it withdraws discarded procs' nodes one channel
 * at a time with nothing else held.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_internal.h"
#include "trace.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CSP__HAVE_VALGRIND 1
#endif
#endif

#define STEAL_ROUNDS 4
#define SPIN_NS 20000            /* an idle spinner looks this long */
#define DRAIN_POLL_NS 1000000    /* shutdown's recheck period */
#define STUCK_CONFIRM_NS 2000000 /* quiet this long before CSP_EBUSY */

void csp__proc_marker(csp_task *t)
{
    (void)t;
    fputs("csp: a go process was run as a task\n", stderr);
    abort();
}

/* The StoreLoad fence of the wake-up protocol. gcc rejects
 * atomic_thread_fence under -fsanitize=thread (TSan does not model
 * fences); there a seq_cst RMW, a full barrier on every CPU TSan runs
 * on, stands in for it. */
static inline void storeload_fence(void)
{
#if defined(CSP__TSAN)
    static _Atomic int word;
    atomic_fetch_add_explicit(&word, 0, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

static int is_proc(const csp_task *t)
{
    return t->run == csp__proc_marker;
}

#define WORKER_OF(l) CSP__CONTAINER(l, struct csp__worker, idle_link)

/* ------------------------------------------------------------------------
 * Idle workers and wake-ups. */

/* Unlink W from the idle list. idle_lock held. */
static void idle_remove(struct csp__sched *s, struct csp__worker *w)
{
    csp__list_remove(&s->idle, &w->idle_link);
    atomic_store_explicit(&w->idle, 0, memory_order_relaxed);
    atomic_store_explicit(
        &s->nidle, atomic_load_explicit(&s->nidle, memory_order_relaxed) - 1,
        memory_order_relaxed);
}

/* Wake W if it is idle, telling it WHY (CSP__WAKE_*). Takes idle_lock. */
static void wake_worker(struct csp__sched *s, struct csp__worker *w,
                        uint32_t why)
{
    csp__mutex_lock(&s->idle_lock);
    if (!atomic_load_explicit(&w->idle, memory_order_relaxed)) {
        csp__mutex_unlock(&s->idle_lock);
        return;
    }
    idle_remove(s, w);
    /* release: pairs with the acquire load in the sleeper's loop. */
    atomic_store_explicit(&w->wake, why, memory_order_release);
    csp__mutex_unlock(&s->idle_lock);
    atomic_fetch_add_explicit(&s->nwakeups, 1, memory_order_relaxed);
    csp__futex_wake(&w->wake, 1);
}

/* Start an idle worker spinning if there is work nobody looks for (Go's
 * wakep). Call after making an entry visible. */
static inline void wakep_nofence(struct csp__sched *s);

static void wakep(struct csp__sched *s)
{
    /* StoreLoad: our entry is visible before we read the counters;
     * pairs with the fences in find_work's spinning and idle paths. */
    storeload_fence();
    wakep_nofence(s);
}

/* wakep for an entry that needs no lost-wake-up guarantee: one in the
 * caller's own runnext slot, which the caller's worker runs itself.
 * Waking a spinner then only helps parallelism (it may steal the slot
 * after the backoff), so a stale read of the counters is harmless, and
 * the hot ping-pong path saves a fence. */
static __attribute__((noinline)) void wakep_slow(struct csp__sched *s);

static inline void wakep_nofence(struct csp__sched *s)
{
    if (atomic_load_explicit(&s->nidle, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&s->nspinning, memory_order_relaxed) != 0)
        return;
    wakep_slow(s);
}

static void wakep_slow(struct csp__sched *s)
{
    struct csp__worker *w;
    int32_t zero = 0;

    if (!atomic_compare_exchange_strong_explicit(&s->nspinning, &zero, 1,
                                                 memory_order_seq_cst,
                                                 memory_order_relaxed))
        return;
    csp__mutex_lock(&s->idle_lock);
    w = s->idle.head ? WORKER_OF(s->idle.head) : NULL;
    if (!w) {
        csp__mutex_unlock(&s->idle_lock);
        /* Everyone left the list meanwhile: they recheck the queues. */
        atomic_fetch_sub_explicit(&s->nspinning, 1, memory_order_seq_cst);
        return;
    }
    idle_remove(s, w);
    atomic_store_explicit(&w->wake, CSP__WAKE_SPIN, memory_order_release);
    csp__mutex_unlock(&s->idle_lock);
    atomic_fetch_add_explicit(&s->nwakeups, 1, memory_order_relaxed);
    csp__futex_wake(&w->wake, 1);
}

/* ------------------------------------------------------------------------
 * Queueing procs and tasks. */

/* Queue T on W's pinned FIFO and wake W if it sleeps. */
static void pin_push(struct csp__worker *w, csp_task *t)
{
    csp__pin_push(w, t);
    /* StoreLoad: pairs with the fence after W joins the idle list; W
     * either sees npinned or we see W idle. */
    storeload_fence();
    if (atomic_load_explicit(&w->idle, memory_order_relaxed))
        wake_worker(w->s, w, CSP__WAKE_WORK);
}

void csp__sched_spawn(struct csp__sched *s, struct csp__worker *self,
                      struct csp__proc *p)
{
    if (p->pinned) {
        pin_push(p->home, &p->task);
    } else if (self && self->s == s) {
        csp__ring_put(self, &p->task);
        wakep(s);
    } else {
        csp__inject_push(s, &p->task, &p->task, 1);
        wakep(s);
    }
}

static inline __attribute__((always_inline)) void
sched_ready(struct csp__sched *s, struct csp__worker *self, struct csp__proc *p)
{
    if (p->pinned) {
        pin_push(p->home, &p->task);
    } else if (self && self->s == s && !csp__chaos(4)) {
        /* Thieves only CAS the slot from an entry to NULL, so an empty
         * slot stays empty until we fill it: a plain store will do.
         * Otherwise XCHG, and the previous occupant (unless a thief got
         * it) goes to the tail of our ring. release: publishes P to
         * whoever takes it from the slot (acquire). */
        csp_task *old =
            atomic_load_explicit(&self->runnext, memory_order_relaxed);
        if (!old)
            atomic_store_explicit(&self->runnext, &p->task,
                                  memory_order_release);
        else
            old = atomic_exchange_explicit(&self->runnext, &p->task,
                                           memory_order_acq_rel);
        if (old) {
            csp__ring_put(self, old);
            wakep(s);
        } else {
            wakep_nofence(s);
        }
    } else {
        /* Woken from outside: ahead of processes not yet started. */
        csp__inject_push_ready(s, &p->task, &p->task, 1);
        wakep(s);
    }
}

void csp__sched_ready(struct csp__sched *s, struct csp__worker *self,
                      struct csp__proc *p)
{
    sched_ready(s, self, p);
}

/* The ping-pong path: the claimer of P's op makes it runnable (proc.c's
 * park handshake, here so that the runnext push inlines). */
static inline __attribute__((always_inline)) void
proc_wake(struct csp__proc *p, struct csp__worker *self)
{
    struct csp__sched *s = p->s;
    int ext = !(self && self->s == s);
    uint32_t old;

    /* Before P can run (and a shutdown free S): see ext_inflight. */
    if (ext)
        atomic_fetch_add_explicit(&s->ext_inflight, 1, memory_order_seq_cst);
    csp__chaos_delay(); /* the proc may still be switching out */
    /* acq_rel: release publishes the claimer's results to whoever runs
     * P next; acquire pairs with the scheduler's PARKED CAS. */
    old = atomic_exchange_explicit(&p->pstate, CSP__P_NOTIFIED,
                                   memory_order_acq_rel);

    if (old != CSP__P_PARKED) {
        /* RUNNING: its scheduler sees NOTIFIED and runs it again.
         * WITHDRAWN: a forced shutdown holds it and requeues it. */
        CSP_ASSERT(old == CSP__P_RUNNING || old == CSP__P_WITHDRAWN);
        if (ext)
            atomic_fetch_sub_explicit(&s->ext_inflight, 1,
                                      memory_order_release);
        return;
    }
    if (!ext)
        /* Only this thread writes its worker's counter. */
        atomic_store_explicit(
            &self->nparked,
            atomic_load_explicit(&self->nparked, memory_order_relaxed) - 1,
            memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&s->nparked_ext, 1, memory_order_relaxed);
    atomic_store_explicit(&p->pstate, CSP__P_RUNNING, memory_order_relaxed);
    CSP_TRACE_WAKE(s->rt, p->id);
    if (ext) {
        sched_ready(s, NULL, p);
        /* release: the shutdown that reads 0 is past our last use */
        atomic_fetch_sub_explicit(&s->ext_inflight, 1, memory_order_release);
    } else {
        sched_ready(s, self, p);
    }
}

void csp__proc_wake(struct csp__proc *p)
{
    proc_wake(p, csp__tls()->worker);
}

void csp__proc_wake_by(struct csp__proc *p, struct csp__proc *me)
{
    proc_wake(p, me->worker);
}

void csp__sched_ready_chain(struct csp__sched *s, csp_task *first,
                            csp_task *last, uint32_t n)
{
    csp__inject_push_ready(s, first, last, n);
    wakep(s);
}

struct csp__worker *csp__sched_pick_home(struct csp__sched *s)
{
    uint32_t i =
        atomic_fetch_add_explicit(&s->next_home, 1, memory_order_relaxed);

    return s->workers[i % s->nworkers];
}

void csp__sched_submit(csp_rt *rt, csp_task *t)
{
    struct csp__sched *s = csp__sched_get(rt);
    struct csp__worker *self;

    if (CSP__UNLIKELY(!s)) {
        /* The pool executor is handed out only after a start; this is
         * the unreachable fallback that still runs T exactly once. */
        if (csp__sched_start(rt) != CSP_OK) {
            t->run(t);
            return;
        }
        s = csp__sched_get(rt);
    }
    if (CSP__UNLIKELY(atomic_load_explicit(&s->stop, memory_order_acquire))) {
        t->run(t); /* workers are gone: run it here rather than lose it */
        return;
    }
    self = csp__tls()->worker;
    if (self && self->s == s) {
        csp__ring_put(self, t);
        wakep(s);
        return;
    }
    /* From outside the pool: counted until done with S (ext_inflight). */
    atomic_fetch_add_explicit(&s->ext_inflight, 1, memory_order_seq_cst);
    csp__inject_push(s, t, t, 1);
    wakep(s);
    atomic_fetch_sub_explicit(&s->ext_inflight, 1, memory_order_release);
}

/* ------------------------------------------------------------------------
 * Finding work (DESIGN §6.2). */

/* Is there work W could take: inject, its pinned FIFO, any ring? */
static int any_work(struct csp__sched *s, struct csp__worker *w)
{
    if (atomic_load_explicit(&s->ninject, memory_order_relaxed) ||
        atomic_load_explicit(&w->npinned, memory_order_relaxed) ||
        atomic_load_explicit(&w->runnext, memory_order_relaxed))
        return 1;
    for (uint32_t i = 0; i < s->nworkers; i++)
        if (!csp__ring_empty(s->workers[i]))
            return 1;
    return 0;
}

/* Spin up to SPIN_NS for work to appear where W looks. 1 if it did. */
static int spin_for_work(struct csp__worker *w)
{
    struct csp__sched *s = w->s;
    int64_t until = csp__now_ns() + s->spin_ns;

    do {
        for (int i = 0; i < 32; i++)
            csp__cpu_relax();
        if (any_work(s, w))
            return 1;
        if (atomic_load_explicit(&s->stop, memory_order_relaxed))
            return 0;
    } while (csp__now_ns() < until);
    return 0;
}

/* Try every other worker in random order, STEAL_ROUNDS times; runnext
 * only in the last round. */
static csp_task *steal_work(struct csp__worker *w)
{
    struct csp__sched *s = w->s;
    uint32_t n = s->nworkers;

    if (n < 2)
        return NULL;
    for (int round = 0; round < STEAL_ROUNDS; round++) {
        uint64_t r = csp__rand();
        uint32_t pos = (uint32_t)(r % n);
        uint32_t stride = s->coprimes[(r >> 32) % s->ncoprimes];

        for (uint32_t k = 0; k < n; k++, pos = (pos + stride) % n) {
            struct csp__worker *v = s->workers[pos];
            csp_task *t;

            if (v == w)
                continue;
            t = csp__ring_steal(w, v, round == STEAL_ROUNDS - 1);
            if (t)
                return t;
        }
    }
    return NULL;
}

/* The next entry for W to run, sleeping while there is none. NULL when
 * the scheduler stops. */
static csp_task *find_work(struct csp__worker *w)
{
    struct csp__sched *s = w->s;
    csp_task *t;
    uint32_t why;

top:
    if (CSP__UNLIKELY(atomic_load_explicit(&s->stop, memory_order_acquire)))
        return NULL;
    w->schedtick++;
    if (w->schedtick % CSP__INJECT_TICK == 0 && (t = csp__inject_get(s, w, 1)))
        goto found;
    if (w->schedtick % CSP__INJECT_TICK == CSP__INJECT_TICK / 2 &&
        (t = csp__pin_pop(w)))
        goto found;
    if (atomic_load_explicit(&w->runnext, memory_order_relaxed)) {
        /* An XCHG: a thief may CAS the slot concurrently. */
        t = atomic_exchange_explicit(&w->runnext, NULL, memory_order_acquire);
        if (t) {
            if (w->streak < CSP__RUNNEXT_CAP) {
                w->streak++;
                goto found_next;
            }
            csp__ring_put(w, t); /* let the ring run: fairness */
        }
    }
    /* Procs woken by a timer or a thread run before the ring's
     * processes not yet started (W8's lateness). */
    if ((t = csp__inject_get_ready(s)) || (t = csp__ring_pop(w)) ||
        (t = csp__pin_pop(w)) || (t = csp__inject_get(s, w, CSP__RING / 2)))
        goto found;

    /* Spin (look at other workers) if fewer than half the busy workers
     * already do (Go's rule). */
    if (!w->spinning) {
        int32_t nsp = atomic_load_explicit(&s->nspinning, memory_order_relaxed);
        int32_t nid = atomic_load_explicit(&s->nidle, memory_order_relaxed);

        if (2 * nsp < (int32_t)s->nworkers - nid) {
            w->spinning = 1;
            atomic_fetch_add_explicit(&s->nspinning, 1, memory_order_seq_cst);
        }
    }
    if (w->spinning) {
        if ((t = steal_work(w)))
            goto found;
        /* Before sleeping, spin a while: a worker put to sleep and woken
         * again costs two context switches and a futex wake across vCPUs
         * (~22 us), and while we count in nspinning, submitters skip
         * wakep (W6's spawn loop woke the idle worker for 0.6 of its
         * spawns). */
        if (spin_for_work(w))
            goto top;
        w->spinning = 0;
        atomic_fetch_sub_explicit(&s->nspinning, 1, memory_order_seq_cst);
        /* StoreLoad: pairs with wakep's fence. */
        storeload_fence();
        if (any_work(s, w))
            goto top;
    }

    /* Go idle. */
    csp__mutex_lock(&s->idle_lock);
    if (atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        csp__mutex_unlock(&s->idle_lock);
        return NULL;
    }
    atomic_store_explicit(&w->wake, 0, memory_order_relaxed);
    csp__list_push(&s->idle, &w->idle_link);
    atomic_store_explicit(&w->idle, 1, memory_order_relaxed);
    atomic_store_explicit(
        &s->nidle, atomic_load_explicit(&s->nidle, memory_order_relaxed) + 1,
        memory_order_relaxed);
    if (s->draining)
        csp__cond_broadcast(&s->idle_cond);
    csp__mutex_unlock(&s->idle_lock);
    csp__chaos_delay(); /* work may be submitted meanwhile */
    /* StoreLoad: pairs with the fences in wakep and pin_push. */
    storeload_fence();
    if (any_work(s, w)) {
        csp__mutex_lock(&s->idle_lock);
        if (atomic_load_explicit(&w->idle, memory_order_relaxed)) {
            idle_remove(s, w);
            csp__mutex_unlock(&s->idle_lock);
            goto top;
        }
        csp__mutex_unlock(&s->idle_lock);
        /* Someone took us off the list and set wake: handle it below. */
    }
    /* acquire: pairs with the release store of the waker. */
    while ((why = atomic_load_explicit(&w->wake, memory_order_acquire)) == 0)
        csp__futex_wait(&w->wake, 0, CSP_FOREVER);
    if (why == CSP__WAKE_STOP)
        return NULL;
    if (why == CSP__WAKE_SPIN)
        w->spinning = 1; /* the waker counted us in nspinning */
    goto top;

found:
    w->streak = 0;
found_next:
    if (w->spinning) {
        w->spinning = 0;
        /* The last spinner to find work starts another (Go's
         * resetspinning), so there is a spinner while work may remain. */
        if (atomic_fetch_sub_explicit(&s->nspinning, 1, memory_order_seq_cst) ==
            1)
            wakep(s);
    }
    return t;
}

/* ------------------------------------------------------------------------
 * Running procs. */

static int park_finish(struct csp__worker *w, struct csp__proc *p);

/* Run P on W until it parks for good, yields, or exits; a proc that
 * parks may switch straight to the one in W's runnext slot
 * (csp__proc_park), so the proc that comes back here is w->cur, not
 * necessarily P. TLS is this worker thread's own state (the scheduler
 * context never migrates). */
static void run_proc(struct csp__worker *w, struct csp__tls *tls,
                     struct csp__proc *p)
{
    for (;;) {
#if defined(CSP__SCHED_CHECKS)
        struct csp__worker *none = NULL;
        CSP_ASSERT(atomic_compare_exchange_strong_explicit(
            &p->running_on, &none, w, memory_order_acq_rel,
            memory_order_relaxed));
#endif
        p->worker = w;
        atomic_store_explicit(&w->cur, p, memory_order_relaxed);
        tls->proc = p;
        CSP_TRACE_RUN_BEGIN(w->s->rt);
        csp__coro_transfer(&w->ctx, &p->ctx, NULL);
        p = atomic_load_explicit(&w->cur, memory_order_relaxed);
        CSP_TRACE_RUN_END(w->s->rt, p->id, p->after);
        tls->proc = NULL;
        atomic_store_explicit(&w->cur, NULL, memory_order_relaxed);
#if defined(CSP__SCHED_CHECKS)
        {
            struct csp__worker *me = w;
            CSP_ASSERT(atomic_compare_exchange_strong_explicit(
                &p->running_on, &me, NULL, memory_order_acq_rel,
                memory_order_relaxed));
        }
#endif
        switch (p->after) {
        case CSP__AFTER_EXIT:
            csp__proc_deliver(p);
            /* A proc spawned outside the workers got its stack from the
             * pool's free list; give it back there, so that such spawns
             * keep reusing stacks instead of filling worker caches. */
            csp__proc_destroy(p, p->shard == w->s->nworkers ? NULL : w->stacks);
            return;
        case CSP__AFTER_CALL:
            /* On our stack for P (csp__thread_start_any); P runs again
             * at once, on this worker, as it would have without. */
            p->call->fn(p->call->arg);
            continue;
        case CSP__AFTER_OVERFLOW:
            csp__proc_overflowed(p);
        case CSP__AFTER_YIELD:
            if (p->pinned)
                pin_push(w, &p->task);
            else
                csp__ring_put(w, &p->task);
            return;
        default:
            CSP_ASSERT(p->after == CSP__AFTER_PARK);
            if (park_finish(w, p))
                return;
            /* NOTIFIED: woken before it finished switching out. */
            if (p->pinned || w->streak < CSP__RUNNEXT_CAP) {
                w->streak++;
                continue; /* counts as a runnext run */
            }
            csp__ring_put(w, &p->task);
            return;
        }
    }
}

/* The scheduler's half of P's park, on W after P switched out: count it
 * parked and CAS RUNNING -> PARKED. 1 if P is parked; 0 if a waker got
 * there first (P is RUNNING again and must be queued or run). */
static int park_finish(struct csp__worker *w, struct csp__proc *p)
{
    uint32_t expect = CSP__P_RUNNING;

    csp__chaos_delay(); /* a waker may XCHG meanwhile */
    /* Count it parked first so the total never goes negative when a
     * waker decrements at once. */
    atomic_store_explicit(
        &w->nparked,
        atomic_load_explicit(&w->nparked, memory_order_relaxed) + 1,
        memory_order_relaxed);
    /* release: the proc's state before the park (its waiter) is visible
     * to whoever sees PARKED (a forced shutdown); acquire on failure: the
     * waker's results are visible. */
    if (atomic_compare_exchange_strong_explicit(&p->pstate, &expect,
                                                CSP__P_PARKED,
                                                memory_order_acq_rel,
                                                memory_order_acquire))
        return 1;
    atomic_store_explicit(
        &w->nparked, atomic_load_explicit(&w->nparked, memory_order_relaxed) - 1,
        memory_order_relaxed);
    CSP_ASSERT(expect == CSP__P_NOTIFIED);
    atomic_store_explicit(&p->pstate, CSP__P_RUNNING, memory_order_relaxed);
    return 0;
}

static inline __attribute__((always_inline)) void
sched_park(struct csp__proc *p)
{
    struct csp__worker *w = p->worker;
    csp_task *t = NULL;
    void *prev;

    /* Only runnext, where procs this worker readied wait (never a pool
     * task): the proc P just woke, in a ping-pong. The streak cap keeps
     * the ring, the pinned FIFO and the inject queue served. */
    if (w->streak < CSP__RUNNEXT_CAP && !csp__chaos(4) &&
        atomic_load_explicit(&w->runnext, memory_order_relaxed))
        /* An XCHG: a thief may CAS the slot concurrently. */
        t = atomic_exchange_explicit(&w->runnext, NULL, memory_order_acquire);
    if (t) {
        struct csp__proc *q = (struct csp__proc *)t;

        CSP_ASSERT(is_proc(t) && !q->pinned);
        w->streak++;
#if defined(CSP__SCHED_CHECKS)
        struct csp__worker *none = NULL;
        CSP_ASSERT(atomic_compare_exchange_strong_explicit(
            &q->running_on, &none, w, memory_order_acq_rel,
            memory_order_relaxed));
#endif
        q->worker = w;
        atomic_store_explicit(&w->cur, q, memory_order_relaxed);
        w->tls->proc = q;
        /* The trace's run slices: ours ends, Q's begins, on this thread. */
        CSP_TRACE_RUN_END(w->s->rt, p->id, CSP__AFTER_PARK);
        CSP_TRACE_RUN_BEGIN(w->s->rt);
        /* Q finishes our park once we are switched out. */
        prev = csp__coro_transfer(&p->ctx, &q->ctx, p);
    } else {
        prev = csp__coro_transfer(&p->ctx, &w->ctx, NULL);
    }
    /* Resumed, perhaps on another worker: p->worker is ours now. */
    if (prev)
        csp__sched_park_done(prev, p->worker);
}

void csp__proc_park(struct csp__proc *p, struct csp__waiter *w)
{
    csp__proc_check(p);
#if defined(CSP__SCHED_CHECKS)
    /* The switch does not save MXCSR/FPCR (DESIGN §4.1). */
    CSP_ASSERT(csp__coro_fpenv() == p->fpenv);
#endif
    p->waiter = w;
    p->after = CSP__AFTER_PARK;
    csp__chaos_delay(); /* a waker may claim us meanwhile */
    sched_park(p);
    /* Resumed, perhaps on another worker: p is all we may use. */
    atomic_store_explicit(&p->wait_kind, CSP__WAIT_NONE, memory_order_relaxed);
}

void csp__proc_park_on(struct csp__proc *p, struct csp__waiter *w, int kind,
                       uint64_t id)
{
    atomic_store_explicit(&p->wait_ids[0], id, memory_order_relaxed);
    atomic_store_explicit(&p->wait_n, 1, memory_order_relaxed);
    atomic_store_explicit(&p->wait_kind,
                          p->sleeping ? CSP__WAIT_SLEEP : kind,
                          memory_order_relaxed);
    csp__proc_park(p, w);
}

void csp__sched_park_done(struct csp__proc *prev, struct csp__worker *w)
{
#if defined(CSP__SCHED_CHECKS)
    struct csp__worker *me = w;
    CSP_ASSERT(atomic_compare_exchange_strong_explicit(
        &prev->running_on, &me, NULL, memory_order_acq_rel,
        memory_order_relaxed));
#endif
    if (park_finish(w, prev))
        return;
    /* Woken while it switched to us: it runs next. */
    csp__sched_ready(w->s, w, prev);
}

static void *worker_main(void *arg)
{
    struct csp__worker *w = arg;
    struct csp__tls *tls = csp__tls();
    csp_task *t;

    tls->worker = w;
    w->tls = tls;
    csp__coro_thread_init(&w->ctx);
    while ((t = find_work(w))) {
        if (is_proc(t))
            run_proc(w, tls, (struct csp__proc *)t);
        else
            t->run(t);
    }
    csp__stack_cache_free(w->stacks);
    w->stacks = NULL;
    tls->worker = NULL;
    return NULL;
}

/* ------------------------------------------------------------------------
 * Start and stop. */

static size_t gcd(size_t a, size_t b)
{
    while (b) {
        size_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* Stop workers 0..N-1 (started threads) and join them. */
static void stop_workers(struct csp__sched *s, uint32_t n)
{
    struct csp__worker *w;

    csp__mutex_lock(&s->idle_lock);
    atomic_store_explicit(&s->stop, 1, memory_order_release);
    while (s->idle.head) {
        w = WORKER_OF(s->idle.head);
        idle_remove(s, w);
        atomic_store_explicit(&w->wake, CSP__WAKE_STOP, memory_order_release);
        csp__futex_wake(&w->wake, 1);
    }
    csp__mutex_unlock(&s->idle_lock);
    for (uint32_t i = 0; i < n; i++)
        csp__thread_join(s->workers[i]->thread);
}

/* Free S and what it owns; workers must be stopped (or never started). */
static void sched_free(csp_rt *rt, struct csp__sched *s)
{
    for (uint32_t i = 0; i < s->nworkers; i++) {
        struct csp__worker *w = s->workers[i];
        csp__stack_cache_free(w->stacks); /* NULL once its thread ran */
        csp__mutex_destroy(&w->pin_lock);
    }
    csp__stack_pool_free(s->stacks);
    for (uint32_t i = 0; i <= s->nworkers; i++)
        csp__mutex_destroy(&s->shards[i].lock);
    csp__free(rt, s->shards, (s->nworkers + 1) * sizeof *s->shards);
    csp__free(rt, s->coprimes, s->nworkers * sizeof *s->coprimes);
    csp__free(rt, s->workers, s->nworkers * sizeof *s->workers);
    csp__free(rt, s->workers_mem, s->workers_mem_size);
    csp__cond_destroy(&s->idle_cond);
    csp__mutex_destroy(&s->idle_lock);
    csp__mutex_destroy(&s->inject_lock);
    csp__free(rt, s, sizeof *s);
}

/* Build a scheduler from RT's settings (rt->lock held) and start its
 * workers. */
static int sched_new(csp_rt *rt, struct csp__sched **out)
{
    uint32_t n = (uint32_t)rt->settings[CSP_RT_THREADS];
    struct csp__sched *s;
    uint32_t inited = 0, started = 0, shards = 0;
    char *mem;

    s = csp__calloc(rt, sizeof *s);
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    s->nworkers = n;
    s->stack_size = (size_t)rt->settings[CSP_RT_STACK_SIZE];
    s->debug_deadlock = (int)rt->settings[CSP_RT_DEBUG_DEADLOCK];
    s->spin_ns = SPIN_NS;
#if defined(CSP__HAVE_VALGRIND)
    /* valgrind runs one thread at a time: a spinner only takes turns
     * from the threads with work. */
    if (RUNNING_ON_VALGRIND)
        s->spin_ns = 0;
#endif
    if (csp__mutex_init(&s->inject_lock) != CSP_OK)
        goto fail_inject;
    if (csp__mutex_init(&s->idle_lock) != CSP_OK)
        goto fail_idle;
    if (csp__cond_init(&s->idle_cond) != CSP_OK)
        goto fail_cond;
    s->coprimes = csp__alloc(rt, n * sizeof *s->coprimes);
    if (!s->coprimes)
        goto fail_coprimes;
    for (uint32_t i = 1; i <= n; i++)
        if (gcd(i, n) == 1)
            s->coprimes[s->ncoprimes++] = i;
    s->workers = csp__calloc(rt, n * sizeof *s->workers);
    if (!s->workers)
        goto fail_workers;
    s->workers_mem_size = n * sizeof(struct csp__worker) + 64;
    s->workers_mem = csp__calloc(rt, s->workers_mem_size);
    if (!s->workers_mem)
        goto fail_workers_mem;
    mem = (char *)(((uintptr_t)s->workers_mem + 63) & ~(uintptr_t)63);
    s->shards = csp__calloc(rt, (n + 1) * sizeof *s->shards);
    if (!s->shards)
        goto fail_shards;
    for (; shards <= n; shards++)
        if (csp__mutex_init(&s->shards[shards].lock) != CSP_OK)
            goto fail_shard_locks;
    s->stacks = csp__stack_pool_new(s->stack_size,
                                    (size_t)rt->settings[CSP_RT_STACK_GUARDS],
                                    (size_t)rt->settings[CSP_RT_STACK_CACHE]);
    if (!s->stacks)
        goto fail_pool;
    if (csp__tpool_init(&s->tpool, rt->settings[CSP_RT_THREAD_POOL_MAX]) !=
        CSP_OK)
        goto fail_tpool;
    for (; inited < n; inited++) {
        struct csp__worker *w =
            (struct csp__worker *)(mem + inited * sizeof(struct csp__worker));
        s->workers[inited] = w;
        w->s = s;
        w->index = inited;
        if (csp__mutex_init(&w->pin_lock) != CSP_OK)
            goto fail_worker_init;
        w->stacks = csp__stack_cache_new(s->stacks);
        if (!w->stacks) {
            csp__mutex_destroy(&w->pin_lock);
            goto fail_worker_init;
        }
    }
    for (; started < n; started++) {
        struct csp__worker *w = s->workers[started];
        char name[32]; /* at most 15 used: CSP_RT_THREADS <= 1024 */

        snprintf(name, sizeof name, "csp-worker-%u", started);
        if (csp__thread_start_any(&w->thread, worker_main, w, name) != CSP_OK)
            goto fail_start;
    }
    *out = s;
    return CSP_OK;

fail_start:
    stop_workers(s, started);
    /* sched_free takes it from here: everything below is complete. */
    csp__tpool_fini(rt, &s->tpool);
    sched_free(rt, s);
    return CSP_ENOMEM;
fail_worker_init:
    while (inited-- > 0) {
        csp__stack_cache_free(s->workers[inited]->stacks);
        csp__mutex_destroy(&s->workers[inited]->pin_lock);
    }
    csp__tpool_fini(rt, &s->tpool);
fail_tpool:
    csp__stack_pool_free(s->stacks);
fail_pool:
fail_shard_locks:
    while (shards-- > 0)
        csp__mutex_destroy(&s->shards[shards].lock);
    csp__free(rt, s->shards, (n + 1) * sizeof *s->shards);
fail_shards:
    csp__free(rt, s->workers_mem, s->workers_mem_size);
fail_workers_mem:
    csp__free(rt, s->workers, n * sizeof *s->workers);
fail_workers:
    csp__free(rt, s->coprimes, n * sizeof *s->coprimes);
fail_coprimes:
    csp__cond_destroy(&s->idle_cond);
fail_cond:
    csp__mutex_destroy(&s->idle_lock);
fail_idle:
    csp__mutex_destroy(&s->inject_lock);
fail_inject:
    csp__free(rt, s, sizeof *s);
    return CSP_ENOMEM;
}

struct sched_start {
    csp_rt *rt;
    int rc;
};

static void sched_start_call(void *arg)
{
    struct sched_start *a = arg;
    csp_rt *rt = a->rt;
    struct csp__sched *s;

    csp__mutex_lock(&rt->lock);
    if (!atomic_load_explicit(&rt->sched, memory_order_relaxed)) {
        a->rc = sched_new(rt, &s);
        if (a->rc == CSP_OK) {
            csp__rt_mark_started(rt);
            /* release: pairs with the acquire in csp__sched_get. */
            atomic_store_explicit(&rt->sched, s, memory_order_release);
        }
    }
    csp__mutex_unlock(&rt->lock);
}

int csp__sched_start(csp_rt *rt)
{
    struct sched_start a = {rt, CSP_OK};

    if (CSP__LIKELY(csp__sched_get(rt) != NULL))
        return CSP_OK;
    /* From a go process of another runtime, on its worker's stack. */
    csp__call_on_thread_stack(sched_start_call, &a);
    return a.rc;
}

/* ------------------------------------------------------------------------
 * fork() (core/fork.c): with rt->lock held nobody starts or frees the
 * scheduler, so rt->sched is stable here. */

void csp__sched_fork_lock(csp_rt *rt)
{
    struct csp__sched *s = csp__sched_get(rt);

    if (!s)
        return;
    csp__mutex_lock(&s->inject_lock);
    csp__mutex_lock(&s->idle_lock);
    for (uint32_t i = 0; i <= s->nworkers; i++)
        csp__mutex_lock(&s->shards[i].lock);
    for (uint32_t i = 0; i < s->nworkers; i++)
        csp__mutex_lock(&s->workers[i]->pin_lock);
    csp__stack_pool_fork_lock(s->stacks);
    csp__mutex_lock(&s->tpool.lock);
}

void csp__sched_fork_unlock(csp_rt *rt)
{
    struct csp__sched *s = csp__sched_get(rt);

    if (!s)
        return;
    csp__mutex_unlock(&s->tpool.lock);
    csp__stack_pool_fork_unlock(s->stacks);
    for (uint32_t i = s->nworkers; i-- > 0;)
        csp__mutex_unlock(&s->workers[i]->pin_lock);
    for (uint32_t i = s->nworkers + 1; i-- > 0;)
        csp__mutex_unlock(&s->shards[i].lock);
    csp__mutex_unlock(&s->idle_lock);
    csp__mutex_unlock(&s->inject_lock);
}

void csp__sched_fork_child(csp_rt *rt)
{
    struct csp__sched *s = csp__sched_get(rt);

    if (!s)
        return;
    /* The next csp_go, csp_thread or pool task starts new workers. */
    atomic_store_explicit(&rt->sched, NULL, memory_order_release);
    /* Every proc is the parent's: none runs again. Its result channel is
     * closed (a taker in the child sees the proc end with no value) and
     * its stack goes back to the pool, which is freed below. */
    for (uint32_t i = 0; i <= s->nworkers; i++) {
        while (!csp__list_empty(&s->shards[i].live)) {
            struct csp__proc *p = CSP__PROC_OF(s->shards[i].live.head);
            csp_chan *result = p->result;
            if (result)
                csp__chan_close(result);
            csp__proc_destroy(p, NULL);
        }
    }
    csp__tpool_fork_child(rt, &s->tpool);
    /* Queued tasks die with the queues: procs were destroyed above, and
     * callback completions are queued again by csp__pending_fork_child. */
    sched_free(rt, s);
}

/* ------------------------------------------------------------------------
 * Shutdown (DESIGN §6.4). */

/* Nothing queued anywhere and every worker idle. idle_lock held. */
static int quiescent_locked(struct csp__sched *s)
{
    if ((uint32_t)atomic_load_explicit(&s->nidle, memory_order_relaxed) !=
        s->nworkers)
        return 0;
    if (atomic_load_explicit(&s->ninject, memory_order_relaxed))
        return 0;
    for (uint32_t i = 0; i < s->nworkers; i++) {
        struct csp__worker *w = s->workers[i];
        if (!csp__ring_empty(w) ||
            atomic_load_explicit(&w->runnext, memory_order_relaxed) ||
            atomic_load_explicit(&w->npinned, memory_order_relaxed))
            return 0;
    }
    return 1;
}


/* Wait until nothing is queued or running and no csp_thread is busy.
 * Returns CSP_OK when every proc finished, or (FORCE) when the rest are
 * parked; CSP_EBUSY when procs are parked with no timer pending and
 * nothing changed for STUCK_CONFIRM_NS. */
static int drain(csp_rt *rt, struct csp__sched *s, int force)
{
    int64_t stuck_since = 0;
    uint64_t stuck_epoch = 0;
    int rc;

    csp__mutex_lock(&s->idle_lock);
    s->draining = 1;
    for (;;) {
        int quiet = quiescent_locked(s);
        int64_t now;

        csp__mutex_unlock(&s->idle_lock);
        now = csp__now_ns();
        if (quiet && csp__tpool_busy(&s->tpool) == 0) {
            if (atomic_load_explicit(&s->nlive, memory_order_acquire) == 0 ||
                force) {
                rc = CSP_OK;
                break;
            }
            if (csp__timer_pending(rt) == 0) {
                uint64_t e =
                    atomic_load_explicit(&s->epoch, memory_order_relaxed);
                if (stuck_since && e == stuck_epoch &&
                    now - stuck_since >= STUCK_CONFIRM_NS) {
                    rc = CSP_EBUSY;
                    break;
                }
                if (!stuck_since || e != stuck_epoch) {
                    stuck_since = now;
                    stuck_epoch = e;
                }
            } else {
                stuck_since = 0;
            }
        } else {
            stuck_since = 0;
        }
        csp__mutex_lock(&s->idle_lock);
        csp__cond_wait_until(&s->idle_cond, &s->idle_lock, now + DRAIN_POLL_NS);
    }
    csp__mutex_lock(&s->idle_lock);
    s->draining = 0;
    csp__mutex_unlock(&s->idle_lock);
    return rc;
}

/* The procs still live when a forced shutdown found everything idle:
 * withdraw each one's pending op so no channel or timer can reach it
 * again. Returns 0 if one of them was claimed meanwhile (it will run:
 * drain again). The shard lock is not held while withdrawing (that takes
 * channel locks); a withdrawn proc never runs again, so it stays in the
 * list and its link stays valid. */
static int withdraw_parked(struct csp__sched *s)
{
    for (uint32_t i = 0; i <= s->nworkers; i++) {
        struct csp__link *l;

        csp__mutex_lock(&s->shards[i].lock);
        l = s->shards[i].live.head;
        csp__mutex_unlock(&s->shards[i].lock);
        while (l) {
            if (!csp__proc_withdraw(CSP__PROC_OF(l)))
                return 0;
            csp__mutex_lock(&s->shards[i].lock);
            l = l->next;
            csp__mutex_unlock(&s->shards[i].lock);
        }
    }
    return 1;
}

int csp__sched_shutdown(csp_rt *rt, int force)
{
    struct csp__sched *s = csp__sched_get(rt);
    int rc;

    if (!s)
        return CSP_OK;
    for (;;) {
        rc = drain(rt, s, force);
        if (rc != CSP_OK)
            return rc;
        if (!force || withdraw_parked(s))
            break;
    }
    /* A waker outside the pool may still be in wakep after what it woke
     * has run: wait until none is inside S. */
    while (atomic_load_explicit(&s->ext_inflight, memory_order_acquire) != 0)
        sched_yield();
    atomic_store_explicit(&s->closing, 1, memory_order_release);
    stop_workers(s, s->nworkers);
    csp__tpool_fini(rt, &s->tpool);
    /* Procs left now are parked forever and withdrawn (forced). */
    for (uint32_t i = 0; i <= s->nworkers; i++) {
        while (!csp__list_empty(&s->shards[i].live))
            csp__proc_destroy(CSP__PROC_OF(s->shards[i].live.head), NULL);
    }
    atomic_store_explicit(&rt->sched, NULL, memory_order_release);
    sched_free(rt, s);
    return CSP_OK;
}
