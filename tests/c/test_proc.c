/* test_proc.c - go processes: spawning, result channels, parking and
 * resuming (by procs, plain threads and timers), alts inside a process,
 * stacks (deep recursion, the guard page), the wrong-context errors,
 * migration between workers, pinning, sleep and yield, fault injection.
 *
 * Every test waits for its processes through a channel (a result channel
 * or a done channel) with a blocking take, so test_rt is idle and every
 * channel released when the test returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/sched_internal.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * Spawning and result channels. */

static void *return_arg(void *arg)
{
    return arg;
}

TEST(go_result_channel_gets_value_then_closes)
{
    csp_chan *res;
    void *v = NULL;

    ASSERT_OK(csp_go(test_rt, return_arg, V(42), &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(42, U(v));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(res, &v, CSP_FOREVER));
    ASSERT_NULL(v);
    csp_chan_release(res);
}

TEST(go_null_return_closes_result_without_value)
{
    csp_chan *res;
    void *v = V(1);

    ASSERT_OK(csp_go(test_rt, return_arg, NULL, &res));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take_blocking(res, &v, CSP_FOREVER));
    ASSERT_NULL(v);
    csp_chan_release(res);
}

static void *put_arg_on_done(void *arg)
{
    csp_chan *done = arg;

    ASSERT_OK(csp_chan_put(done, V(7)));
    return NULL;
}

TEST(go_without_result_channel_runs)
{
    csp_chan *done = mkchan(CSP_BUF_NONE, 0);
    void *v = NULL;

    ASSERT_OK(csp_go(test_rt, put_arg_on_done, done, NULL));
    ASSERT_OK(csp_chan_take_blocking(done, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(7, U(v));
    csp_chan_release(done);
}

TEST(go_rejects_null_runtime_and_function)
{
    csp_chan *res = NULL;

    ASSERT_RC(CSP_EINVAL, csp_go(NULL, return_arg, NULL, &res));
    ASSERT_RC(CSP_EINVAL, csp_go(test_rt, NULL, NULL, &res));
    ASSERT_NULL(res);
}

TEST(go_ex_rejects_unknown_flags)
{
    ASSERT_RC(CSP_EINVAL, csp_go_ex(test_rt, return_arg, NULL, 4, 0, NULL));
}

TEST(go_ex_rejects_stack_below_minimum)
{
    ASSERT_RC(CSP_EINVAL, csp_go_ex(test_rt, return_arg, NULL, 0,
                                    CSP_STACK_MIN - 1, NULL));
}

TEST(go_ex_rejects_small_stack_flag_with_a_size)
{
    ASSERT_RC(CSP_EINVAL, csp_go_ex(test_rt, return_arg, NULL,
                                    CSP_GO_SMALL_STACK, 64 * 1024, NULL));
}

/* The usable size of the caller's stack. */
static void *own_stack_size(void *arg)
{
    (void)arg;
    return V(csp__proc_current()->stack->size);
}

/* What a request of SIZE bytes gets: the class holding it (sanitizer
 * and unoptimised builds raise small requests to CSP__SMALL_STACK). */
static size_t class_for(size_t size)
{
    if (size < CSP__SMALL_STACK)
        size = CSP__SMALL_STACK;
    return CSP__STACK_CLASS_SIZE(csp__stack_class_of(size));
}

TEST(go_ex_stack_comes_from_the_class_holding_the_size)
{
    static const size_t sizes[] = {CSP_STACK_MIN, 3000, 16 * 1024,
                                   20 * 1024, 200 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        csp_chan *res;
        ASSERT_OK(csp_go_ex(test_rt, own_stack_size, NULL, 0, sizes[i], &res));
        size_t got = U(join(res));
        /* An unguarded stack gives 16 bytes to its neighbour's canary. */
        ASSERT_TRUE(got <= class_for(sizes[i]));
        ASSERT_TRUE(got >= class_for(sizes[i]) - 16);
    }
}

TEST(go_ex_small_stack_flag_gives_a_small_stack)
{
    csp_chan *res;

    ASSERT_OK(csp_go_ex(test_rt, own_stack_size, NULL, CSP_GO_SMALL_STACK, 0,
                        &res));
    ASSERT_TRUE(U(join(res)) <= CSP__SMALL_STACK);
}

TEST(rt_stack_size_setting_makes_small_stacks_the_default)
{
    csp_rt *rt;
    csp_chan *res;

    ASSERT_OK(csp_rt_new(&rt, NULL, NULL));
    ASSERT_OK(csp_rt_set(rt, CSP_RT_STACK_SIZE, CSP_STACK_SMALL));
    ASSERT_OK(csp_go(rt, own_stack_size, NULL, &res));
    ASSERT_TRUE(U(join(res)) <= CSP__SMALL_STACK);
    ASSERT_OK(csp_rt_free(rt, 0));
}

/* A daisy chain of small-stack procs: each takes from its left and puts
 * one more to its right. */
struct link2 {
    csp_chan *left, *right;
};

static void *chain_step(void *arg)
{
    struct link2 *l = arg;
    void *v;

    if (csp_chan_take(l->left, &v) == CSP_OK)
        csp_chan_put(l->right, V(U(v) + 1));
    return NULL;
}

TEST(small_stack_procs_move_values_through_a_chain)
{
    enum { NMAX = 2000 };
    static struct link2 links[NMAX];
    const long N = test_scaled(NMAX);
    csp_chan *first, *left;

    ASSERT_OK(csp_chan_new(&first, test_rt, CSP_BUF_NONE, 0, NULL, NULL));
    left = csp_chan_retain(first);
    for (int i = 0; i < N; i++) {
        csp_chan *right;
        ASSERT_OK(csp_chan_new(&right, test_rt, CSP_BUF_NONE, 0, NULL, NULL));
        links[i].left = left;
        links[i].right = right;
        ASSERT_OK(csp_go_ex(test_rt, chain_step, &links[i], CSP_GO_SMALL_STACK,
                            0, NULL));
        left = right;
    }
    ASSERT_OK(csp_chan_put_blocking(first, V(1), deadline_in(8 * SEC)));
    void *v = NULL;
    ASSERT_OK(csp_chan_take_blocking(left, &v, deadline_in(8 * SEC)));
    ASSERT_EQ(N + 1, U(v));
    csp_chan_release(first);
    for (int i = 0; i < N; i++)
        csp_chan_release(links[i].left);
    csp_chan_release(left);
}

/* A small-stack process that makes a runtime start a thread: the timer
 * thread (its first timeout), a csp_thread pool thread, another runtime's
 * workers. pthread_create needs 2-3.5 KiB of stack; the thread is
 * started on the worker's own stack (csp__thread_start_any), and the
 * library is bound at load time (-z now), so nothing overflows. Each on a
 * fresh runtime, whose threads are not started yet. */
static void *first_timeout(void *arg)
{
    csp_rt *rt = arg;
    csp_chan *t;
    void *v;

    if (csp_timeout(&t, rt, 1) != CSP_OK)
        return NULL;
    ASSERT_RC(CSP_ECLOSED, csp_chan_take(t, &v));
    csp_chan_release(t);
    return V(1);
}

static void *job_returns_7(void *arg)
{
    (void)arg;
    return V(7);
}

static void *first_csp_thread(void *arg)
{
    csp_chan *res;
    void *v = NULL;

    if (csp_thread(arg, job_returns_7, NULL, &res) != CSP_OK)
        return NULL;
    ASSERT_OK(csp_chan_take(res, &v));
    csp_chan_release(res);
    return v;
}

static void *first_go_elsewhere(void *arg)
{
    csp_chan *res;
    void *v = NULL;

    if (csp_go(arg, job_returns_7, NULL, &res) != CSP_OK)
        return NULL;
    ASSERT_OK(csp_chan_take(res, &v));
    csp_chan_release(res);
    return v;
}

static void small_stack_starts_a_thread(void *(*fn)(void *), uintptr_t want)
{
    csp_rt *rt;
    csp_chan *res;

    ASSERT_OK(csp_rt_new(&rt, NULL, NULL));
    ASSERT_OK(csp_go_ex(test_rt, fn, rt, CSP_GO_SMALL_STACK, 0, &res));
    ASSERT_EQ(want, U(join(res)));
    ASSERT_OK(csp_rt_free(rt, 0));
}

TEST(small_stack_proc_starts_the_timer_thread)
{
    small_stack_starts_a_thread(first_timeout, 1);
}

TEST(small_stack_proc_starts_a_csp_thread_pool_thread)
{
    small_stack_starts_a_thread(first_csp_thread, 7);
}

TEST(small_stack_proc_starts_another_runtimes_workers)
{
    small_stack_starts_a_thread(first_go_elsewhere, 7);
}

TEST(go_ex_small_stack_runs)
{
    csp_chan *res;

    ASSERT_OK(csp_go_ex(test_rt, return_arg, V(5), 0, 16 * 1024, &res));
    ASSERT_EQ(5, U(join(res)));
}

TEST(go_ex_large_stack_runs)
{
    csp_chan *res;

    ASSERT_OK(csp_go_ex(test_rt, return_arg, V(6), 0, 4 << 20, &res));
    ASSERT_EQ(6, U(join(res)));
}

TEST(go_reports_enomem)
{
    int failed = 0;

    /* Workers first (their own fault test is in test_sched.c); then
     * every allocation point of a spawn, until one succeeds; none
     * leaks. */
    ASSERT_NOT_NULL(csp_rt_executor(test_rt));
    for (long n = 0;; n++) {
        long before = test_live_allocs();
        csp_chan *res = NULL;
        int rc;

        test_fail_alloc_after(n);
        rc = csp_go(test_rt, return_arg, V(9), &res);
        test_fail_alloc_after(-1);
        if (rc == CSP_OK) {
            ASSERT_EQ(9, U(join(res)));
            break;
        }
        ASSERT_RC(CSP_ENOMEM, rc);
        ASSERT_NULL(res);
        ASSERT_EQ(before, test_live_allocs());
        failed++;
    }
    ASSERT_TRUE(failed >= 1); /* the result channel */
}

TEST(go_reports_enomem_when_no_stack)
{
    csp_chan *res = NULL;

    ASSERT_OK(csp_go(test_rt, return_arg, NULL, &res)); /* starts workers */
    ASSERT_RC(CSP_ECLOSED,
              csp_chan_take_blocking(res, &(void *){0}, CSP_FOREVER));
    csp_chan_release(res);
    res = NULL;
    /* The pool has one free stack now; an oversized one is always new. */
    atomic_store(&csp__fail_stack_map, 1);
    ASSERT_RC(CSP_ENOMEM,
              csp_go_ex(test_rt, return_arg, NULL, 0, 8 << 20, &res));
    atomic_store(&csp__fail_stack_map, 0);
    ASSERT_NULL(res);
}

TEST(go_reports_enomem_when_workers_cannot_start)
{
    long before = test_live_allocs();
    int64_t workers = -1;

    atomic_store(&csp__fail_thread_create, 2); /* the second worker */
    ASSERT_RC(CSP_ENOMEM, csp_go(test_rt, return_arg, NULL, NULL));
    atomic_store(&csp__fail_thread_create, 0);
    ASSERT_EQ(before, test_live_allocs());
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_WORKERS, &workers));
    ASSERT_EQ(0, workers);
}

static void *spawn_child(void *arg)
{
    csp_chan *res;
    void *v = NULL;

    (void)arg;
    ASSERT_OK(csp_go(test_rt, return_arg, V(11), &res));
    ASSERT_OK(csp_chan_take(res, &v));
    csp_chan_release(res);
    return v;
}

TEST(go_from_proc_spawns_child)
{
    csp_chan *res;

    ASSERT_OK(csp_go(test_rt, spawn_child, NULL, &res));
    ASSERT_EQ(11, U(join(res)));
}

/* Sanitizers make a spawn much slower: ASan about 5 times; TSan creates
 * and destroys a fiber per proc, about 2.5 ms here. Their builds run
 * fewer in the same time bound. */
#if defined(CSP__TSAN)
#define MANY 1000
#elif defined(CSP__ASAN)
#define MANY 100000
#else
#define MANY 1000000
#endif
#define BATCH (MANY / 100)

static _Atomic long many_done;

static void *count_and_signal(void *arg)
{
    /* arg: the done channel; the last of a batch signals. */
    if (atomic_fetch_add(&many_done, 1) % BATCH == BATCH - 1)
        ASSERT_OK(csp_chan_offer(arg, V(1)));
    return NULL;
}

TEST(go_million_processes_complete_in_bounded_time) // slow
{
    csp_chan *done = mkchan(CSP_BUF_FIXED, 128);
    int64_t t0 = csp_now_ns();
    void *v;

    /* Batches keep the live count (and stack memory) bounded. */
    for (long b = 0; b < MANY / BATCH; b++) {
        for (long i = 0; i < BATCH; i++)
            ASSERT_OK(
                csp_go_ex(test_rt, count_and_signal, done, 0, 16 * 1024, NULL));
        ASSERT_OK(csp_chan_take_blocking(
            done, &v, deadline_in(8 * SEC * test_slowdown())));
    }
    ASSERT_EQ(MANY, atomic_load(&many_done));
    ASSERT_TRUE(csp_now_ns() - t0 < 8 * SEC * test_slowdown());
    fprintf(stderr, "%d procs: %.0f ns per spawn and run\n", MANY,
            (double)(csp_now_ns() - t0) / MANY);
    csp_chan_release(done);
}

/* ------------------------------------------------------------------------
 * Parking and resuming. */

struct pp {
    csp_chan *ping, *pong;
    long n;
};

static void *pinger(void *arg)
{
    struct pp *pp = arg;
    void *v;

    for (long i = 1; i <= pp->n; i++) {
        ASSERT_OK(csp_chan_put(pp->ping, V(i)));
        ASSERT_OK(csp_chan_take(pp->pong, &v));
        ASSERT_EQ(i, U(v));
    }
    return V(pp->n);
}

static void *ponger(void *arg)
{
    struct pp *pp = arg;
    void *v;

    for (long i = 1; i <= pp->n; i++) {
        ASSERT_OK(csp_chan_take(pp->ping, &v));
        ASSERT_EQ(i, U(v));
        ASSERT_OK(csp_chan_put(pp->pong, v));
    }
    return NULL;
}

TEST(proc_ping_pong_completes_all_round_trips)
{
    /* 200,000 round trips, fewer under sanitizers and valgrind, within a
     * bound that catches a lost wake-up, not a slow machine. */
    struct pp pp = {mkchan(CSP_BUF_NONE, 0), mkchan(CSP_BUF_NONE, 0),
                    test_scaled(200000)};
    csp_chan *a, *b;
    int64_t t0 = csp_now_ns();

    ASSERT_OK(csp_go(test_rt, ponger, &pp, &b));
    ASSERT_OK(csp_go(test_rt, pinger, &pp, &a));
    ASSERT_EQ(pp.n, U(join(a)));
    ASSERT_NULL(join(b));
    ASSERT_TRUE(csp_now_ns() - t0 < 8 * SEC);
    fprintf(stderr, "ping-pong: %.1f ns per round trip\n",
            (double)(csp_now_ns() - t0) / (double)pp.n);
    csp_chan_release(pp.ping);
    csp_chan_release(pp.pong);
}

/* 10^6, fewer under sanitizers and valgrind (TSan: about 10 us per
 * round trip; valgrind runs one thread at a time). */
#define ROUND_TRIPS test_scaled(1000000)

TEST(proc_ping_pong_on_four_workers_completes_all_round_trips)
{
    struct pp pp = {mkchan(CSP_BUF_NONE, 0), mkchan(CSP_BUF_NONE, 0), ROUND_TRIPS};
    csp_chan *a, *b;
    int64_t t0 = csp_now_ns();

    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 4));
    ASSERT_OK(csp_go(test_rt, ponger, &pp, &b));
    ASSERT_OK(csp_go(test_rt, pinger, &pp, &a));
    ASSERT_EQ(pp.n, U(join(a)));
    ASSERT_NULL(join(b));
    ASSERT_TRUE(csp_now_ns() - t0 < 8 * SEC);
    csp_chan_release(pp.ping);
    csp_chan_release(pp.pong);
}

/* A parking call made from a helper, not from the proc's entry. */
static __attribute__((noinline)) void *helper_take(csp_chan *ch)
{
    void *v = NULL;

    ASSERT_OK(csp_chan_take(ch, &v));
    return v;
}

static void *take_via_helper(void *arg)
{
    return helper_take(arg);
}

TEST(proc_take_in_helper_function_parks_and_resumes)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *res;

    ASSERT_OK(csp_go(test_rt, take_via_helper, ch, &res));
    ASSERT_OK(csp_chan_put_blocking(ch, V(3), deadline_in(8 * SEC)));
    ASSERT_EQ(3, U(join(res)));
    csp_chan_release(ch);
}

static void *take_n(void *arg)
{
    csp_chan *ch = arg;
    uintptr_t sum = 0;
    void *v;

    for (int i = 1; i <= 1000; i++) {
        ASSERT_OK(csp_chan_take(ch, &v));
        sum += U(v);
    }
    return V(sum);
}

TEST(proc_parked_is_resumed_by_plain_thread_put)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *res;

    ASSERT_OK(csp_go(test_rt, take_n, ch, &res));
    for (int i = 1; i <= 1000; i++)
        ASSERT_OK(csp_chan_put_blocking(ch, V(i), deadline_in(8 * SEC)));
    ASSERT_EQ(500500, U(join(res)));
    csp_chan_release(ch);
}

static void *alts_times_out(void *arg)
{
    csp_chan *never = arg, *t;
    csp_op ops[2];
    size_t idx = 9;
    void *v = V(1);
    int rc;

    ASSERT_OK(csp_timeout(&t, test_rt, 5));
    ops[0] = (csp_op){never, CSP_OP_TAKE, NULL};
    ops[1] = (csp_op){t, CSP_OP_TAKE, NULL};
    rc = csp_alts(ops, 2, 0, &idx, &v);
    csp_chan_release(t);
    ASSERT_RC(CSP_ECLOSED, rc);
    ASSERT_EQ(1, idx);
    ASSERT_NULL(v);
    return V(1);
}

TEST(proc_alts_with_timeout_returns_timeout_case)
{
    csp_chan *never = mkchan(CSP_BUF_NONE, 0), *res;

    ASSERT_OK(csp_go(test_rt, alts_times_out, never, &res));
    ASSERT_EQ(1, U(join(res)));
    csp_chan_release(never);
}

static void *alts_default(void *arg)
{
    csp_chan *never = arg;
    csp_op ops[2] = {{never, CSP_OP_TAKE, NULL}, {never, CSP_OP_PUT, V(1)}};
    size_t idx = 9;
    void *v = NULL;

    ASSERT_RC(CSP_EAGAIN, csp_alts(ops, 2, CSP_ALTS_DEFAULT, &idx, &v));
    return V(2);
}

TEST(proc_alts_with_default_returns_eagain)
{
    csp_chan *never = mkchan(CSP_BUF_NONE, 0), *res;

    ASSERT_OK(csp_go(test_rt, alts_default, never, &res));
    ASSERT_EQ(2, U(join(res)));
    csp_chan_release(never);
}

static void *alts_take_ready(void *arg)
{
    csp_chan **chs = arg;
    csp_op ops[2] = {{chs[0], CSP_OP_TAKE, NULL}, {chs[1], CSP_OP_TAKE, NULL}};
    size_t idx = 9;
    void *v = NULL;

    ASSERT_OK(csp_alts(ops, 2, 0, &idx, &v));
    ASSERT_EQ(1, idx);
    return v;
}

TEST(proc_alts_parks_until_a_thread_puts)
{
    csp_chan *chs[2] = {mkchan(CSP_BUF_NONE, 0), mkchan(CSP_BUF_NONE, 0)}, *res;

    ASSERT_OK(csp_go(test_rt, alts_take_ready, chs, &res));
    ASSERT_OK(csp_chan_put_blocking(chs[1], V(8), deadline_in(8 * SEC)));
    ASSERT_EQ(8, U(join(res)));
    csp_chan_release(chs[0]);
    csp_chan_release(chs[1]);
}

/* ------------------------------------------------------------------------
 * Wrong contexts. */

TEST(chan_take_outside_proc_returns_eperm)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    void *v = NULL;

    ASSERT_RC(CSP_EPERM, csp_chan_take(ch, &v));
    ASSERT_RC(CSP_EPERM, csp_chan_put(ch, V(1)));
    csp_chan_release(ch);
}

static void *take_blocking_inside(void *arg)
{
    void *v = NULL;

    ASSERT_RC(CSP_EPERM, csp_chan_take_blocking(arg, &v, CSP_FOREVER));
    ASSERT_RC(CSP_EPERM, csp_chan_put_blocking(arg, V(1), CSP_FOREVER));
    return V(1);
}

TEST(chan_take_blocking_inside_proc_returns_eperm)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *res;

    ASSERT_OK(csp_go(test_rt, take_blocking_inside, ch, &res));
    ASSERT_EQ(1, U(join(res)));
    csp_chan_release(ch);
}

static void *in_go_value(void *arg)
{
    (void)arg;
    return V(csp_in_go() + 1);
}

TEST(in_go_is_true_only_inside_a_proc)
{
    csp_chan *res;

    ASSERT_EQ(0, csp_in_go());
    ASSERT_OK(csp_go(test_rt, in_go_value, NULL, &res));
    ASSERT_EQ(2, U(join(res)));
}

/* ------------------------------------------------------------------------
 * Stacks. */

static unsigned recurse_impl(unsigned n);
static unsigned (*volatile recurse)(unsigned) = recurse_impl;

static unsigned recurse_impl(unsigned n)
{
    volatile unsigned char buf[200];

    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)n;
    if (n == 0)
        return buf[7];
    return recurse(n - 1) + buf[n % sizeof buf];
}

static void *deep(void *arg)
{
    /* About 256 bytes a frame: 600 frames use ~150 KiB of 256 KiB. */
    return V(recurse((unsigned)U(arg)) + 1);
}

TEST(proc_deep_recursion_fits_in_default_stack)
{
    csp_chan *res;

    ASSERT_OK(csp_go(test_rt, deep, V(600), &res));
    ASSERT_NE(0, U(join(res)));
}

static unsigned forever_impl(unsigned n);
static unsigned (*volatile forever)(unsigned) = forever_impl;

static unsigned forever_impl(unsigned n)
{
    volatile unsigned char buf[256];

    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)n;
    return forever(n + 1) + buf[n % sizeof buf];
}

static void *overflow(void *arg)
{
    (void)arg;
    return V(forever(0));
}

TEST(proc_stack_overflow_hits_guard_page)
{
    int status;
    pid_t pid;

    fflush(stderr);
    pid = fork(); /* test_rt has no threads yet: safe to fork */
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        csp_chan *res;

        setrlimit(RLIMIT_CORE, &no_core);
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        if (csp_go(test_rt, overflow, NULL, &res) != CSP_OK)
            _exit(3);
        csp_chan_take_blocking(res, &(void *){0}, deadline_in(8 * SEC));
        _exit(4);
    }
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(SIGSEGV, WTERMSIG(status));
}

/* Small stacks have no guard page: an overflow is caught at the next
 * park by the canary (a frame that wrote it) or the red zone (a frame
 * that reached below it without writing it), and reported naming the
 * process. Each runs in a child with a runtime of its own that maps no
 * guard pages, so sanitizer builds (whose small stacks are larger and
 * would otherwise be guarded) take the same path. */
static void smash_impl(void)
{
    volatile unsigned char buf[CSP__SMALL_STACK + 1024];

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)i;
}
static void (*volatile smash)(void) = smash_impl;

static void *overflow_small(void *arg)
{
    (void)arg;
    smash();
    csp_yield();
    return NULL;
}

static void __attribute__((noinline)) park_deep_impl(size_t n)
{
    volatile unsigned char *buf = __builtin_alloca(n);

    buf[n - 1] = 1; /* touches the top only: the canary stays */
    csp_yield();
    buf[n - 1] = 2;
}
static void (*volatile park_deep)(size_t) = park_deep_impl;

/* Where an alloca of N bytes one call down from here starts: frames and
 * (under ASan) the alloca's own red zones differ between builds, so
 * red_zone_small measures them instead of guessing. */
static uintptr_t __attribute__((noinline)) probe_alloca_impl(size_t n)
{
    volatile unsigned char *buf = __builtin_alloca(n);

    buf[n - 1] = 0;
    return (uintptr_t)buf;
}
static uintptr_t (*volatile probe_alloca)(size_t) = probe_alloca_impl;

static void *red_zone_small(void *arg)
{
    (void)arg;
    struct csp__proc *p = csp__proc_current();
    uintptr_t lo = (uintptr_t)p->stack->lo;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    size_t n0 = 256;
    uintptr_t at = probe_alloca(n0);
    size_t overhead = (size_t)(here - at) - n0; /* between us and buf */
    /* Put park_deep's buffer a little inside the red zone: the frame of
     * csp_yield below it is in the red zone, above the canary, with room
     * below for what the build's calls write (sanitizer runtimes too). */
    park_deep((size_t)(here - lo) - overhead - (CSP__STACK_RED_ZONE - 56));
    return NULL;
}

static int run_small_child(csp_go_fn fn, char *err, size_t len)
{
    int fds[2], status;
    size_t got = 0;

    ASSERT_EQ(0, pipe(fds));
    fflush(stderr);
    pid_t pid = fork(); /* no csp thread runs yet in this test process */
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        csp_rt *rt;
        csp_chan *res;

        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fds[1], STDERR_FILENO);
        if (csp_rt_new(&rt, NULL, NULL) != CSP_OK ||
            csp_rt_set(rt, CSP_RT_STACK_GUARDS, 0) != CSP_OK ||
            csp_rt_set(rt, CSP_RT_THREADS, 1) != CSP_OK ||
            csp_rt_set(rt, CSP_RT_STACK_SIZE, CSP__SMALL_STACK) != CSP_OK ||
            csp_go(rt, fn, NULL, &res) != CSP_OK)
            _exit(3);
        csp_chan_take_blocking(res, &(void *){0}, deadline_in(8 * SEC));
        _exit(4);
    }
    close(fds[1]);
    for (;;) {
        ssize_t r = read(fds[0], err + got, len - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == len - 1)
            break;
    }
    err[got] = 0;
    close(fds[0]);
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    return status;
}

TEST(small_stack_overflow_over_the_canary_aborts_naming_the_process)
{
    char err[1024];
    int status = run_small_child(overflow_small, err, sizeof err);

    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(SIGABRT, WTERMSIG(status));
    ASSERT_NOT_NULL(strstr(err, "csp: stack overflow in go process 1 ("));
    ASSERT_NOT_NULL(strstr(err, "canary was overwritten"));
}

TEST(small_stack_park_in_the_red_zone_aborts_naming_the_process)
{
    char err[1024];
    int status = run_small_child(red_zone_small, err, sizeof err);

    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(SIGABRT, WTERMSIG(status));
    ASSERT_NOT_NULL(strstr(err, "csp: stack overflow in go process 1 ("));
    if (!strstr(err, "red zone"))
        fprintf(stderr, "child said: %s\n", err);
#if defined(CSP__ASAN) || defined(CSP__TSAN)
    /* Sanitizer builds: their runtimes' calls deep in park_deep's frame
     * (alloca poisoning) may reach the canary first; either check must
     * report the overflow, naming the process. */
    ASSERT_TRUE(strstr(err, "red zone") || strstr(err, "canary"));
#else
    ASSERT_NOT_NULL(strstr(err, "red zone"));
#endif
}

/* ------------------------------------------------------------------------
 * Migration (DESIGN §4.4): after every park, the thread's TLS worker is
 * the proc's worker. The library is built -O2 -fPIC; this file reads TLS
 * only through csp__tls(). */

struct mig {
    csp_chan *ch;
    long parks, moves, mismatches;
};

static void *park_and_check(void *arg)
{
    struct mig *m = arg;
    struct csp__proc *p = csp__proc_current();
    struct csp__worker *last = p->worker;
    void *v;

    for (long i = 0; i < m->parks; i++) {
        ASSERT_OK(csp_chan_take(m->ch, &v));
        if (csp__tls()->worker != p->worker || csp__tls()->proc != p)
            m->mismatches++;
        if (p->worker != last)
            m->moves++;
        last = p->worker;
    }
    return V(1);
}

TEST(proc_migration_keeps_tls_worker_equal_to_proc_worker)
{
    struct mig m = {mkchan(CSP_BUF_NONE, 0), 10000, 0, 0};
    csp_chan *res;

    ASSERT_OK(csp_go(test_rt, park_and_check, &m, &res));
    /* Each put comes from this thread: the proc is readied through the
     * inject queue and may resume on either worker. */
    for (long i = 0; i < m.parks; i++)
        ASSERT_OK(csp_chan_put_blocking(m.ch, V(1), deadline_in(8 * SEC)));
    ASSERT_EQ(1, U(join(res)));
    ASSERT_EQ(0, m.mismatches);
    fprintf(stderr, "migrations: %ld of %ld parks\n", m.moves, m.parks);
    ASSERT_TRUE(m.moves > 0);
    csp_chan_release(m.ch);
}

static _Atomic(pthread_t) seen[64];
static _Atomic int nseen;

static void note_thread(void)
{
    pthread_t me = pthread_self();
    int n = atomic_load(&nseen);

    for (int i = 0; i < n; i++)
        if (pthread_equal(atomic_load(&seen[i]), me))
            return;
    if (n < 64 && atomic_compare_exchange_strong(&nseen, &n, n + 1))
        atomic_store(&seen[n], me);
}

static void *busy_then_note(void *arg)
{
    int64_t until = csp_now_ns() + 20000;

    (void)arg;
    while (csp_now_ns() < until)
        ;
    note_thread();
    return NULL;
}

TEST(procs_run_on_more_than_one_worker)
{
    csp_chan *last = NULL;
    int64_t give_up = deadline_in(8 * SEC);

    while (atomic_load(&nseen) < 2 && csp_now_ns() < give_up) {
        for (int i = 0; i < 200; i++) {
            csp_chan *res;
            ASSERT_OK(csp_go(test_rt, busy_then_note, NULL, &res));
            if (last)
                join(last);
            last = res;
        }
    }
    join(last);
    ASSERT_TRUE(atomic_load(&nseen) >= 2);
}

static void *pinned_parker(void *arg)
{
    struct mig *m = arg;
    struct csp__proc *p = csp__proc_current();
    struct csp__worker *home = p->worker;
    void *v;

    for (long i = 0; i < m->parks; i++) {
        ASSERT_OK(csp_chan_take(m->ch, &v));
        if (p->worker != home || csp__tls()->worker != home)
            m->moves++;
    }
    return V(1);
}

TEST(pinned_proc_always_resumes_on_its_worker)
{
    struct mig m = {mkchan(CSP_BUF_NONE, 0), 5000, 0, 0};
    csp_chan *res;

    ASSERT_OK(csp_go_ex(test_rt, pinned_parker, &m, CSP_GO_PINNED, 0, &res));
    for (long i = 0; i < m.parks; i++)
        ASSERT_OK(csp_chan_put_blocking(m.ch, V(1), deadline_in(8 * SEC)));
    ASSERT_EQ(1, U(join(res)));
    ASSERT_EQ(0, m.moves);
    csp_chan_release(m.ch);
}

static void *pinned_yielder(void *arg)
{
    struct csp__proc *p = csp__proc_current();
    struct csp__worker *home = p->worker;
    long moves = 0;

    (void)arg;
    for (int i = 0; i < 2000; i++) {
        ASSERT_OK(csp_yield());
        moves += p->worker != home;
    }
    return V(moves + 1);
}

TEST(pinned_proc_yields_on_its_worker)
{
    csp_chan *res[4];

    for (int i = 0; i < 4; i++)
        ASSERT_OK(csp_go_ex(test_rt, pinned_yielder, NULL, CSP_GO_PINNED, 0,
                            &res[i]));
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(1, U(join(res[i])));
}

/* ------------------------------------------------------------------------
 * Sleep and yield. */

static void *sleeper(void *arg)
{
    int64_t t0 = csp_now_ns();

    ASSERT_OK(csp_sleep((uint64_t)U(arg)));
    return V((csp_now_ns() - t0) / 1000000 + 1);
}

TEST(sleep_parks_at_least_the_given_time)
{
    csp_chan *res;
    uintptr_t ms;

    ASSERT_OK(csp_go(test_rt, sleeper, V(20), &res));
    ms = U(join(res)) - 1;
    ASSERT_TRUE(ms >= 20);
    ASSERT_TRUE(ms < 2000); /* tolerance for a loaded machine */
}

TEST(sleep_outside_proc_returns_eperm)
{
    ASSERT_RC(CSP_EPERM, csp_sleep(1));
}

TEST(yield_outside_proc_returns_eperm)
{
    ASSERT_RC(CSP_EPERM, csp_yield());
}

static _Atomic int stop_flag;

static void *yield_until_flag(void *arg)
{
    long n = 0;

    (void)arg;
    while (!atomic_load(&stop_flag)) {
        ASSERT_OK(csp_yield());
        n++;
    }
    return V(n + 1);
}

static void *set_flag(void *arg)
{
    (void)arg;
    atomic_store(&stop_flag, 1);
    return NULL;
}

static void *spawn_yielder_and_setter(void *arg)
{
    csp_chan *a, *b;
    void *v = NULL;

    (void)arg;
    /* Both land on this worker's ring; with one worker the setter runs
     * only if yield puts the yielder behind it. */
    ASSERT_OK(csp_go(test_rt, yield_until_flag, NULL, &a));
    ASSERT_OK(csp_go(test_rt, set_flag, NULL, &b));
    ASSERT_OK(csp_chan_take(a, &v));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take(b, &(void *){0}));
    csp_chan_release(a);
    csp_chan_release(b);
    return v;
}

TEST(yield_lets_another_proc_run_on_one_worker)
{
    csp_chan *res;

    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 1));
    ASSERT_OK(csp_go(test_rt, spawn_yielder_and_setter, NULL, &res));
    ASSERT_TRUE(U(join(res)) >= 1);
}

/* ------------------------------------------------------------------------
 * The parking put and take meet every kind of waiter: their fast paths
 * (chan.c, open plain channels) hand off to blocked threads and callback
 * ops as well as to procs, and leave the rest to the general path. */

static void *go_put_arg(void *arg)
{
    void **a = arg; /* {ch, value} */

    return V(csp_chan_put(a[0], a[1]) == CSP_OK ? 1 : 2);
}

static void *go_take_arg(void *arg)
{
    void *v = NULL;
    int rc = csp_chan_take(arg, &v);

    return rc == CSP_OK ? v : rc == CSP_ECLOSED && !v ? V(1000) : V(2000);
}

static void *thread_take(void *arg)
{
    void *v = NULL;

    ASSERT_OK(csp_chan_take_blocking(arg, &v, deadline_in(8 * SEC)));
    return v;
}

static void *thread_put5(void *arg)
{
    return V(csp_chan_put_blocking(arg, V(5), deadline_in(8 * SEC)) ==
             CSP_OK);
}

struct cb_rec {
    _Atomic int calls;
    int rc;
    void *val;
};

static void rec_cb(void *ud, int rc, void *val)
{
    struct cb_rec *r = ud;

    r->rc = rc;
    r->val = val;
    atomic_fetch_add(&r->calls, 1);
}

TEST(go_put_hands_off_to_a_blocked_thread_take)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *res;
    pthread_t t = spawn(thread_take, ch);
    void *a[2] = {ch, V(7)};

    wait_pending(pending_takes, ch, 1);
    ASSERT_OK(csp_go(test_rt, go_put_arg, a, &res));
    ASSERT_EQ(1, U(join(res)));
    ASSERT_EQ(7, U(join_thread(t)));
    csp_chan_release(ch);
}

TEST(go_put_hands_off_to_a_pending_callback_take)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *res;
    struct cb_rec r = {0};
    void *v = NULL, *a[2] = {ch, V(9)};

    ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(), rec_cb,
                                            &r, NULL));
    ASSERT_OK(csp_go(test_rt, go_put_arg, a, &res));
    ASSERT_EQ(1, U(join(res)));
    ASSERT_EQ(1, atomic_load(&r.calls));
    ASSERT_RC(CSP_OK, r.rc);
    ASSERT_EQ(9, U(r.val));
    csp_chan_release(ch);
}

TEST(go_take_takes_from_a_blocked_thread_put)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *res;
    pthread_t t = spawn(thread_put5, ch);

    wait_pending(pending_puts, ch, 1);
    ASSERT_OK(csp_go(test_rt, go_take_arg, ch, &res));
    ASSERT_EQ(5, U(join(res)));
    ASSERT_EQ(1, U(join_thread(t)));
    csp_chan_release(ch);
}

TEST(go_take_takes_from_a_pending_callback_put)
{
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *res;
    struct cb_rec r = {0};

    ASSERT_RC(CSP_PENDING, csp_chan_put_cb(ch, V(11), csp_exec_inline(),
                                           rec_cb, &r, NULL));
    ASSERT_OK(csp_go(test_rt, go_take_arg, ch, &res));
    ASSERT_EQ(11, U(join(res)));
    ASSERT_EQ(1, atomic_load(&r.calls));
    ASSERT_RC(CSP_OK, r.rc);
    csp_chan_release(ch);
}

static void *take_all_then_closed(void *arg)
{
    uintptr_t sum = 0;
    void *v;
    int rc;

    while ((rc = csp_chan_take(arg, &v)) == CSP_OK)
        sum = sum * 10 + U(v);
    return rc == CSP_ECLOSED && v == NULL ? V(sum) : NULL;
}

TEST(go_take_drains_a_closed_buffered_channel_then_gets_closed)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 4), *res;

    for (int i = 1; i <= 3; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    ASSERT_OK(csp_chan_close(ch));
    ASSERT_OK(csp_go(test_rt, take_all_then_closed, ch, &res));
    ASSERT_EQ(123, U(join(res)));
    csp_chan_release(ch);
}

static void *put_1_to_10(void *arg)
{
    for (int i = 1; i <= 10; i++)
        if (csp_chan_put(arg, V(i)) != CSP_OK)
            return NULL;
    return V(1);
}

TEST(go_put_on_a_full_fixed_channel_parks_and_keeps_the_order)
{
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2), *res;
    void *v;

    ASSERT_OK(csp_go(test_rt, put_1_to_10, ch, &res));
    wait_pending(pending_puts, ch, 1); /* 1 and 2 buffered, 3 parked */
    for (int i = 1; i <= 10; i++) {
        ASSERT_OK(csp_chan_take_blocking(ch, &v, deadline_in(8 * SEC)));
        ASSERT_EQ(i, U(v));
    }
    ASSERT_EQ(1, U(join(res)));
    csp_chan_release(ch);
}

static void *go_put_rc(void *arg)
{
    return V(1000 + csp_chan_put(arg, V(3)));
}

static void *go_take_rc(void *arg)
{
    void *v;

    return V(1000 + csp_chan_take(arg, &v));
}

/* CSP_PENDING_MAX procs parked on one side; one more gets CSP_EBUSY and
 * parks nothing. Then the close ends the parked takes (CSP_ECLOSED), and
 * the parked puts, which a close leaves pending (core.async), are taken
 * (CSP_OK). Under TSan 1025 fibers take about 25 s: hence the timeouts. */
static void pending_limit_case(int puts)
{
    long (*count)(csp_chan *) = puts ? pending_puts : pending_takes;
    void *(*fn)(void *) = puts ? go_put_rc : go_take_rc;
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *extra;
    csp_chan **rs = calloc(CSP_PENDING_MAX, sizeof *rs);
    void *v;

    ASSERT_TRUE(rs != NULL);
    for (int i = 0; i < CSP_PENDING_MAX; i++)
        ASSERT_OK(csp_go(test_rt, fn, ch, &rs[i]));
    wait_pending(count, ch, CSP_PENDING_MAX);
    ASSERT_OK(csp_go(test_rt, fn, ch, &extra));
    ASSERT_EQ(1000 + CSP_EBUSY, (int)U(join(extra)));
    ASSERT_EQ(CSP_PENDING_MAX, count(ch));
    ASSERT_OK(csp_chan_close(ch));
    for (int i = 0; puts && i < CSP_PENDING_MAX; i++) {
        ASSERT_OK(csp_chan_take_blocking(ch, &v, deadline_in(8 * SEC)));
        ASSERT_EQ(3, U(v));
    }
    for (int i = 0; i < CSP_PENDING_MAX; i++)
        ASSERT_EQ(1000 + (puts ? CSP_OK : CSP_ECLOSED), (int)U(join(rs[i])));
    free(rs);
    csp_chan_release(ch);
}

TEST(go_put_beyond_the_pending_limit_returns_ebusy) // timeout=90
{
    pending_limit_case(1);
}

TEST(go_take_beyond_the_pending_limit_returns_ebusy) // timeout=90
{
    pending_limit_case(0);
}
