/* test_trace.c - the event trace (core/trace.c): csp_rt_set_trace and
 * CSP_TRACE record spawns, run slices, parks, wakes, steals and timer
 * firings per thread and write a valid Chrome JSON trace at
 * csp_rt_free; a runtime that does not trace records nothing, even while
 * another runtime in the process does; bad input is refused.
 *
 * The JSON is checked by a strict little parser below (objects, arrays,
 * strings with escapes, numbers, literals; nothing after the value) and
 * its events are counted by kind. tests/python/test_trace.py loads a
 * trace with Python's json module as well.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/trace.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * A strict JSON checker: returns the end of the value at P, or NULL. */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i]))
                        return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p) || !*p) {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    const char *s = p;

    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (isdigit((unsigned char)*p))
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = ws(p);
    switch (*p) {
    case '{':
        p = ws(p + 1);
        if (*p == '}')
            return p + 1;
        for (;;) {
            p = json_string(ws(p));
            if (!p || *(p = ws(p)) != ':')
                return NULL;
            p = json_value(p + 1, depth + 1);
            if (!p)
                return NULL;
            p = ws(p);
            if (*p == '}')
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    case '[':
        p = ws(p + 1);
        if (*p == ']')
            return p + 1;
        for (;;) {
            p = json_value(p, depth + 1);
            if (!p)
                return NULL;
            p = ws(p);
            if (*p == ']')
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    case '"':
        return json_string(p);
    case 't':
        return strncmp(p, "true", 4) ? NULL : p + 4;
    case 'f':
        return strncmp(p, "false", 5) ? NULL : p + 5;
    case 'n':
        return strncmp(p, "null", 4) ? NULL : p + 4;
    default:
        return json_number(p);
    }
}

/* The whole text is one JSON value. */
static int json_valid(const char *text)
{
    const char *end = json_value(text, 0);

    return end && *ws(end) == '\0';
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    ASSERT_NOT_NULL(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ASSERT_NOT_NULL(buf);
    ASSERT_EQ(fread(buf, 1, (size_t)n, f), n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static long count(const char *text, const char *needle)
{
    long n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void tmp_path(char *buf, size_t size)
{
    int fd;

    snprintf(buf, size, "/tmp/csp-trace-test-XXXXXX.json");
    fd = mkstemps(buf, 5);
    ASSERT_TRUE(fd >= 0);
    close(fd);
}

static long file_size(const char *path)
{
    struct stat st;

    ASSERT_EQ(stat(path, &st), 0);
    return (long)st.st_size;
}

/* ------------------------------------------------------------------------
 * A workload with every kind of event. */

#define PAIRS 8
#define ROUNDS 50

/* Two procs that each spin (never parking) until both have started: the
 * second sits on the spawning worker's queue while the first spins
 * there, so the other worker must steal it. */
struct duo {
    _Atomic int started;
    int64_t deadline;
};

static void *duo_one(void *arg)
{
    struct duo *d = arg;

    atomic_fetch_add(&d->started, 1);
    while (atomic_load(&d->started) < 2)
        ASSERT_TRUE(csp_now_ns() < d->deadline);
    return NULL;
}

static void *echo(void *arg)
{
    csp_chan **c = arg;
    void *v;

    while (csp_chan_take(c[0], &v) == CSP_OK)
        ASSERT_OK(csp_chan_put(c[1], v));
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    ASSERT_OK(csp_sleep(2));
    return V(1);
}

/* Spawned from a go process, so that its children land on a worker's own
 * queue. Returns the number of go processes it spawned. */
static void *workload(void *arg)
{
    csp_rt *rt = arg;
    struct duo d = {0, csp_now_ns() + 10 * SEC * test_slowdown()};
    csp_chan *res[2], *sl, *c[2], *eres;
    void *v;

    ASSERT_OK(csp_go(rt, duo_one, &d, &res[0]));
    ASSERT_OK(csp_go(rt, duo_one, &d, &res[1]));
    for (int i = 0; i < 2; i++) {
        ASSERT_RC(CSP_ECLOSED, csp_chan_take(res[i], &v));
        csp_chan_release(res[i]);
    }
    ASSERT_OK(csp_go(rt, sleeper, NULL, &sl));
    ASSERT_OK(csp_chan_new(&c[0], rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_chan_new(&c[1], rt, CSP_BUF_NONE, 0, NULL, NULL));
    ASSERT_OK(csp_go(rt, echo, c, &eres));
    for (uintptr_t i = 1; i <= ROUNDS; i++) {
        ASSERT_OK(csp_chan_put(c[0], V(i)));
        ASSERT_OK(csp_chan_take(c[1], &v));
        ASSERT_EQ(U(v), i);
    }
    csp_chan_close(c[0]);
    /* The echo uses C (on this stack) until it returns. */
    ASSERT_RC(CSP_ECLOSED, csp_chan_take(eres, &v));
    csp_chan_release(eres);
    ASSERT_OK(csp_chan_take(sl, &v));
    csp_chan_release(sl);
    csp_chan_release(c[0]);
    csp_chan_release(c[1]);
    return V(4);
}

/* Run the workload on RT from outside; returns procs spawned (the
 * workload proc included). */
static long run_workload(csp_rt *rt)
{
    csp_chan *res;
    void *v = NULL;

    ASSERT_OK(csp_go(rt, workload, rt, &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(30 * SEC)));
    csp_chan_release(res);
    /* A proc closes its result channel before it switches out for the
     * last time: wait until every one has, so its slices are recorded. */
    for (int64_t dl = deadline_in(10 * SEC * test_slowdown());;) {
        int64_t live = -1;
        ASSERT_OK(csp_rt_stat(rt, CSP_STAT_PROCS_LIVE, &live));
        if (live == 0)
            break;
        ASSERT_TRUE(csp_now_ns() < dl);
        sched_yield();
    }
    return 1 + (long)U(v);
}

TEST(trace_records_every_kind_of_event)
{
    char path[64];
    long spawned;

    tmp_path(path, sizeof path);
    ASSERT_OK(csp_rt_set_trace(test_rt, path));
    spawned = run_workload(test_rt);
    ASSERT_EQ(csp__trace_count(test_rt, CSP__TR_SPAWN), spawned);
    ASSERT_TRUE(csp__trace_count(test_rt, CSP__TR_RUN) >= (uint64_t)spawned);
    ASSERT_TRUE(csp__trace_count(test_rt, CSP__TR_PARK) >= ROUNDS);
    ASSERT_TRUE(csp__trace_count(test_rt, CSP__TR_WAKE) >= ROUNDS);
    ASSERT_TRUE(csp__trace_count(test_rt, CSP__TR_STEAL) >= 1);
    ASSERT_TRUE(csp__trace_count(test_rt, CSP__TR_TIMER) >= 1);
    ASSERT_OK(csp_rt_free(test_rt, 0));
    test_rt = NULL;
    unlink(path);
}

TEST(trace_file_is_valid_json_with_each_kind)
{
    char path[64];
    long spawned;
    char *text;

    tmp_path(path, sizeof path);
    ASSERT_OK(csp_rt_set_trace(test_rt, path));
    spawned = run_workload(test_rt);
    ASSERT_OK(csp_rt_free(test_rt, 0));
    test_rt = NULL;
    text = slurp(path);
    ASSERT_TRUE(json_valid(text));
    ASSERT_EQ(strncmp(text, "{\"displayTimeUnit\"", 18), 0);
    ASSERT_EQ(count(text, "\"cat\":\"spawn\""), spawned);
    /* Every proc ran at least once and exited once. */
    ASSERT_TRUE(count(text, "\"cat\":\"run\"") >= spawned);
    ASSERT_EQ(count(text, "\"then\":\"exit\""), spawned);
    ASSERT_TRUE(count(text, "\"cat\":\"park\"") >= ROUNDS);
    ASSERT_TRUE(count(text, "\"cat\":\"wake\"") >= ROUNDS);
    ASSERT_TRUE(count(text, "\"cat\":\"steal\"") >= 1);
    ASSERT_TRUE(count(text, "\"cat\":\"timer\"") >= 1);
    /* Both workers have a named track; nothing was dropped. */
    ASSERT_EQ(count(text, "\"name\":\"csp-worker-0\""), 1);
    ASSERT_EQ(count(text, "\"name\":\"csp-worker-1\""), 1);
    ASSERT_EQ(count(text, "\"csp_events_dropped\":0}"), 1);
    free(text);
    unlink(path);
}

TEST(trace_off_records_nothing)
{
    csp_rt *other;

    ASSERT_EQ(atomic_load(&csp__trace_on), 0);
    run_workload(test_rt);
    for (int k = 0; k < CSP__TR_NKINDS; k++)
        ASSERT_EQ(csp__trace_count(test_rt, k), 0);
    /* With another runtime tracing, this one still records nothing, and
     * its events do not land in the other's trace. */
    ASSERT_OK(csp_rt_new(&other, test_alloc, NULL));
    {
        char path[64];
        tmp_path(path, sizeof path);
        ASSERT_OK(csp_rt_set_trace(other, path));
        ASSERT_EQ(atomic_load(&csp__trace_on), 1);
        run_workload(test_rt);
        for (int k = 0; k < CSP__TR_NKINDS; k++) {
            ASSERT_EQ(csp__trace_count(test_rt, k), 0);
            ASSERT_EQ(csp__trace_count(other, k), 0);
        }
        ASSERT_OK(csp_rt_free(other, 0));
        ASSERT_EQ(atomic_load(&csp__trace_on), 0);
        /* A runtime that never ran writes an empty trace, still JSON. */
        {
            char *text = slurp(path);
            ASSERT_TRUE(json_valid(text));
            ASSERT_EQ(count(text, "\"ph\":\"i\""), 0);
            free(text);
        }
        unlink(path);
    }
}

TEST(trace_turned_off_writes_no_file)
{
    char path[64];

    tmp_path(path, sizeof path);
    ASSERT_OK(csp_rt_set_trace(test_rt, path));
    ASSERT_OK(csp_rt_set_trace(test_rt, NULL));
    ASSERT_EQ(atomic_load(&csp__trace_on), 0);
    run_workload(test_rt);
    ASSERT_OK(csp_rt_free(test_rt, 0));
    test_rt = NULL;
    ASSERT_EQ(file_size(path), 0);
    unlink(path);
}

TEST(trace_set_rejects_bad_input)
{
    char path[64];

    tmp_path(path, sizeof path);
    ASSERT_RC(CSP_EINVAL, csp_rt_set_trace(NULL, path));
    ASSERT_RC(CSP_EINVAL, csp_rt_set_trace(test_rt, ""));
    ASSERT_RC(CSP_EINVAL,
              csp_rt_set_trace(test_rt, "/nonexistent-csp-dir/t.json"));
    ASSERT_EQ(atomic_load(&csp__trace_on), 0);
    run_workload(test_rt); /* started: settings are frozen */
    ASSERT_RC(CSP_EBUSY, csp_rt_set_trace(test_rt, path));
    ASSERT_RC(CSP_EBUSY, csp_rt_set_trace(test_rt, NULL));
    ASSERT_EQ(atomic_load(&csp__trace_on), 0);
    unlink(path);
}

TEST(trace_set_out_of_memory_leaks_nothing)
{
    char path[64];
    long before = test_live_allocs();
    int rc = CSP_ENOMEM;

    tmp_path(path, sizeof path);
    for (long k = 0; rc == CSP_ENOMEM; k++) {
        test_fail_alloc_after(k);
        rc = csp_rt_set_trace(test_rt, path);
        test_fail_alloc_after(-1);
        if (rc == CSP_ENOMEM) {
            ASSERT_EQ(test_live_allocs(), before);
            ASSERT_EQ(atomic_load(&csp__trace_on), 0);
        }
    }
    ASSERT_OK(rc);
    ASSERT_OK(csp_rt_set_trace(test_rt, NULL));
    ASSERT_EQ(test_live_allocs(), before);
    unlink(path);
}

TEST(trace_env_var_turns_tracing_on)
{
    char path[64];
    csp_rt *rt;
    char *text;

    tmp_path(path, sizeof path);
    setenv("CSP_TRACE", path, 1);
    ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
    unsetenv("CSP_TRACE");
    ASSERT_EQ(atomic_load(&csp__trace_on), 1);
    run_workload(rt);
    ASSERT_TRUE(csp__trace_count(rt, CSP__TR_SPAWN) >= 1);
    ASSERT_OK(csp_rt_free(rt, 0));
    text = slurp(path);
    ASSERT_TRUE(json_valid(text));
    ASSERT_TRUE(count(text, "\"cat\":\"spawn\"") >= 1);
    free(text);
    unlink(path);
}

TEST(trace_json_checker_rejects_broken_text)
{
    /* The checker the tests above rely on says no to broken JSON. */
    ASSERT_TRUE(json_valid("{\"a\":[1,2.5,-3e2,\"x\\n\",true,null]}"));
    ASSERT_FALSE(json_valid("{\"a\":[1,2,]}"));
    ASSERT_FALSE(json_valid("{\"a\":1,}"));
    ASSERT_FALSE(json_valid("{\"a\" 1}"));
    ASSERT_FALSE(json_valid("[1] x"));
    ASSERT_FALSE(json_valid("{\"a\":\"\x01\"}"));
    ASSERT_FALSE(json_valid("{\"a\":01}"));
}
