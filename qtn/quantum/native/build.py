"""Build and load qtn's C++ XLA:CPU kernels (``*.cc`` next to this file).

A kernel is compiled on first use with the system C++ compiler against the FFI headers that
ship with jaxlib (``jax.ffi.include_dir()``), for this machine's CPU (``-march=native``), and
cached as a shared library under ``<user cache dir>/qtn/native/`` keyed by a hash of the
source, the flags, the compiler and jaxlib versions and this CPU's instruction-set flags (a
cache shared by different machines never hands one an instruction it lacks): later processes
load it in milliseconds.
The library is written to a temporary name and renamed, so processes that build at once do
not see half a file. No compiler, or a failed build, raises :class:`KernelUnavailable` with
the compiler's message; callers fall back to the pure-JAX path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import platformdirs

SOURCE_DIR = Path(__file__).resolve().parent
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno")


class KernelUnavailable(RuntimeError):
    """A native kernel could not be built or loaded (the message says why)."""


def default_cache_dir() -> Path:
    """``<user cache dir>/qtn/native`` (platformdirs)."""
    return Path(platformdirs.user_cache_dir("qtn")) / "native"


def compiler() -> str:
    """The C++ compiler: ``$CXX``, else ``c++`` / ``g++`` on the PATH; raises
    KernelUnavailable when there is none."""
    for name in (os.environ.get("CXX"), "c++", "g++"):
        if name and shutil.which(name):
            return name
    raise KernelUnavailable("no C++ compiler found ($CXX, c++ or g++)")


def cpu_signature() -> str:
    """This CPU's instruction-set flags (``/proc/cpuinfo``'s first ``flags`` line on Linux),
    else the platform's machine and processor names: ``-march=native`` builds differ by it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    return f"{platform.machine()} {platform.processor()}"


def _compiler_version(cxx: str) -> str:
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else cxx


def library_path(name: str, cache_dir: Path | None = None) -> Path:
    """The shared library of kernel ``name`` (``<name>.cc``), built if not cached."""
    source = SOURCE_DIR / f"{name}.cc"
    if not source.is_file():
        raise KernelUnavailable(f"no kernel source {source}")
    cxx = compiler()
    key = hashlib.sha256()
    for part in (source.read_bytes(), " ".join(FLAGS).encode(), _compiler_version(cxx).encode(),
                 importlib.metadata.version("jaxlib").encode(), cpu_signature().encode()):
        key.update(part)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / f"{name}-{key.hexdigest()[:16]}.so"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    cmd = [cxx, *FLAGS, f"-I{jax.ffi.include_dir()}", str(source), "-o", tmp]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise KernelUnavailable(f"building {source.name} failed ({' '.join(cmd)}):\n"
                                f"{done.stderr[-4000:]}")
    os.replace(tmp, target)
    return target


@functools.lru_cache(maxsize=8)
def load(name: str) -> ctypes.CDLL:
    """Kernel ``name``'s library, built if needed and loaded once per process."""
    path = library_path(name)
    try:
        return ctypes.cdll.LoadLibrary(str(path))
    except OSError as err:
        raise KernelUnavailable(f"loading {path} failed: {err}") from None


def main() -> int:
    """``python -m qtn.quantum.native``: build every kernel (cached ones are reused) and
    print where each lies; exit status 1, with the reason, when one cannot be built."""
    for source in sorted(SOURCE_DIR.glob("*.cc")):
        try:
            print(f"{source.stem}: {library_path(source.stem)}")
        except KernelUnavailable as err:
            print(f"{source.stem}: not built: {err}", file=sys.stderr)
            return 1
    return 0

