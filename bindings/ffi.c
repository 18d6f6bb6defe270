/* ffi.c - libffi closures as csp callbacks, run on the host's loop
 * thread (csp_ffi.h). Written only against csp.h.
 *
 * Paths of a call: csp calls the closure's code pointer; libffi lands in
 * handler() with the arguments' addresses. Inside csp_ffi_drain (or
 * csp_ffi_loop_free) of the closure's own loop, on this thread, the host
 * function runs at once: that is where csp runs callbacks given the loop
 * executor. Anywhere else (a worker, the timer thread, the host thread
 * outside a drain), or under csp_ffi_defer (a wrapper reporting an op
 * that completed at once), the arguments go into a task queued to the
 * loop executor.
 *
 * A CSP_FFI_ONCE closure is freed after its call. A closure called
 * directly returns into libffi's trampoline after the host function, so
 * it is not freed there and then but put on the thread's graveyard,
 * emptied when the outermost drain returns.
 */
#include <ffi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include "csp_ffi.h"

struct call {
    csp_task task;          /* first */
    csp_ffi_cb *cb;
    int n;
    long long args[CSP_FFI_MAX_ARGS];
};

/* Closures tied to a channel (csp_ffi_tie). The flags and the list are
 * under tie_lock, which a closure's call takes too: a call either queues
 * before csp_ffi_loop_free marks LOOP_GONE, and runs in csp_loop_free, or
 * sees it and is discarded. Lock order: tie_lock, then the loop's lock
 * (inside submit); a call may come under a channel lock, and nothing
 * takes a channel lock under tie_lock. */
struct tie {
    csp_loop *loop;
    csp_ffi_cb *cbs[CSP_FFI_TIE_MAX];
    int n;
    int loop_gone;          /* csp_ffi_loop_free began: queue nothing */
    int chan_gone;          /* the channel was freed */
    int host_gone;          /* the host sides were released (loop gone) */
    int linked;             /* in ties */
    csp_task free_task;     /* queued when the channel is freed */
    struct tie *prev, *next;
};

static pthread_mutex_t tie_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tie *ties;

struct csp_ffi_cb {
    ffi_closure *closure;
    void *code;
    ffi_cif cif;
    ffi_type *types[CSP_FFI_MAX_ARGS + 1];
    char sig[CSP_FFI_MAX_ARGS + 2];
    int nargs;              /* parameters, ud included */
    unsigned flags;
    csp_loop *loop;
    csp_exec *ex;           /* the loop's executor */
    csp_ffi_call_fn call;
    csp_ffi_release_fn release;
    void *host;
    struct call once;       /* the queued call of a CSP_FFI_ONCE closure */
    csp_ffi_cb *dead_next;  /* graveyard link */
    struct tie *tie;        /* CSP_FFI_QUEUE: set by csp_ffi_tie */
    pthread_t owner;        /* immutable: the thread that made it */
    int host_released;
};

static atomic_long live;

/* The loop this thread drains now, how deep, and the closures to free
 * when the outermost drain returns. */
static _Thread_local csp_loop *draining;
static _Thread_local int depth;
static _Thread_local csp_ffi_cb *graveyard;
static _Thread_local int deferring;

long csp_ffi_live(void) { return atomic_load(&live); }

static void destroy(csp_ffi_cb *cb)
{
    if (cb->release && !cb->host_released)
        cb->release(cb->host);
    ffi_closure_free(cb->closure);
    free(cb);
    atomic_fetch_sub(&live, 1);
}

static void finish(csp_ffi_cb *cb)
{
    if (!(cb->flags & CSP_FFI_ONCE))
        return;
    if (depth > 0) {
        cb->dead_next = graveyard;
        graveyard = cb;
    } else {
        destroy(cb);
    }
}

static void run_queued(csp_task *t)
{
    struct call *c = (struct call *)t;
    csp_ffi_cb *cb = c->cb;
    int n = c->n;
    long long args[CSP_FFI_MAX_ARGS];

    memcpy(args, c->args, sizeof args);
    if (c != &cb->once)
        free(c);
    cb->call(cb->host, n, args);
    finish(cb);
}

static void handler(ffi_cif *cif, void *ret, void **argv, void *user)
{
    csp_ffi_cb *cb = user;
    long long args[CSP_FFI_MAX_ARGS];
    int n = cb->nargs - 1;
    struct call *c;

    (void)cif;
    (void)ret;
    for (int i = 1; i < cb->nargs; i++) {
        switch (cb->sig[i]) {
        case 'p': args[i - 1] = (long long)(intptr_t)*(void **)argv[i]; break;
        case 'i': args[i - 1] = *(int *)argv[i]; break;
        case 'z': args[i - 1] = (long long)(ssize_t)*(size_t *)argv[i]; break;
        default: args[i - 1] = (long long)*(uint64_t *)argv[i]; break;
        }
    }
    if (draining == cb->loop && !deferring && !(cb->flags & CSP_FFI_QUEUE)) {
        cb->call(cb->host, n, args);
        finish(cb);
        return;
    }
    c = (cb->flags & CSP_FFI_ONCE) ? &cb->once : malloc(sizeof *c);
    if (!c)
        return; /* a drop hook's value is lost; nothing else allocates */
    c->task.next = NULL;
    c->task.run = run_queued;
    c->cb = cb;
    c->n = n;
    memcpy(c->args, args, sizeof args);
    if (!(cb->flags & CSP_FFI_QUEUE)) {
        cb->ex->submit(cb->ex, &c->task);
        return;
    }
    pthread_mutex_lock(&tie_lock);
    if (cb->tie && cb->tie->loop_gone) {
        pthread_mutex_unlock(&tie_lock);
        free(c); /* the loop is gone: nobody is left to run the host */
        return;
    }
    cb->ex->submit(cb->ex, &c->task);
    pthread_mutex_unlock(&tie_lock);
}

/* ---- Closures tied to a channel ---------------------------------------- */

static void unlink_tie(struct tie *t)
{
    if (!t->linked)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        ties = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->linked = 0;
}

static void destroy_tie(struct tie *t)
{
    for (int i = 0; i < t->n; i++)
        destroy(t->cbs[i]);
    free(t);
}

/* On the loop's thread, after the closures' last queued calls. */
static void run_tie_free(csp_task *task)
{
    struct tie *t = (struct tie *)((char *)task -
                                   offsetof(struct tie, free_task));

    pthread_mutex_lock(&tie_lock);
    unlink_tie(t);
    pthread_mutex_unlock(&tie_lock);
    destroy_tie(t);
}

/* csp_chan_on_free: any thread, after the channel's last drop. */
static void on_chan_free(void *ud)
{
    struct tie *t = ud;
    int now = 0;

    pthread_mutex_lock(&tie_lock);
    t->chan_gone = 1;
    if (!t->loop_gone) {
        t->free_task.next = NULL;
        t->free_task.run = run_tie_free;
        t->cbs[0]->ex->submit(t->cbs[0]->ex, &t->free_task);
    } else if (t->host_gone) {
        unlink_tie(t);
        now = 1;
    }
    pthread_mutex_unlock(&tie_lock);
    if (now)
        destroy_tie(t); /* host sides already released: C only */
}

int csp_ffi_tie(csp_chan *ch, csp_ffi_cb *const *cbs, int n)
{
    struct tie *t;
    int rc;

    if (!ch || !cbs || n < 1 || n > CSP_FFI_TIE_MAX)
        return CSP_EINVAL;
    for (int i = 0; i < n; i++)
        if (!cbs[i] || !(cbs[i]->flags & CSP_FFI_QUEUE) || cbs[i]->tie ||
            cbs[i]->loop != cbs[0]->loop)
            return CSP_EINVAL;
    t = calloc(1, sizeof *t);
    if (!t)
        return CSP_ENOMEM;
    t->loop = cbs[0]->loop;
    t->n = n;
    memcpy(t->cbs, cbs, (size_t)n * sizeof *cbs);
    pthread_mutex_lock(&tie_lock);
    for (int i = 0; i < n; i++)
        cbs[i]->tie = t;
    t->linked = 1;
    t->next = ties;
    if (ties)
        ties->prev = t;
    ties = t;
    pthread_mutex_unlock(&tie_lock);
    /* Outside tie_lock: csp_chan_on_free takes the channel's lock. */
    rc = csp_chan_on_free(ch, on_chan_free, t);
    if (rc != CSP_OK) {
        pthread_mutex_lock(&tie_lock);
        unlink_tie(t);
        for (int i = 0; i < n; i++)
            cbs[i]->tie = NULL;
        pthread_mutex_unlock(&tie_lock);
        free(t);
    }
    return rc;
}

int csp_ffi_cb_mine(csp_ffi_cb *cb)
{
    return cb && pthread_equal(cb->owner, pthread_self());
}

void *csp_ffi_cb_host(csp_ffi_cb *cb)
{
    return cb && !cb->host_released ? cb->host : NULL;
}

csp_ffi_cb *csp_ffi_cb_new(const char *sig, csp_loop *loop, unsigned flags,
                           csp_ffi_call_fn call, csp_ffi_release_fn release,
                           void *host)
{
    size_t n = sig ? strlen(sig) : 0;
    csp_ffi_cb *cb;

    if (n < 1 || n > CSP_FFI_MAX_ARGS || sig[0] != 'p' || !loop || !call ||
        strspn(sig, "pizu") != n ||
        (flags & ~(CSP_FFI_ONCE | CSP_FFI_QUEUE)) ||
        flags == (CSP_FFI_ONCE | CSP_FFI_QUEUE))
        return NULL;
    cb = calloc(1, sizeof *cb);
    if (!cb)
        return NULL;
    memcpy(cb->sig, sig, n + 1);
    cb->nargs = (int)n;
    for (size_t i = 0; i < n; i++)
        cb->types[i] = sig[i] == 'p' ? &ffi_type_pointer
                     : sig[i] == 'i' ? &ffi_type_sint
                     : sig[i] == 'z' ? (sizeof(size_t) == 8 ? &ffi_type_uint64
                                                            : &ffi_type_uint32)
                                     : &ffi_type_uint64;
    cb->closure = ffi_closure_alloc(sizeof(ffi_closure), &cb->code);
    if (!cb->closure)
        goto fail;
    if (ffi_prep_cif(&cb->cif, FFI_DEFAULT_ABI, (unsigned)n, &ffi_type_void,
                     cb->types) != FFI_OK ||
        ffi_prep_closure_loc(cb->closure, &cb->cif, handler, cb,
                             cb->code) != FFI_OK)
        goto fail_closure;
    cb->flags = flags;
    cb->loop = loop;
    cb->ex = csp_loop_executor(loop);
    cb->call = call;
    cb->release = release;
    cb->host = host;
    cb->owner = pthread_self();
    atomic_fetch_add(&live, 1);
    return cb;

fail_closure:
    ffi_closure_free(cb->closure);
fail:
    free(cb);
    return NULL;
}

void *csp_ffi_cb_fn(csp_ffi_cb *cb) { return cb ? cb->code : NULL; }

int csp_ffi_defer(int on)
{
    int was = deferring;

    deferring = on;
    return was;
}

void csp_ffi_cb_free(csp_ffi_cb *cb)
{
    if (cb)
        destroy(cb);
}

static void leave(csp_loop *prev)
{
    draining = prev;
    if (--depth == 0) {
        while (graveyard) {
            csp_ffi_cb *cb = graveyard;
            graveyard = cb->dead_next;
            destroy(cb);
        }
    }
}

int csp_ffi_drain(csp_loop *loop, int max)
{
    csp_loop *prev = draining;
    int rc;

    if (!loop)
        return CSP_EINVAL;
    draining = loop;
    depth++;
    rc = csp_loop_run(loop, max);
    leave(prev);
    return rc;
}

void csp_ffi_loop_free(csp_loop *loop)
{
    csp_loop *prev = draining;
    struct tie *mine = NULL, *t, *next;

    if (!loop)
        return;
    /* Closures tied to channels that outlive LOOP: queue nothing more. */
    pthread_mutex_lock(&tie_lock);
    for (t = ties; t; t = t->next)
        if (t->loop == loop)
            t->loop_gone = 1;
    pthread_mutex_unlock(&tie_lock);
    /* Runs the calls queued before, and the frees of channels gone. */
    draining = loop;
    depth++;
    csp_loop_free(loop);
    leave(prev);
    /* The ties left belong to live channels: release their host sides
     * here, on the loop's thread, outside the lock (a host's release may
     * run script code that releases channels); their C sides go when
     * the channels do. */
    pthread_mutex_lock(&tie_lock);
    for (t = ties; t; t = next) {
        next = t->next;
        if (t->loop == loop) {
            unlink_tie(t);
            t->next = mine;
            mine = t;
        }
    }
    pthread_mutex_unlock(&tie_lock);
    for (t = mine; t; t = t->next)
        for (int i = 0; i < t->n; i++) {
            csp_ffi_cb *cb = t->cbs[i];
            if (cb->release)
                cb->release(cb->host);
            cb->host_released = 1;
        }
    for (t = mine; t; t = next) {
        int now;

        next = t->next;
        pthread_mutex_lock(&tie_lock);
        t->host_gone = 1;
        now = t->chan_gone;
        pthread_mutex_unlock(&tie_lock);
        if (now)
            destroy_tie(t);
    }
}
