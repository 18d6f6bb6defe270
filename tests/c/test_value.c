/* test_value.c - portable values (csp.h, "Portable values"): immediate
 * integers and booleans, byte strings, value domains and csp_value_drop. */
#include <string.h>

#include "util.h"

TEST(value_int_round_trips_across_the_range)
{
    intptr_t cases[] = {0, 1, -1, 42, -42, CSP_VAL_INT_MAX, CSP_VAL_INT_MIN,
                        CSP_VAL_INT_MAX - 1, CSP_VAL_INT_MIN + 1};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *v = CSP_VAL_INT(cases[i]);
        ASSERT_NOT_NULL(v);
        ASSERT_EQ(CSP_VAL_KIND_INT, csp_value_kind(v));
        ASSERT_TRUE(CSP_VAL_TO_INT(v) == cases[i]);
    }
}

TEST(value_booleans_are_fixed_words)
{
    ASSERT_EQ(3, (int)U(CSP_VAL_FALSE));
    ASSERT_EQ(7, (int)U(CSP_VAL_TRUE));
    ASSERT_EQ(CSP_VAL_KIND_BOOL, csp_value_kind(CSP_VAL_FALSE));
    ASSERT_EQ(CSP_VAL_KIND_BOOL, csp_value_kind(CSP_VAL_TRUE));
}

TEST(value_kind_of_null_is_none_and_of_pointer_is_pointer)
{
    static int mine;

    ASSERT_EQ(CSP_VAL_KIND_NONE, csp_value_kind(NULL));
    ASSERT_EQ(CSP_VAL_KIND_POINTER, csp_value_kind(&mine));
}

TEST(value_domain_words_keep_domain_and_payload)
{
    void *v = CSP_VAL_DOMAIN(5, 123456);

    ASSERT_EQ(CSP_VAL_KIND_DOMAIN, csp_value_kind(v));
    ASSERT_EQ(5, CSP_VAL_DOMAIN_OF(v));
    ASSERT_TRUE(CSP_VAL_PAYLOAD_OF(v) == 123456);
    v = CSP_VAL_DOMAIN(CSP_VAL_DOMAIN_MAX, CSP_VAL_PAYLOAD_MAX);
    ASSERT_EQ(CSP_VAL_DOMAIN_MAX, CSP_VAL_DOMAIN_OF(v));
    ASSERT_TRUE(CSP_VAL_PAYLOAD_OF(v) == CSP_VAL_PAYLOAD_MAX);
    /* Domain 0 with a payload is not false. */
    ASSERT_EQ(CSP_VAL_KIND_DOMAIN, csp_value_kind(CSP_VAL_DOMAIN(0, 1)));
}

TEST(bytes_new_copies_data_and_terminates_it)
{
    csp_bytes *b = NULL;
    char src[] = "hello";

    ASSERT_OK(csp_bytes_new(&b, test_rt, src, 5));
    src[0] = 'j';
    ASSERT_EQ(5, (int)b->len);
    ASSERT_EQ(0, memcmp(b->data, "hello", 6));
    ASSERT_EQ(0, (int)(U(b) & 3));
    ASSERT_EQ(CSP_VAL_KIND_BYTES, csp_value_kind(CSP_VAL_BYTES(b)));
    ASSERT_PTR_EQ(b, CSP_VAL_TO_BYTES(CSP_VAL_BYTES(b)));
    csp_bytes_release(b);
}

TEST(bytes_new_of_zero_length_accepts_null_data)
{
    csp_bytes *b = NULL;

    ASSERT_OK(csp_bytes_new(&b, test_rt, NULL, 0));
    ASSERT_EQ(0, (int)b->len);
    ASSERT_EQ(0, b->data[0]);
    csp_bytes_release(b);
}

TEST(bytes_new_rejects_bad_arguments)
{
    csp_bytes *b = NULL;

    ASSERT_RC(CSP_EINVAL, csp_bytes_new(NULL, test_rt, "x", 1));
    ASSERT_RC(CSP_EINVAL, csp_bytes_new(&b, NULL, "x", 1));
    ASSERT_RC(CSP_EINVAL, csp_bytes_new(&b, test_rt, NULL, 1));
    ASSERT_NULL(b);
}

TEST(bytes_new_of_huge_length_is_enomem)
{
    csp_bytes *b = NULL;

    ASSERT_RC(CSP_ENOMEM, csp_bytes_new(&b, test_rt, "x", SIZE_MAX - 8));
    ASSERT_NULL(b);
}

TEST(bytes_new_without_memory_is_enomem_and_leaks_nothing)
{
    csp_bytes *b = NULL;
    long before = test_live_allocs();

    test_fail_alloc_after(0);
    ASSERT_RC(CSP_ENOMEM, csp_bytes_new(&b, test_rt, "abc", 3));
    test_fail_alloc_after(-1);
    ASSERT_NULL(b);
    ASSERT_EQ(before, test_live_allocs());
}

TEST(bytes_allocate_through_the_runtime_allocator)
{
    csp_bytes *b = NULL;
    long before = test_live_allocs();

    ASSERT_OK(csp_bytes_new(&b, test_rt, "abc", 3));
    ASSERT_EQ(before + 1, test_live_allocs());
    csp_bytes_release(b);
    ASSERT_EQ(before, test_live_allocs());
}

TEST(bytes_retain_keeps_them_until_the_last_release)
{
    csp_bytes *b = NULL;
    long before = test_live_allocs();

    ASSERT_OK(csp_bytes_new(&b, test_rt, "abc", 3));
    ASSERT_PTR_EQ(b, csp_bytes_retain(b));
    csp_bytes_release(b);
    ASSERT_EQ(before + 1, test_live_allocs());
    ASSERT_EQ(0, memcmp(b->data, "abc", 4));
    csp_bytes_release(b);
    ASSERT_EQ(before, test_live_allocs());
}

TEST(bytes_retain_and_release_accept_null)
{
    ASSERT_NULL(csp_bytes_retain(NULL));
    csp_bytes_release(NULL);
}

static void *bytes_retainer(void *arg)
{
    csp_bytes *b = arg;

    for (int i = 0; i < 10000; i++)
        csp_bytes_release(csp_bytes_retain(b));
    return NULL;
}

TEST(bytes_refcount_is_exact_under_concurrent_retains)
{
    csp_bytes *b = NULL;
    pthread_t t[4];
    long before = test_live_allocs();

    ASSERT_OK(csp_bytes_new(&b, test_rt, "shared", 6));
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(0, pthread_create(&t[i], NULL, bytes_retainer, b));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(before + 1, test_live_allocs());
    csp_bytes_release(b);
    ASSERT_EQ(before, test_live_allocs());
}

TEST(value_drop_releases_bytes)
{
    csp_bytes *b = NULL;
    long before = test_live_allocs();

    ASSERT_OK(csp_bytes_new(&b, test_rt, "abc", 3));
    csp_value_drop(NULL, CSP_VAL_BYTES(b));
    ASSERT_EQ(before, test_live_allocs());
}

TEST(value_drop_ignores_immediates_pointers_and_null)
{
    static int mine;

    csp_value_drop(NULL, NULL);
    csp_value_drop(NULL, CSP_VAL_INT(7));
    csp_value_drop(NULL, CSP_VAL_TRUE);
    csp_value_drop(NULL, &mine);
    ASSERT_EQ(0, mine);
}

TEST(value_domain_gets_its_dropped_values)
{
    struct drops d = {0};
    int dom = 0;

    ASSERT_OK(csp_value_domain_new(&dom, record_drop, &d));
    ASSERT_TRUE(dom >= 2 && dom <= CSP_VAL_DOMAIN_MAX);
    csp_value_drop(NULL, CSP_VAL_DOMAIN(dom, 9));
    ASSERT_EQ(1, (int)atomic_load(&d.n));
    ASSERT_TRUE(d.first[0] == U(CSP_VAL_DOMAIN(dom, 9)));
    ASSERT_OK(csp_value_domain_free(dom));
}

TEST(value_domain_ids_are_distinct_and_never_reused)
{
    struct drops d = {0};
    int a = 0, b = 0, c = 0;

    ASSERT_OK(csp_value_domain_new(&a, record_drop, &d));
    ASSERT_OK(csp_value_domain_new(&b, record_drop, &d));
    ASSERT_NE(a, b);
    ASSERT_OK(csp_value_domain_free(a));
    ASSERT_OK(csp_value_domain_new(&c, record_drop, &d));
    ASSERT_NE(a, c);
    ASSERT_NE(b, c);
    ASSERT_OK(csp_value_domain_free(b));
    ASSERT_OK(csp_value_domain_free(c));
}

TEST(value_domain_freed_gets_no_more_drops)
{
    struct drops d = {0};
    int dom = 0;

    ASSERT_OK(csp_value_domain_new(&dom, record_drop, &d));
    ASSERT_OK(csp_value_domain_free(dom));
    csp_value_drop(NULL, CSP_VAL_DOMAIN(dom, 1));
    ASSERT_EQ(0, (int)atomic_load(&d.n));
}

TEST(value_domain_new_rejects_bad_arguments)
{
    struct drops d = {0};
    int dom = -1;

    ASSERT_RC(CSP_EINVAL, csp_value_domain_new(NULL, record_drop, &d));
    ASSERT_RC(CSP_EINVAL, csp_value_domain_new(&dom, NULL, &d));
    ASSERT_EQ(-1, dom);
}

TEST(value_domain_free_rejects_unknown_domains)
{
    struct drops d = {0};
    int dom = 0;

    ASSERT_RC(CSP_EINVAL, csp_value_domain_free(0));
    ASSERT_RC(CSP_EINVAL, csp_value_domain_free(1));
    ASSERT_RC(CSP_EINVAL, csp_value_domain_free(-3));
    ASSERT_RC(CSP_EINVAL, csp_value_domain_free(CSP_VAL_DOMAIN_MAX + 1));
    ASSERT_OK(csp_value_domain_new(&dom, record_drop, &d));
    ASSERT_OK(csp_value_domain_free(dom));
    ASSERT_RC(CSP_EINVAL, csp_value_domain_free(dom));
}

TEST(shared_channel_drops_portable_values_through_value_drop)
{
    struct drops d = {0};
    csp_chan *ch = NULL;
    csp_bytes *b = NULL;
    int dom = 0;
    long before = test_live_allocs();

    ASSERT_OK(csp_value_domain_new(&dom, record_drop, &d));
    ASSERT_OK(csp_chan_new(&ch, test_rt, CSP_BUF_FIXED, 4, csp_value_drop,
                           NULL));
    ASSERT_OK(csp_bytes_new(&b, test_rt, "left", 4));
    ASSERT_OK(csp_chan_offer(ch, CSP_VAL_BYTES(b)));
    ASSERT_OK(csp_chan_offer(ch, CSP_VAL_INT(-5)));
    ASSERT_OK(csp_chan_offer(ch, CSP_VAL_DOMAIN(dom, 77)));
    csp_chan_release(ch);
    ASSERT_EQ(1, (int)atomic_load(&d.n));
    ASSERT_TRUE(d.first[0] == U(CSP_VAL_DOMAIN(dom, 77)));
    ASSERT_EQ(before, test_live_allocs());
    ASSERT_OK(csp_value_domain_free(dom));
}

struct dom_race {
    int dom;
    _Atomic int stop;
};

static void *dom_dropper(void *arg)
{
    struct dom_race *r = arg;

    while (!atomic_load(&r->stop)) {
        csp_value_drop(NULL, CSP_VAL_DOMAIN(r->dom, 1));
        sched_yield(); /* a mutex is not fair: leave free a way in */
    }
    return NULL;
}

TEST(value_domain_free_waits_for_a_running_drop)
{
    /* After free returns, the domain's function never runs: the counter
     * it bumps stays still. */
    for (int round = 0; round < test_scaled(100); round++) {
        struct drops d = {0};
        struct dom_race r = {0};
        pthread_t t;
        long n;

        ASSERT_OK(csp_value_domain_new(&r.dom, record_drop, &d));
        ASSERT_EQ(0, pthread_create(&t, NULL, dom_dropper, &r));
        while (atomic_load(&d.n) == 0)
            sched_yield();
        ASSERT_OK(csp_value_domain_free(r.dom));
        n = atomic_load(&d.n);
        for (int i = 0; i < 100; i++)
            sched_yield();
        ASSERT_EQ(n, atomic_load(&d.n));
        atomic_store(&r.stop, 1);
        pthread_join(t, NULL);
    }
}
