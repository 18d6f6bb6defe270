/* ops.h - what the combinators in core/ops/ share, private to them and
 * written against csp.h alone (STYLE §1): allocation through the
 * runtime's allocator, and the handle that a mult, a pub and a mix share
 * with their go process.
 *
 * Allocation. Every block comes from the allocator the runtime was made
 * with (csp_rt_getalloc), like the runtime's own objects, so a host
 * accounts for it and tests/c/test_fault.c can fail it. That allocator
 * wants the size back at free and realloc: a struct with a flexible array
 * keeps its count, a growing array its capacity, and a block that
 * outlives the call that made it keeps its runtime. Nothing here calls
 * the C library's malloc family (tests/check_ops_alloc.py).
 *
 * Handles. A mult, a pub and a mix are objects the caller holds a handle
 * to while a go process works on them: refcounted between the two, with
 * a leaf mutex over their lists, a reference to the channel they were
 * made over, and (mult, mix) a channel of their own. struct ops_handle
 * is that common part, the first member of each: ops_handle_new makes
 * it, the owner adds its own parts, ops_handle_start starts the process,
 * and on any failure after ops_handle_new the owner's unref function
 * (ops_handle_unref, its own parts, ops_handle_free) undoes everything.
 */
#ifndef CSP_OPS_H
#define CSP_OPS_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "csp.h"

/* SIZE (> 0) bytes from RT's allocator, or NULL. */
static inline void *ops_alloc(csp_rt *rt, size_t size)
{
    void *ud;
    csp_alloc_fn f = csp_rt_getalloc(rt, &ud);

    return f(ud, NULL, 0, size);
}

/* As ops_alloc, zeroed. */
static inline void *ops_zalloc(csp_rt *rt, size_t size)
{
    void *p = ops_alloc(rt, size);

    if (p)
        memset(p, 0, size);
    return p;
}

/* Resize P (NULL, or a block of OLD bytes from RT) to NEW (> 0) bytes.
 * NULL on failure, and P is then untouched and still OLD bytes. */
static inline void *ops_realloc(csp_rt *rt, void *p, size_t old, size_t new)
{
    void *ud;
    csp_alloc_fn f = csp_rt_getalloc(rt, &ud);

    return f(ud, p, p ? old : 0, new);
}

/* Resize array P of OLD_N elements of ELEM bytes to NEW_N (> 0); NULL on
 * failure or when the size would overflow, and P is then untouched. */
static inline void *ops_realloc_array(csp_rt *rt, void *p, size_t old_n,
                                      size_t new_n, size_t elem)
{
    if (new_n > SIZE_MAX / elem)
        return NULL;
    return ops_realloc(rt, p, old_n * elem, new_n * elem);
}

/* Give back P (SIZE bytes from RT's allocator); accepts NULL. */
static inline void ops_free(csp_rt *rt, void *p, size_t size)
{
    void *ud;
    csp_alloc_fn f;

    if (!p)
        return;
    f = csp_rt_getalloc(rt, &ud);
    f(ud, p, size, 0);
}

/* ------------------------------------------------------------------------
 * Handles. */

struct ops_handle {
    atomic_int refs;      /* the caller's handle and the process */
    pthread_mutex_t lock; /* a leaf: guards the owner's lists */
    csp_rt *rt;           /* immutable */
    csp_chan *ch;         /* immutable: the channel given (one reference) */
    csp_chan *own;        /* immutable: made here, or NULL (one reference) */
    size_t size;          /* immutable: bytes allocated, for ops_free */
};

/* Allocate an object of SIZE bytes that begins with a struct ops_handle:
 * zeroed, its lock made, a reference to CH taken, and, if OWN_BUF >= 0, a
 * channel of kind OWN_BUF (CSP_BUF_*) and capacity 1 made in OWN; one
 * reference, the handle's. The caller fills in the rest, then calls
 * ops_handle_start. Returns CSP_OK with *OUT the object, or CSP_ENOMEM
 * (or csp_chan_new's error) with nothing held and *OUT untouched. */
static inline int ops_handle_new(void **out, csp_rt *rt, size_t size,
                                 csp_chan *ch, int own_buf)
{
    struct ops_handle *h = ops_zalloc(rt, size);
    int rc = CSP_ENOMEM;

    if (!h)
        return CSP_ENOMEM;
    if (pthread_mutex_init(&h->lock, NULL) != 0)
        goto fail_lock;
    if (own_buf >= 0) {
        rc = csp_chan_new(&h->own, rt, own_buf, 1, NULL, NULL);
        if (rc != CSP_OK)
            goto fail_own;
    }
    h->rt = rt;
    h->ch = csp_chan_retain(ch);
    h->size = size;
    atomic_init(&h->refs, 1);
    *out = h;
    return CSP_OK;

fail_own:
    pthread_mutex_destroy(&h->lock);
fail_lock:
    ops_free(rt, h, size);
    return rc;
}

/* Release what ops_handle_new made and the object itself; the owner has
 * released what it added. Called once, by whoever dropped the last
 * reference. */
static inline void ops_handle_free(struct ops_handle *h)
{
    csp_chan_release(h->ch);
    csp_chan_release(h->own);
    pthread_mutex_destroy(&h->lock);
    ops_free(h->rt, h, h->size);
}

/* Drop one reference; nonzero when it was the last, and the caller then
 * frees what it added and calls ops_handle_free. */
static inline int ops_handle_unref(struct ops_handle *h)
{
    /* acq_rel: the last one sees every write the others made. */
    return atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1;
}

/* Start RUN(H) as a go process of H's runtime, with a reference of its
 * own. Returns CSP_OK, or csp_go's error with H as it was: the caller
 * then drops the handle's reference, which frees H. */
static inline int ops_handle_start(struct ops_handle *h, csp_go_fn run)
{
    int rc;

    /* Relaxed: csp_go publishes H to the process. */
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    rc = csp_go(h->rt, run, h, NULL);
    if (rc != CSP_OK)
        atomic_fetch_sub_explicit(&h->refs, 1, memory_order_relaxed);
    return rc;
}

#endif /* CSP_OPS_H */
