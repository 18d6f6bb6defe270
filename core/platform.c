/* platform.c - mutex, condition variable, thread, futex, clock and the
 * per-thread state, for POSIX (futex on Linux).
 *
 * csp__tls() is deliberately noinline and not const: go processes migrate
 * between threads, and a compiler that caches a TLS address across a call
 * that can park would read the previous worker's state (DESIGN §2.3).
 */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#include <sched.h>

_Atomic long csp__fail_thread_create;
_Atomic long csp__fail_fd_create;

int csp__mutex_init(csp__mutex *m)
{
    pthread_mutexattr_t a;
    int rc;

    pthread_mutexattr_init(&a);
#if defined(__GLIBC__) && defined(PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP)
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc == 0 ? CSP_OK : CSP_ENOMEM;
}

void csp__mutex_destroy(csp__mutex *m) { pthread_mutex_destroy(m); }

int csp__cond_init(csp__cond *c)
{
    pthread_condattr_t a;
    int rc;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc == 0 ? CSP_OK : CSP_ENOMEM;
}

void csp__cond_destroy(csp__cond *c) { pthread_cond_destroy(c); }

void csp__cond_wait(csp__cond *c, csp__mutex *m) { pthread_cond_wait(c, m); }

static struct timespec to_timespec(int64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

int csp__cond_wait_until(csp__cond *c, csp__mutex *m, int64_t deadline)
{
    struct timespec ts;

    if (deadline == CSP_FOREVER) {
        pthread_cond_wait(c, m);
        return 0;
    }
    ts = to_timespec(deadline);
    return pthread_cond_timedwait(c, m, &ts) == ETIMEDOUT ? CSP_ETIMEDOUT : 0;
}

static int take_fault(_Atomic long *counter)
{
    long n = atomic_load_explicit(counter, memory_order_relaxed);

    while (n > 0) {
        if (atomic_compare_exchange_weak_explicit(
                counter, &n, n - 1, memory_order_relaxed,
                memory_order_relaxed))
            return n == 1;
    }
    return 0;
}

int csp__thread_start(csp__thread *t, void *(*fn)(void *), void *arg,
                      const char *name)
{
    sigset_t all, old;
    int rc;

    if (take_fault(&csp__fail_thread_create))
        return CSP_ENOMEM;
    /* Threads start with every signal blocked: signals belong to the
     * host's threads (Python's main thread handles SIGINT). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return CSP_ENOMEM;
#if defined(__GLIBC__)
    if (name)
        pthread_setname_np(*t, name);
#else
    (void)name;
#endif
    return CSP_OK;
}

void csp__thread_join(csp__thread t) { pthread_join(t, NULL); }

void csp__thread_detach(csp__thread t) { pthread_detach(t); }

int64_t csp__now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t csp_now_ns(void) { return csp__now_ns(); }

int csp__ncpus(void)
{
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#ifdef __linux__
int csp__futex_wait(_Atomic uint32_t *addr, uint32_t expect, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;

    if (deadline != CSP_FOREVER) {
        int64_t left = deadline - csp__now_ns();
        if (left <= 0)
            return CSP_ETIMEDOUT;
        ts = to_timespec(left);
        tsp = &ts;
    }
    if (syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expect, tsp,
                NULL, 0) == -1 &&
        errno == ETIMEDOUT)
        return CSP_ETIMEDOUT;
    return 0;
}

void csp__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
#else
/* Portable futex: a small table of mutex+condvar buckets by address. */
#define FUTEX_BUCKETS 64
static struct {
    pthread_mutex_t m;
    pthread_cond_t c;
} buckets[FUTEX_BUCKETS];
static pthread_once_t buckets_once = PTHREAD_ONCE_INIT;

static void buckets_init(void)
{
    for (int i = 0; i < FUTEX_BUCKETS; i++) {
        pthread_mutex_init(&buckets[i].m, NULL);
        csp__cond_init(&buckets[i].c);
    }
}

static unsigned bucket_of(void *addr)
{
    return (unsigned)(((uintptr_t)addr >> 4) % FUTEX_BUCKETS);
}

int csp__futex_wait(_Atomic uint32_t *addr, uint32_t expect, int64_t deadline)
{
    unsigned b = bucket_of((void *)addr);
    int rc = 0;

    pthread_once(&buckets_once, buckets_init);
    pthread_mutex_lock(&buckets[b].m);
    if (atomic_load(addr) == expect)
        rc = csp__cond_wait_until(&buckets[b].c, &buckets[b].m, deadline);
    pthread_mutex_unlock(&buckets[b].m);
    return rc;
}

void csp__futex_wake(_Atomic uint32_t *addr, int n)
{
    unsigned b = bucket_of((void *)addr);

    (void)n;
    pthread_once(&buckets_once, buckets_init);
    pthread_mutex_lock(&buckets[b].m);
    pthread_cond_broadcast(&buckets[b].c);
    pthread_mutex_unlock(&buckets[b].m);
}
#endif

static _Thread_local struct csp__tls tls_state;

__attribute__((noinline)) struct csp__tls *csp__tls(void)
{
    struct csp__tls *t = &tls_state;

    /* An empty asm that "may change" T hides the address from the
     * optimiser, so callers never reuse it across calls. */
    __asm__ volatile("" : "+r"(t));
    return t;
}

uint64_t csp__rand(void)
{
    struct csp__tls *t = csp__tls();
    uint64_t x = t->rng;

    if (__builtin_expect(x == 0, 0))
        x = (uint64_t)csp__now_ns() ^ (uint64_t)(uintptr_t)t ^
            0x9e3779b97f4a7c15u;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545f4914f6cdd1du;
}

/* ------------------------------------------------------------------------
 * csp__lock's slow paths (platform.h). */

/* Spins before sleeping on a contended channel lock. Short: on two
 * workers W4 (8 procs on one channel) took 240 ns/msg with 100 spins or
 * more, about 140-170 with 0-20 (a holder that is not running makes
 * spinning pure loss). */
#define LOCK_SPINS 20

void csp__lock_slow(csp__lock *l)
{
    /* Spin while the holder is likely running: a channel critical
     * section is short. Read before CAS so the line stays shared. */
    for (int i = 0; i < LOCK_SPINS; i++) {
        uint32_t v = atomic_load_explicit(&l->word, memory_order_relaxed);
        if (v == 0) {
            if (atomic_compare_exchange_weak_explicit(
                    &l->word, &v, 1, memory_order_acquire,
                    memory_order_relaxed))
                return;
        } else if (v == 2) {
            break; /* others sleep already: join them */
        }
        csp__cpu_relax();
    }
    /* Mark sleepers, then sleep until the word was 0 when we set 2. */
    while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
        csp__futex_wait(&l->word, 2, CSP_FOREVER);
}

void csp__lock_wake(csp__lock *l)
{
    csp__futex_wake(&l->word, 1);
}
