"""setup.py: the parts pyproject.toml cannot say.

- The extension csp._csp is built by CFFI from csp/_build.py (cffi_modules),
  as a CPython limited-API (abi3) module with the C core compiled in.
- The version is csp.h's CSP_VERSION_MAJOR.MINOR.PATCH (never retyped).
- build_ext also compiles the core's assembly (.S) context switch.
- sdist vendors the C sources into _csp_src/ so that the archive builds
  away from the repository (csp/_build.py explains the search order).
"""

import os
import re
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "csp"))
import _build  # noqa: E402  (csp/_build.py: source discovery, no package import)

sys.path.pop(0)


def version() -> str:
    text = (_build.source_dir() / "core" / "include" / "csp.h").read_text()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define CSP_VERSION_%s +(\d+)" % part, text, re.M)
        parts.append(m.group(1))
    return ".".join(parts)


class BuildExt(build_ext):
    def build_extensions(self):
        # distutils compiles only the extensions it knows; the compiler
        # driver preprocesses and assembles .S files itself.
        if ".S" not in self.compiler.src_extensions:
            self.compiler.src_extensions.append(".S")
        # Sources outside this directory are named ../core/x.c (setuptools
        # wants relative paths); compile them by absolute path so that
        # their objects go under build/temp*/ and not next to the sources.
        super().build_extensions()

    def build_extension(self, ext):
        relative = ext.sources
        ext.sources = [os.path.abspath(s) for s in relative]
        try:
            super().build_extension(ext)
        finally:
            ext.sources = relative  # egg_info checks them again later


class BuildPy(build_py):
    # csp/_build.py and csp/_gen_cdef.py are build helpers: in the sdist
    # (MANIFEST.in), not in the wheel.
    BUILD_ONLY = ("_build", "_gen_cdef")

    def find_package_modules(self, package, package_dir):
        mods = super().find_package_modules(package, package_dir)
        return [m for m in mods if m[1] not in self.BUILD_ONLY]

    def run(self):
        super().run()
        for name in self.BUILD_ONLY:  # copies left by an older build
            stale = Path(self.build_lib) / "csp" / (name + ".py")
            if stale.exists():
                stale.unlink()


class Sdist(sdist):
    def make_release_tree(self, base_dir, files):
        # The extension's sources outside this directory (../core/...)
        # would be copied to base_dir/../core: vendor them instead.
        files = [f for f in files if not f.startswith("..")]
        super().make_release_tree(base_dir, files)
        src = _build.source_dir()
        dst = Path(base_dir) / "_csp_src"
        names = _build.core_sources(src)
        for rel in ["core", "bindings"]:
            shutil.copytree(src / rel, dst / rel,
                            ignore=shutil.ignore_patterns("*.o", "*.so"))
        (dst / "SOURCES").write_text("\n".join(names) + "\n")


setup(
    version=version(),
    cffi_modules=["csp/_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy, "sdist": Sdist},
    options={"bdist_wheel": {"py_limited_api": "cp38"}},
)
