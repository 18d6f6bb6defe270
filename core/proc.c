/* proc.c - go processes: spawn, entry and exit, the result channel, park
 * and wake, sleep and yield, and the per-proc report line.
 *
 * A proc is a stack from the scheduler's stack pool (the spawning
 * worker's cache when spawned on a worker) with its struct csp__proc at
 * the top, above the first frame: a spawn allocates nothing else, and a
 * recycled stack brings its proc struct along, hot in the cache. The
 * scheduler gives the stack back after the proc switched out for the last
 * time (csp__proc_destroy), never on the proc's stack, and touches the
 * struct no more once it did.
 *
 * Ownership: the proc holds one reference to its result channel; on
 * return it offers the value (if not NULL), closes the channel and
 * releases that reference, as core.async's go block does with its return
 * value. Every live proc is on one shard list of the scheduler (for
 * csp_rt_dump and a forced shutdown), linked at spawn and unlinked at
 * destroy, under that shard's leaf lock.
 *
 * Migration (DESIGN §4.4): a proc may resume on another worker after any
 * park. Nothing here reads TLS after a switch; the current worker is
 * p->worker, which the scheduler sets before every resume.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_internal.h"
#include "trace.h"

#define STACK_MIN CSP_STACK_MIN
#define STACK_MAX ((size_t)1 << 30)
#define SLEEP_MAX_MS ((uint64_t)1 << 40)

int csp_in_go(void)
{
    return csp__tls()->proc != NULL;
}

/* P's stack overflowed: switch to the scheduler's own stack (the small
 * one may have no room left for a report), which calls
 * csp__proc_overflowed. The transfer's own pushes may land below lo:
 * which check failed is decided first. */
struct thread_start {
    csp__thread *t;
    void *(*fn)(void *);
    void *arg;
    const char *name;
    int rc;
};

static void thread_start_call(void *arg)
{
    struct thread_start *a = arg;

    a->rc = csp__thread_start(a->t, a->fn, a->arg, a->name);
}

void csp__call_on_thread_stack(void (*fn)(void *), void *arg)
{
    struct csp__proc *p = csp__proc_current();
    struct csp__call call = {fn, arg};

    if (!p) {
        fn(arg);
        return;
    }
    csp__proc_check(p); /* a switch point like any other */
    p->call = &call;
    p->after = CSP__AFTER_CALL;
    csp__coro_transfer(&p->ctx, &p->worker->ctx, NULL);
    /* Resumed on the same worker, FN has returned. */
}

int csp__thread_start_any(csp__thread *t, void *(*fn)(void *), void *arg,
                          const char *name)
{
    struct thread_start a = {t, fn, arg, name, CSP_OK};

    csp__call_on_thread_stack(thread_start_call, &a);
    return a.rc;
}

_Noreturn void csp__proc_overflow(struct csp__proc *p)
{
    p->canary_hit = *p->stack->canary != CSP__STACK_CANARY;
    p->after = CSP__AFTER_OVERFLOW;
    csp__coro_transfer(&p->ctx, &p->worker->ctx, NULL);
    abort(); /* never resumed */
}

void csp__proc_overflowed(struct csp__proc *p)
{
    char who[160];
    Dl_info info;
    const char *name = NULL;

    if (dladdr((void *)(uintptr_t)p->fn, &info) && info.dli_sname)
        name = info.dli_sname;
    snprintf(who, sizeof who, "go process %llu (%s%s%p)",
             (unsigned long long)p->id, name ? name : "",
             name ? " at " : "function ", (void *)(uintptr_t)p->fn);
    csp__stack_overflow_named(p->stack, who, p->canary_hit);
}

/* The first frame on a proc's stack. ARG is what the first transfer in
 * handed over: NULL from the scheduler, or the proc that parked and
 * switched straight to us, whose park we finish. */
static void proc_entry(void *arg0, void *arg)
{
    struct csp__proc *p = arg0;
    void *v;

    if (arg) /* the proc that switched straight to us (csp__proc_park) */
        csp__sched_park_done(arg, p->worker);
#if defined(CSP__SCHED_CHECKS)
    p->fpenv = csp__coro_fpenv();
#endif
    v = p->fn(p->arg);
    /* The result channel is served by the scheduler after the last
     * switch (csp__proc_deliver), on its own stack: offer, close and
     * release are the deepest calls a proc would make, too deep for a
     * small stack (valgrind's malloc wrapper overflowed a 2 KiB one). */
    p->ret = v;
    csp__proc_check(p);
    p->after = CSP__AFTER_EXIT;
    /* p->worker, not TLS: the proc may have migrated. */
    csp__coro_exit(&p->ctx, &p->worker->ctx, NULL);
}

/* Bytes at the top of a stack that hold the proc struct (a multiple of
 * 64 keeps the rest 16-byte aligned and the struct on its own lines). */
#define PROC_SPACE ((sizeof(struct csp__proc) + 63) & ~(size_t)63)

int csp_go_ex(csp_rt *rt, csp_go_fn fn, void *arg, unsigned flags,
              size_t stack_size, csp_chan **result)
{
    struct csp__sched *s;
    struct csp__worker *self;
    struct csp__stack *stack;
    struct csp__proc *p;
    struct csp__shard *sh;
    csp_chan *ch = NULL;
    int rc;

    if (!rt || !fn ||
        (flags & ~(unsigned)(CSP_GO_PINNED | CSP_GO_SMALL_STACK)))
        return CSP_EINVAL;
    if (stack_size && (stack_size < STACK_MIN || stack_size > STACK_MAX))
        return CSP_EINVAL;
    if ((flags & CSP_GO_SMALL_STACK) && stack_size)
        return CSP_EINVAL;
    rc = csp__sched_start(rt);
    if (rc != CSP_OK)
        return rc;
    s = csp__sched_get(rt);
    if (atomic_load_explicit(&s->closing, memory_order_acquire))
        return CSP_EPERM;
    if (flags & CSP_GO_SMALL_STACK)
        stack_size = CSP__SMALL_STACK;
    else if (!stack_size)
        stack_size = s->stack_size;
#if defined(CSP__STACK_FLOOR)
    if (stack_size < CSP__STACK_FLOOR)
        stack_size = CSP__STACK_FLOOR;
#endif
    /* TLS at entry; nothing here parks. */
    self = csp__tls()->worker;
    if (self && self->s != s)
        self = NULL;
    if (result) {
        rc = csp_chan_new(&ch, rt, CSP_BUF_FIXED, 1, NULL, NULL);
        if (rc != CSP_OK)
            return rc;
    }
    /* The proc struct takes PROC_SPACE of the stack asked for: a request
     * of exactly the pool's size is still served from the pool. */
    stack = self ? csp__stack_get(self->stacks, stack_size)
                 : csp__stack_pool_get(s->stacks, stack_size);
    if (!stack) {
        csp_chan_release(ch);
        return CSP_ENOMEM;
    }
    p = (struct csp__proc *)((char *)stack->lo + stack->size - PROC_SPACE);
    memset(p, 0, sizeof *p);
    p->stack = stack;
    p->task.run = csp__proc_marker;
    p->s = s;
    p->fn = fn;
    p->arg = arg;
    atomic_init(&p->pstate, CSP__P_RUNNING);
    if (flags & CSP_GO_PINNED) {
        p->pinned = 1;
        p->home = self ? self : csp__sched_pick_home(s);
    }
    csp__coro_make(&p->ctx, stack->lo, stack->size - PROC_SPACE, proc_entry, p);
    p->id = (uint64_t)atomic_fetch_add_explicit(&s->nspawned, 1,
                                                memory_order_relaxed) +
            1;
    p->shard = self ? self->index : s->nworkers;
    sh = &s->shards[p->shard];
    csp__mutex_lock(&sh->lock);
    csp__list_push(&sh->live, &p->live_link);
    csp__mutex_unlock(&sh->lock);
    atomic_fetch_add_explicit(&s->nlive, 1, memory_order_relaxed);
    if (result) {
        p->result = csp_chan_retain(ch);
        *result = ch;
    }
    CSP_TRACE_SPAWN(rt, p->id);
    csp__sched_spawn(s, self, p);
    return CSP_OK;
}

int csp_go(csp_rt *rt, csp_go_fn fn, void *arg, csp_chan **result)
{
    return csp_go_ex(rt, fn, arg, 0, 0, result);
}

void csp__proc_deliver(struct csp__proc *p)
{
    csp_chan *ch = p->result;

    if (!ch)
        return;
    p->result = NULL;
    /* A fresh fixed(1) channel has room; if a user filled it, the value
     * is not delivered (documented on csp_go). */
    if (p->ret)
        csp_chan_offer(ch, p->ret);
    csp_chan_close(ch);
    csp_chan_release(ch);
}

void csp__proc_destroy(struct csp__proc *p, struct csp__stack_cache *cache)
{
    struct csp__sched *s = p->s;
    struct csp__shard *sh = &s->shards[p->shard];
    struct csp__stack *stack = p->stack;
    /* Set only for a proc discarded by a forced shutdown. */
    csp_chan *result = p->result;

    csp__mutex_lock(&sh->lock);
    csp__list_remove(&sh->live, &p->live_link);
    csp__mutex_unlock(&sh->lock);
    csp__coro_destroy(&p->ctx);
    /* P lives on STACK: from here on it is gone. */
    if (cache)
        csp__stack_put(cache, stack);
    else
        csp__stack_pool_put(s->stacks, stack);
    csp_chan_release(result);
    /* release: a shutdown that reads 0 sees the proc's whole life. */
    atomic_fetch_sub_explicit(&s->nlive, 1, memory_order_release);
}

/* ------------------------------------------------------------------------
 * Park and wake (DESIGN §5.4). */

/* csp__proc_park lives in sched.c, beside the switch it makes. */

/* csp__proc_wake lives in sched.c, beside the runnext push it inlines. */

void csp__proc_wake_batched(struct csp__proc *p, struct csp__wake_batch *b)
{
    struct csp__sched *s = p->s;
    uint32_t old;

    if (!b->self_read) {
        b->self = csp__tls()->worker;
        b->self_read = 1;
    }
    if ((b->self && b->self->s == s) || p->pinned) {
        csp__proc_wake(p); /* runnext or its pinned FIFO */
        return;
    }
    if (b->s != s) {
        csp__wake_batch_flush(b);
        b->s = s;
        /* Before any proc of the batch can run: see ext_inflight. */
        atomic_fetch_add_explicit(&s->ext_inflight, 1, memory_order_seq_cst);
    }
    csp__chaos_delay(); /* the proc may still be switching out */
    old = atomic_exchange_explicit(&p->pstate, CSP__P_NOTIFIED,
                                   memory_order_acq_rel);
    if (old != CSP__P_PARKED) {
        CSP_ASSERT(old == CSP__P_RUNNING || old == CSP__P_WITHDRAWN);
        return;
    }
    atomic_store_explicit(&p->pstate, CSP__P_RUNNING, memory_order_relaxed);
    CSP_TRACE_WAKE(s->rt, p->id);
    p->task.next = NULL;
    if (b->last)
        b->last->next = &p->task;
    else
        b->first = &p->task;
    b->last = &p->task;
    b->n++;
}

void csp__wake_batch_flush(struct csp__wake_batch *b)
{
    struct csp__sched *s = b->s;

    if (!s)
        return;
    if (b->n) {
        atomic_fetch_sub_explicit(&s->nparked_ext, b->n, memory_order_relaxed);
        csp__sched_ready_chain(s, b->first, b->last, b->n);
    }
    b->s = NULL;
    b->first = b->last = NULL;
    b->n = 0;
    /* release: the shutdown that reads 0 is past our last use of S. */
    atomic_fetch_sub_explicit(&s->ext_inflight, 1, memory_order_release);
}

int csp__proc_withdraw(struct csp__proc *p)
{
    uint32_t st = CSP__P_PARKED, ws = CSP__W_WAITING;
    struct csp__waiter *w;

    /* acquire: pairs with the scheduler's PARKED CAS, so p->waiter and
     * the waiter are visible. From here no waker can queue P. */
    if (!atomic_compare_exchange_strong_explicit(
            &p->pstate, &st, CSP__P_WITHDRAWN, memory_order_acq_rel,
            memory_order_acquire))
        return st == CSP__P_WITHDRAWN;
    w = p->waiter;
    if (!w)
        return 1;
    if (atomic_compare_exchange_strong_explicit(
            &w->state, &ws, CSP__W_CANCELLED, memory_order_acq_rel,
            memory_order_acquire)) {
        for (uint32_t i = 0; i < w->ncases; i++) {
            csp_chan *ch = w->nodes[i].ch;
            csp__lock_acquire(&ch->lock);
            csp__chan_unlink(ch, &w->nodes[i]);
            csp__lock_release(&ch->lock);
        }
        return 1;
    }
    /* Claimed: its waker will find WITHDRAWN and leave P to us. Wait for
     * that XCHG (it publishes the results), then queue P. */
    while (atomic_load_explicit(&p->pstate, memory_order_acquire) !=
           CSP__P_NOTIFIED)
        csp__futex_wait(&p->pstate, CSP__P_WITHDRAWN, csp__now_ns() + 100000);
    atomic_fetch_sub_explicit(&p->s->nparked_ext, 1, memory_order_relaxed);
    atomic_store_explicit(&p->pstate, CSP__P_RUNNING, memory_order_relaxed);
    csp__sched_ready(p->s, NULL, p);
    return 0;
}

void csp__proc_note_wait(struct csp__proc *p, int kind, const uint64_t *ids,
                         size_t n)
{
    size_t k = n < 4 ? n : 4;

    if (p->sleeping)
        kind = CSP__WAIT_SLEEP;
    for (size_t i = 0; i < k; i++)
        atomic_store_explicit(&p->wait_ids[i], ids[i], memory_order_relaxed);
    atomic_store_explicit(&p->wait_n, (uint32_t)n, memory_order_relaxed);
    atomic_store_explicit(&p->wait_kind, kind, memory_order_relaxed);
}

void csp__proc_describe(struct csp__proc *p, FILE *f)
{
    static const char *const kinds[] = {
        [CSP__WAIT_NONE] = "?",      [CSP__WAIT_PUT] = "put",
        [CSP__WAIT_TAKE] = "take",   [CSP__WAIT_ALTS] = "alts",
        [CSP__WAIT_SLEEP] = "sleep", [CSP__WAIT_YIELD] = "yield",
    };
    uint32_t st = atomic_load_explicit(&p->pstate, memory_order_relaxed);
    int kind = atomic_load_explicit(&p->wait_kind, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&p->wait_n, memory_order_relaxed);

    fprintf(f, "    proc %llu", (unsigned long long)p->id);
    if (st == CSP__P_PARKED || st == CSP__P_WITHDRAWN) {
        fprintf(f, " parked: %s",
                kind >= 0 && kind <= CSP__WAIT_YIELD ? kinds[kind] : "?");
        for (uint32_t i = 0; i < n && i < 4; i++)
            fprintf(f, " ch %llu",
                    (unsigned long long)atomic_load_explicit(
                        &p->wait_ids[i], memory_order_relaxed));
        if (n > 4)
            fprintf(f, " (+%u more)", n - 4);
    } else {
        fprintf(f, " runnable or running");
    }
    if (p->pinned)
        fprintf(f, ", pinned to csp-worker-%u", p->home->index);
    fputc('\n', f);
}

/* ------------------------------------------------------------------------
 * Sleep and yield. */

int csp_sleep(uint64_t ms)
{
    struct csp__proc *p = csp__proc_current();
    csp_chan *t;
    void *v = NULL;
    int rc;

    if (!p)
        return CSP_EPERM;
    /* csp_timeout refuses more than 2^40 ms (35 years): that is forever
     * here, and csp_sleep has no CSP_EINVAL. */
    if (ms > SLEEP_MAX_MS)
        ms = SLEEP_MAX_MS;
    rc = csp_timeout(&t, p->s->rt, ms);
    if (rc != CSP_OK)
        return rc;
    p->sleeping = 1;
    rc = csp_chan_take(t, &v);
    p->sleeping = 0;
    csp_chan_release(t);
    return rc == CSP_ECLOSED || rc == CSP_OK ? CSP_OK : rc;
}

int csp_yield(void)
{
    struct csp__proc *p = csp__proc_current();

    if (!p)
        return CSP_EPERM;
    csp__proc_check(p);
    p->after = CSP__AFTER_YIELD;
    csp__coro_transfer(&p->ctx, &p->worker->ctx, NULL);
    return CSP_OK;
}
