/* test_ops_mix.c - mix: admix/unmix, mute (read and dropped), pause (not
 * read), solo and solo mode, the output never closed by the mix. */
#include "ops_util.h"

static csp_mix *mix_into(csp_chan *out)
{
    csp_mix *m;

    ASSERT_OK(csp_mix_new(&m, test_rt, out));
    return m;
}

/* Wait until CH's buffer has been read down to N values. */
static void drained_to(csp_chan *ch, size_t n)
{
    int64_t end = deadline_in(8 * SEC * test_slowdown());

    while (csp_chan_count(ch) > n) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
}

TEST(mix_forwards_values_of_every_input)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8);
    csp_chan *a = mkchan(CSP_BUF_FIXED, 4), *b = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);
    uintptr_t sum = 0;

    ASSERT_OK(csp_mix_admix(m, a));
    ASSERT_OK(csp_mix_admix(m, b));
    put8(a, 1);
    put8(b, 10);
    put8(a, 2);
    for (int i = 0; i < 3; i++)
        sum += take_val(out);
    ASSERT_EQ(13, sum);
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(mix_never_closes_its_output_when_inputs_close)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);
    void *v;

    ASSERT_OK(csp_mix_admix(m, a));
    put8(a, 1);
    ASSERT_OK(csp_chan_close(a));
    ASSERT_EQ(1, take_val(out));
    /* The closed input leaves the mix; out stays open. */
    int64_t end = deadline_in(8 * SEC);
    while (csp_mix_unmix(m, a) != CSP_EAGAIN) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
    ASSERT_EQ(0, csp_chan_closed(out));
    ASSERT_RC(CSP_ETIMEDOUT,
              csp_chan_take_blocking(out, &v, deadline_in(5 * MSEC)));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
}

TEST(mix_muted_input_is_read_and_dropped)
{
    struct drops d = {0};
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a, *b = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_chan_new(&a, test_rt, CSP_BUF_FIXED, 4, record_drop, &d));
    ASSERT_OK(csp_mix_toggle(m, a, CSP_MIX_MUTE));
    ASSERT_OK(csp_mix_admix(m, b));
    put8(a, 1);
    put8(a, 2);
    drained_to(a, 0);
    put8(b, 5);
    ASSERT_EQ(5, take_val(out));
    int64_t end = deadline_in(8 * SEC);
    while (atomic_load(&d.n) < 2) {
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
    ASSERT_EQ(0, csp_chan_count(out));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(mix_paused_input_is_not_read)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a = mkchan(CSP_BUF_FIXED, 4);
    csp_chan *b = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_mix_toggle(m, a, CSP_MIX_PAUSE));
    ASSERT_OK(csp_mix_admix(m, b));
    put8(a, 1);
    put8(b, 2);
    ASSERT_EQ(2, take_val(out));     /* the mix ran ... */
    ASSERT_EQ(1, csp_chan_count(a)); /* ... and left a's value alone */
    ASSERT_OK(csp_mix_toggle(m, a, 0));
    ASSERT_EQ(1, take_val(out));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(b);
}

TEST(mix_solo_mutes_the_others_by_default)
{
    struct drops d = {0};
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a, *s = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_chan_new(&a, test_rt, CSP_BUF_FIXED, 4, record_drop, &d));
    ASSERT_OK(csp_mix_admix(m, a));
    ASSERT_OK(csp_mix_toggle(m, s, CSP_MIX_SOLO));
    put8(a, 1);
    drained_to(a, 0); /* read and dropped */
    put8(s, 2);
    ASSERT_EQ(2, take_val(out));
    ASSERT_EQ(0, csp_chan_count(out));
    ASSERT_EQ(1, atomic_load(&d.n));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(s);
}

TEST(mix_solo_mode_pause_leaves_the_others_unread)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a = mkchan(CSP_BUF_FIXED, 4);
    csp_chan *s = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_mix_solo_mode(m, CSP_MIX_PAUSE));
    ASSERT_OK(csp_mix_admix(m, a));
    ASSERT_OK(csp_mix_toggle(m, s, CSP_MIX_SOLO));
    put8(a, 1);
    put8(s, 2);
    ASSERT_EQ(2, take_val(out));
    ASSERT_EQ(1, csp_chan_count(a));
    ASSERT_OK(csp_mix_toggle(m, s, 0)); /* no solo: a is heard again */
    ASSERT_EQ(1, take_val(out));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(s);
}

TEST(mix_unmix_all_stops_reading_every_input)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);
    void *v;

    ASSERT_OK(csp_mix_admix(m, a));
    put8(a, 1);
    ASSERT_EQ(1, take_val(out));
    ASSERT_OK(csp_mix_unmix_all(m));
    put8(a, 2);
    ASSERT_RC(CSP_ETIMEDOUT,
              csp_chan_take_blocking(out, &v, deadline_in(5 * MSEC)));
    ASSERT_EQ(1, csp_chan_count(a));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
}

TEST(mix_rejects_bad_arguments)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8);
    csp_mix *m;

    ASSERT_RC(CSP_EINVAL, csp_mix_new(&m, test_rt, NULL));
    ASSERT_RC(CSP_EINVAL, csp_mix_new(NULL, test_rt, out));
    m = mix_into(out);
    ASSERT_RC(CSP_EINVAL, csp_mix_admix(m, NULL));
    ASSERT_RC(CSP_EINVAL, csp_mix_toggle(m, out, 64));
    ASSERT_RC(CSP_EINVAL, csp_mix_solo_mode(m, CSP_MIX_SOLO));
    ASSERT_RC(CSP_EINVAL, csp_mix_unmix(NULL, out));
    ASSERT_RC(CSP_EINVAL, csp_mix_unmix_all(NULL));
    csp_mix_release(NULL);
    csp_mix_release(m);
    csp_chan_release(out);
}

/* ------------------------------------------------------------------------
 * After the output closed (core.async accepts the change and its go loop,
 * once it finds the output closed, leaves the input unread for ever). */

/* Wait (bounded) until no go process of test_rt is alive: the mix's
 * process has ended. */
static void wait_no_procs(void)
{
    int64_t end = deadline_in(8 * SEC * test_slowdown());
    int64_t live;

    for (;;) {
        ASSERT_OK(csp_rt_stat(test_rt, CSP_STAT_PROCS_LIVE, &live));
        if (live == 0)
            return;
        ASSERT_TRUE(csp_now_ns() < end);
        sched_yield();
    }
}

TEST(mix_admix_after_output_closed_returns_eclosed_and_leaves_input_alone)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_chan_close(out));
    ASSERT_RC(CSP_ECLOSED, csp_mix_admix(m, a));
    ASSERT_RC(CSP_EAGAIN, csp_mix_unmix(m, a)); /* not added */
    ASSERT_EQ(0, csp_chan_closed(a));
    put8(a, 1);
    wait_no_procs(); /* the mix ended at the refused admix */
    ASSERT_EQ(1, csp_chan_count(a));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
}

TEST(mix_toggle_after_output_closed_returns_eclosed_and_changes_nothing)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a = mkchan(CSP_BUF_FIXED, 4);
    csp_chan *b = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_mix_admix(m, a));
    ASSERT_OK(csp_chan_close(out));
    ASSERT_RC(CSP_ECLOSED, csp_mix_toggle(m, a, CSP_MIX_SOLO));
    ASSERT_RC(CSP_ECLOSED, csp_mix_toggle(m, b, 0));
    ASSERT_RC(CSP_ECLOSED, csp_mix_admix(m, a)); /* an input already */
    ASSERT_RC(CSP_EAGAIN, csp_mix_unmix(m, b));
    ASSERT_OK(csp_mix_unmix(m, a)); /* unmix still works */
    ASSERT_EQ(0, csp_chan_closed(a));
    ASSERT_EQ(0, csp_chan_closed(b));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(b);
}

/* The mix ended by itself (its output refused a value): admix is
 * refused, and the new input is never read. */
TEST(mix_admix_after_the_mix_ended_returns_eclosed)
{
    struct drops d = {0};
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a, *b = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_chan_new(&a, test_rt, CSP_BUF_FIXED, 4, record_drop, &d));
    ASSERT_OK(csp_mix_admix(m, a));
    put8(a, 6);
    ASSERT_EQ(6, take_val(out)); /* the mix reads a, no change pending */
    ASSERT_OK(csp_chan_close(out));
    put8(a, 7); /* read, refused by out, dropped: the mix ends */
    wait_no_procs();
    ASSERT_EQ(1, atomic_load(&d.n));
    ASSERT_RC(CSP_ECLOSED, csp_mix_admix(m, b));
    put8(b, 8);
    ASSERT_EQ(1, csp_chan_count(b));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(b);
}

/* A change (here unmix) made after the output closed ends the mix before
 * it reads again: a value arriving later on a remaining input stays
 * there instead of being read and dropped. */
TEST(mix_change_after_output_closed_ends_the_mix_before_it_reads_again)
{
    csp_chan *out = mkchan(CSP_BUF_FIXED, 8), *a = mkchan(CSP_BUF_FIXED, 4);
    csp_chan *b = mkchan(CSP_BUF_FIXED, 4);
    csp_mix *m = mix_into(out);

    ASSERT_OK(csp_mix_admix(m, a));
    ASSERT_OK(csp_mix_admix(m, b));
    ASSERT_OK(csp_chan_close(out));
    ASSERT_OK(csp_mix_unmix(m, b));
    wait_no_procs();
    put8(a, 1);
    ASSERT_EQ(1, csp_chan_count(a));
    csp_mix_release(m);
    csp_chan_release(out);
    csp_chan_release(a);
    csp_chan_release(b);
}
