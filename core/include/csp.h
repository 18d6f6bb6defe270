/* csp.h - communicating sequential processes for C: Clojure core.async's
 * channels, alts and go processes as a C11 library with a stable ABI.
 *
 * This is the only public header. The stable part comes first; the part
 * guarded by CSP_EXPERIMENTAL may change between minor versions.
 *
 * Conventions (docs/abi.md, docs/errors.md):
 *   - A function that can fail returns int: CSP_OK (0) or a negative CSP_E*
 *     code. On error nothing changed: out-params are untouched and nothing
 *     is held. CSP_PENDING (1) is not an error: a callback will follow.
 *   - Objects are opaque and come from a csp_rt. Refcounted objects have
 *     _retain/_release, single-owner ones _free; destructors accept NULL.
 *   - Values are void *; NULL is never a value. A successful put hands the
 *     value to the channel, a take hands it to the taker, a value the
 *     channel discards goes to the channel's drop hook.
 *   - Suffixes: csp_chan_put parks the calling go process; _blocking blocks
 *     the calling OS thread; _cb never waits and completes via a callback;
 *     offer/poll never wait and queue nothing.
 *   - "Waits:" says whether a call can wait, "Threads:" from where it may be
 *     called, "Callback:" when a callback it takes runs.
 */
#ifndef CSP_H
#define CSP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CSP_STATIC)
#define CSP_API
#elif defined(_WIN32)
#if defined(CSP_BUILDING)
#define CSP_API __declspec(dllexport)
#else
#define CSP_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define CSP_API __attribute__((visibility("default")))
#else
#define CSP_API
#endif

#if defined(__GNUC__)
#define CSP_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define CSP_DEPRECATED(msg)
#endif

/* ------------------------------------------------------------------------
 * Versions. Same major version = same ABI (the SONAME is libcsp.so.MAJOR).
 */
#define CSP_VERSION_MAJOR 0
#define CSP_VERSION_MINOR 2
#define CSP_VERSION_PATCH 0
#define CSP_VERSION_NUMBER                                                   \
    (CSP_VERSION_MAJOR * 10000 + CSP_VERSION_MINOR * 100 + CSP_VERSION_PATCH)

/* The CSP_VERSION_NUMBER the library was built with; compare it with the
 * header's to detect a mismatched shared library.
 * Waits: never.  Threads: any. */
CSP_API int csp_version(void);

/* ------------------------------------------------------------------------
 * Result codes. Values are pinned and never reused.
 */
#define CSP_OK 0
#define CSP_PENDING 1      /* not an error: the callback will run once */
#define CSP_REDUCED 2      /* not an error: a transform step stopped early */
#define CSP_EINVAL (-1)    /* bad argument */
#define CSP_ENOMEM (-2)    /* out of memory, threads or file descriptors */
#define CSP_ECLOSED (-3)   /* channel closed (and drained, for takes) */
#define CSP_EAGAIN (-4)    /* the operation would have to wait */
#define CSP_ETIMEDOUT (-5) /* the deadline passed first */
#define CSP_ECANCELED (-6) /* withdrawn (runtime shut down by force) */
#define CSP_EBUSY (-7)     /* too many pending operations, or in use */
#define CSP_EPERM (-8)     /* wrong context: parking outside a go process,
                              blocking inside one, put on a timeout chan */

/* A static English message for RC ("channel closed"); never NULL.
 * Waits: never.  Threads: any. */
CSP_API const char *csp_strerror(int rc);

/* The code's name without the prefix ("ECLOSED", "OK", "PENDING"), or
 * "UNKNOWN". Bindings name their exceptions after it.
 * Waits: never.  Threads: any. */
CSP_API const char *csp_errname(int rc);

/* ------------------------------------------------------------------------
 * Types.
 */
typedef struct csp_rt csp_rt;           /* a runtime: workers, timers, ids */
typedef struct csp_chan csp_chan;       /* a channel; refcounted */
typedef struct csp_pending csp_pending; /* a pending callback op; refcounted */
typedef struct csp_xform csp_xform;     /* a transform recipe; refcounted */
typedef struct csp_emit csp_emit;       /* where a transform step emits */
typedef struct csp_loop csp_loop;       /* a loop executor for a host thread */

/* Allocator: like Lua's lua_Alloc. new_size == 0 frees PTR (of OLD_SIZE
 * bytes) and returns NULL; otherwise it returns a block of NEW_SIZE bytes
 * (PTR NULL: a new block) or NULL on failure. It is called from any
 * thread, concurrently. */
typedef void *(*csp_alloc_fn)(void *ud, void *ptr, size_t old_size,
                              size_t new_size);

/* Gets each value a channel discards: evicted by a sliding buffer, refused
 * by a full dropping buffer, ignored by a delivered promise, consumed by a
 * transform that stopped early, or still buffered when the channel is
 * freed. Runs on whichever thread discards, possibly under a channel lock:
 * it must not block or call csp. */
typedef void (*csp_drop_fn)(void *ud, void *val);

/* Called once when a channel is finally freed (csp_chan_on_free). */
typedef void (*csp_free_fn)(void *ud);

/* Completion of a put or take issued with a _cb function. RC is CSP_OK
 * (take: VAL is the value, now yours; put: VAL is NULL), CSP_ECLOSED (take
 * from a closed and drained channel), or CSP_ECANCELED (forced runtime
 * shutdown; a put's VAL is handed back). */
typedef void (*csp_done_fn)(void *ud, int rc, void *val);

/* Completion of csp_alts_cb: IDX is the index of the op that committed;
 * RC and VAL as for csp_done_fn. */
typedef void (*csp_alts_fn)(void *ud, int rc, size_t idx, void *val);

/* The body of a go process or csp_thread; the return value, if not NULL,
 * goes on the result channel. */
typedef void *(*csp_go_fn)(void *arg);

/* ------------------------------------------------------------------------
 * Runtime.
 *
 * A runtime owns worker threads (started on first need), the timer thread
 * (started on first timeout) and the allocator. Settings are key/value and
 * may be changed until the first go process, pool callback or timeout.
 */
#define CSP_RT_THREADS 1            /* workers; default: CPUs, env CSP_THREADS */
#define CSP_RT_STACK_SIZE 2         /* go process stack bytes; default 256 KiB,
                                       CSP_STACK_MIN at least (csp_go_ex) */
#define CSP_RT_STACK_GUARDS 3       /* guarded stacks at most; default 16384 */
#define CSP_RT_STACK_CACHE 4        /* free stacks cached per worker; 64 */
#define CSP_RT_TIMER_RESOLUTION_MS 5 /* timeout coalescing; default 1 */
#define CSP_RT_DEBUG_DEADLOCK 6     /* 1: report likely deadlocks on stderr */
#define CSP_RT_THREAD_POOL_MAX 7    /* csp_thread threads at most; 1024 */

/* Create a runtime. ALLOC (NULL: the C library's realloc and free) with UD
 * serves every allocation the runtime and its objects make.
 * On CSP_OK *OUT is the new runtime; free it with csp_rt_free().
 * Returns CSP_OK, CSP_EINVAL (OUT NULL) or CSP_ENOMEM.
 * Waits: never.  Threads: any. */
CSP_API int csp_rt_new(csp_rt **out, csp_alloc_fn alloc, void *ud);

/* Set KEY (CSP_RT_*) to VALUE. Returns CSP_OK, CSP_EINVAL (NULL RT,
 * unknown KEY, VALUE out of range) or CSP_EBUSY (the runtime has started
 * the threads the setting shapes).
 * Waits: never.  Threads: any. */
CSP_API int csp_rt_set(csp_rt *rt, int key, int64_t value);

/* Read setting KEY into *VALUE. Returns CSP_OK or CSP_EINVAL.
 * Waits: never.  Threads: any. */
CSP_API int csp_rt_get(csp_rt *rt, int key, int64_t *value);

/* The allocator RT was created with (the library's realloc-based one when
 * csp_rt_new got NULL), as Lua's lua_getallocf: code written against this
 * header (core/ops/, a binding, a host's own objects) allocates through it
 * to be counted and fault-injected with the runtime's objects. If UD is
 * not NULL, *UD gets the allocator's user data. Memory from it is the
 * caller's and must go back through the same function, with the size it
 * was allocated with, before csp_rt_free(RT). Returns the allocator, or
 * NULL for a NULL RT (then *UD is untouched).
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API csp_alloc_fn csp_rt_getalloc(csp_rt *rt, void **ud);

#define CSP_RT_FREE_FORCE 1

/* Shut RT down. Without CSP_RT_FREE_FORCE: waits until every go process
 * and csp_thread has finished, then stops the threads and frees RT;
 * returns CSP_EBUSY and changes nothing if a go process is parked with no
 * possible waker or a callback op is pending (it cannot know they will
 * ever finish). With CSP_RT_FREE_FORCE: pending callback ops complete with
 * CSP_ECANCELED, parked go processes are discarded with their stacks (what
 * they held leaks, by design), then RT is freed. Channels must have been
 * released. The default runtime cannot be freed (CSP_EPERM).
 * Returns CSP_OK, CSP_EINVAL, CSP_EBUSY, CSP_EPERM (inside a go process of
 * RT, or the default runtime).
 * Waits: blocks the calling thread.  Threads: any but RT's own. */
CSP_API int csp_rt_free(csp_rt *rt, int flags);

/* The process-wide runtime, created on first call with the defaults (and
 * CSP_THREADS from the environment). It lives until process exit and its
 * threads never run atexit code that could crash. NULL only if creating it
 * failed for lack of memory.
 * Waits: never.  Threads: any. */
CSP_API csp_rt *csp_rt_default(void);

/* Counters, read with csp_rt_stat. */
#define CSP_STAT_PROCS_LIVE 1      /* go processes started, not finished */
#define CSP_STAT_PROCS_PARKED 2    /* of those, parked */
#define CSP_STAT_PROCS_RUNNABLE 3  /* of those, queued to run */
#define CSP_STAT_PROCS_SPAWNED 4   /* total ever started */
#define CSP_STAT_CHANS_LIVE 5      /* channels not yet freed */
#define CSP_STAT_TIMERS_PENDING 6  /* timeout channels not yet closed */
#define CSP_STAT_OPS_PENDING 7     /* callback ops not yet completed */
#define CSP_STAT_STACKS_MAPPED 8   /* stacks mapped, in use or cached */
#define CSP_STAT_STACKS_REUSED 9   /* spawns served from a stack cache */
#define CSP_STAT_THREADS_LIVE 10   /* csp_thread threads alive */
#define CSP_STAT_WORKERS 11        /* worker threads running */
#define CSP_STAT_WAKEUPS 12        /* idle workers woken from sleep, total
                                      (each about two context switches);
                                      since 0.2 */

/* Read counter KEY (CSP_STAT_*) into *VALUE. The value is a snapshot.
 * Returns CSP_OK or CSP_EINVAL.
 * Waits: never.  Threads: any. */
CSP_API int csp_rt_stat(csp_rt *rt, int key, int64_t *value);

/* Write a human-readable report of RT to F: counters, then each parked go
 * process with what it waits on (put/take/alts, channel ids, deadline).
 * Returns CSP_OK or CSP_EINVAL.
 * Waits: never (takes internal locks briefly).  Threads: any. */
CSP_API int csp_rt_dump(csp_rt *rt, FILE *f);

/* Trace RT into PATH: when RT is freed (or at process exit, if it is
 * still alive then, as the default runtime is), a Chrome/Perfetto JSON trace of what its threads did is written
 * there, one track per worker, the timer thread and each outside thread
 * that spawned or woke a go process: every run of a go process as a
 * slice (ended by a park, a yield or the exit), and instant events for
 * each spawn, park, wake, steal (a worker taking another's queued
 * processes) and timer bucket firing. Open it in ui.perfetto.dev or
 * chrome://tracing (docs/trace.md). Events are kept in memory per thread
 * (no lock), at most 2^22 per thread; more are counted as dropped in the
 * file. The environment variable CSP_TRACE=PATH does the same for every
 * runtime created while it is set. PATH NULL turns tracing off. Set it
 * before the first go process, pool callback or timeout, as a setting.
 * Returns CSP_OK, CSP_EINVAL (NULL RT, empty PATH, or PATH cannot be
 * opened for writing; it is created or truncated now), CSP_ENOMEM or
 * CSP_EBUSY (RT has started).
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API int csp_rt_set_trace(csp_rt *rt, const char *path);

/* Monotonic time in nanoseconds, the clock of every csp deadline.
 * Waits: never.  Threads: any. */
CSP_API int64_t csp_now_ns(void);

/* A deadline that never passes. */
#define CSP_FOREVER (-1)

/* ------------------------------------------------------------------------
 * Executors: where callbacks run.
 *
 * A task is a plain record the library owns; an executor queues it by its
 * NEXT link and later calls RUN(task) exactly once, on a thread of its
 * choosing. Custom executors embed csp_exec in their own struct. Both
 * records are frozen.
 */
typedef struct csp_task csp_task;
struct csp_task {
    csp_task *next;               /* free for the executor's queue */
    void (*run)(csp_task *self);  /* call exactly once */
};

typedef struct csp_exec csp_exec;
struct csp_exec {
    /* Queue TASK. Called from any thread, never under a csp lock, and
     * must not run TASK before returning unless the executor is inline. */
    void (*submit)(csp_exec *self, csp_task *task);
};

/* RT's pool executor: callbacks run on its worker threads (outside any go
 * process). Starts the workers. NULL if RT is NULL.
 * Waits: never.  Threads: any. */
CSP_API csp_exec *csp_rt_executor(csp_rt *rt);

/* The inline executor: a callback runs on the thread that completed the
 * op, after it released every csp lock; possibly inside a go process, so
 * it must not block.
 * Waits: never.  Threads: any. */
CSP_API csp_exec *csp_exec_inline(void);

/* ------------------------------------------------------------------------
 * Channels.
 */
#define CSP_BUF_NONE 0     /* unbuffered: a put waits for a take */
#define CSP_BUF_FIXED 1    /* up to cap values, then puts wait */
#define CSP_BUF_DROPPING 2 /* up to cap; when full a put succeeds and its
                              value is dropped (the newest) */
#define CSP_BUF_SLIDING 3  /* up to cap; when full a put succeeds and the
                              oldest value is dropped */
#define CSP_BUF_PROMISE 4  /* the first value goes to every taker forever;
                              later puts succeed and are dropped */

#define CSP_CAP_MAX ((size_t)1 << 28)
#define CSP_PENDING_MAX 1024 /* pending puts, and pending takes, per chan */

/* Create a channel on RT whose buffer is of kind BUF (CSP_BUF_*) and holds
 * CAP values (CAP must be 0 for CSP_BUF_NONE and CSP_BUF_PROMISE, and
 * 1..CSP_CAP_MAX for the others; the buffer is allocated here). DROP, if
 * not NULL, gets DROP_UD and each value the channel discards.
 * On CSP_OK *OUT holds one reference; give it back with csp_chan_release().
 * Returns CSP_OK, CSP_EINVAL or CSP_ENOMEM.
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_new(csp_chan **out, csp_rt *rt, int buf, size_t cap,
                         csp_drop_fn drop, void *drop_ud);

/* Add a reference to CH and return CH.
 * Waits: never.  Threads: any. */
CSP_API csp_chan *csp_chan_retain(csp_chan *ch);

/* Drop a reference; the last one frees CH and hands values still buffered
 * to its drop hook. Every op in flight holds a reference (a parking or
 * blocking op borrows its caller's), so CH is never freed under one.
 * Waits: never.  Threads: any. */
CSP_API void csp_chan_release(csp_chan *ch);

/* Have FN(UD) called exactly once, when CH is finally freed: on the
 * thread that drops the last reference, after the values still buffered
 * (and a promise's value, and what a transform instance still holds) went
 * to the drop hook, so after the drop hook's last call. That is when the
 * owner of a drop hook may free its DROP_UD: a binding whose hook queues
 * values to a host thread frees its bookkeeping from FN. FN must not
 * block or use CH. Call it while holding a reference, before CH is
 * shared, or from any thread that holds one: one FN per channel.
 * Returns CSP_OK, CSP_EINVAL (NULL CH or FN), CSP_EBUSY (CH already has
 * one; nothing changed), CSP_EPERM (a timeout channel: the timer shares
 * those between callers).
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API int csp_chan_on_free(csp_chan *ch, csp_free_fn fn, void *ud);

/* Close CH. Idempotent. Puts already pending stay queued and are delivered
 * to later takers (their completions report success); later puts fail with
 * CSP_ECLOSED; takes drain the buffer, then the pending puts, then get
 * CSP_ECLOSED. A transform's completion runs exactly once.
 * Returns CSP_OK, CSP_EINVAL (NULL), CSP_EPERM (a timeout channel).
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_close(csp_chan *ch);

/* 1 if CH is closed, else 0 (also for NULL).
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_closed(const csp_chan *ch);

/* CH's id: unique in the process, never reused, increasing with creation;
 * the order in which alts locks channels. 0 for NULL.
 * Waits: never.  Threads: any. */
CSP_API uint64_t csp_chan_id(const csp_chan *ch);

/* The number of values buffered in CH now (a snapshot); 0 for NULL.
 * Waits: never.  Threads: any. */
CSP_API size_t csp_chan_count(csp_chan *ch);

/* Put VAL on CH, parking the calling go process until it is taken or
 * buffered. Returns CSP_OK (the value is the channel's), CSP_ECLOSED (the
 * value stays yours), CSP_EINVAL (NULL CH or VAL), CSP_EBUSY (1024 puts
 * already pending), CSP_EPERM (not in a go process, or a timeout channel).
 * Waits: parks the calling go process.  Threads: go processes. */
CSP_API int csp_chan_put(csp_chan *ch, void *val);

/* Take from CH, parking the calling go process until a value comes.
 * Returns CSP_OK with *VAL the value (now yours), CSP_ECLOSED with *VAL
 * NULL (closed and drained), CSP_EINVAL, CSP_EBUSY (1024 takes pending),
 * CSP_EPERM (not in a go process).
 * Waits: parks the calling go process.  Threads: go processes. */
CSP_API int csp_chan_take(csp_chan *ch, void **val);

/* As csp_chan_put, blocking the calling OS thread until DEADLINE
 * (csp_now_ns() clock, or CSP_FOREVER). At the deadline the put is
 * withdrawn atomically: CSP_ETIMEDOUT means it did not happen and the
 * value stays yours. Returns CSP_OK, CSP_ECLOSED, CSP_ETIMEDOUT,
 * CSP_EINVAL, CSP_EBUSY, CSP_EPERM (inside a go process).
 * Waits: blocks the calling thread.  Threads: any but go processes. */
CSP_API int csp_chan_put_blocking(csp_chan *ch, void *val, int64_t deadline);

/* As csp_chan_take, blocking the calling OS thread until DEADLINE.
 * Returns CSP_OK, CSP_ECLOSED, CSP_ETIMEDOUT (nothing was taken),
 * CSP_EINVAL, CSP_EBUSY, CSP_EPERM (inside a go process).
 * Waits: blocks the calling thread.  Threads: any but go processes. */
CSP_API int csp_chan_take_blocking(csp_chan *ch, void **val,
                                   int64_t deadline);

/* Discard VAL: hand it to CH's drop hook, if CH has one (else nothing
 * happens): for code that discards a value it took from CH, such as a
 * combinator whose output closed. Accepts NULL CH or VAL (nothing
 * happens).
 * Waits: never.  Threads: any.
 * Since: 0.2 (before: csp_chan_drop, a name csp_xf_drop uses for skipping
 * values) */
CSP_API void csp_chan_discard(csp_chan *ch, void *val);

/* The old name of csp_chan_discard; removed in 0.3. */
CSP_API CSP_DEPRECATED("use csp_chan_discard")
void csp_chan_drop(csp_chan *ch, void *val);

/* Put VAL on CH only if that can happen now; queues nothing. Returns
 * CSP_OK (done), CSP_EAGAIN (would wait; the value stays yours),
 * CSP_ECLOSED, CSP_EINVAL, CSP_EPERM (a timeout channel).
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_offer(csp_chan *ch, void *val);

/* Take from CH only if a value is there now; queues nothing. Returns
 * CSP_OK with *VAL, CSP_EAGAIN, CSP_ECLOSED (closed and drained; *VAL is
 * set to NULL), CSP_EINVAL.
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_poll(csp_chan *ch, void **val);

/* Put VAL on CH; if that cannot happen now, queue the put and call
 * CB(UD, rc, NULL) on executor EX (NULL: CH's runtime pool) when it
 * completes. Returns CSP_OK (done now, no callback), CSP_ECLOSED (value
 * stays yours, no callback), CSP_PENDING (queued: CB runs exactly once;
 * if PENDING is not NULL, *PENDING holds a handle for
 * csp_pending_cancel that you must release), CSP_EINVAL (NULL CH, VAL or
 * CB), CSP_ENOMEM, CSP_EBUSY, CSP_EPERM (a timeout channel).
 * Callback: exactly once if this returns CSP_PENDING, never otherwise;
 * never under a csp lock.
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_put_cb(csp_chan *ch, void *val, csp_exec *ex,
                            csp_done_fn cb, void *ud, csp_pending **pending);

/* Take from CH; a value there now is returned in *VAL with CSP_OK (no
 * callback). Otherwise the take is queued and CB(UD, rc, val) runs on EX
 * when it completes. Returns CSP_OK, CSP_ECLOSED (*VAL NULL), CSP_PENDING,
 * CSP_EINVAL (NULL CH, VAL or CB), CSP_ENOMEM, CSP_EBUSY.
 * Callback: exactly once if this returns CSP_PENDING, never otherwise.
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_take_cb(csp_chan *ch, void **val, csp_exec *ex,
                             csp_done_fn cb, void *ud,
                             csp_pending **pending);

/* Withdraw the pending op P atomically. Returns CSP_OK: withdrawn, the
 * callback never runs, and for a put *VAL (if VAL is not NULL) gets the
 * value back (NULL for takes and alts); or CSP_EAGAIN: it already
 * completed, and its callback runs or ran exactly once. CSP_EINVAL for
 * NULL P. Does not release P.
 * Waits: never.  Threads: any. */
CSP_API int csp_pending_cancel(csp_pending *p, void **val);

/* Release the handle returned through a _cb call's PENDING argument.
 * Releasing does not cancel. Accepts NULL.
 * Waits: never.  Threads: any. */
CSP_API void csp_pending_release(csp_pending *p);

/* Cancel every callback op on RT's channels that still waits and would
 * complete on EX: each callback runs once, on the calling thread, before
 * this returns, with CSP_ECANCELED (a put's value handed back, as by
 * csp_pending_cancel). Returns how many of RT's ops on EX have completed
 * but not yet called back (queued on EX, or about to be: 0 when none is
 * left), or CSP_EINVAL for a NULL argument. A host executor's destructor
 * calls it, runs what EX has queued, and repeats until it returns 0
 * (csp_loop_free does). A callback that issues a new op on EX makes the
 * loop go on; one that does so on CSP_ECANCELED never ends it.
 * Waits: never.  Threads: any; callbacks run on the caller.
 * Since: 0.2 */
CSP_API int csp_rt_cancel_exec(csp_rt *rt, csp_exec *ex);

/* ------------------------------------------------------------------------
 * alts: wait for the first of several puts and takes.
 *
 * csp_op is a plain, frozen argument record. Exactly one op commits. An
 * alts never matches its own put with its own take (it parks, as in Go).
 */
#define CSP_OP_TAKE 0
#define CSP_OP_PUT 1

typedef struct csp_op {
    csp_chan *ch; /* the channel */
    int kind;     /* CSP_OP_TAKE or CSP_OP_PUT */
    void *val;    /* the value to put (not NULL); ignored for takes */
} csp_op;

#define CSP_ALTS_PRIORITY 1 /* try ops in array order, not at random */
#define CSP_ALTS_DEFAULT 2  /* if no op is ready now, return CSP_EAGAIN */
#define CSP_ALTS_MAX 65536  /* ops per alts */

/* Commit exactly one of the N ops, parking the calling go process until
 * one can. *IDX gets the committed op's index; for a take, *VAL its value
 * (NULL when closed), for a put NULL. Returns CSP_OK, CSP_ECLOSED (the op
 * at *IDX found its channel closed), CSP_EAGAIN (CSP_ALTS_DEFAULT and
 * nothing ready; nothing changed), CSP_EINVAL (N 0 or over CSP_ALTS_MAX,
 * NULL channel, NULL put value, bad kind or flags), CSP_EBUSY (a channel
 * has 1024 ops pending on that side; nothing queued), CSP_EPERM (not in a
 * go process, or a put on a timeout channel). Values of puts that did not
 * commit stay yours.
 * Waits: parks the calling go process.  Threads: go processes. */
CSP_API int csp_alts(const csp_op *ops, size_t n, int flags, size_t *idx,
                     void **val);

/* As csp_alts, blocking the calling OS thread until DEADLINE; at the
 * deadline every op is withdrawn and CSP_ETIMEDOUT is returned.
 * Waits: blocks the calling thread.  Threads: any but go processes. */
CSP_API int csp_alts_blocking(const csp_op *ops, size_t n, int flags,
                              int64_t deadline, size_t *idx, void **val);

/* As csp_alts, never waiting: an op ready now commits at once (CSP_OK or
 * CSP_ECLOSED with *IDX and *VAL set, no callback); with CSP_ALTS_DEFAULT
 * and nothing ready, CSP_EAGAIN. Otherwise every op is queued and
 * CSP_PENDING returned; CB(UD, rc, idx, val) then runs once on EX.
 * Callback: exactly once if this returns CSP_PENDING, never otherwise.
 * Waits: never.  Threads: any. */
CSP_API int csp_alts_cb(const csp_op *ops, size_t n, int flags, size_t *idx,
                        void **val, csp_exec *ex, csp_alts_fn cb, void *ud,
                        csp_pending **pending);

/* ------------------------------------------------------------------------
 * Timeouts.
 */

/* A channel that closes MS milliseconds from now: never early, late by at
 * most the timer resolution plus scheduling delay. Deadlines in the same
 * resolution bucket share one channel, so it refuses put and close
 * (CSP_EPERM), and any number of takes may wait on it (the pending-take
 * limit does not apply). On CSP_OK *OUT holds one reference.
 * Returns CSP_OK, CSP_EINVAL, CSP_ENOMEM (also: no timer thread).
 * Waits: never.  Threads: any. */
CSP_API int csp_timeout(csp_chan **out, csp_rt *rt, uint64_t ms);

/* ------------------------------------------------------------------------
 * Go processes and threads.
 *
 * A go process is a stackful coroutine run by RT's workers; parking calls
 * free the worker. Processes migrate between workers, so across any call
 * that can park, errno and thread-local variables belong to whichever
 * worker runs the process next, and compilers may even keep the old
 * thread's address: read errno right after the failing call, keep no
 * thread-local address across a park, or spawn with CSP_GO_PINNED. A go
 * process must not change the floating-point environment across a park,
 * must not block its worker (use csp_thread for blocking calls), and is
 * never preempted (call csp_yield in long loops).
 */
#define CSP_GO_PINNED 1 /* always run on the worker that spawned it */
/* A small stack (CSP_STACK_SMALL bytes, proc bookkeeping included) for a
 * process that only moves values: two parked processes share a 4 KiB
 * page. It has no guard page: a canary below it and a red zone at its
 * bottom are checked at every park, yield and exit, and an overflow
 * aborts with a message naming the process. Keep big locals, deep
 * recursion and calls into libraries (printf, a drop hook or transform
 * that does) out of such a process. Every csp call fits (the runtime
 * starts its threads and schedulers on the worker's own stack), provided
 * symbols are bound at load time: glibc's lazy binding saves the vector
 * registers on the caller's stack (3 KiB) at a function's first call, so
 * libcsp.so is linked with -z now, and a program linking the static
 * library should be too (csp.pc's Libs.private has it). Builds without
 * optimisation give it 8 KiB, sanitizer builds 32 KiB. Since: 0.2 */
#define CSP_GO_SMALL_STACK 2
/* Stack sizes: the least csp_go_ex and CSP_RT_STACK_SIZE accept, and the
 * size CSP_GO_SMALL_STACK gives. Since: 0.2 */
#define CSP_STACK_MIN 2048
#define CSP_STACK_SMALL 2048

/* Start FN(ARG) as a go process of RT. If RESULT is not NULL, *RESULT gets
 * a channel (one reference) on which FN's return value, if not NULL, is put
 * before it closes, as core.async's go block.
 * Returns CSP_OK, CSP_EINVAL (NULL RT or FN), CSP_ENOMEM (no memory or no
 * stack), CSP_EPERM (RT is shutting down).
 * Waits: never.  Threads: any, go processes included. */
CSP_API int csp_go(csp_rt *rt, csp_go_fn fn, void *arg, csp_chan **result);

/* As csp_go with FLAGS (CSP_GO_*) and a stack of STACK_SIZE bytes (0: the
 * runtime's setting CSP_RT_STACK_SIZE; else CSP_STACK_MIN to 1 GiB). The
 * stack comes from the size class that holds STACK_SIZE (2 KiB, 4, 8, ...
 * 1 MiB; larger sizes get a mapping of their own), so a process costs
 * what it asked for. Classes of 16 KiB and more have a guard page below
 * them (up to CSP_RT_STACK_GUARDS of them); smaller ones a canary, as
 * CSP_GO_SMALL_STACK. The proc's bookkeeping (about 256 bytes) lives at
 * the top of its stack. Returns as csp_go, and CSP_EINVAL for an unknown
 * flag, a STACK_SIZE out of range, or CSP_GO_SMALL_STACK with a
 * STACK_SIZE.
 * Waits: never.  Threads: any. */
CSP_API int csp_go_ex(csp_rt *rt, csp_go_fn fn, void *arg, unsigned flags,
                      size_t stack_size, csp_chan **result);

/* Run FN(ARG) on an OS thread from RT's cached, growing pool, for blocking
 * work; RESULT as for csp_go.
 * Returns CSP_OK, CSP_EINVAL, CSP_ENOMEM (also: no thread could start),
 * CSP_EBUSY (CSP_RT_THREAD_POOL_MAX threads busy), CSP_EPERM.
 * Waits: never.  Threads: any. */
CSP_API int csp_thread(csp_rt *rt, csp_go_fn fn, void *arg,
                       csp_chan **result);

/* Park the calling go process for MS milliseconds (take from a timeout).
 * Returns CSP_OK, CSP_ENOMEM, CSP_EPERM (not in a go process).
 * Waits: parks the calling go process.  Threads: go processes. */
CSP_API int csp_sleep(uint64_t ms);

/* Let other runnable go processes run; the caller goes to the back of its
 * worker's queue. Returns CSP_OK or CSP_EPERM (not in a go process).
 * Waits: parks the calling go process.  Threads: go processes. */
CSP_API int csp_yield(void);

/* 1 if the caller is a go process, else 0.
 * Waits: never.  Threads: any. */
CSP_API int csp_in_go(void);

/* ------------------------------------------------------------------------
 * Loop executor: callbacks queued for one host thread (a Lua state, an
 * asyncio loop, a game loop), signalled through a file descriptor.
 */

/* Create a loop executor for RT. On CSP_OK *OUT owns an eventfd (a pipe
 * where there is none). Returns CSP_OK, CSP_EINVAL, CSP_ENOMEM (also: no
 * file descriptor).
 * Waits: never.  Threads: any. */
CSP_API int csp_loop_new(csp_loop **out, csp_rt *rt);

/* Flags of csp_loop_new_ex. */
#define CSP_LOOP_NO_FD 1u /* no descriptor: the host waits in csp_loop_wait */

/* csp_loop_new with FLAGS: 0 is csp_loop_new; CSP_LOOP_NO_FD makes a loop
 * for a host thread that sleeps only in csp_loop_wait (a thread blocked
 * in a binding's call, Python's go scheduler): it has no descriptor
 * (csp_loop_fd gives -1) and wakes through a condition variable, which a
 * submitter signals only while the host waits (no system call when the
 * host is busy). Returns CSP_OK, CSP_EINVAL (NULL argument, unknown
 * flag), CSP_ENOMEM.
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API int csp_loop_new_ex(csp_loop **out, csp_rt *rt, unsigned flags);

/* Make the host's current or next csp_loop_wait return 1 at once, with
 * no task queued (the descriptor becomes readable); the next csp_loop_run
 * consumes the wake-up. For a host told to look at work of its own.
 * Accepts NULL.
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API void csp_loop_wake(csp_loop *loop);

/* Free LOOP and close its descriptor. Ops on the channels of LOOP's
 * runtime that would complete on LOOP are settled first: those still
 * waiting are cancelled (their callbacks run here with CSP_ECANCELED,
 * a put's value handed back), those already completed run here with
 * their result, and one another thread is completing right now is
 * waited for (csp_rt_cancel_exec). Ops of another runtime completing on
 * LOOP must be cancelled by the caller first. Accepts NULL.
 * Waits: only for completions in flight on other threads.
 * Threads: the host thread. */
CSP_API void csp_loop_free(csp_loop *loop);

/* The descriptor that becomes readable when tasks are queued; register it
 * with the host's poller. -1 for NULL and for a CSP_LOOP_NO_FD loop.
 * Waits: never.  Threads: any. */
CSP_API int csp_loop_fd(csp_loop *loop);

/* The executor to pass to _cb calls so their callbacks run in
 * csp_loop_run on the host thread. NULL for NULL.
 * Waits: never.  Threads: any. */
CSP_API csp_exec *csp_loop_executor(csp_loop *loop);

/* Run up to MAX queued tasks (MAX < 0: all queued now) on the calling
 * thread and return how many ran (>= 0), or CSP_EINVAL.
 * Waits: never.  Threads: the host thread. */
CSP_API int csp_loop_run(csp_loop *loop, int max);

/* Wait until a task is queued, csp_loop_wake was called, or TIMEOUT_MS
 * passes (< 0: no limit; 0: just check). Returns 1 (tasks are queued or
 * a wake-up is pending), 0 (timed out), CSP_EINVAL.
 * Waits: blocks the calling thread.  Threads: the host thread. */
CSP_API int csp_loop_wait(csp_loop *loop, int timeout_ms);

/* ------------------------------------------------------------------------
 * Transforms (transducers).
 *
 * A csp_xform is a recipe; each channel (or pipeline item) that uses it
 * gets a fresh instance: INIT makes its state, STEP takes one value and
 * emits zero or more with csp_emit_value, COMPLETE flushes exactly once when the
 * channel closes, FINI frees the state. Steps run under the channel's lock
 * and must not call any csp function other than csp_emit_value and
 * csp_emit_drop.
 */

/* Create instance state for recipe data UD in *STATE (may be NULL).
 * Return CSP_OK or a negative code (the channel creation fails with it). */
typedef int (*csp_xf_init_fn)(void *ud, void **state);

/* Process VAL, which the step now owns: emit it or others with csp_emit_value,
 * keep it in STATE, or hand it back with csp_emit_drop. Return CSP_OK,
 * CSP_REDUCED (stop: the channel closes after this step), or a negative
 * code (an error: the channel's exception handler decides; VAL must have
 * been emitted, kept or dropped first). */
typedef int (*csp_xf_step_fn)(void *state, void *val, csp_emit *out);

/* Flush STATE at close, emitting what it holds. Return CSP_OK or an error
 * code (the exception handler decides). */
typedef int (*csp_xf_complete_fn)(void *state, csp_emit *out);

/* Free instance STATE. Values it still holds go to csp_emit_drop(OUT, v),
 * which is all OUT may be used for here. */
typedef void (*csp_xf_fini_fn)(void *state, csp_emit *out);

/* Free the recipe data UD when the recipe's last reference goes. */
typedef void (*csp_xf_free_fn)(void *ud);

/* A step failed with ERR (negative). Return a value to add to the channel
 * (added as is, not transformed) or NULL to add nothing. The put that
 * caused it still succeeds. */
typedef void *(*csp_exh_fn)(void *ud, int err);

/* Create a transform recipe from the functions above (STEP required, the
 * others may be NULL) and UD. On CSP_OK *OUT holds one reference.
 * Returns CSP_OK, CSP_EINVAL, CSP_ENOMEM.
 * Waits: never.  Threads: any. */
CSP_API int csp_xform_new(csp_xform **out, csp_rt *rt, csp_xf_init_fn init,
                          csp_xf_step_fn step, csp_xf_complete_fn complete,
                          csp_xf_fini_fn fini, void *ud,
                          csp_xf_free_fn ud_free);

/* Compose N recipes, outermost first as core.async's comp: values pass
 * through XFS[0], then XFS[1], ... Retains each. On CSP_OK *OUT holds one
 * reference. Returns CSP_OK, CSP_EINVAL (N 0, NULL entry), CSP_ENOMEM.
 * Waits: never.  Threads: any. */
CSP_API int csp_xform_comp(csp_xform **out, csp_xform *const *xfs, size_t n);

/* Reference counting for recipes. */
CSP_API csp_xform *csp_xform_retain(csp_xform *xf);
CSP_API void csp_xform_release(csp_xform *xf);

/* Emit VAL (not NULL) downstream: to the next step, or into the channel's
 * buffer (a transform may fill it past its capacity). Returns CSP_OK;
 * CSP_REDUCED when downstream stopped, or a negative code when a
 * downstream step failed: either way the step returns that value at once.
 * CSP_EINVAL for NULL OUT or VAL (VAL is not taken).
 * Waits: never.  Threads: inside a step or completion. */
CSP_API int csp_emit_value(csp_emit *out, void *val);

/* Hand VAL to the channel's drop hook (a value the step discards).
 * Waits: never.  Threads: inside a step or completion. */
CSP_API void csp_emit_drop(csp_emit *out, void *val);

/* Create a channel as csp_chan_new whose puts pass through a fresh
 * instance of XF (retained). BUF must not be CSP_BUF_NONE (a transform
 * needs a buffer, as in core.async). With CSP_BUF_PROMISE the first value
 * the transform emits becomes the promise (later ones are dropped); once
 * it is set, later puts are dropped without reaching XF. EXH (may be NULL: failing values are
 * dropped) with EXH_UD handles step errors.
 * Returns CSP_OK, CSP_EINVAL, CSP_ENOMEM, or the error INIT returned.
 * Waits: never.  Threads: any. */
CSP_API int csp_chan_new_xf(csp_chan **out, csp_rt *rt, int buf, size_t cap,
                            csp_drop_fn drop, void *drop_ud, csp_xform *xf,
                            csp_exh_fn exh, void *exh_ud);

/* ------------------------------------------------------------------------
 * Built-in transforms (core/ops/xf.c): core.async's transducers. Each
 * returns a recipe for csp_chan_new_xf, csp_xform_comp or csp_pipeline.
 * Function arguments get the UD given with them. Values are owned as in
 * any step: a value a transform discards goes to the channel's drop hook.
 */

/* VAL -> new value. For map, F owns VAL and returns the value to pass on;
 * NULL is an error (the exception handler decides). For keep, F only
 * looks at VAL: a non-NULL result replaces it (VAL is dropped), NULL drops
 * it. */
typedef void *(*csp_fn)(void *ud, void *val);
/* Nonzero when VAL passes. Looks only, never keeps VAL. */
typedef int (*csp_pred_fn)(void *ud, void *val);
/* mapcat's F: emit what VAL expands to with csp_emit_value (and dispose
 * of VAL: emit it, drop it with csp_emit_drop, or free it); return CSP_OK
 * or what csp_emit_value returned, or an error. */
typedef int (*csp_expand_fn)(void *ud, void *val, csp_emit *out);
/* A key for dedupe, distinct and partition_by, read while the transform
 * owns VAL (it must not keep VAL). NULL key function: the pointer itself. */
typedef uint64_t (*csp_key_fn)(void *ud, void *val);
/* Pack the N values of a partition (N >= 1, the array is csp's) into one
 * value, which takes ownership of them; NULL is an error. */
typedef void *(*csp_pack_fn)(void *ud, void **vals, size_t n);

/* Each returns CSP_OK with *OUT holding one reference, CSP_EINVAL (NULL
 * OUT, RT or required function; N 0 where a size is needed) or
 * CSP_ENOMEM.  Waits: never.  Threads: any. */
CSP_API int csp_xf_map(csp_xform **out, csp_rt *rt, csp_fn f, void *ud);
CSP_API int csp_xf_filter(csp_xform **out, csp_rt *rt, csp_pred_fn p,
                          void *ud);
CSP_API int csp_xf_remove(csp_xform **out, csp_rt *rt, csp_pred_fn p,
                          void *ud);
CSP_API int csp_xf_mapcat(csp_xform **out, csp_rt *rt, csp_expand_fn f,
                          void *ud);
CSP_API int csp_xf_keep(csp_xform **out, csp_rt *rt, csp_fn f, void *ud);
/* The first N values pass, then the transform stops (N 0: stops at the
 * first value, dropping it). */
CSP_API int csp_xf_take(csp_xform **out, csp_rt *rt, uint64_t n);
CSP_API int csp_xf_take_while(csp_xform **out, csp_rt *rt, csp_pred_fn p,
                              void *ud);
CSP_API int csp_xf_drop(csp_xform **out, csp_rt *rt, uint64_t n);
CSP_API int csp_xf_drop_while(csp_xform **out, csp_rt *rt, csp_pred_fn p,
                              void *ud);
/* Groups of N consecutive values (the last may be shorter), packed. */
CSP_API int csp_xf_partition_all(csp_xform **out, csp_rt *rt, size_t n,
                                 csp_pack_fn pack, void *ud);
/* Groups of consecutive values with the same KEY, packed. */
CSP_API int csp_xf_partition_by(csp_xform **out, csp_rt *rt, csp_key_fn key,
                                csp_pack_fn pack, void *ud);
/* Drops a value whose key equals the previous value's. */
CSP_API int csp_xf_dedupe(csp_xform **out, csp_rt *rt, csp_key_fn key,
                          void *ud);
/* Drops a value whose key was seen before. */
CSP_API int csp_xf_distinct(csp_xform **out, csp_rt *rt, csp_key_fn key,
                            void *ud);

/* ------------------------------------------------------------------------
 * Combinators (core/ops/): core.async's, built on this header alone. Each
 * runs as go processes of RT and returns at once. A value a combinator
 * discards (no tap, muted, output closed) goes to the drop hook of the
 * channel it was taken from (csp_chan_discard). Mult, pub and mix pass the
 * same pointer to several channels: share only values that outlive their
 * readers (or are refcounted by you). Unless noted, each returns CSP_OK,
 * CSP_EINVAL (NULL argument, bad size) or CSP_ENOMEM.
 * Waits: never.  Threads: any.
 */

/* Move every value from FROM to TO; when FROM closes, close TO if CLOSE.
 * Stops taking when TO closes (core.async's pipe). */
CSP_API int csp_pipe(csp_rt *rt, csp_chan *from, csp_chan *to, int close);

/* Put VALS[0..N) on CH in order, then close CH if CLOSE. If DONE is not
 * NULL, *DONE gets a channel that closes when that is finished. The array
 * is copied. */
CSP_API int csp_onto_chan(csp_rt *rt, csp_chan *ch, void *const *vals,
                          size_t n, int close, csp_chan **done);

/* A new channel holding VALS[0..N) (a buffer of min(N, 100), at least 1),
 * closed after the last. */
CSP_API int csp_to_chan(csp_chan **out, csp_rt *rt, void *const *vals,
                        size_t n);

/* Take every value of CH until it closes, then put PACK(UD, vals, n) on
 * *RESULT (nothing when CH gave no value) and close it. */
CSP_API int csp_into(csp_chan **result, csp_rt *rt, csp_chan *ch,
                     csp_pack_fn pack, void *ud);

/* F folds VAL into ACC and returns the new accumulator; setting *STOP
 * ends the reduction early (core.async's reduced). */
typedef void *(*csp_reduce_fn)(void *ud, void *acc, void *val, int *stop);

/* Fold CH's values into INIT with F until CH closes (or F stops), then put
 * the result (if not NULL) on *RESULT and close it. */
CSP_API int csp_reduce(csp_chan **result, csp_rt *rt, csp_chan *ch,
                       csp_reduce_fn f, void *init, void *ud);

/* csp_reduce over CH's values passed through XF (its completion runs when
 * CH closes). */
CSP_API int csp_transduce(csp_chan **result, csp_rt *rt, csp_chan *ch,
                          csp_xform *xf, csp_reduce_fn f, void *init,
                          void *ud);

/* A channel (BUF, CAP as csp_chan_new) receiving every value of CHANS[0..N)
 * as they come; it closes when all of them have. After it closes, merge
 * keeps draining the sources (values dropped). */
CSP_API int csp_merge(csp_chan **out, csp_rt *rt, csp_chan *const *chans,
                      size_t n, int buf, size_t cap);

/* Values of CH for which P is true go to *T, the others to *F (new
 * channels of kinds T_BUF/T_CAP and F_BUF/F_CAP); both close when CH
 * does. */
CSP_API int csp_split(csp_chan **t, csp_chan **f, csp_rt *rt, csp_chan *ch,
                      csp_pred_fn p, void *ud, int t_buf, size_t t_cap,
                      int f_buf, size_t f_cap);

/* Take one value from each of CHANS[0..N) and put F(UD, vals, N) (NULL:
 * nothing) on *OUT, until any source closes; then *OUT closes. F owns the
 * values. *OUT has kind BUF/CAP. */
typedef void *(*csp_combine_fn)(void *ud, void **vals, size_t n);
CSP_API int csp_map(csp_chan **out, csp_rt *rt, csp_combine_fn f, void *ud,
                    csp_chan *const *chans, size_t n, int buf, size_t cap);

/* A channel (BUF, CAP) with at most the first N values of CH; it closes
 * after them or when CH closes (core.async's take).
 * Since: 0.2 (before: csp_take, too close to csp_chan_take) */
CSP_API int csp_take_n(csp_chan **out, csp_rt *rt, uint64_t n, csp_chan *ch,
                       int buf, size_t cap);

/* The old name of csp_take_n; removed in 0.3. */
CSP_API CSP_DEPRECATED("use csp_take_n")
int csp_take(csp_chan **out, csp_rt *rt, uint64_t n, csp_chan *ch, int buf,
             size_t cap);

/* mult: every value of a source goes to every tap; the next value is taken
 * only when every tap accepted the last (core.async). With no tap, values
 * are taken and dropped. A tap that is closed is untapped. When the source
 * closes, taps added with CLOSE are closed (and untapped), and the mult's
 * process ends. */
typedef struct csp_mult csp_mult;
/* Start a mult over SRC; *OUT is its handle (release it with
 * csp_mult_release). */
CSP_API int csp_mult_new(csp_mult **out, csp_rt *rt, csp_chan *src);
/* Add CH as a tap (CLOSE: close it when the source closes); tapping a
 * channel again only updates CLOSE. Once the source has closed and the
 * mult's process has ended, a tap with CLOSE is closed by this call (and
 * is not a tap); core.async leaves it open for ever. A tap racing that
 * end is closed exactly once, by one or the other. */
CSP_API int csp_mult_tap(csp_mult *m, csp_chan *ch, int close);
/* Remove tap CH. Returns CSP_OK, or CSP_EAGAIN when CH was not a tap. */
CSP_API int csp_mult_untap(csp_mult *m, csp_chan *ch);
/* Remove every tap (none is closed). */
CSP_API int csp_mult_untap_all(csp_mult *m);
/* Release the handle; the mult runs on until its source closes. Accepts
 * NULL. */
CSP_API void csp_mult_release(csp_mult *m);

/* pub: values of a source are routed by TOPIC(UD, val) to the subscribers
 * of that topic. Each topic has its own channel (kind and size from BUF,
 * which may be NULL: unbuffered) fanned out to its subscribers as a mult:
 * a stuck subscriber stalls the pub unless its topic's buffer has room.
 * Values of a topic without subscribers are dropped. */
typedef uint64_t (*csp_topic_fn)(void *ud, void *val);
/* The buffer for TOPIC: set *KIND and *CAP as csp_chan_new's. */
typedef void (*csp_topic_buf_fn)(void *ud, uint64_t topic, int *kind,
                                 size_t *cap);
typedef struct csp_pub csp_pub;
/* Start a pub over SRC routing by TOPIC (BUF may be NULL); *OUT is its
 * handle (release it with csp_pub_release). */
CSP_API int csp_pub_new(csp_pub **out, csp_rt *rt, csp_chan *src,
                        csp_topic_fn topic, csp_topic_buf_fn buf, void *ud);
/* Subscribe CH to TOPIC (CLOSE: close CH when the source closes); the
 * topic's channel is made on its first subscriber. Once the source has
 * closed and the pub's process has ended, this subscribes nothing and,
 * with CLOSE, closes CH at once (core.async leaves it open for ever). */
CSP_API int csp_pub_sub(csp_pub *p, uint64_t topic, csp_chan *ch, int close);
/* Returns CSP_OK, or CSP_EAGAIN when CH was not subscribed to TOPIC. */
CSP_API int csp_pub_unsub(csp_pub *p, uint64_t topic, csp_chan *ch);
/* Every subscriber of TOPIC, or of every topic when ALL is nonzero. */
CSP_API int csp_pub_unsub_all(csp_pub *p, int all, uint64_t topic);
/* Release the handle; the pub runs on until its source closes. Accepts
 * NULL. */
CSP_API void csp_pub_release(csp_pub *p);

/* mix: values of the inputs go to OUT, which a mix never closes. Per
 * input, CSP_MIX_MUTE: read and dropped; CSP_MIX_PAUSE: not read;
 * CSP_MIX_SOLO: while any input is solo, only solo inputs are heard, the
 * others muted or paused by the solo mode (CSP_MIX_MUTE by default). An
 * input that closes leaves the mix. Once OUT is closed the mix is over:
 * admix and toggle return CSP_ECLOSED and change nothing (the input is
 * left open and unread), and any change ends the mix's process before it
 * reads again. */
#define CSP_MIX_MUTE 1
#define CSP_MIX_PAUSE 2
#define CSP_MIX_SOLO 4
typedef struct csp_mix csp_mix;
/* Start a mix into OUT_CH; *OUT is its handle (csp_mix_release stops it). */
CSP_API int csp_mix_new(csp_mix **out, csp_rt *rt, csp_chan *out_ch);
/* Add CH as an input with no flags (nothing changes if it is one).
 * Returns CSP_OK, CSP_EINVAL, CSP_ENOMEM, or CSP_ECLOSED when OUT is
 * closed (nothing added). */
CSP_API int csp_mix_admix(csp_mix *m, csp_chan *ch);
/* Remove input CH. Returns CSP_OK, or CSP_EAGAIN when CH was not an input. */
CSP_API int csp_mix_unmix(csp_mix *m, csp_chan *ch);
/* Remove every input (none is closed). */
CSP_API int csp_mix_unmix_all(csp_mix *m);
/* Set CH's flags (CSP_MIX_*; 0 clears them), adding CH if needed.
 * Returns as csp_mix_admix (CSP_ECLOSED: nothing changed). */
CSP_API int csp_mix_toggle(csp_mix *m, csp_chan *ch, unsigned flags);
/* CSP_MIX_MUTE or CSP_MIX_PAUSE: what solo does to the other inputs. */
CSP_API int csp_mix_solo_mode(csp_mix *m, unsigned mode);
/* Release the handle and stop the mix (inputs stay open). */
CSP_API void csp_mix_release(csp_mix *m);

/* pipeline: every value of FROM goes through a fresh instance of XF, N at
 * a time, and the results reach TO in input order; TO closes after FROM
 * does if CLOSE. EXH as csp_chan_new_xf's. After TO closes, the pipeline
 * keeps draining FROM (results dropped). _blocking runs XF on csp_thread
 * threads instead of go processes. */
CSP_API int csp_pipeline(csp_rt *rt, size_t n, csp_chan *to, csp_xform *xf,
                         csp_chan *from, int close, csp_exh_fn exh,
                         void *exh_ud);
CSP_API int csp_pipeline_blocking(csp_rt *rt, size_t n, csp_chan *to,
                                  csp_xform *xf, csp_chan *from, int close,
                                  csp_exh_fn exh, void *exh_ud);
/* AF(UD, val, res) starts work for VAL that puts its results on RES and
 * then closes RES (from any thread, at any time). */
typedef void (*csp_async_fn)(void *ud, void *val, csp_chan *res);
CSP_API int csp_pipeline_async(csp_rt *rt, size_t n, csp_chan *to,
                               csp_async_fn af, void *ud, csp_chan *from,
                               int close);

/* ------------------------------------------------------------------------
 * Portable values: what every binding reads when a channel is shared
 * between languages in one process (docs/embedding.md).
 *
 * A value is a word (void *, never NULL) whose two low bits say what it is:
 *
 *   ...01  an integer I in [CSP_VAL_INT_MIN, CSP_VAL_INT_MAX], stored in
 *          the word itself: (I << 2) | 1. No allocation, nothing to free.
 *   ...11  CSP_VAL_FALSE (3), CSP_VAL_TRUE (7), or a domain value: a word
 *          private to one language runtime (a Python object, a value of
 *          one Lua state), made with CSP_VAL_DOMAIN from a domain id
 *          (csp_value_domain_new) and a payload the domain chooses.
 *   ...10  a byte string: a csp_bytes pointer tagged with CSP_VAL_BYTES.
 *          It holds one reference, which the value carries.
 *   ...00  any other pointer: the C host's own values, which no binding
 *          reads (docs/embedding.md says what a binding does with one).
 *
 * Python reads integers as int, booleans as bool, byte strings as bytes;
 * Lua as integer, boolean and string. A domain value reaching another
 * language arrives as an opaque object that can only be passed back or
 * dropped; dropping it hands it to its domain's drop function.
 *
 * csp_value_drop is the drop hook for channels shared between languages:
 * it releases byte strings and hands domain values to their domain.
 */
#define CSP_VAL_INT_MAX (INTPTR_MAX / 4)
#define CSP_VAL_INT_MIN (-CSP_VAL_INT_MAX - 1)
#define CSP_VAL_TAG(v) ((uintptr_t)(v)&3u)
#define CSP_VAL_TAG_PTR 0u
#define CSP_VAL_TAG_INT 1u
#define CSP_VAL_TAG_BYTES 2u
#define CSP_VAL_TAG_IMM 3u
/* The word of integer I (I within CSP_VAL_INT_MIN..MAX, else undefined). */
#define CSP_VAL_INT(i) ((void *)(((uintptr_t)(intptr_t)(i) << 2) | 1u))
/* The integer of word V (V must have CSP_VAL_TAG_INT). Exact for every
 * sign: (V - 1) is a multiple of 4. */
#define CSP_VAL_TO_INT(v) (((intptr_t)(uintptr_t)(v) - 1) / 4)
#define CSP_VAL_FALSE ((void *)(uintptr_t)3)
#define CSP_VAL_TRUE ((void *)(uintptr_t)7)
/* The word of byte string B, and the byte string of word V. */
#define CSP_VAL_BYTES(b) ((void *)((uintptr_t)(b) | 2u))
#define CSP_VAL_TO_BYTES(v) ((csp_bytes *)((uintptr_t)(v) & ~(uintptr_t)3))

/* Domain values: (PAYLOAD << CSP_VAL_DOMAIN_SHIFT) | (DOMAIN << 2) | 3.
 * Domains 0 and 1 are false and true; ids from csp_value_domain_new start
 * at 2 and are never reused. Payloads below CSP_VAL_PAYLOAD_MAX. */
#define CSP_VAL_DOMAIN_SHIFT (UINTPTR_MAX > 0xffffffffu ? 24 : 12)
#define CSP_VAL_DOMAIN_MAX ((1 << (CSP_VAL_DOMAIN_SHIFT - 2)) - 1)
#define CSP_VAL_PAYLOAD_MAX (UINTPTR_MAX >> CSP_VAL_DOMAIN_SHIFT)
#define CSP_VAL_DOMAIN(d, payload)                                          \
    ((void *)(((uintptr_t)(payload) << CSP_VAL_DOMAIN_SHIFT) |               \
              ((uintptr_t)(d) << 2) | 3u))
/* The domain of a ...11 word (0: false, 1: true), and its payload. */
#define CSP_VAL_DOMAIN_OF(v)                                                 \
    ((int)(((uintptr_t)(v) >> 2) & (uintptr_t)CSP_VAL_DOMAIN_MAX))
#define CSP_VAL_PAYLOAD_OF(v) ((uintptr_t)(v) >> CSP_VAL_DOMAIN_SHIFT)

/* Kinds of value, from csp_value_kind. */
#define CSP_VAL_KIND_NONE 0    /* NULL: not a value */
#define CSP_VAL_KIND_INT 1     /* an immediate integer */
#define CSP_VAL_KIND_BOOL 2    /* CSP_VAL_FALSE or CSP_VAL_TRUE */
#define CSP_VAL_KIND_BYTES 3   /* a csp_bytes */
#define CSP_VAL_KIND_DOMAIN 4  /* a value private to a domain */
#define CSP_VAL_KIND_POINTER 5 /* any other pointer: the host's own */

/* What V is (CSP_VAL_KIND_*). A ...11 word naming domain 2 or more is
 * CSP_VAL_KIND_DOMAIN whether or not that domain is registered.
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API int csp_value_kind(const void *v);

/* A byte string: LEN bytes at DATA, followed by a 0 byte that is not
 * counted (DATA can be read as a C string when it holds no 0). Immutable
 * once made; shared by reference count. The struct is frozen; the count
 * lives in a hidden header before it. */
typedef struct csp_bytes {
    size_t len;
    unsigned char data[];
} csp_bytes;

/* Make a byte string of LEN bytes copied from DATA (may be NULL when LEN
 * is 0), allocated through RT's allocator; it must be released before
 * csp_rt_free(RT). On CSP_OK *OUT holds one reference; put it on a
 * channel as CSP_VAL_BYTES(*OUT), which hands that reference over.
 * Returns CSP_OK, CSP_EINVAL (NULL OUT or RT, NULL DATA with LEN > 0),
 * CSP_ENOMEM (also: LEN too large).
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API int csp_bytes_new(csp_bytes **out, csp_rt *rt, const void *data,
                          size_t len);

/* Add a reference to B and return B (NULL for NULL).
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API csp_bytes *csp_bytes_retain(csp_bytes *b);

/* Drop a reference to B; the last one frees it. Accepts NULL.
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API void csp_bytes_release(csp_bytes *b);

/* Register a domain of private values: DROP(UD, v) will get each of its
 * values that a shared channel discards (through csp_value_drop), on any
 * thread, possibly under a channel lock: it must not block or call csp.
 * *OUT gets the id (2..CSP_VAL_DOMAIN_MAX) for CSP_VAL_DOMAIN. Ids are
 * never reused in a process. Returns CSP_OK, CSP_EINVAL (NULL OUT or
 * DROP), CSP_ENOMEM (every id handed out).
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API int csp_value_domain_new(int *out, csp_drop_fn drop, void *ud);

/* Unregister DOMAIN: when this returns, its drop function is not running
 * and will not be called again (values of DOMAIN dropped later are
 * ignored). Returns CSP_OK or CSP_EINVAL (not a registered domain).
 * Waits: for a drop of DOMAIN running on another thread.  Threads: any.
 * Since: 0.2 */
CSP_API int csp_value_domain_free(int domain);

/* The drop hook for shared channels (UD is ignored): releases a byte
 * string, hands a domain value to its domain's drop function (nothing if
 * the domain is not registered), does nothing for integers, booleans and
 * other pointers (a host that puts its own pointers on a shared channel
 * gives it a hook of its own that calls this one for the rest).
 * Waits: never.  Threads: any.
 * Since: 0.2 */
CSP_API void csp_value_drop(void *ud, void *val);

#ifdef CSP_EXPERIMENTAL
/* Nothing yet. */
#endif

#ifdef __cplusplus
}
#endif

#endif /* CSP_H */
