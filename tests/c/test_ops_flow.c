/* test_ops_flow.c - pipe, onto_chan, to_chan, into, reduce, transduce,
 * merge, split, channel-level map and take. */
#include "ops_util.h"

/* ------------------------------------------------------------------------
 * pipe */

TEST(pipe_moves_values_and_closes_target)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 4), *b = mkchan(CSP_BUF_NONE, 0);

    ASSERT_OK(csp_pipe(test_rt, a, b, 1));
    put8(a, 1);
    put8(a, 2);
    ASSERT_OK(csp_chan_close(a));
    ASSERT_EQ(1, take_val(b));
    ASSERT_EQ(2, take_val(b));
    expect_closed(b);
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(pipe_without_close_leaves_target_open)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 4), *b = mkchan(CSP_BUF_FIXED, 4);

    ASSERT_OK(csp_pipe(test_rt, a, b, 0));
    put8(a, 1);
    ASSERT_OK(csp_chan_close(a));
    ASSERT_EQ(1, take_val(b));
    ASSERT_EQ(0, csp_chan_closed(b));
    ASSERT_OK(csp_chan_offer(b, V(5)));
    ASSERT_EQ(5, take_val(b));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(pipe_stops_when_target_closes)
{
    struct drops d = {0};
    csp_chan *a, *b = mkchan(CSP_BUF_NONE, 0);

    ASSERT_OK(csp_chan_new(&a, test_rt, CSP_BUF_FIXED, 4, record_drop, &d));
    ASSERT_OK(csp_chan_close(b));
    ASSERT_OK(csp_pipe(test_rt, a, b, 1));
    put8(a, 1); /* taken by the pipe, refused by b, dropped */
    put8(a, 2);
    wait_count(a, 1);
    ASSERT_OK(csp_chan_close(a));
    csp_chan_release(a); /* 2 is still buffered: dropped at free */
    csp_chan_release(b);
    /* Only the pipe's reference kept a alive; it is gone now. */
    int64_t end = deadline_in(8 * SEC);
    while (atomic_load(&d.n) < 2) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
    ASSERT_EQ(3, atomic_load(&d.sum));
}

TEST(pipe_rejects_null_arguments)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0);

    ASSERT_RC(CSP_EINVAL, csp_pipe(NULL, a, a, 1));
    ASSERT_RC(CSP_EINVAL, csp_pipe(test_rt, NULL, a, 1));
    ASSERT_RC(CSP_EINVAL, csp_pipe(test_rt, a, NULL, 1));
    csp_chan_release(a);
}

/* ------------------------------------------------------------------------
 * onto_chan, to_chan */

TEST(onto_chan_puts_values_in_order_then_closes)
{
    void *vals[3] = {V(1), V(2), V(3)};
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *done;

    ASSERT_OK(csp_onto_chan(test_rt, ch, vals, 3, 1, &done));
    for (uintptr_t i = 1; i <= 3; i++)
        ASSERT_EQ(i, take_val(ch));
    expect_closed(ch);
    expect_closed(done);
    csp_chan_release(done);
    csp_chan_release(ch);
}

TEST(onto_chan_without_close_leaves_channel_open)
{
    void *vals[1] = {V(1)};
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2), *done;

    ASSERT_OK(csp_onto_chan(test_rt, ch, vals, 1, 0, &done));
    expect_closed(done);
    ASSERT_EQ(0, csp_chan_closed(ch));
    ASSERT_EQ(1, take_val(ch));
    csp_chan_release(done);
    csp_chan_release(ch);
}

TEST(onto_chan_rejects_null_values)
{
    void *vals[2] = {V(1), NULL};
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2);

    ASSERT_RC(CSP_EINVAL, csp_onto_chan(test_rt, ch, vals, 2, 1, NULL));
    ASSERT_RC(CSP_EINVAL, csp_onto_chan(test_rt, ch, NULL, 2, 1, NULL));
    ASSERT_RC(CSP_EINVAL, csp_onto_chan(test_rt, NULL, vals, 1, 1, NULL));
    ASSERT_RC(CSP_EINVAL, csp_onto_chan(NULL, ch, vals, 1, 1, NULL));
    csp_chan_release(ch);
}

TEST(to_chan_holds_the_values_then_closes)
{
    void *vals[150];
    csp_chan *ch;

    for (int i = 0; i < 150; i++)
        vals[i] = V(i + 1);
    ASSERT_OK(csp_to_chan(&ch, test_rt, vals, 150));
    for (uintptr_t i = 1; i <= 150; i++)
        ASSERT_EQ(i, take_val(ch));
    expect_closed(ch);
    csp_chan_release(ch);
}

TEST(to_chan_of_nothing_is_closed_and_empty)
{
    csp_chan *ch;

    ASSERT_OK(csp_to_chan(&ch, test_rt, NULL, 0));
    expect_closed(ch);
    csp_chan_release(ch);
    ASSERT_RC(CSP_EINVAL, csp_to_chan(NULL, test_rt, NULL, 0));
}

/* ------------------------------------------------------------------------
 * into, reduce, transduce */

TEST(into_packs_every_value_when_source_closes)
{
    void *vals[4] = {V(1), V(2), V(3), V(4)};
    csp_chan *src, *res;

    ASSERT_OK(csp_to_chan(&src, test_rt, vals, 4));
    ASSERT_OK(csp_into(&res, test_rt, src, pack_sum, NULL));
    ASSERT_EQ(10004, take_val(res));
    expect_closed(res);
    csp_chan_release(src);
    csp_chan_release(res);
}

TEST(into_of_empty_source_closes_without_value)
{
    csp_chan *src = mkchan(CSP_BUF_NONE, 0), *res;

    ASSERT_OK(csp_into(&res, test_rt, src, pack_sum, NULL));
    ASSERT_OK(csp_chan_close(src));
    expect_closed(res);
    csp_chan_release(src);
    csp_chan_release(res);
    ASSERT_RC(CSP_EINVAL, csp_into(&res, test_rt, NULL, pack_sum, NULL));
    ASSERT_RC(CSP_EINVAL, csp_into(&res, test_rt, src, NULL, NULL));
}

static void *add(void *ud, void *acc, void *v, int *stop)
{
    (void)ud;
    (void)stop;
    return V(U(acc) + U(v));
}

static void *add_until_over_5(void *ud, void *acc, void *v, int *stop)
{
    (void)ud;
    acc = V(U(acc) + U(v));
    *stop = U(acc) > 5;
    return acc;
}

TEST(reduce_folds_every_value)
{
    void *vals[4] = {V(1), V(2), V(3), V(4)};
    csp_chan *src, *res;

    ASSERT_OK(csp_to_chan(&src, test_rt, vals, 4));
    ASSERT_OK(csp_reduce(&res, test_rt, src, add, V(100), NULL));
    ASSERT_EQ(110, take_val(res));
    expect_closed(res);
    csp_chan_release(src);
    csp_chan_release(res);
}

TEST(reduce_stops_early_when_reduced)
{
    void *vals[4] = {V(1), V(2), V(3), V(4)};
    csp_chan *src, *res;

    ASSERT_OK(csp_to_chan(&src, test_rt, vals, 4));
    ASSERT_OK(csp_reduce(&res, test_rt, src, add_until_over_5, V(0), NULL));
    ASSERT_EQ(6, take_val(res));
    ASSERT_EQ(4, take_val(src)); /* left unread */
    csp_chan_release(src);
    csp_chan_release(res);
}

TEST(reduce_rejects_null_arguments)
{
    csp_chan *src = mkchan(CSP_BUF_NONE, 0), *res;

    ASSERT_RC(CSP_EINVAL, csp_reduce(NULL, test_rt, src, add, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_reduce(&res, NULL, src, add, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_reduce(&res, test_rt, NULL, add, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_reduce(&res, test_rt, src, NULL, NULL, NULL));
    csp_chan_release(src);
}

TEST(transduce_folds_transformed_values)
{
    void *vals[4] = {V(1), V(2), V(3), V(4)};
    csp_chan *src, *res;
    csp_xform *xf;

    ASSERT_OK(csp_xf_filter(&xf, test_rt, is_even, NULL));
    ASSERT_OK(csp_to_chan(&src, test_rt, vals, 4));
    ASSERT_OK(csp_transduce(&res, test_rt, src, xf, add, V(0), NULL));
    csp_xform_release(xf);
    ASSERT_EQ(6, take_val(res));
    expect_closed(res);
    csp_chan_release(src);
    csp_chan_release(res);
}

/* ------------------------------------------------------------------------
 * merge */

TEST(merge_delivers_every_value_and_closes_after_all_sources)
{
    csp_chan *src[3], *out;
    uintptr_t sum = 0;
    void *v;

    for (int i = 0; i < 3; i++)
        src[i] = mkchan(CSP_BUF_FIXED, 10);
    ASSERT_OK(csp_merge(&out, test_rt, src, 3, CSP_BUF_NONE, 0));
    for (int i = 0; i < 3; i++) {
        for (uintptr_t k = 1; k <= 10; k++)
            put8(src[i], k);
        ASSERT_OK(csp_chan_close(src[i]));
    }
    for (int n = 0; n < 30; n++)
        sum += take_val(out);
    ASSERT_EQ(3 * 55, sum);
    ASSERT_RC(CSP_ECLOSED, take8(out, &v));
    for (int i = 0; i < 3; i++)
        csp_chan_release(src[i]);
    csp_chan_release(out);
}

TEST(merge_keeps_draining_sources_after_output_closes)
{
    struct drops d = {0};
    csp_chan *src, *out;

    ASSERT_OK(csp_chan_new(&src, test_rt, CSP_BUF_NONE, 0, record_drop, &d));
    ASSERT_OK(csp_merge(&out, test_rt, &src, 1, CSP_BUF_NONE, 0));
    ASSERT_OK(csp_chan_close(out));
    for (uintptr_t k = 1; k <= 5; k++)
        put8(src, k); /* each is taken (and dropped): no put stalls */
    ASSERT_OK(csp_chan_close(src));
    int64_t end = deadline_in(8 * SEC);
    while (atomic_load(&d.n) < 5) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
    ASSERT_EQ(15, atomic_load(&d.sum));
    csp_chan_release(src);
    csp_chan_release(out);
}

TEST(merge_rejects_bad_arguments)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *out, *none[1] = {NULL};

    ASSERT_RC(CSP_EINVAL, csp_merge(&out, test_rt, &a, 0, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_EINVAL, csp_merge(&out, test_rt, none, 1, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_EINVAL, csp_merge(&out, test_rt, &a, 1, CSP_BUF_FIXED, 0));
    ASSERT_RC(CSP_EINVAL, csp_merge(NULL, test_rt, &a, 1, CSP_BUF_NONE, 0));
    csp_chan_release(a);
}

/* ------------------------------------------------------------------------
 * split, map, take */

TEST(split_routes_by_predicate_and_closes_both)
{
    void *vals[4] = {V(1), V(2), V(3), V(4)};
    csp_chan *src, *t, *f;

    ASSERT_OK(csp_to_chan(&src, test_rt, vals, 4));
    ASSERT_OK(csp_split(&t, &f, test_rt, src, is_even, NULL, CSP_BUF_FIXED, 4,
                        CSP_BUF_FIXED, 4));
    ASSERT_EQ(2, take_val(t));
    ASSERT_EQ(4, take_val(t));
    expect_closed(t);
    ASSERT_EQ(1, take_val(f));
    ASSERT_EQ(3, take_val(f));
    expect_closed(f);
    csp_chan_release(src);
    csp_chan_release(t);
    csp_chan_release(f);
}

TEST(split_rejects_bad_arguments)
{
    csp_chan *src = mkchan(CSP_BUF_NONE, 0), *t, *f;

    ASSERT_RC(CSP_EINVAL, csp_split(&t, &f, test_rt, src, NULL, NULL,
                                    CSP_BUF_NONE, 0, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_EINVAL, csp_split(&t, &f, test_rt, src, is_even, NULL,
                                    CSP_BUF_FIXED, 0, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_EINVAL, csp_split(NULL, &f, test_rt, src, is_even, NULL,
                                    CSP_BUF_NONE, 0, CSP_BUF_NONE, 0));
    csp_chan_release(src);
}

static void *sum_all(void *ud, void **vals, size_t n)
{
    uintptr_t s = 0;

    (void)ud;
    for (size_t i = 0; i < n; i++)
        s += U(vals[i]);
    return V(s);
}

TEST(map_combines_one_value_from_each_until_one_closes)
{
    void *a_vals[3] = {V(1), V(2), V(3)}, *b_vals[2] = {V(10), V(20)};
    csp_chan *src[2], *out;

    ASSERT_OK(csp_to_chan(&src[0], test_rt, a_vals, 3));
    ASSERT_OK(csp_to_chan(&src[1], test_rt, b_vals, 2));
    ASSERT_OK(csp_map(&out, test_rt, sum_all, NULL, src, 2, CSP_BUF_NONE, 0));
    ASSERT_EQ(11, take_val(out));
    ASSERT_EQ(22, take_val(out));
    expect_closed(out);
    csp_chan_release(src[0]);
    csp_chan_release(src[1]);
    csp_chan_release(out);
}

TEST(map_rejects_bad_arguments)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *out;

    ASSERT_RC(CSP_EINVAL,
              csp_map(&out, test_rt, NULL, NULL, &a, 1, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_EINVAL,
              csp_map(&out, test_rt, sum_all, NULL, &a, 0, CSP_BUF_NONE, 0));
    csp_chan_release(a);
}

TEST(take_passes_first_n_then_closes)
{
    void *vals[5] = {V(1), V(2), V(3), V(4), V(5)};
    csp_chan *src, *out;

    ASSERT_OK(csp_to_chan(&src, test_rt, vals, 5));
    ASSERT_OK(csp_take_n(&out, test_rt, 2, src, CSP_BUF_NONE, 0));
    ASSERT_EQ(1, take_val(out));
    ASSERT_EQ(2, take_val(out));
    expect_closed(out);
    ASSERT_EQ(3, take_val(src));
    csp_chan_release(src);
    csp_chan_release(out);
}

TEST(take_closes_early_when_source_closes)
{
    void *vals[1] = {V(1)};
    csp_chan *src, *out;

    ASSERT_OK(csp_to_chan(&src, test_rt, vals, 1));
    ASSERT_OK(csp_take_n(&out, test_rt, 5, src, CSP_BUF_FIXED, 2));
    ASSERT_EQ(1, take_val(out));
    expect_closed(out);
    csp_chan_release(src);
    csp_chan_release(out);
    ASSERT_RC(CSP_EINVAL, csp_take_n(&out, test_rt, 1, NULL, CSP_BUF_NONE, 0));
}

TEST(transduce_rejects_null_arguments)
{
    csp_chan *src = mkchan(CSP_BUF_NONE, 0), *res;
    csp_xform *xf;

    ASSERT_OK(csp_xf_take(&xf, test_rt, 1));
    ASSERT_RC(CSP_EINVAL,
              csp_transduce(&res, test_rt, src, NULL, add, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_transduce(&res, test_rt, src, xf, NULL, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_transduce(NULL, test_rt, src, xf, add, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_transduce(&res, test_rt, NULL, xf, add, NULL, NULL));
    csp_xform_release(xf);
    csp_chan_release(src);
}

TEST(combinators_report_enomem_and_leak_nothing)
{
    csp_chan *src = mkchan(CSP_BUF_NONE, 0), *out = NULL, *t = NULL, *f = NULL;
    long before = test_live_allocs();

    /* Each allocates a channel through the runtime's allocator first. */
    test_fail_alloc_after(0);
    ASSERT_RC(CSP_ENOMEM, csp_merge(&out, test_rt, &src, 1, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_ENOMEM, csp_split(&t, &f, test_rt, src, is_even, NULL,
                                    CSP_BUF_NONE, 0, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_ENOMEM, csp_take_n(&out, test_rt, 1, src, CSP_BUF_NONE, 0));
    ASSERT_RC(CSP_ENOMEM, csp_to_chan(&out, test_rt, NULL, 0));
    ASSERT_RC(CSP_ENOMEM, csp_reduce(&out, test_rt, src, add, NULL, NULL));
    test_fail_alloc_after(-1);
    ASSERT_EQ(before, test_live_allocs());
    csp_chan_release(src);
}

/* The old name stays one minor version (csp.h marks it deprecated). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(take_old_name_still_passes_the_first_n_values)
{
    csp_chan *src = mkchan(CSP_BUF_FIXED, 4), *out;
    void *v = NULL;

    for (uintptr_t i = 1; i <= 3; i++)
        ASSERT_OK(csp_chan_offer(src, V(i)));
    ASSERT_OK(csp_take(&out, test_rt, 2, src, CSP_BUF_NONE, 0));
    ASSERT_OK(take8(out, &v));
    ASSERT_EQ(1, U(v));
    ASSERT_OK(take8(out, &v));
    ASSERT_EQ(2, U(v));
    ASSERT_RC(CSP_ECLOSED, take8(out, &v));
    csp_chan_release(out);
    csp_chan_close(src);
    csp_chan_release(src);
}
#pragma GCC diagnostic pop
