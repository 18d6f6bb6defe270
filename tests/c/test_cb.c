/* test_cb.c - the callback flavour: immediate completions report
 * synchronously, otherwise the callback runs exactly once on the given
 * executor and never under a channel lock; pending ops can be cancelled
 * atomically. */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

struct done {
    _Atomic int calls;
    int rc;
    void *val;
    csp_chan *done_ch; /* offered 1 on completion if not NULL */
};

static void note_done(void *ud, int rc, void *val)
{
    struct done *d = ud;

    d->rc = rc;
    d->val = val;
    atomic_fetch_add(&d->calls, 1);
    if (d->done_ch)
        ASSERT_OK(csp_chan_offer(d->done_ch, V(1)));
}

static void ignore_done(void *ud, int rc, void *val)
{
    (void)ud;
    (void)rc;
    (void)val;
}

/* An executor that queues tasks until the test runs them. */
struct queue_exec {
    csp_exec exec;
    csp_task *head, **tail;
    int submitted;
};

static void queue_submit(csp_exec *self, csp_task *t)
{
    struct queue_exec *q = (struct queue_exec *)self;

    t->next = NULL;
    *q->tail = t;
    q->tail = &t->next;
    q->submitted++;
}

static void queue_init(struct queue_exec *q)
{
    q->exec.submit = queue_submit;
    q->head = NULL;
    q->tail = &q->head;
    q->submitted = 0;
}

static int queue_drain(struct queue_exec *q)
{
    int n = 0;

    while (q->head) {
        csp_task *t = q->head;
        q->head = t->next;
        if (!q->head)
            q->tail = &q->head;
        t->run(t);
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Immediate completions. */

TEST(cb_put_with_room_returns_ok_without_callback)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    struct done d = {0};

    ASSERT_OK(
        csp_chan_put_cb(ch, V(1), csp_exec_inline(), note_done, &d, NULL));
    ASSERT_EQ(0, atomic_load(&d.calls));
    ASSERT_EQ(1, csp_chan_count(ch));
    csp_chan_release(ch);
}

TEST(cb_take_with_value_returns_ok_without_callback)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    struct done d = {0};
    void *v = NULL;

    ASSERT_OK(csp_chan_offer(ch, V(4)));
    ASSERT_OK(csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, NULL));
    ASSERT_EQ(4, U(v));
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_chan_release(ch);
}

TEST(cb_put_on_closed_returns_closed_without_callback)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    struct done d = {0};
    csp_pending *p = (csp_pending *)V(1);

    ASSERT_OK(csp_chan_close(ch));
    ASSERT_RC(CSP_ECLOSED,
              csp_chan_put_cb(ch, V(1), csp_exec_inline(), note_done, &d, &p));
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_chan_release(ch);
}

TEST(cb_take_on_closed_returns_closed_with_null_value)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    void *v = V(1);

    ASSERT_OK(csp_chan_close(ch));
    ASSERT_RC(CSP_ECLOSED,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, NULL));
    ASSERT_NULL(v);
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Pending completions. */

TEST(cb_pending_take_is_called_back_once_with_value)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    void *v;

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, NULL));
    ASSERT_OK(csp_chan_offer(ch, V(8)));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(CSP_OK, d.rc);
    ASSERT_EQ(8, U(d.val));
    csp_chan_release(ch);
}

TEST(cb_pending_put_is_called_back_once_with_null_value)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    void *v;

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(8), csp_exec_inline(),
                                           note_done, &d, NULL));
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(CSP_OK, d.rc);
    ASSERT_NULL(d.val);
    csp_chan_release(ch);
}

TEST(cb_runs_on_the_given_executor_only)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct queue_exec q;
    struct done d = {0};
    void *v;

    queue_init(&q);
    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, &q.exec, note_done, &d, NULL));
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_EQ(0, atomic_load(&d.calls)); /* queued, not run */
    ASSERT_EQ(1, q.submitted);
    ASSERT_EQ(1, queue_drain(&q));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(2, U(d.val));
    csp_chan_release(ch);
}

TEST(cb_null_executor_runs_on_the_pool)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_chan *done = mkchan(CSP_BUF_FIXED, 1);
    struct done d = {0};
    void *v;

    d.done_ch = done;
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, NULL, note_done, &d, NULL));
    ASSERT_OK(csp_chan_put_blocking(ch, V(3), deadline_in(8 * SEC)));
    ASSERT_OK(csp_chan_take_blocking(done, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(3, U(d.val));
    csp_chan_release(ch);
    csp_chan_release(done);
}

/* A callback that uses the same channel again: it would deadlock if it
 * ran under the channel's lock. */
struct reenter {
    csp_chan *ch;
    int calls;
    int inner_rc;
};

static void reenter_done(void *ud, int rc, void *val)
{
    struct reenter *r = ud;

    (void)val;
    ASSERT_EQ(CSP_OK, rc);
    r->calls++;
    r->inner_rc = csp_chan_offer(r->ch, V(77));
}

TEST(cb_runs_without_the_channel_lock_held)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    struct reenter r = {ch, 0, 99};
    void *v;

    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                            reenter_done, &r, NULL));
    ASSERT_OK(csp_chan_offer(ch, V(1)));
    ASSERT_EQ(1, r.calls);
    ASSERT_EQ(CSP_OK, r.inner_rc);
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(77, U(v));
    csp_chan_release(ch);
}

TEST(cb_pending_ops_complete_in_fifo_order)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d[10] = {{0}};
    void *v;

    for (int i = 0; i < 10; i++)
        ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                                note_done, &d[i], NULL));
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(csp_chan_offer(ch, V(i + 1)));
        ASSERT_EQ(1, atomic_load(&d[i].calls));
        ASSERT_EQ(i + 1, U(d[i].val));
    }
    csp_chan_release(ch);
}

TEST(cb_pending_put_matches_pending_take_never_itself)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done p = {0}, t = {0};
    void *v;

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(5), csp_exec_inline(),
                                           note_done, &p, NULL));
    ASSERT_OK(csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &t, NULL));
    ASSERT_EQ(5, U(v));
    ASSERT_EQ(1, atomic_load(&p.calls));
    ASSERT_EQ(0, atomic_load(&t.calls));
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Bad input. */

TEST(cb_ops_reject_null_arguments)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_exec *ex = csp_exec_inline();
    long before = test_live_allocs();
    void *v;

    ASSERT_RC(CSP_EINVAL,
              csp_chan_put_cb(NULL, V(1), ex, ignore_done, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_chan_put_cb(ch, NULL, ex, ignore_done, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_put_cb(ch, V(1), ex, NULL, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_chan_take_cb(NULL, &v, ex, ignore_done, NULL, NULL));
    ASSERT_RC(CSP_EINVAL,
              csp_chan_take_cb(ch, NULL, ex, ignore_done, NULL, NULL));
    ASSERT_RC(CSP_EINVAL, csp_chan_take_cb(ch, &v, ex, NULL, NULL, NULL));
    ASSERT_EQ(0, pending_puts(ch));
    ASSERT_EQ(0, pending_takes(ch));
    ASSERT_EQ(before, test_live_allocs());
    csp_chan_release(ch);
}

TEST(cb_pending_cancel_rejects_null)
{
    void *v;

    ASSERT_RC(CSP_EINVAL, csp_pending_cancel(NULL, &v));
    csp_pending_release(NULL);
}

TEST(cb_put_reports_enomem_and_queues_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    long before = test_live_allocs();
    struct done d = {0};
    csp_pending *p = NULL;
    int rc = CSP_ENOMEM;
    void *v;

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_chan_put_cb(ch, V(1), csp_exec_inline(), note_done, &d, &p);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM) {
            ASSERT_EQ(before, test_live_allocs());
            ASSERT_EQ(0, pending_puts(ch));
        }
    }
    ASSERT_RC(CSP_PENDING, rc);
    ASSERT_OK(csp_chan_poll(ch, &v));
    ASSERT_EQ(1, atomic_load(&d.calls));
    csp_pending_release(p);
    ASSERT_EQ(before, test_live_allocs());
    csp_chan_release(ch);
}

TEST(cb_take_reports_enomem_and_queues_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    long before = test_live_allocs();
    struct done d = {0};
    int rc = CSP_ENOMEM;
    void *v;

    for (long n = 0; rc == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        test_fail_alloc_after(n);
        rc = csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, NULL);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM) {
            ASSERT_EQ(before, test_live_allocs());
            ASSERT_EQ(0, pending_takes(ch));
        }
    }
    ASSERT_RC(CSP_PENDING, rc);
    ASSERT_OK(csp_chan_offer(ch, V(2)));
    ASSERT_EQ(2, U(d.val));
    ASSERT_EQ(before, test_live_allocs());
    csp_chan_release(ch);
}

TEST(cb_ready_ops_allocate_nothing)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 8);
    long calls;
    void *v;

    calls = test_alloc_calls();
    for (int i = 1; i <= 1000; i++) {
        ASSERT_OK(csp_chan_put_cb(ch, V(i), csp_exec_inline(), ignore_done,
                                  NULL, NULL));
        ASSERT_OK(csp_chan_take_cb(ch, &v, csp_exec_inline(), ignore_done, NULL,
                                   NULL));
        ASSERT_OK(csp_chan_offer(ch, V(i)));
        ASSERT_OK(csp_chan_poll(ch, &v));
    }
    ASSERT_EQ(calls, test_alloc_calls());
    csp_chan_release(ch);
}

/* ------------------------------------------------------------------------
 * Cancellation. */

TEST(cb_cancel_pending_put_hands_value_back_and_never_calls_back)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    csp_pending *p;
    void *v = NULL;

    ASSERT_RC(CSP_PENDING,
              csp_chan_put_cb(ch, V(6), csp_exec_inline(), note_done, &d, &p));
    ASSERT_OK(csp_pending_cancel(p, &v));
    ASSERT_EQ(6, U(v));
    ASSERT_EQ(0, pending_puts(ch));
    ASSERT_RC(CSP_EAGAIN, csp_chan_poll(ch, &v));
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_pending_release(p);
    csp_chan_release(ch);
}

TEST(cb_cancel_pending_take_withdraws_it)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    csp_pending *p;
    void *v = V(1);

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, &p));
    ASSERT_OK(csp_pending_cancel(p, &v));
    ASSERT_NULL(v);
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(ch, V(2)));
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_pending_release(p);
    csp_chan_release(ch);
}

TEST(cb_cancel_after_completion_returns_eagain)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    csp_pending *p;
    void *v;

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, &p));
    ASSERT_OK(csp_chan_offer(ch, V(3)));
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &v));
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &v));
    ASSERT_EQ(1, atomic_load(&d.calls));
    csp_pending_release(p);
    csp_chan_release(ch);
}

TEST(cb_cancel_twice_returns_eagain_the_second_time)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_pending *p;
    void *v;

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(3), csp_exec_inline(),
                                           ignore_done, NULL, &p));
    ASSERT_OK(csp_pending_cancel(p, &v));
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &v));
    csp_pending_release(p);
    csp_chan_release(ch);
}

TEST(cb_cancel_of_completed_but_unrun_callback_returns_eagain)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct queue_exec q;
    struct done d = {0};
    csp_pending *p;
    void *v;

    queue_init(&q);
    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, &q.exec, note_done, &d, &p));
    ASSERT_OK(csp_chan_offer(ch, V(4)));
    /* Completed, its callback only queued: too late to withdraw. */
    ASSERT_RC(CSP_EAGAIN, csp_pending_cancel(p, &v));
    ASSERT_EQ(1, queue_drain(&q));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(4, U(d.val));
    csp_pending_release(p);
    csp_chan_release(ch);
}

TEST(cb_release_without_cancel_still_calls_back)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    csp_pending *p;
    void *v;

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, &p));
    csp_pending_release(p);
    ASSERT_OK(csp_chan_offer(ch, V(5)));
    ASSERT_EQ(1, atomic_load(&d.calls));
    csp_chan_release(ch);
}

/* Cancel racing a completing op on another thread, many times: each round
 * the value is either delivered (callback once, cancel EAGAIN) or handed
 * back (no callback, cancel OK), never both, never neither. */
struct race {
    csp_chan *ch;
    long rounds;
    _Atomic long go;   /* the taker may run round go-1 */
    _Atomic long done; /* rounds the taker has finished */
    _Atomic int got;   /* the taker got this round's value */
};

static void *race_taker(void *arg)
{
    struct race *r = arg;
    void *v;

    for (long i = 0; i < r->rounds; i++) {
        while (atomic_load(&r->go) <= i)
            sched_yield();
        if (csp_chan_poll(r->ch, &v) == CSP_OK) {
            ASSERT_EQ(i + 1, U(v));
            atomic_store(&r->got, 1);
        }
        atomic_store(&r->done, i + 1);
    }
    return NULL;
}

TEST(cb_cancel_racing_completion_is_exactly_once) // timeout=30
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct race r = {ch, test_scaled(20000), 0, 0, 0};
    pthread_t t = spawn(race_taker, &r);
    long withdrawn = 0, delivered = 0;

    for (long i = 0; i < r.rounds; i++) {
        struct done d = {0};
        csp_pending *p;
        void *v = NULL;
        int rc;

        atomic_store(&r.got, 0);
        ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(i + 1), csp_exec_inline(),
                                               note_done, &d, &p));
        atomic_store(&r.go, i + 1); /* the taker polls now ... */
        /* ... while we withdraw after a varying delay, so that both
         * outcomes happen often. */
        for (volatile long k = (i * 7919) % 4000; k > 0; k--)
            ;
        rc = csp_pending_cancel(p, &v);
        while (atomic_load(&r.done) <= i)
            sched_yield();
        if (rc == CSP_OK) {
            ASSERT_EQ(i + 1, U(v));
            ASSERT_EQ(0, atomic_load(&r.got));
            ASSERT_EQ(0, atomic_load(&d.calls));
            withdrawn++;
        } else {
            ASSERT_RC(CSP_EAGAIN, rc);
            ASSERT_EQ(1, atomic_load(&r.got));
            ASSERT_EQ(1, atomic_load(&d.calls));
            delivered++;
        }
        csp_pending_release(p);
    }
    join_thread(t);
    ASSERT_EQ(r.rounds, withdrawn + delivered);
    ASSERT_TRUE(withdrawn > 0);
    fprintf(stderr, "%ld withdrawn, %ld delivered\n", withdrawn, delivered);
    csp_chan_release(ch);
}

/* Callbacks from many threads through the pool: every op completes once. */
struct counter {
    _Atomic long calls;
    _Atomic long sum;
    csp_chan *done;
    long expect;
};

static void count_done(void *ud, int rc, void *val)
{
    struct counter *c = ud;

    ASSERT_EQ(CSP_OK, rc);
    atomic_fetch_add(&c->sum, (long)U(val));
    if (atomic_fetch_add(&c->calls, 1) + 1 == c->expect)
        ASSERT_OK(csp_chan_offer(c->done, V(1)));
}

TEST(cb_many_pending_takes_on_pool_complete_exactly_once)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    long n = test_scaled(100000);
    struct counter c = {0, 0, mkchan(CSP_BUF_FIXED, 1), n};
    void *v;

    /* Issue takes in batches that stay under the pending limit. */
    for (long i = 1; i <= n;) {
        long batch = 0;
        for (; batch < 512 && i + batch <= n; batch++) {
            int rc = csp_chan_take_cb(ch, &v, NULL, count_done, &c, NULL);
            ASSERT_RC(CSP_PENDING, rc);
        }
        for (long k = 0; k < batch; k++, i++)
            ASSERT_OK(csp_chan_put_blocking(ch, V(i), deadline_in(8 * SEC)));
    }
    ASSERT_OK(csp_chan_take_blocking(c.done, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(n, atomic_load(&c.calls));
    ASSERT_EQ(n * (n + 1) / 2, atomic_load(&c.sum));
    csp_chan_release(c.done);
    csp_chan_release(ch);
}

/* Destructors with work in flight (issue #11): a channel released by its
 * user while a callback op waits on it lives on until the op is settled,
 * and is then freed (the runner's leak check holds it). */
TEST(chan_released_with_pending_cb_take_lives_until_cancel)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    struct done d = {0};
    csp_pending *p;
    void *v;

    ASSERT_RC(CSP_PENDING,
              csp_chan_take_cb(ch, &v, csp_exec_inline(), note_done, &d, &p));
    csp_chan_release(ch); /* the op's reference keeps it */
    ASSERT_OK(csp_pending_cancel(p, NULL));
    ASSERT_EQ(0, atomic_load(&d.calls));
    csp_pending_release(p);
}

TEST(chan_released_with_pending_cb_put_gets_value_back_at_forced_free)
{
    csp_rt *rt;
    csp_chan *ch;
    struct done d = {0};

    ASSERT_OK(csp_rt_new(&rt, NULL, NULL));
    ASSERT_OK(csp_chan_new(&ch, rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(12), csp_exec_inline(),
                                           note_done, &d, NULL));
    csp_chan_release(ch);
    ASSERT_OK(csp_rt_free(rt, CSP_RT_FREE_FORCE));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_RC(CSP_ECANCELED, d.rc);
    ASSERT_EQ(12, U(d.val));
}

TEST(chan_released_with_pending_cb_take_completes_from_another_holder)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_chan *other = csp_chan_retain(ch);
    struct done d = {0};
    void *v;

    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                            note_done, &d, NULL));
    csp_chan_release(ch);
    ASSERT_OK(csp_chan_offer(other, V(3)));
    ASSERT_EQ(1, atomic_load(&d.calls));
    ASSERT_EQ(3, U(d.val));
    csp_chan_release(other);
}
