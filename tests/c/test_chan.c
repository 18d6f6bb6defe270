/* test_chan.c - channels: creation and bad input, references, close, the
 * never-waiting offer and poll on every buffer kind, drop hooks, promise
 * channels, close with pending puts, and the 1024 pending-op limit. Ops
 * that must wait are issued here in callback form (test_cb.c covers the
 * callbacks themselves), which queues them synchronously. */
#include <stdlib.h>

#include "util.h"

static void ignore_done(void *ud, int rc, void *val)
{
    (void)ud;
    (void)rc;
    (void)val;
}

/* Counts completions and remembers the last one. */
struct done {
    _Atomic int calls;
    int rc;
    void *val;
};

static void note_done(void *ud, int rc, void *val)
{
    struct done *d = ud;

    d->rc = rc;
    d->val = val;
    atomic_fetch_add(&d->calls, 1);
}

/* ------------------------------------------------------------------------
 * Creation. */

TEST(chan_new_makes_every_kind)
{
    static const struct {
        int buf;
        size_t cap;
    } kinds[] = {{CSP_BUF_NONE, 0},     {CSP_BUF_FIXED, 1},
                 {CSP_BUF_FIXED, 1024}, {CSP_BUF_DROPPING, 3},
                 {CSP_BUF_SLIDING, 3},  {CSP_BUF_PROMISE, 0}};

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        csp_chan *ch = NULL;
        ASSERT_OK(
            csp_chan_new(&ch, test_rt, kinds[i].buf, kinds[i].cap, NULL, NULL));
        ASSERT_NOT_NULL(ch);
        ASSERT_EQ(0, csp_chan_closed(ch));
        ASSERT_EQ(0, csp_chan_count(ch));
        csp_chan_release(ch);
    }
}

TEST(chan_new_rejects_null_out_and_runtime)
{
    csp_chan *ch;

    ASSERT_RC(CSP_EINVAL,
              csp_chan_new(NULL, test_rt, CSP_BUF_FIXED, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_chan_new(&ch, NULL, CSP_BUF_FIXED, 1, NULL, NULL));
}

TEST(chan_new_rejects_zero_capacity_for_buffered_kinds)
{
    csp_chan *ch;
    long before = test_live_allocs();

    ASSERT_RC(CSP_EINVAL,
              csp_chan_new(&ch, test_rt, CSP_BUF_FIXED, 0, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_chan_new(&ch, test_rt, CSP_BUF_DROPPING, 0, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_chan_new(&ch, test_rt, CSP_BUF_SLIDING, 0, NULL, NULL));
    ASSERT_EQ(before, test_live_allocs());
}

TEST(chan_new_rejects_capacity_for_unbuffered_and_promise)
{
    csp_chan *ch;

    ASSERT_RC(CSP_EINVAL,
              csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_chan_new(&ch, test_rt, CSP_BUF_PROMISE, 1, NULL, NULL));
}

TEST(chan_new_rejects_capacity_over_max)
{
    csp_chan *ch;

    ASSERT_RC(CSP_EINVAL, csp_chan_new(&ch, test_rt, CSP_BUF_FIXED,
                                       CSP_CAP_MAX + 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_new(&ch, test_rt, CSP_BUF_SLIDING,
                                       (size_t)-1, NULL, NULL));
}

TEST(chan_new_rejects_unknown_buffer_kind)
{
    csp_chan *ch;

    ASSERT_RC(CSP_EINVAL, csp_chan_new(&ch, test_rt, 5, 1, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_new(&ch, test_rt, -1, 1, NULL, NULL));
}

TEST(chan_new_reports_enomem)
{
    long before = test_live_allocs();
    csp_chan *ch = NULL;
    int rc = CSP_ENOMEM;

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_chan_new(&ch, test_rt, CSP_BUF_FIXED, 64, NULL, NULL);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM)
            ASSERT_EQ(before, test_live_allocs());
    }
    ASSERT_OK(rc);
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    csp_chan_release(ch);
    ASSERT_EQ(before, test_live_allocs());
}

TEST(chan_new_unbuffered_reports_enomem)
{
    long before = test_live_allocs();
    csp_chan *ch = NULL;

    test_fail_alloc_after(0);
    ASSERT_RC(CSP_ENOMEM,
              csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, NULL, NULL));
    test_fail_alloc_after(-1);
    ASSERT_EQ(before, test_live_allocs());
}

TEST(chan_large_capacity_allocates_lazily_or_fails_cleanly) // timeout=60
{
    csp_chan *ch = NULL;
    int rc = csp_chan_new(&ch, test_rt, CSP_BUF_FIXED, CSP_CAP_MAX, NULL, NULL);

    ASSERT_TRUE(rc == CSP_OK || rc == CSP_ENOMEM);
    if (rc == CSP_OK) {
        ASSERT_OK(csp_chan_offer(ch, V(1)));
        csp_chan_release(ch);
    }
}

/* ------------------------------------------------------------------------
 * References, ids, count. */

TEST(chan_retain_keeps_channel_alive_after_release)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    void *v;

    ASSERT_PTR_EQ(ch, csp_chan_retain(ch));
    csp_chan_release(ch);
    ASSERT_OK(csp_chan_offer(ch, V(3)));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(3, U(v));
    csp_chan_release(ch);
}

TEST(chan_retain_and_release_accept_null)
{
    ASSERT_NULL(csp_chan_retain(NULL));
    csp_chan_release(NULL);
}

TEST(chan_ids_are_unique_and_increasing)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);

    ASSERT_TRUE(csp_chan_id(a) > 0);
    ASSERT_TRUE(csp_chan_id(b) > csp_chan_id(a));
    ASSERT_EQ(0, csp_chan_id(NULL));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(chan_count_reports_buffered_values)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 4);
    void *v;

    ASSERT_EQ(0, csp_chan_count(ch));
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_EQ(2, csp_chan_count(ch));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, csp_chan_count(ch));
    ASSERT_EQ(0, csp_chan_count(NULL));
    csp_chan_release(ch);
}

TEST(chan_release_frees_buffered_values_through_drop_hook)
{
    struct drops d = {0};
    csp_chan *ch;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_FIXED, 4, record_drop, &d));
    ASSERT_OK(csp_chan_offer(ch, V(10)));
    ASSERT_OK(csp_chan_offer(ch, V(20)));
    csp_chan_release(ch);
    ASSERT_EQ(2, atomic_load(&d.n));
    ASSERT_EQ(30, atomic_load(&d.sum));
}

/* ------------------------------------------------------------------------
 * Close. */

TEST(chan_close_is_idempotent)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);

    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(1, csp_chan_closed(ch));
    csp_chan_release(ch);
}

TEST(chan_close_rejects_null)
{
    ASSERT_RC(CSP_EINVAL, csp_chan_close(NULL));
    ASSERT_EQ(0, csp_chan_closed(NULL));
}

TEST(chan_offer_on_closed_returns_closed)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);

    ASSERT_OK(csp_chan_close(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_offer(ch, V(1)));
    ASSERT_EQ(0, csp_chan_count(ch));
    csp_chan_release(ch);
}

TEST(chan_poll_drains_buffer_after_close_then_returns_closed)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 3);
    void *v = V(99);

    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(2, U(v));
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    ASSERT_NULL(v);
    csp_chan_release(ch);
}

TEST(chan_close_keeps_pending_puts_for_later_takers)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done a = {0}, b = {0};
    void *v;

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(1), csp_exec_inline(),
                                           note_done, &a, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(2), csp_exec_inline(),
                                           note_done, &b, NULL));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(0, atomic_load(&a.calls));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    ASSERT_EQ(1, atomic_load(&a.calls));
    ASSERT_EQ(CSP_OK, a.rc);
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(2, U(v));
    ASSERT_EQ(CSP_OK, b.rc);
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(chan_close_drains_buffer_before_pending_puts)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    struct done a = {0};
    void *v;

    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(2), csp_exec_inline(),
                                           note_done, &a, NULL));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(2, U(v));
    ASSERT_EQ(CSP_OK, a.rc);
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(chan_close_completes_pending_takes_with_closed)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done a = {0};
    void *v;

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &a, NULL));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(1, atomic_load(&a.calls));
    ASSERT_EQ(CSP_ECLOSED, a.rc);
    ASSERT_NULL(a.val);
    csp_chan_release(ch);
}

TEST(chan_release_with_pending_puts_after_close_drops_their_values)
{
    struct drops d = {0};
    struct done a = {0};
    csp_chan *ch;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, record_drop, &d));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(8), csp_exec_inline(),
                                           note_done, &a, NULL));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_chan_poll(ch, &(void *){NULL}));
    csp_chan_release(ch);
    ASSERT_EQ(0, atomic_load(&d.n));
}

/* ------------------------------------------------------------------------
 * offer and poll: the three outcomes, nothing queued. */

TEST(chan_offer_on_unbuffered_without_taker_returns_eagain)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);

    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(ch, V(1)));
    ASSERT_EQ(0, pending_puts(ch));
    csp_chan_release(ch);
}

TEST(chan_offer_on_unbuffered_with_pending_taker_hands_off)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done a = {0};
    void *v;

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &a, NULL));
    ASSERT_OK(csp_chan_offer(ch, V(4)));
    ASSERT_EQ(CSP_OK, a.rc);
    ASSERT_EQ(4, U(a.val));
    csp_chan_release(ch);
}

TEST(chan_offer_on_full_fixed_returns_eagain_and_queues_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2);

    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(ch, V(3)));
    ASSERT_EQ(2, csp_chan_count(ch));
    ASSERT_EQ(0, pending_puts(ch));
    csp_chan_release(ch);
}

TEST(chan_offer_rejects_null_value_and_channel)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2);

    ASSERT_RC(CSP_EINVAL, csp_chan_offer(ch, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_offer(NULL, V(1)));
    ASSERT_EQ(0, csp_chan_count(ch));
    csp_chan_release(ch);
}

TEST(chan_poll_on_empty_returns_eagain_and_queues_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2);
    void *v;

    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    ASSERT_EQ(0, pending_takes(ch));
    csp_chan_release(ch);
}

TEST(chan_poll_rejects_null_arguments)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2);
    void *v;

    ASSERT_RC(CSP_EINVAL, csp_chan_poll(ch, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_poll(NULL, &v));
    csp_chan_release(ch);
}

TEST(chan_poll_on_unbuffered_takes_from_pending_put)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done a = {0};
    void *v;

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(6), csp_exec_inline(),
                                           note_done, &a, NULL));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(6, U(v));
    ASSERT_EQ(CSP_OK, a.rc);
    csp_chan_release(ch);
}

TEST(chan_fixed_delivers_in_fifo_order)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1000);
    void *v;

    for (uintptr_t i = 1; i <= 1000; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    for (uintptr_t i = 1; i <= 1000; i++) {
        ASSERT_OK(csp_chan_poll(ch, &v));
        ASSERT_EQ(i, U(v));
    }
    csp_chan_release(ch);
}

TEST(chan_fixed_wraps_around_its_ring_many_times)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 7);
    void *v;
    uintptr_t next_in = 1, next_out = 1;

    for (int round = 0; round < 1000; round++) {
        int k = round % 7 + 1;
        for (int i = 0; i < k; i++)
            ASSERT_OK(csp_chan_offer(ch, V(next_in++)));
        for (int i = 0; i < k; i++) {
            ASSERT_OK(csp_chan_poll(ch, &v));
            ASSERT_EQ(next_out++, U(v));
        }
    }
    csp_chan_release(ch);
}

TEST(chan_take_from_full_buffer_moves_a_pending_put_in)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    struct done a = {0};
    void *v;

    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(2), csp_exec_inline(),
                                           note_done, &a, NULL));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    ASSERT_EQ(1, atomic_load(&a.calls));
    ASSERT_EQ(1, csp_chan_count(ch));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(2, U(v));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Dropping, sliding and promise buffers. */

TEST(chan_dropping_drops_newest_and_put_reports_ok)
{
    struct drops d = {0};
    csp_chan *ch;
    void *v;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_DROPPING, 2, record_drop, &d));
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_OK(csp_chan_offer(ch, V(3)));
    ASSERT_OK(csp_chan_put_blocking(ch, V(4), CSP_FOREVER));
    ASSERT_EQ(2, atomic_load(&d.n));
    ASSERT_EQ(3, d.first[0]);
    ASSERT_EQ(4, d.first[1]);
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(2, U(v));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    csp_chan_release(ch);
}

TEST(chan_sliding_drops_oldest_and_put_reports_ok)
{
    struct drops d = {0};
    csp_chan *ch;
    void *v;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_SLIDING, 2, record_drop, &d));
    for (uintptr_t i = 1; i <= 5; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    ASSERT_EQ(3, atomic_load(&d.n));
    ASSERT_EQ(1, d.first[0]);
    ASSERT_EQ(2, d.first[1]);
    ASSERT_EQ(3, d.first[2]);
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(4, U(v));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(5, U(v));
    csp_chan_release(ch);
}

TEST(chan_sliding_and_dropping_never_queue_puts)
{
    csp_chan *s = mkchan(CSP_BUF_SLIDING, 1), *d = mkchan(CSP_BUF_DROPPING, 1);
    struct done a = {0};

    for (int i = 1; i <= 3000; i++) {
        ASSERT_OK(
            csp_chan_put_cb(s, V(i), csp_exec_inline(), note_done, &a, NULL));
        ASSERT_OK(
            csp_chan_put_cb(d, V(i), csp_exec_inline(), note_done, &a, NULL));
    }
    ASSERT_EQ(0, atomic_load(&a.calls));
    ASSERT_EQ(0, pending_puts(s));
    ASSERT_EQ(0, pending_puts(d));
    csp_chan_release(s);
    csp_chan_release(d);
}

TEST(chan_promise_gives_first_value_to_every_taker)
{
    csp_chan *ch = mkchan(CSP_BUF_PROMISE, 0);
    void *v;

    ASSERT_OK(csp_chan_offer(ch, V(7)));
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(csp_chan_poll(ch, &v));
        ASSERT_EQ(7, U(v));
    }
    csp_chan_release(ch);
}

TEST(chan_promise_accepts_and_drops_later_puts)
{
    struct drops d = {0};
    csp_chan *ch;
    void *v;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_PROMISE, 0, record_drop, &d));
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_OK(csp_chan_put_blocking(ch, V(3), CSP_FOREVER));
    ASSERT_EQ(2, atomic_load(&d.n));
    ASSERT_EQ(5, atomic_load(&d.sum));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, U(v));
    csp_chan_release(ch);
    /* The promised value goes to the hook when the channel is freed. */
    ASSERT_EQ(3, atomic_load(&d.n));
}

TEST(chan_promise_completes_every_pending_taker)
{
    csp_chan *ch = mkchan(CSP_BUF_PROMISE, 0);
    struct done t[5] = {{0}};
    void *v;

    for (int i = 0; i < 5; i++)
        ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                                note_done, &t[i], NULL));
    ASSERT_OK(csp_chan_offer(ch, V(9)));
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(1, atomic_load(&t[i].calls));
        ASSERT_EQ(9, U(t[i].val));
    }
    csp_chan_release(ch);
}

TEST(chan_promise_keeps_value_after_close)
{
    csp_chan *ch = mkchan(CSP_BUF_PROMISE, 0);
    void *v;

    ASSERT_OK(csp_chan_offer(ch, V(5)));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(5, U(v));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(5, U(v));
    csp_chan_release(ch);
}

TEST(chan_promise_closed_empty_returns_closed)
{
    csp_chan *ch = mkchan(CSP_BUF_PROMISE, 0);
    void *v;

    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_RC(CSP_ECLOSED, csp_chan_poll(ch, &v));
    ASSERT_RC(CSP_ECLOSED, csp_chan_offer(ch, V(1)));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * The 1024 pending-op limit. */

TEST(chan_1025th_pending_put_returns_ebusy_and_queues_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done a = {0};
    void *v;

    for (int i = 1; i <= CSP_PENDING_MAX; i++)
        ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(i), csp_exec_inline(),
                                               note_done, &a, NULL));
    ASSERT_RC(CSP_EBUSY, csp_chan_put_cb(ch, V(9999), csp_exec_inline(),
                                         note_done, &a, NULL));
    ASSERT_RC(CSP_EBUSY, csp_chan_put_blocking(ch, V(9999), CSP_FOREVER));
    ASSERT_EQ(CSP_PENDING_MAX, pending_puts(ch));
    for (int i = 1; i <= CSP_PENDING_MAX; i++) {
        ASSERT_OK(csp_chan_poll(ch, &v));
        ASSERT_EQ(i, U(v));
    }
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    ASSERT_EQ(CSP_PENDING_MAX, atomic_load(&a.calls));
    csp_chan_release(ch);
}

TEST(chan_1025th_pending_take_returns_ebusy_and_queues_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done a = {0};
    void *v;

    for (int i = 0; i < CSP_PENDING_MAX; i++)
        ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                                note_done, &a, NULL));
    ASSERT_RC(CSP_EBUSY,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &a, NULL));
    ASSERT_RC(CSP_EBUSY, csp_chan_take_blocking(ch, &v, CSP_FOREVER));
    ASSERT_EQ(CSP_PENDING_MAX, pending_takes(ch));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_EQ(CSP_PENDING_MAX, atomic_load(&a.calls));
    csp_chan_release(ch);
}

TEST(chan_limit_frees_up_when_pending_ops_complete)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    void *v;

    for (int i = 1; i <= CSP_PENDING_MAX; i++)
        ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(i), csp_exec_inline(),
                                               ignore_done, NULL, NULL));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(5000), csp_exec_inline(),
                                           ignore_done, NULL, NULL));
    for (int i = 0; i < CSP_PENDING_MAX; i++)
        ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(5000, U(v));
    csp_chan_release(ch);
}

TEST(chan_cancelled_ops_do_not_count_against_the_limit)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_pending *p;
    void *v;

    /* Far more than 1024 ops queued and withdrawn in turn. */
    for (int i = 1; i <= 3 * CSP_PENDING_MAX; i++) {
        ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(i), csp_exec_inline(),
                                               ignore_done, NULL, &p));
        ASSERT_OK(csp_pending_cancel(p, &v));
        ASSERT_EQ(i, U(v));
        csp_pending_release(p);
    }
    ASSERT_EQ(0, pending_puts(ch));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Timeout channels refuse puts and close. */

TEST(chan_offer_and_close_on_timeout_channel_return_eperm)
{
    csp_chan *t;

    ASSERT_OK(csp_timeout(&t, test_rt, 60000));
    ASSERT_RC(CSP_EPERM, csp_chan_offer(t, V(1)));
    ASSERT_RC(CSP_EPERM, csp_chan_close(t));
    ASSERT_RC(CSP_EPERM, csp_chan_put_blocking(t, V(1), CSP_FOREVER));
    ASSERT_RC(CSP_EPERM, csp_chan_put_cb(t, V(1), csp_exec_inline(),
                                         ignore_done, NULL, NULL));
    ASSERT_EQ(0, csp_chan_closed(t));
    csp_chan_release(t);
}

/* ------------------------------------------------------------------------
 * Stress: producers and consumers on plain threads, every value delivered
 * exactly once on unbuffered and fixed channels. */

#define STRESS_THREADS 2

struct stress {
    csp_chan *ch;
    long per_producer;
    int id;
    _Atomic unsigned char *seen;
    _Atomic long *taken;
};

static void *stress_producer(void *arg)
{
    struct stress *s = arg;

    for (long i = 0; i < s->per_producer; i++) {
        uintptr_t v = (uintptr_t)s->id * (uintptr_t)s->per_producer + i + 1;
        int rc;
        /* Mix the flavours: offer, then block if it would wait. */
        if (i % 3 == 0 && (rc = csp_chan_offer(s->ch, V(v))) == CSP_OK)
            continue;
        ASSERT_OK(csp_chan_put_blocking(s->ch, V(v), CSP_FOREVER));
    }
    return NULL;
}

static void *stress_consumer(void *arg)
{
    struct stress *s = arg;
    void *v;

    for (;;) {
        int rc = csp_chan_take_blocking(s->ch, &v, CSP_FOREVER);
        if (rc == CSP_ECLOSED)
            break;
        ASSERT_OK(rc);
        ASSERT_EQ(0, atomic_fetch_add(&s->seen[U(v) - 1], 1));
        atomic_fetch_add(s->taken, 1);
    }
    return NULL;
}

static void stress_run(int buf, size_t cap, long total)
{
    long per = total / STRESS_THREADS;
    _Atomic unsigned char *seen = calloc((size_t)(per * STRESS_THREADS), 1);
    _Atomic long taken = 0;
    struct stress ps[STRESS_THREADS], cs[STRESS_THREADS];
    pthread_t pt[STRESS_THREADS], ct[STRESS_THREADS];
    csp_chan *ch = mkchan(buf, cap);

    ASSERT_NOT_NULL(seen);
    for (int i = 0; i < STRESS_THREADS; i++) {
        ps[i] = (struct stress){ch, per, i, seen, &taken};
        cs[i] = ps[i];
        pt[i] = spawn(stress_producer, &ps[i]);
        ct[i] = spawn(stress_consumer, &cs[i]);
    }
    for (int i = 0; i < STRESS_THREADS; i++)
        join_thread(pt[i]);
    ASSERT_OK(csp_chan_close(ch));
    for (int i = 0; i < STRESS_THREADS; i++)
        join_thread(ct[i]);
    ASSERT_EQ(per * STRESS_THREADS, atomic_load(&taken));
    for (long i = 0; i < per * STRESS_THREADS; i++)
        ASSERT_EQ(1, atomic_load(&seen[i]));
    free((void *)seen);
    csp_chan_release(ch);
}

TEST(chan_stress_fixed_delivers_every_value_exactly_once)
{
    stress_run(CSP_BUF_FIXED, 64, test_scaled(1000000));
}

TEST(chan_stress_unbuffered_delivers_every_value_exactly_once)
{
    stress_run(CSP_BUF_NONE, 0, test_scaled(200000));
}

/* ------------------------------------------------------------------------
 * csp_chan_discard: discarding a value through a channel's hook. */

TEST(chan_discard_hands_value_to_drop_hook)
{
    struct drops d = {0};
    csp_chan *ch;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, record_drop, &d));
    csp_chan_discard(ch, V(42));
    ASSERT_EQ(1, atomic_load(&d.n));
    ASSERT_EQ(42, d.first[0]);
    csp_chan_release(ch);
}

TEST(chan_discard_without_hook_or_arguments_does_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);

    csp_chan_discard(ch, V(1));
    csp_chan_discard(NULL, V(1));
    csp_chan_discard(ch, NULL);
    csp_chan_release(ch);
}

/* The old name stays one minor version (csp.h marks it deprecated). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(chan_drop_old_name_still_discards)
{
    struct drops d = {0};
    csp_chan *ch;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_NONE, 0, record_drop, &d));
    csp_chan_drop(ch, V(7));
    ASSERT_EQ(1, atomic_load(&d.n));
    ASSERT_EQ(7, d.first[0]);
    csp_chan_release(ch);
}
#pragma GCC diagnostic pop
