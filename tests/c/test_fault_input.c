/* test_fault_input.c - bad inputs in docs/errors.md's catalogue that no
 * other suite tried: negative deadlines, oversized stacks, the blocking
 * and parking put forms on a timeout channel, a stale pending handle. Each
 * test checks the code and that nothing changed. */
#include "util.h"

static void ignore_done(void *ud, int rc, void *val)
{
    (void)ud;
    (void)rc;
    (void)val;
}

static void *return_arg(void *arg)
{
    return arg;
}

/* A deadline below zero that is not CSP_FOREVER is no time at all. */
TEST(blocking_put_with_negative_deadline_returns_einval)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    void *v;

    ASSERT_RC(CSP_EINVAL, csp_chan_put_blocking(ch, V(1), -2));
    ASSERT_RC(CSP_EINVAL, csp_chan_put_blocking(ch, V(1), INT64_MIN));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v)); /* nothing was put */
    csp_chan_release(ch);
}

TEST(blocking_take_with_negative_deadline_returns_einval)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    void *v = V(7);

    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_RC(CSP_EINVAL, csp_chan_take_blocking(ch, &v, -2));
    ASSERT_EQ(7, U(v));
    ASSERT_EQ(1, csp_chan_count(ch)); /* nothing was taken */
    csp_chan_release(ch);
}

TEST(alts_blocking_with_negative_deadline_returns_einval)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    csp_op ops[1] = {{ch, CSP_OP_TAKE, NULL}};
    size_t idx = 9;
    void *v = V(7);

    ASSERT_RC(CSP_EINVAL, csp_alts_blocking(ops, 1, 0, -5, &idx, &v));
    ASSERT_EQ(9, idx);
    ASSERT_EQ(7, U(v));
    ASSERT_EQ(0, pending_takes(ch));
    csp_chan_release(ch);
}

TEST(go_ex_stack_over_1_gib_returns_einval)
{
    csp_chan *res = V(3);
    int64_t spawned = -1;

    ASSERT_RC(CSP_EINVAL, csp_go_ex(test_rt, return_arg, V(1), 0,
                                    ((size_t)1 << 30) + 4096, &res));
    ASSERT_RC(CSP_EINVAL,
              csp_go_ex(test_rt, return_arg, V(1), 0, SIZE_MAX, &res));
    ASSERT_PTR_EQ(V(3), res);
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_PROCS_SPAWNED, &spawned));
    ASSERT_EQ(0, spawned);
}

TEST(blocking_put_on_timeout_channel_returns_eperm)
{
    csp_chan *t;

    ASSERT_OK(csp_timeout(&t, test_rt, 60000));
    ASSERT_RC(CSP_EPERM, csp_chan_put_blocking(t, V(1), CSP_FOREVER));
    ASSERT_FALSE(csp_chan_closed(t));
    csp_chan_release(t);
}

static void *put_on(void *arg)
{
    return V((uintptr_t)-csp_chan_put(arg, V(1)));
}

TEST(parking_put_on_timeout_channel_returns_eperm)
{
    csp_chan *t, *res;
    void *v = NULL;

    ASSERT_OK(csp_timeout(&t, test_rt, 60000));
    ASSERT_OK(csp_go(test_rt, put_on, t, &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v,
                                     deadline_in(8 * SEC * test_slowdown())));
    ASSERT_EQ(-CSP_EPERM, (intptr_t)U(v));
    csp_chan_release(res);
    csp_chan_release(t);
}

/* A handle kept after its op completed: cancel reports too late and hands
 * nothing back; the callback ran exactly once. */
static void count_done(void *ud, int rc, void *val)
{
    (void)val;
    ASSERT_OK(rc);
    (*(int *)ud)++;
}

TEST(pending_cancel_after_completion_returns_eagain_and_hands_back_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_pending *p;
    int calls = 0;
    void *v = V(5), *back = V(6);

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(1), csp_exec_inline(),
                                           count_done, &calls, &p));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    ASSERT_EQ(1, calls);
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &back));
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &back));
    ASSERT_EQ(6, U(back));
    ASSERT_EQ(1, calls);
    csp_pending_release(p);
    csp_chan_release(ch);
}

/* A put completing on a closed channel's later take still succeeds, and a
 * cancel then is too late: no value is both delivered and handed back. */
TEST(pending_cancel_of_put_delivered_after_close_returns_eagain)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_pending *p;
    int calls = 0;
    void *v = NULL, *back = NULL;

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(2), csp_exec_inline(),
                                           count_done, &calls, &p));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(2, U(v));
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &back));
    ASSERT_NULL(back);
    ASSERT_EQ(1, calls);
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_pending_release(p);
    csp_chan_release(ch);
}

/* take_cb with ignore_done on a channel that already has a value: done
 * at once, no callback, no pending handle written. */
TEST(take_cb_ready_now_writes_no_pending_handle)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    csp_pending *p = V(9);
    void *v = NULL;

    ASSERT_OK(csp_chan_offer(ch, V(4)));
    ASSERT_OK(
        csp_chan_take_cb(ch, &v, csp_exec_inline(), ignore_done, NULL, &p));
    ASSERT_EQ(4, U(v));
    ASSERT_PTR_EQ(V(9), p);
    csp_chan_release(ch);
}
