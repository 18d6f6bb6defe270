/* csp.c - luaopen_csp_core: the C half of the Lua binding.
 *
 * One struct lcsp_state per Lua state, created on the first require and
 * kept in the registry; it is the first upvalue of every csp.core function
 * (the channel metatable is the second). Its __gc, which runs after every
 * channel's (finalizers run newest first and the state is created before
 * any channel), withdraws the ops still pending, releases every value and
 * frees the loop.
 *
 * The runtime is the process's default one (csp_rt_default), unless the
 * host put a csp_rt as a light userdata under the registry key "csp.rt"
 * before the first require (docs/embedding.md): a Lua state needs no
 * worker thread (completions come through the loop executor), only the
 * timer thread, which starts with the first timeout. The module links
 * libcsp.so.0; luaopen refuses a library of another major version than
 * the csp.h it was built with. Each state registers a value domain for
 * its pins (value.c), freed when the state closes.
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
    csp_value_domain_free(st->domain);
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
    lua_getfield(L, LUA_REGISTRYINDEX, "csp.rt");
    if (lua_islightuserdata(L, -1))
        st->rt = lua_touserdata(L, -1);
    else if (!lua_isnil(L, -1))
        luaL_error(L, "csp: registry csp.rt must be a light userdata (csp_rt *)");
    lua_pop(L, 1);
    if (!st->rt)
        st->rt = csp_rt_default();
    if (!st->rt)
        luaL_error(L, "csp: cannot create the runtime");
    if (!lcsp_state_init_values(L, st))
        luaL_error(L, "csp: out of memory");
    if (csp_value_domain_new(&st->domain, lcsp_drop_hook, st) != CSP_OK) {
        lcsp_state_fini_values(st);
        luaL_error(L, "csp: no value domain left");
    }
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

/* core.runtime() -> lightuserdata: the csp_rt this state uses. */
static int l_runtime(lua_State *L)
{
    lua_pushlightuserdata(L, lcsp_state(L)->rt);
    return 1;
}

LCSP_EXPORT int luaopen_csp_core(lua_State *L)
{
    struct lcsp_state *st;
    int have = csp_version();

    /* Another major version is another ABI; an older library lacks
     * functions this module calls. */
    if (have / 10000 != CSP_VERSION_MAJOR || have < CSP_VERSION_NUMBER)
        return luaL_error(L,
                          "csp: the loaded libcsp is version %d.%d.%d, but "
                          "csp.core was built with csp.h %d.%d.%d (the major "
                          "version must match and the library must be at "
                          "least as new)",
                          have / 10000, have / 100 % 100, have % 100,
                          CSP_VERSION_MAJOR, CSP_VERSION_MINOR,
                          CSP_VERSION_PATCH);
    pin_module();
    lcsp_open_values(L);
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
    lua_pushvalue(L, -3); /* the state: l_runtime's upvalue */
    lua_pushcclosure(L, l_runtime, 1);
    lua_setfield(L, -2, "runtime");
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
