"""Channels: creation, buffers, offer/poll, close, bad input."""

import asyncio

import pytest

import csp
from csp import errors


def test_chan_unbuffered_offer_without_taker_returns_none():
    assert csp.chan().offer(1) is None


def test_chan_none_size_is_unbuffered():
    assert csp.chan(None).offer(1) is None


def test_chan_zero_size_is_unbuffered():
    assert csp.chan(0).offer(1) is None


def test_chan_fixed_offer_until_full():
    ch = csp.chan(2)
    assert [ch.offer(1), ch.offer(2), ch.offer(3)] == [True, True, None]


def test_chan_fixed_poll_returns_values_in_order():
    ch = csp.chan(3)
    for v in "abc":
        ch.offer(v)
    assert [ch.poll(), ch.poll(), ch.poll()] == ["a", "b", "c"]


def test_chan_poll_on_empty_returns_none():
    assert csp.chan(1).poll() is None


def test_chan_buffer_spec_is_fixed():
    ch = csp.chan(csp.buffer(1))
    assert (ch.offer(1), ch.offer(2)) == (True, None)


def test_chan_dropping_keeps_oldest():
    ch = csp.chan(csp.dropping(2))
    assert all(ch.offer(i) for i in range(5))
    assert [ch.poll(), ch.poll(), ch.poll()] == [0, 1, None]


def test_chan_sliding_keeps_newest():
    ch = csp.chan(csp.sliding(2))
    assert all(ch.offer(i) for i in range(5))
    assert [ch.poll(), ch.poll(), ch.poll()] == [3, 4, None]


def test_chan_promise_gives_first_value_to_every_taker():
    p = csp.promise_chan()
    p.offer("first")
    p.offer("second")
    assert [p.poll(), p.poll(), p.take()] == ["first"] * 3


def test_chan_promise_closed_empty_returns_none():
    p = csp.promise_chan()
    p.close()
    assert p.take() is None


def test_chan_take_on_closed_returns_none():
    ch = csp.chan(1)
    ch.close()
    assert ch.poll() is None


def test_chan_close_drains_buffer_first():
    ch = csp.chan(2)
    ch.offer(1)
    ch.offer(2)
    ch.close()
    assert [ch.take(), ch.take(), ch.take()] == [1, 2, None]


def test_chan_put_on_closed_returns_false():
    ch = csp.chan(1)
    ch.close()
    assert ch.put(1) is False


def test_chan_offer_on_closed_returns_false():
    ch = csp.chan(1)
    ch.close()
    assert ch.offer(1) is False


def test_chan_closed_property_follows_close():
    ch = csp.chan()
    before = ch.closed
    ch.close()
    assert (before, ch.closed) == (False, True)


def test_chan_close_is_idempotent():
    ch = csp.chan()
    ch.close()
    ch.close()
    assert ch.closed


def test_chan_with_block_closes_on_exit():
    with csp.chan() as ch:
        pass
    assert ch.closed


def test_chan_with_block_closes_on_exception():
    ch = csp.chan()
    with pytest.raises(KeyError):
        with ch:
            raise KeyError
    assert ch.closed


def test_chan_count_is_buffered_values():
    ch = csp.chan(5)
    ch.offer(1)
    ch.offer(2)
    assert ch.count() == 2


def test_chan_ids_increase():
    a, b = csp.chan(), csp.chan()
    assert 0 < a.id < b.id


def test_chan_repr_names_id_and_state():
    ch = csp.chan()
    ch.close()
    assert repr(ch) == f"<csp.Chan #{ch.id} unbuffered count=0 closed>"


def test_chan_repr_shows_buffer_kind_capacity_and_count():
    ch = csp.chan(csp.sliding(4))
    ch.put(1)
    ch.put(2)
    assert repr(ch) == f"<csp.Chan #{ch.id} sliding(4) count=2>"
    assert repr(csp.chan(3)).endswith("buffer(3) count=0>")
    assert repr(csp.chan(csp.dropping(2))).endswith("dropping(2) count=0>")


def test_chan_repr_names_promise_and_timeout():
    p = csp.promise_chan()
    p.put(1)
    assert repr(p).endswith("promise count=1>")
    assert " timeout count=0" in repr(csp.timeout(60_000))


def test_chan_len_and_qsize_are_the_buffered_count():
    ch = csp.chan(5)
    for i in range(3):
        ch.put(i)
    assert len(ch) == ch.qsize() == ch.count() == 3


def test_chan_empty_channel_is_still_true():
    ch = csp.chan(2)
    assert len(ch) == 0 and bool(ch) is True


def test_promise_chan_with_xform_keeps_first_emitted_value():
    p = csp.promise_chan(csp.xf.filter(lambda x: x > 2))
    p.put(1)
    assert p.poll() is None
    p.put(3)
    p.put(4)
    assert [p.take(timeout=10) for _ in range(3)] == [3, 3, 3]


def test_promise_chan_with_xform_wakes_pending_takers():
    p = csp.promise_chan(csp.xf.map(lambda x: x * 10))
    rs = [csp.go(p.atake) for _ in range(5)]
    p.put(2)
    assert [r.take(timeout=10) for r in rs] == [20] * 5


def test_promise_chan_ex_handler_value_becomes_the_promise():
    p = csp.promise_chan(csp.xf.map(lambda x: 1 / x), lambda e: "bad")
    p.put(0)
    assert p.take(timeout=10) == "bad"


def test_promise_chan_with_take_xform_closes_and_keeps_value():
    p = csp.promise_chan(csp.xf.take(1))
    p.put("a")
    assert p.closed and p.take(timeout=10) == "a"


def test_promise_chan_rejects_non_transducer():
    with pytest.raises(TypeError):
        csp.promise_chan(lambda x: x)


def test_promise_chan_rejects_ex_handler_without_xform():
    with pytest.raises(ValueError):
        csp.promise_chan(ex_handler=lambda e: None)


def test_promise_chan_releases_values_its_xform_emitted_later():
    import weakref
    from conftest import Obj, settle
    objs = [Obj(i) for i in range(3)]
    refs = [weakref.ref(o) for o in objs]
    p = csp.promise_chan(csp.xf.map(lambda o: o))
    for o in objs:
        p.put(o)
    del objs, o
    settle()
    assert [r() is None for r in refs] == [False, True, True]
    del p
    settle()
    assert refs[0]() is None


def test_chan_is_generic():
    alias = csp.Chan[int]
    assert alias.__origin__ is csp.Chan


def test_chan_iteration_stops_at_close():
    ch = csp.chan(3)
    for v in (1, 2, 3):
        ch.offer(v)
    ch.close()
    assert list(ch) == [1, 2, 3]


def test_chan_put_none_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(1).put(None)


def test_chan_offer_none_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(1).offer(None)


def test_chan_negative_size_raises_value_error():
    with pytest.raises(ValueError):
        csp.chan(-1)


def test_chan_size_over_cap_max_raises_value_error():
    with pytest.raises(ValueError):
        csp.chan(2**28 + 1)


def test_chan_float_size_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(1.5)


def test_chan_bool_size_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(True)


def test_chan_string_size_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan("3")


def test_chan_buffer_zero_raises_value_error():
    with pytest.raises(ValueError):
        csp.buffer(0)


def test_chan_dropping_zero_raises_value_error():
    with pytest.raises(ValueError):
        csp.dropping(0)


def test_chan_sliding_negative_raises_value_error():
    with pytest.raises(ValueError):
        csp.sliding(-3)


def test_chan_sliding_non_int_raises_type_error():
    with pytest.raises(TypeError):
        csp.sliding("2")


def test_chan_buffer_repr_names_kind():
    assert [repr(csp.buffer(1)), repr(csp.dropping(2)), repr(csp.sliding(3))] == \
        ["csp.buffer(1)", "csp.dropping(2)", "csp.sliding(3)"]


def test_chan_ex_handler_without_xform_raises_value_error():
    with pytest.raises(ValueError):
        csp.chan(1, ex_handler=print)


def test_chan_pending_puts_over_limit_raise_busy_error():
    ch = csp.chan()

    async def main():
        tasks = [asyncio.create_task(ch.aput(i)) for i in range(1024)]
        await asyncio.sleep(0)  # every task ran to its parked put
        try:
            with pytest.raises(errors.BusyError):
                await ch.aput(-1)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def test_chan_size_by_keyword():
    ch = csp.chan(n=1, xform=None, ex_handler=None)
    assert (ch.offer(1), ch.offer(2)) == (True, None)
