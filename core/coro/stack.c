/* stack.c - go process stacks: size classes, mapping, guard pages or
 * canaries, per-worker caches and a per-runtime pool.
 *
 * Size classes. A request is served from the smallest class that holds
 * it: 2, 4, 8, ... 1024 KiB (CSP__STACK_CLASSES of them, class c holding
 * 2 KiB << c bytes); larger requests get a mapping of their own
 * ("single"), unmapped again when put back. So a process spawned with a
 * 16 KiB stack costs a 16 KiB slot (plus its guard page), not the
 * runtime's default, and one spawned small (CSP_GO_SMALL_STACK) a 2 KiB
 * slot: two parked processes share a page.
 *
 * Stacks are carved from slabs, one mmap(MAP_NORESERVE|MAP_STACK) each, so
 * that pages are committed only when touched. Each class has its own
 * slabs, of two kinds:
 *
 *   guarded   [guard|stack][guard|stack]...  mapped PROT_NONE; a slot is
 *             opened (mprotect RW) when first carved, leaving its guard
 *             page below it. Only classes of CSP__STACK_GUARD_MIN (16 KiB)
 *             and more are guarded: a guard page would more than double a
 *             small stack. Each opened slot adds two kernel mappings,
 *             and vm.max_map_count (default 65530) bounds them for the
 *             whole process. So a pool guards at most max_guarded stacks
 *             (default 16384), all pools together at most
 *             csp__stack_guard_cap()
 *             (half of vm.max_map_count less 8192 pairs: 24573 by
 *             default), which leaves mappings for the rest of the
 *             process; and once a guarded mapping fails the pool stops
 *             trying.
 *   unguarded [page|stack|stack|...]  one RW mapping for many stacks
 *             (64 at first, doubling up to 16 MiB a slab). The canary of
 *             slot i is the word just below its lo, in the last 16 bytes
 *             of slot i-1 (for slot 0, of the leading page), which hold
 *             no stack: a stack's top also holds the canary of the stack
 *             above, so canaries cost no page of their own. Usable size
 *             is the slot less those 16 bytes.
 *
 * First touch. The top page of a new stack is touched at once (the proc
 * struct and the first frames live there), and on these VMs a page fault
 * costs about twice what MADV_POPULATE_WRITE does. Classes of a page or
 * less, whose every page holds stack tops, are populated 64 KiB at a time
 * (one madvise per 16 pages); larger classes get their top page populated
 * when carved. A cache that finds nothing free carves a batch of small
 * stacks in one lock hold.
 *
 * Invariants:
 *   - A slab is unmapped only by csp__stack_pool_free, or when its single
 *     stack is put; so a stack pointer stays valid while the pool lives.
 *   - A stack goes back to the free list of its own class (s->cls).
 *   - A canary is written when its slot is carved and never written again;
 *     madvise in csp__stack_pool_trim spares every slot's top page, where
 *     the next slot's canary lives.
 *   - pool->nguarded counts the pool's guarded stacks mapped and never
 *     exceeds pool->max_guarded; guarded_total counts them over all pools
 *     and never exceeds csp__stack_guard_cap().
 *
 * Locking: pool->lock (a leaf lock) guards the pool's free lists, its
 * slabs and its counters. A cache is owned by one thread and has no lock;
 * only its `reused` counter is read by others (atomic, relaxed). Nothing
 * here blocks or makes a syscall when a get is served by a non-empty
 * cache.
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
    CANARY_GAP = 16,                  /* bytes at the top of an unguarded slot */
    GUARDED_SLAB = 16,                /* slots in a guarded slab */
    UNGUARDED_FIRST = 64,             /* slots in the first unguarded slab */
    UNGUARDED_BYTES = 16 << 20,       /* ... doubling up to this many bytes */
    POPULATE_CHUNK = 64 * 1024,       /* small classes: populated this much */
    SMALL_BATCH = 32,                 /* small stacks carved per refill */
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
    size_t populated;                    /* bytes from map populated */
    uint8_t guarded;                     /* immutable */
    uint8_t single;                      /* one oversized stack */
    struct csp__stack stacks[];          /* one per slot */
};

struct csp__stack_cache {
    struct csp__stack_pool *pool;         /* immutable */
    struct csp__stack *top[CSP__STACK_CLASSES]; /* LIFO each; owner only */
    size_t n[CSP__STACK_CLASSES];         /* stacks in each; owner only */
    _Atomic int64_t reused;               /* owner writes, relaxed */
    struct csp__link link;                /* pool->caches; pool->lock */
};

/* One size class of a pool; pool->lock guards it. */
struct csp__stack_class {
    size_t size;                     /* slot bytes; immutable */
    struct csp__stack *free;         /* free stacks, LIFO */
    size_t nfree;
    struct csp__stack_slab *gslab;   /* guarded slab being carved */
    struct csp__stack_slab *uslab;   /* unguarded slab being carved */
    size_t next_ucap;                /* slots of the next unguarded slab */
};

struct csp__stack_pool {
    size_t size;        /* the default request (get with 0); immutable */
    size_t page;        /* immutable */
    size_t max_guarded; /* immutable */
    size_t cache_max;   /* per class and cache; immutable */
    csp__mutex lock;    /* leaf; guards every field below */
    struct csp__stack_class cls[CSP__STACK_CLASSES];
    struct csp__list slabs;          /* every slab */
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

int csp__stack_class_of(size_t size)
{
    int c = 0;

    if (size > CSP__STACK_CLASS_SIZE(CSP__STACK_CLASSES - 1))
        return -1;
    while (CSP__STACK_CLASS_SIZE(c) < size)
        c++;
    return c;
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

static _Atomic int populate_unsupported;

/* Commit [P, P + LEN) now (P page-aligned). Older kernels refuse
 * (EINVAL) and the pages fault in as before. */
static void populate(char *p, size_t len)
{
    if (atomic_load_explicit(&populate_unsupported, memory_order_relaxed))
        return;
    if (madvise(p, len, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
        atomic_store_explicit(&populate_unsupported, 1, memory_order_relaxed);
}

/* Commit the top page of a new stack [LO, LO + SIZE) now: the proc
 * struct and the first frames live there, so it is touched at once
 * anyway. One madvise costs about a syscall, a page fault on a VM several
 * times more (bench W6). */
static void prefault_top(char *lo, size_t size, size_t page)
{
    if (size >= page)
        populate(lo + size - page, page);
}

/* Unguarded slab SL of a class of at most a page: make sure the page
 * holding bytes up to END (an offset into the map) is populated, a
 * chunk at a time. */
static void populate_through(struct csp__stack_slab *sl, size_t end,
                             size_t page)
{
    if (end <= sl->populated)
        return;
    size_t from = sl->populated;
    size_t to = (end + page - 1) / page * page;
    if (to - from < POPULATE_CHUNK)
        to = from + POPULATE_CHUNK;
    if (to > sl->map_size)
        to = sl->map_size;
    populate(sl->map + from, to - from);
    sl->populated = to;
}

/* Open the next slot of guarded slab SL (stride PAGE + SIZE). Returns
 * NULL if the kernel refuses the mapping. */
static struct csp__stack *carve_guarded(struct csp__stack_slab *sl,
                                        size_t page, size_t size, int cls)
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
    s->cls = (int8_t)cls;
    announce(s);
    return s;
}

/* Carve the next slot of unguarded slab SL (stride SIZE) and write its
 * canary. */
static struct csp__stack *carve_unguarded(struct csp__stack_slab *sl,
                                          size_t page, size_t size, int cls)
{
    char *lo = sl->map + page + sl->used * size;
    uint64_t *canary = (uint64_t *)(void *)(lo - sizeof(uint64_t));

    if (size <= page)
        populate_through(sl, (size_t)(lo - sl->map) + size, page);
    else
        prefault_top(lo, size, page);
    *canary = CSP__STACK_CANARY;
    struct csp__stack *s = &sl->stacks[sl->used++];
    s->lo = lo;
    s->size = size - CANARY_GAP;
    s->canary = canary;
    s->next = NULL;
    s->slab = sl;
    s->guarded = 0;
    s->cls = (int8_t)cls;
    announce(s);
    return s;
}

/* A new stack of class C: guarded while the class may be, the budget
 * allows and the kernel agrees, else unguarded. NULL when out of
 * memory. pool->lock held. */
static struct csp__stack *fresh_stack(struct csp__stack_pool *pool, int c)
{
    struct csp__stack_class *k = &pool->cls[c];
    struct csp__stack *s = NULL;

    if (take_fault(&csp__fail_stack_map))
        return NULL;
    if (k->size >= CSP__STACK_GUARD_MIN && !pool->guard_failed &&
        pool->nguarded < pool->max_guarded && guard_reserve()) {
        struct csp__stack_slab *sl = k->gslab;
        if (!sl || sl->used == sl->cap) {
            size_t cap = pool->max_guarded - pool->nguarded;
            if (cap > GUARDED_SLAB)
                cap = GUARDED_SLAB;
            sl = guarded_slab(pool->page, k->size, cap);
            if (sl) {
                slab_link(pool, sl);
                k->gslab = sl;
            }
        }
        if (sl)
            s = carve_guarded(sl, pool->page, k->size, c);
        if (s) {
            pool->nguarded++;
            pool->mapped++;
            return s;
        }
        /* Out of kernel mappings (or memory): canaries from now on. */
        guard_release(1);
        pool->guard_failed = 1;
    }
    struct csp__stack_slab *sl = k->uslab;
    if (!sl || sl->used == sl->cap) {
        sl = unguarded_slab(pool->page, k->size, k->next_ucap);
        if (!sl)
            return NULL;
        slab_link(pool, sl);
        k->uslab = sl;
        if ((k->next_ucap * 2) * k->size <= UNGUARDED_BYTES)
            k->next_ucap *= 2;
    }
    s = carve_unguarded(sl, pool->page, k->size, c);
    pool->mapped++;
    return s;
}

/* A stack of its own for a request larger than the largest class. */
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
            s = carve_guarded(sl, page, size, -1);
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
        s = carve_unguarded(sl, page, size, -1);
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
    /* Read vm.max_map_count now, on the thread stack that makes the pool
     * (a scheduler starting): fscanf is deep, and the first guarded
     * stack may be carved by a spawn from a small-stack process. */
    (void)csp__stack_guard_cap();
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
    for (int c = 0; c < CSP__STACK_CLASSES; c++) {
        pool->cls[c].size = CSP__STACK_CLASS_SIZE(c);
        pool->cls[c].next_ucap = UNGUARDED_FIRST;
    }
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
    size_t n = 0;

    csp__mutex_lock(&pool->lock);
    for (int c = 0; c < CSP__STACK_CLASSES; c++) {
        size_t i = 0;
        for (struct csp__stack *s = pool->cls[c].free; s; s = s->next, i++) {
            if (i < keep)
                continue;
            /* An unguarded slot keeps its top page: the next slot's
             * canary (small slots share pages: nothing to give back). */
            size_t len = s->guarded ? s->size
                         : pool->cls[c].size >= 2 * pool->page
                             ? pool->cls[c].size - pool->page
                             : 0;
            if (len && madvise(s->lo, len, MADV_DONTNEED) == 0)
                n++;
        }
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
    for (int k = 0; k < CSP__STACK_CLASSES; k++) {
        struct csp__stack_class *cl = &pool->cls[k];
        while (c->top[k]) {
            struct csp__stack *s = c->top[k];
            c->top[k] = s->next;
            s->next = cl->free;
            cl->free = s;
            cl->nfree++;
        }
    }
    pool->reused += atomic_load_explicit(&c->reused, memory_order_relaxed);
    csp__list_remove(&pool->caches, &c->link);
    csp__mutex_unlock(&pool->lock);
    free(c);
}

/* Pop a free stack of class K, else carve one. pool->lock held. *REUSED
 * tells which. */
static struct csp__stack *pool_take(struct csp__stack_pool *pool, int k,
                                    int *reused)
{
    struct csp__stack_class *cl = &pool->cls[k];
    struct csp__stack *s = cl->free;

    if (s) {
        cl->free = s->next;
        cl->nfree--;
        s->next = NULL;
        *reused = 1;
        return s;
    }
    *reused = 0;
    return fresh_stack(pool, k);
}

static void count_reuse(struct csp__stack_cache *c)
{
    /* Only this thread writes c->reused; readers take a relaxed
     * snapshot. */
    atomic_store_explicit(
        &c->reused, atomic_load_explicit(&c->reused, memory_order_relaxed) + 1,
        memory_order_relaxed);
}

struct csp__stack *csp__stack_get(struct csp__stack_cache *c, size_t size)
{
    struct csp__stack_pool *pool = c->pool;
    int k = csp__stack_class_of(size ? size : pool->size);
    struct csp__stack *s;
    int reused;

    if (k < 0)
        return oversize_get(pool, size ? size : pool->size);
    s = c->top[k];
    if (s) {
        /* The hot path: no lock, no syscall. */
        c->top[k] = s->next;
        c->n[k]--;
        s->next = NULL;
        count_reuse(c);
        return s;
    }
    csp__mutex_lock(&pool->lock);
    s = pool_take(pool, k, &reused);
    if (s) {
        struct csp__stack_class *cl = &pool->cls[k];
        size_t want = pool->cache_max / 2;
        /* Refill up to half the cache in the same lock hold: from the
         * free list, or for small classes by carving a batch. */
        while (c->n[k] < want && cl->free) {
            struct csp__stack *t = cl->free;
            cl->free = t->next;
            cl->nfree--;
            t->next = c->top[k];
            c->top[k] = t;
            c->n[k]++;
        }
        if (!reused && cl->size <= pool->page) {
            if (want > SMALL_BATCH)
                want = SMALL_BATCH;
            while (c->n[k] < want) {
                struct csp__stack *t = fresh_stack(pool, k);
                if (!t)
                    break;
                t->next = c->top[k];
                c->top[k] = t;
                c->n[k]++;
            }
        }
    }
    csp__mutex_unlock(&pool->lock);
    if (s && reused)
        count_reuse(c);
    return s;
}

void csp__stack_put(struct csp__stack_cache *c, struct csp__stack *s)
{
    struct csp__stack_pool *pool = c->pool;
    int k = s->cls;

    if (s->slab->single) {
        oversize_put(pool, s);
        return;
    }
    scrub(s);
    s->next = c->top[k];
    c->top[k] = s;
    c->n[k]++;
    if (c->n[k] <= pool->cache_max)
        return;
    /* Spill the colder half (the bottom of the LIFO) to the pool. */
    size_t keep = pool->cache_max / 2;
    struct csp__stack *last = c->top[k];
    for (size_t i = 1; i < keep; i++)
        last = last->next;
    struct csp__stack *spill = keep ? last->next : c->top[k];
    if (keep)
        last->next = NULL;
    else
        c->top[k] = NULL;
    size_t nspill = c->n[k] - keep;
    struct csp__stack *tail = spill;
    while (tail->next)
        tail = tail->next;
    c->n[k] = keep;
    csp__mutex_lock(&pool->lock);
    tail->next = pool->cls[k].free;
    pool->cls[k].free = spill;
    pool->cls[k].nfree += nspill;
    csp__mutex_unlock(&pool->lock);
}

struct csp__stack *csp__stack_pool_get(struct csp__stack_pool *pool,
                                       size_t size)
{
    int k = csp__stack_class_of(size ? size : pool->size);
    struct csp__stack *s;
    int reused;

    if (k < 0)
        return oversize_get(pool, size ? size : pool->size);
    csp__mutex_lock(&pool->lock);
    s = pool_take(pool, k, &reused);
    if (s && reused)
        pool->reused++;
    csp__mutex_unlock(&pool->lock);
    return s;
}

void csp__stack_pool_put(struct csp__stack_pool *pool, struct csp__stack *s)
{
    int k = s->cls;

    if (s->slab->single) {
        oversize_put(pool, s);
        return;
    }
    scrub(s);
    csp__mutex_lock(&pool->lock);
    s->next = pool->cls[k].free;
    pool->cls[k].free = s;
    pool->cls[k].nfree++;
    csp__mutex_unlock(&pool->lock);
}

_Noreturn void csp__stack_overflow(const struct csp__stack *s)
{
    csp__stack_overflow_named(s, NULL, 1);
}

_Noreturn void csp__stack_overflow_named(const struct csp__stack *s,
                                         const char *who, int canary_hit)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "csp: stack overflow in %s: %s its %s stack "
                     "[%p, %p) of %zu bytes. Give it a bigger stack "
                     "(CSP_RT_STACK_SIZE, csp_go_ex; CSP_GO_SMALL_STACK is "
                     "for processes that only move values), or raise "
                     "CSP_RT_STACK_GUARDS so overflows fault where they "
                     "happen.\n",
                     who ? who : "a go process",
                     canary_hit ? "the canary was overwritten below"
                         : "it came within a red zone of the bottom of",
                     s->guarded ? "guarded" : "unguarded", s->lo,
                     (void *)((char *)s->lo + s->size), s->size);
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
