/* coro_stacks.c - memory cost of many parked coroutines: resident bytes,
 * page-table bytes and kernel mappings per parked stack, and the time to
 * make and park them, for the stack policy of core/coro/stack.c.
 *
 * Usage: coro_stacks [count [stack-bytes [max-guarded]]]
 *        (default 100000, 16384, 16384)
 * Each coroutine runs a small function, then parks (switches back) and
 * stays parked while memory is measured from /proc/self. Needs about
 * count * 4.5 KiB of memory: one million small stacks fit in 5 GiB.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/coro/coro.h"

struct parked {
    struct csp__coro ctx;
    struct csp__stack *stack;
};

static struct csp__coro main_ctx;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A field of /proc/self/status in kB, or -1. */
static long status_kb(const char *field)
{
    char line[256];
    long kb = -1;
    size_t len = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            kb = atol(line + len + 1);
    fclose(f);
    return kb;
}

static long count_maps(void)
{
    char line[512];
    long n = 0;
    FILE *f = fopen("/proc/self/maps", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strchr(line, '\n'))
            n++;
    fclose(f);
    return n;
}

static unsigned work_impl(unsigned n)
{
    volatile unsigned char buf[256];

    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(n + i);
    return buf[n % sizeof buf];
}
static unsigned (*volatile work)(unsigned) = work_impl;

static void entry(void *arg0, void *arg)
{
    struct parked *p = arg0;

    work((unsigned)(uintptr_t)arg);
    for (;;)
        csp__coro_transfer(&p->ctx, &main_ctx, NULL);
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 100000;
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 16384;
    size_t guards = argc > 3 ? (size_t)atol(argv[3]) : 16384;

    if (count < 1) {
        fprintf(stderr, "usage: coro_stacks [count [stack-bytes "
                        "[max-guarded]]]\n");
        return 2;
    }
    struct parked *p = calloc((size_t)count, sizeof *p);
    struct csp__stack_pool *pool = csp__stack_pool_new(size, guards, 64);
    struct csp__stack_cache *cache = pool ? csp__stack_cache_new(pool) : NULL;
    if (!p || !cache) {
        fprintf(stderr, "coro_stacks: out of memory\n");
        return 1;
    }
    csp__coro_thread_init(&main_ctx);
    long rss0 = status_kb("VmRSS"), pte0 = status_kb("VmPTE");
    long maps0 = count_maps();
    int64_t t0 = now_ns();
    long made = 0;
    for (; made < count; made++) {
        struct csp__stack *s = csp__stack_get(cache, 0);
        if (!s) {
            fprintf(stderr, "coro_stacks: no stack after %ld\n", made);
            break;
        }
        p[made].stack = s;
        csp__coro_make(&p[made].ctx, s->lo, s->size, entry, &p[made]);
        csp__coro_transfer(&main_ctx, &p[made].ctx, (void *)(uintptr_t)made);
    }
    int64_t t1 = now_ns();
    long rss1 = status_kb("VmRSS"), pte1 = status_kb("VmPTE");
    long maps1 = count_maps();
    /* Resume each once more: parked contexts must still be intact. */
    for (long i = 0; i < made; i++) {
        csp__stack_check(p[i].stack);
        csp__coro_transfer(&main_ctx, &p[i].ctx, NULL);
    }
    int64_t t2 = now_ns();

    double n = (double)(made ? made : 1);
    printf("parked %ld coroutines on %zu-byte stacks, %lld guarded\n", made,
           size, (long long)csp__stack_pool_guarded(pool));
    printf("  resident   %8.0f bytes per parked stack (%ld MiB total, "
           "descriptors included)\n",
           (double)(rss1 - rss0) * 1024 / n, (rss1 - rss0) / 1024);
    printf("  page table %8.0f bytes per parked stack\n",
           (double)(pte1 - pte0) * 1024 / n);
    printf("  mappings   %8ld added (vm.max_map_count default 65530)\n",
           maps1 - maps0);
    printf("  make+park  %8.0f ns each; resume+park %.0f ns each\n",
           (double)(t1 - t0) / n, (double)(t2 - t1) / n);

    for (long i = 0; i < made; i++) {
        csp__coro_destroy(&p[i].ctx);
        csp__stack_put(cache, p[i].stack);
    }
    csp__stack_cache_free(cache);
    csp__stack_pool_free(pool);
    free(p);
    return made == count ? 0 : 1;
}
