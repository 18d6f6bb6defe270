/* csp.i - the SWIG interface: csp for host languages that have no binding
 * of their own (Tcl, Perl, Ruby, R, ...).
 *
 *   swig -tcl8 -Icore/include -o csp_tcl_wrap.c bindings/csp.i
 *   swig -perl5 -Icore/include -o csp_perl_wrap.c bindings/csp.i
 *
 * and compile the wrapper with bindings/ffi.c, linking -lcsp -lffi.
 *
 * csp.h itself is written for C: out-parameters, callbacks, void * values.
 * This interface wraps a host-neutral subset instead of %including the
 * header:
 *
 *   - handles are SWIG pointers (csp_rt, csp_chan, csp_swig_alts,
 *     csp_loop), checked against a table of live handles on every call:
 *     a released handle raises "EINVAL: ... after ..._release", never
 *     touches freed memory;
 *   - values are non-zero integers (`long long`), which a host maps to its
 *     own objects with a table if it needs to; 0 means "no value" (closed,
 *     or nothing to poll), as nil does in core.async;
 *   - blocking operations take a timeout in milliseconds (-1: forever);
 *   - callback operations (put_async, take_async, alts_async) take a
 *     script callable, made into a C callback by bindings/ffi.c (libffi
 *     closures) and run on the host's thread when it drains its loop
 *     (loop_new, loop_fd, loop_drain): a host registers loop_fd with its
 *     own event loop (Tcl's fileevent, Perl's select). The callback runs
 *     exactly once, even for an op that completes at once; an error it
 *     raises is reported (Tcl: bgerror; Perl: warn) and the drain goes on;
 *   - every csp error becomes a host exception (SWIG_RuntimeError) whose
 *     message starts with the error's name, e.g. "ETIMEDOUT: ...",
 *     except the outcomes a caller branches on: take and alts report a
 *     closed channel as 0, put reports it as 0, offer returns its three
 *     outcomes as codes.
 *
 * The language-specific part is the script reference (hold, call,
 * release) and its typemap, under SWIGTCL and SWIGPERL below. Channels
 * made here are ordinary csp channels: C code and go processes may share
 * them with the host (through csp_swig_chan_from_ptr). docs/swig.md is
 * the guide; tests/swig/ the tests (Tcl and Perl).
 */
%module cspswig

%{
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csp.h"
#include "csp_ffi.h"

/* The error of the last call on this thread, 0 when it succeeded; the
 * %exception block below turns it into a host exception. */
static _Thread_local int csp_swig_err;
static _Thread_local char csp_swig_msg[160];
/* A message of its own for the error, instead of csp_strerror's. */
static _Thread_local const char *csp_swig_why;

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

/* ---- Live handles ------------------------------------------------------
 * Every handle given to the host is in this table, with a count (a
 * timeout channel, or chan_from_ptr, may hand out one address twice);
 * the check typemaps refuse one that is not, so a released handle raises
 * instead of reaching freed memory. Op ids (put_async...) live here too,
 * under their id, with the op as value. */
enum {
    CSP_SWIG_H_RT = 1,  /* any runtime handle */
    CSP_SWIG_H_RT_OWNED, /* one from rt_new, which rt_free may free */
    CSP_SWIG_H_CHAN,
    CSP_SWIG_H_ALTS,
    CSP_SWIG_H_LOOP,
    CSP_SWIG_H_OP
};

typedef struct csp_swig_entry {
    uintptr_t key;
    int type;
    long count;
    void *val;
    struct csp_swig_entry *next;
} csp_swig_entry;

#define CSP_SWIG_BUCKETS 1024
static csp_swig_entry *csp_swig_tab[CSP_SWIG_BUCKETS];
static pthread_mutex_t csp_swig_tab_lock = PTHREAD_MUTEX_INITIALIZER;

static csp_swig_entry **csp_swig_slot(uintptr_t key, int type)
{
    uint64_t h = ((uint64_t)key ^ (uint64_t)type) * 0x9E3779B97F4A7C15ull;
    csp_swig_entry **e = &csp_swig_tab[(h >> 32) % CSP_SWIG_BUCKETS];

    while (*e && ((*e)->key != key || (*e)->type != type))
        e = &(*e)->next;
    return e;
}

/* Count one more handle KEY of TYPE; CSP_OK or CSP_ENOMEM. */
static int csp_swig_reg_add(const void *key, int type, void *val)
{
    csp_swig_entry **e, *n;
    int rc = CSP_OK;

    pthread_mutex_lock(&csp_swig_tab_lock);
    e = csp_swig_slot((uintptr_t)key, type);
    if (*e) {
        (*e)->count++;
    } else if ((n = calloc(1, sizeof *n)) != NULL) {
        n->key = (uintptr_t)key;
        n->type = type;
        n->count = 1;
        n->val = val;
        *e = n;
    } else {
        rc = CSP_ENOMEM;
    }
    pthread_mutex_unlock(&csp_swig_tab_lock);
    return rc;
}

/* Count one handle KEY of TYPE less (ALL: forget it); 1 if it was live. */
static int csp_swig_reg_drop(const void *key, int type, int all)
{
    csp_swig_entry **e, *dead = NULL;
    int found;

    pthread_mutex_lock(&csp_swig_tab_lock);
    e = csp_swig_slot((uintptr_t)key, type);
    found = *e != NULL;
    if (found && (all || --(*e)->count == 0)) {
        dead = *e;
        *e = dead->next;
    }
    pthread_mutex_unlock(&csp_swig_tab_lock);
    free(dead);
    return found;
}

/* The value of live KEY of TYPE, or NULL. */
static void *csp_swig_reg_get(const void *key, int type)
{
    csp_swig_entry **e;
    void *val = NULL;

    pthread_mutex_lock(&csp_swig_tab_lock);
    e = csp_swig_slot((uintptr_t)key, type);
    if (*e)
        val = (*e)->val ? (*e)->val : (void *)key;
    pthread_mutex_unlock(&csp_swig_tab_lock);
    return val;
}

static int csp_swig_live(const void *key, int type)
{
    return csp_swig_reg_get(key, type) != NULL;
}

/* Register a handle just made (one reference); on failure release it
 * with FREE and report ENOMEM. */
static void *csp_swig_hand_out(void *h, int type, void (*free_fn)(void *))
{
    if (h && csp_swig_reg_add(h, type, NULL) != CSP_OK) {
        free_fn(h);
        csp_swig_fail(CSP_ENOMEM);
        return NULL;
    }
    return h;
}

static void csp_swig_chan_unref(void *ch) { csp_chan_release(ch); }
static void csp_swig_loop_unref(void *loop) { csp_ffi_loop_free(loop); }

/* Ops of one alts, gathered one by one (a portable stand-in for a host
 * list), then run; the result stays for csp_swig_alts_index/_value. Each
 * op holds a reference to its channel until alts_free. */
typedef struct csp_swig_alts {
    csp_op *ops;
    size_t n, cap;
    size_t idx;
    long long val;
} csp_swig_alts;

/* ---- Script callables --------------------------------------------------
 * The language-specific part: csp_swig_script is a borrowed reference in
 * a typemap's temporary; _hold makes an owned copy, _free drops it, _call
 * runs it with integer arguments on the host thread and reports (never
 * propagates) an error it raises. */
#ifdef SWIGTCL
typedef struct csp_swig_script {
    Tcl_Interp *interp;
    Tcl_Obj *obj;
} csp_swig_script;

static csp_swig_script *csp_swig_script_hold(const csp_swig_script *s)
{
    csp_swig_script *h = malloc(sizeof *h);

    if (h) {
        *h = *s;
        Tcl_IncrRefCount(h->obj);
        Tcl_Preserve(h->interp);
    }
    return h;
}

static void csp_swig_script_free(csp_swig_script *s)
{
    if (s) {
        Tcl_DecrRefCount(s->obj);
        Tcl_Release(s->interp);
        free(s);
    }
}

/* The script is a command prefix: the arguments are appended as words and
 * it runs at global level. An error goes to the interpreter's background
 * error handler (interp bgerror), the interpreter's result is kept. */
static void csp_swig_script_call(csp_swig_script *s, int n,
                                 const long long *args)
{
    Tcl_Interp *ip = s->interp;
    Tcl_Obj *cmd = Tcl_DuplicateObj(s->obj);
    Tcl_InterpState st;
    int rc = TCL_OK;

    Tcl_IncrRefCount(cmd);
    Tcl_Preserve(ip);
    st = Tcl_SaveInterpState(ip, TCL_OK);
    for (int i = 0; i < n && rc == TCL_OK; i++)
        rc = Tcl_ListObjAppendElement(ip, cmd, Tcl_NewWideIntObj(args[i]));
    if (rc == TCL_OK)
        rc = Tcl_EvalObjEx(ip, cmd, TCL_EVAL_GLOBAL);
    if (rc == TCL_ERROR) {
        Tcl_AddErrorInfo(ip, "\n    (csp callback)");
        Tcl_BackgroundException(ip, rc);
    }
    Tcl_RestoreInterpState(ip, st);
    Tcl_DecrRefCount(cmd);
    Tcl_Release(ip);
}
#elif defined(SWIGPERL)
typedef struct csp_swig_script {
    SV *sv;
} csp_swig_script;

static csp_swig_script *csp_swig_script_hold(const csp_swig_script *s)
{
    dTHX;
    csp_swig_script *h = malloc(sizeof *h);

    if (h)
        h->sv = newSVsv(s->sv);
    return h;
}

static void csp_swig_script_free(csp_swig_script *s)
{
    if (s) {
        dTHX;
        SvREFCNT_dec(s->sv);
        free(s);
    }
}

/* The script is a code reference (or a sub's name), called in an eval:
 * a die becomes a warning ("csp: callback died: ..."). */
static void csp_swig_script_call(csp_swig_script *s, int n,
                                 const long long *args)
{
    dTHX;
    dSP;

    ENTER;
    SAVETMPS;
    PUSHMARK(SP);
    EXTEND(SP, n);
    for (int i = 0; i < n; i++)
        PUSHs(sv_2mortal(newSViv((IV)args[i])));
    PUTBACK;
    call_sv(s->sv, G_DISCARD | G_EVAL);
    if (SvTRUE(ERRSV))
        warn("csp: callback died: %" SVf, SVfARG(ERRSV));
    FREETMPS;
    LEAVE;
}
#else
#error "bindings/csp.i: no script glue for this SWIG language (see SWIGTCL)"
#endif

/* ---- Callback ops ------------------------------------------------------
 * One op per put_async/take_async/alts_async: a libffi closure (ONCE)
 * whose host side is the op. The op's id is live until its callback runs
 * or op_cancel withdraws it; the closure, the script reference and the
 * op are freed together after the callback or at the cancel. */
typedef struct csp_swig_op {
    long long id;
    csp_pending *pending;
    csp_ffi_cb *cb;
    csp_swig_script *script;
    int nargs;              /* arguments the script gets */
    int done;
} csp_swig_op;

/* Op ids: never reused, unique across threads (one Tcl interpreter per
 * thread may load the module). */
static atomic_llong csp_swig_op_ids;

static void csp_swig_op_call(void *host, int n, const long long *args)
{
    csp_swig_op *op = host;

    op->done = 1;
    csp_swig_reg_drop((void *)(intptr_t)op->id, CSP_SWIG_H_OP, 1);
    csp_pending_release(op->pending);
    op->pending = NULL;
    csp_swig_script_call(op->script, n < op->nargs ? n : op->nargs, args);
}

static void csp_swig_op_release(void *host)
{
    csp_swig_op *op = host;

    if (!op->done)
        csp_swig_reg_drop((void *)(intptr_t)op->id, CSP_SWIG_H_OP, 1);
    csp_pending_release(op->pending);
    csp_swig_script_free(op->script);
    free(op);
}

/* A registered op whose closure has signature SIG and passes the script
 * its first NARGS arguments; NULL on ENOMEM (reported). */
static csp_swig_op *csp_swig_op_new(csp_loop *loop, const char *sig,
                                    int nargs,
                                    const csp_swig_script *script)
{
    csp_swig_op *op = calloc(1, sizeof *op);

    if (!op || !(op->script = csp_swig_script_hold(script))) {
        free(op);
        csp_swig_fail(CSP_ENOMEM);
        return NULL;
    }
    op->id = atomic_fetch_add(&csp_swig_op_ids, 1) + 1;
    op->nargs = nargs;
    op->cb = csp_ffi_cb_new(sig, loop, CSP_FFI_ONCE, csp_swig_op_call,
                            csp_swig_op_release, op);
    if (!op->cb) {
        csp_swig_script_free(op->script);
        free(op);
        csp_swig_fail(CSP_ENOMEM);
        return NULL;
    }
    if (csp_swig_reg_add((void *)(intptr_t)op->id, CSP_SWIG_H_OP, op) !=
        CSP_OK) {
        csp_ffi_cb_free(op->cb);
        csp_swig_fail(CSP_ENOMEM);
        return NULL;
    }
    return op;
}

/* The op could not be queued: raise RC; no callback. */
static long long csp_swig_op_refuse(csp_swig_op *op, int rc)
{
    csp_ffi_cb_free(op->cb);
    csp_swig_fail(rc);
    return 0;
}
%}

%include <stdint.i>
%include <exception.i>

/* Raise the last csp error, if any, as a host exception. */
%exception {
    csp_swig_err = 0;
    csp_swig_why = NULL;
    $action
    if (csp_swig_err < 0) {
        snprintf(csp_swig_msg, sizeof csp_swig_msg, "%s: %s",
                 csp_errname(csp_swig_err),
                 csp_swig_why ? csp_swig_why : csp_strerror(csp_swig_err));
        SWIG_exception(SWIG_RuntimeError, csp_swig_msg);
    }
}

/* Handles are checked before any call uses them: NULL goes through (the
 * calls report EINVAL), a handle not live raises. */
%define CSP_SWIG_CHECK(TYPE, TAG, WHAT)
%typemap(check) TYPE {
    if ($1 && !csp_swig_live($1, TAG))
        SWIG_exception(SWIG_RuntimeError, "EINVAL: " WHAT);
}
%enddef
CSP_SWIG_CHECK(csp_rt *, CSP_SWIG_H_RT, "runtime handle used after rt_free")
CSP_SWIG_CHECK(csp_chan *, CSP_SWIG_H_CHAN,
               "channel handle used after chan_release")
CSP_SWIG_CHECK(csp_swig_alts *, CSP_SWIG_H_ALTS,
               "alts handle used after alts_free")
CSP_SWIG_CHECK(csp_loop *, CSP_SWIG_H_LOOP, "loop handle used after loop_free")

/* A script callable, borrowed for the call (csp_swig_script_hold keeps
 * it). */
#ifdef SWIGTCL
%typemap(in) csp_swig_script * (csp_swig_script tmp) {
    tmp.interp = interp;
    tmp.obj = $input;
    $1 = &tmp;
}
%typemap(in, numinputs=0) Tcl_Interp *interp {
    $1 = interp;
}
#elif defined(SWIGPERL)
%typemap(in) csp_swig_script * (csp_swig_script tmp) {
    if (!SvOK($input) ||
        (SvROK($input) && SvTYPE(SvRV($input)) != SVt_PVCV))
        SWIG_exception(SWIG_RuntimeError,
                       "EINVAL: the callback is not a code reference");
    tmp.sv = $input;
    $1 = &tmp;
}
#endif

/* Result codes and flags, as in csp.h. */
%constant int CSP_OK = CSP_OK;
%constant int CSP_PENDING = CSP_PENDING;
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
typedef struct csp_loop csp_loop;
typedef struct csp_swig_alts csp_swig_alts;
typedef struct csp_swig_script csp_swig_script;

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

/* The calling OS thread, as a number: a callback compares it with the
 * host thread's to see where it runs. */
long long csp_swig_thread_id(void)
{
    return (long long)(uintptr_t)pthread_self();
}

/* Callback closures alive now (made, not yet freed). */
long csp_swig_closures_live(void) { return csp_ffi_live(); }

/* The process-wide runtime, created on first use. */
csp_rt *csp_swig_rt_default(void)
{
    csp_rt *rt = csp_rt_default();

    if (!rt) {
        csp_swig_fail(CSP_ENOMEM);
        return NULL;
    }
    if (!csp_swig_live(rt, CSP_SWIG_H_RT) &&
        csp_swig_reg_add(rt, CSP_SWIG_H_RT, NULL) != CSP_OK) {
        csp_swig_fail(CSP_ENOMEM);
        return NULL;
    }
    return rt;
}

/* A runtime of its own with THREADS workers (0: the default). */
csp_rt *csp_swig_rt_new(int threads)
{
    csp_rt *rt = NULL;
    int rc = threads < 0 ? CSP_EINVAL : csp_rt_new(&rt, NULL, NULL);

    if (rc == CSP_OK && threads > 0)
        rc = csp_rt_set(rt, CSP_RT_THREADS, threads);
    if (rc == CSP_OK && csp_swig_reg_add(rt, CSP_SWIG_H_RT, NULL) != CSP_OK)
        rc = CSP_ENOMEM;
    if (rc == CSP_OK &&
        csp_swig_reg_add(rt, CSP_SWIG_H_RT_OWNED, NULL) != CSP_OK) {
        csp_swig_reg_drop(rt, CSP_SWIG_H_RT, 1);
        rc = CSP_ENOMEM;
    }
    if (rc != CSP_OK) {
        if (rt)
            csp_rt_free(rt, CSP_RT_FREE_FORCE);
        csp_swig_fail(rc);
        return NULL;
    }
    return rt;
}

/* Free a runtime from csp_swig_rt_new; EBUSY while operations wait,
 * EPERM for rt_default's. */
void csp_swig_rt_free(csp_rt *rt)
{
    int rc;

    if (rt && !csp_swig_live(rt, CSP_SWIG_H_RT_OWNED)) {
        csp_swig_why = "rt_default's runtime is never freed";
        csp_swig_fail(CSP_EPERM);
        return;
    }
    rc = csp_rt_free(rt, 0);
    if (rc != CSP_OK) {
        csp_swig_fail(rc);
        return;
    }
    csp_swig_reg_drop(rt, CSP_SWIG_H_RT_OWNED, 1);
    csp_swig_reg_drop(rt, CSP_SWIG_H_RT, 1);
}

/* A channel: BUF is one of the CSP_BUF_* constants, CAP its size (0 for
 * CSP_BUF_NONE and CSP_BUF_PROMISE). Release it with chan_release. */
csp_chan *csp_swig_chan_new(csp_rt *rt, int buf, long long cap)
{
    csp_chan *ch = NULL;
    int rc = cap < 0 ? CSP_EINVAL
                     : csp_chan_new(&ch, rt, buf, (size_t)cap, NULL, NULL);

    if (rc != CSP_OK) {
        csp_swig_fail(rc);
        return NULL;
    }
    return csp_swig_hand_out(ch, CSP_SWIG_H_CHAN, csp_swig_chan_unref);
}

/* A channel handed over from C as an address (e.g. from another binding);
 * takes a new reference. */
csp_chan *csp_swig_chan_from_ptr(long long addr)
{
    if (!addr) {
        csp_swig_fail(CSP_EINVAL);
        return NULL;
    }
    return csp_swig_hand_out(csp_chan_retain((csp_chan *)(intptr_t)addr),
                             CSP_SWIG_H_CHAN, csp_swig_chan_unref);
}

/* CH's address, for chan_from_ptr or another binding (which then takes
 * its own reference). */
long long csp_swig_chan_ptr(csp_chan *ch)
{
    if (!ch)
        return csp_swig_fail(CSP_EINVAL), 0;
    return (long long)(intptr_t)ch;
}

/* Give the handle back; using it afterwards raises EINVAL. */
void csp_swig_chan_release(csp_chan *ch)
{
    if (ch) {
        csp_swig_reg_drop(ch, CSP_SWIG_H_CHAN, 0);
        csp_chan_release(ch);
    }
}

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

    if (rc != CSP_OK) {
        csp_swig_fail(rc);
        return NULL;
    }
    return csp_swig_hand_out(ch, CSP_SWIG_H_CHAN, csp_swig_chan_unref);
}

/* An empty alts; add ops with alts_take/alts_put, run it with alts_run
 * or alts_async, free it with alts_free. */
csp_swig_alts *csp_swig_alts_new(void)
{
    csp_swig_alts *a = calloc(1, sizeof *a);

    if (!a) {
        csp_swig_fail(CSP_ENOMEM);
        return NULL;
    }
    return csp_swig_hand_out(a, CSP_SWIG_H_ALTS, free);
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
    a->ops[a->n].ch = csp_chan_retain(ch);
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

/* Free A; an alts_async it started goes on (it has its own copy). */
void csp_swig_alts_free(csp_swig_alts *a)
{
    if (a) {
        csp_swig_reg_drop(a, CSP_SWIG_H_ALTS, 1);
        for (size_t i = 0; i < a->n; i++)
            csp_chan_release(a->ops[i].ch);
        free(a->ops);
        free(a);
    }
}

/* ---- The host's loop ---------------------------------------------------
 * Callbacks of the _async calls run on the thread that calls loop_drain
 * (or loop_free). loop_fd becomes readable when there is something to
 * drain: register it with the host's event loop. */

/* A loop for RT's callbacks; free it with loop_free. */
csp_loop *csp_swig_loop_new(csp_rt *rt)
{
    csp_loop *loop = NULL;
    int rc = csp_loop_new(&loop, rt);

    if (rc != CSP_OK) {
        csp_swig_fail(rc);
        return NULL;
    }
    return csp_swig_hand_out(loop, CSP_SWIG_H_LOOP, csp_swig_loop_unref);
}

/* The descriptor to watch for readability. */
int csp_swig_loop_fd(csp_loop *loop)
{
    if (!loop)
        return csp_swig_fail(CSP_EINVAL), -1;
    return csp_loop_fd(loop);
}

/* Run every callback queued now; returns how many ran. */
int csp_swig_loop_drain(csp_loop *loop)
{
    int rc = csp_ffi_drain(loop, -1);

    if (rc < 0)
        csp_swig_fail(rc);
    return rc < 0 ? 0 : rc;
}

/* Wait up to TIMEOUT_MS (-1: forever) for something to drain: 1 if there
 * is, 0 if the time ran out. */
int csp_swig_loop_wait(csp_loop *loop, int timeout_ms)
{
    int rc = csp_loop_wait(loop, timeout_ms);

    if (rc < 0)
        csp_swig_fail(rc);
    return rc < 0 ? 0 : rc;
}

/* Free LOOP: callbacks of ops still waiting run once, now, with
 * CSP_ECANCELED; queued ones run too. */
void csp_swig_loop_free(csp_loop *loop)
{
    if (loop) {
        csp_swig_reg_drop(loop, CSP_SWIG_H_LOOP, 1);
        csp_ffi_loop_free(loop);
    }
}

/* ---- Callback operations -----------------------------------------------
 * Each returns an op id (for op_cancel) and calls SCRIPT exactly once,
 * from a drain of LOOP: with (rc) for a put, (rc value) for a take, (rc
 * index value) for an alts; rc is CSP_OK, CSP_ECLOSED (value 0),
 * CSP_ECANCELED (loop_free) or, for an alts with CSP_ALTS_DEFAULT and
 * nothing ready, CSP_EAGAIN (index -1). An op that completes at once
 * calls back from the next drain as well. Bad arguments raise, with no
 * callback. */

/* Put V (non-zero) on CH. */
long long csp_swig_put_async(csp_chan *ch, long long v, csp_loop *loop,
                             csp_swig_script *script)
{
    csp_swig_op *op;
    int rc;

    if (!ch || !loop || v == 0)
        return csp_swig_fail(CSP_EINVAL), 0;
    if (!(op = csp_swig_op_new(loop, "pip", 1, script)))
        return 0;
    rc = csp_chan_put_cb(ch, csp_swig_val(v), csp_loop_executor(loop),
                         (csp_done_fn)csp_ffi_cb_fn(op->cb), NULL,
                         &op->pending);
    if (rc == CSP_OK || rc == CSP_ECLOSED) {
        int was = csp_ffi_defer(1);
        ((csp_done_fn)csp_ffi_cb_fn(op->cb))(NULL, rc, NULL);
        csp_ffi_defer(was);
    } else if (rc != CSP_PENDING)
        return csp_swig_op_refuse(op, rc);
    return op->id;
}

/* Take from CH. */
long long csp_swig_take_async(csp_chan *ch, csp_loop *loop,
                              csp_swig_script *script)
{
    csp_swig_op *op;
    void *v = NULL;
    int rc;

    if (!ch || !loop)
        return csp_swig_fail(CSP_EINVAL), 0;
    if (!(op = csp_swig_op_new(loop, "pip", 2, script)))
        return 0;
    rc = csp_chan_take_cb(ch, &v, csp_loop_executor(loop),
                          (csp_done_fn)csp_ffi_cb_fn(op->cb), NULL,
                          &op->pending);
    if (rc == CSP_OK || rc == CSP_ECLOSED) {
        int was = csp_ffi_defer(1);
        ((csp_done_fn)csp_ffi_cb_fn(op->cb))(NULL, rc, v);
        csp_ffi_defer(was);
    } else if (rc != CSP_PENDING)
        return csp_swig_op_refuse(op, rc);
    return op->id;
}

/* Commit exactly one of A's ops (FLAGS as for alts_run). */
long long csp_swig_alts_async(csp_swig_alts *a, int flags, csp_loop *loop,
                              csp_swig_script *script)
{
    csp_swig_op *op;
    size_t idx = 0;
    void *v = NULL;
    int rc;

    if (!a || !loop)
        return csp_swig_fail(CSP_EINVAL), 0;
    if (!(op = csp_swig_op_new(loop, "pizp", 3, script)))
        return 0;
    rc = csp_alts_cb(a->ops, a->n, flags, &idx, &v, csp_loop_executor(loop),
                     (csp_alts_fn)csp_ffi_cb_fn(op->cb), NULL, &op->pending);
    if (rc == CSP_EAGAIN && (flags & CSP_ALTS_DEFAULT)) {
        rc = CSP_EAGAIN;
        idx = (size_t)-1;
        v = NULL;
    } else if (rc != CSP_OK && rc != CSP_ECLOSED && rc != CSP_PENDING) {
        return csp_swig_op_refuse(op, rc);
    }
    if (rc != CSP_PENDING) {
        int was = csp_ffi_defer(1);
        ((csp_alts_fn)csp_ffi_cb_fn(op->cb))(NULL, rc, idx, v);
        csp_ffi_defer(was);
    }
    return op->id;
}

/* Withdraw op ID: 1 if withdrawn (its callback never runs), 0 if it has
 * completed (its callback runs or ran once) or the id is unknown. */
int csp_swig_op_cancel(long long id)
{
    csp_swig_op *op = csp_swig_reg_get((void *)(intptr_t)id, CSP_SWIG_H_OP);

    if (!op || !op->pending || op->done)
        return 0;
    if (csp_pending_cancel(op->pending, NULL) != CSP_OK)
        return 0;
    csp_ffi_cb_free(op->cb);
    return 1;
}

/* 1 while op ID waits for its callback, else 0. */
int csp_swig_op_live(long long id)
{
    return csp_swig_live((void *)(intptr_t)id, CSP_SWIG_H_OP);
}
%}

#ifdef SWIGTCL
%inline %{
/* A Tcl channel (a duplicate of loop_fd) for `fileevent ... readable`:
 * close it before or after loop_free; it is never read. */
const char *csp_swig_loop_channel(Tcl_Interp *interp, csp_loop *loop)
{
    Tcl_Channel chan;
    int fd;

    if (!loop)
        return csp_swig_fail(CSP_EINVAL), NULL;
    fd = dup(csp_loop_fd(loop));
    if (fd < 0)
        return csp_swig_fail(CSP_ENOMEM), NULL;
    chan = Tcl_MakeFileChannel((ClientData)(intptr_t)fd, TCL_READABLE);
    Tcl_RegisterChannel(interp, chan);
    return Tcl_GetChannelName(chan);
}
%}
#endif
