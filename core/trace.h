/* trace.h - the event trace (CSP_TRACE=file.json, csp_rt_set_trace).
 *
 * The scheduler, procs, run queues and timer call one CSP_TRACE_* hook
 * each where something worth seeing happens: a spawn, a run slice of a
 * proc (and the park, yield or exit that ends it), a wake, a steal, a
 * timer bucket firing. With tracing off, a hook is one load of a global
 * flag and a branch the CPU predicts (no call): csp__trace_on counts the
 * runtimes that trace, so a process that never traces pays nothing more.
 * With it on, the event goes into the calling thread's own buffer for
 * that runtime (no lock on the way), and csp_rt_free writes every buffer
 * as one Chrome/Perfetto JSON trace (docs/trace.md).
 */
#ifndef CSP_TRACE_H
#define CSP_TRACE_H

#include "internal.h"

/* Runtimes with tracing on, process-wide. */
extern _Atomic int csp__trace_on;

enum {
    CSP__TR_SPAWN = 0, /* a: proc id */
    CSP__TR_RUN = 1,   /* a: proc id, b: CSP__AFTER_* (slice) */
    CSP__TR_PARK = 2,  /* a: proc id */
    CSP__TR_WAKE = 3,  /* a: proc id */
    CSP__TR_STEAL = 4, /* a: victim worker, b: entries taken */
    CSP__TR_TIMER = 5, /* a: channel id of the bucket */
    CSP__TR_NKINDS = 6
};

#define CSP__TRACING()                                                         \
    CSP__UNLIKELY(atomic_load_explicit(&csp__trace_on, memory_order_relaxed))

/* Record an event of KIND for RT on the calling thread (noinline: it
 * reads thread-local state, which must never be cached across a switch). */
void csp__trace_event(csp_rt *rt, int kind, uint64_t a, uint64_t b);
/* A proc is about to run on this worker thread / has switched out. */
void csp__trace_run_begin(csp_rt *rt);
void csp__trace_run_end(csp_rt *rt, uint64_t id, int after);

/* The hooks: one line each at the place they describe. */
#define CSP_TRACE_SPAWN(rt, id)                                                \
    do {                                                                       \
        if (CSP__TRACING())                                                    \
            csp__trace_event((rt), CSP__TR_SPAWN, (id), 0);                    \
    } while (0)
#define CSP_TRACE_RUN_BEGIN(rt)                                                \
    do {                                                                       \
        if (CSP__TRACING())                                                    \
            csp__trace_run_begin(rt);                                          \
    } while (0)
#define CSP_TRACE_RUN_END(rt, id, after)                                       \
    do {                                                                       \
        if (CSP__TRACING())                                                    \
            csp__trace_run_end((rt), (id), (after));                           \
    } while (0)
#define CSP_TRACE_WAKE(rt, id)                                                 \
    do {                                                                       \
        if (CSP__TRACING())                                                    \
            csp__trace_event((rt), CSP__TR_WAKE, (id), 0);                     \
    } while (0)
#define CSP_TRACE_STEAL(rt, victim, n)                                         \
    do {                                                                       \
        if (CSP__TRACING())                                                    \
            csp__trace_event((rt), CSP__TR_STEAL, (victim), (n));              \
    } while (0)
#define CSP_TRACE_TIMER(rt, chan_id)                                           \
    do {                                                                       \
        if (CSP__TRACING())                                                    \
            csp__trace_event((rt), CSP__TR_TIMER, (chan_id), 0);               \
    } while (0)

/* rt.c: CSP_TRACE from the environment, at csp_rt_new. */
void csp__trace_env(csp_rt *rt);
/* rt.c, at csp_rt_free once every thread of RT is gone: write the trace
 * file (if tracing) and free the buffers. */
void csp__trace_finish(csp_rt *rt);

/* Tests: events of KIND recorded so far for RT (0 when not tracing). */
uint64_t csp__trace_count(csp_rt *rt, int kind);

#endif /* CSP_TRACE_H */
