/* alloc.c - every allocation of a runtime goes through the allocator given
 * to csp_rt_new (a realloc-style function, like lua_Alloc), so tests can
 * count allocations and inject failures.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *csp__alloc(csp_rt *rt, size_t size)
{
    return rt->alloc(rt->alloc_ud, NULL, 0, size);
}

void *csp__calloc(csp_rt *rt, size_t size)
{
    void *p = rt->alloc(rt->alloc_ud, NULL, 0, size);

    if (p)
        memset(p, 0, size);
    return p;
}

void csp__free(csp_rt *rt, void *p, size_t size)
{
    if (p)
        rt->alloc(rt->alloc_ud, p, size, 0);
}
