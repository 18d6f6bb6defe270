/* test_ops_xf.c - the built-in transforms on channels. */
#include "ops_util.h"

static csp_chan *with(csp_xform *xf, size_t cap, struct drops *d)
{
    csp_chan *ch;

    ASSERT_OK(csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, cap,
                              d ? record_drop : NULL, d, xf, NULL, NULL));
    csp_xform_release(xf);
    return ch;
}

static void feed(csp_chan *ch, uintptr_t from, uintptr_t to)
{
    for (uintptr_t i = from; i <= to; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
}

static uintptr_t next(csp_chan *ch)
{
    void *v = NULL;

    ASSERT_OK(csp_chan_poll(ch, &v));
    return U(v);
}

static void nothing_left(csp_chan *ch)
{
    void *v;

    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
}

TEST(xf_map_applies_function)
{
    csp_xform *xf;

    ASSERT_OK(csp_xf_map(&xf, test_rt, plus_one, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    feed(ch, 1, 3);
    ASSERT_EQ(2, next(ch));
    ASSERT_EQ(3, next(ch));
    ASSERT_EQ(4, next(ch));
    csp_chan_release(ch);
}

static void *null_on_two(void *ud, void *v)
{
    (void)ud;
    return U(v) == 2 ? NULL : v;
}

static void *exh_99(void *ud, int err)
{
    (void)ud;
    ASSERT_EQ(CSP_EINVAL, err);
    return V(99);
}

TEST(xf_map_returning_null_goes_to_exception_handler)
{
    csp_xform *xf;
    csp_chan *ch;

    ASSERT_OK(csp_xf_map(&xf, test_rt, null_on_two, NULL));
    ASSERT_OK(csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, 8, NULL, NULL, xf,
                              exh_99, NULL));
    csp_xform_release(xf);
    feed(ch, 1, 3);
    ASSERT_EQ(1, next(ch));
    ASSERT_EQ(99, next(ch));
    ASSERT_EQ(3, next(ch));
    csp_chan_release(ch);
}

TEST(xf_filter_keeps_matching_and_drops_others)
{
    struct drops d = {0};
    csp_xform *xf;

    ASSERT_OK(csp_xf_filter(&xf, test_rt, is_even, NULL));
    csp_chan *ch = with(xf, 8, &d);
    feed(ch, 1, 6);
    ASSERT_EQ(2, next(ch));
    ASSERT_EQ(4, next(ch));
    ASSERT_EQ(6, next(ch));
    nothing_left(ch);
    ASSERT_EQ(3, atomic_load(&d.n));
    csp_chan_release(ch);
}

TEST(xf_remove_drops_matching)
{
    csp_xform *xf;

    ASSERT_OK(csp_xf_remove(&xf, test_rt, is_even, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    feed(ch, 1, 4);
    ASSERT_EQ(1, next(ch));
    ASSERT_EQ(3, next(ch));
    nothing_left(ch);
    csp_chan_release(ch);
}

static int repeat_n(void *ud, void *v, csp_emit *out)
{
    (void)ud;
    for (uintptr_t i = 0; i < U(v); i++) {
        int r = csp_emit_value(out, v);
        if (r != CSP_OK)
            return r;
    }
    if (U(v) == 0)
        csp_emit_drop(out, v);
    return CSP_OK;
}

TEST(xf_mapcat_emits_each_expansion)
{
    csp_xform *xf;

    ASSERT_OK(csp_xf_mapcat(&xf, test_rt, repeat_n, NULL));
    csp_chan *ch = with(xf, 1, NULL);
    feed(ch, 2, 2);
    ASSERT_EQ(2, csp_chan_count(ch));
    ASSERT_EQ(2, next(ch));
    ASSERT_EQ(2, next(ch));
    csp_chan_release(ch);
}

static void *odd_times_ten(void *ud, void *v)
{
    (void)ud;
    return U(v) % 2 ? V(U(v) * 10) : NULL;
}

TEST(xf_keep_passes_non_null_results)
{
    struct drops d = {0};
    csp_xform *xf;

    ASSERT_OK(csp_xf_keep(&xf, test_rt, odd_times_ten, NULL));
    csp_chan *ch = with(xf, 8, &d);
    feed(ch, 1, 4);
    ASSERT_EQ(10, next(ch));
    ASSERT_EQ(30, next(ch));
    nothing_left(ch);
    ASSERT_EQ(4, atomic_load(&d.n)); /* 2, 4, and the replaced 1, 3 */
    csp_chan_release(ch);
}

TEST(xf_take_passes_n_then_closes)
{
    csp_xform *xf;
    void *v;

    ASSERT_OK(csp_xf_take(&xf, test_rt, 2));
    csp_chan *ch = with(xf, 8, NULL);
    feed(ch, 1, 2);
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_offer(ch, V(3)));
    ASSERT_EQ(1, next(ch));
    ASSERT_EQ(2, next(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(xf_take_zero_closes_at_first_value)
{
    struct drops d = {0};
    csp_xform *xf;
    void *v;

    ASSERT_OK(csp_xf_take(&xf, test_rt, 0));
    csp_chan *ch = with(xf, 8, &d);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    ASSERT_EQ(1, atomic_load(&d.n));
    csp_chan_release(ch);
}

static int below_three(void *ud, void *v)
{
    (void)ud;
    return U(v) < 3;
}

TEST(xf_take_while_stops_at_first_failure)
{
    csp_xform *xf;

    ASSERT_OK(csp_xf_take_while(&xf, test_rt, below_three, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    feed(ch, 1, 3);
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_EQ(1, next(ch));
    ASSERT_EQ(2, next(ch));
    csp_chan_release(ch);
}

TEST(xf_drop_skips_first_n)
{
    csp_xform *xf;

    ASSERT_OK(csp_xf_drop(&xf, test_rt, 2));
    csp_chan *ch = with(xf, 8, NULL);
    feed(ch, 1, 4);
    ASSERT_EQ(3, next(ch));
    ASSERT_EQ(4, next(ch));
    nothing_left(ch);
    csp_chan_release(ch);
}

TEST(xf_drop_while_skips_until_first_failure)
{
    csp_xform *xf;

    ASSERT_OK(csp_xf_drop_while(&xf, test_rt, below_three, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    feed(ch, 1, 4);
    ASSERT_OK(csp_chan_offer(ch, V(1))); /* passes: the predicate is done */
    ASSERT_EQ(3, next(ch));
    ASSERT_EQ(4, next(ch));
    ASSERT_EQ(1, next(ch));
    csp_chan_release(ch);
}

TEST(xf_partition_all_groups_and_flushes_rest_at_close)
{
    csp_xform *xf;

    ASSERT_OK(csp_xf_partition_all(&xf, test_rt, 2, pack_sum, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    feed(ch, 1, 5);
    ASSERT_EQ(2, csp_chan_count(ch));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(3002, next(ch)); /* 1+2 */
    ASSERT_EQ(7002, next(ch)); /* 3+4 */
    ASSERT_EQ(5001, next(ch)); /* 5, flushed */
    csp_chan_release(ch);
}

static uint64_t tens(void *ud, void *v)
{
    (void)ud;
    return U(v) / 10;
}

TEST(xf_partition_by_groups_runs_of_equal_keys)
{
    csp_xform *xf;
    uintptr_t in[] = {11, 12, 21, 22, 23, 31};

    ASSERT_OK(csp_xf_partition_by(&xf, test_rt, tens, pack_sum, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    for (size_t i = 0; i < 6; i++)
        ASSERT_OK(csp_chan_offer(ch, V(in[i])));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(23002, next(ch));
    ASSERT_EQ(66003, next(ch));
    ASSERT_EQ(31001, next(ch));
    csp_chan_release(ch);
}

TEST(xf_partition_held_values_dropped_when_channel_freed)
{
    struct drops d = {0};
    csp_xform *xf;

    ASSERT_OK(csp_xf_partition_all(&xf, test_rt, 10, pack_sum, NULL));
    csp_chan *ch = with(xf, 8, &d);
    feed(ch, 1, 3);
    csp_chan_release(ch);
    ASSERT_EQ(3, atomic_load(&d.n));
}

TEST(xf_dedupe_drops_consecutive_duplicates)
{
    csp_xform *xf;
    uintptr_t in[] = {1, 1, 2, 2, 1, 3, 3};

    ASSERT_OK(csp_xf_dedupe(&xf, test_rt, NULL, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    for (size_t i = 0; i < 7; i++)
        ASSERT_OK(csp_chan_offer(ch, V(in[i])));
    ASSERT_EQ(1, next(ch));
    ASSERT_EQ(2, next(ch));
    ASSERT_EQ(1, next(ch));
    ASSERT_EQ(3, next(ch));
    nothing_left(ch);
    csp_chan_release(ch);
}

TEST(xf_distinct_drops_any_value_seen_before)
{
    csp_xform *xf;
    uintptr_t in[] = {1, 2, 1, 3, 2, 4};

    ASSERT_OK(csp_xf_distinct(&xf, test_rt, NULL, NULL));
    csp_chan *ch = with(xf, 8, NULL);
    for (size_t i = 0; i < 6; i++)
        ASSERT_OK(csp_chan_offer(ch, V(in[i])));
    ASSERT_EQ(1, next(ch));
    ASSERT_EQ(2, next(ch));
    ASSERT_EQ(3, next(ch));
    ASSERT_EQ(4, next(ch));
    nothing_left(ch);
    csp_chan_release(ch);
}

TEST(xf_distinct_by_key_over_many_values)
{
    csp_xform *xf;
    void *v;
    long got = 0;

    ASSERT_OK(csp_xf_distinct(&xf, test_rt, tens, NULL));
    csp_chan *ch = with(xf, 4096, NULL);
    for (uintptr_t i = 1; i <= 20000; i++) {
        ASSERT_OK(csp_chan_offer(ch, V(i)));
        while (csp_chan_poll(ch, &v) == CSP_OK) {
            ASSERT_TRUE(U(v) == 1 || U(v) % 10 == 0);
            got++;
        }
    }
    ASSERT_EQ(2001, got); /* keys 0..2000, each once */
    csp_chan_release(ch);
}

TEST(xf_comp_of_builtins_runs_in_order)
{
    csp_xform *f, *m, *t, *all;

    ASSERT_OK(csp_xf_filter(&f, test_rt, is_even, NULL));
    ASSERT_OK(csp_xf_map(&m, test_rt, plus_one, NULL));
    ASSERT_OK(csp_xf_take(&t, test_rt, 2));
    csp_xform *parts[3] = {f, m, t};
    ASSERT_OK(csp_xform_comp(&all, parts, 3));
    csp_xform_release(f);
    csp_xform_release(m);
    csp_xform_release(t);
    csp_chan *ch = with(all, 8, NULL);
    feed(ch, 1, 4);
    ASSERT_EQ(1, csp_chan_closed(ch));
    ASSERT_EQ(3, next(ch));
    ASSERT_EQ(5, next(ch));
    csp_chan_release(ch);
}

TEST(xf_builtins_reject_bad_arguments)
{
    csp_xform *xf;

    ASSERT_RC(CSP_EINVAL, csp_xf_map(NULL, test_rt, plus_one, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_map(&xf, NULL, plus_one, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_map(&xf, test_rt, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_filter(&xf, test_rt, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_remove(&xf, test_rt, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_mapcat(&xf, test_rt, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_keep(&xf, test_rt, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_take_while(&xf, test_rt, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_drop_while(&xf, test_rt, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_xf_partition_all(&xf, test_rt, 0, pack_sum, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_partition_all(&xf, test_rt, 2, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_partition_by(&xf, test_rt, tens, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_take(NULL, test_rt, 1));
    ASSERT_RC(CSP_EINVAL, csp_xf_dedupe(&xf, NULL, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_xf_distinct(NULL, test_rt, NULL, NULL));
}

TEST(xf_builtin_reports_enomem)
{
    long before = test_live_allocs();
    csp_xform *xf = NULL;

    test_fail_alloc_after(0);
    ASSERT_RC(CSP_ENOMEM, csp_xf_take(&xf, test_rt, 3));
    test_fail_alloc_after(-1);
    ASSERT_EQ(before, test_live_allocs());
    ASSERT_OK(csp_xf_take(&xf, test_rt, 3));
    csp_xform_release(xf);
}
