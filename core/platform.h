/* platform.h - the few OS services core uses: mutex, condition variable,
 * thread, futex, monotonic clock, per-thread state.
 *
 * Everything OS-specific in core/ goes through this file (STYLE §7); the
 * rest of core is plain C11.
 */
#ifndef CSP_PLATFORM_H
#define CSP_PLATFORM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "csp.h"

typedef pthread_mutex_t csp__mutex;
typedef pthread_cond_t csp__cond;
typedef pthread_t csp__thread;

int csp__mutex_init(csp__mutex *m);
void csp__mutex_destroy(csp__mutex *m);
static inline void csp__mutex_lock(csp__mutex *m) { pthread_mutex_lock(m); }
/* 1 if M was free and is now held by the caller, else 0. */
static inline int csp__mutex_trylock(csp__mutex *m)
{
    return pthread_mutex_trylock(m) == 0;
}
static inline void csp__mutex_unlock(csp__mutex *m)
{
    pthread_mutex_unlock(m);
}

/* A lock of one futex word, inlined where it is taken: the channel lock,
 * taken four times per ping-pong round trip (a pthread mutex pair costs
 * about 65 instructions there, this one about 10). 0 free, 1 held, 2 held
 * with sleepers (Drepper, "Futexes are tricky", mutex 3). The slow path
 * spins briefly (a channel's critical sections are a few dozen
 * instructions), then sleeps on the futex. No owner is recorded, so a
 * fork's child may release what the parent's prepare handler took. */
typedef struct {
    _Atomic uint32_t word;
} csp__lock;

#define CSP__LOCK_INIT {0}
void csp__lock_slow(csp__lock *l);
static inline void csp__lock_init(csp__lock *l)
{
    atomic_init(&l->word, 0);
}
static inline void csp__lock_acquire(csp__lock *l)
{
    uint32_t free_ = 0;

    if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
                             &l->word, &free_, 1, memory_order_acquire,
                             memory_order_relaxed),
                         0))
        csp__lock_slow(l);
}
/* 1 if L was free and is now held by the caller, else 0. */
static inline int csp__lock_try(csp__lock *l)
{
    uint32_t free_ = 0;

    return atomic_compare_exchange_strong_explicit(
        &l->word, &free_, 1, memory_order_acquire, memory_order_relaxed);
}
void csp__lock_wake(csp__lock *l);
static inline void csp__lock_release(csp__lock *l)
{
    if (__builtin_expect(
            atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2,
            0))
        csp__lock_wake(l);
}

int csp__cond_init(csp__cond *c); /* CLOCK_MONOTONIC */
void csp__cond_destroy(csp__cond *c);
void csp__cond_wait(csp__cond *c, csp__mutex *m);
/* Wait until DEADLINE (csp_now_ns clock; CSP_FOREVER: no limit). Returns
 * 0, or CSP_ETIMEDOUT when the deadline passed. */
int csp__cond_wait_until(csp__cond *c, csp__mutex *m, int64_t deadline);
static inline void csp__cond_signal(csp__cond *c) { pthread_cond_signal(c); }
static inline void csp__cond_broadcast(csp__cond *c)
{
    pthread_cond_broadcast(c);
}

/* Start FN(ARG) on a new thread named NAME (at most 15 chars), with all
 * signals blocked. Returns CSP_OK or CSP_ENOMEM. The test hook
 * csp__fail_thread_create makes it fail on demand. */
int csp__thread_start(csp__thread *t, void *(*fn)(void *), void *arg,
                      const char *name);
void csp__thread_join(csp__thread t);
void csp__thread_detach(csp__thread t);

/* Futex on a 32-bit word (Linux); a mutex+condvar table elsewhere.
 * wait returns 0 when woken or the word differed, CSP_ETIMEDOUT at
 * DEADLINE. Spurious returns are allowed: callers loop. */
int csp__futex_wait(_Atomic uint32_t *addr, uint32_t expect, int64_t deadline);
void csp__futex_wake(_Atomic uint32_t *addr, int n);

int64_t csp__now_ns(void);

/* A pause for spin loops (x86 PAUSE, arm64 YIELD). */
static inline void csp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}
int csp__ncpus(void);

/* Per-thread state. Read only through csp__tls(), which is noinline and
 * has no const/pure attribute, and never after a possible park: a go
 * process may resume on another worker (DESIGN §4.4). */
struct csp__worker;
struct csp__proc;
struct csp__parker;
struct csp__tls {
    struct csp__worker *worker;  /* this thread's worker, or NULL */
    struct csp__proc *proc;      /* the go process running here, or NULL */
    struct csp__parker *parker;  /* lazily created; see wait.c */
    uint64_t rng;                /* xorshift state for alts; 0 = unseeded */
    int in_xform;                /* a transform step runs on this thread */
};
struct csp__tls *csp__tls(void);

/* A cheap per-thread random number (xorshift64*). */
uint64_t csp__rand(void);

/* Test hooks for fault injection: when > 0, the Nth next call fails
 * (1 = the next one). 0 disables. Atomic; used by tests only. */
extern _Atomic long csp__fail_thread_create;
extern _Atomic long csp__fail_fd_create;

#endif /* CSP_PLATFORM_H */
