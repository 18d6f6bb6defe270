/* runq.c - the run queues (DESIGN §6): a per-worker ring, the global
 * inject queue and each worker's pinned FIFO. Which queue an entry goes to
 * and when a worker looks where is sched.c's; this file only keeps the
 * queues right under concurrency, and tests/c/test_runq.c tests it alone.
 *
 *   ring      per worker, CSP__RING entries, Go's SPMC ring: the owner
 *             pushes at the tail, the owner and thieves pop the head by
 *             CAS. When full, half moves to the inject queue (Go's
 *             runqputslow); a thief takes half (runqgrab), or the
 *             victim's runnext after a backoff when its ring is empty.
 *   inject    global FIFO under inject_lock; ninject is stored under the
 *             lock and read without it as a hint; epoch counts pushes.
 *   pinned    per worker FIFO under pin_lock; npinned likewise.
 */
#include "sched_internal.h"
#include "trace.h"

#define BACKOFF_NS 3000 /* runnext steal backoff (Go's usleep(3)) */

/* ------------------------------------------------------------------------
 * The inject queue. */

/* Append the chain FIRST..LAST (N entries). Takes inject_lock. */
void csp__inject_push(struct csp__sched *s, csp_task *first, csp_task *last,
                        uint32_t n)
{
    csp__mutex_lock(&s->inject_lock);
    csp__taskq_append_chain(&s->injectq, first, last);
    /* Relaxed: readers pair through the seq_cst fences of the protocol
     * (wakep / the idle recheck) or take the lock. */
    atomic_store_explicit(
        &s->ninject,
        atomic_load_explicit(&s->ninject, memory_order_relaxed) + n,
        memory_order_relaxed);
    atomic_fetch_add_explicit(&s->epoch, 1, memory_order_relaxed);
    csp__mutex_unlock(&s->inject_lock);
}

void csp__inject_push_ready(struct csp__sched *s, csp_task *first,
                            csp_task *last, uint32_t n)
{
    csp__mutex_lock(&s->inject_lock);
    if (s->ready_tail) {
        last->next = s->ready_tail->next;
        s->ready_tail->next = first;
        if (s->injectq.tail == s->ready_tail)
            s->injectq.tail = last;
    } else {
        csp__taskq_prepend_chain(&s->injectq, first, last);
    }
    s->ready_tail = last;
    atomic_store_explicit(
        &s->nready, atomic_load_explicit(&s->nready, memory_order_relaxed) + n,
        memory_order_relaxed);
    atomic_store_explicit(
        &s->ninject,
        atomic_load_explicit(&s->ninject, memory_order_relaxed) + n,
        memory_order_relaxed);
    atomic_fetch_add_explicit(&s->epoch, 1, memory_order_relaxed);
    csp__mutex_unlock(&s->inject_lock);
}

/* K entries left the head of the inject queue: fewer of them are woken
 * ones. inject_lock held. */
static void ready_taken(struct csp__sched *s, uint32_t k)
{
    uint32_t r = atomic_load_explicit(&s->nready, memory_order_relaxed);

    if (r == 0)
        return;
    if (k >= r) {
        r = 0;
        s->ready_tail = NULL;
    } else {
        r -= k;
    }
    atomic_store_explicit(&s->nready, r, memory_order_relaxed);
}

csp_task *csp__inject_get_ready(struct csp__sched *s)
{
    csp_task *t;

    if (atomic_load_explicit(&s->nready, memory_order_relaxed) == 0)
        return NULL;
    csp__mutex_lock(&s->inject_lock);
    if (atomic_load_explicit(&s->nready, memory_order_relaxed) == 0) {
        csp__mutex_unlock(&s->inject_lock);
        return NULL;
    }
    t = csp__taskq_pop(&s->injectq);
    ready_taken(s, 1);
    atomic_store_explicit(
        &s->ninject,
        atomic_load_explicit(&s->ninject, memory_order_relaxed) - 1,
        memory_order_relaxed);
    csp__mutex_unlock(&s->inject_lock);
    return t;
}

/* Take up to MAX entries (Go's globrunqget): return the first, put the
 * rest on W's ring. Takes inject_lock, then W's ring after unlocking. */
csp_task *csp__inject_get(struct csp__sched *s, struct csp__worker *w,
                          uint32_t max)
{
    csp_task *first, *rest, *t;
    uint32_t n, k;

    if (atomic_load_explicit(&s->ninject, memory_order_relaxed) == 0)
        return NULL;
    csp__mutex_lock(&s->inject_lock);
    n = atomic_load_explicit(&s->ninject, memory_order_relaxed);
    if (n == 0) {
        csp__mutex_unlock(&s->inject_lock);
        return NULL;
    }
    k = n / s->nworkers + 1;
    if (k > n)
        k = n;
    if (k > max)
        k = max;
    if (k > CSP__RING / 2)
        k = CSP__RING / 2;
    first = s->injectq.head;
    t = first;
    for (uint32_t i = 1; i < k; i++)
        t = t->next;
    s->injectq.head = t->next;
    if (!s->injectq.head)
        s->injectq.tail = NULL;
    t->next = NULL;
    ready_taken(s, k);
    atomic_store_explicit(&s->ninject, n - k, memory_order_relaxed);
    csp__mutex_unlock(&s->inject_lock);
    rest = first->next;
    while (rest) {
        t = rest->next;
        csp__ring_put(w, rest);
        rest = t;
    }
    return first;
}

/* ------------------------------------------------------------------------
 * Rings (Go's runq): single producer (the owner), many consumers. */

/* Move half of W's full ring plus T to the inject queue (Go's
 * runqputslow). Owner only. Returns 0 if a thief moved the head first. */
static int ring_put_slow(struct csp__worker *w, csp_task *t, uint32_t h,
                         uint32_t tl)
{
    csp_task *batch[CSP__RING / 2 + 1];
    uint32_t n = (tl - h) / 2;

    CSP_ASSERT(n == CSP__RING / 2);
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&w->ring[(h + i) % CSP__RING],
                                        memory_order_relaxed);
    /* release: our slot reads happen before the owner (us) reuses them;
     * pairs with the acquire load of head in ring_put. */
    if (!atomic_compare_exchange_strong_explicit(
            &w->head, &h, h + n, memory_order_release, memory_order_relaxed))
        return 0;
    batch[n] = t;
    for (uint32_t i = 0; i < n; i++)
        batch[i]->next = batch[i + 1];
    csp__inject_push(w->s, batch[0], batch[n], n + 1);
    return 1;
}

/* Push T at the tail of W's ring. Owner only. */
void csp__ring_put(struct csp__worker *w, csp_task *t)
{
    for (;;) {
        /* acquire: pairs with the release CAS of head by thieves, so
         * their reads of the slots we reuse are done. */
        uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);

        if (tl - h < CSP__RING) {
            atomic_store_explicit(&w->ring[tl % CSP__RING], t,
                                  memory_order_relaxed);
            /* release: publishes the slot and the task to consumers,
             * which load tail with acquire. */
            atomic_store_explicit(&w->tail, tl + 1, memory_order_release);
            return;
        }
        if (ring_put_slow(w, t, h, tl))
            return;
    }
}

/* Pop the head of W's ring. Owner only. */
csp_task *csp__ring_pop(struct csp__worker *w)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&w->tail, memory_order_relaxed);
        csp_task *t;

        if (tl == h)
            return NULL;
        t = atomic_load_explicit(&w->ring[h % CSP__RING], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&w->head, &h, h + 1,
                                                    memory_order_release,
                                                    memory_order_relaxed))
            return t;
    }
}

int csp__ring_empty(struct csp__worker *w)
{
    uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
    uint32_t tl = atomic_load_explicit(&w->tail, memory_order_acquire);

    return h == tl;
}

/* Wait about BACKOFF_NS. */
static void backoff(void)
{
    /* A timed sleep, not a spin: with the kernel's timer slack it lasts
     * about 50 us, long enough that a pair passing values through V's
     * runnext stays on V (a spinning thief that stole after 3 us moved
     * the consumer of W2 and W4 across vCPUs, and the channel's cache
     * line with it: W2 on two workers 80 -> 150 ns/msg). */
    _Atomic uint32_t word = 0;

    csp__futex_wait(&word, 0, csp__now_ns() + BACKOFF_NS);
}

/* Copy half of V's ring into W's ring after W's tail WT (Go's runqgrab).
 * With STEALNEXT and V's ring empty, take V's runnext instead, after a
 * backoff that gives V the chance to run it, and only if the slot still
 * holds the same entry. Returns the number of entries copied. */
static uint32_t ring_grab(struct csp__worker *v, struct csp__worker *w,
                          uint32_t wt, int stealnext)
{
    for (;;) {
        /* acquire on both: pairs with the owner's release of tail (the
         * slots) and other consumers' release CAS of head. */
        uint32_t h = atomic_load_explicit(&v->head, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&v->tail, memory_order_acquire);
        uint32_t n = t - h;

        n = n - n / 2;
        if (n == 0) {
            csp_task *next;

            if (!stealnext)
                return 0;
            /* acquire: pairs with the owner's release store or XCHG. */
            next = atomic_load_explicit(&v->runnext, memory_order_acquire);
            if (!next)
                return 0;
            if (atomic_load_explicit(&v->cur, memory_order_relaxed))
                backoff();
            if (!atomic_compare_exchange_strong_explicit(
                    &v->runnext, &next, NULL, memory_order_acq_rel,
                    memory_order_relaxed)) {
                /* V keeps running what it readies (a ping-pong pair):
                 * keep spinning on it, as Go does, unless work arrived
                 * where we would otherwise never look. */
                if (atomic_load_explicit(&w->s->ninject,
                                         memory_order_relaxed) ||
                    atomic_load_explicit(&w->npinned, memory_order_relaxed))
                    return 0;
                continue;
            }
            atomic_store_explicit(&w->ring[wt % CSP__RING], next,
                                  memory_order_relaxed);
            return 1;
        }
        if (n > CSP__RING / 2)
            continue; /* h and t read inconsistently */
        for (uint32_t i = 0; i < n; i++) {
            csp_task *x = atomic_load_explicit(&v->ring[(h + i) % CSP__RING],
                                               memory_order_relaxed);
            atomic_store_explicit(&w->ring[(wt + i) % CSP__RING], x,
                                  memory_order_relaxed);
        }
        /* release: our slot reads complete before V reuses the slots. */
        if (atomic_compare_exchange_strong_explicit(&v->head, &h, h + n,
                                                    memory_order_acq_rel,
                                                    memory_order_relaxed))
            return n;
    }
}

/* Steal from V into W's (empty) ring and return one entry to run. */
csp_task *csp__ring_steal(struct csp__worker *w, struct csp__worker *v,
                            int stealnext)
{
    uint32_t t = atomic_load_explicit(&w->tail, memory_order_relaxed);
    uint32_t n = ring_grab(v, w, t, stealnext);
    csp_task *task;

    if (n == 0)
        return NULL;
    CSP_TRACE_STEAL(w->s->rt, v->index, n);
    n--;
    task = atomic_load_explicit(&w->ring[(t + n) % CSP__RING],
                                memory_order_relaxed);
    if (n == 0)
        return task;
    CSP_ASSERT(t - atomic_load_explicit(&w->head, memory_order_acquire) + n <
               CSP__RING);
    atomic_store_explicit(&w->tail, t + n, memory_order_release);
    return task;
}

/* ------------------------------------------------------------------------
 * Pinned FIFOs. */

void csp__pin_push(struct csp__worker *w, csp_task *t)
{
    csp__mutex_lock(&w->pin_lock);
    csp__taskq_append(&w->pinq, t);
    atomic_store_explicit(
        &w->npinned,
        atomic_load_explicit(&w->npinned, memory_order_relaxed) + 1,
        memory_order_relaxed);
    csp__mutex_unlock(&w->pin_lock);
}

csp_task *csp__pin_pop(struct csp__worker *w)
{
    csp_task *t;

    if (atomic_load_explicit(&w->npinned, memory_order_relaxed) == 0)
        return NULL;
    csp__mutex_lock(&w->pin_lock);
    t = csp__taskq_pop(&w->pinq);
    if (t) {
        atomic_store_explicit(
            &w->npinned,
            atomic_load_explicit(&w->npinned, memory_order_relaxed) - 1,
            memory_order_relaxed);
    }
    csp__mutex_unlock(&w->pin_lock);
    return t;
}
