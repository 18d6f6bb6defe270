/* test_alts.c - alts in its blocking and callback forms (the parking form
 * is in test_proc.c): exactly one op commits, priority and random order,
 * default, closed channels, no self-match, cancellation, bad input. */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static csp_op take_op(csp_chan *ch)
{
    return (csp_op){ch, CSP_OP_TAKE, NULL};
}

static csp_op put_op(csp_chan *ch, uintptr_t v)
{
    return (csp_op){ch, CSP_OP_PUT, V(v)};
}

struct alts_done {
    _Atomic int calls;
    int rc;
    size_t idx;
    void *val;
};

static void note_alts(void *ud, int rc, size_t idx, void *val)
{
    struct alts_done *d = ud;

    d->rc = rc;
    d->idx = idx;
    d->val = val;
    atomic_fetch_add(&d->calls, 1);
}

static void ignore_alts(void *ud, int rc, size_t idx, void *val)
{
    (void)ud;
    (void)rc;
    (void)idx;
    (void)val;
}

/* ------------------------------------------------------------------------
 * Ready ops. */

TEST(alts_takes_from_the_ready_channel)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 1), *b = mkchan(CSP_BUF_FIXED, 1);
    csp_op ops[2] = {take_op(a), take_op(b)};
    size_t idx = 99;
    void *v = NULL;

    ASSERT_OK(csp_chan_offer(b, V(5)));
    ASSERT_OK(csp_alts_blocking(ops, 2, 0, CSP_FOREVER, &idx, &v));
    ASSERT_EQ(1, idx);
    ASSERT_EQ(5, U(v));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_puts_where_there_is_room)
{
    csp_chan *full = mkchan(CSP_BUF_FIXED, 1), *room = mkchan(CSP_BUF_FIXED, 1);
    csp_op ops[2] = {put_op(full, 1), put_op(room, 2)};
    size_t idx = 99;
    void *v = V(1);

    ASSERT_OK(csp_chan_offer(full, V(9)));
    ASSERT_OK(csp_alts_blocking(ops, 2, 0, CSP_FOREVER, &idx, &v));
    ASSERT_EQ(1, idx);
    ASSERT_NULL(v);
    ASSERT_EQ(1, csp_chan_count(room));
    ASSERT_EQ(1, csp_chan_count(full));
    csp_chan_release(full);
    csp_chan_release(room);
}

TEST(alts_commits_exactly_one_of_several_ready_puts)
{
    csp_chan *ch[4];
    csp_op ops[4];
    size_t idx;
    size_t total = 0;

    for (int i = 0; i < 4; i++) {
        ch[i] = mkchan(CSP_BUF_FIXED, 1);
        ops[i] = put_op(ch[i], (uintptr_t)i + 1);
    }
    ASSERT_OK(csp_alts_blocking(ops, 4, 0, CSP_FOREVER, &idx, NULL));
    for (int i = 0; i < 4; i++) {
        total += csp_chan_count(ch[i]);
        if ((size_t)i == idx)
            ASSERT_EQ(1, csp_chan_count(ch[i]));
        csp_chan_release(ch[i]);
    }
    ASSERT_EQ(1, total);
}

TEST(alts_priority_picks_the_first_ready_op)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 4), *b = mkchan(CSP_BUF_FIXED, 4);
    csp_op ops[2] = {take_op(a), take_op(b)};
    size_t idx;
    void *v;

    for (int i = 0; i < 3; i++) {
        ASSERT_OK(csp_chan_offer(a, V(1)));
        ASSERT_OK(csp_chan_offer(b, V(2)));
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(csp_alts_blocking(ops, 2, CSP_ALTS_PRIORITY, CSP_FOREVER,
                                    &idx, &v));
        ASSERT_EQ(0, idx);
        ASSERT_EQ(1, U(v));
    }
    ASSERT_OK(
        csp_alts_blocking(ops, 2, CSP_ALTS_PRIORITY, CSP_FOREVER, &idx, &v));
    ASSERT_EQ(1, idx);
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_random_order_picks_each_ready_op_fairly)
{
    enum { N = 4, ROUNDS = 8000 };
    csp_chan *ch[N];
    csp_op ops[N];
    long hits[N] = {0};
    size_t idx;
    void *v;

    for (int i = 0; i < N; i++) {
        ch[i] = mkchan(CSP_BUF_FIXED, 1);
        ops[i] = take_op(ch[i]);
        ASSERT_OK(csp_chan_offer(ch[i], V(i + 1)));
    }
    for (int r = 0; r < ROUNDS; r++) {
        ASSERT_OK(csp_alts_blocking(ops, N, 0, CSP_FOREVER, &idx, &v));
        ASSERT_EQ(idx + 1, U(v));
        hits[idx]++;
        ASSERT_OK(csp_chan_offer(ch[idx], v));
    }
    /* Expected 2000 each, sd about 39: 1700..2300 is over 7 sd. */
    for (int i = 0; i < N; i++) {
        ASSERT_TRUE(hits[i] > 1700 && hits[i] < 2300);
        csp_chan_release(ch[i]);
    }
}

TEST(alts_take_from_closed_channel_returns_closed_and_its_index)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(a), take_op(b)};
    size_t idx = 99;
    void *v = V(1);

    ASSERT_OK(csp_chan_close(b));
    ASSERT_RC(CSP_ECLOSED, csp_alts_blocking(ops, 2, 0, CSP_FOREVER, &idx, &v));
    ASSERT_EQ(1, idx);
    ASSERT_NULL(v);
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_put_to_closed_channel_returns_closed_and_its_index)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[1] = {put_op(a, 3)};
    size_t idx = 99;

    ASSERT_OK(csp_chan_close(a));
    ASSERT_RC(CSP_ECLOSED,
              csp_alts_blocking(ops, 1, 0, CSP_FOREVER, &idx, NULL));
    ASSERT_EQ(0, idx);
    csp_chan_release(a);
}

TEST(alts_default_with_nothing_ready_returns_eagain_and_queues_nothing)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_FIXED, 1);
    csp_op ops[2] = {take_op(a), take_op(b)};
    size_t idx = 99;
    void *v;

    ASSERT_RC(CSP_EAGAIN, csp_alts_blocking(ops, 2, CSP_ALTS_DEFAULT,
                                            CSP_FOREVER, &idx, &v));
    ASSERT_EQ(99, idx);
    ASSERT_EQ(0, pending_takes(a));
    ASSERT_EQ(0, pending_takes(b));
    ASSERT_RC(CSP_EAGAIN,
              csp_alts_cb(ops, 2, CSP_ALTS_DEFAULT, &idx, &v, csp_exec_inline(),
                          ignore_alts, NULL, NULL));
    ASSERT_EQ(0, pending_takes(a));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_default_still_commits_a_ready_op)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 1);
    csp_op ops[1] = {take_op(a)};
    size_t idx;
    void *v;

    ASSERT_OK(csp_chan_offer(a, V(4)));
    ASSERT_OK(
        csp_alts_blocking(ops, 1, CSP_ALTS_DEFAULT, CSP_FOREVER, &idx, &v));
    ASSERT_EQ(4, U(v));
    csp_chan_release(a);
}

TEST(alts_never_matches_its_own_put_with_its_own_take)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {put_op(ch, 1), take_op(ch)};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_EAGAIN, csp_alts_blocking(ops, 2, CSP_ALTS_DEFAULT,
                                            CSP_FOREVER, &idx, &v));
    ASSERT_RC(CSP_ETIMEDOUT,
              csp_alts_blocking(ops, 2, 0, deadline_in(5 * MSEC), &idx, &v));
    ASSERT_EQ(0, pending_puts(ch));
    ASSERT_EQ(0, pending_takes(ch));
    csp_chan_release(ch);
}

TEST(alts_self_match_parks_until_another_party_comes)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {put_op(ch, 1), take_op(ch)};
    struct alts_done d = {0};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(),
                                       note_alts, &d, NULL));
    ASSERT_EQ(0, atomic_load(&d.calls));
    ASSERT_OK(csp_chan_poll(ch, &v)); /* another party takes the put */
    ASSERT_EQ(1, U(v));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(0, d.idx);
    ASSERT_EQ(0, pending_takes(ch));
    csp_chan_release(ch);
}

TEST(alts_same_channel_twice_commits_once)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(ch), take_op(ch)};
    struct alts_done d = {0};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(),
                                       note_alts, &d, NULL));
    ASSERT_OK(csp_chan_offer(ch, V(6)));
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(ch, V(7)));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(6, U(d.val));
    ASSERT_EQ(0, pending_takes(ch));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Waiting. */

struct later {
    csp_chan *ch;
    uintptr_t v;
};

static void *put_later(void *arg)
{
    struct later *l = arg;

    wait_pending(pending_takes, l->ch, 1);
    ASSERT_OK(csp_chan_put_blocking(l->ch, V(l->v), CSP_FOREVER));
    return NULL;
}

TEST(alts_blocking_waits_for_a_put_and_withdraws_the_other_ops)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(a), take_op(b)};
    struct later l = {b, 42};
    pthread_t t = spawn(put_later, &l);
    size_t idx;
    void *v;

    ASSERT_OK(csp_alts_blocking(ops, 2, 0, deadline_in(8 * SEC), &idx, &v));
    join_thread(t);
    ASSERT_EQ(1, idx);
    ASSERT_EQ(42, U(v));
    ASSERT_EQ(0, pending_takes(a));
    ASSERT_EQ(0, pending_takes(b));
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(a, V(1)));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_blocking_deadline_returns_etimedout_and_withdraws_all)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(a), put_op(b, 3)};
    int64_t t0 = csp_now_ns();
    size_t idx;
    void *v;

    ASSERT_RC(CSP_ETIMEDOUT,
              csp_alts_blocking(ops, 2, 0, deadline_in(10 * MSEC), &idx, &v));
    ASSERT_TRUE(csp_now_ns() - t0 >= 10 * MSEC);
    ASSERT_EQ(0, pending_takes(a));
    ASSERT_EQ(0, pending_puts(b));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_blocking_with_timeout_channel_returns_its_index)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *t;
    csp_op ops[2];
    size_t idx;
    void *v;

    ASSERT_OK(csp_timeout(&t, test_rt, 5));
    ops[0] = take_op(a);
    ops[1] = take_op(t);
    ASSERT_RC(CSP_ECLOSED,
              csp_alts_blocking(ops, 2, 0, deadline_in(8 * SEC), &idx, &v));
    ASSERT_EQ(1, idx);
    csp_chan_release(a);
    csp_chan_release(t);
}

/* TSan's deadlock detector tracks at most 64 locks held by one thread,
 * and alts holds one per channel: stay under it there. */
#if defined(__SANITIZE_THREAD__)
#define MANY_CHANS 48
#else
#define MANY_CHANS 100
#endif

TEST(alts_over_many_channels_allocates_and_frees_its_nodes)
{
    enum { N = MANY_CHANS };
    csp_chan *ch[N];
    csp_op ops[N];
    long before = test_live_allocs();
    size_t idx;
    void *v;

    for (int i = 0; i < N; i++) {
        ch[i] = mkchan(CSP_BUF_NONE, 0);
        ops[i] = take_op(ch[i]);
    }
    before = test_live_allocs();
    ASSERT_RC(CSP_ETIMEDOUT,
              csp_alts_blocking(ops, N, 0, deadline_in(1 * MSEC), &idx, &v));
    ASSERT_EQ(before, test_live_allocs());
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(0, pending_takes(ch[i]));
        csp_chan_release(ch[i]);
    }
}

/* ------------------------------------------------------------------------
 * Callback form. */

TEST(alts_cb_ready_op_returns_ok_without_callback)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 1);
    csp_op ops[1] = {take_op(a)};
    struct alts_done d = {0};
    size_t idx = 9;
    void *v;

    ASSERT_OK(csp_chan_offer(a, V(2)));
    ASSERT_OK(csp_alts_cb(ops, 1, 0, &idx, &v, csp_exec_inline(), note_alts, &d,
                          NULL));
    ASSERT_EQ(0, idx);
    ASSERT_EQ(2, U(v));
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_chan_release(a);
}

TEST(alts_cb_pending_calls_back_once_with_index_and_value)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(a), take_op(b)};
    struct alts_done d = {0};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(),
                                       note_alts, &d, NULL));
    ASSERT_OK(csp_chan_offer(b, V(8)));
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(a, V(9)));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(CSP_OK, d.rc);
    ASSERT_EQ(1, d.idx);
    ASSERT_EQ(8, U(d.val));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_cb_pending_put_completes_when_taken)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[1] = {put_op(a, 5)};
    struct alts_done d = {0};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 1, 0, &idx, &v, csp_exec_inline(),
                                       note_alts, &d, NULL));
    ASSERT_OK(csp_chan_poll(a, &v));
    ASSERT_EQ(5, U(v));
    ASSERT_EQ(CSP_OK, d.rc);
    ASSERT_NULL(d.val);
    csp_chan_release(a);
}

TEST(alts_cb_pending_take_sees_close)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[1] = {take_op(a)};
    struct alts_done d = {0};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 1, 0, &idx, &v, csp_exec_inline(),
                                       note_alts, &d, NULL));
    ASSERT_OK(csp_chan_close(a));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(CSP_ECLOSED, d.rc);
    csp_chan_release(a);
}

TEST(alts_cb_cancel_withdraws_every_op)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(a), put_op(b, 1)};
    struct alts_done d = {0};
    csp_pending *p;
    size_t idx;
    void *v = V(1);

    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(),
                                       note_alts, &d, &p));
    ASSERT_OK(csp_pending_cancel(p, &v));
    ASSERT_NULL(v);
    ASSERT_EQ(0, pending_takes(a));
    ASSERT_EQ(0, pending_puts(b));
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(a, V(1)));
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_pending_release(p);
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_cb_cancel_after_commit_returns_eagain)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[1] = {take_op(a)};
    struct alts_done d = {0};
    csp_pending *p;
    size_t idx;
    void *v;

    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 1, 0, &idx, &v, csp_exec_inline(),
                                       note_alts, &d, &p));
    ASSERT_OK(csp_chan_offer(a, V(3)));
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &v));
    ASSERT_EQ(1, atomic_load(&d.calls));
    csp_pending_release(p);
    csp_chan_release(a);
}

TEST(alts_cb_reports_enomem_and_queues_nothing)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(a), take_op(b)};
    struct alts_done d = {0};
    long before = test_live_allocs();
    int rc = CSP_ENOMEM;
    size_t idx;
    void *v;

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(), note_alts, &d,
                         NULL);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM) {
            ASSERT_EQ(before, test_live_allocs());
            ASSERT_EQ(0, pending_takes(a));
            ASSERT_EQ(0, pending_takes(b));
        }
    }
    ASSERT_RC(CSP_PENDING, rc);
    ASSERT_OK(csp_chan_offer(a, V(1)));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(before, test_live_allocs());
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_blocking_over_many_channels_reports_enomem)
{
    enum { N = 20 };
    csp_chan *ch[N];
    csp_op ops[N];
    long before;
    int rc = CSP_ENOMEM;
    size_t idx;
    void *v;

    for (int i = 0; i < N; i++) {
        ch[i] = mkchan(CSP_BUF_NONE, 0);
        ops[i] = take_op(ch[i]);
    }
    before = test_live_allocs();
    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_alts_blocking(ops, N, 0, deadline_in(MSEC), &idx, &v);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM)
            ASSERT_EQ(before, test_live_allocs());
    }
    ASSERT_RC(CSP_ETIMEDOUT, rc);
    ASSERT_EQ(before, test_live_allocs());
    for (int i = 0; i < N; i++)
        csp_chan_release(ch[i]);
}

/* ------------------------------------------------------------------------
 * Bad input and limits. */

TEST(alts_rejects_bad_op_arrays)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 1);
    csp_op good[1] = {take_op(a)};
    csp_op null_ch[1] = {{NULL, CSP_OP_TAKE, NULL}};
    csp_op null_val[1] = {{a, CSP_OP_PUT, NULL}};
    csp_op bad_kind[1] = {{a, 7, V(1)}};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_EINVAL, csp_alts_blocking(NULL, 1, 0, 1, &idx, &v));
    ASSERT_RC(CSP_EINVAL, csp_alts_blocking(good, 0, 0, 1, &idx, &v));
    ASSERT_RC(CSP_EINVAL,
              csp_alts_blocking(good, CSP_ALTS_MAX + 1, 0, 1, &idx, &v));
    ASSERT_RC(CSP_EINVAL, csp_alts_blocking(null_ch, 1, 0, 1, &idx, &v));
    ASSERT_RC(CSP_EINVAL, csp_alts_blocking(null_val, 1, 0, 1, &idx, &v));
    ASSERT_RC(CSP_EINVAL, csp_alts_blocking(bad_kind, 1, 0, 1, &idx, &v));
    ASSERT_RC(CSP_EINVAL, csp_alts_blocking(good, 1, 0x80, 1, &idx, &v));
    ASSERT_RC(CSP_EINVAL, csp_alts_cb(good, 1, 0, &idx, &v, csp_exec_inline(),
                                      NULL, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_alts_cb(null_val, 1, 0, &idx, &v, csp_exec_inline(),
                          ignore_alts, NULL, NULL));
    csp_chan_release(a);
}

TEST(alts_checks_every_op_before_registering_any)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(a), {b, CSP_OP_PUT, NULL}};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_EINVAL, csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(),
                                      ignore_alts, NULL, NULL));
    ASSERT_EQ(0, pending_takes(a));
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(a, V(1)));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_put_on_timeout_channel_returns_eperm)
{
    csp_chan *t;
    csp_op ops[1];
    size_t idx;

    ASSERT_OK(csp_timeout(&t, test_rt, 60000));
    ops[0] = put_op(t, 1);
    ASSERT_RC(CSP_EPERM, csp_alts_blocking(ops, 1, 0, 1, &idx, NULL));
    csp_chan_release(t);
}

TEST(alts_parking_form_outside_go_returns_eperm)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 1);
    csp_op ops[1] = {take_op(a)};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_EPERM, csp_alts(ops, 1, 0, &idx, &v));
    csp_chan_release(a);
}

static void *alts_blocking_in_go(void *arg)
{
    csp_op ops[1] = {take_op(arg)};
    size_t idx;
    void *v;

    ASSERT_RC(CSP_EPERM, csp_alts_blocking(ops, 1, 0, CSP_FOREVER, &idx, &v));
    return V(1);
}

TEST(alts_blocking_inside_go_returns_eperm)
{
    csp_chan *a = mkchan(CSP_BUF_FIXED, 1), *res;
    void *v;

    ASSERT_OK(csp_go(test_rt, alts_blocking_in_go, a, &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(1, U(v));
    csp_chan_release(res);
    csp_chan_release(a);
}

TEST(alts_on_channel_with_1024_pending_takes_returns_ebusy)
{
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {take_op(b), take_op(a)};
    size_t idx;
    void *v;

    for (int i = 0; i < CSP_PENDING_MAX; i++)
        ASSERT_RC(CSP_PENDING,
                  csp_alts_cb(&ops[1], 1, 0, &idx, &v, csp_exec_inline(),
                              ignore_alts, NULL, NULL));
    ASSERT_RC(CSP_EBUSY, csp_alts_blocking(ops, 2, 0, CSP_FOREVER, &idx, &v));
    ASSERT_RC(CSP_EBUSY, csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(),
                                     ignore_alts, NULL, NULL));
    ASSERT_EQ(0, pending_takes(b));
    ASSERT_OK(csp_chan_close(a));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(alts_on_timeout_channel_is_exempt_from_the_pending_limit)
{
    csp_chan *t;
    csp_op ops[1];
    size_t idx;
    void *v;

    ASSERT_OK(csp_timeout(&t, test_rt, 60000));
    ops[0] = take_op(t);
    for (int i = 0; i < 3 * CSP_PENDING_MAX; i++)
        ASSERT_RC(CSP_PENDING,
                  csp_alts_cb(ops, 1, 0, &idx, &v, csp_exec_inline(),
                              ignore_alts, NULL, NULL));
    ASSERT_EQ(3 * CSP_PENDING_MAX, pending_takes(t));
    csp_chan_release(t);
    /* The timer still holds the channel; freeing the runtime with these
     * ops pending must be forced. */
    ASSERT_OK(csp_rt_free(test_rt, CSP_RT_FREE_FORCE));
    test_rt = NULL;
}

/* ------------------------------------------------------------------------
 * Stress: two threads alts-taking over four channels fed by two producers;
 * every value arrives exactly once. */

struct feed {
    csp_chan **ch;
    long n;
    int id;
};

static void *feeder(void *arg)
{
    struct feed *f = arg;

    for (long i = 0; i < f->n; i++) {
        uintptr_t v = (uintptr_t)f->id * (uintptr_t)f->n + (uintptr_t)i + 1;
        ASSERT_OK(
            csp_chan_put_blocking(f->ch[(f->id + i) % 4], V(v), CSP_FOREVER));
    }
    return NULL;
}

struct drain {
    csp_chan **ch;
    _Atomic unsigned char *seen;
    _Atomic long *left;
};

static void *drainer(void *arg)
{
    struct drain *d = arg;
    csp_op ops[4];
    size_t idx;
    void *v;

    for (int i = 0; i < 4; i++)
        ops[i] = take_op(d->ch[i]);
    while (atomic_load(d->left) > 0) {
        int rc = csp_alts_blocking(ops, 4, 0, deadline_in(2 * MSEC), &idx, &v);
        if (rc == CSP_ETIMEDOUT)
            continue;
        ASSERT_OK(rc);
        ASSERT_EQ(0, atomic_fetch_add(&d->seen[U(v) - 1], 1));
        atomic_fetch_sub(d->left, 1);
    }
    return NULL;
}

TEST(alts_stress_every_value_taken_exactly_once)
{
    long per = test_scaled(100000);
    csp_chan *ch[4];
    _Atomic long left = 2 * per;
    _Atomic unsigned char *seen = calloc((size_t)(2 * per), 1);
    struct feed f[2];
    struct drain d = {ch, seen, &left};
    pthread_t ft[2], dt[2];

    ASSERT_NOT_NULL(seen);
    for (int i = 0; i < 4; i++)
        ch[i] = mkchan(i % 2 ? CSP_BUF_FIXED : CSP_BUF_NONE, i % 2 ? 16 : 0);
    for (int i = 0; i < 2; i++) {
        f[i] = (struct feed){ch, per, i};
        ft[i] = spawn(feeder, &f[i]);
        dt[i] = spawn(drainer, &d);
    }
    for (int i = 0; i < 2; i++) {
        join_thread(ft[i]);
        join_thread(dt[i]);
    }
    for (long i = 0; i < 2 * per; i++)
        ASSERT_EQ(1, atomic_load(&seen[i]));
    for (int i = 0; i < 4; i++)
        csp_chan_release(ch[i]);
    free((void *)seen);
}

TEST(alts_with_a_ready_op_allocates_nothing_even_when_wide)
{
    enum { N = 20 };
    csp_chan *ch[N];
    csp_op ops[N];
    size_t idx;
    long calls;
    void *v;

    for (int i = 0; i < N; i++) {
        ch[i] = mkchan(CSP_BUF_FIXED, 1);
        ops[i] = (csp_op){ch[i], CSP_OP_TAKE, NULL};
    }
    calls = test_alloc_calls();
    for (int r = 0; r < 100; r++) {
        ASSERT_OK(csp_chan_offer(ch[r % N], V(r + 1)));
        ASSERT_OK(csp_alts_blocking(ops, N, 0, CSP_FOREVER, &idx, &v));
        ASSERT_EQ(r + 1, U(v));
    }
    ASSERT_EQ(calls, test_alloc_calls());
    for (int i = 0; i < N; i++)
        csp_chan_release(ch[i]);
}
