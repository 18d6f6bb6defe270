/* coro.h - the whole contract of core/coro/: switching between stacks,
 * making and pooling stacks, and telling sanitizers and valgrind about it.
 *
 * The scheduler (sched.c, proc.c) is the only user. It needs four things:
 *
 *   struct csp__coro   one per context: each worker's own thread context
 *                      (csp__coro_thread_init) and each go process
 *                      (csp__coro_make on a stack from the pool).
 *   csp__coro_transfer switch from one context to another, passing a
 *                      pointer; returns the pointer passed by whoever
 *                      switches back. Sanitizer hooks are inline and
 *                      compile to nothing in plain builds.
 *   csp__coro_exit     the last switch away from a finished process; the
 *                      scheduler then calls csp__coro_destroy and puts
 *                      the stack back (never on the dead process's stack).
 *   csp__stack_*       a pool of stacks per runtime, a lock-free cache per
 *                      worker, and csp__stack_check at every park and exit.
 *
 * Register contract: csp__coro_switch saves only what the ABI says is
 * callee-saved (x86-64: rbx, rbp, r12-r15; aarch64: x19-x29, lr, sp,
 * d8-d15). MXCSR, the x87 control word and FPCR are not saved (DESIGN
 * §4.1): a go process must not change the floating-point environment
 * across a park; csp__coro_fpenv() lets a debug build assert that.
 *
 * Threads: a context may be resumed on any thread (migration). Nothing
 * here reads thread-local storage after a switch. No pthread mutex may be
 * held across a switch (TSan, DESIGN §2.4).
 */
#ifndef CSP_CORO_H
#define CSP_CORO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "coro_arch.h"

/* ------------------------------------------------------------------------
 * Sanitizer detection. CSP__ASAN / CSP__TSAN are 1 in builds with
 * -fsanitize=address / thread (gcc defines __SANITIZE_*__, clang has
 * __has_feature). The hooks below compile to nothing otherwise.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CSP__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CSP__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(CSP__ASAN)
#define CSP__ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(CSP__TSAN)
#define CSP__TSAN 1
#endif
#endif
#if defined(CSP__ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(CSP__TSAN)
#include <sanitizer/tsan_interface.h>
#endif

/* ------------------------------------------------------------------------
 * Raw switch (switch_x86_64.S, switch_aarch64.S or switch_ucontext.c).
 * Callers normally use csp__coro_transfer, which adds the sanitizer hooks.
 */

typedef void (*csp__coro_entry_fn)(void *arg0, void *arg);

/* Save the callee-saved registers on the current stack, store the stack
 * pointer in *FROM_SP, load TO_SP and resume there, handing over ARG.
 * Returns the ARG that whoever later switches back to *FROM_SP passes. */
void *csp__coro_switch(void **from_sp, void *to_sp, void *arg);

/* Prepare a new context on the stack [LO, LO+SIZE) (LO and SIZE 16-byte
 * aligned, SIZE >= 4 KiB) so that the first csp__coro_switch to *SP runs
 * ENTRY(ARG0, arg), arg being that switch's ARG. Writes only near the top
 * of the stack. ENTRY must never return: it leaves by switching away for
 * the last time. Backtraces stop cleanly at ENTRY's caller. */
void csp__coro_init(void **sp, void *lo, size_t size, csp__coro_entry_fn entry,
                    void *arg0);

#if defined(CSP__TSAN) && defined(CSP__CORO_UCONTEXT)
/* As csp__coro_switch, switching TSan to TO_FIBER after saving our state:
 * TSan keeps _setjmp buffers per fiber (switch_ucontext.c). */
void *csp__coro_switch_tsan(void **from_sp, void *to_sp, void *arg,
                            void *to_fiber);
#endif

/* ------------------------------------------------------------------------
 * Contexts with hooks (coro.c).
 *
 * Every field is owned by whoever runs the context, or by the scheduler
 * while the context is switched out; the struct never moves while the
 * context is live. The scheduler embeds one in each worker and each proc.
 */
struct csp__coro {
    void *sp;                 /* saved stack pointer while switched out */
    csp__coro_entry_fn entry; /* what the first switch runs */
    void *arg0;
    const void *lo;           /* stack bounds, for ASan */
    size_t size;
    void *fake;               /* ASan fake-stack save slot */
    void *fiber;              /* TSan fiber */
    int own_fiber;            /* fiber made by csp__coro_make */
};

/* Make C the context of the thread that calls this (a worker's scheduler
 * loop, or a test's main). Call once per thread, on that thread, before
 * its first transfer. No destroy needed. */
void csp__coro_thread_init(struct csp__coro *c);

/* Make C a new context on the stack [LO, LO+SIZE) (a csp__stack's lo and
 * size) whose first transfer in runs ENTRY(ARG0, arg), arg being that
 * transfer's ARG. ENTRY must never return: it ends with csp__coro_exit.
 * Cannot fail. */
void csp__coro_make(struct csp__coro *c, void *lo, size_t size,
                    csp__coro_entry_fn entry, void *arg0);

/* Release what csp__coro_make made (the TSan fiber). Call after C's last
 * switch away (csp__coro_exit), or to discard a context switched out
 * forever, from another context. */
void csp__coro_destroy(struct csp__coro *c);

/* Switch from FROM (the context running now) to TO, handing over ARG.
 * Returns the ARG of whoever later transfers back to FROM, possibly on
 * another thread. */
static inline void *csp__coro_transfer(struct csp__coro *from,
                                       struct csp__coro *to, void *arg)
{
#if defined(CSP__ASAN)
    __sanitizer_start_switch_fiber(&from->fake, to->lo, to->size);
#endif
#if defined(CSP__TSAN) && defined(CSP__CORO_UCONTEXT)
    arg = csp__coro_switch_tsan(&from->sp, to->sp, arg, to->fiber);
#else
#if defined(CSP__TSAN)
    __tsan_switch_to_fiber(to->fiber, 0);
#endif
    arg = csp__coro_switch(&from->sp, to->sp, arg);
#endif
#if defined(CSP__ASAN)
    __sanitizer_finish_switch_fiber(from->fake, NULL, NULL);
#endif
    return arg;
}

/* The last switch away from FROM, a finished context: as transfer, but
 * FROM never runs again (ASan drops its fake stack). Does not return. */
_Noreturn void csp__coro_exit(struct csp__coro *from, struct csp__coro *to,
                              void *arg);

/* The floating-point control state csp__coro_switch does not save (MXCSR
 * on x86-64, FPCR on aarch64; 0 elsewhere), for a debug check that a go
 * process left it unchanged across a park. */
static inline uint64_t csp__coro_fpenv(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    uint32_t mxcsr;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    return mxcsr;
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
#else
    return 0;
#endif
}

/* ------------------------------------------------------------------------
 * Stacks (stack.c).
 *
 * A stack is [lo, lo+size), 16-byte aligned, from one of
 * CSP__STACK_CLASSES size classes (2 KiB << c; a request gets the
 * smallest class that holds it, one larger than the largest class a
 * mapping of its own). Stacks of classes of CSP__STACK_GUARD_MIN and more
 * (the first max_guarded a pool maps) have a PROT_NONE guard page below
 * lo: an overflow faults (SIGSEGV). Each guarded stack costs two kernel
 * mappings, and vm.max_map_count (65530) bounds mappings per process, so
 * all pools together guard at most csp__stack_guard_cap() stacks (24573
 * by default, leaving 16k mappings to the rest of the process). Smaller
 * classes, and every class beyond either budget or once a guarded
 * mapping fails, are carved from unguarded slabs (one mapping for many
 * stacks) and an overflow is caught after the fact by a canary word just
 * below lo, which csp__stack_check verifies at every park and exit. A
 * canary catches only an overflow that writes it; a frame that jumps
 * past it corrupts the neighbouring stack unseen, which is why the
 * scheduler also checks, at every park, that the parking frame is not
 * within a red zone of lo (csp__stack_headroom).
 *
 * Pages are committed on first touch: a parked process costs the pages
 * its frames touched (1-2; half a page for a 2 KiB stack); the canary
 * shares the page at the top of the stack below it, so it costs no extra
 * page.
 *
 * A free stack goes to its worker's cache (LIFO per class, owned by that
 * worker, no lock), and past cache_max half the class's cache spills to
 * the pool's free list for the class (one mutex, a leaf lock). A get
 * from a non-empty cache makes no syscall and takes no lock. Mappings are
 * returned only by csp__stack_pool_free (an oversized stack's by its
 * put); csp__stack_pool_trim gives free stacks' pages back to the kernel
 * and is for housekeeping, never the spawn or exit path.
 */
#define CSP__STACK_CLASSES 10
#define CSP__STACK_CLASS_SIZE(c) ((size_t)2048 << (c))
#define CSP__STACK_GUARD_MIN ((size_t)16 * 1024)
/* Bytes above lo a parking frame must keep free (csp__stack_headroom):
 * room for the switch and the report's first call. Sanitizer builds'
 * frames, and their runtimes' calls, are several times larger. */
#if defined(CSP__ASAN) || defined(CSP__TSAN)
#define CSP__STACK_RED_ZONE 1024
#else
#define CSP__STACK_RED_ZONE 256
#endif

struct csp__stack_slab; /* stack.c */

struct csp__stack {
    void *lo;                     /* lowest usable address; immutable */
    size_t size;                  /* usable bytes; immutable */
    const uint64_t *canary;       /* checked word; immutable */
    struct csp__stack *next;      /* free list, owned by the list's owner */
    struct csp__stack_slab *slab; /* its mapping; immutable */
    unsigned valgrind_id;         /* VALGRIND_STACK_REGISTER id */
    uint8_t guarded;              /* 1: a guard page lies below lo */
    int8_t cls;                   /* size class; -1: a mapping of its own */
};

struct csp__stack_pool;  /* per runtime */
struct csp__stack_cache; /* per worker */

/* A pool of stacks whose default request (a get of size 0) is SIZE bytes
 * (0: 256 KiB), at most MAX_GUARDED of them with a guard page, and
 * worker caches holding at most CACHE_MAX free stacks of each class (0:
 * no cache). Uses malloc, not the runtime allocator. Returns NULL when
 * out of memory. */
struct csp__stack_pool *csp__stack_pool_new(size_t size, size_t max_guarded,
                                            size_t cache_max);
/* Unmap every stack of POOL, in use or not, and free it. Caches must have
 * been freed. Accepts NULL. */
void csp__stack_pool_free(struct csp__stack_pool *pool);
/* fork() (core/fork.c): hold the pool's lock across the fork. */
void csp__stack_pool_fork_lock(struct csp__stack_pool *pool);
void csp__stack_pool_fork_unlock(struct csp__stack_pool *pool);
/* Release the pages of the pool's free stacks past the KEEP most recently
 * used (madvise): RSS goes down, mappings stay. Takes the pool lock for the
 * whole walk; for housekeeping only. Returns the stacks trimmed. */
size_t csp__stack_pool_trim(struct csp__stack_pool *pool, size_t keep);

/* A cache for one worker. NULL when out of memory. Freeing moves its
 * stacks to the pool. Only the owning thread may use a cache. */
struct csp__stack_cache *csp__stack_cache_new(struct csp__stack_pool *pool);
void csp__stack_cache_free(struct csp__stack_cache *c); /* accepts NULL */

/* The size class for a request of SIZE bytes, or -1 when SIZE is larger
 * than the largest class. */
int csp__stack_class_of(size_t size);

/* Get a stack for SIZE usable bytes (0: the pool's default). A SIZE up
 * to the largest class is served by a stack of the smallest class that
 * holds it (whose usable size is the class's, less 16 bytes if
 * canary-only); a larger one gets a mapping of its own, of at least SIZE,
 * unmapped again by put. NULL when out of memory.
 * The _pool_ variants serve threads with no cache, under the pool lock. */
struct csp__stack *csp__stack_get(struct csp__stack_cache *c, size_t size);
void csp__stack_put(struct csp__stack_cache *c, struct csp__stack *s);
struct csp__stack *csp__stack_pool_get(struct csp__stack_pool *pool,
                                       size_t size);
void csp__stack_pool_put(struct csp__stack_pool *pool, struct csp__stack *s);

/* Abort with a clear message if S's canary was overwritten (the process
 * that ran on it overflowed its stack). One load; guarded stacks point
 * their canary at a constant and always pass. Call at every park and
 * exit, while S is still in use. */
#define CSP__STACK_CANARY UINT64_C(0x6373702d73746b21) /* "csp-stk!" */
_Noreturn void csp__stack_overflow(const struct csp__stack *s);
/* As csp__stack_overflow, naming the process (WHO, e.g. "go process 12
 * (worker_fn)"; NULL: "a go process"), saying whether the canary was hit
 * (CANARY_HIT) or a frame came within the red zone. */
_Noreturn void csp__stack_overflow_named(const struct csp__stack *s,
                                         const char *who, int canary_hit);
static inline void csp__stack_check(const struct csp__stack *s)
{
    if (*s->canary != CSP__STACK_CANARY)
        csp__stack_overflow(s);
}
/* 1 if the calling frame keeps CSP__STACK_RED_ZONE bytes above S's lo
 * (inline: the frame is the caller's). A frame deeper than that may have
 * skipped the canary; the scheduler treats it as an overflow. */
static inline int csp__stack_headroom_ok(const struct csp__stack *s)
{
    return (uintptr_t)__builtin_frame_address(0) >=
           (uintptr_t)s->lo + CSP__STACK_RED_ZONE;
}

/* Counters for csp_rt_stat: stacks mapped (in use or free), and gets
 * served from a cache or the free list rather than fresh memory. */
int64_t csp__stack_pool_mapped(struct csp__stack_pool *pool);
int64_t csp__stack_pool_reused(struct csp__stack_pool *pool);
/* Guarded stacks among those mapped. */
int64_t csp__stack_pool_guarded(struct csp__stack_pool *pool);
/* Guarded stacks all pools of the process may map together. */
long csp__stack_guard_cap(void);

/* Test hooks, atomic, for tests only; 0 disables. When > 0, the Nth next
 * (1 = the next one) get that needs a fresh stack (none free in the cache
 * or the pool) fails as if out of memory, or the Nth next guard page
 * fails as if the kernel had no mapping left. */
extern _Atomic long csp__fail_stack_map;
extern _Atomic long csp__fail_stack_guard;

#endif /* CSP_CORO_H */
