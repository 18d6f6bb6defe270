/* _glue.c - the C half of the Python binding, compiled into csp._csp
 * together with the core (written against csp.h only, STYLE §1).
 *
 * Python never runs on a csp thread. Everything C may call back, from any
 * thread, is therefore plain C here, and it only records:
 *
 *   - Values are words (intptr_t): a small int tagged in the pointer, or
 *     the id of a pinned Python object (csp/_values.py). NULL is never a
 *     value. pycsp_drop, the drop hook of every channel, queues discarded
 *     words under drop_lock; Python releases them on its own thread
 *     (pycsp_drops_take), checking the pycsp_drops_pending flag.
 *
 *   - Completions of _cb ops go to a "host" executor (a csp_loop without
 *     descriptor: one for the go scheduler thread, one per Python thread
 *     that blocks) or to a csp_loop with one (per asyncio event loop). Either way the completion
 *     task runs on the Python thread, inside pycsp_host_run or
 *     pycsp_loop_run, where pycsp_done / pycsp_alts_done append a record
 *     (id, rc, idx, word) to that call's output array (a thread-local
 *     pointer: the call runs the tasks itself, so they run on its thread).
 *     Each task calls exactly one callback, so running at most MAX tasks
 *     writes at most MAX records.
 *
 *   - Transform steps run under a channel lock on the thread that puts
 *     or takes, which is always a Python thread (only Python code uses
 *     these channels); the trampolines hand them to extern "Python"
 *     functions, which take the GIL. Every csp call from Python releases
 *     the GIL first (CFFI's default), so no thread holds the GIL while
 *     waiting for the lock of a channel that may run a step, and a step
 *     taking the GIL cannot deadlock. The one exception, the go fast path
 *     at the end of this file, holds the GIL only for channels under
 *     whose lock no step can run (see there).
 *
 * drop_lock is a leaf: nothing else is taken while it is held.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* ------------------------------------------------------------------------
 * Completion records. */

#define PYCSP_REC 4 /* words per record: id, rc, idx, value */

static _Thread_local intptr_t *rec_out;
static _Thread_local int rec_n, rec_max;

static void record(void *ud, int rc, size_t idx, void *val)
{
    /* Only reached from a task run by pycsp_host_run/pycsp_loop_run on
     * this thread, which bound rec_out and ran at most rec_max tasks. */
    if (!rec_out || rec_n >= rec_max)
        return;
    intptr_t *r = rec_out + (size_t)rec_n * PYCSP_REC;
    r[0] = (intptr_t)ud;
    r[1] = rc;
    r[2] = (intptr_t)idx;
    r[3] = (intptr_t)val;
    rec_n++;
}

static void pycsp_done(void *ud, int rc, void *val)
{
    record(ud, rc, 0, val);
}

static void pycsp_alts_done(void *ud, int rc, size_t idx, void *val)
{
    record(ud, rc, idx, val);
}

/* ------------------------------------------------------------------------
 * Drops: values a channel discards, released later by Python. */

static pthread_mutex_t drop_lock = PTHREAD_MUTEX_INITIALIZER;
static intptr_t *drop_buf;      /* guarded by drop_lock */
static size_t drop_n, drop_cap; /* guarded by drop_lock */
int pycsp_drops_pending;        /* 1 when drop_n > 0; read racily by Python:
                                   a stale 0 only delays the release */

static void pycsp_drop(void *ud, void *val)
{
    (void)ud;
    if (!val)
        return;
    pthread_mutex_lock(&drop_lock);
    if (drop_n == drop_cap) {
        size_t cap = drop_cap ? drop_cap * 2 : 64;
        intptr_t *b = realloc(drop_buf, cap * sizeof *b);
        if (!b) {
            /* Out of memory: the value stays pinned (a leak, never a
             * premature release). */
            pthread_mutex_unlock(&drop_lock);
            return;
        }
        drop_buf = b;
        drop_cap = cap;
    }
    drop_buf[drop_n++] = (intptr_t)val;
    __atomic_store_n(&pycsp_drops_pending, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&drop_lock);
}

static int pycsp_drops_take(intptr_t *out, int max)
{
    int n = 0;

    pthread_mutex_lock(&drop_lock);
    while (n < max && drop_n > 0)
        out[n++] = drop_buf[--drop_n];
    if (drop_n == 0)
        __atomic_store_n(&pycsp_drops_pending, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&drop_lock);
    return n;
}

/* ------------------------------------------------------------------------
 * Host executors: a csp_loop without descriptor (CSP_LOOP_NO_FD) drained
 * by one Python thread, which waits in csp_loop_wait with the GIL
 * released. The loop executor is csp's one host-executor protocol; the
 * no-descriptor flavour signals a condition variable only while the
 * owner waits, so a busy go scheduler makes no system call per batch. */

typedef csp_loop pycsp_host;

/* drop_lock is held across fork(), so the child finds it free. Loops
 * are the core's to handle (bindings/loop.c). */
static void fork_prepare(void) { pthread_mutex_lock(&drop_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&drop_lock); }

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_parent);
}

static void pycsp_atfork_init(void)
{
    pthread_once(&atfork_once, atfork_register);
}

/* The runtime Python uses: the default one unless the host named another
 * (csp.use_runtime, before the first channel). Set on the Python thread
 * that imports csp, read by Python threads only. */
static csp_rt *pycsp_rt;

static void pycsp_set_rt(csp_rt *rt)
{
    pycsp_rt = rt;
}

static pycsp_host *pycsp_host_new(void)
{
    csp_loop *loop;
    csp_rt *rt = pycsp_rt ? pycsp_rt : csp_rt_default();

    if (csp_loop_new_ex(&loop, rt, CSP_LOOP_NO_FD) != CSP_OK)
        return NULL;
    return loop;
}

/* Free H: ops still pending on it are cancelled (csp_loop_free). */
static void pycsp_host_free(pycsp_host *h)
{
    csp_loop_free(h);
}

static csp_exec *pycsp_host_exec(pycsp_host *h)
{
    return csp_loop_executor(h);
}

/* Make the owner's current or next pycsp_host_run return at once. */
static void pycsp_host_wake(pycsp_host *h)
{
    csp_loop_wake(h);
}

/* Wait until a task is queued, pycsp_host_wake is called, or TIMEOUT_MS
 * passes (< 0: no limit, 0: do not wait); then run up to MAX queued tasks,
 * writing one record each to OUT (MAX * 4 words). Returns the number of
 * records. Called by the owner thread only, with the GIL released. */
static int pycsp_host_run(pycsp_host *h, intptr_t *out, int max, int timeout_ms)
{
    if (timeout_ms != 0)
        csp_loop_wait(h, timeout_ms);
    rec_out = out;
    rec_n = 0;
    rec_max = max;
    csp_loop_run(h, max);
    rec_out = NULL;
    return rec_n;
}

/* Run up to MAX tasks queued on LOOP (an asyncio loop's csp_loop) and
 * write their records to OUT. Returns the number of records. */
static int pycsp_loop_run(csp_loop *loop, intptr_t *out, int max)
{
    int r;

    rec_out = out;
    rec_n = 0;
    rec_max = max;
    r = csp_loop_run(loop, max);
    rec_out = NULL;
    return r < 0 ? r : rec_n;
}

/* ------------------------------------------------------------------------
 * Operations on words. Each is the csp.h call of the same name with the
 * value as an intptr_t and, for _cb ops, pycsp_done as the callback and
 * ID as its ud. */

static int pycsp_offer(csp_chan *ch, intptr_t v)
{
    return csp_chan_offer(ch, (void *)v);
}

/* Takes return the taken word, or 4 * rc when no word was taken: words
 * are never multiples of 4 (csp/_values.py), so one integer says both. */
static intptr_t taken(int rc, void *p)
{
    return rc == CSP_OK ? (intptr_t)p : (intptr_t)rc * 4;
}

static intptr_t pycsp_poll(csp_chan *ch)
{
    void *p = NULL;
    int rc = csp_chan_poll(ch, &p);

    return taken(rc, p);
}

static int pycsp_put(csp_chan *ch, intptr_t v, csp_exec *ex, uintptr_t id,
                     csp_pending **pending)
{
    return csp_chan_put_cb(ch, (void *)v, ex, pycsp_done, (void *)id, pending);
}

static intptr_t pycsp_take(csp_chan *ch, csp_exec *ex, uintptr_t id,
                           csp_pending **pending)
{
    void *p = NULL;
    int rc = csp_chan_take_cb(ch, &p, ex, pycsp_done, (void *)id, pending);

    return taken(rc, p);
}

/* The go scheduler's forms ("go ops"). The scheduler thread calls
 * pycsp_sched_enter once; on any other thread a go op does nothing and
 * returns PYCSP_ELSEWHERE (takes: 4 * PYCSP_ELSEWHERE), which tells the
 * Python caller to use the asyncio or trio path instead.
 *
 * A go op's ud is a struct sop holding its pending handle, so that
 * csp.go's cancel() can withdraw it (pycsp_sched_cancel); the op's id is
 * the struct's address, and the id of the last op that returned
 * CSP_PENDING is in pycsp_sched_last_id. Completion (pycsp_sdone) and
 * cancellation both run on the scheduler thread, and either one gives the
 * struct back to a free list, so all of this state belongs to that thread.
 * Ids of other ops completing on the scheduler's executor (put_async,
 * trio) are odd, struct addresses even. */
#define PYCSP_ELSEWHERE 64

struct sop {
    csp_pending *p;
    struct sop *next; /* on the free list */
};

static _Thread_local int on_sched;
static csp_exec *sched_ex;
static struct sop *sop_free;
uintptr_t pycsp_sched_last_id;

static void pycsp_sched_enter(csp_exec *ex)
{
    sched_ex = ex;
    on_sched = 1;
}

static struct sop *sop_get(void)
{
    struct sop *o = sop_free;

    if (o) {
        sop_free = o->next;
        return o;
    }
    return malloc(sizeof *o);
}

static void sop_put(struct sop *o)
{
    csp_pending_release(o->p);
    o->p = NULL;
    o->next = sop_free;
    sop_free = o;
}

/* The op started with O did not become pending: no callback comes. */
static int sop_settle(struct sop *o, int rc)
{
    if (rc == CSP_PENDING) {
        pycsp_sched_last_id = (uintptr_t)o;
        return rc;
    }
    sop_put(o);
    return rc;
}

static void pycsp_sdone(void *ud, int rc, void *val)
{
    record(ud, rc, 0, val);
    sop_put(ud);
}

static void pycsp_salts_done(void *ud, int rc, size_t idx, void *val)
{
    record(ud, rc, idx, val);
    sop_put(ud);
}

static int pycsp_sput(csp_chan *ch, intptr_t v)
{
    struct sop *o;

    if (!on_sched)
        return PYCSP_ELSEWHERE;
    if (!(o = sop_get()))
        return CSP_ENOMEM;
    o->p = NULL;
    return sop_settle(o, csp_chan_put_cb(ch, (void *)v, sched_ex, pycsp_sdone,
                                         o, &o->p));
}

static intptr_t pycsp_stake(csp_chan *ch)
{
    void *p = NULL;
    struct sop *o;
    int rc;

    if (!on_sched)
        return 4 * PYCSP_ELSEWHERE;
    if (!(o = sop_get()))
        return 4 * CSP_ENOMEM;
    o->p = NULL;
    rc = sop_settle(o, csp_chan_take_cb(ch, &p, sched_ex, pycsp_sdone, o,
                                        &o->p));
    return taken(rc, p);
}

/* Withdraw the pending go op ID (scheduler thread, before its record was
 * handed to Python). CSP_OK: withdrawn, *V gets a put's word (else 0);
 * CSP_EAGAIN: it completed, its record comes. */
static int pycsp_sched_cancel(uintptr_t id, intptr_t *v)
{
    struct sop *o = (struct sop *)id;
    void *val = NULL;
    int rc = csp_pending_cancel(o->p, &val);

    *v = (intptr_t)val;
    if (rc == CSP_OK)
        sop_put(o);
    return rc;
}

/* alts over N channels CHS; VALS[i] is the word to put on CHS[i], or 0 for
 * a take. */
static int alts_cb(csp_chan *const *chs, const intptr_t *vals, size_t n,
                   int flags, size_t *idx, intptr_t *v, csp_exec *ex,
                   csp_alts_fn cb, void *ud, csp_pending **pending)
{
    csp_op stack_ops[16] = {{NULL, 0, NULL}};
    csp_op *ops = stack_ops;
    void *p = NULL;
    int rc;

    if (n > CSP_ALTS_MAX)
        return CSP_EINVAL;
    if (n > sizeof stack_ops / sizeof stack_ops[0]) {
        ops = malloc(n * sizeof *ops);
        if (!ops)
            return CSP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i].ch = chs[i];
        ops[i].kind = vals[i] ? CSP_OP_PUT : CSP_OP_TAKE;
        ops[i].val = (void *)vals[i];
    }
    rc = csp_alts_cb(ops, n, flags, idx, &p, ex, cb, ud, pending);
    if (ops != stack_ops)
        free(ops);
    *v = (intptr_t)p;
    return rc;
}

static int pycsp_alts(csp_chan *const *chs, const intptr_t *vals, size_t n,
                      int flags, size_t *idx, intptr_t *v, csp_exec *ex,
                      uintptr_t id, csp_pending **pending)
{
    return alts_cb(chs, vals, n, flags, idx, v, ex, pycsp_alts_done,
                   (void *)id, pending);
}

/* pycsp_alts as a go op. */
static int pycsp_salts(csp_chan *const *chs, const intptr_t *vals, size_t n,
                       int flags, size_t *idx, intptr_t *v)
{
    struct sop *o;

    if (!on_sched)
        return PYCSP_ELSEWHERE;
    if (!(o = sop_get()))
        return CSP_ENOMEM;
    o->p = NULL;
    return sop_settle(o, alts_cb(chs, vals, n, flags, idx, v, sched_ex,
                                 pycsp_salts_done, o, &o->p));
}

/* csp_pending_cancel; *V gets a withdrawn put's word (else 0). */
static int pycsp_cancel(csp_pending *p, intptr_t *v)
{
    void *val = NULL;
    int rc = csp_pending_cancel(p, &val);

    *v = (intptr_t)val;
    return rc;
}

static int pycsp_emit(csp_emit *out, intptr_t v)
{
    return csp_emit_value(out, (void *)v);
}

/* ------------------------------------------------------------------------
 * Transform trampolines. A channel's recipe data (and instance state) is
 * the word of its csp.xf instance record; the exception handler's data is
 * the same word. */

static int pycsp_py_xf_step(intptr_t state, intptr_t val, csp_emit *out);
static int pycsp_py_xf_complete(intptr_t state, csp_emit *out);
static intptr_t pycsp_py_exh(intptr_t ud, int err);

static int pycsp_xf_init(void *ud, void **state)
{
    *state = ud;
    return CSP_OK;
}

static int pycsp_xf_step(void *state, void *val, csp_emit *out)
{
    return pycsp_py_xf_step((intptr_t)state, (intptr_t)val, out);
}

static int pycsp_xf_complete(void *state, csp_emit *out)
{
    return pycsp_py_xf_complete((intptr_t)state, out);
}

/* The recipe's last reference went (its channel was freed), on any
 * thread: release the instance record like a dropped value. */
static void pycsp_xf_free(void *ud)
{
    pycsp_drop(NULL, ud);
}

static void *pycsp_exh(void *ud, int err)
{
    return (void *)pycsp_py_exh((intptr_t)ud, err);
}

/* ------------------------------------------------------------------------
 * The go fast path: ch.aput(v) and ch.atake() awaited in a go process,
 * in C (issue 15: W1, W2). Chan's base class _GoChan has aput and atake
 * as C methods; on the scheduler thread, for a channel whose ops run no
 * Python code (no transform: flag GF_FAST), they return a _GoOp, a small
 * awaitable that does the go op when first sent to (am_send, so an op
 * that completes at once returns its result without an exception, a
 * frame or a coroutine object) and parks the process otherwise, exactly
 * as Chan._aput_py/_atake_py do. Everywhere else they return the
 * coroutine of _aput_py/_atake_py (asyncio, trio, transforms).
 *
 * The go op is issued with the GIL held (releasing and retaking it
 * around each op doubled W2's time): safe because no thread holding the
 * lock of a GF_FAST channel ever waits for the GIL. Python code runs under
 * a channel lock only in a Python transform's step or ex_handler, which
 * runs under its own channel's lock and, in alts' pass 1 (csp.alts locks
 * every channel of the alts), under the others' locks too: so a channel
 * with a Python transform, or whose transform is unknown (from_handle), is
 * never GF_FAST, and every channel of an alts that has such a channel
 * loses GF_FAST for good before the alts runs (_chan._Alts). That happens
 * with the GIL held, so no go op on it is in progress then; a _GoOp made
 * before checks the flag again when it is first sent to. The drop hook
 * and the completion callbacks only record (see the top of this file).
 *
 * CFFI compiles this file against the limited API of Python 3.2, which
 * has no am_send; the slot exists from 3.10, and pycsp_fast_install
 * (called only there) creates the types with its number. Only functions
 * of the 3.2 stable ABI are called, so the module still loads on 3.8. */

#define PYCSP_AM_SEND 81 /* Py_am_send */
#define PYCSP_SEND_RETURN 0
#define PYCSP_SEND_ERROR (-1)
#define PYCSP_SEND_NEXT 1

enum { GF_FAST = 1, GF_PROMISE = 2, GF_DROPS = 4 };

typedef struct {
    PyObject_HEAD
    csp_chan *ch; /* borrowed from the Chan's _ch; NULL: slow path */
    int flags;
} gochan;

enum { GO_NEW, GO_PARKED, GO_INNER, GO_DONE };

typedef struct {
    PyObject_HEAD
    gochan *chan;    /* owned */
    PyObject *v;     /* a put's value until it is encoded (owned) */
    PyObject *inner; /* GO_INNER: the _aput_py/_atake_py coroutine */
    intptr_t w;      /* a parked put's word */
    int take;
    int state;
} goop;

static PyObject *go_op_type, *go_park, *go_sched, *go_waiting;
static PyObject *go_encode, *go_decode, *go_peek, *go_drain;
static PyObject *s_current, *s_aput_py, *s_atake_py, *s_put_done, *s_took,
    *s_send, *s_throw, *s_close, *s_value;

#define PY_INT_MIN (-((long long)1 << 61))
#define PY_INT_MAX (((long long)1 << 61) - 1)

static PyObject *gochan_aput(PyObject *self, PyObject *v)
{
    gochan *c = (gochan *)self;
    goop *op;

    if (!on_sched || !(c->flags & GF_FAST))
        return PyObject_CallMethodObjArgs(self, s_aput_py, v, NULL);
    op = PyObject_New(goop, (PyTypeObject *)go_op_type);
    if (!op)
        return NULL;
    Py_INCREF(self);
    Py_INCREF(v);
    op->chan = c;
    op->v = v;
    op->inner = NULL;
    op->w = 0;
    op->take = 0;
    op->state = GO_NEW;
    return (PyObject *)op;
}

static PyObject *gochan_atake(PyObject *self, PyObject *unused)
{
    gochan *c = (gochan *)self;
    goop *op;

    (void)unused;
    if (!on_sched || !(c->flags & GF_FAST))
        return PyObject_CallMethodObjArgs(self, s_atake_py, NULL);
    op = PyObject_New(goop, (PyTypeObject *)go_op_type);
    if (!op)
        return NULL;
    Py_INCREF(self);
    op->chan = c;
    op->v = NULL;
    op->inner = NULL;
    op->w = 0;
    op->take = 1;
    op->state = GO_NEW;
    return (PyObject *)op;
}

/* _fset(address, flags): the Chan's csp_chan (0: none) and GF_* flags. */
static PyObject *gochan_fset(PyObject *self, PyObject *args)
{
    gochan *c = (gochan *)self;
    Py_ssize_t addr;
    int flags;

    if (!PyArg_ParseTuple(args, "ni", &addr, &flags))
        return NULL;
    c->ch = (csp_chan *)addr;
    c->flags = addr ? flags : 0;
    Py_RETURN_NONE;
}

static PyMethodDef gochan_methods[] = {
    {"aput", gochan_aput, METH_O,
     "aput(v): put V, waiting in a go process, asyncio or trio task; "
     "awaits True when done, False if the channel is closed."},
    {"atake", gochan_atake, METH_NOARGS,
     "atake(): take a value, waiting in a go process, asyncio or trio "
     "task; awaits None once the channel is closed and drained."},
    {"_fset", gochan_fset, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static void goop_dealloc(PyObject *self)
{
    goop *op = (goop *)self;
    PyObject *tp = (PyObject *)Py_TYPE(self);

    /* A parked op's word is not released here: the op completes (its
     * record resumes the process, whose frame holds this object, so
     * that has happened) or _cancel withdrew it and released the word. */
    Py_XDECREF(op->chan);
    Py_XDECREF(op->v);
    Py_XDECREF(op->inner);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyObject *goop_await(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

/* The value of word R taken from C's channel (now the caller's). */
static PyObject *go_word_obj(gochan *c, intptr_t r)
{
    PyObject *n, *res;

    if (!(c->flags & GF_PROMISE)) {
        if ((r & 3) == 1)
            return PyLong_FromSsize_t(r >> 2);
        if (r == 7)
            Py_RETURN_TRUE;
        if (r == 3)
            Py_RETURN_FALSE;
    }
    if (!(n = PyLong_FromSsize_t(r)))
        return NULL;
    res = PyObject_CallFunctionObjArgs(c->flags & GF_PROMISE ? go_peek
                                                             : go_decode,
                                       n, NULL);
    Py_DECREF(n);
    return res;
}

/* Chan.<name>(rc, w) */
static PyObject *go_call2(gochan *c, PyObject *name, int rc, intptr_t w)
{
    PyObject *a = PyLong_FromLong(rc), *b = a ? PyLong_FromSsize_t(w) : NULL,
             *res = NULL;

    if (b)
        res = PyObject_CallMethodObjArgs((PyObject *)c, name, a, b, NULL);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return res;
}

static PyObject *go_put_result(gochan *c, int rc, intptr_t w)
{
    if (rc == CSP_OK) {
        if ((c->flags & GF_DROPS) &&
            __atomic_load_n(&pycsp_drops_pending, __ATOMIC_ACQUIRE)) {
            PyObject *r = PyObject_CallFunctionObjArgs(go_drain, NULL);
            if (!r)
                return NULL;
            Py_DECREF(r);
        }
        Py_RETURN_TRUE;
    }
    return go_call2(c, s_put_done, rc, w);
}

static PyObject *go_take_result(gochan *c, int rc, intptr_t w)
{
    if (rc == CSP_OK)
        return go_word_obj(c, w);
    if (rc == CSP_ECLOSED)
        Py_RETURN_NONE;
    return go_call2(c, s_took, rc, w);
}

/* Park the current process on the op that just returned CSP_PENDING. */
static int go_park_current(void)
{
    PyObject *cur = PyObject_GetAttr(go_sched, s_current), *key;
    int rc = -1;

    if (!cur)
        return -1;
    key = PyLong_FromSize_t(pycsp_sched_last_id);
    if (key) {
        rc = PyDict_SetItem(go_waiting, key, cur);
        Py_DECREF(key);
    }
    Py_DECREF(cur);
    return rc;
}

/* Send ARG to the coroutine INNER: PYCSP_SEND_NEXT with what it yielded,
 * PYCSP_SEND_RETURN with what it returned, or PYCSP_SEND_ERROR. */
static int go_inner_send(PyObject *inner, PyObject *arg, PyObject **res)
{
    PyObject *t, *v, *tb, *val;

    *res = PyObject_CallMethodObjArgs(inner, s_send, arg, NULL);
    if (*res)
        return PYCSP_SEND_NEXT;
    if (!PyErr_ExceptionMatches(PyExc_StopIteration))
        return PYCSP_SEND_ERROR;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    val = v ? PyObject_GetAttr(v, s_value) : NULL;
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    if (!val)
        return PYCSP_SEND_ERROR;
    *res = val;
    return PYCSP_SEND_RETURN;
}

static int goop_send(PyObject *self, PyObject *arg, PyObject **res)
{
    goop *op = (goop *)self;
    gochan *c = op->chan;
    int rc;

    *res = NULL;
    switch (op->state) {
    case GO_NEW:
        if (!on_sched || !(c->flags & GF_FAST)) {
            /* Made in a go process and awaited elsewhere, or the channel
             * lost GF_FAST since (an alts with a transform channel): the
             * general path. */
            op->inner = op->take
                            ? PyObject_CallMethodObjArgs((PyObject *)c,
                                                         s_atake_py, NULL)
                            : PyObject_CallMethodObjArgs((PyObject *)c,
                                                         s_aput_py, op->v,
                                                         NULL);
            Py_CLEAR(op->v);
            if (!op->inner) {
                op->state = GO_DONE;
                return PYCSP_SEND_ERROR;
            }
            op->state = GO_INNER;
            return goop_send(self, arg, res);
        }
        if (op->take) {
            intptr_t r = pycsp_stake(c->ch);

            if (r & 3) {
                op->state = GO_DONE;
                *res = go_word_obj(c, r);
                return *res ? PYCSP_SEND_RETURN : PYCSP_SEND_ERROR;
            }
            if (r == 4 * CSP_PENDING) {
                if (go_park_current() < 0) {
                    op->state = GO_DONE;
                    return PYCSP_SEND_ERROR;
                }
                op->state = GO_PARKED;
                Py_INCREF(go_park);
                *res = go_park;
                return PYCSP_SEND_NEXT;
            }
            op->state = GO_DONE;
            *res = go_take_result(c, (int)(r >> 2), 0);
            return *res ? PYCSP_SEND_RETURN : PYCSP_SEND_ERROR;
        } else {
            PyObject *v = op->v;
            intptr_t w;

            if (PyLong_CheckExact(v)) {
                int of = 0;
                long long x = PyLong_AsLongLongAndOverflow(v, &of);

                if (!of && x >= PY_INT_MIN && x <= PY_INT_MAX)
                    w = (intptr_t)((uintptr_t)x << 2) | 1;
                else
                    goto encode;
            } else if (v == Py_True) {
                w = 7;
            } else if (v == Py_False) {
                w = 3;
            } else {
                PyObject *wo;
            encode:
                wo = PyObject_CallFunctionObjArgs(go_encode, v, NULL);
                if (!wo) {
                    op->state = GO_DONE;
                    return PYCSP_SEND_ERROR;
                }
                w = PyLong_AsSsize_t(wo);
                Py_DECREF(wo);
                if (w == -1 && PyErr_Occurred()) {
                    op->state = GO_DONE;
                    return PYCSP_SEND_ERROR;
                }
            }
            Py_CLEAR(op->v);
            rc = pycsp_sput(c->ch, w);
            if (rc == CSP_PENDING) {
                op->w = w;
                if (go_park_current() < 0) {
                    op->state = GO_DONE;
                    return PYCSP_SEND_ERROR;
                }
                op->state = GO_PARKED;
                Py_INCREF(go_park);
                *res = go_park;
                return PYCSP_SEND_NEXT;
            }
            op->state = GO_DONE;
            *res = go_put_result(c, rc, w);
            return *res ? PYCSP_SEND_RETURN : PYCSP_SEND_ERROR;
        }
    case GO_PARKED: {
        /* Resumed by the scheduler with the record (rc, idx, word). */
        PyObject *prc, *pw;
        long rc2;
        intptr_t w;

        op->state = GO_DONE;
        if (!PyTuple_Check(arg) || PyTuple_Size(arg) != 3) {
            PyErr_SetString(PyExc_RuntimeError,
                            "a parked csp operation was resumed without "
                            "its completion");
            return PYCSP_SEND_ERROR;
        }
        prc = PyTuple_GetItem(arg, 0);
        pw = PyTuple_GetItem(arg, 2);
        rc2 = PyLong_AsLong(prc);
        w = PyLong_AsSsize_t(pw);
        if (PyErr_Occurred())
            return PYCSP_SEND_ERROR;
        *res = op->take ? go_take_result(c, (int)rc2, w)
                        : go_put_result(c, (int)rc2, op->w);
        return *res ? PYCSP_SEND_RETURN : PYCSP_SEND_ERROR;
    }
    case GO_INNER:
        rc = go_inner_send(op->inner, arg, res);
        if (rc != PYCSP_SEND_NEXT) {
            op->state = GO_DONE;
            Py_CLEAR(op->inner);
        }
        return rc;
    default:
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot reuse an already awaited csp operation");
        return PYCSP_SEND_ERROR;
    }
}

/* StopIteration(VALUE) as the current exception; steals VALUE. */
static PyObject *go_stop(PyObject *value)
{
    PyObject *e = PyObject_CallFunctionObjArgs(PyExc_StopIteration, value,
                                               NULL);
    Py_DECREF(value);
    if (e) {
        PyErr_SetObject(PyExc_StopIteration, e);
        Py_DECREF(e);
    }
    return NULL;
}

static PyObject *goop_iternext(PyObject *self)
{
    PyObject *res;
    int rc = goop_send(self, Py_None, &res);

    if (rc == PYCSP_SEND_NEXT)
        return res;
    if (rc == PYCSP_SEND_ERROR)
        return NULL;
    if (res == Py_None) {
        Py_DECREF(res);
        return NULL;
    }
    return go_stop(res);
}

static PyObject *goop_send_meth(PyObject *self, PyObject *arg)
{
    PyObject *res;
    int rc = goop_send(self, arg, &res);

    if (rc == PYCSP_SEND_NEXT)
        return res;
    if (rc == PYCSP_SEND_ERROR)
        return NULL;
    return go_stop(res);
}

/* throw(exc) / throw(type[, value[, tb]]): into the general path's
 * coroutine if there is one; else the exception is raised where the op
 * is awaited (a parked go op was withdrawn by Scheduler._cancel first). */
static PyObject *goop_throw(PyObject *self, PyObject *args)
{
    goop *op = (goop *)self;
    PyObject *typ, *val = NULL, *tb = NULL;

    if (op->state == GO_INNER) {
        PyObject *m = PyObject_GetAttr(op->inner, s_throw), *res;

        if (!m)
            return NULL;
        res = PyObject_CallObject(m, args);
        Py_DECREF(m);
        if (!res) {
            op->state = GO_DONE;
            Py_CLEAR(op->inner);
        }
        return res;
    }
    if (!PyArg_ParseTuple(args, "O|OO", &typ, &val, &tb))
        return NULL;
    op->state = GO_DONE;
    if (PyExceptionInstance_Check(typ)) {
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    } else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val && val != Py_None ? val : NULL);
    } else {
        PyErr_SetString(PyExc_TypeError,
                        "exceptions must be classes or instances deriving "
                        "from BaseException");
    }
    return NULL;
}

static PyObject *goop_close(PyObject *self, PyObject *unused)
{
    goop *op = (goop *)self;

    (void)unused;
    if (op->state == GO_INNER) {
        PyObject *inner = op->inner;

        op->inner = NULL;
        op->state = GO_DONE;
        PyObject *r = PyObject_CallMethodObjArgs(inner, s_close, NULL);
        Py_DECREF(inner);
        return r;
    }
    op->state = GO_DONE;
    Py_RETURN_NONE;
}

static PyMethodDef goop_methods[] = {
    {"send", goop_send_meth, METH_O, NULL},
    {"throw", goop_throw, METH_VARARGS, NULL},
    {"close", goop_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyType_Slot gochan_slots[] = {
    {Py_tp_methods, gochan_methods},
    {Py_tp_doc, "csp channels' go fast path (the base of csp.Chan)."},
    {0, NULL}};

static PyType_Spec gochan_spec = {"csp._csp._GoChan", sizeof(gochan), 0,
                                  Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
                                  gochan_slots};

static PyType_Slot goop_slots[] = {
    {Py_tp_dealloc, goop_dealloc},
    {Py_am_await, goop_await},
    {PYCSP_AM_SEND, goop_send},
    {Py_tp_iter, goop_await},
    {Py_tp_iternext, goop_iternext},
    {Py_tp_methods, goop_methods},
    {Py_tp_doc, "A csp operation awaited in a go process."},
    {0, NULL}};

static PyType_Spec goop_spec = {"csp._csp._GoOp", sizeof(goop), 0,
                                Py_TPFLAGS_DEFAULT, goop_slots};

/* ------------------------------------------------------------------------
 * The go scheduler's turn in C (issue 15, W1): Scheduler._run calls
 * _go_turn(host) where it would step the ready processes, wait for and
 * run the host executor's completions and hand them to their waiters
 * (_sched.py keeps the same loop in Python for Python < 3.10). Same order,
 * same outcomes: a process is resumed with send(record) through
 * PyIter_Send, and only the common outcome (it parked again on a go op,
 * not cancelled) is handled here; every other one goes to
 * Scheduler._step_end, and a Throw to Scheduler._step. */

typedef int (*go_send_fn)(PyObject *, PyObject *, PyObject **);
static go_send_fn go_iter_send; /* PyIter_Send (3.10), found at install */
static PyObject *go_ready, *go_inbox, *go_calls, *go_proc_type,
    *go_throw_type, *go_report;
static PyObject *s_coro, *s_cancel_req, *s_cancel, *s_step, *s_step_end,
    *s_popleft, *s_append, *s_callback;
static intptr_t go_recs[4 * 256];

static int go_step(PyObject *proc, PyObject *val)
{
    PyObject *coro, *y = NULL, *arg, *kind, *r;
    int rc;

    if (Py_TYPE(val) == (PyTypeObject *)go_throw_type) {
        r = PyObject_CallMethodObjArgs(go_sched, s_step, proc, val, NULL);
        Py_XDECREF(r);
        return r ? 0 : -1;
    }
    if (!(coro = PyObject_GetAttr(proc, s_coro)))
        return -1;
    if (PyObject_SetAttr(go_sched, s_current, proc) < 0) {
        Py_DECREF(coro);
        return -1;
    }
    rc = go_iter_send(coro, val, &y);
    Py_DECREF(coro);
    if (rc == PYCSP_SEND_NEXT && y == go_park) {
        PyObject *cr;
        int t;

        Py_DECREF(y);
        if (PyObject_SetAttr(go_sched, s_current, Py_None) < 0)
            return -1;
        if (!(cr = PyObject_GetAttr(proc, s_cancel_req)))
            return -1;
        t = PyObject_IsTrue(cr);
        Py_DECREF(cr);
        if (t <= 0)
            return t;
        r = PyObject_CallMethodObjArgs(go_sched, s_cancel, proc, NULL);
        Py_XDECREF(r);
        return r ? 0 : -1;
    }
    if (rc == PYCSP_SEND_ERROR) {
        PyObject *t, *v, *tb;

        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        if (!v) {
            Py_XDECREF(t);
            Py_XDECREF(tb);
            PyErr_SetString(PyExc_SystemError, "csp: a process failed "
                                               "without an exception");
            return -1;
        }
        if (tb) {
            PyException_SetTraceback(v, tb);
            Py_DECREF(tb);
        }
        Py_XDECREF(t);
        arg = v;
    } else {
        arg = y;
    }
    kind = PyLong_FromLong(rc == PYCSP_SEND_ERROR ? -1 : rc);
    r = kind ? PyObject_CallMethodObjArgs(go_sched, s_step_end, proc, kind,
                                          arg, NULL)
             : NULL;
    Py_XDECREF(kind);
    Py_DECREF(arg);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* The tuple (rc, idx, word) of record R (Py_BuildValue parses its
 * format each time: a third of a W1 park's cost). */
static PyObject *go_record(const intptr_t *r)
{
    PyObject *t = PyTuple_New(3), *x;

    if (!t)
        return NULL;
    for (int i = 0; i < 3; i++) {
        /* PyTuple_SetItem steals X; a NULL X would be stored, so check */
        if (!(x = PyLong_FromSsize_t((Py_ssize_t)r[i + 1])) ||
            PyTuple_SetItem(t, i, x) < 0) {
            Py_DECREF(t);
            return NULL;
        }
    }
    return t;
}

/* Hand record R (id, rc, idx, word) to its waiter. */
static int go_deliver(const intptr_t *r)
{
    PyObject *key = PyLong_FromSize_t((size_t)r[0]), *h, *rec = NULL,
             *res = NULL;
    int ok = -1;

    if (!key)
        return -1;
    h = PyDict_GetItem(go_waiting, key); /* borrowed; no error raised */
    if (!h) {                             /* a parent's op cancelled by fork() */
        Py_DECREF(key);
        return 0;
    }
    Py_INCREF(h);
    if (PyDict_DelItem(go_waiting, key) < 0)
        goto out;
    if (!(rec = go_record(r)))
        goto out;
    if (Py_TYPE(h) == (PyTypeObject *)go_proc_type) {
        PyObject *item = PyTuple_Pack(2, h, rec);

        if (item) {
            res = PyObject_CallMethodObjArgs(go_ready, s_append, item, NULL);
            Py_DECREF(item);
        }
        ok = res ? 0 : -1;
        goto out;
    }
    res = PyObject_CallObject(h, rec);
    if (!res) { /* a callback's exception goes to the handler */
        PyObject *t, *v, *tb;

        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        if (v && tb)
            PyException_SetTraceback(v, tb);
        res = v ? PyObject_CallFunctionObjArgs(go_report, v, s_callback, NULL)
                : NULL;
        Py_XDECREF(t);
        Py_XDECREF(v);
        Py_XDECREF(tb);
    }
    ok = res ? 0 : -1;
out:
    Py_XDECREF(res);
    Py_XDECREF(rec);
    Py_DECREF(h);
    Py_DECREF(key);
    return ok;
}

/* _go_turn(host): one turn of the scheduler loop after its inbox and
 * calls: step every ready process, wait (GIL released) unless something
 * is ready, run up to 256 completions and deliver their records, then
 * release the dropped values. */
static PyObject *go_turn(PyObject *mod, PyObject *arg)
{
    csp_loop *h = (csp_loop *)PyLong_AsVoidPtr(arg);
    Py_ssize_t n, i;
    int k;

    (void)mod;
    if (!h)
        return NULL;
    n = PyObject_Length(go_ready);
    for (i = 0; i < n; i++) {
        PyObject *item = PyObject_CallMethodObjArgs(go_ready, s_popleft, NULL);
        int rc;

        if (!item)
            return NULL;
        if (!PyTuple_Check(item) || PyTuple_Size(item) != 2) {
            Py_DECREF(item);
            PyErr_SetString(PyExc_SystemError, "csp: bad ready entry");
            return NULL;
        }
        rc = go_step(PyTuple_GetItem(item, 0), PyTuple_GetItem(item, 1));
        Py_DECREF(item);
        if (rc < 0)
            return NULL;
    }
    rec_out = go_recs;
    rec_n = 0;
    rec_max = 256;
    if (PyObject_Length(go_ready) == 0 && PyObject_Length(go_inbox) == 0 &&
        PyObject_Length(go_calls) == 0) {
        /* Nothing else to do: wait for a completion or a wake-up, with
         * the GIL released (a queued task or a sticky wake returns at
         * once). The tasks only record, so they run with the GIL held. */
        PyThreadState *ts = PyEval_SaveThread();
        csp_loop_wait(h, -1);
        PyEval_RestoreThread(ts);
    }
    csp_loop_run(h, 256);
    rec_out = NULL;
    k = rec_n;
    for (i = 0; i < k; i++)
        if (go_deliver(go_recs + 4 * i) < 0)
            return NULL; /* the rest are lost, as a Python error here would */
    if (__atomic_load_n(&pycsp_drops_pending, __ATOMIC_ACQUIRE)) {
        PyObject *r = PyObject_CallFunctionObjArgs(go_drain, NULL);

        if (!r)
            return NULL;
        Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

static PyMethodDef go_turn_def = {
    "_go_turn", go_turn, METH_O,
    "_go_turn(host): one turn of the go scheduler (csp/_sched.py)."};

static PyObject *go_attr(const char *module, const char *name)
{
    PyObject *m = PyImport_ImportModule(module), *r;

    if (!m)
        return NULL;
    r = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return r;
}

static int go_intern(PyObject **p, const char *s)
{
    return (*p = PyUnicode_InternFromString(s)) ? 0 : -1;
}

/* Create _GoChan and _GoOp and set them on module csp._sched (imported
 * by then, with csp._values). Python >= 3.10 only (am_send). 0 or -1. */
static int pycsp_fast_install(void)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *chan_type = NULL, *sched_mod = NULL, *turn = NULL;
    int rc = -1;

    if (go_op_type) { /* installed */
        rc = 0;
        goto out;
    }
    if (go_intern(&s_current, "current") || go_intern(&s_aput_py, "_aput_py") ||
        go_intern(&s_atake_py, "_atake_py") ||
        go_intern(&s_put_done, "_put_done") || go_intern(&s_took, "_took") ||
        go_intern(&s_send, "send") || go_intern(&s_throw, "throw") ||
        go_intern(&s_close, "close") || go_intern(&s_value, "value") ||
        go_intern(&s_coro, "coro") || go_intern(&s_cancel_req, "cancel_req") ||
        go_intern(&s_cancel, "_cancel") || go_intern(&s_step, "_step") ||
        go_intern(&s_step_end, "_step_end") ||
        go_intern(&s_popleft, "popleft") || go_intern(&s_append, "append") ||
        go_intern(&s_callback, "callback"))
        goto out;
    if (!(go_iter_send = (go_send_fn)dlsym(RTLD_DEFAULT, "PyIter_Send"))) {
        PyErr_SetString(PyExc_RuntimeError, "csp: no PyIter_Send");
        goto out;
    }
    if (!(go_sched = go_attr("csp._sched", "SCHED")) ||
        !(go_park = go_attr("csp._sched", "PARK")) ||
        !(go_waiting = PyObject_GetAttrString(go_sched, "waiting")) ||
        !(go_encode = go_attr("csp._values", "encode")) ||
        !(go_decode = go_attr("csp._values", "decode")) ||
        !(go_peek = go_attr("csp._values", "peek")) ||
        !(go_drain = go_attr("csp._values", "drain_drops")) ||
        !(go_ready = PyObject_GetAttrString(go_sched, "ready")) ||
        !(go_inbox = PyObject_GetAttrString(go_sched, "inbox")) ||
        !(go_calls = PyObject_GetAttrString(go_sched, "calls")) ||
        !(go_proc_type = go_attr("csp._sched", "Proc")) ||
        !(go_throw_type = go_attr("csp._sched", "Throw")) ||
        !(go_report = go_attr("csp._sched", "report")))
        goto out;
    if (!PyDict_Check(go_waiting)) {
        PyErr_SetString(PyExc_TypeError, "csp: SCHED.waiting is not a dict");
        goto out;
    }
    if (!(chan_type = PyType_FromSpec(&gochan_spec)))
        goto out;
    if (!(go_op_type = PyType_FromSpec(&goop_spec)))
        goto out;
    if (!(sched_mod = PyImport_ImportModule("csp._sched")))
        goto out;
    if (!(turn = PyCFunction_NewEx(&go_turn_def, NULL, NULL)))
        goto out;
    if (PyObject_SetAttrString(sched_mod, "_GoChan", chan_type) < 0 ||
        PyObject_SetAttrString(sched_mod, "_GoOp", go_op_type) < 0 ||
        PyObject_SetAttrString(sched_mod, "_go_turn", turn) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        PyErr_Print(); /* CFFI cannot pass it on: show why */
        Py_CLEAR(go_op_type);
    }
    Py_XDECREF(chan_type);
    Py_XDECREF(sched_mod);
    Py_XDECREF(turn);
    PyGILState_Release(g);
    return rc;
}
