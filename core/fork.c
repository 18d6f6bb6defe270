/* fork.c - what survives fork() (docs/design.md §8, "fork").
 *
 * POSIX keeps only the forking thread in the child, with every mutex in
 * the state it had at the instant of the fork: a lock another thread held
 * stays held for ever, and the structure it guarded may be half updated.
 * So, through pthread_atfork:
 *
 *   prepare  take every csp lock, so that no other thread is inside a
 *            critical section at the fork: each runtime's timer lock
 *            (csp_timeout creates a channel under it), its channels
 *            (with trylock, backing off and retrying: a transform step
 *            runs under a channel lock and may create a channel or a
 *            timeout), then the leaf locks (runtime, pending ops,
 *            scheduler, stacks, thread pool) and every loop's;
 *   parent   release them all;
 *   child    rebuild each runtime from a consistent copy: every channel
 *            keeps its buffered values but loses its queued waiters (they
 *            were other threads', go processes' and callback ops'); the
 *            parent's go processes and csp_thread jobs are discarded, the
 *            result channel of each discarded go process is closed;
 *            callback ops still waiting complete with CSP_ECANCELED on
 *            their executor; workers start again on first need, the timer
 *            thread at once (pending timeouts keep their deadlines); each
 *            loop executor gets a fresh wake-up descriptor.
 *
 * A fork from a go process, a csp_thread job or a callback run by a
 * worker leaves the child as POSIX does (it may only exec or _exit): the
 * forking thread is one of the runtime's own, which the child cannot
 * rebuild around. The child handler then only releases the locks.
 *
 * The registry of runtimes is a list under reg_lock, taken first in
 * prepare and last released.
 */
#include <pthread.h>
#include <sched.h>

#include "internal.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct csp__list runtimes; /* of csp_rt.fork_link; reg_lock */

#define RT_OF(l) CSP__CONTAINER(l, csp_rt, fork_link)
#define EACH_RT(rt)                                                          \
    for (struct csp__link *l_ = runtimes.head; l_ && ((rt) = RT_OF(l_));    \
         l_ = l_->next)
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* After the channels: rt->lock, then the leaves under it. */
static void lock_leaves(csp_rt *rt)
{
    csp__mutex_lock(&rt->lock);
    csp__mutex_lock(&rt->ops_lock);
    csp__sched_fork_lock(rt);
}

static void unlock_leaves(csp_rt *rt)
{
    csp__sched_fork_unlock(rt);
    csp__mutex_unlock(&rt->ops_lock);
    csp__mutex_unlock(&rt->lock);
    csp__timer_fork_unlock(rt);
}

static void prepare(void)
{
    pthread_mutex_lock(&reg_lock);
    for (;;) {
        csp_rt *rt, *busy = NULL;

        /* The timer lock first: csp_timeout creates a channel (taking
         * rt->chans_lock) under it. */
        EACH_RT(rt)
            csp__timer_fork_lock(rt);
        EACH_RT(rt) {
            if (!csp__chans_fork_trylock(rt)) {
                busy = rt;
                break;
            }
        }
        if (!busy)
            break;
        EACH_RT(rt) {
            if (rt == busy)
                break;
            csp__chans_fork_unlock(rt);
        }
        EACH_RT(rt)
            csp__timer_fork_unlock(rt);
        /* A channel was locked: let its holder finish (it may be waiting
         * for reg_lock-free progress such as creating a channel). */
        pthread_mutex_unlock(&reg_lock);
        sched_yield();
        pthread_mutex_lock(&reg_lock);
    }
    {
        csp_rt *rt;
        EACH_RT(rt)
            lock_leaves(rt);
    }
    csp__value_fork_lock();
    csp__loop_fork_lock();
}

static void parent(void)
{
    csp_rt *rt;

    csp__loop_fork_unlock();
    csp__value_fork_unlock();
    EACH_RT(rt) {
        unlock_leaves(rt);
        csp__chans_fork_unlock(rt);
    }
    pthread_mutex_unlock(&reg_lock);
}

static void child(void)
{
    struct csp__tls *tls = csp__tls();
    csp_rt *rt;

    if (tls->worker || tls->proc || tls->in_xform) {
        /* Forked by one of the runtime's own threads: POSIX's rule. */
        parent();
        return;
    }
    csp__loop_fork_child(); /* also unlocks the loops */
    csp__value_fork_unlock();
    EACH_RT(rt) {
        csp_task *cancelled = NULL;

        csp__chans_fork_child(rt, &cancelled);
        unlock_leaves(rt);
        csp__sched_fork_child(rt);
        csp__timer_fork_child(rt);
        csp__pending_fork_child(rt, cancelled);
    }
    pthread_mutex_unlock(&reg_lock);
}

static void atfork_init(void)
{
    pthread_atfork(prepare, parent, child);
}

void csp__fork_register_rt(csp_rt *rt)
{
    pthread_once(&atfork_once, atfork_init);
    pthread_mutex_lock(&reg_lock);
    csp__list_append(&runtimes, &rt->fork_link);
    pthread_mutex_unlock(&reg_lock);
}

void csp__fork_unregister_rt(csp_rt *rt)
{
    pthread_mutex_lock(&reg_lock);
    csp__list_remove(&runtimes, &rt->fork_link);
    pthread_mutex_unlock(&reg_lock);
}
