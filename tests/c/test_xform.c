/* test_xform.c - channel transforms: steps that emit none, one or many
 * values, early termination, a completion that flushes exactly once, the
 * exception handler, composition, fresh state per channel, lifetimes. */
#include <stdlib.h>

#include "util.h"

/* inc: v -> v+1; fails (CSP_EINVAL) on 13 after handing 13 back. */
static int inc_step(void *state, void *val, csp_emit *out)
{
    (void)state;
    if (U(val) == 13) {
        csp_emit_drop(out, val);
        return CSP_EINVAL;
    }
    return csp_emit_value(out, V(U(val) + 1));
}

/* dbl: v -> 2v. */
static int dbl_step(void *state, void *val, csp_emit *out)
{
    (void)state;
    return csp_emit_value(out, V(U(val) * 2));
}

/* even: keeps even values, drops odd ones. */
static int even_step(void *state, void *val, csp_emit *out)
{
    (void)state;
    if (U(val) % 2) {
        csp_emit_drop(out, val);
        return CSP_OK;
    }
    return csp_emit_value(out, val);
}

/* twice: emits each value two times. */
static int twice_step(void *state, void *val, csp_emit *out)
{
    int r = csp_emit_value(out, val);

    (void)state;
    return r != CSP_OK ? r : csp_emit_value(out, val);
}

static csp_xform *mkxf(csp_xf_step_fn step)
{
    csp_xform *xf;

    ASSERT_OK(csp_xform_new(&xf, test_rt, NULL, step, NULL, NULL, NULL, NULL));
    return xf;
}

static csp_chan *mkchan_xf(int buf, size_t cap, csp_xform *xf, struct drops *d,
                           csp_exh_fn exh)
{
    csp_chan *ch;

    ASSERT_OK(csp_chan_new_xf(&ch, test_rt, buf, cap, d ? record_drop : NULL, d,
                              xf, exh, NULL));
    return ch;
}

/* take(N): passes N values, then stops. State: the count left. */
static int take_init(void *ud, void **state)
{
    long *left = malloc(sizeof *left);

    if (!left)
        return CSP_ENOMEM;
    *left = (long)U(ud);
    *state = left;
    return CSP_OK;
}

static int take_step(void *state, void *val, csp_emit *out)
{
    long *left = state;
    int r = csp_emit_value(out, val);

    if (r != CSP_OK)
        return r;
    return --*left == 0 ? CSP_REDUCED : CSP_OK;
}

static _Atomic int fini_calls;

static void free_state(void *state, csp_emit *out)
{
    (void)out;
    atomic_fetch_add(&fini_calls, 1);
    free(state);
}

static csp_xform *mktake(long n)
{
    csp_xform *xf;

    ASSERT_OK(csp_xform_new(&xf, test_rt, take_init, take_step, NULL,
                            free_state, V(n), NULL));
    return xf;
}

/* pairsum: emits the sum of each two values; completion flushes a lone
 * held value; fini hands back a value still held. */
struct pair {
    void *held;
};

static _Atomic int complete_calls;

static int pair_init(void *ud, void **state)
{
    (void)ud;
    *state = calloc(1, sizeof(struct pair));
    return *state ? CSP_OK : CSP_ENOMEM;
}

static int pair_step(void *state, void *val, csp_emit *out)
{
    struct pair *p = state;
    void *a = p->held;

    if (!a) {
        p->held = val;
        return CSP_OK;
    }
    p->held = NULL;
    return csp_emit_value(out, V(U(a) + U(val)));
}

static int pair_complete(void *state, csp_emit *out)
{
    struct pair *p = state;
    void *a = p->held;

    atomic_fetch_add(&complete_calls, 1);
    p->held = NULL;
    return a ? csp_emit_value(out, a) : CSP_OK;
}

static void pair_fini(void *state, csp_emit *out)
{
    struct pair *p = state;

    if (p->held)
        csp_emit_drop(out, p->held);
    free(p);
}

static csp_xform *mkpair(void)
{
    csp_xform *xf;

    ASSERT_OK(csp_xform_new(&xf, test_rt, pair_init, pair_step, pair_complete,
                            pair_fini, NULL, NULL));
    return xf;
}

static void *exh_1000(void *ud, int err)
{
    (void)ud;
    ASSERT_EQ(CSP_EINVAL, err);
    return V(1000);
}

static void *exh_null(void *ud, int err)
{
    (void)ud;
    (void)err;
    return NULL;
}

static void ignore_done(void *ud, int rc, void *val)
{
    (void)ud;
    (void)rc;
    (void)val;
}

static void *poll1(csp_chan *ch)
{
    void *v = NULL;

    ASSERT_OK(csp_chan_poll(ch, &v));
    return v;
}

/* Counts the values a pending take received. */
struct got {
    _Atomic int calls;
    int rc;
    void *val;
};

static void note_got(void *ud, int rc, void *val)
{
    struct got *g = ud;

    g->rc = rc;
    g->val = val;
    atomic_fetch_add(&g->calls, 1);
}

static _Atomic int counted_steps;

/* inc, counting its calls. */
static int counted_inc_step(void *state, void *val, csp_emit *out)
{
    atomic_fetch_add(&counted_steps, 1);
    return inc_step(state, val, out);
}

/* ------------------------------------------------------------------------
 * Steps. */

TEST(xform_map_transforms_each_value)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 4, xf, NULL, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_put_blocking(ch, V(5), CSP_FOREVER));
    ASSERT_EQ(2, U(poll1(ch)));
    ASSERT_EQ(6, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_filter_hands_dropped_values_to_drop_hook)
{
    struct drops d = {0};
    csp_xform *xf = mkxf(even_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 4, xf, &d, NULL);
    void *v;

    csp_xform_release(xf);
    for (uintptr_t i = 1; i <= 4; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    ASSERT_EQ(2, atomic_load(&d.n));
    ASSERT_EQ(4, atomic_load(&d.sum)); /* 1 + 3 */
    ASSERT_EQ(2, U(poll1(ch)));
    ASSERT_EQ(4, U(poll1(ch)));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(xform_step_emitting_many_fills_buffer_past_capacity)
{
    csp_xform *xf = mkxf(twice_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 1, xf, NULL, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(7)));
    ASSERT_EQ(2, csp_chan_count(ch));
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(ch, V(8))); /* full: puts wait */
    ASSERT_EQ(7, U(poll1(ch)));
    ASSERT_EQ(7, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_pending_put_is_transformed_when_room_appears)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 1, xf, NULL, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(10), csp_exec_inline(),
                                           ignore_done, NULL, NULL));
    ASSERT_EQ(2, U(poll1(ch)));
    ASSERT_EQ(11, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_pending_take_gets_transformed_value)
{
    csp_xform *xf = mkxf(dbl_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 1, xf, NULL, NULL);
    void *v = NULL;

    csp_xform_release(xf);
    ASSERT_RC(CSP_ETIMEDOUT, csp_chan_take_blocking(ch, &v, 1));
    ASSERT_OK(csp_chan_offer(ch, V(21)));
    ASSERT_OK(csp_chan_take_blocking(ch, &v, CSP_FOREVER));
    ASSERT_EQ(42, U(v));
    csp_chan_release(ch);
}

TEST(xform_on_sliding_buffer_never_makes_put_wait)
{
    csp_xform *xf = mkxf(twice_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_SLIDING, 2, xf, NULL, NULL);

    csp_xform_release(xf);
    for (uintptr_t i = 1; i <= 5; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    ASSERT_EQ(5, U(poll1(ch)));
    ASSERT_EQ(5, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_on_dropping_buffer_never_makes_put_wait)
{
    struct drops d = {0};
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_DROPPING, 2, xf, &d, NULL);

    csp_xform_release(xf);
    for (uintptr_t i = 1; i <= 5; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    ASSERT_EQ(3, atomic_load(&d.n));
    ASSERT_EQ(2, U(poll1(ch)));
    ASSERT_EQ(3, U(poll1(ch)));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Early termination. */

TEST(xform_reduced_closes_the_channel_after_the_step)
{
    csp_xform *xf = mktake(2);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 4, xf, NULL, NULL);
    void *v;

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_EQ(0, csp_chan_closed(ch));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_offer(ch, V(3)));
    ASSERT_EQ(1, U(poll1(ch)));
    ASSERT_EQ(2, U(poll1(ch)));
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(xform_reduced_completes_pending_puts_with_success_and_drops_values)
{
    struct drops d = {0};
    csp_xform *xf = mktake(2);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 1, xf, &d, NULL);
    void *v;

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(2), csp_exec_inline(),
                                           ignore_done, NULL, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(3), csp_exec_inline(),
                                           ignore_done, NULL, NULL));
    /* Taking 1 lets 2 in, which ends the transform: 3's put succeeds,
     * its value discarded. */
    ASSERT_EQ(1, U(poll1(ch)));
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_EQ(0, pending_puts(ch));
    ASSERT_EQ(1, atomic_load(&d.n));
    ASSERT_EQ(3, d.first[0]);
    ASSERT_EQ(2, U(poll1(ch)));
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(xform_state_is_fresh_for_each_channel)
{
    csp_xform *xf = mktake(1);
    csp_chan *a = mkchan_xf(CSP_BUF_FIXED, 2, xf, NULL, NULL);
    csp_chan *b = mkchan_xf(CSP_BUF_FIXED, 2, xf, NULL, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(a, V(1)));
    ASSERT_EQ(1, csp_chan_closed(a));
    ASSERT_EQ(0, csp_chan_closed(b));
    ASSERT_OK(csp_chan_offer(b, V(1)));
    ASSERT_EQ(1, csp_chan_closed(b));
    csp_chan_release(a);
    csp_chan_release(b);
}

/* ------------------------------------------------------------------------
 * Completion. */

TEST(xform_completion_flushes_exactly_once_at_close)
{
    csp_xform *xf = mkpair();
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 4, xf, NULL, NULL);
    void *v;

    csp_xform_release(xf);
    atomic_store(&complete_calls, 0);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_OK(csp_chan_offer(ch, V(5)));
    ASSERT_EQ(1, csp_chan_count(ch));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(1, atomic_load(&complete_calls));
    ASSERT_EQ(3, U(poll1(ch)));
    ASSERT_EQ(5, U(poll1(ch)));
    for (int i = 0; i < 3; i++)
        ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(1, atomic_load(&complete_calls));
    csp_chan_release(ch);
}

TEST(xform_completion_waits_for_pending_puts_after_close)
{
    csp_xform *xf = mkpair();
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 1, xf, NULL, NULL);
    void *v;

    csp_xform_release(xf);
    atomic_store(&complete_calls, 0);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2))); /* buffer: [3] */
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(10), csp_exec_inline(),
                                           ignore_done, NULL, NULL));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(3, U(poll1(ch)));  /* lets 10 in: held by the step */
    ASSERT_EQ(10, U(poll1(ch))); /* flushed by the completion */
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    ASSERT_EQ(1, atomic_load(&complete_calls));
    csp_chan_release(ch);
}

TEST(xform_fini_hands_held_values_to_drop_hook_at_free)
{
    struct drops d = {0};
    csp_xform *xf = mkpair();
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 2, xf, &d, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(9))); /* held, never flushed */
    csp_chan_release(ch);
    ASSERT_EQ(1, atomic_load(&d.n));
    ASSERT_EQ(9, d.first[0]);
}

/* ------------------------------------------------------------------------
 * Errors and the exception handler. */

TEST(xform_step_error_adds_handler_value_untransformed)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 4, xf, NULL, exh_1000);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(13)));
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_EQ(1000, U(poll1(ch)));
    ASSERT_EQ(2, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_step_error_without_handler_adds_nothing_and_put_succeeds)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 4, xf, NULL, NULL);
    void *v;

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_put_blocking(ch, V(13), CSP_FOREVER));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    ASSERT_EQ(0, csp_chan_closed(ch));
    csp_chan_release(ch);
}

TEST(xform_handler_returning_null_adds_nothing)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 4, xf, NULL, exh_null);
    void *v;

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(13)));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

static int failing_complete(void *state, csp_emit *out)
{
    (void)state;
    (void)out;
    return CSP_EINVAL;
}

TEST(xform_completion_error_goes_to_handler)
{
    csp_xform *xf;
    csp_chan *ch;
    void *v;

    ASSERT_OK(csp_xform_new(&xf, test_rt, NULL, dbl_step, failing_complete,
                            NULL, NULL, NULL));
    ch = mkchan_xf(CSP_BUF_FIXED, 2, xf, NULL, exh_1000);
    csp_xform_release(xf);
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(1000, U(poll1(ch)));
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

static int init_fails(void *ud, void **state)
{
    (void)ud;
    (void)state;
    return CSP_EPERM;
}

TEST(chan_new_xf_returns_the_init_error_and_leaks_nothing)
{
    long before = test_live_allocs();
    csp_xform *xf;
    csp_chan *ch = NULL;

    ASSERT_OK(csp_xform_new(&xf, test_rt, init_fails, dbl_step, NULL, NULL,
                            NULL, NULL));
    ASSERT_RC(CSP_EPERM, csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, 1, NULL,
                                         NULL, xf, NULL, NULL));
    csp_xform_release(xf);
    ASSERT_EQ(before, test_live_allocs());
}

/* ------------------------------------------------------------------------
 * Composition. */

TEST(xform_comp_applies_outermost_first)
{
    csp_xform *inc = mkxf(inc_step), *dbl = mkxf(dbl_step), *both;
    csp_xform *parts[2] = {inc, dbl};
    csp_chan *ch;

    ASSERT_OK(csp_xform_comp(&both, parts, 2));
    csp_xform_release(inc);
    csp_xform_release(dbl);
    ch = mkchan_xf(CSP_BUF_FIXED, 2, both, NULL, NULL);
    csp_xform_release(both);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_EQ(4, U(poll1(ch))); /* (1 + 1) * 2 */
    csp_chan_release(ch);
}

TEST(xform_comp_with_take_stops_the_whole_chain)
{
    csp_xform *dbl = mkxf(dbl_step), *take = mktake(2), *both;
    csp_xform *parts[2] = {dbl, take};
    csp_chan *ch;

    ASSERT_OK(csp_xform_comp(&both, parts, 2));
    csp_xform_release(dbl);
    csp_xform_release(take);
    ch = mkchan_xf(CSP_BUF_FIXED, 4, both, NULL, NULL);
    csp_xform_release(both);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_EQ(2, U(poll1(ch)));
    ASSERT_EQ(4, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_comp_rejects_bad_arguments)
{
    csp_xform *a = mkxf(inc_step), *out;
    csp_xform *with_null[2] = {a, NULL};

    ASSERT_RC(CSP_EINVAL, csp_xform_comp(NULL, &a, 1));
    ASSERT_RC(CSP_EINVAL, csp_xform_comp(&out, &a, 0));
    ASSERT_RC(CSP_EINVAL, csp_xform_comp(&out, NULL, 1));
    ASSERT_RC(CSP_EINVAL, csp_xform_comp(&out, with_null, 2));
    csp_xform_release(a);
}

TEST(xform_comp_reports_enomem)
{
    csp_xform *a = mkxf(inc_step), *b = mkxf(dbl_step), *out = NULL;
    csp_xform *parts[2] = {a, b};
    long before = test_live_allocs();
    int rc = CSP_ENOMEM;

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_xform_comp(&out, parts, 2);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM)
            ASSERT_EQ(before, test_live_allocs());
    }
    ASSERT_OK(rc);
    csp_xform_release(out);
    ASSERT_EQ(before, test_live_allocs());
    csp_xform_release(a);
    csp_xform_release(b);
}

/* ------------------------------------------------------------------------
 * Creation, lifetimes, bad input. */

TEST(xform_new_rejects_bad_arguments)
{
    csp_xform *xf;

    ASSERT_RC(CSP_EINVAL, csp_xform_new(NULL, test_rt, NULL, inc_step, NULL,
                                        NULL, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_xform_new(&xf, NULL, NULL, inc_step, NULL, NULL, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_xform_new(&xf, test_rt, NULL, NULL, NULL, NULL, NULL, NULL));
}

TEST(xform_new_reports_enomem)
{
    long before = test_live_allocs();
    csp_xform *xf = NULL;

    test_fail_alloc_after(0);
    ASSERT_RC(CSP_ENOMEM, csp_xform_new(&xf, test_rt, NULL, inc_step, NULL,
                                        NULL, NULL, NULL));
    test_fail_alloc_after(-1);
    ASSERT_EQ(before, test_live_allocs());
}

TEST(chan_new_xf_rejects_bad_arguments)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch;

    ASSERT_RC(CSP_EINVAL, csp_chan_new_xf(&ch, test_rt, CSP_BUF_NONE, 0, NULL,
                                          NULL, xf, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_new_xf(&ch, test_rt, CSP_BUF_PROMISE, 1,
                                          NULL, NULL, xf, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, 0, NULL,
                                          NULL, xf, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, 1, NULL,
                                          NULL, NULL, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_new_xf(NULL, test_rt, CSP_BUF_FIXED, 1, NULL,
                                          NULL, xf, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_new_xf(&ch, NULL, CSP_BUF_FIXED, 1, NULL,
                                          NULL, xf, NULL, NULL));
    csp_xform_release(xf);
}

TEST(chan_new_xf_reports_enomem)
{
    csp_xform *xf = mktake(3);
    long before = test_live_allocs();
    csp_chan *ch = NULL;
    int rc = CSP_ENOMEM;

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, 4, NULL, NULL, xf,
                             NULL, NULL);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM)
            ASSERT_EQ(before, test_live_allocs());
    }
    ASSERT_OK(rc);
    csp_chan_release(ch);
    ASSERT_EQ(before, test_live_allocs());
    csp_xform_release(xf);
}

static _Atomic int ud_frees;

static void count_ud_free(void *ud)
{
    (void)ud;
    atomic_fetch_add(&ud_frees, 1);
}

TEST(xform_data_is_freed_once_when_last_user_goes)
{
    csp_xform *xf;
    csp_chan *a, *b;

    atomic_store(&ud_frees, 0);
    atomic_store(&fini_calls, 0);
    ASSERT_OK(csp_xform_new(&xf, test_rt, take_init, take_step, NULL,
                            free_state, V(5), count_ud_free));
    a = mkchan_xf(CSP_BUF_FIXED, 1, xf, NULL, NULL);
    b = mkchan_xf(CSP_BUF_FIXED, 1, xf, NULL, NULL);
    ASSERT_PTR_EQ(xf, csp_xform_retain(xf));
    csp_xform_release(xf);
    csp_xform_release(xf);
    ASSERT_EQ(0, atomic_load(&ud_frees));
    csp_chan_release(a);
    ASSERT_EQ(1, atomic_load(&fini_calls));
    ASSERT_EQ(0, atomic_load(&ud_frees));
    csp_chan_release(b);
    ASSERT_EQ(2, atomic_load(&fini_calls));
    ASSERT_EQ(1, atomic_load(&ud_frees));
}

TEST(xform_retain_and_release_accept_null)
{
    ASSERT_NULL(csp_xform_retain(NULL));
    csp_xform_release(NULL);
}

static _Atomic int emit_null_rc;

static int emit_null_step(void *state, void *val, csp_emit *out)
{
    (void)state;
    atomic_store(&emit_null_rc, csp_emit_value(out, NULL));
    return csp_emit_value(out, val);
}

TEST(emit_value_rejects_null_value)
{
    csp_xform *xf = mkxf(emit_null_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_FIXED, 2, xf, NULL, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(4)));
    ASSERT_EQ(CSP_EINVAL, atomic_load(&emit_null_rc));
    ASSERT_EQ(1, csp_chan_count(ch));
    ASSERT_EQ(4, U(poll1(ch)));
    ASSERT_RC(CSP_EINVAL, csp_emit_value(NULL, V(1)));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Promise channels with a transform (core.async's promise-chan xform): the
 * first value the transform emits becomes the promise. */

TEST(xform_promise_keeps_first_emitted_value_for_every_taker)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, NULL, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(2, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_promise_stays_empty_until_the_transform_emits)
{
    struct drops d = {0};
    csp_xform *xf = mkxf(even_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, &d, NULL);
    void *v;

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_EQ(1, atomic_load(&d.n));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    ASSERT_EQ(0, csp_chan_count(ch));
    ASSERT_OK(csp_chan_offer(ch, V(4)));
    ASSERT_EQ(4, U(poll1(ch)));
    ASSERT_EQ(1, csp_chan_count(ch));
    csp_chan_release(ch);
}

TEST(xform_promise_drops_later_puts_without_running_the_step)
{
    struct drops d = {0};
    csp_xform *xf = mkxf(counted_inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, &d, NULL);

    csp_xform_release(xf);
    atomic_store(&counted_steps, 0);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(5)));
    ASSERT_OK(csp_chan_put_blocking(ch, V(6), CSP_FOREVER));
    ASSERT_EQ(1, atomic_load(&counted_steps));
    ASSERT_EQ(2, atomic_load(&d.n));
    ASSERT_EQ(11, atomic_load(&d.sum));
    ASSERT_EQ(2, U(poll1(ch)));
    csp_chan_release(ch);
    ASSERT_EQ(3, atomic_load(&d.n)); /* the promise, at free */
}

TEST(xform_promise_completes_every_pending_taker_with_the_emitted_value)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, NULL, NULL);
    struct got g[3] = {{0}, {0}, {0}};
    void *v;

    csp_xform_release(xf);
    for (int i = 0; i < 3; i++)
        ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                                note_got, &g[i], NULL));
    ASSERT_OK(csp_chan_offer(ch, V(9)));
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(1, atomic_load(&g[i].calls));
        ASSERT_EQ(CSP_OK, g[i].rc);
        ASSERT_EQ(10, U(g[i].val));
    }
    csp_chan_release(ch);
}

TEST(xform_promise_completion_value_reaches_pending_takers_at_close)
{
    csp_xform *xf = mkpair();
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, NULL, NULL);
    struct got g = {0};
    void *v;

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(3))); /* held by the pair step */
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                            note_got, &g, NULL));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(1, atomic_load(&g.calls));
    ASSERT_EQ(CSP_OK, g.rc);
    ASSERT_EQ(3, U(g.val));
    ASSERT_EQ(3, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_promise_closed_without_a_value_completes_takers_with_eclosed)
{
    csp_xform *xf = mkxf(even_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, NULL, NULL);
    struct got g = {0};
    void *v;

    csp_xform_release(xf);
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                            note_got, &g, NULL));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(CSP_ECLOSED, g.rc);
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(xform_promise_reduced_closes_and_keeps_the_value)
{
    csp_xform *xf = mktake(1);
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, NULL, NULL);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(8)));
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_offer(ch, V(9)));
    ASSERT_EQ(8, U(poll1(ch)));
    ASSERT_EQ(8, U(poll1(ch)));
    csp_chan_release(ch);
}

TEST(xform_promise_step_error_makes_the_handler_value_the_promise)
{
    csp_xform *xf = mkxf(inc_step);
    csp_chan *ch = mkchan_xf(CSP_BUF_PROMISE, 0, xf, NULL, exh_1000);

    csp_xform_release(xf);
    ASSERT_OK(csp_chan_offer(ch, V(13)));
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_EQ(1000, U(poll1(ch)));
    csp_chan_release(ch);
}
