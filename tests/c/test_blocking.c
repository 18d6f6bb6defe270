/* test_blocking.c - the _blocking flavour: a plain thread waits for its
 * put or take, with a deadline that withdraws the op atomically. */
#include "util.h"

struct op_arg {
    csp_chan *ch;
    void *val;
    int64_t deadline;
    int rc;
};

static void *put_thread(void *arg)
{
    struct op_arg *a = arg;

    a->rc = csp_chan_put_blocking(a->ch, a->val, a->deadline);
    return NULL;
}

static void *take_thread(void *arg)
{
    struct op_arg *a = arg;

    a->rc = csp_chan_take_blocking(a->ch, &a->val, a->deadline);
    return NULL;
}

TEST(blocking_take_waits_for_a_put_from_another_thread)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct op_arg a = {ch, NULL, CSP_FOREVER, 99};
    pthread_t t = spawn(take_thread, &a);

    wait_pending(pending_takes, ch, 1);
    ASSERT_OK(csp_chan_put_blocking(ch, V(11), CSP_FOREVER));
    join_thread(t);
    ASSERT_EQ(CSP_OK, a.rc);
    ASSERT_EQ(11, U(a.val));
    csp_chan_release(ch);
}

TEST(blocking_put_waits_for_a_take_from_another_thread)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct op_arg a = {ch, V(12), CSP_FOREVER, 99};
    pthread_t t = spawn(put_thread, &a);
    void *v;

    wait_pending(pending_puts, ch, 1);
    ASSERT_OK(csp_chan_take_blocking(ch, &v, CSP_FOREVER));
    join_thread(t);
    ASSERT_EQ(CSP_OK, a.rc);
    ASSERT_EQ(12, U(v));
    csp_chan_release(ch);
}

TEST(blocking_put_on_buffer_with_room_returns_at_once)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2);

    ASSERT_OK(csp_chan_put_blocking(ch, V(1), csp_now_ns()));
    ASSERT_OK(csp_chan_put_blocking(ch, V(2), 0));
    ASSERT_EQ(2, csp_chan_count(ch));
    csp_chan_release(ch);
}

TEST(blocking_take_deadline_returns_etimedout_and_withdraws)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    int64_t t0 = csp_now_ns();
    void *v = V(1);

    ASSERT_RC(CSP_ETIMEDOUT,
              csp_chan_take_blocking(ch, &v, deadline_in(20 * MSEC)));
    ASSERT_TRUE(csp_now_ns() - t0 >= 20 * MSEC);
    ASSERT_EQ(0, pending_takes(ch));
    /* Nothing was taken: a later offer finds no taker. */
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(ch, V(2)));
    csp_chan_release(ch);
}

TEST(blocking_put_deadline_returns_etimedout_and_keeps_value)
{
    struct drops d = {0};
    csp_chan *ch;
    void *v;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, record_drop, &d));
    ASSERT_RC(CSP_ETIMEDOUT,
              csp_chan_put_blocking(ch, V(3), deadline_in(5 * MSEC)));
    ASSERT_EQ(0, pending_puts(ch));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
    ASSERT_EQ(0, atomic_load(&d.n)); /* the value stayed the caller's */
}

TEST(blocking_deadline_in_the_past_fails_only_if_it_would_wait)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    void *v;

    ASSERT_OK(csp_chan_put_blocking(ch, V(1), 1));
    ASSERT_RC(CSP_ETIMEDOUT, csp_chan_put_blocking(ch, V(2), 1));
    ASSERT_OK(csp_chan_take_blocking(ch, &v, 1));
    ASSERT_EQ(1, U(v));
    ASSERT_RC(CSP_ETIMEDOUT, csp_chan_take_blocking(ch, &v, 1));
    csp_chan_release(ch);
}

TEST(blocking_take_is_woken_by_close_with_closed)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct op_arg a = {ch, V(5), CSP_FOREVER, 99};
    pthread_t t = spawn(take_thread, &a);

    wait_pending(pending_takes, ch, 1);
    ASSERT_OK(csp_chan_close(ch));
    join_thread(t);
    ASSERT_EQ(CSP_ECLOSED, a.rc);
    ASSERT_NULL(a.val);
    csp_chan_release(ch);
}

TEST(blocking_put_parked_before_close_is_delivered_after_close)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct op_arg a = {ch, V(21), CSP_FOREVER, 99};
    pthread_t t = spawn(put_thread, &a);
    void *v;

    wait_pending(pending_puts, ch, 1);
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_chan_take_blocking(ch, &v, CSP_FOREVER));
    ASSERT_EQ(21, U(v));
    join_thread(t);
    ASSERT_EQ(CSP_OK, a.rc);
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(ch, &v, CSP_FOREVER));
    csp_chan_release(ch);
}

TEST(blocking_put_after_close_returns_closed)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 4);

    ASSERT_OK(csp_chan_close(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_put_blocking(ch, V(1), CSP_FOREVER));
    csp_chan_release(ch);
}

TEST(blocking_ops_reject_null_arguments)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 4);
    void *v;

    ASSERT_RC(CSP_EINVAL, csp_chan_put_blocking(NULL, V(1), CSP_FOREVER));
    ASSERT_RC(CSP_EINVAL, csp_chan_put_blocking(ch, NULL, CSP_FOREVER));
    ASSERT_RC(CSP_EINVAL, csp_chan_take_blocking(NULL, &v, CSP_FOREVER));
    ASSERT_RC(CSP_EINVAL, csp_chan_take_blocking(ch, NULL, CSP_FOREVER));
    ASSERT_EQ(0, csp_chan_count(ch));
    csp_chan_release(ch);
}

static void *blocking_in_go(void *arg)
{
    csp_chan *ch = arg;
    void *v;

    ASSERT_RC(CSP_EPERM, csp_chan_put_blocking(ch, V(1), CSP_FOREVER));
    ASSERT_RC(CSP_EPERM, csp_chan_take_blocking(ch, &v, CSP_FOREVER));
    return V(1);
}

TEST(blocking_ops_inside_go_process_return_eperm)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1), *res;
    void *v;

    ASSERT_OK(csp_go(test_rt, blocking_in_go, ch, &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(1, U(v));
    ASSERT_EQ(0, csp_chan_count(ch));
    csp_chan_release(res);
    csp_chan_release(ch);
}

/* A deadline racing a put: either the take got the value (OK) or it timed
 * out and the value is still there for someone else - never lost, never
 * twice. */
struct race {
    csp_chan *ch;
    long n;
};

static void *race_putter(void *arg)
{
    struct race *r = arg;

    for (long i = 1; i <= r->n; i++)
        ASSERT_OK(csp_chan_put_blocking(r->ch, V(i), CSP_FOREVER));
    return NULL;
}

TEST(blocking_deadline_racing_put_loses_no_value)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct race r = {ch, test_scaled(20000)};
    pthread_t t = spawn(race_putter, &r);
    long next = 1;
    void *v;

    while (next <= r.n) {
        /* Deadlines of 0-20 us: many expire while a put is arriving. */
        int rc =
            csp_chan_take_blocking(ch, &v, deadline_in((next % 21) * 1000));
        if (rc == CSP_ETIMEDOUT)
            continue;
        ASSERT_OK(rc);
        ASSERT_EQ(next, U(v));
        next++;
    }
    join_thread(t);
    ASSERT_EQ(0, pending_takes(ch));
    csp_chan_release(ch);
}

/* Ping-pong between two threads over two unbuffered channels. */
static void *ponger(void *arg)
{
    csp_chan **chs = arg;
    void *v;

    while (csp_chan_take_blocking(chs[0], &v, CSP_FOREVER) == CSP_OK)
        ASSERT_OK(csp_chan_put_blocking(chs[1], v, CSP_FOREVER));
    return NULL;
}

TEST(blocking_ping_pong_between_threads_keeps_every_value)
{
    csp_chan *chs[2] = {mkchan(CSP_BUF_NONE, 0), mkchan(CSP_BUF_NONE, 0)};
    pthread_t t = spawn(ponger, chs);
    long n = test_scaled(50000);
    void *v;

    for (long i = 1; i <= n; i++) {
        ASSERT_OK(csp_chan_put_blocking(chs[0], V(i), CSP_FOREVER));
        ASSERT_OK(csp_chan_take_blocking(chs[1], &v, CSP_FOREVER));
        ASSERT_EQ(i, U(v));
    }
    ASSERT_OK(csp_chan_close(chs[0]));
    join_thread(t);
    csp_chan_release(chs[0]);
    csp_chan_release(chs[1]);
}
