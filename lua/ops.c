/* ops.c - pending ops, the state's executor, and delivery of completions
 * to the Lua layer (core.poll).
 *
 * Every put, take or alts is issued with a _cb call on st->exec. Its
 * completion task is submitted to st->exec by whichever thread completes
 * the op:
 *   - on the Lua thread inside a csp.core call (lcsp_active == st), the
 *     task goes on st->local_*, a plain list, and runs at the next poll:
 *     no lock, no syscall (the common case: a Lua put completes a Lua
 *     take);
 *   - on any other thread (the timer thread closing a timeout channel,
 *     a C go process), it is forwarded to the csp_loop, whose descriptor
 *     wakes the Lua thread; st->foreign tells poll to run the loop.
 * Either way the task runs on the Lua thread, inside core.poll, and its
 * callback only records the result on st->done; core.poll then turns
 * each done op into (id, a, b) for the Lua scheduler. No pool thread ever
 * touches the Lua state.
 *
 * Op records live from issue to delivery (or cancellation at state close)
 * and are recycled with their ids, so the Lua layer's table of waiters
 * stays small and dense.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "lcsp.h"

_Thread_local struct lcsp_state *lcsp_active;

/* ------------------------------------------------------------------------
 * Calls into csp: the active state and the local queue. */

static void kick(struct lcsp_state *st)
{
    if (st->kicked || !st->loop_exec)
        return;
    st->kicked = 1;
    st->loop_exec->submit(st->loop_exec, &st->kick_task);
    atomic_store(&st->foreign, 1);
}

static void kick_run(csp_task *t)
{
    struct lcsp_state *st =
        (struct lcsp_state *)((char *)t -
                              offsetof(struct lcsp_state, kick_task));
    st->kicked = 0;
}

void lcsp_enter(struct lcsp_state *st, lua_State *L)
{
    lcsp_active = st;
    st->L = L;
}

/* After a call: if it left completions on the local queue and no
 * scheduler is running to pick them up, signal the loop descriptor so a
 * host loop polling it calls csp.step. */
void lcsp_leave(struct lcsp_state *st)
{
    lcsp_active = NULL;
    st->L = NULL;
    if (st->local_head && !st->in_sched)
        kick(st);
}

void lcsp_check_step(lua_State *L, struct lcsp_state *st)
{
    if (st->in_step)
        luaL_error(L, "csp: channel operations are not allowed inside a "
                      "transform step");
    if (st->closed)
        luaL_error(L, "csp: the state is closing");
}

/* Any thread. Never runs the task. */
static void lexec_submit(csp_exec *self, csp_task *t)
{
    struct lcsp_state *st = (struct lcsp_state *)self;

    if (lcsp_active == st) {
        t->next = NULL;
        if (st->local_tail)
            st->local_tail->next = t;
        else
            st->local_head = t;
        st->local_tail = t;
        return;
    }
    /* inflight lets the state's close wait until no submitter can still
     * touch st after its task ran. seq_cst: pairs with the load there. */
    atomic_fetch_add(&st->inflight, 1);
    st->loop_exec->submit(st->loop_exec, t);
    atomic_store(&st->foreign, 1);
    atomic_fetch_sub(&st->inflight, 1);
}

void lcsp_exec_init(struct lcsp_state *st)
{
    st->exec.submit = lexec_submit;
    st->kick_task.next = NULL;
    st->kick_task.run = kick_run;
    st->kicked = 0;
    st->local_head = st->local_tail = NULL;
    atomic_init(&st->foreign, 0);
    atomic_init(&st->inflight, 0);
}

/* ------------------------------------------------------------------------
 * Op records. */

struct lcsp_op *lcsp_op_new(lua_State *L, struct lcsp_state *st, int kind)
{
    struct lcsp_op *op = st->free_ops;

    if (op) {
        st->free_ops = op->next;
    } else {
        if ((size_t)st->next_op_id + 1 >= st->byid_cap) {
            size_t cap = st->byid_cap ? st->byid_cap * 2 : 64;
            struct lcsp_op **p = realloc(st->byid, cap * sizeof *p);
            if (!p)
                luaL_error(L, "csp: out of memory");
            st->byid = p;
            st->byid_cap = cap;
        }
        op = malloc(sizeof *op);
        if (!op)
            luaL_error(L, "csp: out of memory");
        op->id = ++st->next_op_id;
        st->byid[op->id] = op;
    }
    op->st = st;
    op->pending = NULL;
    op->prev = op->next = op->dnext = NULL;
    op->kind = (uint8_t)kind;
    op->timer = 0;
    op->listed = 0;
    op->borrow = 0;
    op->rc = 0;
    op->idx = 0;
    op->val = NULL;
    op->nvals = 0;
    op->vals = NULL;
    return op;
}

void lcsp_op_free(struct lcsp_state *st, struct lcsp_op *op)
{
    if (op->vals && op->vals != op->inl)
        free(op->vals);
    op->vals = NULL;
    if (op->pending) {
        csp_pending_release(op->pending);
        op->pending = NULL;
    }
    op->next = st->free_ops;
    st->free_ops = op;
}

/* The op was queued (CSP_PENDING): list it until its callback runs. */
void lcsp_op_pending(struct lcsp_state *st, struct lcsp_op *op)
{
    op->prev = NULL;
    op->next = st->pending;
    if (st->pending)
        st->pending->prev = op;
    st->pending = op;
    op->listed = 1;
    st->nops++;
    if (op->timer)
        st->timer_ops++;
}

static void unlist(struct lcsp_state *st, struct lcsp_op *op)
{
    if (!op->listed)
        return;
    if (op->prev)
        op->prev->next = op->next;
    else
        st->pending = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    op->listed = 0;
    st->nops--;
    if (op->timer)
        st->timer_ops--;
}

static void mark_done(struct lcsp_state *st, struct lcsp_op *op)
{
    unlist(st, op);
    op->dnext = NULL;
    if (st->done_tail)
        st->done_tail->dnext = op;
    else
        st->done_head = op;
    st->done_tail = op;
}

/* Completion callbacks: run on the Lua thread (inside poll, or inside the
 * state's close), never touch the Lua state. */
void lcsp_done_cb(void *ud, int rc, void *val)
{
    struct lcsp_op *op = ud;

    op->rc = rc;
    op->val = val;
    mark_done(op->st, op);
}

void lcsp_alts_done_cb(void *ud, int rc, size_t idx, void *val)
{
    struct lcsp_op *op = ud;

    op->rc = rc;
    op->idx = idx;
    op->val = val;
    mark_done(op->st, op);
}

/* Push the Lua result of an alts that committed op IDX with RC and VAL:
 * a take's value (nil when closed), or for a put true (done) or false
 * (closed). Releases every put value that stays ours. Pushes 1 value. */
int lcsp_push_alts_result(lua_State *L, struct lcsp_state *st,
                          struct lcsp_op *op, int rc, size_t idx, void *val)
{
    int taken_put = 0;

    if (rc == CSP_OK || rc == CSP_ECLOSED) {
        if (op->vals[idx] && op->vals[idx] != LCSP_BORROW) {
            taken_put = rc == CSP_OK;
            lua_pushboolean(L, rc == CSP_OK);
        } else if (rc == CSP_OK) {
            lcsp_push_taken(L, st, val, op->vals[idx] != NULL);
        } else {
            lua_pushnil(L);
        }
    } else {
        lua_pushnil(L);
    }
    for (size_t i = 0; i < op->nvals; i++)
        if (op->vals[i] && !(taken_put && i == idx))
            lcsp_release(L, st, op->vals[i]);
    return 1;
}

/* Push (a, b) for a done op and free it. */
static void deliver(lua_State *L, struct lcsp_state *st, struct lcsp_op *op,
                    int out, int *n)
{
    lua_pushinteger(L, op->id);
    lua_rawseti(L, out, ++*n);
    switch (op->kind) {
    case LCSP_OP_TAKE:
        if (op->rc == CSP_OK) {
            lcsp_push_taken(L, st, op->val, op->borrow);
        } else {
            lua_pushnil(L);
        }
        lua_rawseti(L, out, ++*n);
        lua_pushnil(L);
        break;
    case LCSP_OP_PUT:
        if (op->rc == CSP_OK) {
            lua_pushboolean(L, 1);
            lua_rawseti(L, out, ++*n);
            lua_pushnil(L);
        } else {
            /* Cancelled (or closed): the value came back. */
            lcsp_release(L, st, op->val);
            lua_pushnil(L);
            lua_rawseti(L, out, ++*n);
            lua_pushinteger(L, op->rc);
        }
        break;
    default:
        lcsp_push_alts_result(L, st, op, op->rc, op->idx, op->val);
        lua_rawseti(L, out, ++*n);
        if (op->rc == CSP_OK || op->rc == CSP_ECLOSED)
            lua_pushinteger(L, (lua_Integer)op->idx + 1);
        else
            lua_pushinteger(L, 0);
        break;
    }
    lua_rawseti(L, out, ++*n);
    lcsp_op_free(st, op);
}

/* Run the local queue and, when FORCE or a foreign task was signalled,
 * the loop. Lua thread, with st active. */
static void run_tasks(struct lcsp_state *st, int force)
{
    for (;;) {
        csp_task *t = st->local_head;
        if (t) {
            st->local_head = t->next;
            if (!st->local_head)
                st->local_tail = NULL;
            t->run(t);
            continue;
        }
        if (atomic_exchange(&st->foreign, 0) || force) {
            force = 0;
            csp_loop_run(st->loop, -1);
            continue;
        }
        break;
    }
}

/* The fast path of a put or take that completed at once on the Lua
 * thread: the ops it completed (a parked Lua take or put, the common case)
 * left their tasks on the local queue. lcsp_run_local runs them there and
 * then, still inside the same csp.core call (st active); then
 * lcsp_push_local_done hands the first completed put or take to Lua as
 * (id, a, b), as core.poll would, so the scheduler resumes its process
 * without a core.poll round trip. Nothing is allocated: op records are
 * recycled. Anything else completed stays on st->done for core.poll (and
 * the loop descriptor is kicked for a host loop when no scheduler runs). */
void lcsp_run_local(struct lcsp_state *st)
{
    while (st->local_head) {
        csp_task *t = st->local_head;
        st->local_head = t->next;
        if (!st->local_head)
            st->local_tail = NULL;
        t->run(t);
    }
}

int lcsp_push_local_done(lua_State *L, struct lcsp_state *st)
{
    struct lcsp_op *op = st->done_head;

    if (!op || op->kind == LCSP_OP_ALTS) {
        if (op && !st->in_sched)
            kick(st);
        return 0;
    }
    st->done_head = op->dnext;
    if (!st->done_head)
        st->done_tail = NULL;
    lua_pushinteger(L, op->id);
    if (op->kind == LCSP_OP_TAKE) {
        if (op->rc == CSP_OK) {
            lcsp_push(L, st, op->val);
            if (!op->borrow)
                lcsp_release(L, st, op->val);
        } else {
            lua_pushnil(L);
        }
        lua_pushnil(L);
    } else if (op->rc == CSP_OK) {
        lua_pushboolean(L, 1);
        lua_pushnil(L);
    } else {
        lcsp_release(L, st, op->val);
        lua_pushnil(L);
        lua_pushinteger(L, op->rc);
    }
    lcsp_op_free(st, op);
    if (st->done_head && !st->in_sched)
        kick(st);
    return 3;
}

enum { LCSP_POLL_PLAIN = 0, LCSP_POLL_BLOCK = 1, LCSP_POLL_HOST = 2 };

/* core.poll(out, timeout_ms, mode) -> n | -1
 * Release queued drops, run completed tasks, and write each completion
 * into OUT as triples (op id, a, b) from index 1; returns the number of
 * slots written. If none completed and TIMEOUT_MS is not 0, waits on the
 * loop descriptor for up to TIMEOUT_MS (< 0: no limit). MODE 1 ("block":
 * the scheduler waits for a blocked op or csp.run) returns -1 instead of
 * waiting when nothing can ever complete: no task queued and no op waits
 * on a timeout channel. MODE 2 ("host") always runs the loop once (a host
 * loop saw the descriptor readable). */
static int l_poll(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    lua_Number tmo;
    lua_Integer mode;
    int n = 0, block, host;

    luaL_checktype(L, 1, LUA_TTABLE);
    tmo = luaL_optnumber(L, 2, 0);
    mode = luaL_optinteger(L, 3, 0);
    block = mode == LCSP_POLL_BLOCK;
    host = mode == LCSP_POLL_HOST;
    lcsp_check_step(L, st);
    luaL_checkstack(L, 8, "csp");
    lcsp_drain(L, st);
    lcsp_enter(st, L);
    run_tasks(st, host);
    if (!st->done_head && tmo != 0) {
        if (block && st->timer_ops == 0 && !st->shared &&
            !atomic_load(&st->foreign)) {
            /* Nothing queued and nothing that a timer could complete. A
             * task from another thread could still be on its way only if
             * an op waits on something a thread other than the timer
             * serves, which Lua alone cannot create: unless a channel
             * crossed to or from C (st->shared), where C, Python or
             * another state may complete it. */
            if (csp_loop_wait(st->loop, 0) != 1) {
                lcsp_leave(st);
                lua_pushinteger(L, -1);
                return 1;
            }
        }
        if (csp_loop_wait(st->loop, tmo < 0 ? -1 : (int)tmo) == 1)
            run_tasks(st, 1);
    }
    lcsp_leave(st);
    while (st->done_head) {
        struct lcsp_op *op = st->done_head;
        st->done_head = op->dnext;
        if (!st->done_head)
            st->done_tail = NULL;
        deliver(L, st, op, 1, &n);
    }
    lcsp_drain(L, st);
    lua_pushinteger(L, n);
    return 1;
}

/* core.sched(on): the Lua scheduler starts (true) or stops running. While
 * it runs, completions need no kick. Leaving with work queued kicks. */
static int l_sched(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);

    st->in_sched = lua_toboolean(L, 1);
    if (!st->in_sched && (st->local_head || lua_toboolean(L, 2)))
        kick(st);
    return 0;
}

/* core.kick(): make the loop descriptor readable (work is pending). */
static int l_kick(lua_State *L)
{
    kick(lcsp_state(L));
    return 0;
}

static int l_pollfd(lua_State *L)
{
    lua_pushinteger(L, csp_loop_fd(lcsp_state(L)->loop));
    return 1;
}

/* core.stats() -> table of counters (for tests and debugging). */
static int l_stats(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    int64_t v;

    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)st->live_pins);
    lua_setfield(L, -2, "pins");
    lua_pushinteger(L, (lua_Integer)st->nops);
    lua_setfield(L, -2, "ops");
    lua_pushinteger(L, (lua_Integer)st->timer_ops);
    lua_setfield(L, -2, "timer_ops");
    pthread_mutex_lock(&st->sink_lock);
    lua_pushinteger(L, (lua_Integer)st->nsink);
    pthread_mutex_unlock(&st->sink_lock);
    lua_setfield(L, -2, "drops_queued");
    if (csp_rt_stat(st->rt, CSP_STAT_CHANS_LIVE, &v) == CSP_OK) {
        lua_pushnumber(L, (lua_Number)v);
        lua_setfield(L, -2, "chans");
    }
    if (csp_rt_stat(st->rt, CSP_STAT_WORKERS, &v) == CSP_OK) {
        lua_pushinteger(L, (lua_Integer)v);
        lua_setfield(L, -2, "workers"); /* the runtime's: every language's */
    }
    if (csp_rt_stat(st->rt, CSP_STAT_OPS_PENDING, &v) == CSP_OK) {
        lua_pushnumber(L, (lua_Number)v);
        lua_setfield(L, -2, "csp_ops");
    }
    if (csp_rt_stat(st->rt, CSP_STAT_TIMERS_PENDING, &v) == CSP_OK) {
        lua_pushnumber(L, (lua_Number)v);
        lua_setfield(L, -2, "timers");
    }
    return 1;
}

/* Withdraw OP if it is still pending; releases what it held. Returns 1
 * if withdrawn, 0 if it already completed (its delivery is on its way). */
static int cancel_op(lua_State *L, struct lcsp_state *st, struct lcsp_op *op)
{
    void *v = NULL;

    if (!op->listed || csp_pending_cancel(op->pending, &v) != CSP_OK)
        return 0;
    unlist(st, op);
    if (op->kind == LCSP_OP_PUT)
        lcsp_release(L, st, v);
    for (size_t i = 0; i < op->nvals; i++)
        if (op->vals[i])
            lcsp_release(L, st, op->vals[i]);
    lcsp_op_free(st, op);
    return 1;
}

/* core.cancel(id) -> true (withdrawn) | false (already completed). */
static int l_cancel(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    lua_Integer id = luaL_checkinteger(L, 1);
    int r = 0;

    lcsp_check_step(L, st);
    if (id >= 1 && id <= st->next_op_id) {
        lcsp_enter(st, L);
        r = cancel_op(L, st, st->byid[id]);
        lcsp_leave(st);
    }
    lua_pushboolean(L, r);
    return 1;
}

/* core.now() -> milliseconds on csp's monotonic clock (a float). */
static int l_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)csp_now_ns() / 1e6);
    return 1;
}

/* core.strerror(rc) -> message, name */
static int l_strerror(lua_State *L)
{
    int rc = (int)luaL_checkinteger(L, 1);
    lua_pushstring(L, csp_strerror(rc));
    lua_pushstring(L, csp_errname(rc));
    return 2;
}

/* The state's close: withdraw every pending op, run what already
 * completed, release every value, and wait until no other thread is
 * still inside lexec_submit. Afterwards nothing can reach st. */
void lcsp_ops_shutdown(lua_State *L, struct lcsp_state *st)
{
    struct lcsp_op *op, *next;

    lcsp_enter(st, L);
    for (op = st->pending; op; op = next) {
        next = op->next;
        cancel_op(L, st, op);
    }
    /* The rest completed and their tasks are queued or on their way. */
    for (;;) {
        run_tasks(st, 1);
        if (!st->pending)
            break;
        csp_loop_wait(st->loop, 10);
    }
    lcsp_leave(st);
    st->in_sched = 1; /* no kick from here on */
    while (st->done_head) {
        int n = 0;
        op = st->done_head;
        st->done_head = op->dnext;
        if (!st->done_head)
            st->done_tail = NULL;
        lua_newtable(L);
        deliver(L, st, op, lua_gettop(L), &n);
        lua_pop(L, 1);
    }
    while (atomic_load(&st->inflight) != 0)
        sched_yield();
    while ((op = st->free_ops) != NULL) {
        st->free_ops = op->next;
        free(op);
    }
    free(st->byid);
    st->byid = NULL;
}

static const luaL_Reg funcs[] = {
    {"poll", l_poll},     {"sched", l_sched}, {"kick", l_kick},
    {"pollfd", l_pollfd}, {"stats", l_stats}, {"strerror", l_strerror},
    {"cancel", l_cancel}, {"now", l_now},     {NULL, NULL}};

void lcsp_open_ops(lua_State *L)
{
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -3);
    lcsp_setfuncs(L, funcs, 2);
}
