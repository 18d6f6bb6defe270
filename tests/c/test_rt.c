/* test_rt.c - runtimes: creation with an allocator, settings, counters,
 * the dump, the default runtime, shutdown with pending callback ops, the
 * clock and the executors. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ------------------------------------------------------------------------
 * Creation and freeing. */

TEST(rt_new_and_free_with_counting_allocator_leaks_nothing)
{
    long before = test_live_allocs();
    csp_rt *rt;

    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    ASSERT_TRUE(test_live_allocs() > before);
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_EQ(before, test_live_allocs());
}

TEST(rt_new_with_null_allocator_uses_malloc)
{
    csp_rt *rt;
    csp_chan *ch;
    void *v;

    ASSERT_OK(csp_rt_new(&rt, NULL, NULL));
    ASSERT_OK(csp_chan_new(&ch, rt, CSP_BUF_FIXED, 4, NULL, NULL));
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    csp_chan_release(ch);
    ASSERT_OK(csp_rt_free(rt, 0));
}

TEST(rt_getalloc_returns_the_allocator_and_ud_given)
{
    int tag;
    void *ud = NULL;
    csp_rt *rt;

    ASSERT_OK(csp_rt_new(&rt, test_alloc, &tag));
    ASSERT_TRUE(csp_rt_getalloc(rt, &ud) == test_alloc);
    ASSERT_PTR_EQ(&tag, ud);
    ASSERT_TRUE(csp_rt_getalloc(rt, NULL) == test_alloc);
    ASSERT_OK(csp_rt_free(rt, 0));
}

/* NULL at csp_rt_new: a working realloc-style default, not NULL. */
TEST(rt_getalloc_of_default_allocator_allocates_and_frees)
{
    void *ud = &ud, *p;
    csp_alloc_fn f;
    csp_rt *rt;

    ASSERT_OK(csp_rt_new(&rt, NULL, NULL));
    f = csp_rt_getalloc(rt, &ud);
    ASSERT_TRUE(f != NULL);
    ASSERT_NULL(ud);
    p = f(ud, NULL, 0, 16);
    ASSERT_NOT_NULL(p);
    memset(p, 7, 16);
    p = f(ud, p, 16, 64);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(7, ((unsigned char *)p)[15]);
    ASSERT_NULL(f(ud, p, 64, 0));
    ASSERT_OK(csp_rt_free(rt, 0));
}

TEST(rt_getalloc_of_null_is_null_and_leaves_ud_untouched)
{
    void *ud = &ud;

    ASSERT_TRUE(csp_rt_getalloc(NULL, &ud) == NULL);
    ASSERT_PTR_EQ(&ud, ud);
    ASSERT_TRUE(csp_rt_getalloc(NULL, NULL) == NULL);
}

TEST(rt_new_rejects_null_out)
{
    ASSERT_RC(CSP_EINVAL, csp_rt_new(NULL, test_alloc, NULL));
}

TEST(rt_new_reports_enomem)
{
    long before = test_live_allocs();
    csp_rt *rt = NULL;
    int rc = CSP_ENOMEM;

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_rt_new(&rt, test_alloc, NULL);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM)
            ASSERT_EQ(before, test_live_allocs());
    }
    ASSERT_OK(rc);
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_EQ(before, test_live_allocs());
}

TEST(rt_free_rejects_null_and_unknown_flags)
{
    ASSERT_RC(CSP_EINVAL, csp_rt_free(NULL, 0));
    ASSERT_RC(CSP_EINVAL, csp_rt_free(test_rt, 0x100));
}

TEST(rt_free_of_default_runtime_returns_eperm)
{
    csp_rt *rt = csp_rt_default();

    ASSERT_NOT_NULL(rt);
    ASSERT_RC(CSP_EPERM, csp_rt_free(rt, 0));
    ASSERT_RC(CSP_EPERM, csp_rt_free(rt, CSP_RT_FREE_FORCE));
}

TEST(rt_default_returns_the_same_runtime_every_time)
{
    csp_rt *a = csp_rt_default(), *b = csp_rt_default();

    ASSERT_NOT_NULL(a);
    ASSERT_PTR_EQ(a, b);
}

TEST(rt_default_serves_channels)
{
    csp_chan *ch;
    void *v;

    ASSERT_OK(
        csp_chan_new(&ch, csp_rt_default(), CSP_BUF_FIXED, 1, NULL, NULL));
    ASSERT_OK(csp_chan_put_blocking(ch, V(7), CSP_FOREVER));
    ASSERT_OK(csp_chan_take_blocking(ch, &v, CSP_FOREVER));
    ASSERT_EQ(7, U(v));
    csp_chan_release(ch);
}

static void note_done(void *ud, int rc, void *val)
{
    int *out = ud;

    (void)val;
    *out = rc;
}

TEST(rt_free_with_pending_callback_op_returns_ebusy)
{
    csp_rt *rt;
    csp_chan *ch;
    void *v = NULL;
    int got = 99;

    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    ASSERT_OK(csp_chan_new(&ch, rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                            note_done, &got, NULL));
    ASSERT_RC(CSP_EBUSY, csp_rt_free(rt, 0));
    /* Nothing changed: the op still completes normally. */
    ASSERT_OK(csp_chan_offer(ch, V(5)));
    ASSERT_EQ(CSP_OK, got);
    csp_chan_release(ch);
    ASSERT_OK(csp_rt_free(rt, 0));
}

TEST(rt_free_force_cancels_pending_callback_ops_once)
{
    csp_rt *rt;
    csp_chan *ch;
    void *v = NULL;
    int got = 99;

    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    ASSERT_OK(csp_chan_new(&ch, rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                            note_done, &got, NULL));
    csp_chan_release(ch);
    ASSERT_OK(csp_rt_free(rt, CSP_RT_FREE_FORCE));
    ASSERT_EQ(CSP_ECANCELED, got);
}

struct put_back {
    int rc;
    void *val;
    int calls;
};

static void note_put(void *ud, int rc, void *val)
{
    struct put_back *pb = ud;

    pb->rc = rc;
    pb->val = val;
    pb->calls++;
}

TEST(rt_free_force_hands_back_pending_put_values)
{
    csp_rt *rt;
    csp_chan *ch;
    struct put_back pb = {0, NULL, 0};

    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    ASSERT_OK(csp_chan_new(&ch, rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(33), csp_exec_inline(),
                                           note_put, &pb, NULL));
    csp_chan_release(ch);
    ASSERT_OK(csp_rt_free(rt, CSP_RT_FREE_FORCE));
    ASSERT_EQ(1, pb.calls);
    ASSERT_EQ(CSP_ECANCELED, pb.rc);
    ASSERT_EQ(33, U(pb.val));
}

/* ------------------------------------------------------------------------
 * Settings. */

TEST(rt_set_then_get_returns_value)
{
    csp_rt *rt;
    int64_t v = 0;

    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    ASSERT_OK(csp_rt_set(rt, CSP_RT_THREADS, 3));
    ASSERT_OK(csp_rt_get(rt, CSP_RT_THREADS, &v));
    ASSERT_EQ(3, v);
    ASSERT_OK(csp_rt_set(rt, CSP_RT_STACK_SIZE, 64 * 1024));
    ASSERT_OK(csp_rt_get(rt, CSP_RT_STACK_SIZE, &v));
    ASSERT_EQ(64 * 1024, v);
    ASSERT_OK(csp_rt_set(rt, CSP_RT_TIMER_RESOLUTION_MS, 5));
    ASSERT_OK(csp_rt_get(rt, CSP_RT_TIMER_RESOLUTION_MS, &v));
    ASSERT_EQ(5, v);
    ASSERT_OK(csp_rt_free(rt, 0));
}

TEST(rt_get_defaults_are_documented_values)
{
    int64_t v = 0;

    ASSERT_OK(csp_rt_get(test_rt, CSP_RT_STACK_SIZE, &v));
    ASSERT_EQ(256 * 1024, v);
    ASSERT_OK(csp_rt_get(test_rt, CSP_RT_STACK_GUARDS, &v));
    ASSERT_EQ(16384, v);
    ASSERT_OK(csp_rt_get(test_rt, CSP_RT_STACK_CACHE, &v));
    ASSERT_EQ(64, v);
    ASSERT_OK(csp_rt_get(test_rt, CSP_RT_TIMER_RESOLUTION_MS, &v));
    ASSERT_EQ(1, v);
    ASSERT_OK(csp_rt_get(test_rt, CSP_RT_DEBUG_DEADLOCK, &v));
    ASSERT_EQ(0, v);
    ASSERT_OK(csp_rt_get(test_rt, CSP_RT_THREAD_POOL_MAX, &v));
    ASSERT_EQ(1024, v);
}

TEST(rt_set_rejects_unknown_key)
{
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, 0, 1));
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, 999, 1));
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, -1, 1));
}

TEST(rt_set_rejects_out_of_range_values)
{
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, CSP_RT_THREADS, 0));
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, CSP_RT_THREADS, 100000));
    ASSERT_RC(CSP_EINVAL,
              csp_rt_set(test_rt, CSP_RT_STACK_SIZE, CSP_STACK_MIN - 1));
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, CSP_RT_TIMER_RESOLUTION_MS, 0));
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, CSP_RT_DEBUG_DEADLOCK, 2));
    ASSERT_RC(CSP_EINVAL, csp_rt_set(test_rt, CSP_RT_STACK_GUARDS, -1));
}

TEST(rt_set_rejects_null_runtime)
{
    ASSERT_RC(CSP_EINVAL, csp_rt_set(NULL, CSP_RT_THREADS, 1));
}

TEST(rt_get_rejects_null_arguments_and_unknown_key)
{
    int64_t v;

    ASSERT_RC(CSP_EINVAL, csp_rt_get(NULL, CSP_RT_THREADS, &v));
    ASSERT_RC(CSP_EINVAL, csp_rt_get(test_rt, CSP_RT_THREADS, NULL));
    ASSERT_RC(CSP_EINVAL, csp_rt_get(test_rt, 999, &v));
}

static void *nothing(void *arg)
{
    return arg;
}

TEST(rt_set_after_workers_started_returns_ebusy)
{
    csp_chan *res;
    void *v;

    ASSERT_OK(csp_go(test_rt, nothing, V(1), &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, CSP_FOREVER));
    csp_chan_release(res);
    ASSERT_RC(CSP_EBUSY, csp_rt_set(test_rt, CSP_RT_THREADS, 4));
}

/* ------------------------------------------------------------------------
 * Counters and dump. */

TEST(rt_stat_counts_live_channels)
{
    int64_t before, now;
    csp_chan *a, *b;

    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_CHANS_LIVE, &before));
    a = mkchan(CSP_BUF_NONE, 0);
    b = mkchan(CSP_BUF_FIXED, 2);
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_CHANS_LIVE, &now));
    ASSERT_EQ(before + 2, now);
    csp_chan_release(a);
    csp_chan_release(b);
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_CHANS_LIVE, &now));
    ASSERT_EQ(before, now);
}

TEST(rt_stat_counts_pending_callback_ops)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_pending *p;
    int64_t n;
    void *v;
    int got = 99;

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &got, &p));
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_OPS_PENDING, &n));
    ASSERT_EQ(1, n);
    ASSERT_OK(csp_pending_cancel(p, NULL));
    csp_pending_release(p);
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_OPS_PENDING, &n));
    ASSERT_EQ(0, n);
    csp_chan_release(ch);
}

TEST(rt_stat_counts_pending_timers)
{
    csp_chan *t;
    int64_t n;

    ASSERT_OK(csp_timeout(&t, test_rt, 60000));
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_TIMERS_PENDING, &n));
    ASSERT_EQ(1, n);
    csp_chan_release(t);
}

TEST(rt_stat_rejects_null_and_unknown_key)
{
    int64_t v;

    ASSERT_RC(CSP_EINVAL, csp_rt_stat(NULL, CSP_STAT_CHANS_LIVE, &v));
    ASSERT_RC(CSP_EINVAL, csp_rt_stat(test_rt, CSP_STAT_CHANS_LIVE, NULL));
    ASSERT_RC(CSP_EINVAL, csp_rt_stat(test_rt, 0, &v));
    ASSERT_RC(CSP_EINVAL, csp_rt_stat(test_rt, 999, &v));
}

TEST(rt_dump_writes_counters)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);

    ASSERT_NOT_NULL(f);
    ASSERT_OK(csp_rt_dump(test_rt, f));
    fclose(f);
    ASSERT_NOT_NULL(strstr(buf, "channels live"));
    ASSERT_NOT_NULL(strstr(buf, "callback ops pending"));
    free(buf);
    csp_chan_release(ch);
}

TEST(rt_dump_rejects_null_arguments)
{
    ASSERT_RC(CSP_EINVAL, csp_rt_dump(NULL, stderr));
    ASSERT_RC(CSP_EINVAL, csp_rt_dump(test_rt, NULL));
}

/* ------------------------------------------------------------------------
 * Clock and executors. */

TEST(now_ns_is_monotonic)
{
    int64_t prev = csp_now_ns();

    ASSERT_TRUE(prev > 0);
    for (int i = 0; i < 100000; i++) {
        int64_t t = csp_now_ns();
        ASSERT_TRUE(t >= prev);
        prev = t;
    }
}

TEST(rt_executor_of_null_is_null)
{
    ASSERT_NULL(csp_rt_executor(NULL));
}

struct ran {
    csp_task task;
    _Atomic int runs;
    _Atomic int in_go;
    csp_chan *done;
};

static void run_task(csp_task *t)
{
    struct ran *r = (struct ran *)t;

    atomic_store(&r->in_go, csp_in_go());
    atomic_fetch_add(&r->runs, 1);
    ASSERT_OK(csp_chan_offer(r->done, V(1)));
}

TEST(rt_executor_runs_a_task_once_outside_go)
{
    struct ran r = {{NULL, run_task}, 0, 0, mkchan(CSP_BUF_FIXED, 1)};
    csp_exec *ex = csp_rt_executor(test_rt);
    void *v;

    ASSERT_NOT_NULL(ex);
    ex->submit(ex, &r.task);
    ASSERT_OK(csp_chan_take_blocking(r.done, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(1, atomic_load(&r.runs));
    ASSERT_EQ(0, atomic_load(&r.in_go));
    csp_chan_release(r.done);
}

TEST(exec_inline_runs_task_before_submit_returns)
{
    struct ran r = {{NULL, run_task}, 0, 0, mkchan(CSP_BUF_FIXED, 1)};
    csp_exec *ex = csp_exec_inline();

    ASSERT_NOT_NULL(ex);
    ex->submit(ex, &r.task);
    ASSERT_EQ(1, atomic_load(&r.runs));
    csp_chan_release(r.done);
}
