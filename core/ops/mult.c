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
 * and unlinks the close-taps in one critical section of m->lock, and
 * csp_mult_tap reads m->ended in the critical section that would link the
 * tap: a tap that races the end is either linked before (and closed by
 * the process) or sees ended (and is closed by the call), never both and
 * never neither. Both close after unlocking, so no channel is closed (and
 * no inline callback runs) under m->lock. Closed taps are untapped, as
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
 * Each handle is refcounted between its owner and its process; a mutex
 * (a leaf) guards the tap or topic lists, never held across a csp call
 * that can wait.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "csp.h"

struct tap {
    struct tap *next;
    csp_chan *ch;
    int close;
};

struct csp_mult {
    atomic_int refs; /* the handle and the process */
    pthread_mutex_t lock;
    struct tap *taps; /* lock */
    size_t ntaps;     /* lock */
    int ended;        /* lock; 0 -> 1 once, when the source closed */
    csp_chan *src, *done;
};

static void mult_unref(csp_mult *m)
{
    if (atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    while (m->taps) {
        struct tap *t = m->taps;
        m->taps = t->next;
        csp_chan_release(t->ch);
        free(t);
    }
    csp_chan_release(m->src);
    csp_chan_release(m->done);
    pthread_mutex_destroy(&m->lock);
    free(m);
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
            csp_chan_release(t->ch);
            free(t);
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

    r.done = m->done;
    while (csp_chan_take(m->src, &v) == CSP_OK) {
        size_t n = 0;

        pthread_mutex_lock(&m->lock);
        if (m->ntaps > cap) {
            struct slot *ns = realloc(slots, m->ntaps * sizeof *ns);
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
        pthread_mutex_unlock(&m->lock);
        if (n == 0) {
            csp_chan_drop(m->src, v); /* no taps: dropped, as core.async */
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
            csp_chan_take(m->done, &(void *){NULL}); /* every put done */
        for (size_t i = 0; i < n; i++) {
            if (slots[i].rc != CSP_OK) { /* closed (or full of ops) */
                pthread_mutex_lock(&m->lock);
                untap_locked(m, slots[i].ch);
                pthread_mutex_unlock(&m->lock);
            }
            csp_chan_release(slots[i].ch);
        }
    }
    /* From here on csp_mult_tap closes close-taps itself; the ones
     * linked now are this process's to close (and are untapped). */
    struct tap *closing = NULL;
    pthread_mutex_lock(&m->lock);
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
    pthread_mutex_unlock(&m->lock);
    while (closing) {
        struct tap *t = closing;
        closing = t->next;
        csp_chan_close(t->ch);
        csp_chan_release(t->ch);
        free(t);
    }
    free(slots);
    mult_unref(m);
    return NULL;
}

int csp_mult_new(csp_mult **out, csp_rt *rt, csp_chan *src)
{
    csp_mult *m;
    int rc;

    if (!out || !rt || !src)
        return CSP_EINVAL;
    m = calloc(1, sizeof *m);
    if (!m)
        return CSP_ENOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return CSP_ENOMEM;
    }
    rc = csp_chan_new(&m->done, rt, CSP_BUF_FIXED, 1, NULL, NULL);
    if (rc != CSP_OK) {
        pthread_mutex_destroy(&m->lock);
        free(m);
        return rc;
    }
    m->src = csp_chan_retain(src);
    atomic_init(&m->refs, 2);
    rc = csp_go(rt, mult_run, m, NULL);
    if (rc != CSP_OK) {
        atomic_store(&m->refs, 1);
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
    t = malloc(sizeof *t);
    if (!t)
        return CSP_ENOMEM;
    pthread_mutex_lock(&m->lock);
    if (m->ended && close) {
        /* The process has closed its close-taps: close CH here, and
         * untap it if it was a tap without close. */
        untap_locked(m, ch);
        pthread_mutex_unlock(&m->lock);
        free(t);
        csp_chan_close(ch);
        return CSP_OK;
    }
    for (struct tap *o = m->taps; o; o = o->next) {
        if (o->ch == ch) { /* tapped already: update the flag */
            o->close = close;
            pthread_mutex_unlock(&m->lock);
            free(t);
            return CSP_OK;
        }
    }
    t->ch = csp_chan_retain(ch);
    t->close = close;
    t->next = m->taps;
    m->taps = t;
    m->ntaps++;
    pthread_mutex_unlock(&m->lock);
    return CSP_OK;
}

int csp_mult_untap(csp_mult *m, csp_chan *ch)
{
    int rc;

    if (!m || !ch)
        return CSP_EINVAL;
    pthread_mutex_lock(&m->lock);
    rc = untap_locked(m, ch);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int csp_mult_untap_all(csp_mult *m)
{
    if (!m)
        return CSP_EINVAL;
    pthread_mutex_lock(&m->lock);
    while (m->taps)
        untap_locked(m, m->taps->ch);
    pthread_mutex_unlock(&m->lock);
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

struct csp_pub {
    atomic_int refs;
    pthread_mutex_t lock;
    struct topic *topics; /* lock */
    int ended;            /* lock; 0 -> 1 once, when the source closed */
    csp_rt *rt;
    csp_chan *src;
    csp_topic_fn topic;
    csp_topic_buf_fn buf;
    void *ud;
};

static void topic_free(struct topic *t)
{
    csp_chan_close(t->ch); /* its mult ends, closing close-taps */
    csp_chan_release(t->ch);
    csp_mult_release(t->m);
    free(t);
}

static void pub_unref(csp_pub *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    while (p->topics) {
        struct topic *t = p->topics;
        p->topics = t->next;
        topic_free(t);
    }
    csp_chan_release(p->src);
    pthread_mutex_destroy(&p->lock);
    free(p);
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

    while (csp_chan_take(p->src, &v) == CSP_OK) {
        uint64_t key = p->topic(p->ud, v);
        csp_chan *ch = NULL;

        pthread_mutex_lock(&p->lock);
        struct topic *t = find_locked(p, key);
        if (t)
            ch = csp_chan_retain(t->ch);
        pthread_mutex_unlock(&p->lock);
        /* A stuck subscriber stalls here unless the topic has room. */
        if (!ch || csp_chan_put(ch, v) != CSP_OK)
            csp_chan_drop(p->src, v);
        csp_chan_release(ch);
    }
    /* The source closed: close every topic (and its close-subscribers).
     * From here on csp_pub_sub closes close-subscribers itself. */
    pthread_mutex_lock(&p->lock);
    p->ended = 1;
    for (struct topic *t = p->topics; t; t = t->next)
        csp_chan_close(t->ch);
    pthread_mutex_unlock(&p->lock);
    pub_unref(p);
    return NULL;
}

int csp_pub_new(csp_pub **out, csp_rt *rt, csp_chan *src, csp_topic_fn topic,
                csp_topic_buf_fn buf, void *ud)
{
    csp_pub *p;
    int rc;

    if (!out || !rt || !src || !topic)
        return CSP_EINVAL;
    p = calloc(1, sizeof *p);
    if (!p)
        return CSP_ENOMEM;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return CSP_ENOMEM;
    }
    p->rt = rt;
    p->src = csp_chan_retain(src);
    p->topic = topic;
    p->buf = buf;
    p->ud = ud;
    atomic_init(&p->refs, 2);
    rc = csp_go(rt, pub_run, p, NULL);
    if (rc != CSP_OK) {
        atomic_store(&p->refs, 1);
        pub_unref(p);
        return rc;
    }
    *out = p;
    return CSP_OK;
}

int csp_pub_sub(csp_pub *p, uint64_t topic, csp_chan *ch, int close)
{
    struct topic *t;
    int rc = CSP_OK;

    if (!p || !ch)
        return CSP_EINVAL;
    pthread_mutex_lock(&p->lock);
    if (p->ended) {
        /* No value will come: subscribe nothing (no topic is made). */
        pthread_mutex_unlock(&p->lock);
        if (close)
            csp_chan_close(ch);
        return CSP_OK;
    }
    t = find_locked(p, topic);
    if (!t) {
        int kind = CSP_BUF_NONE;
        size_t cap = 0;

        if (p->buf)
            p->buf(p->ud, topic, &kind, &cap);
        t = calloc(1, sizeof *t);
        rc =
            t ? csp_chan_new(&t->ch, p->rt, kind, cap, NULL, NULL) : CSP_ENOMEM;
        if (rc == CSP_OK) {
            rc = csp_mult_new(&t->m, p->rt, t->ch);
            if (rc != CSP_OK)
                csp_chan_release(t->ch);
        }
        if (rc != CSP_OK) {
            free(t);
            pthread_mutex_unlock(&p->lock);
            return rc;
        }
        t->key = topic;
        t->next = p->topics;
        p->topics = t;
    }
    rc = csp_mult_tap(t->m, ch, close);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int csp_pub_unsub(csp_pub *p, uint64_t topic, csp_chan *ch)
{
    struct topic *t;
    int rc = CSP_EAGAIN;

    if (!p || !ch)
        return CSP_EINVAL;
    pthread_mutex_lock(&p->lock);
    t = find_locked(p, topic);
    if (t)
        rc = csp_mult_untap(t->m, ch);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int csp_pub_unsub_all(csp_pub *p, int all, uint64_t topic)
{
    if (!p)
        return CSP_EINVAL;
    pthread_mutex_lock(&p->lock);
    for (struct topic **tp = &p->topics; *tp;) {
        struct topic *t = *tp;
        if (all || t->key == topic) {
            /* Forget the topic: untap first, so that closing its channel
             * closes no subscriber. */
            *tp = t->next;
            csp_mult_untap_all(t->m);
            topic_free(t);
        } else {
            tp = &t->next;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return CSP_OK;
}

void csp_pub_release(csp_pub *p)
{
    if (p)
        pub_unref(p);
}
