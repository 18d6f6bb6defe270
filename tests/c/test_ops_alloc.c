/* test_ops_alloc.c - the combinators (core/ops/) allocate through the
 * runtime's allocator over their whole life, not only in their
 * constructors (which test_fault.c sweeps).
 *
 * Each combinator runs on a runtime of its own whose allocator counts
 * calls and live blocks, then forwards to test_alloc, which checks that
 * every free and realloc passes the size the block was allocated with:
 * made, fed values (so that the arrays its process grows do grow),
 * drained and released; afterwards every block is back. Then the
 * allocations a process makes while it runs (into's array, a pipeline's
 * job, a mult's round, a transform's partition and key set) are made to
 * fail, and the value they were for is dropped or reported, as it could
 * not be if they came from the C library. tests/check_ops_alloc.py checks
 * that core/ops calls no C library allocator at all.
 */
#include <stdio.h>

#include "ops_util.h"

struct counter {
    _Atomic long calls; /* allocations and growing reallocs */
    _Atomic long live;  /* blocks */
};

static void *count_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    struct counter *c = ud;
    void *p = test_alloc(NULL, ptr, old_size, new_size);

    if (new_size == 0) {
        if (ptr)
            atomic_fetch_sub(&c->live, 1);
        return p;
    }
    if (!ptr || new_size > old_size)
        atomic_fetch_add(&c->calls, 1);
    if (!ptr && p)
        atomic_fetch_add(&c->live, 1);
    return p;
}

static csp_chan *mk(csp_rt *rt, int buf, size_t cap)
{
    csp_chan *ch = NULL;

    ASSERT_OK(csp_chan_new(&ch, rt, buf, cap, NULL, NULL));
    return ch;
}

/* Put 1..N on CH, then close it if CLOSE. */
static void feed(csp_chan *ch, uintptr_t n, int close)
{
    for (uintptr_t i = 1; i <= n; i++)
        put8(ch, i);
    if (close)
        ASSERT_OK(csp_chan_close(ch));
}

/* Take from CH until it is closed; the number of values and their sum. */
static size_t drain(csp_chan *ch, uintptr_t *sum)
{
    size_t n = 0;
    void *v;

    if (sum)
        *sum = 0;
    while (take8(ch, &v) == CSP_OK) {
        n++;
        if (sum)
            *sum += U(v);
    }
    return n;
}

static void *add_acc(void *ud, void *acc, void *val, int *stop)
{
    (void)ud;
    (void)stop;
    return V(U(acc) + U(val));
}

static void *combine_sum(void *ud, void **vals, size_t n)
{
    uintptr_t s = 0;

    (void)ud;
    for (size_t i = 0; i < n; i++)
        s += U(vals[i]);
    return V(s);
}

static uint64_t parity(void *ud, void *val)
{
    (void)ud;
    return U(val) % 2;
}

static void async_copy(void *ud, void *val, csp_chan *res)
{
    (void)ud;
    ASSERT_OK(csp_chan_offer(res, val));
    ASSERT_OK(csp_chan_close(res));
}

/* ------------------------------------------------------------------------
 * Whole lives. */

static void life_pipe(csp_rt *rt)
{
    csp_chan *from = mk(rt, CSP_BUF_FIXED, 4), *to = mk(rt, CSP_BUF_FIXED, 4);

    ASSERT_OK(csp_pipe(rt, from, to, 1));
    feed(from, 3, 1);
    ASSERT_EQ(3, drain(to, NULL));
    csp_chan_release(from);
    csp_chan_release(to);
}

static void life_onto_chan(csp_rt *rt)
{
    csp_chan *ch = mk(rt, CSP_BUF_FIXED, 4), *done = NULL;
    void *vals[3] = {V(1), V(2), V(3)};

    ASSERT_OK(csp_onto_chan(rt, ch, vals, 3, 1, &done));
    ASSERT_EQ(0, drain(done, NULL));
    ASSERT_EQ(3, drain(ch, NULL));
    csp_chan_release(done);
    csp_chan_release(ch);
}

static void life_to_chan(csp_rt *rt)
{
    void *vals[3] = {V(1), V(2), V(3)};
    csp_chan *ch = NULL;

    ASSERT_OK(csp_to_chan(&ch, rt, vals, 3));
    ASSERT_EQ(3, drain(ch, NULL));
    csp_chan_release(ch);
}

/* 40 values: the process's array grows past its first 16 and 32. */
static void life_into(csp_rt *rt)
{
    csp_chan *src = mk(rt, CSP_BUF_FIXED, 4), *res = NULL;

    ASSERT_OK(csp_into(&res, rt, src, pack_sum, NULL));
    feed(src, 40, 1);
    ASSERT_EQ(820 * 1000 + 40, take_val(res));
    expect_closed(res);
    csp_chan_release(res);
    csp_chan_release(src);
}

static void life_reduce(csp_rt *rt)
{
    csp_chan *src = mk(rt, CSP_BUF_FIXED, 4), *res = NULL;

    ASSERT_OK(csp_reduce(&res, rt, src, add_acc, V(1), NULL));
    feed(src, 4, 1);
    ASSERT_EQ(11, take_val(res));
    expect_closed(res);
    csp_chan_release(res);
    csp_chan_release(src);
}

static void life_transduce(csp_rt *rt)
{
    csp_chan *src = mk(rt, CSP_BUF_FIXED, 4), *res = NULL;
    csp_xform *xf = NULL;

    ASSERT_OK(csp_xf_distinct(&xf, rt, NULL, NULL));
    ASSERT_OK(csp_transduce(&res, rt, src, xf, add_acc, V(0), NULL));
    csp_xform_release(xf);
    feed(src, 40, 1); /* distinct's key set grows past 16 and 32 */
    ASSERT_EQ(820, take_val(res));
    expect_closed(res);
    csp_chan_release(res);
    csp_chan_release(src);
}

static void life_merge(csp_rt *rt)
{
    csp_chan *in[2] = {mk(rt, CSP_BUF_FIXED, 4), mk(rt, CSP_BUF_FIXED, 4)};
    csp_chan *out = NULL;

    ASSERT_OK(csp_merge(&out, rt, in, 2, CSP_BUF_FIXED, 8));
    feed(in[0], 3, 1);
    feed(in[1], 3, 1);
    ASSERT_EQ(6, drain(out, NULL));
    csp_chan_release(out);
    csp_chan_release(in[0]);
    csp_chan_release(in[1]);
}

static void life_split(csp_rt *rt)
{
    csp_chan *src = mk(rt, CSP_BUF_FIXED, 4), *t = NULL, *f = NULL;

    ASSERT_OK(csp_split(&t, &f, rt, src, is_even, NULL, CSP_BUF_FIXED, 8,
                        CSP_BUF_FIXED, 8));
    feed(src, 6, 1);
    ASSERT_EQ(3, drain(t, NULL));
    ASSERT_EQ(3, drain(f, NULL));
    csp_chan_release(t);
    csp_chan_release(f);
    csp_chan_release(src);
}

static void life_map(csp_rt *rt)
{
    csp_chan *in[2] = {mk(rt, CSP_BUF_FIXED, 4), mk(rt, CSP_BUF_FIXED, 4)};
    csp_chan *out = NULL;
    uintptr_t sum;

    ASSERT_OK(csp_map(&out, rt, combine_sum, NULL, in, 2, CSP_BUF_FIXED, 8));
    feed(in[0], 3, 1);
    feed(in[1], 3, 1);
    ASSERT_EQ(3, drain(out, &sum));
    ASSERT_EQ(12, sum);
    csp_chan_release(out);
    csp_chan_release(in[0]);
    csp_chan_release(in[1]);
}

static void life_take(csp_rt *rt)
{
    csp_chan *src = mk(rt, CSP_BUF_FIXED, 4), *out = NULL;

    ASSERT_OK(csp_take_n(&out, rt, 2, src, CSP_BUF_FIXED, 4));
    feed(src, 2, 0);
    ASSERT_EQ(2, drain(out, NULL));
    ASSERT_OK(csp_chan_close(src));
    csp_chan_release(out);
    csp_chan_release(src);
}

/* Two taps: the process's round array grows. */
static void life_mult(csp_rt *rt)
{
    csp_chan *src = mk(rt, CSP_BUF_FIXED, 4);
    csp_chan *a = mk(rt, CSP_BUF_FIXED, 8), *b = mk(rt, CSP_BUF_FIXED, 8);
    csp_mult *m = NULL;

    ASSERT_OK(csp_mult_new(&m, rt, src));
    ASSERT_OK(csp_mult_tap(m, a, 1));
    ASSERT_OK(csp_mult_tap(m, b, 1));
    feed(src, 5, 1);
    ASSERT_EQ(5, drain(a, NULL));
    ASSERT_EQ(5, drain(b, NULL));
    csp_mult_release(m);
    csp_chan_release(a);
    csp_chan_release(b);
    csp_chan_release(src);
}

static void life_pub(csp_rt *rt)
{
    csp_chan *src = mk(rt, CSP_BUF_FIXED, 4);
    csp_chan *a = mk(rt, CSP_BUF_FIXED, 8), *b = mk(rt, CSP_BUF_FIXED, 8);
    csp_pub *p = NULL;

    ASSERT_OK(csp_pub_new(&p, rt, src, parity, NULL, NULL));
    ASSERT_OK(csp_pub_sub(p, 0, a, 1));
    ASSERT_OK(csp_pub_sub(p, 1, b, 1));
    feed(src, 6, 1);
    ASSERT_EQ(3, drain(a, NULL));
    ASSERT_EQ(3, drain(b, NULL));
    csp_pub_release(p);
    csp_chan_release(a);
    csp_chan_release(b);
    csp_chan_release(src);
}

/* Three inputs: the process's arrays grow past their first room. */
static void life_mix(csp_rt *rt)
{
    csp_chan *out = mk(rt, CSP_BUF_FIXED, 8), *in[3];
    csp_mix *m = NULL;

    ASSERT_OK(csp_mix_new(&m, rt, out));
    for (int i = 0; i < 3; i++) {
        in[i] = mk(rt, CSP_BUF_FIXED, 4);
        ASSERT_OK(csp_mix_admix(m, in[i]));
        feed(in[i], 2, 0);
    }
    for (int i = 0; i < 6; i++)
        take_val(out);
    csp_mix_release(m);
    for (int i = 0; i < 3; i++)
        csp_chan_release(in[i]);
    csp_chan_release(out);
}

/* A job per item, and a fresh instance of a transform with state. */
static void life_pipeline_kind(csp_rt *rt, int kind)
{
    csp_chan *from = mk(rt, CSP_BUF_FIXED, 4), *to = mk(rt, CSP_BUF_FIXED, 4);
    csp_xform *xf = NULL;

    ASSERT_OK(csp_xf_partition_all(&xf, rt, 2, pack_sum, NULL));
    if (kind == 0)
        ASSERT_OK(csp_pipeline(rt, 2, to, xf, from, 1, NULL, NULL));
    else if (kind == 1)
        ASSERT_OK(csp_pipeline_blocking(rt, 2, to, xf, from, 1, NULL, NULL));
    else
        ASSERT_OK(csp_pipeline_async(rt, 2, to, async_copy, NULL, from, 1));
    csp_xform_release(xf);
    feed(from, 10, 1);
    ASSERT_EQ(10, drain(to, NULL));
    csp_chan_release(from);
    csp_chan_release(to);
}

static void life_pipeline(csp_rt *rt)
{
    life_pipeline_kind(rt, 0);
}

static void life_pipeline_blocking(csp_rt *rt)
{
    life_pipeline_kind(rt, 1);
}

static void life_pipeline_async(csp_rt *rt)
{
    life_pipeline_kind(rt, 2);
}

static int below(void *ud, void *val)
{
    return U(val) < U(ud);
}

static void *odd_or_null(void *ud, void *val)
{
    (void)ud;
    return U(val) % 2 ? val : NULL;
}

static int twice(void *ud, void *val, csp_emit *out)
{
    int rc = csp_emit_value(out, val);

    (void)ud;
    return rc == CSP_OK ? csp_emit_value(out, val) : rc;
}

static uint64_t by_ten(void *ud, void *val)
{
    (void)ud;
    return U(val) / 10;
}

/* Every built-in transform on a channel of its own: 40 values in, so the
 * partitions and the key sets grow; the values left and their count. */
static void life_xf(csp_rt *rt)
{
    static const size_t want[13] = {40, 20, 20, 80, 20, 5, 9,
                                    35, 31, 14, 5,  40, 40};
    for (int k = 0; k < 13; k++) {
        csp_xform *xf = NULL;
        csp_chan *ch;
        void *v;
        size_t n = 0;

        switch (k) {
        case 0:
            ASSERT_OK(csp_xf_map(&xf, rt, plus_one, NULL));
            break;
        case 1:
            ASSERT_OK(csp_xf_filter(&xf, rt, is_even, NULL));
            break;
        case 2:
            ASSERT_OK(csp_xf_remove(&xf, rt, is_even, NULL));
            break;
        case 3:
            ASSERT_OK(csp_xf_mapcat(&xf, rt, twice, NULL));
            break;
        case 4:
            ASSERT_OK(csp_xf_keep(&xf, rt, odd_or_null, NULL));
            break;
        case 5:
            ASSERT_OK(csp_xf_take(&xf, rt, 5));
            break;
        case 6:
            ASSERT_OK(csp_xf_take_while(&xf, rt, below, V(10)));
            break;
        case 7:
            ASSERT_OK(csp_xf_drop(&xf, rt, 5));
            break;
        case 8:
            ASSERT_OK(csp_xf_drop_while(&xf, rt, below, V(10)));
            break;
        case 9:
            ASSERT_OK(csp_xf_partition_all(&xf, rt, 3, pack_sum, NULL));
            break;
        case 10:
            ASSERT_OK(csp_xf_partition_by(&xf, rt, by_ten, pack_sum, NULL));
            break;
        case 11:
            ASSERT_OK(csp_xf_dedupe(&xf, rt, NULL, NULL));
            break;
        default:
            ASSERT_OK(csp_xf_distinct(&xf, rt, NULL, NULL));
            break;
        }
        ASSERT_OK(csp_chan_new_xf(&ch, rt, CSP_BUF_FIXED, 128, NULL, NULL, xf,
                                  NULL, NULL));
        csp_xform_release(xf);
        for (uintptr_t i = 1; i <= 40; i++)
            if (csp_chan_offer(ch, V(i)) != CSP_OK)
                ASSERT_TRUE(k == 5 || k == 6); /* closed when taken */
        ASSERT_OK(csp_chan_close(ch));
        while (csp_chan_poll(ch, &v) == CSP_OK)
            n++;
        if (n != want[k])
            fprintf(stderr, "ops_alloc: transform %d gave %zu values\n", k, n);
        ASSERT_EQ(want[k], n);
        csp_chan_release(ch);
    }
}

static const struct life {
    const char *name;
    void (*run)(csp_rt *rt);
} lives[] = {
    {"pipe", life_pipe},
    {"onto_chan", life_onto_chan},
    {"to_chan", life_to_chan},
    {"into", life_into},
    {"reduce", life_reduce},
    {"transduce", life_transduce},
    {"merge", life_merge},
    {"split", life_split},
    {"map", life_map},
    {"take", life_take},
    {"mult", life_mult},
    {"pub", life_pub},
    {"mix", life_mix},
    {"pipeline", life_pipeline},
    {"pipeline_blocking", life_pipeline_blocking},
    {"pipeline_async", life_pipeline_async},
    {"xf (13 built-in transforms)", life_xf},
};

TEST(ops_every_combinator_gives_back_every_block_of_the_runtime_allocator)
{
    for (size_t i = 0; i < sizeof lives / sizeof lives[0]; i++) {
        struct counter c = {0};
        csp_rt *rt;

        ASSERT_OK(csp_rt_new(&rt, count_alloc, &c));
        ASSERT_OK(csp_rt_set(rt, CSP_RT_THREADS, 2));
        lives[i].run(rt);
        ASSERT_OK(csp_rt_free(rt, 0));
        fprintf(stderr, "ops_alloc: %s: %ld allocations, %ld left\n",
                lives[i].name, atomic_load(&c.calls), atomic_load(&c.live));
        ASSERT_TRUE(atomic_load(&c.calls) > 0);
        ASSERT_EQ(0, atomic_load(&c.live));
    }
}

/* ------------------------------------------------------------------------
 * Allocations a process makes while it runs, failing. */

/* Wait (bounded) until D has recorded N drops. */
static void wait_drops(struct drops *d, long n)
{
    int64_t end = deadline_in(8 * SEC * test_slowdown());

    while (atomic_load(&d->n) < n) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
}

/* With allocation failing, put 7 on SRC (whose drop hook records into D)
 * and wait until the combinator reading SRC drops it; then, allocation
 * working again, put 5 and close SRC. */
static void lose_seven_then_pass_five(csp_chan *src, struct drops *d)
{
    test_fail_alloc_after(0);
    ASSERT_OK(csp_chan_offer(src, V(7)));
    wait_drops(d, 1);
    test_fail_alloc_after(-1);
    ASSERT_EQ(7, d->first[0]);
    put8(src, 5);
    ASSERT_OK(csp_chan_close(src));
}

static csp_chan *recorded(struct drops *d)
{
    csp_chan *ch = NULL;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_FIXED, 4, record_drop, d));
    return ch;
}

TEST(into_drops_a_value_its_array_cannot_hold)
{
    struct drops d = {0};
    csp_chan *src = recorded(&d), *res = NULL;

    ASSERT_OK(csp_into(&res, test_rt, src, pack_sum, NULL));
    lose_seven_then_pass_five(src, &d);
    ASSERT_EQ(5 * 1000 + 1, take_val(res));
    expect_closed(res);
    csp_chan_release(res);
    csp_chan_release(src);
}

TEST(pipeline_drops_an_item_whose_job_cannot_be_allocated)
{
    struct drops d = {0};
    csp_chan *from = recorded(&d), *to = mkchan(CSP_BUF_FIXED, 4);
    csp_xform *xf = NULL;

    ASSERT_OK(csp_xf_map(&xf, test_rt, plus_one, NULL));
    ASSERT_OK(csp_pipeline(test_rt, 1, to, xf, from, 1, NULL, NULL));
    csp_xform_release(xf);
    lose_seven_then_pass_five(from, &d);
    ASSERT_EQ(6, take_val(to));
    expect_closed(to);
    csp_chan_release(from);
    csp_chan_release(to);
}

TEST(mult_drops_a_value_whose_round_cannot_be_allocated)
{
    struct drops d = {0};
    csp_chan *src = recorded(&d), *tap = mkchan(CSP_BUF_FIXED, 4);
    csp_mult *m = NULL;

    ASSERT_OK(csp_mult_new(&m, test_rt, src));
    ASSERT_OK(csp_mult_tap(m, tap, 1));
    lose_seven_then_pass_five(src, &d);
    ASSERT_EQ(5, take_val(tap));
    expect_closed(tap);
    csp_mult_release(m);
    csp_chan_release(tap);
    csp_chan_release(src);
}

static _Atomic int exh_err;

static void *record_exh(void *ud, int err)
{
    (void)ud;
    atomic_store(&exh_err, err);
    return NULL;
}

/* A transform step whose state cannot grow reports CSP_ENOMEM to the
 * exception handler; the value goes to the drop hook. */
static void step_cannot_grow(csp_xform *xf)
{
    struct drops d = {0};
    csp_chan *ch;
    void *v = NULL;

    atomic_store(&exh_err, 0);
    ASSERT_OK(csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, 4, record_drop, &d,
                              xf, record_exh, NULL));
    csp_xform_release(xf);
    test_fail_alloc_after(0);
    ASSERT_OK(csp_chan_offer(ch, V(7)));
    test_fail_alloc_after(-1);
    ASSERT_EQ(CSP_ENOMEM, atomic_load(&exh_err));
    ASSERT_EQ(1, atomic_load(&d.n));
    ASSERT_EQ(7, d.first[0]);
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(xf_partition_all_reports_enomem_when_its_partition_cannot_grow)
{
    csp_xform *xf = NULL;

    ASSERT_OK(csp_xf_partition_all(&xf, test_rt, 3, pack_sum, NULL));
    step_cannot_grow(xf);
}

TEST(xf_partition_by_reports_enomem_when_its_partition_cannot_grow)
{
    csp_xform *xf = NULL;

    ASSERT_OK(csp_xf_partition_by(&xf, test_rt, NULL, pack_sum, NULL));
    step_cannot_grow(xf);
}

TEST(xf_distinct_reports_enomem_when_its_key_set_cannot_grow)
{
    csp_xform *xf = NULL;

    ASSERT_OK(csp_xf_distinct(&xf, test_rt, NULL, NULL));
    step_cannot_grow(xf);
}
