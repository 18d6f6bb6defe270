/* timer.c - timeout channels (DESIGN §7).
 *
 * csp_timeout(ms) rounds the deadline now+ms UP to a bucket of the
 * runtime's resolution R (never early, at most R late) and returns the
 * bucket's channel, creating it on first use. Buckets live in a hash map
 * (bucket -> channel; linear probing with backward-shift deletion) and a
 * 4-ary min-heap of bucket times, so 10^6 outstanding timeouts cost
 * horizon/R entries, not 10^6. One thread per runtime, started on the
 * first timeout, sleeps on a CLOCK_MONOTONIC condition variable until the
 * earliest bucket, removes due buckets under the timer lock, and closes
 * their channels outside it.
 *
 * Locking: t->lock is a leaf. It is never held while a channel lock is
 * taken (channels are closed after unlocking) and no channel lock is held
 * when it is taken. Creating a channel under it takes no other lock.
 * The timer holds one reference to each channel in the map.
 */
#include <stdio.h>

#include "internal.h"
#include "trace.h"

#define EMPTY_KEY INT64_MIN
#define MAX_MS ((uint64_t)1 << 40) /* about 35 years */
#define FIRE_BATCH 64

struct slot {
    int64_t key;
    csp_chan *ch;
};

struct csp__timer {
    csp_rt *rt;
    csp__mutex lock;        /* leaf; guards every field below */
    csp__cond cond;         /* signalled on a new minimum and at stop */
    csp__thread thread;
    int stop;
    int64_t resolution;     /* ns; immutable */
    int64_t *heap;          /* 4-ary min-heap of bucket times */
    size_t n, heap_cap;
    struct slot *map;       /* open addressing, power-of-two size */
    size_t map_size;
    /* Due channels the thread is closing with the lock dropped; each slot
     * is cleared after its close, before its release, so that a fork's
     * child can finish the closes (timer thread only, and fork). */
    _Atomic(csp_chan *) firing[FIRE_BATCH];
};

static size_t hash(int64_t key, size_t size)
{
    uint64_t x = (uint64_t)key * 0x9e3779b97f4a7c15u;
    return (size_t)(x >> 17) & (size - 1);
}

static struct slot *map_find(struct csp__timer *t, int64_t key)
{
    size_t i = hash(key, t->map_size);

    while (t->map[i].key != EMPTY_KEY) {
        if (t->map[i].key == key)
            return &t->map[i];
        i = (i + 1) & (t->map_size - 1);
    }
    return NULL;
}

static void map_put(struct slot *map, size_t size, int64_t key, csp_chan *ch)
{
    size_t i = hash(key, size);

    while (map[i].key != EMPTY_KEY)
        i = (i + 1) & (size - 1);
    map[i].key = key;
    map[i].ch = ch;
}

/* Remove KEY, shifting later entries of its probe run back. */
static csp_chan *map_take(struct csp__timer *t, int64_t key)
{
    size_t mask = t->map_size - 1, i = hash(key, t->map_size), j;
    csp_chan *ch;

    while (t->map[i].key != key)
        i = (i + 1) & mask;
    ch = t->map[i].ch;
    j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (t->map[j].key == EMPTY_KEY)
            break;
        size_t home = hash(t->map[j].key, t->map_size);
        /* Move j to i if its home is not in the cyclic range (i, j]. */
        if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
            t->map[i] = t->map[j];
            i = j;
        }
    }
    t->map[i].key = EMPTY_KEY;
    t->map[i].ch = NULL;
    return ch;
}

/* Make room for one more bucket. Returns CSP_OK or CSP_ENOMEM. */
static int reserve(struct csp__timer *t)
{
    csp_rt *rt = t->rt;

    if (t->n == t->heap_cap) {
        size_t cap = t->heap_cap ? t->heap_cap * 2 : 64;
        int64_t *h = csp__alloc(rt, cap * sizeof *h);
        if (!h)
            return CSP_ENOMEM;
        for (size_t i = 0; i < t->n; i++)
            h[i] = t->heap[i];
        csp__free(rt, t->heap, t->heap_cap * sizeof *h);
        t->heap = h;
        t->heap_cap = cap;
    }
    if ((t->n + 1) * 2 > t->map_size) { /* load factor at most 1/2 */
        size_t size = t->map_size ? t->map_size * 2 : 128;
        struct slot *m = csp__alloc(rt, size * sizeof *m);
        if (!m)
            return CSP_ENOMEM;
        for (size_t i = 0; i < size; i++)
            m[i].key = EMPTY_KEY;
        for (size_t i = 0; i < t->map_size; i++)
            if (t->map[i].key != EMPTY_KEY)
                map_put(m, size, t->map[i].key, t->map[i].ch);
        csp__free(rt, t->map, t->map_size * sizeof *m);
        t->map = m;
        t->map_size = size;
    }
    return CSP_OK;
}

static void heap_push(struct csp__timer *t, int64_t key)
{
    size_t i = t->n++;

    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (t->heap[parent] <= key)
            break;
        t->heap[i] = t->heap[parent];
        i = parent;
    }
    t->heap[i] = key;
}

static int64_t heap_pop(struct csp__timer *t)
{
    int64_t top = t->heap[0], last = t->heap[--t->n];
    size_t i = 0;

    for (;;) {
        size_t c = 4 * i + 1, best = c;
        if (c >= t->n)
            break;
        for (size_t k = c + 1; k < c + 4 && k < t->n; k++)
            if (t->heap[k] < t->heap[best])
                best = k;
        if (t->heap[best] >= last)
            break;
        t->heap[i] = t->heap[best];
        i = best;
    }
    if (t->n)
        t->heap[i] = last;
    return top;
}

static void *timer_main(void *arg)
{
    struct csp__timer *t = arg;
    _Atomic(csp_chan *) *due = t->firing;

    csp__mutex_lock(&t->lock);
    while (!t->stop) {
        size_t k = 0;
        int64_t now;

        if (t->n == 0) {
            csp__cond_wait(&t->cond, &t->lock);
            continue;
        }
        now = csp__now_ns();
        while (t->n > 0 && t->heap[0] <= now && k < FIRE_BATCH)
            due[k++] = map_take(t, heap_pop(t));
        if (k == 0) {
            csp__cond_wait_until(&t->cond, &t->lock, t->heap[0]);
            continue;
        }
        csp__mutex_unlock(&t->lock);
        for (size_t i = 0; i < k; i++) {
            csp_chan *ch = atomic_load_explicit(&due[i],
                                                memory_order_relaxed);
            CSP_TRACE_TIMER(t->rt, ch->id);
            csp__chan_close(ch);
            atomic_store_explicit(&due[i], NULL, memory_order_relaxed);
            csp_chan_release(ch);
        }
        csp__mutex_lock(&t->lock);
    }
    csp__mutex_unlock(&t->lock);
    return NULL;
}

static struct csp__timer *timer_get(csp_rt *rt)
{
    struct csp__timer *t =
        atomic_load_explicit(&rt->timer, memory_order_acquire);

    if (CSP__LIKELY(t != NULL))
        return t;
    csp__mutex_lock(&rt->lock);
    t = atomic_load_explicit(&rt->timer, memory_order_relaxed);
    if (t)
        goto out;
    t = csp__calloc(rt, sizeof *t);
    if (!t)
        goto out;
    t->rt = rt;
    t->resolution = rt->settings[CSP_RT_TIMER_RESOLUTION_MS] * 1000000;
    if (csp__mutex_init(&t->lock) != CSP_OK)
        goto fail_mutex;
    if (csp__cond_init(&t->cond) != CSP_OK)
        goto fail_cond;
    if (csp__thread_start_any(&t->thread, timer_main, t, "csp-timer") != CSP_OK)
        goto fail_thread;
    csp__rt_mark_started(rt);
    /* release: pairs with the acquire load above. */
    atomic_store_explicit(&rt->timer, t, memory_order_release);
    goto out;

fail_thread:
    csp__cond_destroy(&t->cond);
fail_cond:
    csp__mutex_destroy(&t->lock);
fail_mutex:
    csp__free(rt, t, sizeof *t);
    t = NULL;
out:
    csp__mutex_unlock(&rt->lock);
    return t;
}

int csp_timeout(csp_chan **out, csp_rt *rt, uint64_t ms)
{
    struct csp__timer *t;
    struct slot *s;
    csp_chan *ch;
    int64_t deadline, bucket;
    int rc;

    if (!out || !rt || ms > MAX_MS)
        return CSP_EINVAL;
    t = timer_get(rt);
    if (!t)
        return CSP_ENOMEM;
    deadline = csp__now_ns() + (int64_t)ms * 1000000;
    bucket = (deadline + t->resolution - 1) / t->resolution * t->resolution;
    csp__mutex_lock(&t->lock);
    s = t->map_size ? map_find(t, bucket) : NULL;
    if (s) {
        *out = csp_chan_retain(s->ch);
        csp__mutex_unlock(&t->lock);
        return CSP_OK;
    }
    rc = reserve(t);
    if (rc == CSP_OK)
        rc = csp__chan_new_kind(&ch, rt, CSP_BUF_NONE, 0, CSP__KIND_TIMEOUT);
    if (rc != CSP_OK) {
        csp__mutex_unlock(&t->lock);
        return rc;
    }
    map_put(t->map, t->map_size, bucket, ch);
    heap_push(t, bucket);
    if (t->heap[0] == bucket)
        csp__cond_signal(&t->cond);
    *out = csp_chan_retain(ch);
    csp__mutex_unlock(&t->lock);
    return CSP_OK;
}

/* ------------------------------------------------------------------------
 * fork() (core/fork.c). */

void csp__timer_fork_lock(csp_rt *rt)
{
    struct csp__timer *t = atomic_load_explicit(&rt->timer,
                                                memory_order_acquire);
    if (t)
        csp__mutex_lock(&t->lock);
}

void csp__timer_fork_unlock(csp_rt *rt)
{
    struct csp__timer *t = atomic_load_explicit(&rt->timer,
                                                memory_order_acquire);
    if (t)
        csp__mutex_unlock(&t->lock);
}

void csp__timer_fork_child(csp_rt *rt)
{
    struct csp__timer *t = atomic_load_explicit(&rt->timer,
                                                memory_order_acquire);

    if (!t)
        return;
    /* The thread was the parent's. The condition variable may have had
     * it as a waiter: make a fresh one. Due buckets it had taken out of
     * the map but not yet closed are lost to the child, as are the
     * channels' waiters (they were the parent's); every other bucket
     * fires on time from the new thread. */
    for (size_t i = 0; i < FIRE_BATCH; i++) {
        csp_chan *ch = atomic_exchange(&t->firing[i], NULL);
        if (ch) {
            csp__chan_close(ch);
            csp_chan_release(ch);
        }
    }
    if (csp__cond_init(&t->cond) != CSP_OK ||
        csp__thread_start_any(&t->thread, timer_main, t, "csp-timer") !=
            CSP_OK) {
        fprintf(stderr, "csp: fork: cannot restart the timer thread; "
                        "timeouts of this runtime will not fire\n");
    }
}

int64_t csp__timer_pending(csp_rt *rt)
{
    struct csp__timer *t = atomic_load_explicit(&rt->timer,
                                                memory_order_acquire);
    int64_t n;

    if (!t)
        return 0;
    csp__mutex_lock(&t->lock);
    n = (int64_t)t->n;
    csp__mutex_unlock(&t->lock);
    return n;
}

int csp__timer_shutdown(csp_rt *rt)
{
    struct csp__timer *t = atomic_load_explicit(&rt->timer,
                                                memory_order_acquire);

    if (!t)
        return CSP_OK;
    csp__mutex_lock(&t->lock);
    t->stop = 1;
    csp__cond_signal(&t->cond);
    csp__mutex_unlock(&t->lock);
    csp__thread_join(t->thread);
    /* Buckets not yet due: nobody else holds them (channels were
     * released), so they just go. */
    for (size_t i = 0; i < t->map_size; i++)
        if (t->map[i].key != EMPTY_KEY)
            csp_chan_release(t->map[i].ch);
    csp__free(rt, t->map, t->map_size * sizeof *t->map);
    csp__free(rt, t->heap, t->heap_cap * sizeof *t->heap);
    csp__cond_destroy(&t->cond);
    csp__mutex_destroy(&t->lock);
    csp__free(rt, t, sizeof *t);
    atomic_store_explicit(&rt->timer, NULL, memory_order_relaxed);
    return CSP_OK;
}
