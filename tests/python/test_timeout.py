"""csp.timeout(ms): a channel that closes after ms, never earlier."""

import time

import pytest

import csp


def test_timeout_take_returns_none_after_ms():
    t0 = time.monotonic()
    assert csp.timeout(30).take() is None
    assert time.monotonic() - t0 >= 0.03


def test_timeout_not_late_by_much():
    t0 = time.monotonic()
    csp.timeout(20).take()
    assert time.monotonic() - t0 < 1.0


def test_timeout_zero_closes_at_once():
    assert csp.timeout(0).take(timeout=5) is None


def test_timeout_float_ms_rounds_up():
    t0 = time.monotonic()
    csp.timeout(10.2).take()
    assert time.monotonic() - t0 >= 0.0102


def test_timeout_closed_after_take():
    t = csp.timeout(1)
    t.take()
    assert t.closed


def test_timeout_put_raises_wrong_context():
    with pytest.raises(csp.errors.WrongContextError):
        csp.timeout(1000).offer(1)


def test_timeout_close_raises_wrong_context():
    with pytest.raises(csp.errors.WrongContextError):
        csp.timeout(1000).close()


def test_timeout_negative_closes_at_once():
    t = csp.timeout(-50)
    assert t.take(timeout=5) is None
    assert t.closed


def test_timeout_negative_fraction_closes_at_once():
    assert csp.timeout(-0.5).take(timeout=5) is None


def test_timeout_minus_infinity_raises_value_error():
    with pytest.raises(ValueError):
        csp.timeout(float("-inf"))


def test_timeout_nan_raises_value_error():
    with pytest.raises(ValueError):
        csp.timeout(float("nan"))


def test_timeout_string_raises_type_error():
    with pytest.raises(TypeError):
        csp.timeout("10")


def test_timeout_many_waiters_all_wake():
    t = csp.timeout(20)
    rs = [csp.go(t.atake) for _ in range(2000)]
    assert all(r.take(timeout=10) is None for r in rs)


def test_timeout_huge_raises_value_error():
    with pytest.raises(ValueError):
        csp.timeout(2**70)


def test_timeout_infinite_raises_value_error():
    with pytest.raises(ValueError):
        csp.timeout(float("inf"))
