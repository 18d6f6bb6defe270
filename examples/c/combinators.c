/* combinators.c - core.async's combinators from C: a pipeline squares the
 * odd numbers of 1..20 on four go processes (results keep their order), a
 * mult copies the squares to two taps, one summed with reduce, one
 * collected with into. Every consumer is in place before the pipeline
 * starts, so the output is the same under any timing.
 *
 *   build/examples/c/combinators
 */
#include <stdint.h>
#include <stdio.h>

#include <csp.h>

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

static int is_odd(void *ud, void *v)
{
    (void)ud;
    return U(v) % 2 == 1;
}

static void *square(void *ud, void *v)
{
    (void)ud;
    return V(U(v) * U(v));
}

static void *add(void *ud, void *acc, void *v, int *stop)
{
    (void)ud;
    (void)stop;
    return V(U(acc) + U(v));
}

/* into's packer: print the collection, pass on its size. */
static void *show(void *ud, void **vals, size_t n)
{
    (void)ud;
    printf("squares in order:");
    for (size_t i = 0; i < n; i++)
        printf(" %lu", (unsigned long)U(vals[i]));
    printf("\n");
    return V(n);
}

static int check(int rc, const char *what)
{
    if (rc != CSP_OK) {
        fprintf(stderr, "%s: %s\n", what, csp_strerror(rc));
        return 1;
    }
    return 0;
}

int main(void)
{
    csp_rt *rt = csp_rt_default();
    void *nums[20], *v;
    csp_chan *src, *squares, *a, *b, *sum, *all;
    csp_xform *odd, *sq, *xf, *parts[2];
    csp_mult *m;
    int bad = 0;

    for (int i = 0; i < 20; i++)
        nums[i] = V(i + 1);
    bad |= check(csp_to_chan(&src, rt, nums, 20), "to_chan");
    bad |= check(csp_xf_filter(&odd, rt, is_odd, NULL), "filter");
    bad |= check(csp_xf_map(&sq, rt, square, NULL), "map");
    parts[0] = odd;
    parts[1] = sq;
    bad |= check(csp_xform_comp(&xf, parts, 2), "comp");
    bad |=
        check(csp_chan_new(&squares, rt, CSP_BUF_FIXED, 4, NULL, NULL), "chan");
    /* The mult and its taps exist before any value flows: a mult with no
     * tap drops what it reads (core.async's rule), so tapping after the
     * pipeline started would lose squares on a fast run. */
    bad |= check(csp_chan_new(&a, rt, CSP_BUF_FIXED, 4, NULL, NULL), "chan");
    bad |= check(csp_chan_new(&b, rt, CSP_BUF_FIXED, 4, NULL, NULL), "chan");
    bad |= check(csp_mult_new(&m, rt, squares), "mult");
    bad |= check(csp_mult_tap(m, a, 1), "tap");
    bad |= check(csp_mult_tap(m, b, 1), "tap");
    bad |=
        check(csp_pipeline(rt, 4, squares, xf, src, 1, NULL, NULL), "pipeline");
    bad |= check(csp_reduce(&sum, rt, a, add, V(0), NULL), "reduce");
    bad |= check(csp_into(&all, rt, b, show, NULL), "into");
    if (bad)
        return 1;
    csp_chan_take_blocking(all, &v, CSP_FOREVER);
    printf("%lu odd squares\n", (unsigned long)U(v));
    csp_chan_take_blocking(sum, &v, CSP_FOREVER);
    printf("their sum: %lu\n", (unsigned long)U(v));
    csp_mult_release(m);
    csp_xform_release(odd);
    csp_xform_release(sq);
    csp_xform_release(xf);
    csp_chan_release(src);
    csp_chan_release(squares);
    csp_chan_release(a);
    csp_chan_release(b);
    csp_chan_release(sum);
    csp_chan_release(all);
    return U(v) == 1330 ? 0 : 1;
}
