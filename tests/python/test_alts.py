"""alts / aalts: exactly one op commits; priority, default, puts, closed."""

import threading

import pytest

import csp
from conftest import run_go


def test_alts_takes_from_ready_channel():
    a, b = csp.chan(), csp.chan(1)
    b.put("b")
    assert csp.alts([a, b]) == ("b", b)


def test_alts_put_op_returns_true_and_channel():
    a = csp.chan(1)
    assert csp.alts([(a, "x")]) == (True, a) and a.poll() == "x"


def test_alts_put_on_closed_returns_false():
    a = csp.chan(1)
    a.close()
    assert csp.alts([(a, 1)]) == (False, a)


def test_alts_take_on_closed_returns_none():
    a = csp.chan()
    a.close()
    assert csp.alts([a]) == (None, a)


def test_alts_priority_picks_first_ready():
    a, b = csp.chan(1), csp.chan(1)
    a.put(1)
    b.put(2)
    assert csp.alts([a, b], priority=True) == (1, a)


def test_alts_random_order_picks_both_over_many_runs():
    seen = set()
    for _ in range(200):
        a, b = csp.chan(1), csp.chan(1)
        a.put(1)
        b.put(2)
        seen.add(csp.alts([a, b])[0])
    assert seen == {1, 2}


def test_alts_default_when_nothing_ready():
    assert csp.alts([csp.chan()], default="d") == ("d", "default")


def test_alts_default_none_is_a_default():
    assert csp.alts([csp.chan()], default=None) == (None, "default")


def test_alts_ready_op_beats_default():
    a = csp.chan(1)
    a.put(5)
    assert csp.alts([a], default="d") == (5, a)


def test_alts_blocks_until_thread_puts():
    a, b = csp.chan(), csp.chan()
    threading.Thread(target=b.put, args=("late",)).start()
    assert csp.alts([a, b]) == ("late", b)


def test_alts_exactly_one_op_commits():
    a, b = csp.chan(1), csp.chan(1)
    csp.alts([(a, 1), (b, 2)])
    assert [a.count(), b.count()].count(1) == 1


def test_alts_mixed_put_and_take():
    src, dst = csp.chan(), csp.chan(1)
    v, c = csp.alts([src, (dst, "out")])
    assert (v, c) == (True, dst)


def test_alts_with_timeout_channel():
    t = csp.timeout(10)
    assert csp.alts([csp.chan(), t]) == (None, t)


def test_alts_empty_raises_value_error():
    with pytest.raises(ValueError):
        csp.alts([])


def test_alts_bad_op_raises_type_error():
    with pytest.raises(TypeError):
        csp.alts([1])


def test_alts_bad_pair_raises_type_error():
    with pytest.raises(TypeError):
        csp.alts([(csp.chan(), 1, 2)])


def test_alts_string_ops_raise_type_error():
    with pytest.raises(TypeError):
        csp.alts("ab")


def test_alts_put_none_raises_type_error():
    with pytest.raises(TypeError):
        csp.alts([(csp.chan(1), None)])


def test_alts_put_on_timeout_channel_raises_wrong_context():
    with pytest.raises(csp.errors.WrongContextError):
        csp.alts([(csp.timeout(1000), 1)])


def test_alts_in_go_process():
    a, b = csp.chan(), csp.chan()

    async def f():
        csp.go(b.aput("from b"))
        return await csp.aalts([a, b])

    assert run_go(f) == ("from b", b)


def test_alts_in_go_default():
    async def f():
        return await csp.aalts([csp.chan()], default=1)

    assert run_go(f) == (1, "default")


def test_alts_in_go_put_op():
    a = csp.chan()
    r = csp.go(lambda: csp.aalts([(a, "p")]))
    assert a.take() == "p" and r.take() == (True, a)


def test_alts_in_go_many_channels_fan_in():
    chans = [csp.chan() for _ in range(50)]

    async def producer(i):
        await chans[i].aput(i)

    async def consumer():
        got = []
        for _ in range(50):
            v, c = await csp.aalts(chans)
            got.append(v)
        return sorted(got)

    for i in range(50):
        csp.go(producer, i)
    assert run_go(consumer) == list(range(50))


def test_alts_aalts_bad_op_raises_type_error():
    async def f():
        try:
            await csp.aalts(["x"])
        except TypeError:
            return "refused"

    assert run_go(f) == "refused"
