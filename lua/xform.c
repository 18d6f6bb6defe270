/* xform.c - channels whose transform is a Lua reducing function.
 *
 * The Lua layer instantiates the transducer (fresh per channel, as
 * core.async) and gives us the resulting step and complete functions; we
 * wrap them in a one-stage csp_xform whose ud (struct lxrec) holds them
 * pinned, together with the exception handler.
 *
 * csp runs a step under the channel's lock on the thread that adds the
 * value. Lua code may run only on the Lua thread, and only inside a
 * csp.core call (lcsp_active == st and st->L set): every put, take, alts
 * and close on a Lua channel is such a call. A step reached any other way
 * (a C thread putting on a Lua channel) drops the value and fails with
 * CSP_EPERM instead of touching Lua.
 *
 * A Lua error must never unwind through csp's frames (the channel lock is
 * held): every Lua call here goes through lua_pcall of xf_call, a C
 * function that does all the work that may raise (pushing, calling,
 * pinning). The error object is parked in a preallocated slot, so storing
 * it cannot fail either; the step returns CSP_EINVAL and csp calls the
 * exception handler (lx_exh), which runs the Lua handler (its non-nil
 * result is added to the channel) or, with no handler, queues the error
 * for csp.on_error and adds nothing. While a step runs, st->in_step makes
 * every other csp.core call raise, since it could deadlock on the lock.
 */
#include <stdlib.h>

#include "lcsp.h"

struct lxrec {
    struct lcsp_state *st;
    void *step; /* pinned Lua functions (complete may be NULL) */
    void *complete;
    void *exh; /* NULL: report the error, add nothing */
};

enum { JOB_STEP, JOB_COMPLETE, JOB_EXH, JOB_REPORT };

struct xjob {
    struct lxrec *rec;
    int what;
    void *val;    /* JOB_STEP: the value, consumed */
    int reduced;  /* out: the step returned csp.reduced(...) */
    void *result; /* out (JOB_EXH): the value to add, or NULL */
};

static int is_reduced(lua_State *L, struct lcsp_state *st, int idx)
{
    int r = 0;

    if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->reduced_ref);
        r = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    return r;
}

/* Runs under lua_pcall: everything that may raise. */
static int xf_call(lua_State *L)
{
    struct xjob *job = lua_touserdata(L, 1);
    struct lxrec *r = job->rec;
    struct lcsp_state *st = r->st;

    switch (job->what) {
    case JOB_STEP:
        lcsp_push(L, st, r->step);
        lua_pushnil(L);
        lcsp_push_taken(L, st, job->val, 0);
        job->val = NULL;
        lua_call(L, 2, 1);
        job->reduced = is_reduced(L, st, -1);
        break;
    case JOB_COMPLETE:
        lcsp_push(L, st, r->complete);
        lua_pushnil(L);
        lua_call(L, 1, 0);
        break;
    case JOB_EXH:
        lcsp_push(L, st, r->exh);
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->errq_ref);
        lua_rawgeti(L, -1, 0); /* the parked error */
        lua_remove(L, -2);
        lua_call(L, 1, 1);
        if (!lua_isnil(L, -1))
            job->result = lcsp_encode(L, st, -1);
        break;
    case JOB_REPORT:
        /* errq[#errq + 1] = errq[0] */
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->errq_ref);
        lua_rawgeti(L, -1, 0);
        lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
        break;
    }
    return 0;
}

/* Call JOB protected. On a Lua error, park the error object in errq[0]
 * (a slot that always exists, so the store cannot allocate) and return
 * its code. */
static int run_job(struct lcsp_state *st, lua_State *L, struct xjob *job,
                   csp_emit *out)
{
    csp_emit *prev = st->cur_out;
    int rc;

    int busy = 0, outer = st->in_step == 0 && st->flags_ref != LUA_NOREF;

    if (outer) {
        /* The Lua fast path (csp/init.lua) sees the step through the
         * flags table: step = true, and busy = false so that put and take
         * leave their hot path and check. */
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->flags_ref);
        lua_getfield(L, -1, "busy");
        busy = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "busy");
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "step");
        lua_pop(L, 1);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->xfcall_ref);
    lua_pushlightuserdata(L, job);
    st->cur_out = out;
    st->in_step++;
    rc = lua_pcall(L, 1, 0, 0);
    st->in_step--;
    st->cur_out = prev;
    if (outer) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->flags_ref);
        lua_pushboolean(L, busy);
        lua_setfield(L, -2, "busy");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "step");
        lua_pop(L, 1);
    }
    if (rc != LUA_OK) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->errq_ref);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 0);
        lua_pop(L, 1);
    }
    return rc;
}

static int on_lua_thread(struct lcsp_state *st)
{
    return lcsp_active == st && st->L != NULL && !st->closed;
}

static int lx_init(void *ud, void **state)
{
    *state = ud;
    return CSP_OK;
}

static int lx_step(void *state, void *val, csp_emit *out)
{
    struct lxrec *r = state;
    struct lcsp_state *st = r->st;
    struct xjob job = {r, JOB_STEP, val, 0, NULL};

    if (!on_lua_thread(st)) {
        csp_emit_drop(out, val);
        return CSP_EPERM;
    }
    if (run_job(st, st->L, &job, out) != LUA_OK) {
        if (job.val)
            csp_emit_drop(out, job.val);
        return CSP_EINVAL;
    }
    return job.reduced ? CSP_REDUCED : CSP_OK;
}

static int lx_complete(void *state, csp_emit *out)
{
    struct lxrec *r = state;
    struct lcsp_state *st = r->st;
    struct xjob job = {r, JOB_COMPLETE, NULL, 0, NULL};

    if (!r->complete)
        return CSP_OK;
    if (!on_lua_thread(st))
        return CSP_EPERM;
    return run_job(st, st->L, &job, out) == LUA_OK ? CSP_OK : CSP_EINVAL;
}

/* The exception handler: a step or completion failed with ERR. */
static void *lx_exh(void *ud, int err)
{
    struct lxrec *r = ud;
    struct lcsp_state *st = r->st;
    struct xjob job = {r, JOB_EXH, NULL, 0, NULL};
    lua_State *L;

    if (!on_lua_thread(st) || err != CSP_EINVAL)
        return NULL; /* not a Lua error: nothing to hand to Lua */
    L = st->L;
    if (r->exh && run_job(st, L, &job, NULL) == LUA_OK)
        return job.result;
    /* No handler, or the handler failed: report errq[0]. */
    job.what = JOB_REPORT;
    run_job(st, L, &job, NULL);
    return NULL;
}

/* Any thread (the recipe's last release): queue the pins, free REC. */
static void lx_free(void *ud)
{
    struct lxrec *r = ud;

    lcsp_drop_hook(r->st, r->step);
    lcsp_drop_hook(r->st, r->complete);
    lcsp_drop_hook(r->st, r->exh);
    free(r);
}

/* core.chan_xf(kind, cap, step, complete, exh) -> channel */
static int l_chan_xf(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    lua_Integer kind = luaL_checkinteger(L, 1);
    lua_Integer cap = luaL_optinteger(L, 2, 0);
    struct lxrec *r;
    csp_xform *xf;
    csp_chan *ch;
    int rc;

    luaL_checktype(L, 3, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 5))
        luaL_checktype(L, 5, LUA_TFUNCTION);
    lcsp_check_step(L, st);
    if (kind != CSP_BUF_FIXED && kind != CSP_BUF_DROPPING &&
        kind != CSP_BUF_SLIDING && kind != CSP_BUF_PROMISE)
        return luaL_argerror(L, 1, "a transform needs a buffer");
    if (kind == CSP_BUF_PROMISE ? cap != 0
                                : (cap < 1 || (size_t)cap > CSP_CAP_MAX))
        return luaL_argerror(L, 2, "buffer size out of range");
    lcsp_reserve(L, st, 3);
    r = malloc(sizeof *r);
    if (!r)
        return luaL_error(L, "csp: out of memory");
    r->st = st;
    r->step = lcsp_encode(L, st, 3);
    r->complete = lua_isnoneornil(L, 4) ? NULL : lcsp_encode(L, st, 4);
    r->exh = lua_isnoneornil(L, 5) ? NULL : lcsp_encode(L, st, 5);
    rc = csp_xform_new(&xf, st->rt, lx_init, lx_step, lx_complete, NULL, r,
                       lx_free);
    if (rc != CSP_OK) {
        lcsp_release(L, st, r->step);
        lcsp_release(L, st, r->complete);
        lcsp_release(L, st, r->exh);
        free(r);
        return lcsp_fail(L, rc);
    }
    lcsp_enter(st, L);
    rc = csp_chan_new_xf(&ch, st->rt, (int)kind, (size_t)cap, csp_value_drop,
                         NULL, xf, lx_exh, r);
    lcsp_leave(st);
    csp_xform_release(xf);
    lcsp_drain(L, st);
    if (rc != CSP_OK)
        return lcsp_fail(L, rc);
    lcsp_pushchan(L, ch, 0, kind == CSP_BUF_PROMISE);
    return 1;
}

/* core.emit(v) -> stopped: inside a step, hand V downstream. */
static int l_emit(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    void *v;
    int rc;

    luaL_checkany(L, 1);
    if (!st->cur_out)
        return luaL_error(L, "csp: emit outside a transform step");
    if (lua_isnil(L, 1))
        return luaL_argerror(L, 1, "a transform cannot emit nil");
    v = lcsp_encode(L, st, 1);
    rc = csp_emit_value(st->cur_out, v);
    if (rc < 0)
        lcsp_release(L, st, v);
    lua_pushboolean(L, rc != CSP_OK);
    return 1;
}

/* core.setup(reduced_mt, errq [, flags]): the csp.reduced metatable, the
 * table where transform errors are queued for csp.on_error (index 0 is
 * the parking slot), and the scheduler's flags table (fields busy and
 * step, set while a Lua transform step runs: see run_job). */
static int l_setup(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);

    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushboolean(L, 0);
    lua_rawseti(L, 2, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, LUA_REGISTRYINDEX, st->reduced_ref);
    lua_pushvalue(L, 2);
    lua_rawseti(L, LUA_REGISTRYINDEX, st->errq_ref);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_pushvalue(L, 3);
        if (st->flags_ref == LUA_NOREF)
            st->flags_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        else
            lua_rawseti(L, LUA_REGISTRYINDEX, st->flags_ref);
    }
    return 0;
}

static const luaL_Reg funcs[] = {
    {"chan_xf", l_chan_xf}, {"emit", l_emit}, {"setup", l_setup}, {NULL, NULL}};

void lcsp_open_xform(lua_State *L)
{
    struct lcsp_state *st = lua_touserdata(L, -3);

    lua_pushcfunction(L, xf_call);
    st->xfcall_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    st->reduced_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    lua_pushboolean(L, 0);
    lua_rawseti(L, -2, 0);
    st->errq_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    st->flags_ref = LUA_NOREF;
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -3);
    lcsp_setfuncs(L, funcs, 2);
}
