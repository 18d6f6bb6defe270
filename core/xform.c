/* xform.c - transform recipes and their per-channel instances.
 *
 * A recipe (csp_xform) is immutable after creation and refcounted; a
 * composite copies the stages of its parts and retains the leaf recipe
 * each stage came from, so the leaf's data outlives every user. An
 * instance (struct csp__xinst) holds one state per stage and runs under
 * its channel's lock: stage i's output goes to stage i+1's step, the last
 * stage's into the channel's buffer (csp__chan_sink).
 *
 * Completion runs stage 0's complete first, which may emit into stage 1,
 * then stage 1's, and so on: core.async's comp completion order. chan.c
 * calls it exactly once (the flushed flag).
 */
#include "internal.h"

static size_t recipe_size(size_t nstages)
{
    return sizeof(struct csp_xform) + nstages * sizeof(struct csp__xstage);
}

int csp_xform_new(csp_xform **out, csp_rt *rt, csp_xf_init_fn init,
                  csp_xf_step_fn step, csp_xf_complete_fn complete,
                  csp_xf_fini_fn fini, void *ud, csp_xf_free_fn ud_free)
{
    csp_xform *xf;

    if (!out || !rt || !step)
        return CSP_EINVAL;
    xf = csp__calloc(rt, recipe_size(1));
    if (!xf)
        return CSP_ENOMEM;
    atomic_init(&xf->refs, 1);
    xf->rt = rt;
    xf->nstages = 1;
    xf->stages[0].init = init;
    xf->stages[0].step = step;
    xf->stages[0].complete = complete;
    xf->stages[0].fini = fini;
    xf->stages[0].ud = ud;
    xf->stages[0].ud_free = ud_free;
    xf->stages[0].owner = NULL; /* a leaf owns its data */
    *out = xf;
    return CSP_OK;
}

int csp_xform_comp(csp_xform **out, csp_xform *const *xfs, size_t n)
{
    csp_xform *xf;
    size_t total = 0, k = 0;
    csp_rt *rt;

    if (!out || !xfs || n == 0)
        return CSP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!xfs[i])
            return CSP_EINVAL;
        total += xfs[i]->nstages;
    }
    rt = xfs[0]->rt;
    xf = csp__calloc(rt, recipe_size(total));
    if (!xf)
        return CSP_ENOMEM;
    atomic_init(&xf->refs, 1);
    xf->rt = rt;
    xf->nstages = total;
    for (size_t i = 0; i < n; i++) {
        for (size_t s = 0; s < xfs[i]->nstages; s++) {
            struct csp__xstage *st = &xf->stages[k++];
            *st = xfs[i]->stages[s];
            if (!st->owner)
                st->owner = xfs[i];
            csp_xform_retain(st->owner);
        }
    }
    *out = xf;
    return CSP_OK;
}

csp_xform *csp_xform_retain(csp_xform *xf)
{
    if (xf)
        atomic_fetch_add_explicit(&xf->refs, 1, memory_order_relaxed);
    return xf;
}

void csp_xform_release(csp_xform *xf)
{
    if (!xf)
        return;
    if (atomic_fetch_sub_explicit(&xf->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t s = 0; s < xf->nstages; s++) {
        struct csp__xstage *st = &xf->stages[s];
        if (st->owner)
            csp_xform_release(st->owner);
        else if (st->ud_free)
            st->ud_free(st->ud);
    }
    csp__free(xf->rt, xf, recipe_size(xf->nstages));
}

static size_t inst_size(size_t nstages)
{
    return sizeof(struct csp__xinst) + nstages * sizeof(void *);
}

int csp__xinst_new(struct csp__xinst **out, csp_rt *rt, csp_xform *xf,
                   csp_chan *ch)
{
    size_t n = xf->nstages;
    struct csp__xinst *xi = csp__calloc(rt, inst_size(n));
    int rc = CSP_OK;
    size_t s;

    if (!xi)
        return CSP_ENOMEM;
    xi->nstages = n;
    xi->ch = ch;
    if (n <= 8) {
        xi->emitp = xi->emits;
    } else {
        xi->emitp = csp__alloc(rt, n * sizeof *xi->emitp);
        if (!xi->emitp) {
            csp__free(rt, xi, inst_size(n));
            return CSP_ENOMEM;
        }
    }
    for (s = 0; s < n; s++) {
        xi->emitp[s].inst = xi;
        xi->emitp[s].stage = s;
    }
    for (s = 0; s < n; s++) {
        const struct csp__xstage *st = &xf->stages[s];
        xi->states[s] = NULL;
        if (st->init) {
            rc = st->init(st->ud, &xi->states[s]);
            if (rc != CSP_OK)
                break;
        }
    }
    if (rc != CSP_OK) {
        struct csp__drops dl;
        dl.n = 0;
        xi->dl = &dl;
        while (s-- > 0)
            if (xf->stages[s].fini)
                xf->stages[s].fini(xi->states[s], &xi->emitp[s]);
        csp__run_drops(&dl);
        if (xi->emitp != xi->emits)
            csp__free(rt, xi->emitp, n * sizeof *xi->emitp);
        csp__free(rt, xi, inst_size(n));
        return rc < 0 ? rc : CSP_EINVAL;
    }
    xi->xf = csp_xform_retain(xf);
    *out = xi;
    return CSP_OK;
}

void csp__xinst_free(csp_rt *rt, struct csp__xinst *xi)
{
    struct csp__drops dl;
    size_t n = xi->nstages;

    dl.n = 0;
    xi->dl = &dl;
    for (size_t s = 0; s < n; s++)
        if (xi->xf->stages[s].fini)
            xi->xf->stages[s].fini(xi->states[s], &xi->emitp[s]);
    csp__run_drops(&dl);
    csp_xform_release(xi->xf);
    if (xi->emitp != xi->emits)
        csp__free(rt, xi->emitp, n * sizeof *xi->emitp);
    csp__free(rt, xi, inst_size(n));
}

static void set_in_xform(int on)
{
#ifdef CSP_DEBUG
    csp__tls()->in_xform = on;
#else
    (void)on;
#endif
}

int csp__xinst_step(struct csp__xinst *xi, void *val, struct csp__drops *dl)
{
    int r;

    xi->dl = dl;
    set_in_xform(1);
    r = xi->xf->stages[0].step(xi->states[0], val, &xi->emitp[0]);
    set_in_xform(0);
    if (r == CSP_REDUCED)
        xi->reduced = 1;
    return r;
}

int csp__xinst_complete(struct csp__xinst *xi, struct csp__drops *dl)
{
    int first_err = CSP_OK;

    xi->dl = dl;
    set_in_xform(1);
    for (size_t s = 0; s < xi->nstages; s++) {
        const struct csp__xstage *st = &xi->xf->stages[s];
        if (st->complete) {
            int r = st->complete(xi->states[s], &xi->emitp[s]);
            if (r < 0 && first_err == CSP_OK)
                first_err = r;
        }
    }
    set_in_xform(0);
    return first_err;
}

int csp_emit_value(csp_emit *out, void *val)
{
    struct csp__xinst *xi;
    size_t next;

    if (!out || !val)
        return CSP_EINVAL;
    xi = out->inst;
    next = out->stage + 1;
    if (next < xi->nstages) {
        const struct csp__xstage *st = &xi->xf->stages[next];
        return st->step(xi->states[next], val, &xi->emitp[next]);
    }
    csp__chan_sink(xi->ch, val, xi->dl);
    return CSP_OK;
}

void csp_emit_drop(csp_emit *out, void *val)
{
    if (out && val)
        csp__chan_discard(out->inst->ch, val, out->inst->dl);
}
