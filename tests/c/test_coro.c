/* test_coro.c - the coro layer alone (core/coro/), no scheduler: switching
 * and argument passing, callee-saved state across switches, contexts
 * resumed on other threads, exits, and the stack pool (caches, guards,
 * canaries, oversized stacks, trimming, unmapping, resident pages).
 *
 * Tests that must crash (a guard page hit, a canary abort) run the crash
 * in a forked child and check how it died. Functions are called through
 * volatile pointers where the compiler must not see through them (so that
 * recursion really recurses and values really live across switches).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/coro/coro.h"
#include "harness.h"

/* ------------------------------------------------------------------------
 * Helpers. */

struct fixture {
    struct csp__stack_pool *pool;
    struct csp__stack_cache *cache;
    struct csp__coro main;
};

static void fx_init(struct fixture *fx, size_t size, size_t max_guarded,
                    size_t cache_max)
{
    fx->pool = csp__stack_pool_new(size, max_guarded, cache_max);
    ASSERT_NOT_NULL(fx->pool);
    fx->cache = csp__stack_cache_new(fx->pool);
    ASSERT_NOT_NULL(fx->cache);
    csp__coro_thread_init(&fx->main);
}

static void fx_fini(struct fixture *fx)
{
    csp__stack_cache_free(fx->cache);
    csp__stack_pool_free(fx->pool);
}

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static uintptr_t page_floor(const void *p)
{
    return (uintptr_t)p & ~(uintptr_t)(page_size() - 1);
}

/* Resident pages in [LO, HI) (rounded out to pages). */
static size_t resident_pages(const void *lo, const void *hi)
{
    size_t page = page_size();
    uintptr_t a = page_floor(lo);
    uintptr_t b = ((uintptr_t)hi + page - 1) & ~(uintptr_t)(page - 1);
    size_t n = (b - a) / page, count = 0;
    unsigned char vec[1024];

    ASSERT_TRUE(n <= sizeof vec);
    ASSERT_EQ(0, mincore((void *)a, b - a, vec));
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    return count;
}

/* 1 if the page holding P is mapped. */
static int is_mapped(const void *p)
{
    unsigned char vec;

    if (mincore((void *)page_floor(p), page_size(), &vec) == 0)
        return 1;
    ASSERT_EQ(ENOMEM, errno);
    return 0;
}

/* A context that answers each transfer in with 2 * arg + 1. */
struct echo {
    struct csp__coro self;
    struct csp__coro *back;
};

static void echo_entry(void *arg0, void *arg)
{
    struct echo *e = arg0;
    uintptr_t v = (uintptr_t)arg;

    for (;;)
        v = (uintptr_t)csp__coro_transfer(&e->self, e->back,
                                          (void *)(v * 2 + 1));
}

/* Run FN in a child process with no core dumps and stderr captured into
 * ERR (LEN bytes, NUL-terminated). Returns the child's wait status. */
static int in_child(void (*fn)(void), char *err, size_t len)
{
    int fds[2];
    size_t got = 0;
    int status;

    ASSERT_EQ(0, pipe(fds));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    for (;;) {
        ssize_t r = read(fds[0], err + got, len - 1 - got);
        if (r > 0 && got + (size_t)r < len - 1) {
            got += (size_t)r;
            continue;
        }
        if (r > 0) {
            got += (size_t)r;
            char sink[256];
            while (read(fds[0], sink, sizeof sink) > 0)
                ;
        }
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
    err[got] = '\0';
    close(fds[0]);
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    return status;
}

/* ------------------------------------------------------------------------
 * Switching. */

TEST(coro_transfer_passes_args_both_ways)
{
    struct fixture fx;
    struct echo e;

    fx_init(&fx, 0, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    ASSERT_NOT_NULL(s);
    e.back = &fx.main;
    csp__coro_make(&e.self, s->lo, s->size, echo_entry, &e);
    for (uintptr_t i = 0; i < 1000; i++)
        ASSERT_EQ(i * 2 + 1, (uintptr_t)csp__coro_transfer(&fx.main, &e.self,
                                                           (void *)i));
    csp__coro_destroy(&e.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

struct first {
    struct csp__coro self;
    struct csp__coro *back;
    void *arg0, *arg;
};

static void first_entry(void *arg0, void *arg)
{
    struct first *f = arg0;

    f->arg0 = arg0;
    f->arg = arg;
    csp__coro_exit(&f->self, f->back, NULL);
}

TEST(coro_first_transfer_arg_reaches_entry)
{
    struct fixture fx;
    struct first f = {.arg0 = NULL, .arg = NULL};
    int token;

    fx_init(&fx, 0, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    f.back = &fx.main;
    csp__coro_make(&f.self, s->lo, s->size, first_entry, &f);
    csp__coro_transfer(&fx.main, &f.self, &token);
    ASSERT_PTR_EQ(&f, f.arg0);
    ASSERT_PTR_EQ(&token, f.arg);
    csp__coro_destroy(&f.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

enum { RR_CTX = 50, RR_ROUNDS = 200 };

struct rr {
    struct csp__coro self;
    struct csp__coro *back;
    int id;
    int *log;
    int *nlog;
};

static void rr_entry(void *arg0, void *arg)
{
    struct rr *r = arg0;
    uintptr_t visits = 0;

    (void)arg;
    for (;;) {
        r->log[(*r->nlog)++] = r->id;
        visits++;
        csp__coro_transfer(&r->self, r->back, (void *)visits);
    }
}

TEST(coro_round_robin_resumes_each_context_where_it_parked)
{
    static int log[RR_CTX * RR_ROUNDS];
    struct fixture fx;
    struct rr ctx[RR_CTX];
    struct csp__stack *stk[RR_CTX];
    int nlog = 0;

    fx_init(&fx, 64 * 1024, 16, 64);
    for (int i = 0; i < RR_CTX; i++) {
        stk[i] = csp__stack_get(fx.cache, 0);
        ASSERT_NOT_NULL(stk[i]);
        ctx[i].back = &fx.main;
        ctx[i].id = i;
        ctx[i].log = log;
        ctx[i].nlog = &nlog;
        csp__coro_make(&ctx[i].self, stk[i]->lo, stk[i]->size, rr_entry,
                       &ctx[i]);
    }
    for (int round = 0; round < RR_ROUNDS; round++)
        for (int i = 0; i < RR_CTX; i++)
            ASSERT_EQ(round + 1, (uintptr_t)csp__coro_transfer(
                                     &fx.main, &ctx[i].self, NULL));
    ASSERT_EQ(RR_CTX * RR_ROUNDS, nlog);
    for (int k = 0; k < nlog; k++)
        ASSERT_EQ(k % RR_CTX, log[k]);
    for (int i = 0; i < RR_CTX; i++) {
        csp__stack_check(stk[i]);
        csp__coro_destroy(&ctx[i].self);
        csp__stack_put(fx.cache, stk[i]);
    }
    fx_fini(&fx);
}

/* Recursion with a fully written frame of FRAME_BYTES. The buffer is a
 * variable-length array so that ASan cannot move it to its fake stack:
 * the recursion must use the real stack. Reports the lowest frame
 * address reached through *LOWEST. */
static size_t frame_bytes = 480;
static unsigned depth_sum_impl(unsigned depth, uintptr_t *lowest);
static unsigned (*volatile depth_sum)(unsigned, uintptr_t *) = depth_sum_impl;

static unsigned depth_sum_impl(unsigned depth, uintptr_t *lowest)
{
    size_t n = *(volatile size_t *)&frame_bytes;
    volatile unsigned char buf[n];
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);

    for (unsigned i = 0; i < n; i++)
        buf[i] = (unsigned char)(depth + i);
    if (frame < *lowest)
        *lowest = frame;
    if (depth == 0)
        return buf[7];
    return depth_sum(depth - 1, lowest) + buf[depth % n];
}

struct deep {
    struct csp__coro self;
    struct csp__coro *back;
    unsigned depth;
    unsigned sum;
    uintptr_t lowest;
};

static void deep_entry(void *arg0, void *arg)
{
    struct deep *d = arg0;

    (void)arg;
    d->lowest = UINTPTR_MAX;
    d->sum = depth_sum(d->depth, &d->lowest);
    csp__coro_exit(&d->self, d->back, NULL);
}

TEST(coro_deep_recursion_within_stack_completes)
{
    struct fixture fx;
    struct deep d;
    uintptr_t lowest = UINTPTR_MAX;

    fx_init(&fx, 256 * 1024, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    d.back = &fx.main;
    d.depth = (unsigned)(s->size / 1024);
    csp__coro_make(&d.self, s->lo, s->size, deep_entry, &d);
    csp__coro_transfer(&fx.main, &d.self, NULL);
    ASSERT_EQ(depth_sum(d.depth, &lowest), d.sum);
    /* It really went deep: more than a third of the stack. */
    ASSERT_TRUE(d.lowest >= (uintptr_t)s->lo);
    ASSERT_TRUE((uintptr_t)s->lo + s->size - d.lowest > s->size / 3);
    csp__stack_check(s);
    csp__coro_destroy(&d.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

/* Callee-saved state. Eight values live across each step; STEP either
 * switches to another context (which keeps eight values of its own live
 * across its switches) or does nothing. Both runs must agree. */
static uint64_t mix_impl(uint64_t x) { return x * 0x9e3779b97f4a7c15u + 1; }
static uint64_t (*volatile mix)(uint64_t) = mix_impl;
static double fmix_impl(double x) { return x * 1.5 + 0.25; }
static double (*volatile fmix)(double) = fmix_impl;

struct pair {
    struct csp__coro *main;
    struct csp__coro *co;
};

static void step_switch(struct pair *p)
{
    csp__coro_transfer(p->main, p->co, p);
}

static void step_none(struct pair *p) { (void)p; }
static void (*volatile step_fns[2])(struct pair *) = {step_none, step_switch};

static uint64_t int_work(struct pair *p, int do_switch, int rounds)
{
    uint64_t a = mix(1), b = mix(2), c = mix(3), d = mix(4);
    uint64_t e = mix(5), f = mix(6), g = mix(7), h = mix(8);

    for (int i = 0; i < rounds; i++) {
        step_fns[do_switch](p);
        a += b;
        b ^= c << 1;
        c += d;
        d ^= e >> 3;
        e += f;
        f ^= g;
        g += h * 3;
        h ^= a;
    }
    return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h;
}

static double float_work(struct pair *p, int do_switch, int rounds)
{
    double a = fmix(1), b = fmix(2), c = fmix(3), d = fmix(4);
    double e = fmix(5), f = fmix(6), g = fmix(7), h = fmix(8);

    for (int i = 0; i < rounds; i++) {
        step_fns[do_switch](p);
        a = a * 0.5 + b;
        b = b * 0.25 + c;
        c = c * 0.75 + d;
        d = d * 0.5 + e;
        e = e * 0.25 + f;
        f = f * 0.75 + g;
        g = g * 0.5 + h;
        h = h * 0.25 + a;
    }
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h;
}

struct clobber {
    struct csp__coro self;
    struct csp__coro *back;
    int floats;
};

/* The other side: its own live values, different on every switch. */
static void clobber_entry(void *arg0, void *arg)
{
    struct clobber *k = arg0;
    uint64_t a = mix(11), b = mix(12), c = mix(13), d = mix(14);
    uint64_t e = mix(15), f = mix(16), g = mix(17), h = mix(18);
    double fa = fmix(11), fb = fmix(12), fc = fmix(13), fd = fmix(14);
    double fe = fmix(15), ff = fmix(16), fg = fmix(17), fh = fmix(18);

    (void)arg;
    for (;;) {
        csp__coro_transfer(&k->self, k->back, NULL);
        a = mix(a + h);
        b = mix(b + a);
        c = mix(c + b);
        d = mix(d + c);
        e = mix(e + d);
        f = mix(f + e);
        g = mix(g + f);
        h = mix(h + g);
        fa = fmix(fa + fh) * 0.5;
        fb = fmix(fb + fa) * 0.5;
        fc = fmix(fc + fb) * 0.5;
        fd = fmix(fd + fc) * 0.5;
        fe = fmix(fe + fd) * 0.5;
        ff = fmix(ff + fe) * 0.5;
        fg = fmix(fg + ff) * 0.5;
        fh = fmix(fh + fg) * 0.5;
        if ((a ^ b ^ c ^ d ^ e ^ f ^ g ^ h) == 0 &&
            fa + fb + fc + fd + fe + ff + fg + fh == 0)
            k->floats = -1; /* keeps every value live; never true */
    }
}

TEST(coro_callee_saved_registers_survive_switches)
{
    struct fixture fx;
    struct clobber k;
    struct pair p;

    fx_init(&fx, 0, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    k.back = &fx.main;
    k.floats = 0;
    csp__coro_make(&k.self, s->lo, s->size, clobber_entry, &k);
    p.main = &fx.main;
    p.co = &k.self;
    uint64_t want = int_work(&p, 0, 1000);
    ASSERT_TRUE(want == int_work(&p, 1, 1000));
    csp__coro_destroy(&k.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

TEST(coro_float_registers_survive_switches)
{
    struct fixture fx;
    struct clobber k;
    struct pair p;

    fx_init(&fx, 0, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    k.back = &fx.main;
    k.floats = 1;
    csp__coro_make(&k.self, s->lo, s->size, clobber_entry, &k);
    p.main = &fx.main;
    p.co = &k.self;
    double want = float_work(&p, 0, 1000);
    ASSERT_TRUE(want == float_work(&p, 1, 1000));
    csp__coro_destroy(&k.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

struct align {
    struct csp__coro self;
    struct csp__coro *back;
    uintptr_t buf;
    uintptr_t frame;
};

static void align_entry(void *arg0, void *arg)
{
    struct align *al = arg0;
    _Alignas(16) unsigned char buf[16];
    volatile uintptr_t addr = (uintptr_t)buf;

    (void)arg;
    buf[0] = 1;
    al->buf = addr + buf[0] - 1;
    al->frame = (uintptr_t)__builtin_frame_address(0);
    csp__coro_exit(&al->self, al->back, NULL);
}

TEST(coro_entry_runs_on_16_byte_aligned_stack)
{
    struct fixture fx;
    struct align al;

    fx_init(&fx, 0, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    al.back = &fx.main;
    csp__coro_make(&al.self, s->lo, s->size, align_entry, &al);
    csp__coro_transfer(&fx.main, &al.self, NULL);
    /* A misaligned stack would misalign an _Alignas(16) local (unless
     * ASan moved it to its fake stack) and the frame address. */
    ASSERT_EQ(0, al.buf % 16);
    ASSERT_EQ(0, al.frame % 16);
    ASSERT_TRUE(al.frame > (uintptr_t)s->lo);
    ASSERT_TRUE(al.frame < (uintptr_t)s->lo + s->size);
    csp__coro_destroy(&al.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

static void exit_entry(void *arg0, void *arg)
{
    struct echo *e = arg0;

    csp__coro_exit(&e->self, e->back, (void *)((uintptr_t)arg + 1));
}

TEST(coro_exit_hands_arg_to_target)
{
    struct fixture fx;
    struct echo e;

    fx_init(&fx, 0, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    e.back = &fx.main;
    csp__coro_make(&e.self, s->lo, s->size, exit_entry, &e);
    ASSERT_EQ(42, (uintptr_t)csp__coro_transfer(&fx.main, &e.self,
                                                 (void *)41));
    csp__coro_destroy(&e.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

TEST(coro_exited_context_stack_runs_new_context)
{
    struct fixture fx;
    struct echo e;

    fx_init(&fx, 0, 16, 4);
    for (uintptr_t i = 0; i < 100; i++) {
        struct csp__stack *s = csp__stack_get(fx.cache, 0);
        ASSERT_NOT_NULL(s);
        e.back = &fx.main;
        csp__coro_make(&e.self, s->lo, s->size, exit_entry, &e);
        ASSERT_EQ(i + 1, (uintptr_t)csp__coro_transfer(&fx.main, &e.self,
                                                       (void *)i));
        csp__stack_check(s);
        csp__coro_destroy(&e.self);
        csp__stack_put(fx.cache, s);
    }
    ASSERT_EQ(1, csp__stack_pool_mapped(fx.pool));
    fx_fini(&fx);
}

/* Migration: one context resumed by several threads in turn. Each
 * transfer in passes the resumer's context, and the context reports the
 * thread it runs on. */
enum { MIG_THREADS = 4, MIG_ROUNDS = 2000 };

static pthread_t (*volatile self_fn)(void) = pthread_self;

struct mig {
    struct csp__coro self;
    pthread_t seen;
    long wrong; /* resumed on a thread other than the resumer's */
};

static void mig_entry(void *arg0, void *arg)
{
    struct mig *m = arg0;
    struct csp__coro *back = arg;

    for (;;) {
        m->seen = self_fn();
        back = csp__coro_transfer(&m->self, back, NULL);
    }
}

static void *mig_thread(void *arg)
{
    struct mig *m = arg;
    struct csp__coro me;

    csp__coro_thread_init(&me);
    for (int i = 0; i < MIG_ROUNDS; i++) {
        csp__coro_transfer(&me, &m->self, &me);
        if (!pthread_equal(m->seen, pthread_self()))
            m->wrong++;
    }
    return NULL;
}

TEST(coro_context_resumes_on_another_thread)
{
    struct fixture fx;
    struct mig m;

    fx_init(&fx, 0, 16, 4);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    m.wrong = 0;
    csp__coro_make(&m.self, s->lo, s->size, mig_entry, &m);
    csp__coro_transfer(&fx.main, &m.self, &fx.main);
    ASSERT_TRUE(pthread_equal(m.seen, pthread_self()));
    for (int t = 0; t < MIG_THREADS; t++) {
        pthread_t th;
        ASSERT_EQ(0, pthread_create(&th, NULL, mig_thread, &m));
        ASSERT_EQ(0, pthread_join(th, NULL));
    }
    ASSERT_EQ(0, m.wrong);
    csp__coro_transfer(&fx.main, &m.self, &fx.main);
    ASSERT_TRUE(pthread_equal(m.seen, pthread_self()));
    csp__stack_check(s);
    csp__coro_destroy(&m.self);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

/* ------------------------------------------------------------------------
 * Stacks. */

TEST(stack_memory_is_aligned_and_writable)
{
    struct fixture fx;

    fx_init(&fx, 40 * 1024, 1, 4);
    struct csp__stack *g = csp__stack_get(fx.cache, 0);
    struct csp__stack *u = csp__stack_get(fx.cache, 0);
    ASSERT_TRUE(g->guarded);
    ASSERT_FALSE(u->guarded);
    ASSERT_EQ(0, (uintptr_t)g->lo % 16);
    ASSERT_EQ(0, (uintptr_t)u->lo % 16);
    ASSERT_TRUE(g->size >= 40 * 1024);
    ASSERT_TRUE(u->size >= 40 * 1024 - 16);
    memset(g->lo, 0xa5, g->size);
    memset(u->lo, 0x5a, u->size);
    csp__stack_check(g);
    csp__stack_check(u);
    csp__stack_put(fx.cache, g);
    csp__stack_put(fx.cache, u);
    fx_fini(&fx);
}

TEST(stack_get_serves_the_smallest_class_holding_the_size)
{
    struct fixture fx;

    fx_init(&fx, 256 * 1024, 64, 8);
    static const size_t asks[] = {1, 2048, 2049, 16 * 1024, 16 * 1024 + 1,
                                  1000 * 1000};
    static const size_t want[] = {2048, 2048, 4096, 16 * 1024, 32 * 1024,
                                  1024 * 1024};
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
        struct csp__stack *s = csp__stack_get(fx.cache, asks[i]);
        ASSERT_NOT_NULL(s);
        ASSERT_TRUE(s->size <= want[i]);
        ASSERT_TRUE(s->size >= want[i] - 16);
        ASSERT_TRUE(s->size >= asks[i] || s->size == want[i] - 16);
        memset(s->lo, 0x5a, s->size);
        csp__stack_check(s);
        csp__stack_put(fx.cache, s);
    }
    fx_fini(&fx);
}

TEST(stack_get_zero_serves_the_pools_default_size)
{
    struct fixture fx;

    fx_init(&fx, 64 * 1024, 64, 8);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    ASSERT_EQ(64 * 1024, s->size);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

TEST(stack_small_classes_have_canaries_not_guard_pages)
{
    struct fixture fx;

    fx_init(&fx, 256 * 1024, 1024, 8);
    for (int c = 0; CSP__STACK_CLASS_SIZE(c) < CSP__STACK_GUARD_MIN; c++) {
        struct csp__stack *s = csp__stack_get(fx.cache, CSP__STACK_CLASS_SIZE(c));
        ASSERT_FALSE(s->guarded);
        csp__stack_put(fx.cache, s);
    }
    struct csp__stack *g = csp__stack_get(fx.cache, CSP__STACK_GUARD_MIN);
    ASSERT_TRUE(g->guarded);
    csp__stack_put(fx.cache, g);
    fx_fini(&fx);
}

TEST(stack_small_stacks_are_packed_two_to_a_page)
{
    struct fixture fx;
    enum { N = 5 }; /* the first get and the half cache it refills */
    struct csp__stack *s[N];
    int seen[N] = {0};

    fx_init(&fx, 256 * 1024, 64, 8);
    for (int i = 0; i < N; i++)
        s[i] = csp__stack_get(fx.cache, 2048);
    uintptr_t lo = (uintptr_t)s[0]->lo;
    for (int i = 1; i < N; i++)
        lo = (uintptr_t)s[i]->lo < lo ? (uintptr_t)s[i]->lo : lo;
    /* Consecutive 2 KiB slots: N stacks in N/2 pages and a half. */
    for (int i = 0; i < N; i++) {
        uintptr_t off = (uintptr_t)s[i]->lo - lo;
        ASSERT_EQ(0, off % 2048);
        ASSERT_TRUE(off / 2048 < N);
        seen[off / 2048]++;
    }
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(1, seen[i]);
        csp__stack_put(fx.cache, s[i]);
    }
    fx_fini(&fx);
}

TEST(stack_put_returns_a_stack_to_its_own_class)
{
    struct fixture fx;

    fx_init(&fx, 256 * 1024, 64, 8);
    struct csp__stack *small = csp__stack_get(fx.cache, 2048);
    csp__stack_put(fx.cache, small);
    struct csp__stack *big = csp__stack_get(fx.cache, 64 * 1024);
    ASSERT_TRUE(big != small);
    ASSERT_TRUE(big->size >= 64 * 1024 - 16);
    ASSERT_PTR_EQ(small, csp__stack_get(fx.cache, 2048));
    csp__stack_put(fx.cache, big);
    csp__stack_put(fx.cache, small);
    fx_fini(&fx);
}

TEST(stack_small_class_refill_carves_a_batch_in_one_go)
{
    struct fixture fx;

    fx_init(&fx, 256 * 1024, 64, 64);
    struct csp__stack *s = csp__stack_get(fx.cache, 2048);
    int64_t mapped = csp__stack_pool_mapped(fx.pool);
    ASSERT_TRUE(mapped > 1);
    /* The batch serves the next gets with no new stack. */
    struct csp__stack *more[8];
    for (int i = 0; i < 8; i++)
        more[i] = csp__stack_get(fx.cache, 2048);
    ASSERT_EQ(mapped, csp__stack_pool_mapped(fx.pool));
    for (int i = 0; i < 8; i++)
        csp__stack_put(fx.cache, more[i]);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

TEST(stack_get_after_put_reuses_cached_stack)
{
    struct fixture fx;

    fx_init(&fx, 0, 16, 8);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    ASSERT_EQ(1, csp__stack_pool_mapped(fx.pool));
    ASSERT_EQ(0, csp__stack_pool_reused(fx.pool));
    csp__stack_put(fx.cache, s);
    for (int i = 1; i <= 10; i++) {
        ASSERT_PTR_EQ(s, csp__stack_get(fx.cache, 0));
        csp__stack_put(fx.cache, s);
        ASSERT_EQ(i, csp__stack_pool_reused(fx.pool));
    }
    ASSERT_EQ(1, csp__stack_pool_mapped(fx.pool));
    fx_fini(&fx);
}

TEST(stack_cache_spills_to_pool_past_cache_max)
{
    struct csp__stack_pool *pool = csp__stack_pool_new(32 * 1024, 64, 4);
    struct csp__stack_cache *c1 = csp__stack_cache_new(pool);
    struct csp__stack_cache *c2 = csp__stack_cache_new(pool);
    struct csp__stack *s[10];

    for (int i = 0; i < 10; i++)
        s[i] = csp__stack_get(c1, 0);
    for (int i = 0; i < 10; i++)
        csp__stack_put(c1, s[i]);
    /* c1 keeps at most 4; the other 6 or more went to the pool. */
    for (int i = 0; i < 6; i++)
        s[i] = csp__stack_get(c2, 0);
    ASSERT_EQ(10, csp__stack_pool_mapped(pool));
    ASSERT_EQ(6, csp__stack_pool_reused(pool));
    for (int i = 0; i < 6; i++)
        csp__stack_put(c2, s[i]);
    csp__stack_cache_free(c1);
    csp__stack_cache_free(c2);
    csp__stack_pool_free(pool);
}

TEST(stack_cache_free_returns_stacks_to_pool)
{
    struct csp__stack_pool *pool = csp__stack_pool_new(32 * 1024, 64, 8);
    struct csp__stack_cache *c1 = csp__stack_cache_new(pool);
    struct csp__stack *s[3];

    for (int i = 0; i < 3; i++)
        s[i] = csp__stack_get(c1, 0);
    for (int i = 0; i < 3; i++)
        csp__stack_put(c1, s[i]);
    csp__stack_cache_free(c1);
    struct csp__stack_cache *c2 = csp__stack_cache_new(pool);
    for (int i = 0; i < 3; i++)
        s[i] = csp__stack_get(c2, 0);
    ASSERT_EQ(3, csp__stack_pool_mapped(pool));
    ASSERT_EQ(3, csp__stack_pool_reused(pool));
    for (int i = 0; i < 3; i++)
        csp__stack_put(c2, s[i]);
    csp__stack_cache_free(c2);
    csp__stack_pool_free(pool);
}

TEST(stack_pool_get_without_cache_reuses_put_stack)
{
    struct csp__stack_pool *pool = csp__stack_pool_new(32 * 1024, 64, 8);

    struct csp__stack *s = csp__stack_pool_get(pool, 0);
    ASSERT_NOT_NULL(s);
    csp__stack_pool_put(pool, s);
    ASSERT_PTR_EQ(s, csp__stack_pool_get(pool, 0));
    ASSERT_EQ(1, csp__stack_pool_mapped(pool));
    ASSERT_EQ(1, csp__stack_pool_reused(pool));
    csp__stack_pool_put(pool, s);
    csp__stack_pool_free(pool);
}

TEST(stack_cache_max_zero_serves_from_pool)
{
    struct fixture fx;

    fx_init(&fx, 32 * 1024, 64, 0);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    csp__stack_put(fx.cache, s);
    ASSERT_PTR_EQ(s, csp__stack_pool_get(fx.pool, 0));
    csp__stack_pool_put(fx.pool, s);
    fx_fini(&fx);
}

TEST(stack_get_beyond_max_guarded_returns_unguarded)
{
    struct fixture fx;
    struct csp__stack *s[3];

    fx_init(&fx, 32 * 1024, 2, 8);
    for (int i = 0; i < 3; i++)
        s[i] = csp__stack_get(fx.cache, 0);
    ASSERT_TRUE(s[0]->guarded);
    ASSERT_TRUE(s[1]->guarded);
    ASSERT_FALSE(s[2]->guarded);
    ASSERT_EQ(2, csp__stack_pool_guarded(fx.pool));
    ASSERT_EQ(3, csp__stack_pool_mapped(fx.pool));
    csp__stack_check(s[2]);
    for (int i = 0; i < 3; i++)
        csp__stack_put(fx.cache, s[i]);
    fx_fini(&fx);
}

TEST(stack_get_after_guard_failure_returns_unguarded)
{
    struct fixture fx;

    fx_init(&fx, 32 * 1024, 16, 0);
    struct csp__stack *a = csp__stack_get(fx.cache, 0);
    atomic_store(&csp__fail_stack_guard, 1);
    struct csp__stack *b = csp__stack_get(fx.cache, 0);
    atomic_store(&csp__fail_stack_guard, 0);
    /* The pool stops trying: later stacks are unguarded too. */
    struct csp__stack *c = csp__stack_get(fx.cache, 0);
    ASSERT_NOT_NULL(b);
    ASSERT_NOT_NULL(c);
    ASSERT_TRUE(a->guarded);
    ASSERT_FALSE(b->guarded);
    ASSERT_FALSE(c->guarded);
    ASSERT_EQ(1, csp__stack_pool_guarded(fx.pool));
    memset(b->lo, 1, b->size);
    csp__stack_check(b);
    csp__stack_put(fx.cache, a);
    csp__stack_put(fx.cache, b);
    csp__stack_put(fx.cache, c);
    fx_fini(&fx);
}

TEST(stack_guards_of_all_pools_stop_at_process_cap) // slow: 49k mappings, too many for valgrind
{
    long cap = csp__stack_guard_cap();
    struct csp__stack_pool *p1 =
        csp__stack_pool_new(CSP__STACK_GUARD_MIN, (size_t)cap, 0);
    struct csp__stack_pool *p2 =
        csp__stack_pool_new(CSP__STACK_GUARD_MIN, (size_t)cap, 0);
    long half = cap / 2;

    /* Mappings below the kernel limit are a process-wide resource: two
     * pools with a budget of CAP each still guard CAP stacks in all. */
    ASSERT_TRUE(cap > 0);
    for (long i = 0; i < half; i++)
        ASSERT_NOT_NULL(csp__stack_pool_get(p1, 0));
    for (long i = half; i < cap + 10; i++)
        ASSERT_NOT_NULL(csp__stack_pool_get(p2, 0));
    ASSERT_EQ(half, csp__stack_pool_guarded(p1));
    ASSERT_EQ(cap - half, csp__stack_pool_guarded(p2));
    struct csp__stack *s = csp__stack_pool_get(p1, 0);
    ASSERT_NOT_NULL(s);
    ASSERT_FALSE(s->guarded);
    /* The rest of the process can still map memory. */
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(m != MAP_FAILED);
    munmap(m, 1 << 20);
    /* Freeing a pool gives its guards back to the others. */
    csp__stack_pool_free(p1);
    s = csp__stack_pool_get(p2, 0);
    ASSERT_TRUE(s->guarded);
    csp__stack_pool_free(p2);
}

TEST(stack_get_larger_than_largest_class_maps_own_stack)
{
    struct fixture fx;
    size_t big = CSP__STACK_CLASS_SIZE(CSP__STACK_CLASSES - 1) + 1;

    fx_init(&fx, 32 * 1024, 16, 8);
    struct csp__stack *s = csp__stack_get(fx.cache, big);
    ASSERT_NOT_NULL(s);
    ASSERT_TRUE(s->size >= big);
    ASSERT_EQ(1, csp__stack_pool_mapped(fx.pool));
    memset(s->lo, 1, s->size);
    csp__stack_check(s);
    void *lo = s->lo;
    csp__stack_put(fx.cache, s);
    ASSERT_EQ(0, csp__stack_pool_mapped(fx.pool));
    ASSERT_FALSE(is_mapped(lo));
    fx_fini(&fx);
}

TEST(stack_get_larger_than_largest_class_unguarded_has_canary)
{
    struct fixture fx;
    size_t big = CSP__STACK_CLASS_SIZE(CSP__STACK_CLASSES - 1) + 1;

    fx_init(&fx, 32 * 1024, 0, 8);
    struct csp__stack *s = csp__stack_get(fx.cache, big);
    ASSERT_NOT_NULL(s);
    ASSERT_FALSE(s->guarded);
    ASSERT_TRUE(s->size >= big);
    memset(s->lo, 1, s->size);
    csp__stack_check(s);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

TEST(stack_get_reports_enomem_when_mapping_fails)
{
    struct fixture fx;

    fx_init(&fx, 32 * 1024, 16, 8);
    atomic_store(&csp__fail_stack_map, 1);
    ASSERT_NULL(csp__stack_get(fx.cache, 0));
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    ASSERT_NOT_NULL(s);
    atomic_store(&csp__fail_stack_map, 1);
    ASSERT_NULL(csp__stack_get(fx.cache, 1024 * 1024));
    ASSERT_EQ(1, csp__stack_pool_mapped(fx.pool));
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

TEST(stack_get_from_cache_ignores_mapping_failure)
{
    struct fixture fx;

    fx_init(&fx, 32 * 1024, 16, 8);
    struct csp__stack *s = csp__stack_get(fx.cache, 0);
    csp__stack_put(fx.cache, s);
    atomic_store(&csp__fail_stack_map, 1);
    ASSERT_PTR_EQ(s, csp__stack_get(fx.cache, 0));
    atomic_store(&csp__fail_stack_map, 0);
    csp__stack_put(fx.cache, s);
    fx_fini(&fx);
}

TEST(stack_pool_free_unmaps_every_stack)
{
    struct csp__stack_pool *pool = csp__stack_pool_new(32 * 1024, 2, 4);
    struct csp__stack_cache *c = csp__stack_cache_new(pool);
    void *lo[6];
    struct csp__stack *s[6];

    /* Two guarded, three unguarded, one oversized; some in use (as after
     * a forced runtime free), some cached, some in the pool. */
    for (int i = 0; i < 5; i++)
        s[i] = csp__stack_get(c, 0);
    s[5] = csp__stack_get(c, 1024 * 1024);
    for (int i = 0; i < 6; i++) {
        ASSERT_NOT_NULL(s[i]);
        lo[i] = s[i]->lo;
        ASSERT_TRUE(is_mapped(lo[i]));
    }
    csp__stack_put(c, s[1]);
    csp__stack_put(c, s[3]);
    csp__stack_cache_free(c);
    csp__stack_pool_free(pool);
    for (int i = 0; i < 6; i++)
        ASSERT_FALSE(is_mapped(lo[i]));
}

TEST(stack_pool_trim_releases_free_stack_pages)
{
    struct csp__stack_pool *pool = csp__stack_pool_new(64 * 1024, 1, 0);
    struct csp__stack *g = csp__stack_pool_get(pool, 0);
    struct csp__stack *u = csp__stack_pool_get(pool, 0);
    char *ghi = (char *)g->lo + g->size, *uhi = (char *)u->lo + u->size;

    ASSERT_TRUE(g->guarded);
    ASSERT_FALSE(u->guarded);
    memset(g->lo, 1, g->size);
    memset(u->lo, 1, u->size);
    ASSERT_EQ(16, resident_pages(g->lo, ghi));
    ASSERT_EQ(16, resident_pages(u->lo, uhi));
    csp__stack_pool_put(pool, g);
    csp__stack_pool_put(pool, u);
    ASSERT_EQ(2, csp__stack_pool_trim(pool, 0));
    ASSERT_EQ(0, resident_pages(g->lo, ghi));
    /* An unguarded stack keeps its top page: the next canary lives there. */
    ASSERT_EQ(1, resident_pages(u->lo, uhi));
    csp__stack_pool_free(pool);
}

TEST(stack_pool_trim_spares_most_recent_free_stacks)
{
    struct csp__stack_pool *pool = csp__stack_pool_new(64 * 1024, 0, 0);
    struct csp__stack *a = csp__stack_pool_get(pool, 0);
    struct csp__stack *b = csp__stack_pool_get(pool, 0);

    memset(a->lo, 1, a->size);
    memset(b->lo, 1, b->size);
    csp__stack_pool_put(pool, a);
    csp__stack_pool_put(pool, b); /* most recent */
    ASSERT_EQ(1, csp__stack_pool_trim(pool, 1));
    ASSERT_EQ(16, resident_pages(b->lo, (char *)b->lo + b->size));
    ASSERT_EQ(1, resident_pages(a->lo, (char *)a->lo + a->size));
    csp__stack_pool_free(pool);
}

TEST(stack_pool_trim_keeps_neighbour_canary)
{
    struct csp__stack_pool *pool = csp__stack_pool_new(64 * 1024, 0, 0);
    struct csp__stack *a = csp__stack_pool_get(pool, 0);
    struct csp__stack *b = csp__stack_pool_get(pool, 0);

    /* B's canary is in A's top 16 bytes. */
    ASSERT_PTR_EQ((char *)a->lo + a->size + 8, (const void *)b->canary);
    memset(a->lo, 1, a->size);
    csp__stack_pool_put(pool, a);
    ASSERT_EQ(1, csp__stack_pool_trim(pool, 0));
    csp__stack_check(b);
    csp__stack_pool_put(pool, b);
    csp__stack_pool_free(pool);
}

/* A parked context costs the pages its frames touched: one or two. */
struct park {
    struct csp__coro self;
    struct csp__coro *back;
};

static void park_entry(void *arg0, void *arg)
{
    struct park *p = arg0;
    uintptr_t lowest = UINTPTR_MAX;

    (void)arg;
    depth_sum(1, &lowest); /* a little real work first */
    for (;;)
        csp__coro_transfer(&p->self, p->back, NULL);
}

TEST(stack_parked_context_keeps_at_most_two_pages_resident)
{
    enum { N = 64 };
    struct fixture fx;
    static struct park p[N];
    struct csp__stack *s[N];

    fx_init(&fx, 64 * 1024, 0, 0);
    for (int i = 0; i < N; i++) {
        s[i] = csp__stack_get(fx.cache, 0);
        p[i].back = &fx.main;
        csp__coro_make(&p[i].self, s[i]->lo, s[i]->size, park_entry, &p[i]);
        csp__coro_transfer(&fx.main, &p[i].self, NULL);
    }
    /* Count each stack's own pages plus the page holding its canary. A
     * sanitizer runtime may initialize itself on the first stack that
     * calls it (a switch hook), so one stack may exceed the bound. */
    int over = 0;
    for (int i = 0; i < N; i++) {
        size_t n = resident_pages((const char *)s[i]->canary,
                                  (char *)s[i]->lo + s[i]->size);
        ASSERT_TRUE(n >= 1);
        if (n > 2)
            over++;
    }
    ASSERT_TRUE(over <= 1);
    for (int i = 0; i < N; i++) {
        csp__coro_destroy(&p[i].self);
        csp__stack_put(fx.cache, s[i]);
    }
    fx_fini(&fx);
}

/* Crash tests: the crash happens in a child process. */

static unsigned recurse_forever_impl(unsigned n);
static unsigned (*volatile recurse_forever)(unsigned) = recurse_forever_impl;

static unsigned recurse_forever_impl(unsigned n)
{
    volatile unsigned char buf[128];

    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)n;
    return recurse_forever(n + 1) + buf[n % sizeof buf];
}

static void overflow_entry(void *arg0, void *arg)
{
    (void)arg0;
    (void)arg;
    recurse_forever(0);
}

static void guard_child(void)
{
    struct csp__coro main, co;

    /* The default action, not a sanitizer's report-and-exit handler. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    struct csp__stack_pool *pool = csp__stack_pool_new(64 * 1024, 16, 0);
    struct csp__stack *s = csp__stack_pool_get(pool, 0);
    if (!s || !s->guarded)
        _exit(3);
    csp__coro_thread_init(&main);
    csp__coro_make(&co, s->lo, s->size, overflow_entry, NULL);
    csp__coro_transfer(&main, &co, NULL);
    _exit(4);
}

TEST(stack_guard_page_traps_overflow)
{
    char err[4096];
    int status = in_child(guard_child, err, sizeof err);

    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(SIGSEGV, WTERMSIG(status));
}

struct big {
    struct csp__coro self;
    struct csp__coro *back;
};

/* Fill a local array bigger than the whole stack: it runs far below lo,
 * over the canary, into the neighbouring slot (mapped, unguarded). */
static void big_frame_impl(void)
{
    volatile unsigned char buf[80 * 1024];

    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)i;
}
static void (*volatile big_frame)(void) = big_frame_impl;

static void big_entry(void *arg0, void *arg)
{
    struct big *b = arg0;

    (void)arg;
    big_frame();
    csp__coro_exit(&b->self, b->back, NULL);
}

static void canary_child(void)
{
    struct big b;
    struct csp__coro main;

    struct csp__stack_pool *pool = csp__stack_pool_new(64 * 1024, 0, 0);
    struct csp__stack *below = csp__stack_pool_get(pool, 0);
    struct csp__stack *s = csp__stack_pool_get(pool, 0);
    if (!below || !s || s->guarded ||
        (char *)s->lo != (char *)below->lo + below->size + 16)
        _exit(3);
    csp__coro_thread_init(&main);
    b.back = &main;
    csp__coro_make(&b.self, s->lo, s->size, big_entry, &b);
    csp__coro_transfer(&main, &b.self, NULL);
    csp__stack_check(s);
    _exit(4);
}

TEST(stack_check_aborts_on_overwritten_canary)
{
    char err[4096];
    int status = in_child(canary_child, err, sizeof err);

    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(SIGABRT, WTERMSIG(status));
    ASSERT_NOT_NULL(strstr(err, "csp: stack overflow in a go process"));
}

TEST(stack_check_passes_after_deep_use_within_bounds)
{
    struct fixture fx;
    struct deep d;
    struct csp__stack *below, *s;

    fx_init(&fx, 64 * 1024, 0, 8);
    below = csp__stack_get(fx.cache, 0);
    s = csp__stack_get(fx.cache, 0);
    ASSERT_FALSE(s->guarded);
    d.back = &fx.main;
    d.depth = (unsigned)(s->size / 1024);
    csp__coro_make(&d.self, s->lo, s->size, deep_entry, &d);
    csp__coro_transfer(&fx.main, &d.self, NULL);
    csp__stack_check(s);
    csp__stack_check(below);
    csp__coro_destroy(&d.self);
    csp__stack_put(fx.cache, s);
    csp__stack_put(fx.cache, below);
    fx_fini(&fx);
}
