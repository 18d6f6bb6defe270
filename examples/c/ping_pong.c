/* ping_pong.c - two go processes hit a ball back and forth over two
 * unbuffered channels; main, a plain thread, waits for the result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <csp.h>

#define ROUNDS 5

struct table {
    csp_chan *to_ping, *to_pong;
};

static void check(int rc, const char *what)
{
    if (rc != CSP_OK) {
        fprintf(stderr, "%s: %s\n", what, csp_strerror(rc));
        exit(1);
    }
}

static void *ping(void *arg)
{
    struct table *t = arg;
    void *ball;

    for (uintptr_t n = 1; n <= ROUNDS; n++) {
        /* Parks this go process (not a thread) until pong takes. */
        check(csp_chan_put(t->to_pong, (void *)n), "ping put");
        check(csp_chan_take(t->to_ping, &ball), "ping take");
        printf("ping got ball %u\n", (unsigned)(uintptr_t)ball);
    }
    csp_chan_close(t->to_pong); /* ends pong's loop */
    static char score[] = "game over";
    return score; /* put on ping's result channel */
}

static void *pong(void *arg)
{
    struct table *t = arg;
    void *ball;

    /* A take from a closed, drained channel returns CSP_ECLOSED. */
    while (csp_chan_take(t->to_pong, &ball) == CSP_OK) {
        printf("pong got ball %u\n", (unsigned)(uintptr_t)ball);
        check(csp_chan_put(t->to_ping, ball), "pong put");
    }
    return NULL; /* nothing to report: the result channel just closes */
}

int main(void)
{
    csp_rt *rt;
    struct table t;
    csp_chan *ping_done, *pong_done;
    void *result;

    check(csp_rt_new(&rt, NULL, NULL), "csp_rt_new");
    check(csp_chan_new(&t.to_ping, rt, CSP_BUF_NONE, 0, NULL, NULL), "chan");
    check(csp_chan_new(&t.to_pong, rt, CSP_BUF_NONE, 0, NULL, NULL), "chan");
    check(csp_go(rt, pong, &t, &pong_done), "go pong");
    check(csp_go(rt, ping, &t, &ping_done), "go ping");

    /* main is no go process: it blocks its thread instead of parking. */
    check(csp_chan_take_blocking(ping_done, &result, CSP_FOREVER), "take");
    printf("%s\n", (char *)result);
    if (csp_chan_take_blocking(pong_done, &result, CSP_FOREVER) != CSP_ECLOSED)
        return 1;

    csp_chan_release(ping_done);
    csp_chan_release(pong_done);
    csp_chan_release(t.to_ping);
    csp_chan_release(t.to_pong);
    check(csp_rt_free(rt, 0), "csp_rt_free");
    return 0;
}
