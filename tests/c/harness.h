/* harness.h - the C test harness: TEST registration, assertions, the
 * per-test runtime with a counting allocator, fault injection and seeds.
 *
 * Each test runs in its own process (`csp_tests NAME`, one ctest entry
 * c.NAME per TEST, timeout 10 s). Before the test body runs, test_rt is a
 * fresh runtime whose allocator counts live blocks and bytes and has
 * CSP_RT_THREADS = 2. After the body returns, the runner calls
 * csp_rt_free(test_rt, 0), which must return CSP_OK, and then requires
 * that no allocation made through test_alloc is still live. A test that
 * frees test_rt itself sets test_rt to NULL; the leak check still runs.
 *
 * A failed ASSERT prints file:line, the expression and both values (with
 * csp_errname for result codes) and ends the process with exit code 1,
 * from whichever thread or go process it runs on.
 *
 * A test is registered by a constructor function, so the order of tests
 * in a file does not matter and no list has to be kept in sync.
 * tests/CMakeLists.txt reads the names with the regex ^TEST\([a-z0-9_]+\).
 * A TEST line that also carries the word slow in a trailing comment, as in
 * `TEST(chan_stress_mixed_ops) // slow`, gets the ctest label slow, which
 * the valgrind pass skips (it is still run everywhere else).
 */
#ifndef CSP_TEST_HARNESS_H
#define CSP_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "csp.h"

/* The runtime of the current test (see above). */
extern csp_rt *test_rt;

/* The counting allocator behind test_rt, as a csp_alloc_fn (UD ignored):
 * tests that create more runtimes pass it to csp_rt_new so that their
 * allocations are counted and fault-injected too. */
void *test_alloc(void *ud, void *ptr, size_t old_size, size_t new_size);

/* Allow N more allocations (a realloc that grows counts as one), then
 * fail every allocation until test_fail_alloc_after(-1). Frees always
 * succeed. */
void test_fail_alloc_after(long n);

/* Allocations (blocks) and bytes currently live through test_alloc. They
 * include test_rt's own blocks: compare with a baseline taken earlier in
 * the test (`long before = test_live_allocs(); ...`). */
long test_live_allocs(void);
long test_live_bytes(void);

/* Allocation attempts made through test_alloc so far (failed ones
 * included): lets a fault-injection loop know when it has covered every
 * allocation site of a call. */
long test_alloc_calls(void);

/* The seed for randomized tests: CSP_TEST_SEED from the environment, or
 * one derived from the clock. The same value for the whole test; printed
 * when the test fails so the run can be repeated. */
uint64_t test_seed(void);

/* How many times slower than a plain build this run is expected to be: 1
 * normally, 3 under ASan, 10 under TSan, 50 under valgrind; the
 * environment variable CSP_TEST_SLOWDOWN overrides it. Tests that bound
 * their time multiply the bound by it, or divide their iteration counts
 * (test_scaled). */
int test_slowdown(void);

/* N / test_slowdown(), at least 1: an iteration count that keeps a
 * stress test inside its timeout under sanitizers and valgrind. */
long test_scaled(long n);

/* ------------------------------------------------------------------------
 * Registration and assertions. Nothing below is called directly.
 */
typedef void (*test__fn)(void);
void test__register(const char *name, test__fn fn, const char *file, int line);

#if defined(__GNUC__)
#define TEST__NORETURN __attribute__((noreturn))
#define TEST__CTOR __attribute__((constructor))
#else
#error "the test harness needs GCC-style constructor functions"
#endif

TEST__NORETURN void test__fail(const char *file, int line, const char *what,
                               const char *expr);
TEST__NORETURN void test__fail_int(const char *file, int line, const char *what,
                                   const char *expr_a, const char *expr_b,
                                   intmax_t a, intmax_t b);
/* EXPR_B NULL: a one-argument assertion about A. Pointers travel as
 * integers, so that passing the address of an uninitialised object is not
 * mistaken for reading it. */
TEST__NORETURN void test__fail_ptr(const char *file, int line, const char *what,
                                   const char *expr_a, const char *expr_b,
                                   uintptr_t a, uintptr_t b);
TEST__NORETURN void test__fail_rc(const char *file, int line, const char *expr,
                                  int expected, int got);

#define TEST(name)                                                             \
    static void test__body_##name(void);                                       \
    TEST__CTOR static void test__reg_##name(void)                              \
    {                                                                          \
        test__register(#name, test__body_##name, __FILE__, __LINE__);          \
    }                                                                          \
    static void test__body_##name(void)

#define ASSERT_TRUE(x)                                                         \
    do {                                                                       \
        if (!(x))                                                              \
            test__fail(__FILE__, __LINE__, "ASSERT_TRUE", #x);                 \
    } while (0)

#define ASSERT_FALSE(x)                                                        \
    do {                                                                       \
        if (x)                                                                 \
            test__fail(__FILE__, __LINE__, "ASSERT_FALSE", #x);                \
    } while (0)

#define TEST__CMP_INT(what, op, a, b, sa, sb)                                  \
    do {                                                                       \
        intmax_t test__a_ = (intmax_t)(a);                                     \
        intmax_t test__b_ = (intmax_t)(b);                                     \
        if (!(test__a_ op test__b_))                                           \
            test__fail_int(__FILE__, __LINE__, what, sa, sb, test__a_,         \
                           test__b_);                                          \
    } while (0)

/* The operands are stringised here, before they are macro-expanded. */
#define ASSERT_EQ(a, b) TEST__CMP_INT("ASSERT_EQ", ==, a, b, #a, #b)
#define ASSERT_NE(a, b) TEST__CMP_INT("ASSERT_NE", !=, a, b, #a, #b)

#define ASSERT_PTR_EQ(a, b)                                                    \
    do {                                                                       \
        uintptr_t test__pa_ = (uintptr_t)(const void *)(a);                    \
        uintptr_t test__pb_ = (uintptr_t)(const void *)(b);                    \
        if (test__pa_ != test__pb_)                                            \
            test__fail_ptr(__FILE__, __LINE__, "ASSERT_PTR_EQ", #a, #b,        \
                           test__pa_, test__pb_);                              \
    } while (0)

#define ASSERT_NULL(p)                                                         \
    do {                                                                       \
        uintptr_t test__p_ = (uintptr_t)(const void *)(p);                     \
        if (test__p_ != 0)                                                     \
            test__fail_ptr(__FILE__, __LINE__, "ASSERT_NULL", #p, NULL,        \
                           test__p_, 0);                                       \
    } while (0)

#define ASSERT_NOT_NULL(p)                                                     \
    do {                                                                       \
        if ((const void *)(p) == NULL)                                         \
            test__fail(__FILE__, __LINE__, "ASSERT_NOT_NULL", #p);             \
    } while (0)

#define ASSERT_RC(expected, expr)                                              \
    do {                                                                       \
        int test__want_ = (int)(expected);                                     \
        int test__got_ = (int)(expr);                                          \
        if (test__got_ != test__want_)                                         \
            test__fail_rc(__FILE__, __LINE__, #expr, test__want_, test__got_); \
    } while (0)

#define ASSERT_OK(expr) ASSERT_RC(CSP_OK, expr)

#endif /* CSP_TEST_HARNESS_H */
