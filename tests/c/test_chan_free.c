/* test_chan_free.c - csp_chan_on_free: the owner of a drop hook learns
 * that the channel is finally freed, once, after the hook's last call, on
 * the thread that dropped the last reference; bad input. */
#include <stdlib.h>

#include "ops_util.h"
#include "util.h"

/* What the free callback saw. DROPS is the recorder of the channel's drop
 * hook: its count when the free callback ran. */
struct freed {
    _Atomic int calls;
    struct drops *drops;
    long drops_seen;
    pthread_t thread;
};

static void note_free(void *ud)
{
    struct freed *f = ud;

    f->drops_seen = f->drops ? atomic_load(&f->drops->n) : -1;
    f->thread = pthread_self();
    atomic_fetch_add(&f->calls, 1);
}

static void other_free(void *ud) { (void)ud; }

TEST(chan_on_free_runs_once_when_the_last_reference_goes)
{
    struct freed f = {0};
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 2);

    ASSERT_OK(csp_chan_on_free(ch, note_free, &f));
    csp_chan_retain(ch);
    csp_chan_release(ch);
    ASSERT_EQ(0, atomic_load(&f.calls));
    csp_chan_release(ch);
    ASSERT_EQ(1, atomic_load(&f.calls));
}

TEST(chan_on_free_rejects_null_channel_and_function)
{
    struct freed f = {0};
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);

    ASSERT_RC(CSP_EINVAL, csp_chan_on_free(NULL, note_free, &f));
    ASSERT_RC(CSP_EINVAL, csp_chan_on_free(ch, NULL, &f));
    csp_chan_release(ch);
    ASSERT_EQ(0, atomic_load(&f.calls));
}

TEST(chan_on_free_twice_returns_ebusy_and_keeps_the_first)
{
    struct freed f = {0};
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);

    ASSERT_OK(csp_chan_on_free(ch, note_free, &f));
    ASSERT_RC(CSP_EBUSY, csp_chan_on_free(ch, other_free, NULL));
    csp_chan_release(ch);
    ASSERT_EQ(1, atomic_load(&f.calls));
}

TEST(chan_on_free_of_a_timeout_channel_returns_eperm)
{
    struct freed f = {0};
    csp_chan *t = NULL;

    ASSERT_OK(csp_timeout(&t, test_rt, 1));
    ASSERT_RC(CSP_EPERM, csp_chan_on_free(t, note_free, &f));
    csp_chan_release(t);
    ASSERT_EQ(0, atomic_load(&f.calls));
}

TEST(chan_on_free_runs_after_buffered_values_went_to_the_drop_hook)
{
    struct drops d = {0};
    struct freed f = {.drops = &d};
    csp_chan *ch = NULL;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_FIXED, 4, record_drop, &d));
    ASSERT_OK(csp_chan_on_free(ch, note_free, &f));
    for (int i = 1; i <= 3; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i)));
    csp_chan_release(ch);
    ASSERT_EQ(1, atomic_load(&f.calls));
    ASSERT_EQ(3, f.drops_seen);
    ASSERT_EQ(6, atomic_load(&d.sum));
}

TEST(chan_on_free_runs_after_the_promise_value_is_dropped)
{
    struct drops d = {0};
    struct freed f = {.drops = &d};
    csp_chan *ch = NULL;

    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_PROMISE, 0, record_drop, &d));
    ASSERT_OK(csp_chan_on_free(ch, note_free, &f));
    ASSERT_OK(csp_chan_offer(ch, V(5)));
    csp_chan_release(ch);
    ASSERT_EQ(1, f.drops_seen);
    ASSERT_EQ(5, atomic_load(&d.sum));
}

TEST(chan_on_free_runs_after_a_transform_dropped_the_values_it_held)
{
    struct drops d = {0};
    struct freed f = {.drops = &d};
    csp_xform *xf = NULL;
    csp_chan *ch = NULL;

    ASSERT_OK(csp_xf_partition_all(&xf, test_rt, 10, pack_sum, NULL));
    ASSERT_OK(csp_chan_new_xf(&ch, test_rt, CSP_BUF_FIXED, 4, record_drop, &d,
                              xf, NULL, NULL));
    csp_xform_release(xf);
    ASSERT_OK(csp_chan_on_free(ch, note_free, &f));
    for (int i = 1; i <= 3; i++)
        ASSERT_OK(csp_chan_offer(ch, V(i))); /* held by the partition */
    csp_chan_release(ch);
    ASSERT_EQ(1, atomic_load(&f.calls));
    ASSERT_EQ(3, f.drops_seen);
}

static void *release_it(void *ch)
{
    csp_chan_release(ch);
    return NULL;
}

TEST(chan_on_free_runs_on_the_thread_that_drops_the_last_reference)
{
    struct freed f = {0};
    csp_chan *ch = mkchan(CSP_BUF_FIXED, 1);
    pthread_t t;

    ASSERT_OK(csp_chan_on_free(ch, note_free, &f));
    t = spawn(release_it, ch);
    join_thread(t);
    ASSERT_EQ(1, atomic_load(&f.calls));
    ASSERT_TRUE(pthread_equal(t, f.thread));
}

/* Concurrent release: THREADS threads each hold a reference, offer PUTS
 * values on a sliding channel (evicting, so the hook runs on every
 * thread), and release; whoever is last frees. The free callback runs
 * once, after every drop: every value put was dropped (evicted, or
 * buffered at the free) before it ran, and none after. */
enum { THREADS = 4, PUTS = 200 };

struct racer {
    csp_chan *ch;
    int base;
};

static void *offer_and_release(void *arg)
{
    struct racer *r = arg;

    for (int i = 1; i <= PUTS; i++)
        ASSERT_OK(csp_chan_offer(r->ch, V(r->base + i)));
    csp_chan_release(r->ch);
    return NULL;
}

TEST(chan_on_free_under_concurrent_release_runs_once_after_every_drop)
{
    long rounds = test_scaled(100);

    for (long round = 0; round < rounds; round++) {
        struct drops d = {0};
        struct freed f = {.drops = &d};
        struct racer r[THREADS];
        pthread_t t[THREADS];
        csp_chan *ch = NULL;

        ASSERT_OK(
            csp_chan_new(&ch, test_rt, CSP_BUF_SLIDING, 3, record_drop, &d));
        ASSERT_OK(csp_chan_on_free(ch, note_free, &f));
        for (int i = 0; i < THREADS; i++) {
            r[i].ch = csp_chan_retain(ch);
            r[i].base = i * 1000;
            t[i] = spawn(offer_and_release, &r[i]);
        }
        csp_chan_release(ch);
        for (int i = 0; i < THREADS; i++)
            join_thread(t[i]);
        ASSERT_EQ(1, atomic_load(&f.calls));
        ASSERT_EQ(THREADS * PUTS, f.drops_seen);
        ASSERT_EQ(THREADS * PUTS, atomic_load(&d.n));
    }
}
