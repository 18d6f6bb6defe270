/* sched_stat.c - what the scheduler tells about itself: the counters of
 * csp_rt_stat, the process list of csp_rt_dump and the likely-deadlock
 * report (CSP_RT_DEBUG_DEADLOCK). Reads only: counters are relaxed
 * atomics, the process list is walked under each shard's lock.
 */
#include <stdio.h>

#include "sched_internal.h"

#define DUMP_MAX 1024 /* procs listed by csp_rt_dump */

int64_t csp__sched_parked(struct csp__sched *s)
{
    int64_t n = atomic_load_explicit(&s->nparked_ext, memory_order_relaxed);

    for (uint32_t i = 0; i < s->nworkers; i++)
        n +=
            atomic_load_explicit(&s->workers[i]->nparked, memory_order_relaxed);
    return n < 0 ? 0 : n;
}

int csp__sched_all_parked(csp_rt *rt)
{
    struct csp__sched *s = csp__sched_get(rt);
    int64_t live;

    if (!s)
        return 0;
    live = atomic_load_explicit(&s->nlive, memory_order_acquire);
    return live > 0 && csp__sched_parked(s) >= live;
}

void csp__sched_deadlock_check(csp_rt *rt, const char *what)
{
    struct csp__sched *s = csp__sched_get(rt);

    if (!s || !s->debug_deadlock || !csp__sched_all_parked(rt) ||
        csp__timer_pending(rt) > 0)
        return;
    fprintf(stderr,
            "csp: likely deadlock: %s blocks while every go process "
            "(%lld) is parked and no timer is pending\n",
            what ? what : "a thread",
            (long long)atomic_load_explicit(&s->nlive, memory_order_relaxed));
    csp_rt_dump(rt, stderr);
}

int csp__sched_stat(csp_rt *rt, int key, int64_t *value)
{
    struct csp__sched *s = csp__sched_get(rt);
    int64_t live, parked, running = 0;

    switch (key) {
    case CSP_STAT_PROCS_LIVE:
    case CSP_STAT_PROCS_PARKED:
    case CSP_STAT_PROCS_RUNNABLE:
    case CSP_STAT_PROCS_SPAWNED:
    case CSP_STAT_STACKS_MAPPED:
    case CSP_STAT_STACKS_REUSED:
    case CSP_STAT_THREADS_LIVE:
    case CSP_STAT_WORKERS:
    case CSP_STAT_WAKEUPS:
        break;
    default:
        return CSP_EINVAL;
    }
    if (!s) {
        *value = 0;
        return CSP_OK;
    }
    switch (key) {
    case CSP_STAT_PROCS_LIVE:
        *value = atomic_load_explicit(&s->nlive, memory_order_relaxed);
        break;
    case CSP_STAT_PROCS_PARKED:
        live = atomic_load_explicit(&s->nlive, memory_order_relaxed);
        parked = csp__sched_parked(s);
        *value = parked > live ? live : parked;
        break;
    case CSP_STAT_PROCS_RUNNABLE:
        live = atomic_load_explicit(&s->nlive, memory_order_relaxed);
        parked = csp__sched_parked(s);
        for (uint32_t i = 0; i < s->nworkers; i++)
            running += atomic_load_explicit(&s->workers[i]->cur,
                                            memory_order_relaxed) != NULL;
        live -= parked + running;
        *value = live < 0 ? 0 : live;
        break;
    case CSP_STAT_PROCS_SPAWNED:
        *value = atomic_load_explicit(&s->nspawned, memory_order_relaxed);
        break;
    case CSP_STAT_STACKS_MAPPED:
        *value = csp__stack_pool_mapped(s->stacks);
        break;
    case CSP_STAT_STACKS_REUSED:
        *value = csp__stack_pool_reused(s->stacks);
        break;
    case CSP_STAT_THREADS_LIVE:
        *value = csp__tpool_live(&s->tpool);
        break;
    case CSP_STAT_WAKEUPS:
        *value = atomic_load_explicit(&s->nwakeups, memory_order_relaxed);
        break;
    default:
        *value = s->nworkers;
        break;
    }
    return CSP_OK;
}

void csp__sched_dump(csp_rt *rt, FILE *f)
{
    struct csp__sched *s = csp__sched_get(rt);
    size_t listed = 0, more = 0;

    if (!s) {
        fprintf(f, "  scheduler not started\n");
        return;
    }
    for (uint32_t i = 0; i < s->nworkers; i++) {
        struct csp__worker *w = s->workers[i];
        /* Only whether a proc runs: it may exit and its stack (where its
         * struct lives) be reused while we look. */
        int busy = atomic_load_explicit(&w->cur, memory_order_relaxed) != 0;
        int idle = atomic_load_explicit(&w->idle, memory_order_relaxed);
        uint32_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
        uint32_t t = atomic_load_explicit(&w->tail, memory_order_relaxed);

        fprintf(f, "  csp-worker-%u: %s", i,
                idle   ? "idle"
                : busy ? "running a proc"
                       : "scheduling");
        fprintf(f, ", ring %u, runnext %s, pinned %u\n", t - h,
                atomic_load_explicit(&w->runnext, memory_order_relaxed)
                    ? "set"
                    : "empty",
                atomic_load_explicit(&w->npinned, memory_order_relaxed));
    }
    fprintf(f, "  inject queue: %u\n",
            atomic_load_explicit(&s->ninject, memory_order_relaxed));
    fprintf(f, "  go processes:\n");
    /* The shard lock keeps each proc alive while it is described; the
     * line is formatted by fprintf under it, so a blocked F stalls that
     * shard's spawns and exits (a debugging aid: acceptable). */
    for (uint32_t i = 0; i <= s->nworkers; i++) {
        csp__mutex_lock(&s->shards[i].lock);
        for (struct csp__link *l = s->shards[i].live.head; l; l = l->next) {
            if (listed < DUMP_MAX) {
                csp__proc_describe(CSP__PROC_OF(l), f);
                listed++;
            } else {
                more++;
            }
        }
        csp__mutex_unlock(&s->shards[i].lock);
    }
    if (more)
        fprintf(f, "    ... and %zu more\n", more);
}
