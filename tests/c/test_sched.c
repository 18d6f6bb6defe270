/* test_sched.c - the worker pool: the pool executor, fairness (runnext
 * cap, inject ticks), lost wake-ups under load, counters, csp_rt_dump,
 * the deadlock report, and shutdown (busy, forced, waiting).
 *
 * Tests that need a runtime of their own (forced shutdown, debug
 * settings) make one with a tracking allocator whose leftovers they free
 * afterwards: a forced shutdown leaks what discarded procs held, by
 * design.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/sched_internal.h"
#include "util.h"


/* A tracking allocator: each block carries a header on a list, so what
 * a forced shutdown leaked can be freed afterwards. */
struct hdr {
    struct hdr *prev, *next;
};
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hdr arena = {&arena, &arena};

static void *arena_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    struct hdr *h = ptr ? (struct hdr *)ptr - 1 : NULL;

    (void)ud;
    (void)old_size;
    pthread_mutex_lock(&arena_lock);
    if (h) {
        h->prev->next = h->next;
        h->next->prev = h->prev;
    }
    pthread_mutex_unlock(&arena_lock);
    if (new_size == 0) {
        free(h);
        return NULL;
    }
    h = realloc(h, sizeof *h + new_size);
    if (!h)
        return NULL; /* (a failed realloc of a live block is not used) */
    pthread_mutex_lock(&arena_lock);
    h->next = arena.next;
    h->prev = &arena;
    arena.next->prev = h;
    arena.next = h;
    pthread_mutex_unlock(&arena_lock);
    return h + 1;
}

static size_t arena_free_all(void)
{
    size_t n = 0;

    pthread_mutex_lock(&arena_lock);
    while (arena.next != &arena) {
        struct hdr *h = arena.next;
        arena.next = h->next;
        free(h);
        n++;
    }
    arena.prev = &arena;
    pthread_mutex_unlock(&arena_lock);
    return n;
}

static csp_rt *own_rt(int threads)
{
    csp_rt *rt;

    ASSERT_OK(csp_rt_new(&rt, arena_alloc, NULL));
    ASSERT_OK(csp_rt_set(rt, CSP_RT_THREADS, threads));
    return rt;
}

/* ------------------------------------------------------------------------
 * The pool executor. */

#define NTASKS 10000

struct ptask {
    csp_task task;
    int in_go;
    int on_worker;
};
static struct ptask ptasks[NTASKS];
static _Atomic long ptasks_run;
static csp_chan *ptasks_done;

static void ptask_run(csp_task *t)
{
    struct ptask *pt = (struct ptask *)t;
    char name[16] = "";

    pt->in_go = csp_in_go();
    pthread_getname_np(pthread_self(), name, sizeof name);
    pt->on_worker = strncmp(name, "csp-worker-", 11) == 0;
    if (atomic_fetch_add(&ptasks_run, 1) == NTASKS - 1)
        ASSERT_OK(csp_chan_offer(ptasks_done, V(1)));
}

static void check_ptasks(void)
{
    ASSERT_EQ(NTASKS, atomic_load(&ptasks_run));
    for (int i = 0; i < NTASKS; i++) {
        ASSERT_EQ(0, ptasks[i].in_go);
        ASSERT_EQ(1, ptasks[i].on_worker);
    }
}

TEST(pool_executor_runs_tasks_on_workers_outside_procs)
{
    csp_exec *ex = csp_rt_executor(test_rt);
    void *v;

    ASSERT_NOT_NULL(ex);
    ASSERT_OK(
        csp_chan_new(&ptasks_done, test_rt, CSP_BUF_FIXED, 1, NULL, NULL));
    for (int i = 0; i < NTASKS; i++) {
        ptasks[i].task.run = ptask_run;
        ex->submit(ex, &ptasks[i].task);
    }
    ASSERT_OK(csp_chan_take_blocking(ptasks_done, &v, deadline_in(8 * SEC)));
    check_ptasks();
    csp_chan_release(ptasks_done);
}

static void *submit_from_proc(void *arg)
{
    csp_exec *ex = arg;

    for (int i = 0; i < NTASKS; i++) {
        ptasks[i].task.run = ptask_run;
        ex->submit(ex, &ptasks[i].task);
    }
    return NULL;
}

TEST(pool_executor_runs_tasks_submitted_by_a_proc)
{
    csp_exec *ex = csp_rt_executor(test_rt);
    csp_chan *res;
    void *v;

    ASSERT_OK(
        csp_chan_new(&ptasks_done, test_rt, CSP_BUF_FIXED, 1, NULL, NULL));
    ASSERT_OK(csp_go(test_rt, submit_from_proc, ex, &res));
    ASSERT_OK(csp_chan_take_blocking(ptasks_done, &v, deadline_in(8 * SEC)));
    join(res);
    check_ptasks();
    csp_chan_release(ptasks_done);
}

TEST(rt_executor_reports_enomem_when_workers_cannot_start)
{
    long baseline = test_live_allocs();
    csp_exec *ex = NULL;

    for (long n = 0; !ex; n++) {
        test_fail_alloc_after(n);
        ex = csp_rt_executor(test_rt);
        test_fail_alloc_after(-1);
        if (!ex) {
            ASSERT_EQ(baseline, test_live_allocs());
            ASSERT_EQ(0, stat_of(test_rt, CSP_STAT_WORKERS));
        }
    }
    ASSERT_EQ(2, stat_of(test_rt, CSP_STAT_WORKERS));
}

/* ------------------------------------------------------------------------
 * Fairness and lost wake-ups. */

struct pair {
    csp_chan *ping, *pong;
    _Atomic int stop;
    _Atomic long rounds;
};

static void *pair_a(void *arg)
{
    struct pair *p = arg;
    void *v;

    while (!atomic_load(&p->stop)) {
        ASSERT_OK(csp_chan_put(p->ping, V(1)));
        ASSERT_OK(csp_chan_take(p->pong, &v));
        p->rounds++;
    }
    ASSERT_OK(csp_chan_put(p->ping, V(2))); /* tell B to stop */
    return NULL;
}

static void *pair_b(void *arg)
{
    struct pair *p = arg;
    void *v = NULL;

    for (;;) {
        ASSERT_OK(csp_chan_take(p->ping, &v));
        if (U(v) == 2)
            return NULL;
        ASSERT_OK(csp_chan_put(p->pong, v));
    }
}

static void *stopper(void *arg)
{
    atomic_store(&((struct pair *)arg)->stop, 1);
    return NULL;
}

static void *start_pair_then_stopper(void *arg)
{
    struct pair *p = arg;
    csp_chan *a, *b, *c;

    ASSERT_OK(csp_go(test_rt, pair_b, p, &b));
    ASSERT_OK(csp_go(test_rt, pair_a, p, &a));
    ASSERT_OK(csp_yield()); /* let the pair start first */
    ASSERT_OK(csp_go(test_rt, stopper, p, &c));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take(a, &(void *){0}));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take(b, &(void *){0}));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take(c, &(void *){0}));
    csp_chan_release(a);
    csp_chan_release(b);
    csp_chan_release(c);
    return NULL;
}

TEST(runnext_cap_lets_a_third_proc_run_beside_a_ping_pong_pair)
{
    struct pair p = {mkchan_on(test_rt, CSP_BUF_NONE, 0), mkchan_on(test_rt, CSP_BUF_NONE, 0), 0, 0};
    csp_chan *res;

    /* One worker: the third proc waits in the ring behind a pair that
     * keeps readying each other into runnext. */
    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 1));
    ASSERT_OK(csp_go(test_rt, start_pair_then_stopper, &p, &res));
    join(res);
    ASSERT_TRUE(p.rounds < 1000);
    csp_chan_release(p.ping);
    csp_chan_release(p.pong);
}

TEST(inject_queue_proc_runs_beside_a_ping_pong_pair)
{
    struct pair p = {mkchan_on(test_rt, CSP_BUF_NONE, 0), mkchan_on(test_rt, CSP_BUF_NONE, 0), 0, 0};
    csp_chan *a, *b, *c;
    int64_t give_up = deadline_in(8 * SEC);

    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 1));
    ASSERT_OK(csp_go(test_rt, pair_b, &p, &b));
    ASSERT_OK(csp_go(test_rt, pair_a, &p, &a));
    /* Wait until the pair runs, then inject the stopper from here. */
    while (atomic_load(&p.rounds) < 10)
        ASSERT_TRUE(csp_now_ns() < give_up);
    ASSERT_OK(csp_go(test_rt, stopper, &p, &c));
    join(a);
    join(b);
    join(c);
    csp_chan_release(p.ping);
    csp_chan_release(p.pong);
}

/* Woken ahead of spawned (issue #13, item 4): on one worker, procs woken
 * from outside the workers (a thread's put, a timer) run before the
 * processes a running proc spawned and that never ran. Every proc
 * records its turn. */
struct order {
    csp_chan *ch;        /* the woken procs wait here or on a timeout */
    _Atomic long turn;   /* next position */
    long woken_at[64];   /* positions of the woken procs */
    long spawned_min;    /* first position of a spawned proc */
    _Atomic long nwoken;
    int nsleepers;
    _Atomic int spawned; /* the spawner has filled its ring */
};

static void *record_spawned(void *arg)
{
    struct order *o = arg;
    long t = atomic_fetch_add(&o->turn, 1);
    if (t < o->spawned_min)
        o->spawned_min = t; /* one worker: no race */
    return NULL;
}

static void *woken_taker(void *arg)
{
    struct order *o = arg;
    void *v;

    ASSERT_OK(csp_chan_take(o->ch, &v));
    o->woken_at[atomic_fetch_add(&o->nwoken, 1)] = atomic_fetch_add(&o->turn, 1);
    return NULL;
}

static void *woken_sleeper(void *arg)
{
    struct order *o = arg;
    csp_chan *t;

    ASSERT_OK(csp_timeout(&t, test_rt, 200));
    ASSERT_RC(CSP_ECLOSED, csp_chan_take(t, &(void *){0}));
    csp_chan_release(t);
    o->woken_at[atomic_fetch_add(&o->nwoken, 1)] = atomic_fetch_add(&o->turn, 1);
    return NULL;
}

/* Spawn 100 recorders into this worker's ring, then spin (never parking)
 * until WANT procs woken from outside wait in the inject queue. */
static void *spawn_then_wait_for_wakes(void *arg)
{
    struct order *o = arg;
    struct csp__sched *s = csp__sched_get(test_rt);
    int64_t give_up = deadline_in(8 * SEC);

    for (int i = 0; i < 100; i++)
        ASSERT_OK(csp_go(test_rt, record_spawned, o, NULL));
    atomic_store(&o->spawned, 1);
    /* Every woken proc either waits in the inject queue's front or ran
     * before we did (then it ran before the spawned ones too). */
    while (atomic_load(&s->nready) + atomic_load(&o->nwoken) <
           (long)o->nsleepers)
        ASSERT_TRUE(csp_now_ns() < give_up);
    return NULL;
}

static void wait_parked(long n)
{
    int64_t give_up = deadline_in(8 * SEC);
    while (stat_of(test_rt, CSP_STAT_PROCS_PARKED) < n)
        ASSERT_TRUE(csp_now_ns() < give_up);
}

static void *put_from_thread(void *arg)
{
    struct order *o = arg;
    int64_t give_up = deadline_in(8 * SEC);

    while (!atomic_load(&o->spawned))
        ASSERT_TRUE(csp_now_ns() < give_up);
    ASSERT_OK(csp_chan_put_blocking(o->ch, V(1), deadline_in(8 * SEC)));
    return NULL;
}

TEST(proc_woken_by_a_thread_runs_before_spawned_procs)
{
    static struct order o;
    csp_chan *a, *b;
    pthread_t th;

    memset(&o, 0, sizeof o);
    o.spawned_min = 1 << 30;
    o.nsleepers = 1;
    o.ch = mkchan_on(test_rt, CSP_BUF_NONE, 0);
    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 1));
    ASSERT_OK(csp_go(test_rt, woken_taker, &o, &a));
    wait_parked(1);
    /* The thread's put wakes the taker while the spawner holds the
     * worker with 100 unstarted procs in its ring. */
    ASSERT_EQ(0, pthread_create(&th, NULL, put_from_thread, &o));
    ASSERT_OK(csp_go(test_rt, spawn_then_wait_for_wakes, &o, &b));
    join(a);
    join(b);
    pthread_join(th, NULL);
    int64_t give_up = deadline_in(8 * SEC);
    while (atomic_load(&o.turn) < 101)
        ASSERT_TRUE(csp_now_ns() < give_up);
    ASSERT_EQ(1, atomic_load(&o.nwoken));
    ASSERT_TRUE(o.woken_at[0] < o.spawned_min);
    csp_chan_release(o.ch);
}

TEST(procs_woken_by_a_timer_run_before_spawned_procs)
{
    static struct order o;
    csp_chan *r[32], *b;

    memset(&o, 0, sizeof o);
    o.spawned_min = 1 << 30;
    o.nsleepers = 32;
    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 1));
    for (int i = 0; i < 32; i++)
        ASSERT_OK(csp_go(test_rt, woken_sleeper, &o, &r[i]));
    /* All parked, unless the first already woke (a sanitizer can take
     * longer than the timeout to start 32 procs). */
    int64_t until = deadline_in(8 * SEC);
    while (stat_of(test_rt, CSP_STAT_PROCS_PARKED) + atomic_load(&o.nwoken) <
           32)
        ASSERT_TRUE(csp_now_ns() < until);
    /* All 32 share one timeout bucket (created within one resolution
     * step, or two): the timer thread wakes them with one push each,
     * ahead of the spawner's 100 unstarted procs. */
    ASSERT_OK(csp_go(test_rt, spawn_then_wait_for_wakes, &o, &b));
    join(b);
    for (int i = 0; i < 32; i++)
        join(r[i]);
    int64_t give_up = deadline_in(8 * SEC);
    while (atomic_load(&o.turn) < 132)
        ASSERT_TRUE(csp_now_ns() < give_up);
    ASSERT_EQ(32, atomic_load(&o.nwoken));
    for (int i = 0; i < 32; i++)
        ASSERT_TRUE(o.woken_at[i] < o.spawned_min);
}

static void *pinned_taker(void *arg)
{
    struct pair *p = arg;
    uintptr_t sum = 0;
    void *v;

    for (int i = 0; i < 1000; i++) {
        ASSERT_OK(csp_chan_take(p->pong, &v));
        sum += U(v);
    }
    return V(sum);
}

TEST(pinned_proc_runs_while_its_worker_spins_beside_a_busy_pair)
{
    struct pair p = {mkchan_on(test_rt, CSP_BUF_NONE, 0), mkchan_on(test_rt, CSP_BUF_NONE, 0), 0, 0};
    struct pair q = {p.ping, mkchan_on(test_rt, CSP_BUF_NONE, 0), 0, 0};
    csp_chan *a, *b, *c;
    int64_t give_up = deadline_in(8 * SEC);

    /* The pair keeps the other worker's runnext changing; an idle home
     * worker spins on it. Each wake of the pinned proc must still get
     * it run. */
    ASSERT_OK(csp_go(test_rt, pair_b, &p, &b));
    ASSERT_OK(csp_go(test_rt, pair_a, &p, &a));
    while (atomic_load(&p.rounds) < 10)
        ASSERT_TRUE(csp_now_ns() < give_up);
    ASSERT_OK(csp_go_ex(test_rt, pinned_taker, &q, CSP_GO_PINNED, 0, &c));
    for (int i = 1; i <= 1000; i++)
        ASSERT_OK(csp_chan_put_blocking(q.pong, V(i), deadline_in(8 * SEC)));
    ASSERT_EQ(500500, U(join(c)));
    atomic_store(&p.stop, 1);
    join(a);
    join(b);
    csp_chan_release(p.ping);
    csp_chan_release(p.pong);
    csp_chan_release(q.pong);
}

struct fanin {
    csp_chan *ch;
    long per;
};

static void *producer(void *arg)
{
    struct fanin *f = arg;

    for (long i = 1; i <= f->per; i++)
        ASSERT_OK(csp_chan_put(f->ch, V(i)));
    return NULL;
}

static void *consumer(void *arg)
{
    struct fanin *f = arg;
    uintptr_t sum = 0;
    void *v;

    for (long i = 0; i < 100 * f->per; i++) {
        ASSERT_OK(csp_chan_take(f->ch, &v));
        sum += U(v);
    }
    return V(sum);
}

static void fan_in(size_t cap, int threads)
{
    struct fanin f = {NULL, 2000};
    csp_chan *prods[100], *cons;

    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, threads));
    if (cap)
        ASSERT_OK(csp_chan_new(&f.ch, test_rt, CSP_BUF_FIXED, cap, NULL, NULL));
    else
        f.ch = mkchan_on(test_rt, CSP_BUF_NONE, 0);
    ASSERT_OK(csp_go(test_rt, consumer, &f, &cons));
    for (int i = 0; i < 100; i++)
        ASSERT_OK(csp_go(test_rt, producer, &f, &prods[i]));
    ASSERT_EQ(100 * (f.per * (f.per + 1) / 2), U(join(cons)));
    for (int i = 0; i < 100; i++)
        join(prods[i]);
    csp_chan_release(f.ch);
}

TEST(fan_in_unbuffered_delivers_every_value)
{
    fan_in(0, 2);
}

TEST(fan_in_buffered_on_four_workers_delivers_every_value)
{
    fan_in(64, 4);
}

struct ring_args {
    csp_chan *in, *out;
    long n;
};

static void *relay(void *arg)
{
    struct ring_args *r = arg;
    void *v;

    for (long i = 0; i < r->n; i++) {
        ASSERT_OK(csp_chan_take(r->in, &v));
        ASSERT_OK(csp_chan_put(r->out, V(U(v) + 1)));
    }
    return NULL;
}

TEST(token_ring_of_procs_passes_every_token)
{
    enum { N = 64, LAPS = 500 };
    struct ring_args args[N];
    csp_chan *chs[N], *res[N];
    void *v = NULL;

    for (int i = 0; i < N; i++)
        chs[i] = mkchan_on(test_rt, CSP_BUF_NONE, 0);
    for (int i = 0; i < N; i++) {
        args[i] = (struct ring_args){chs[i], chs[(i + 1) % N], LAPS};
        if (i == 0)
            continue; /* this thread plays relay 0 */
        ASSERT_OK(csp_go(test_rt, relay, &args[i], &res[i]));
    }
    for (long lap = 0; lap < LAPS; lap++) {
        ASSERT_OK(csp_chan_put_blocking(chs[1], V(1), deadline_in(8 * SEC)));
        ASSERT_OK(csp_chan_take_blocking(chs[0], &v, deadline_in(8 * SEC)));
        ASSERT_EQ(N, U(v));
    }
    for (int i = 1; i < N; i++)
        join(res[i]);
    for (int i = 0; i < N; i++)
        csp_chan_release(chs[i]);
}

/* ------------------------------------------------------------------------
 * Counters. */

static void *take_once(void *arg)
{
    void *v = NULL;

    ASSERT_OK(csp_chan_take(arg, &v));
    return v;
}

TEST(stat_counts_live_parked_and_spawned_procs)
{
    csp_chan *ch = mkchan_on(test_rt, CSP_BUF_NONE, 0), *res[10];

    ASSERT_EQ(0, stat_of(test_rt, CSP_STAT_PROCS_LIVE));
    for (int i = 0; i < 10; i++)
        ASSERT_OK(csp_go(test_rt, take_once, ch, &res[i]));
    ASSERT_EQ(10, stat_of(test_rt, CSP_STAT_PROCS_SPAWNED));
    wait_stat(test_rt, CSP_STAT_PROCS_PARKED, 10);
    ASSERT_EQ(10, stat_of(test_rt, CSP_STAT_PROCS_LIVE));
    ASSERT_EQ(0, stat_of(test_rt, CSP_STAT_PROCS_RUNNABLE));
    for (int i = 0; i < 10; i++)
        ASSERT_OK(csp_chan_put_blocking(ch, V(i + 1), deadline_in(8 * SEC)));
    for (int i = 0; i < 10; i++)
        join(res[i]);
    wait_stat(test_rt, CSP_STAT_PROCS_LIVE, 0);
    ASSERT_EQ(0, stat_of(test_rt, CSP_STAT_PROCS_PARKED));
    ASSERT_EQ(10, stat_of(test_rt, CSP_STAT_PROCS_SPAWNED));
    csp_chan_release(ch);
}

static void *return_arg(void *arg)
{
    return arg;
}

TEST(stat_counts_reused_stacks)
{
    csp_chan *res;

    for (int i = 0; i < 100; i++) {
        ASSERT_OK(csp_go(test_rt, return_arg, NULL, &res));
        join(res);
        wait_stat(test_rt, CSP_STAT_PROCS_LIVE, 0);
    }
    ASSERT_TRUE(stat_of(test_rt, CSP_STAT_STACKS_REUSED) >= 90);
    ASSERT_TRUE(stat_of(test_rt, CSP_STAT_STACKS_MAPPED) <= 16);
}

TEST(stat_reports_workers_once_started)
{
    ASSERT_EQ(0, stat_of(test_rt, CSP_STAT_WORKERS));
    ASSERT_NOT_NULL(csp_rt_executor(test_rt));
    ASSERT_EQ(2, stat_of(test_rt, CSP_STAT_WORKERS));
}

static void *park_on_arg(void *arg)
{
    void *v;
    csp_chan_take(arg, &v);
    return NULL;
}

/* 20000, fewer under sanitizers (TSan spawns about 10x slower). */
#define PARKERS test_scaled(20000)

static void *spawn_many_parkers(void *arg)
{
    for (long i = 0; i < PARKERS; i++)
        ASSERT_OK(csp_go_ex(test_rt, park_on_arg, arg, CSP_GO_SMALL_STACK, 0,
                            NULL));
    return NULL;
}

/* slow: not under valgrind, which runs one thread at a time, so the
 * runtime does not spin there (sched.c) and every idle transition is a
 * wake-up; notsan: TSan makes a spin and a spawn cost alike (20 s, and
 * the spinner times out between spawns), so the property is measured in
 * the plain build. */
TEST(spawn_loop_wakes_idle_workers_rarely) // slow notsan
{
    csp_chan *ch = mkchan_on(test_rt, CSP_BUF_NONE, 0), *res;

    /* Two workers; one proc spawns 20000 procs that park at once. The
     * idle worker spins between steals instead of sleeping, so spawns
     * find a spinner and wake nobody (before: about 0.4 wake-ups per
     * spawn). Bounded loosely: a loaded machine may deschedule the
     * spawner past a spin. */
    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 2));
    ASSERT_OK(csp_go(test_rt, spawn_many_parkers, ch, &res));
    join(res);
    ASSERT_TRUE(stat_of(test_rt, CSP_STAT_WAKEUPS) < PARKERS / 10);
    csp_chan_close(ch);
    wait_stat(test_rt, CSP_STAT_PROCS_LIVE, 0);
    csp_chan_release(ch);
}

TEST(stat_counts_worker_wake_ups)
{
    csp_chan *res;

    ASSERT_OK(csp_rt_set(test_rt, CSP_RT_THREADS, 1));
    ASSERT_EQ(0, stat_of(test_rt, CSP_STAT_WAKEUPS));
    for (int i = 0; i < 3; i++) {
        /* Wait until the worker sleeps, then wake it with a spawn. */
        int64_t give_up = deadline_in(8 * SEC);
        struct csp__sched *s = csp__sched_get(test_rt);
        while (s && atomic_load(&s->nidle) != 1)
            ASSERT_TRUE(csp_now_ns() < give_up);
        ASSERT_OK(csp_go(test_rt, return_arg, NULL, &res));
        join(res);
    }
    ASSERT_TRUE(stat_of(test_rt, CSP_STAT_WAKEUPS) >= 2);
}

TEST(stat_rejects_unknown_key)
{
    int64_t v = 5;

    ASSERT_RC(CSP_EINVAL, csp_rt_stat(test_rt, 999, &v));
    ASSERT_RC(CSP_EINVAL, csp_rt_stat(test_rt, 0, &v));
    ASSERT_EQ(5, v);
}

/* ------------------------------------------------------------------------
 * The report. */

static char *dump_of(csp_rt *rt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ASSERT_NOT_NULL(f);
    ASSERT_OK(csp_rt_dump(rt, f));
    fclose(f);
    return buf;
}

TEST(dump_lists_parked_proc_with_its_channel_id)
{
    csp_chan *ch = mkchan_on(test_rt, CSP_BUF_NONE, 0), *res;
    char want[64], *text;

    ASSERT_OK(csp_go(test_rt, take_once, ch, &res));
    wait_stat(test_rt, CSP_STAT_PROCS_PARKED, 1);
    snprintf(want, sizeof want, "parked: take ch %llu",
             (unsigned long long)csp_chan_id(ch));
    text = dump_of(test_rt);
    ASSERT_NOT_NULL(strstr(text, want));
    ASSERT_NOT_NULL(strstr(text, "csp-worker-1"));
    free(text);
    ASSERT_OK(csp_chan_put_blocking(ch, V(1), deadline_in(8 * SEC)));
    join(res);
    csp_chan_release(ch);
}

static void *alts_two(void *arg)
{
    csp_chan **chs = arg;
    csp_op ops[2] = {{chs[0], CSP_OP_TAKE, NULL}, {chs[1], CSP_OP_PUT, V(5)}};
    size_t idx;
    void *v;

    ASSERT_OK(csp_alts(ops, 2, CSP_ALTS_PRIORITY, &idx, &v));
    return V(idx + 1);
}

TEST(dump_lists_alts_channels)
{
    csp_chan *chs[2] = {mkchan_on(test_rt, CSP_BUF_NONE, 0), mkchan_on(test_rt, CSP_BUF_NONE, 0)}, *res;
    char want[96], *text;

    ASSERT_OK(csp_go(test_rt, alts_two, chs, &res));
    wait_stat(test_rt, CSP_STAT_PROCS_PARKED, 1);
    snprintf(want, sizeof want, "parked: alts ch %llu ch %llu",
             (unsigned long long)csp_chan_id(chs[0]),
             (unsigned long long)csp_chan_id(chs[1]));
    text = dump_of(test_rt);
    ASSERT_NOT_NULL(strstr(text, want));
    free(text);
    ASSERT_OK(csp_chan_put_blocking(chs[0], V(1), deadline_in(8 * SEC)));
    ASSERT_EQ(1, U(join(res)));
    csp_chan_release(chs[0]);
    csp_chan_release(chs[1]);
}

static void *sleep_long(void *arg)
{
    ASSERT_OK(csp_sleep((uint64_t)U(arg)));
    return NULL;
}

TEST(dump_lists_sleeping_proc)
{
    csp_chan *res;
    char *text;

    ASSERT_OK(csp_go(test_rt, sleep_long, V(200), &res));
    wait_stat(test_rt, CSP_STAT_PROCS_PARKED, 1);
    text = dump_of(test_rt);
    ASSERT_NOT_NULL(strstr(text, "parked: sleep ch "));
    free(text);
    join(res);
}

TEST(dump_before_start_says_so)
{
    char *text = dump_of(test_rt);

    ASSERT_NOT_NULL(strstr(text, "scheduler not started"));
    free(text);
}

/* ------------------------------------------------------------------------
 * Deadlock diagnosis. */

TEST(all_parked_is_true_only_when_every_proc_is_parked)
{
    csp_chan *ch = mkchan_on(test_rt, CSP_BUF_NONE, 0), *res[3];

    ASSERT_EQ(0, csp__sched_all_parked(test_rt)); /* no procs */
    for (int i = 0; i < 3; i++)
        ASSERT_OK(csp_go(test_rt, take_once, ch, &res[i]));
    wait_stat(test_rt, CSP_STAT_PROCS_PARKED, 3);
    ASSERT_EQ(1, csp__sched_all_parked(test_rt));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(csp_chan_put_blocking(ch, V(1), deadline_in(8 * SEC)));
    for (int i = 0; i < 3; i++)
        join(res[i]);
    csp_chan_release(ch);
}

/* Run csp__sched_deadlock_check with stderr captured; returns malloc'd
 * text. */
static char *deadlock_report(csp_rt *rt)
{
    char *buf;
    FILE *tmp = tmpfile();
    int saved = dup(2);
    off_t len;

    ASSERT_NOT_NULL(tmp);
    fflush(stderr);
    dup2(fileno(tmp), 2);
    csp__sched_deadlock_check(rt, "test thread");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    len = lseek(fileno(tmp), 0, SEEK_END);
    ASSERT_TRUE(len >= 0);
    buf = calloc(1, (size_t)len + 1);
    ASSERT_NOT_NULL(buf);
    lseek(fileno(tmp), 0, SEEK_SET);
    ASSERT_EQ(len, read(fileno(tmp), buf, (size_t)len));
    fclose(tmp);
    return buf;
}

static void deadlock_case(int setting, int expect_report)
{
    csp_rt *rt = own_rt(2);
    csp_chan *ch, *res;
    char want[64], *text;

    ASSERT_OK(csp_rt_set(rt, CSP_RT_DEBUG_DEADLOCK, setting));
    ASSERT_OK(csp_chan_new(&ch, rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_go(rt, take_once, ch, &res));
    wait_stat(rt, CSP_STAT_PROCS_PARKED, 1);
    text = deadlock_report(rt);
    snprintf(want, sizeof want, "parked: take ch %llu",
             (unsigned long long)csp_chan_id(ch));
    if (expect_report) {
        ASSERT_NOT_NULL(strstr(text, "likely deadlock"));
        ASSERT_NOT_NULL(strstr(text, want));
    } else {
        ASSERT_EQ(0, strlen(text));
    }
    free(text);
    ASSERT_OK(csp_chan_put_blocking(ch, V(1), deadline_in(8 * SEC)));
    join(res);
    csp_chan_release(ch);
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_EQ(0, arena_free_all());
}

TEST(deadlock_check_reports_when_every_proc_is_parked)
{
    deadlock_case(1, 1);
}

TEST(deadlock_check_is_silent_when_setting_is_off)
{
    deadlock_case(0, 0);
}

/* ------------------------------------------------------------------------
 * Shutdown. */

TEST(rt_free_returns_ebusy_while_a_proc_is_parked_forever)
{
    csp_chan *ch = mkchan_on(test_rt, CSP_BUF_NONE, 0), *res;

    ASSERT_OK(csp_go(test_rt, take_once, ch, &res));
    wait_stat(test_rt, CSP_STAT_PROCS_PARKED, 1);
    ASSERT_RC(CSP_EBUSY, csp_rt_free(test_rt, 0));
    /* Nothing changed: the proc still completes normally. */
    ASSERT_EQ(1, stat_of(test_rt, CSP_STAT_PROCS_LIVE));
    ASSERT_OK(csp_chan_put_blocking(ch, V(4), deadline_in(8 * SEC)));
    ASSERT_EQ(4, U(join(res)));
    csp_chan_release(ch);
}

static void *rt_free_inside(void *arg)
{
    return V(csp_rt_free(arg, 0) == CSP_EPERM);
}

TEST(rt_free_inside_a_proc_returns_eperm)
{
    csp_chan *res;

    ASSERT_OK(csp_go(test_rt, rt_free_inside, test_rt, &res));
    ASSERT_EQ(1, U(join(res)));
}

static void *take_own(void *arg)
{
    csp_chan *ch = arg; /* the proc's own reference */
    void *v = NULL;

    csp_chan_take(ch, &v);
    csp_chan_release(ch);
    return v;
}

static void *alts_own(void *arg)
{
    csp_chan *ch = arg;
    csp_op ops[2] = {{ch, CSP_OP_TAKE, NULL}, {ch, CSP_OP_PUT, V(1)}};
    size_t idx;
    void *v;

    csp_alts(ops, 2, 0, &idx, &v); /* never matches itself: parks */
    csp_chan_release(ch);
    return NULL;
}

TEST(rt_free_force_discards_parked_procs)
{
    csp_rt *rt = own_rt(2);
    csp_chan *a, *b, *res;

    ASSERT_OK(csp_chan_new(&a, rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_chan_new(&b, rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_go(rt, take_own, csp_chan_retain(a), &res));
    ASSERT_OK(csp_go(rt, alts_own, csp_chan_retain(b), NULL));
    ASSERT_OK(csp_go(rt, sleep_long, V(3600 * 1000), NULL));
    wait_stat(rt, CSP_STAT_PROCS_PARKED, 3);
    csp_chan_release(a);
    csp_chan_release(b);
    csp_chan_release(res);
    ASSERT_OK(csp_rt_free(rt, CSP_RT_FREE_FORCE));
    /* What the discarded procs held leaks by design: the channels. */
    ASSERT_TRUE(arena_free_all() >= 2);
}

static void *sleep_short(void *arg)
{
    csp_sleep((uint64_t)U(arg));
    return NULL;
}

TEST(rt_free_force_races_timer_wake_ups)
{
    /* Timers fire while the shutdown withdraws parked procs: whichever
     * wins, each proc either finishes or is discarded, never both. */
#if defined(CSP__TSAN) /* a TSan fiber costs ~2.5 ms: fewer procs */
    enum { ROUNDS = 50, PROCS = 4 };
#else
    enum { ROUNDS = 60, PROCS = 20 };
#endif
    for (int i = 0; i < ROUNDS; i++) {
        csp_rt *rt = own_rt(2);
        int64_t at;

        for (int k = 0; k < PROCS; k++)
            ASSERT_OK(csp_go(rt, sleep_short, V(1), NULL));
        /* Free at staggered moments around the timers' deadline. */
        at = csp_now_ns() + i * 40000;
        while (csp_now_ns() < at)
            ;
        ASSERT_OK(csp_rt_free(rt, CSP_RT_FREE_FORCE));
        arena_free_all();
    }
}

static void *sleep_forever(void *arg)
{
    (void)arg;
    ASSERT_OK(csp_sleep(UINT64_MAX)); /* beyond csp_timeout's limit */
    return NULL;
}

TEST(sleep_beyond_timeout_limit_parks_until_forced_shutdown)
{
    csp_rt *rt = own_rt(2);
    char *text;

    ASSERT_OK(csp_go(rt, sleep_forever, NULL, NULL));
    wait_stat(rt, CSP_STAT_PROCS_PARKED, 1);
    text = dump_of(rt);
    ASSERT_NOT_NULL(strstr(text, "parked: sleep ch "));
    free(text);
    ASSERT_OK(csp_rt_free(rt, CSP_RT_FREE_FORCE));
    ASSERT_TRUE(arena_free_all() >= 1); /* the sleeper's timeout */
}

TEST(rt_free_force_with_no_procs_frees_everything)
{
    csp_rt *rt = own_rt(2);

    ASSERT_NOT_NULL(csp_rt_executor(rt));
    ASSERT_OK(csp_rt_free(rt, CSP_RT_FREE_FORCE));
    ASSERT_EQ(0, arena_free_all());
}

TEST(rt_free_waits_for_sleeping_and_running_procs)
{
    csp_rt *rt = own_rt(2);
    int64_t t0 = csp_now_ns();

    ASSERT_OK(csp_go(rt, sleep_long, V(30), NULL));
    ASSERT_OK(csp_go(rt, sleep_long, V(1), NULL));
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_TRUE(csp_now_ns() - t0 >= 30 * 1000000);
    ASSERT_EQ(0, arena_free_all());
}

static void *spin_ms(void *arg)
{
    int64_t until = csp_now_ns() + (int64_t)U(arg) * 1000000;

    while (csp_now_ns() < until)
        ;
    return NULL;
}

TEST(rt_free_waits_for_a_running_proc)
{
    csp_rt *rt = own_rt(2);
    int64_t t0 = csp_now_ns();

    ASSERT_OK(csp_go(rt, spin_ms, V(30), NULL));
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_TRUE(csp_now_ns() - t0 >= 30 * 1000000);
    ASSERT_EQ(0, arena_free_all());
}

static void *spawn_many(void *arg)
{
    for (int i = 0; i < 1000; i++)
        ASSERT_OK(csp_go(arg, return_arg, NULL, NULL));
    return NULL;
}

TEST(rt_free_waits_for_procs_spawned_by_procs)
{
    csp_rt *rt = own_rt(2);

    ASSERT_OK(csp_go(rt, spawn_many, rt, NULL));
    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_EQ(0, arena_free_all());
}

TEST(rt_free_without_start_frees_everything)
{
    csp_rt *rt = own_rt(2);

    ASSERT_OK(csp_rt_free(rt, 0));
    ASSERT_EQ(0, arena_free_all());
}

/* ------------------------------------------------------------------------
 * The default runtime at process exit: its threads are never joined and
 * may be busy, parked or idle while exit() runs. */

static void *yield_forever(void *arg)
{
    (void)arg;
    for (;;)
        csp_yield();
    return NULL;
}

static void *block_forever(void *arg)
{
    void *v = NULL;

    csp_chan_take_blocking(arg, &v, CSP_FOREVER);
    return NULL;
}

TEST(default_runtime_exits_cleanly_with_busy_threads)
{
    int status;
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork(); /* no csp thread exists yet in this process */
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        csp_rt *rt = csp_rt_default();
        csp_chan *ch;
        struct rlimit no_core = {0, 0};

        setrlimit(RLIMIT_CORE, &no_core);
        if (!rt || csp_chan_new(&ch, rt, CSP_BUF_NONE, 0, NULL, NULL))
            _exit(3);
        for (int i = 0; i < 4; i++)
            if (csp_go(rt, yield_forever, NULL, NULL) ||
                csp_go(rt, take_once, ch, NULL) ||
                csp_go(rt, sleep_long, V(3600 * 1000), NULL))
                _exit(4);
        if (csp_thread(rt, block_forever, ch, NULL))
            _exit(5);
        wait_stat(rt, CSP_STAT_PROCS_PARKED, 8);
        exit(0); /* atexit handlers and stdio run with workers busy */
    }
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(0, WEXITSTATUS(status));
}
