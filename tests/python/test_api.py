"""The package's surface: exports, transduce, reduced, error codes, wheel."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import csp

ROOT = Path(__file__).resolve().parents[2]


def test_star_import_does_not_shadow_builtins():
    import builtins
    assert not set(csp.__all__) & set(dir(builtins))


def test_star_import_names_all_exist():
    ns = {}
    exec("from csp import *", ns)
    assert "map" not in ns and "go" in ns and "put_async" not in ns
    assert all(hasattr(csp, n) for n in csp.__all__)


def test_map_combinator_still_reachable_as_csp_map():
    out = csp.map(lambda a, b: a + b, [csp.to_chan([1, 2]), csp.to_chan([10, 20])])
    assert list(out) == [11, 22]


def test_reduced_is_exported_at_top_level():
    assert csp.reduced is csp.xf.reduced
    assert csp.xf.is_reduced(csp.reduced(1))


def test_transduce_reduces_channel_through_xform():
    r = csp.transduce(csp.xf.map(lambda x: x * 2), lambda a, x: a + x, 0,
                      csp.to_chan([1, 2, 3]))
    assert r.take(timeout=10) == 12


def test_transduce_runs_xform_completion():
    r = csp.transduce(csp.xf.partition_all(2), lambda a, x: a + [x], [],
                      csp.to_chan([1, 2, 3]))
    assert r.take(timeout=10) == [[1, 2], [3]]


def test_transduce_stops_at_reduced():
    src = csp.chan(10)
    for i in range(5):
        src.put(i)
    r = csp.transduce(csp.xf.identity(),
                      lambda a, x: csp.reduced(a) if x == 3 else a + x, 0, src)
    assert r.take(timeout=10) == 0 + 1 + 2


def test_transduce_rejects_bad_arguments():
    ch = csp.chan()
    with pytest.raises(TypeError):
        csp.transduce(lambda rf: rf, lambda a, x: a, 0, ch)
    with pytest.raises(TypeError):
        csp.transduce(csp.xf.identity(), 5, 0, ch)
    with pytest.raises(TypeError):
        csp.transduce(csp.xf.identity(), lambda a, x: a, 0, [1])


def test_timed_out_error_code_is_etimedout():
    with pytest.raises(csp.errors.TimedOutError) as ei:
        csp.chan().take(timeout=0.001)
    assert ei.value.code == csp._lowlevel.ETIMEDOUT


def test_put_timed_out_error_code_is_etimedout():
    with pytest.raises(csp.errors.TimedOutError) as ei:
        csp.chan().put(1, timeout=0.001)
    assert ei.value.code == csp._lowlevel.ETIMEDOUT


def _wheel(tmp_path):
    """Build the wheel offline, exactly as python/README.md says."""
    readme = (ROOT / "python" / "README.md").read_text()
    cmd = next(line.strip() for line in readme.splitlines()
               if line.strip().startswith("pip wheel"))
    argv = cmd.split("#")[0].split()
    argv = [sys.executable, "-m"] + argv
    argv = [str(tmp_path) if a == "dist" else a for a in argv]
    argv = [str(ROOT / "python") if a == "./python" else a for a in argv]
    env = dict(os.environ, PIP_NO_INPUT="1")
    subprocess.run(argv, check=True, cwd=ROOT, env=env, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wheels = list(tmp_path.glob("csp_channels-*.whl"))
    assert len(wheels) == 1
    return zipfile.ZipFile(wheels[0]).namelist()


def test_offline_wheel_from_readme_command_has_license_and_no_build_helpers(tmp_path):  # timeout=300
    names = _wheel(tmp_path)
    assert any(n.endswith(".dist-info/LICENSE") for n in names)
    assert not any(n.endswith(("_build.py", "_gen_cdef.py")) for n in names)
    assert "csp/__init__.py" in names and "csp/_trio.py" in names
