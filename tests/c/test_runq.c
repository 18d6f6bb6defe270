/* test_runq.c - the run queues of core/runq.c alone: a scheduler shell
 * with two workers and no threads, tasks that are plain records, and
 * threads that play owner and thieves. FIFO order, overflow to the inject
 * queue, inject batches, stealing half, stealing runnext, the pinned FIFO,
 * and every task taken exactly once under concurrent stealing.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/sched_internal.h"
#include "harness.h"

struct shell {
    struct csp__sched s;
    struct csp__worker *w[2];
    struct csp__worker *wk[2];
};

static void no_run(csp_task *t)
{
    (void)t;
}

static struct shell *shell_new(void)
{
    struct shell *sh = calloc(1, sizeof *sh);

    ASSERT_NOT_NULL(sh);
    sh->s.nworkers = 2;
    sh->s.workers = sh->wk;
    ASSERT_OK(csp__mutex_init(&sh->s.inject_lock));
    for (int i = 0; i < 2; i++) {
        /* Workers are cache-line aligned in the real scheduler. */
        ASSERT_EQ(0, posix_memalign((void **)&sh->w[i], 64, sizeof *sh->w[i]));
        memset(sh->w[i], 0, sizeof *sh->w[i]);
        sh->w[i]->s = &sh->s;
        sh->w[i]->index = (uint32_t)i;
        ASSERT_OK(csp__mutex_init(&sh->w[i]->pin_lock));
        sh->wk[i] = sh->w[i];
    }
    return sh;
}

static void shell_free(struct shell *sh)
{
    for (int i = 0; i < 2; i++) {
        csp__mutex_destroy(&sh->w[i]->pin_lock);
        free(sh->w[i]);
    }
    csp__mutex_destroy(&sh->s.inject_lock);
    free(sh);
}

static csp_task *tasks(size_t n)
{
    csp_task *t = calloc(n, sizeof *t);

    ASSERT_NOT_NULL(t);
    for (size_t i = 0; i < n; i++)
        t[i].run = no_run;
    return t;
}

static uint32_t inject_count(struct shell *sh)
{
    return atomic_load(&sh->s.ninject);
}

TEST(runq_ring_pops_in_push_order)
{
    struct shell *sh = shell_new();
    csp_task *t = tasks(10);

    ASSERT_TRUE(csp__ring_empty(sh->w[0]));
    for (int i = 0; i < 10; i++)
        csp__ring_put(sh->w[0], &t[i]);
    ASSERT_FALSE(csp__ring_empty(sh->w[0]));
    for (int i = 0; i < 10; i++)
        ASSERT_TRUE(csp__ring_pop(sh->w[0]) == &t[i]);
    ASSERT_NULL(csp__ring_pop(sh->w[0]));
    ASSERT_TRUE(csp__ring_empty(sh->w[0]));
    free(t);
    shell_free(sh);
}

TEST(runq_full_ring_moves_half_and_the_new_task_to_inject)
{
    struct shell *sh = shell_new();
    csp_task *t = tasks(CSP__RING + 1), *got;

    for (int i = 0; i <= CSP__RING; i++)
        csp__ring_put(sh->w[0], &t[i]);
    ASSERT_EQ(CSP__RING / 2 + 1, inject_count(sh));
    /* The oldest half went to inject, in order, then the new task... */
    got = sh->s.injectq.head;
    for (int i = 0; i < CSP__RING / 2; i++, got = got->next)
        ASSERT_TRUE(got == &t[i]);
    ASSERT_TRUE(got == &t[CSP__RING]);
    ASSERT_NULL(got->next);
    /* ...and the newer half stayed on the ring. */
    for (int i = CSP__RING / 2; i < CSP__RING; i++)
        ASSERT_TRUE(csp__ring_pop(sh->w[0]) == &t[i]);
    ASSERT_NULL(csp__ring_pop(sh->w[0]));
    free(t);
    shell_free(sh);
}

TEST(runq_inject_keeps_fifo_order_across_overflow)
{
    struct shell *sh = shell_new();
    csp_task *t = tasks(CSP__RING + 1), *got;
    int seen = 0;

    for (int i = 0; i <= CSP__RING; i++)
        csp__ring_put(sh->w[0], &t[i]);
    /* Draining inject into worker 1 gives the oldest half in push order,
     * then the task that overflowed; worker 0's ring keeps the rest. */
    while ((got = csp__inject_get(&sh->s, sh->w[1], CSP__RING))) {
        do {
            ASSERT_TRUE(got == &t[seen < CSP__RING / 2 ? seen : CSP__RING]);
            seen++;
        } while ((got = csp__ring_pop(sh->w[1])));
    }
    ASSERT_EQ(CSP__RING / 2 + 1, seen);
    for (int i = CSP__RING / 2; i < CSP__RING; i++)
        ASSERT_TRUE(csp__ring_pop(sh->w[0]) == &t[i]);
    free(t);
    shell_free(sh);
}

TEST(runq_inject_get_returns_null_when_empty)
{
    struct shell *sh = shell_new();

    ASSERT_NULL(csp__inject_get(&sh->s, sh->w[0], 10));
    shell_free(sh);
}

TEST(runq_inject_get_takes_a_share_and_fills_the_ring)
{
    struct shell *sh = shell_new();
    csp_task *t = tasks(20);

    csp__inject_push(&sh->s, &t[0], &t[0], 1);
    for (int i = 1; i < 20; i++)
        csp__inject_push(&sh->s, &t[i], &t[i], 1);
    ASSERT_EQ(20, inject_count(sh));
    /* Two workers: n / nworkers + 1 = 11 entries, one returned. */
    ASSERT_TRUE(csp__inject_get(&sh->s, sh->w[0], 64) == &t[0]);
    ASSERT_EQ(9, inject_count(sh));
    for (int i = 1; i < 11; i++)
        ASSERT_TRUE(csp__ring_pop(sh->w[0]) == &t[i]);
    ASSERT_NULL(csp__ring_pop(sh->w[0]));
    free(t);
    shell_free(sh);
}

TEST(runq_steal_takes_half_of_the_victims_ring)
{
    struct shell *sh = shell_new();
    csp_task *t = tasks(8), *got;
    int stolen = 0;

    for (int i = 0; i < 8; i++)
        csp__ring_put(sh->w[0], &t[i]);
    got = csp__ring_steal(sh->w[1], sh->w[0], 0);
    ASSERT_TRUE(got >= &t[0] && got <= &t[3]); /* the oldest half */
    stolen = 1;
    while (csp__ring_pop(sh->w[1]))
        stolen++;
    ASSERT_EQ(4, stolen);
    for (int i = 4; i < 8; i++)
        ASSERT_TRUE(csp__ring_pop(sh->w[0]) == &t[i]);
    free(t);
    shell_free(sh);
}

TEST(runq_steal_from_an_empty_ring_takes_runnext_only_when_asked)
{
    struct shell *sh = shell_new();
    csp_task *t = tasks(1);

    atomic_store(&sh->w[0]->runnext, &t[0]);
    ASSERT_NULL(csp__ring_steal(sh->w[1], sh->w[0], 0));
    ASSERT_TRUE(csp__ring_steal(sh->w[1], sh->w[0], 1) == &t[0]);
    ASSERT_NULL(atomic_load(&sh->w[0]->runnext));
    free(t);
    shell_free(sh);
}

TEST(runq_pinned_fifo_pops_in_push_order)
{
    struct shell *sh = shell_new();
    csp_task *t = tasks(5);

    ASSERT_NULL(csp__pin_pop(sh->w[1]));
    for (int i = 0; i < 5; i++)
        csp__pin_push(sh->w[1], &t[i]);
    ASSERT_EQ(5, atomic_load(&sh->w[1]->npinned));
    for (int i = 0; i < 5; i++)
        ASSERT_TRUE(csp__pin_pop(sh->w[1]) == &t[i]);
    ASSERT_NULL(csp__pin_pop(sh->w[1]));
    ASSERT_EQ(0, atomic_load(&sh->w[1]->npinned));
    free(t);
    shell_free(sh);
}

/* Owner pushes and pops worker 0's ring while a thief steals into worker
 * 1's and drains it: every task is taken exactly once. */
#if defined(CSP__TSAN) /* every access is instrumented: fewer tasks */
enum { RACE_TASKS = 20000 };
#else
enum { RACE_TASKS = 200000 };
#endif

struct race {
    struct shell *sh;
    csp_task *t;
    _Atomic unsigned char *taken;
    _Atomic int done;
    _Atomic long count;
};

static void take(struct race *r, csp_task *got)
{
    size_t i = (size_t)(got - r->t);

    ASSERT_TRUE(i < RACE_TASKS);
    ASSERT_EQ(0, atomic_fetch_add(&r->taken[i], 1));
    atomic_fetch_add(&r->count, 1);
}

static void *thief(void *arg)
{
    struct race *r = arg;
    csp_task *got;

    while (!atomic_load(&r->done) || !csp__ring_empty(r->sh->w[0])) {
        if ((got = csp__ring_steal(r->sh->w[1], r->sh->w[0], 0))) {
            take(r, got);
            while ((got = csp__ring_pop(r->sh->w[1])))
                take(r, got);
        }
    }
    return NULL;
}

TEST(runq_concurrent_steals_take_every_task_exactly_once)
{
    struct race r;
    pthread_t th;
    csp_task *got;

    r.sh = shell_new();
    r.t = tasks(RACE_TASKS);
    r.taken = calloc(RACE_TASKS, 1);
    ASSERT_NOT_NULL(r.taken);
    atomic_init(&r.done, 0);
    atomic_init(&r.count, 0);
    ASSERT_EQ(0, pthread_create(&th, NULL, thief, &r));
    for (int i = 0; i < RACE_TASKS; i++) {
        csp__ring_put(r.sh->w[0], &r.t[i]);
        if (i % 3 == 0 && (got = csp__ring_pop(r.sh->w[0])))
            take(&r, got);
    }
    atomic_store(&r.done, 1);
    while ((got = csp__ring_pop(r.sh->w[0])))
        take(&r, got);
    ASSERT_EQ(0, pthread_join(th, NULL));
    /* Overflow went to inject: drain it too. */
    while ((got = csp__inject_get(&r.sh->s, r.sh->w[0], CSP__RING))) {
        take(&r, got);
        while ((got = csp__ring_pop(r.sh->w[0])))
            take(&r, got);
    }
    ASSERT_EQ(RACE_TASKS, atomic_load(&r.count));
    free((void *)r.taken);
    free(r.t);
    shell_free(r.sh);
}
