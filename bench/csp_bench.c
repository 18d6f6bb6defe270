/* csp_bench.c - workloads W1-W8 of anchors/SPEC.md on csp's go
 * processes, plus the callback-only forms (W1cb, W2cb) and the
 * single-thread put+take pair on a fixed(1024) channel (P1).
 *
 *   csp_bench [scale] [W1 W2 ...]     (scale multiplies every N; default 1)
 *
 * Prints one line per workload in SPEC.md's format, e.g.
 *   W1 pingpong: 123.4 ns/round-trip
 * Every workload checks its result and exits non-zero if it is wrong.
 * CSP_THREADS sets the worker count (default: the CPUs); CSP_BENCH_STACK
 * the stack bytes each process asks for (default 16384; 0: the runtime's
 * default); CSP_BENCH_SMALL=1 the small-stack class (CSP_GO_SMALL_STACK)
 * where csp has one; CSP_BENCH_GUARDS the guarded stacks at most. Timing follows
 * SPEC.md: from before the processes are spawned (W2-W6, W8; W6 also
 * times creating its channels) or right after (W1, W7), until main has
 * the last value. "main" is itself a go process here, as in Go.
 */
#define _GNU_SOURCE
#include <csp.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

static double scale = 1.0;
static csp_rt *rt;
static atomic_long nallocs; /* allocations (not frees) through rt */

/* The runtime's allocator: realloc/free, counting allocations so that
 * W1, W2 and P1 can show allocations per op in steady state. */
static void *counting_alloc(void *ud, void *ptr, size_t old, size_t size)
{
    (void)ud;
    (void)old;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    atomic_fetch_add_explicit(&nallocs, 1, memory_order_relaxed);
    return realloc(ptr, size);
}

static long allocs(void)
{
    return atomic_load_explicit(&nallocs, memory_order_relaxed);
}

static long scaled(long base)
{
    long v = (long)(base * scale + 0.5);
    return v < 1 ? 1 : v;
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "check failed: %s\n", what);
        exit(1);
    }
}

static void ok(int rc, const char *what)
{
    if (rc != CSP_OK) {
        fprintf(stderr, "%s: %s\n", what, csp_strerror(rc));
        exit(1);
    }
}

static csp_chan *chan(int buf, size_t cap)
{
    csp_chan *ch;

    ok(csp_chan_new(&ch, rt, buf, cap, NULL, NULL), "csp_chan_new");
    return ch;
}

/* The stack every workload's process asks for: CSP_BENCH_STACK bytes
 * (default 16 KiB, as Go's goroutines start small; 0: the runtime's
 * default). CSP_BENCH_SMALL=1: the small-stack class instead
 * (CSP_GO_SMALL_STACK, for processes that only move values), where the
 * runtime has one. W8's processes, which make timeouts, may have it too:
 * every csp call fits a small stack when the program binds at load time
 * (-z now). */
static size_t stack_size = 16 * 1024;
static unsigned spawn_flags;

/* Spawn FN(ARG) with the bench's stack. */
static void spawn(csp_go_fn fn, void *arg, csp_chan **res)
{
    ok(csp_go_ex(rt, fn, arg, spawn_flags, spawn_flags ? 0 : stack_size, res),
       "csp_go_ex");
}

static void put(csp_chan *ch, uintptr_t v)
{
    ok(csp_chan_put(ch, V(v)), "put");
}

static uintptr_t take(csp_chan *ch)
{
    void *v;

    ok(csp_chan_take(ch, &v), "take");
    return U(v);
}

static long rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t n = strlen(field);

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static double per(int64_t ns, long units)
{
    return (double)ns / (double)units;
}

/* ------------------------------------------------------------------------
 * W1: ping-pong; values are i+1 so that none is NULL. */

struct pp {
    csp_chan *a, *b;
};

static void *w1_echo(void *arg)
{
    struct pp *pp = arg;
    void *v;

    while (csp_chan_take(pp->a, &v) == CSP_OK)
        put(pp->b, U(v) + 1);
    csp_chan_close(pp->b);
    return NULL;
}

static void *w1(void *arg)
{
    long n = scaled(1000000);
    struct pp pp = {chan(CSP_BUF_NONE, 0), chan(CSP_BUF_NONE, 0)};
    uintptr_t s = 0;
    int64_t t0;

    (void)arg;
    long a0;

    spawn(w1_echo, &pp, NULL);
    a0 = allocs();
    t0 = csp_now_ns();
    for (long i = 1; i <= n; i++) {
        put(pp.a, (uintptr_t)i);
        s += take(pp.b);
    }
    t0 = csp_now_ns() - t0;
    a0 = allocs() - a0;
    csp_chan_close(pp.a);
    check(csp_chan_take(pp.b, &(void *){NULL}) == CSP_ECLOSED, "w1 close");
    check(s == (uintptr_t)n * (n + 1) / 2 + (uintptr_t)n, "w1 sum");
    printf("W1 pingpong: %.1f ns/round-trip %.4f allocs/round-trip\n",
           per(t0, n), (double)a0 / (double)n);
    csp_chan_release(pp.a);
    csp_chan_release(pp.b);
    return NULL;
}

/* ------------------------------------------------------------------------
 * W2, W3: one producer, one consumer. */

struct spsc {
    csp_chan *ch;
    long n;
};

static void *spsc_producer(void *arg)
{
    struct spsc *s = arg;

    for (long i = 1; i <= s->n; i++)
        put(s->ch, (uintptr_t)i);
    return NULL;
}

static void *spsc_consumer(void *arg)
{
    struct spsc *s = arg;
    uintptr_t sum = 0;

    for (long i = 0; i < s->n; i++)
        sum += take(s->ch);
    return V(sum);
}

static void spsc(const char *name, long n, int buf, size_t cap)
{
    struct spsc s = {NULL, n};
    csp_chan *res;
    long a0 = allocs();
    int64_t t0 = csp_now_ns();

    s.ch = chan(buf, cap);
    spawn(spsc_consumer, &s, &res);
    spawn(spsc_producer, &s, NULL);
    check(take(res) == (uintptr_t)n * (n + 1) / 2, "spsc sum");
    t0 = csp_now_ns() - t0;
    a0 = allocs() - a0;
    printf("%s: %.1f ns/msg %.4f allocs/msg (spawns included)\n", name,
           per(t0, n), (double)a0 / (double)n);
    csp_chan_release(res);
    csp_chan_release(s.ch);
}

static void *w2(void *arg)
{
    (void)arg;
    spsc("W2 spsc-buffered", scaled(10000000), CSP_BUF_FIXED, 1024);
    return NULL;
}

static void *w3(void *arg)
{
    (void)arg;
    spsc("W3 spsc-unbuffered", scaled(1000000), CSP_BUF_NONE, 0);
    return NULL;
}

/* ------------------------------------------------------------------------
 * W4: 4 producers, 4 consumers, one channel of capacity 1024. */

static void *w4(void *arg)
{
    long each = scaled(2500000), n = 4 * each;
    struct spsc s = {NULL, each};
    csp_chan *res[4];
    uintptr_t sum = 0;
    int64_t t0 = csp_now_ns();

    (void)arg;
    s.ch = chan(CSP_BUF_FIXED, 1024);
    for (int i = 0; i < 4; i++)
        spawn(spsc_consumer, &s, &res[i]);
    for (int i = 0; i < 4; i++)
        spawn(spsc_producer, &s, NULL);
    for (int i = 0; i < 4; i++) {
        sum += take(res[i]);
        csp_chan_release(res[i]);
    }
    t0 = csp_now_ns() - t0;
    check(sum == 4 * ((uintptr_t)each * (each + 1) / 2), "w4 sum");
    printf("W4 mpmc: %.1f ns/msg\n", per(t0, n));
    csp_chan_release(s.ch);
    return NULL;
}

/* ------------------------------------------------------------------------
 * W5: 100 producers on their own unbuffered channels, one consumer alts
 * over all 100. */

#define FAN 100

static void *w5_producer(void *arg)
{
    struct spsc *s = arg;

    for (long i = 0; i < s->n; i++)
        put(s->ch, 1);
    return NULL;
}

static void *w5(void *arg)
{
    long each = scaled(10000), n = FAN * each;
    struct spsc s[FAN];
    csp_op ops[FAN];
    uintptr_t sum = 0;
    int64_t t0 = csp_now_ns();

    (void)arg;
    for (int i = 0; i < FAN; i++) {
        s[i] = (struct spsc){chan(CSP_BUF_NONE, 0), each};
        ops[i] = (csp_op){s[i].ch, CSP_OP_TAKE, NULL};
        spawn(w5_producer, &s[i], NULL);
    }
    for (long i = 0; i < n; i++) {
        size_t idx;
        void *v;
        ok(csp_alts(ops, FAN, 0, &idx, &v), "alts");
        sum += U(v);
    }
    t0 = csp_now_ns() - t0;
    check(sum == (uintptr_t)n, "w5 sum");
    printf("W5 fan-in-alts: %.1f ns/msg\n", per(t0, n));
    for (int i = 0; i < FAN; i++)
        csp_chan_release(s[i].ch);
    return NULL;
}

/* ------------------------------------------------------------------------
 * W6: daisy chain of N processes, all parked at once. */

struct link {
    csp_chan *in, *out;
};

static void *w6_link(void *arg)
{
    struct link *l = arg;

    put(l->out, take(l->in) + 1);
    return NULL;
}

/* Reset VmHWM to the current RSS (Linux: clear_refs 5), so that the
 * rerun measures its own peak. */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");

    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* One daisy chain of N; prints ns and bytes (peak RSS growth plus page
 * table growth, VmPTE) per process under LABEL. */
static void w6_once(long n, const char *label)
{
    long base, pte0, peak, pte;
    csp_chan **c = malloc((size_t)(n + 1) * sizeof *c);
    struct link *l = malloc((size_t)n * sizeof *l);
    int64_t t0;
    uintptr_t v;
    double rss_b, pte_b;

    check(c && l, "w6 memory");
    reset_peak();
    base = rss_kb("VmRSS");
    pte0 = rss_kb("VmPTE");
    t0 = csp_now_ns();
    for (long i = 0; i <= n; i++)
        c[i] = chan(CSP_BUF_NONE, 0);
    for (long i = 0; i < n; i++) {
        l[i] = (struct link){c[i], c[i + 1]};
        spawn(w6_link, &l[i], NULL);
    }
    put(c[0], 1);
    v = take(c[n]);
    t0 = csp_now_ns() - t0;
    peak = rss_kb("VmHWM");
    pte = rss_kb("VmPTE");
    check(v == (uintptr_t)n + 1, "w6 value");
    rss_b = (double)(peak - base) * 1024 / (double)n;
    pte_b = (double)(pte - pte0) * 1024 / (double)n;
    printf("%s: %.1f ns/process %.0f B/process (RSS %.0f + page tables %.0f, "
           "peak delta)\n",
           label, per(t0, n), rss_b + pte_b, rss_b, pte_b);
    fflush(stdout);
    for (long i = 0; i <= n; i++)
        csp_chan_release(c[i]);
    free(c);
    free(l);
}

/* W6 cold, then W6warm: the same chain again in the same process, on the
 * stacks and memory the first one left behind. */
static void *w6(void *arg)
{
    long n = scaled(1000000);

    (void)arg;
    w6_once(n, "W6 spawn");
    w6_once(n, "W6warm spawn-rerun");
    return NULL;
}

/* W6w: spawn in waves of 1024, each putting its id on one channel. */

struct wave {
    csp_chan *ch;
    uintptr_t id;
};

static void *w6w_one(void *arg)
{
    struct wave *w = arg;

    put(w->ch, w->id);
    return NULL;
}

static void *w6w(void *arg)
{
    long n = scaled(1000000);
    csp_chan *ch = chan(CSP_BUF_FIXED, 1024);
    struct wave *w = malloc(1024 * sizeof *w);
    uintptr_t sum = 0;
    int64_t t0 = csp_now_ns();

    (void)arg;
    check(w != NULL, "w6w memory");
    for (long done = 0; done < n;) {
        long k = n - done < 1024 ? n - done : 1024;
        for (long j = 0; j < k; j++) {
            w[j] = (struct wave){ch, (uintptr_t)(done + j + 1)};
            spawn(w6w_one, &w[j], NULL);
        }
        for (long j = 0; j < k; j++)
            sum += take(ch);
        done += k;
    }
    t0 = csp_now_ns() - t0;
    check(sum == (uintptr_t)n * (n + 1) / 2, "w6w sum");
    printf("W6w spawn-waves: %.1f ns/process\n", per(t0, n));
    csp_chan_release(ch);
    free(w);
    return NULL;
}

/* ------------------------------------------------------------------------
 * W7: a ring of 503 processes passing one token N hops. The token counts
 * down from N+1, so it is never NULL; the process that takes 1 signals. */

#define RING 503

struct ring {
    csp_chan *in, *out, *done;
};

static void *w7_node(void *arg)
{
    struct ring *r = arg;
    void *v;

    while (csp_chan_take(r->in, &v) == CSP_OK) {
        if (U(v) == 1) {
            put(r->done, 1);
            continue;
        }
        put(r->out, U(v) - 1);
    }
    return NULL;
}

static void *w7(void *arg)
{
    long n = scaled(10000000);
    csp_chan *c[RING], *done = chan(CSP_BUF_NONE, 0), *res[RING];
    struct ring r[RING];
    int64_t t0;

    (void)arg;
    for (int i = 0; i < RING; i++)
        c[i] = chan(CSP_BUF_NONE, 0);
    for (int i = 0; i < RING; i++) {
        r[i] = (struct ring){c[i], c[(i + 1) % RING], done};
        spawn(w7_node, &r[i], &res[i]);
    }
    t0 = csp_now_ns();
    put(c[0], (uintptr_t)n + 1);
    check(take(done) == 1, "w7 token");
    t0 = csp_now_ns() - t0;
    printf("W7 ring: %.1f ns/hop\n", per(t0, n));
    for (int i = 0; i < RING; i++)
        csp_chan_close(c[i]);
    for (int i = 0; i < RING; i++) {
        csp_chan_take(res[i], &(void *){NULL});
        csp_chan_release(res[i]);
        csp_chan_release(c[i]);
    }
    csp_chan_release(done);
    return NULL;
}

/* ------------------------------------------------------------------------
 * W8: N processes each wait on a timeout of 1..100 ms, then report their
 * lateness (in ns, offset by 1 so it is never NULL). */

struct timer_job {
    csp_chan *late;
    int ms;
};

static void *w8_one(void *arg)
{
    struct timer_job *j = arg;
    csp_chan *t;
    int64_t s = csp_now_ns(), l;

    ok(csp_timeout(&t, rt, (uint64_t)j->ms), "csp_timeout");
    csp_chan_take(t, &(void *){NULL});
    l = csp_now_ns() - s - (int64_t)j->ms * 1000000;
    csp_chan_release(t);
    put(j->late, (uintptr_t)(l < 0 ? 0 : l) + 1);
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

static void *w8(void *arg)
{
    long n = scaled(100000);
    struct timer_job *j = malloc((size_t)n * sizeof *j);
    long *late = malloc((size_t)n * sizeof *late);
    csp_chan *ch = chan(CSP_BUF_FIXED, (size_t)n);
    uint64_t x = 42;
    int64_t t0;

    (void)arg;
    check(j && late, "w8 memory");
    for (long i = 0; i < n; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        j[i] = (struct timer_job){ch, 1 + (int)((x >> 33) % 100)};
    }
    t0 = csp_now_ns();
    for (long i = 0; i < n; i++)
        spawn(w8_one, &j[i], NULL);
    for (long i = 0; i < n; i++)
        late[i] = (long)take(ch) - 1;
    t0 = csp_now_ns() - t0;
    qsort(late, (size_t)n, sizeof *late, cmp_long);
    printf("W8 timers: %.1f ms total, lateness p50 %.3f ms, p99 %.3f ms, "
           "max %.3f ms\n",
           (double)t0 / 1e6, (double)late[n / 2] / 1e6,
           (double)late[n * 99 / 100] / 1e6, (double)late[n - 1] / 1e6);
    csp_chan_release(ch);
    free(j);
    free(late);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Callback-only forms: the same exchanges driven by _cb operations and
 * the inline executor, no go process involved (what a host event loop
 * built on csp does). Run from main's OS thread. */

struct cbpp {
    csp_chan *a, *b;
    long left;
    uintptr_t sum;
    csp_chan *done;
};

static void cb_echo_took(void *ud, int rc, void *v);

/* The echo side: take from a, put v+1 on b, again. */
static void cb_echo_start(struct cbpp *pp)
{
    for (;;) {
        void *v;
        int rc = csp_chan_take_cb(pp->a, &v, csp_exec_inline(), cb_echo_took,
                                  pp, NULL);
        if (rc == CSP_PENDING || rc == CSP_ECLOSED)
            return;
        cb_echo_took(pp, rc, v);
        return;
    }
}

static void cb_echo_put_done(void *ud, int rc, void *v)
{
    (void)rc;
    (void)v;
    cb_echo_start(ud);
}

static void cb_echo_took(void *ud, int rc, void *v)
{
    struct cbpp *pp = ud;

    if (rc != CSP_OK)
        return;
    rc = csp_chan_put_cb(pp->b, V(U(v) + 1), csp_exec_inline(),
                         cb_echo_put_done, pp, NULL);
    if (rc == CSP_OK)
        cb_echo_start(pp);
}

static void *w1cb(void *arg)
{
    long n = scaled(1000000);
    struct cbpp pp = {chan(CSP_BUF_NONE, 0), chan(CSP_BUF_NONE, 0), n, 0, NULL};
    int64_t t0;

    (void)arg;
    cb_echo_start(&pp); /* the echo's take is now pending */
    t0 = csp_now_ns();
    for (long i = 1; i <= n; i++) {
        void *v;
        /* The put completes the echo's take inline, which puts on b:
         * pending until our take below. */
        check(csp_chan_offer(pp.a, V(i)) == CSP_OK, "w1cb offer");
        check(csp_chan_poll(pp.b, &v) == CSP_OK, "w1cb poll");
        pp.sum += U(v);
    }
    t0 = csp_now_ns() - t0;
    check(pp.sum == (uintptr_t)n * (n + 1) / 2 + (uintptr_t)n, "w1cb sum");
    printf("W1cb pingpong-callbacks: %.1f ns/round-trip\n", per(t0, n));
    csp_chan_close(pp.a);
    csp_chan_release(pp.a);
    csp_chan_release(pp.b);
    return NULL;
}

/* P1: one thread putting and taking on a fixed(1024) channel. */
static void *p1(void *arg)
{
    long n = scaled(20000000);
    csp_chan *ch = chan(CSP_BUF_FIXED, 1024);
    uintptr_t sum = 0;
    long a0 = allocs();
    int64_t t0 = csp_now_ns();

    (void)arg;
    for (long i = 1; i <= n; i++) {
        void *v;
        csp_chan_offer(ch, V(i));
        csp_chan_poll(ch, &v);
        sum += U(v);
    }
    t0 = csp_now_ns() - t0;
    a0 = allocs() - a0;
    check(sum == (uintptr_t)n * (n + 1) / 2, "p1 sum");
    printf("P1 put-take-pair: %.1f ns/pair %.4f allocs/pair\n", per(t0, n),
           (double)a0 / (double)n);
    csp_chan_release(ch);
    return NULL;
}

/* ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    csp_go_fn fn;
    int in_go; /* run as a go process (else on main's thread) */
} workloads[] = {
    /* W6 before W8 and W6w: its cold run must not reuse their memory. */
    {"W1", w1, 1}, {"W2", w2, 1},     {"W3", w3, 1}, {"W4", w4, 1},
    {"W5", w5, 1}, {"W7", w7, 1},     {"W6", w6, 1}, {"W8", w8, 1},
    {"W6w", w6w, 1}, {"W1cb", w1cb, 0}, {"P1", p1, 0},
};

int main(int argc, char **argv)
{
    int nw = (int)(sizeof workloads / sizeof workloads[0]);
    int first = 1;

    if (argc > 1) {
        char *end;
        double s = strtod(argv[1], &end);
        if (*end == '\0' && s > 0) {
            scale = s;
            first = 2;
        }
    }
    ok(csp_rt_new(&rt, counting_alloc, NULL), "csp_rt_new");
    if (getenv("CSP_BENCH_STACK"))
        stack_size = (size_t)strtoull(getenv("CSP_BENCH_STACK"), NULL, 10);
    if (getenv("CSP_BENCH_SMALL") && atoi(getenv("CSP_BENCH_SMALL"))) {
#ifdef CSP_GO_SMALL_STACK
        spawn_flags = CSP_GO_SMALL_STACK;
#else
        fputs("csp_bench: CSP_BENCH_SMALL: this csp has no small-stack "
              "class (CSP_GO_SMALL_STACK)\n", stderr);
        return 2;
#endif
    }
    /* CSP_BENCH_GUARDS=n: guarded stacks at most (default: the runtime's). */
    if (getenv("CSP_BENCH_GUARDS"))
        ok(csp_rt_set(rt, CSP_RT_STACK_GUARDS,
                      strtol(getenv("CSP_BENCH_GUARDS"), NULL, 10)),
           "csp_rt_set");
    for (int i = 0; i < nw; i++) {
        int want = first >= argc;
        for (int a = first; a < argc && !want; a++)
            want = !strcasecmp(argv[a], workloads[i].name);
        if (!want)
            continue;
        if (workloads[i].in_go) {
            csp_chan *res;
            ok(csp_go(rt, workloads[i].fn, NULL, &res), "csp_go");
            csp_chan_take_blocking(res, &(void *){NULL}, CSP_FOREVER);
            csp_chan_release(res);
        } else {
            workloads[i].fn(NULL);
        }
        fflush(stdout);
    }
    return 0;
}
