/* test_stress.c - many producers and consumers of every flavour (go
 * processes, plain threads, callback chains, alts) on one channel of each
 * kind, with closes racing the traffic; checks that no value is delivered
 * twice, none lost where no buffer drops, counts are conserved, and no
 * wake-up is lost (everything ends within the time bound).
 *
 * Small by default, so that ASan, TSan and valgrind runs stay short;
 * CSP_STRESS=1 multiplies the work by 10 (`make stress` runs them so). */
#include <stdlib.h>

#include "util.h"

static long stress_scale(long n)
{
    const char *s = getenv("CSP_STRESS");

    return test_scaled(n) * (s && *s && *s != '0' ? 10 : 1);
}

struct world {
    csp_chan *ch;
    long per; /* values per producer */
    _Atomic unsigned char *seen;
    _Atomic long taken, dropped, refused;
    csp_chan *done; /* one token per finished party */
};

static uintptr_t value_of(int producer, long i, long per)
{
    return (uintptr_t)producer * (uintptr_t)per + (uintptr_t)i + 1;
}

static void saw(struct world *w, void *v)
{
    ASSERT_EQ(0, atomic_fetch_add(&w->seen[U(v) - 1], 1));
    atomic_fetch_add(&w->taken, 1);
}

static void finished(struct world *w)
{
    ASSERT_OK(csp_chan_offer(w->done, V(1))); /* room for all six */
}

static void count_drop(void *ud, void *v)
{
    struct world *w = ud;

    (void)v;
    atomic_fetch_add(&w->dropped, 1);
}

/* Producers: id 0 a go process, id 1 a thread, id 2 a callback chain. */
struct prod {
    struct world *w;
    int id;
    long i;
};

static void *prod_go(void *arg)
{
    struct prod *p = arg;

    for (long i = 0; i < p->w->per; i++) {
        int rc = csp_chan_put(p->w->ch, V(value_of(p->id, i, p->w->per)));
        if (rc == CSP_ECLOSED)
            atomic_fetch_add(&p->w->refused, 1);
        else
            ASSERT_OK(rc);
    }
    finished(p->w);
    return NULL;
}

static void *prod_thread(void *arg)
{
    struct prod *p = arg;

    for (long i = 0; i < p->w->per; i++) {
        int rc = csp_chan_put_blocking(
            p->w->ch, V(value_of(p->id, i, p->w->per)), CSP_FOREVER);
        if (rc == CSP_ECLOSED)
            atomic_fetch_add(&p->w->refused, 1);
        else
            ASSERT_OK(rc);
    }
    finished(p->w);
    return NULL;
}

static void prod_cb_next(struct prod *p);

static void prod_cb_done(void *ud, int rc, void *val)
{
    struct prod *p = ud;

    (void)val;
    ASSERT_EQ(CSP_OK, rc);
    p->i++;
    prod_cb_next(p);
}

/* Issue puts until one is pending (its callback continues) or all done. */
static void prod_cb_next(struct prod *p)
{
    while (p->i < p->w->per) {
        int rc = csp_chan_put_cb(p->w->ch, V(value_of(p->id, p->i, p->w->per)),
                                 NULL, prod_cb_done, p, NULL);
        if (rc == CSP_PENDING)
            return;
        if (rc == CSP_ECLOSED)
            atomic_fetch_add(&p->w->refused, 1);
        else
            ASSERT_OK(rc);
        p->i++;
    }
    ASSERT_OK(csp_chan_offer(p->w->done, V(1)));
}

/* Consumers: a go process, a thread, and a thread using alts. */
static void *cons_go(void *arg)
{
    struct world *w = arg;
    void *v;

    while (csp_chan_take(w->ch, &v) == CSP_OK)
        saw(w, v);
    finished(w);
    return NULL;
}

static void *cons_thread(void *arg)
{
    struct world *w = arg;
    void *v;

    while (csp_chan_take_blocking(w->ch, &v, CSP_FOREVER) == CSP_OK)
        saw(w, v);
    finished(w);
    return NULL;
}

static void *cons_alts(void *arg)
{
    struct world *w = arg;
    csp_op ops[1] = {{w->ch, CSP_OP_TAKE, NULL}};
    size_t idx;
    void *v;

    while (csp_alts_blocking(ops, 1, 0, CSP_FOREVER, &idx, &v) == CSP_OK)
        saw(w, v);
    finished(w);
    return NULL;
}

/* Run the six parties on a channel of BUF/CAP; close it after the
 * producers finish, or (CLOSE_EARLY) as soon as a third of the values
 * arrived, racing the traffic. */
static void stress(int buf, size_t cap, int close_early)
{
    struct world w = {0};
    long per = stress_scale(20000), total = 3 * per;
    struct prod p[3];
    csp_chan *res;
    pthread_t pt, ct, at;
    void *v;

    w.per = per;
    w.seen = calloc((size_t)total, 1);
    ASSERT_NOT_NULL(w.seen);
    ASSERT_OK(csp_chan_new(&w.ch, test_rt, buf, cap, count_drop, &w));
    w.done = mkchan(CSP_BUF_FIXED, 8);
    for (int i = 0; i < 3; i++)
        p[i] = (struct prod){&w, i, 0};
    ASSERT_OK(csp_go(test_rt, cons_go, &w, &res));
    csp_chan_release(res);
    ct = spawn(cons_thread, &w);
    at = spawn(cons_alts, &w);
    ASSERT_OK(csp_go(test_rt, prod_go, &p[0], &res));
    csp_chan_release(res);
    pt = spawn(prod_thread, &p[1]);
    prod_cb_next(&p[2]);
    if (close_early) {
        int64_t end = deadline_in(8 * SEC * test_slowdown());
        while (atomic_load(&w.taken) < total / 3) {
            ASSERT_TRUE(csp_now_ns() < end);
            sched_yield();
        }
        ASSERT_OK(csp_chan_close(w.ch));
    }
    for (int i = 0; i < 3; i++) /* the producers */
        ASSERT_OK(csp_chan_take_blocking(
            w.done, &v, deadline_in(8 * SEC * test_slowdown())));
    if (!close_early)
        ASSERT_OK(csp_chan_close(w.ch));
    for (int i = 0; i < 3; i++) /* the consumers */
        ASSERT_OK(csp_chan_take_blocking(
            w.done, &v, deadline_in(8 * SEC * test_slowdown())));
    join_thread(pt);
    join_thread(ct);
    join_thread(at);
    /* Conservation: every value was taken once, dropped by the buffer,
     * or refused by the closed channel. */
    ASSERT_EQ(total, atomic_load(&w.taken) + atomic_load(&w.dropped) +
                         atomic_load(&w.refused));
    if (buf == CSP_BUF_NONE || buf == CSP_BUF_FIXED)
        ASSERT_EQ(0, atomic_load(&w.dropped));
    if (!close_early)
        ASSERT_EQ(0, atomic_load(&w.refused));
    free((void *)w.seen);
    csp_chan_release(w.done);
    csp_chan_release(w.ch);
}

TEST(stress_unbuffered_mixed_parties_deliver_exactly_once)
{
    stress(CSP_BUF_NONE, 0, 0);
}

TEST(stress_fixed_mixed_parties_deliver_exactly_once)
{
    stress(CSP_BUF_FIXED, 16, 0);
}

TEST(stress_dropping_mixed_parties_conserve_values)
{
    stress(CSP_BUF_DROPPING, 4, 0);
}

TEST(stress_sliding_mixed_parties_conserve_values)
{
    stress(CSP_BUF_SLIDING, 4, 0);
}

TEST(stress_close_racing_traffic_loses_nothing)
{
    stress(CSP_BUF_FIXED, 16, 1);
}

TEST(stress_close_racing_unbuffered_traffic_loses_nothing)
{
    stress(CSP_BUF_NONE, 0, 1);
}
