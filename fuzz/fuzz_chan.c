/* fuzz_chan.c - model-based fuzzing of channels, callback ops, offer/poll,
 * close, cancel, alts, releases, far-future timeouts, the pending-op limit
 * and forced shutdown (issue #8).
 *
 * The input bytes decode into a sequence of operations on up to 8
 * channels of every kind (unbuffered, fixed, dropping, sliding, promise,
 * capacities 1..4, and timeout channels), run on one thread against csp
 * and against the small reference model below, which is written from
 * core.async's rules (docs/design.md, csp.h) and shares no code with csp.
 * After every step both must agree on everything observable:
 *   - each call's result code, and its out-params (values delivered, the
 *     alts index, and out-params left untouched where csp.h says so);
 *   - which callbacks fired, each exactly once, with what (rc, index,
 *     value), and which values went to the drop hooks (compared as
 *     multisets per step: one close may complete several ops in an
 *     unspecified order);
 *   - csp_chan_count and csp_chan_closed of every channel, and the
 *     runtime's counts of pending callback ops and of live channels (so a
 *     channel is freed exactly when its last reference, the user's or a
 *     pending op's, goes);
 *   - at the end, that csp_rt_free succeeds (forced when ops are left
 *     pending with no handle: each then gets CSP_ECANCELED, a put its value
 *     back) and that every allocation was freed.
 *
 * Deterministic by construction: one thread; callbacks run on the inline
 * executor (before the call that completes them returns) or on a deferred
 * executor the input drains at chosen steps (so cancel can meet an op that
 * completed but whose callback has not run yet); alts in priority order,
 * or in random order with only membership checked (the committed case must
 * be one of the ready ones; the model then follows csp's choice).
 * Timeouts: there is no fake clock, so the model only makes timeouts one
 * hour or more away, which cannot fire during a run: put, offer and close
 * on them are refused, takes wait (past the 1024 limit), alts and cancel
 * work on them. Firing is covered by test_timer.c. Left out: transforms
 * (test_xform.c, test_ops_xf.c) and the go/blocking flavours (stress).
 *
 * Built two ways: with -fsanitize=fuzzer as a libFuzzer target
 * (`make fuzz`), and with FUZZ_REPLAY as a program that runs the files
 * given on its command line (ctest runs it over fuzz/corpus/chan, so every
 * committed input, crash reproducers included, is a regression test).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp.h"

#define NCH 8     /* channel slots */
#define NOPS 1280 /* op slots: room for a flood past the limit */
#define NCASE 3   /* cases per alts */
#define MAXCAP 4  /* buffer sizes 1..4 */
#define QCAP 4096 /* queued nodes per channel, dead ones included */
#define NEV 8192  /* events per step */
#define LIMIT CSP_PENDING_MAX
#define SENTINEL ((void *)(uintptr_t)0x5e17)
#define NO_SLOT 100 /* cb_one: every op slot is in use */

static void fail(const char *what, long a, long b)
{
    fprintf(stderr, "fuzz_chan: model and csp disagree: %s (%ld vs %ld)\n",
            what, a, b);
    abort();
}

#define CHECK(what, a, b)                                                      \
    do {                                                                       \
        long a_ = (long)(a), b_ = (long)(b);                                   \
        if (a_ != b_)                                                          \
            fail(what, a_, b_);                                                \
    } while (0)

/* Figures, printed at exit. */
static long steps, calls, pendings, events, cancels, floods, drains, forced;

/* ------------------------------------------------------------------------
 * A counting allocator: every block must be back after csp_rt_free. */

static _Atomic long live_blocks;

static void *count_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        if (ptr)
            atomic_fetch_sub(&live_blocks, 1);
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, new_size);
    if (p && !ptr)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

/* ------------------------------------------------------------------------
 * Events: what callbacks and drop hooks reported during one step. */

struct ev {
    int kind; /* 1 completion, 2 drop */
    int id;   /* op slot, or channel slot for a drop */
    int rc;
    int idx;
    uintptr_t val;
};

struct evs {
    struct ev e[NEV];
    int n;
};

static struct evs got, want;

static void ev_add(struct evs *l, struct ev e)
{
    if (l->n == NEV) {
        fprintf(stderr, "fuzz_chan: more than %d events in a step\n", NEV);
        abort();
    }
    l->e[l->n++] = e;
}

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind - y->kind;
    if (x->id != y->id)
        return x->id - y->id;
    return x->val < y->val ? -1 : x->val > y->val;
}

/* Compare as multisets. A completion's id is its op slot, which no other
 * event of the step shares, so "exactly once" is part of the comparison. */
static void ev_check(void)
{
    CHECK("event count", want.n, got.n);
    events += got.n;
    qsort(want.e, (size_t)want.n, sizeof want.e[0], ev_cmp);
    qsort(got.e, (size_t)got.n, sizeof got.e[0], ev_cmp);
    for (int i = 0; i < got.n; i++) {
        CHECK("event kind", want.e[i].kind, got.e[i].kind);
        CHECK("event id", want.e[i].id, got.e[i].id);
        CHECK("event rc", want.e[i].rc, got.e[i].rc);
        CHECK("event idx", want.e[i].idx, got.e[i].idx);
        CHECK("event value", want.e[i].val, got.e[i].val);
    }
    got.n = want.n = 0;
}

static void on_done(void *ud, int rc, void *val)
{
    ev_add(&got, (struct ev){1, (int)(intptr_t)ud, rc, 0, (uintptr_t)val});
}

static void on_alts(void *ud, int rc, size_t idx, void *val)
{
    ev_add(&got,
           (struct ev){1, (int)(intptr_t)ud, rc, (int)idx, (uintptr_t)val});
}

static void on_drop(void *ud, void *val)
{
    ev_add(&got, (struct ev){2, (int)(intptr_t)ud, 0, 0, (uintptr_t)val});
}

/* ------------------------------------------------------------------------
 * The deferred executor: tasks wait in FIFO order until op_drain. */

struct dexec {
    csp_exec base;
    csp_task *head, **tail;
};

static void dexec_submit(csp_exec *self, csp_task *t)
{
    struct dexec *d = (struct dexec *)self;

    t->next = NULL;
    *d->tail = t;
    d->tail = &t->next;
}

static struct dexec deferred = {{dexec_submit}, NULL, &deferred.head};

static void dexec_run_all(void)
{
    while (deferred.head) {
        csp_task *t = deferred.head;
        deferred.head = t->next;
        if (!deferred.head)
            deferred.tail = &deferred.head;
        t->run(t);
    }
}

/* ------------------------------------------------------------------------
 * The model. */

enum { K_TIMEOUT = 100 };

struct mnode {
    int op;
    unsigned gen; /* the op slot's generation when queued */
    int is_put;
    int idx; /* case index within its op */
    uintptr_t val;
};

struct mchan {
    int used;   /* the slot holds a channel (perhaps released: zombie) */
    int kind;   /* CSP_BUF_* or K_TIMEOUT */
    int zombie; /* the user released it; pending ops still hold it */
    size_t cap;
    int closed, promised;
    uintptr_t promise;
    uintptr_t buf[MAXCAP];
    size_t head, count;
    int nlive[2]; /* live queued nodes: takes, puts */
    int oprefs;   /* ops holding it: pending, or waiting to call back */
    int qh, qn;   /* the queue below: first maybe-live node, length */
    csp_chan *ch;
};

struct mop {
    int live;     /* queued, not completed */
    int awaiting; /* completed; its callback waits in the deferred executor */
    int deferred; /* completes through the deferred executor */
    int done_now; /* completed during this step */
    int is_alts;
    unsigned gen;
    int nc;
    int cci[NCASE], cput[NCASE];
    uintptr_t cval[NCASE];
    unsigned chmask; /* distinct channels of its cases */
    struct ev ev;    /* its completion, while awaiting */
    csp_pending *p;  /* the handle, if asked for and not released */
};

static struct mchan ch[NCH];
static struct mnode q[NCH][QCAP];
static struct mop ops[NOPS];
static int ops_hi, op_hint;
static uintptr_t next_val = 1;
static long timeouts_made;
static csp_rt *rt;

static int node_live(const struct mnode *n)
{
    return ops[n->op].live && ops[n->op].gen == n->gen;
}

static int full(const struct mchan *c)
{
    return c->kind == CSP_BUF_NONE || c->kind == K_TIMEOUT ||
           (c->kind == CSP_BUF_FIXED && c->count == c->cap);
}

static void push(struct mchan *c, int ci, uintptr_t v)
{
    if (c->count == c->cap) {
        if (c->kind == CSP_BUF_DROPPING) {
            ev_add(&want, (struct ev){2, ci, 0, 0, v});
            return;
        }
        /* sliding: evict the oldest */
        ev_add(&want, (struct ev){2, ci, 0, 0, c->buf[c->head]});
        c->head = (c->head + 1) % c->cap;
        c->count--;
    }
    c->buf[(c->head + c->count) % c->cap] = v;
    c->count++;
}

static uintptr_t pop(struct mchan *c)
{
    uintptr_t v = c->buf[c->head];

    c->head = (c->head + 1) % c->cap;
    c->count--;
    return v;
}

/* The channel's last reference went: values still in it are dropped and
 * the slot is free again. A timeout channel's last reference is the
 * timer's, so csp keeps it; the model only frees the slot. */
static void m_free(int ci)
{
    struct mchan *c = &ch[ci];

    if (c->kind != K_TIMEOUT) {
        while (c->count > 0)
            ev_add(&want, (struct ev){2, ci, 0, 0, pop(c)});
        if (c->promised)
            ev_add(&want, (struct ev){2, ci, 0, 0, c->promise});
    }
    c->used = 0;
    c->ch = NULL;
}

static void m_unref(int ci)
{
    struct mchan *c = &ch[ci];

    c->oprefs--;
    if (c->zombie && c->oprefs == 0)
        m_free(ci);
}

/* OP's references to its channels go (its callback ran, or it was
 * cancelled). */
static void op_unref_chans(int op)
{
    for (int i = 0; i < NCH; i++)
        if (ops[op].chmask & (1u << i))
            m_unref(i);
}

/* OP is no longer queued anywhere (completed or withdrawn). */
static void op_unqueue(int op)
{
    struct mop *o = &ops[op];

    o->live = 0;
    for (int i = 0; i < o->nc; i++)
        ch[o->cci[i]].nlive[o->cput[i]]--;
}

/* The first live node of the given side on channel CI, or -1. */
static int first(int ci, int is_put)
{
    struct mchan *c = &ch[ci];

    while (c->qh < c->qn && !node_live(&q[ci][c->qh]))
        c->qh++;
    for (int j = c->qh; j < c->qn; j++)
        if (q[ci][j].is_put == is_put && node_live(&q[ci][j]))
            return j;
    return -1;
}

/* Complete the op owning node J of channel CI with RC and VAL. */
static void complete(int ci, int j, int rc, uintptr_t val)
{
    struct mnode n = q[ci][j];
    struct mop *o = &ops[n.op];
    struct ev e = {1, n.op, rc, n.idx, val};

    op_unqueue(n.op);
    o->done_now = 1;
    if (o->deferred) {
        o->awaiting = 1;
        o->ev = e;
    } else {
        ev_add(&want, e);
        op_unref_chans(n.op);
    }
}

/* Would a put (take) on CI proceed now? */
static int m_ready(int ci, int is_put)
{
    struct mchan *c = &ch[ci];

    if (is_put)
        return c->closed || c->kind == CSP_BUF_PROMISE || first(ci, 0) >= 0 ||
               !full(c);
    if (c->kind == CSP_BUF_PROMISE)
        return c->promised || c->closed;
    return c->count > 0 || first(ci, 1) >= 0 || c->closed;
}

/* Put V on CI now: CSP_OK, CSP_ECLOSED, or CSP_EAGAIN (nothing changed). */
static int m_try_put(int ci, uintptr_t v)
{
    struct mchan *c = &ch[ci];
    int j;

    if (c->closed)
        return CSP_ECLOSED;
    if (c->kind == CSP_BUF_PROMISE) {
        if (c->promised) {
            ev_add(&want, (struct ev){2, ci, 0, 0, v});
            return CSP_OK;
        }
        c->promised = 1;
        c->promise = v;
        while ((j = first(ci, 0)) >= 0)
            complete(ci, j, CSP_OK, v);
        return CSP_OK;
    }
    if ((j = first(ci, 0)) >= 0) {
        complete(ci, j, CSP_OK, v);
        return CSP_OK;
    }
    if (full(c))
        return CSP_EAGAIN;
    push(c, ci, v);
    return CSP_OK;
}

/* Take from CI now: CSP_OK with *V, CSP_ECLOSED, or CSP_EAGAIN. */
static int m_try_take(int ci, uintptr_t *v)
{
    struct mchan *c = &ch[ci];
    int j;

    if (c->kind == CSP_BUF_PROMISE) {
        if (c->promised) {
            *v = c->promise;
            return CSP_OK;
        }
        return c->closed ? CSP_ECLOSED : CSP_EAGAIN;
    }
    if (c->count > 0) {
        *v = pop(c);
        /* Room appeared: pending puts move in, in order. */
        while (!full(c) && (j = first(ci, 1)) >= 0) {
            uintptr_t pv = q[ci][j].val;
            complete(ci, j, CSP_OK, 0);
            push(c, ci, pv);
        }
        return CSP_OK;
    }
    if ((j = first(ci, 1)) >= 0) {
        *v = q[ci][j].val;
        complete(ci, j, CSP_OK, 0);
        return CSP_OK;
    }
    return c->closed ? CSP_ECLOSED : CSP_EAGAIN;
}

static void m_close(int ci)
{
    struct mchan *c = &ch[ci];
    int j;

    if (c->closed)
        return;
    c->closed = 1;
    /* Pending takes get the buffer's values, then CSP_ECLOSED; pending
     * puts stay for later takes. */
    while ((j = first(ci, 0)) >= 0) {
        if (c->count > 0)
            complete(ci, j, CSP_OK, pop(c));
        else
            complete(ci, j, CSP_ECLOSED, 0);
    }
}

/* Would queueing the N cases fit under the limit, on every channel? All
 * or nothing: cases of one alts on one channel count together. */
static int m_fits(int n, const int *cis, const int *is_put)
{
    for (int i = 0; i < n; i++) {
        int need = 0;
        if (ch[cis[i]].kind == K_TIMEOUT && !is_put[i])
            continue; /* takes on a timeout are not limited */
        for (int k = 0; k < n; k++)
            need += cis[k] == cis[i] && is_put[k] == is_put[i];
        if (ch[cis[i]].nlive[is_put[i]] + need > LIMIT)
            return 0;
    }
    return 1;
}

static void m_enqueue(int ci, int op, int is_put, int idx, uintptr_t v)
{
    struct mchan *c = &ch[ci];

    if (c->qn == QCAP) { /* compact: keep the live nodes, in order */
        int k = 0;
        for (int j = c->qh; j < c->qn; j++)
            if (node_live(&q[ci][j]))
                q[ci][k++] = q[ci][j];
        c->qh = 0;
        c->qn = k;
        if (k == QCAP)
            abort();
    }
    q[ci][c->qn++] = (struct mnode){op, ops[op].gen, is_put, idx, v};
    c->nlive[is_put]++;
}

/* Queue op OP's cases (already recorded in ops[op]). */
static void m_pend(int op)
{
    struct mop *o = &ops[op];

    o->live = 1;
    for (int i = 0; i < o->nc; i++)
        m_enqueue(o->cci[i], op, o->cput[i], i, o->cval[i]);
    for (int i = 0; i < NCH; i++)
        if (o->chmask & (1u << i))
            ch[i].oprefs++;
}

/* ------------------------------------------------------------------------
 * The driver. */

struct in {
    const uint8_t *p;
    size_t n;
};

static int byte(struct in *in)
{
    if (in->n == 0)
        return -1;
    in->n--;
    return *in->p++;
}

/* A free op slot, set up for N cases, or -1. */
static int new_op(int deferred_exec)
{
    for (int k = 0; k < NOPS; k++) {
        int i = (op_hint + k) % NOPS;
        struct mop *o = &ops[i];
        if (!o->live && !o->awaiting && !o->p) {
            unsigned gen = o->gen + 1;
            memset(o, 0, sizeof *o);
            o->gen = gen;
            o->deferred = deferred_exec;
            op_hint = i + 1;
            if (i >= ops_hi)
                ops_hi = i + 1;
            return i;
        }
    }
    return -1;
}

static void op_add_case(int op, int ci, int is_put, uintptr_t v)
{
    struct mop *o = &ops[op];

    o->cci[o->nc] = ci;
    o->cput[o->nc] = is_put;
    o->cval[o->nc] = v;
    o->nc++;
    o->chmask |= 1u << ci;
}

/* A channel slot the user still holds, or -1. */
static int pick(struct in *in)
{
    int b = byte(in);

    if (b < 0)
        return -1;
    for (int k = 0; k < NCH; k++) {
        int i = (b + k) % NCH;
        if (ch[i].used && !ch[i].zombie)
            return i;
    }
    return -1;
}

static int free_slot(void)
{
    for (int i = 0; i < NCH; i++)
        if (!ch[i].used)
            return i;
    return -1;
}

static void slot_init(int i, int kind, size_t cap)
{
    struct mchan *c = &ch[i];

    memset(c, 0, sizeof *c);
    c->used = 1;
    c->kind = kind;
    c->cap = cap;
}

static void op_new(struct in *in)
{
    static const int kinds[5] = {CSP_BUF_NONE, CSP_BUF_FIXED, CSP_BUF_DROPPING,
                                 CSP_BUF_SLIDING, CSP_BUF_PROMISE};
    int b = byte(in), i = free_slot(), kind;

    if (b < 0 || i < 0)
        return;
    kind = kinds[b % 5];
    slot_init(i, kind,
              kind == CSP_BUF_NONE || kind == CSP_BUF_PROMISE
                  ? 0
                  : (size_t)(b / 5 % MAXCAP + 1));
    calls++;
    CHECK("chan_new", CSP_OK,
          csp_chan_new(&ch[i].ch, rt, kind, ch[i].cap, on_drop,
                       (void *)(intptr_t)i));
}

/* A timeout an hour or more away: it cannot fire during the run, and
 * distinct deadlines (a second apart) never share a channel. */
static void op_timeout(void)
{
    int i = free_slot();

    if (i < 0)
        return;
    slot_init(i, K_TIMEOUT, 0);
    calls++;
    CHECK("timeout", CSP_OK,
          csp_timeout(&ch[i].ch, rt,
                      (uint64_t)3600000 + 1000 * (uint64_t)timeouts_made));
    timeouts_made++;
}

/* A callback put (IS_PUT) or take on CI. FLAGS bit 0: the deferred
 * executor; bit 1: no handle. Returns the result code. */
static int cb_one(int ci, int is_put, int flags)
{
    int op = new_op(flags & 1), rc, want_rc;
    uintptr_t v = is_put ? next_val++ : 0, wv = 0;
    void *got_v = SENTINEL;
    csp_pending **pp;

    if (op < 0)
        return NO_SLOT;
    pp = (flags & 2) ? NULL : &ops[op].p;
    op_add_case(op, ci, is_put, v);
    if (ch[ci].kind == K_TIMEOUT && is_put)
        want_rc = CSP_EPERM;
    else if (is_put)
        want_rc = m_try_put(ci, v);
    else
        want_rc = m_try_take(ci, &wv);
    if (want_rc == CSP_EAGAIN) {
        if (m_fits(1, &ci, &is_put)) {
            m_pend(op);
            want_rc = CSP_PENDING;
        } else {
            want_rc = CSP_EBUSY;
        }
    }
    calls++;
    if (is_put)
        rc = csp_chan_put_cb(ch[ci].ch, (void *)v,
                             (flags & 1) ? &deferred.base : csp_exec_inline(),
                             on_done, (void *)(intptr_t)op, pp);
    else
        rc = csp_chan_take_cb(ch[ci].ch, &got_v,
                              (flags & 1) ? &deferred.base : csp_exec_inline(),
                              on_done, (void *)(intptr_t)op, pp);
    CHECK(is_put ? "put_cb" : "take_cb", want_rc, rc);
    if (!is_put) {
        if (rc == CSP_OK)
            CHECK("take_cb value", wv, (uintptr_t)got_v);
        else if (rc == CSP_ECLOSED)
            CHECK("take_cb closed value", 0, (uintptr_t)got_v);
        else
            CHECK("take_cb untouched value", (uintptr_t)SENTINEL,
                  (uintptr_t)got_v);
    }
    if (rc == CSP_PENDING)
        pendings++;
    else
        ops[op].p = NULL; /* the slot is free again */
    return rc;
}

static void op_cb(struct in *in, int is_put)
{
    int ci = pick(in), f = byte(in);

    if (ci < 0 || f < 0)
        return;
    cb_one(ci, is_put, (f & 1) | (f % 6 == 5 ? 2 : 0));
}

static void op_offer(struct in *in)
{
    int ci = pick(in), want_rc;
    uintptr_t v = next_val++;

    if (ci < 0)
        return;
    want_rc = ch[ci].kind == K_TIMEOUT ? CSP_EPERM : m_try_put(ci, v);
    calls++;
    CHECK("offer", want_rc, csp_chan_offer(ch[ci].ch, (void *)v));
}

static void op_poll(struct in *in)
{
    int ci = pick(in), want_rc, rc;
    uintptr_t wv = 0;
    void *v = SENTINEL;

    if (ci < 0)
        return;
    want_rc = m_try_take(ci, &wv);
    calls++;
    rc = csp_chan_poll(ch[ci].ch, &v);
    CHECK("poll", want_rc, rc);
    if (rc == CSP_OK)
        CHECK("poll value", wv, (uintptr_t)v);
    else if (rc == CSP_ECLOSED)
        CHECK("poll closed value", 0, (uintptr_t)v);
    else
        CHECK("poll untouched value", (uintptr_t)SENTINEL, (uintptr_t)v);
}

static void op_close(struct in *in)
{
    int ci = pick(in);

    if (ci < 0)
        return;
    calls++;
    if (ch[ci].kind == K_TIMEOUT) {
        CHECK("close timeout", CSP_EPERM, csp_chan_close(ch[ci].ch));
        return;
    }
    m_close(ci);
    CHECK("close", CSP_OK, csp_chan_close(ch[ci].ch));
}

/* Cancel the op holding a handle picked by the input: a queued one is
 * withdrawn (a single put's value comes back); one that completed, even
 * if its callback has not run yet, is too late. */
static void op_cancel(struct in *in)
{
    int b = byte(in), op = -1, rc;
    void *v = SENTINEL;

    if (b < 0 || ops_hi == 0)
        return;
    for (int k = 0; k < ops_hi && op < 0; k++)
        if (ops[(b + k) % ops_hi].p)
            op = (b + k) % ops_hi;
    if (op < 0)
        return;
    calls++;
    cancels++;
    rc = csp_pending_cancel(ops[op].p, &v);
    if (ops[op].live) {
        CHECK("cancel", CSP_OK, rc);
        CHECK("cancel value",
              !ops[op].is_alts && ops[op].cput[0] ? ops[op].cval[0] : 0,
              (uintptr_t)v);
        op_unqueue(op);
        op_unref_chans(op);
    } else {
        CHECK("cancel too late", CSP_EAGAIN, rc);
        CHECK("cancel too late value", (uintptr_t)SENTINEL, (uintptr_t)v);
    }
    csp_pending_release(ops[op].p);
    ops[op].p = NULL;
}

static void op_alts(struct in *in)
{
    int b = byte(in), n, op, def, prio, rc, want_rc = CSP_EAGAIN, widx = -1;
    int cis[NCASE], is_put[NCASE], ready[NCASE], nready = 0, eperm = 0;
    uintptr_t vals[NCASE], wv = 0;
    csp_op o[NCASE];
    size_t idx = 99;
    void *v = SENTINEL;

    if (b < 0)
        return;
    n = b % NCASE + 1;
    def = (b / NCASE) % 2;
    prio = (b / (2 * NCASE)) % 4 != 0;
    for (int i = 0; i < n; i++) {
        int k = byte(in);
        cis[i] = pick(in);
        if (k < 0 || cis[i] < 0)
            return;
        is_put[i] = k % 2;
        vals[i] = is_put[i] ? next_val++ : 0;
        o[i] = (csp_op){ch[cis[i]].ch, is_put[i] ? CSP_OP_PUT : CSP_OP_TAKE,
                        (void *)vals[i]};
        eperm |= is_put[i] && ch[cis[i]].kind == K_TIMEOUT;
        ready[i] = !eperm && m_ready(cis[i], is_put[i]);
        nready += ready[i];
    }
    if ((op = new_op((b / 128) & 1)) < 0)
        return;
    ops[op].is_alts = 1;
    for (int i = 0; i < n; i++)
        op_add_case(op, cis[i], is_put[i], vals[i]);
    if (eperm) {
        want_rc = CSP_EPERM;
    } else if (prio) {
        /* Priority order: the first case that can proceed commits. */
        for (int i = 0; i < n && widx < 0; i++) {
            int r = is_put[i] ? m_try_put(cis[i], vals[i])
                              : m_try_take(cis[i], &wv);
            if (r != CSP_EAGAIN) {
                want_rc = r;
                widx = i;
            }
        }
    }
    if (!eperm && nready == 0 && !def) {
        if (m_fits(n, cis, is_put)) {
            m_pend(op);
            want_rc = CSP_PENDING;
        } else {
            want_rc = CSP_EBUSY;
        }
    }
    calls++;
    rc = csp_alts_cb(
        o, (size_t)n,
        (prio ? CSP_ALTS_PRIORITY : 0) | (def ? CSP_ALTS_DEFAULT : 0), &idx, &v,
        ops[op].deferred ? &deferred.base : csp_exec_inline(), on_alts,
        (void *)(intptr_t)op, &ops[op].p);
    if (!prio && nready > 0 && !eperm) {
        /* Random order: csp chose one of the ready cases; follow it. */
        if (rc != CSP_OK && rc != CSP_ECLOSED)
            fail("random alts with a ready case", CSP_OK, rc);
        if (idx >= (size_t)n || !ready[idx])
            fail("random alts committed a case that was not ready", nready,
                 (long)idx);
        widx = (int)idx;
        want_rc = is_put[widx] ? m_try_put(cis[widx], vals[widx])
                               : m_try_take(cis[widx], &wv);
    }
    CHECK("alts", want_rc, rc);
    if (rc == CSP_OK || rc == CSP_ECLOSED) {
        CHECK("alts index", widx, (long)idx);
        CHECK("alts value", is_put[widx] ? 0 : wv, (uintptr_t)v);
    } else {
        CHECK("alts untouched index", 99, (long)idx);
        CHECK("alts untouched value", (uintptr_t)SENTINEL, (uintptr_t)v);
    }
    if (rc == CSP_PENDING)
        pendings++;
    else
        ops[op].p = NULL;
}

/* Give back the user's reference: the channel is freed now (values still
 * in it go to the drop hook) or, if pending ops hold it, when the last
 * of them completes or is withdrawn. */
static void op_release(struct in *in)
{
    int ci = pick(in);

    if (ci < 0)
        return;
    ch[ci].zombie = 1;
    csp_chan_release(ch[ci].ch);
    calls++;
    if (ch[ci].oprefs == 0)
        m_free(ci);
}

/* Run the deferred executor's callbacks. */
static void op_drain(void)
{
    for (int i = 0; i < ops_hi; i++) {
        if (ops[i].awaiting) {
            ops[i].awaiting = 0;
            ev_add(&want, ops[i].ev);
            op_unref_chans(i);
        }
    }
    drains++;
    dexec_run_all();
}

/* Queue callback ops on one channel side up to the limit minus a slack of
 * 0..2, then (slack 0) one more, which must fail with CSP_EBUSY; takes on a
 * timeout go past the limit. */
static void op_flood(struct in *in)
{
    int ci = pick(in), b = byte(in), is_put, slack, want_limit;

    if (ci < 0 || b < 0)
        return;
    is_put = b % 2;
    slack = (b / 2) % 3;
    want_limit = ch[ci].kind == K_TIMEOUT ? LIMIT + 4 : LIMIT - slack;
    floods++;
    for (int k = 0; k < LIMIT + MAXCAP + 8; k++) {
        int rc;
        if (ch[ci].nlive[is_put] >= want_limit && slack != 0)
            break;
        rc = cb_one(ci, is_put, b / 8 % 2);
        if (rc == CSP_EBUSY || rc == CSP_EPERM || rc == CSP_ECLOSED ||
            rc == NO_SLOT)
            break;
        if (ch[ci].nlive[is_put] > want_limit)
            break;
    }
}

/* Ops that completed this step: release every other handle at once (the
 * rest stay for op_cancel to find too late). */
static void settle_completed(void)
{
    for (int i = 0; i < ops_hi; i++) {
        if (ops[i].done_now && ops[i].p && i % 2) {
            csp_pending_release(ops[i].p);
            ops[i].p = NULL;
        }
        ops[i].done_now = 0;
    }
}

/* Everything observable beyond the events. */
static void state_check(void)
{
    int64_t nops = 0, nchans = 0, want_ops = 0, want_chans = timeouts_made;

    for (int i = 0; i < NCH; i++) {
        struct mchan *c = &ch[i];
        if (!c->used)
            continue;
        want_chans += c->kind != K_TIMEOUT;
        if (c->zombie)
            continue;
        CHECK("count",
              c->kind == CSP_BUF_PROMISE ? (size_t)c->promised : c->count,
              csp_chan_count(c->ch));
        CHECK("closed", c->closed, csp_chan_closed(c->ch));
    }
    for (int i = 0; i < ops_hi; i++)
        want_ops += ops[i].live || ops[i].awaiting;
    CHECK("stat ok", CSP_OK, csp_rt_stat(rt, CSP_STAT_OPS_PENDING, &nops));
    CHECK("callback ops pending", want_ops, nops);
    CHECK("stat ok", CSP_OK, csp_rt_stat(rt, CSP_STAT_CHANS_LIVE, &nchans));
    CHECK("channels live", want_chans, nchans);
}

/* Tear down: run deferred callbacks, withdraw what has a handle, release
 * every channel, then free the runtime (forced if ops without a handle are
 * still queued: each gets CSP_ECANCELED, a single put its value back). */
static void teardown(void)
{
    int left = 0;

    op_drain();
    ev_check();
    for (int i = 0; i < ops_hi; i++) {
        if (!ops[i].p)
            continue;
        void *v;
        if (ops[i].live) {
            CHECK("teardown cancel", CSP_OK, csp_pending_cancel(ops[i].p, &v));
            op_unqueue(i);
            op_unref_chans(i);
        }
        csp_pending_release(ops[i].p);
        ops[i].p = NULL;
    }
    ev_check();
    for (int i = 0; i < NCH; i++) {
        if (ch[i].used && !ch[i].zombie) {
            ch[i].zombie = 1;
            csp_chan_release(ch[i].ch);
            if (ch[i].oprefs == 0)
                m_free(i);
        }
    }
    ev_check();
    for (int i = 0; i < ops_hi; i++) {
        struct mop *o = &ops[i];
        if (!o->live)
            continue;
        left++;
        ev_add(&want, (struct ev){1, i, CSP_ECANCELED, 0,
                                  !o->is_alts && o->cput[0] ? o->cval[0] : 0});
        op_unqueue(i);
        op_unref_chans(i);
    }
    forced += left > 0;
    CHECK("rt_free", CSP_OK, csp_rt_free(rt, left ? CSP_RT_FREE_FORCE : 0));
    ev_check();
    CHECK("blocks left after rt_free", 0, atomic_load(&live_blocks));
}

static void run(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    int b;

    CHECK("rt_new", CSP_OK, csp_rt_new(&rt, count_alloc, NULL));
    for (int i = 0; i < NCH; i++)
        ch[i].used = 0;
    for (int i = 0; i < ops_hi; i++)
        memset(&ops[i], 0, sizeof ops[i]);
    ops_hi = op_hint = 0;
    got.n = want.n = 0;
    next_val = 1;
    timeouts_made = 0;
    while ((b = byte(&in)) >= 0) {
        switch (b % 16) {
        case 0:
        case 15:
            op_new(&in);
            break;
        case 1:
        case 12:
            op_cb(&in, 1);
            break;
        case 2:
        case 13:
            op_cb(&in, 0);
            break;
        case 3:
            op_offer(&in);
            break;
        case 4:
            op_poll(&in);
            break;
        case 5:
            op_close(&in);
            break;
        case 6:
            op_cancel(&in);
            break;
        case 7:
        case 14:
            op_alts(&in);
            break;
        case 8:
            op_release(&in);
            break;
        case 9:
            op_drain();
            break;
        case 10:
            op_timeout();
            break;
        default: /* 11: a flood is costly, so only one 11 in four */
            if (b / 16 % 4 == 0)
                op_flood(&in);
            else
                op_cb(&in, b / 16 % 2);
            break;
        }
        ev_check();
        settle_completed();
        state_check();
        steps++;
    }
    teardown();
}

static void print_figures(FILE *f, const char *prefix)
{
    fprintf(f,
            "fuzz_chan: %s%ld operations, %ld csp calls (%ld queued, %ld "
            "cancels, %ld floods past the limit, %ld deferred drains, %ld "
            "forced shutdowns), %ld callbacks and drops checked, 0 "
            "disagreements\n",
            prefix, steps, calls, pendings, cancels, floods, drains, forced,
            events);
}

#ifndef FUZZ_REPLAY
/* libFuzzer ends with exit(): say how much was checked. */
static void report(void)
{
    print_figures(stderr, "");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    atexit(report);
    return 0;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    return 0;
}

#ifdef FUZZ_REPLAY
#include <dirent.h>

static int replay_file(const char *path)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(path, "rb");
    size_t len;

    if (!f) {
        perror(path);
        return 1;
    }
    len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    run(buf, len);
    return 0;
}

/* Replay: run every file named on the command line, or in a directory
 * named there (a corpus), or generate and run N random inputs with
 * `--random N SEED`. */
int main(int argc, char **argv)
{
    char prefix[64];

    if (argc == 4 && !strcmp(argv[1], "--random")) {
        long n = atol(argv[2]);
        uint64_t x = strtoull(argv[3], NULL, 10) | 1;
        uint8_t buf[512];
        for (long i = 0; i < n; i++) {
            size_t len = 16 + (size_t)(x % 480);
            for (size_t k = 0; k < len; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[k] = (uint8_t)x;
            }
            run(buf, len);
        }
        snprintf(prefix, sizeof prefix, "%ld random inputs, ", n);
        print_figures(stdout, prefix);
        return 0;
    }
    long files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        if (!d) {
            if (replay_file(argv[i]) != 0)
                return 1;
            files++;
            continue;
        }
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (replay_file(path) != 0)
                return 1;
            files++;
        }
        closedir(d);
    }
    snprintf(prefix, sizeof prefix, "%ld inputs, ", files);
    print_figures(stdout, prefix);
    return 0;
}
#endif
