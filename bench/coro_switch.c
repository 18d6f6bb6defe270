/* coro_switch.c - micro-benchmark of the coro layer: nanoseconds per
 * context switch (one direction) and per stack get+put from a worker
 * cache, to compare with DESIGN §2.1 (3.6 ns for the asm switch here).
 *
 * Usage: coro_switch [switches-per-run [runs]]   (default 2000000, 11)
 * Prints the median over the runs. Single-threaded; a run is a ping-pong
 * between the main context and one coroutine, so every switch lands on a
 * different stack, as in the scheduler.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../core/coro/coro.h"

static struct csp__coro main_ctx, co_ctx;
static void *main_sp, *co_sp;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

/* The coroutine side of the raw ping-pong: switch back forever. */
static void raw_entry(void *arg0, void *arg)
{
    (void)arg0;
    for (;;)
        arg = csp__coro_switch(&co_sp, main_sp, arg);
}

static void hooked_entry(void *arg0, void *arg)
{
    (void)arg0;
    for (;;)
        arg = csp__coro_transfer(&co_ctx, &main_ctx, arg);
}

static double run_raw(long switches)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < switches / 2; i++)
        csp__coro_switch(&main_sp, co_sp, (void *)(uintptr_t)i);
    return (double)(now_ns() - t0) / (double)switches;
}

static double run_hooked(long switches)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < switches / 2; i++)
        csp__coro_transfer(&main_ctx, &co_ctx, (void *)(uintptr_t)i);
    return (double)(now_ns() - t0) / (double)switches;
}

static double run_stack(struct csp__stack_cache *c, long n)
{
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        struct csp__stack *s = csp__stack_get(c, 0);
        csp__stack_check(s);
        csp__stack_put(c, s);
    }
    return (double)(now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long switches = argc > 1 ? atol(argv[1]) : 2000000;
    int runs = argc > 2 ? atoi(argv[2]) : 11;
    double v[101];

    if (switches < 2 || runs < 1 || runs > 101) {
        fprintf(stderr, "usage: coro_switch [switches [runs<=101]]\n");
        return 2;
    }
    struct csp__stack_pool *pool = csp__stack_pool_new(0, 16, 64);
    struct csp__stack_cache *cache = pool ? csp__stack_cache_new(pool) : NULL;
    struct csp__stack *s1 = cache ? csp__stack_get(cache, 0) : NULL;
    struct csp__stack *s2 = cache ? csp__stack_get(cache, 0) : NULL;
    if (!s2) {
        fprintf(stderr, "coro_switch: no memory for stacks\n");
        return 1;
    }

    csp__coro_init(&co_sp, s1->lo, s1->size, raw_entry, NULL);
    run_raw(1000); /* warm up */
    for (int r = 0; r < runs; r++)
        v[r] = run_raw(switches);
    printf("csp__coro_switch    %6.2f ns/switch (median of %d x %ld)\n",
           median(v, runs), runs, switches);

    csp__coro_thread_init(&main_ctx);
    csp__coro_make(&co_ctx, s2->lo, s2->size, hooked_entry, NULL);
    run_hooked(1000);
    for (int r = 0; r < runs; r++)
        v[r] = run_hooked(switches);
    printf("csp__coro_transfer  %6.2f ns/switch (median of %d x %ld)\n",
           median(v, runs), runs, switches);

    run_stack(cache, 1000);
    for (int r = 0; r < runs; r++)
        v[r] = run_stack(cache, switches / 4);
    printf("stack get+check+put %6.2f ns (worker cache; median of %d x %ld)\n",
           median(v, runs), runs, switches / 4);

    csp__coro_destroy(&co_ctx);
    csp__stack_put(cache, s1);
    csp__stack_put(cache, s2);
    csp__stack_cache_free(cache);
    csp__stack_pool_free(pool);
    return 0;
}
