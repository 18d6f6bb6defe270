/* thread.c - csp_thread: run blocking work on a cached, growing pool of
 * OS threads (core.async's `thread`).
 *
 * A job goes to an idle pool thread if there is one, else to a new thread
 * while fewer than CSP_RT_THREAD_POOL_MAX exist, else csp_thread returns
 * CSP_EBUSY. A thread that stays idle for csp__thread_idle_ms exits; it
 * leaves its record on the zombie list, and the next csp_thread (or the
 * shutdown) joins it and frees the record, so no thread is left
 * unjoined in a runtime that is freed. The default runtime's threads are
 * never joined at exit, and nothing here runs at exit.
 *
 * A pool thread is a plain OS thread (no worker, no proc): blocking
 * calls are allowed there and parking calls return CSP_EPERM. After FN
 * returns, its value (if not NULL) is offered to the result channel,
 * which is then closed and released, as for a go process.
 *
 * Locking: tp->lock is a leaf; it guards the lists, the counters and each
 * record's job fields. Each thread sleeps on its own condition variable
 * (under tp->lock), so a job wakes exactly one thread.
 */
#include <string.h>

#include "sched_internal.h"

_Atomic long csp__thread_idle_ms = 10000;

#define TWORKER_OF(l) CSP__CONTAINER(l, struct csp__tworker, link)

struct csp__tworker {
    struct csp__link link;     /* idle or zombie list; tp->lock */
    struct csp__link all_link; /* tp->all; tp->lock */
    struct csp__tpool *tp;     /* immutable */
    csp_rt *rt;                /* immutable */
    csp__thread thread;        /* immutable once started */
    csp__cond cond;            /* signalled when a job or exit is set */
    csp_go_fn fn;              /* the job; tp->lock */
    void *arg;
    csp_chan *result;
    csp_chan *running;  /* the running job's result; tp->lock (fork) */
    int has_job; /* tp->lock */
    int exit;    /* tp->lock: leave at once (shutdown) */
};

int csp__tpool_init(struct csp__tpool *tp, int64_t max)
{
    memset(tp, 0, sizeof *tp);
    tp->max = max;
    return csp__mutex_init(&tp->lock);
}

int64_t csp__tpool_busy(struct csp__tpool *tp)
{
    int64_t n;

    csp__mutex_lock(&tp->lock);
    n = tp->nbusy;
    csp__mutex_unlock(&tp->lock);
    return n;
}

int64_t csp__tpool_live(struct csp__tpool *tp)
{
    int64_t n;

    csp__mutex_lock(&tp->lock);
    n = tp->nthreads;
    csp__mutex_unlock(&tp->lock);
    return n;
}

static void run_job(csp_go_fn fn, void *arg, csp_chan *result)
{
    void *v = fn(arg);

    if (result) {
        if (v)
            csp_chan_offer(result, v);
        csp_chan_close(result);
        csp_chan_release(result);
    }
}


static void *tworker_main(void *arg)
{
    struct csp__tworker *t = arg;
    struct csp__tpool *tp = t->tp;

    csp__mutex_lock(&tp->lock);
    for (;;) {
        int64_t deadline;

        if (t->has_job) {
            csp_go_fn fn = t->fn;
            void *a = t->arg;
            csp_chan *result = t->result;

            t->has_job = 0;
            t->fn = NULL;
            t->arg = NULL;
            t->result = NULL;
            t->running = result;
            csp__mutex_unlock(&tp->lock);
            run_job(fn, a, result);
            csp__mutex_lock(&tp->lock);
            t->running = NULL;
            tp->nbusy--;
            csp__list_push(&tp->idle, &t->link);
        }
        if (t->exit)
            break;
        deadline = csp__now_ns() +
                   (int64_t)atomic_load_explicit(&csp__thread_idle_ms,
                                                 memory_order_relaxed) *
                       1000000;
        while (!t->has_job && !t->exit &&
               csp__cond_wait_until(&t->cond, &tp->lock, deadline) == 0)
            ;
        if (!t->has_job && !t->exit) {
            /* Idle too long: leave for the next caller to join. */
            csp__list_remove(&tp->idle, &t->link);
            tp->nthreads--;
            csp__list_push(&tp->zombies, &t->link);
            break;
        }
    }
    csp__mutex_unlock(&tp->lock);
    return NULL;
}

static void tworker_free(csp_rt *rt, struct csp__tworker *t)
{
    csp__mutex_lock(&t->tp->lock);
    csp__list_remove(&t->tp->all, &t->all_link);
    csp__mutex_unlock(&t->tp->lock);
    csp__cond_destroy(&t->cond);
    csp__free(rt, t, sizeof *t);
}

/* Join and free a list of exited threads, taken off the pool. No lock
 * held. */
static void reap(csp_rt *rt, struct csp__list z)
{
    while (!csp__list_empty(&z)) {
        struct csp__tworker *t = TWORKER_OF(z.head);
        csp__list_remove(&z, &t->link);
        csp__thread_join(t->thread);
        tworker_free(rt, t);
    }
}

void csp__tpool_fini(csp_rt *rt, struct csp__tpool *tp)
{
    struct csp__list idle, zombies;

    csp__mutex_lock(&tp->lock);
    CSP_ASSERT(tp->nbusy == 0);
    tp->stopping = 1;
    idle = tp->idle;
    zombies = tp->zombies;
    tp->idle = tp->zombies = (struct csp__list){NULL, NULL};
    for (struct csp__link *l = idle.head; l; l = l->next) {
        struct csp__tworker *t = TWORKER_OF(l);
        t->exit = 1;
        csp__cond_signal(&t->cond);
    }
    tp->nthreads = 0;
    csp__mutex_unlock(&tp->lock);
    reap(rt, idle);
    reap(rt, zombies);
    csp__mutex_destroy(&tp->lock);
}

void csp__tpool_fork_child(csp_rt *rt, struct csp__tpool *tp)
{
    struct csp__tworker *t;

    /* The threads are the parent's; their records and jobs go. A job's
     * result channel is closed, so nobody in the child waits for it. */
    while (!csp__list_empty(&tp->all)) {
        csp_chan *ch;

        t = CSP__CONTAINER(tp->all.head, struct csp__tworker, all_link);
        csp__list_remove(&tp->all, &t->all_link);
        ch = t->has_job ? t->result : t->running;
        if (ch) {
            csp_chan_close(ch);
            csp_chan_release(ch); /* the job's reference */
        }
        csp__cond_destroy(&t->cond);
        csp__free(rt, t, sizeof *t);
    }
    tp->idle = tp->zombies = (struct csp__list){NULL, NULL};
    tp->nthreads = tp->nbusy = 0;
    csp__mutex_destroy(&tp->lock);
}

/* Start a new pool thread running FN(ARG). Counted by the caller. */
static int spawn_thread(csp_rt *rt, struct csp__tpool *tp, csp_go_fn fn,
                        void *arg, csp_chan *result)
{
    struct csp__tworker *t = csp__calloc(rt, sizeof *t);

    if (!t)
        return CSP_ENOMEM;
    if (csp__cond_init(&t->cond) != CSP_OK) {
        csp__free(rt, t, sizeof *t);
        return CSP_ENOMEM;
    }
    t->tp = tp;
    t->rt = rt;
    t->fn = fn;
    t->arg = arg;
    t->result = result;
    t->has_job = 1;
    csp__mutex_lock(&tp->lock);
    csp__list_append(&tp->all, &t->all_link);
    csp__mutex_unlock(&tp->lock);
    /* The thread reads its record under tp->lock; creating it publishes
     * everything written above. */
    if (csp__thread_start_any(&t->thread, tworker_main, t, "csp-thread") !=
        CSP_OK) {
        tworker_free(rt, t);
        return CSP_ENOMEM;
    }
    return CSP_OK;
}

int csp_thread(csp_rt *rt, csp_go_fn fn, void *arg, csp_chan **result)
{
    struct csp__sched *s;
    struct csp__tpool *tp;
    struct csp__tworker *t;
    struct csp__list zombies;
    csp_chan *ch = NULL;
    int rc;

    if (!rt || !fn)
        return CSP_EINVAL;
    rc = csp__sched_start(rt);
    if (rc != CSP_OK)
        return rc;
    s = csp__sched_get(rt);
    tp = &s->tpool;
    if (atomic_load_explicit(&s->closing, memory_order_acquire))
        return CSP_EPERM;
    if (result) {
        rc = csp_chan_new(&ch, rt, CSP_BUF_FIXED, 1, NULL, NULL);
        if (rc != CSP_OK)
            return rc;
        csp_chan_retain(ch); /* the job's reference */
    }
    csp__mutex_lock(&tp->lock);
    zombies = tp->zombies;
    tp->zombies = (struct csp__list){NULL, NULL};
    if (tp->stopping) {
        rc = CSP_EPERM;
    } else if (!csp__list_empty(&tp->idle)) {
        t = TWORKER_OF(tp->idle.head);
        csp__list_remove(&tp->idle, &t->link);
        t->fn = fn;
        t->arg = arg;
        t->result = ch;
        t->has_job = 1;
        tp->nbusy++;
        csp__cond_signal(&t->cond);
    } else if (tp->nthreads < tp->max) {
        tp->nthreads++;
        tp->nbusy++;
        csp__mutex_unlock(&tp->lock);
        rc = spawn_thread(rt, tp, fn, arg, ch);
        csp__mutex_lock(&tp->lock);
        if (rc != CSP_OK) {
            tp->nthreads--;
            tp->nbusy--;
        }
    } else {
        rc = CSP_EBUSY;
    }
    csp__mutex_unlock(&tp->lock);
    reap(rt, zombies);
    if (rc != CSP_OK) {
        if (ch) {
            csp_chan_release(ch);
            csp_chan_release(ch);
        }
        return rc;
    }
    if (result)
        *result = ch;
    return CSP_OK;
}
