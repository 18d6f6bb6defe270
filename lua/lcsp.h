/* lcsp.h - private declarations shared by the files of the csp.core Lua
 * module (the C files of lua/). Written only against csp.h and the Lua C API;
 * builds against Lua 5.1, LuaJIT 2.1 and Lua 5.4 headers.
 *
 * Threading: a Lua state is single-threaded. Everything here runs on the
 * thread that runs the state (the "Lua thread"), except the three entry
 * points a csp thread may call: the executor's submit (lexec_submit), the
 * channel drop hook (lcsp_drop_hook) and a transform's ud_free. Those touch
 * only the fields marked "any thread" below, never the Lua state.
 */
#ifndef LCSP_H
#define LCSP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lauxlib.h"
#include "lua.h"

#include "csp.h"

/* ------------------------------------------------------------------------
 * Lua 5.1 / LuaJIT compatibility: the few 5.2+ calls we use. */
#if LUA_VERSION_NUM < 502
#define lua_rawlen lua_objlen
#define LCSP_LUA51 1
void lcsp_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
#else
#define lcsp_setfuncs luaL_setfuncs
#endif
#ifndef LUA_OK
#define LUA_OK 0
#endif

#if defined(__GNUC__)
#define LCSP_EXPORT __attribute__((visibility("default")))
#else
#define LCSP_EXPORT
#endif

/* The metatable name of channel userdata and of the state. */
#define LCSP_CHAN_MT "csp.chan"
#define LCSP_STATE_KEY "csp.core.state"

/* Upvalues of every csp.core function: the state and the channel
 * metatable. */
#define LCSP_UV_STATE lua_upvalueindex(1)
#define LCSP_UV_CHANMT lua_upvalueindex(2)

/* ------------------------------------------------------------------------
 * Values (value.c).
 *
 * A Lua value crosses into C as one of csp.h's portable values, a void *
 * that is never NULL (docs/embedding.md):
 *   ...01  an integer stored in the pointer itself (no pin);
 *   ...11  false (3), true (7), or a pin: CSP_VAL_DOMAIN(st->domain, id),
 *          id >= 1 indexes the pin table, which holds the value until it
 *          is released (tables, floats, functions, ...);
 *   ...10  a string, copied into a csp_bytes (Python reads it as bytes).
 * Releasing an immediate value does nothing, so most integer traffic never
 * touches the pin table. A word of another domain (a Python object) or a
 * C host's pointer arrives as a csp.foreign userdata (value.c).
 */
#define LCSP_TAG(v) ((uintptr_t)(v)&3u)
/* In an alts record's vals: op i is a take from a promise channel, whose
 * value stays the channel's (takers borrow it). Tag 00 and below any
 * pointer: never a Lua value. */
#define LCSP_BORROW ((void *)(uintptr_t)4)

/* ------------------------------------------------------------------------
 * Pending operations (ops.c): one record per put, take or alts issued
 * through a _cb call, from issue to delivery. */
enum { LCSP_OP_TAKE = 0, LCSP_OP_PUT = 1, LCSP_OP_ALTS = 2 };

struct lcsp_state;

struct lcsp_op {
    struct lcsp_state *st;
    csp_pending *pending;        /* our handle, released at delivery */
    struct lcsp_op *prev, *next; /* st->pending list; next: free list */
    struct lcsp_op *dnext;       /* st->done list */
    int id;         /* stable for the record; names the op in Lua */
    uint8_t kind;   /* LCSP_OP_* */
    uint8_t timer;  /* waits on a timeout channel */
    uint8_t listed; /* on st->pending */
    uint8_t borrow; /* a take from a promise channel: the
                       value stays the channel's */
    int rc;         /* completion: csp result code */
    size_t idx;     /* completion: alts index */
    void *val;      /* completion: value (take) or handed back */
    size_t nvals;   /* alts: number of ops */
    void **vals;    /* alts: put values per op (NULL: take) */
    void *inl[4];   /* vals storage for small alts */
};

/* ------------------------------------------------------------------------
 * The per-Lua-state record: a full userdata in the registry and the first
 * upvalue of every csp.core function. */
struct lcsp_state {
    csp_exec exec;  /* first: the executor every _cb call gets */
    csp_rt *rt;     /* the default runtime, or the host's (registry
                       "csp.rt", docs/embedding.md) */
    int domain;     /* csp value domain of this state's pins */
    csp_loop *loop; /* completions from other threads */
    csp_exec *loop_exec;
    lua_State *L; /* the coroutine inside the current csp.core call,
                     or NULL outside one (ENTER/LEAVE) */

    /* Pins: values held for C. pins_ref is a registry ref to the table;
     * ids are reused through free_ids, which always has room for every id
     * handed out, so releasing never allocates. */
    int pins_ref;
    int *free_ids;
    size_t nfree, free_cap;
    int top; /* highest id handed out */
    long live_pins;

    /* Drops: ids of pinned values that a channel discarded, on any thread.
     * Released on the Lua thread by lcsp_drain (any thread: sink_lock). */
    pthread_mutex_t sink_lock;
    int *sink, *sink_spare;
    size_t nsink, sink_cap, spare_cap;
    atomic_int has_drops; /* any thread; a hint that sink is not empty */

    /* Ops. All Lua thread only. */
    struct lcsp_op *pending;               /* outstanding ops, doubly linked */
    struct lcsp_op *done_head, *done_tail; /* completed, not delivered */
    struct lcsp_op *free_ops;
    struct lcsp_op **byid; /* id -> record, for core.cancel */
    size_t byid_cap;
    int next_op_id;
    long nops;      /* outstanding ops */
    long timer_ops; /* of those, waiting on a timeout channel */

    /* Tasks submitted on the Lua thread during a csp.core call: run at the
     * next poll without a syscall. Lua thread only. */
    csp_task *local_head, *local_tail;
    /* Any thread: set after a task was forwarded to the loop; inflight
     * counts submitters between entering and leaving lexec_submit. */
    atomic_int foreign;
    atomic_int inflight;
    csp_task kick_task; /* signals the loop fd when Lua-side work waits */
    int kicked;
    int in_sched;      /* the Lua scheduler runs: no kick needed */
    int in_step;       /* a Lua transform step runs: refuse csp calls */
    csp_emit *cur_out; /* the sink of the running step */
    int reduced_ref;   /* registry: the metatable of csp.reduced */
    int errq_ref;      /* registry: table of transform errors to report */
    int xfcall_ref;    /* registry: the protected step caller */
    int flags_ref;     /* registry: csp/sched.lua's ST (or LUA_NOREF) */
    int lazymt_ref;    /* registry: the metatable of lazy channels (no __gc) */
    int closed;        /* the state's __gc ran */
    int shared;        /* a channel crossed to or from C (wrap, handle):
                          no deadlock is reported, another thread may
                          complete any op */
};

/* The state of the current call; set by ENTER, cleared by LEAVE. A task
 * submitted on this thread while it is our state stays on the local
 * queue. */
extern _Thread_local struct lcsp_state *lcsp_active;

void lcsp_enter(struct lcsp_state *st, lua_State *L);
void lcsp_leave(struct lcsp_state *st);

/* Raise a Lua error if a transform step is running (csp calls are refused
 * inside steps: they run under a channel lock). */
void lcsp_check_step(lua_State *L, struct lcsp_state *st);

static inline struct lcsp_state *lcsp_state(lua_State *L)
{
    return (struct lcsp_state *)lua_touserdata(L, LCSP_UV_STATE);
}

/* value.c */
void *lcsp_encode(lua_State *L, struct lcsp_state *st, int idx);
void lcsp_reserve(lua_State *L, struct lcsp_state *st, int n);
void lcsp_push(lua_State *L, struct lcsp_state *st, void *v);
/* Push V for a taker: BORROW (a promise's value) leaves V the channel's;
 * else V is the taker's: pushed, then released (a foreign value's
 * userdata owns it). */
void lcsp_push_taken(lua_State *L, struct lcsp_state *st, void *v,
                     int borrow);
void lcsp_open_values(lua_State *L);
void lcsp_release(lua_State *L, struct lcsp_state *st, void *v);
void lcsp_drop_hook(void *ud, void *v);
void lcsp_drain(lua_State *L, struct lcsp_state *st);
int lcsp_state_init_values(lua_State *L, struct lcsp_state *st);
void lcsp_state_fini_values(struct lcsp_state *st);

/* Return a failure as nil, message, name. */
int lcsp_fail(lua_State *L, int rc);

/* chan.c */
struct lcsp_chan {
    csp_chan *ch; /* one reference, NULL after __gc (or while lazy) */
    int timeout;  /* a timeout channel */
    int promise;  /* a promise channel: takes borrow the value */
    int lazy;     /* core.chan_lazy: ch is made on first use from C */
    int kind;     /* while lazy: csp_chan_new's buffer kind and size */
    size_t cap;
};
struct lcsp_chan *lcsp_checkchan(lua_State *L, int idx);
struct lcsp_chan *lcsp_tochan(lua_State *L, int idx);
struct lcsp_chan *lcsp_tochan_raw(lua_State *L, int idx);
void lcsp_pushchan(lua_State *L, csp_chan *ch, int timeout, int promise);
void lcsp_open_chan(lua_State *L);

/* ops.c */
struct lcsp_op *lcsp_op_new(lua_State *L, struct lcsp_state *st, int kind);
void lcsp_op_free(struct lcsp_state *st, struct lcsp_op *op);
void lcsp_op_pending(struct lcsp_state *st, struct lcsp_op *op);
void lcsp_done_cb(void *ud, int rc, void *val);
void lcsp_alts_done_cb(void *ud, int rc, size_t idx, void *val);
int lcsp_push_alts_result(lua_State *L, struct lcsp_state *st,
                          struct lcsp_op *op, int rc, size_t idx, void *val);
void lcsp_exec_init(struct lcsp_state *st);
void lcsp_run_local(struct lcsp_state *st);
int lcsp_push_local_done(lua_State *L, struct lcsp_state *st);
void lcsp_open_ops(lua_State *L);
void lcsp_ops_shutdown(lua_State *L, struct lcsp_state *st);

/* alts.c */
void lcsp_open_alts(lua_State *L);

/* xform.c */
void lcsp_open_xform(lua_State *L);

#endif /* LCSP_H */
