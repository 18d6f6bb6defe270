/* buffer.c - the ring buffer behind fixed, dropping and sliding channels.
 *
 * A ring of SIZE slots (a power of two) holding COUNT values from HEAD;
 * CAP is the logical capacity that decides "full". The slots are allocated
 * when the channel is made, so steady-state puts and takes never allocate.
 * Only a transform may push past CAP (core.async lets expanding steps
 * overfill a buffer); then the ring grows, under the channel lock, which
 * is the one allocation a channel lock ever covers.
 *
 * All functions but init/fini run with the owning channel's lock held.
 * The dropping/sliding policies live in chan.c, which knows the drop hook.
 */
#include "internal.h"

static size_t pow2_at_least(size_t n)
{
    size_t s = 1;

    while (s < n)
        s <<= 1;
    return s;
}

int csp__buf_init(csp_rt *rt, struct csp__buf *b, size_t cap)
{
    size_t size = pow2_at_least(cap);

    b->slots = csp__alloc(rt, size * sizeof(void *));
    if (!b->slots)
        return CSP_ENOMEM;
    b->cap = cap;
    b->size = size;
    b->head = 0;
    b->count = 0;
    return CSP_OK;
}

void csp__buf_fini(csp_rt *rt, struct csp__buf *b)
{
    csp__free(rt, b->slots, b->size * sizeof(void *));
    b->slots = NULL;
}

int csp__buf_grow(csp_rt *rt, struct csp__buf *b)
{
    size_t size = b->size * 2;
    void **slots = csp__alloc(rt, size * sizeof(void *));

    if (!slots)
        return CSP_ENOMEM;
    for (size_t i = 0; i < b->count; i++)
        slots[i] = b->slots[(b->head + i) & (b->size - 1)];
    csp__free(rt, b->slots, b->size * sizeof(void *));
    b->slots = slots;
    b->size = size;
    b->head = 0;
    return CSP_OK;
}
