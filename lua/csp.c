/* csp.c - luaopen_csp_core: the C half of the Lua binding.
 *
 * One struct lcsp_state per Lua state, created on the first require and
 * kept in the registry; it is the first upvalue of every csp.core function
 * (the channel metatable is the second). Its __gc, which runs after every
 * channel's (finalizers run newest first and the state is created before
 * any channel), withdraws the ops still pending, releases every value and
 * frees the loop.
 *
 * The runtime is the process's default one (csp_rt_default): a Lua state
 * needs no worker thread (completions come through the loop executor),
 * only the timer thread, which starts with the first timeout.
 *
 * The module must never be unloaded: the runtime's threads (the timer)
 * run code from it until the process exits, but lua_close dlcloses C
 * modules. luaopen therefore opens the module's own file once more with
 * RTLD_NODELETE (where the platform has it), which keeps it mapped.
 *
 * The Lua layer (lua/csp/) does every yield; nothing here yields.
 */
#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__)
#define _GNU_SOURCE
#include <dlfcn.h>
#endif
#include <string.h>

#include "lcsp.h"

#if defined(LCSP_LUA51)
void lcsp_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name; l++) {
        for (int i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#endif

static int state_gc(lua_State *L)
{
    struct lcsp_state *st = lua_touserdata(L, 1);

    if (!st || st->closed || !st->loop)
        return 0;
    lcsp_ops_shutdown(L, st);
    lcsp_drain(L, st);
    lcsp_state_fini_values(st); /* sets st->closed */
    csp_loop_free(st->loop);
    st->loop = NULL;
    st->loop_exec = NULL;
    return 0;
}

static struct lcsp_state *state_new(lua_State *L)
{
    struct lcsp_state *st = lua_newuserdata(L, sizeof *st);

    memset(st, 0, sizeof *st);
    lua_newtable(L);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    st->rt = csp_rt_default();
    if (!st->rt)
        luaL_error(L, "csp: cannot create the runtime");
    if (!lcsp_state_init_values(L, st))
        luaL_error(L, "csp: out of memory");
    lcsp_exec_init(st);
    if (csp_loop_new(&st->loop, st->rt) != CSP_OK) {
        st->loop = NULL;
        luaL_error(L, "csp: cannot create the loop executor");
    }
    st->loop_exec = csp_loop_executor(st->loop);
    return st;
}

static int l_version(lua_State *L)
{
    int v = csp_version();
    lua_pushfstring(L, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    return 1;
}

/* Keep this module mapped until the process exits (see the top). */
static void pin_module(void)
{
#if defined(RTLD_NODELETE)
    static int pinned;
    Dl_info info;

    if (pinned)
        return;
    if (dladdr((void *)(uintptr_t)pin_module, &info) && info.dli_fname &&
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE))
        pinned = 1;
#endif
}

LCSP_EXPORT int luaopen_csp_core(lua_State *L)
{
    struct lcsp_state *st;

    pin_module();
    lua_getfield(L, LUA_REGISTRYINDEX, LCSP_STATE_KEY);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        st = state_new(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, LCSP_STATE_KEY);
    } else {
        st = lua_touserdata(L, -1);
    }
    (void)st;
    /* Stack: state, chan metatable, module. */
    luaL_newmetatable(L, LCSP_CHAN_MT);
    lua_newtable(L);
    lcsp_open_chan(L);
    lcsp_open_ops(L);
    lcsp_open_alts(L);
    lcsp_open_xform(L);
    lua_pushcfunction(L, l_version);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, CSP_BUF_NONE);
    lua_setfield(L, -2, "BUF_NONE");
    lua_pushinteger(L, CSP_BUF_FIXED);
    lua_setfield(L, -2, "BUF_FIXED");
    lua_pushinteger(L, CSP_BUF_DROPPING);
    lua_setfield(L, -2, "BUF_DROPPING");
    lua_pushinteger(L, CSP_BUF_SLIDING);
    lua_setfield(L, -2, "BUF_SLIDING");
    lua_pushinteger(L, CSP_BUF_PROMISE);
    lua_setfield(L, -2, "BUF_PROMISE");
    lua_pushinteger(L, CSP_ALTS_PRIORITY);
    lua_setfield(L, -2, "ALTS_PRIORITY");
    lua_pushinteger(L, CSP_ALTS_DEFAULT);
    lua_setfield(L, -2, "ALTS_DEFAULT");
    lua_pushinteger(L, CSP_CAP_MAX);
    lua_setfield(L, -2, "CAP_MAX");
    lua_pushinteger(L, CSP_PENDING_MAX);
    lua_setfield(L, -2, "PENDING_MAX");
    lua_pushinteger(L, CSP_ALTS_MAX);
    lua_setfield(L, -2, "ALTS_MAX");
    return 1;
}
