/* soak.c - an hour-scale mixed workload on the default runtime (`make
 * soak`; not a ctest entry). It runs rounds until --seconds pass; each
 * round runs these workloads at once, each with its own values:
 *
 *   go        go producers and consumers on a fixed buffer;
 *   threads   csp_thread producers and consumers with _blocking ops (and
 *             one go process on each side) on an unbuffered channel;
 *   cb        callback chains: put_cb/take_cb on the pool executor and on
 *             a loop executor (csp_loop_*) drained by its host thread;
 *   alts      agents whose every alts mixes puts and takes on two
 *             channels with a csp_timeout take: go processes (csp_alts),
 *             a thread (csp_alts_blocking), a callback chain (csp_alts_cb);
 *   pipeline  to_chan -> pipeline (or pipeline_blocking) with a map
 *             transform -> into;
 *   mult      onto_chan -> mult with three taps: a go consumer, a thread
 *             consumer, reduce;
 *   pubsub    a go producer -> pub by topic (two subscribers on topic 0),
 *             two topics merged and reduced, two read by go consumers.
 *
 * Checks, every round:
 *   - every value arrives exactly once at every sink meant to get it: each
 *     value is a unique tag (round, workload, index) and a checker counts
 *     its arrivals per sink; a lost, duplicated, stray (other round or
 *     workload) or misrouted value fails the round. Nothing here may drop
 *     a value (no dropping or sliding buffer, taps and subscribers exist
 *     before the first value): every channel's drop hook fails the round;
 *   - every blocking wait has a deadline (60 s without progress), so a
 *     lost wake-up or a deadlock fails with the round and workload named
 *     (and csp_rt_dump on stderr) instead of hanging;
 *   - after the round every channel is released, and live channels,
 *     pending callback ops, live go processes and pending timers return
 *     to what they were before the first round;
 *   - RSS at the end is within RSS_SLACK of RSS after the warm-up rounds.
 *
 * Output: a line every 10 s, then one summary line and `soak: PASS` or
 * `soak: FAIL <why>` (exit status 1). Written against csp.h only, as a
 * host program would be. */
#define _POSIX_C_SOURCE 200809L /* sysconf, nanosleep */

#include <csp.h>

#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(uintptr_t) >= 8, "values pack 56 bits of tag");

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))
#define SEC INT64_C(1000000000)

/* How long any one wait may make no progress before the soak fails. */
#define STALL_NS (60 * SEC)
#define WARMUP_ROUNDS 3
#define REPORT_EVERY_NS (10 * SEC)

/* RSS after the warm-up rounds may grow by 10% + 8 MiB. After warm-up the
 * process holds its steady state: stacks in the per-worker caches and
 * the runtime's pool, glibc malloc arenas (one per thread that allocated,
 * up to 8 per core), csp_thread threads (idle ones exit after 10 s and
 * come back, each with its own stack and arena). These move by a few MiB
 * from round to round; the 10% covers a larger --values and the 8 MiB the
 * arena and thread churn. A leak of one 16-byte block per value (about
 * 1.6 MB per round at the default size) crosses it within a few rounds of
 * an hour's run, and a leaked channel or stack per round within minutes. */
#define RSS_SLACK_PCT 10
#define RSS_SLACK_KIB (8 * 1024)

/* Under AddressSanitizer freed blocks wait in a quarantine (256 MiB by
 * default) and shadow memory follows: RSS climbs for minutes whatever
 * the program does, so the bound is reported but not judged there. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_JUDGED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_JUDGED 0
#endif
#endif
#ifndef RSS_JUDGED
#define RSS_JUDGED 1
#endif

/* A value: bits 0..27 index + 1, 28..35 workload, 36..55 round; bit 60 is
 * set by the pipeline's transform. Never NULL. */
#define IDX_BITS 28
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)
#define WL_SHIFT 28
#define ROUND_SHIFT 36
#define ROUND_MASK ((UINT64_C(1) << 20) - 1)
#define MARK_BIT (UINT64_C(1) << 60)

enum {
    WL_GO,
    WL_THREADS,
    WL_CB,
    WL_ALTS,
    WL_PIPELINE,
    WL_MULT,
    WL_PUBSUB,
    WL_N
};
static const char *const wl_name[WL_N] = {
    "go", "threads", "cb", "alts", "pipeline", "mult", "pubsub"};

static csp_rt *rt;
static long values = 20000; /* per workload per round */
static _Atomic long long total_ops;
static long round_no;
static int64_t t_start;
static long rss_base, rss_now;
static int64_t base_chans, base_ops, base_procs, base_timers;

/* ------------------------------------------------------------------------
 * Reporting. */

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int64_t stat_of(int key)
{
    int64_t v = -1;

    csp_rt_stat(rt, key, &v);
    return v;
}

static void summary(void)
{
    printf("soak: %lld ops in %.0f s, rounds %ld, rss start %ld KiB end %ld "
           "KiB, chans live end %lld, ops pending end %lld\n",
           (long long)atomic_load(&total_ops),
           (double)(csp_now_ns() - t_start) / 1e9, round_no, rss_base, rss_now,
           (long long)stat_of(CSP_STAT_CHANS_LIVE),
           (long long)stat_of(CSP_STAT_OPS_PENDING));
}

/* Fail the soak: summary, the reason, the runtime's state; exit 1. Parked
 * processes and blocked threads are left as they are. */
static void fail(const char *fmt, ...)
{
    va_list ap;

    rss_now = rss_kib();
    summary();
    printf("soak: FAIL round %ld: ", round_no);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    csp_rt_dump(rt, stderr);
    fflush(stderr);
    exit(1);
}

static int64_t deadline(void)
{
    return csp_now_ns() + STALL_NS;
}

/* ------------------------------------------------------------------------
 * The checker: one per workload and round. Sink S expects index I when
 * WANTS(S, I) (NULL: every sink every index). Arrivals are counted per
 * (sink, index); errors are counted and the first one described, and the
 * main thread judges after the round (no party exits the process). */

struct check {
    int wl;
    long round, n;
    int sinks;
    int (*wants)(int sink, long i);
    _Atomic unsigned char *seen; /* sinks * n */
    _Atomic long got, errors;
    _Atomic int described;
    char first[200];
};

static void check_init(struct check *ck, int wl, long round, long n, int sinks,
                       int (*wants)(int, long))
{
    *ck = (struct check){
        .wl = wl, .round = round, .n = n, .sinks = sinks, .wants = wants};
    ck->seen = calloc((size_t)(n * sinks), 1);
    if (ck->seen == NULL)
        fail("out of memory");
}

static void check_error(struct check *ck, const char *fmt, ...)
{
    va_list ap;
    int zero = 0;

    atomic_fetch_add(&ck->errors, 1);
    if (!atomic_compare_exchange_strong(&ck->described, &zero, 1))
        return;
    va_start(ap, fmt);
    vsnprintf(ck->first, sizeof ck->first, fmt, ap);
    va_end(ap);
}

static void *val_of(const struct check *ck, long i)
{
    return V(((uint64_t)(ck->round & ROUND_MASK) << ROUND_SHIFT) |
             ((uint64_t)ck->wl << WL_SHIFT) | (uint64_t)(i + 1));
}

/* V arrived at SINK. */
static void record(struct check *ck, int sink, void *v)
{
    uint64_t x = U(v) & ~MARK_BIT;
    long i = (long)(x & IDX_MASK) - 1;

    if ((x >> ROUND_SHIFT) != (uint64_t)(ck->round & ROUND_MASK) ||
        ((x >> WL_SHIFT) & 0xff) != (uint64_t)ck->wl || i < 0 || i >= ck->n) {
        check_error(ck, "stray value %#llx at sink %d", (unsigned long long)x,
                    sink);
        return;
    }
    if (ck->wants != NULL && !ck->wants(sink, i)) {
        check_error(ck, "value %ld misrouted to sink %d", i, sink);
        return;
    }
    if (atomic_fetch_add(&ck->seen[(long)sink * ck->n + i], 1) != 0)
        check_error(ck, "value %ld delivered twice to sink %d", i, sink);
    atomic_fetch_add(&ck->got, 1);
}

/* Every channel's drop hook: nothing in the soak may be discarded. */
static void drop_hook(void *ud, void *v)
{
    check_error(ud, "value %#llx dropped", (unsigned long long)U(v));
}

static csp_chan *chan(struct check *ck, int buf, size_t cap)
{
    csp_chan *ch;
    int rc = csp_chan_new(&ch, rt, buf, cap, drop_hook, ck);

    if (rc != CSP_OK)
        fail("%s: csp_chan_new: %s", wl_name[ck->wl], csp_strerror(rc));
    return ch;
}

/* After the round: exactly once, every sink; fails the soak otherwise. */
static void check_judge(struct check *ck)
{
    long lost = 0, first_lost = -1;
    int lost_sink = -1;

    for (int s = 0; s < ck->sinks; s++) {
        for (long i = 0; i < ck->n; i++) {
            int want = ck->wants == NULL || ck->wants(s, i);
            if (want && atomic_load(&ck->seen[(long)s * ck->n + i]) == 0) {
                if (lost++ == 0) {
                    first_lost = i;
                    lost_sink = s;
                }
            }
        }
    }
    if (lost > 0 || atomic_load(&ck->errors) > 0)
        fail("workload %s: %ld values lost (first: %ld at sink %d), %ld "
             "errors (first: %s)",
             wl_name[ck->wl], lost, first_lost, lost_sink,
             atomic_load(&ck->errors),
             atomic_load(&ck->errors) ? ck->first : "none");
    free((void *)ck->seen);
}

static void add_ops(long n)
{
    atomic_fetch_add(&total_ops, n);
}

/* ------------------------------------------------------------------------
 * Joining: the main thread waits for a go process's or csp_thread's
 * result channel to close, or for tokens on a done channel, each wait
 * bounded by STALL_NS. */

#define MAX_JOINS 64

struct joins {
    int n;
    struct {
        csp_chan *ch;
        int tokens; /* 0: wait for close */
        int wl;
        const char *what;
    } j[MAX_JOINS];
};

static struct joins joins;

static void join_add(csp_chan *ch, int tokens, int wl, const char *what)
{
    if (joins.n == MAX_JOINS)
        fail("too many joins");
    joins.j[joins.n].ch = ch;
    joins.j[joins.n].tokens = tokens;
    joins.j[joins.n].wl = wl;
    joins.j[joins.n].what = what;
    joins.n++;
}

static void spawn(int thread, csp_go_fn fn, void *arg, int wl, const char *what)
{
    csp_chan *res;
    int rc = thread ? csp_thread(rt, fn, arg, &res) : csp_go(rt, fn, arg, &res);

    if (rc != CSP_OK)
        fail("workload %s: cannot start %s: %s", wl_name[wl], what,
             csp_strerror(rc));
    join_add(res, 0, wl, what);
}

static void join_all(void)
{
    for (int k = 0; k < joins.n; k++) {
        int tokens = joins.j[k].tokens;
        void *v = NULL;
        int rc;
        do {
            rc = csp_chan_take_blocking(joins.j[k].ch, &v, deadline());
            if (rc == CSP_ETIMEDOUT)
                fail("workload %s: %s made no progress for %d s",
                     wl_name[joins.j[k].wl], joins.j[k].what,
                     (int)(STALL_NS / SEC));
            if (tokens == 0 && rc != CSP_ECLOSED)
                fail("workload %s: %s: result channel gave %s",
                     wl_name[joins.j[k].wl], joins.j[k].what, csp_errname(rc));
            if (tokens > 0 && rc != CSP_OK)
                fail("workload %s: %s: done channel gave %s",
                     wl_name[joins.j[k].wl], joins.j[k].what, csp_errname(rc));
        } while (tokens > 0 && --tokens > 0);
        csp_chan_release(joins.j[k].ch);
    }
    joins.n = 0;
}

/* A result channel that gets one value (into, reduce): take it. */
static void *result_of(csp_chan *res, int wl, const char *what)
{
    void *v = NULL;
    int rc = csp_chan_take_blocking(res, &v, deadline());

    if (rc != CSP_OK)
        fail("workload %s: %s result: %s", wl_name[wl], what, csp_errname(rc));
    csp_chan_release(res);
    return v;
}

/* ------------------------------------------------------------------------
 * Parties that run as a go process or a csp_thread alike: the op form
 * follows csp_in_go(). */

struct party {
    struct check *ck;
    csp_chan *ch; /* a reference the party releases when it ends */
    int sink;
    long lo, hi;       /* producers: indexes [lo, hi) */
    _Atomic int *left; /* producers: the last one closes CH */
};

static int put_any(csp_chan *ch, void *v)
{
    return csp_in_go() ? csp_chan_put(ch, v)
                       : csp_chan_put_blocking(ch, v, deadline());
}

static int take_any(csp_chan *ch, void **v)
{
    return csp_in_go() ? csp_chan_take(ch, v)
                       : csp_chan_take_blocking(ch, v, deadline());
}

static void *producer(void *arg)
{
    struct party *p = arg;
    long ops = 0;

    for (long i = p->lo; i < p->hi; i++) {
        int rc = put_any(p->ch, val_of(p->ck, i));
        ops++;
        if (rc != CSP_OK) {
            check_error(p->ck, "producer put of %ld: %s", i, csp_errname(rc));
            break;
        }
    }
    if (atomic_fetch_sub(p->left, 1) == 1)
        csp_chan_close(p->ch);
    csp_chan_release(p->ch);
    add_ops(ops);
    return NULL;
}

static void *consumer(void *arg)
{
    struct party *p = arg;
    long ops = 0;
    void *v;
    int rc;

    while ((rc = take_any(p->ch, &v)) == CSP_OK) {
        record(p->ck, p->sink, v);
        ops++;
    }
    if (rc != CSP_ECLOSED)
        check_error(p->ck, "consumer take: %s", csp_errname(rc));
    csp_chan_release(p->ch);
    add_ops(ops + 1);
    return NULL;
}

/* ------------------------------------------------------------------------
 * go and threads: producers and consumers on one channel. KINDS is a
 * string, one letter per party: P/C a go producer/consumer, p/c a thread
 * one. */

struct wl_parties {
    struct check ck;
    csp_chan *ch;
    _Atomic int left;
    struct party p[8];
};

static void parties_start(struct wl_parties *w, int wl, int buf, size_t cap,
                          const char *kinds)
{
    int np = 0, k = 0;

    for (const char *s = kinds; *s; s++)
        np += *s == 'P' || *s == 'p';
    check_init(&w->ck, wl, round_no, values, 1, NULL);
    w->ch = chan(&w->ck, buf, cap);
    atomic_store(&w->left, np);
    for (const char *s = kinds; *s; s++, k++) {
        int prod = *s == 'P' || *s == 'p', thread = *s == 'p' || *s == 'c';
        struct party *p = &w->p[k];
        *p = (struct party){
            .ck = &w->ck, .ch = csp_chan_retain(w->ch), .left = &w->left};
        if (prod) {
            int idx = 0;
            for (const char *t = kinds; t < s; t++)
                idx += *t == 'P' || *t == 'p';
            p->lo = values * idx / np;
            p->hi = values * (idx + 1) / np;
        }
        spawn(thread, prod ? producer : consumer, p, wl,
              prod ? (thread ? "thread producer" : "go producer")
                   : (thread ? "thread consumer" : "go consumer"));
    }
}

static void parties_finish(struct wl_parties *w)
{
    csp_chan_release(w->ch);
    check_judge(&w->ck);
}

/* ------------------------------------------------------------------------
 * cb: callback chains on a fixed(4) channel. Producer and consumer
 * chains on the pool executor, and on a loop executor whose host (a
 * csp_thread) starts its chains and drains the loop until they finish.
 * A chain issues ops until one is pending; its callback goes on. */

struct wl_cb;

struct chain {
    struct wl_cb *w;
    csp_exec *ex;
    int loop; /* runs on the loop host */
    long i, hi;
    long ops;
};

struct wl_cb {
    struct check ck;
    csp_chan *ch;
    csp_chan *done; /* a token per finished pool chain */
    _Atomic int producers;
    int loop_left; /* the loop host's chains not finished; host only */
    struct chain prod[2], cons[2]; /* [0] pool, [1] loop */
};

static void chain_finished(struct chain *c)
{
    add_ops(c->ops);
    if (c->loop)
        c->w->loop_left--;
    else if (csp_chan_offer(c->w->done, V(1)) != CSP_OK)
        check_error(&c->w->ck, "done channel full");
}

static void pchain_next(struct chain *c);
static void cchain_next(struct chain *c);

static void pchain_done(void *ud, int rc, void *v)
{
    struct chain *c = ud;

    (void)v;
    if (rc != CSP_OK) {
        check_error(&c->w->ck, "put_cb completed with %s", csp_errname(rc));
        c->i = c->hi;
    } else {
        c->i++;
    }
    pchain_next(c);
}

static void pchain_next(struct chain *c)
{
    struct wl_cb *w = c->w;

    while (c->i < c->hi) {
        int rc = csp_chan_put_cb(w->ch, val_of(&w->ck, c->i), c->ex,
                                 pchain_done, c, NULL);
        c->ops++;
        if (rc == CSP_PENDING)
            return;
        if (rc != CSP_OK) {
            check_error(&w->ck, "put_cb: %s", csp_errname(rc));
            break;
        }
        c->i++;
    }
    if (atomic_fetch_sub(&w->producers, 1) == 1)
        csp_chan_close(w->ch);
    chain_finished(c);
}

static void cchain_done(void *ud, int rc, void *v)
{
    struct chain *c = ud;

    if (rc == CSP_OK) {
        record(&c->w->ck, 0, v);
        cchain_next(c);
        return;
    }
    if (rc != CSP_ECLOSED)
        check_error(&c->w->ck, "take_cb completed with %s", csp_errname(rc));
    chain_finished(c);
}

static void cchain_next(struct chain *c)
{
    struct wl_cb *w = c->w;
    void *v = NULL;
    int rc;

    for (;;) {
        rc = csp_chan_take_cb(w->ch, &v, c->ex, cchain_done, c, NULL);
        c->ops++;
        if (rc != CSP_OK)
            break;
        record(&w->ck, 0, v);
    }
    if (rc == CSP_PENDING)
        return;
    if (rc != CSP_ECLOSED)
        check_error(&w->ck, "take_cb: %s", csp_errname(rc));
    chain_finished(c);
}

static void *loop_host(void *arg)
{
    struct wl_cb *w = arg;
    csp_loop *loop;
    int64_t end;
    int rc = csp_loop_new(&loop, rt);

    if (rc != CSP_OK) {
        check_error(&w->ck, "csp_loop_new: %s", csp_errname(rc));
        return NULL; /* the chains never start: the round fails */
    }
    w->loop_left = 2;
    w->prod[1].ex = w->cons[1].ex = csp_loop_executor(loop);
    cchain_next(&w->cons[1]);
    pchain_next(&w->prod[1]);
    end = deadline();
    while (w->loop_left > 0) {
        if (csp_now_ns() > end) {
            /* The loop cannot be freed with ops pending: leave it. */
            check_error(&w->ck, "loop executor idle for %d s",
                        (int)(STALL_NS / SEC));
            return NULL;
        }
        if (csp_loop_wait(loop, 1000) < 0)
            check_error(&w->ck, "csp_loop_wait failed");
        if (csp_loop_run(loop, -1) > 0)
            end = deadline();
    }
    csp_loop_free(loop);
    return NULL;
}

static void cb_start(struct wl_cb *w)
{
    check_init(&w->ck, WL_CB, round_no, values, 1, NULL);
    w->ch = chan(&w->ck, CSP_BUF_FIXED, 4);
    w->done = chan(&w->ck, CSP_BUF_FIXED, 4);
    atomic_store(&w->producers, 2);
    for (int k = 0; k < 2; k++) {
        w->prod[k] = (struct chain){
            .w = w, .loop = k, .i = values * k / 2, .hi = values * (k + 1) / 2};
        w->cons[k] = (struct chain){.w = w, .loop = k};
    }
    w->prod[0].ex = w->cons[0].ex = csp_rt_executor(rt);
    spawn(1, loop_host, w, WL_CB, "loop executor host");
    join_add(csp_chan_retain(w->done), 2, WL_CB, "pool callback chains");
    cchain_next(&w->cons[0]);
    pchain_next(&w->prod[0]);
}

static void cb_finish(struct wl_cb *w)
{
    csp_chan_release(w->ch);
    csp_chan_release(w->done);
    check_judge(&w->ck);
}

/* ------------------------------------------------------------------------
 * alts: each agent puts its own values and takes anyone's, every alts
 * offering a put of its next value on A and on B, takes from A and B, and
 * a take from a 1..4 ms timeout (so an agent with nothing left to put
 * wakes to see whether everything arrived). Exactly one op commits. */

#define NAGENT 5 /* 3 go, 1 thread, 1 callback chain */

struct wl_alts;

struct agent {
    struct wl_alts *w;
    long i, hi;
    uint64_t rng;
    long ops;
    csp_chan *tmo;
    csp_op op[5];
};

struct wl_alts {
    struct check ck;
    csp_chan *a, *b, *done;
    _Atomic long taken;
    struct agent ag[NAGENT];
};

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* An agent stops once it put all its values and every value arrived, or
 * as soon as anything went wrong (the round then fails). */
static int agent_stops(struct agent *g)
{
    struct wl_alts *w = g->w;

    return atomic_load(&w->ck.errors) > 0 ||
           (g->i >= g->hi && atomic_load(&w->taken) == w->ck.n);
}

/* Fill g->op; returns the count, 0 if a timeout cannot be made. */
static size_t agent_ops(struct agent *g)
{
    struct wl_alts *w = g->w;
    size_t k = 0;
    int rc;

    if (g->i < g->hi) {
        void *v = val_of(&w->ck, g->i);
        g->op[k++] = (csp_op){w->a, CSP_OP_PUT, v};
        g->op[k++] = (csp_op){w->b, CSP_OP_PUT, v};
    }
    g->op[k++] = (csp_op){w->a, CSP_OP_TAKE, NULL};
    g->op[k++] = (csp_op){w->b, CSP_OP_TAKE, NULL};
    rc = csp_timeout(&g->tmo, rt, 1 + next_rand(&g->rng) % 4);
    if (rc != CSP_OK) {
        check_error(&w->ck, "csp_timeout: %s", csp_errname(rc));
        return 0;
    }
    g->op[k++] = (csp_op){g->tmo, CSP_OP_TAKE, NULL};
    g->ops++;
    return k;
}

/* The alts over g->op gave RC, IDX, V: account for it. Returns 0 to stop
 * the agent (an error). */
static int agent_result(struct agent *g, int rc, size_t idx, void *v)
{
    struct wl_alts *w = g->w;
    int timed_out = g->op[idx].ch == g->tmo;

    csp_chan_release(g->tmo);
    g->tmo = NULL;
    if (timed_out) {
        if (rc == CSP_ECLOSED)
            return 1;
        check_error(&w->ck, "timeout take gave %s", csp_errname(rc));
        return 0;
    }
    if (rc != CSP_OK) {
        check_error(&w->ck, "alts gave %s", csp_errname(rc));
        return 0;
    }
    if (g->op[idx].kind == CSP_OP_PUT) {
        g->i++;
    } else {
        record(&w->ck, 0, v);
        atomic_fetch_add(&w->taken, 1);
    }
    return 1;
}

static void *agent_go(void *arg)
{
    struct agent *g = arg;

    while (!agent_stops(g)) {
        size_t n = agent_ops(g), idx = 0;
        void *v = NULL;
        int rc;
        if (n == 0)
            break;
        rc = csp_alts(g->op, n, 0, &idx, &v);
        if (rc == CSP_EINVAL || rc == CSP_EBUSY || rc == CSP_EPERM) {
            check_error(&g->w->ck, "csp_alts: %s", csp_errname(rc));
            csp_chan_release(g->tmo);
            break;
        }
        if (!agent_result(g, rc, idx, v))
            break;
    }
    add_ops(g->ops);
    return NULL;
}

static void *agent_thread(void *arg)
{
    struct agent *g = arg;

    while (!agent_stops(g)) {
        size_t n = agent_ops(g), idx = 0;
        void *v = NULL;
        int rc;
        if (n == 0)
            break;
        rc = csp_alts_blocking(g->op, n, 0, deadline(), &idx, &v);
        if (rc != CSP_OK && rc != CSP_ECLOSED) {
            check_error(&g->w->ck, "csp_alts_blocking: %s", csp_errname(rc));
            csp_chan_release(g->tmo);
            break;
        }
        if (!agent_result(g, rc, idx, v))
            break;
    }
    add_ops(g->ops);
    return NULL;
}

static void agent_cb_next(struct agent *g);

static void agent_cb_finish(struct agent *g)
{
    add_ops(g->ops);
    if (csp_chan_offer(g->w->done, V(1)) != CSP_OK)
        check_error(&g->w->ck, "done channel full");
}

static void agent_cb_done(void *ud, int rc, size_t idx, void *v)
{
    struct agent *g = ud;

    if (agent_result(g, rc, idx, v))
        agent_cb_next(g);
    else
        agent_cb_finish(g);
}

static void agent_cb_next(struct agent *g)
{
    while (!agent_stops(g)) {
        size_t n = agent_ops(g), idx = 0;
        void *v = NULL;
        int rc;
        if (n == 0)
            break;
        rc = csp_alts_cb(g->op, n, 0, &idx, &v, NULL, agent_cb_done, g, NULL);
        if (rc == CSP_PENDING)
            return;
        if (rc != CSP_OK && rc != CSP_ECLOSED) {
            check_error(&g->w->ck, "csp_alts_cb: %s", csp_errname(rc));
            csp_chan_release(g->tmo);
            break;
        }
        if (!agent_result(g, rc, idx, v))
            break;
    }
    agent_cb_finish(g);
}

static void alts_start(struct wl_alts *w)
{
    check_init(&w->ck, WL_ALTS, round_no, values, 1, NULL);
    w->a = chan(&w->ck, CSP_BUF_NONE, 0);
    w->b = chan(&w->ck, CSP_BUF_FIXED, 2);
    w->done = chan(&w->ck, CSP_BUF_FIXED, 1);
    atomic_store(&w->taken, 0);
    for (int k = 0; k < NAGENT; k++)
        w->ag[k] = (struct agent){.w = w,
                                  .i = values * k / NAGENT,
                                  .hi = values * (k + 1) / NAGENT,
                                  .rng = (uint64_t)round_no * 7919 + 17 +
                                         (uint64_t)k * 104729};
    for (int k = 0; k < 3; k++)
        spawn(0, agent_go, &w->ag[k], WL_ALTS, "go alts agent");
    spawn(1, agent_thread, &w->ag[3], WL_ALTS, "thread alts agent");
    join_add(csp_chan_retain(w->done), 1, WL_ALTS, "callback alts agent");
    agent_cb_next(&w->ag[4]);
}

static void alts_finish(struct wl_alts *w)
{
    if (csp_chan_count(w->b) != 0)
        check_error(&w->ck, "%zu values left in B", csp_chan_count(w->b));
    csp_chan_release(w->a);
    csp_chan_release(w->b);
    csp_chan_release(w->done);
    check_judge(&w->ck);
}

/* ------------------------------------------------------------------------
 * pipeline: to_chan -> pipeline(4, map mark) -> into. Odd rounds use
 * pipeline_blocking. The output must be every value, marked, in order. */

struct wl_pipeline {
    struct check ck;
    csp_chan *into;
};

struct packed {
    size_t n;
    void *v[];
};

static void *pack(void *ud, void **vals, size_t n)
{
    struct packed *p = malloc(sizeof *p + n * sizeof(void *));

    (void)ud;
    if (p == NULL)
        return NULL;
    p->n = n;
    memcpy(p->v, vals, n * sizeof(void *));
    return p;
}

static void *mark(void *ud, void *v)
{
    (void)ud;
    return V(U(v) | MARK_BIT);
}

static void pipeline_start(struct wl_pipeline *w)
{
    void **vals = malloc((size_t)values * sizeof(void *));
    csp_chan *from, *to;
    csp_xform *xf;
    int rc;

    check_init(&w->ck, WL_PIPELINE, round_no, values, 1, NULL);
    if (vals == NULL)
        fail("out of memory");
    for (long i = 0; i < values; i++)
        vals[i] = val_of(&w->ck, i);
    if ((rc = csp_to_chan(&from, rt, vals, (size_t)values)) != CSP_OK)
        fail("pipeline: csp_to_chan: %s", csp_strerror(rc));
    free(vals);
    to = chan(&w->ck, CSP_BUF_FIXED, 8);
    if ((rc = csp_xf_map(&xf, rt, mark, NULL)) != CSP_OK)
        fail("pipeline: csp_xf_map: %s", csp_strerror(rc));
    rc = round_no % 2
             ? csp_pipeline_blocking(rt, 4, to, xf, from, 1, NULL, NULL)
             : csp_pipeline(rt, 4, to, xf, from, 1, NULL, NULL);
    if (rc != CSP_OK)
        fail("pipeline: csp_pipeline: %s", csp_strerror(rc));
    csp_xform_release(xf);
    if ((rc = csp_into(&w->into, rt, to, pack, NULL)) != CSP_OK)
        fail("pipeline: csp_into: %s", csp_strerror(rc));
    csp_chan_release(from);
    csp_chan_release(to);
}

static void pipeline_finish(struct wl_pipeline *w)
{
    struct packed *p = result_of(w->into, WL_PIPELINE, "into");

    if (p == NULL)
        fail("workload pipeline: into gave no value");
    for (size_t k = 0; k < p->n; k++) {
        if (!(U(p->v[k]) & MARK_BIT))
            check_error(&w->ck, "value at %zu bypassed the transform", k);
        if ((U(p->v[k]) & IDX_MASK) != k + 1)
            check_error(&w->ck, "value at %zu out of order", k);
        record(&w->ck, 0, p->v[k]);
    }
    add_ops((long)p->n);
    free(p);
    check_judge(&w->ck);
}

/* ------------------------------------------------------------------------
 * mult: onto_chan -> src (fixed 8) -> mult -> three taps: fixed(4) read
 * by a go consumer, unbuffered read by a thread, fixed(1) reduced. Every
 * tap gets every value. */

struct sinkref {
    struct check *ck;
    int sink;
};

static void *count_into(void *ud, void *acc, void *v, int *stop)
{
    struct sinkref *s = ud;

    (void)stop;
    record(s->ck, s->sink, v);
    return V(U(acc) + 1);
}

struct wl_mult {
    struct check ck;
    csp_chan *onto_done, *reduced;
    struct party cons[2];
    struct sinkref ref;
};

static void mult_start(struct wl_mult *w)
{
    void **vals = malloc((size_t)values * sizeof(void *));
    csp_chan *src, *tap[3];
    csp_mult *m;
    int rc;

    check_init(&w->ck, WL_MULT, round_no, values, 3, NULL);
    if (vals == NULL)
        fail("out of memory");
    src = chan(&w->ck, CSP_BUF_FIXED, 8);
    tap[0] = chan(&w->ck, CSP_BUF_FIXED, 4);
    tap[1] = chan(&w->ck, CSP_BUF_NONE, 0);
    tap[2] = chan(&w->ck, CSP_BUF_FIXED, 1);
    if ((rc = csp_mult_new(&m, rt, src)) != CSP_OK)
        fail("mult: csp_mult_new: %s", csp_strerror(rc));
    for (int k = 0; k < 3; k++)
        if ((rc = csp_mult_tap(m, tap[k], 1)) != CSP_OK)
            fail("mult: csp_mult_tap: %s", csp_strerror(rc));
    csp_mult_release(m);
    for (int k = 0; k < 2; k++) {
        w->cons[k] = (struct party){
            .ck = &w->ck, .ch = csp_chan_retain(tap[k]), .sink = k};
        spawn(k, consumer, &w->cons[k], WL_MULT,
              k ? "thread tap consumer" : "go tap consumer");
    }
    w->ref = (struct sinkref){&w->ck, 2};
    rc = csp_reduce(&w->reduced, rt, tap[2], count_into, V(1), &w->ref);
    if (rc != CSP_OK)
        fail("mult: csp_reduce: %s", csp_strerror(rc));
    for (long i = 0; i < values; i++)
        vals[i] = val_of(&w->ck, i);
    rc = csp_onto_chan(rt, src, vals, (size_t)values, 1, &w->onto_done);
    if (rc != CSP_OK)
        fail("mult: csp_onto_chan: %s", csp_strerror(rc));
    free(vals);
    join_add(csp_chan_retain(w->onto_done), 0, WL_MULT, "onto_chan");
    csp_chan_release(src);
    for (int k = 0; k < 3; k++)
        csp_chan_release(tap[k]);
}

static void mult_finish(struct wl_mult *w)
{
    uintptr_t n = U(result_of(w->reduced, WL_MULT, "reduce")) - 1;

    if (n != (uintptr_t)values)
        check_error(&w->ck, "reduce counted %lu values", (unsigned long)n);
    csp_chan_release(w->onto_done);
    add_ops(values);
    check_judge(&w->ck);
}

/* ------------------------------------------------------------------------
 * pubsub: a go producer -> src -> pub by index % 4. Topic 0 has two
 * subscribers (sinks 0 and 1, go consumers), topics 1 and 2 one each,
 * merged and reduced (sink 2), topic 3 one (sink 3, a go consumer).
 * Topics 0 and 2 have fixed(8) topic channels, 1 and 3 unbuffered. */

static int pub_wants(int sink, long i)
{
    static const int topic_of_sink[4] = {0, 0, -1, 3};

    if (sink == 2)
        return i % 4 == 1 || i % 4 == 2;
    return i % 4 == topic_of_sink[sink];
}

static uint64_t topic_of(void *ud, void *v)
{
    (void)ud;
    return ((U(v) & IDX_MASK) - 1) % 4;
}

static void topic_buf(void *ud, uint64_t topic, int *kind, size_t *cap)
{
    (void)ud;
    *kind = topic % 2 ? CSP_BUF_NONE : CSP_BUF_FIXED;
    *cap = topic % 2 ? 0 : 8;
}

struct wl_pubsub {
    struct check ck;
    csp_chan *reduced;
    _Atomic int left;
    struct party prod, cons[3];
    struct sinkref ref;
};

static void pubsub_start(struct wl_pubsub *w)
{
    csp_chan *src, *sub[5], *merged;
    static const uint64_t topic[5] = {0, 0, 1, 2, 3};
    static const int sink_of[5] = {0, 1, 2, 2, 3};
    csp_pub *p;
    int rc;

    check_init(&w->ck, WL_PUBSUB, round_no, values, 4, pub_wants);
    src = chan(&w->ck, CSP_BUF_FIXED, 16);
    if ((rc = csp_pub_new(&p, rt, src, topic_of, topic_buf, NULL)) != CSP_OK)
        fail("pubsub: csp_pub_new: %s", csp_strerror(rc));
    for (int k = 0; k < 5; k++) {
        sub[k] = k % 2 ? chan(&w->ck, CSP_BUF_NONE, 0)
                       : chan(&w->ck, CSP_BUF_FIXED, 4);
        if ((rc = csp_pub_sub(p, topic[k], sub[k], 1)) != CSP_OK)
            fail("pubsub: csp_pub_sub: %s", csp_strerror(rc));
    }
    csp_pub_release(p);
    rc = csp_merge(&merged, rt, &sub[2], 2, CSP_BUF_FIXED, 4);
    if (rc != CSP_OK)
        fail("pubsub: csp_merge: %s", csp_strerror(rc));
    w->ref = (struct sinkref){&w->ck, 2};
    rc = csp_reduce(&w->reduced, rt, merged, count_into, V(1), &w->ref);
    if (rc != CSP_OK)
        fail("pubsub: csp_reduce: %s", csp_strerror(rc));
    csp_chan_release(merged);
    for (int k = 0, c = 0; k < 5; k++) {
        if (sink_of[k] == 2)
            continue;
        w->cons[c] = (struct party){
            .ck = &w->ck, .ch = csp_chan_retain(sub[k]), .sink = sink_of[k]};
        spawn(0, consumer, &w->cons[c++], WL_PUBSUB, "subscriber");
    }
    atomic_store(&w->left, 1);
    w->prod = (struct party){.ck = &w->ck,
                             .ch = csp_chan_retain(src),
                             .lo = 0,
                             .hi = values,
                             .left = &w->left};
    spawn(0, producer, &w->prod, WL_PUBSUB, "go producer");
    csp_chan_release(src);
    for (int k = 0; k < 5; k++)
        csp_chan_release(sub[k]);
}

static void pubsub_finish(struct wl_pubsub *w)
{
    uintptr_t n = U(result_of(w->reduced, WL_PUBSUB, "reduce")) - 1;
    uintptr_t want = 0;

    for (long i = 0; i < values; i++)
        want += (uintptr_t)pub_wants(2, i);
    if (n != want)
        check_error(&w->ck, "reduce counted %lu values, want %lu",
                    (unsigned long)n, (unsigned long)want);
    add_ops((long)n);
    check_judge(&w->ck);
}

/* ------------------------------------------------------------------------
 * Rounds. */

struct round {
    struct wl_parties go, threads;
    struct wl_cb cb;
    struct wl_alts alts;
    struct wl_pipeline pipeline;
    struct wl_mult mult;
    struct wl_pubsub pubsub;
};

static void run_round(struct round *r)
{
    memset(r, 0, sizeof *r);
    parties_start(&r->go, WL_GO, CSP_BUF_FIXED, 16, "PPPPCCCC");
    parties_start(&r->threads, WL_THREADS, CSP_BUF_NONE, 0, "ppPccC");
    cb_start(&r->cb);
    alts_start(&r->alts);
    pipeline_start(&r->pipeline);
    mult_start(&r->mult);
    pubsub_start(&r->pubsub);
    join_all();
    parties_finish(&r->go);
    parties_finish(&r->threads);
    cb_finish(&r->cb);
    alts_finish(&r->alts);
    pipeline_finish(&r->pipeline);
    mult_finish(&r->mult);
    pubsub_finish(&r->pubsub);
}

/* Wait until the runtime's counters are back at their baseline: the
 * combinators' go processes finish, and free their channels, after the
 * values they moved arrived, and a timeout an agent stopped waiting for
 * still fires. This polls a state with a deadline (no timed guess); it
 * yields first, then naps 1 ms between looks to leave the cores to the
 * runtime. Returns the wait in ms. */
static long settle(void)
{
    int64_t t0 = csp_now_ns(), end = t0 + STALL_NS;

    for (long spins = 0;; spins++) {
        int64_t c = stat_of(CSP_STAT_CHANS_LIVE),
                o = stat_of(CSP_STAT_OPS_PENDING),
                p = stat_of(CSP_STAT_PROCS_LIVE),
                t = stat_of(CSP_STAT_TIMERS_PENDING);
        if (c == base_chans && o == base_ops && p == base_procs &&
            t == base_timers)
            break;
        if (csp_now_ns() > end)
            fail("after the round: chans live %lld (baseline %lld), ops "
                 "pending %lld (%lld), procs live %lld (%lld), timers "
                 "pending %lld (%lld) for %d s",
                 (long long)c, (long long)base_chans, (long long)o,
                 (long long)base_ops, (long long)p, (long long)base_procs,
                 (long long)t, (long long)base_timers, (int)(STALL_NS / SEC));
        if (spins < 100)
            sched_yield();
        else
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return (long)((csp_now_ns() - t0) / 1000000);
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--seconds N (3600)] [--values N (%ld)]\n",
            argv0, values);
    exit(2);
}

int main(int argc, char **argv)
{
    long seconds = 3600;
    int64_t end, next_report;
    long settle_max = 0;
    static struct round r;

    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = strtol(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--values") == 0)
            values = strtol(argv[++i], NULL, 10);
        else
            usage(argv[0]);
    }
    if (seconds < 1 || values < NAGENT * 2 || values > (long)IDX_MASK - 1)
        usage(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    rt = csp_rt_default();
    if (rt == NULL)
        fail("no default runtime");
    t_start = csp_now_ns();
    end = t_start + (int64_t)seconds * SEC;
    next_report = t_start + REPORT_EVERY_NS;
    base_chans = stat_of(CSP_STAT_CHANS_LIVE);
    base_ops = stat_of(CSP_STAT_OPS_PENDING);
    base_procs = stat_of(CSP_STAT_PROCS_LIVE);
    base_timers = stat_of(CSP_STAT_TIMERS_PENDING);
    rss_now = rss_kib();
    printf("soak: C, default runtime, %ld values per workload per round, %d "
           "workloads, %ld s; baseline chans %lld ops %lld procs %lld "
           "timers %lld, rss %ld KiB\n",
           values, WL_N, seconds, (long long)base_chans, (long long)base_ops,
           (long long)base_procs, (long long)base_timers, rss_now);
    do {
        long waited;
        round_no++;
        run_round(&r);
        waited = settle();
        if (waited > settle_max)
            settle_max = waited;
        rss_now = rss_kib();
        if (round_no == WARMUP_ROUNDS)
            rss_base = rss_now;
        if (csp_now_ns() >= next_report || round_no == WARMUP_ROUNDS) {
            printf("soak: %4.0f s round %ld ops %lld rss %ld KiB chans %lld "
                   "ops pending %lld procs %lld timers %lld settle max %ld "
                   "ms\n",
                   (double)(csp_now_ns() - t_start) / 1e9, round_no,
                   (long long)atomic_load(&total_ops), rss_now,
                   (long long)stat_of(CSP_STAT_CHANS_LIVE),
                   (long long)stat_of(CSP_STAT_OPS_PENDING),
                   (long long)stat_of(CSP_STAT_PROCS_LIVE),
                   (long long)stat_of(CSP_STAT_TIMERS_PENDING), settle_max);
            while (next_report <= csp_now_ns())
                next_report += REPORT_EVERY_NS;
        }
    } while (csp_now_ns() < end || round_no < WARMUP_ROUNDS);
    rss_now = rss_kib();
    summary();
    if (!RSS_JUDGED)
        printf("soak: rss bound not judged under AddressSanitizer\n");
    else if (rss_now >
             rss_base + rss_base * RSS_SLACK_PCT / 100 + RSS_SLACK_KIB) {
        printf("soak: FAIL rss grew from %ld KiB to %ld KiB (bound: %d%% + "
               "%d KiB)\n",
               rss_base, rss_now, RSS_SLACK_PCT, RSS_SLACK_KIB);
        return 1;
    }
    printf("soak: PASS\n");
    return 0;
}
