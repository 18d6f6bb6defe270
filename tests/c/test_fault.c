/* test_fault.c - allocation failure injected at every allocation site of
 * a scenario that touches every allocating public call, in turn: each
 * call fails cleanly with CSP_ENOMEM, nothing leaks, and the runtime
 * still works afterwards. (Each constructor also has its own
 * *_reports_enomem test next to its other tests.) */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static void ignore_done(void *ud, int rc, void *val)
{
    (void)ud;
    (void)rc;
    (void)val;
}

static void ignore_alts(void *ud, int rc, size_t idx, void *val)
{
    (void)ud;
    (void)rc;
    (void)idx;
    (void)val;
}

static int inc_step(void *state, void *val, csp_emit *out)
{
    (void)state;
    return csp_emit_value(out, V(U(val) + 1));
}

static void *give_one(void *arg)
{
    (void)arg;
    return V(1);
}

#define TRY(expr)                                                              \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ == CSP_ENOMEM)                                                 \
            goto out;                                                          \
        ASSERT_TRUE(rc_ == CSP_OK || rc_ == CSP_PENDING ||                     \
                    rc_ == CSP_ETIMEDOUT);                                     \
    } while (0)

/* Every allocating call once; stops at the first CSP_ENOMEM and cleans
 * up. Returns 1 if it ran to the end. */
static int scenario(void)
{
    csp_chan *ch[5] = {NULL}, *xch = NULL, *t = NULL, *res = NULL;
    csp_chan *wide[12] = {NULL};
    csp_xform *xf = NULL, *xf2 = NULL, *comp = NULL;
    csp_pending *p1 = NULL, *p2 = NULL, *p3 = NULL;
    static const int kinds[5] = {CSP_BUF_NONE, CSP_BUF_FIXED, CSP_BUF_DROPPING,
                                 CSP_BUF_SLIDING, CSP_BUF_PROMISE};
    int done = 0;
    void *v;

    for (int i = 0; i < 5; i++)
        TRY(csp_chan_new(
            &ch[i], test_rt, kinds[i],
            kinds[i] == CSP_BUF_NONE || kinds[i] == CSP_BUF_PROMISE ? 0 : 8,
            NULL, NULL));
    TRY(csp_xform_new(&xf, test_rt, NULL, inc_step, NULL, NULL, NULL, NULL));
    TRY(csp_xf_take(&xf2, test_rt, 3));
    {
        csp_xform *parts[2] = {xf, xf2};
        TRY(csp_xform_comp(&comp, parts, 2));
    }
    TRY(csp_chan_new_xf(&xch, test_rt, CSP_BUF_FIXED, 4, NULL, NULL, comp, NULL,
                        NULL));
    TRY(csp_chan_put_cb(ch[0], V(1), csp_exec_inline(), ignore_done, NULL,
                        &p1));
    TRY(csp_chan_take_cb(ch[4], &v, csp_exec_inline(), ignore_done, NULL, &p2));
    {
        csp_op ops[2] = {{ch[1], CSP_OP_TAKE, NULL},
                         {ch[0], CSP_OP_TAKE, NULL}};
        size_t idx;
        TRY(csp_alts_cb(ops, 1, 0, &idx, &v, csp_exec_inline(), ignore_alts,
                        NULL, &p3));
    }
    for (int i = 0; i < 12; i++)
        TRY(csp_chan_new(&wide[i], test_rt, CSP_BUF_NONE, 0, NULL, NULL));
    {
        csp_op ops[12];
        size_t idx;
        for (int i = 0; i < 12; i++)
            ops[i] = (csp_op){wide[i], CSP_OP_TAKE, NULL};
        TRY(csp_alts_blocking(ops, 12, 0, deadline_in(MSEC), &idx, &v));
    }
    TRY(csp_timeout(&t, test_rt, 60000));
    TRY(csp_go(test_rt, give_one, NULL, &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
    csp_chan_release(res);
    res = NULL;
    TRY(csp_thread(test_rt, give_one, NULL, &res));
    ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
    done = 1;
out:
    if (p1) {
        csp_pending_cancel(p1, &v);
        csp_pending_release(p1);
    }
    if (p2) {
        csp_pending_cancel(p2, &v);
        csp_pending_release(p2);
    }
    if (p3) {
        csp_pending_cancel(p3, &v);
        csp_pending_release(p3);
    }
    for (int i = 0; i < 5; i++)
        csp_chan_release(ch[i]);
    for (int i = 0; i < 12; i++)
        csp_chan_release(wide[i]);
    csp_chan_release(xch);
    csp_chan_release(t);
    csp_chan_release(res);
    csp_xform_release(xf);
    csp_xform_release(xf2);
    csp_xform_release(comp);
    return done;
}

TEST(fault_every_allocation_site_fails_cleanly_in_turn)
{
    long sites = 0;
    int done = 0;

    for (long n = 0; !done; n++) {
        long before = test_alloc_calls();
        long live = test_live_allocs();

        ASSERT_TRUE(n < 10000);
        test_fail_alloc_after(n);
        done = scenario();
        test_fail_alloc_after(-1);
        if (!done) {
            /* Runtime state made once (workers, timer, thread pool) may
             * stay; everything the scenario made must be gone. */
            ASSERT_TRUE(test_live_allocs() <= live + 64);
        }
        sites = test_alloc_calls() - before;
        /* Still usable: a channel round trip. */
        csp_chan *c = mkchan(CSP_BUF_FIXED, 1);
        void *v;
        ASSERT_OK(csp_chan_offer(c, V(9)));
        ASSERT_OK(csp_chan_poll(c, &v));
        csp_chan_release(c);
    }
    fprintf(stderr, "fault injection: %ld allocation sites in the scenario\n",
            sites);
    ASSERT_TRUE(sites > 20);
}

extern _Atomic long csp__fail_thread_create;

TEST(fault_every_thread_creation_fails_cleanly_in_turn)
{
    /* A fresh runtime starts its workers, the timer thread and a
     * csp_thread thread on first use; fail each creation in turn. */
    for (long k = 1; k <= 8; k++) {
        csp_rt *rt;
        csp_chan *res = NULL, *t = NULL;
        void *v;
        int rc1, rc2, rc3;

        ASSERT_OK(csp_rt_new(&rt, test_alloc, NULL));
        ASSERT_OK(csp_rt_set(rt, CSP_RT_THREADS, 2));
        atomic_store(&csp__fail_thread_create, k);
        rc1 = csp_go(rt, give_one, NULL, &res);
        rc2 = csp_timeout(&t, rt, 1);
        if (rc1 == CSP_OK) {
            ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
            csp_chan_release(res);
            res = NULL;
        }
        rc3 = csp_thread(rt, give_one, NULL, &res);
        atomic_store(&csp__fail_thread_create, 0);
        ASSERT_TRUE(rc1 == CSP_OK || rc1 == CSP_ENOMEM);
        ASSERT_TRUE(rc2 == CSP_OK || rc2 == CSP_ENOMEM);
        ASSERT_TRUE(rc3 == CSP_OK || rc3 == CSP_ENOMEM);
        if (rc3 == CSP_OK)
            ASSERT_OK(csp_chan_take_blocking(res, &v, deadline_in(8 * SEC)));
        csp_chan_release(res);
        csp_chan_release(t);
        ASSERT_OK(csp_rt_free(rt, 0));
    }
}
