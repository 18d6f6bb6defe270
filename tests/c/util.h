/* util.h - helpers shared by the core's C tests (test_rt.c, test_chan.c,
 * test_cb.c, ...): value macros, deadlines, channel constructors, a drop
 * recorder, a plain-thread helper and white-box peeks at a channel's
 * pending queues (so a test waits for a blocked thread's op to be queued
 * instead of sleeping). */
#ifndef CSP_TEST_UTIL_H
#define CSP_TEST_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "harness.h"
#include "internal.h"

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))
#define SEC INT64_C(1000000000)
#define MSEC INT64_C(1000000)

static inline int64_t deadline_in(int64_t ns)
{
    return csp_now_ns() + ns;
}

/* A channel on test_rt; the test fails if it cannot be made. */
static inline csp_chan *mkchan(int buf, size_t cap)
{
    csp_chan *ch = NULL;

    ASSERT_OK(csp_chan_new(&ch, test_rt, buf, cap, NULL, NULL));
    return ch;
}

/* Records what a drop hook gets: how many values and their sum, and the
 * first few in order. N is counted last, so a thread that saw N reach k
 * sees the sum and first[] of the drop that made it k (with one dropper
 * at a time, of all k). */
struct drops {
    _Atomic long n;
    _Atomic uintptr_t sum;
    uintptr_t first[16];
    _Atomic long claimed; /* slots of first[] handed out */
};

static inline void record_drop(void *ud, void *val)
{
    struct drops *d = ud;
    long i = atomic_fetch_add(&d->claimed, 1);

    if (i < 16)
        d->first[i] = U(val);
    atomic_fetch_add(&d->sum, U(val));
    atomic_fetch_add(&d->n, 1);
}

/* Pending puts / takes linked on CH now (white-box: under CH's lock). */
static inline long pending_puts(csp_chan *ch)
{
    long n;

    csp__lock_acquire(&ch->lock);
    n = (long)ch->nputs;
    csp__lock_release(&ch->lock);
    return n;
}

static inline long pending_takes(csp_chan *ch)
{
    long n;

    csp__lock_acquire(&ch->lock);
    n = (long)ch->ntakes;
    csp__lock_release(&ch->lock);
    return n;
}

/* Wait (yielding, bounded by 8 s times the slowdown) until FN(CH) >= N. */
static inline void wait_pending(long (*fn)(csp_chan *), csp_chan *ch, long n)
{
    int64_t end = deadline_in(8 * SEC * test_slowdown());

    while (fn(ch) < n) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
}

/* A channel of kind BUF/CAP on runtime RT (mkchan is on test_rt). */
static inline csp_chan *mkchan_on(csp_rt *rt, int buf, size_t cap)
{
    csp_chan *ch = NULL;

    ASSERT_OK(csp_chan_new(&ch, rt, buf, cap, NULL, NULL));
    return ch;
}

/* The result of a go process or csp_thread job on CH (NULL: none), taken
 * with an 8 s bound (times the sanitizer slowdown); checks the channel is
 * closed after it, releases CH. */
static inline void *join(csp_chan *ch)
{
    int64_t bound = 8 * SEC * test_slowdown();
    void *v = NULL, *w = NULL;
    int rc = csp_chan_take_blocking(ch, &v, deadline_in(bound));

    ASSERT_TRUE(rc == CSP_OK || rc == CSP_ECLOSED);
    if (rc == CSP_OK)
        ASSERT_RC(CSP_ECLOSED,
                  csp_chan_take_blocking(ch, &w, deadline_in(bound)));
    csp_chan_release(ch);
    return v;
}

/* Counter KEY of RT (csp_rt_stat); the test fails on an error. */
static inline int64_t stat_of(csp_rt *rt, int key)
{
    int64_t v = -1;

    ASSERT_OK(csp_rt_stat(rt, key, &v));
    return v;
}

/* Wait (yielding, bounded) until counter KEY of RT reads WANT. */
static inline void wait_stat(csp_rt *rt, int key, int64_t want)
{
    int64_t give_up = deadline_in(8 * SEC * test_slowdown());

    while (stat_of(rt, key) != want) {
        ASSERT_TRUE(csp_now_ns() < give_up);
        sched_yield();
    }
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;

    ASSERT_EQ(0, pthread_create(&t, NULL, fn, arg));
    return t;
}

static inline void *join_thread(pthread_t t)
{
    void *r = NULL;

    ASSERT_EQ(0, pthread_join(t, &r));
    return r;
}

#endif /* CSP_TEST_UTIL_H */
