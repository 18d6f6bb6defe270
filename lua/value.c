/* value.c - Lua values as csp values: encoding, pins, and the drop queue.
 *
 * Integers (within 62 bits) and booleans travel inside the pointer, as
 * csp.h's portable values; strings travel as csp_bytes (any language in
 * the process reads them); every other value is pinned: stored in the pin
 * table under a small integer id, in the state's value domain, until C
 * hands it back. A value of another domain (a Python object) or a C
 * host's own pointer becomes a csp.foreign userdata: it can be put back
 * on a channel once, and when collected it goes back to its domain
 * (csp_value_drop). A value leaves C in exactly one of three ways:
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

#define IMM_MAX ((lua_Integer)CSP_VAL_INT_MAX)
#define IMM_MIN ((lua_Integer)CSP_VAL_INT_MIN)
#define LCSP_FOREIGN_MT "csp.foreign"

static void *imm_int(intptr_t i)
{
    return CSP_VAL_INT(i);
}

static intptr_t imm_value(void *v)
{
    return CSP_VAL_TO_INT(v);
}

static int own_pin(const struct lcsp_state *st, void *v)
{
    return CSP_VAL_TAG(v) == CSP_VAL_TAG_IMM &&
           CSP_VAL_DOMAIN_OF(v) == st->domain;
}

static int pin_id(void *v)
{
    return (int)CSP_VAL_PAYLOAD_OF(v);
}

/* A value this state cannot read: owned (the userdata hands it back to
 * its domain when collected) or borrowed (from a promise channel). */
struct lcsp_foreign {
    void *v;   /* NULL once passed on */
    int owned;
};

static int foreign_gc(lua_State *L)
{
    struct lcsp_foreign *f = luaL_checkudata(L, 1, LCSP_FOREIGN_MT);

    if (f->v && f->owned)
        csp_value_drop(NULL, f->v);
    f->v = NULL;
    return 0;
}

static int foreign_tostring(lua_State *L)
{
    struct lcsp_foreign *f = luaL_checkudata(L, 1, LCSP_FOREIGN_MT);

    if (!f->v)
        lua_pushstring(L, "csp.foreign (passed on)");
    else if (CSP_VAL_TAG(f->v) == CSP_VAL_TAG_IMM)
        lua_pushfstring(L, "csp.foreign: a value of domain %d",
                        CSP_VAL_DOMAIN_OF(f->v));
    else
        lua_pushfstring(L, "csp.foreign: a C pointer %p", f->v);
    return 1;
}

/* Called from luaopen: the foreign userdata's metatable. */
void lcsp_open_values(lua_State *L)
{
    if (luaL_newmetatable(L, LCSP_FOREIGN_MT)) {
        lua_pushcfunction(L, foreign_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, foreign_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

/* luaL_testudata, which Lua 5.1 lacks. */
static struct lcsp_foreign *to_foreign(lua_State *L, int idx)
{
    void *p = lua_touserdata(L, idx);
    int same;

    if (!p || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, LCSP_FOREIGN_MT);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}

static void push_foreign(lua_State *L, void *v, int owned)
{
    struct lcsp_foreign *f = lua_newuserdata(L, sizeof *f);

    f->v = v;
    f->owned = owned;
    luaL_getmetatable(L, LCSP_FOREIGN_MT);
    lua_setmetatable(L, -2);
}

static void push_bytes(lua_State *L, void *v)
{
    csp_bytes *b = CSP_VAL_TO_BYTES(v);

    lua_pushlstring(L, (const char *)b->data, b->len);
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
    return CSP_VAL_DOMAIN(st->domain, id);
}

void *lcsp_encode(lua_State *L, struct lcsp_state *st, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? CSP_VAL_TRUE : CSP_VAL_FALSE;
    case LUA_TSTRING: {
        size_t len;
        const char *p = lua_tolstring(L, idx, &len);
        csp_bytes *b;
        int rc = csp_bytes_new(&b, st->rt, p, len);
        if (rc != CSP_OK)
            luaL_error(L, "csp: %s", csp_strerror(rc));
        return CSP_VAL_BYTES(b);
    }
    case LUA_TUSERDATA: {
        struct lcsp_foreign *f = to_foreign(L, idx);
        if (f) {
            void *v = f->v;
            if (!v)
                luaL_error(L, "csp: this foreign value was already passed on");
            if (!f->owned)
                luaL_error(L, "csp: a foreign value borrowed from a promise "
                              "channel cannot be passed on");
            f->v = NULL;
            return v;
        }
        break;
    }
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
    switch (CSP_VAL_TAG(v)) {
    case CSP_VAL_TAG_INT:
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(L, (lua_Integer)imm_value(v));
#else
        lua_pushnumber(L, (lua_Number)imm_value(v));
#endif
        break;
    case CSP_VAL_TAG_BYTES:
        push_bytes(L, v);
        break;
    case CSP_VAL_TAG_IMM:
        if (v == CSP_VAL_TRUE || v == CSP_VAL_FALSE) {
            lua_pushboolean(L, v == CSP_VAL_TRUE);
        } else if (own_pin(st, v)) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, st->pins_ref);
            lua_rawgeti(L, -1, pin_id(v));
            lua_remove(L, -2);
        } else {
            push_foreign(L, v, 0);
        }
        break;
    default:
        if (v)
            push_foreign(L, v, 0);
        else
            lua_pushnil(L);
        break;
    }
}

void lcsp_push_taken(lua_State *L, struct lcsp_state *st, void *v, int borrow)
{
    if (!borrow && v && CSP_VAL_TAG(v) == CSP_VAL_TAG_IMM &&
        v != CSP_VAL_TRUE && v != CSP_VAL_FALSE && !own_pin(st, v)) {
        push_foreign(L, v, 1); /* the userdata owns it now */
        return;
    }
    lcsp_push(L, st, v);
    if (!borrow)
        lcsp_release(L, st, v);
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
    if (!v)
        return;
    if (own_pin(st, v)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->pins_ref);
        unpin_id(L, st, pin_id(v));
        lua_pop(L, 1);
    } else {
        /* A byte string, or a foreign value handed back: to its owner. */
        csp_value_drop(NULL, v);
    }
}

/* Any thread, possibly under a channel lock: queue the id only. If the
 * queue cannot grow, the value stays pinned (a leak, never a crash). */
void lcsp_drop_hook(void *ud, void *v)
{
    struct lcsp_state *st = ud;

    if (!v || !own_pin(st, v))
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
    st->sink[st->nsink++] = pin_id(v);
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
