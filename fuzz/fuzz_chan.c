/* fuzz_chan.c - model-based fuzzing of channels, callback ops, offer/poll,
 * close, cancel and alts (issue #8).
 *
 * The input bytes decode into a sequence of operations on up to 8
 * channels of every kind, run on one thread against csp and against the
 * small reference model below, which is written from core.async's rules
 * (docs/design.md §3, §4) and shares no code with csp. After every step
 * both must agree on everything observable: each call's result code and
 * value, which callbacks fired with what (csp calls back inline, on the
 * inline executor, before the call returns), and which values went to the
 * drop hooks.
 *
 * Deterministic by construction: one thread, the inline executor, alts in
 * priority order. Left out: timeouts (their timer thread runs on the real
 * clock; test_timer.c covers them), transforms (test_xform.c), and the
 * 1024-op limit (test_chan.c; an input would need 1024 steps to reach it).
 *
 * Built two ways: with -fsanitize=fuzzer as a libFuzzer target
 * (`make fuzz`), and with FUZZ_REPLAY as a program that runs the files
 * given on its command line (ctest runs it over fuzz/corpus/chan, so every
 * committed input, crash reproducers included, is a regression test).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp.h"

#define NCH 8    /* channels */
#define NOPS 96  /* pending ops, live at once */
#define MAXCAP 4 /* buffer sizes 1..4 */
#define NEV 256  /* events per step */

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

/* ------------------------------------------------------------------------
 * Events: what callbacks and drop hooks reported during one step. */

struct ev {
    int kind; /* 1 completion, 2 drop */
    int id;   /* op id, or channel index for a drop */
    int rc;
    int idx;
    uintptr_t val;
};

struct evs {
    struct ev e[NEV];
    int n;
};

static struct evs got, want;
static long events;

static void ev_add(struct evs *l, int kind, int id, int rc, int idx,
                   uintptr_t val)
{
    if (l->n < NEV)
        l->e[l->n++] = (struct ev){kind, id, rc, idx, val};
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

/* Compare as multisets: csp wakes in FIFO order, the model too, but one
 * close may complete several ops and their order is not specified. */
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
    ev_add(&got, 1, (int)(intptr_t)ud, rc, 0, (uintptr_t)val);
}

static void on_alts(void *ud, int rc, size_t idx, void *val)
{
    ev_add(&got, 1, (int)(intptr_t)ud, rc, (int)idx, (uintptr_t)val);
}

static void on_drop(void *ud, void *val)
{
    ev_add(&got, 2, (int)(intptr_t)ud, 0, 0, (uintptr_t)val);
}

/* ------------------------------------------------------------------------
 * The model. */

struct mnode {
    int op; /* op id */
    int is_put;
    int idx; /* case index within its op */
    uintptr_t val;
};

struct mchan {
    int used, kind;
    size_t cap;
    int closed, promised;
    uintptr_t promise;
    uintptr_t buf[MAXCAP];
    size_t head, count;
    struct mnode q[NOPS * 3]; /* pending nodes, FIFO; puts and takes */
    int nq;
    csp_chan *ch; /* the real channel (NULL once released) */
};

struct mop {
    int live;        /* pending in the model */
    int done_now;    /* completed during this step */
    unsigned chmask; /* channels it has nodes on */
    csp_pending *p;
};

static struct mchan ch[NCH];
static struct mop ops[NOPS];
static uintptr_t next_val = 1;
static long steps, pendings;

static int full(const struct mchan *c)
{
    return c->kind == CSP_BUF_NONE ||
           (c->kind == CSP_BUF_FIXED && c->count == c->cap);
}

static void push(struct mchan *c, int ci, uintptr_t v)
{
    if (c->count == c->cap) {
        if (c->kind == CSP_BUF_DROPPING) {
            ev_add(&want, 2, ci, 0, 0, v);
            return;
        }
        /* sliding: evict the oldest */
        ev_add(&want, 2, ci, 0, 0, c->buf[c->head]);
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

/* Remove every node of op OP from every channel (it completed or was
 * withdrawn). */
static void unlink_op(int op)
{
    for (int i = 0; i < NCH; i++) {
        struct mchan *c = &ch[i];
        int k = 0;
        for (int j = 0; j < c->nq; j++)
            if (c->q[j].op != op)
                c->q[k++] = c->q[j];
        c->nq = k;
    }
}

/* The first pending node of the given side on C, or -1. */
static int first(struct mchan *c, int is_put)
{
    for (int j = 0; j < c->nq; j++)
        if (c->q[j].is_put == is_put)
            return j;
    return -1;
}

/* Complete the op owning node J of C with RC and VAL (a taken value). */
static void complete(struct mchan *c, int j, int rc, uintptr_t val)
{
    struct mnode n = c->q[j];

    ev_add(&want, 1, n.op, rc, n.idx, val);
    ops[n.op].live = 0;
    ops[n.op].done_now = 1;
    unlink_op(n.op);
}

/* Try to put V on C now: 0 (OK), CSP_ECLOSED, or CSP_EAGAIN. */
static int m_try_put(int ci, uintptr_t v)
{
    struct mchan *c = &ch[ci];
    int j;

    if (c->closed)
        return CSP_ECLOSED;
    if (c->kind == CSP_BUF_PROMISE) {
        if (c->promised) {
            ev_add(&want, 2, ci, 0, 0, v);
            return CSP_OK;
        }
        c->promised = 1;
        c->promise = v;
        while ((j = first(c, 0)) >= 0)
            complete(c, j, CSP_OK, v);
        return CSP_OK;
    }
    if ((j = first(c, 0)) >= 0) {
        complete(c, j, CSP_OK, v);
        return CSP_OK;
    }
    if (full(c))
        return CSP_EAGAIN;
    push(c, ci, v);
    return CSP_OK;
}

/* Try to take from C now: 0 with *V, CSP_ECLOSED, or CSP_EAGAIN. */
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
        while (!full(c) && (j = first(c, 1)) >= 0) {
            uintptr_t pv = c->q[j].val;
            complete(c, j, CSP_OK, 0);
            push(c, ci, pv);
        }
        return CSP_OK;
    }
    if ((j = first(c, 1)) >= 0) {
        *v = c->q[j].val;
        complete(c, j, CSP_OK, 0);
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
    while ((j = first(c, 0)) >= 0) {
        if (c->count > 0)
            complete(c, j, CSP_OK, pop(c));
        else
            complete(c, j, CSP_ECLOSED, 0);
    }
}

static void m_enqueue(int ci, int op, int is_put, int idx, uintptr_t v)
{
    struct mchan *c = &ch[ci];

    c->q[c->nq++] = (struct mnode){op, is_put, idx, v};
    ops[op].chmask |= 1u << ci;
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

static int free_op(void)
{
    for (int i = 0; i < NOPS; i++) {
        if (!ops[i].live && !ops[i].p) {
            ops[i].chmask = 0;
            ops[i].done_now = 0;
            return i;
        }
    }
    return -1;
}

/* A channel index that is in use and not released, or -1. */
static int pick(struct in *in)
{
    int b = byte(in);

    if (b < 0)
        return -1;
    for (int k = 0; k < NCH; k++) {
        int i = (b + k) % NCH;
        if (ch[i].used && ch[i].ch)
            return i;
    }
    return -1;
}

static csp_rt *rt;

static void op_new(struct in *in)
{
    static const int kinds[5] = {CSP_BUF_NONE, CSP_BUF_FIXED, CSP_BUF_DROPPING,
                                 CSP_BUF_SLIDING, CSP_BUF_PROMISE};
    int b = byte(in), i;

    if (b < 0)
        return;
    for (i = 0; i < NCH && ch[i].used; i++)
        ;
    if (i == NCH)
        return;
    memset(&ch[i], 0, sizeof ch[i]);
    ch[i].used = 1;
    ch[i].kind = kinds[b % 5];
    ch[i].cap = ch[i].kind == CSP_BUF_NONE || ch[i].kind == CSP_BUF_PROMISE
                    ? 0
                    : (size_t)(b / 5 % MAXCAP + 1);
    if (csp_chan_new(&ch[i].ch, rt, ch[i].kind, ch[i].cap, on_drop,
                     (void *)(intptr_t)i) != CSP_OK)
        abort();
}

static void op_put(struct in *in, int cb)
{
    int ci = pick(in), op, rc, want_rc;
    uintptr_t v = next_val++;

    if (ci < 0)
        return;
    if (!cb) {
        want_rc = m_try_put(ci, v);
        CHECK("offer", want_rc, csp_chan_offer(ch[ci].ch, (void *)v));
        return;
    }
    if ((op = free_op()) < 0)
        return;
    want_rc = m_try_put(ci, v);
    if (want_rc == CSP_EAGAIN) {
        m_enqueue(ci, op, 1, 0, v);
        ops[op].live = 1;
        want_rc = CSP_PENDING;
    }
    rc = csp_chan_put_cb(ch[ci].ch, (void *)v, csp_exec_inline(), on_done,
                         (void *)(intptr_t)op, &ops[op].p);
    CHECK("put_cb", want_rc, rc);
    pendings += rc == CSP_PENDING;
    if (rc != CSP_PENDING)
        ops[op].p = NULL;
}

static void op_take(struct in *in, int cb)
{
    int ci = pick(in), op, rc, want_rc;
    uintptr_t wv = 0;
    void *v = NULL;

    if (ci < 0)
        return;
    if (!cb) {
        want_rc = m_try_take(ci, &wv);
        rc = csp_chan_poll(ch[ci].ch, &v);
        CHECK("poll", want_rc, rc);
        if (rc == CSP_OK)
            CHECK("poll value", wv, (uintptr_t)v);
        return;
    }
    if ((op = free_op()) < 0)
        return;
    want_rc = m_try_take(ci, &wv);
    if (want_rc == CSP_EAGAIN) {
        m_enqueue(ci, op, 0, 0, 0);
        ops[op].live = 1;
        want_rc = CSP_PENDING;
    }
    rc = csp_chan_take_cb(ch[ci].ch, &v, csp_exec_inline(), on_done,
                          (void *)(intptr_t)op, &ops[op].p);
    CHECK("take_cb", want_rc, rc);
    pendings += rc == CSP_PENDING;
    if (rc == CSP_OK)
        CHECK("take_cb value", wv, (uintptr_t)v);
    if (rc != CSP_PENDING)
        ops[op].p = NULL;
}

static void op_close(struct in *in)
{
    int ci = pick(in);

    if (ci < 0)
        return;
    m_close(ci);
    CHECK("close", CSP_OK, csp_chan_close(ch[ci].ch));
}

static void op_cancel(struct in *in)
{
    int b = byte(in), op = -1;
    void *v = NULL;
    uintptr_t put_val = 0;

    if (b < 0)
        return;
    for (int k = 0; k < NOPS && op < 0; k++)
        if (ops[(b + k) % NOPS].p)
            op = (b + k) % NOPS;
    if (op < 0)
        return;
    if (ops[op].live) {
        /* Withdrawn: a single put hands its value back. */
        int is_single_put = 0;
        for (int i = 0; i < NCH; i++)
            for (int j = 0; j < ch[i].nq; j++)
                if (ch[i].q[j].op == op && ch[i].q[j].is_put &&
                    is_single_put == 0) {
                    put_val = ch[i].q[j].val;
                    is_single_put = 1;
                }
        ops[op].live = 0;
        unlink_op(op);
        CHECK("cancel", CSP_OK, csp_pending_cancel(ops[op].p, &v));
        (void)put_val; /* alts hand back NULL; single puts their value */
        if (v)
            CHECK("cancel value", put_val, (uintptr_t)v);
    } else {
        CHECK("cancel late", CSP_EAGAIN, csp_pending_cancel(ops[op].p, &v));
    }
    csp_pending_release(ops[op].p);
    ops[op].p = NULL;
}

static void op_alts(struct in *in)
{
    int b = byte(in), n, op, def, rc, want_rc = CSP_EAGAIN, widx = -1;
    csp_op o[3];
    int cis[3], is_put[3];
    uintptr_t vals[3], wv = 0;
    size_t idx = 99;
    void *v = NULL;

    if (b < 0)
        return;
    n = b % 3 + 1;
    def = (b / 3) % 2;
    for (int i = 0; i < n; i++) {
        int k = byte(in);
        cis[i] = pick(in);
        if (k < 0 || cis[i] < 0)
            return;
        is_put[i] = k % 2;
        vals[i] = is_put[i] ? next_val++ : 0;
        o[i] = (csp_op){ch[cis[i]].ch, is_put[i] ? CSP_OP_PUT : CSP_OP_TAKE,
                        (void *)vals[i]};
    }
    if ((op = free_op()) < 0)
        return;
    /* Pass 1, priority order: the first op that can proceed commits. */
    for (int i = 0; i < n && widx < 0; i++) {
        int r =
            is_put[i] ? m_try_put(cis[i], vals[i]) : m_try_take(cis[i], &wv);
        if (r != CSP_EAGAIN) {
            want_rc = r;
            widx = i;
        }
    }
    if (widx < 0 && !def) {
        for (int i = 0; i < n; i++)
            m_enqueue(cis[i], op, is_put[i], i, vals[i]);
        ops[op].live = 1;
        want_rc = CSP_PENDING;
    }
    rc = csp_alts_cb(
        o, (size_t)n, CSP_ALTS_PRIORITY | (def ? CSP_ALTS_DEFAULT : 0), &idx,
        &v, csp_exec_inline(), on_alts, (void *)(intptr_t)op, &ops[op].p);
    CHECK("alts", want_rc, rc);
    pendings += rc == CSP_PENDING;
    if (rc == CSP_OK || rc == CSP_ECLOSED) {
        CHECK("alts index", widx, (long)idx);
        CHECK("alts value", is_put[widx] ? 0 : wv, (uintptr_t)v);
    }
    if (rc != CSP_PENDING)
        ops[op].p = NULL;
}

static void op_release(struct in *in)
{
    int ci = pick(in);
    struct mchan *c;

    if (ci < 0)
        return;
    /* Only a channel no op refers to: it is freed at once, and every
     * value still in it goes to the drop hook. */
    for (int i = 0; i < NOPS; i++)
        if ((ops[i].live || ops[i].p) && (ops[i].chmask & (1u << ci)))
            return;
    c = &ch[ci];
    while (c->count > 0)
        ev_add(&want, 2, ci, 0, 0, pop(c));
    if (c->promised)
        ev_add(&want, 2, ci, 0, 0, c->promise);
    csp_chan_release(c->ch);
    c->ch = NULL;
}

/* Ops that completed this step: release every other handle at once (the
 * rest stay for op_cancel to find too late). */
static void settle_completed(void)
{
    for (int i = 0; i < NOPS; i++) {
        if (ops[i].done_now && ops[i].p && i % 2) {
            csp_pending_release(ops[i].p);
            ops[i].p = NULL;
        }
        ops[i].done_now = 0;
    }
}

static void run(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    int b;

    if (csp_rt_new(&rt, NULL, NULL) != CSP_OK)
        abort();
    memset(ch, 0, sizeof ch);
    memset(ops, 0, sizeof ops);
    got.n = want.n = 0;
    next_val = 1;
    while ((b = byte(&in)) >= 0) {
        switch (b % 10) {
        case 0:
            op_new(&in);
            break;
        case 1:
            op_put(&in, 1);
            break;
        case 2:
            op_take(&in, 1);
            break;
        case 3:
            op_put(&in, 0);
            break;
        case 4:
            op_take(&in, 0);
            break;
        case 5:
            op_close(&in);
            break;
        case 6:
            op_cancel(&in);
            break;
        case 7:
            op_alts(&in);
            break;
        case 8:
            op_release(&in);
            break;
        default:
            op_new(&in);
            break;
        }
        ev_check();
        settle_completed();
        steps++;
    }
    /* Tear down: cancel what is pending, release what is held. */
    for (int i = 0; i < NOPS; i++) {
        if (ops[i].p) {
            void *v;
            csp_pending_cancel(ops[i].p, &v);
            csp_pending_release(ops[i].p);
        }
    }
    for (int i = 0; i < NCH; i++)
        if (ch[i].used && ch[i].ch)
            csp_chan_release(ch[i].ch);
    got.n = want.n = 0;
    if (csp_rt_free(rt, 0) != CSP_OK)
        abort();
}

#ifndef FUZZ_REPLAY
/* libFuzzer ends with exit(): say how much was checked. */
static void report(void)
{
    fprintf(stderr,
            "fuzz_chan: %ld operations (%ld queued, %ld callbacks and drops "
            "checked), 0 disagreements\n",
            steps, pendings, events);
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
 * named there (a corpus), or generate and run N random inputs with `--random N
 * SEED`. */
int main(int argc, char **argv)
{
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
        printf("fuzz_chan: %ld random inputs, %ld operations (%ld queued, "
               "%ld callbacks and drops checked), 0 disagreements\n",
               n, steps, pendings, events);
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
    printf("fuzz_chan: %ld inputs, %ld operations (%ld queued, %ld callbacks "
           "and drops checked), 0 disagreements\n",
           files, steps, pendings, events);
    return 0;
}
#endif
