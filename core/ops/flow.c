/* flow.c - the one-process combinators: pipe, onto_chan, to_chan, into,
 * reduce, transduce, merge, split, map and take. Written against csp.h
 * only, each as one go process that holds references to the channels it
 * uses and frees its state when it ends, as core.async's go-loops do.
 * The state, and any array a process grows, comes from the runtime's
 * allocator (ops.h); each state struct keeps its runtime for the free.
 */
#include "ops.h"

/* Start FN(ST) on RT; on failure free ST (and what FREE_ST releases). */
static int start(csp_rt *rt, csp_go_fn fn, void *st, void (*free_st)(void *))
{
    int rc = csp_go(rt, fn, st, NULL);

    if (rc != CSP_OK)
        free_st(st);
    return rc;
}

static int new_chan(csp_chan **out, csp_rt *rt, int buf, size_t cap)
{
    return csp_chan_new(out, rt, buf, cap, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * pipe */

struct pipe {
    csp_rt *rt;
    csp_chan *from, *to;
    int close;
};

static void pipe_free(void *p)
{
    struct pipe *s = p;

    csp_chan_release(s->from);
    csp_chan_release(s->to);
    ops_free(s->rt, s, sizeof *s);
}

static void *pipe_run(void *arg)
{
    struct pipe *s = arg;
    void *v;

    while (csp_chan_take(s->from, &v) == CSP_OK) {
        if (csp_chan_put(s->to, v) != CSP_OK) {
            csp_chan_discard(s->from, v); /* TO closed: stop, as core.async */
            break;
        }
    }
    if (s->close)
        csp_chan_close(s->to);
    pipe_free(s);
    return NULL;
}

int csp_pipe(csp_rt *rt, csp_chan *from, csp_chan *to, int close)
{
    struct pipe *s;

    if (!rt || !from || !to)
        return CSP_EINVAL;
    s = ops_alloc(rt, sizeof *s);
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    s->from = csp_chan_retain(from);
    s->to = csp_chan_retain(to);
    s->close = close;
    return start(rt, pipe_run, s, pipe_free);
}

/* ------------------------------------------------------------------------
 * onto_chan, to_chan */

struct onto {
    csp_rt *rt;
    csp_chan *ch, *done;
    int close;
    size_t n;
    void *vals[];
};

static size_t onto_size(size_t n)
{
    return sizeof(struct onto) + n * sizeof(void *);
}

static void onto_free(void *p)
{
    struct onto *s = p;

    csp_chan_release(s->ch);
    csp_chan_release(s->done);
    ops_free(s->rt, s, onto_size(s->n));
}

static void *onto_run(void *arg)
{
    struct onto *s = arg;
    size_t i = 0;

    for (; i < s->n; i++)
        if (csp_chan_put(s->ch, s->vals[i]) != CSP_OK)
            break;
    for (; i < s->n; i++) /* CH closed early: the rest are discarded */
        csp_chan_discard(s->ch, s->vals[i]);
    if (s->close)
        csp_chan_close(s->ch);
    if (s->done)
        csp_chan_close(s->done);
    onto_free(s);
    return NULL;
}

int csp_onto_chan(csp_rt *rt, csp_chan *ch, void *const *vals, size_t n,
                  int close, csp_chan **done)
{
    struct onto *s;
    int rc;
    csp_chan *done_ref = NULL;

    if (!rt || !ch || (n && !vals) || n > SIZE_MAX / sizeof(void *) - 8)
        return CSP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!vals[i])
            return CSP_EINVAL;
    s = ops_alloc(rt, onto_size(n));
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    s->n = n;
    s->done = NULL;
    if (done) {
        rc = new_chan(&s->done, rt, CSP_BUF_NONE, 0);
        if (rc != CSP_OK) {
            ops_free(rt, s, onto_size(n));
            return rc;
        }
        done_ref = csp_chan_retain(s->done);
    }
    s->ch = csp_chan_retain(ch);
    s->close = close;
    if (n)
        memcpy(s->vals, vals, n * sizeof(void *));
    rc = start(rt, onto_run, s, onto_free);
    if (rc != CSP_OK)
        csp_chan_release(done_ref);
    else if (done)
        *done = done_ref;
    return rc;
}

int csp_to_chan(csp_chan **out, csp_rt *rt, void *const *vals, size_t n)
{
    csp_chan *ch;
    int rc;

    if (!out || !rt)
        return CSP_EINVAL;
    rc = new_chan(&ch, rt, CSP_BUF_FIXED, n < 1 ? 1 : n > 100 ? 100 : n);
    if (rc != CSP_OK)
        return rc;
    rc = csp_onto_chan(rt, ch, vals, n, 1, NULL);
    if (rc != CSP_OK) {
        csp_chan_release(ch);
        return rc;
    }
    *out = ch;
    return CSP_OK;
}

/* ------------------------------------------------------------------------
 * into, reduce, transduce */

struct fold {
    csp_rt *rt;
    csp_chan *ch, *result;
    csp_reduce_fn f;  /* reduce */
    csp_pack_fn pack; /* into */
    void *acc, *ud;
};

static void fold_free(void *p)
{
    struct fold *s = p;

    csp_chan_release(s->ch);
    csp_chan_release(s->result);
    ops_free(s->rt, s, sizeof *s);
}

static void finish(struct fold *s, void *v)
{
    if (v)
        csp_chan_put(s->result, v); /* capacity 1: never waits */
    csp_chan_close(s->result);
    fold_free(s);
}

static void *reduce_run(void *arg)
{
    struct fold *s = arg;
    void *v;
    int stop = 0;

    while (!stop && csp_chan_take(s->ch, &v) == CSP_OK)
        s->acc = s->f(s->ud, s->acc, v, &stop);
    finish(s, s->acc);
    return NULL;
}

static void *into_run(void *arg)
{
    struct fold *s = arg;
    csp_rt *rt = s->rt; /* finish frees S */
    void **vals = NULL, *v;
    size_t n = 0, cap = 0;

    while (csp_chan_take(s->ch, &v) == CSP_OK) {
        if (n == cap) {
            size_t c = cap ? 2 * cap : 16;
            void **nv = ops_realloc_array(rt, vals, cap, c, sizeof *nv);
            if (!nv) {
                csp_chan_discard(s->ch, v); /* no memory: the value is lost */
                continue;
            }
            vals = nv;
            cap = c;
        }
        vals[n++] = v;
    }
    finish(s, n ? s->pack(s->ud, vals, n) : NULL);
    ops_free(rt, vals, cap * sizeof *vals);
    return NULL;
}

static int fold_start(csp_chan **result, csp_rt *rt, csp_chan *ch,
                      csp_go_fn run, csp_reduce_fn f, csp_pack_fn pack,
                      void *init, void *ud)
{
    struct fold *s;
    int rc;
    csp_chan *ref;

    s = ops_alloc(rt, sizeof *s);
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    rc = new_chan(&s->result, rt, CSP_BUF_FIXED, 1);
    if (rc != CSP_OK) {
        ops_free(rt, s, sizeof *s);
        return rc;
    }
    s->ch = csp_chan_retain(ch);
    s->f = f;
    s->pack = pack;
    s->acc = init;
    s->ud = ud;
    ref = csp_chan_retain(s->result);
    rc = start(rt, run, s, fold_free);
    if (rc != CSP_OK)
        csp_chan_release(ref);
    else
        *result = ref;
    return rc;
}

int csp_into(csp_chan **result, csp_rt *rt, csp_chan *ch, csp_pack_fn pack,
             void *ud)
{
    if (!result || !rt || !ch || !pack)
        return CSP_EINVAL;
    return fold_start(result, rt, ch, into_run, NULL, pack, NULL, ud);
}

int csp_reduce(csp_chan **result, csp_rt *rt, csp_chan *ch, csp_reduce_fn f,
               void *init, void *ud)
{
    if (!result || !rt || !ch || !f)
        return CSP_EINVAL;
    return fold_start(result, rt, ch, reduce_run, f, NULL, init, ud);
}

int csp_transduce(csp_chan **result, csp_rt *rt, csp_chan *ch, csp_xform *xf,
                  csp_reduce_fn f, void *init, void *ud)
{
    csp_chan *mid;
    int rc;

    if (!result || !rt || !ch || !xf || !f)
        return CSP_EINVAL;
    /* CH's values pass through XF into MID; the fold reads MID. */
    rc = csp_chan_new_xf(&mid, rt, CSP_BUF_FIXED, 64, NULL, NULL, xf, NULL,
                         NULL);
    if (rc != CSP_OK)
        return rc;
    rc = csp_pipe(rt, ch, mid, 1);
    if (rc == CSP_OK)
        rc = csp_reduce(result, rt, mid, f, init, ud);
    if (rc != CSP_OK)
        csp_chan_close(mid);
    csp_chan_release(mid);
    return rc;
}

/* ------------------------------------------------------------------------
 * merge */

struct merge {
    csp_rt *rt;
    csp_chan *out;
    size_t n;
    csp_op ops[];
};

static size_t merge_size(size_t n)
{
    return sizeof(struct merge) + n * sizeof(csp_op);
}

static void merge_free(void *p)
{
    struct merge *s = p;

    for (size_t i = 0; i < s->n; i++)
        csp_chan_release(s->ops[i].ch);
    csp_chan_release(s->out);
    ops_free(s->rt, s, merge_size(s->n));
}

static void *merge_run(void *arg)
{
    struct merge *s = arg;
    size_t live = s->n, idx;
    int out_open = 1;
    void *v;

    while (live > 0) {
        int rc = csp_alts(s->ops, live, 0, &idx, &v);
        if (rc == CSP_ECLOSED) {
            /* Drop the closed source: swap it past the live ones. */
            csp_op t = s->ops[idx];
            s->ops[idx] = s->ops[live - 1];
            s->ops[live - 1] = t;
            live--;
            continue;
        }
        if (rc != CSP_OK)
            break;
        if (!out_open || csp_chan_put(s->out, v) != CSP_OK) {
            out_open = 0; /* keep draining the sources, as core.async */
            csp_chan_discard(s->ops[idx].ch, v);
        }
    }
    csp_chan_close(s->out);
    merge_free(s);
    return NULL;
}

int csp_merge(csp_chan **out, csp_rt *rt, csp_chan *const *chans, size_t n,
              int buf, size_t cap)
{
    struct merge *s;
    int rc;
    csp_chan *ref;

    if (!out || !rt || !chans || n == 0 || n > CSP_ALTS_MAX)
        return CSP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!chans[i])
            return CSP_EINVAL;
    s = ops_alloc(rt, merge_size(n));
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    rc = new_chan(&s->out, rt, buf, cap);
    if (rc != CSP_OK) {
        ops_free(rt, s, merge_size(n));
        return rc;
    }
    s->n = n;
    for (size_t i = 0; i < n; i++)
        s->ops[i] = (csp_op){csp_chan_retain(chans[i]), CSP_OP_TAKE, NULL};
    ref = csp_chan_retain(s->out);
    rc = start(rt, merge_run, s, merge_free);
    if (rc != CSP_OK)
        csp_chan_release(ref);
    else
        *out = ref;
    return rc;
}

/* ------------------------------------------------------------------------
 * split */

struct split {
    csp_rt *rt;
    csp_chan *ch, *t, *f;
    csp_pred_fn p;
    void *ud;
};

static void split_free(void *p)
{
    struct split *s = p;

    csp_chan_release(s->ch);
    csp_chan_release(s->t);
    csp_chan_release(s->f);
    ops_free(s->rt, s, sizeof *s);
}

static void *split_run(void *arg)
{
    struct split *s = arg;
    void *v;

    while (csp_chan_take(s->ch, &v) == CSP_OK) {
        csp_chan *to = s->p(s->ud, v) ? s->t : s->f;
        if (csp_chan_put(to, v) != CSP_OK)
            csp_chan_discard(s->ch, v);
    }
    csp_chan_close(s->t);
    csp_chan_close(s->f);
    split_free(s);
    return NULL;
}

int csp_split(csp_chan **t, csp_chan **f, csp_rt *rt, csp_chan *ch,
              csp_pred_fn p, void *ud, int t_buf, size_t t_cap, int f_buf,
              size_t f_cap)
{
    struct split *s;
    int rc;
    csp_chan *t_ref, *f_ref;

    if (!t || !f || !rt || !ch || !p)
        return CSP_EINVAL;
    s = ops_zalloc(rt, sizeof *s);
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    rc = new_chan(&s->t, rt, t_buf, t_cap);
    if (rc == CSP_OK)
        rc = new_chan(&s->f, rt, f_buf, f_cap);
    if (rc != CSP_OK) {
        csp_chan_release(s->t);
        ops_free(rt, s, sizeof *s);
        return rc;
    }
    s->ch = csp_chan_retain(ch);
    s->p = p;
    s->ud = ud;
    t_ref = csp_chan_retain(s->t);
    f_ref = csp_chan_retain(s->f);
    rc = start(rt, split_run, s, split_free);
    if (rc != CSP_OK) {
        csp_chan_release(t_ref);
        csp_chan_release(f_ref);
    } else {
        *t = t_ref;
        *f = f_ref;
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * map (channel-level) */

struct cmap {
    csp_rt *rt;
    csp_chan *out;
    csp_combine_fn f;
    void *ud;
    void **vals; /* n: one round's values, made with the state */
    size_t n;
    csp_chan *chans[];
};

static size_t cmap_size(size_t n)
{
    return sizeof(struct cmap) + n * sizeof(csp_chan *);
}

static void cmap_free(void *p)
{
    struct cmap *s = p;

    for (size_t i = 0; i < s->n; i++)
        csp_chan_release(s->chans[i]);
    csp_chan_release(s->out);
    ops_free(s->rt, s->vals, s->n * sizeof *s->vals);
    ops_free(s->rt, s, cmap_size(s->n));
}

static void *cmap_run(void *arg)
{
    struct cmap *s = arg;
    void **vals = s->vals;

    for (;;) {
        size_t got = 0;
        void *v;
        for (; got < s->n; got++)
            if (csp_chan_take(s->chans[got], &vals[got]) != CSP_OK)
                break;
        if (got < s->n) {
            /* A source closed: what was taken this round is discarded. */
            for (size_t i = 0; i < got; i++)
                csp_chan_discard(s->chans[i], vals[i]);
            break;
        }
        v = s->f(s->ud, vals, s->n);
        if (v && csp_chan_put(s->out, v) != CSP_OK) {
            csp_chan_discard(s->out, v);
            break;
        }
    }
    csp_chan_close(s->out);
    cmap_free(s);
    return NULL;
}

int csp_map(csp_chan **out, csp_rt *rt, csp_combine_fn f, void *ud,
            csp_chan *const *chans, size_t n, int buf, size_t cap)
{
    struct cmap *s;
    int rc;
    csp_chan *ref;

    if (!out || !rt || !f || !chans || n == 0 ||
        n > SIZE_MAX / sizeof(void *) - 8)
        return CSP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!chans[i])
            return CSP_EINVAL;
    s = ops_alloc(rt, cmap_size(n));
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    /* The process's scratch comes with the state, so that no memory
     * shortage can end the map silently once it runs. */
    s->vals = ops_alloc(rt, n * sizeof *s->vals);
    if (!s->vals) {
        rc = CSP_ENOMEM;
        goto fail_vals;
    }
    rc = new_chan(&s->out, rt, buf, cap);
    if (rc != CSP_OK)
        goto fail_out;
    s->f = f;
    s->ud = ud;
    s->n = n;
    for (size_t i = 0; i < n; i++)
        s->chans[i] = csp_chan_retain(chans[i]);
    ref = csp_chan_retain(s->out);
    rc = start(rt, cmap_run, s, cmap_free);
    if (rc != CSP_OK)
        csp_chan_release(ref);
    else
        *out = ref;
    return rc;

fail_out:
    ops_free(rt, s->vals, n * sizeof *s->vals);
fail_vals:
    ops_free(rt, s, cmap_size(n));
    return rc;
}

/* ------------------------------------------------------------------------
 * take (channel-level) */

struct ctake {
    csp_rt *rt;
    csp_chan *ch, *out;
    uint64_t n;
};

static void ctake_free(void *p)
{
    struct ctake *s = p;

    csp_chan_release(s->ch);
    csp_chan_release(s->out);
    ops_free(s->rt, s, sizeof *s);
}

static void *ctake_run(void *arg)
{
    struct ctake *s = arg;
    void *v;

    for (uint64_t i = 0; i < s->n; i++) {
        if (csp_chan_take(s->ch, &v) != CSP_OK)
            break;
        if (csp_chan_put(s->out, v) != CSP_OK) {
            csp_chan_discard(s->ch, v);
            break;
        }
    }
    csp_chan_close(s->out);
    ctake_free(s);
    return NULL;
}

int csp_take_n(csp_chan **out, csp_rt *rt, uint64_t n, csp_chan *ch, int buf,
               size_t cap)
{
    struct ctake *s;
    int rc;
    csp_chan *ref;

    if (!out || !rt || !ch)
        return CSP_EINVAL;
    s = ops_alloc(rt, sizeof *s);
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    rc = new_chan(&s->out, rt, buf, cap);
    if (rc != CSP_OK) {
        ops_free(rt, s, sizeof *s);
        return rc;
    }
    s->ch = csp_chan_retain(ch);
    s->n = n;
    ref = csp_chan_retain(s->out);
    rc = start(rt, ctake_run, s, ctake_free);
    if (rc != CSP_OK)
        csp_chan_release(ref);
    else
        *out = ref;
    return rc;
}

int csp_take(csp_chan **out, csp_rt *rt, uint64_t n, csp_chan *ch, int buf,
             size_t cap)
{
    return csp_take_n(out, rt, n, ch, buf, cap);
}
