"""Values: any object but None travels; pinned while C holds it, released
exactly once when taken, handed back or dropped (no leak, no early free)."""

import sys
import weakref

import pytest

import csp
from csp import _values
from conftest import Obj, settle


@pytest.mark.parametrize("v", [0, 1, -1, 2**61 - 1, -2**61, 2**61, -2**61 - 1, 2**100,
                               True, False, 0.5, "s", b"b", (1, 2), [3], {"k": 4}, Obj()])
def test_values_roundtrip_keeps_identity(v):
    ch = csp.chan(1)
    ch.put(v)
    out = ch.take()
    assert out is v or (type(v) is int and out == v and type(out) is int)


def test_values_bool_stays_bool():
    ch = csp.chan(2)
    ch.put(True)
    ch.put(False)
    a, b = ch.take(), ch.take()
    assert (a, b, type(a), type(b)) == (True, False, bool, bool)


def test_values_int_not_pinned():
    ch = csp.chan(1)
    before = _values.pinned_count()
    ch.put(12345)
    assert _values.pinned_count() == before


def test_values_refcount_restored_after_take():
    o = Obj()
    base = sys.getrefcount(o)
    ch = csp.chan(1)
    ch.put(o)
    held = sys.getrefcount(o)
    ch.take()
    assert (held, sys.getrefcount(o)) == (base + 1, base)


def test_values_put_object_alive_while_buffered():
    ch = csp.chan(1)
    o = Obj(7)
    r = weakref.ref(o)
    ch.put(o)
    del o
    settle()
    assert r() is not None and ch.take().n == 7


def test_values_sliding_eviction_releases_value():
    ch = csp.chan(csp.sliding(1))
    o = Obj()
    r = weakref.ref(o)
    ch.put(o)
    ch.put(1)
    del o
    settle()
    assert r() is None


def test_values_dropping_refused_put_releases_value():
    ch = csp.chan(csp.dropping(1))
    ch.put(1)
    o = Obj()
    r = weakref.ref(o)
    assert ch.put(o) is True
    del o
    settle()
    assert r() is None


def test_values_promise_extra_put_released():
    p = csp.promise_chan()
    p.put(1)
    o = Obj()
    r = weakref.ref(o)
    p.put(o)
    del o
    settle()
    assert r() is None


def test_values_promise_value_released_with_channel():
    p = csp.promise_chan()
    o = Obj()
    r = weakref.ref(o)
    p.put(o)
    assert p.take() is o
    del o, p
    settle()
    assert r() is None


def test_values_promise_value_alive_while_channel_lives():
    p = csp.promise_chan()
    o = Obj()
    r = weakref.ref(o)
    p.put(o)
    p.take()
    del o
    settle()
    assert r() is not None and p.take() is r()


def test_values_buffered_released_when_channel_freed():
    ch = csp.chan(3)
    objs = [Obj(i) for i in range(3)]
    refs = [weakref.ref(o) for o in objs]
    for o in objs:
        ch.put(o)
    del objs, o, ch
    settle()
    assert all(r() is None for r in refs)


def test_values_put_on_closed_releases_value():
    ch = csp.chan(1)
    ch.close()
    o = Obj()
    base = sys.getrefcount(o)
    ch.put(o)
    assert sys.getrefcount(o) == base


def test_values_offer_that_would_wait_releases_value():
    ch = csp.chan()
    o = Obj()
    base = sys.getrefcount(o)
    assert ch.offer(o) is None
    assert sys.getrefcount(o) == base


def test_values_timed_out_put_releases_value():
    ch = csp.chan()
    o = Obj()
    base = sys.getrefcount(o)
    with pytest.raises(TimeoutError):
        ch.put(o, timeout=0.01)
    assert sys.getrefcount(o) == base


def test_values_alts_uncommitted_put_released():
    a, b = csp.chan(1), csp.chan()
    o1, o2 = Obj(1), Obj(2)
    base = sys.getrefcount(o2)
    v, ch = csp.alts([(a, o1), (b, o2)], priority=True)
    assert (v, ch) == (True, a) and sys.getrefcount(o2) == base


def test_values_xform_filtered_value_released():
    ch = csp.chan(1, csp.xf.filter(lambda x: False))
    o = Obj()
    r = weakref.ref(o)
    ch.put(o)
    del o
    settle()
    assert r() is None


def test_values_no_pins_left_after_traffic():
    before = _values.pinned_count()
    ch = csp.chan(csp.sliding(4))
    for i in range(100):
        ch.put(Obj(i))
    ch.close()
    list(ch)
    del ch
    settle()
    assert _values.pinned_count() == before


def test_values_drop_from_go_process_released():
    ch = csp.chan(csp.sliding(1))
    o = Obj()
    r = weakref.ref(o)

    async def main(x):
        await ch.aput(x)
        await ch.aput(2)

    csp.go(main, o).take()
    del o
    settle()
    assert r() is None
