"""csp.thread: blocking functions on a cached pool of Python threads."""

import threading

import pytest

import csp


def test_thread_runs_function_with_args():
    assert csp.thread(lambda a, b: a * b, 6, 7).take() == 42


def test_thread_runs_off_main_thread():
    assert csp.thread(threading.get_ident).take() != threading.get_ident()


def test_thread_may_block():
    ch = csp.chan()
    r = csp.thread(ch.take)
    ch.put("unblocked")
    assert r.take(timeout=10) == "unblocked"


def test_thread_none_result_closes():
    r = csp.thread(lambda: None)
    assert r.take(timeout=10) is None


def test_thread_exception_closes_and_reports(caught):
    def f():
        raise KeyError("t")

    assert csp.thread(f).take(timeout=10) is None
    assert caught.event.wait(10) and isinstance(caught[0], KeyError)


def test_thread_non_callable_raises_type_error():
    with pytest.raises(TypeError):
        csp.thread("nope")


def test_thread_many_at_once_all_finish():
    gate = csp.chan()
    rs = [csp.thread(lambda i=i: (gate.take(), i)[1]) for i in range(20)]
    gate.close()
    assert sorted(r.take(timeout=10) for r in rs) == list(range(20))
