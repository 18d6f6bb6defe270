"""The CFFI declarations come from csp.h, and constants from the library."""

import importlib.util
import pathlib
import re

import csp
from csp._csp import ffi, lib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_gen_cdef():
    # A build helper: in the repository and the sdist, not in the wheel.
    path = ROOT / "python" / "csp" / "_gen_cdef.py"
    spec = importlib.util.spec_from_file_location("_gen_cdef", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_gen_cdef = _load_gen_cdef()
HEADER = ROOT / "core" / "include" / "csp.h"
CDEF = ROOT / "python" / "csp" / "_cdef.h"


def test_cdef_matches_csp_h():
    assert CDEF.read_text() == _gen_cdef.generate(HEADER.read_text())


def test_cdef_declares_every_public_function():
    declared = set(re.findall(r"\b(csp_[a-z0-9_]+)\s*\(", CDEF.read_text()))
    public = set(re.findall(r"CSP_API[^;(]*?\b(csp_[a-z0-9_]+)\s*\(", HEADER.read_text()))
    assert public and public <= declared


def test_cdef_constants_come_from_library():
    text = HEADER.read_text()
    for name, value in re.findall(r"^#define (CSP_[A-Z0-9_]+) +\(?(-?\d+)\)?\s*(?:/\*.*)?$",
                                  text, re.M):
        assert getattr(lib, name) == int(value), name


def test_cdef_no_literal_values_in_cdef():
    assert not re.search(r"#define CSP_\w+ +[-(0-9]", CDEF.read_text())


def test_cdef_generator_drops_cplusplus_block():
    out = _gen_cdef.generate('#ifdef __cplusplus\nextern "C" {\n#endif\nint csp_a(void);\n'
                             '#ifdef __cplusplus\n}\n#endif\n')
    assert 'extern "C"' not in out and "int csp_a(void);" in out


def test_cdef_generator_strips_attributes():
    out = _gen_cdef.generate('CSP_API CSP_DEPRECATED("use b") int csp_a(int x);\n')
    assert "int csp_a(int x);" in out and "CSP_" not in out.split("*/", 1)[1]


def test_cdef_generator_keeps_integer_macros_only():
    out = _gen_cdef.generate("#define CSP_X 3\n#define CSP_Y(a) a\n#define CSP_Z \"s\"\n"
                             "#define CSP_W ((size_t)1 << 28)\n")
    assert "#define CSP_X ..." in out and "#define CSP_W ..." in out and \
        "CSP_Y" not in out and "CSP_Z" not in out


def test_cdef_generator_check_mode(tmp_path):
    out = tmp_path / "cdef.h"
    out.write_text("stale")
    assert _gen_cdef.main([str(HEADER), "-o", str(out), "--check"]) == 1


def test_cdef_generator_writes_output(tmp_path):
    out = tmp_path / "cdef.h"
    assert _gen_cdef.main([str(HEADER), "-o", str(out)]) == 0 and \
        out.read_text() == CDEF.read_text()


def test_cdef_version_matches_header():
    text = HEADER.read_text()
    parts = [re.search(rf"#define CSP_VERSION_{p} +(\d+)", text).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    assert csp.__version__ == ".".join(parts) and lib.csp_version() == lib.CSP_VERSION_NUMBER


def test_cdef_extension_is_abi3():
    import csp._csp as mod
    assert ".abi3." in pathlib.Path(mod.__file__).name


def test_cdef_extension_loads_exactly_one_libcsp():
    # The core is libcsp.so.0's (one runtime per process, issue 14).
    import csp
    import csp._csp as mod
    files = set()
    for line in pathlib.Path("/proc/self/maps").read_text().splitlines():
        path = line.split(None, 5)[-1] if len(line.split(None, 5)) == 6 else ""
        if pathlib.Path(path).name.startswith("libcsp.so"):
            files.add(path)
    assert len(files) == 1 and csp.libcsp_path() in files
    assert mod.lib.csp_rt_default() != ffi.NULL
