"""setup.py: the parts pyproject.toml cannot say.

- The extension csp._csp is built by CFFI from csp/_build.py (cffi_modules),
  as a CPython limited-API (abi3) module linking libcsp.so.0 (csp/_build.py
  says which one).
- The version is csp.h's CSP_VERSION_MAJOR.MINOR.PATCH (never retyped).
- When no libcsp is installed, build_ext first builds libcsp.so.0 from the
  C sources (the core's assembly context switch included) into the
  extension's directory, where the extension finds it ($ORIGIN rpath).
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
        super().build_extensions()

    def build_libcsp(self, outdir):
        """Build libcsp.so.0 from the C sources into OUTDIR, as CMake's
        libcsp: position-independent, only csp_* exported, SONAME
        libcsp.so.0."""
        src = _build.source_dir()
        sources = [str(src / n) for n in _build.core_sources(src)]
        tmp = os.path.join(self.build_temp, "libcsp")
        objs = self.compiler.compile(
            sources, output_dir=tmp,
            macros=[("CSP_BUILDING", "1")],
            include_dirs=[str(src / "core" / "include"), str(src / "core")],
            extra_postargs=["-std=gnu11", "-fPIC", "-fvisibility=hidden",
                            "-pthread", "-O2"])
        os.makedirs(outdir, exist_ok=True)
        self.compiler.link_shared_object(
            objs, "libcsp.so.0", output_dir=outdir, libraries=["m"],
            extra_postargs=["-pthread", "-Wl,-soname,libcsp.so.0"])

    def build_extension(self, ext):
        # The extension is one small file: always relink it, since which
        # libcsp it links can change between builds of the same sources.
        self.force = True
        outdir = os.path.dirname(self.get_ext_fullpath(ext.name))
        stale = os.path.join(outdir, "libcsp.so.0")
        if os.path.exists(stale):
            os.remove(stale)  # a copy from an earlier bundled build
        if _build.LIBCSP["mode"] == "bundle":
            self.build_libcsp(outdir)
            ext.extra_link_args = ["-L" + outdir] + [
                a for a in ext.extra_link_args if not a.startswith("-L")]
        super().build_extension(ext)


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
