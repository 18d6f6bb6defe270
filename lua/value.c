/* value.c - Lua values as csp values: encoding, pins, and the drop queue.
 *
 * Integers (within 62 bits) and booleans travel inside the pointer; every
 * other value is pinned: stored in the pin table under a small integer id
 * until C hands it back. A value leaves C in exactly one of three ways:
 * taken (lcsp_push then lcsp_release, on the Lua thread), handed back by a
 * failed or cancelled op (lcsp_release), or discarded by a channel
 * (lcsp_drop_hook, on any thread, possibly under a channel lock: it only
 * queues the id, and lcsp_drain releases the queue on the Lua thread).
 *
 * Invariant: free_cap >= top, so lcsp_release never allocates; the pin
 * table slot of a free id is nil.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lcsp.h"

#define IMM_MAX ((lua_Integer)(INTPTR_MAX / 4))
#define IMM_MIN (-IMM_MAX - 1)
#define V_FALSE ((void *)(uintptr_t)2)
#define V_TRUE ((void *)(uintptr_t)6)

static void *imm_int(intptr_t i)
{
    return (void *)(((uintptr_t)i << 2) | LCSP_TAG_INT);
}

static intptr_t imm_value(void *v)
{
    /* Exact: (v - 1) is a multiple of 4, whatever the sign. */
    return ((intptr_t)(uintptr_t)v - 1) / 4;
}

int lcsp_state_init_values(lua_State *L, struct lcsp_state *st)
{
    lua_newtable(L);
    st->pins_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    st->free_ids = NULL;
    st->nfree = st->free_cap = 0;
    st->top = 0;
    st->live_pins = 0;
    st->sink = st->sink_spare = NULL;
    st->nsink = st->sink_cap = st->spare_cap = 0;
    atomic_init(&st->has_drops, 0);
    return pthread_mutex_init(&st->sink_lock, NULL) == 0;
}

/* The state's close, after the last drain: from now on the drop hook
 * ignores values (a channel finalized after the state, which lua_close
 * may do, has nothing left to release them into). The mutex stays valid:
 * it lives as long as the state's userdata. */
void lcsp_state_fini_values(struct lcsp_state *st)
{
    pthread_mutex_lock(&st->sink_lock);
    st->closed = 1;
    free(st->sink);
    free(st->sink_spare);
    st->sink = st->sink_spare = NULL;
    st->nsink = st->sink_cap = st->spare_cap = 0;
    pthread_mutex_unlock(&st->sink_lock);
    free(st->free_ids);
    st->free_ids = NULL;
    st->nfree = st->free_cap = 0;
}

/* Make room for N more pins without allocating later: grows free_ids and
 * the Lua stack. Raises on memory errors. */
void lcsp_reserve(lua_State *L, struct lcsp_state *st, int n)
{
    size_t need = (size_t)st->top + (size_t)n;

    luaL_checkstack(L, 4, "csp");
    if (need > st->free_cap) {
        size_t cap = st->free_cap ? st->free_cap : 64;
        int *p;
        while (cap < need)
            cap *= 2;
        p = realloc(st->free_ids, cap * sizeof *p);
        if (!p)
            luaL_error(L, "csp: out of memory");
        st->free_ids = p;
        st->free_cap = cap;
    }
}

static void *pin(lua_State *L, struct lcsp_state *st, int idx)
{
    int id;

    idx = idx < 0 && idx > LUA_REGISTRYINDEX ? lua_gettop(L) + idx + 1 : idx;
    lcsp_reserve(L, st, 1);
    if (st->nfree > 0) {
        id = st->free_ids[--st->nfree];
    } else {
        if (st->top >= INT_MAX - 1)
            luaL_error(L, "csp: too many values held");
        id = ++st->top;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->pins_ref);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, id);
    lua_pop(L, 1);
    st->live_pins++;
    return (void *)((uintptr_t)id << 2);
}

void *lcsp_encode(lua_State *L, struct lcsp_state *st, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? V_TRUE : V_FALSE;
    case LUA_TNUMBER: {
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            lua_Integer i = lua_tointeger(L, idx);
            if (i >= IMM_MIN && i <= IMM_MAX)
                return imm_int((intptr_t)i);
        }
#else
        /* Integral doubles within 2^52 round-trip exactly; -0.0 does not
         * (it would come back as 0), so it is pinned. */
        lua_Number n = lua_tonumber(L, idx);
        if (n == floor(n) && fabs(n) < 4503599627370496.0 &&
            !(n == 0 && signbit(n)))
            return imm_int((intptr_t)n);
#endif
        break;
    }
    default:
        break;
    }
    return pin(L, st, idx);
}

void lcsp_push(lua_State *L, struct lcsp_state *st, void *v)
{
    switch (LCSP_TAG(v)) {
    case LCSP_TAG_INT:
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(L, (lua_Integer)imm_value(v));
#else
        lua_pushnumber(L, (lua_Number)imm_value(v));
#endif
        break;
    case LCSP_TAG_BOOL:
        lua_pushboolean(L, v == V_TRUE);
        break;
    case LCSP_TAG_PIN:
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->pins_ref);
        lua_rawgeti(L, -1, (int)((uintptr_t)v >> 2));
        lua_remove(L, -2);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

static void unpin_id(lua_State *L, struct lcsp_state *st, int id)
{
    lua_pushnil(L);
    lua_rawseti(L, -2, id);
    st->free_ids[st->nfree++] = id;
    st->live_pins--;
}

void lcsp_release(lua_State *L, struct lcsp_state *st, void *v)
{
    if (!v || LCSP_TAG(v) != LCSP_TAG_PIN)
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->pins_ref);
    unpin_id(L, st, (int)((uintptr_t)v >> 2));
    lua_pop(L, 1);
}

/* Any thread, possibly under a channel lock: queue the id only. If the
 * queue cannot grow, the value stays pinned (a leak, never a crash). */
void lcsp_drop_hook(void *ud, void *v)
{
    struct lcsp_state *st = ud;

    if (!v || LCSP_TAG(v) != LCSP_TAG_PIN)
        return;
    pthread_mutex_lock(&st->sink_lock);
    if (st->closed) {
        pthread_mutex_unlock(&st->sink_lock);
        return;
    }
    if (st->nsink == st->sink_cap) {
        size_t cap = st->sink_cap ? st->sink_cap * 2 : 64;
        int *p = realloc(st->sink, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&st->sink_lock);
            return;
        }
        st->sink = p;
        st->sink_cap = cap;
    }
    st->sink[st->nsink++] = (int)((uintptr_t)v >> 2);
    /* release: pairs with the acquire load in lcsp_drain. */
    atomic_store_explicit(&st->has_drops, 1, memory_order_release);
    pthread_mutex_unlock(&st->sink_lock);
}

/* Lua thread: release every queued drop. Swaps the queue with a spare
 * array so the lock is held only for the swap. */
void lcsp_drain(lua_State *L, struct lcsp_state *st)
{
    int *ids;
    size_t n, cap;

    if (!atomic_load_explicit(&st->has_drops, memory_order_acquire))
        return;
    pthread_mutex_lock(&st->sink_lock);
    ids = st->sink;
    n = st->nsink;
    cap = st->sink_cap;
    st->sink = st->sink_spare;
    st->sink_cap = st->spare_cap;
    st->nsink = 0;
    atomic_store_explicit(&st->has_drops, 0, memory_order_relaxed);
    pthread_mutex_unlock(&st->sink_lock);
    if (n) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->pins_ref);
        for (size_t i = 0; i < n; i++)
            unpin_id(L, st, ids[i]);
        lua_pop(L, 1);
    }
    st->sink_spare = ids;
    st->spare_cap = cap;
}

int lcsp_fail(lua_State *L, int rc)
{
    lua_pushnil(L);
    lua_pushstring(L, csp_strerror(rc));
    lua_pushstring(L, csp_errname(rc));
    return 3;
}
