/* test_fault.c - fault injection: every allocation site of every
 * allocating public call is made to fail in turn, and so is every thread
 * creation, stack mapping, guard page and descriptor a call needs.
 *
 * The sweep for one call: a first run with no fault counts the
 * allocations the call makes (test_alloc_calls); then for each n below
 * that count, a fresh runtime on the counting allocator, the call's setup
 * with no fault, the call with test_fail_alloc_after(n), and these checks:
 *   - the call returns CSP_ENOMEM (csp_rt_executor: NULL) and leaves its
 *     out-param untouched;
 *   - the runtime is still usable: the same call, retried with no fault,
 *     succeeds;
 *   - after the cleanup and csp_rt_free(rt, 0) == CSP_OK, exactly as many
 *     blocks are live as before the runtime was made: nothing leaked,
 *     nothing was half-registered (csp_rt_free would report a pending op
 *     or a parked process with CSP_EBUSY).
 * A fresh runtime per run means the lazily started parts (workers, the
 * timer thread, the thread pool) are started, and so fault-injected, by
 * the call under test each time. Each sweep prints its number of sites;
 * fault_sweeps_cover_every_allocating_call prints the total.
 *
 * The combinators (core/ops/) allocate through the runtime's allocator
 * too (ops.h), so every constructor is swept with its own state, the
 * channels it makes and the processes it starts: pipe, onto_chan,
 * to_chan, into, reduce, transduce, merge, split, map, take, mult and
 * tap, pub and sub, mix with admix and toggle, the three pipelines, each
 * built-in transform, and a channel over every built-in transform with
 * instance state. The allocations their processes make later (a
 * pipeline's job, a partition's array) are counted by
 * test_ops_alloc.c, which runs each one through its whole life.
 *
 * loop_new and the per-thread parker allocate with the C library, not the
 * runtime's allocator, so only their descriptor fault is injected here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro/coro.h"
#include "ops_util.h"

extern _Atomic long csp__fail_thread_create;
extern _Atomic long csp__loop_fail_fd;

static char sentinel_obj;
#define SENT ((void *)&sentinel_obj)

/* Cases over at most WIDE distinct channels: TSan tracks at most 64 locks
 * held by one thread, and alts locks each distinct channel once. */
#define WIDE 50

/* What a call works on: made by its setup, released by its cleanup. */
struct fx {
    csp_rt *rt;
    csp_chan *ch[4];
    csp_chan *wide[WIDE];
    csp_xform *xf[2];
    csp_mult *mult_in; /* handles the setup made, for the call to use */
    csp_pub *pub_in;
    csp_mix *mix_in;
    /* out-params of the call under test (SENT before it runs) */
    csp_chan *out, *out2;
    csp_xform *xout;
    csp_pending *p;
    csp_mult *mult;
    csp_pub *pub;
    csp_mix *mix;
    csp_loop *loop;
    csp_exec *ex;
    void *v;
    size_t idx;
};

struct call {
    const char *name;
    void (*setup)(struct fx *f);
    int (*call)(struct fx *f);
    int ok_rc;                  /* what success looks like */
    void (*undo)(struct fx *f); /* release what a successful call made */
};

static void ignore_done(void *ud, int rc, void *val)
{
    (void)ud;
    (void)rc;
    (void)val;
}

static void ignore_alts(void *ud, int rc, size_t idx, void *val)
{
    (void)ud;
    (void)rc;
    (void)idx;
    (void)val;
}

static int inc_step(void *state, void *val, csp_emit *out)
{
    (void)state;
    return csp_emit_value(out, V(U(val) + 1));
}

static void *give_one(void *arg)
{
    (void)arg;
    return V(1);
}

static void *pack_first(void *ud, void **vals, size_t n)
{
    (void)ud;
    (void)n;
    return vals[0];
}

static csp_chan *fx_chan(struct fx *f, int buf, size_t cap)
{
    csp_chan *c = NULL;

    ASSERT_OK(csp_chan_new(&c, f->rt, buf, cap, NULL, NULL));
    return c;
}

/* Take from CH until it is closed and drained (bounded in time). */
static void drain_closed(csp_chan *ch)
{
    void *v;
    int rc;

    while ((rc = csp_chan_take_blocking(
                ch, &v, deadline_in(8 * SEC * test_slowdown()))) == CSP_OK)
        ;
    ASSERT_RC(CSP_ECLOSED, rc);
}

/* ------------------------------------------------------------------------
 * The calls. */

static int c_chan_none(struct fx *f)
{
    return csp_chan_new(&f->out, f->rt, CSP_BUF_NONE, 0, NULL, NULL);
}

static int c_chan_fixed(struct fx *f)
{
    return csp_chan_new(&f->out, f->rt, CSP_BUF_FIXED, 64, NULL, NULL);
}

static int c_chan_dropping(struct fx *f)
{
    return csp_chan_new(&f->out, f->rt, CSP_BUF_DROPPING, 8, NULL, NULL);
}

static int c_chan_sliding(struct fx *f)
{
    return csp_chan_new(&f->out, f->rt, CSP_BUF_SLIDING, 8, NULL, NULL);
}

static int c_chan_promise(struct fx *f)
{
    return csp_chan_new(&f->out, f->rt, CSP_BUF_PROMISE, 0, NULL, NULL);
}

static void u_out(struct fx *f)
{
    csp_chan_release(f->out);
}

static int c_xform_new(struct fx *f)
{
    return csp_xform_new(&f->xout, f->rt, NULL, inc_step, NULL, NULL, NULL,
                         NULL);
}

static void u_xout(struct fx *f)
{
    csp_xform_release(f->xout);
}

static int c_xf_partition_all(struct fx *f)
{
    return csp_xf_partition_all(&f->xout, f->rt, 3, pack_first, NULL);
}

static int c_xf_distinct(struct fx *f)
{
    return csp_xf_distinct(&f->xout, f->rt, NULL, NULL);
}

static void s_two_xforms(struct fx *f)
{
    ASSERT_OK(csp_xf_distinct(&f->xf[0], f->rt, NULL, NULL));
    ASSERT_OK(csp_xf_partition_all(&f->xf[1], f->rt, 2, pack_first, NULL));
}

static int c_xform_comp(struct fx *f)
{
    return csp_xform_comp(&f->xout, f->xf, 2);
}

static int c_chan_new_xf(struct fx *f)
{
    csp_xform *comp = NULL;
    int rc = csp_xform_comp(&comp, f->xf, 2);

    if (rc != CSP_OK)
        return rc;
    rc = csp_chan_new_xf(&f->out, f->rt, CSP_BUF_FIXED, 4, NULL, NULL, comp,
                         NULL, NULL);
    csp_xform_release(comp);
    return rc;
}

static void s_chan(struct fx *f)
{
    f->ch[0] = fx_chan(f, CSP_BUF_NONE, 0);
    f->ch[1] = fx_chan(f, CSP_BUF_FIXED, 1);
}

static int c_put_cb(struct fx *f)
{
    return csp_chan_put_cb(f->ch[0], V(1), csp_exec_inline(), ignore_done, NULL,
                           &f->p);
}

static int c_take_cb(struct fx *f)
{
    return csp_chan_take_cb(f->ch[0], &f->v, csp_exec_inline(), ignore_done,
                            NULL, &f->p);
}

/* No executor given: the runtime's pool starts (workers, run queues). */
static int c_put_cb_pool(struct fx *f)
{
    return csp_chan_put_cb(f->ch[0], V(1), NULL, ignore_done, NULL, &f->p);
}

static void u_cancel(struct fx *f)
{
    ASSERT_OK(csp_pending_cancel(f->p, NULL));
    csp_pending_release(f->p);
}

static int c_rt_executor(struct fx *f)
{
    f->ex = csp_rt_executor(f->rt);
    return f->ex ? CSP_OK : CSP_ENOMEM;
}

static void u_none(struct fx *f)
{
    (void)f;
}

static int c_alts_cb_2(struct fx *f)
{
    csp_op ops[2] = {{f->ch[0], CSP_OP_TAKE, NULL},
                     {f->ch[1], CSP_OP_TAKE, NULL}};

    return csp_alts_cb(ops, 2, 0, &f->idx, &f->v, csp_exec_inline(),
                       ignore_alts, NULL, &f->p);
}

static void s_wide(struct fx *f)
{
    for (int i = 0; i < WIDE; i++)
        f->wide[i] = fx_chan(f, CSP_BUF_NONE, 0);
    f->ch[0] = fx_chan(f, CSP_BUF_FIXED, 1);
    ASSERT_OK(csp_chan_offer(f->ch[0], V(5)));
}

/* N cases, all waiting (N > 8: nodes are allocated; N > 128: scratch). */
static int alts_cb_wide(struct fx *f, size_t n)
{
    csp_op ops[200];

    for (size_t i = 0; i < n; i++)
        ops[i] = (csp_op){f->wide[i % WIDE], CSP_OP_TAKE, NULL};
    return csp_alts_cb(ops, n, 0, &f->idx, &f->v, csp_exec_inline(),
                       ignore_alts, NULL, &f->p);
}

static int c_alts_cb_12(struct fx *f)
{
    return alts_cb_wide(f, 12);
}

static int c_alts_cb_200(struct fx *f)
{
    return alts_cb_wide(f, 200);
}

/* 200 cases, the last ready: scratch only, committed at once. */
static int c_alts_cb_200_ready(struct fx *f)
{
    csp_op ops[200];

    for (size_t i = 0; i < 199; i++)
        ops[i] = (csp_op){f->wide[i % WIDE], CSP_OP_TAKE, NULL};
    ops[199] = (csp_op){f->ch[0], CSP_OP_TAKE, NULL};
    return csp_alts_cb(ops, 200, CSP_ALTS_PRIORITY, &f->idx, &f->v,
                       csp_exec_inline(), ignore_alts, NULL, &f->p);
}

static void u_ready(struct fx *f)
{
    ASSERT_EQ(199, f->idx);
    ASSERT_EQ(5, U(f->v));
    ASSERT_OK(csp_chan_offer(f->ch[0], V(5))); /* for a retry */
}

static int c_alts_blocking_200(struct fx *f)
{
    csp_op ops[200];

    for (size_t i = 0; i < 200; i++)
        ops[i] = (csp_op){f->wide[i % WIDE], CSP_OP_TAKE, NULL};
    return csp_alts_blocking(ops, 200, 0, deadline_in(MSEC), &f->idx, &f->v);
}

static int c_timeout(struct fx *f)
{
    return csp_timeout(&f->out, f->rt, 60000);
}

static int c_go(struct fx *f)
{
    return csp_go(f->rt, give_one, NULL, &f->out);
}

static int c_go_ex(struct fx *f)
{
    return csp_go_ex(f->rt, give_one, NULL, CSP_GO_PINNED, 64 * 1024, &f->out);
}

static int c_thread(struct fx *f)
{
    return csp_thread(f->rt, give_one, NULL, &f->out);
}

static void u_result(struct fx *f)
{
    void *v = NULL;

    ASSERT_OK(csp_chan_take_blocking(f->out, &v,
                                     deadline_in(8 * SEC * test_slowdown())));
    ASSERT_EQ(1, U(v));
    drain_closed(f->out);
    csp_chan_release(f->out);
}

static void s_pipe(struct fx *f)
{
    f->ch[0] = fx_chan(f, CSP_BUF_FIXED, 4);
    f->ch[1] = fx_chan(f, CSP_BUF_FIXED, 4);
}

static int c_pipe(struct fx *f)
{
    return csp_pipe(f->rt, f->ch[0], f->ch[1], 1);
}

/* pipe and pipeline: close the source; the output closes after it. */
static void u_piped(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    drain_closed(f->ch[1]);
    csp_chan_release(f->ch[0]);
    csp_chan_release(f->ch[1]);
    s_pipe(f); /* for a retry */
}

/* A pipeline of N workers from CH[0] to CH[1] over a recipe made here;
 * BLOCKING: csp_pipeline_blocking. */
static int pipeline_of(struct fx *f, int blocking, size_t n)
{
    csp_xform *xf = NULL;
    int rc = csp_xform_new(&xf, f->rt, NULL, inc_step, NULL, NULL, NULL, NULL);

    if (rc != CSP_OK)
        return rc;
    rc = blocking
             ? csp_pipeline_blocking(f->rt, n, f->ch[1], xf, f->ch[0], 1, NULL,
                                     NULL)
             : csp_pipeline(f->rt, n, f->ch[1], xf, f->ch[0], 1, NULL, NULL);
    csp_xform_release(xf);
    return rc;
}

static int c_pipeline(struct fx *f)
{
    return pipeline_of(f, 0, 2);
}

static int c_to_chan(struct fx *f)
{
    void *vals[3] = {V(1), V(2), V(3)};

    return csp_to_chan(&f->out, f->rt, vals, 3);
}

static void u_drained(struct fx *f)
{
    drain_closed(f->out);
    csp_chan_release(f->out);
}

static int c_merge(struct fx *f)
{
    return csp_merge(&f->out, f->rt, f->ch, 2, CSP_BUF_FIXED, 4);
}

static void u_merged(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    ASSERT_OK(csp_chan_close(f->ch[1]));
    drain_closed(f->out);
    csp_chan_release(f->out);
    csp_chan_release(f->ch[0]);
    csp_chan_release(f->ch[1]);
    s_pipe(f);
}

static int c_mult_new(struct fx *f)
{
    return csp_mult_new(&f->mult, f->rt, f->ch[0]);
}

static void u_mult(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    csp_mult_release(f->mult);
    /* The mult's process ends once it sees the close; csp_rt_free waits
     * for it. */
}

/* ------------------------------------------------------------------------
 * The combinators (core/ops/): each constructor with every allocation it
 * makes, its own state (ops.h) and the channels and processes it starts. */

static int c_onto_chan(struct fx *f)
{
    void *vals[3] = {V(1), V(2), V(3)};

    return csp_onto_chan(f->rt, f->ch[1], vals, 3, 1, &f->out);
}

/* The done channel closes when every value was put; then CH[1] holds
 * them, closed. */
static void u_onto(struct fx *f)
{
    drain_closed(f->out);
    csp_chan_release(f->out);
    drain_closed(f->ch[1]);
}

static int c_into(struct fx *f)
{
    return csp_into(&f->out, f->rt, f->ch[0], pack_first, NULL);
}

static void *add_acc(void *ud, void *acc, void *val, int *stop)
{
    (void)ud;
    (void)stop;
    return V(U(acc) + U(val));
}

static int c_reduce(struct fx *f)
{
    return csp_reduce(&f->out, f->rt, f->ch[0], add_acc, V(1), NULL);
}

/* transduce through a stateful recipe: its instance is allocated too. */
static void s_transduce(struct fx *f)
{
    s_pipe(f);
    ASSERT_OK(csp_xf_partition_all(&f->xf[0], f->rt, 2, pack_first, NULL));
}

static int c_transduce(struct fx *f)
{
    return csp_transduce(&f->out, f->rt, f->ch[0], f->xf[0], add_acc, V(1),
                         NULL);
}

/* into, reduce, transduce, take: the source closes, the result follows. */
static void u_folded(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    drain_closed(f->out);
    csp_chan_release(f->out);
}

static int c_split(struct fx *f)
{
    return csp_split(&f->out, &f->out2, f->rt, f->ch[0], is_even, NULL,
                     CSP_BUF_FIXED, 2, CSP_BUF_NONE, 0);
}

static void u_split(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    drain_closed(f->out);
    drain_closed(f->out2);
    csp_chan_release(f->out);
    csp_chan_release(f->out2);
}

static void *combine_first(void *ud, void **vals, size_t n)
{
    (void)ud;
    (void)n;
    return vals[0];
}

static int c_map(struct fx *f)
{
    return csp_map(&f->out, f->rt, combine_first, NULL, f->ch, 2, CSP_BUF_FIXED,
                   4);
}

static int c_take(struct fx *f)
{
    return csp_take_n(&f->out, f->rt, 2, f->ch[0], CSP_BUF_FIXED, 4);
}

static void s_mult(struct fx *f)
{
    s_pipe(f);
    ASSERT_OK(csp_mult_new(&f->mult_in, f->rt, f->ch[0]));
}

static int c_mult_tap(struct fx *f)
{
    return csp_mult_tap(f->mult_in, f->ch[1], 1);
}

/* The source closes: the mult's process closes the tap and ends. */
static void u_mult_in(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    csp_mult_release(f->mult_in);
}

static uint64_t topic_of(void *ud, void *val)
{
    (void)ud;
    return U(val) % 3;
}

static int c_pub_new(struct fx *f)
{
    return csp_pub_new(&f->pub, f->rt, f->ch[0], topic_of, NULL, NULL);
}

static void u_pub(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    csp_pub_release(f->pub);
}

static void s_pub(struct fx *f)
{
    s_pipe(f);
    ASSERT_OK(csp_pub_new(&f->pub_in, f->rt, f->ch[0], topic_of, NULL, NULL));
}

/* A new topic: its state, its channel, its mult (state, channel, process)
 * and the tap. */
static int c_pub_sub(struct fx *f)
{
    return csp_pub_sub(f->pub_in, 2, f->ch[1], 1);
}

static void u_pub_in(struct fx *f)
{
    ASSERT_OK(csp_chan_close(f->ch[0]));
    csp_pub_release(f->pub_in);
}

static int c_mix_new(struct fx *f)
{
    return csp_mix_new(&f->mix, f->rt, f->ch[1]);
}

static void u_mix(struct fx *f)
{
    csp_mix_release(f->mix);
}

/* A mix whose process already holds room for two inputs, so that an
 * admix makes no allocation of the process's while the call is swept:
 * two inputs are added, a value through the second shows the process
 * read both, and both are removed again. */
static void s_mix(struct fx *f)
{
    void *v = NULL;

    s_pipe(f);
    f->ch[2] = fx_chan(f, CSP_BUF_FIXED, 1);
    f->ch[3] = fx_chan(f, CSP_BUF_FIXED, 1);
    ASSERT_OK(csp_mix_new(&f->mix_in, f->rt, f->ch[1]));
    ASSERT_OK(csp_mix_admix(f->mix_in, f->ch[2]));
    ASSERT_OK(csp_mix_admix(f->mix_in, f->ch[3]));
    ASSERT_OK(csp_chan_offer(f->ch[3], V(9)));
    ASSERT_OK(csp_chan_take_blocking(f->ch[1], &v,
                                     deadline_in(8 * SEC * test_slowdown())));
    ASSERT_EQ(9, U(v));
    ASSERT_OK(csp_mix_unmix_all(f->mix_in));
}

static int c_mix_admix(struct fx *f)
{
    return csp_mix_admix(f->mix_in, f->ch[0]);
}

static int c_mix_toggle(struct fx *f)
{
    return csp_mix_toggle(f->mix_in, f->ch[0], CSP_MIX_SOLO);
}

static void u_mix_in(struct fx *f)
{
    csp_mix_release(f->mix_in);
}

/* One worker: with more, a later worker thread that cannot start leaves
 * the pipeline running on fewer, by design, and the call succeeds. */
static int c_pipeline_blocking(struct fx *f)
{
    return pipeline_of(f, 1, 1);
}

static void async_copy(void *ud, void *val, csp_chan *res)
{
    (void)ud;
    ASSERT_OK(csp_chan_offer(res, val));
    ASSERT_OK(csp_chan_close(res));
}

static int c_pipeline_async(struct fx *f)
{
    return csp_pipeline_async(f->rt, 2, f->ch[1], async_copy, NULL, f->ch[0],
                              1);
}

/* The built-in transforms: the recipe's data and the recipe. */
static void *id_fn(void *ud, void *v)
{
    (void)ud;
    return v;
}

static int expand_one(void *ud, void *val, csp_emit *out)
{
    (void)ud;
    return csp_emit_value(out, val);
}

static uint64_t key_id(void *ud, void *val)
{
    (void)ud;
    return U(val);
}

static int c_xf_map(struct fx *f)
{
    return csp_xf_map(&f->xout, f->rt, id_fn, NULL);
}

static int c_xf_filter(struct fx *f)
{
    return csp_xf_filter(&f->xout, f->rt, is_even, NULL);
}

static int c_xf_remove(struct fx *f)
{
    return csp_xf_remove(&f->xout, f->rt, is_even, NULL);
}

static int c_xf_mapcat(struct fx *f)
{
    return csp_xf_mapcat(&f->xout, f->rt, expand_one, NULL);
}

static int c_xf_keep(struct fx *f)
{
    return csp_xf_keep(&f->xout, f->rt, id_fn, NULL);
}

static int c_xf_take(struct fx *f)
{
    return csp_xf_take(&f->xout, f->rt, 3);
}

static int c_xf_take_while(struct fx *f)
{
    return csp_xf_take_while(&f->xout, f->rt, is_even, NULL);
}

static int c_xf_drop(struct fx *f)
{
    return csp_xf_drop(&f->xout, f->rt, 3);
}

static int c_xf_drop_while(struct fx *f)
{
    return csp_xf_drop_while(&f->xout, f->rt, is_even, NULL);
}

static int c_xf_partition_by(struct fx *f)
{
    return csp_xf_partition_by(&f->xout, f->rt, key_id, pack_first, NULL);
}

static int c_xf_dedupe(struct fx *f)
{
    return csp_xf_dedupe(&f->xout, f->rt, key_id, NULL);
}

/* Every built-in transform with instance state, composed: a channel made
 * with it allocates each stage's state in turn, and one that fails at
 * stage k must free the k states made before it. */
static void s_stateful(struct fx *f)
{
    csp_xform *st[8];

    ASSERT_OK(csp_xf_take(&st[0], f->rt, 100));
    ASSERT_OK(csp_xf_drop(&st[1], f->rt, 0));
    ASSERT_OK(csp_xf_take_while(&st[2], f->rt, is_even, NULL));
    ASSERT_OK(csp_xf_drop_while(&st[3], f->rt, is_even, NULL));
    ASSERT_OK(csp_xf_dedupe(&st[4], f->rt, NULL, NULL));
    ASSERT_OK(csp_xf_distinct(&st[5], f->rt, key_id, NULL));
    ASSERT_OK(csp_xf_partition_by(&st[6], f->rt, NULL, pack_first, NULL));
    ASSERT_OK(csp_xf_partition_all(&st[7], f->rt, 2, pack_first, NULL));
    ASSERT_OK(csp_xform_comp(&f->xf[0], st, 8));
    for (int i = 0; i < 8; i++)
        csp_xform_release(st[i]);
}

static int c_chan_new_xf_stateful(struct fx *f)
{
    return csp_chan_new_xf(&f->out, f->rt, CSP_BUF_FIXED, 4, NULL, NULL,
                           f->xf[0], NULL, NULL);
}

static const struct call calls[] = {
    {"chan_new_none", NULL, c_chan_none, CSP_OK, u_out},
    {"chan_new_fixed", NULL, c_chan_fixed, CSP_OK, u_out},
    {"chan_new_dropping", NULL, c_chan_dropping, CSP_OK, u_out},
    {"chan_new_sliding", NULL, c_chan_sliding, CSP_OK, u_out},
    {"chan_new_promise", NULL, c_chan_promise, CSP_OK, u_out},
    {"xform_new", NULL, c_xform_new, CSP_OK, u_xout},
    {"xf_partition_all", NULL, c_xf_partition_all, CSP_OK, u_xout},
    {"xf_distinct", NULL, c_xf_distinct, CSP_OK, u_xout},
    {"xform_comp", s_two_xforms, c_xform_comp, CSP_OK, u_xout},
    {"chan_new_xf", s_two_xforms, c_chan_new_xf, CSP_OK, u_out},
    {"put_cb", s_chan, c_put_cb, CSP_PENDING, u_cancel},
    {"take_cb", s_chan, c_take_cb, CSP_PENDING, u_cancel},
    {"put_cb_pool", s_chan, c_put_cb_pool, CSP_PENDING, u_cancel},
    {"rt_executor", NULL, c_rt_executor, CSP_OK, u_none},
    {"alts_cb_2", s_chan, c_alts_cb_2, CSP_PENDING, u_cancel},
    {"alts_cb_12", s_wide, c_alts_cb_12, CSP_PENDING, u_cancel},
    {"alts_cb_200", s_wide, c_alts_cb_200, CSP_PENDING, u_cancel},
    {"alts_cb_200_ready", s_wide, c_alts_cb_200_ready, CSP_OK, u_ready},
    {"alts_blocking_200", s_wide, c_alts_blocking_200, CSP_ETIMEDOUT, u_none},
    {"timeout", NULL, c_timeout, CSP_OK, u_out},
    {"go", NULL, c_go, CSP_OK, u_result},
    {"go_ex", NULL, c_go_ex, CSP_OK, u_result},
    {"thread", NULL, c_thread, CSP_OK, u_result},
    {"pipe", s_pipe, c_pipe, CSP_OK, u_piped},
    {"pipeline", s_pipe, c_pipeline, CSP_OK, u_piped},
    {"to_chan", NULL, c_to_chan, CSP_OK, u_drained},
    {"merge", s_pipe, c_merge, CSP_OK, u_merged},
    {"mult_new", s_pipe, c_mult_new, CSP_OK, u_mult},
    {"onto_chan", s_pipe, c_onto_chan, CSP_OK, u_onto},
    {"into", s_pipe, c_into, CSP_OK, u_folded},
    {"reduce", s_pipe, c_reduce, CSP_OK, u_folded},
    {"transduce", s_transduce, c_transduce, CSP_OK, u_folded},
    {"split", s_pipe, c_split, CSP_OK, u_split},
    {"map", s_pipe, c_map, CSP_OK, u_merged},
    {"take", s_pipe, c_take, CSP_OK, u_folded},
    {"mult_tap", s_mult, c_mult_tap, CSP_OK, u_mult_in},
    {"pub_new", s_pipe, c_pub_new, CSP_OK, u_pub},
    {"pub_sub", s_pub, c_pub_sub, CSP_OK, u_pub_in},
    {"mix_new", s_pipe, c_mix_new, CSP_OK, u_mix},
    {"mix_admix", s_mix, c_mix_admix, CSP_OK, u_mix_in},
    {"mix_toggle", s_mix, c_mix_toggle, CSP_OK, u_mix_in},
    {"pipeline_blocking", s_pipe, c_pipeline_blocking, CSP_OK, u_piped},
    {"pipeline_async", s_pipe, c_pipeline_async, CSP_OK, u_piped},
    {"xf_map", NULL, c_xf_map, CSP_OK, u_xout},
    {"xf_filter", NULL, c_xf_filter, CSP_OK, u_xout},
    {"xf_remove", NULL, c_xf_remove, CSP_OK, u_xout},
    {"xf_mapcat", NULL, c_xf_mapcat, CSP_OK, u_xout},
    {"xf_keep", NULL, c_xf_keep, CSP_OK, u_xout},
    {"xf_take", NULL, c_xf_take, CSP_OK, u_xout},
    {"xf_take_while", NULL, c_xf_take_while, CSP_OK, u_xout},
    {"xf_drop", NULL, c_xf_drop, CSP_OK, u_xout},
    {"xf_drop_while", NULL, c_xf_drop_while, CSP_OK, u_xout},
    {"xf_partition_by", NULL, c_xf_partition_by, CSP_OK, u_xout},
    {"xf_dedupe", NULL, c_xf_dedupe, CSP_OK, u_xout},
    {"chan_new_xf_stateful", s_stateful, c_chan_new_xf_stateful, CSP_OK, u_out},
};

static const struct call *find(const char *name)
{
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (!strcmp(calls[i].name, name))
            return &calls[i];
    ASSERT_TRUE(0);
    return NULL;
}

static void fx_release(struct fx *f)
{
    for (int i = 0; i < 4; i++)
        csp_chan_release(f->ch[i]);
    for (int i = 0; i < WIDE; i++)
        csp_chan_release(f->wide[i]);
    csp_xform_release(f->xf[0]);
    csp_xform_release(f->xf[1]);
}

/* The out-params the calls write, set to SENT before a call. */
static void fx_mark(struct fx *f)
{
    f->out = SENT;
    f->xout = SENT;
    f->p = SENT;
    f->out2 = SENT;
    f->mult = SENT;
    f->pub = SENT;
    f->mix = SENT;
    f->v = SENT;
    f->idx = 12345;
}

static void fx_check_untouched(const struct fx *f)
{
    ASSERT_PTR_EQ(SENT, f->out);
    ASSERT_PTR_EQ(SENT, f->xout);
    ASSERT_PTR_EQ(SENT, f->p);
    ASSERT_PTR_EQ(SENT, f->out2);
    ASSERT_PTR_EQ(SENT, f->mult);
    ASSERT_PTR_EQ(SENT, f->pub);
    ASSERT_PTR_EQ(SENT, f->mix);
    ASSERT_PTR_EQ(SENT, f->v);
    ASSERT_EQ(12345, f->idx);
}

/* One run of C on a fresh runtime with allocation N failing (N < 0: none);
 * returns how many allocations the call attempted. */
static long run_once(const struct call *c, long n)
{
    long base = test_live_allocs(), c0, made;
    struct fx f;
    int rc;

    memset(&f, 0, sizeof f);
    ASSERT_OK(csp_rt_new(&f.rt, test_alloc, NULL));
    ASSERT_OK(csp_rt_set(f.rt, CSP_RT_THREADS, 2));
    if (c->setup)
        c->setup(&f);
    fx_mark(&f);
    c0 = test_alloc_calls();
    if (n >= 0)
        test_fail_alloc_after(n);
    rc = c->call(&f);
    test_fail_alloc_after(-1);
    made = test_alloc_calls() - c0;
    if (n >= 0) {
        if (rc != CSP_ENOMEM)
            fprintf(stderr, "fault: %s with allocation %ld failing\n", c->name,
                    n);
        ASSERT_RC(CSP_ENOMEM, rc);
        if (c->call != c_rt_executor)
            fx_check_untouched(&f);
        fx_mark(&f);
        rc = c->call(&f); /* still usable: the retry succeeds */
    }
    ASSERT_RC(c->ok_rc, rc);
    c->undo(&f);
    fx_release(&f);
    ASSERT_OK(csp_rt_free(f.rt, 0));
    ASSERT_EQ(base, test_live_allocs());
    return made;
}

/* Fail each allocation site of call NAME in turn; returns the count. */
static long sweep(const char *name)
{
    const struct call *c = find(name);
    long sites = run_once(c, -1);

    for (long n = 0; n < sites; n++)
        run_once(c, n);
    fprintf(stderr, "fault: %s: %ld allocation sites failed in turn\n", name,
            sites);
    ASSERT_TRUE(sites > 0);
    return sites;
}

TEST(fault_chan_new_none_fails_cleanly_at_every_allocation_site)
{
    sweep("chan_new_none");
}

TEST(fault_chan_new_fixed_fails_cleanly_at_every_allocation_site)
{
    sweep("chan_new_fixed");
}

TEST(fault_chan_new_dropping_fails_cleanly_at_every_allocation_site)
{
    sweep("chan_new_dropping");
}

TEST(fault_chan_new_sliding_fails_cleanly_at_every_allocation_site)
{
    sweep("chan_new_sliding");
}

TEST(fault_chan_new_promise_fails_cleanly_at_every_allocation_site)
{
    sweep("chan_new_promise");
}

TEST(fault_xform_new_fails_cleanly_at_every_allocation_site)
{
    sweep("xform_new");
}

TEST(fault_xf_partition_all_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_partition_all");
}

TEST(fault_xf_distinct_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_distinct");
}

TEST(fault_xform_comp_fails_cleanly_at_every_allocation_site)
{
    sweep("xform_comp");
}

TEST(fault_chan_new_xf_fails_cleanly_at_every_allocation_site)
{
    sweep("chan_new_xf");
}

TEST(fault_put_cb_fails_cleanly_at_every_allocation_site)
{
    sweep("put_cb");
}

TEST(fault_take_cb_fails_cleanly_at_every_allocation_site)
{
    sweep("take_cb");
}

TEST(fault_put_cb_pool_fails_cleanly_at_every_allocation_site)
{
    sweep("put_cb_pool");
}

TEST(fault_rt_executor_fails_cleanly_at_every_allocation_site)
{
    sweep("rt_executor");
}

TEST(fault_alts_cb_2_fails_cleanly_at_every_allocation_site)
{
    sweep("alts_cb_2");
}

TEST(fault_alts_cb_12_fails_cleanly_at_every_allocation_site)
{
    sweep("alts_cb_12");
}

TEST(fault_alts_cb_200_fails_cleanly_at_every_allocation_site)
{
    sweep("alts_cb_200");
}

TEST(fault_alts_cb_200_ready_fails_cleanly_at_every_allocation_site)
{
    sweep("alts_cb_200_ready");
}

TEST(fault_alts_blocking_200_fails_cleanly_at_every_allocation_site)
{
    sweep("alts_blocking_200");
}

TEST(fault_timeout_fails_cleanly_at_every_allocation_site)
{
    sweep("timeout");
}

TEST(fault_go_fails_cleanly_at_every_allocation_site)
{
    sweep("go");
}

TEST(fault_go_ex_fails_cleanly_at_every_allocation_site)
{
    sweep("go_ex");
}

TEST(fault_thread_fails_cleanly_at_every_allocation_site)
{
    sweep("thread");
}

TEST(fault_pipe_fails_cleanly_at_every_allocation_site)
{
    sweep("pipe");
}

TEST(fault_pipeline_fails_cleanly_at_every_allocation_site)
{
    sweep("pipeline");
}

TEST(fault_to_chan_fails_cleanly_at_every_allocation_site)
{
    sweep("to_chan");
}

TEST(fault_merge_fails_cleanly_at_every_allocation_site)
{
    sweep("merge");
}

TEST(fault_mult_new_fails_cleanly_at_every_allocation_site)
{
    sweep("mult_new");
}

TEST(fault_onto_chan_fails_cleanly_at_every_allocation_site)
{
    sweep("onto_chan");
}

TEST(fault_into_fails_cleanly_at_every_allocation_site)
{
    sweep("into");
}

TEST(fault_reduce_fails_cleanly_at_every_allocation_site)
{
    sweep("reduce");
}

TEST(fault_transduce_fails_cleanly_at_every_allocation_site)
{
    sweep("transduce");
}

TEST(fault_split_fails_cleanly_at_every_allocation_site)
{
    sweep("split");
}

TEST(fault_map_fails_cleanly_at_every_allocation_site)
{
    sweep("map");
}

TEST(fault_take_fails_cleanly_at_every_allocation_site)
{
    sweep("take");
}

TEST(fault_mult_tap_fails_cleanly_at_every_allocation_site)
{
    sweep("mult_tap");
}

TEST(fault_pub_new_fails_cleanly_at_every_allocation_site)
{
    sweep("pub_new");
}

TEST(fault_pub_sub_fails_cleanly_at_every_allocation_site)
{
    sweep("pub_sub");
}

TEST(fault_mix_new_fails_cleanly_at_every_allocation_site)
{
    sweep("mix_new");
}

TEST(fault_mix_admix_fails_cleanly_at_every_allocation_site)
{
    sweep("mix_admix");
}

TEST(fault_mix_toggle_fails_cleanly_at_every_allocation_site)
{
    sweep("mix_toggle");
}

TEST(fault_pipeline_blocking_fails_cleanly_at_every_allocation_site)
{
    sweep("pipeline_blocking");
}

TEST(fault_pipeline_async_fails_cleanly_at_every_allocation_site)
{
    sweep("pipeline_async");
}

TEST(fault_xf_map_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_map");
}

TEST(fault_xf_filter_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_filter");
}

TEST(fault_xf_remove_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_remove");
}

TEST(fault_xf_mapcat_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_mapcat");
}

TEST(fault_xf_keep_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_keep");
}

TEST(fault_xf_take_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_take");
}

TEST(fault_xf_take_while_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_take_while");
}

TEST(fault_xf_drop_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_drop");
}

TEST(fault_xf_drop_while_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_drop_while");
}

TEST(fault_xf_partition_by_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_partition_by");
}

TEST(fault_xf_dedupe_fails_cleanly_at_every_allocation_site)
{
    sweep("xf_dedupe");
}

TEST(fault_chan_new_xf_stateful_fails_cleanly_at_every_allocation_site)
{
    sweep("chan_new_xf_stateful");
}

TEST(fault_rt_new_fails_cleanly_at_every_allocation_site)
{
    long base = test_live_allocs(), sites, c0;
    csp_rt *rt = SENT;

    c0 = test_alloc_calls();
    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    sites = test_alloc_calls() - c0;
    ASSERT_OK(csp_rt_free(rt, 0));
    for (long n = 0; n < sites; n++) {
        rt = SENT;
        test_fail_alloc_after(n);
        ASSERT_RC(CSP_ENOMEM, csp_rt_new(&rt, test_alloc, NULL));
        test_fail_alloc_after(-1);
        ASSERT_PTR_EQ(SENT, rt);
        ASSERT_EQ(base, test_live_allocs());
    }
    fprintf(stderr, "fault: rt_new: %ld allocation sites failed in turn\n",
            sites);
    ASSERT_TRUE(sites > 0);
}

/* Only the counting pass of every sweep, to print the total. */
TEST(fault_sweeps_cover_every_allocating_call)
{
    long total = 0;
    size_t n = sizeof calls / sizeof calls[0];

    for (size_t i = 0; i < n; i++) {
        long sites = run_once(&calls[i], -1);
        ASSERT_TRUE(sites > 0);
        total += sites;
    }
    fprintf(stderr,
            "fault: %zu calls (and rt_new), %ld allocation sites in all\n", n,
            total);
}

/* ------------------------------------------------------------------------
 * Threads, stacks, descriptors. */

/* Fail the 1st, 2nd, ... thread creation call C makes on a fresh runtime
 * until it makes fewer; each failing run returns CSP_ENOMEM, leaks
 * nothing, and a retry succeeds. Returns the creations failed. */
static long sweep_threads(const char *name)
{
    const struct call *c = find(name);
    long k;

    for (k = 1;; k++) {
        long base = test_live_allocs();
        struct fx f;
        int rc;

        ASSERT_TRUE(k < 64);
        memset(&f, 0, sizeof f);
        ASSERT_OK(csp_rt_new(&f.rt, test_alloc, NULL));
        ASSERT_OK(csp_rt_set(f.rt, CSP_RT_THREADS, 2));
        if (c->setup)
            c->setup(&f);
        fx_mark(&f);
        atomic_store(&csp__fail_thread_create, k);
        rc = c->call(&f);
        /* Left > 0: fewer than k creations were made. */
        long left = atomic_exchange(&csp__fail_thread_create, 0);
        if (left > 0) {
            ASSERT_RC(c->ok_rc, rc);
        } else {
            ASSERT_RC(CSP_ENOMEM, rc);
            if (c->call != c_rt_executor)
                fx_check_untouched(&f);
            fx_mark(&f);
            ASSERT_RC(c->ok_rc, c->call(&f));
        }
        c->undo(&f);
        fx_release(&f);
        ASSERT_OK(csp_rt_free(f.rt, 0));
        ASSERT_EQ(base, test_live_allocs());
        if (left > 0)
            break;
    }
    fprintf(stderr, "fault: %s: %ld thread creations failed in turn\n", name,
            k - 1);
    return k - 1;
}

TEST(fault_go_fails_cleanly_at_every_thread_creation)
{
    ASSERT_EQ(2, sweep_threads("go")); /* two workers */
}

TEST(fault_thread_fails_cleanly_at_every_thread_creation)
{
    ASSERT_TRUE(sweep_threads("thread") >= 1);
}

TEST(fault_timeout_fails_cleanly_at_every_thread_creation)
{
    ASSERT_EQ(1, sweep_threads("timeout")); /* the timer thread */
}

TEST(fault_pool_executor_fails_cleanly_at_every_thread_creation)
{
    ASSERT_EQ(2, sweep_threads("rt_executor"));
}

TEST(fault_put_cb_pool_fails_cleanly_at_every_thread_creation)
{
    ASSERT_EQ(2, sweep_threads("put_cb_pool"));
}

TEST(fault_pipe_fails_cleanly_at_every_thread_creation)
{
    ASSERT_EQ(2, sweep_threads("pipe"));
}

/* A stack that cannot be mapped: go and go_ex report CSP_ENOMEM, nothing
 * leaks, and the next spawn works. */
static void stack_map_fails(const char *name)
{
    const struct call *c = find(name);
    long base = test_live_allocs();
    struct fx f;

    memset(&f, 0, sizeof f);
    ASSERT_OK(csp_rt_new(&f.rt, test_alloc, NULL));
    ASSERT_OK(csp_rt_set(f.rt, CSP_RT_THREADS, 2));
    fx_mark(&f);
    atomic_store(&csp__fail_stack_map, 1);
    ASSERT_RC(CSP_ENOMEM, c->call(&f));
    atomic_store(&csp__fail_stack_map, 0);
    fx_check_untouched(&f);
    ASSERT_OK(c->call(&f));
    c->undo(&f);
    ASSERT_OK(csp_rt_free(f.rt, 0));
    ASSERT_EQ(base, test_live_allocs());
}

TEST(fault_go_reports_enomem_when_stack_map_fails)
{
    stack_map_fails("go");
}

TEST(fault_go_ex_reports_enomem_when_stack_map_fails)
{
    stack_map_fails("go_ex");
}

/* A guard page the kernel refuses: the stack is carved unguarded (a
 * canary instead), so go still succeeds and the process runs. */
TEST(fault_go_succeeds_unguarded_when_guard_page_fails)
{
    const struct call *c = find("go");
    struct fx f;

    memset(&f, 0, sizeof f);
    f.rt = test_rt;
    atomic_store(&csp__fail_stack_guard, 1);
    ASSERT_OK(c->call(&f));
    atomic_store(&csp__fail_stack_guard, 0);
    c->undo(&f);
}

/* The loop executor's descriptor cannot be made: CSP_ENOMEM, *OUT
 * untouched, no descriptor leaked, and the next loop_new works. */
TEST(fault_loop_new_reports_enomem_when_descriptor_fails)
{
    csp_loop *loop = SENT;
    int probe[2];

    atomic_store(&csp__loop_fail_fd, 1);
    ASSERT_RC(CSP_ENOMEM, csp_loop_new(&loop, test_rt));
    atomic_store(&csp__loop_fail_fd, 0);
    ASSERT_PTR_EQ(SENT, loop);
    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ASSERT_TRUE(csp_loop_fd(loop) >= 0);
    csp_loop_free(loop);
    /* The lowest free descriptor number is what it was: none leaked. */
    ASSERT_EQ(0, pipe(probe));
    int lowest = probe[0];
    close(probe[0]);
    close(probe[1]);
    atomic_store(&csp__loop_fail_fd, 1);
    ASSERT_RC(CSP_ENOMEM, csp_loop_new(&loop, test_rt));
    atomic_store(&csp__loop_fail_fd, 0);
    ASSERT_EQ(0, pipe(probe));
    ASSERT_EQ(lowest, probe[0]);
    close(probe[0]);
    close(probe[1]);
}

/* ------------------------------------------------------------------------
 * Faults in the middle of traffic: a runtime with go processes, threads
 * and callbacks in flight, allocation failing for a while, then not. */

struct traffic {
    csp_chan *ch;
    _Atomic long got;
    long want;
};

static void *traffic_consumer(void *arg)
{
    struct traffic *t = arg;
    void *v;

    while (csp_chan_take(t->ch, &v) == CSP_OK)
        atomic_fetch_add(&t->got, 1);
    return NULL;
}

TEST(fault_enomem_during_traffic_loses_no_value)
{
    struct traffic t = {0};
    csp_chan *res;
    long sent = 0, refused = 0;

    t.ch = mkchan(CSP_BUF_FIXED, 4);
    ASSERT_OK(csp_go(test_rt, traffic_consumer, &t, &res));
    /* Callback puts need an allocation only when they must wait: while
     * allocation fails, a put either completes, or reports CSP_ENOMEM
     * and the value stays ours. */
    test_fail_alloc_after(0);
    for (long i = 0; i < test_scaled(20000); i++) {
        int rc = csp_chan_put_cb(t.ch, V(i + 1), csp_exec_inline(), ignore_done,
                                 NULL, NULL);
        if (rc == CSP_ENOMEM)
            refused++;
        else
            ASSERT_OK(rc);
        sent += rc == CSP_OK;
    }
    test_fail_alloc_after(-1);
    ASSERT_OK(csp_chan_close(t.ch));
    drain_closed(res);
    csp_chan_release(res);
    ASSERT_EQ(sent, atomic_load(&t.got));
    ASSERT_EQ(test_scaled(20000), sent + refused);
    csp_chan_release(t.ch);
}
