/* embed.c - one process, one runtime, three languages (docs/embedding.md).
 *
 * A C host links libcsp and embeds Lua 5.4 and CPython; their bindings
 * load the same libcsp.so.0 (the dynamic loader matches the SONAME the
 * host already loaded), so every language uses the host's runtime and the
 * same channels:
 *
 *   C go processes --raw--> a Lua go process --mid--> a Python asyncio task
 *   (ints and byte      (int * 10, string      (checks order, types and
 *    strings)            upper-cased)            counts; puts the total
 *                                                on done)
 *
 * and a C go process waits on `done` in an alts with a timeout; a plain
 * Python thread blocks on `hello` until the Lua process fills it. Each
 * language also reads CSP_STAT_WORKERS of the runtime it uses; the three
 * must agree (one worker pool). The process checks that one libcsp file
 * is mapped. Exit status 0 only if every value arrived once, in order per
 * producer, at the right type.
 *
 *   embed [PRODUCERS [VALUES_PER_PRODUCER [TIMEOUT_MS]]]
 *
 * Lua finds csp on LUA_PATH / LUA_CPATH, Python on PYTHONPATH (examples/
 * run.sh and ctest set them).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <Python.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "csp.h"

static csp_rt *rt;
static csp_chan *raw, *mid, *done, *stats, *hello;
static int producers = 4;
static long per_producer = 2500;
static long timeout_ms = 60000;
static atomic_int live_producers;
static atomic_int put_failures;

/* ------------------------------------------------------------------------
 * C: producers and the watcher, go processes on the runtime's workers. */

static void *producer(void *arg)
{
    int p = (int)(intptr_t)arg;

    for (long i = 0; i < per_producer; i++) {
        void *v;
        if (i % 2 == 0) {
            v = CSP_VAL_INT((intptr_t)p * 1000000 + i);
        } else {
            char s[32];
            int len = snprintf(s, sizeof s, "p%d:%ld", p, i);
            csp_bytes *b;
            if (csp_bytes_new(&b, rt, s, (size_t)len) != CSP_OK) {
                atomic_fetch_add(&put_failures, 1);
                break;
            }
            v = CSP_VAL_BYTES(b);
        }
        if (csp_chan_put(raw, v) != CSP_OK) {
            csp_value_drop(NULL, v); /* still ours: a bytes reference */
            atomic_fetch_add(&put_failures, 1);
            break;
        }
    }
    if (atomic_fetch_sub(&live_producers, 1) == 1)
        csp_chan_close(raw);
    csp_chan_release(raw); /* the reference main took for this producer */
    return NULL;
}

/* Waits for Python's total on `done`, or the timeout: returns the total,
 * or -1 (as a portable integer) when the timeout came first. */
static void *watcher(void *arg)
{
    csp_chan *to = NULL;
    csp_op ops[2];
    size_t idx = 0;
    void *val = NULL;
    int rc;

    (void)arg;
    if (csp_timeout(&to, rt, (uint64_t)timeout_ms) != CSP_OK)
        return CSP_VAL_INT(-2);
    ops[0] = (csp_op){done, CSP_OP_TAKE, NULL};
    ops[1] = (csp_op){to, CSP_OP_TAKE, NULL};
    rc = csp_alts(ops, 2, CSP_ALTS_PRIORITY, &idx, &val);
    csp_chan_release(to);
    if (rc == CSP_OK && idx == 0 && csp_value_kind(val) == CSP_VAL_KIND_INT)
        return val;
    csp_value_drop(NULL, val);
    return CSP_VAL_INT(-1);
}

/* ------------------------------------------------------------------------
 * Lua: its own state on its own thread; its go processes run in that
 * state's scheduler, fed by the runtime's loop executor. */

static const char lua_script[] =
    "local csp = require('csp')\n"
    "assert(csp.runtime() == RT, 'Lua uses the host runtime')\n"
    "local raw, mid, stats = csp.wrap(RAW), csp.wrap(MID), csp.wrap(STATS)\n"
    "local hello = csp.wrap(HELLO)\n"
    "local proc = csp.go(function()\n"
    "  assert(hello:put('hello from Lua'))\n"
    "  local n = 0\n"
    "  while true do\n"
    "    local v = raw:take()\n"
    "    if v == nil then break end\n"
    "    if math.type(v) == 'integer' then v = v * 10\n"
    "    elseif type(v) == 'string' then v = v:upper()\n"
    "    else error('Lua got a ' .. type(v)) end\n"
    "    assert(mid:put(v))\n"
    "    n = n + 1\n"
    "  end\n"
    "  mid:close()\n"
    "  assert(stats:put(csp.stats().workers))\n"
    "  return n\n"
    "end)\n"
    "LUA_COUNT = proc:take()\n";

static long lua_count = -1;
static int lua_failed;

static void *lua_thread(void *arg)
{
    lua_State *L = luaL_newstate();

    (void)arg;
    if (!L) {
        lua_failed = 1;
        return NULL;
    }
    luaL_openlibs(L);
    /* Which runtime csp.core uses: set before the first require. */
    lua_pushlightuserdata(L, rt);
    lua_setfield(L, LUA_REGISTRYINDEX, "csp.rt");
    lua_pushlightuserdata(L, rt);
    lua_setglobal(L, "RT");
    lua_pushlightuserdata(L, raw);
    lua_setglobal(L, "RAW");
    lua_pushlightuserdata(L, mid);
    lua_setglobal(L, "MID");
    lua_pushlightuserdata(L, stats);
    lua_setglobal(L, "STATS");
    lua_pushlightuserdata(L, hello);
    lua_setglobal(L, "HELLO");
    if (luaL_dostring(L, lua_script) != LUA_OK) {
        fprintf(stderr, "embed: Lua: %s\n", lua_tostring(L, -1));
        lua_failed = 1;
        csp_chan_close(mid); /* let Python finish */
        csp_chan_close(hello);
    } else {
        lua_getglobal(L, "LUA_COUNT");
        lua_count = (long)lua_tointeger(L, -1);
    }
    lua_close(L);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Python: the main thread; an asyncio task consumes `mid`. */

static const char py_script[] =
    "import asyncio, sys, threading\n"
    "sys.csp_runtime = RT  # which runtime: before import csp\n"
    "import csp\n"
    "csp.use_runtime(RT)  # a check: the runtime in use is RT\n"
    "mid = csp.Chan.from_handle(MID)\n"
    "done = csp.Chan.from_handle(DONE)\n"
    "stats = csp.Chan.from_handle(STATS)\n"
    "hello = csp.Chan.from_handle(HELLO)\n"
    "greeting = []\n"
    "# A plain Python thread blocks on a channel a Lua process fills.\n"
    "t = threading.Thread(target=lambda: greeting.append(hello.take()))\n"
    "t.start()\n"
    "async def consume():\n"
    "    nxt = [0] * P\n"
    "    total = 0\n"
    "    async for v in mid:\n"
    "        if type(v) is int:\n"
    "            assert v % 10 == 0, v\n"
    "            p, i = divmod(v // 10, 1000000)\n"
    "            assert i % 2 == 0, f'an int for odd index {i}'\n"
    "        elif type(v) is bytes:\n"
    "            assert v[:1] == b'P', v\n"
    "            p, i = (int(x) for x in v[1:].split(b':'))\n"
    "            assert i % 2 == 1, f'bytes for even index {i}'\n"
    "        else:\n"
    "            raise AssertionError(f'Python got a {type(v).__name__}')\n"
    "        assert i == nxt[p], f'producer {p}: got {i}, expected {nxt[p]}'\n"
    "        nxt[p] += 1\n"
    "        total += 1\n"
    "    assert nxt == [N] * P, nxt\n"
    "    assert await done.aput(total)\n"
    "    assert await stats.aput(csp.runtime_stats()['workers'])\n"
    "asyncio.run(consume())\n"
    "t.join()\n"
    "assert greeting == [b'hello from Lua'], greeting\n"
    "del mid, done, stats, hello\n";

static int run_python(void)
{
    char setup[320];
    int rc;

    Py_InitializeEx(0);
    snprintf(setup, sizeof setup,
             "RT = %lu\nMID = %lu\nDONE = %lu\nSTATS = %lu\nHELLO = %lu\n"
             "P = %d\nN = %ld\n",
             (unsigned long)(uintptr_t)rt, (unsigned long)(uintptr_t)mid,
             (unsigned long)(uintptr_t)done, (unsigned long)(uintptr_t)stats,
             (unsigned long)(uintptr_t)hello, producers, per_producer);
    rc = PyRun_SimpleString(setup);
    if (rc == 0)
        rc = PyRun_SimpleString(py_script);
    if (rc != 0)
        csp_chan_close(done); /* the watcher reports at once */
    /* Python's threads block on csp while Lua still works: release the
     * GIL by finalizing only after Lua is done (main). */
    return rc;
}

/* ------------------------------------------------------------------------
 * One libcsp: every mapping of a libcsp.so file is the same file. */

static int libcsp_files(char *first, size_t n)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int count = 0;

    if (!f)
        return -1;
    first[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        char *base;
        if (!path)
            continue;
        path[strcspn(path, "\n")] = 0;
        base = strrchr(path, '/') + 1;
        if (strncmp(base, "libcsp.so", 9) != 0)
            continue;
        if (!first[0]) {
            snprintf(first, n, "%s", path);
            count = 1;
        } else if (strcmp(first, path) != 0) {
            count++;
        }
    }
    fclose(f);
    return count;
}

static csp_chan *mkchan(size_t cap)
{
    csp_chan *ch = NULL;

    if (csp_chan_new(&ch, rt, CSP_BUF_FIXED, cap, csp_value_drop, NULL) !=
        CSP_OK) {
        fprintf(stderr, "embed: cannot make a channel\n");
        exit(1);
    }
    return ch;
}

int main(int argc, char **argv)
{
    csp_chan *verdict = NULL;
    pthread_t lt;
    void *v = NULL;
    int64_t workers_c = -1;
    long workers[2] = {-1, -1};
    long total;
    char lib[1024];
    int nlibs, ok = 1, py_rc;

    if (argc > 1)
        producers = atoi(argv[1]);
    if (argc > 2)
        per_producer = atol(argv[2]);
    if (argc > 3)
        timeout_ms = atol(argv[3]);
    if (producers < 1 || producers > 64 || per_producer < 1 ||
        per_producer > 999999 || timeout_ms < 1) {
        fprintf(stderr, "usage: embed [PRODUCERS 1..64 [VALUES 1..999999 "
                        "[TIMEOUT_MS]]]\n");
        return 2;
    }
    rt = csp_rt_default();
    if (!rt)
        return 1;
    raw = mkchan(64);
    mid = mkchan(64);
    done = mkchan(1);
    stats = mkchan(2);
    hello = mkchan(1);

    atomic_store(&live_producers, producers);
    for (int p = 0; p < producers; p++)
        if (!csp_chan_retain(raw) ||
            csp_go(rt, producer, (void *)(intptr_t)p, NULL) != CSP_OK) {
            fprintf(stderr, "embed: cannot start a producer\n");
            return 1;
        }
    if (csp_go(rt, watcher, NULL, &verdict) != CSP_OK)
        return 1;
    if (pthread_create(&lt, NULL, lua_thread, NULL) != 0)
        return 1;

    py_rc = run_python();
    {
        /* Lua may still be running: let go of the GIL while joining. */
        PyThreadState *ts = PyEval_SaveThread();
        pthread_join(lt, NULL);
        PyEval_RestoreThread(ts);
    }

    if (csp_chan_take_blocking(verdict, &v, CSP_FOREVER) != CSP_OK) {
        fprintf(stderr, "embed: the watcher gave no verdict\n");
        return 1;
    }
    total = (long)CSP_VAL_TO_INT(v);
    for (int i = 0; i < 2 && py_rc == 0 && !lua_failed; i++) {
        if (csp_chan_poll(stats, &v) == CSP_OK &&
            csp_value_kind(v) == CSP_VAL_KIND_INT)
            workers[i] = (long)CSP_VAL_TO_INT(v);
        else
            csp_value_drop(NULL, v);
    }
    csp_rt_stat(rt, CSP_STAT_WORKERS, &workers_c);
    nlibs = libcsp_files(lib, sizeof lib);

    if (total == -1) {
        fprintf(stderr, "embed: timed out after %ld ms\n", timeout_ms);
        ok = 0;
    }
    if (py_rc != 0 || lua_failed || atomic_load(&put_failures)) {
        fprintf(stderr, "embed: Python %s, Lua %s, %d failed puts\n",
                py_rc ? "failed" : "ok", lua_failed ? "failed" : "ok",
                atomic_load(&put_failures));
        ok = 0;
    }
    if (total != producers * per_producer ||
        lua_count != producers * per_producer) {
        fprintf(stderr, "embed: expected %ld values, Lua moved %ld, Python "
                        "counted %ld\n",
                producers * per_producer, lua_count, total);
        ok = 0;
    }
    if (workers[0] != workers_c || workers[1] != workers_c) {
        fprintf(stderr, "embed: workers disagree: C %ld, Lua/Python %ld %ld\n",
                (long)workers_c, workers[0], workers[1]);
        ok = 0;
    }
    if (nlibs != 1) {
        fprintf(stderr, "embed: %d libcsp files mapped\n", nlibs);
        ok = 0;
    }
    if (ok)
        printf("embed: %ld values (%d C producers -> Lua -> Python asyncio), "
               "each once, in order, typed; workers %ld in C, Lua and Python; "
               "one libcsp: %s\n",
               total, producers, (long)workers_c, lib);

    /* On failure a producer may still be parked on raw, Lua on mid: closing
     * wakes them (ECLOSED); each producer releases its own reference. */
    csp_chan_close(raw);
    csp_chan_close(mid);
    csp_chan_release(verdict);
    csp_chan_release(raw);
    csp_chan_release(mid);
    csp_chan_release(done);
    csp_chan_release(stats);
    csp_chan_release(hello);
    if (Py_FinalizeEx() != 0)
        ok = 0;
    return ok ? 0 : 1;
}
