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
 *     waiting for a channel lock, and a step taking the GIL cannot
 *     deadlock.
 *
 * drop_lock is a leaf: nothing else is taken while it is held.
 */
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
