/* test_loop.c - the loop executor: callbacks queued for one host thread,
 * a wake-up descriptor that is readable exactly when work is queued, runs
 * bounded by max, and submissions racing with runs. */
#include <poll.h>
#include <unistd.h>

#include "util.h"

extern _Atomic long csp__loop_fail_fd;

static int readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};

    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

struct counted {
    csp_task task;
    int *runs;
    pthread_t *thread;
};

static void count_run(csp_task *t)
{
    struct counted *c = (struct counted *)t;

    (*c->runs)++;
    if (c->thread)
        *c->thread = pthread_self();
}

TEST(loop_new_gives_a_descriptor_not_readable_when_idle)
{
    csp_loop *loop;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ASSERT_TRUE(csp_loop_fd(loop) >= 0);
    ASSERT_FALSE(readable(csp_loop_fd(loop)));
    ASSERT_NOT_NULL(csp_loop_executor(loop));
    ASSERT_EQ(0, csp_loop_run(loop, -1));
    csp_loop_free(loop);
}

TEST(loop_rejects_null_arguments)
{
    csp_loop *loop;

    ASSERT_RC(CSP_EINVAL, csp_loop_new(NULL, test_rt));
    ASSERT_RC(CSP_EINVAL, csp_loop_new(&loop, NULL));
    ASSERT_EQ(-1, csp_loop_fd(NULL));
    ASSERT_NULL(csp_loop_executor(NULL));
    ASSERT_RC(CSP_EINVAL, csp_loop_run(NULL, -1));
    ASSERT_RC(CSP_EINVAL, csp_loop_wait(NULL, 0));
    csp_loop_free(NULL);
}

TEST(loop_new_reports_enomem_when_no_descriptor)
{
    csp_loop *loop = NULL;

    atomic_store(&csp__loop_fail_fd, 1);
    ASSERT_RC(CSP_ENOMEM, csp_loop_new(&loop, test_rt));
    atomic_store(&csp__loop_fail_fd, 0);
    ASSERT_OK(csp_loop_new(&loop, test_rt));
    csp_loop_free(loop);
}

TEST(loop_submit_makes_descriptor_readable_and_run_clears_it)
{
    csp_loop *loop;
    int runs = 0;
    struct counted c = {{NULL, count_run}, &runs, NULL};
    csp_exec *ex;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ex = csp_loop_executor(loop);
    ex->submit(ex, &c.task);
    ASSERT_EQ(0, runs); /* queued, not run */
    ASSERT_TRUE(readable(csp_loop_fd(loop)));
    ASSERT_EQ(1, csp_loop_run(loop, -1));
    ASSERT_EQ(1, runs);
    ASSERT_FALSE(readable(csp_loop_fd(loop)));
    csp_loop_free(loop);
}

TEST(loop_run_with_max_runs_at_most_max_and_stays_readable)
{
    csp_loop *loop;
    int runs = 0;
    struct counted c[5];
    csp_exec *ex;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ex = csp_loop_executor(loop);
    for (int i = 0; i < 5; i++) {
        c[i] = (struct counted){{NULL, count_run}, &runs, NULL};
        ex->submit(ex, &c[i].task);
    }
    ASSERT_EQ(2, csp_loop_run(loop, 2));
    ASSERT_EQ(2, runs);
    ASSERT_TRUE(readable(csp_loop_fd(loop)));
    ASSERT_EQ(3, csp_loop_run(loop, -1));
    ASSERT_EQ(5, runs);
    ASSERT_FALSE(readable(csp_loop_fd(loop)));
    csp_loop_free(loop);
}

TEST(loop_wait_returns_zero_on_timeout_and_one_when_queued)
{
    csp_loop *loop;
    int runs = 0;
    struct counted c = {{NULL, count_run}, &runs, NULL};
    csp_exec *ex;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ex = csp_loop_executor(loop);
    ASSERT_EQ(0, csp_loop_wait(loop, 0));
    ASSERT_EQ(0, csp_loop_wait(loop, 5));
    ex->submit(ex, &c.task);
    ASSERT_EQ(1, csp_loop_wait(loop, -1));
    ASSERT_EQ(1, csp_loop_run(loop, -1));
    csp_loop_free(loop);
}

struct order_done {
    int *log;
    int *n;
    int id;
};

static void log_done(void *ud, int rc, void *val)
{
    struct order_done *o = ud;

    (void)rc;
    (void)val;
    o->log[(*o->n)++] = o->id;
}

TEST(loop_callbacks_run_in_completion_order_on_the_host_thread)
{
    csp_loop *loop;
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    int log[3] = {0}, n = 0;
    struct order_done o[3];
    void *v;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    for (int i = 0; i < 3; i++) {
        o[i] = (struct order_done){log, &n, i + 1};
        ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_loop_executor(loop),
                                                log_done, &o[i], NULL));
    }
    for (int i = 0; i < 3; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i + 1)));
    ASSERT_EQ(0, n);
    ASSERT_EQ(3, csp_loop_run(loop, -1));
    ASSERT_EQ(1, log[0]);
    ASSERT_EQ(2, log[1]);
    ASSERT_EQ(3, log[2]);
    csp_chan_release(ch);
    csp_loop_free(loop);
}

TEST(loop_free_runs_tasks_still_queued)
{
    csp_loop *loop;
    int runs = 0;
    struct counted c = {{NULL, count_run}, &runs, NULL};
    csp_exec *ex;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ex = csp_loop_executor(loop);
    ex->submit(ex, &c.task);
    csp_loop_free(loop);
    ASSERT_EQ(1, runs);
}

/* Many threads complete ops whose callbacks go to one loop, while the
 * host runs it: every callback runs once, on the host thread, and no
 * wake-up is lost (the host waits on the descriptor with no timeout). */
struct host_count {
    _Atomic long calls;
    pthread_t host;
    _Atomic int wrong_thread;
};

static void host_done(void *ud, int rc, void *val)
{
    struct host_count *h = ud;

    (void)val;
    ASSERT_EQ(CSP_OK, rc);
    if (!pthread_equal(pthread_self(), h->host))
        atomic_store(&h->wrong_thread, 1);
    atomic_fetch_add(&h->calls, 1);
}

struct feeder {
    csp_chan *ch;
    long n;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;

    for (long i = 1; i <= f->n; i++)
        ASSERT_OK(csp_chan_put_blocking(f->ch, V(i), CSP_FOREVER));
    return NULL;
}

TEST(loop_race_submitters_against_host_loses_no_wake_up)
{
    csp_loop *loop;
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    long per = test_scaled(20000);
    struct host_count h = {0, pthread_self(), 0};
    struct feeder f = {ch, per};
    pthread_t t[2];
    long issued = 0, immediate = 0;
    int64_t end = deadline_in(8 * SEC * test_slowdown());
    void *v;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    t[0] = spawn(feed, &f);
    t[1] = spawn(feed, &f);
    while (atomic_load(&h.calls) + immediate < 2 * per) {
        /* Keep up to 64 takes queued; run callbacks as they arrive. */
        while (issued - atomic_load(&h.calls) - immediate < 64 &&
               issued < 2 * per) {
            int rc = csp_chan_take_cb(ch, &v, csp_loop_executor(loop),
                                      host_done, &h, NULL);
            if (rc == CSP_OK)
                immediate++;
            else
                ASSERT_RC(CSP_PENDING, rc);
            issued++;
        }
        if (atomic_load(&h.calls) + immediate >= 2 * per)
            break;
        ASSERT_EQ(1, csp_loop_wait(loop, -1));
        ASSERT_TRUE(csp_loop_run(loop, -1) >= 0);
        ASSERT_TRUE(csp_now_ns() < end);
    }
    join_thread(t[0]);
    join_thread(t[1]);
    ASSERT_EQ(2 * per, atomic_load(&h.calls) + immediate);
    ASSERT_EQ(0, atomic_load(&h.wrong_thread));
    csp_chan_release(ch);
    csp_loop_free(loop);
}

/* ------------------------------------------------------------------------
 * CSP_LOOP_NO_FD loops (a condition variable instead of a descriptor) and
 * csp_loop_wake. */

TEST(loop_new_ex_rejects_unknown_flags_and_null_arguments)
{
    csp_loop *loop = NULL;

    ASSERT_RC(CSP_EINVAL, csp_loop_new_ex(&loop, test_rt, 2));
    ASSERT_RC(CSP_EINVAL, csp_loop_new_ex(NULL, test_rt, CSP_LOOP_NO_FD));
    ASSERT_RC(CSP_EINVAL, csp_loop_new_ex(&loop, NULL, CSP_LOOP_NO_FD));
    ASSERT_NULL(loop);
    csp_loop_wake(NULL);
}

TEST(loop_no_fd_has_no_descriptor_and_runs_tasks)
{
    csp_loop *loop;
    int runs = 0;
    struct counted c = {{NULL, count_run}, &runs, NULL};

    ASSERT_OK(csp_loop_new_ex(&loop, test_rt, CSP_LOOP_NO_FD));
    ASSERT_EQ(-1, csp_loop_fd(loop));
    ASSERT_EQ(0, csp_loop_wait(loop, 0));
    csp_loop_executor(loop)->submit(csp_loop_executor(loop), &c.task);
    ASSERT_EQ(1, csp_loop_wait(loop, 0));
    ASSERT_EQ(1, csp_loop_run(loop, -1));
    ASSERT_EQ(1, runs);
    csp_loop_free(loop);
}

TEST(loop_no_fd_new_reports_enomem)
{
    csp_loop *loop = NULL;

    atomic_store(&csp__loop_fail_fd, 1);
    ASSERT_RC(CSP_ENOMEM, csp_loop_new_ex(&loop, test_rt, CSP_LOOP_NO_FD));
    ASSERT_NULL(loop);
}

TEST(loop_wake_makes_wait_return_until_the_next_run)
{
    csp_loop *loop;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    csp_loop_wake(loop);
    ASSERT_EQ(1, csp_loop_wait(loop, -1)); /* returns at once */
    ASSERT_EQ(0, csp_loop_run(loop, -1));  /* consumes the wake-up */
    ASSERT_EQ(0, csp_loop_wait(loop, 0));
    csp_loop_free(loop);
}

TEST(loop_no_fd_wake_makes_wait_return_until_the_next_run)
{
    csp_loop *loop;

    ASSERT_OK(csp_loop_new_ex(&loop, test_rt, CSP_LOOP_NO_FD));
    csp_loop_wake(loop);
    ASSERT_EQ(1, csp_loop_wait(loop, -1));
    ASSERT_EQ(0, csp_loop_run(loop, -1));
    ASSERT_EQ(0, csp_loop_wait(loop, 0));
    csp_loop_free(loop);
}

TEST(loop_no_fd_wait_times_out)
{
    csp_loop *loop;
    int64_t t0 = csp_now_ns();

    ASSERT_OK(csp_loop_new_ex(&loop, test_rt, CSP_LOOP_NO_FD));
    ASSERT_EQ(0, csp_loop_wait(loop, 20));
    ASSERT_TRUE(csp_now_ns() - t0 >= 20 * MSEC);
    csp_loop_free(loop);
}

/* Submitters on other threads against a host that waits on the condition
 * variable: every task runs, and the host never sleeps through one. */
struct nofd_race {
    csp_loop *loop;
    struct counted *tasks;
    int n;
};

static void *nofd_submitter(void *arg)
{
    struct nofd_race *r = arg;
    csp_exec *ex = csp_loop_executor(r->loop);

    for (int i = 0; i < r->n; i++)
        ex->submit(ex, &r->tasks[i].task);
    return NULL;
}

TEST(loop_no_fd_race_submitters_against_host_loses_no_wake_up)
{
    enum { PER = 20000 };
    csp_loop *loop;
    static struct counted tasks[2][PER];
    int runs = 0;
    struct nofd_race r[2];
    pthread_t t[2];

    ASSERT_OK(csp_loop_new_ex(&loop, test_rt, CSP_LOOP_NO_FD));
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < PER; i++)
            tasks[k][i] = (struct counted){{NULL, count_run}, &runs, NULL};
        r[k] = (struct nofd_race){loop, tasks[k], PER};
        t[k] = spawn(nofd_submitter, &r[k]);
    }
    while (runs < 2 * PER) {
        ASSERT_EQ(1, csp_loop_wait(loop, 5000)); /* never sleeps through */
        csp_loop_run(loop, -1);
    }
    join_thread(t[0]);
    join_thread(t[1]);
    ASSERT_EQ(2 * PER, runs);
    csp_loop_free(loop);
}
