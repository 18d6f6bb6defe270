"""Channels shared with C and other languages (docs/embedding.md): handles
crossing both ways, csp.h's portable values read and written by Python,
values of another domain arriving as csp.Foreign, the version check and
the runtime Python uses."""

import gc

import pytest

import csp
from csp import _link, _values
from csp._csp import ffi, lib


def c_chan(n=4):
    """A channel made as a C host makes one (csp_value_drop as its hook);
    returns (handle int, cdata)."""
    out = ffi.new("csp_chan **")
    assert lib.csp_chan_new(out, lib.csp_rt_default(), lib.CSP_BUF_FIXED, n,
                            ffi.addressof(lib, "csp_value_drop"), ffi.NULL) == 0
    return int(ffi.cast("uintptr_t", out[0])), out[0]


def c_bytes_word(data):
    out = ffi.new("csp_bytes **")
    assert lib.csp_bytes_new(out, lib.csp_rt_default(), data, len(data)) == 0
    return ffi.cast("void *", int(ffi.cast("uintptr_t", out[0])) | 2)


def c_poll(ch):
    out = ffi.new("void **")
    assert lib.csp_chan_poll(ch, out) == 0
    return out[0]


def test_shared_from_handle_reads_c_portable_values():
    h, ch = c_chan()
    assert lib.csp_chan_offer(ch, ffi.cast("void *", (-42 << 2) | 1)) == 0
    assert lib.csp_chan_offer(ch, c_bytes_word(b"from C")) == 0
    assert lib.csp_chan_offer(ch, ffi.cast("void *", 7)) == 0
    py = csp.Chan.from_handle(h)
    lib.csp_chan_release(ch)
    assert py.take() == -42
    v = py.take()
    assert type(v) is bytes and v == b"from C"
    assert py.take() is True


def test_shared_python_bytes_reach_c_as_csp_bytes():
    py = csp.chan(2)
    py.put(b"abc\x00def")
    w = c_poll(ffi.cast("csp_chan *", py.handle()))
    assert lib.csp_value_kind(w) == lib.CSP_VAL_KIND_BYTES
    b = ffi.cast("csp_bytes *", int(ffi.cast("uintptr_t", w)) & ~3)
    assert ffi.buffer(b.data, b.len)[:] == b"abc\x00def" and b.data[b.len] == 0
    lib.csp_bytes_release(b)


def test_shared_python_int_reaches_c_as_immediate_int():
    py = csp.chan(1)
    py.put(-5)
    w = c_poll(ffi.cast("csp_chan *", py.handle()))
    assert lib.csp_value_kind(w) == lib.CSP_VAL_KIND_INT
    assert (int(ffi.cast("intptr_t", w)) - 1) // 4 == -5


def test_shared_python_object_reaches_c_as_a_python_domain_value():
    py = csp.chan(1)
    py.put({"k": 1})
    w = c_poll(ffi.cast("csp_chan *", py.handle()))
    assert lib.csp_value_kind(w) == lib.CSP_VAL_KIND_DOMAIN
    assert (int(ffi.cast("uintptr_t", w)) >> 2) & lib.CSP_VAL_DOMAIN_MAX == _values.DOMAIN
    # Dropped by C through csp_value_drop: back to Python, unpinned.
    before = _values.pinned_count()
    lib.csp_value_drop(ffi.NULL, w)
    _values.drain_drops()
    assert _values.pinned_count() == before - 1


def test_shared_bytes_left_in_a_dropped_channel_are_freed():
    h, ch = c_chan()
    py = csp.Chan.from_handle(h)
    lib.csp_chan_release(ch)
    py.put(b"x" * 1000)
    py.put(b"y")
    del py
    gc.collect()
    # No Python object is pinned for bytes: nothing to release later.
    assert _values.drain_drops() == 0


class _Domain:
    """A test value domain: records what csp_value_drop hands it."""

    def __init__(self):
        self.dropped = []
        self.cb = ffi.callback("void(void *, void *)", self._drop)
        out = ffi.new("int *")
        assert lib.csp_value_domain_new(out, self.cb, ffi.NULL) == 0
        self.id = out[0]

    def _drop(self, ud, v):
        self.dropped.append(int(ffi.cast("uintptr_t", v)))

    def word(self, payload):
        return (payload << _values.SHIFT) | (self.id << 2) | 3

    def free(self):
        assert lib.csp_value_domain_free(self.id) == 0


def test_shared_foreign_value_arrives_as_foreign():
    d = _Domain()
    try:
        h, ch = c_chan()
        assert lib.csp_chan_offer(ch, ffi.cast("void *", d.word(5))) == 0
        py = csp.Chan.from_handle(h)
        lib.csp_chan_release(ch)
        v = py.take()
        assert isinstance(v, csp.Foreign) and v.domain == d.id
        assert f"domain {d.id}" in repr(v)
    finally:
        del v
        gc.collect()
        d.free()


def test_shared_foreign_value_dropped_goes_back_to_its_domain():
    d = _Domain()
    h, ch = c_chan()
    assert lib.csp_chan_offer(ch, ffi.cast("void *", d.word(9))) == 0
    py = csp.Chan.from_handle(h)
    lib.csp_chan_release(ch)
    v = py.take()
    assert d.dropped == []
    del v
    gc.collect()
    assert d.dropped == [d.word(9)]
    d.free()


def test_shared_foreign_value_passed_back_keeps_its_word():
    d = _Domain()
    h, ch = c_chan()
    assert lib.csp_chan_offer(ch, ffi.cast("void *", d.word(3))) == 0
    py = csp.Chan.from_handle(h)
    v = py.take()
    py.put(v)
    w = c_poll(ch)
    assert int(ffi.cast("uintptr_t", w)) == d.word(3)
    del v
    gc.collect()
    assert d.dropped == []   # moved on, not dropped
    lib.csp_chan_release(ch)
    d.free()


def test_shared_foreign_value_passed_on_twice_is_an_error():
    d = _Domain()
    h, ch = c_chan()
    assert lib.csp_chan_offer(ch, ffi.cast("void *", d.word(4))) == 0
    py = csp.Chan.from_handle(h)
    v = py.take()
    py.put(v)
    with pytest.raises(ValueError, match="already passed on"):
        py.put(v)
    lib.csp_value_drop(ffi.NULL, c_poll(ch))
    assert d.dropped == [d.word(4)]
    lib.csp_chan_release(ch)
    d.free()


def test_shared_from_handle_retains_the_channel():
    h, ch = c_chan()
    py = csp.Chan.from_handle(h)
    lib.csp_chan_release(ch)   # the C side lets go: Python's reference remains
    py.put(1)
    assert py.take() == 1
    assert py.id > 0


def test_shared_from_handle_rejects_bad_handles():
    for bad in (0, -1, None, "0x10", 1.5, True):
        with pytest.raises(TypeError):
            csp.Chan.from_handle(bad)


def test_shared_handle_round_trips_through_from_handle():
    a = csp.chan(1)
    b = csp.Chan.from_handle(a.handle())
    b.put(b"both")
    assert a.take() == b"both"
    assert a.id == b.id


def test_shared_use_runtime_accepts_the_runtime_in_use():
    csp.use_runtime(csp.runtime_handle())
    assert csp.runtime_handle() == int(ffi.cast("uintptr_t", lib.csp_rt_default()))


def test_shared_use_runtime_after_use_refuses_another_runtime():
    out = ffi.new("csp_rt **")
    assert lib.csp_rt_new(out, ffi.NULL, ffi.NULL) == 0
    try:
        csp.chan()
        with pytest.raises(RuntimeError, match="another runtime"):
            csp.use_runtime(int(ffi.cast("uintptr_t", out[0])))
    finally:
        assert lib.csp_rt_free(out[0], 0) == 0


def test_shared_use_runtime_rejects_bad_handles():
    for bad in (0, -3, None, "1", True):
        with pytest.raises(TypeError):
            csp.use_runtime(bad)


def test_shared_runtime_stats_counts_the_worker_pool():
    s = csp.runtime_stats()
    assert set(s) >= {"workers", "chans_live", "procs_live"}
    assert s["workers"] >= 0 and s["chans_live"] >= 0


def test_shared_version_check_refuses_another_major_version():
    with pytest.raises(ImportError, match="major version must match"):
        _link._check_version(10200, 200)


def test_shared_version_check_refuses_an_older_library():
    with pytest.raises(ImportError, match="at least as new"):
        _link._check_version(100, 200)


def test_shared_version_check_accepts_a_newer_minor():
    _link._check_version(300, 200)
