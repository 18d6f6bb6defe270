/* stack.c - go process stacks: mapping, guard pages or canaries, per-worker
 * caches and a per-runtime pool.
 *
 * Stacks are carved from slabs, one mmap(MAP_NORESERVE|MAP_STACK) each, so
 * that pages are committed only when touched. Two kinds of slab:
 *
 *   guarded   [guard|stack][guard|stack]...  mapped PROT_NONE; a slot is
 *             opened (mprotect RW) when first carved, leaving its guard
 *             page below it. Each opened slot adds two kernel mappings,
 *             and vm.max_map_count (default 65530) bounds them for the
 *             whole process. So a pool guards at most max_guarded stacks
 *             (default 16384), all pools together at most
 *             csp__stack_guard_cap()
 *             (half of vm.max_map_count less 8192 pairs: 24573 by
 *             default), which leaves mappings for the rest of the
 *             process; and once a guarded mapping fails the pool stops
 *             trying.
 *   unguarded [page|stack|stack|...]  one RW mapping for up to 4096 stacks.
 *             The canary of slot i is the word just below its lo, in the
 *             last 16 bytes of slot i-1 (for slot 0, of the leading page),
 *             which hold no stack: a stack's top page also holds the
 *             canary of the stack above, so canaries cost no page of their
 *             own. Usable size is the slot less those 16 bytes.
 *
 * Stacks of up to the pool's size come from the pool. A larger request
 * gets a slab of its own ("single"), unmapped again when put back.
 *
 * Invariants:
 *   - A slab is unmapped only by csp__stack_pool_free, or when its single
 *     stack is put; so a stack pointer stays valid while the pool lives.
 *   - A canary is written when its slot is carved and never written again;
 *     madvise in csp__stack_pool_trim spares every slot's top page, where
 *     the next slot's canary lives.
 *   - pool->nguarded counts the pool's guarded stacks mapped and never
 *     exceeds pool->max_guarded; guarded_total counts them over all pools
 *     and never exceeds csp__stack_guard_cap().
 *
 * Locking: pool->lock (a leaf lock) guards the pool's free list, its slabs
 * and its counters. A cache is owned by one thread and has no lock; only
 * its `reused` counter is read by others (atomic, relaxed). Nothing here
 * blocks or makes a syscall when a get is served by a non-empty cache.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../list.h"
#include "../platform.h"
#include "coro.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CSP__VALGRIND 1
#endif
#endif
#if defined(CSP__ASAN)
#include <sanitizer/asan_interface.h>
#endif

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
#define MAP_STACK 0
#endif

enum {
    CANARY_GAP = 16,      /* bytes at the top of an unguarded slot */
    GUARDED_SLAB = 16,    /* slots in a guarded slab */
    UNGUARDED_FIRST = 64, /* slots in the first unguarded slab */
    UNGUARDED_MAX = 4096, /* ... doubling up to this */
};

_Atomic long csp__fail_stack_map;
_Atomic long csp__fail_stack_guard;

/* Guarded stacks mapped by all pools of the process. Reserved before a
 * guard is made (fetch_add, relaxed: it is a budget, not a handshake) and
 * released when the guard is unmapped or could not be made. */
static _Atomic long guarded_total;
static _Atomic long guard_cap_value; /* 0: not read yet */

/* The canary of a guarded stack: a constant that always passes. */
static const uint64_t guarded_canary = CSP__STACK_CANARY;

struct csp__stack_slab {
    struct csp__link link;               /* pool->slabs; pool->lock */
    char *map;                           /* immutable */
    size_t map_size;                     /* immutable */
    size_t cap;                          /* slots; immutable */
    size_t used;                         /* slots carved; pool->lock */
    uint8_t guarded;                     /* immutable */
    uint8_t single;                      /* one oversized stack */
    struct csp__stack stacks[];          /* one per slot */
};

struct csp__stack_cache {
    struct csp__stack_pool *pool;         /* immutable */
    struct csp__stack *top;               /* LIFO; owner only */
    size_t n;                             /* stacks in it; owner only */
    _Atomic int64_t reused;               /* owner writes, relaxed */
    struct csp__link link;                /* pool->caches; pool->lock */
};

struct csp__stack_pool {
    size_t size;        /* usable bytes of a guarded stack; immutable */
    size_t page;        /* immutable */
    size_t max_guarded; /* immutable */
    size_t cache_max;   /* immutable */
    csp__mutex lock;    /* leaf; guards every field below */
    struct csp__stack *free;         /* free pool stacks, LIFO */
    size_t nfree;
    struct csp__list slabs;          /* every slab */
    struct csp__stack_slab *gslab;   /* guarded slab being carved */
    struct csp__stack_slab *uslab;   /* unguarded slab being carved */
    size_t next_ucap;                /* slots of the next unguarded slab */
    size_t nguarded;                 /* guarded stacks mapped */
    int guard_failed;                /* the kernel refused: no more guards */
    int64_t mapped;                  /* stacks mapped */
    int64_t reused;                  /* reuses by pool gets, freed caches */
    struct csp__list caches;         /* live caches */
};

static int take_fault(_Atomic long *counter)
{
    long n = atomic_load_explicit(counter, memory_order_relaxed);

    while (n > 0) {
        if (atomic_compare_exchange_weak_explicit(counter, &n, n - 1,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
            return n == 1;
    }
    return 0;
}

/* How many guarded stacks the whole process may map: half the kernel's
 * mapping limit (two mappings per guarded stack), less 8192 pairs for
 * everything else. Read once; concurrent first readers store the same
 * value. */
long csp__stack_guard_cap(void)
{
    long cap = atomic_load_explicit(&guard_cap_value, memory_order_relaxed);

    if (cap > 0)
        return cap;
    long max_maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        long v;
        if (fscanf(f, "%ld", &v) == 1 && v > 0)
            max_maps = v;
        fclose(f);
    }
    cap = max_maps / 2 - 8192;
    if (cap < 1)
        cap = 1;
    atomic_store_explicit(&guard_cap_value, cap, memory_order_relaxed);
    return cap;
}

/* Reserve one guarded stack from the process budget. */
static int guard_reserve(void)
{
    long cap = csp__stack_guard_cap();

    if (atomic_fetch_add_explicit(&guarded_total, 1, memory_order_relaxed) <
        cap)
        return 1;
    atomic_fetch_sub_explicit(&guarded_total, 1, memory_order_relaxed);
    return 0;
}

static void guard_release(long n)
{
    atomic_fetch_sub_explicit(&guarded_total, n, memory_order_relaxed);
}

static void *map(size_t len, int prot)
{
    void *p = mmap(NULL, len, prot,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1,
                   0);
    if (p == MAP_FAILED)
        return NULL;
#if defined(MADV_NOHUGEPAGE)
    /* A huge page would commit 2 MiB where a parked process touches 4 KiB
     * (kernels before 6.7 do not infer this from MAP_STACK). */
    madvise(p, len, MADV_NOHUGEPAGE);
#endif
    return p;
}

static void slab_link(struct csp__stack_pool *pool, struct csp__stack_slab *sl)
{
    csp__list_push(&pool->slabs, &sl->link);
}

static void slab_unlink(struct csp__stack_pool *pool,
                        struct csp__stack_slab *sl)
{
    csp__list_remove(&pool->slabs, &sl->link);
}

/* Tell valgrind about a stack once it is carved. */
static void announce(struct csp__stack *s)
{
#if defined(CSP__VALGRIND)
    s->valgrind_id =
        VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + s->size);
#else
    s->valgrind_id = 0;
#endif
}

/* Unmap SL and free it; it must be unlinked. Its stacks must not run. */
static void slab_destroy(struct csp__stack_slab *sl)
{
    for (size_t i = 0; i < sl->used; i++) {
        struct csp__stack *s = &sl->stacks[i];
        (void)s;
#if defined(CSP__VALGRIND)
        VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
#if defined(CSP__ASAN)
        /* Frames left by a discarded process stay poisoned; memory mapped
         * here later must not inherit that. */
        ASAN_UNPOISON_MEMORY_REGION(s->lo, s->size);
#endif
    }
    if (sl->guarded)
        guard_release((long)sl->used);
    munmap(sl->map, sl->map_size);
    free(sl);
}

static struct csp__stack_slab *slab_alloc(size_t cap)
{
    struct csp__stack_slab *sl =
        malloc(sizeof *sl + cap * sizeof(struct csp__stack));
    if (!sl)
        return NULL;
    memset(sl, 0, sizeof *sl);
    sl->cap = cap;
    return sl;
}

/* A guarded slab of CAP slots of SIZE bytes, all PROT_NONE. */
static struct csp__stack_slab *guarded_slab(size_t page, size_t size,
                                            size_t cap)
{
    struct csp__stack_slab *sl = slab_alloc(cap);
    if (!sl)
        return NULL;
    sl->guarded = 1;
    sl->map_size = cap * (page + size);
    sl->map = map(sl->map_size, PROT_NONE);
    if (!sl->map) {
        free(sl);
        return NULL;
    }
    return sl;
}

/* An unguarded slab of CAP slots of SIZE bytes after a leading page. */
static struct csp__stack_slab *unguarded_slab(size_t page, size_t size,
                                              size_t cap)
{
    struct csp__stack_slab *sl = slab_alloc(cap);
    if (!sl)
        return NULL;
    sl->map_size = page + cap * size;
    sl->map = map(sl->map_size, PROT_READ | PROT_WRITE);
    if (!sl->map) {
        free(sl);
        return NULL;
    }
    return sl;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Commit the top page of a new stack [LO, LO + SIZE) now: the proc struct
 * and the first frames live there, so it is touched at once anyway. One
 * madvise costs about a syscall, a page fault on a VM several times more
 * (bench W6). Older kernels refuse (EINVAL) and the page faults in as
 * before. */
static void prefault_top(char *lo, size_t size, size_t page)
{
    static _Atomic int unsupported;

    if (size < page ||
        atomic_load_explicit(&unsupported, memory_order_relaxed))
        return;
    if (madvise(lo + size - page, page, MADV_POPULATE_WRITE) != 0 &&
        errno == EINVAL)
        atomic_store_explicit(&unsupported, 1, memory_order_relaxed);
}

/* Open the next slot of guarded slab SL (stride PAGE + SIZE). Returns
 * NULL if the kernel refuses the mapping. */
static struct csp__stack *carve_guarded(struct csp__stack_slab *sl,
                                        size_t page, size_t size)
{
    char *lo = sl->map + sl->used * (page + size) + page;

    if (take_fault(&csp__fail_stack_guard) ||
        mprotect(lo, size, PROT_READ | PROT_WRITE) != 0)
        return NULL;
    prefault_top(lo, size, page);
    struct csp__stack *s = &sl->stacks[sl->used++];
    s->lo = lo;
    s->size = size;
    s->canary = &guarded_canary;
    s->next = NULL;
    s->slab = sl;
    s->guarded = 1;
    announce(s);
    return s;
}

/* Carve the next slot of unguarded slab SL (stride SIZE) and write its
 * canary. */
static struct csp__stack *carve_unguarded(struct csp__stack_slab *sl,
                                          size_t page, size_t size)
{
    char *lo = sl->map + page + sl->used * size;
    uint64_t *canary = (uint64_t *)(void *)(lo - sizeof(uint64_t));

    *canary = CSP__STACK_CANARY;
    prefault_top(lo, size, page);
    struct csp__stack *s = &sl->stacks[sl->used++];
    s->lo = lo;
    s->size = size - CANARY_GAP;
    s->canary = canary;
    s->next = NULL;
    s->slab = sl;
    s->guarded = 0;
    announce(s);
    return s;
}

/* A new pool stack: guarded while the budget allows and the kernel
 * agrees, else unguarded. NULL when out of memory. pool->lock held. */
static struct csp__stack *fresh_stack(struct csp__stack_pool *pool)
{
    struct csp__stack *s = NULL;

    if (take_fault(&csp__fail_stack_map))
        return NULL;
    if (!pool->guard_failed && pool->nguarded < pool->max_guarded &&
        guard_reserve()) {
        struct csp__stack_slab *sl = pool->gslab;
        if (!sl || sl->used == sl->cap) {
            size_t cap = pool->max_guarded - pool->nguarded;
            if (cap > GUARDED_SLAB)
                cap = GUARDED_SLAB;
            sl = guarded_slab(pool->page, pool->size, cap);
            if (sl) {
                slab_link(pool, sl);
                pool->gslab = sl;
            }
        }
        if (sl)
            s = carve_guarded(sl, pool->page, pool->size);
        if (s) {
            pool->nguarded++;
            pool->mapped++;
            return s;
        }
        /* Out of kernel mappings (or memory): canaries from now on. */
        guard_release(1);
        pool->guard_failed = 1;
    }
    struct csp__stack_slab *sl = pool->uslab;
    if (!sl || sl->used == sl->cap) {
        sl = unguarded_slab(pool->page, pool->size, pool->next_ucap);
        if (!sl)
            return NULL;
        slab_link(pool, sl);
        pool->uslab = sl;
        if (pool->next_ucap < UNGUARDED_MAX)
            pool->next_ucap *= 2;
    }
    s = carve_unguarded(sl, pool->page, pool->size);
    pool->mapped++;
    return s;
}

/* A stack of its own for a request larger than the pool's size. */
static struct csp__stack *oversize_get(struct csp__stack_pool *pool,
                                       size_t size)
{
    size_t page = pool->page;
    struct csp__stack_slab *sl = NULL;
    struct csp__stack *s = NULL;

    if (size > SIZE_MAX - 2 * page)
        return NULL;
    size = (size + CANARY_GAP + page - 1) / page * page;
    csp__mutex_lock(&pool->lock);
    if (take_fault(&csp__fail_stack_map))
        goto out;
    if (!pool->guard_failed && pool->nguarded < pool->max_guarded &&
        guard_reserve()) {
        sl = guarded_slab(page, size, 1);
        if (sl) {
            s = carve_guarded(sl, page, size);
            if (!s) {
                slab_destroy(sl); /* nothing carved, no guard held */
                sl = NULL;
            }
        }
        if (s) {
            pool->nguarded++;
        } else {
            guard_release(1);
            pool->guard_failed = 1;
        }
    }
    if (!s) {
        sl = unguarded_slab(page, size, 1);
        if (!sl)
            goto out;
        s = carve_unguarded(sl, page, size);
    }
    sl->single = 1;
    slab_link(pool, sl);
    pool->mapped++;
out:
    csp__mutex_unlock(&pool->lock);
    return s;
}

static void oversize_put(struct csp__stack_pool *pool, struct csp__stack *s)
{
    struct csp__stack_slab *sl = s->slab;

    csp__mutex_lock(&pool->lock);
    slab_unlink(pool, sl);
    if (sl->guarded)
        pool->nguarded--;
    pool->mapped--;
    csp__mutex_unlock(&pool->lock);
    slab_destroy(sl);
}

/* Forget what ran on S before it is reused. */
static void scrub(struct csp__stack *s)
{
#if defined(CSP__ASAN)
    /* A process that exited by switching away left its frames poisoned. */
    ASAN_UNPOISON_MEMORY_REGION(s->lo, s->size);
#else
    (void)s;
#endif
}

struct csp__stack_pool *csp__stack_pool_new(size_t size, size_t max_guarded,
                                            size_t cache_max)
{
    long page = sysconf(_SC_PAGESIZE);
    struct csp__stack_pool *pool;

    if (page <= 0)
        page = 4096;
    if (size == 0)
        size = 256 * 1024;
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
    if (size < 2 * (size_t)page)
        size = 2 * (size_t)page;
    pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    if (csp__mutex_init(&pool->lock) != CSP_OK) {
        free(pool);
        return NULL;
    }
    pool->size = size;
    pool->page = (size_t)page;
    pool->max_guarded = max_guarded;
    pool->cache_max = cache_max;
    pool->next_ucap = UNGUARDED_FIRST;
    return pool;
}

void csp__stack_pool_free(struct csp__stack_pool *pool)
{
    if (!pool)
        return;
    while (!csp__list_empty(&pool->slabs)) {
        struct csp__stack_slab *sl =
            CSP__CONTAINER(pool->slabs.head, struct csp__stack_slab, link);
        slab_unlink(pool, sl);
        slab_destroy(sl);
    }
    csp__mutex_destroy(&pool->lock);
    free(pool);
}

void csp__stack_pool_fork_lock(struct csp__stack_pool *pool)
{
    csp__mutex_lock(&pool->lock);
}

void csp__stack_pool_fork_unlock(struct csp__stack_pool *pool)
{
    csp__mutex_unlock(&pool->lock);
}

size_t csp__stack_pool_trim(struct csp__stack_pool *pool, size_t keep)
{
    size_t n = 0, i = 0;

    csp__mutex_lock(&pool->lock);
    for (struct csp__stack *s = pool->free; s; s = s->next, i++) {
        if (i < keep)
            continue;
        /* An unguarded slot keeps its top page: the next slot's canary. */
        size_t len = s->guarded ? s->size : pool->size - pool->page;
        if (len && madvise(s->lo, len, MADV_DONTNEED) == 0)
            n++;
    }
    csp__mutex_unlock(&pool->lock);
    return n;
}

struct csp__stack_cache *csp__stack_cache_new(struct csp__stack_pool *pool)
{
    struct csp__stack_cache *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->pool = pool;
    atomic_init(&c->reused, 0);
    csp__mutex_lock(&pool->lock);
    csp__list_push(&pool->caches, &c->link);
    csp__mutex_unlock(&pool->lock);
    return c;
}

void csp__stack_cache_free(struct csp__stack_cache *c)
{
    if (!c)
        return;
    struct csp__stack_pool *pool = c->pool;
    csp__mutex_lock(&pool->lock);
    while (c->top) {
        struct csp__stack *s = c->top;
        c->top = s->next;
        s->next = pool->free;
        pool->free = s;
        pool->nfree++;
    }
    pool->reused += atomic_load_explicit(&c->reused, memory_order_relaxed);
    csp__list_remove(&pool->caches, &c->link);
    csp__mutex_unlock(&pool->lock);
    free(c);
}

/* Pop a free pool stack, else carve one. pool->lock held. *REUSED tells
 * which. */
static struct csp__stack *pool_take(struct csp__stack_pool *pool, int *reused)
{
    struct csp__stack *s = pool->free;

    if (s) {
        pool->free = s->next;
        pool->nfree--;
        s->next = NULL;
        *reused = 1;
        return s;
    }
    *reused = 0;
    return fresh_stack(pool);
}

struct csp__stack *csp__stack_get(struct csp__stack_cache *c, size_t size)
{
    struct csp__stack_pool *pool = c->pool;
    struct csp__stack *s = c->top;
    int reused;

    if (size > pool->size)
        return oversize_get(pool, size);
    if (s) {
        /* The hot path: no lock, no syscall. Only this thread writes
         * c->reused; readers take a relaxed snapshot. */
        c->top = s->next;
        c->n--;
        s->next = NULL;
        atomic_store_explicit(
            &c->reused,
            atomic_load_explicit(&c->reused, memory_order_relaxed) + 1,
            memory_order_relaxed);
        return s;
    }
    csp__mutex_lock(&pool->lock);
    s = pool_take(pool, &reused);
    if (s && reused) {
        /* Refill up to half the cache in the same lock hold. */
        size_t want = pool->cache_max / 2;
        while (c->n < want && pool->free) {
            struct csp__stack *t = pool->free;
            pool->free = t->next;
            pool->nfree--;
            t->next = c->top;
            c->top = t;
            c->n++;
        }
    }
    csp__mutex_unlock(&pool->lock);
    if (s && reused)
        atomic_store_explicit(
            &c->reused,
            atomic_load_explicit(&c->reused, memory_order_relaxed) + 1,
            memory_order_relaxed);
    return s;
}

void csp__stack_put(struct csp__stack_cache *c, struct csp__stack *s)
{
    struct csp__stack_pool *pool = c->pool;

    if (s->slab->single) {
        oversize_put(pool, s);
        return;
    }
    scrub(s);
    s->next = c->top;
    c->top = s;
    c->n++;
    if (c->n <= pool->cache_max)
        return;
    /* Spill the colder half (the bottom of the LIFO) to the pool. */
    size_t keep = pool->cache_max / 2;
    struct csp__stack *last = c->top;
    for (size_t i = 1; i < keep; i++)
        last = last->next;
    struct csp__stack *spill = keep ? last->next : c->top;
    if (keep)
        last->next = NULL;
    else
        c->top = NULL;
    size_t nspill = c->n - keep;
    struct csp__stack *tail = spill;
    while (tail->next)
        tail = tail->next;
    c->n = keep;
    csp__mutex_lock(&pool->lock);
    tail->next = pool->free;
    pool->free = spill;
    pool->nfree += nspill;
    csp__mutex_unlock(&pool->lock);
}

struct csp__stack *csp__stack_pool_get(struct csp__stack_pool *pool,
                                       size_t size)
{
    struct csp__stack *s;
    int reused;

    if (size > pool->size)
        return oversize_get(pool, size);
    csp__mutex_lock(&pool->lock);
    s = pool_take(pool, &reused);
    if (s && reused)
        pool->reused++;
    csp__mutex_unlock(&pool->lock);
    return s;
}

void csp__stack_pool_put(struct csp__stack_pool *pool, struct csp__stack *s)
{
    if (s->slab->single) {
        oversize_put(pool, s);
        return;
    }
    scrub(s);
    csp__mutex_lock(&pool->lock);
    s->next = pool->free;
    pool->free = s;
    pool->nfree++;
    csp__mutex_unlock(&pool->lock);
}

_Noreturn void csp__stack_overflow(const struct csp__stack *s)
{
    char msg[400];
    int n = snprintf(msg, sizeof msg,
                     "csp: stack overflow in a go process: the canary below "
                     "its unguarded stack [%p, %p) of %zu bytes was "
                     "overwritten. Give it a bigger stack "
                     "(CSP_RT_STACK_SIZE, csp_go_ex), or raise "
                     "CSP_RT_STACK_GUARDS so overflows fault where they "
                     "happen.\n",
                     s->lo, (void *)((char *)s->lo + s->size), s->size);
    if (n > 0) {
        size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
        ssize_t w = write(STDERR_FILENO, msg, len);
        (void)w;
    }
    abort();
}

int64_t csp__stack_pool_mapped(struct csp__stack_pool *pool)
{
    csp__mutex_lock(&pool->lock);
    int64_t n = pool->mapped;
    csp__mutex_unlock(&pool->lock);
    return n;
}

int64_t csp__stack_pool_reused(struct csp__stack_pool *pool)
{
    csp__mutex_lock(&pool->lock);
    int64_t n = pool->reused;
    for (struct csp__link *l = pool->caches.head; l; l = l->next)
        n += atomic_load_explicit(
            &CSP__CONTAINER(l, struct csp__stack_cache, link)->reused,
            memory_order_relaxed);
    csp__mutex_unlock(&pool->lock);
    return n;
}

int64_t csp__stack_pool_guarded(struct csp__stack_pool *pool)
{
    csp__mutex_lock(&pool->lock);
    int64_t n = (int64_t)pool->nguarded;
    csp__mutex_unlock(&pool->lock);
    return n;
}
