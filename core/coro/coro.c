/* coro.c - contexts with sanitizer hooks on top of the raw switch.
 *
 * A struct csp__coro is a saved stack pointer plus what ASan and TSan need
 * to follow a switch: the stack bounds of the context (ASan checks frames
 * against them), its fake-stack save slot, and its TSan fiber. The hot
 * path, csp__coro_transfer, is inline in coro.h; this file holds the
 * rarely called parts: making a context, entering it the first time,
 * leaving it for good.
 *
 * Invariants:
 *   - A context made here first runs start(), which completes ASan's
 *     switch before any instrumented frame of the entry runs.
 *   - csp__coro_exit starts ASan's switch with a NULL save slot, so the
 *     dying context's fake stack is freed; the TSan fiber is destroyed
 *     later by csp__coro_destroy, from another context (a fiber cannot
 *     destroy itself).
 *   - Nothing here reads thread-local storage after a switch.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro.h"

/* The first code of every context made by csp__coro_make, on its own
 * stack. ARG0 is the context, ARG the first transfer's argument. */
static void start(void *arg0, void *arg)
{
    struct csp__coro *c = arg0;

#if defined(CSP__ASAN)
    /* A fresh context has no fake stack to restore. */
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    c->entry(c->arg0, arg);
    fputs("csp: a coroutine entry returned; it must end with "
          "csp__coro_exit\n",
          stderr);
    abort();
}

void csp__coro_thread_init(struct csp__coro *c)
{
    memset(c, 0, sizeof *c);
#if defined(CSP__ASAN)
    /* ASan needs the bounds of the stack we switch back to. */
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            c->lo = addr;
            c->size = size;
        }
        pthread_attr_destroy(&attr);
    }
#endif
#if defined(CSP__TSAN)
    c->fiber = __tsan_get_current_fiber();
#endif
}

void csp__coro_make(struct csp__coro *c, void *lo, size_t size,
                    csp__coro_entry_fn entry, void *arg0)
{
    memset(c, 0, sizeof *c);
    c->entry = entry;
    c->arg0 = arg0;
    c->lo = lo;
    c->size = size;
#if defined(CSP__TSAN)
    c->fiber = __tsan_create_fiber(0);
    c->own_fiber = 1;
#endif
    csp__coro_init(&c->sp, lo, size, start, c);
}

void csp__coro_destroy(struct csp__coro *c)
{
#if defined(CSP__TSAN)
    if (c->own_fiber && c->fiber)
        __tsan_destroy_fiber(c->fiber);
#endif
    c->fiber = NULL;
    c->own_fiber = 0;
    c->sp = NULL;
}

_Noreturn void csp__coro_exit(struct csp__coro *from, struct csp__coro *to,
                              void *arg)
{
#if defined(CSP__ASAN)
    /* NULL save slot: this context never comes back, free its fake
     * stack. */
    __sanitizer_start_switch_fiber(NULL, to->lo, to->size);
#endif
#if defined(CSP__TSAN) && defined(CSP__CORO_UCONTEXT)
    csp__coro_switch_tsan(&from->sp, to->sp, arg, to->fiber);
#else
#if defined(CSP__TSAN)
    __tsan_switch_to_fiber(to->fiber, 0);
#endif
    csp__coro_switch(&from->sp, to->sp, arg);
#endif
    fputs("csp: a finished coroutine was resumed\n", stderr);
    abort();
}
