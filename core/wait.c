/* wait.c - how an operation waits: the waiter and its initialisation,
 * the single-case parking and blocking ops, the OS-thread parker, wake
 * lists, pending callback ops and the inline executor. chan.c is the
 * channel state machine they wait on; alts.c waits for several cases with
 * the same pieces.
 *
 * Whatever the kind, a waiting op is one waiter and one node per case,
 * made by csp__waiter_init / csp__node_init. A parking or blocking op keeps
 * them on its own stack (the caller's reference keeps the channel alive);
 * a callback op keeps them in a struct csp_pending, which retains its
 * channels until its completion ran or it was cancelled.
 *
 * A waiter is completed by whoever wins CAS(state, WAITING, CLAIMED) under
 * one of its nodes' channel lock (chan.c). The winner writes the result,
 * pushes the waiter on a local wake list and, after releasing every lock,
 * calls csp__wake_all. After waking a waiter the waker never touches it
 * again: a proc or thread may return and pop the frame holding it at once.
 *
 * The parker is Rust std's futex protocol (DESIGN §5.5). State EMPTY (0),
 * NOTIFIED (1), PARKED (UINT32_MAX, i.e. -1). One parker per OS thread,
 * created on first use with malloc (it is per thread, not per runtime) and
 * refcounted: the thread's TLS destructor drops the thread's reference and
 * a waker holds its own from the claim until after futex_wake, so a thread
 * exiting right after its op never frees the word under the waker.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PENDING_OF(l) CSP__CONTAINER(l, struct csp_pending, rt_link)

enum { P_EMPTY = 0, P_NOTIFIED = 1, P_PARKED = UINT32_MAX };

struct csp__parker {
    _Atomic uint32_t state;
    atomic_uint refs;
};

static pthread_key_t parker_key;
static pthread_once_t parker_once = PTHREAD_ONCE_INIT;

static void parker_dtor(void *p)
{
    csp__parker_release(p);
}

static void parker_key_init(void)
{
    pthread_key_create(&parker_key, parker_dtor);
}

struct csp__parker *csp__parker_self(void)
{
    struct csp__tls *t = csp__tls();
    struct csp__parker *p = t->parker;

    if (CSP__LIKELY(p != NULL))
        return p;
    pthread_once(&parker_once, parker_key_init);
    p = malloc(sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->state, P_EMPTY);
    atomic_init(&p->refs, 1);
    if (pthread_setspecific(parker_key, p) != 0) {
        free(p);
        return NULL;
    }
    t->parker = p;
    return p;
}

void csp__parker_retain(struct csp__parker *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void csp__parker_release(struct csp__parker *p)
{
    /* acq_rel: the last releaser must see every use by the others. */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

int csp__parker_park(struct csp__parker *p, int64_t deadline)
{
    /* Acquire pairs with the release swap in unpark: a consumed token
     * makes the waker's writes (the waiter's result) visible. */
    if (atomic_fetch_sub_explicit(&p->state, 1, memory_order_acquire) ==
        P_NOTIFIED)
        return 0; /* NOTIFIED -> EMPTY */
    for (;;) {
        int rc = csp__futex_wait(&p->state, P_PARKED, deadline);
        uint32_t expect = P_NOTIFIED;

        if (atomic_compare_exchange_strong_explicit(
                &p->state, &expect, P_EMPTY, memory_order_acquire,
                memory_order_relaxed))
            return 0;
        if (rc == CSP_ETIMEDOUT ||
            (deadline != CSP_FOREVER && csp__now_ns() >= deadline)) {
            /* Leave PARKED; a token that raced in is consumed here. */
            if (atomic_exchange_explicit(&p->state, P_EMPTY,
                                         memory_order_acquire) == P_NOTIFIED)
                return 0;
            return CSP_ETIMEDOUT;
        }
    }
}

void csp__parker_unpark(struct csp__parker *p)
{
    if (atomic_exchange_explicit(&p->state, P_NOTIFIED,
                                 memory_order_release) == P_PARKED)
        csp__futex_wake(&p->state, 1);
}

static void pending_complete_task(csp_task *t);

void csp__wake_pending(struct csp_pending *op)
{
    op->task.run = pending_complete_task;
    op->ex->submit(op->ex, &op->task);
}

void csp__wake_all(struct csp__wakes *wl)
{
    struct csp__waiter *w = wl->head;
    struct csp__wake_batch b;

    if (!w)
        return;
    if (!w->wnext && w->kind == CSP__CONT_PROC) {
        /* One proc (the ping-pong case): no batch. */
        wl->head = NULL;
        wl->tail = &wl->head;
        csp__proc_wake(w->u.proc);
        return;
    }
    memset(&b, 0, sizeof b);
    while (w) {
        struct csp__waiter *next = w->wnext;

        switch (w->kind) {
        case CSP__CONT_PROC:
            csp__proc_wake_batched(w->u.proc, &b);
            break;
        case CSP__CONT_THREAD: {
            struct csp__parker *p = w->u.parker; /* retained by the claim */
            csp__parker_unpark(p);
            csp__parker_release(p);
            break;
        }
        case CSP__CONT_CB:
            csp__wake_pending(w->u.pending);
            break;
        default:
            CSP_ASSERT(0);
        }
        w = next;
    }
    csp__wake_batch_flush(&b);
    wl->head = NULL;
    wl->tail = &wl->head;
}


static void pending_complete_task(csp_task *t)
{
    struct csp_pending *op =
        (struct csp_pending *)((char *)t - offsetof(struct csp_pending, task));

    csp__pending_finish(op);
}

/* ------------------------------------------------------------------------
 * Waiting: park the calling go process or block the calling thread. */

void csp__waiter_unlink(struct csp__waiter *w)
{
    for (uint32_t i = 0; i < w->ncases; i++) {
        struct csp__node *n = &w->nodes[i];
        csp__lock_acquire(&n->ch->lock);
        csp__chan_unlink(n->ch, n);
        csp__lock_release(&n->ch->lock);
    }
}

/* Wait for W's token until DEADLINE; withdraw W at the deadline unless it
 * was claimed meanwhile. Returns CSP_OK (completed) or CSP_ETIMEDOUT. */
int csp__wait_thread(struct csp__waiter *w, struct csp__parker *pk,
                     int64_t deadline)
{
    uint32_t expect = CSP__W_WAITING;

    if (csp__parker_park(pk, deadline) == 0)
        return CSP_OK;
    if (atomic_compare_exchange_strong_explicit(&w->state, &expect,
                                                CSP__W_CANCELLED,
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
        csp__waiter_unlink(w);
        return CSP_ETIMEDOUT;
    }
    /* Claimed concurrently: its token is on the way. */
    csp__parker_park(pk, CSP_FOREVER);
    return CSP_OK;
}

/* ------------------------------------------------------------------------
 * Callback ops. The fast path tries under the lock with nothing
 * allocated; only when the op must wait is a csp_pending allocated
 * (outside the lock) and the op retried and queued. */

struct csp_pending *csp__pending_new(csp_rt *rt, size_t n)
{
    size_t size = sizeof(struct csp_pending) + n * sizeof(struct csp__node);
    struct csp_pending *op = csp__alloc(rt, size);

    if (!op)
        return NULL;
    memset(op, 0, sizeof *op);
    op->size = size;
    op->rt = rt;
    atomic_init(&op->refs, 1);
    csp__waiter_init(&op->w, CSP__CONT_CB, op, op->nodes, (uint32_t)n);
    csp__mutex_lock(&rt->ops_lock);
    csp__list_push(&rt->ops, &op->rt_link);
    csp__mutex_unlock(&rt->ops_lock);
    atomic_fetch_add_explicit(&rt->nops, 1, memory_order_relaxed);
    return op;
}

static void pending_unlist(struct csp_pending *op)
{
    csp_rt *rt = op->rt;

    csp__mutex_lock(&rt->ops_lock);
    csp__list_remove(&rt->ops, &op->rt_link);
    csp__mutex_unlock(&rt->ops_lock);
    atomic_fetch_sub_explicit(&rt->nops, 1, memory_order_relaxed);
}

static void pending_release(struct csp_pending *op)
{
    if (atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel) == 1)
        csp__free(op->rt, op, op->size);
}

void csp__pending_discard(struct csp_pending *op)
{
    pending_unlist(op);
    pending_release(op);
}

/* Unlink every node of OP that is still linked (pass 3), one channel lock
 * at a time, and give back the channel references the op took. */
static void pending_unlink_all(struct csp_pending *op)
{
    csp__waiter_unlink(&op->w);
}

static void pending_release_chans(struct csp_pending *op)
{
    for (uint32_t i = 0; i < op->w.ncases; i++)
        csp_chan_release(op->nodes[i].ch);
}

void csp__pending_finish(struct csp_pending *op)
{
    struct csp__waiter *w = &op->w;

    if (w->ncases > 1)
        pending_unlink_all(op);
    pending_unlist(op);
    if (op->is_alts)
        op->cb.alts(op->ud, w->rc, w->won, w->val);
    else
        op->cb.done(op->ud, w->rc, w->val);
    pending_release_chans(op);
    pending_release(op);
}

int csp_pending_cancel(csp_pending *op, void **val)
{
    uint32_t expect = CSP__W_WAITING;

    if (!op)
        return CSP_EINVAL;
    if (!atomic_compare_exchange_strong_explicit(
            &op->w.state, &expect, CSP__W_CANCELLED, memory_order_acq_rel,
            memory_order_acquire))
        return CSP_EAGAIN;
    pending_unlink_all(op);
    pending_unlist(op);
    if (val)
        *val = (!op->is_alts && op->nodes[0].is_put) ? op->nodes[0].val
                                                     : NULL;
    pending_release_chans(op);
    pending_release(op);
    return CSP_OK;
}

void csp_pending_release(csp_pending *op)
{
    if (op)
        pending_release(op);
}

/* OP was cancelled (its state CANCELLED by us): unlink it, call it back
 * with CSP_ECANCELED (a put's value handed back) and let it go. */
static void pending_call_cancelled(struct csp_pending *op)
{
    pending_unlink_all(op);
    pending_unlist(op);
    if (op->is_alts)
        op->cb.alts(op->ud, CSP_ECANCELED, 0, NULL);
    else
        op->cb.done(op->ud, CSP_ECANCELED,
                    op->nodes[0].is_put ? op->nodes[0].val : NULL);
    pending_release_chans(op);
    pending_release(op);
}

int csp__pending_cancel_exec(csp_rt *rt, csp_exec *ex)
{
    for (;;) {
        struct csp_pending *op, *mine = NULL;
        int completing = 0;


        csp__mutex_lock(&rt->ops_lock);
        for (struct csp__link *l = rt->ops.head; l; l = l->next) {
            uint32_t expect = CSP__W_WAITING;

            op = PENDING_OF(l);
            if (ex && op->ex != ex)
                continue;
            if (atomic_compare_exchange_strong_explicit(
                    &op->w.state, &expect, CSP__W_CANCELLED,
                    memory_order_acq_rel, memory_order_acquire)) {
                mine = op;
                break;
            }
            completing++;
        }
        csp__mutex_unlock(&rt->ops_lock);
        if (!mine)
            return completing;
        /* The callback runs here, on the caller (forced shutdown, a host
         * executor's destructor). */
        pending_call_cancelled(mine);
    }
}

int csp_rt_cancel_exec(csp_rt *rt, csp_exec *ex)
{
    if (!rt || !ex)
        return CSP_EINVAL;
    return csp__pending_cancel_exec(rt, ex);
}

static void pending_complete_cancelled(csp_task *t)
{
    pending_call_cancelled(
        (struct csp_pending *)((char *)t - offsetof(struct csp_pending, task)));
}

static csp_exec *fork_exec(csp_rt *rt, csp_exec *ex)
{
    /* An inline callback runs on the completing thread, which may be a
     * worker: in the child, the pool's new workers play that part. */
    return ex == csp_exec_inline() ? &rt->pool_exec : ex;
}

void csp__pending_fork_child(csp_rt *rt, csp_task *cancelled)
{
    struct csp_pending *op, *redo = NULL;

    /* Completed ops whose callback was queued on the pool (whose queues
     * are gone), or whose completer vanished before queueing it: queue
     * them again, so each runs once in the child too (it is a copy of
     * the parent, where they completed). */
    for (struct csp__link *l = rt->ops.head; l; l = l->next) {
        op = PENDING_OF(l);
        if (atomic_load_explicit(&op->w.state, memory_order_acquire) !=
            CSP__W_CLAIMED)
            continue;
        if (op->ex == &rt->pool_exec || op->ex == csp_exec_inline() ||
            csp__loop_holds(op->ex, &op->task) == 0) {
            op->task.next = (csp_task *)redo;
            redo = op;
        }
    }
    while (redo) {
        op = redo;
        redo = (struct csp_pending *)op->task.next;
        op->ex = fork_exec(rt, op->ex);
        csp__wake_pending(op);
    }
    while (cancelled) {
        csp_task *t = cancelled;
        cancelled = t->next;
        op = (struct csp_pending *)((char *)t - offsetof(struct csp_pending,
                                                         task));
        t->run = pending_complete_cancelled;
        op->ex = fork_exec(rt, op->ex);
        op->ex->submit(op->ex, t);
    }
}

/* ------------------------------------------------------------------------
 * The inline executor. */

static void inline_submit(csp_exec *self, csp_task *t)
{
    (void)self;
    t->run(t);
}

static csp_exec inline_exec = {inline_submit};

csp_exec *csp_exec_inline(void) { return &inline_exec; }
