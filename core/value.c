/* value.c - portable values (csp.h, "Portable values"): byte strings and
 * the registry of value domains, for channels shared between languages.
 *
 * A byte string is one allocation from its runtime's allocator: a hidden
 * header (reference count, allocator, size) and then the public csp_bytes
 * with its data and a terminating 0.
 *
 * Domains: a growing array indexed by id, under one mutex (a leaf but for
 * the domain functions, which only queue). A drop calls the domain's
 * function under it, so that csp_value_domain_free returns only when no
 * drop of that domain runs. (A read-write lock would let drops run side by
 * side, but glibc's prefers readers: a steady stream of drops would starve
 * csp_value_domain_free.) Ids are never reused: a stale word of a freed domain can
 * never be read as another domain's value.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "csp.h"
#include "internal.h"

/* ------------------------------------------------------------------------
 * Kinds. */

int csp_value_kind(const void *v)
{
    if (!v)
        return CSP_VAL_KIND_NONE;
    switch (CSP_VAL_TAG(v)) {
    case CSP_VAL_TAG_INT:
        return CSP_VAL_KIND_INT;
    case CSP_VAL_TAG_BYTES:
        return CSP_VAL_KIND_BYTES;
    case CSP_VAL_TAG_IMM:
        return CSP_VAL_DOMAIN_OF(v) < 2 && CSP_VAL_PAYLOAD_OF(v) == 0
                   ? CSP_VAL_KIND_BOOL
                   : CSP_VAL_KIND_DOMAIN;
    default:
        return CSP_VAL_KIND_POINTER;
    }
}

/* ------------------------------------------------------------------------
 * Byte strings. */

struct bytes_hdr {
    _Atomic size_t refs;
    csp_alloc_fn alloc;
    void *ud;
    size_t size; /* bytes allocated, header included */
};

/* The header rounded up so that the csp_bytes after it stays aligned. */
#define HDR_SIZE                                                             \
    ((sizeof(struct bytes_hdr) + _Alignof(max_align_t) - 1) /               \
     _Alignof(max_align_t) * _Alignof(max_align_t))

static struct bytes_hdr *hdr_of(csp_bytes *b)
{
    return (struct bytes_hdr *)(void *)((unsigned char *)b - HDR_SIZE);
}

int csp_bytes_new(csp_bytes **out, csp_rt *rt, const void *data, size_t len)
{
    csp_alloc_fn alloc;
    void *ud = NULL;
    struct bytes_hdr *h;
    csp_bytes *b;
    size_t size;

    if (!out || !rt || (!data && len > 0))
        return CSP_EINVAL;
    if (len > SIZE_MAX - HDR_SIZE - sizeof(csp_bytes) - 1)
        return CSP_ENOMEM;
    alloc = csp_rt_getalloc(rt, &ud);
    if (!alloc)
        return CSP_EINVAL;
    size = HDR_SIZE + sizeof(csp_bytes) + len + 1;
    h = alloc(ud, NULL, 0, size);
    if (!h)
        return CSP_ENOMEM;
    atomic_init(&h->refs, 1);
    h->alloc = alloc;
    h->ud = ud;
    h->size = size;
    b = (csp_bytes *)(void *)((unsigned char *)h + HDR_SIZE);
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    b->data[len] = 0;
    *out = b;
    return CSP_OK;
}

csp_bytes *csp_bytes_retain(csp_bytes *b)
{
    if (b)
        atomic_fetch_add_explicit(&hdr_of(b)->refs, 1, memory_order_relaxed);
    return b;
}

void csp_bytes_release(csp_bytes *b)
{
    struct bytes_hdr *h;

    if (!b)
        return;
    h = hdr_of(b);
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_release) != 1)
        return;
    atomic_thread_fence(memory_order_acquire);
    h->alloc(h->ud, h, h->size, 0);
}

/* ------------------------------------------------------------------------
 * Domains. */

struct domain {
    csp_drop_fn drop; /* NULL: free or never registered */
    void *ud;
};

static pthread_mutex_t dom_lock = PTHREAD_MUTEX_INITIALIZER;
static struct domain *doms; /* guarded by dom_lock */
static int ndoms = 2;       /* next id; 0 and 1 are false and true */
static int doms_cap;

/* fork() (fork.c): held across the fork, after every channel lock (a drop
 * runs under a channel lock and takes this one). */
void csp__value_fork_lock(void)
{
    pthread_mutex_lock(&dom_lock);
}

void csp__value_fork_unlock(void)
{
    pthread_mutex_unlock(&dom_lock);
}

int csp_value_domain_new(int *out, csp_drop_fn drop, void *ud)
{
    int id;

    if (!out || !drop)
        return CSP_EINVAL;
    pthread_mutex_lock(&dom_lock);
    if (ndoms > CSP_VAL_DOMAIN_MAX) {
        pthread_mutex_unlock(&dom_lock);
        return CSP_ENOMEM;
    }
    if (ndoms >= doms_cap) {
        int cap = doms_cap ? doms_cap * 2 : 16;
        struct domain *d;
        if (cap > CSP_VAL_DOMAIN_MAX + 1)
            cap = CSP_VAL_DOMAIN_MAX + 1;
        d = realloc(doms, (size_t)cap * sizeof *d);
        if (!d) {
            pthread_mutex_unlock(&dom_lock);
            return CSP_ENOMEM;
        }
        memset(d + doms_cap, 0, (size_t)(cap - doms_cap) * sizeof *d);
        doms = d;
        doms_cap = cap;
    }
    id = ndoms++;
    doms[id].drop = drop;
    doms[id].ud = ud;
    pthread_mutex_unlock(&dom_lock);
    *out = id;
    return CSP_OK;
}

int csp_value_domain_free(int domain)
{
    int rc = CSP_EINVAL;

    pthread_mutex_lock(&dom_lock);
    if (domain >= 2 && domain < ndoms && doms[domain].drop) {
        doms[domain].drop = NULL;
        doms[domain].ud = NULL;
        rc = CSP_OK;
    }
    pthread_mutex_unlock(&dom_lock);
    return rc;
}

void csp_value_drop(void *ud, void *val)
{
    (void)ud;
    switch (csp_value_kind(val)) {
    case CSP_VAL_KIND_BYTES:
        csp_bytes_release(CSP_VAL_TO_BYTES(val));
        break;
    case CSP_VAL_KIND_DOMAIN: {
        int d = CSP_VAL_DOMAIN_OF(val);
        pthread_mutex_lock(&dom_lock);
        if (d < ndoms && doms[d].drop)
            doms[d].drop(doms[d].ud, val);
        pthread_mutex_unlock(&dom_lock);
        break;
    }
    default:
        break;
    }
}
