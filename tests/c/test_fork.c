/* test_fork.c - what survives fork() (docs/design.md §8 "fork") and how a
 * loop executor with work in flight is freed.
 *
 * Each fork test runs its check in a child, which reports through its
 * exit status (0: passed; otherwise the line of the failed check) and
 * leaves with _exit; the parent waits for it with a deadline and kills it
 * if it hangs, so a deadlock in the child is a failure, not a stuck run.
 * Tests whose child starts threads are marked notsan: ThreadSanitizer
 * does not support threads started after a multithreaded fork.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* The child reports through a pipe and then kills itself: a child that
 * exits would be leak-checked by valgrind, and memory that only the
 * parent's other threads referenced (their parkers, by design) is
 * unreachable there. */
static int status_fd = -1;

static void child_exit(int code)
{
    unsigned char c = (unsigned char)code;

    if (write(status_fd, &c, 1) != 1)
        _exit(250);
    kill(getpid(), SIGKILL);
    _exit(251);
}

/* In the child: fail with the line number as the status. */
#define CHILD_CHECK(cond)                                                    \
    do {                                                                     \
        if (!(cond))                                                         \
            child_exit(__LINE__ % 240 + 1);                                  \
    } while (0)

/* Fork; the child runs FN(ARG) and reports 0 if it returns. The parent
 * waits up to 8 s (times the sanitizer slowdown) for the report, then
 * kills the child. Returns the child's report (0 passed), 255 if it gave
 * none in time, 254 if fork failed. */
static int in_child(void (*fn)(void *), void *arg)
{
    int fds[2];
    unsigned char code = 255;
    struct pollfd pfd;
    pid_t pid;

    ASSERT_EQ(0, pipe(fds));
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        status_fd = fds[1];
        fn(arg);
        child_exit(0);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return 254;
    }
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 8000 * test_slowdown()) == 1 &&
        read(fds[0], &code, 1) != 1)
        code = 253; /* died without a report */
    close(fds[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return code;
}

static void *give_42(void *arg)
{
    (void)arg;
    return V(42);
}

static void *take_one(void *arg)
{
    void *v = NULL;

    csp_chan_take(arg, &v);
    return v;
}

/* Start RT's workers and timer thread in the parent, so the child
 * inherits a runtime whose threads are gone. */
static void warm(csp_rt *rt)
{
    csp_chan *r, *t;
    void *v;

    ASSERT_OK(csp_go(rt, give_42, NULL, &r));
    ASSERT_OK(csp_chan_take_blocking(r, &v, deadline_in(5 * SEC)));
    csp_chan_release(r);
    ASSERT_OK(csp_timeout(&t, rt, 1));
    csp_chan_take_blocking(t, &v, deadline_in(5 * SEC));
    csp_chan_release(t);
}

static void child_spawns_and_takes(void *arg)
{
    csp_rt *rt = arg;
    csp_chan *r;
    void *v = NULL;

    CHILD_CHECK(csp_go(rt, give_42, NULL, &r) == CSP_OK);
    CHILD_CHECK(csp_chan_take_blocking(r, &v, deadline_in(5 * SEC)) ==
                CSP_OK);
    CHILD_CHECK(U(v) == 42);
    csp_chan_release(r);
}

TEST(fork_child_runs_go_processes_on_fresh_workers) // notsan
{
    warm(test_rt);
    ASSERT_EQ(0, in_child(child_spawns_and_takes, test_rt));
}

TEST(fork_child_runs_go_processes_on_the_default_runtime) // notsan
{
    warm(csp_rt_default());
    ASSERT_EQ(0, in_child(child_spawns_and_takes, csp_rt_default()));
}

static void child_timeout_fires(void *arg)
{
    csp_rt *rt = arg;
    csp_chan *t;
    void *v = NULL;
    int64_t start = csp_now_ns();

    CHILD_CHECK(csp_timeout(&t, rt, 20) == CSP_OK);
    CHILD_CHECK(csp_chan_take_blocking(t, &v, deadline_in(5 * SEC)) ==
                CSP_ECLOSED);
    CHILD_CHECK(csp_now_ns() - start >= 20 * MSEC);
    csp_chan_release(t);
}

TEST(fork_child_timeouts_fire_on_a_new_timer_thread) // notsan
{
    warm(test_rt);
    ASSERT_EQ(0, in_child(child_timeout_fires, test_rt));
}

static csp_chan *inherited_timeout;

static void child_inherited_timeout_fires(void *arg)
{
    void *v = NULL;

    (void)arg;
    CHILD_CHECK(csp_chan_take_blocking(inherited_timeout, &v,
                                       deadline_in(5 * SEC)) == CSP_ECLOSED);
}

TEST(fork_child_timeout_made_before_the_fork_still_fires) // notsan
{
    void *v;

    warm(test_rt);
    ASSERT_OK(csp_timeout(&inherited_timeout, test_rt, 200));
    ASSERT_EQ(0, in_child(child_inherited_timeout_fires, NULL));
    csp_chan_take_blocking(inherited_timeout, &v, deadline_in(5 * SEC));
    csp_chan_release(inherited_timeout);
}

static void child_takes_three(void *arg)
{
    csp_chan *ch = arg;
    void *v = NULL;

    for (uintptr_t i = 1; i <= 3; i++) {
        CHILD_CHECK(csp_chan_poll(ch, &v) == CSP_OK);
        CHILD_CHECK(U(v) == i);
    }
    CHILD_CHECK(csp_chan_poll(ch, &v) == CSP_EAGAIN);
}

TEST(fork_child_keeps_buffered_values)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 4);

    for (uintptr_t i = 1; i <= 3; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    ASSERT_EQ(0, in_child(child_takes_three, ch));
    /* The parent's copy is untouched. */
    ASSERT_EQ(0, in_child(child_takes_three, ch));
    csp_chan_release(ch);
}

struct parked {
    csp_chan *in, *result;
};

static void child_sees_parent_proc_gone(void *arg)
{
    struct parked *p = arg;
    void *v = NULL;
    int64_t live = -1;

    /* The proc's result channel is closed with no value... */
    CHILD_CHECK(csp_chan_take_blocking(p->result, &v, deadline_in(5 * SEC)) ==
                CSP_ECLOSED);
    /* ...and its take no longer waits on IN: nobody takes an offer. */
    CHILD_CHECK(csp_chan_offer(p->in, V(7)) == CSP_EAGAIN);
    CHILD_CHECK(pending_takes(p->in) == 0);
    CHILD_CHECK(csp_rt_stat(test_rt, CSP_STAT_PROCS_LIVE, &live) == CSP_OK);
    CHILD_CHECK(live == 0);
}

TEST(fork_child_discards_parent_procs_and_closes_their_results)
{
    struct parked p;
    void *v;

    p.in = mkchan(CSP_BUF_NONE, 0);
    ASSERT_OK(csp_go(test_rt, take_one, p.in, &p.result));
    wait_pending(pending_takes, p.in, 1);
    ASSERT_EQ(0, in_child(child_sees_parent_proc_gone, &p));
    /* In the parent the proc still waits, and gets its value. */
    ASSERT_OK(csp_chan_put_blocking(p.in, V(9), deadline_in(5 * SEC)));
    ASSERT_OK(csp_chan_take_blocking(p.result, &v, deadline_in(5 * SEC)));
    ASSERT_EQ(9, U(v));
    csp_chan_release(p.in);
    csp_chan_release(p.result);
}

struct blocked {
    csp_chan *ch;
    void *got;
};

static void *blocked_taker(void *arg)
{
    struct blocked *b = arg;

    csp_chan_take_blocking(b->ch, &b->got, deadline_in(5 * SEC));
    return NULL;
}

static void child_sees_no_parent_taker(void *arg)
{
    csp_chan *ch = arg;

    CHILD_CHECK(pending_takes(ch) == 0);
    CHILD_CHECK(csp_chan_offer(ch, V(5)) == CSP_EAGAIN);
}

TEST(fork_child_forgets_threads_blocked_in_the_parent)
{
    struct blocked b = {mkchan(CSP_BUF_NONE, 0), NULL};
    pthread_t t = spawn(blocked_taker, &b);

    wait_pending(pending_takes, b.ch, 1);
    ASSERT_EQ(0, in_child(child_sees_no_parent_taker, b.ch));
    ASSERT_OK(csp_chan_put_blocking(b.ch, V(3), deadline_in(5 * SEC)));
    join_thread(t);
    ASSERT_EQ(3, U(b.got));
    csp_chan_release(b.ch);
}

struct cbrec {
    int rc;
    void *val;
    int runs;
    int fd; /* written once per run, for a child to wait on */
};

static void record_cb(void *ud, int rc, void *val)
{
    struct cbrec *r = ud;
    char c = 1;

    r->rc = rc;
    r->val = val;
    r->runs++;
    if (r->fd >= 0 && write(r->fd, &c, 1) != 1)
        abort();
}

static struct cbrec loop_rec = {0, NULL, 0, -1};
static csp_loop *fork_loop;
static csp_chan *fork_chan;

static void child_loop_op_cancelled(void *arg)
{
    struct pollfd p;
    int64_t ops = -1;

    (void)arg;
    p.fd = csp_loop_fd(fork_loop);
    p.events = POLLIN;
    CHILD_CHECK(poll(&p, 1, 5000) == 1);
    CHILD_CHECK(csp_loop_run(fork_loop, -1) == 1);
    CHILD_CHECK(loop_rec.runs == 1);
    CHILD_CHECK(loop_rec.rc == CSP_ECANCELED);
    CHILD_CHECK(U(loop_rec.val) == 11); /* the put's value handed back */
    CHILD_CHECK(pending_puts(fork_chan) == 0);
    CHILD_CHECK(csp_rt_stat(test_rt, CSP_STAT_OPS_PENDING, &ops) == CSP_OK);
    CHILD_CHECK(ops == 0);
    csp_loop_free(fork_loop);
}

TEST(fork_child_cancels_waiting_loop_callback_ops)
{
    void *v;

    fork_chan = mkchan(CSP_BUF_NONE, 0);
    ASSERT_OK(csp_loop_new(&fork_loop, test_rt));
    ASSERT_RC(CSP_PENDING,
              csp_chan_put_cb(fork_chan, V(11), csp_loop_executor(fork_loop),
                              record_cb, &loop_rec, NULL));
    ASSERT_EQ(0, in_child(child_loop_op_cancelled, NULL));
    /* The parent's op is still pending and completes normally. */
    ASSERT_EQ(0, loop_rec.runs);
    ASSERT_OK(csp_chan_take_blocking(fork_chan, &v, deadline_in(5 * SEC)));
    ASSERT_EQ(11, U(v));
    while (loop_rec.runs == 0) {
        ASSERT_EQ(1, csp_loop_wait(fork_loop, 5000));
        csp_loop_run(fork_loop, -1);
    }
    ASSERT_RC(CSP_OK, loop_rec.rc);
    csp_loop_free(fork_loop);
    csp_chan_release(fork_chan);
}

static struct cbrec pool_rec = {0, NULL, 0, -1};
static int pool_pipe[2];

static void child_pool_op_cancelled(void *arg)
{
    struct pollfd p;
    char c;

    (void)arg;
    p.fd = pool_pipe[0];
    p.events = POLLIN;
    CHILD_CHECK(poll(&p, 1, 5000) == 1);
    CHILD_CHECK(read(pool_pipe[0], &c, 1) == 1);
    CHILD_CHECK(pool_rec.rc == CSP_ECANCELED);
    CHILD_CHECK(pool_rec.val == NULL);
    CHILD_CHECK(pool_rec.runs == 1);
}

TEST(fork_child_cancels_waiting_pool_callback_ops_on_new_workers) // notsan
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    void *v = NULL;
    char c;

    ASSERT_EQ(0, pipe(pool_pipe));
    pool_rec.fd = pool_pipe[1];
    warm(test_rt);
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, NULL, record_cb,
                                            &pool_rec, NULL));
    ASSERT_EQ(0, in_child(child_pool_op_cancelled, NULL));
    ASSERT_EQ(0, pool_rec.runs);
    ASSERT_OK(csp_chan_put_blocking(ch, V(4), deadline_in(5 * SEC)));
    ASSERT_EQ(1, read(pool_pipe[0], &c, 1));
    ASSERT_EQ(4, U(pool_rec.val));
    close(pool_pipe[0]);
    close(pool_pipe[1]);
    csp_chan_release(ch);
}

static void child_frees_runtime(void *arg)
{
    csp_rt *rt;
    csp_chan *r;
    void *v;

    (void)arg;
    CHILD_CHECK(csp_rt_new(&rt, NULL, NULL) == CSP_OK);
    CHILD_CHECK(csp_go(rt, give_42, NULL, &r) == CSP_OK);
    CHILD_CHECK(csp_chan_take_blocking(r, &v, deadline_in(5 * SEC)) ==
                CSP_OK);
    csp_chan_release(r);
    CHILD_CHECK(csp_rt_free(rt, 0) == CSP_OK);
    CHILD_CHECK(csp_rt_free(test_rt, 0) == CSP_OK);
}

TEST(fork_child_frees_inherited_and_new_runtimes) // notsan
{
    warm(test_rt);
    ASSERT_EQ(0, in_child(child_frees_runtime, NULL));
}

/* Forks while go processes, a thread and callbacks hammer channels: every
 * child finds consistent locks and queues and runs its own traffic. */
struct traffic {
    csp_chan *a, *b;
    atomic_int stop;
};

static void *ping(void *arg)
{
    struct traffic *t = arg;
    void *v;

    while (!atomic_load(&t->stop)) {
        if (csp_chan_put(t->a, V(1)) != CSP_OK)
            break;
        if (csp_chan_take(t->b, &v) != CSP_OK)
            break;
    }
    return NULL;
}

static void *pong(void *arg)
{
    struct traffic *t = arg;
    void *v;

    for (;;) {
        if (csp_chan_take(t->a, &v) != CSP_OK)
            break;
        if (csp_chan_put(t->b, v) != CSP_OK)
            break;
    }
    return NULL;
}

static void child_runs_own_traffic(void *arg)
{
    struct traffic *t = arg;
    csp_chan *a, *b, *r2;
    struct traffic mine;
    void *v;

    CHILD_CHECK(csp_chan_new(&a, test_rt, CSP_BUF_NONE, 0, NULL, NULL) ==
                CSP_OK);
    CHILD_CHECK(csp_chan_new(&b, test_rt, CSP_BUF_NONE, 0, NULL, NULL) ==
                CSP_OK);
    mine.a = a;
    mine.b = b;
    atomic_init(&mine.stop, 0);
    CHILD_CHECK(csp_go(test_rt, pong, &mine, &r2) == CSP_OK);
    for (int i = 0; i < 300; i++) {
        CHILD_CHECK(csp_chan_put_blocking(a, V(i + 1),
                                          deadline_in(5 * SEC)) == CSP_OK);
        CHILD_CHECK(csp_chan_take_blocking(b, &v, deadline_in(5 * SEC)) ==
                    CSP_OK);
        CHILD_CHECK(U(v) == (uintptr_t)i + 1);
    }
    csp_chan_close(a);
    CHILD_CHECK(csp_chan_take_blocking(r2, &v, deadline_in(5 * SEC)) ==
                CSP_ECLOSED);
    /* The parent's channels are usable too (their waiters are gone). */
    csp_chan_close(t->a);
    CHILD_CHECK(csp_chan_offer(t->b, V(1)) == CSP_EAGAIN ||
                csp_chan_poll(t->b, &v) != CSP_OK);
}

TEST(fork_during_heavy_traffic_gives_consistent_children) // notsan
{
    struct traffic t;
    csp_chan *r1, *r2;
    void *v;

    t.a = mkchan(CSP_BUF_NONE, 0);
    t.b = mkchan(CSP_BUF_NONE, 0);
    atomic_init(&t.stop, 0);
    ASSERT_OK(csp_go(test_rt, ping, &t, &r1));
    ASSERT_OK(csp_go(test_rt, pong, &t, &r2));
    for (int i = 0; i < 12; i++)
        ASSERT_EQ(0, in_child(child_runs_own_traffic, &t));
    atomic_store(&t.stop, 1);
    csp_chan_take_blocking(r1, &v, deadline_in(5 * SEC));
    csp_chan_close(t.a);
    csp_chan_take_blocking(r2, &v, deadline_in(5 * SEC));
    csp_chan_release(r1);
    csp_chan_release(r2);
    csp_chan_release(t.a);
    csp_chan_release(t.b);
}

static void *fork_in_go(void *arg)
{
    pid_t pid = fork();
    int status = -1;

    (void)arg;
    if (pid == 0) /* POSIX's rule: a child of a runtime thread only exits */
        kill(getpid(), SIGKILL); /* (not leak-checked by valgrind) */
    waitpid(pid, &status, 0);
    return V(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 1 : 2);
}

/* A thread dropping domain values (each drop holds the domain lock a
 * while) races fork(): the child can still use the domains. */
static _Atomic int drops_stop;

static void slow_drop(void *ud, void *v)
{
    (void)ud;
    (void)v;
    for (volatile int i = 0; i < 2000; i++)
        ;
}

static void *drop_loop(void *arg)
{
    int d = *(int *)arg;

    while (!atomic_load(&drops_stop))
        csp_value_drop(NULL, CSP_VAL_DOMAIN(d, 8));
    return NULL;
}

static void child_registers_a_domain(void *arg)
{
    int d;

    (void)arg;
    CHILD_CHECK(csp_value_domain_new(&d, slow_drop, NULL) == CSP_OK);
    csp_value_drop(NULL, CSP_VAL_DOMAIN(d, 1));
    CHILD_CHECK(csp_value_domain_free(d) == CSP_OK);
}

TEST(fork_racing_domain_drops_leaves_the_child_a_free_domain_lock)
{
    int d;
    pthread_t t;

    ASSERT_OK(csp_value_domain_new(&d, slow_drop, NULL));
    /* The atfork handlers are registered with the first runtime. */
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    atomic_store(&drops_stop, 0);
    ASSERT_EQ(0, pthread_create(&t, NULL, drop_loop, &d));
    for (int i = 0; i < 20; i++)
        ASSERT_EQ(0, in_child(child_registers_a_domain, NULL));
    atomic_store(&drops_stop, 1);
    pthread_join(t, NULL);
    ASSERT_OK(csp_value_domain_free(d));
    csp_chan_release(ch);
}

TEST(fork_from_a_go_process_leaves_the_parent_working)
{
    csp_chan *r;
    void *v = NULL;

    ASSERT_OK(csp_go(test_rt, fork_in_go, NULL, &r));
    ASSERT_OK(csp_chan_take_blocking(r, &v, deadline_in(5 * SEC)));
    ASSERT_EQ(1, U(v));
    csp_chan_release(r);
    warm(test_rt);
}

/* ------------------------------------------------------------------------
 * Freeing a loop executor with work in flight. */

TEST(loop_free_cancels_waiting_ops_and_hands_back_put_values)
{
    struct cbrec put = {0, NULL, 0, -1}, take = {0, NULL, 0, -1};
    csp_chan *a = mkchan(CSP_BUF_NONE, 0), *b = mkchan(CSP_BUF_NONE, 0);
    csp_loop *loop;
    void *v = NULL;
    int64_t ops = -1;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(a, V(21), csp_loop_executor(loop),
                                           record_cb, &put, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(b, &v, csp_loop_executor(loop),
                                            record_cb, &take, NULL));
    csp_loop_free(loop);
    ASSERT_EQ(1, put.runs);
    ASSERT_RC(CSP_ECANCELED, put.rc);
    ASSERT_EQ(21, U(put.val));
    ASSERT_EQ(1, take.runs);
    ASSERT_RC(CSP_ECANCELED, take.rc);
    ASSERT_EQ(0, pending_puts(a));
    ASSERT_EQ(0, pending_takes(b));
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_OPS_PENDING, &ops));
    ASSERT_EQ(0, ops);
    /* A put after the free finds nobody: the op is really gone. */
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(b, V(1)));
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(loop_free_runs_completed_ops_with_their_result)
{
    struct cbrec take = {0, NULL, 0, -1};
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_loop *loop;
    void *v = NULL;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_loop_executor(loop),
                                            record_cb, &take, NULL));
    ASSERT_OK(csp_chan_offer(ch, V(8)));
    csp_loop_free(loop);
    ASSERT_EQ(1, take.runs);
    ASSERT_RC(CSP_OK, take.rc);
    ASSERT_EQ(8, U(take.val));
    csp_chan_release(ch);
}

TEST(loop_free_leaves_other_executors_ops_pending)
{
    struct cbrec a = {0, NULL, 0, -1}, b = {0, NULL, 0, -1};
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_loop *l1, *l2;
    void *v = NULL;

    ASSERT_OK(csp_loop_new(&l1, test_rt));
    ASSERT_OK(csp_loop_new(&l2, test_rt));
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_loop_executor(l1),
                                            record_cb, &a, NULL));
    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_loop_executor(l2),
                                            record_cb, &b, NULL));
    csp_loop_free(l1);
    ASSERT_EQ(1, a.runs);
    ASSERT_EQ(0, b.runs);
    ASSERT_EQ(1, pending_takes(ch));
    ASSERT_OK(csp_chan_offer(ch, V(6)));
    csp_loop_free(l2);
    ASSERT_EQ(1, b.runs);
    ASSERT_EQ(6, U(b.val));
    csp_chan_release(ch);
}

/* Completions racing the free from other threads: every callback runs
 * exactly once, before csp_loop_free returns, never after. */
struct racer {
    csp_chan *ch;
    int n;
};

static void *offer_all(void *arg)
{
    struct racer *r = arg;

    for (int i = 0; i < r->n; i++)
        csp_chan_offer(r->ch, V(i + 1));
    return NULL;
}

TEST(loop_free_racing_completions_runs_each_callback_once)
{
#if defined(__SANITIZE_THREAD__) /* every op is instrumented: fewer rounds */
    enum { OPS = 64, ROUNDS = 20 };
#else
    enum { OPS = 64, ROUNDS = 200 };
#endif

    for (int round = 0; round < ROUNDS; round++) {
        struct cbrec recs[OPS];
        csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
        struct racer r = {ch, OPS};
        csp_loop *loop;
        pthread_t t;
        void *v = NULL;

        ASSERT_OK(csp_loop_new(&loop, test_rt));
        for (int i = 0; i < OPS; i++) {
            recs[i] = (struct cbrec){0, NULL, 0, -1};
            ASSERT_RC(CSP_PENDING,
                      csp_chan_take_cb(ch, &v, csp_loop_executor(loop),
                                       record_cb, &recs[i], NULL));
        }
        t = spawn(offer_all, &r);
        csp_loop_free(loop);
        for (int i = 0; i < OPS; i++) {
            ASSERT_EQ(1, recs[i].runs);
            ASSERT_TRUE(recs[i].rc == CSP_OK || recs[i].rc == CSP_ECANCELED);
        }
        join_thread(t);
        csp_chan_release(ch);
    }
}

TEST(rt_cancel_exec_rejects_null_arguments)
{
    csp_loop *loop;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ASSERT_RC(CSP_EINVAL, csp_rt_cancel_exec(NULL, csp_loop_executor(loop)));
    ASSERT_RC(CSP_EINVAL, csp_rt_cancel_exec(test_rt, NULL));
    csp_loop_free(loop);
}

TEST(rt_cancel_exec_with_nothing_pending_returns_zero)
{
    csp_loop *loop;

    ASSERT_OK(csp_loop_new(&loop, test_rt));
    ASSERT_EQ(0, csp_rt_cancel_exec(test_rt, csp_loop_executor(loop)));
    csp_loop_free(loop);
}
