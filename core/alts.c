/* alts.c - wait for the first of several puts and takes (DESIGN §5.7).
 *
 * Go's selectgo, with core.async's semantics:
 *   0. fast pass: in random (or priority) order, try each op under its
 *      own channel's lock; the first that can proceed commits (core.async
 *      tries its ops one by one too); only if none can, and without
 *      CSP_ALTS_DEFAULT:
 *   1. lock every distinct channel in increasing id order;
 *   2. pass 1: in the same order, complete the first op that can proceed
 *      now, unlock, return;
 *   3. with CSP_ALTS_DEFAULT nothing is locked: the fast pass found
 *      nothing ready, return CSP_EAGAIN;
 *   4. pass 2: check every queue has room (all or nothing), then link one
 *      node per op, all sharing one waiter, and unlock;
 *   5. wait (park, block, or return CSP_PENDING for callbacks);
 *   6. pass 3: unlink the nodes that did not win, one lock at a time.
 *
 * Exactly one op commits: pass 1 completes at most one and returns; after
 * pass 2 only the winner of the waiter's single CAS completes it. An alts
 * never matches itself: its nodes do not exist during pass 1, and matching
 * is always between an active op and queued nodes (ALT-015 parks).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SMALL 8
#define INDEX_STACK 128 /* poll and lock orders on the stack up to this */

struct alts {
    const csp_op *ops;
    size_t n;
    csp_rt *rt;     /* the first channel's runtime, for scratch */
    uint32_t *poll; /* poll order */
    uint32_t *lock; /* indices sorted by channel id */
    uint32_t small_poll[INDEX_STACK], small_lock[INDEX_STACK];
    int sorted; /* lock order computed (lazily: the fast pass needs none) */
    size_t scratch_size;
};

static int validate(const csp_op *ops, size_t n, int flags)
{
    if (!ops || n == 0 || n > CSP_ALTS_MAX ||
        (flags & ~(CSP_ALTS_PRIORITY | CSP_ALTS_DEFAULT)))
        return CSP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].ch)
            return CSP_EINVAL;
        if (ops[i].kind == CSP_OP_PUT) {
            if (!ops[i].val)
                return CSP_EINVAL;
            if (ops[i].ch->kind == CSP__KIND_TIMEOUT)
                return CSP_EPERM;
        } else if (ops[i].kind != CSP_OP_TAKE) {
            return CSP_EINVAL;
        }
    }
    return CSP_OK;
}

static int cmp_by_id(const void *a, const void *b, const csp_op *ops)
{
    uint64_t x = ops[*(const uint32_t *)a].ch->id;
    uint64_t y = ops[*(const uint32_t *)b].ch->id;

    return x < y ? -1 : x > y;
}

/* Heap sort of IDX by channel id (n > SMALL; no allocation, no qsort_r). */
static void sift(uint32_t *idx, size_t root, size_t end, const csp_op *ops)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= end)
            return;
        if (child + 1 < end && cmp_by_id(&idx[child], &idx[child + 1], ops) < 0)
            child++;
        if (cmp_by_id(&idx[root], &idx[child], ops) >= 0)
            return;
        uint32_t t = idx[root];
        idx[root] = idx[child];
        idx[child] = t;
        root = child;
    }
}

static void sort_lock_order(uint32_t *idx, size_t n, const csp_op *ops)
{
    size_t k = 1;

    /* Channels made one after another and passed in that order (fan-in
     * loops do) are sorted already: one pass checks it. */
    while (k < n && ops[k - 1].ch->id <= ops[k].ch->id)
        k++;
    if (k == n)
        return;
    if (n <= SMALL) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = idx[i];
            size_t j = i;
            while (j > 0 && cmp_by_id(&idx[j - 1], &v, ops) > 0) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
        return;
    }
    for (size_t i = n / 2; i-- > 0;)
        sift(idx, i, n, ops);
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift(idx, 0, end, ops);
    }
}

static int alts_setup(struct alts *a, const csp_op *ops, size_t n, int flags)
{
    a->ops = ops;
    a->n = n;
    a->rt = ops[0].ch->rt;
    a->scratch_size = 0;
    if (n <= INDEX_STACK) {
        a->poll = a->small_poll;
        a->lock = a->small_lock;
    } else {
        a->scratch_size = 2 * n * sizeof(uint32_t);
        a->poll = csp__alloc(a->rt, a->scratch_size);
        if (!a->poll)
            return CSP_ENOMEM;
        a->lock = a->poll + n;
    }
    for (size_t i = 0; i < n; i++)
        a->poll[i] = a->lock[i] = (uint32_t)i;
    if (!(flags & CSP_ALTS_PRIORITY)) {
        for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = (size_t)(csp__rand() % (i + 1));
            uint32_t t = a->poll[i];
            a->poll[i] = a->poll[j];
            a->poll[j] = t;
        }
    }
    a->sorted = 0;
    return CSP_OK;
}

static void alts_teardown(struct alts *a)
{
    if (a->scratch_size)
        csp__free(a->rt, a->poll, a->scratch_size);
}

static void lock_all(struct alts *a)
{
    csp_chan *prev = NULL;

    if (!a->sorted) {
        sort_lock_order(a->lock, a->n, a->ops);
        a->sorted = 1;
    }
    for (size_t i = 0; i < a->n; i++) {
        csp_chan *ch = a->ops[a->lock[i]].ch;
        if (ch != prev)
            csp__lock_acquire(&ch->lock);
        prev = ch;
    }
}

/* Unlock in reverse lock order. Each case's channel is read before the
 * previous distinct one is unlocked: once the last lock goes, a
 * registered callback alts may complete and its callback, on another
 * thread, may reuse the caller's ops array. (Until then its pass 3 waits
 * for a lock this thread holds.) */
static void unlock_all(struct alts *a)
{
    csp_chan *ch = a->ops[a->lock[a->n - 1]].ch;

    for (size_t i = a->n; i-- > 0;) {
        csp_chan *next = i > 0 ? a->ops[a->lock[i - 1]].ch : NULL;
        if (next != ch)
            csp__lock_release(&ch->lock);
        ch = next;
    }
}

/* Pass 1 with every lock held. Returns CSP_EAGAIN if nothing was ready,
 * else the op's result with *IDX and *VAL set. */
static int pass1(struct alts *a, size_t *idx, void **val, struct csp__wakes *wl,
                 struct csp__drops *dl)
{
    for (size_t k = 0; k < a->n; k++) {
        uint32_t i = a->poll[k];
        const csp_op *op = &a->ops[i];
        void *v = NULL;
        int rc = op->kind == CSP_OP_PUT
                     ? csp__chan_try_put(op->ch, op->val, wl, dl)
                     : csp__chan_try_take(op->ch, &v, wl, dl);
        if (rc != CSP_EAGAIN) {
            *idx = i;
            *val = v;
            return rc;
        }
    }
    return CSP_EAGAIN;
}

/* Pass 1 one channel at a time, in the same order, each under its own
 * lock: the common case (some op is ready) commits without taking every
 * lock, as core.async tries its ops one by one. Returns as pass1. Only
 * when nothing is ready does the caller lock everything, check again and
 * register, so "all checked before any registered" still holds. */
static int fast_pass(struct alts *a, size_t *idx, void **val,
                     struct csp__wakes *wl, struct csp__drops *dl)
{
    for (size_t k = 0; k < a->n; k++) {
        uint32_t i = a->poll[k];
        const csp_op *op = &a->ops[i];
        void *v = NULL;
        int rc;

        csp__lock_acquire(&op->ch->lock);
        rc = op->kind == CSP_OP_PUT ? csp__chan_try_put(op->ch, op->val, wl, dl)
                                    : csp__chan_try_take(op->ch, &v, wl, dl);
        csp__lock_release(&op->ch->lock);
        if (rc != CSP_EAGAIN) {
            *idx = i;
            *val = v;
            return rc;
        }
    }
    return CSP_EAGAIN;
}

/* Every channel has room for all of this alts's nodes on it: ops on one
 * channel count together (lock order puts them next to each other), so
 * two takes on a channel with 1023 pending get CSP_EBUSY. Called with
 * every lock held, after lock_all sorted the lock order. */
static int all_have_room(struct alts *a)
{
    for (size_t i = 0; i < a->n;) {
        csp_chan *ch = a->ops[a->lock[i]].ch;
        size_t n[2] = {0, 0};
        for (; i < a->n && a->ops[a->lock[i]].ch == ch; i++)
            n[a->ops[a->lock[i]].kind == CSP_OP_PUT]++;
        if ((n[0] && !csp__chan_has_room(ch, 0, n[0])) ||
            (n[1] && !csp__chan_has_room(ch, 1, n[1])))
            return 0;
    }
    return 1;
}

static void link_all(struct alts *a, struct csp__waiter *w,
                     struct csp__node *nodes)
{
    for (size_t i = 0; i < a->n; i++) {
        csp__node_init(&nodes[i], w, a->ops[i].ch, a->ops[i].val, (uint32_t)i,
                       a->ops[i].kind == CSP_OP_PUT);
        csp__chan_link(nodes[i].ch, &nodes[i]);
    }
}


static void note_wait(struct csp__proc *p, struct alts *a)
{
    uint64_t ids[4];
    size_t k = a->n < 4 ? a->n : 4;

    for (size_t i = 0; i < k; i++)
        ids[i] = a->ops[i].ch->id;
    csp__proc_note_wait(p, CSP__WAIT_ALTS, ids, a->n);
}

/* Passes 0 and 1, shared by every flavour: on the first try the
 * lock-free fast pass, then pass 1 with every channel locked. Returns
 * CSP_PENDING with every channel still locked when the alts must wait and
 * may (not DEFAULT, deadline M not passed, room for its nodes); otherwise
 * the outcome (CSP_OK, CSP_ECLOSED, CSP_EAGAIN, CSP_ETIMEDOUT, CSP_EBUSY)
 * with no lock held. */
static int attempt(struct alts *a, int flags, const struct csp__wait *m,
                   int first, size_t *i0, void **v, struct csp__wakes *wl,
                   struct csp__drops *dl)
{
    int rc;

    if (first) {
        rc = fast_pass(a, i0, v, wl, dl);
        if (rc != CSP_EAGAIN || (flags & CSP_ALTS_DEFAULT))
            return rc;
    }
    lock_all(a);
    rc = pass1(a, i0, v, wl, dl);
    if (rc == CSP_EAGAIN) {
        if (m && csp__wait_expired(m))
            rc = CSP_ETIMEDOUT;
        else if (!all_have_room(a))
            rc = CSP_EBUSY;
        else
            return CSP_PENDING;
    }
    unlock_all(a);
    return rc;
}

static int alts_wait(const csp_op *ops, size_t n, int flags, size_t *idx,
                     void **val, int mode, int64_t deadline)
{
    struct csp__wait m;
    struct csp__wakes wl;
    struct csp__drops dl;
    struct csp__waiter w;
    struct csp__node small_nodes[SMALL], *nodes = small_nodes;
    size_t nodes_size = 0, i0 = 0;
    struct alts a;
    void *v = NULL;
    int rc;

    rc = validate(ops, n, flags);
    if (rc != CSP_OK)
        return rc;
    rc = csp__wait_begin(&m, mode, deadline);
    if (rc != CSP_OK)
        return rc;
    rc = alts_setup(&a, ops, n, flags);
    if (rc != CSP_OK)
        return rc;
    csp__wakes_init(&wl);
    dl.n = 0;
    for (int first = 1;; first = 0) {
        rc = attempt(&a, flags, &m, first, &i0, &v, &wl, &dl);
        if (rc != CSP_PENDING)
            break;
        if (n > SMALL && !nodes_size) {
            /* Must wait, with more cases than the stack holds: allocate
             * the nodes outside the locks (only now: an alts that finds
             * a ready op allocates nothing), then try again. Pass 1
             * completed nothing, so WL and DL are still empty. */
            unlock_all(&a);
            nodes_size = n * sizeof *nodes;
            nodes = csp__alloc(a.rt, nodes_size);
            if (!nodes) {
                alts_teardown(&a);
                return CSP_ENOMEM;
            }
            continue;
        }
        csp__waiter_init_for(&w, &m, nodes, (uint32_t)n);
        link_all(&a, &w, nodes);
        unlock_all(&a);
        break;
    }
    csp__finish(&wl, &dl);
    if (rc == CSP_PENDING) {
        if (m.p)
            note_wait(m.p, &a);
        rc = csp__wait_end(&m, &w);
        if (rc == CSP_OK) {
            csp__waiter_unlink(&w); /* pass 3 */
            i0 = w.won;
            v = w.val;
            rc = w.rc;
        }
    }
    if (nodes_size)
        csp__free(a.rt, nodes, nodes_size);
    alts_teardown(&a);
    if (rc == CSP_OK || rc == CSP_ECLOSED) {
        if (idx)
            *idx = i0;
        if (val)
            *val = v;
    }
    return rc;
}

int csp_alts(const csp_op *ops, size_t n, int flags, size_t *idx, void **val)
{
    return alts_wait(ops, n, flags, idx, val, CSP__MODE_PARK, CSP_FOREVER);
}

int csp_alts_blocking(const csp_op *ops, size_t n, int flags, int64_t deadline,
                      size_t *idx, void **val)
{
    return alts_wait(ops, n, flags, idx, val, CSP__MODE_BLOCK, deadline);
}

int csp_alts_cb(const csp_op *ops, size_t n, int flags, size_t *idx, void **val,
                csp_exec *ex, csp_alts_fn cb, void *ud, csp_pending **pending)
{
    struct csp__wakes wl;
    struct csp__drops dl;
    struct csp_pending *op = NULL;
    struct alts a;
    size_t i0 = 0;
    void *v = NULL;
    int rc;

    if (!cb)
        return CSP_EINVAL;
    rc = validate(ops, n, flags);
    if (rc != CSP_OK)
        return rc;
    if (!ex) {
        ex = csp_rt_executor(ops[0].ch->rt);
        if (!ex)
            return CSP_ENOMEM;
    }
    rc = alts_setup(&a, ops, n, flags);
    if (rc != CSP_OK)
        return rc;
    csp__wakes_init(&wl);
    dl.n = 0;
    for (int first = 1;; first = 0) {
        rc = attempt(&a, flags, NULL, first, &i0, &v, &wl, &dl);
        if (rc != CSP_PENDING)
            break;
        if (op) {
            op->is_alts = 1;
            op->ex = ex;
            op->cb.alts = cb;
            op->ud = ud;
            for (size_t i = 0; i < n; i++)
                csp_chan_retain(ops[i].ch);
            if (pending)
                atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
            link_all(&a, &op->w, op->nodes);
            unlock_all(&a);
            break;
        }
        /* Must wait: allocate outside the locks, then try again. */
        unlock_all(&a);
        op = csp__pending_new(a.rt, n);
        if (!op) {
            alts_teardown(&a);
            return CSP_ENOMEM;
        }
    }
    csp__finish(&wl, &dl);
    alts_teardown(&a);
    if (rc == CSP_PENDING) {
        if (pending)
            *pending = op;
        return rc;
    }
    if (op)
        csp__pending_discard(op);
    if (rc == CSP_OK || rc == CSP_ECLOSED) {
        if (idx)
            *idx = i0;
        if (val)
            *val = v;
    }
    return rc;
}
