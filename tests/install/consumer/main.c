/* A program outside the source tree that uses an installed csp: a go
 * process puts one value, main takes it with a blocking take. Exit 0 and
 * "consumer ok" on success. */
#include <stdio.h>

#include <csp.h>

static void *producer(void *arg)
{
    csp_chan *ch = arg;
    static int answer = 42;
    return csp_chan_put(ch, &answer) == CSP_OK ? NULL : ch;
}

int main(void)
{
    csp_rt *rt;
    csp_chan *ch, *done;
    void *val = NULL, *res = NULL;

    if (csp_version() != CSP_VERSION_NUMBER) {
        fprintf(stderr, "header %d, library %d\n", CSP_VERSION_NUMBER,
                csp_version());
        return 1;
    }
    if (csp_rt_new(&rt, NULL, NULL) != CSP_OK ||
        csp_chan_new(&ch, rt, CSP_BUF_NONE, 0, NULL, NULL) != CSP_OK ||
        csp_go(rt, producer, ch, &done) != CSP_OK)
        return 1;
    if (csp_chan_take_blocking(ch, &val, CSP_FOREVER) != CSP_OK ||
        *(int *)val != 42)
        return 1;
    /* The go process returned NULL: its result channel just closes. */
    if (csp_chan_take_blocking(done, &res, CSP_FOREVER) != CSP_ECLOSED)
        return 1;
    csp_chan_release(done);
    csp_chan_release(ch);
    if (csp_rt_free(rt, 0) != CSP_OK)
        return 1;
    printf("consumer ok (csp %d)\n", csp_version());
    return 0;
}
