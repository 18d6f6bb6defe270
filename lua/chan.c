/* chan.c - channel userdata and the single-case operations.
 *
 * A channel userdata holds one reference to its csp_chan; __gc releases it
 * (ops in flight hold their own references), __close (Lua 5.4) closes it.
 * Every channel gets the state's drop hook, so values it discards are
 * queued for release on the Lua thread.
 *
 * put and take never wait here: they issue a _cb op on the state's
 * executor and either finish at once or return the op's id, which the Lua
 * layer (lua/csp/init.lua) waits on by yielding or by running the scheduler.
 * Results: see each function; failures are nil, message, name.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lcsp.h"

/* The channel userdata at IDX, or NULL; a lazy one as it is (for __gc
 * and is_chan, which must not make its csp_chan). */
struct lcsp_chan *lcsp_tochan_raw(lua_State *L, int idx)
{
    struct lcsp_chan *c = lua_touserdata(L, idx);

    if (!c || !lua_getmetatable(L, idx))
        return NULL;
    if (!lua_rawequal(L, -1, LCSP_UV_CHANMT)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, lcsp_state(L)->lazymt_ref);
        if (!lua_rawequal(L, -1, -2))
            c = NULL;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return c;
}

/* The channel userdata at IDX, or NULL. A lazy channel (core.chan_lazy)
 * gets its csp_chan now: C is about to use it. */
struct lcsp_chan *lcsp_tochan(lua_State *L, int idx)
{
    struct lcsp_chan *c = lcsp_tochan_raw(L, idx);

    if (c && c->lazy) {
        csp_chan *ch;
        int rc = csp_chan_new(&ch, lcsp_state(L)->rt, c->kind, c->cap,
                              csp_value_drop, NULL);

        if (rc != CSP_OK)
            luaL_error(L, "csp: %s", csp_strerror(rc));
        c->ch = ch;
        c->lazy = 0;
        /* Now it has a reference to release: the metatable with __gc. */
        if (idx < 0 && idx > LUA_REGISTRYINDEX)
            idx = lua_gettop(L) + idx + 1;
        lua_pushvalue(L, LCSP_UV_CHANMT);
        lua_setmetatable(L, idx);
    }
    return c;
}

struct lcsp_chan *lcsp_checkchan(lua_State *L, int idx)
{
    struct lcsp_chan *c = lcsp_tochan(L, idx);

    if (!c)
        luaL_argerror(L, idx, "channel expected");
    if (!c->ch)
        luaL_argerror(L, idx, "channel already collected");
    return c;
}

/* As lcsp_checkchan, for the core functions csp/init.lua wraps (put,
 * take, offer, poll, close): the error names the wrapper, as the user
 * called it, and the user's line (level 2), not csp/init.lua's. */
static struct lcsp_chan *checkchan_wrapped(lua_State *L, int idx)
{
    struct lcsp_chan *c = lcsp_tochan(L, idx);
    lua_Debug ar;
    const char *name = "?";
    int arg = idx;

    if (c && c->ch)
        return c;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "n", &ar) && ar.name) {
        name = ar.name;
        if (ar.namewhat && strcmp(ar.namewhat, "method") == 0)
            arg--;
    }
    luaL_where(L, 2);
    lua_pushfstring(L, "bad argument #%d to '%s' (%s, got %s)", arg, name,
                    c ? "channel already collected" : "channel expected",
                    luaL_typename(L, idx));
    lua_concat(L, 2);
    lua_error(L);
    return NULL;
}

/* Push a userdata owning one reference to CH (given to us). */
void lcsp_pushchan(lua_State *L, csp_chan *ch, int timeout, int promise)
{
    struct lcsp_chan *c = lua_newuserdata(L, sizeof *c);

    c->ch = ch;
    c->timeout = timeout;
    c->promise = promise;
    c->lazy = 0;
    c->kind = 0;
    c->cap = 0;
    lua_pushvalue(L, LCSP_UV_CHANMT);
    lua_setmetatable(L, -2);
}

/* core.chan(kind, cap) -> channel. kind is CSP_BUF_*; the Lua layer has
 * parsed buffer specs. Transform channels come from core.chan_xf. */
static int l_chan(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    lua_Integer kind = luaL_checkinteger(L, 1);
    lua_Integer cap = luaL_optinteger(L, 2, 0);
    csp_chan *ch;
    int rc;

    lcsp_check_step(L, st);
    if (kind < CSP_BUF_NONE || kind > CSP_BUF_PROMISE)
        return luaL_argerror(L, 1, "unknown buffer kind");
    if (cap < 0 || (size_t)cap > CSP_CAP_MAX)
        return luaL_argerror(L, 2, "buffer size out of range");
    if ((kind == CSP_BUF_NONE || kind == CSP_BUF_PROMISE) && cap != 0)
        return luaL_argerror(L, 2, "this kind takes no size");
    if (kind != CSP_BUF_NONE && kind != CSP_BUF_PROMISE && cap == 0)
        return luaL_argerror(L, 2, "buffer size must be at least 1");
    luaL_checkstack(L, 2, "csp");
    rc = csp_chan_new(&ch, st->rt, (int)kind, (size_t)cap, csp_value_drop,
                     NULL);
    if (rc != CSP_OK)
        return lcsp_fail(L, rc);
    lcsp_pushchan(L, ch, 0, kind == CSP_BUF_PROMISE);
    return 1;
}

/* core.chan_lazy(kind, cap) -> channel whose csp_chan is made when C
 * first needs it (csp/init.lua keeps a local channel's state in Lua: a go
 * process's result channel often never reaches C). NONE or FIXED only. */
static int l_chan_lazy(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    lua_Integer kind = luaL_checkinteger(L, 1);
    lua_Integer cap = luaL_optinteger(L, 2, 0);

    lcsp_check_step(L, st);
    if (kind != CSP_BUF_NONE && kind != CSP_BUF_FIXED)
        return luaL_argerror(L, 1, "NONE or FIXED expected");
    if (cap < 0 || (size_t)cap > CSP_CAP_MAX ||
        (kind == CSP_BUF_NONE) != (cap == 0))
        return luaL_argerror(L, 2, "buffer size out of range");
    {
        /* The lazy metatable has no __gc (nothing to release yet), so
         * the collector frees an unused one without finalizing it. */
        struct lcsp_chan *c = lua_newuserdata(L, sizeof *c);

        c->ch = NULL;
        c->timeout = 0;
        c->promise = 0;
        c->lazy = 1;
        c->kind = (int)kind;
        c->cap = (size_t)cap;
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->lazymt_ref);
        lua_setmetatable(L, -2);
    }
    return 1;
}

/* core.timeout(ms) -> channel that closes after MS milliseconds. */
static int l_timeout(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    lua_Number ms;
    csp_chan *ch;
    int rc;

    luaL_checktype(L, 1, LUA_TNUMBER);
    ms = lua_tonumber(L, 1);
    lcsp_check_step(L, st);
    if (!(ms >= 0) || ms > 1099511627776.0)
        return luaL_argerror(L, 1, "milliseconds out of range");
    rc = csp_timeout(&ch, st->rt, (uint64_t)ceil(ms));
    if (rc != CSP_OK)
        return lcsp_fail(L, rc);
    lcsp_pushchan(L, ch, 1, 0);
    return 1;
}

/* core.put(ch, v) -> true [, id, a, b] (done; and it completed op id:
 * see lcsp_push_local_done) | false (closed) | op id (pending) |
 * nil, message, name (the caller's fault or out of memory: csp/init.lua
 * raises them). */
static int l_put(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    struct lcsp_chan *c = checkchan_wrapped(L, 1);
    struct lcsp_op *op;
    void *v;
    int rc;

    luaL_checkany(L, 2);
    if (lua_isnil(L, 2))
        return luaL_argerror(L, 2, "cannot put nil on a channel");
    lcsp_check_step(L, st);
    op = lcsp_op_new(L, st, LCSP_OP_PUT);
    v = lcsp_encode(L, st, 2);
    op->timer = (uint8_t)c->timeout;
    lcsp_enter(st, L);
    rc = csp_chan_put_cb(c->ch, v, &st->exec, lcsp_done_cb, op, &op->pending);
    if (rc == CSP_OK)
        lcsp_run_local(st);
    lcsp_leave(st);
    if (rc == CSP_PENDING) {
        lcsp_op_pending(st, op);
        lua_pushinteger(L, op->id);
        return 1;
    }
    lcsp_op_free(st, op);
    if (rc == CSP_OK) {
        lua_pushboolean(L, 1);
        return 1 + lcsp_push_local_done(L, st);
    }
    lcsp_release(L, st, v);
    if (rc == CSP_ECLOSED) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return lcsp_fail(L, rc);
}

/* core.take(ch) -> value [, false, id, a, b] (done; and it completed op
 * id) | nil (closed) | nil, op id (pending) |
 * nil, message, name. */
static int l_take(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    struct lcsp_chan *c = checkchan_wrapped(L, 1);
    struct lcsp_op *op;
    void *v = NULL;
    int rc;

    lcsp_check_step(L, st);
    op = lcsp_op_new(L, st, LCSP_OP_TAKE);
    op->timer = (uint8_t)c->timeout;
    op->borrow = (uint8_t)c->promise;
    lcsp_enter(st, L);
    rc = csp_chan_take_cb(c->ch, &v, &st->exec, lcsp_done_cb, op, &op->pending);
    if (rc == CSP_OK)
        lcsp_run_local(st);
    lcsp_leave(st);
    if (rc == CSP_PENDING) {
        lcsp_op_pending(st, op);
        lua_pushnil(L);
        lua_pushinteger(L, op->id);
        return 2;
    }
    lcsp_op_free(st, op);
    if (rc == CSP_OK) {
        lcsp_push_taken(L, st, v, c->promise);
        if (st->done_head) {
            /* value, false, id, a, b: it completed a parked op too. */
            lua_pushboolean(L, 0);
            return 2 + lcsp_push_local_done(L, st);
        }
        return 1;
    }
    if (rc == CSP_ECLOSED) {
        lua_pushnil(L);
        return 1;
    }
    return lcsp_fail(L, rc);
}

/* core offer(ch, v) -> true | false (closed) | nil (would wait) |
 * nil, message, name (EPERM, ENOMEM...: raised by csp/init.lua). */
static int l_offer(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    struct lcsp_chan *c = checkchan_wrapped(L, 1);
    void *v;
    int rc;

    luaL_checkany(L, 2);
    if (lua_isnil(L, 2))
        return luaL_argerror(L, 2, "cannot put nil on a channel");
    lcsp_check_step(L, st);
    v = lcsp_encode(L, st, 2);
    lcsp_enter(st, L);
    rc = csp_chan_offer(c->ch, v);
    lcsp_leave(st);
    if (rc == CSP_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lcsp_release(L, st, v);
    if (rc == CSP_ECLOSED) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc == CSP_EAGAIN) {
        lua_pushnil(L);
        return 1;
    }
    return lcsp_fail(L, rc);
}

/* core poll(ch) -> value | nil (empty, or closed and drained) |
 * nil, message, name. */
static int l_poll(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    struct lcsp_chan *c = checkchan_wrapped(L, 1);
    void *v = NULL;
    int rc;

    lcsp_check_step(L, st);
    luaL_checkstack(L, 4, "csp");
    lcsp_enter(st, L);
    rc = csp_chan_poll(c->ch, &v);
    lcsp_leave(st);
    if (rc == CSP_OK) {
        lcsp_push_taken(L, st, v, c->promise);
        return 1;
    }
    if (rc == CSP_ECLOSED || rc == CSP_EAGAIN) {
        lua_pushnil(L);
        return 1;
    }
    return lcsp_fail(L, rc);
}

/* ch:close() -> true | nil, message, "EPERM" (a timeout channel). */
static int l_close(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    struct lcsp_chan *c = checkchan_wrapped(L, 1);
    int rc;

    lcsp_check_step(L, st);
    luaL_checkstack(L, 4, "csp");
    lcsp_enter(st, L);
    rc = csp_chan_close(c->ch);
    lcsp_leave(st);
    if (rc != CSP_OK)
        return lcsp_fail(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_closed(lua_State *L)
{
    lua_pushboolean(L, csp_chan_closed(lcsp_checkchan(L, 1)->ch));
    return 1;
}

static int l_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)csp_chan_count(lcsp_checkchan(L, 1)->ch));
    return 1;
}

static int l_id(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)csp_chan_id(lcsp_checkchan(L, 1)->ch));
    return 1;
}

static int l_is_timeout(lua_State *L)
{
    lua_pushboolean(L, lcsp_checkchan(L, 1)->timeout);
    return 1;
}

/* core.is_chan(x) -> boolean */
static int l_is_chan(lua_State *L)
{
    struct lcsp_chan *c = lcsp_tochan_raw(L, 1);
    lua_pushboolean(L, c != NULL && (c->ch != NULL || c->lazy));
    return 1;
}

static int l_gc(lua_State *L)
{
    struct lcsp_chan *c = lcsp_tochan_raw(L, 1);

    if (c && c->ch) {
        csp_chan *ch = c->ch;
        c->ch = NULL;
        csp_chan_release(ch);
    }
    return 0;
}

/* __close (Lua 5.4 to-be-closed variables): close, ignoring EPERM. */
static int l_close_mm(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    struct lcsp_chan *c = lcsp_tochan(L, 1);

    if (c && c->ch && !c->timeout) {
        lcsp_check_step(L, st);
        lcsp_enter(st, L);
        csp_chan_close(c->ch);
        lcsp_leave(st);
    }
    return 0;
}

static int l_tostring(lua_State *L)
{
    struct lcsp_chan *c = lcsp_tochan(L, 1);

    if (c && c->ch) {
        char id[32];
        snprintf(id, sizeof id, "%" PRIu64, csp_chan_id(c->ch));
        lua_pushfstring(L, "csp.chan: %p (id %s)", (void *)c, id);
    } else
        lua_pushfstring(L, "csp.chan: %p (collected)", (void *)c);
    return 1;
}

/* ch:handle() -> lightuserdata: the csp_chan, for C (borrowed: valid
 * while CH is alive; C calls csp_chan_retain to keep it). */
static int l_handle(lua_State *L)
{
    struct lcsp_chan *c = lcsp_checkchan(L, 1);

    lcsp_state(L)->shared = 1;
    lua_pushlightuserdata(L, c->ch);
    return 1;
}

/* core.wrap(lightuserdata [, promise]) -> channel: a channel given by C.
 * The userdata takes a reference of its own (csp_chan_retain); the
 * caller keeps and releases its own. PROMISE: takes borrow the value. */
static int l_wrap(lua_State *L)
{
    csp_chan *ch;

    if (!lua_islightuserdata(L, 1))
        return luaL_argerror(L, 1,
                             "light userdata expected (a csp_chan * from C)");
    ch = lua_touserdata(L, 1);
    if (!ch)
        return luaL_argerror(L, 1, "NULL channel handle");
    luaL_checkstack(L, 2, "csp");
    lcsp_state(L)->shared = 1;
    lcsp_pushchan(L, csp_chan_retain(ch), 0, lua_toboolean(L, 2));
    return 1;
}

static const luaL_Reg methods[] = {
    {"handle", l_handle},
    {"offer", l_offer},           {"poll", l_poll},   {"close", l_close},
    {"closed", l_closed},         {"count", l_count}, {"id", l_id},
    {"is_timeout", l_is_timeout}, {NULL, NULL}};

static const luaL_Reg metamethods[] = {{"__gc", l_gc},
                                       {"__close", l_close_mm},
                                       {"__tostring", l_tostring},
                                       {NULL, NULL}};

static const luaL_Reg funcs[] = {{"chan", l_chan},       {"chan_lazy", l_chan_lazy},
                                 {"timeout", l_timeout},
                                 {"put", l_put},         {"take", l_take},
                                 {"is_chan", l_is_chan}, {"wrap", l_wrap},
                                 {NULL, NULL}};

/* With the module table at -1 and the state and chan metatable as the
 * would-be upvalues at -3 and -2: fill the metatable, its __index table
 * (also exported as core.chan_methods), and the module functions. */
void lcsp_open_chan(lua_State *L)
{
    int mod = lua_gettop(L), mt = mod - 1, state = mod - 2;

    lua_pushvalue(L, state);
    lua_pushvalue(L, mt);
    lcsp_setfuncs(L, funcs, 2);

    lua_pushvalue(L, mt);
    lua_pushvalue(L, state);
    lua_pushvalue(L, mt);
    lcsp_setfuncs(L, metamethods, 2);
    lua_newtable(L);
    lua_pushvalue(L, state);
    lua_pushvalue(L, mt);
    lcsp_setfuncs(L, methods, 2);
    lua_pushvalue(L, -1);
    lua_setfield(L, mod, "chan_methods");
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "csp.chan");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);

    /* The lazy channels' metatable: the same but __gc. */
    lua_newtable(L);
    lua_pushvalue(L, state);
    lua_pushvalue(L, mt);
    lcsp_setfuncs(L, metamethods + 1, 2);
    lua_getfield(L, mt, "__index");
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "csp.chan");
    lua_setfield(L, -2, "__name");
    ((struct lcsp_state *)lua_touserdata(L, state))->lazymt_ref =
        luaL_ref(L, LUA_REGISTRYINDEX);
}
