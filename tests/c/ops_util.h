/* ops_util.h - helpers for the combinator tests (test_ops_*.c). */
#ifndef CSP_TEST_OPS_UTIL_H
#define CSP_TEST_OPS_UTIL_H

#include <stdlib.h>

#include "util.h"

/* Take with an 8 s bound; the test fails on a timeout. */
static inline int take8(csp_chan *ch, void **v)
{
    int rc =
        csp_chan_take_blocking(ch, v, deadline_in(8 * SEC * test_slowdown()));

    ASSERT_TRUE(rc == CSP_OK || rc == CSP_ECLOSED);
    return rc;
}

static inline uintptr_t take_val(csp_chan *ch)
{
    void *v = NULL;

    ASSERT_OK(take8(ch, &v));
    return U(v);
}

static inline void put8(csp_chan *ch, uintptr_t v)
{
    ASSERT_OK(csp_chan_put_blocking(ch, V(v),
                                    deadline_in(8 * SEC * test_slowdown())));
}

static inline void expect_closed(csp_chan *ch)
{
    void *v = NULL;

    ASSERT_RC(CSP_ECLOSED, take8(ch, &v));
}

/* A partition packed as sum * 1000 + count (values are small integers). */
static inline void *pack_sum(void *ud, void **vals, size_t n)
{
    uintptr_t s = 0;

    (void)ud;
    for (size_t i = 0; i < n; i++)
        s += U(vals[i]);
    return V(s * 1000 + n);
}

static inline int is_even(void *ud, void *v)
{
    (void)ud;
    return U(v) % 2 == 0;
}

static inline void *plus_one(void *ud, void *v)
{
    (void)ud;
    return V(U(v) + 1);
}

/* Wait (bounded) until FN(CH) reaches N. */
static inline void wait_count(csp_chan *ch, size_t n)
{
    int64_t end = deadline_in(8 * SEC * test_slowdown());

    while (csp_chan_count(ch) < n) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
}

/* N scaled for sanitizers, times 10 when CSP_STRESS is set (the full
 * 10^6-value stress runs: `CSP_STRESS=1 csp_tests NAME`, not in ctest). */
static inline long stress_n(long n)
{
    const char *s = getenv("CSP_STRESS");

    return test_scaled(n) * (s && *s && *s != '0' ? 10 : 1);
}

#endif
