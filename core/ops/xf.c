/* xf.c - core.async's transducers as csp transforms: map, filter, remove,
 * mapcat, keep, take, take_while, drop, drop_while, partition_all,
 * partition_by, dedupe, distinct. Written against csp.h only.
 *
 * A recipe's data (struct spec: the user function, its UD, a count) is
 * immutable and shared by every instance; per-channel state (counts left,
 * a partition being filled, the keys seen) comes from INIT and goes in
 * FINI, which hands back any value still held. Both come from the
 * allocator of the runtime the recipe was made on, and so does what a
 * step grows (a partition's array, distinct's key set). Steps run under
 * the channel's lock, so those two call the allocator there, which the
 * core's own code never does (STYLE §5).
 */
#include "ops.h"

struct spec {
    csp_rt *rt;      /* whose allocator serves the spec and its instances */
    void (*f)(void); /* the user function (one of the csp_*_fn types) */
    csp_pack_fn pack;
    void *ud;
    uint64_t n;
};

static void spec_free(void *ud)
{
    struct spec *s = ud;

    ops_free(s->rt, s, sizeof *s);
}

static int make(csp_xform **out, csp_rt *rt, csp_xf_init_fn init,
                csp_xf_step_fn step, csp_xf_complete_fn complete,
                csp_xf_fini_fn fini, void (*f)(void), csp_pack_fn pack,
                void *ud, uint64_t n)
{
    struct spec *s;
    int rc;

    if (!out || !rt)
        return CSP_EINVAL;
    s = ops_alloc(rt, sizeof *s);
    if (!s)
        return CSP_ENOMEM;
    s->rt = rt;
    s->f = f;
    s->pack = pack;
    s->ud = ud;
    s->n = n;
    rc = csp_xform_new(out, rt, init, step, complete, fini, s, spec_free);
    if (rc != CSP_OK)
        spec_free(s);
    return rc;
}

/* ------------------------------------------------------------------------
 * Stateless: the state pointer is the spec itself. */

static int spec_init(void *ud, void **state)
{
    *state = ud;
    return CSP_OK;
}

static int map_step(void *state, void *val, csp_emit *out)
{
    struct spec *s = state;
    void *v = ((csp_fn)s->f)(s->ud, val);

    return v ? csp_emit_value(out, v) : CSP_EINVAL;
}

static int filter_step(void *state, void *val, csp_emit *out)
{
    struct spec *s = state;

    if (((csp_pred_fn)s->f)(s->ud, val))
        return csp_emit_value(out, val);
    csp_emit_drop(out, val);
    return CSP_OK;
}

static int remove_step(void *state, void *val, csp_emit *out)
{
    struct spec *s = state;

    if (!((csp_pred_fn)s->f)(s->ud, val))
        return csp_emit_value(out, val);
    csp_emit_drop(out, val);
    return CSP_OK;
}

static int mapcat_step(void *state, void *val, csp_emit *out)
{
    struct spec *s = state;

    return ((csp_expand_fn)s->f)(s->ud, val, out);
}

static int keep_step(void *state, void *val, csp_emit *out)
{
    struct spec *s = state;
    void *v = ((csp_fn)s->f)(s->ud, val);

    if (!v) {
        csp_emit_drop(out, val);
        return CSP_OK;
    }
    if (v != val)
        csp_emit_drop(out, val);
    return csp_emit_value(out, v);
}

int csp_xf_map(csp_xform **out, csp_rt *rt, csp_fn f, void *ud)
{
    if (!f)
        return CSP_EINVAL;
    return make(out, rt, spec_init, map_step, NULL, NULL, (void (*)(void))f,
                NULL, ud, 0);
}

int csp_xf_filter(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud)
{
    if (!p)
        return CSP_EINVAL;
    return make(out, rt, spec_init, filter_step, NULL, NULL, (void (*)(void))p,
                NULL, ud, 0);
}

int csp_xf_remove(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud)
{
    if (!p)
        return CSP_EINVAL;
    return make(out, rt, spec_init, remove_step, NULL, NULL, (void (*)(void))p,
                NULL, ud, 0);
}

int csp_xf_mapcat(csp_xform **out, csp_rt *rt, csp_expand_fn f, void *ud)
{
    if (!f)
        return CSP_EINVAL;
    return make(out, rt, spec_init, mapcat_step, NULL, NULL, (void (*)(void))f,
                NULL, ud, 0);
}

int csp_xf_keep(csp_xform **out, csp_rt *rt, csp_fn f, void *ud)
{
    if (!f)
        return CSP_EINVAL;
    return make(out, rt, spec_init, keep_step, NULL, NULL, (void (*)(void))f,
                NULL, ud, 0);
}

/* ------------------------------------------------------------------------
 * Counters and flags: take, drop, take_while, drop_while. */

struct count {
    const struct spec *s;
    uint64_t n; /* values left to take or to drop */
    int done;   /* drop_while: the predicate failed once */
};

static int count_init(void *ud, void **state)
{
    const struct spec *s = ud;
    struct count *c = ops_alloc(s->rt, sizeof *c);

    if (!c)
        return CSP_ENOMEM;
    c->s = s;
    c->n = c->s->n;
    c->done = 0;
    *state = c;
    return CSP_OK;
}

static void count_fini(void *state, csp_emit *out)
{
    struct count *c = state;

    (void)out;
    ops_free(c->s->rt, c, sizeof *c);
}

static int take_step(void *state, void *val, csp_emit *out)
{
    struct count *c = state;
    int r;

    if (c->n == 0) {
        csp_emit_drop(out, val);
        return CSP_REDUCED;
    }
    r = csp_emit_value(out, val);
    if (r != CSP_OK)
        return r;
    return --c->n == 0 ? CSP_REDUCED : CSP_OK;
}

static int drop_step(void *state, void *val, csp_emit *out)
{
    struct count *c = state;

    if (c->n > 0) {
        c->n--;
        csp_emit_drop(out, val);
        return CSP_OK;
    }
    return csp_emit_value(out, val);
}

static int take_while_step(void *state, void *val, csp_emit *out)
{
    const struct spec *s = ((struct count *)state)->s;

    if (((csp_pred_fn)s->f)(s->ud, val))
        return csp_emit_value(out, val);
    csp_emit_drop(out, val);
    return CSP_REDUCED;
}

static int drop_while_step(void *state, void *val, csp_emit *out)
{
    struct count *c = state;

    if (!c->done && ((csp_pred_fn)c->s->f)(c->s->ud, val)) {
        csp_emit_drop(out, val);
        return CSP_OK;
    }
    c->done = 1;
    return csp_emit_value(out, val);
}

int csp_xf_take(csp_xform **out, csp_rt *rt, uint64_t n)
{
    return make(out, rt, count_init, take_step, NULL, count_fini, NULL, NULL,
                NULL, n);
}

int csp_xf_drop(csp_xform **out, csp_rt *rt, uint64_t n)
{
    return make(out, rt, count_init, drop_step, NULL, count_fini, NULL, NULL,
                NULL, n);
}

int csp_xf_take_while(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud)
{
    if (!p)
        return CSP_EINVAL;
    return make(out, rt, count_init, take_while_step, NULL, count_fini,
                (void (*)(void))p, NULL, ud, 0);
}

int csp_xf_drop_while(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud)
{
    if (!p)
        return CSP_EINVAL;
    return make(out, rt, count_init, drop_while_step, NULL, count_fini,
                (void (*)(void))p, NULL, ud, 0);
}

/* ------------------------------------------------------------------------
 * Partitions: a growing array of held values, packed when complete. */

struct part {
    const struct spec *s;
    void **vals;
    size_t n, cap;
    uint64_t key; /* partition_by: the key of vals[0..n) */
};

static int part_init(void *ud, void **state)
{
    const struct spec *s = ud;
    struct part *p = ops_zalloc(s->rt, sizeof *p);

    if (!p)
        return CSP_ENOMEM;
    p->s = s;
    *state = p;
    return CSP_OK;
}

static void part_fini(void *state, csp_emit *out)
{
    struct part *p = state;

    for (size_t i = 0; i < p->n; i++)
        csp_emit_drop(out, p->vals[i]);
    ops_free(p->s->rt, p->vals, p->cap * sizeof *p->vals);
    ops_free(p->s->rt, p, sizeof *p);
}

static int part_add(struct part *p, void *val)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        void **v = ops_realloc_array(p->s->rt, p->vals, p->cap, cap, sizeof *v);
        if (!v)
            return CSP_ENOMEM;
        p->vals = v;
        p->cap = cap;
    }
    p->vals[p->n++] = val;
    return CSP_OK;
}

/* Pack and emit the held values; an empty partition emits nothing. */
static int part_flush(struct part *p, csp_emit *out)
{
    void *v;
    size_t n = p->n;

    if (n == 0)
        return CSP_OK;
    v = p->s->pack(p->s->ud, p->vals, n);
    p->n = 0;
    if (!v)
        return CSP_EINVAL; /* PACK owned the values and failed */
    return csp_emit_value(out, v);
}

static int part_complete(void *state, csp_emit *out)
{
    return part_flush(state, out);
}

static int partition_all_step(void *state, void *val, csp_emit *out)
{
    struct part *p = state;

    if (part_add(p, val) != CSP_OK) {
        csp_emit_drop(out, val);
        return CSP_ENOMEM;
    }
    return p->n == p->s->n ? part_flush(p, out) : CSP_OK;
}

static uint64_t key_of(const struct spec *s, void *val)
{
    return s->f ? ((csp_key_fn)s->f)(s->ud, val) : (uint64_t)(uintptr_t)val;
}

static int partition_by_step(void *state, void *val, csp_emit *out)
{
    struct part *p = state;
    uint64_t k = key_of(p->s, val);
    int r = CSP_OK;

    if (p->n > 0 && k != p->key) {
        r = part_flush(p, out);
        if (r != CSP_OK) {
            csp_emit_drop(out, val);
            return r;
        }
    }
    p->key = k;
    if (part_add(p, val) != CSP_OK) {
        csp_emit_drop(out, val);
        return CSP_ENOMEM;
    }
    return CSP_OK;
}

int csp_xf_partition_all(csp_xform **out, csp_rt *rt, size_t n,
                         csp_pack_fn pack, void *ud)
{
    if (n == 0 || !pack)
        return CSP_EINVAL;
    return make(out, rt, part_init, partition_all_step, part_complete,
                part_fini, NULL, pack, ud, n);
}

int csp_xf_partition_by(csp_xform **out, csp_rt *rt, csp_key_fn key,
                        csp_pack_fn pack, void *ud)
{
    if (!pack)
        return CSP_EINVAL;
    return make(out, rt, part_init, partition_by_step, part_complete, part_fini,
                (void (*)(void))key, pack, ud, 0);
}

/* ------------------------------------------------------------------------
 * dedupe (the last key) and distinct (a set of keys: open addressing). */

struct seen {
    const struct spec *s;
    uint64_t last;
    int have_last;
    uint64_t *keys; /* slots; 0 is free, key 0 tracked apart */
    size_t n, size;
    int have_zero;
};

static int seen_init(void *ud, void **state)
{
    const struct spec *sp = ud;
    struct seen *s = ops_zalloc(sp->rt, sizeof *s);

    if (!s)
        return CSP_ENOMEM;
    s->s = sp;
    *state = s;
    return CSP_OK;
}

static void seen_fini(void *state, csp_emit *out)
{
    struct seen *s = state;

    (void)out;
    ops_free(s->s->rt, s->keys, s->size * sizeof *s->keys);
    ops_free(s->s->rt, s, sizeof *s);
}

static int dedupe_step(void *state, void *val, csp_emit *out)
{
    struct seen *s = state;
    uint64_t k = key_of(s->s, val);

    if (s->have_last && k == s->last) {
        csp_emit_drop(out, val);
        return CSP_OK;
    }
    s->last = k;
    s->have_last = 1;
    return csp_emit_value(out, val);
}

static size_t slot_of(uint64_t k, size_t size)
{
    k *= 0x9e3779b97f4a7c15u;
    return (size_t)(k >> 20) & (size - 1);
}

/* 1 if K was new (now added), 0 if seen, CSP_ENOMEM. */
static int seen_add(struct seen *s, uint64_t k)
{
    size_t i;

    if (k == 0) {
        int was = s->have_zero;
        s->have_zero = 1;
        return !was;
    }
    if (2 * (s->n + 1) > s->size) {
        size_t size = s->size ? 2 * s->size : 16;
        uint64_t *keys = size > SIZE_MAX / sizeof *keys
                             ? NULL
                             : ops_zalloc(s->s->rt, size * sizeof *keys);
        if (!keys)
            return CSP_ENOMEM;
        for (size_t j = 0; j < s->size; j++) {
            if (!s->keys[j])
                continue;
            i = slot_of(s->keys[j], size);
            while (keys[i])
                i = (i + 1) & (size - 1);
            keys[i] = s->keys[j];
        }
        ops_free(s->s->rt, s->keys, s->size * sizeof *s->keys);
        s->keys = keys;
        s->size = size;
    }
    for (i = slot_of(k, s->size); s->keys[i]; i = (i + 1) & (s->size - 1))
        if (s->keys[i] == k)
            return 0;
    s->keys[i] = k;
    s->n++;
    return 1;
}

static int distinct_step(void *state, void *val, csp_emit *out)
{
    struct seen *s = state;
    int r = seen_add(s, key_of(s->s, val));

    if (r < 0) {
        csp_emit_drop(out, val);
        return r;
    }
    if (r == 0) {
        csp_emit_drop(out, val);
        return CSP_OK;
    }
    return csp_emit_value(out, val);
}

int csp_xf_dedupe(csp_xform **out, csp_rt *rt, csp_key_fn key, void *ud)
{
    return make(out, rt, seen_init, dedupe_step, NULL, seen_fini,
                (void (*)(void))key, NULL, ud, 0);
}

int csp_xf_distinct(csp_xform **out, csp_rt *rt, csp_key_fn key, void *ud)
{
    return make(out, rt, seen_init, distinct_step, NULL, seen_fini,
                (void (*)(void))key, NULL, ud, 0);
}
