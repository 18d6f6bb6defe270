"""core.async's combinators: pipe, onto_chan, to_chan, into, reduce, merge,
split, mult, pub, mix, pipeline(s), map, take."""

import threading
import time

import pytest

import csp
from csp import xf
from conftest import run_go, wait_until


def drain(ch, timeout=10):
    out = []
    while (v := ch.take(timeout=timeout)) is not None:
        out.append(v)
    return out


# -- pipe, onto_chan, to_chan, into, reduce ---------------------------------------

def test_ops_pipe_moves_values_and_closes():
    src, dst = csp.to_chan([1, 2, 3]), csp.chan()
    assert csp.pipe(src, dst) is dst and drain(dst) == [1, 2, 3]


def test_ops_pipe_without_close_leaves_dst_open():
    src, dst = csp.to_chan([1]), csp.chan(5)
    csp.pipe(src, dst, close=False)
    assert dst.take(timeout=10) == 1
    with pytest.raises(TimeoutError):
        dst.take(timeout=0.05)


def test_ops_pipe_stops_when_dst_closed():
    src, dst = csp.chan(3), csp.chan()
    dst.close()
    csp.pipe(src, dst)
    src.put(1)
    src.put(2)
    csp.timeout(50).take()  # time to do wrong: a running pipe would take 2 too
    assert src.count() == 1  # the pipe took one value, found dst closed, stopped


def test_ops_pipe_bad_argument_raises_type_error():
    with pytest.raises(TypeError):
        csp.pipe([1], csp.chan())


def test_ops_onto_chan_puts_all_then_closes():
    ch = csp.chan()
    done = csp.onto_chan(ch, range(4))
    assert drain(ch) == [0, 1, 2, 3] and done.take(timeout=10) is None


def test_ops_onto_chan_without_close():
    ch = csp.chan(10)
    csp.onto_chan(ch, [1, 2], close=False).take(timeout=10)
    assert (ch.closed, ch.poll(), ch.poll()) == (False, 1, 2)


def test_ops_onto_chan_generator_is_lazy():
    ch = csp.chan()

    def gen():
        for i in range(3):
            yield i

    csp.onto_chan(ch, gen())
    assert drain(ch) == [0, 1, 2]


def test_ops_onto_chan_non_iterable_raises_type_error():
    with pytest.raises(TypeError):
        csp.onto_chan(csp.chan(), 5)


def test_ops_to_chan_holds_items_then_closes():
    assert drain(csp.to_chan("abc")) == ["a", "b", "c"]


def test_ops_to_chan_empty_is_closed():
    ch = csp.to_chan([])
    assert ch.closed and ch.take() is None


def test_ops_to_chan_iterator_without_len():
    assert drain(csp.to_chan(iter(range(150)))) == list(range(150))


def test_ops_into_collects_list():
    assert csp.into(csp.to_chan([3, 1, 2])).take(timeout=10) == [3, 1, 2]


def test_ops_reduce_folds_values():
    assert csp.reduce(lambda a, x: a + x, 10, csp.to_chan(range(5))).take(timeout=10) == 20


def test_ops_reduce_stops_on_reduced():
    r = csp.reduce(lambda a, x: xf.reduced(a) if x > 2 else a + x, 0, csp.to_chan(range(10)))
    assert r.take(timeout=10) == 3


def test_ops_reduce_empty_gives_init():
    ch = csp.chan()
    ch.close()
    assert csp.reduce(lambda a, x: a, "init", ch).take(timeout=10) == "init"


def test_ops_reduce_exception_reported(caught):
    r = csp.reduce(lambda a, x: 1 // 0, 0, csp.to_chan([1]))
    assert r.take(timeout=10) is None and caught.event.wait(10)
    assert isinstance(caught[0], ZeroDivisionError)


def test_ops_reduce_non_callable_raises_type_error():
    with pytest.raises(TypeError):
        csp.reduce(1, 0, csp.chan())


# -- merge, split ----------------------------------------------------------------------

def test_ops_merge_combines_and_closes():
    out = csp.merge([csp.to_chan([1, 2]), csp.to_chan([3]), csp.to_chan([])])
    assert sorted(drain(out)) == [1, 2, 3] and out.closed


def test_ops_merge_buffered_output():
    out = csp.merge([csp.to_chan([1, 2, 3])], 10)
    wait_until(lambda: out.count() == 3)  # no taker: only a buffer holds 3
    assert out.count() == 3


def test_ops_merge_of_nothing_closes():
    assert csp.merge([]).take(timeout=10) is None


def test_ops_split_routes_by_predicate():
    t, f = csp.split(lambda x: x % 2 == 0, csp.to_chan(range(6)), 10, 10)
    assert (drain(t), drain(f)) == ([0, 2, 4], [1, 3, 5])


def test_ops_split_closes_both():
    ch = csp.chan()
    t, f = csp.split(bool, ch)
    ch.close()
    assert (t.take(timeout=10), f.take(timeout=10)) == (None, None)


# -- mult ---------------------------------------------------------------------------------

def test_ops_mult_copies_to_every_tap():
    src = csp.chan()
    m = csp.mult(src)
    a, b = m.tap(csp.chan(5)), m.tap(csp.chan(5))
    csp.onto_chan(src, [1, 2])
    assert (drain(a), drain(b)) == ([1, 2], [1, 2])


def test_ops_mult_tap_without_close_stays_open():
    src = csp.chan()
    m = csp.mult(src)
    a = m.tap(csp.chan(5), close=False)
    b = m.tap(csp.chan(5))
    src.put(1)
    src.close()
    assert drain(b) == [1] and not a.closed and a.poll() == 1


def test_ops_mult_untap_stops_copies():
    src = csp.chan()
    m = csp.mult(src)
    a, b = m.tap(csp.chan(5)), m.tap(csp.chan(5))
    src.put(1)
    first = a.take(timeout=10)  # the mult has handled 1
    m.untap(a)
    src.put(2)
    src.close()
    assert (first, drain(b), a.poll()) == (1, [1, 2], None)


def test_ops_mult_untap_all():
    src = csp.chan()
    m = csp.mult(src)
    a = m.tap(csp.chan(5))
    m.untap_all()
    src.put(1)   # taken by the mult and dropped: no taps
    src.close()
    csp.timeout(20).take()
    assert a.poll() is None and not a.closed


def test_ops_mult_closed_tap_is_removed():
    src = csp.chan()
    m = csp.mult(src)
    a, b = csp.chan(), m.tap(csp.chan(5))
    m.tap(a)
    a.close()
    src.put(1)
    src.put(2)
    src.close()
    assert drain(b) == [1, 2] and a not in m._taps


def test_ops_mult_waits_for_slow_tap():
    src = csp.chan()
    m = csp.mult(src)
    slow = m.tap(csp.chan())
    fast = m.tap(csp.chan(10))
    csp.onto_chan(src, [1, 2, 3])
    first = fast.take(timeout=10)
    csp.timeout(30).take()
    # the mult cannot take 2 until the slow tap took 1
    assert (first, fast.poll(), slow.take(timeout=10)) == (1, None, 1)


# -- pub/sub ---------------------------------------------------------------------------------

def test_ops_pub_routes_by_topic():
    src = csp.chan()
    p = csp.pub(src, lambda v: v[0])
    a, b = p.sub("a", csp.chan(5)), p.sub("b", csp.chan(5))
    csp.onto_chan(src, ["a1", "b1", "a2", "c1"])
    assert (drain(a), drain(b)) == (["a1", "a2"], ["b1"])


def test_ops_pub_unsub_stops_topic():
    src = csp.chan()
    p = csp.pub(src, lambda v: v[0])
    a = p.sub("a", csp.chan(5))
    b = p.sub("a", csp.chan(5))
    src.put("a1")
    first = a.take(timeout=10)  # the pub has handled a1
    p.unsub("a", a)
    src.put("a2")
    src.close()
    assert (first, drain(b), a.poll()) == ("a1", ["a1", "a2"], None)


def test_ops_pub_unsub_all_topic():
    src = csp.chan()
    p = csp.pub(src, lambda v: v[0])
    a = p.sub("a", csp.chan(5), close=False)
    b = p.sub("b", csp.chan(5))
    p.unsub_all("a")
    src.put("a1")
    src.put("b1")
    src.close()
    assert drain(b) == ["b1"] and a.poll() is None


def test_ops_pub_unsub_all():
    src = csp.chan()
    p = csp.pub(src, lambda v: v[0])
    a = p.sub("a", csp.chan(5), close=False)
    p.unsub_all()
    src.put("a1")
    done = csp.chan()
    p.sub("z", done)
    src.close()
    assert done.take(timeout=10) is None and a.poll() is None


def test_ops_pub_buf_fn_sizes_topic_channel():
    src = csp.chan()
    sizes = []
    p = csp.pub(src, lambda v: v, buf_fn=lambda t: sizes.append(t) or 4)
    p.sub("x", csp.chan(1))
    assert sizes == ["x"]


def test_ops_pub_closes_subs_at_source_close():
    src = csp.chan()
    p = csp.pub(src, str)
    a = p.sub("1", csp.chan(2))
    src.close()
    assert a.take(timeout=10) is None


def test_ops_pub_non_callable_topic_fn_raises_type_error():
    with pytest.raises(TypeError):
        csp.pub(csp.chan(), "topic")


# -- taps and subs after the source closed (unlike core.async: closed, not
# left open for ever) -------------------------------------------------------------

def ended_mult(src):
    """A mult of SRC whose process has ended: SRC is closed, and a tap with
    close, closed by the process after it marked the mult ended, is seen
    closed."""
    m = csp.mult(src)
    first = m.tap(csp.chan(1))
    src.close()
    assert first.take(timeout=10) is None
    return m


def test_ops_mult_tap_with_close_after_the_mult_ended_is_closed_at_once():
    m = ended_mult(csp.chan())
    late = m.tap(csp.chan(1))
    assert late.closed and late not in m._taps


def test_ops_mult_tap_without_close_after_the_mult_ended_stays_open():
    m = ended_mult(csp.chan())
    late = m.tap(csp.chan(1), close=False)
    assert not late.closed and late in m._taps


def test_ops_mult_tap_racing_the_end_of_the_mult_is_always_closed():
    """A tap racing the mult's end is closed by the process or by tap(),
    never left open (both happen: about a third of the taps here find the
    mult ended); up to 1000 fresh mults, at most 5 s."""
    end = time.monotonic() + 5
    n = 0
    while n < 1000 and time.monotonic() < end:
        src, ch = csp.chan(), csp.chan(1)
        m = csp.mult(src)
        src.close()
        for _ in range(n % 50):  # jitter: each call lets the GIL go, so
            ch.closed            # tap() lands before or after the end
        m.tap(ch)
        assert ch.take(timeout=10) is None  # closed, or TimeoutError
        n += 1
    assert n >= 100


def ended_pub(src):
    """A pub of SRC whose process has ended, seen through a subscriber
    with close that the topic's mult closed."""
    p = csp.pub(src, lambda v: v)
    first = p.sub("t", csp.chan(1))
    src.close()
    assert first.take(timeout=10) is None
    return p


def test_ops_pub_sub_with_close_after_the_pub_ended_is_closed_at_once():
    p = ended_pub(csp.chan())
    old, fresh = p.sub("t", csp.chan(1)), p.sub("new", csp.chan(1))
    assert old.closed and fresh.closed and "new" not in p._mults


def test_ops_pub_sub_without_close_after_the_pub_ended_stays_open():
    p = ended_pub(csp.chan())
    late = p.sub("t", csp.chan(1), close=False)
    assert not late.closed


def test_ops_pub_sub_racing_the_end_of_the_pub_is_always_closed():
    """Up to 500 fresh pubs, at most 5 s: never left open."""
    end = time.monotonic() + 5
    n = 0
    while n < 500 and time.monotonic() < end:
        src = csp.chan()
        p = csp.pub(src, lambda v: v)
        p.sub("a", csp.chan(1), close=False)  # topic "a" exists
        src.close()
        for _ in range(n % 50):
            src.closed
        ch = p.sub("a" if n % 2 else "b", csp.chan(1))
        assert ch.take(timeout=10) is None
        n += 1
    assert n >= 50


# -- mix ------------------------------------------------------------------------------------------

def settled(m):
    """Wait until the mix's process took its last change notification:
    from then on it reads with the current attributes."""
    wait_until(lambda: m._change.count() == 0)


def test_ops_mix_merges_admixed():
    out = csp.chan(10)
    m = csp.mix(out)
    a, b = csp.chan(), csp.chan()
    m.admix(a)
    m.admix(b)
    a.put(1)
    b.put(2)
    assert sorted([out.take(timeout=10), out.take(timeout=10)]) == [1, 2]


def test_ops_mix_mute_takes_and_discards():
    out = csp.chan(10)
    m = csp.mix(out)
    a = csp.chan()
    m.toggle({a: {"mute": True}})
    a.put(1)          # taken (a muted channel is still read) and discarded
    m.toggle({a: {"mute": False}})
    settled(m)
    a.put(2)
    assert out.take(timeout=10) == 2 and out.poll() is None


def test_ops_mix_pause_stops_taking():
    out = csp.chan(10)
    m = csp.mix(out)
    a = csp.chan(1)
    m.toggle({a: {"pause": True}})
    settled(m)
    a.put(1)
    csp.timeout(30).take()  # time to do wrong
    assert a.count() == 1  # not taken while paused


def test_ops_mix_solo_mutes_others():
    out = csp.chan(10)
    m = csp.mix(out)
    a, b = csp.chan(), csp.chan()
    m.toggle({a: {}, b: {"solo": True}})
    a.put("muted")
    b.put("solo")
    assert out.take(timeout=10) == "solo" and out.poll() is None


def test_ops_mix_solo_mode_pause_stops_others():
    out = csp.chan(10)
    m = csp.mix(out)
    a, b = csp.chan(1), csp.chan()
    m.solo_mode("pause")
    m.toggle({a: {}, b: {"solo": True}})
    settled(m)
    b.put("solo")
    assert out.take(timeout=10) == "solo"
    a.put("paused")
    csp.timeout(30).take()  # time to do wrong
    assert a.count() == 1


def test_ops_mix_unmix_stops_taking():
    out = csp.chan(10)
    m = csp.mix(out)
    a = csp.chan(1)
    m.admix(a)
    m.unmix(a)
    settled(m)
    a.put(1)
    csp.timeout(30).take()  # time to do wrong
    assert a.count() == 1


def test_ops_mix_unmix_all():
    out = csp.chan(10)
    m = csp.mix(out)
    a, b = csp.chan(1), csp.chan(1)
    m.admix(a)
    m.admix(b)
    m.unmix_all()
    settled(m)
    a.put(1)
    b.put(2)
    csp.timeout(30).take()  # time to do wrong
    assert (a.count(), b.count()) == (1, 1)


def test_ops_mix_closed_input_removed():
    out = csp.chan(10)
    m = csp.mix(out)
    a = csp.chan()
    m.admix(a)
    a.close()
    wait_until(lambda: a not in m._cs)
    assert a not in m._cs


def test_ops_mix_bad_attribute_raises_value_error():
    m = csp.mix(csp.chan())
    with pytest.raises(ValueError):
        m.toggle({csp.chan(): {"loud": True}})


def test_ops_mix_bad_solo_mode_raises_value_error():
    with pytest.raises(ValueError):
        csp.mix(csp.chan()).solo_mode("solo")


def test_ops_mix_non_bool_attribute_raises_type_error():
    with pytest.raises(TypeError):
        csp.mix(csp.chan()).toggle({csp.chan(): {"mute": 1}})


def test_ops_mix_admix_after_output_closed_returns_false_and_leaves_input_alone():
    out = csp.chan(10)
    m = csp.mix(out)
    a = csp.chan(1)
    out.close()
    assert m.admix(a) is False
    assert m._done.take(timeout=10) is None  # the mix's process ended
    a.put(1)
    assert a not in m._cs and not a.closed and a.count() == 1


def test_ops_mix_toggle_after_output_closed_returns_false_and_changes_nothing():
    out = csp.chan(10)
    m = csp.mix(out)
    a, b = csp.chan(1), csp.chan(1)
    assert m.admix(a) is True
    out.close()
    assert m.toggle({a: {"solo": True}, b: {}}) is False
    assert m._cs == {a: {}} and not a.closed and not b.closed


def test_ops_mix_admix_after_the_mix_ended_returns_false():
    out = csp.chan(10)
    m = csp.mix(out)
    a, b = csp.chan(1), csp.chan(1)
    m.admix(a)
    a.put(6)
    assert out.take(timeout=10) == 6  # the mix reads a
    out.close()
    a.put(7)  # read, refused by out: the mix ends
    assert m._done.take(timeout=10) is None
    assert m.admix(b) is False
    b.put(8)
    assert b.count() == 1


def test_ops_mix_change_after_output_closed_ends_the_mix_before_it_reads_again():
    out = csp.chan(10)
    m = csp.mix(out)
    a, b = csp.chan(1), csp.chan(1)
    m.admix(a)
    m.admix(b)
    out.close()
    m.unmix(b)
    assert m._done.take(timeout=10) is None
    a.put(1)
    assert a.count() == 1


# -- pipelines -------------------------------------------------------------------------------------

def test_ops_pipeline_transforms_in_order():
    out = csp.chan()
    csp.pipeline(4, out, xf.map(lambda x: x * x), csp.to_chan(range(20)))
    assert drain(out) == [x * x for x in range(20)]


def test_ops_pipeline_with_multi_value_xform():
    out = csp.chan()
    csp.pipeline(2, out, xf.mapcat(lambda x: [x, x]), csp.to_chan([1, 2]))
    assert drain(out) == [1, 1, 2, 2]


def test_ops_pipeline_ex_handler_value_added():
    out = csp.chan()
    csp.pipeline(2, out, xf.map(lambda x: 1 // x), csp.to_chan([1, 0, 1]),
                 ex_handler=lambda e: "bad")
    assert drain(out) == [1, "bad", 1]


def test_ops_pipeline_without_close_leaves_to_open():
    out = csp.chan(10)
    csp.pipeline(1, out, xf.map(str), csp.to_chan([1]), close=False)
    assert out.take(timeout=10) == "1"
    csp.timeout(30).take()
    assert not out.closed


def test_ops_pipeline_blocking_runs_on_threads():
    out = csp.chan()
    main = threading.get_ident()
    csp.pipeline_blocking(3, out, xf.map(lambda x: (x, threading.get_ident() != main)),
                          csp.to_chan(range(10)))
    got = drain(out)
    assert [g[0] for g in got] == list(range(10)) and all(g[1] for g in got)


def test_ops_pipeline_async_results_in_order():
    out = csp.chan()

    def af(v, res):
        async def work():
            await csp.timeout((5 - v) * 2).atake()
            await res.aput(v)
            await res.aput(v * 10)
            res.close()
        csp.go(work)

    csp.pipeline_async(5, out, af, csp.to_chan(range(5)))
    assert drain(out) == [0, 0, 1, 10, 2, 20, 3, 30, 4, 40]


def test_ops_pipeline_zero_workers_raises_value_error():
    with pytest.raises(ValueError):
        csp.pipeline(0, csp.chan(), xf.map(str), csp.chan())


def test_ops_pipeline_non_xform_raises_type_error():
    with pytest.raises(TypeError):
        csp.pipeline(1, csp.chan(), str, csp.chan())


def test_ops_pipeline_async_non_callable_raises_type_error():
    with pytest.raises(TypeError):
        csp.pipeline_async(1, csp.chan(), None, csp.chan())


# -- map, take --------------------------------------------------------------------------------------

def test_ops_map_combines_one_from_each():
    out = csp.map(lambda a, b: a + b, [csp.to_chan([1, 2, 3]), csp.to_chan([10, 20])])
    assert drain(out) == [11, 22]


def test_ops_map_of_no_channels_is_closed():
    assert csp.map(lambda: 1, []).take() is None


def test_ops_map_exception_closes_and_reports(caught):
    out = csp.map(lambda a: 1 // a, [csp.to_chan([0])])
    assert out.take(timeout=10) is None and caught.event.wait(10)
    assert isinstance(caught[0], ZeroDivisionError)


def test_ops_take_first_n():
    assert drain(csp.take(2, csp.to_chan(range(5)))) == [0, 1]


def test_ops_take_stops_at_close():
    assert drain(csp.take(10, csp.to_chan([1]))) == [1]


def test_ops_take_zero_closes_at_once():
    assert csp.take(0, csp.chan()).take(timeout=10) is None


def test_ops_take_negative_raises_value_error():
    with pytest.raises(ValueError):
        csp.take(-1, csp.chan())


def test_ops_combinators_compose_in_go():
    async def main():
        src = csp.to_chan(range(10))
        evens, odds = csp.split(lambda x: x % 2 == 0, src)
        doubled = csp.map(lambda a, b: a * b, [evens, odds])
        return await csp.into(doubled).atake()

    assert run_go(main) == [0, 2 * 3, 4 * 5, 6 * 7, 8 * 9]
