/* chan.c - channels: pending puts and takes, buffer, close, refcounts, and
 * every single-case operation (parking, blocking, callback, offer/poll).
 *
 * Invariants, with ch->lock held (DESIGN §5, STYLE §6):
 *   - At most one of ch->puts and ch->takes holds live nodes, except when
 *     one alts has both a put and a take queued on an unbuffered ch.
 *   - If the buffer holds a value, ch->takes is empty; if it has room,
 *     ch->puts is empty. Dropping, sliding and promise buffers are never
 *     full, so puts never wait on them.
 *   - ch->closed never returns to 0. Puts then fail with CSP_ECLOSED;
 *     takes drain the buffer, then the pending puts (core.async keeps
 *     them), then get CSP_ECLOSED.
 *   - ntakes/nputs count linked nodes, at most CSP_PENDING_MAX each
 *     (takes on timeout channels are unlimited).
 *   - A node is completed only by the thread that wins
 *     CAS(w->state, WAITING, CLAIMED) while holding its channel's lock.
 *     Nodes whose CAS fails are dead: unlinked and skipped.
 *
 * Under the lock nothing runs but the transform: wake-ups are collected
 * on a local list (struct csp__wakes) and drops on another (struct
 * csp__drops), both run after unlocking (STYLE §5).
 *
 * A parking or blocking op borrows its caller's reference to the channel
 * and keeps its waiter and node on its own stack; a callback op retains
 * the channel and lives in a struct csp_pending until its completion task
 * ran or it was cancelled.
 */
#include <string.h>

#include "internal.h"

#define CHAN_OF(l) CSP__CONTAINER(l, csp_chan, rt_link)
#define PENDING_OF(l) CSP__CONTAINER(l, struct csp_pending, rt_link)

static _Atomic uint64_t next_chan_id = 1;

uint64_t csp__next_chan_id(void)
{
    return atomic_fetch_add_explicit(&next_chan_id, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * Queues of nodes (core/list.h lists of csp__node.link). */

void csp__chan_link(csp_chan *ch, struct csp__node *n)
{
    if (n->is_put) {
        csp__list_append(&ch->puts, &n->link);
        ch->nputs++;
    } else {
        csp__list_append(&ch->takes, &n->link);
        ch->ntakes++;
    }
    n->linked = 1;
}

void csp__chan_unlink(csp_chan *ch, struct csp__node *n)
{
    if (!n->linked)
        return;
    if (n->is_put) {
        csp__list_remove(&ch->puts, &n->link);
        ch->nputs--;
    } else {
        csp__list_remove(&ch->takes, &n->link);
        ch->ntakes--;
    }
    n->linked = 0;
}

/* Go's waitq.dequeue: unlink nodes from the head until one's waiter is
 * claimed by us. Called with ch->lock held. Inlined into the fast paths
 * (claim_first elsewhere). */
static inline __attribute__((always_inline)) struct csp__node *
claim_first_inline(csp_chan *ch, int puts)
{
    struct csp__list *q = puts ? &ch->puts : &ch->takes;

    while (!csp__list_empty(q)) {
        struct csp__node *n = CSP__NODE(q->head);
        uint32_t expect = CSP__W_WAITING;

        csp__chan_unlink(ch, n);
        /* acq_rel: pairs with the owner's CAS to CANCELLED; exactly one of
         * the two wins and the loser leaves the waiter alone. */
        if (atomic_compare_exchange_strong_explicit(
                &n->w->state, &expect, CSP__W_CLAIMED, memory_order_acq_rel,
                memory_order_relaxed))
            return n;
    }
    return NULL;
}

static struct csp__node *claim_first(csp_chan *ch, int puts)
{
    return claim_first_inline(ch, puts);
}

/* Record the result of claimed node N and queue its waiter for waking. */
static void complete(struct csp__node *n, int rc, void *val,
                     struct csp__wakes *wl)
{
    struct csp__waiter *w = n->w;

    w->won = n->idx;
    w->rc = rc;
    w->val = val;
    if (w->kind == CSP__CONT_THREAD)
        csp__parker_retain(w->u.parker); /* the thread is still blocked */
    w->wnext = NULL;
    *wl->tail = w;
    wl->tail = &w->wnext;
}

static void purge_dead(csp_chan *ch, struct csp__list *q)
{
    struct csp__link *l = q->head;

    while (l) {
        struct csp__link *next = l->next;
        struct csp__node *n = CSP__NODE(l);
        if (atomic_load_explicit(&n->w->state, memory_order_acquire) !=
            CSP__W_WAITING)
            csp__chan_unlink(ch, n);
        l = next;
    }
}

int csp__chan_has_room(csp_chan *ch, int is_put, size_t n)
{
    if (is_put) {
        if (ch->nputs + n <= CSP_PENDING_MAX)
            return 1;
        purge_dead(ch, &ch->puts);
        return ch->nputs + n <= CSP_PENDING_MAX;
    }
    if (ch->kind == CSP__KIND_TIMEOUT || ch->ntakes + n <= CSP_PENDING_MAX)
        return 1;
    purge_dead(ch, &ch->takes);
    return ch->ntakes + n <= CSP_PENDING_MAX;
}

/* ------------------------------------------------------------------------
 * Values in and out of the buffer. */

void csp__run_drops(struct csp__drops *dl)
{
    for (unsigned i = 0; i < dl->n; i++)
        dl->d[i].fn(dl->d[i].ud, dl->d[i].val);
    dl->n = 0;
}

void csp__chan_discard(csp_chan *ch, void *v, struct csp__drops *dl)
{
    if (!ch->drop)
        return;
    if (dl->n < CSP__DROPS_MAX) {
        dl->d[dl->n].fn = ch->drop;
        dl->d[dl->n].ud = ch->drop_ud;
        dl->d[dl->n].val = v;
        dl->n++;
    } else {
        ch->drop(ch->drop_ud, v); /* drop's contract allows the lock */
    }
}

void csp_chan_discard(csp_chan *ch, void *val)
{
    /* drop and drop_ud are immutable: no lock needed. */
    if (ch && val && ch->drop)
        ch->drop(ch->drop_ud, val);
}

void csp_chan_drop(csp_chan *ch, void *val) { csp_chan_discard(ch, val); }

void csp__chan_sink(csp_chan *ch, void *v, struct csp__drops *dl)
{
    struct csp__buf *b = &ch->buf;

    switch (ch->buf_kind) {
    case CSP_BUF_PROMISE: /* a transformed promise: the first value stays */
        if (ch->promised) {
            csp__chan_discard(ch, v, dl);
        } else {
            ch->promised = 1;
            ch->promise = v;
        }
        return;
    case CSP_BUF_DROPPING:
        if (b->count >= b->cap) {
            csp__chan_discard(ch, v, dl);
            return;
        }
        break;
    case CSP_BUF_SLIDING:
        if (b->count >= b->cap)
            csp__chan_discard(ch, csp__buf_pop(b), dl);
        break;
    default:
        break;
    }
    if (csp__buf_push(ch->rt, b, v) != CSP_OK)
        csp__chan_discard(ch, v, dl); /* a transform overfilled; no memory */
}

/* Add V through the transform, if any. Returns CSP_OK or CSP_REDUCED. */
static int add_value(csp_chan *ch, void *v, struct csp__drops *dl)
{
    int r;

    if (!ch->xf) {
        csp__chan_sink(ch, v, dl);
        return CSP_OK;
    }
    r = csp__xinst_step(ch->xf, v, dl);
    if (r < 0) {
        void *x = ch->exh ? ch->exh(ch->exh_ud, r) : NULL;
        if (x)
            csp__chan_sink(ch, x, dl);
        r = CSP_OK;
    }
    return r;
}

static void flush_xform(csp_chan *ch, struct csp__drops *dl)
{
    int r;

    ch->flushed = 1;
    r = csp__xinst_complete(ch->xf, dl);
    if (r < 0 && ch->exh) {
        void *x = ch->exh(ch->exh_ud, r);
        if (x)
            csp__chan_sink(ch, x, dl);
    }
}

static void close_locked(csp_chan *ch, struct csp__wakes *wl,
                         struct csp__drops *dl)
{
    struct csp__node *t;

    if (ch->closed)
        return;
    ch->closed = 1;
    ch->open_plain = 0;
    if (ch->xf && !ch->flushed && csp__list_empty(&ch->puts))
        flush_xform(ch, dl);
    while ((t = claim_first(ch, 0)) != NULL) {
        if (ch->promised) /* its transform's completion made the value */
            complete(t, CSP_OK, ch->promise, wl);
        else if (ch->buf.count > 0)
            complete(t, CSP_OK, csp__buf_pop(&ch->buf), wl);
        else
            complete(t, CSP_ECLOSED, NULL, wl);
    }
}

/* A transform stopped early: pending puts succeed with their values
 * discarded, then the channel closes (core.async's abort + close!). */
static void abort_locked(csp_chan *ch, struct csp__wakes *wl,
                         struct csp__drops *dl)
{
    struct csp__node *p;

    while ((p = claim_first(ch, 1)) != NULL) {
        csp__chan_discard(ch, p->val, dl);
        complete(p, CSP_OK, NULL, wl);
    }
    close_locked(ch, wl, dl);
}

/* The single-case cores, inlined into chan_wait (each call saved a
 * prologue and epilogue of six registers on the ping-pong path) and
 * wrapped below for alts.c. */
static inline __attribute__((always_inline)) int
try_take(csp_chan *ch, void **val, struct csp__wakes *wl, struct csp__drops *dl)
{
    struct csp__node *p;

    if (ch->buf_kind == CSP_BUF_PROMISE) {
        if (ch->promised) {
            *val = ch->promise;
            return CSP_OK;
        }
        return ch->closed ? CSP_ECLOSED : CSP_EAGAIN;
    }
    if (ch->buf.count > 0) {
        *val = csp__buf_pop(&ch->buf);
        /* A take made room: move pending puts into the buffer. */
        while (!csp__buf_full(&ch->buf) && (p = claim_first(ch, 1))) {
            int r = add_value(ch, p->val, dl);
            complete(p, CSP_OK, NULL, wl);
            if (r == CSP_REDUCED) {
                abort_locked(ch, wl, dl);
                break;
            }
        }
        return CSP_OK;
    }
    if ((p = claim_first(ch, 1)) != NULL) {
        CSP_ASSERT(ch->buf_kind == CSP_BUF_NONE);
        *val = p->val;
        complete(p, CSP_OK, NULL, wl);
        return CSP_OK;
    }
    if (ch->closed) {
        if (ch->xf && !ch->flushed) {
            flush_xform(ch, dl);
            if (ch->buf.count > 0) {
                *val = csp__buf_pop(&ch->buf);
                return CSP_OK;
            }
        }
        return CSP_ECLOSED;
    }
    return CSP_EAGAIN;
}

static inline __attribute__((always_inline)) int
try_put(csp_chan *ch, void *val, struct csp__wakes *wl, struct csp__drops *dl)
{
    struct csp__node *t;

    if (ch->closed)
        return CSP_ECLOSED;
    if (ch->buf_kind == CSP_BUF_PROMISE) {
        int r;

        if (ch->promised) {
            csp__chan_discard(ch, val, dl);
            return CSP_OK;
        }
        r = add_value(ch, val, dl); /* the first value out becomes it */
        if (ch->promised)
            while ((t = claim_first(ch, 0)) != NULL)
                complete(t, CSP_OK, ch->promise, wl);
        if (r == CSP_REDUCED)
            abort_locked(ch, wl, dl);
        return CSP_OK;
    }
    if (ch->xf) {
        int r;

        /* Only a fixed buffer makes a put wait (core.async: full? is
         * false for dropping and sliding buffers). */
        if (ch->buf_kind == CSP_BUF_FIXED && csp__buf_full(&ch->buf))
            return CSP_EAGAIN;
        r = add_value(ch, val, dl);
        while (ch->buf.count > 0 && (t = claim_first(ch, 0)))
            complete(t, CSP_OK, csp__buf_pop(&ch->buf), wl);
        if (r == CSP_REDUCED)
            abort_locked(ch, wl, dl);
        return CSP_OK;
    }
    if ((t = claim_first(ch, 0)) != NULL) {
        complete(t, CSP_OK, val, wl); /* direct hand-off */
        return CSP_OK;
    }
    switch (ch->buf_kind) {
    case CSP_BUF_NONE:
        return CSP_EAGAIN;
    case CSP_BUF_FIXED:
        if (csp__buf_full(&ch->buf))
            return CSP_EAGAIN;
        /* Below cap, so below the allocated size: cannot fail. */
        csp__buf_push(ch->rt, &ch->buf, val);
        return CSP_OK;
    default:
        break;
    }
    csp__chan_sink(ch, val, dl);
    return CSP_OK;
}

int csp__chan_try_take(csp_chan *ch, void **val, struct csp__wakes *wl,
                       struct csp__drops *dl)
{
    return try_take(ch, val, wl, dl);
}

int csp__chan_try_put(csp_chan *ch, void *val, struct csp__wakes *wl,
                      struct csp__drops *dl)
{
    return try_put(ch, val, wl, dl);
}

/* ------------------------------------------------------------------------
 * Creation, references, close. */

static int valid_buf(int buf, size_t cap)
{
    switch (buf) {
    case CSP_BUF_NONE:
    case CSP_BUF_PROMISE:
        return cap == 0;
    case CSP_BUF_FIXED:
    case CSP_BUF_DROPPING:
    case CSP_BUF_SLIDING:
        return cap >= 1 && cap <= CSP_CAP_MAX;
    default:
        return 0;
    }
}

static int chan_alloc(csp_chan **out, csp_rt *rt, int buf, size_t cap,
                      int kind)
{
    csp_chan *ch = csp__calloc(rt, sizeof *ch);
    int rc;

    if (!ch)
        return CSP_ENOMEM;
    atomic_init(&ch->refs, 1);
    ch->id = csp__next_chan_id();
    ch->rt = rt;
    ch->buf_kind = (uint8_t)buf;
    ch->kind = (uint8_t)kind;
    ch->open_plain = buf <= CSP_BUF_FIXED && kind == CSP__KIND_NORMAL;
    if (buf == CSP_BUF_FIXED || buf == CSP_BUF_DROPPING ||
        buf == CSP_BUF_SLIDING) {
        rc = csp__buf_init(rt, &ch->buf, cap);
        if (rc != CSP_OK)
            goto fail_buf;
    }
    csp__lock_init(&ch->lock);
    csp__mutex_lock(&rt->chans_lock);
    csp__list_append(&rt->chans, &ch->rt_link);
    csp__mutex_unlock(&rt->chans_lock);
    atomic_fetch_add_explicit(&rt->nchans, 1, memory_order_relaxed);
    *out = ch;
    return CSP_OK;

fail_buf:
    csp__free(rt, ch, sizeof *ch);
    return rc;
}

int csp__chan_new_kind(csp_chan **out, csp_rt *rt, int buf, size_t cap,
                       int kind)
{
    return chan_alloc(out, rt, buf, cap, kind);
}

int csp_chan_new(csp_chan **out, csp_rt *rt, int buf, size_t cap,
                 csp_drop_fn drop, void *drop_ud)
{
    csp_chan *ch;
    int rc;

    if (!out || !rt || !valid_buf(buf, cap))
        return CSP_EINVAL;
    rc = chan_alloc(&ch, rt, buf, cap, CSP__KIND_NORMAL);
    if (rc != CSP_OK)
        return rc;
    ch->drop = drop;
    ch->drop_ud = drop_ud;
    *out = ch;
    return CSP_OK;
}

int csp_chan_new_xf(csp_chan **out, csp_rt *rt, int buf, size_t cap,
                    csp_drop_fn drop, void *drop_ud, csp_xform *xf,
                    csp_exh_fn exh, void *exh_ud)
{
    csp_chan *ch;
    int rc;

    if (!out || !rt || !xf || buf == CSP_BUF_NONE || !valid_buf(buf, cap))
        return CSP_EINVAL;
    rc = chan_alloc(&ch, rt, buf, cap, CSP__KIND_NORMAL);
    if (rc != CSP_OK)
        return rc;
    ch->open_plain = 0;
    ch->drop = drop;
    ch->drop_ud = drop_ud;
    ch->exh = exh;
    ch->exh_ud = exh_ud;
    rc = csp__xinst_new(&ch->xf, rt, xf, ch);
    if (rc != CSP_OK) {
        csp_chan_release(ch);
        return rc;
    }
    *out = ch;
    return CSP_OK;
}

csp_chan *csp_chan_retain(csp_chan *ch)
{
    if (ch)
        atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    return ch;
}

void csp_chan_release(csp_chan *ch)
{
    csp_rt *rt;
    struct csp__drops dl;
    csp_free_fn on_free;
    void *on_free_ud;

    if (!ch)
        return;
    /* acq_rel: the last releaser sees every earlier user's writes. */
    if (atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) != 1)
        return;
    rt = ch->rt;
    CSP_ASSERT(csp__list_empty(&ch->puts) && csp__list_empty(&ch->takes));
    csp__mutex_lock(&rt->chans_lock);
    csp__list_remove(&rt->chans, &ch->rt_link);
    csp__mutex_unlock(&rt->chans_lock);
    dl.n = 0;
    if (ch->buf.slots) {
        while (ch->buf.count > 0)
            csp__chan_discard(ch, csp__buf_pop(&ch->buf), &dl);
        csp__run_drops(&dl);
        csp__buf_fini(rt, &ch->buf);
    }
    if (ch->promised && ch->drop)
        ch->drop(ch->drop_ud, ch->promise);
    if (ch->xf)
        csp__xinst_free(rt, ch->xf);
    on_free = ch->on_free;
    on_free_ud = ch->on_free_ud;
    csp__free(rt, ch, sizeof *ch);
    atomic_fetch_sub_explicit(&rt->nchans, 1, memory_order_relaxed);
    /* Last: every drop above has returned. */
    if (on_free)
        on_free(on_free_ud);
}

int csp_chan_on_free(csp_chan *ch, csp_free_fn fn, void *ud)
{
    int rc = CSP_OK;

    if (!ch || !fn)
        return CSP_EINVAL;
    if (ch->kind == CSP__KIND_TIMEOUT)
        return CSP_EPERM;
    csp__lock_acquire(&ch->lock);
    if (ch->on_free) {
        rc = CSP_EBUSY;
    } else {
        ch->on_free = fn;
        ch->on_free_ud = ud;
    }
    csp__lock_release(&ch->lock);
    return rc;
}

void csp__chan_close(csp_chan *ch)
{
    struct csp__wakes wl;
    struct csp__drops dl;

    csp__wakes_init(&wl);
    dl.n = 0;
    csp__lock_acquire(&ch->lock);
    close_locked(ch, &wl, &dl);
    csp__lock_release(&ch->lock);
    csp__finish(&wl, &dl);
}

int csp_chan_close(csp_chan *ch)
{
    if (!ch)
        return CSP_EINVAL;
    if (ch->kind == CSP__KIND_TIMEOUT)
        return CSP_EPERM;
    csp__chan_close(ch);
    return CSP_OK;
}

int csp_chan_closed(const csp_chan *ch)
{
    int closed;

    if (!ch)
        return 0;
    csp__lock_acquire((csp__lock *)&ch->lock);
    closed = ch->closed;
    csp__lock_release((csp__lock *)&ch->lock);
    return closed;
}

uint64_t csp_chan_id(const csp_chan *ch) { return ch ? ch->id : 0; }

size_t csp_chan_count(csp_chan *ch)
{
    size_t n;

    if (!ch)
        return 0;
    csp__lock_acquire(&ch->lock);
    n = ch->buf_kind == CSP_BUF_PROMISE ? (size_t)ch->promised
                                        : ch->buf.count;
    csp__lock_release(&ch->lock);
    return n;
}

/* ------------------------------------------------------------------------
 * Never-waiting ops. */

int csp_chan_offer(csp_chan *ch, void *val)
{
    struct csp__wakes wl;
    struct csp__drops dl;
    int rc;

    if (!ch || !val)
        return CSP_EINVAL;
    if (ch->kind == CSP__KIND_TIMEOUT || csp__in_xform_guard())
        return CSP_EPERM;
    csp__wakes_init(&wl);
    dl.n = 0;
    csp__lock_acquire(&ch->lock);
    rc = csp__chan_try_put(ch, val, &wl, &dl);
    csp__lock_release(&ch->lock);
    csp__finish(&wl, &dl);
    return rc;
}

int csp_chan_poll(csp_chan *ch, void **val)
{
    struct csp__wakes wl;
    struct csp__drops dl;
    void *v = NULL;
    int rc;

    if (!ch || !val)
        return CSP_EINVAL;
    if (csp__in_xform_guard())
        return CSP_EPERM;
    csp__wakes_init(&wl);
    dl.n = 0;
    csp__lock_acquire(&ch->lock);
    rc = csp__chan_try_take(ch, &v, &wl, &dl);
    csp__lock_release(&ch->lock);
    csp__finish(&wl, &dl);
    if (rc == CSP_OK)
        *val = v;
    else if (rc == CSP_ECLOSED)
        *val = NULL;
    return rc;
}

/* ------------------------------------------------------------------------
 * Ops that may wait: one put or take, parking, blocking or with a callback
 * (how they wait is wait.c's). */

/* One put or take that may wait (the single-case alts_wait), with
 * CH's lock held (released here): try it now, else queue one node and
 * park or block until it completes. Inlined into each caller, so that
 * MODE is a constant there (W1 ping-pong: 1334 instructions a round trip
 * against 1480 with one shared copy). */
static inline __attribute__((always_inline)) int
chan_wait_locked(csp_chan *ch, int is_put, void **val, struct csp__wait *m)
{
    struct csp__wakes wl;
    struct csp__drops dl;
    struct csp__waiter w;
    struct csp__node n;
    void *v = is_put ? *val : NULL;
    int rc;

    csp__wakes_init(&wl);
    dl.n = 0;
    rc = is_put ? try_put(ch, v, &wl, &dl) : try_take(ch, &v, &wl, &dl);
    if (rc == CSP_EAGAIN) {
        if (csp__wait_expired(m)) {
            rc = CSP_ETIMEDOUT;
        } else if (!csp__chan_has_room(ch, is_put, 1)) {
            rc = CSP_EBUSY;
        } else {
            csp__waiter_init_for(&w, m, &n, 1);
            csp__node_init(&n, &w, ch, v, 0, is_put);
            csp__chan_link(ch, &n);
            rc = CSP_PENDING;
        }
    }
    csp__lock_release(&ch->lock);
    if (m->mode == CSP__MODE_PARK && wl.head && !wl.head->wnext &&
        wl.head->kind == CSP__CONT_PROC && !dl.n)
        /* The ping-pong hand-off: one proc to wake, and we know our
         * worker (no TLS read, no wake-list walk). */
        csp__proc_wake_by(wl.head->u.proc, m->p);
    else
        csp__finish(&wl, &dl);
    if (rc != CSP_PENDING) {
        if (!is_put && (rc == CSP_OK || rc == CSP_ECLOSED))
            *val = v;
        return rc;
    }
    if (m->mode == CSP__MODE_PARK) {
        /* One call notes what we wait on (csp_rt_dump) and parks. */
        csp__proc_park_on(m->p, &w, is_put ? CSP__WAIT_PUT : CSP__WAIT_TAKE,
                          ch->id);
    } else {
        rc = csp__wait_thread(&w, m->pk, m->deadline);
        if (rc != CSP_OK)
            return rc;
    }
    if (!is_put)
        *val = w.val;
    return w.rc;
}

static inline __attribute__((always_inline)) int
chan_wait(csp_chan *ch, int is_put, void **val, int mode, int64_t deadline)
{
    struct csp__wait m;
    int rc;

    rc = csp__wait_begin(&m, mode, deadline);
    if (rc != CSP_OK)
        return rc;
    csp__lock_acquire(&ch->lock);
    return chan_wait_locked(ch, is_put, val, &m);
}

/* The general parking put and take, entered with CH locked by the fast
 * paths below when theirs does not apply. */
static __attribute__((noinline)) int park_put_locked(csp_chan *ch, void *val,
                                                     struct csp__proc *p)
{
    struct csp__wait m = {CSP__MODE_PARK, CSP_FOREVER, p, NULL};

    return chan_wait_locked(ch, 1, &val, &m);
}

static __attribute__((noinline)) int park_take_locked(csp_chan *ch, void **val,
                                                      struct csp__proc *p)
{
    struct csp__wait m = {CSP__MODE_PARK, CSP_FOREVER, p, NULL};

    return chan_wait_locked(ch, 0, val, &m);
}

/* Wake W, claimed and completed by the caller, a go process P: the fast
 * paths' one-waiter csp__finish. */
/* Complete claimed node T with CSP_OK and VAL (a take's value; NULL for
 * a put), release CH's lock and wake T's waiter: the fast paths' single
 * complete + csp__finish, from go process P. Written out rather than
 * through complete() and a one-entry wake list, which cost W1 22
 * instructions a round trip. */
static inline __attribute__((always_inline)) void
hand_off(csp_chan *ch, struct csp__node *t, void *val, struct csp__proc *p)
{
    struct csp__waiter *w = t->w;
    struct csp__wakes wl;

    w->won = t->idx;
    w->rc = CSP_OK;
    w->val = val;
    if (w->kind == CSP__CONT_THREAD)
        csp__parker_retain(w->u.parker); /* the thread is still blocked */
    w->wnext = NULL;
    csp__lock_release(&ch->lock);
    if (w->kind == CSP__CONT_PROC) {
        csp__proc_wake_by(w->u.proc, p);
        return;
    }
    wl.head = w;
    wl.tail = &w->wnext;
    csp__wake_all(&wl);
}

/* Queue one node for go process P's put of VAL (IS_PUT) or take on CH,
 * whose lock is held (released here), and park until it completes. The
 * result is *W's. */
static inline __attribute__((always_inline)) void
park_one(csp_chan *ch, struct csp__proc *p, int is_put, void *val,
         struct csp__waiter *w, struct csp__node *n)
{
    csp__waiter_init(w, CSP__CONT_PROC, p, n, 1);
    csp__node_init(n, w, ch, val, 0, is_put);
    csp__chan_link(ch, n);
    csp__lock_release(&ch->lock);
    csp__proc_park_on(p, w, is_put ? CSP__WAIT_PUT : CSP__WAIT_TAKE, ch->id);
}

/* The parking put and take have fast paths for the common cases on an
 * open channel without transform, unbuffered or fixed (open_plain): a
 * hand-off to a waiting op, a buffer with room or values and nobody
 * waiting on the other side, and parking. They need no wake list, drop
 * list or timeout, so they keep a small frame (W1 ping-pong 825 -> 679
 * instructions a round trip); anything else continues, lock held, in
 * chan_wait_locked. */
int csp_chan_put(csp_chan *ch, void *val)
{
    struct csp__proc *p;
    struct csp__node *t;

    if (!ch || !val)
        return CSP_EINVAL;
    if (ch->kind == CSP__KIND_TIMEOUT || csp__in_xform_guard())
        return CSP_EPERM;
    p = csp__proc_current();
    if (!p)
        return CSP_EPERM;
    csp__lock_acquire(&ch->lock);
    if (ch->open_plain) {
        if ((t = claim_first_inline(ch, 0)) != NULL) {
            hand_off(ch, t, val, p);
            return CSP_OK;
        }
        if (ch->buf_kind == CSP_BUF_FIXED && !csp__buf_full(&ch->buf)) {
            /* Below cap, so below the allocated size: cannot fail. */
            csp__buf_push(ch->rt, &ch->buf, val);
            csp__lock_release(&ch->lock);
            return CSP_OK;
        }
        if (ch->nputs < CSP_PENDING_MAX) {
            struct csp__waiter w;
            struct csp__node n;

            park_one(ch, p, 1, val, &w, &n);
            return w.rc;
        }
    }
    return park_put_locked(ch, val, p);
}

int csp_chan_take(csp_chan *ch, void **val)
{
    struct csp__proc *p;
    struct csp__node *t;

    if (!ch || !val)
        return CSP_EINVAL;
    if (csp__in_xform_guard())
        return CSP_EPERM;
    p = csp__proc_current();
    if (!p)
        return CSP_EPERM;
    csp__lock_acquire(&ch->lock);
    if (ch->open_plain) {
        if (ch->buf.count > 0) {
            /* With puts pending, the slow path refills the buffer. */
            if (csp__list_empty(&ch->puts)) {
                *val = csp__buf_pop(&ch->buf);
                csp__lock_release(&ch->lock);
                return CSP_OK;
            }
        } else if (!csp__list_empty(&ch->puts)) {
            if ((t = claim_first_inline(ch, 1)) != NULL) {
                void *v = t->val;

                hand_off(ch, t, NULL, p);
                *val = v;
                return CSP_OK;
            }
        } else if (ch->ntakes < CSP_PENDING_MAX) {
            struct csp__waiter w;
            struct csp__node n;

            park_one(ch, p, 0, NULL, &w, &n);
            *val = w.val;
            return w.rc;
        }
    }
    return park_take_locked(ch, val, p);
}

int csp_chan_put_blocking(csp_chan *ch, void *val, int64_t deadline)
{
    if (!ch || !val)
        return CSP_EINVAL;
    if (ch->kind == CSP__KIND_TIMEOUT || csp__in_xform_guard())
        return CSP_EPERM;
    return chan_wait(ch, 1, &val, CSP__MODE_BLOCK, deadline);
}

int csp_chan_take_blocking(csp_chan *ch, void **val, int64_t deadline)
{
    if (!ch || !val)
        return CSP_EINVAL;
    if (csp__in_xform_guard())
        return CSP_EPERM;
    return chan_wait(ch, 0, val, CSP__MODE_BLOCK, deadline);
}

static int cb_op(csp_chan *ch, int is_put, void **val, csp_exec *ex,
                 csp_done_fn cb, void *ud, csp_pending **pending)
{
    struct csp__wakes wl;
    struct csp__drops dl;
    struct csp_pending *op = NULL;
    void *v = is_put ? *val : NULL;
    int rc;

    if (!ex) {
        ex = csp_rt_executor(ch->rt);
        if (!ex)
            return CSP_ENOMEM;
    }
    csp__wakes_init(&wl);
    dl.n = 0;
    for (;;) {
        csp__lock_acquire(&ch->lock);
        rc = csp__chan_try(ch, is_put, &v, &wl, &dl);
        if (rc != CSP_EAGAIN)
            break;
        if (!csp__chan_has_room(ch, is_put, 1)) {
            rc = CSP_EBUSY;
            break;
        }
        if (op) {
            struct csp__node *n = &op->nodes[0];
            op->ex = ex;
            op->cb.done = cb;
            op->ud = ud;
            csp__node_init(n, &op->w, csp_chan_retain(ch), v, 0, is_put);
            if (pending)
                atomic_fetch_add_explicit(&op->refs, 1,
                                          memory_order_relaxed);
            csp__chan_link(ch, n);
            rc = CSP_PENDING;
            break;
        }
        /* Must wait: allocate outside the lock, then try again. */
        csp__lock_release(&ch->lock);
        op = csp__pending_new(ch->rt, 1);
        if (!op)
            return CSP_ENOMEM;
    }
    csp__lock_release(&ch->lock);
    csp__finish(&wl, &dl);
    if (rc == CSP_PENDING) {
        if (pending)
            *pending = op;
        return rc;
    }
    if (op)
        csp__pending_discard(op);
    if (!is_put && (rc == CSP_OK || rc == CSP_ECLOSED))
        *val = v;
    return rc;
}

int csp_chan_put_cb(csp_chan *ch, void *val, csp_exec *ex, csp_done_fn cb,
                    void *ud, csp_pending **pending)
{
    if (!ch || !val || !cb)
        return CSP_EINVAL;
    if (ch->kind == CSP__KIND_TIMEOUT || csp__in_xform_guard())
        return CSP_EPERM;
    return cb_op(ch, 1, &val, ex, cb, ud, pending);
}

int csp_chan_take_cb(csp_chan *ch, void **val, csp_exec *ex, csp_done_fn cb,
                     void *ud, csp_pending **pending)
{
    if (!ch || !val || !cb)
        return CSP_EINVAL;
    if (csp__in_xform_guard())
        return CSP_EPERM;
    return cb_op(ch, 0, val, ex, cb, ud, pending);
}

/* ------------------------------------------------------------------------
 * fork() (fork.c). Every function here runs with the other threads
 * frozen: in prepare, in the parent after it, or in the child. */

int csp__chans_fork_trylock(csp_rt *rt)
{
    struct csp__link *l, *busy = NULL;

    csp__mutex_lock(&rt->chans_lock);
    for (l = rt->chans.head; l; l = l->next) {
        if (!csp__lock_try(&CHAN_OF(l)->lock)) {
            busy = l;
            break;
        }
    }
    if (!busy)
        return 1;
    for (l = rt->chans.head; l != busy; l = l->next)
        csp__lock_release(&CHAN_OF(l)->lock);
    csp__mutex_unlock(&rt->chans_lock);
    return 0;
}

void csp__chans_fork_unlock(csp_rt *rt)
{
    for (struct csp__link *l = rt->chans.head; l; l = l->next)
        csp__lock_release(&CHAN_OF(l)->lock);
    csp__mutex_unlock(&rt->chans_lock);
}

static void fork_empty_queue(csp_chan *ch, struct csp__list *q,
                             csp_task **cancelled)
{
    while (!csp__list_empty(q)) {
        struct csp__node *n = CSP__NODE(q->head);
        struct csp__waiter *w = n->w;
        uint32_t expect = CSP__W_WAITING;

        if (w->kind == CSP__CONT_CB &&
            atomic_compare_exchange_strong_explicit(
                &w->state, &expect, CSP__W_CANCELLED, memory_order_acq_rel,
                memory_order_acquire)) {
            struct csp_pending *op = w->u.pending;
            op->task.next = *cancelled;
            *cancelled = &op->task;
        }
        csp__chan_unlink(ch, n);
    }
}

void csp__chans_fork_child(csp_rt *rt, csp_task **cancelled)
{
    for (struct csp__link *l = rt->chans.head; l; l = l->next) {
        csp_chan *ch = CHAN_OF(l);
        fork_empty_queue(ch, &ch->takes, cancelled);
        fork_empty_queue(ch, &ch->puts, cancelled);
    }
    csp__chans_fork_unlock(rt);
}
