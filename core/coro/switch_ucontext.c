/* switch_ucontext.c - csp__coro_switch and csp__coro_init for targets with
 * no assembly backend (or when forced with -DCSP_CORO_UCONTEXT=1): enter a
 * new stack once with makecontext/setcontext, then switch with
 * _setjmp/_longjmp (13.4 ns here, against 1044 ns for swapcontext, which
 * makes a sigprocmask syscall per switch; DESIGN §2.1).
 *
 * A context pointer (*sp) points to a struct head: for a suspended
 * context, the head of a struct ctx (with its jmp_buf) in the frame of its
 * pending csp__coro_switch; for a new one, the head of the small struct
 * fresh that csp__coro_init puts at the top of the stack.
 *
 * Invariants:
 *   - head.arg is written by the switching side before it jumps, and read
 *     by the resumed side after it lands (a volatile read: the write came
 *     through another pointer, between _setjmp and its second return).
 *   - A fresh context is entered exactly once: the first switch to it
 *     clears head.fresh and calls getcontext there, on the switching
 *     thread and stack, so setcontext installs that thread's own signal
 *     mask and floating-point state (entering changes neither), and the
 *     ucontext_t never occupies the new stack.
 *   - _FORTIFY_SOURCE is off for this file: glibc's __longjmp_chk rejects
 *     a jump to another stack.
 *   - Under TSan, the fiber switch happens between _setjmp and _longjmp
 *     (csp__coro_switch_tsan), since TSan records jump buffers per fiber.
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include "coro_arch.h"

#if defined(CSP__CORO_UCONTEXT)

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include "coro.h"

struct fresh;

/* What *sp points to. */
struct head {
    void *arg;           /* handed over by the switch that resumes us */
    struct fresh *fresh; /* set until a new context is first entered */
};

/* A suspended context, in the frame of its pending switch. */
struct ctx {
    struct head h;       /* first member */
    jmp_buf jb;
};

/* A new context, at the top of its stack: no jmp_buf and no ucontext_t
 * stay there, so a parked context touches as few pages as it can. */
struct fresh {
    struct head h;       /* first member */
    csp__coro_entry_fn entry;
    void *arg0;
    void *lo;            /* makecontext's stack: [lo, this struct) */
    size_t size;
};

/* makecontext passes int arguments only: the struct's address comes in
 * two halves. */
static void trampoline(int hi, int lo)
{
    uint64_t p = ((uint64_t)(unsigned)hi << 32) | (unsigned)lo;
    struct fresh *f = (struct fresh *)(uintptr_t)p;

    f->entry(f->arg0, f->h.arg);
    fputs("csp: a coroutine entry returned\n", stderr);
    abort();
}

/* Runs on the switching side's stack; the ucontext_t is needed only
 * until setcontext has loaded it. The frame is abandoned, never
 * returned from, so under ASan it must have no redzones: they would stay
 * poisoned under frames that later reuse that stack. */
#if defined(CSP__ASAN)
__attribute__((no_sanitize_address))
#endif
static _Noreturn void enter(struct fresh *f)
{
    ucontext_t uc;
    uint64_t p = (uintptr_t)f;

    if (getcontext(&uc) != 0) {
        fputs("csp: getcontext failed\n", stderr);
        abort();
    }
    uc.uc_stack.ss_sp = f->lo;
    uc.uc_stack.ss_size = f->size;
    uc.uc_link = NULL;
    makecontext(&uc, (void (*)(void))trampoline, 2, (int)(unsigned)(p >> 32),
                (int)(unsigned)(p & 0xffffffffu));
    setcontext(&uc);
    fputs("csp: setcontext failed\n", stderr);
    abort();
}

void csp__coro_init(void **sp, void *lo, size_t size, csp__coro_entry_fn entry,
                    void *arg0)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    struct fresh *f = (struct fresh *)((top - sizeof *f) & ~(uintptr_t)15);

    f->h.arg = NULL;
    f->h.fresh = f;
    f->entry = entry;
    f->arg0 = arg0;
    f->lo = lo;
    f->size = (size_t)((char *)f - (char *)lo);
    *sp = &f->h;
}

/* TO_FIBER: the TSan fiber to switch to once our state is saved, or
 * NULL (not a TSan build). */
static void *do_switch(void **from_sp, void *to_sp, void *arg, void *to_fiber)
{
    struct ctx self;
    struct head *to = to_sp;

    self.h.arg = NULL;
    self.h.fresh = NULL;
    *from_sp = &self.h;
    if (_setjmp(self.jb) == 0) {
        to->arg = arg;
#if defined(CSP__TSAN)
        if (to_fiber)
            __tsan_switch_to_fiber(to_fiber, 0);
#else
        (void)to_fiber;
#endif
        if (to->fresh) {
            struct fresh *f = to->fresh;
            to->fresh = NULL;
            enter(f);
        }
        _longjmp(((struct ctx *)(void *)to)->jb, 1);
    }
    return *(void *volatile *)&self.h.arg;
}

void *csp__coro_switch(void **from_sp, void *to_sp, void *arg)
{
    return do_switch(from_sp, to_sp, arg, NULL);
}

#if defined(CSP__TSAN)
void *csp__coro_switch_tsan(void **from_sp, void *to_sp, void *arg,
                            void *to_fiber)
{
    return do_switch(from_sp, to_sp, arg, to_fiber);
}
#endif

#else

/* ISO C forbids an empty translation unit. */
typedef int csp__coro_ucontext_unused;

#endif /* CSP__CORO_UCONTEXT */
