/* csp.i - the SWIG interface: csp for host languages that have no binding
 * of their own (Tcl, Perl, Ruby, R, ...).
 *
 *   swig -tcl8 -o csp_tcl_wrap.c bindings/csp.i      (any SWIG target)
 *
 * csp.h itself is written for C: out-parameters, callbacks, void * values.
 * A generated wrapper cannot call back into an arbitrary host, so this
 * interface wraps a blocking, host-neutral subset instead of %including
 * the header:
 *
 *   - handles are SWIG pointers (csp_rt, csp_chan, csp_swig_alts);
 *   - values are non-zero integers (`long long`), which a host maps to its
 *     own objects with a table if it needs to; 0 means "no value" (closed,
 *     or nothing to poll), as nil does in core.async;
 *   - waiting operations block the calling thread with a timeout in
 *     milliseconds (-1: forever), which keeps a single-threaded host
 *     interruptible between slices;
 *   - every csp error becomes a host exception (SWIG_RuntimeError) whose
 *     message starts with the error's name, e.g. "ETIMEDOUT: ...",
 *     except the outcomes a caller branches on: take and alts report a
 *     closed channel as 0, put reports it as 0, offer returns its three
 *     outcomes as codes.
 *
 * Channels made here are ordinary csp channels: C code and go processes
 * may share them with the host (through csp_swig_chan_from_ptr).
 * docs/swig.md is the guide; tests/swig/ the tests (Tcl).
 */
%module cspswig

%{
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csp.h"

/* The error of the last call on this thread, 0 when it succeeded; the
 * %exception block below turns it into a host exception. */
static _Thread_local int csp_swig_err;
static _Thread_local char csp_swig_msg[128];

static int csp_swig_fail(int rc)
{
    csp_swig_err = rc;
    return rc;
}

static int64_t csp_swig_deadline(long long timeout_ms)
{
    if (timeout_ms < 0)
        return CSP_FOREVER;
    if (timeout_ms > INT64_MAX / 2000000)
        timeout_ms = INT64_MAX / 2000000;
    return csp_now_ns() + (int64_t)timeout_ms * 1000000;
}

static void *csp_swig_val(long long v)
{
    return (void *)(intptr_t)v;
}

/* Ops of one alts, gathered one by one (a portable stand-in for a host
 * list), then run; the result stays for csp_swig_alts_index/_value. */
typedef struct csp_swig_alts {
    csp_op *ops;
    size_t n, cap;
    size_t idx;
    long long val;
} csp_swig_alts;
%}

%include <stdint.i>
%include <exception.i>

/* Raise the last csp error, if any, as a host exception. */
%exception {
    csp_swig_err = 0;
    $action
    if (csp_swig_err < 0) {
        snprintf(csp_swig_msg, sizeof csp_swig_msg, "%s: %s",
                 csp_errname(csp_swig_err), csp_strerror(csp_swig_err));
        SWIG_exception(SWIG_RuntimeError, csp_swig_msg);
    }
}

/* Result codes and flags, as in csp.h. */
%constant int CSP_OK = CSP_OK;
%constant int CSP_EINVAL = CSP_EINVAL;
%constant int CSP_ENOMEM = CSP_ENOMEM;
%constant int CSP_ECLOSED = CSP_ECLOSED;
%constant int CSP_EAGAIN = CSP_EAGAIN;
%constant int CSP_ETIMEDOUT = CSP_ETIMEDOUT;
%constant int CSP_ECANCELED = CSP_ECANCELED;
%constant int CSP_EBUSY = CSP_EBUSY;
%constant int CSP_EPERM = CSP_EPERM;
%constant int CSP_BUF_NONE = CSP_BUF_NONE;
%constant int CSP_BUF_FIXED = CSP_BUF_FIXED;
%constant int CSP_BUF_DROPPING = CSP_BUF_DROPPING;
%constant int CSP_BUF_SLIDING = CSP_BUF_SLIDING;
%constant int CSP_BUF_PROMISE = CSP_BUF_PROMISE;
%constant int CSP_ALTS_PRIORITY = CSP_ALTS_PRIORITY;
%constant int CSP_ALTS_DEFAULT = CSP_ALTS_DEFAULT;

typedef struct csp_rt csp_rt;
typedef struct csp_chan csp_chan;
typedef struct csp_swig_alts csp_swig_alts;

%rename("%(strip:[csp_swig_])s") "";

%inline %{
/* csp's version as "MAJOR.MINOR.PATCH". */
const char *csp_swig_version(void)
{
    static char buf[32];
    int v = csp_version();

    snprintf(buf, sizeof buf, "%d.%d.%d", v / 10000, v / 100 % 100,
             v % 100);
    return buf;
}

/* The name ("CSP_ECLOSED") and the sentence for a result code. */
const char *csp_swig_errname(int rc) { return csp_errname(rc); }
const char *csp_swig_strerror(int rc) { return csp_strerror(rc); }

/* The monotonic clock, in nanoseconds. */
long long csp_swig_now_ns(void) { return csp_now_ns(); }

/* The process-wide runtime, created on first use. */
csp_rt *csp_swig_rt_default(void)
{
    csp_rt *rt = csp_rt_default();

    if (!rt)
        csp_swig_fail(CSP_ENOMEM);
    return rt;
}

/* A runtime of its own with THREADS workers (0: the default). */
csp_rt *csp_swig_rt_new(int threads)
{
    csp_rt *rt = NULL;
    int rc = threads < 0 ? CSP_EINVAL : csp_rt_new(&rt, NULL, NULL);

    if (rc == CSP_OK && threads > 0)
        rc = csp_rt_set(rt, CSP_RT_THREADS, threads);
    if (rc != CSP_OK) {
        if (rt)
            csp_rt_free(rt, CSP_RT_FREE_FORCE);
        csp_swig_fail(rc);
        return NULL;
    }
    return rt;
}

/* Free a runtime from csp_swig_rt_new; EBUSY while operations wait. */
void csp_swig_rt_free(csp_rt *rt)
{
    int rc = csp_rt_free(rt, 0);

    if (rc != CSP_OK)
        csp_swig_fail(rc);
}

/* A channel: BUF is one of the CSP_BUF_* constants, CAP its size (0 for
 * CSP_BUF_NONE and CSP_BUF_PROMISE). Release it with chan_release. */
csp_chan *csp_swig_chan_new(csp_rt *rt, int buf, long long cap)
{
    csp_chan *ch = NULL;
    int rc = cap < 0 ? CSP_EINVAL
                     : csp_chan_new(&ch, rt, buf, (size_t)cap, NULL, NULL);

    if (rc != CSP_OK)
        csp_swig_fail(rc);
    return ch;
}

/* A channel handed over from C as an address (e.g. from another binding);
 * takes a new reference. */
csp_chan *csp_swig_chan_from_ptr(long long addr)
{
    if (!addr) {
        csp_swig_fail(CSP_EINVAL);
        return NULL;
    }
    return csp_chan_retain((csp_chan *)(intptr_t)addr);
}

void csp_swig_chan_release(csp_chan *ch) { csp_chan_release(ch); }

void csp_swig_chan_close(csp_chan *ch)
{
    int rc = csp_chan_close(ch);

    if (rc != CSP_OK)
        csp_swig_fail(rc);
}

int csp_swig_chan_closed(csp_chan *ch)
{
    if (!ch)
        return csp_swig_fail(CSP_EINVAL), 0;
    return csp_chan_closed(ch);
}

long long csp_swig_chan_id(csp_chan *ch)
{
    if (!ch)
        return csp_swig_fail(CSP_EINVAL), 0;
    return (long long)csp_chan_id(ch);
}

/* Values buffered plus puts waiting. */
long long csp_swig_chan_count(csp_chan *ch)
{
    if (!ch)
        return csp_swig_fail(CSP_EINVAL), 0;
    return (long long)csp_chan_count(ch);
}

/* Put V (non-zero), waiting up to TIMEOUT_MS (-1: forever). 1 when the
 * channel took it, 0 when the channel is closed. */
int csp_swig_put(csp_chan *ch, long long v, long long timeout_ms)
{
    int rc = csp_chan_put_blocking(ch, csp_swig_val(v),
                                   csp_swig_deadline(timeout_ms));

    if (rc == CSP_OK)
        return 1;
    if (rc != CSP_ECLOSED)
        csp_swig_fail(rc);
    return 0;
}

/* Take a value, waiting up to TIMEOUT_MS (-1: forever); 0 when the channel
 * is closed and drained. */
long long csp_swig_take(csp_chan *ch, long long timeout_ms)
{
    void *v = NULL;
    int rc = csp_chan_take_blocking(ch, &v, csp_swig_deadline(timeout_ms));

    if (rc != CSP_OK && rc != CSP_ECLOSED)
        csp_swig_fail(rc);
    return rc == CSP_OK ? (long long)(intptr_t)v : 0;
}

/* Put V only if that can happen now: CSP_OK, CSP_EAGAIN (would wait) or
 * CSP_ECLOSED; anything else raises. */
int csp_swig_offer(csp_chan *ch, long long v)
{
    int rc = csp_chan_offer(ch, csp_swig_val(v));

    if (rc != CSP_OK && rc != CSP_EAGAIN && rc != CSP_ECLOSED)
        csp_swig_fail(rc);
    return rc;
}

/* Take a value only if one is there now; 0 when none is (chan_closed
 * tells a closed channel from an empty one). */
long long csp_swig_poll(csp_chan *ch)
{
    void *v = NULL;
    int rc = csp_chan_poll(ch, &v);

    if (rc != CSP_OK && rc != CSP_EAGAIN && rc != CSP_ECLOSED)
        csp_swig_fail(rc);
    return rc == CSP_OK ? (long long)(intptr_t)v : 0;
}

/* A channel that closes MS milliseconds from now. */
csp_chan *csp_swig_timeout(csp_rt *rt, long long ms)
{
    csp_chan *ch = NULL;
    int rc = ms < 0 ? CSP_EINVAL : csp_timeout(&ch, rt, (uint64_t)ms);

    if (rc != CSP_OK)
        csp_swig_fail(rc);
    return ch;
}

/* An empty alts; add ops with alts_take/alts_put, run it with alts_run,
 * free it with alts_free. */
csp_swig_alts *csp_swig_alts_new(void)
{
    csp_swig_alts *a = calloc(1, sizeof *a);

    if (!a)
        csp_swig_fail(CSP_ENOMEM);
    return a;
}

static void csp_swig_alts_add(csp_swig_alts *a, csp_chan *ch, int kind,
                              long long v)
{
    if (!a || !ch) {
        csp_swig_fail(CSP_EINVAL);
        return;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        csp_op *ops = realloc(a->ops, cap * sizeof *ops);

        if (!ops) {
            csp_swig_fail(CSP_ENOMEM);
            return;
        }
        a->ops = ops;
        a->cap = cap;
    }
    a->ops[a->n].ch = ch;
    a->ops[a->n].kind = kind;
    a->ops[a->n].val = csp_swig_val(v);
    a->n++;
}

/* Add a take from CH. */
void csp_swig_alts_take(csp_swig_alts *a, csp_chan *ch)
{
    csp_swig_alts_add(a, ch, CSP_OP_TAKE, 0);
}

/* Add a put of V (non-zero) on CH. */
void csp_swig_alts_put(csp_swig_alts *a, csp_chan *ch, long long v)
{
    if (v == 0) {
        csp_swig_fail(CSP_EINVAL);
        return;
    }
    csp_swig_alts_add(a, ch, CSP_OP_PUT, v);
}

/* Commit exactly one op, waiting up to TIMEOUT_MS (-1: forever). FLAGS:
 * CSP_ALTS_PRIORITY, CSP_ALTS_DEFAULT. Returns the op's index, or -1 when
 * CSP_ALTS_DEFAULT found nothing ready; alts_value then gives the value
 * taken (0 for a put, or a take that found its channel closed). */
int csp_swig_alts_run(csp_swig_alts *a, int flags, long long timeout_ms)
{
    void *v = NULL;
    int rc;

    if (!a)
        return csp_swig_fail(CSP_EINVAL), -1;
    rc = csp_alts_blocking(a->ops, a->n, flags,
                           csp_swig_deadline(timeout_ms), &a->idx, &v);
    if (rc == CSP_EAGAIN && (flags & CSP_ALTS_DEFAULT))
        return -1;
    if (rc != CSP_OK && rc != CSP_ECLOSED)
        return csp_swig_fail(rc), -1;
    a->val = rc == CSP_OK ? (long long)(intptr_t)v : 0;
    return (int)a->idx;
}

/* The value the last alts_run took (0: none). */
long long csp_swig_alts_value(csp_swig_alts *a)
{
    if (!a)
        return csp_swig_fail(CSP_EINVAL), 0;
    return a->val;
}

void csp_swig_alts_free(csp_swig_alts *a)
{
    if (a) {
        free(a->ops);
        free(a);
    }
}
%}
