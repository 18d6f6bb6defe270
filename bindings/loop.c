/* loop.c - the loop executor: callbacks queued for one host thread (a Lua
 * state, an asyncio loop), signalled through a file descriptor
 * (DESIGN §8). Written only against csp.h, like every binding.
 *
 * submit (any thread, never under a csp lock): append the task and, if
 * the pending flag was clear, write the wake-up fd, both under
 * loop->lock (so that csp_loop_free can wait for submitters to leave).
 * run (host thread): drain the fd, clear pending, take the whole queue,
 * run it. Wake-ups coalesce and are never lost: a task appended before
 * run cleared pending is in this batch, and the submitter of any task
 * appended after it sees pending == 0 and writes (libuv's uv_async_send).
 *
 * Memory comes from malloc: the loop belongs to a host thread, not to a
 * runtime's allocator. csp__loop_fail_fd lets tests make the descriptor's
 * creation fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "csp.h"
/* Header only, on csp.h alone: the one list of the code base. */
#include "../core/list.h"

_Atomic long csp__loop_fail_fd;

struct csp_loop {
    csp_exec exec;          /* first: csp_loop_executor returns &exec */
    csp_rt *rt;             /* immutable */
    pthread_mutex_t lock;   /* guards q, waiting, woken */
    struct csp__taskq q;
    _Atomic int pending;    /* descriptor: 1 while a wake-up is in flight */
    int rfd, wfd;           /* eventfd (rfd == wfd), a pipe, or -1 */
    /* CSP_LOOP_NO_FD: the host sleeps in csp_loop_wait on COND; a
     * submitter signals it only if it is WAITING (pthread_cond's own
     * no-lost-wake-up, both under LOCK); WOKEN is csp_loop_wake's token,
     * cleared by csp_loop_run like the descriptor's. */
    int use_fd;             /* immutable */
    pthread_cond_t cond;
    int waiting, woken;
    struct csp__link link;  /* in loops; loops_lock (fork) */
};

/* Every loop, so that fork() can hold their locks (core/fork.c) and give
 * the child's loops descriptors of their own. */
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static struct csp__list loops;

#define LOOP_OF(l) CSP__CONTAINER(l, struct csp_loop, link)
#define EACH_LOOP(lp)                                                        \
    for (struct csp__link *l_ = loops.head; l_ && ((lp) = LOOP_OF(l_));      \
         l_ = l_->next)

static int is_loop(csp_exec *ex);
static int open_fds(struct csp_loop *loop);

/* Wake the host: write the descriptor unless a wake-up is already in
 * flight (seq_cst: pairs with the store of 0 in csp_loop_run), or signal
 * the condition variable if the host waits on it. loop->lock held. */
static void signal_locked(struct csp_loop *loop)
{
    if (!loop->use_fd) {
        if (loop->waiting)
            pthread_cond_signal(&loop->cond);
        return;
    }
    if (atomic_exchange(&loop->pending, 1) == 0) {
        static const uint64_t one = 1;
        ssize_t r;
        do
            r = write(loop->wfd, &one, loop->rfd == loop->wfd ? 8 : 1);
        while (r < 0 && errno == EINTR);
    }
}

static void loop_submit(csp_exec *self, csp_task *t)
{
    struct csp_loop *loop = (struct csp_loop *)self;

    pthread_mutex_lock(&loop->lock);
    csp__taskq_append(&loop->q, t);
    /* Still under the lock: once csp_loop_free has taken the lock after
     * running T, no submitter touches the loop any more. */
    signal_locked(loop);
    pthread_mutex_unlock(&loop->lock);
}

static int fault(void)
{
    long n = atomic_load(&csp__loop_fail_fd);

    while (n > 0) {
        if (atomic_compare_exchange_weak(&csp__loop_fail_fd, &n, n - 1))
            return n == 1;
    }
    return 0;
}

static int open_fds(struct csp_loop *loop)
{
    if (fault())
        return CSP_ENOMEM;
#ifdef __linux__
    loop->rfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->rfd >= 0) {
        loop->wfd = loop->rfd;
        return CSP_OK;
    }
#endif
    {
        int fds[2];
        if (pipe(fds) != 0)
            return CSP_ENOMEM;
        for (int i = 0; i < 2; i++) {
            fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
            fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        }
        loop->rfd = fds[0];
        loop->wfd = fds[1];
    }
    return CSP_OK;
}

static int cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

int csp_loop_new(csp_loop **out, csp_rt *rt)
{
    return csp_loop_new_ex(out, rt, 0);
}

int csp_loop_new_ex(csp_loop **out, csp_rt *rt, unsigned flags)
{
    struct csp_loop *loop;

    if (!out || !rt || (flags & ~(unsigned)CSP_LOOP_NO_FD))
        return CSP_EINVAL;
    loop = calloc(1, sizeof *loop);
    if (!loop)
        return CSP_ENOMEM;
    loop->exec.submit = loop_submit;
    loop->rt = rt;
    loop->use_fd = !(flags & CSP_LOOP_NO_FD);
    loop->rfd = loop->wfd = -1;
    if (pthread_mutex_init(&loop->lock, NULL) != 0)
        goto fail_lock;
    if (loop->use_fd ? open_fds(loop) != CSP_OK
                     : (fault() || cond_init(&loop->cond) != 0))
        goto fail_fds;
    atomic_init(&loop->pending, 0);
    pthread_mutex_lock(&loops_lock);
    csp__list_append(&loops, &loop->link);
    pthread_mutex_unlock(&loops_lock);
    *out = loop;
    return CSP_OK;

fail_fds:
    pthread_mutex_destroy(&loop->lock);
fail_lock:
    free(loop);
    return CSP_ENOMEM;
}

void csp_loop_free(csp_loop *loop)
{
    if (!loop)
        return;
    /* Nothing may complete on LOOP once it is gone: cancel what still
     * waits (callbacks run here, with CSP_ECANCELED), run what completed,
     * and wait for completions already claimed by another thread, which
     * are about to be queued here (their completer is past the channel
     * lock and runs no user code but drop hooks before queueing). */
    for (;;) {
        int completing = csp_rt_cancel_exec(loop->rt, &loop->exec);

        while (csp_loop_run(loop, -1) > 0)
            ;
        if (completing <= 0)
            break;
        csp_loop_wait(loop, 10);
    }
    /* The submitter of the last task run above may still be inside
     * loop_submit: it leaves the lock before we can take it. */
    pthread_mutex_lock(&loop->lock);
    pthread_mutex_unlock(&loop->lock);
    pthread_mutex_lock(&loops_lock);
    csp__list_remove(&loops, &loop->link);
    pthread_mutex_unlock(&loops_lock);
    if (loop->use_fd) {
        if (loop->wfd != loop->rfd)
            close(loop->wfd);
        close(loop->rfd);
    } else {
        pthread_cond_destroy(&loop->cond);
    }
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

int csp_loop_fd(csp_loop *loop) { return loop ? loop->rfd : -1; }

void csp_loop_wake(csp_loop *loop)
{
    if (!loop)
        return;
    pthread_mutex_lock(&loop->lock);
    loop->woken = 1;
    signal_locked(loop);
    pthread_mutex_unlock(&loop->lock);
}

csp_exec *csp_loop_executor(csp_loop *loop)
{
    return loop ? &loop->exec : NULL;
}

static void drain_fd(struct csp_loop *loop)
{
    char buf[64];

    while (read(loop->rfd, buf, sizeof buf) > 0)
        ;
}

int csp_loop_run(csp_loop *loop, int max)
{
    csp_task *batch, *t;
    int ran = 0;

    if (!loop)
        return CSP_EINVAL;
    if (loop->use_fd) {
        drain_fd(loop);
        atomic_store(&loop->pending, 0); /* before taking the batch */
    }
    pthread_mutex_lock(&loop->lock);
    loop->woken = 0;
    batch = csp__taskq_take_all(&loop->q);
    pthread_mutex_unlock(&loop->lock);
    while (batch && (max < 0 || ran < max)) {
        t = batch;
        batch = t->next;
        t->run(t);
        ran++;
    }
    if (batch) {
        /* MAX reached: put the rest back in front and signal again. */
        csp_task *last = batch;
        while (last->next)
            last = last->next;
        pthread_mutex_lock(&loop->lock);
        /* Back in front of what was queued meanwhile. */
        csp__taskq_prepend_chain(&loop->q, batch, last);
        signal_locked(loop);
        pthread_mutex_unlock(&loop->lock);
    }
    return ran;
}

int csp_loop_wait(csp_loop *loop, int timeout_ms)
{
    struct pollfd pfd;
    int r;

    if (!loop)
        return CSP_EINVAL;
    pthread_mutex_lock(&loop->lock);
    r = loop->q.head != NULL || loop->woken;
    if (!r && !loop->use_fd && timeout_ms != 0) {
        struct timespec ts;
        if (timeout_ms > 0) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += timeout_ms / 1000;
            ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
        }
        loop->waiting = 1;
        while (!loop->q.head && !loop->woken) {
            if (timeout_ms < 0)
                pthread_cond_wait(&loop->cond, &loop->lock);
            else if (pthread_cond_timedwait(&loop->cond, &loop->lock,
                                            &ts) == ETIMEDOUT)
                break;
        }
        loop->waiting = 0;
        r = loop->q.head != NULL || loop->woken;
    }
    pthread_mutex_unlock(&loop->lock);
    if (r || !loop->use_fd)
        return r;
    pfd.fd = loop->rfd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    do
        r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * fork() (core/fork.c calls these from its atfork handlers). */

void csp__loop_fork_lock(void);
void csp__loop_fork_unlock(void);
void csp__loop_fork_child(void);
int csp__loop_holds(csp_exec *ex, csp_task *t);

void csp__loop_fork_lock(void)
{
    pthread_mutex_lock(&loops_lock);
    struct csp_loop *l;

    EACH_LOOP(l)
        pthread_mutex_lock(&l->lock);
}

void csp__loop_fork_unlock(void)
{
    struct csp_loop *l;

    EACH_LOOP(l)
        pthread_mutex_unlock(&l->lock);
    pthread_mutex_unlock(&loops_lock);
}

/* The child shares the parent's eventfd or pipe: a wake-up meant for one
 * could wake or be swallowed by the other. Each loop gets its own, on
 * the same descriptor numbers (dup2), so a host that registered the
 * number in its poller keeps it. The queue stays: it holds completions
 * that happened before the fork, which the child runs too. */
void csp__loop_fork_child(void)
{
    struct csp_loop *l;

    EACH_LOOP(l) {
        struct csp_loop fresh;

        if (!l->use_fd) {
            /* The parent's condition variable may list its waiters. */
            cond_init(&l->cond);
            l->waiting = 0;
            continue;
        }
        if (open_fds(&fresh) == CSP_OK) {
            if (fresh.rfd == fresh.wfd && l->rfd == l->wfd) {
                dup2(fresh.rfd, l->rfd);
                close(fresh.rfd);
            } else if (fresh.rfd != fresh.wfd && l->rfd != l->wfd) {
                dup2(fresh.rfd, l->rfd);
                dup2(fresh.wfd, l->wfd);
                close(fresh.rfd);
                close(fresh.wfd);
            } else {
                if (l->wfd != l->rfd)
                    close(l->wfd);
                close(l->rfd);
                l->rfd = fresh.rfd;
                l->wfd = fresh.wfd;
            }
        }
        atomic_store(&l->pending, 0);
        if (l->q.head) {
            static const uint64_t one = 1;
            atomic_store(&l->pending, 1);
            if (write(l->wfd, &one, l->rfd == l->wfd ? 8 : 1) < 0)
                atomic_store(&l->pending, 0);
        }
    }
    csp__loop_fork_unlock();
}

static int is_loop(csp_exec *ex)
{
    return ex && ex->submit == loop_submit;
}

int csp__loop_holds(csp_exec *ex, csp_task *t)
{
    struct csp_loop *loop = (struct csp_loop *)ex;

    if (!is_loop(ex))
        return -1;
    for (csp_task *q = loop->q.head; q; q = q->next)
        if (q == t)
            return 1;
    return 0;
}
