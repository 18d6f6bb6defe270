/* mult.c - mult (one source to every tap) and pub/sub (a mult per topic),
 * with core.async's back-pressure. Written against csp.h only.
 *
 * mult: one go process takes a value from the source and puts it on every
 * tap at once (callback puts); it takes the next value only when every
 * put completed. A tap whose put finds it closed is untapped. With no
 * taps the value is dropped. When the source closes, taps added with
 * close are closed and the process ends.
 *
 * A tap added with close after the process ended is closed by the tap
 * call (core.async leaves it open for ever). The process sets m->ended
 * and unlinks the close-taps in one critical section of m->h.lock, and
 * csp_mult_tap reads m->ended in the critical section that would link the
 * tap: a tap that races the end is either linked before (and closed by
 * the process) or sees ended (and is closed by the call), never both and
 * never neither. Both close after unlocking, so no channel is closed (and
 * no inline callback runs) under m->h.lock. Closed taps are untapped, as
 * the process does with a tap it finds closed.
 *
 * pub: one go process takes from the source, asks the topic function,
 * and puts the value on that topic's channel (buffer from the buffer
 * function), which a mult fans out to the topic's subscribers. No topic
 * channel: the value is dropped. When the source closes, every topic
 * channel is closed (closing subscribers added with close). The same rule
 * as the mult's: p->ended is set in the critical section that closes the
 * topics, and a sub that finds it set subscribes nothing and, with close,
 * closes its channel itself.
 *
 * Each handle is an ops_handle (ops.h), refcounted between its owner and
 * its process; its mutex (a leaf) guards the tap or topic lists, never
 * held across a csp call that can wait. Every block comes from the
 * runtime's allocator.
 */
#include "ops.h"

struct tap {
    struct tap *next;
    csp_chan *ch;
    int close;
};

/* h.ch is the source, h.own the channel the last put of a round pokes. */
struct csp_mult {
    struct ops_handle h;
    struct tap *taps; /* h.lock */
    size_t ntaps;     /* h.lock */
    int ended;        /* h.lock; 0 -> 1 once, when the source closed */
};

static void tap_free(csp_mult *m, struct tap *t)
{
    csp_chan_release(t->ch);
    ops_free(m->h.rt, t, sizeof *t);
}

static void mult_unref(csp_mult *m)
{
    if (!ops_handle_unref(&m->h))
        return;
    while (m->taps) {
        struct tap *t = m->taps;
        m->taps = t->next;
        tap_free(m, t);
    }
    ops_handle_free(&m->h);
}

/* One value's delivery: a slot per tap, a count of puts still pending. */
struct round;
struct slot {
    struct round *r;
    csp_chan *ch;
    int close;
    int rc;
};

struct round {
    atomic_long left;
    csp_chan *done;
};

static void round_done(void *ud, int rc, void *val)
{
    struct slot *s = ud;

    (void)val;
    s->rc = rc;
    if (atomic_fetch_sub(&s->r->left, 1) == 1)
        csp_chan_offer(s->r->done, s->r); /* capacity 1: the last one */
}

static int untap_locked(csp_mult *m, csp_chan *ch)
{
    for (struct tap **p = &m->taps; *p; p = &(*p)->next) {
        if ((*p)->ch == ch) {
            struct tap *t = *p;
            *p = t->next;
            m->ntaps--;
            tap_free(m, t);
            return CSP_OK;
        }
    }
    return CSP_EAGAIN;
}

static void *mult_run(void *arg)
{
    csp_mult *m = arg;
    struct slot *slots = NULL;
    size_t cap = 0;
    struct round r;
    void *v;

    r.done = m->h.own;
    while (csp_chan_take(m->h.ch, &v) == CSP_OK) {
        size_t n = 0;

        pthread_mutex_lock(&m->h.lock);
        if (m->ntaps > cap) {
            struct slot *ns =
                ops_realloc_array(m->h.rt, slots, cap, m->ntaps, sizeof *ns);
            if (ns) {
                slots = ns;
                cap = m->ntaps;
            }
        }
        for (struct tap *t = m->taps; t && n < cap; t = t->next) {
            slots[n].r = &r;
            slots[n].ch = csp_chan_retain(t->ch);
            slots[n].close = t->close;
            slots[n].rc = CSP_OK;
            n++;
        }
        pthread_mutex_unlock(&m->h.lock);
        if (n == 0) {
            csp_chan_discard(m->h.ch, v); /* no taps: dropped, as core.async */
            continue;
        }
        atomic_store(&r.left, 1);
        for (size_t i = 0; i < n; i++) {
            atomic_fetch_add(&r.left, 1);
            int rc = csp_chan_put_cb(slots[i].ch, v, csp_exec_inline(),
                                     round_done, &slots[i], NULL);
            if (rc != CSP_PENDING) {
                slots[i].rc = rc;
                atomic_fetch_sub(&r.left, 1);
            }
        }
        if (atomic_fetch_sub(&r.left, 1) != 1)
            csp_chan_take(m->h.own, &(void *){NULL}); /* every put done */
        for (size_t i = 0; i < n; i++) {
            if (slots[i].rc != CSP_OK) { /* closed (or full of ops) */
                pthread_mutex_lock(&m->h.lock);
                untap_locked(m, slots[i].ch);
                pthread_mutex_unlock(&m->h.lock);
            }
            csp_chan_release(slots[i].ch);
        }
    }
    /* From here on csp_mult_tap closes close-taps itself; the ones
     * linked now are this process's to close (and are untapped). */
    struct tap *closing = NULL;
    pthread_mutex_lock(&m->h.lock);
    m->ended = 1;
    for (struct tap **p = &m->taps; *p;) {
        struct tap *t = *p;
        if (t->close) {
            *p = t->next;
            m->ntaps--;
            t->next = closing;
            closing = t;
        } else {
            p = &t->next;
        }
    }
    pthread_mutex_unlock(&m->h.lock);
    while (closing) {
        struct tap *t = closing;
        closing = t->next;
        csp_chan_close(t->ch);
        tap_free(m, t);
    }
    ops_free(m->h.rt, slots, cap * sizeof *slots);
    mult_unref(m);
    return NULL;
}

int csp_mult_new(csp_mult **out, csp_rt *rt, csp_chan *src)
{
    void *m;
    int rc;

    if (!out || !rt || !src)
        return CSP_EINVAL;
    rc = ops_handle_new(&m, rt, sizeof(csp_mult), src, CSP_BUF_FIXED);
    if (rc != CSP_OK)
        return rc;
    rc = ops_handle_start(m, mult_run);
    if (rc != CSP_OK) {
        mult_unref(m);
        return rc;
    }
    *out = m;
    return CSP_OK;
}

int csp_mult_tap(csp_mult *m, csp_chan *ch, int close)
{
    struct tap *t;

    if (!m || !ch)
        return CSP_EINVAL;
    t = ops_alloc(m->h.rt, sizeof *t);
    if (!t)
        return CSP_ENOMEM;
    pthread_mutex_lock(&m->h.lock);
    if (m->ended && close) {
        /* The process has closed its close-taps: close CH here, and
         * untap it if it was a tap without close. */
        untap_locked(m, ch);
        pthread_mutex_unlock(&m->h.lock);
        ops_free(m->h.rt, t, sizeof *t);
        csp_chan_close(ch);
        return CSP_OK;
    }
    for (struct tap *o = m->taps; o; o = o->next) {
        if (o->ch == ch) { /* tapped already: update the flag */
            o->close = close;
            pthread_mutex_unlock(&m->h.lock);
            ops_free(m->h.rt, t, sizeof *t);
            return CSP_OK;
        }
    }
    t->ch = csp_chan_retain(ch);
    t->close = close;
    t->next = m->taps;
    m->taps = t;
    m->ntaps++;
    pthread_mutex_unlock(&m->h.lock);
    return CSP_OK;
}

int csp_mult_untap(csp_mult *m, csp_chan *ch)
{
    int rc;

    if (!m || !ch)
        return CSP_EINVAL;
    pthread_mutex_lock(&m->h.lock);
    rc = untap_locked(m, ch);
    pthread_mutex_unlock(&m->h.lock);
    return rc;
}

int csp_mult_untap_all(csp_mult *m)
{
    if (!m)
        return CSP_EINVAL;
    pthread_mutex_lock(&m->h.lock);
    while (m->taps)
        untap_locked(m, m->taps->ch);
    pthread_mutex_unlock(&m->h.lock);
    return CSP_OK;
}

void csp_mult_release(csp_mult *m)
{
    if (m)
        mult_unref(m);
}

/* ------------------------------------------------------------------------
 * pub/sub */

struct topic {
    struct topic *next;
    uint64_t key;
    csp_chan *ch; /* the topic's channel: the mult's source */
    csp_mult *m;
};

/* h.ch is the source; no channel of its own. */
struct csp_pub {
    struct ops_handle h;
    struct topic *topics; /* h.lock */
    int ended;            /* h.lock; 0 -> 1 once, when the source closed */
    csp_topic_fn topic;
    csp_topic_buf_fn buf;
    void *ud;
};

static void topic_free(csp_pub *p, struct topic *t)
{
    csp_chan_close(t->ch); /* its mult ends, closing close-taps */
    csp_chan_release(t->ch);
    csp_mult_release(t->m);
    ops_free(p->h.rt, t, sizeof *t);
}

static void pub_unref(csp_pub *p)
{
    if (!ops_handle_unref(&p->h))
        return;
    while (p->topics) {
        struct topic *t = p->topics;
        p->topics = t->next;
        topic_free(p, t);
    }
    ops_handle_free(&p->h);
}

static struct topic *find_locked(csp_pub *p, uint64_t key)
{
    for (struct topic *t = p->topics; t; t = t->next)
        if (t->key == key)
            return t;
    return NULL;
}

static void *pub_run(void *arg)
{
    csp_pub *p = arg;
    void *v;

    while (csp_chan_take(p->h.ch, &v) == CSP_OK) {
        uint64_t key = p->topic(p->ud, v);
        csp_chan *ch = NULL;

        pthread_mutex_lock(&p->h.lock);
        struct topic *t = find_locked(p, key);
        if (t)
            ch = csp_chan_retain(t->ch);
        pthread_mutex_unlock(&p->h.lock);
        /* A stuck subscriber stalls here unless the topic has room. */
        if (!ch || csp_chan_put(ch, v) != CSP_OK)
            csp_chan_discard(p->h.ch, v);
        csp_chan_release(ch);
    }
    /* The source closed: close every topic (and its close-subscribers).
     * From here on csp_pub_sub closes close-subscribers itself. */
    pthread_mutex_lock(&p->h.lock);
    p->ended = 1;
    for (struct topic *t = p->topics; t; t = t->next)
        csp_chan_close(t->ch);
    pthread_mutex_unlock(&p->h.lock);
    pub_unref(p);
    return NULL;
}

int csp_pub_new(csp_pub **out, csp_rt *rt, csp_chan *src, csp_topic_fn topic,
                csp_topic_buf_fn buf, void *ud)
{
    csp_pub *p;
    void *h;
    int rc;

    if (!out || !rt || !src || !topic)
        return CSP_EINVAL;
    rc = ops_handle_new(&h, rt, sizeof(csp_pub), src, -1);
    if (rc != CSP_OK)
        return rc;
    p = h;
    p->topic = topic;
    p->buf = buf;
    p->ud = ud;
    rc = ops_handle_start(&p->h, pub_run);
    if (rc != CSP_OK) {
        pub_unref(p);
        return rc;
    }
    *out = p;
    return CSP_OK;
}

/* Make the channel and mult of topic KEY in *OUT (not linked yet).
 * Called with p->h.lock held. On error nothing is left. */
static int topic_new(csp_pub *p, uint64_t key, struct topic **out)
{
    int kind = CSP_BUF_NONE, rc;
    size_t cap = 0;
    struct topic *t;

    if (p->buf)
        p->buf(p->ud, key, &kind, &cap);
    t = ops_zalloc(p->h.rt, sizeof *t);
    if (!t)
        return CSP_ENOMEM;
    rc = csp_chan_new(&t->ch, p->h.rt, kind, cap, NULL, NULL);
    if (rc != CSP_OK)
        goto fail_ch;
    rc = csp_mult_new(&t->m, p->h.rt, t->ch);
    if (rc != CSP_OK)
        goto fail_mult;
    t->key = key;
    *out = t;
    return CSP_OK;

fail_mult:
    csp_chan_release(t->ch);
fail_ch:
    ops_free(p->h.rt, t, sizeof *t);
    return rc;
}

int csp_pub_sub(csp_pub *p, uint64_t topic, csp_chan *ch, int close)
{
    struct topic *t;
    int rc;

    if (!p || !ch)
        return CSP_EINVAL;
    pthread_mutex_lock(&p->h.lock);
    if (p->ended) {
        /* No value will come: subscribe nothing (no topic is made). */
        pthread_mutex_unlock(&p->h.lock);
        if (close)
            csp_chan_close(ch);
        return CSP_OK;
    }
    t = find_locked(p, topic);
    if (t) {
        rc = csp_mult_tap(t->m, ch, close);
    } else {
        /* A new topic is linked only with its first subscriber: if the
         * tap fails, the topic goes too and nothing changed. */
        rc = topic_new(p, topic, &t);
        if (rc == CSP_OK) {
            rc = csp_mult_tap(t->m, ch, close);
            if (rc == CSP_OK) {
                t->next = p->topics;
                p->topics = t;
            } else {
                topic_free(p, t);
            }
        }
    }
    pthread_mutex_unlock(&p->h.lock);
    return rc;
}

int csp_pub_unsub(csp_pub *p, uint64_t topic, csp_chan *ch)
{
    struct topic *t;
    int rc = CSP_EAGAIN;

    if (!p || !ch)
        return CSP_EINVAL;
    pthread_mutex_lock(&p->h.lock);
    t = find_locked(p, topic);
    if (t)
        rc = csp_mult_untap(t->m, ch);
    pthread_mutex_unlock(&p->h.lock);
    return rc;
}

int csp_pub_unsub_all(csp_pub *p, int all, uint64_t topic)
{
    if (!p)
        return CSP_EINVAL;
    pthread_mutex_lock(&p->h.lock);
    for (struct topic **tp = &p->topics; *tp;) {
        struct topic *t = *tp;
        if (all || t->key == topic) {
            /* Forget the topic: untap first, so that closing its channel
             * closes no subscriber. */
            *tp = t->next;
            csp_mult_untap_all(t->m);
            topic_free(p, t);
        } else {
            tp = &t->next;
        }
    }
    pthread_mutex_unlock(&p->h.lock);
    return CSP_OK;
}

void csp_pub_release(csp_pub *p)
{
    if (p)
        pub_unref(p);
}
