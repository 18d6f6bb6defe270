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

/* ------------------------------------------------------------------------
 * Combinators set their out-params to NULL when starting their process
 * failed, where csp.h promises them untouched on error (test_fault.c's
 * merge sweep found it). Each sweep fails allocation 0, 1, ... until the
 * call succeeds, checking the out-params after every CSP_ENOMEM. */

static char sentinel_obj;
#define SENT ((csp_chan *)(void *)&sentinel_obj)

static void *first_of(void *ud, void **vals, size_t n)
{
    (void)ud;
    (void)n;
    return vals[0];
}

static void *add(void *ud, void *acc, void *val, int *stop)
{
    (void)ud;
    (void)stop;
    return V(U(acc) + U(val));
}

static int keep_odd(void *ud, void *val)
{
    (void)ud;
    return (int)(U(val) & 1);
}

enum { MERGE, SPLIT, MAP, TAKE, INTO, REDUCE, ONTO };

/* Run combinator WHICH on SRC (closed, empty) with allocation N failing;
 * returns its result code, the out-params in OUT[0..1]. */
static int start_one(int which, csp_chan *src, long n, csp_chan **out)
{
    void *vals[1] = {V(1)};
    int rc;

    out[0] = out[1] = SENT;
    test_fail_alloc_after(n);
    switch (which) {
    case MERGE:
        rc = csp_merge(&out[0], test_rt, &src, 1, CSP_BUF_FIXED, 1);
        break;
    case SPLIT:
        rc = csp_split(&out[0], &out[1], test_rt, src, keep_odd, NULL,
                       CSP_BUF_FIXED, 1, CSP_BUF_FIXED, 1);
        break;
    case MAP:
        rc = csp_map(&out[0], test_rt, first_of, NULL, &src, 1, CSP_BUF_FIXED,
                     1);
        break;
    case TAKE:
        rc = csp_take_n(&out[0], test_rt, 1, src, CSP_BUF_FIXED, 1);
        break;
    case INTO:
        rc = csp_into(&out[0], test_rt, src, first_of, NULL);
        break;
    case REDUCE:
        rc = csp_reduce(&out[0], test_rt, src, add, V(1), NULL);
        break;
    default:
        rc = csp_onto_chan(test_rt, src, vals, 0, 0, &out[0]);
        break;
    }
    test_fail_alloc_after(-1);
    return rc;
}

static void out_params_untouched_on_enomem(int which)
{
    csp_chan *src = mkchan(CSP_BUF_FIXED, 1), *out[2];
    long n;
    int rc;

    ASSERT_OK(csp_chan_close(src));
    for (n = 0; (rc = start_one(which, src, n, out)) == CSP_ENOMEM; n++) {
        ASSERT_TRUE(n < 100);
        ASSERT_PTR_EQ(SENT, out[0]);
        ASSERT_PTR_EQ(SENT, out[1]);
    }
    ASSERT_OK(rc);
    ASSERT_TRUE(n > 0);
    for (int i = 0; i < 2; i++) {
        void *v;
        if (out[i] == SENT)
            continue;
        while (csp_chan_take_blocking(out[i], &v,
                                      deadline_in(8 * SEC * test_slowdown())) ==
               CSP_OK)
            ;
        csp_chan_release(out[i]);
    }
    csp_chan_release(src);
}

TEST(merge_on_enomem_leaves_out_untouched)
{
    out_params_untouched_on_enomem(MERGE);
}

TEST(split_on_enomem_leaves_both_outs_untouched)
{
    out_params_untouched_on_enomem(SPLIT);
}

TEST(map_on_enomem_leaves_out_untouched)
{
    out_params_untouched_on_enomem(MAP);
}

TEST(take_on_enomem_leaves_out_untouched)
{
    out_params_untouched_on_enomem(TAKE);
}

TEST(into_on_enomem_leaves_result_untouched)
{
    out_params_untouched_on_enomem(INTO);
}

TEST(reduce_on_enomem_leaves_result_untouched)
{
    out_params_untouched_on_enomem(REDUCE);
}

TEST(onto_chan_on_enomem_leaves_done_untouched)
{
    out_params_untouched_on_enomem(ONTO);
}

/* ------------------------------------------------------------------------
 * test_stress under TSan: csp_alts_cb read the caller's ops array after
 * unlocking the last channel (unlock_all compared each case's channel
 * with the previous one, so with two cases on one channel it read the
 * second after the first was unlocked). By then a thread could complete
 * the alts and its callback, on a worker, could reuse the array - and a
 * changed channel pointer made unlock_all unlock a mutex it did not hold.
 * The callback here rewrites the array at once, as a chain of alts does. */

struct reuse {
    csp_op ops[2];
    csp_chan *other;
    _Atomic long done;
};

static void reuse_done(void *ud, int rc, size_t idx, void *val)
{
    struct reuse *r = ud;

    (void)idx;
    ASSERT_OK(rc);
    ASSERT_EQ(1, U(val));
    r->ops[0].ch = r->ops[1].ch = r->other; /* the caller's array, reused */
    atomic_fetch_add(&r->done, 1);
}

static void *reuse_putter(void *arg)
{
    csp_chan *ch = arg;

    while (csp_chan_put_blocking(ch, V(1), CSP_FOREVER) == CSP_OK)
        ;
    return NULL;
}

TEST(alts_cb_callback_may_reuse_the_ops_array_at_once)
{
    struct reuse r = {0};
    csp_chan *ch = mkchan(CSP_BUF_NONE, 0);
    pthread_t t;
    long n = test_scaled(20000);
    int64_t end = deadline_in(8 * SEC * test_slowdown());

    r.other = mkchan(CSP_BUF_NONE, 0);
    t = spawn(reuse_putter, ch);
    for (long i = 0; i < n; i++) {
        size_t idx;
        void *v;
        int rc;
        r.ops[0] = r.ops[1] = (csp_op){ch, CSP_OP_TAKE, NULL};
        rc = csp_alts_cb(r.ops, 2, 0, &idx, &v, NULL, reuse_done, &r, NULL);
        if (rc == CSP_OK) {
            ASSERT_EQ(1, U(v));
            atomic_fetch_add(&r.done, 1);
        } else {
            ASSERT_RC(CSP_PENDING, rc);
        }
        while (atomic_load(&r.done) <= i) {
            ASSERT_TRUE(csp_now_ns() < end);
            sched_yield();
        }
    }
    ASSERT_OK(csp_chan_close(ch));
    {
        void *v;
        while (csp_chan_poll(ch, &v) == CSP_OK) /* a put queued at close */
            ;
    }
    join_thread(t);
    /* Both channels' locks are free and consistent. */
    ASSERT_RC(CSP_EAGAIN, csp_chan_offer(r.other, V(2)));
    csp_chan_release(r.other);
    csp_chan_release(ch);
}
