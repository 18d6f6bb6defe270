/* test_thread.c - csp_thread: result channels, blocking inside a pool
 * thread, reuse of idle threads, the pool limit, idle exit, names, fault
 * injection, and shutdown waiting for busy threads.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "../../core/sched_internal.h"
#include "util.h"


/* Wait (bounded) until no pool thread of test_rt is busy: a job's result
 * is closed just before its thread becomes idle again. */
static void wait_idle(void)
{
    struct csp__sched *s = csp__sched_get(test_rt);
    int64_t give_up = deadline_in(8 * SEC);

    while (csp__tpool_busy(&s->tpool) != 0) {
        ASSERT_TRUE(csp_now_ns() < give_up);
        sched_yield();
    }
}

static void *return_arg(void *arg)
{
    return arg;
}

TEST(thread_result_channel_gets_value_then_closes)
{
    csp_chan *res;
    void *v = NULL;

    ASSERT_OK(csp_thread(test_rt, return_arg, V(21), &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(21, U(v));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(res, &v, CSP_FOREVER));
    csp_chan_release(res);
}

TEST(thread_null_return_closes_result_without_value)
{
    csp_chan *res;
    void *v = V(1);

    ASSERT_OK(csp_thread(test_rt, return_arg, NULL, &res));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(res, &v, CSP_FOREVER));
    ASSERT_NULL(v);
    csp_chan_release(res);
}

TEST(thread_without_result_channel_runs)
{
    ASSERT_OK(csp_thread(test_rt, return_arg, NULL, NULL));
    wait_idle();
}

TEST(thread_rejects_null_runtime_and_function)
{
    csp_chan *res = NULL;

    ASSERT_RC(CSP_EINVAL, csp_thread(NULL, return_arg, NULL, &res));
    ASSERT_RC(CSP_EINVAL, csp_thread(test_rt, NULL, NULL, &res));
    ASSERT_NULL(res);
}

static void *take_blocking_job(void *arg)
{
    void *v = NULL;

    ASSERT_OK(csp_chan_take_blocking(arg, &v, deadline_in(8 * SEC)));
    return v;
}

TEST(thread_may_block_on_a_channel)
{
    csp_chan *ch, *res;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_thread(test_rt, take_blocking_job, ch, &res));
    ASSERT_OK(csp_chan_put_blocking(ch, V(13), deadline_in(8 * SEC)));
    ASSERT_EQ(13, U(join(res)));
    csp_chan_release(ch);
}

static void *parking_take_job(void *arg)
{
    void *v = NULL;

    return V(csp_chan_take(arg, &v) == CSP_EPERM && !csp_in_go() &&
             csp_yield() == CSP_EPERM);
}

TEST(thread_parking_calls_return_eperm)
{
    csp_chan *ch, *res;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_thread(test_rt, parking_take_job, ch, &res));
    ASSERT_EQ(1, U(join(res)));
    csp_chan_release(ch);
}

static void *name_job(void *arg)
{
    char name[16] = "";

    (void)arg;
    pthread_getname_np(pthread_self(), name, sizeof name);
    return V(strcmp(name, "csp-thread") == 0);
}

TEST(thread_is_named_csp_thread)
{
    csp_chan *res;

    /* The creator names a thread after starting it, so ask a reused
     * thread, named for sure. */
    ASSERT_OK(csp_thread(test_rt, return_arg, NULL, &res));
    join(res);
    wait_idle();
    ASSERT_OK(csp_thread(test_rt, name_job, NULL, &res));
    ASSERT_EQ(1, U(join(res)));
}

TEST(thread_reuses_an_idle_thread)
{
    csp_chan *res;

    for (int i = 0; i < 20; i++) {
        ASSERT_OK(csp_thread(test_rt, return_arg, V(i + 1), &res));
        ASSERT_EQ(i + 1, U(join(res)));
        wait_idle();
    }
    ASSERT_EQ(1, stat_of(test_rt, CSP_STAT_THREADS_LIVE));
}

TEST(thread_many_jobs_all_complete)
{
    enum { N = 200 };
    csp_chan *res[N];
    uintptr_t sum = 0;

    for (int i = 0; i < N; i++)
        ASSERT_OK(csp_thread(test_rt, return_arg, V(i + 1), &res[i]));
    for (int i = 0; i < N; i++)
        sum += U(join(res[i]));
    ASSERT_EQ(N * (N + 1) / 2, sum);
    ASSERT_TRUE(stat_of(test_rt, CSP_STAT_THREADS_LIVE) <= N);
}

TEST(thread_pool_limit_returns_ebusy)
{
    csp_chan *ch, *res, *res2 = NULL;

    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREAD_POOL_MAX, 1));
    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_thread(test_rt, take_blocking_job, ch, &res));
    ASSERT_RC(CSP_EBUSY, csp_thread(test_rt, return_arg, NULL, &res2));
    ASSERT_NULL(res2);
    ASSERT_OK(csp_chan_put_blocking(ch, V(1), deadline_in(8 * SEC)));
    ASSERT_EQ(1, U(join(res)));
    wait_idle();
    ASSERT_OK(csp_thread(test_rt, return_arg, V(2), &res2));
    ASSERT_EQ(2, U(join(res2)));
    csp_chan_release(ch);
}

TEST(thread_idle_thread_exits_after_idle_time)
{
    long saved = atomic_load(&csp__thread_idle_ms);
    int64_t give_up = deadline_in(8 * SEC);
    csp_chan *res;

    atomic_store(&csp__thread_idle_ms, 10);
    ASSERT_OK(csp_thread(test_rt, return_arg, V(1), &res));
    ASSERT_EQ(1, U(join(res)));
    while (stat_of(test_rt, CSP_STAT_THREADS_LIVE) != 0) {
        ASSERT_TRUE(csp_now_ns() < give_up);
        sched_yield();
    }
    /* The next call joins the exited thread and starts a new one. */
    ASSERT_OK(csp_thread(test_rt, return_arg, V(2), &res));
    ASSERT_EQ(2, U(join(res)));
    atomic_store(&csp__thread_idle_ms, saved);
}

TEST(thread_reports_enomem)
{
    int failed = 0;

    ASSERT_NOT_NULL(csp_rt_executor(test_rt)); /* workers first */
    for (long n = 0;; n++) {
        long before = test_live_allocs();
        csp_chan *res = NULL;
        int rc;

        test_fail_alloc_after(n);
        rc = csp_thread(test_rt, return_arg, V(3), &res);
        test_fail_alloc_after(-1);
        if (rc == CSP_OK) {
            ASSERT_EQ(3, U(join(res)));
            break;
        }
        ASSERT_RC(CSP_ENOMEM, rc);
        ASSERT_NULL(res);
        ASSERT_EQ(before, test_live_allocs());
        failed++;
    }
    ASSERT_TRUE(failed >= 2); /* the result channel, the thread record */
}

TEST(thread_reports_enomem_when_thread_cannot_start)
{
    long before;
    csp_chan *res = NULL;

    ASSERT_NOT_NULL(csp_rt_executor(test_rt));
    before = test_live_allocs();
    atomic_store(&csp__fail_thread_create, 1);
    ASSERT_RC(CSP_ENOMEM, csp_thread(test_rt, return_arg, NULL, &res));
    atomic_store(&csp__fail_thread_create, 0);
    ASSERT_NULL(res);
    ASSERT_EQ(before, test_live_allocs());
    ASSERT_EQ(0, stat_of(test_rt, CSP_STAT_THREADS_LIVE));
}

static void *spin_ms(void *arg)
{
    int64_t until = csp_now_ns() + (int64_t)U(arg) * 1000000;

    while (csp_now_ns() < until)
        ;
    return NULL;
}

TEST(rt_free_waits_for_a_busy_thread)
{
    csp_rt *rt;
    int64_t t0 = csp_now_ns();

    ASSERT_OK(csp_rt_new(&rt, NULL, NULL));
    ASSERT_OK(csp_thread(rt, spin_ms, V(30), NULL));
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_TRUE(csp_now_ns() - t0 >= 30 * 1000000);
}

static void *go_from_thread(void *arg)
{
    csp_chan *res;
    void *v = NULL;

    ASSERT_OK(csp_go(arg, return_arg, V(17), &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
    csp_chan_release(res);
    return v;
}

TEST(thread_can_spawn_and_wait_for_a_proc)
{
    csp_chan *res;

    ASSERT_OK(csp_thread(test_rt, go_from_thread, test_rt, &res));
    ASSERT_EQ(17, U(join(res)));
}

/* csp_rt_free racing csp_thread jobs that start more jobs on the same
 * runtime: the free waits for the whole chain (a job counts as busy until
 * it returned), and nothing is left running or leaked after. */
struct chain {
    csp_rt *rt;
    _Atomic int ran;
    int n;
};

static void *chain_job(void *arg)
{
    struct chain *c = arg;

    if (atomic_fetch_add(&c->ran, 1) + 1 < c->n)
        csp_thread(c->rt, chain_job, c, NULL);
    return NULL;
}

TEST(rt_free_racing_chained_thread_jobs_waits_for_the_chain)
{
    for (int round = 0; round < 20; round++) {
        struct chain c;

        ASSERT_OK(csp_rt_new(&c.rt, NULL, NULL));
        atomic_init(&c.ran, 0);
        c.n = 50;
        ASSERT_OK(csp_thread(c.rt, chain_job, &c, NULL));
        ASSERT_OK(csp_rt_free(c.rt, 0));
        ASSERT_EQ(50, atomic_load(&c.ran));
    }
}

static void *spawn_thread_job(void *arg)
{
    csp_chan *r = NULL;
    void *v = NULL;

    /* From a go process: the job's result is taken by parking. */
    if (csp_thread(arg, return_arg, V(5), &r) != CSP_OK)
        return NULL;
    csp_chan_take(r, &v);
    csp_chan_release(r);
    return v;
}

TEST(rt_free_racing_go_processes_that_start_threads_leaks_nothing)
{
    for (int round = 0; round < 20; round++) {
        csp_rt *rt;

        ASSERT_OK(csp_rt_new(&rt, NULL, NULL));
        for (int i = 0; i < 8; i++)
            ASSERT_OK(csp_go(rt, spawn_thread_job, rt, NULL));
        ASSERT_OK(csp_rt_free(rt, 0));
    }
}
