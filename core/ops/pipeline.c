/* pipeline.c - pipeline, pipeline_blocking and pipeline_async: N workers
 * transform values in parallel, results leave in input order (core.async's
 * pipeline*). Written against csp.h only.
 *
 *   dispatcher   takes v from FROM, makes a result channel RES for it,
 *                puts the job (v, RES) on JOBS (capacity N) and RES on
 *                RESULTS (capacity N), in input order; closes both when
 *                FROM closes.
 *   N workers    take a job and fill its RES: a fresh transform instance
 *                per item (RES is made with XF) gets v, then RES closes;
 *                or AF(v, RES) is called and closes RES itself. Go
 *                processes, or csp_thread threads for _blocking.
 *   output       takes each RES from RESULTS in order and moves its values
 *                to TO; when TO refuses, it keeps draining (values
 *                dropped), so the workers never stall; closes TO at the
 *                end if CLOSE.
 *
 * The shared state and each job come from the runtime's allocator.
 */
#include "ops.h"

enum { KIND_XF, KIND_BLOCKING, KIND_ASYNC };

struct pl {
    atomic_int refs; /* dispatcher, output and each worker */
    int kind;
    csp_rt *rt;
    csp_chan *from, *to, *jobs, *results;
    csp_xform *xf;
    csp_exh_fn exh;
    void *exh_ud;
    csp_async_fn af;
    void *ud;
    int close;
};

struct job {
    void *val;
    csp_chan *res;
};

static void pl_unref(struct pl *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    csp_chan_release(p->from);
    csp_chan_release(p->to);
    csp_chan_release(p->jobs);
    csp_chan_release(p->results);
    csp_xform_release(p->xf);
    ops_free(p->rt, p, sizeof *p);
}

/* Values a result channel's transform drops go to FROM's drop hook. */
static void forward_drop(void *ud, void *val)
{
    csp_chan_discard(ud, val);
}

static void *dispatcher(void *arg)
{
    struct pl *p = arg;
    void *v;

    while (csp_chan_take(p->from, &v) == CSP_OK) {
        struct job *j = ops_alloc(p->rt, sizeof *j);
        int rc = j ? CSP_OK : CSP_ENOMEM;

        if (rc == CSP_OK)
            rc = p->xf ? csp_chan_new_xf(&j->res, p->rt, CSP_BUF_FIXED, 1,
                                         forward_drop, p->from, p->xf, p->exh,
                                         p->exh_ud)
                       : csp_chan_new(&j->res, p->rt, CSP_BUF_FIXED, 1,
                                      forward_drop, p->from);
        if (rc != CSP_OK) {
            ops_free(p->rt, j, sizeof *j);
            csp_chan_discard(p->from, v); /* no memory: this item is lost */
            continue;
        }
        j->val = v;
        csp_chan_retain(j->res);
        csp_chan_put(p->results, j->res); /* the order of the output */
        csp_chan_put(p->jobs, j);
    }
    csp_chan_close(p->jobs);
    csp_chan_close(p->results);
    pl_unref(p);
    return NULL;
}

static void run_job(struct pl *p, struct job *j)
{
    if (p->kind == KIND_ASYNC) {
        p->af(p->ud, j->val, j->res); /* AF closes RES */
    } else {
        /* A fresh buffer of one: the put never waits; the transform may
         * expand past it. */
        if (csp_chan_offer(j->res, j->val) != CSP_OK)
            csp_chan_discard(p->from, j->val);
        csp_chan_close(j->res);
    }
    csp_chan_release(j->res);
    ops_free(p->rt, j, sizeof *j);
}

static void *worker_go(void *arg)
{
    struct pl *p = arg;
    void *j;

    while (csp_chan_take(p->jobs, &j) == CSP_OK)
        run_job(p, j);
    pl_unref(p);
    return NULL;
}

static void *worker_thread(void *arg)
{
    struct pl *p = arg;
    void *j;

    while (csp_chan_take_blocking(p->jobs, &j, CSP_FOREVER) == CSP_OK)
        run_job(p, j);
    pl_unref(p);
    return NULL;
}

static void *output(void *arg)
{
    struct pl *p = arg;
    int open = 1;
    void *res, *v;

    while (csp_chan_take(p->results, &res) == CSP_OK) {
        while (csp_chan_take(res, &v) == CSP_OK) {
            if (open && csp_chan_put(p->to, v) == CSP_OK)
                continue;
            open = 0; /* TO closed: keep draining, as core.async */
            csp_chan_discard(p->from, v);
        }
        csp_chan_release(res);
    }
    if (p->close)
        csp_chan_close(p->to);
    pl_unref(p);
    return NULL;
}

static int start(struct pl *p, size_t n)
{
    int rc;

    rc = csp_chan_new(&p->jobs, p->rt, CSP_BUF_FIXED, n, NULL, NULL);
    if (rc == CSP_OK)
        rc = csp_chan_new(&p->results, p->rt, CSP_BUF_FIXED, n, NULL, NULL);
    if (rc != CSP_OK) {
        atomic_store(&p->refs, 1);
        pl_unref(p);
        return rc;
    }
    /* Workers first: if one cannot start, the jobs channel is closed and
     * the ones that did end at once. */
    atomic_store(&p->refs, 1); /* ours, until every process is started */
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&p->refs, 1);
        rc = p->kind == KIND_BLOCKING
                 ? csp_thread(p->rt, worker_thread, p, NULL)
                 : csp_go(p->rt, worker_go, p, NULL);
        if (rc != CSP_OK) {
            atomic_fetch_sub(&p->refs, 1);
            if (i > 0)
                break; /* fewer workers: still correct */
            csp_chan_close(p->jobs);
            pl_unref(p);
            return rc;
        }
    }
    atomic_fetch_add(&p->refs, 1);
    rc = csp_go(p->rt, output, p, NULL);
    if (rc != CSP_OK) {
        atomic_fetch_sub(&p->refs, 1);
        csp_chan_close(p->jobs);
        pl_unref(p);
        return rc;
    }
    atomic_fetch_add(&p->refs, 1);
    rc = csp_go(p->rt, dispatcher, p, NULL);
    if (rc != CSP_OK) {
        atomic_fetch_sub(&p->refs, 1);
        csp_chan_close(p->jobs);
        csp_chan_close(p->results);
    }
    pl_unref(p);
    return rc;
}

static struct pl *pl_new(csp_rt *rt, csp_chan *to, csp_chan *from, int close)
{
    struct pl *p = ops_zalloc(rt, sizeof *p);

    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    p->rt = rt;
    p->to = csp_chan_retain(to);
    p->from = csp_chan_retain(from);
    p->close = close;
    return p;
}

static int xf_pipeline(int kind, csp_rt *rt, size_t n, csp_chan *to,
                       csp_xform *xf, csp_chan *from, int close, csp_exh_fn exh,
                       void *exh_ud)
{
    struct pl *p;

    if (!rt || n == 0 || n > CSP_PENDING_MAX || !to || !xf || !from)
        return CSP_EINVAL;
    p = pl_new(rt, to, from, close);
    if (!p)
        return CSP_ENOMEM;
    p->kind = kind;
    p->xf = csp_xform_retain(xf);
    p->exh = exh;
    p->exh_ud = exh_ud;
    return start(p, n);
}

int csp_pipeline(csp_rt *rt, size_t n, csp_chan *to, csp_xform *xf,
                 csp_chan *from, int close, csp_exh_fn exh, void *exh_ud)
{
    return xf_pipeline(KIND_XF, rt, n, to, xf, from, close, exh, exh_ud);
}

int csp_pipeline_blocking(csp_rt *rt, size_t n, csp_chan *to, csp_xform *xf,
                          csp_chan *from, int close, csp_exh_fn exh,
                          void *exh_ud)
{
    return xf_pipeline(KIND_BLOCKING, rt, n, to, xf, from, close, exh, exh_ud);
}

int csp_pipeline_async(csp_rt *rt, size_t n, csp_chan *to, csp_async_fn af,
                       void *ud, csp_chan *from, int close)
{
    struct pl *p;

    if (!rt || n == 0 || n > CSP_PENDING_MAX || !to || !af || !from)
        return CSP_EINVAL;
    p = pl_new(rt, to, from, close);
    if (!p)
        return CSP_ENOMEM;
    p->kind = KIND_ASYNC;
    p->af = af;
    p->ud = ud;
    return start(p, n);
}
