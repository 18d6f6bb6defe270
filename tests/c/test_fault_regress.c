/* test_fault_regress.c - regression tests for the bugs the reliability
 * suites found (fuzz/fuzz_chan.c, test_stress.c, test_fault.c), one named
 * test per bug. A fuzz find also keeps its input in fuzz/corpus/chan as
 * regress-<name>, which ctest replays.
 */
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

/* Fill CH's SIDE to N pending callback ops; handles go to P. */
static void fill(csp_chan *ch, int is_put, long n, csp_pending **p)
{
    void *v;

    for (long i = 0; i < n; i++) {
        if (is_put)
            ASSERT_RC(CSP_PENDING,
                      csp_chan_put_cb(ch, V(i + 1), csp_exec_inline(),
                                      ignore_done, NULL, &p[i]));
        else
            ASSERT_RC(CSP_PENDING, csp_chan_take_cb(ch, &v, csp_exec_inline(),
                                                    ignore_done, NULL, &p[i]));
    }
}

static void unfill(csp_pending **p, long n)
{
    for (long i = 0; i < n; i++) {
        ASSERT_OK(csp_pending_cancel(p[i], NULL));
        csp_pending_release(p[i]);
    }
}

/* fuzz_chan: an alts checked each case against the limit on its own, so
 * two takes on a channel with 1023 pending both fit and 1025 were queued. */
TEST(alts_two_takes_on_channel_with_1023_pending_reports_ebusy)
{
    static csp_pending *p[CSP_PENDING_MAX];
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {{ch, CSP_OP_TAKE, NULL}, {ch, CSP_OP_TAKE, NULL}};
    csp_pending *ap = NULL;
    size_t idx = 7;
    void *v = V(7);

    fill(ch, 0, CSP_PENDING_MAX - 1, p);
    ASSERT_RC(CSP_EBUSY, csp_alts_cb(ops, 2, 0, &idx, &v, csp_exec_inline(),
                                     ignore_alts, NULL, &ap));
    ASSERT_NULL(ap);
    ASSERT_EQ(7, idx);
    ASSERT_EQ(CSP_PENDING_MAX - 1, pending_takes(ch));
    /* One take still fits. */
    ASSERT_RC(CSP_PENDING, csp_alts_cb(ops, 1, 0, &idx, &v, csp_exec_inline(),
                                       ignore_alts, NULL, &ap));
    ASSERT_EQ(CSP_PENDING_MAX, pending_takes(ch));
    ASSERT_OK(csp_pending_cancel(ap, NULL));
    csp_pending_release(ap);
    unfill(p, CSP_PENDING_MAX - 1);
    csp_chan_release(ch);
}

TEST(alts_two_puts_on_channel_with_1023_pending_reports_ebusy)
{
    static csp_pending *p[CSP_PENDING_MAX];
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0), *other = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[3] = {{ch, CSP_OP_PUT, V(1)},
                     {other, CSP_OP_TAKE, NULL},
                     {ch, CSP_OP_PUT, V(2)}};
    csp_pending *ap = NULL;
    size_t idx;
    void *v;

    fill(ch, 1, CSP_PENDING_MAX - 1, p);
    ASSERT_RC(CSP_EBUSY, csp_alts_cb(ops, 3, 0, &idx, &v, csp_exec_inline(),
                                     ignore_alts, NULL, &ap));
    ASSERT_NULL(ap);
    ASSERT_EQ(CSP_PENDING_MAX - 1, pending_puts(ch));
    ASSERT_EQ(0, pending_takes(other));
    unfill(p, CSP_PENDING_MAX - 1);
    csp_chan_release(other);
    csp_chan_release(ch);
}

TEST(alts_blocking_two_takes_on_channel_with_1023_pending_reports_ebusy)
{
    static csp_pending *p[CSP_PENDING_MAX];
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    csp_op ops[2] = {{ch, CSP_OP_TAKE, NULL}, {ch, CSP_OP_TAKE, NULL}};
    size_t idx;
    void *v;

    fill(ch, 0, CSP_PENDING_MAX - 1, p);
    ASSERT_RC(CSP_EBUSY, csp_alts_blocking(ops, 2, 0, CSP_FOREVER, &idx, &v));
    ASSERT_EQ(CSP_PENDING_MAX - 1, pending_takes(ch));
    unfill(p, CSP_PENDING_MAX - 1);
    csp_chan_release(ch);
}
