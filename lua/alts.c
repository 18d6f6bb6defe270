/* alts.c - core.alts: the first of several puts and takes.
 *
 * The ops table holds channels (takes) and {channel, value} pairs (puts).
 * Every entry is checked before any value is pinned, so a bad entry raises
 * with nothing held. Put values stay pinned in the op record until the
 * alts commits: the committed put's value then belongs to the channel and
 * every other one is released.
 */
#include <stdlib.h>

#include "lcsp.h"

#define INLINE_OPS 8

/* core.alts(ops, flags) ->
 *   index, value   committed now (value: a take's value or nil when
 *                  closed; a put's true, or false when closed)
 *   0              CSP_ALTS_DEFAULT and nothing ready
 *   false, op id   queued; the scheduler waits on the id
 *   nil, message, name */
static int l_alts(lua_State *L)
{
    struct lcsp_state *st = lcsp_state(L);
    lua_Integer flags = luaL_optinteger(L, 2, 0);
    csp_op inl[INLINE_OPS], *ops = inl;
    struct lcsp_op *op;
    size_t n, idx = 0;
    void *val = NULL;
    int timer = 0, nputs = 0, rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (flags & ~(lua_Integer)(CSP_ALTS_PRIORITY | CSP_ALTS_DEFAULT))
        return luaL_argerror(L, 2, "bad flags");
    n = lua_rawlen(L, 1);
    if (n == 0)
        return luaL_argerror(L, 1, "no operations");
    if (n > CSP_ALTS_MAX)
        return luaL_argerror(L, 1, "too many operations");
    lcsp_check_step(L, st);
    luaL_checkstack(L, 8, "csp");
    if (n > INLINE_OPS)
        ops = lua_newuserdata(L, n * sizeof *ops); /* freed by the GC */
    /* Pass 1: check every entry. */
    for (size_t i = 0; i < n; i++) {
        struct lcsp_chan *c;
        lua_rawgeti(L, 1, (int)i + 1);
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_rawgeti(L, -1, 1);
            c = lcsp_tochan(L, -1);
            lua_rawgeti(L, -2, 2);
            if (!c || !c->ch)
                return luaL_argerror(
                    L, 1,
                    lua_pushfstring(L, "entry %d: put needs {chan, value}",
                                    (int)i + 1));
            if (lua_isnil(L, -1))
                return luaL_argerror(
                    L, 1,
                    lua_pushfstring(L, "entry %d: cannot put nil", (int)i + 1));
            ops[i].ch = c->ch;
            ops[i].kind = CSP_OP_PUT;
            ops[i].val = NULL;
            nputs++;
            lua_pop(L, 3);
        } else {
            c = lcsp_tochan(L, -1);
            if (!c || !c->ch)
                return luaL_argerror(
                    L, 1,
                    lua_pushfstring(L,
                                    "entry %d: channel or {chan, value} "
                                    "expected",
                                    (int)i + 1));
            ops[i].ch = c->ch;
            ops[i].kind = CSP_OP_TAKE;
            ops[i].val = c->promise ? LCSP_BORROW : NULL;
            lua_pop(L, 1);
        }
        timer |= c->timeout;
    }
    /* Pass 2: pin the put values. */
    op = lcsp_op_new(L, st, LCSP_OP_ALTS);
    op->timer = (uint8_t)timer;
    op->nvals = n;
    if (n <= sizeof op->inl / sizeof op->inl[0]) {
        op->vals = op->inl;
    } else {
        op->vals = calloc(n, sizeof *op->vals);
        if (!op->vals) {
            op->nvals = 0;
            lcsp_op_free(st, op);
            return luaL_error(L, "csp: out of memory");
        }
    }
    for (size_t i = 0; i < n; i++) {
        op->vals[i] = ops[i].val; /* NULL or LCSP_BORROW for takes */
        ops[i].val = NULL;
    }
    if (nputs)
        lcsp_reserve(L, st, nputs);
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind != CSP_OP_PUT)
            continue;
        lua_rawgeti(L, 1, (int)i + 1);
        lua_rawgeti(L, -1, 2);
        ops[i].val = op->vals[i] = lcsp_encode(L, st, -1);
        lua_pop(L, 2);
    }
    lcsp_enter(st, L);
    rc = csp_alts_cb(ops, n, (int)flags, &idx, &val, &st->exec,
                     lcsp_alts_done_cb, op, &op->pending);
    lcsp_leave(st);
    switch (rc) {
    case CSP_PENDING:
        lcsp_op_pending(st, op);
        lua_pushboolean(L, 0);
        lua_pushinteger(L, op->id);
        return 2;
    case CSP_OK:
    case CSP_ECLOSED:
        lua_pushinteger(L, (lua_Integer)idx + 1);
        lcsp_push_alts_result(L, st, op, rc, idx, val);
        lcsp_op_free(st, op);
        return 2;
    default:
        for (size_t i = 0; i < n; i++)
            lcsp_release(L, st, op->vals[i]);
        lcsp_op_free(st, op);
        if (rc == CSP_EAGAIN) {
            lua_pushinteger(L, 0);
            return 1;
        }
        return lcsp_fail(L, rc);
    }
}

static const luaL_Reg funcs[] = {{"alts", l_alts}, {NULL, NULL}};

void lcsp_open_alts(lua_State *L)
{
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -3);
    lcsp_setfuncs(L, funcs, 2);
}
