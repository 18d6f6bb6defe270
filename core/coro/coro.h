/* coro.h - the whole contract of core/coro/: switching between stacks,
 * making and pooling stacks, and telling sanitizers and valgrind about it.
 *
 * The scheduler (sched.c, proc.c) is the only user. A context is just a
 * saved stack pointer: csp__coro_switch pushes the callee-saved registers
 * on the current stack, stores the stack pointer in *FROM_SP, loads TO_SP,
 * pops the target's registers and returns there, handing over ARG.
 * MXCSR and the x87 control word are not saved (DESIGN §4.1).
 */
#ifndef CSP_CORO_H
#define CSP_CORO_H

#include <stddef.h>
#include <stdint.h>

/* Switch from the current context to TO_SP. Returns the ARG that whoever
 * later switches back to us passes. */
void *csp__coro_switch(void **from_sp, void *to_sp, void *arg);

/* Prepare a new context on the stack [LO, LO+SIZE) so that the first
 * switch to *SP calls ENTRY(ARG0, arg) where arg is the switch's ARG.
 * ENTRY must never return; it leaves by switching away for the last
 * time. */
void csp__coro_init(void **sp, void *lo, size_t size,
                    void (*entry)(void *arg0, void *arg), void *arg0);

/* Stacks. A stack is [lo, lo+size) with, if guarded, one PROT_NONE page
 * below lo; unguarded stacks have a canary word at lo checked by
 * csp__stack_check. Stacks are pooled: a per-worker LIFO cache (struct
 * csp__stack_cache, owned by one worker thread, no lock) backed by a
 * global pool (struct csp__stack_pool, one mutex, a leaf lock). */
struct csp__stack {
    void *lo;                   /* lowest usable address */
    size_t size;                /* usable bytes */
    void *map;                  /* mmap base (guard included) */
    size_t map_size;
    struct csp__stack *next;    /* free lists */
    unsigned valgrind_id;       /* VALGRIND_STACK_REGISTER id */
    uint8_t guarded;
};

struct csp__stack_pool;         /* per runtime */
struct csp__stack_cache;        /* per worker */

/* Pool for stacks of SIZE usable bytes (rounded up to pages), at most
 * MAX_GUARDED of them with a guard page (beyond that: canary only), and
 * per-worker caches of CACHE_MAX. Returns NULL on ENOMEM. Uses malloc, not
 * the runtime allocator (stacks are mmap'd anyway). */
struct csp__stack_pool *csp__stack_pool_new(size_t size, size_t max_guarded,
                                            size_t cache_max);
void csp__stack_pool_free(struct csp__stack_pool *pool);  /* unmaps all */
struct csp__stack_cache *csp__stack_cache_new(struct csp__stack_pool *pool);
void csp__stack_cache_free(struct csp__stack_cache *c); /* to the pool */

/* Get a stack of the pool's size (SIZE 0) or of SIZE bytes (not pooled
 * unless equal to the pool's size). NULL on ENOMEM. */
struct csp__stack *csp__stack_get(struct csp__stack_cache *c, size_t size);
void csp__stack_put(struct csp__stack_cache *c, struct csp__stack *s);
/* Abort with a clear message if an unguarded stack's canary was hit. */
void csp__stack_check(const struct csp__stack *s);
/* Counters for csp_rt_stat. */
int64_t csp__stack_pool_mapped(struct csp__stack_pool *pool);
int64_t csp__stack_pool_reused(struct csp__stack_pool *pool);

/* Sanitizer and valgrind hooks around every switch (no-ops in plain
 * builds). A fiber is the TSan fiber handle; fake is ASan's fake-stack
 * save slot.
 *
 *   before switching:  csp__coro_before(&self_fake, to_fiber, to_lo, to_size)
 *                      (self_fake NULL when the current fiber is exiting)
 *   after landing:     csp__coro_after(self_fake)
 */
void *csp__coro_fiber_new(void);            /* TSan fiber for a new proc */
void csp__coro_fiber_free(void *fiber);
void *csp__coro_fiber_current(void);        /* the thread's own fiber */
void csp__coro_before(void **self_fake, void *to_fiber, const void *to_lo,
                      size_t to_size);
void csp__coro_after(void *self_fake);

#endif /* CSP_CORO_H */
