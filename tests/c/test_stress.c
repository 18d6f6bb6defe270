/* test_stress.c - many producers and consumers of every flavour (go
 * processes, plain threads, callback chains, alts in all three forms,
 * callback ops cancelled as they race their completion) on channels of
 * every kind, with closes and releases racing the traffic. Checks:
 *   - no value is delivered twice, and none is lost where no buffer
 *     drops: every value is taken, dropped by a buffer, refused by a
 *     closed channel, or handed back by a cancel - exactly one of these;
 *   - no wake-up is lost: everything ends within the time bound;
 *   - each channel is freed exactly once, when its last reference goes
 *     (the test releases its own while the traffic runs), and nothing
 *     leaks (the harness checks the counting allocator).
 *
 * Small by default, so that ASan, TSan and valgrind runs stay short. The
 * work is multiplied by CSP_STRESS_SCALE (an integer), or by 10 when
 * CSP_STRESS=1 (`make stress` sets both). Each test prints the csp calls
 * it made. */
#include <stdlib.h>

#include "util.h"

static long stress_scale(long n)
{
    const char *s = getenv("CSP_STRESS_SCALE"), *on = getenv("CSP_STRESS");
    long k = s && *s ? strtol(s, NULL, 10) : 0;

    if (k < 1)
        k = on && *on && *on != '0' ? 10 : 1;
    return test_scaled(n) * k;
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

/* ------------------------------------------------------------------------
 * Fan-in and fan-out through alts over several channels: four producers
 * (a go process, a thread, a callback chain, a thread that cancels its
 * callback puts as they race) and four consumers of the same flavours,
 * every one on every channel. Each value ends with exactly one fate:
 * taken, dropped (by a buffer, or left inside at free), refused (put on a
 * closed channel) or withdrawn (a cancelled put); `fates` counts them
 * per value, and every count must end at exactly 1. */

#define MCH 4
#define NPARTY 4

struct multi {
    csp_chan *ch[MCH];
    int nch;
    long per, total;
    _Atomic unsigned char *fates;
    _Atomic long taken, dropped, refused, withdrawn;
    _Atomic long calls;    /* csp calls made by every party */
    _Atomic long inflight; /* issued callback ops whose callback is due */
    csp_chan *done;        /* one token per finished party */
};

struct party {
    struct multi *m;
    int id;
    uint64_t rng;
    long i, calls;
    int open[MCH], nopen; /* consumers: channels not yet closed+drained */
    csp_op ops[MCH];
};

static uint64_t next_rand(struct party *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

static void fate(struct multi *m, void *v, _Atomic long *counter)
{
    uintptr_t x = U(v);

    ASSERT_TRUE(x >= 1 && x <= (uintptr_t)m->total);
    ASSERT_EQ(0, atomic_fetch_add(&m->fates[x - 1], 1));
    atomic_fetch_add(counter, 1);
}

static void multi_drop(void *ud, void *v)
{
    struct multi *m = ud;

    fate(m, v, &m->dropped);
}

/* A party is done: give back its channel references (racing the others'
 * traffic), then say so. */
static void party_done(struct party *p)
{
    for (int i = 0; i < p->m->nch; i++)
        csp_chan_release(p->m->ch[i]);
    atomic_fetch_add(&p->m->calls, p->calls);
    ASSERT_OK(csp_chan_offer(p->m->done, V(1)));
}

static void *pval(struct party *p)
{
    return V((uintptr_t)p->id * (uintptr_t)p->m->per + (uintptr_t)p->i + 1);
}

/* 1..3 put cases of V on random channels (repeats allowed). */
static size_t put_cases(struct party *p, void *v)
{
    size_t n = 1 + next_rand(p) % 3;

    for (size_t k = 0; k < n; k++)
        p->ops[k] = (csp_op){p->m->ch[next_rand(p) % (uint64_t)p->m->nch],
                             CSP_OP_PUT, v};
    return n;
}

static void put_result(struct party *p, int rc, void *v)
{
    if (rc == CSP_ECLOSED)
        fate(p->m, v, &p->m->refused);
    else
        ASSERT_OK(rc);
}

static void *mprod_go(void *arg)
{
    struct party *p = arg;

    for (p->i = 0; p->i < p->m->per; p->i++) {
        void *v = pval(p), *got;
        size_t idx;
        int rc;
        if (next_rand(p) % 2)
            rc = csp_chan_put(p->m->ch[next_rand(p) % (uint64_t)p->m->nch], v);
        else
            rc = csp_alts(p->ops, put_cases(p, v), 0, &idx, &got);
        p->calls++;
        put_result(p, rc, v);
    }
    party_done(p);
    return NULL;
}

static void *mprod_thread(void *arg)
{
    struct party *p = arg;

    for (p->i = 0; p->i < p->m->per; p->i++) {
        void *v = pval(p), *got;
        size_t idx;
        int rc;
        if (next_rand(p) % 2)
            rc = csp_chan_put_blocking(
                p->m->ch[next_rand(p) % (uint64_t)p->m->nch], v, CSP_FOREVER);
        else
            rc = csp_alts_blocking(p->ops, put_cases(p, v), 0, CSP_FOREVER,
                                   &idx, &got);
        p->calls++;
        put_result(p, rc, v);
    }
    party_done(p);
    return NULL;
}

static void mprod_cb_next(struct party *p);

static void mprod_cb_put_done(void *ud, int rc, void *val)
{
    struct party *p = ud;

    (void)val;
    put_result(p, rc, pval(p));
    p->i++;
    mprod_cb_next(p);
}

static void mprod_cb_alts_done(void *ud, int rc, size_t idx, void *val)
{
    (void)idx;
    mprod_cb_put_done(ud, rc, val);
}

/* Issue puts until one waits (its callback goes on) or all are done. */
static void mprod_cb_next(struct party *p)
{
    for (; p->i < p->m->per; p->i++) {
        void *v = pval(p), *got;
        size_t idx;
        int rc;
        /* Counted before the call: once it returns CSP_PENDING, the
         * callback may already run on a worker and own P. */
        p->calls++;
        if (next_rand(p) % 2)
            rc = csp_chan_put_cb(p->m->ch[next_rand(p) % (uint64_t)p->m->nch],
                                 v, NULL, mprod_cb_put_done, p, NULL);
        else
            rc = csp_alts_cb(p->ops, put_cases(p, v), 0, &idx, &got, NULL,
                             mprod_cb_alts_done, p, NULL);
        if (rc == CSP_PENDING)
            return;
        put_result(p, rc, v);
    }
    party_done(p);
}

static void inflight_done(void *ud, int rc, void *val)
{
    struct multi *m = ud;

    (void)val;
    ASSERT_OK(rc); /* a queued put is never refused, even by a close */
    atomic_fetch_sub(&m->inflight, 1);
}

/* Callback puts with a handle, each cancelled at once or after a yield:
 * withdrawn (the value comes back) or too late (its callback runs). */
static void *mprod_cancel(void *arg)
{
    struct party *p = arg;
    struct multi *m = p->m;

    for (p->i = 0; p->i < m->per; p->i++) {
        void *v = pval(p), *back = NULL;
        csp_pending *h = NULL;
        int rc;
        atomic_fetch_add(&m->inflight, 1);
        rc = csp_chan_put_cb(m->ch[next_rand(p) % (uint64_t)m->nch], v, NULL,
                             inflight_done, m, &h);
        p->calls++;
        if (rc != CSP_PENDING) {
            atomic_fetch_sub(&m->inflight, 1);
            put_result(p, rc, v);
            continue;
        }
        if (next_rand(p) % 2)
            sched_yield();
        rc = csp_pending_cancel(h, &back);
        p->calls++;
        if (rc == CSP_OK) {
            ASSERT_PTR_EQ(v, back);
            fate(m, v, &m->withdrawn);
            atomic_fetch_sub(&m->inflight, 1);
        } else {
            ASSERT_RC(CSP_EAGAIN, rc);
        }
        csp_pending_release(h);
    }
    party_done(p);
    return NULL;
}

/* Consumers: a take result on open channel K (index into p->open). */
static void take_result(struct party *p, int k, int rc, void *v)
{
    if (rc == CSP_OK) {
        fate(p->m, v, &p->m->taken);
        return;
    }
    ASSERT_RC(CSP_ECLOSED, rc);
    p->open[k] = p->open[--p->nopen];
}

/* Take cases over the open channels, in P->ops. */
static size_t take_cases(struct party *p)
{
    for (int k = 0; k < p->nopen; k++)
        p->ops[k] = (csp_op){p->m->ch[p->open[k]], CSP_OP_TAKE, NULL};
    return (size_t)p->nopen;
}

static void *mcons_go(void *arg)
{
    struct party *p = arg;

    while (p->nopen > 0) {
        void *v = NULL;
        size_t idx = 0;
        int rc;
        if (next_rand(p) % 4 == 0) {
            idx = next_rand(p) % (uint64_t)p->nopen;
            rc = csp_chan_take(p->m->ch[p->open[idx]], &v);
        } else {
            rc = csp_alts(p->ops, take_cases(p), 0, &idx, &v);
        }
        p->calls++;
        take_result(p, (int)idx, rc, v);
    }
    party_done(p);
    return NULL;
}

static void *mcons_thread(void *arg)
{
    struct party *p = arg;

    while (p->nopen > 0) {
        void *v = NULL;
        size_t idx = 0;
        int rc;
        if (next_rand(p) % 4 == 0) {
            idx = next_rand(p) % (uint64_t)p->nopen;
            rc =
                csp_chan_take_blocking(p->m->ch[p->open[idx]], &v, CSP_FOREVER);
        } else {
            rc = csp_alts_blocking(p->ops, take_cases(p), 0, CSP_FOREVER, &idx,
                                   &v);
        }
        p->calls++;
        take_result(p, (int)idx, rc, v);
    }
    party_done(p);
    return NULL;
}

static void mcons_cb_next(struct party *p);

static void mcons_cb_done(void *ud, int rc, size_t idx, void *val)
{
    struct party *p = ud;

    take_result(p, (int)idx, rc, val);
    mcons_cb_next(p);
}

static void mcons_cb_next(struct party *p)
{
    while (p->nopen > 0) {
        void *v = NULL;
        size_t idx = 0;
        int rc;
        p->calls++; /* before: see mprod_cb_next */
        rc = csp_alts_cb(p->ops, take_cases(p), 0, &idx, &v, NULL,
                         mcons_cb_done, p, NULL);
        if (rc == CSP_PENDING)
            return;
        take_result(p, (int)idx, rc, v);
    }
    party_done(p);
}

static void cancel_take_done(void *ud, int rc, void *val)
{
    struct multi *m = ud;

    /* A queued take completes with a value or, once its channel closed
     * empty, with CSP_ECLOSED. */
    if (rc == CSP_OK)
        fate(m, val, &m->taken);
    else
        ASSERT_RC(CSP_ECLOSED, rc);
    atomic_fetch_sub(&m->inflight, 1);
}

/* Callback takes with a handle, each cancelled at once or after a
 * yield. */
static void *mcons_cancel(void *arg)
{
    struct party *p = arg;
    struct multi *m = p->m;

    while (p->nopen > 0) {
        int k = (int)(next_rand(p) % (uint64_t)p->nopen);
        csp_pending *h = NULL;
        void *v = NULL;
        int rc;
        atomic_fetch_add(&m->inflight, 1);
        rc = csp_chan_take_cb(m->ch[p->open[k]], &v, NULL, cancel_take_done, m,
                              &h);
        p->calls++;
        if (rc != CSP_PENDING) {
            atomic_fetch_sub(&m->inflight, 1);
            take_result(p, k, rc, v);
            continue;
        }
        if (next_rand(p) % 2)
            sched_yield();
        rc = csp_pending_cancel(h, NULL);
        p->calls++;
        if (rc == CSP_OK)
            atomic_fetch_sub(&m->inflight, 1);
        else
            ASSERT_RC(CSP_EAGAIN, rc);
        csp_pending_release(h);
    }
    party_done(p);
    return NULL;
}

/* Run the eight parties on channels of KINDS/CAPS (N of them). The test
 * gives back its own channel references as soon as it closed them: a
 * channel is then freed by whichever party or callback op lets go of it
 * last. CLOSE_EARLY closes when a third of the values were taken, racing
 * the producers; otherwise after every producer finished. */
static void multi_stress(const int *kinds, const size_t *caps, int n,
                         int close_early)
{
    struct multi m = {0};
    struct party prod[NPARTY], cons[NPARTY];
    int64_t chans0, chans, end;
    pthread_t t[4];
    csp_chan *res;
    void *v;

    m.nch = n;
    m.per = stress_scale(10000);
    m.total = NPARTY * m.per;
    m.fates = calloc((size_t)m.total, 1);
    ASSERT_NOT_NULL(m.fates);
    m.done = mkchan(CSP_BUF_FIXED, 2 * NPARTY);
    ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_CHANS_LIVE, &chans0));
    for (int i = 0; i < n; i++)
        ASSERT_OK(
            csp_chan_new(&m.ch[i], test_rt, kinds[i], caps[i], multi_drop, &m));
    for (int i = 0; i < NPARTY; i++) {
        prod[i] = (struct party){.m = &m, .id = i};
        cons[i] = (struct party){.m = &m, .id = NPARTY + i};
        prod[i].rng = test_seed() * 2654435761u + (uint64_t)i + 1;
        cons[i].rng = test_seed() * 2246822519u + (uint64_t)i + 7;
        cons[i].nopen = n;
        for (int k = 0; k < n; k++)
            cons[i].open[k] = k;
        for (int k = 0; k < n; k++) { /* one reference per party */
            csp_chan_retain(m.ch[k]);
            csp_chan_retain(m.ch[k]);
        }
    }
    ASSERT_OK(csp_go(test_rt, mcons_go, &cons[0], &res));
    csp_chan_release(res);
    t[0] = spawn(mcons_thread, &cons[1]);
    mcons_cb_next(&cons[2]);
    t[1] = spawn(mcons_cancel, &cons[3]);
    ASSERT_OK(csp_go(test_rt, mprod_go, &prod[0], &res));
    csp_chan_release(res);
    t[2] = spawn(mprod_thread, &prod[1]);
    mprod_cb_next(&prod[2]);
    t[3] = spawn(mprod_cancel, &prod[3]);
    end = deadline_in(8 * SEC * test_slowdown());
    if (close_early) {
        while (atomic_load(&m.taken) < m.total / 3) {
            ASSERT_TRUE(csp_now_ns() < end);
            sched_yield();
        }
    } else {
        for (int i = 0; i < NPARTY; i++) /* the producers */
            ASSERT_OK(csp_chan_take_blocking(m.done, &v, end));
    }
    for (int i = 0; i < n; i++) {
        ASSERT_OK(csp_chan_close(m.ch[i]));
        csp_chan_release(m.ch[i]);
    }
    for (int i = 0; i < (close_early ? 2 : 1) * NPARTY; i++)
        ASSERT_OK(csp_chan_take_blocking(m.done, &v, end));
    for (int i = 0; i < 4; i++)
        join_thread(t[i]);
    /* Callbacks still due, then the op references they hold. */
    for (;;) {
        ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_CHANS_LIVE, &chans));
        if (atomic_load(&m.inflight) == 0 && chans == chans0)
            break;
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
    /* Every value had exactly one fate. */
    for (long i = 0; i < m.total; i++)
        ASSERT_EQ(1, atomic_load(&m.fates[i]));
    ASSERT_EQ(m.total, atomic_load(&m.taken) + atomic_load(&m.dropped) +
                           atomic_load(&m.refused) + atomic_load(&m.withdrawn));
    if (!close_early)
        ASSERT_EQ(0, atomic_load(&m.refused));
    fprintf(stderr,
            "stress: %ld csp calls; %ld values: %ld taken, %ld dropped, %ld "
            "refused, %ld withdrawn\n",
            atomic_load(&m.calls), m.total, atomic_load(&m.taken),
            atomic_load(&m.dropped), atomic_load(&m.refused),
            atomic_load(&m.withdrawn));
    free((void *)m.fates);
    csp_chan_release(m.done);
}

TEST(stress_alts_over_unbuffered_and_fixed_deliver_exactly_once)
{
    static const int kinds[4] = {CSP_BUF_NONE, CSP_BUF_NONE, CSP_BUF_FIXED,
                                 CSP_BUF_FIXED};
    static const size_t caps[4] = {0, 0, 1, 16};

    multi_stress(kinds, caps, 4, 0);
    /* no buffer drops here: every value was taken or withdrawn */
}

TEST(stress_alts_over_every_buffer_kind_give_each_value_one_fate)
{
    static const int kinds[4] = {CSP_BUF_NONE, CSP_BUF_FIXED, CSP_BUF_DROPPING,
                                 CSP_BUF_SLIDING};
    static const size_t caps[4] = {0, 4, 2, 2};

    multi_stress(kinds, caps, 4, 0);
}

TEST(stress_alts_close_racing_traffic_gives_each_value_one_fate)
{
    static const int kinds[3] = {CSP_BUF_NONE, CSP_BUF_FIXED, CSP_BUF_SLIDING};
    static const size_t caps[3] = {0, 8, 1};

    multi_stress(kinds, caps, 3, 1);
}

TEST(stress_single_unbuffered_channel_all_flavours_deliver_exactly_once)
{
    static const int kinds[1] = {CSP_BUF_NONE};
    static const size_t caps[1] = {0};

    multi_stress(kinds, caps, 1, 0);
}
