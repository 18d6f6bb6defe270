/* test_ops_pipeline.c - pipeline, pipeline_blocking and pipeline_async:
 * order under parallelism, fresh transform state per item, the exception
 * handler, close flags, draining after the output closes, and an 8-stage
 * stress run. */
#include <stdlib.h>
#include <time.h>

#include "ops_util.h"

/* A step with a pseudo-random busy delay, so that items finish out of
 * order on two workers. */
static int slow_inc(void *state, void *val, csp_emit *out)
{
    uintptr_t v = U(val);

    (void)state;
    for (volatile unsigned k = (unsigned)((v * 2654435761u) >> 20) % 20000;
         k > 0; k--)
        ;
    return csp_emit_value(out, V(v + 1));
}

static csp_xform *xf_of(csp_xf_step_fn step)
{
    csp_xform *xf;

    ASSERT_OK(csp_xform_new(&xf, test_rt, NULL, step, NULL, NULL, NULL, NULL));
    return xf;
}

static void feed_and_close(csp_chan *from, long n)
{
    for (long i = 1; i <= n; i++)
        put8(from, (uintptr_t)i);
    ASSERT_OK(csp_chan_close(from));
}

static void *feeder(void *arg)
{
    feed_and_close(arg, 2000);
    return NULL;
}

TEST(pipeline_keeps_input_order_under_parallelism)
{
    csp_chan *from = mkchan(CSP_BUF_FIXED, 16), *to = mkchan(CSP_BUF_FIXED, 16);
    csp_xform *xf = xf_of(slow_inc);
    pthread_t t;

    ASSERT_OK(csp_pipeline(test_rt, 4, to, xf, from, 1, NULL, NULL));
    csp_xform_release(xf);
    t = spawn(feeder, from);
    for (uintptr_t i = 1; i <= 2000; i++)
        ASSERT_EQ(i + 1, take_val(to));
    expect_closed(to);
    join_thread(t);
    csp_chan_release(from);
    csp_chan_release(to);
}

TEST(pipeline_blocking_keeps_input_order)
{
    csp_chan *from = mkchan(CSP_BUF_FIXED, 16), *to = mkchan(CSP_BUF_FIXED, 16);
    csp_xform *xf = xf_of(slow_inc);
    pthread_t t;

    ASSERT_OK(csp_pipeline_blocking(test_rt, 3, to, xf, from, 1, NULL, NULL));
    csp_xform_release(xf);
    t = spawn(feeder, from);
    for (uintptr_t i = 1; i <= 2000; i++)
        ASSERT_EQ(i + 1, take_val(to));
    expect_closed(to);
    join_thread(t);
    csp_chan_release(from);
    csp_chan_release(to);
}

/* take(1) per item: state is fresh for each item, so every item passes. */
TEST(pipeline_gives_each_item_a_fresh_transform)
{
    csp_chan *from = mkchan(CSP_BUF_FIXED, 16), *to = mkchan(CSP_BUF_FIXED, 16);
    csp_xform *xf;

    ASSERT_OK(csp_xf_take(&xf, test_rt, 1));
    ASSERT_OK(csp_pipeline(test_rt, 2, to, xf, from, 1, NULL, NULL));
    csp_xform_release(xf);
    feed_and_close(from, 5);
    for (uintptr_t i = 1; i <= 5; i++)
        ASSERT_EQ(i, take_val(to));
    expect_closed(to);
    csp_chan_release(from);
    csp_chan_release(to);
}

static int fail_on_3(void *state, void *val, csp_emit *out)
{
    (void)state;
    if (U(val) == 3) {
        csp_emit_drop(out, val);
        return CSP_EINVAL;
    }
    return csp_emit_value(out, val);
}

static void *exh_777(void *ud, int err)
{
    (void)ud;
    (void)err;
    return V(777);
}

TEST(pipeline_step_error_goes_to_exception_handler)
{
    csp_chan *from = mkchan(CSP_BUF_FIXED, 16), *to = mkchan(CSP_BUF_FIXED, 16);
    csp_xform *xf = xf_of(fail_on_3);

    ASSERT_OK(csp_pipeline(test_rt, 2, to, xf, from, 1, exh_777, NULL));
    csp_xform_release(xf);
    feed_and_close(from, 4);
    ASSERT_EQ(1, take_val(to));
    ASSERT_EQ(2, take_val(to));
    ASSERT_EQ(777, take_val(to));
    ASSERT_EQ(4, take_val(to));
    expect_closed(to);
    csp_chan_release(from);
    csp_chan_release(to);
}

TEST(pipeline_expanding_transform_emits_all_in_order)
{
    csp_chan *from = mkchan(CSP_BUF_FIXED, 16), *to = mkchan(CSP_BUF_FIXED, 16);
    csp_xform *xf;

    ASSERT_OK(csp_xf_partition_all(&xf, test_rt, 1, pack_sum, NULL));
    ASSERT_OK(csp_pipeline(test_rt, 3, to, xf, from, 1, NULL, NULL));
    csp_xform_release(xf);
    feed_and_close(from, 3);
    ASSERT_EQ(1001, take_val(to));
    ASSERT_EQ(2001, take_val(to));
    ASSERT_EQ(3001, take_val(to));
    expect_closed(to);
    csp_chan_release(from);
    csp_chan_release(to);
}

TEST(pipeline_without_close_leaves_output_open)
{
    csp_chan *from = mkchan(CSP_BUF_FIXED, 4), *to = mkchan(CSP_BUF_FIXED, 4);
    csp_xform *xf;

    ASSERT_OK(csp_xf_map(&xf, test_rt, plus_one, NULL));
    ASSERT_OK(csp_pipeline(test_rt, 1, to, xf, from, 0, NULL, NULL));
    csp_xform_release(xf);
    feed_and_close(from, 1);
    ASSERT_EQ(2, take_val(to));
    ASSERT_RC(CSP_ETIMEDOUT, csp_chan_take_blocking(to, &(void *){NULL},
                                                    deadline_in(5 * MSEC)));
    ASSERT_EQ(0, csp_chan_closed(to));
    csp_chan_release(from);
    csp_chan_release(to);
}

TEST(pipeline_keeps_draining_input_after_output_closes)
{
    struct drops d = {0};
    csp_chan *from, *to = mkchan(CSP_BUF_NONE, 0);
    csp_xform *xf;

    ASSERT_OK(csp_chan_new(&from, test_rt, CSP_BUF_NONE, 0, record_drop, &d));
    ASSERT_OK(csp_xf_map(&xf, test_rt, plus_one, NULL));
    ASSERT_OK(csp_pipeline(test_rt, 2, to, xf, from, 1, NULL, NULL));
    csp_xform_release(xf);
    ASSERT_OK(csp_chan_close(to));
    feed_and_close(from, 50); /* never stalls: results are dropped */
    int64_t end = deadline_in(8 * SEC);
    while (atomic_load(&d.n) < 50) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
    csp_chan_release(from);
    csp_chan_release(to);
}

/* pipeline_async: AF starts a go process that waits a random time, then
 * puts v*10 and closes the result channel. */
struct async_job {
    csp_chan *res;
    uintptr_t v;
};

static void *async_work(void *arg)
{
    struct async_job *j = arg;

    csp_sleep((j->v * 7) % 5);
    ASSERT_OK(csp_chan_put(j->res, V(j->v * 10)));
    csp_chan_close(j->res);
    csp_chan_release(j->res);
    free(j);
    return NULL;
}

static void start_async(void *ud, void *val, csp_chan *res)
{
    struct async_job *j = malloc(sizeof *j);

    (void)ud;
    ASSERT_NOT_NULL(j);
    j->res = csp_chan_retain(res);
    j->v = U(val);
    ASSERT_OK(csp_go(test_rt, async_work, j, NULL));
}

TEST(pipeline_async_keeps_input_order_with_random_delays)
{
    csp_chan *from = mkchan(CSP_BUF_FIXED, 16), *to = mkchan(CSP_BUF_FIXED, 16);

    ASSERT_OK(csp_pipeline_async(test_rt, 8, to, start_async, NULL, from, 1));
    for (uintptr_t i = 1; i <= 40; i++)
        put8(from, i);
    ASSERT_OK(csp_chan_close(from));
    for (uintptr_t i = 1; i <= 40; i++)
        ASSERT_EQ(i * 10, take_val(to));
    expect_closed(to);
    csp_chan_release(from);
    csp_chan_release(to);
}

TEST(pipeline_rejects_bad_arguments)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0);
    csp_xform *xf;

    ASSERT_OK(csp_xf_map(&xf, test_rt, plus_one, NULL));
    ASSERT_RC(CSP_EINVAL, csp_pipeline(test_rt, 0, a, xf, a, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_pipeline(test_rt, 1, NULL, xf, a, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_pipeline(test_rt, 1, a, NULL, a, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_pipeline(test_rt, 1, a, xf, NULL, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_pipeline(NULL, 1, a, xf, a, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_pipeline_blocking(test_rt, 0, a, xf, a, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_pipeline_async(test_rt, 1, a, NULL, NULL, a, 1));
    csp_xform_release(xf);
    csp_chan_release(a);
}

/* Eight pipelines in a row, each adding one: every value arrives, in
 * order, plus eight. */
struct feed {
    csp_chan *ch;
    long n;
};

static void *feed_n(void *arg)
{
    struct feed *f = arg;

    feed_and_close(f->ch, f->n);
    return NULL;
}

TEST(pipeline_of_8_stages_accounts_for_every_value)
{
    long n = stress_n(100000);
    csp_chan *ch[9];
    csp_xform *xf;
    struct feed f;
    pthread_t t;

    ASSERT_OK(csp_xf_map(&xf, test_rt, plus_one, NULL));
    for (int i = 0; i < 9; i++)
        ch[i] = mkchan(CSP_BUF_FIXED, 64);
    for (int i = 0; i < 8; i++)
        ASSERT_OK(
            csp_pipeline(test_rt, 2, ch[i + 1], xf, ch[i], 1, NULL, NULL));
    csp_xform_release(xf);
    f = (struct feed){ch[0], n};
    t = spawn(feed_n, &f);
    for (uintptr_t i = 1; i <= (uintptr_t)n; i++)
        ASSERT_EQ(i + 8, take_val(ch[8]));
    expect_closed(ch[8]);
    join_thread(t);
    for (int i = 0; i < 9; i++)
        csp_chan_release(ch[i]);
}
