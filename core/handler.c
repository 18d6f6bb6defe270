/* handler.c - waking claimed waiters, deferred drops, and the OS-thread
 * parker.
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

#include "internal.h"

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

    while (w) {
        struct csp__waiter *next = w->wnext;

        switch (w->kind) {
        case CSP__CONT_PROC:
            csp__proc_wake(w->u.proc);
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
    wl->head = NULL;
    wl->tail = &wl->head;
}

void csp__run_drops(struct csp__drops *dl)
{
    for (unsigned i = 0; i < dl->n; i++)
        dl->d[i].fn(dl->d[i].ud, dl->d[i].val);
    dl->n = 0;
}

/* Defined in chan.c: pass 3, the user callback, then the refs. */
void csp__pending_finish(struct csp_pending *op);

static void pending_complete_task(csp_task *t)
{
    struct csp_pending *op =
        (struct csp_pending *)((char *)t - offsetof(struct csp_pending, task));

    csp__pending_finish(op);
}
