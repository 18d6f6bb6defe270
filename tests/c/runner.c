/* runner.c - the C test runner behind harness.h.
 *
 *   csp_tests NAME          run one test in this process (what ctest does)
 *   csp_tests --list        print every test name, one a line
 *   csp_tests --all [PFX]   run every test (whose name starts with PFX) in a
 *                           forked child each, 10 s timeout each, then print
 *                           "N passed, N failed"
 *
 * One test: create test_rt on the counting allocator with 2 workers, run
 * the body, then csp_rt_free(test_rt, 0) must return CSP_OK and no block
 * allocated through test_alloc may be live. Any failure prints a message
 * and exits with code 1.
 *
 * The counting allocator puts a small header before each block holding its
 * size and a magic word, so it can check that every free and realloc names
 * a live block and passes the size the block was allocated with (the
 * csp_alloc_fn contract). Counters are atomics: workers allocate
 * concurrently with the test thread.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TEST__HAVE_VALGRIND 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST__ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define TEST__TSAN 1
#endif
#endif

#define TEST_TIMEOUT_S 10

/* ------------------------------------------------------------------------
 * Registry, filled by the TEST constructors before main runs. */

struct test_entry {
    const char *name;
    test__fn fn;
    const char *file;
    int line;
};

static struct test_entry *tests;
static size_t ntests, tests_cap;

void test__register(const char *name, test__fn fn, const char *file, int line)
{
    if (ntests == tests_cap) {
        size_t cap = tests_cap ? tests_cap * 2 : 256;
        struct test_entry *t = realloc(tests, cap * sizeof *t);
        if (t == NULL) {
            fprintf(stderr, "csp_tests: out of memory registering %s\n", name);
            abort();
        }
        tests = t;
        tests_cap = cap;
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    tests[ntests].file = file;
    tests[ntests].line = line;
    ntests++;
}

static const struct test_entry *find_test(const char *name)
{
    for (size_t i = 0; i < ntests; i++)
        if (strcmp(tests[i].name, name) == 0)
            return &tests[i];
    return NULL;
}

/* Two files defining the same test name would make one ctest entry run
 * whichever comes first: refuse to run at all. */
static int check_duplicates(void)
{
    int dup = 0;
    for (size_t i = 0; i < ntests; i++)
        for (size_t j = i + 1; j < ntests; j++)
            if (strcmp(tests[i].name, tests[j].name) == 0) {
                fprintf(stderr,
                        "csp_tests: test %s defined twice: %s:%d and "
                        "%s:%d\n",
                        tests[i].name, tests[i].file, tests[i].line,
                        tests[j].file, tests[j].line);
                dup = 1;
            }
    return dup;
}

/* ------------------------------------------------------------------------
 * Failure reporting. The first failing thread prints and exits the
 * process; any other thread that fails meanwhile waits to be killed by
 * that exit, so messages never interleave. */

static const char *current_name = "(none)";
static atomic_int failing;   /* 0 until the first failure */
static atomic_int seed_used; /* test_seed() was called */
static uint64_t seed_value;  /* set before the body runs */

TEST__NORETURN static void fail_exit(void)
{
    if (atomic_load_explicit(&seed_used, memory_order_relaxed))
        fprintf(stderr,
                "  seed: %" PRIu64 " (rerun with CSP_TEST_SEED=%" PRIu64 ")\n",
                seed_value, seed_value);
    fprintf(stderr, "FAIL %s\n", current_name);
    fflush(stderr);
    fflush(stdout);
    _exit(1);
}

/* Claim the right to report; a losing thread never returns. */
static void fail_begin(const char *file, int line)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&failing, &expected, 1,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire)) {
        for (;;)
            pause();
    }
    fflush(stdout);
    fprintf(stderr, "%s:%d: failure in %s\n", file, line, current_name);
}

static void print_int(const char *expr, intmax_t v)
{
    fprintf(stderr, "    %s = %" PRIdMAX, expr, v);
    if (v < 0 && v >= INT32_MIN) {
        const char *name = csp_errname((int)v);
        if (strcmp(name, "UNKNOWN") != 0)
            fprintf(stderr, " (%s)", name);
    }
    fputc('\n', stderr);
}

void test__fail(const char *file, int line, const char *what, const char *expr)
{
    fail_begin(file, line);
    fprintf(stderr, "  %s(%s)\n", what, expr);
    fail_exit();
}

void test__fail_int(const char *file, int line, const char *what,
                    const char *expr_a, const char *expr_b, intmax_t a,
                    intmax_t b)
{
    fail_begin(file, line);
    fprintf(stderr, "  %s(%s, %s)\n", what, expr_a, expr_b);
    print_int(expr_a, a);
    print_int(expr_b, b);
    fail_exit();
}

void test__fail_ptr(const char *file, int line, const char *what,
                    const char *expr_a, const char *expr_b, uintptr_t a,
                    uintptr_t b)
{
    fail_begin(file, line);
    if (expr_b == NULL) {
        fprintf(stderr, "  %s(%s)\n    %s = %#" PRIxPTR "\n", what, expr_a,
                expr_a, a);
    } else {
        fprintf(stderr,
                "  %s(%s, %s)\n    %s = %#" PRIxPTR "\n    %s = %#" PRIxPTR
                "\n",
                what, expr_a, expr_b, expr_a, a, expr_b, b);
    }
    fail_exit();
}

void test__fail_rc(const char *file, int line, const char *expr, int expected,
                   int got)
{
    fail_begin(file, line);
    fprintf(stderr, "  %s\n    returned %d (%s: %s)\n    expected %d (%s)\n",
            expr, got, csp_errname(got), csp_strerror(got), expected,
            csp_errname(expected));
    fail_exit();
}

/* A failure found by the runner itself, not by an ASSERT: reported at the
 * test's TEST line. */
static const char *current_file = __FILE__;
static int current_line = __LINE__;

TEST__NORETURN __attribute__((format(printf, 1, 2))) static void
runner_fail(const char *fmt, ...)
{
    va_list ap;
    fail_begin(current_file, current_line);
    fputs("  ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fail_exit();
}

/* ------------------------------------------------------------------------
 * The counting allocator. */

struct block_hdr {
    size_t size;
    uint32_t magic;
};

#define HDR_ALIGN alignof(max_align_t)
#define HDR_SIZE                                                               \
    ((sizeof(struct block_hdr) + HDR_ALIGN - 1) / HDR_ALIGN * HDR_ALIGN)
#define MAGIC_LIVE 0xc5a110c5u
#define MAGIC_FREED 0xdeadf4eeu

static atomic_long live_blocks; /* blocks allocated and not yet freed */
static atomic_long live_bytes;  /* their sizes, as the caller asked */
static atomic_long alloc_calls; /* allocation attempts, failed included */
static atomic_long fail_budget; /* -1: no injection; else allocations left */

/* One allocation attempt: false if fault injection refuses it. */
static int take_budget(void)
{
    atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
    long b = atomic_load_explicit(&fail_budget, memory_order_relaxed);
    for (;;) {
        if (b < 0)
            return 1;
        if (b == 0)
            return 0;
        /* Pairs with itself in concurrent allocations: each success
         * consumes one unit exactly once. */
        if (atomic_compare_exchange_weak_explicit(&fail_budget, &b, b - 1,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    }
}

static struct block_hdr *header_of(void *ptr, size_t old_size, const char *op)
{
    struct block_hdr *h = (struct block_hdr *)((char *)ptr - HDR_SIZE);
    if (h->magic != MAGIC_LIVE)
        runner_fail("test_alloc: %s of %p, which is not a live block "
                    "(freed twice, or not from this allocator)",
                    op, ptr);
    if (h->size != old_size)
        runner_fail("test_alloc: %s of %p with old_size %zu, but the block "
                    "has %zu bytes (csp_alloc_fn wants the exact size)",
                    op, ptr, old_size, h->size);
    return h;
}

void *test_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    if (new_size == 0) {
        if (ptr == NULL)
            return NULL;
        struct block_hdr *h = header_of(ptr, old_size, "free");
        h->magic = MAGIC_FREED;
        free(h);
        atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&live_bytes, (long)old_size,
                                  memory_order_relaxed);
        return NULL;
    }
    if (new_size > SIZE_MAX - HDR_SIZE)
        return NULL;
    if (ptr == NULL) {
        if (!take_budget())
            return NULL;
        struct block_hdr *h = malloc(HDR_SIZE + new_size);
        if (h == NULL)
            return NULL;
        h->size = new_size;
        h->magic = MAGIC_LIVE;
        atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&live_bytes, (long)new_size,
                                  memory_order_relaxed);
        return (char *)h + HDR_SIZE;
    }
    struct block_hdr *h = header_of(ptr, old_size, "realloc");
    if (new_size > old_size && !take_budget())
        return NULL;
    struct block_hdr *n = realloc(h, HDR_SIZE + new_size);
    if (n == NULL)
        return NULL;
    n->size = new_size;
    atomic_fetch_add_explicit(&live_bytes, (long)new_size - (long)old_size,
                              memory_order_relaxed);
    return (char *)n + HDR_SIZE;
}

void test_fail_alloc_after(long n)
{
    atomic_store_explicit(&fail_budget, n < 0 ? -1 : n, memory_order_relaxed);
}

long test_live_allocs(void)
{
    return atomic_load_explicit(&live_blocks, memory_order_relaxed);
}

long test_live_bytes(void)
{
    return atomic_load_explicit(&live_bytes, memory_order_relaxed);
}

long test_alloc_calls(void)
{
    return atomic_load_explicit(&alloc_calls, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * Seeds. */

static uint64_t make_seed(void)
{
    const char *env = getenv("CSP_TEST_SEED");
    if (env != NULL && *env != '\0') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(env, &end, 0);
        if (errno == 0 && *end == '\0')
            return (uint64_t)v;
        fprintf(stderr, "csp_tests: ignoring bad CSP_TEST_SEED=%s\n", env);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                 (uint64_t)getpid() << 32;
    /* splitmix64 finaliser, so that close clocks give unrelated seeds */
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

uint64_t test_seed(void)
{
    atomic_store_explicit(&seed_used, 1, memory_order_relaxed);
    return seed_value;
}

/* ------------------------------------------------------------------------
 * Slowdown. */

int test_slowdown(void)
{
    const char *env = getenv("CSP_TEST_SLOWDOWN");
    if (env != NULL && *env != '\0') {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v <= 1000)
            return (int)v;
    }
#if defined(TEST__HAVE_VALGRIND)
    if (RUNNING_ON_VALGRIND)
        return 50;
#endif
#if defined(TEST__TSAN)
    return 10;
#elif defined(TEST__ASAN)
    return 3;
#else
    return 1;
#endif
}

long test_scaled(long n)
{
    long v = n / test_slowdown();
    return v > 0 ? v : 1;
}

/* ------------------------------------------------------------------------
 * Running. */

csp_rt *test_rt;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Run T in this process; returns only if it passed. */
static void run_one(const struct test_entry *t)
{
    current_name = t->name;
    current_file = t->file;
    current_line = t->line;
    seed_value = make_seed();
    atomic_store(&fail_budget, -1);

    double start = now_ms();
    int rc = csp_rt_new(&test_rt, test_alloc, NULL);
    if (rc != CSP_OK)
        runner_fail("csp_rt_new for test_rt returned %d (%s)", rc,
                    csp_errname(rc));
    rc = csp_rt_set(test_rt, CSP_RT_THREADS, 2);
    if (rc != CSP_OK)
        runner_fail("csp_rt_set(test_rt, CSP_RT_THREADS, 2) returned %d "
                    "(%s)",
                    rc, csp_errname(rc));

    t->fn();

    test_fail_alloc_after(-1);
    if (test_rt != NULL) {
        rc = csp_rt_free(test_rt, 0);
        if (rc != CSP_OK) {
            fail_begin(current_file, current_line);
            fprintf(stderr,
                    "  csp_rt_free(test_rt, 0) after the test "
                    "returned %d (%s): something is still pending\n",
                    rc, csp_errname(rc));
            csp_rt_dump(test_rt, stderr);
            fail_exit();
        }
        test_rt = NULL;
    }
    long blocks = test_live_allocs();
    long bytes = test_live_bytes();
    if (blocks != 0 || bytes != 0)
        runner_fail("leak: %ld allocations (%ld bytes) still live after "
                    "the runtime was freed",
                    blocks, bytes);
    printf("PASS %s (%.1f ms)\n", t->name, now_ms() - start);
    fflush(stdout);
}

/* Run every test whose name starts with PREFIX in a forked child. */
static int run_all(const char *prefix)
{
    size_t passed = 0, failed = 0;
    size_t plen = prefix ? strlen(prefix) : 0;

    for (size_t i = 0; i < ntests; i++) {
        const struct test_entry *t = &tests[i];
        if (prefix && strncmp(t->name, prefix, plen) != 0)
            continue;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            perror("csp_tests: fork");
            return 1;
        }
        if (pid == 0) {
            alarm(TEST_TIMEOUT_S);
            run_one(t);
            _exit(0);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) {
                perror("csp_tests: waitpid");
                return 1;
            }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
            continue;
        }
        failed++;
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            printf("FAIL %s (timeout after %d s)\n", t->name, TEST_TIMEOUT_S);
        else if (WIFSIGNALED(status))
            printf("FAIL %s (signal %d: %s)\n", t->name, WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
        else
            printf("FAIL %s (exit %d)\n", t->name, WEXITSTATUS(status));
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: csp_tests NAME | --list | --all [PREFIX]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (check_duplicates())
        return 2;
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ntests; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    if (strcmp(argv[1], "--all") == 0)
        return run_all(argc > 2 ? argv[2] : NULL);
    if (argv[1][0] == '-' || argc != 2)
        return usage();
    const struct test_entry *t = find_test(argv[1]);
    if (t == NULL) {
        fprintf(stderr, "csp_tests: no test named %s\n", argv[1]);
        return 2;
    }
    run_one(t);
    return 0;
}
