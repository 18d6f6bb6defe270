/* mix.c - many inputs into one output, with mute, pause and solo, as
 * core.async's mix. Written against csp.h only.
 *
 * One go process alts over a change channel and the inputs it reads
 * (core.async's calc-state): with solo inputs and solo mode pause, only
 * the solos; otherwise every input not paused. A value from a solo input,
 * or, with no solos, from an input not muted, goes to the output; any
 * other value read is dropped. An input that closes leaves the mix. The
 * mix never closes its output; it ends when the output refuses a put or
 * when the handle is released. The change channel has priority over the
 * inputs (which are shuffled for fairness): a change made before a value
 * arrives takes effect before that value is read. Admix, unmix, toggle and
 * solo_mode change the state under a mutex and poke the change channel
 * (sliding, 1).
 *
 * Once the output is closed the mix is over: admix and toggle return
 * CSP_ECLOSED and add or change nothing (the mix never closes an input:
 * it is the caller's), and they set m->stop, so the process ends at that
 * change instead of reading one more value only to drop it. The process
 * also ends at any change that finds the output closed.
 */
#include "ops.h"

struct input {
    struct input *next;
    csp_chan *ch;
    unsigned flags;
};

/* The inputs to read now and, per op, whether its values are heard. */
struct state {
    csp_op *ops; /* ops[0] is the change channel */
    unsigned char *heard;
    size_t n, cap;  /* entries used, and usable (both arrays have room) */
    size_t ops_cap; /* ops's size, for the allocator (>= cap) */
};

/* An ops_handle (ops.h): h.ch is the output, h.own the change channel. */
struct csp_mix {
    struct ops_handle h;
    struct input *inputs; /* h.lock */
    size_t n;             /* h.lock */
    unsigned solo_mode;   /* h.lock */
    int stop;             /* h.lock */
    struct state st;      /* the process's; made with room for the change
                             channel, freed with the mix */
};

static void input_free(csp_mix *m, struct input *i)
{
    csp_chan_release(i->ch);
    ops_free(m->h.rt, i, sizeof *i);
}

static void mix_unref(csp_mix *m)
{
    if (!ops_handle_unref(&m->h))
        return;
    while (m->inputs) {
        struct input *i = m->inputs;
        m->inputs = i->next;
        input_free(m, i);
    }
    ops_free(m->h.rt, m->st.ops, m->st.ops_cap * sizeof *m->st.ops);
    ops_free(m->h.rt, m->st.heard, m->st.cap);
    ops_handle_free(&m->h);
}

static void poke(csp_mix *m)
{
    csp_chan_offer(m->h.own, m); /* sliding: never waits */
}

static int snapshot(csp_mix *m, struct state *st)
{
    int solos = 0, stop;
    int out_closed = csp_chan_closed(m->h.ch); /* before m->h.lock: a leaf */

    pthread_mutex_lock(&m->h.lock);
    if (out_closed)
        m->stop = 1; /* nothing read now could be delivered */
    stop = m->stop;
    if (m->n + 1 > st->cap) {
        /* ops may grow while heard cannot: ops_cap tells ops's size. */
        size_t cap = m->n + 1;
        csp_op *ops =
            ops_realloc_array(m->h.rt, st->ops, st->ops_cap, cap, sizeof *ops);
        unsigned char *h =
            ops ? ops_realloc(m->h.rt, st->heard, st->cap, cap) : NULL;
        if (ops) {
            st->ops = ops;
            st->ops_cap = cap;
        }
        if (h) {
            st->heard = h;
            st->cap = cap;
        }
    }
    for (struct input *i = m->inputs; i; i = i->next)
        solos |= (i->flags & CSP_MIX_SOLO) != 0;
    st->n = 0;
    if (st->cap > 0) {
        st->ops[0] = (csp_op){m->h.own, CSP_OP_TAKE, NULL};
        st->heard[0] = 0;
        st->n = 1;
    }
    for (struct input *i = m->inputs; i && st->n < st->cap; i = i->next) {
        int solo = (i->flags & CSP_MIX_SOLO) != 0;
        int read = solos && m->solo_mode == CSP_MIX_PAUSE
                       ? solo
                       : !(i->flags & CSP_MIX_PAUSE) || solo;
        if (!read)
            continue;
        st->ops[st->n] = (csp_op){csp_chan_retain(i->ch), CSP_OP_TAKE, NULL};
        st->heard[st->n] = solo || (!solos && !(i->flags & CSP_MIX_MUTE));
        st->n++;
    }
    pthread_mutex_unlock(&m->h.lock);
    return stop;
}

static void unsnapshot(struct state *st)
{
    for (size_t i = 1; i < st->n; i++)
        csp_chan_release(st->ops[i].ch);
    st->n = 0;
}

static int remove_input(csp_mix *m, csp_chan *ch)
{
    for (struct input **p = &m->inputs; *p; p = &(*p)->next) {
        if ((*p)->ch == ch) {
            struct input *i = *p;
            *p = i->next;
            m->n--;
            input_free(m, i);
            return CSP_OK;
        }
    }
    return CSP_EAGAIN;
}

/* Fisher-Yates over ops[1..n) and heard[1..n) together (xorshift). */
static void shuffle_inputs(struct state *st, uint64_t *seed)
{
    for (size_t i = st->n - 1; i > 1; i--) {
        uint64_t x = *seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *seed = x;
        size_t j = 1 + (size_t)(x % i); /* in [1, i] */
        csp_op t = st->ops[i];
        unsigned char h = st->heard[i];
        st->ops[i] = st->ops[j];
        st->heard[i] = st->heard[j];
        st->ops[j] = t;
        st->heard[j] = h;
    }
}

static void *mix_run(void *arg)
{
    csp_mix *m = arg;
    struct state *st = &m->st;
    uint64_t seed = (uint64_t)(uintptr_t)m | 1;

    while (!snapshot(m, st) && st->n > 0) {
        for (;;) {
            size_t idx;
            void *v;
            int rc;

            /* The change channel first, the inputs in a fresh random
             * order: a change made before a value arrives is seen before
             * that value is read, and inputs stay equally likely. */
            shuffle_inputs(st, &seed);
            rc = csp_alts(st->ops, st->n, CSP_ALTS_PRIORITY, &idx, &v);

            if (rc == CSP_OK && idx == 0)
                break; /* the state changed */
            if (rc == CSP_ECLOSED) {
                if (idx == 0)
                    break;
                pthread_mutex_lock(&m->h.lock);
                remove_input(m, st->ops[idx].ch);
                pthread_mutex_unlock(&m->h.lock);
                break;
            }
            if (rc != CSP_OK)
                break;
            if (!st->heard[idx]) {
                csp_chan_discard(st->ops[idx].ch, v); /* muted */
                continue;
            }
            if (csp_chan_put(m->h.ch, v) != CSP_OK) {
                csp_chan_discard(st->ops[idx].ch, v);
                pthread_mutex_lock(&m->h.lock);
                m->stop = 1; /* the output closed: the mix ends */
                pthread_mutex_unlock(&m->h.lock);
                break;
            }
        }
        unsnapshot(st);
    }
    unsnapshot(st);
    mix_unref(m);
    return NULL;
}

int csp_mix_new(csp_mix **out, csp_rt *rt, csp_chan *out_ch)
{
    csp_mix *m;
    void *h;
    int rc;

    if (!out || !rt || !out_ch)
        return CSP_EINVAL;
    rc = ops_handle_new(&h, rt, sizeof(csp_mix), out_ch, CSP_BUF_SLIDING);
    if (rc != CSP_OK)
        return rc;
    m = h;
    m->solo_mode = CSP_MIX_MUTE;
    /* Room for the change channel now, so that the process never ends
     * for want of it before the first input comes. */
    m->st.ops = ops_alloc(rt, sizeof *m->st.ops);
    m->st.heard = ops_alloc(rt, 1);
    m->st.ops_cap = m->st.ops ? 1 : 0;
    m->st.cap = m->st.heard ? 1 : 0;
    rc = m->st.ops && m->st.heard ? ops_handle_start(&m->h, mix_run)
                                  : CSP_ENOMEM;
    if (rc != CSP_OK) {
        mix_unref(m);
        return rc;
    }
    *out = m;
    return CSP_OK;
}

/* Whether the mix is over: its output closed, or it ended. Sets m->stop
 * and pokes the process, so that it ends without reading again. Takes
 * m->h.lock. */
static int ended(csp_mix *m)
{
    int over = csp_chan_closed(m->h.ch);

    pthread_mutex_lock(&m->h.lock);
    if (over)
        m->stop = 1;
    over = m->stop;
    pthread_mutex_unlock(&m->h.lock);
    if (over)
        poke(m);
    return over;
}

int csp_mix_toggle(csp_mix *m, csp_chan *ch, unsigned flags)
{
    struct input *i;

    if (!m || !ch ||
        (flags & ~(unsigned)(CSP_MIX_MUTE | CSP_MIX_PAUSE | CSP_MIX_SOLO)))
        return CSP_EINVAL;
    if (ended(m))
        return CSP_ECLOSED;
    pthread_mutex_lock(&m->h.lock);
    for (i = m->inputs; i && i->ch != ch; i = i->next)
        ;
    if (!i) {
        i = ops_alloc(m->h.rt, sizeof *i);
        if (!i) {
            pthread_mutex_unlock(&m->h.lock);
            return CSP_ENOMEM;
        }
        i->ch = csp_chan_retain(ch);
        i->next = m->inputs;
        m->inputs = i;
        m->n++;
    }
    i->flags = flags;
    pthread_mutex_unlock(&m->h.lock);
    poke(m);
    return CSP_OK;
}

int csp_mix_admix(csp_mix *m, csp_chan *ch)
{
    struct input *i;

    if (!m || !ch)
        return CSP_EINVAL;
    if (ended(m))
        return CSP_ECLOSED;
    pthread_mutex_lock(&m->h.lock);
    for (i = m->inputs; i && i->ch != ch; i = i->next)
        ;
    pthread_mutex_unlock(&m->h.lock);
    return i ? CSP_OK : csp_mix_toggle(m, ch, 0);
}

int csp_mix_unmix(csp_mix *m, csp_chan *ch)
{
    int rc;

    if (!m || !ch)
        return CSP_EINVAL;
    pthread_mutex_lock(&m->h.lock);
    rc = remove_input(m, ch);
    pthread_mutex_unlock(&m->h.lock);
    poke(m);
    return rc;
}

int csp_mix_unmix_all(csp_mix *m)
{
    if (!m)
        return CSP_EINVAL;
    pthread_mutex_lock(&m->h.lock);
    while (m->inputs)
        remove_input(m, m->inputs->ch);
    pthread_mutex_unlock(&m->h.lock);
    poke(m);
    return CSP_OK;
}

int csp_mix_solo_mode(csp_mix *m, unsigned mode)
{
    if (!m || (mode != CSP_MIX_MUTE && mode != CSP_MIX_PAUSE))
        return CSP_EINVAL;
    pthread_mutex_lock(&m->h.lock);
    m->solo_mode = mode;
    pthread_mutex_unlock(&m->h.lock);
    poke(m);
    return CSP_OK;
}

void csp_mix_release(csp_mix *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->h.lock);
    m->stop = 1;
    pthread_mutex_unlock(&m->h.lock);
    poke(m);
    mix_unref(m);
}
