"""csp.errors: one exception class per csp error code."""

import pytest

import csp
from csp import errors
from csp._csp import lib


@pytest.mark.parametrize("code,cls,base", [
    (lib.CSP_EINVAL, errors.InvalidArgumentError, ValueError),
    (lib.CSP_ENOMEM, errors.NoMemoryError, MemoryError),
    (lib.CSP_ECLOSED, errors.ClosedError, errors.CspError),
    (lib.CSP_EAGAIN, errors.WouldWaitError, errors.CspError),
    (lib.CSP_ETIMEDOUT, errors.TimedOutError, TimeoutError),
    (lib.CSP_ECANCELED, errors.CanceledError, errors.CspError),
    (lib.CSP_EBUSY, errors.BusyError, errors.CspError),
    (lib.CSP_EPERM, errors.WrongContextError, RuntimeError),
])
def test_errors_from_rc_maps_each_code(code, cls, base):
    e = errors.from_rc(code)
    assert type(e) is cls and isinstance(e, base) and e.code == code


def test_errors_names_match_csp_errname():
    for cls in errors.BY_ERRNAME.values():
        code = getattr(lib, "CSP_" + cls.errname)
        assert csp._lowlevel.errname(code) == cls.errname


def test_errors_message_is_csp_strerror():
    assert str(errors.from_rc(lib.CSP_ECLOSED)) == csp._lowlevel.strerror(lib.CSP_ECLOSED)


def test_errors_unknown_code_is_csp_error():
    e = errors.from_rc(-999)
    assert type(e) is errors.CspError and e.errname == "UNKNOWN"


def test_errors_all_derive_from_csp_error():
    assert all(issubclass(c, errors.CspError) for c in errors.BY_ERRNAME.values())


def test_errors_csp_error_exported_at_top_level():
    assert csp.CspError is errors.CspError
