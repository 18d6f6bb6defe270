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
 *   - drop hooks (chan_new_drop, chan_new_xf) are closures that queue
 *     each dropped value to the loop; the script runs from a drain, and
 *     the closure is freed after the channel (csp_chan_on_free, through
 *     csp_ffi_tie). Transform steps (xf_map, xf_filter, ..., xf_step)
 *     must answer at once under the channel's lock: they run the script
 *     only on its interpreter's thread inside a call of this module, and
 *     elsewhere drop the value and fail with CSP_EPERM, which the
 *     channel's exception handler gets from a drain;
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
/* Wrapper calls under way on this thread (a script transform step runs
 * only inside one, on its interpreter's thread), and whether a script
 * step or exception handler runs now (under a channel's lock: every
 * wrapper call raises EPERM, as it could deadlock on that lock). */
static _Thread_local int csp_swig_active;
static _Thread_local int csp_swig_in_step;

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
    CSP_SWIG_H_OP,
    CSP_SWIG_H_XF
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

/* What a script transform step or exception handler returned
 * (csp_swig_script_eval). */
enum {
    CSP_SWIG_WANT_BOOL,     /* a truth: filter, remove, take/drop_while */
    CSP_SWIG_WANT_INT,      /* a non-zero integer: map */
    CSP_SWIG_WANT_INT0,     /* an integer, 0 for none: an exception handler */
    CSP_SWIG_WANT_LIST      /* non-zero integers, "reduced": step */
};

typedef struct csp_swig_res {
    int truth;
    long long one;
    long long *vals;        /* malloc'd; the caller frees */
    int n;
    int reduced;
} csp_swig_res;

/* ---- Script callables --------------------------------------------------
 * The language-specific part: csp_swig_script is a borrowed reference in
 * a typemap's temporary; _hold makes an owned copy, _free drops it, _call
 * runs it with integer arguments on the host thread and reports (never
 * propagates) an error it raises. */
#ifdef SWIGTCL
typedef struct csp_swig_script {
    Tcl_Interp *interp;
    Tcl_Obj *obj;
    pthread_t owner;                /* the interpreter's thread */
    struct csp_swig_script *later;  /* csp_swig_script_release's list */
} csp_swig_script;

static csp_swig_script *csp_swig_script_hold(const csp_swig_script *s)
{
    csp_swig_script *h = malloc(sizeof *h);

    if (h) {
        *h = *s;
        h->owner = pthread_self();
        h->later = NULL;
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

/* Run S with ARG and read its result as WANT asks (a boolean, a non-zero
 * integer, or a list of non-zero integers and the word "reduced") into
 * R. 0, or -1 when the script raised or its result was not that: the
 * error goes to the background error handler. */
static int csp_swig_script_eval(csp_swig_script *s, long long arg, int want,
                                csp_swig_res *r)
{
    Tcl_Interp *ip = s->interp;
    Tcl_Obj *cmd = Tcl_DuplicateObj(s->obj);
    Tcl_InterpState st;
    int rc;

    Tcl_IncrRefCount(cmd);
    Tcl_Preserve(ip);
    st = Tcl_SaveInterpState(ip, TCL_OK);
    rc = Tcl_ListObjAppendElement(ip, cmd, Tcl_NewWideIntObj(arg));
    if (rc == TCL_OK)
        rc = Tcl_EvalObjEx(ip, cmd, TCL_EVAL_GLOBAL);
    if (rc == TCL_OK) {
        Tcl_Obj *res = Tcl_GetObjResult(ip), **objv;
        Tcl_WideInt w = 0;
        int objc = 0;

        switch (want) {
        case CSP_SWIG_WANT_BOOL:
            rc = Tcl_GetBooleanFromObj(ip, res, &r->truth);
            break;
        case CSP_SWIG_WANT_INT:
        case CSP_SWIG_WANT_INT0:
            rc = Tcl_GetWideIntFromObj(ip, res, &w);
            r->one = w;
            if (rc == TCL_OK && w == 0 && want == CSP_SWIG_WANT_INT) {
                Tcl_SetObjResult(ip, Tcl_NewStringObj(
                    "csp: the transform returned 0, which is no value", -1));
                rc = TCL_ERROR;
            }
            break;
        default:
            rc = Tcl_ListObjGetElements(ip, res, &objc, &objv);
            if (rc == TCL_OK && objc > 0 &&
                !(r->vals = malloc((size_t)objc * sizeof *r->vals))) {
                Tcl_SetObjResult(ip, Tcl_NewStringObj("csp: no memory", -1));
                rc = TCL_ERROR;
            }
            for (int i = 0; i < objc && rc == TCL_OK; i++) {
                if (strcmp(Tcl_GetString(objv[i]), "reduced") == 0) {
                    r->reduced = 1;
                    continue;
                }
                rc = Tcl_GetWideIntFromObj(ip, objv[i], &w);
                if (rc == TCL_OK && w == 0) {
                    Tcl_SetObjResult(ip, Tcl_NewStringObj(
                        "csp: the transform emitted 0, which is no value",
                        -1));
                    rc = TCL_ERROR;
                }
                if (rc == TCL_OK)
                    r->vals[r->n++] = w;
            }
            break;
        }
    } else if (rc != TCL_ERROR) {
        Tcl_SetObjResult(ip, Tcl_NewStringObj(
            "csp: the transform ended with break, continue or return", -1));
        rc = TCL_ERROR;
    }
    if (rc != TCL_OK) {
        Tcl_AddErrorInfo(ip, "\n    (csp transform step)");
        Tcl_BackgroundException(ip, TCL_ERROR);
    }
    Tcl_RestoreInterpState(ip, st);
    Tcl_DecrRefCount(cmd);
    Tcl_Release(ip);
    return rc == TCL_OK ? 0 : -1;
}
#elif defined(SWIGPERL)
typedef struct csp_swig_script {
    SV *sv;
    pthread_t owner;                /* the interpreter's thread */
    struct csp_swig_script *later;  /* csp_swig_script_release's list */
} csp_swig_script;

static csp_swig_script *csp_swig_script_hold(const csp_swig_script *s)
{
    dTHX;
    csp_swig_script *h = malloc(sizeof *h);

    if (h) {
        h->sv = newSVsv(s->sv);
        h->owner = pthread_self();
        h->later = NULL;
    }
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

/* Run S with ARG and read its result as WANT asks (scalar context: a
 * truth, a non-zero integer; list context: non-zero integers and the
 * string "reduced") into R. 0, or -1 when it died or returned something
 * else: a warning "csp: transform step died: ..." says why. */
static int csp_swig_script_eval(csp_swig_script *s, long long arg, int want,
                                csp_swig_res *r)
{
    dTHX;
    dSP;
    const char *bad = NULL;
    int count, ok = 0;

    ENTER;
    SAVETMPS;
    PUSHMARK(SP);
    XPUSHs(sv_2mortal(newSViv((IV)arg)));
    PUTBACK;
    count = call_sv(s->sv, (want == CSP_SWIG_WANT_LIST ? G_ARRAY : G_SCALAR) |
                               G_EVAL);
    SPAGAIN;
    if (SvTRUE(ERRSV)) {
        warn("csp: transform step died: %" SVf, SVfARG(ERRSV));
        ok = -1;
    } else if (want == CSP_SWIG_WANT_LIST) {
        SV **items = SP - count + 1;

        if (count > 0 && !(r->vals = malloc((size_t)count * sizeof *r->vals)))
            bad = "no memory";
        for (int i = 0; i < count && !bad; i++) {
            if (SvPOK(items[i]) && strcmp(SvPV_nolen(items[i]), "reduced") == 0)
                r->reduced = 1;
            else if (!SvOK(items[i]) || !looks_like_number(items[i]) ||
                     SvIV(items[i]) == 0)
                bad = "the transform emitted something that is not a "
                      "non-zero integer";
            else
                r->vals[r->n++] = (long long)SvIV(items[i]);
        }
    } else if (count == 1) {
        SV *sv = SP[0];

        if (want == CSP_SWIG_WANT_BOOL)
            r->truth = SvTRUE(sv);
        else if (!SvOK(sv) ? want == CSP_SWIG_WANT_INT
                           : !looks_like_number(sv))
            bad = "the transform returned something that is not an integer";
        else if ((r->one = SvOK(sv) ? (long long)SvIV(sv) : 0) == 0 &&
                 want == CSP_SWIG_WANT_INT)
            bad = "the transform returned 0, which is no value";
    }
    if (bad) {
        warn("csp: transform step died: %s\n", bad);
        ok = -1;
    }
    SP -= count;
    PUTBACK;
    FREETMPS;
    LEAVE;
    return ok;
}
#else
#error "bindings/csp.i: no script glue for this SWIG language (see SWIGTCL)"
#endif

/* ---- Script references freed from any thread --------------------------
 * A script transform's recipe goes with the last channel that uses it,
 * on whichever thread releases that one (a go process, another binding):
 * its script reference is queued here and released by the interpreter's
 * own thread at its next wrapper call. */
static pthread_mutex_t csp_swig_later_lock = PTHREAD_MUTEX_INITIALIZER;
static csp_swig_script *csp_swig_later;
static atomic_int csp_swig_later_n;

static void csp_swig_script_release(csp_swig_script *s)
{
    if (!s)
        return;
    if (pthread_equal(s->owner, pthread_self())) {
        csp_swig_script_free(s);
        return;
    }
    pthread_mutex_lock(&csp_swig_later_lock);
    s->later = csp_swig_later;
    csp_swig_later = s;
    atomic_fetch_add(&csp_swig_later_n, 1);
    pthread_mutex_unlock(&csp_swig_later_lock);
}

/* Release the references queued for this thread. */
static void csp_swig_reap(void)
{
    csp_swig_script **p, *mine = NULL;

    if (atomic_load(&csp_swig_later_n) == 0)
        return;
    pthread_mutex_lock(&csp_swig_later_lock);
    for (p = &csp_swig_later; *p;) {
        csp_swig_script *s = *p;
        if (pthread_equal(s->owner, pthread_self())) {
            *p = s->later;
            s->later = mine;
            mine = s;
            atomic_fetch_sub(&csp_swig_later_n, 1);
        } else {
            p = &s->later;
        }
    }
    pthread_mutex_unlock(&csp_swig_later_lock);
    while (mine) {
        csp_swig_script *s = mine;
        mine = s->later;
        csp_swig_script_free(s);
    }
}

/* ---- Script drop hooks -------------------------------------------------
 * A CSP_FFI_QUEUE closure whose host is the script: csp calls it from any
 * thread (possibly under the channel's lock), it queues the value, and
 * the script runs from a drain of the loop, once per value. Tied to the
 * channel (csp_ffi_tie), it is freed after the channel is. */
static void csp_swig_drop_call(void *host, int n, const long long *args)
{
    csp_swig_script_call(host, n < 1 ? n : 1, args);
}

static void csp_swig_drop_release(void *host)
{
    csp_swig_script_release(host);
}

/* A drop closure for SCRIPT on LOOP; NULL on ENOMEM (reported). */
static csp_ffi_cb *csp_swig_drop_new(csp_loop *loop,
                                     const csp_swig_script *script)
{
    csp_swig_script *h = csp_swig_script_hold(script);
    csp_ffi_cb *cb = h ? csp_ffi_cb_new("pp", loop, CSP_FFI_QUEUE,
                                        csp_swig_drop_call,
                                        csp_swig_drop_release, h)
                       : NULL;

    if (!cb) {
        csp_swig_script_free(h);
        csp_swig_fail(CSP_ENOMEM);
    }
    return cb;
}

/* ---- Script transforms --------------------------------------------------
 * A step runs under the channel's lock, on the thread that adds the
 * value, and must return at once. It runs the script only on the
 * script's interpreter thread, inside a wrapper call (put, offer, take
 * moving a parked put into the buffer, a callback run by loop_drain...).
 * Reached any other way (a go process, a C thread, another binding's
 * call) it drops the value and fails with CSP_EPERM: the channel's
 * exception handler gets that, queued to the loop. */
enum {
    CSP_SWIG_XF_MAP,
    CSP_SWIG_XF_FILTER,
    CSP_SWIG_XF_REMOVE,
    CSP_SWIG_XF_TAKE_WHILE,
    CSP_SWIG_XF_DROP_WHILE,
    CSP_SWIG_XF_STEP
};

typedef struct csp_swig_xrec {
    int mode;
    csp_swig_script *script;
} csp_swig_xrec;

typedef struct csp_swig_xstate {
    csp_swig_xrec *rec;
    int dropping;           /* drop_while: still dropping */
} csp_swig_xstate;

/* May script S run here and now? */
static int csp_swig_may_run(const csp_swig_script *s)
{
    return csp_swig_active > 0 && !csp_swig_in_step &&
           pthread_equal(s->owner, pthread_self());
}

static int csp_swig_xf_init(void *ud, void **state)
{
    csp_swig_xstate *x = malloc(sizeof *x);

    if (!x)
        return CSP_ENOMEM;
    x->rec = ud;
    x->dropping = 1;
    *state = x;
    return CSP_OK;
}

static void csp_swig_xf_fini(void *state, csp_emit *out)
{
    (void)out;
    free(state);
}

static void csp_swig_xf_ud_free(void *ud)
{
    csp_swig_xrec *rec = ud;

    csp_swig_script_release(rec->script);
    free(rec);
}

static int csp_swig_xf_run(void *state, void *val, csp_emit *out)
{
    csp_swig_xstate *x = state;
    int mode = x->rec->mode;
    csp_swig_res r = {0};
    long long v = (long long)(intptr_t)val;
    int rc = CSP_OK, kept = 0;

    if (!csp_swig_may_run(x->rec->script)) {
        csp_emit_drop(out, val);
        return CSP_EPERM;
    }
    if (mode == CSP_SWIG_XF_DROP_WHILE && !x->dropping)
        return csp_emit_value(out, val);
    csp_swig_in_step = 1;
    rc = csp_swig_script_eval(x->rec->script, v,
                              mode == CSP_SWIG_XF_MAP    ? CSP_SWIG_WANT_INT
                              : mode == CSP_SWIG_XF_STEP ? CSP_SWIG_WANT_LIST
                                                         : CSP_SWIG_WANT_BOOL,
                              &r);
    csp_swig_in_step = 0;
    if (rc != 0) {
        free(r.vals);
        csp_emit_drop(out, val);
        return CSP_EINVAL;
    }
    switch (mode) {
    case CSP_SWIG_XF_MAP:
        return csp_emit_value(out, csp_swig_val(r.one));
    case CSP_SWIG_XF_FILTER:
    case CSP_SWIG_XF_REMOVE:
        if (r.truth == (mode == CSP_SWIG_XF_FILTER))
            return csp_emit_value(out, val);
        csp_emit_drop(out, val);
        return CSP_OK;
    case CSP_SWIG_XF_TAKE_WHILE:
        if (r.truth)
            return csp_emit_value(out, val);
        csp_emit_drop(out, val);
        return CSP_REDUCED;
    case CSP_SWIG_XF_DROP_WHILE:
        if (r.truth) {
            csp_emit_drop(out, val);
            return CSP_OK;
        }
        x->dropping = 0;
        return csp_emit_value(out, val);
    default:
        for (int i = 0; i < r.n && rc == CSP_OK; i++) {
            kept |= r.vals[i] == v;
            rc = csp_emit_value(out, csp_swig_val(r.vals[i]));
        }
        if (!kept)
            csp_emit_drop(out, val);
        if (rc == CSP_OK && r.reduced)
            rc = CSP_REDUCED;
        free(r.vals);
        return rc;
    }
}

/* A recipe running SCRIPT in MODE; NULL on an error (reported). */
static csp_xform *csp_swig_xf_script(csp_rt *rt, int mode,
                                     const csp_swig_script *script)
{
    csp_swig_xrec *rec;
    csp_xform *xf = NULL;
    int rc;

    if (!rt)
        return csp_swig_fail(CSP_EINVAL), NULL;
    rec = calloc(1, sizeof *rec);
    if (!rec || !(rec->script = csp_swig_script_hold(script))) {
        free(rec);
        return csp_swig_fail(CSP_ENOMEM), NULL;
    }
    rec->mode = mode;
    rc = csp_xform_new(&xf, rt, csp_swig_xf_init, csp_swig_xf_run, NULL,
                       csp_swig_xf_fini, rec, csp_swig_xf_ud_free);
    if (rc != CSP_OK) {
        csp_swig_xf_ud_free(rec);
        return csp_swig_fail(rc), NULL;
    }
    return xf;
}

/* The exception handler of a transform channel made here: its ud is the
 * channel's report closure (CSP_FFI_QUEUE, "pi"), whose host holds the
 * script handler (or NULL). On the interpreter's thread inside a wrapper
 * call the script runs at once, and a non-zero result is added to the
 * channel; anywhere else (a step refused on a foreign thread) the error
 * is queued, and the script gets it from a drain (its result is then
 * ignored: the put is long over). */
typedef struct csp_swig_exh_host {
    csp_swig_script *script;    /* NULL: no handler */
} csp_swig_exh_host;

static void *csp_swig_exh(void *ud, int err)
{
    csp_ffi_cb *report = ud;

    if (csp_ffi_cb_mine(report) && csp_swig_active > 0 &&
        !csp_swig_in_step) {
        csp_swig_exh_host *h = csp_ffi_cb_host(report);
        csp_swig_res r = {0};
        int rc;

        if (!h || !h->script)
            return NULL;
        csp_swig_in_step = 1;
        rc = csp_swig_script_eval(h->script, err, CSP_SWIG_WANT_INT0, &r);
        csp_swig_in_step = 0;
        return rc == 0 ? csp_swig_val(r.one) : NULL;
    }
    ((void (*)(void *, int))csp_ffi_cb_fn(report))(NULL, err);
    return NULL;
}

static void csp_swig_exh_call(void *host, int n, const long long *args)
{
    csp_swig_exh_host *h = host;

    if (h->script)
        csp_swig_script_call(h->script, n < 1 ? n : 1, args);
}

static void csp_swig_exh_release(void *host)
{
    csp_swig_exh_host *h = host;

    csp_swig_script_release(h->script);
    free(h);
}

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
    if (csp_swig_in_step)
        SWIG_exception(SWIG_RuntimeError,
                       "EPERM: csp call inside a transform step or "
                       "exception handler (it runs under the channel's lock)");
    csp_swig_reap();
    csp_swig_active++;
    $action
    csp_swig_active--;
    if (csp_swig_err < 0) {
        snprintf(csp_swig_msg, sizeof csp_swig_msg, "%s: %s",
                 csp_errname(csp_swig_err),
                 csp_swig_why ? csp_swig_why : csp_strerror(csp_swig_err));
        SWIG_exception(SWIG_RuntimeError, csp_swig_msg);
    }
}

/* Calls that touch no csp object, allowed inside a transform step too. */
%define CSP_SWIG_PURE(NAME)
%exception NAME {
    $action
}
%enddef
CSP_SWIG_PURE(csp_swig_version)
CSP_SWIG_PURE(csp_swig_errname)
CSP_SWIG_PURE(csp_swig_strerror)
CSP_SWIG_PURE(csp_swig_now_ns)
CSP_SWIG_PURE(csp_swig_thread_id)
CSP_SWIG_PURE(csp_swig_closures_live)

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
CSP_SWIG_CHECK(csp_xform *, CSP_SWIG_H_XF,
               "transform handle used after xf_release")

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
/* An optional callable: the empty string for none. */
%typemap(in) csp_swig_script *opt_drop (csp_swig_script tmp),
             csp_swig_script *opt_exh (csp_swig_script tmp) {
    if (Tcl_GetCharLength($input) == 0) {
        $1 = NULL;
    } else {
        tmp.interp = interp;
        tmp.obj = $input;
        $1 = &tmp;
    }
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
/* An optional callable: undef for none. */
%typemap(in) csp_swig_script *opt_drop (csp_swig_script tmp),
             csp_swig_script *opt_exh (csp_swig_script tmp) {
    if (!SvOK($input)) {
        $1 = NULL;
    } else {
        if (SvROK($input) && SvTYPE(SvRV($input)) != SVt_PVCV)
            SWIG_exception(SWIG_RuntimeError,
                           "EINVAL: the callback is not a code reference");
        tmp.sv = $input;
        $1 = &tmp;
    }
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
typedef struct csp_xform csp_xform;
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

/* A channel whose dropped values (evicted by a sliding buffer, refused by
 * a full dropping one, ignored by a delivered promise, still buffered when
 * the channel is freed) go to DROP: `DROP value`, run from a drain of
 * LOOP, once per value. The closure goes when the channel is freed. */
csp_chan *csp_swig_chan_new_drop(csp_rt *rt, int buf, long long cap,
                                 csp_loop *loop, csp_swig_script *script)
{
    csp_ffi_cb *cb;
    csp_chan *ch = NULL;
    int rc;

    if (!rt || !loop || cap < 0)
        return csp_swig_fail(CSP_EINVAL), NULL;
    if (!(cb = csp_swig_drop_new(loop, script)))
        return NULL;
    rc = csp_chan_new(&ch, rt, buf, (size_t)cap,
                      (csp_drop_fn)csp_ffi_cb_fn(cb), NULL);
    if (rc == CSP_OK && (rc = csp_ffi_tie(ch, &cb, 1)) != CSP_OK) {
        csp_chan_release(ch); /* nothing buffered: the hook is not called */
        ch = NULL;
    }
    if (rc != CSP_OK) {
        csp_ffi_cb_free(cb);
        return csp_swig_fail(rc), NULL;
    }
    return csp_swig_hand_out(ch, CSP_SWIG_H_CHAN, csp_swig_chan_unref);
}

/* A channel whose puts pass through transform XF (BUF not CSP_BUF_NONE).
 * OPT_DROP (empty/undef: none) gets the values the channel or the
 * transform discards, as chan_new_drop. OPT_EXH (empty/undef: none)
 * handles a failing step: `OPT_EXH rc`, whose non-zero integer result is
 * added to the channel; a step refused off the interpreter's thread
 * (CSP_EPERM) reaches it from a drain of LOOP instead, result ignored. */
csp_chan *csp_swig_chan_new_xf(csp_rt *rt, int buf, long long cap,
                               csp_xform *xf, csp_loop *loop,
                               csp_swig_script *opt_drop,
                               csp_swig_script *opt_exh)
{
    csp_ffi_cb *cbs[2] = {NULL, NULL};
    csp_swig_exh_host *h;
    csp_chan *ch = NULL;
    int n = 0, rc;

    if (!rt || !xf || !loop || cap < 0)
        return csp_swig_fail(CSP_EINVAL), NULL;
    h = calloc(1, sizeof *h);
    if (!h || (opt_exh && !(h->script = csp_swig_script_hold(opt_exh))) ||
        !(cbs[n] = csp_ffi_cb_new("pi", loop, CSP_FFI_QUEUE,
                                  csp_swig_exh_call, csp_swig_exh_release,
                                  h))) {
        if (h)
            csp_swig_script_free(h->script);
        free(h);
        return csp_swig_fail(CSP_ENOMEM), NULL;
    }
    n++;
    if (opt_drop && !(cbs[n++] = csp_swig_drop_new(loop, opt_drop))) {
        csp_ffi_cb_free(cbs[0]);
        return NULL;
    }
    rc = csp_chan_new_xf(&ch, rt, buf, (size_t)cap,
                         opt_drop ? (csp_drop_fn)csp_ffi_cb_fn(cbs[1]) : NULL,
                         NULL, xf, csp_swig_exh, cbs[0]);
    if (rc == CSP_OK && (rc = csp_ffi_tie(ch, cbs, n)) != CSP_OK) {
        csp_chan_release(ch);
        ch = NULL;
    }
    if (rc != CSP_OK) {
        for (int i = 0; i < n; i++)
            csp_ffi_cb_free(cbs[i]);
        return csp_swig_fail(rc), NULL;
    }
    return csp_swig_hand_out(ch, CSP_SWIG_H_CHAN, csp_swig_chan_unref);
}

/* ---- Transforms ----------------------------------------------------------
 * Recipes for chan_new_xf; release each with xf_release (a channel keeps
 * its own reference). The script ones run `SCRIPT value` as the step, on
 * the interpreter's thread only (docs/swig.md, "Transforms"). */
static csp_xform *csp_swig_xf_out(csp_xform *xf, int rc)
{
    if (rc != CSP_OK) {
        csp_swig_fail(rc);
        return NULL;
    }
    return csp_swig_hand_out(xf, CSP_SWIG_H_XF,
                             (void (*)(void *))csp_xform_release);
}

/* `SCRIPT v` returns the value to pass on (non-zero). */
csp_xform *csp_swig_xf_map(csp_rt *rt, csp_swig_script *script)
{
    csp_xform *xf = csp_swig_xf_script(rt, CSP_SWIG_XF_MAP, script);
    return xf ? csp_swig_xf_out(xf, CSP_OK) : NULL;
}

/* Values for which `SCRIPT v` is true pass; the others are dropped. */
csp_xform *csp_swig_xf_filter(csp_rt *rt, csp_swig_script *script)
{
    csp_xform *xf = csp_swig_xf_script(rt, CSP_SWIG_XF_FILTER, script);
    return xf ? csp_swig_xf_out(xf, CSP_OK) : NULL;
}

/* Values for which `SCRIPT v` is true are dropped. */
csp_xform *csp_swig_xf_remove(csp_rt *rt, csp_swig_script *script)
{
    csp_xform *xf = csp_swig_xf_script(rt, CSP_SWIG_XF_REMOVE, script);
    return xf ? csp_swig_xf_out(xf, CSP_OK) : NULL;
}

/* Values pass while `SCRIPT v` is true; the first false one stops the
 * transform (the channel closes). */
csp_xform *csp_swig_xf_take_while(csp_rt *rt, csp_swig_script *script)
{
    csp_xform *xf = csp_swig_xf_script(rt, CSP_SWIG_XF_TAKE_WHILE, script);
    return xf ? csp_swig_xf_out(xf, CSP_OK) : NULL;
}

/* Values are dropped while `SCRIPT v` is true; from the first false one
 * on, all pass. */
csp_xform *csp_swig_xf_drop_while(csp_rt *rt, csp_swig_script *script)
{
    csp_xform *xf = csp_swig_xf_script(rt, CSP_SWIG_XF_DROP_WHILE, script);
    return xf ? csp_swig_xf_out(xf, CSP_OK) : NULL;
}

/* The general step: `SCRIPT v` returns a list of values to emit (none,
 * one, several), which may hold the word "reduced": stop after emitting
 * them. V goes to the drop hook unless it is among them. */
csp_xform *csp_swig_xf_step(csp_rt *rt, csp_swig_script *script)
{
    csp_xform *xf = csp_swig_xf_script(rt, CSP_SWIG_XF_STEP, script);
    return xf ? csp_swig_xf_out(xf, CSP_OK) : NULL;
}

/* The built-ins that need no script code, as csp.h's. */
csp_xform *csp_swig_xf_take(csp_rt *rt, long long n)
{
    csp_xform *xf = NULL;
    return csp_swig_xf_out(xf, n < 0 ? CSP_EINVAL
                                     : csp_xf_take(&xf, rt, (uint64_t)n));
}

csp_xform *csp_swig_xf_drop(csp_rt *rt, long long n)
{
    csp_xform *xf = NULL;
    return csp_swig_xf_out(xf, n < 0 ? CSP_EINVAL
                                     : csp_xf_drop(&xf, rt, (uint64_t)n));
}

/* Drops a value equal to the one before it. */
csp_xform *csp_swig_xf_dedupe(csp_rt *rt)
{
    csp_xform *xf = NULL;
    return csp_swig_xf_out(xf, csp_xf_dedupe(&xf, rt, NULL, NULL));
}

/* Drops a value seen before. */
csp_xform *csp_swig_xf_distinct(csp_rt *rt)
{
    csp_xform *xf = NULL;
    return csp_swig_xf_out(xf, csp_xf_distinct(&xf, rt, NULL, NULL));
}

/* A then B: values pass through A first. */
csp_xform *csp_swig_xf_comp(csp_xform *a, csp_xform *b)
{
    csp_xform *xf = NULL, *both[2] = {a, b};
    return csp_swig_xf_out(xf, !a || !b ? CSP_EINVAL
                                        : csp_xform_comp(&xf, both, 2));
}

/* Give the handle back; channels made with it keep theirs. */
void csp_swig_xf_release(csp_xform *xf)
{
    if (xf) {
        csp_swig_reg_drop(xf, CSP_SWIG_H_XF, 1);
        csp_xform_release(xf);
    }
}

/* Move every value from FROM to TO in a go process of RT (on a csp
 * worker thread, not the interpreter's); when FROM closes, close TO if
 * CLOSE is non-zero. Stops taking when TO closes. */
void csp_swig_pipe(csp_rt *rt, csp_chan *from, csp_chan *to, int close)
{
    int rc = csp_pipe(rt, from, to, close);

    if (rc != CSP_OK)
        csp_swig_fail(rc);
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
