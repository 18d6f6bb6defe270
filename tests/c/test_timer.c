/* test_timer.c - timeout channels: never early, about 1 ms late at most on
 * an idle machine, shared per millisecond, any number of takers, cheap at
 * 10^5 outstanding, and clean shutdown. */
#include <stdlib.h>

#include "util.h"

extern _Atomic long csp__fail_thread_create;

struct fired {
    _Atomic int calls;
    int rc;
    int64_t at;
};

static void note_fired(void *ud, int rc, void *val)
{
    struct fired *f = ud;

    (void)val;
    f->rc = rc;
    f->at = csp_now_ns();
    atomic_fetch_add(&f->calls, 1);
}

TEST(timeout_channel_closes_after_the_time)
{
    int64_t t0 = csp_now_ns();
    csp_chan *t;
    void *v = V(1);

    ASSERT_OK(csp_timeout(&t, test_rt, 20));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(t, &v, deadline_in(8 * SEC)));
    ASSERT_NULL(v);
    ASSERT_TRUE(csp_now_ns() - t0 >= 20 * MSEC);
    ASSERT_EQ(1, csp_chan_closed(t));
    csp_chan_release(t);
}

TEST(timeout_never_fires_early)
{
    enum { N = 200 };
    struct fired f[N];
    int64_t start[N];
    csp_chan *t[N];
    void *v;

    for (int i = 0; i < N; i++) {
        atomic_init(&f[i].calls, 0);
        start[i] = csp_now_ns();
        ASSERT_OK(csp_timeout(&t[i], test_rt, (uint64_t)(i % 25)));
        if (csp_chan_take_cb(t[i], &v, csp_exec_inline(), note_fired, &f[i],
                             NULL) == CSP_ECLOSED)
            f[i].at = csp_now_ns(), atomic_store(&f[i].calls, 1);
    }
    for (int i = 0; i < N; i++) {
        int64_t end = deadline_in(8 * SEC);
        while (atomic_load(&f[i].calls) == 0) {
            ASSERT_TRUE(csp_now_ns() < end);
            sched_yield();
        }
        ASSERT_TRUE(f[i].at - start[i] >= (i % 25) * MSEC);
        csp_chan_release(t[i]);
    }
}

TEST(timeout_lateness_is_small_on_an_idle_runtime)
{
    /* Lateness is reported, and bounded loosely: machines are shared. */
    int64_t worst = 0;

    for (int i = 0; i < 20; i++) {
        int64_t t0 = csp_now_ns(), late;
        csp_chan *t;
        void *v;

        ASSERT_OK(csp_timeout(&t, test_rt, 5));
        ASSERT_RC(CSP_ECLOSED,
                  csp_chan_take_blocking(t, &v, deadline_in(8 * SEC)));
        late = csp_now_ns() - t0 - 5 * MSEC;
        ASSERT_TRUE(late >= 0);
        if (late > worst)
            worst = late;
        csp_chan_release(t);
    }
    ASSERT_TRUE(worst < 200 * MSEC * test_slowdown());
}

TEST(timeout_zero_closes_promptly)
{
    csp_chan *t;
    void *v;

    ASSERT_OK(csp_timeout(&t, test_rt, 0));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(t, &v, deadline_in(8 * SEC)));
    csp_chan_release(t);
}

TEST(timeout_same_millisecond_shares_one_channel)
{
    csp_rt *rt;
    int shared = 0;

    /* A 1000 ms resolution makes a bucket boundary between the two calls
     * unlikely; three tries make it impossible in practice. */
    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    ASSERT_OK(csp_rt_set(rt, CSP_RT_TIMER_RESOLUTION_MS, 1000));
    for (int i = 0; i < 3 && !shared; i++) {
        csp_chan *a, *b;
        ASSERT_OK(csp_timeout(&a, rt, 5000));
        ASSERT_OK(csp_timeout(&b, rt, 5000));
        shared = a == b;
        csp_chan_release(a);
        csp_chan_release(b);
    }
    ASSERT_TRUE(shared);
    ASSERT_OK(csp_rt_free(rt, 0));
}

TEST(timeout_resolution_setting_still_never_fires_early)
{
    csp_rt *rt;
    csp_chan *t;
    int64_t t0;
    void *v;

    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    ASSERT_OK(csp_rt_set(rt, CSP_RT_TIMER_RESOLUTION_MS, 10));
    t0 = csp_now_ns();
    ASSERT_OK(csp_timeout(&t, rt, 3));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(t, &v, deadline_in(8 * SEC)));
    ASSERT_TRUE(csp_now_ns() - t0 >= 3 * MSEC);
    csp_chan_release(t);
    ASSERT_OK(csp_rt_free(rt, 0));
}

TEST(timeout_serves_thousands_of_takers_beyond_the_pending_limit)
{
    enum { N = 5000 };
    struct fired *f = calloc(N, sizeof *f);
    long queued = 0;
    csp_chan *t;
    void *v;

    ASSERT_NOT_NULL(f);
    ASSERT_OK(csp_timeout(&t, test_rt, 100 * (uint64_t)test_slowdown()));
    for (int i = 0; i < N; i++) {
        int rc =
            csp_chan_take_cb(t, &v, csp_exec_inline(), note_fired, &f[i], NULL);
        if (rc == CSP_ECLOSED) { /* a slow machine: it fired already */
            atomic_store(&f[i].calls, 1);
            f[i].rc = CSP_ECLOSED;
            continue;
        }
        ASSERT_RC(CSP_PENDING, rc);
        queued++;
    }
    ASSERT_TRUE(queued > CSP_PENDING_MAX);
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(t, &v, deadline_in(8 * SEC)));
    for (int i = 0; i < N; i++) {
        int64_t end = deadline_in(8 * SEC);
        while (atomic_load(&f[i].calls) == 0) {
            ASSERT_TRUE(csp_now_ns() < end);
            sched_yield();
        }
        ASSERT_EQ(1, atomic_load(&f[i].calls));
        ASSERT_EQ(CSP_ECLOSED, f[i].rc);
    }
    csp_chan_release(t);
    free(f);
}

TEST(timeout_hundred_thousand_outstanding_cost_one_bucket_per_ms)
{
    long n = test_scaled(100000);
    csp_chan **t = malloc((size_t)n * sizeof *t);
    int64_t pending;
    int64_t t0 = csp_now_ns();

    ASSERT_NOT_NULL(t);
    for (long i = 0; i < n; i++)
        ASSERT_OK(csp_timeout(&t[i], test_rt, 60000 + (uint64_t)(i % 500)));
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_TIMERS_PENDING, &pending));
    /* 500 distinct ms, plus a boundary crossed while creating. */
    ASSERT_TRUE(pending <= 500 + 2 + (csp_now_ns() - t0) / MSEC);
    ASSERT_TRUE(csp_now_ns() - t0 < 2 * SEC * test_slowdown());
    for (long i = 0; i < n; i++)
        csp_chan_release(t[i]);
    free(t);
}

TEST(timeout_pending_count_drops_when_fired)
{
    csp_chan *t;
    int64_t n = -1;
    void *v;

    ASSERT_OK(csp_timeout(&t, test_rt, 1));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(t, &v, deadline_in(8 * SEC)));
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_TIMERS_PENDING, &n));
    ASSERT_EQ(0, n);
    csp_chan_release(t);
}

TEST(timeout_rejects_bad_arguments)
{
    csp_chan *t;

    ASSERT_RC(CSP_EINVAL, csp_timeout(NULL, test_rt, 1));
    ASSERT_RC(CSP_EINVAL, csp_timeout(&t, NULL, 1));
    ASSERT_RC(CSP_EINVAL, csp_timeout(&t, test_rt, ((uint64_t)1 << 40) + 1));
    ASSERT_RC(CSP_EINVAL, csp_timeout(&t, test_rt, UINT64_MAX));
}

TEST(timeout_reports_enomem)
{
    csp_chan *warm, *t = NULL;
    long before;
    int rc = CSP_ENOMEM;

    /* The timer thread and its tables are runtime state, made on the
     * first timeout and kept: start them, then count. */
    ASSERT_OK(csp_timeout(&warm, test_rt, 50000));
    before = test_live_allocs();

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_timeout(&t, test_rt, 60000);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM)
            ASSERT_EQ(before, test_live_allocs());
    }
    ASSERT_OK(rc);
    csp_chan_release(t);
    csp_chan_release(warm);
}

TEST(timeout_reports_enomem_when_timer_thread_cannot_start)
{
    csp_chan *t = NULL;

    atomic_store(&csp__fail_thread_create, 1);
    ASSERT_RC(CSP_ENOMEM, csp_timeout(&t, test_rt, 10));
    atomic_store(&csp__fail_thread_create, 0);
    /* The runtime is still usable: the next call starts the thread. */
    ASSERT_OK(csp_timeout(&t, test_rt, 1));
    ASSERT_RC(CSP_ECLOSED,
              csp_chan_take_blocking(t, &(void *){NULL}, deadline_in(8 * SEC)));
    csp_chan_release(t);
}

TEST(timeout_outstanding_at_rt_free_are_freed)
{
    csp_rt *rt;
    csp_chan *t;
    long before = test_live_allocs();

    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    for (int i = 0; i < 100; i++) {
        ASSERT_OK(csp_timeout(&t, rt, 60000 + (uint64_t)i));
        csp_chan_release(t);
    }
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_EQ(before, test_live_allocs());
}
