"""csp._lowlevel: one function per C call; result codes become exceptions."""

import pytest

from csp import _lowlevel as ll
from csp import _values, errors
from csp._csp import ffi, lib


def test_lowlevel_version_is_header_version():
    assert ll.version() == lib.CSP_VERSION_NUMBER


def test_lowlevel_strerror_and_errname():
    assert (ll.errname(ll.ECLOSED), ll.strerror(ll.ECLOSED)) == ("ECLOSED", "channel closed")


def test_lowlevel_check_passes_non_errors():
    assert [ll.check(ll.OK), ll.check(ll.PENDING)] == [ll.OK, ll.PENDING]


def test_lowlevel_check_raises_errors():
    with pytest.raises(errors.BusyError):
        ll.check(ll.EBUSY)


def test_lowlevel_rt_stat_counts_channels():
    before = ll.rt_stat(lib.CSP_STAT_CHANS_LIVE)
    ch = ll.chan_new(ll.BUF_NONE, 0)
    during = ll.rt_stat(lib.CSP_STAT_CHANS_LIVE)
    ll.chan_release(ch)
    assert during == before + 1


def test_lowlevel_rt_stat_bad_key_raises():
    with pytest.raises(errors.InvalidArgumentError):
        ll.rt_stat(12345)


def test_lowlevel_now_ns_increases():
    a = ll.now_ns()
    assert ll.now_ns() >= a > 0


def test_lowlevel_chan_new_bad_kind_raises():
    with pytest.raises(errors.InvalidArgumentError):
        ll.chan_new(99, 1)


def test_lowlevel_chan_new_unbuffered_with_cap_raises():
    with pytest.raises(errors.InvalidArgumentError):
        ll.chan_new(ll.BUF_NONE, 3)


def test_lowlevel_chan_state_functions():
    ch = ll.chan_new(ll.BUF_FIXED, 2)
    assert ll.offer(ch, _values.encode(1)) == ll.OK
    state = (ll.chan_count(ch), ll.chan_closed(ch), ll.chan_id(ch) > 0)
    ll.chan_close(ch)
    closed = ll.chan_closed(ch)
    ll.chan_release(ch)
    assert state == (1, False, True) and closed


def test_lowlevel_close_timeout_raises_wrong_context():
    t = ll.timeout(1000)
    try:
        with pytest.raises(errors.WrongContextError):
            ll.chan_close(t)
    finally:
        ll.chan_release(t)


def test_lowlevel_offer_outcomes():
    ch = ll.chan_new(ll.BUF_FIXED, 1)
    r = [ll.offer(ch, 5), ll.offer(ch, 9)]
    ll.chan_close(ch)
    r.append(ll.offer(ch, 13))
    ll.chan_release(ch)
    assert r == [ll.OK, ll.EAGAIN, ll.ECLOSED]


def test_lowlevel_offer_null_value_raises():
    ch = ll.chan_new(ll.BUF_FIXED, 1)
    try:
        with pytest.raises(errors.InvalidArgumentError):
            ll.offer(ch, 0)
    finally:
        ll.chan_release(ch)


def test_lowlevel_poll_outcomes():
    ch = ll.chan_new(ll.BUF_FIXED, 1)
    ll.offer(ch, 5)
    r = [ll.poll(ch), ll.poll(ch)]
    ll.chan_close(ch)
    r.append(ll.poll(ch))
    ll.chan_release(ch)
    assert r == [5, 4 * ll.EAGAIN, 4 * ll.ECLOSED]


def test_lowlevel_taken_splits_result():
    assert (ll.taken(5), ll.taken(4 * ll.ECLOSED)) == ((ll.OK, 5), (ll.ECLOSED, 0))


def test_lowlevel_put_take_cancel_on_host():
    h = ll.host_new()
    ex = ll.host_exec(h)
    ch = ll.chan_new(ll.BUF_NONE, 0)
    pp = ffi.new("csp_pending **")
    w = ffi.new("intptr_t *")
    assert ll.put(ch, 9, ex, 1, pp) == ll.PENDING
    assert ll.cancel(pp[0], w) == ll.OK and w[0] == 9
    ll.pending_release(pp[0])
    assert ll.take(ch, ex, 2, pp) == 4 * ll.PENDING
    assert ll.offer(ch, 13) == ll.OK
    assert ll.cancel(pp[0], w) == ll.EAGAIN  # completed already
    recs = ffi.new("intptr_t[]", 8)
    n = ll.host_run(h, recs, 2, 1000)
    ll.pending_release(pp[0])
    ll.chan_release(ch)
    ll.host_free(h)
    assert (n, list(recs[0:4])) == (1, [2, ll.OK, 0, 13])


def test_lowlevel_host_run_times_out_empty():
    h = ll.host_new()
    recs = ffi.new("intptr_t[]", 4)
    n = ll.host_run(h, recs, 1, 5)
    ll.host_free(h)
    assert n == 0


def test_lowlevel_host_wake_interrupts_wait():
    h = ll.host_new()
    ll.host_wake(h)
    recs = ffi.new("intptr_t[]", 4)
    n = ll.host_run(h, recs, 1, -1)  # returns at once: woken
    ll.host_free(h)
    assert n == 0


def test_lowlevel_put_null_channel_raises():
    h = ll.host_new()
    try:
        with pytest.raises(errors.InvalidArgumentError):
            ll.put(ffi.NULL, 5, ll.host_exec(h), 1, ffi.NULL)
    finally:
        ll.host_free(h)


def test_lowlevel_take_null_channel_raises():
    with pytest.raises(errors.InvalidArgumentError):
        ll.take(ffi.NULL, ffi.NULL, 1, ffi.NULL)


def test_lowlevel_alts_immediate_and_errors():
    ch = ll.chan_new(ll.BUF_FIXED, 1)
    chs = ffi.new("csp_chan *[]", [ch])
    vals = ffi.new("intptr_t[]", [21])
    idx, w = ffi.new("size_t *"), ffi.new("intptr_t *")
    rc = ll.alts(chs, vals, 1, 0, idx, w, ffi.NULL, 0, ffi.NULL)
    with pytest.raises(errors.InvalidArgumentError):
        ll.alts(chs, vals, 0, 0, idx, w, ffi.NULL, 0, ffi.NULL)
    ll.chan_release(ch)
    assert (rc, idx[0]) == (ll.OK, 0)


def test_lowlevel_alts_default_returns_eagain():
    ch = ll.chan_new(ll.BUF_NONE, 0)
    chs = ffi.new("csp_chan *[]", [ch])
    vals = ffi.new("intptr_t[]", [0])
    idx, w = ffi.new("size_t *"), ffi.new("intptr_t *")
    rc = ll.alts(chs, vals, 1, ll.ALTS_DEFAULT, idx, w, ffi.NULL, 0, ffi.NULL)
    ll.chan_release(ch)
    assert rc == ll.EAGAIN


def test_lowlevel_go_ops_elsewhere_off_scheduler_thread():
    ch = ll.chan_new(ll.BUF_FIXED, 1)
    chs = ffi.new("csp_chan *[]", [ch])
    vals = ffi.new("intptr_t[]", [0])
    idx, w = ffi.new("size_t *"), ffi.new("intptr_t *")
    r = [ll.sput(ch, 5), ll.stake(ch), ll.salts(chs, vals, 1, 0, idx, w)]
    ll.chan_release(ch)
    assert r == [ll.ELSEWHERE, 4 * ll.ELSEWHERE, ll.ELSEWHERE]


def test_lowlevel_loop_new_fd_and_run():
    loop = ll.loop_new()
    fd = ll.loop_fd(loop)
    ex = ll.loop_executor(loop)
    ch = ll.chan_new(ll.BUF_NONE, 0)
    assert ll.take(ch, ex, 7, ffi.NULL) == 4 * ll.PENDING
    ll.offer(ch, 17)
    recs = ffi.new("intptr_t[]", 4)
    n = ll.loop_run(loop, recs, 1)
    ll.chan_release(ch)
    ll.loop_free(loop)
    assert fd >= 0 and (n, list(recs)) == (1, [7, ll.OK, 0, 17])


def test_lowlevel_xform_new_and_chan_new_xf():
    from csp import xf
    from csp._chan import _XfInst, _CHAN_RF
    word = _values.pin(_XfInst(xf.map(lambda x: x + 1)(_CHAN_RF), None))
    recipe = ll.xform_new(word)
    ch = ll.chan_new_xf(ll.BUF_FIXED, 1, recipe, word)
    ll.xform_release(recipe)
    ll.offer(ch, _values.encode(1))
    r = ll.poll(ch)
    ll.chan_release(ch)
    _values.drain_drops()
    assert _values.decode(r) == 2 and word >> 2 not in _values._slots


def test_lowlevel_chan_new_xf_unbuffered_raises():
    from csp import xf
    from csp._chan import _XfInst, _CHAN_RF
    word = _values.pin(_XfInst(xf.map(str)(_CHAN_RF), None))
    recipe = ll.xform_new(word)
    try:
        with pytest.raises(errors.InvalidArgumentError):
            ll.chan_new_xf(ll.BUF_NONE, 0, recipe, word)
    finally:
        ll.xform_release(recipe)
        _values.drain_drops()


def test_lowlevel_emit_outside_step_raises():
    with pytest.raises(errors.InvalidArgumentError):
        ll.emit(ffi.NULL, 5)


def test_lowlevel_drops_take_empty():
    _values.drain_drops()
    buf = ffi.new("intptr_t[]", 4)
    assert ll.drops_take(buf, 4) == 0 and lib.pycsp_drops_pending == 0


def test_lowlevel_sched_last_id_is_int():
    assert isinstance(ll.sched_last_id(), int)


def test_lowlevel_rt_default_is_process_runtime():
    assert ll.rt_default() == lib.csp_rt_default() == ll.RT
