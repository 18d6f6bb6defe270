"""Transducers (csp.xf) on channels and on their own."""

import threading

import pytest

import csp
from csp import xf


def through(xform, items, n=64, **kw):
    """Put ITEMS on a channel with XFORM, close it, take everything."""
    ch = csp.chan(n, xform, **kw)
    for v in items:
        if not ch.put(v):
            break
    ch.close()
    return list(ch)


def test_xf_map_applies_function():
    assert through(xf.map(lambda x: x * 10), [1, 2, 3]) == [10, 20, 30]


def test_xf_filter_keeps_true():
    assert through(xf.filter(lambda x: x % 2), range(6)) == [1, 3, 5]


def test_xf_remove_drops_true():
    assert through(xf.remove(lambda x: x % 2), range(6)) == [0, 2, 4]


def test_xf_mapcat_flattens():
    assert through(xf.mapcat(lambda x: [x] * x), [1, 2, 3]) == [1, 2, 2, 3, 3, 3]


def test_xf_cat_flattens_iterables():
    assert through(xf.cat(), [[1, 2], (3,), []]) == [1, 2, 3]


def test_xf_keep_drops_none_results():
    assert through(xf.keep(lambda x: x if x > 1 else None), [0, 1, 2, 3]) == [2, 3]


def test_xf_take_stops_after_n():
    assert through(xf.take(2), [1, 2, 3, 4]) == [1, 2]


def test_xf_take_closes_channel():
    ch = csp.chan(5, xf.take(1))
    ch.put(1)
    assert ch.closed and ch.put(2) is False


def test_xf_take_while_stops_at_first_false():
    assert through(xf.take_while(lambda x: x < 3), [1, 2, 3, 1]) == [1, 2]


def test_xf_drop_skips_first_n():
    assert through(xf.drop(2), [1, 2, 3, 4]) == [3, 4]


def test_xf_drop_while_skips_prefix():
    assert through(xf.drop_while(lambda x: x < 3), [1, 2, 3, 1]) == [3, 1]


def test_xf_partition_all_groups_and_flushes_at_close():
    assert through(xf.partition_all(2), [1, 2, 3, 4, 5]) == [[1, 2], [3, 4], [5]]


def test_xf_partition_by_groups_runs():
    assert through(xf.partition_by(lambda x: x // 10), [1, 2, 11, 12, 3]) == \
        [[1, 2], [11, 12], [3]]


def test_xf_dedupe_drops_consecutive_repeats():
    assert through(xf.dedupe(), [1, 1, 2, 2, 1]) == [1, 2, 1]


def test_xf_distinct_drops_all_repeats():
    assert through(xf.distinct(), [1, 2, 1, 3, 2]) == [1, 2, 3]


def test_xf_comp_applies_left_to_right():
    x = xf.comp(xf.map(lambda v: v + 1), xf.filter(lambda v: v % 2 == 0))
    assert through(x, [1, 2, 3, 4]) == [2, 4]


def test_xf_comp_with_take_stops_early():
    x = xf.comp(xf.map(str), xf.take(2))
    assert through(x, [1, 2, 3]) == ["1", "2"]


def test_xf_comp_empty_is_identity():
    assert through(xf.comp(), [1, 2]) == [1, 2]


def test_xf_identity_passes_values():
    assert through(xf.identity(), "ab") == ["a", "b"]


def test_xf_state_is_per_channel():
    x = xf.take(1)
    assert (through(x, [1, 2]), through(x, [3, 4])) == ([1], [3])


def test_xf_exception_goes_to_ex_handler():
    errs = []

    def h(e):
        errs.append(e)

    out = through(xf.map(lambda x: 1 // x), [1, 0, 1], ex_handler=h)
    assert out == [1, 1] and isinstance(errs[0], ZeroDivisionError)


def test_xf_ex_handler_result_is_added():
    out = through(xf.map(lambda x: 1 // x), [1, 0, 1], ex_handler=lambda e: "err")
    assert out == [1, "err", 1]


def test_xf_exception_without_ex_handler_reported(caught):
    out = through(xf.map(lambda x: 1 // x), [0, 1])
    assert out == [1] and isinstance(caught[0], ZeroDivisionError)


def test_xf_failing_ex_handler_reported(caught):
    def bad(e):
        raise KeyError("in handler")

    out = through(xf.map(lambda x: 1 // x), [0, 2], ex_handler=bad)
    assert out == [0] and isinstance(caught[0], KeyError)


def test_xf_exception_in_completion_goes_to_ex_handler():
    class Rf:
        def __init__(self, rf):
            self.rf = rf

        def step(self, acc, x):
            return self.rf.step(acc, x)

        def complete(self, acc):
            raise RuntimeError("flush failed")

    got = []
    out = through(xf.Xform(Rf), [1], ex_handler=lambda e: got.append(e) or "flushed")
    assert out == [1, "flushed"] and isinstance(got[0], RuntimeError)


def test_xf_emit_none_goes_to_ex_handler():
    got = []
    out = through(xf.map(lambda x: None), [1], ex_handler=got.append)
    assert out == [] and isinstance(got[0], TypeError)


def test_xf_put_from_threads_and_go_processes():
    ch = csp.chan(1, xf.map(lambda x: x * 2))
    n = 300

    def thread_put():
        for i in range(n):
            ch.put(i)

    async def go_put():
        for i in range(n, 2 * n):
            await ch.aput(i)

    t = threading.Thread(target=thread_put)
    t.start()
    r = csp.go(go_put)
    got = sorted(ch.take(timeout=10) for _ in range(2 * n))
    t.join()
    r.take()
    assert got == [2 * i for i in range(2 * n)]


def test_xf_with_unbuffered_raises_value_error():
    with pytest.raises(ValueError):
        csp.chan(None, xf.map(str))


def test_xf_with_non_xform_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(1, lambda rf: rf)


def test_xf_ex_handler_not_callable_raises_type_error():
    with pytest.raises(TypeError):
        csp.chan(1, xf.map(str), ex_handler=3)


def test_xf_map_non_callable_raises_type_error():
    with pytest.raises(TypeError):
        xf.map(3)


def test_xf_take_non_int_raises_type_error():
    with pytest.raises(TypeError):
        xf.take("2")


def test_xf_partition_all_zero_raises_value_error():
    with pytest.raises(ValueError):
        xf.partition_all(0)


def test_xf_comp_non_xform_raises_type_error():
    with pytest.raises(TypeError):
        xf.comp(xf.map(str), str)


def test_xf_reduced_helpers():
    r = xf.reduced(3)
    assert (xf.is_reduced(r), xf.unreduced(r), xf.ensure_reduced(r) is r,
            xf.is_reduced(3), xf.unreduced(3)) == (True, 3, True, False, 3)


def test_xf_transduce_sums():
    assert xf.transduce(xf.map(lambda x: x * 2), lambda a, x: a + x, 0, [1, 2, 3]) == 12


def test_xf_transduce_stops_on_reduced():
    assert xf.transduce(xf.take(2), lambda a, x: a + x, 0, range(100)) == 1


def test_xf_into_list():
    assert xf.into(xf.partition_all(2), range(5)) == [[0, 1], [2, 3], [4]]


def test_xf_repr_names_transducer():
    assert repr(xf.map(str)) == "<csp.xf map>"
