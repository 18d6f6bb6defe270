/* rt.c - runtimes: creation with an allocator, key/value settings, the
 * lazily created default runtime, counters, the report, and shutdown.
 *
 * A runtime starts no thread when created: the workers start with the
 * first go process, csp_thread or pool callback (sched.c), the timer
 * thread with the first timeout (timer.c). Settings can change until
 * then. rt->lock guards the settings and the one-time starts; it is a
 * leaf lock.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "trace.h"

static void *default_alloc(void *ud, void *ptr, size_t old_size,
                           size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

static const struct {
    int64_t min, max;
} ranges[CSP__NSETTINGS] = {
    [CSP_RT_THREADS] = {1, 1024},
    [CSP_RT_STACK_SIZE] = {CSP_STACK_MIN, (int64_t)1 << 30},
    [CSP_RT_STACK_GUARDS] = {0, (int64_t)1 << 20},
    [CSP_RT_STACK_CACHE] = {0, 65536},
    [CSP_RT_TIMER_RESOLUTION_MS] = {1, 1000},
    [CSP_RT_DEBUG_DEADLOCK] = {0, 1},
    [CSP_RT_THREAD_POOL_MAX] = {1, 65536},
};

static int valid_key(int key)
{
    return key >= 1 && key < CSP__NSETTINGS && ranges[key].max > 0;
}

static void pool_submit(csp_exec *self, csp_task *t)
{
    csp_rt *rt = (csp_rt *)((char *)self - offsetof(csp_rt, pool_exec));

    csp__sched_submit(rt, t);
}

static int env_threads(void)
{
    const char *s = getenv("CSP_THREADS");
    char *end;
    long n;

    if (!s || !*s)
        return 0;
    n = strtol(s, &end, 10);
    if (*end || n < ranges[CSP_RT_THREADS].min ||
        n > ranges[CSP_RT_THREADS].max)
        return 0;
    return (int)n;
}

int csp_rt_new(csp_rt **out, csp_alloc_fn alloc, void *ud)
{
    csp_rt *rt;
    int threads;

    if (!out)
        return CSP_EINVAL;
    if (!alloc)
        alloc = default_alloc;
    rt = alloc(ud, NULL, 0, sizeof *rt);
    if (!rt)
        return CSP_ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->alloc = alloc;
    rt->alloc_ud = ud;
    if (csp__mutex_init(&rt->lock) != CSP_OK)
        goto fail_lock;
    if (csp__mutex_init(&rt->ops_lock) != CSP_OK)
        goto fail_ops_lock;
    if (csp__mutex_init(&rt->chans_lock) != CSP_OK)
        goto fail_chans_lock;
    threads = env_threads();
    rt->settings[CSP_RT_THREADS] = threads ? threads : csp__ncpus();
    rt->settings[CSP_RT_STACK_SIZE] = 256 * 1024;
    rt->settings[CSP_RT_STACK_GUARDS] = 16384;
    rt->settings[CSP_RT_STACK_CACHE] = 64;
    rt->settings[CSP_RT_TIMER_RESOLUTION_MS] = 1;
    rt->settings[CSP_RT_DEBUG_DEADLOCK] = 0;
    rt->settings[CSP_RT_THREAD_POOL_MAX] = 1024;
    rt->pool_exec.submit = pool_submit;
    csp__fork_register_rt(rt);
    csp__trace_env(rt);
    *out = rt;
    return CSP_OK;

fail_chans_lock:
    csp__mutex_destroy(&rt->ops_lock);
fail_ops_lock:
    csp__mutex_destroy(&rt->lock);
fail_lock:
    alloc(ud, rt, sizeof *rt, 0);
    return CSP_ENOMEM;
}

int csp_rt_set(csp_rt *rt, int key, int64_t value)
{
    int rc = CSP_OK;

    if (!rt || !valid_key(key) || value < ranges[key].min ||
        value > ranges[key].max)
        return CSP_EINVAL;
    csp__mutex_lock(&rt->lock);
    if (atomic_load_explicit(&rt->started, memory_order_relaxed))
        rc = CSP_EBUSY;
    else
        rt->settings[key] = value;
    csp__mutex_unlock(&rt->lock);
    return rc;
}

int csp_rt_get(csp_rt *rt, int key, int64_t *value)
{
    if (!rt || !valid_key(key) || !value)
        return CSP_EINVAL;
    csp__mutex_lock(&rt->lock);
    *value = rt->settings[key];
    csp__mutex_unlock(&rt->lock);
    return CSP_OK;
}

csp_alloc_fn csp_rt_getalloc(csp_rt *rt, void **ud)
{
    if (!rt)
        return NULL;
    if (ud)
        *ud = rt->alloc_ud;
    return rt->alloc;
}

int64_t csp__rt_setting(csp_rt *rt, int key)
{
    int64_t v;

    csp__mutex_lock(&rt->lock);
    v = rt->settings[key];
    csp__mutex_unlock(&rt->lock);
    return v;
}

void csp__rt_mark_started(csp_rt *rt)
{
    atomic_store_explicit(&rt->started, 1, memory_order_relaxed);
}

int csp_rt_free(csp_rt *rt, int flags)
{
    int force;
    int rc;

    if (!rt || (flags & ~CSP_RT_FREE_FORCE))
        return CSP_EINVAL;
    if (rt->is_default)
        return CSP_EPERM;
    if (csp__proc_current())
        return CSP_EPERM;
    force = flags & CSP_RT_FREE_FORCE;
    if (!force &&
        atomic_load_explicit(&rt->nops, memory_order_acquire) > 0)
        return CSP_EBUSY;
    if (force)
        csp__pending_cancel_exec(rt, NULL);
    /* Out of fork()'s reach while it is taken apart: a child forked now
     * cannot use RT (the thread freeing it is not there). */
    csp__fork_unregister_rt(rt);
    rc = csp__sched_shutdown(rt, force);
    if (rc != CSP_OK) {
        csp__fork_register_rt(rt);
        return rc;
    }
    csp__pending_cancel_exec(rt, NULL);
    csp__timer_shutdown(rt);
    csp__trace_finish(rt);
#ifdef CSP_DEBUG
    {
        int64_t n = atomic_load(&rt->nchans);
        if (n > 0)
            fprintf(stderr, "csp: csp_rt_free: %lld channel(s) not "
                            "released\n", (long long)n);
    }
#endif
    csp__mutex_destroy(&rt->chans_lock);
    csp__mutex_destroy(&rt->ops_lock);
    csp__mutex_destroy(&rt->lock);
    rt->alloc(rt->alloc_ud, rt, sizeof *rt, 0);
    return CSP_OK;
}

static csp_rt *default_rt;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    csp_rt *rt;

    if (csp_rt_new(&rt, NULL, NULL) == CSP_OK) {
        rt->is_default = 1;
        default_rt = rt;
    }
}

csp_rt *csp_rt_default(void)
{
    pthread_once(&default_once, default_init);
    return default_rt;
}

csp_exec *csp_rt_executor(csp_rt *rt)
{
    if (!rt)
        return NULL;
    if (csp__sched_start(rt) != CSP_OK)
        return NULL;
    return &rt->pool_exec;
}

int csp_rt_stat(csp_rt *rt, int key, int64_t *value)
{
    if (!rt || !value)
        return CSP_EINVAL;
    switch (key) {
    case CSP_STAT_CHANS_LIVE:
        *value = atomic_load_explicit(&rt->nchans, memory_order_relaxed);
        return CSP_OK;
    case CSP_STAT_TIMERS_PENDING:
        *value = csp__timer_pending(rt);
        return CSP_OK;
    case CSP_STAT_OPS_PENDING:
        *value = atomic_load_explicit(&rt->nops, memory_order_relaxed);
        return CSP_OK;
    default:
        return csp__sched_stat(rt, key, value);
    }
}

int csp_rt_dump(csp_rt *rt, FILE *f)
{
    static const struct {
        int key;
        const char *name;
    } stats[] = {
        {CSP_STAT_PROCS_LIVE, "procs live"},
        {CSP_STAT_PROCS_PARKED, "procs parked"},
        {CSP_STAT_PROCS_RUNNABLE, "procs runnable"},
        {CSP_STAT_PROCS_SPAWNED, "procs spawned"},
        {CSP_STAT_CHANS_LIVE, "channels live"},
        {CSP_STAT_TIMERS_PENDING, "timers pending"},
        {CSP_STAT_OPS_PENDING, "callback ops pending"},
        {CSP_STAT_STACKS_MAPPED, "stacks mapped"},
        {CSP_STAT_STACKS_REUSED, "stacks reused"},
        {CSP_STAT_THREADS_LIVE, "threads live"},
        {CSP_STAT_WORKERS, "workers"},
        {CSP_STAT_WAKEUPS, "worker wake-ups"},
    };

    if (!rt || !f)
        return CSP_EINVAL;
    fprintf(f, "csp runtime %p\n", (void *)rt);
    for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++) {
        int64_t v = 0;
        csp_rt_stat(rt, stats[i].key, &v);
        fprintf(f, "  %-22s %lld\n", stats[i].name, (long long)v);
    }
    csp__sched_dump(rt, f);
    return CSP_OK;
}
