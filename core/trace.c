/* trace.c - the event trace: per-thread buffers, written as a
 * Chrome/Perfetto JSON trace at runtime shutdown (trace.h, docs/trace.md).
 *
 * A runtime that traces owns a struct csp__trace: the output path and a
 * list of thread buffers, one per thread that recorded an event for it
 * (each worker, the timer thread, any outside thread that spawned or
 * woke a proc). A thread finds its buffer through a thread-local cache
 * keyed by the trace's serial number (never reused, so a cache entry of
 * a freed trace is never mistaken for a live one); on a miss it takes
 * the trace's lock once and creates its buffer. Only the owning thread
 * appends to a buffer, with no lock: an event is written, then the
 * chunk's count is published with a release store, so a reader (the
 * writer of the file, the test hooks) that loads the count with acquire
 * sees complete events only. Chunks are linked the same way.
 *
 * Memory comes from the runtime's allocator. A thread stops recording at
 * CSP__TRACE_MAX_EVENTS, or when an allocation fails; what it could not
 * record is counted and reported in the file's metadata.
 *
 * The file is written by csp_rt_free after every thread of the runtime
 * is gone; a runtime still alive at process exit (the default one, or
 * one the program never freed) is written then, from a snapshot of its
 * buffers. A fork()ed child does not write its parent's trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched_internal.h"
#include "trace.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#define CHUNK_EVENTS 2048
#define CSP__TRACE_MAX_EVENTS ((uint64_t)1 << 22) /* per thread: 128 MiB */

_Atomic int csp__trace_on;

static _Atomic uint64_t trace_serial;

struct ev {
    int64_t ts;  /* ticks() */
    int64_t dur; /* ticks; run slices only */
    uint64_t a;
    uint32_t b;
    uint32_t kind;
};

struct chunk {
    _Atomic(struct chunk *) next;
    _Atomic uint32_t n; /* events written; release-stored by the owner */
    struct ev ev[CHUNK_EVENTS];
};

struct tbuf {
    struct tbuf *next;  /* in the trace's list; trace lock */
    uint32_t tid;       /* immutable */
    char name[32];      /* immutable */
    struct chunk *first; /* immutable once set (owner) */
    struct chunk *cur;  /* owner only */
    uint64_t nevents;   /* owner only */
    int64_t run_ts;     /* owner only: start of the current run slice */
    _Atomic uint64_t dropped;
    _Atomic uint64_t counts[CSP__TR_NKINDS]; /* owner stores, tests read */
};

struct csp__trace {
    csp_rt *rt;
    uint64_t serial; /* immutable; the thread caches' key */
    csp__mutex lock; /* leaf; guards bufs and next_tid */
    struct tbuf *bufs;
    uint32_t next_tid;
    char *path; /* immutable */
    size_t path_size;
    int64_t t0;  /* immutable: ticks() at creation */
    int64_t ns0; /* immutable: csp__now_ns() at creation */
    double ns_per_tick; /* set when writing */
    pid_t pid;   /* immutable: the process that writes the file */
    struct csp__trace *live_next; /* live_lock */
};

/* Event times: the TSC where there is one (a read costs ~10 ns; this
 * VM's clock_gettime costs ~130), converted to ns when the file is
 * written, by the rate seen between the trace's start and the write. */
static inline int64_t ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return (int64_t)__rdtsc();
#else
    return csp__now_ns();
#endif
}

static _Thread_local uint64_t tl_serial;
static _Thread_local struct tbuf *tl_buf;

static struct csp__trace *trace_of(csp_rt *rt)
{
    /* acquire: pairs with the release store in csp_rt_set_trace. */
    return atomic_load_explicit(&rt->trace, memory_order_acquire);
}

static struct tbuf *buf_new(struct csp__trace *tr)
{
    struct tbuf *b = csp__calloc(tr->rt, sizeof *b);
    struct csp__worker *w = csp__tls()->worker;

    if (!b)
        return NULL;
    if (w && w->s->rt == tr->rt)
        snprintf(b->name, sizeof b->name, "csp-worker-%u", w->index);
    csp__mutex_lock(&tr->lock);
    b->tid = ++tr->next_tid;
    if (!b->name[0])
        snprintf(b->name, sizeof b->name, "thread %u", b->tid);
    b->next = tr->bufs;
    tr->bufs = b;
    csp__mutex_unlock(&tr->lock);
    return b;
}

/* The calling thread's buffer for TR, or NULL (out of memory). */
static struct tbuf *my_buf(struct csp__trace *tr)
{
    struct tbuf *b;

    if (CSP__LIKELY(tl_serial == tr->serial))
        return tl_buf;
    b = buf_new(tr);
    if (b) {
        tl_serial = tr->serial;
        tl_buf = b;
    }
    return b;
}

static void record(struct csp__trace *tr, struct tbuf *b, int kind,
                   int64_t ts, int64_t dur, uint64_t a, uint64_t bb)
{
    struct chunk *c = b->cur;
    uint32_t n;

    if (CSP__UNLIKELY(b->nevents >= CSP__TRACE_MAX_EVENTS))
        goto drop;
    if (!c || atomic_load_explicit(&c->n, memory_order_relaxed) ==
                  CHUNK_EVENTS) {
        struct chunk *nc = csp__alloc(tr->rt, sizeof *nc);
        if (!nc)
            goto drop;
        atomic_init(&nc->next, NULL);
        atomic_init(&nc->n, 0);
        /* release: a reader that follows the link sees n = 0. */
        if (c)
            atomic_store_explicit(&c->next, nc, memory_order_release);
        else
            b->first = nc;
        b->cur = c = nc;
    }
    n = atomic_load_explicit(&c->n, memory_order_relaxed);
    c->ev[n] = (struct ev){ts, dur, a, (uint32_t)bb, (uint32_t)kind};
    /* release: the event is complete before a reader counts it. */
    atomic_store_explicit(&c->n, n + 1, memory_order_release);
    b->nevents++;
    atomic_store_explicit(
        &b->counts[kind],
        atomic_load_explicit(&b->counts[kind], memory_order_relaxed) + 1,
        memory_order_relaxed);
    return;
drop:
    atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
}

__attribute__((noinline)) void csp__trace_event(csp_rt *rt, int kind,
                                                uint64_t a, uint64_t b)
{
    struct csp__trace *tr = trace_of(rt);
    struct tbuf *tb;

    if (!tr || !(tb = my_buf(tr)))
        return;
    record(tr, tb, kind, ticks(), 0, a, b);
}

__attribute__((noinline)) void csp__trace_run_begin(csp_rt *rt)
{
    struct csp__trace *tr = trace_of(rt);
    struct tbuf *tb;

    if (!tr || !(tb = my_buf(tr)))
        return;
    tb->run_ts = ticks();
}

__attribute__((noinline)) void csp__trace_run_end(csp_rt *rt, uint64_t id,
                                                  int after)
{
    struct csp__trace *tr = trace_of(rt);
    struct tbuf *tb;
    int64_t now;

    if (!tr || !(tb = my_buf(tr)) || !tb->run_ts)
        return;
    now = ticks();
    record(tr, tb, CSP__TR_RUN, tb->run_ts, now - tb->run_ts, id,
           (uint64_t)after);
    if (after == CSP__AFTER_PARK)
        record(tr, tb, CSP__TR_PARK, now, 0, id, 0);
    tb->run_ts = 0;
}

/* ------------------------------------------------------------------------
 * Writing the file. */

static const char *after_name(uint32_t after)
{
    switch (after) {
    case CSP__AFTER_PARK:
        return "park";
    case CSP__AFTER_YIELD:
        return "yield";
    case CSP__AFTER_EXIT:
        return "exit";
    case CSP__AFTER_CALL:
        return "call"; /* a thread start on the worker's stack */
    default:
        return "?";
    }
}

/* Microseconds since the trace began, as Chrome wants them. */
static double us(const struct csp__trace *tr, int64_t t)
{
    return (double)(t - tr->t0) * tr->ns_per_tick / 1000.0;
}

static void write_event(FILE *f, const struct csp__trace *tr,
                        const struct tbuf *b, const struct ev *e, int pid)
{
    static const char *const names[CSP__TR_NKINDS] = {
        [CSP__TR_SPAWN] = "spawn", [CSP__TR_RUN] = "run",
        [CSP__TR_PARK] = "park",   [CSP__TR_WAKE] = "wake",
        [CSP__TR_STEAL] = "steal", [CSP__TR_TIMER] = "timer",
    };
    unsigned long long a = (unsigned long long)e->a;

    if (e->kind == CSP__TR_RUN) {
        fprintf(f,
                ",\n{\"name\":\"proc %llu\",\"cat\":\"run\",\"ph\":\"X\","
                "\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":%u,"
                "\"args\":{\"proc\":%llu,\"then\":\"%s\"}}",
                a, us(tr, e->ts), (double)e->dur * tr->ns_per_tick / 1000.0,
                pid, b->tid, a,
                after_name(e->b));
        return;
    }
    fprintf(f,
            ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"t\","
            "\"ts\":%.3f,\"pid\":%d,\"tid\":%u,\"args\":{",
            names[e->kind], names[e->kind], us(tr, e->ts), pid, b->tid);
    switch (e->kind) {
    case CSP__TR_STEAL:
        fprintf(f, "\"from\":\"csp-worker-%llu\",\"n\":%u}}", a, e->b);
        break;
    case CSP__TR_TIMER:
        fprintf(f, "\"chan\":%llu}}", a);
        break;
    default:
        fprintf(f, "\"proc\":%llu}}", a);
        break;
    }
}

/* Write TR's file from a snapshot of its buffers. 0 on success. */
static int write_trace(struct csp__trace *tr)
{
    FILE *f = fopen(tr->path, "w");
    int pid = (int)tr->pid;
    uint64_t dropped = 0;
    struct tbuf *bufs;
    int rc;

    int64_t t1 = ticks(), ns1 = csp__now_ns();

    if (!f)
        return -1;
    tr->ns_per_tick =
        t1 > tr->t0 ? (double)(ns1 - tr->ns0) / (double)(t1 - tr->t0) : 1.0;
    csp__mutex_lock(&tr->lock);
    bufs = tr->bufs;
    csp__mutex_unlock(&tr->lock);
    fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
               "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
               "\"args\":{\"name\":\"csp runtime\"}}",
            pid);
    for (struct tbuf *b = bufs; b; b = b->next) {
        fprintf(f,
                ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,"
                "\"tid\":%u,\"args\":{\"name\":\"%s\"}}",
                pid, b->tid, b->name);
        fprintf(f,
                ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,"
                "\"tid\":%u,\"args\":{\"sort_index\":%u}}",
                pid, b->tid, b->tid);
        dropped += atomic_load_explicit(&b->dropped, memory_order_relaxed);
        for (struct chunk *c = b->first; c;
             c = atomic_load_explicit(&c->next, memory_order_acquire)) {
            uint32_t n = atomic_load_explicit(&c->n, memory_order_acquire);
            for (uint32_t i = 0; i < n; i++)
                write_event(f, tr, b, &c->ev[i], pid);
        }
    }
    fprintf(f, "\n],\"otherData\":{\"csp_events_dropped\":%llu}}\n",
            (unsigned long long)dropped);
    rc = ferror(f);
    if (fclose(f) != 0)
        rc = -1;
    return rc ? -1 : 0;
}

static void trace_free(struct csp__trace *tr)
{
    struct tbuf *b = tr->bufs;

    while (b) {
        struct tbuf *next = b->next;
        struct chunk *c = b->first;
        while (c) {
            struct chunk *cn = atomic_load_explicit(&c->next,
                                                    memory_order_relaxed);
            csp__free(tr->rt, c, sizeof *c);
            c = cn;
        }
        csp__free(tr->rt, b, sizeof *b);
        b = next;
    }
    csp__mutex_destroy(&tr->lock);
    csp__free(tr->rt, tr->path, tr->path_size);
    csp__free(tr->rt, tr, sizeof *tr);
}

/* Take TR off RT (tracing stops for it) and return it. rt->lock held or
 * RT's threads gone. */
static struct csp__trace *detach(csp_rt *rt)
{
    struct csp__trace *tr =
        atomic_exchange_explicit(&rt->trace, NULL, memory_order_acq_rel);

    if (tr)
        atomic_fetch_sub_explicit(&csp__trace_on, 1, memory_order_relaxed);
    return tr;
}

/* ------------------------------------------------------------------------
 * Runtimes never freed (the default one, or a program that exits without
 * csp_rt_free): their traces are written at exit. Every live trace is on
 * this list from csp_rt_set_trace until csp__trace_finish. */

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct csp__trace *live_traces; /* live_lock; by live_next */

static pid_t live_pid; /* the process that registered write_at_exit */

static void write_at_exit(void)
{
    /* A fork()ed child that exits touches nothing: live_lock may have
     * been held by another thread of the parent at the fork. */
    if (getpid() != live_pid)
        return;
    pthread_mutex_lock(&live_lock);
    /* Their threads may still record: write snapshots, free nothing. */
    for (struct csp__trace *tr = live_traces; tr; tr = tr->live_next)
        if (tr->pid == getpid() && write_trace(tr) != 0)
            fprintf(stderr, "csp: trace: cannot write %s\n", tr->path);
    live_traces = NULL;
    pthread_mutex_unlock(&live_lock);
}

static void register_atexit(void)
{
    live_pid = getpid();
    atexit(write_at_exit);
}

static void live_add(struct csp__trace *tr)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, register_atexit);
    pthread_mutex_lock(&live_lock);
    tr->live_next = live_traces;
    live_traces = tr;
    pthread_mutex_unlock(&live_lock);
}

/* 1 if TR was on the list (and is no more): its file is not written yet. */
static int live_remove(struct csp__trace *tr)
{
    int found = 0;

    pthread_mutex_lock(&live_lock);
    for (struct csp__trace **pp = &live_traces; *pp; pp = &(*pp)->live_next)
        if (*pp == tr) {
            *pp = tr->live_next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&live_lock);
    return found;
}

/* ------------------------------------------------------------------------
 * Turning it on and off. */

int csp_rt_set_trace(csp_rt *rt, const char *path)
{
    struct csp__trace *tr = NULL, *old;
    size_t len;
    FILE *f;

    if (!rt || (path && !*path))
        return CSP_EINVAL;
    if (path) {
        /* Fail now, not at shutdown, if the file cannot be written. */
        f = fopen(path, "w");
        if (!f)
            return CSP_EINVAL;
        fclose(f);
        len = strlen(path) + 1;
        tr = csp__calloc(rt, sizeof *tr);
        if (!tr)
            return CSP_ENOMEM;
        tr->path = csp__alloc(rt, len);
        if (!tr->path || csp__mutex_init(&tr->lock) != CSP_OK) {
            csp__free(rt, tr->path, len);
            csp__free(rt, tr, sizeof *tr);
            return CSP_ENOMEM;
        }
        memcpy(tr->path, path, len);
        tr->path_size = len;
        tr->rt = rt;
        tr->serial = atomic_fetch_add_explicit(&trace_serial, 1,
                                               memory_order_relaxed) + 1;
        tr->ns0 = csp__now_ns();
        tr->t0 = ticks();
        tr->pid = getpid();
    }
    csp__mutex_lock(&rt->lock);
    if (atomic_load_explicit(&rt->started, memory_order_relaxed)) {
        csp__mutex_unlock(&rt->lock);
        if (tr)
            trace_free(tr);
        return CSP_EBUSY;
    }
    old = detach(rt);
    if (tr) {
        atomic_fetch_add_explicit(&csp__trace_on, 1, memory_order_relaxed);
        /* release: a thread that finds TR sees it whole. */
        atomic_store_explicit(&rt->trace, tr, memory_order_release);
    }
    csp__mutex_unlock(&rt->lock);
    if (old) {
        live_remove(old);
        trace_free(old); /* nothing recorded: RT never started */
    }
    if (tr)
        live_add(tr);
    return CSP_OK;
}

void csp__trace_env(csp_rt *rt)
{
    const char *path = getenv("CSP_TRACE");

    if (path && *path && csp_rt_set_trace(rt, path) == CSP_EINVAL)
        fprintf(stderr, "csp: trace: cannot write %s\n", path);
}

void csp__trace_finish(csp_rt *rt)
{
    struct csp__trace *tr = detach(rt);

    if (!tr)
        return;
    /* A fork()ed child leaves its parent's file alone; a trace no longer
     * on the live list was written at exit already. */
    if (live_remove(tr) && tr->pid == getpid() && write_trace(tr) != 0)
        fprintf(stderr, "csp: trace: cannot write %s\n", tr->path);
    trace_free(tr);
}

uint64_t csp__trace_count(csp_rt *rt, int kind)
{
    struct csp__trace *tr = trace_of(rt);
    uint64_t n = 0;

    if (!tr || kind < 0 || kind >= CSP__TR_NKINDS)
        return 0;
    csp__mutex_lock(&tr->lock);
    for (struct tbuf *b = tr->bufs; b; b = b->next)
        n += atomic_load_explicit(&b->counts[kind], memory_order_relaxed);
    csp__mutex_unlock(&tr->lock);
    return n;
}
