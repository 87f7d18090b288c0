"""numba's settings before the kernels compile: a writable cache, and one target CPU.

The kernels are compiled with ``cache=True``: numba keeps them in ``NUMBA_CACHE_DIR`` (the
container image fills one at build time). numba refuses to load, or even to decorate, a
kernel whose cache directory it cannot write ("no locator available"), so a server run as
another user than the image's, or on a read-only root filesystem, crashed at import.
Before the kernels are decorated, a cache directory this process cannot write is replaced,
in numba's own setting (``numba.config.CACHE_DIR``, which numba lets a program set), by a
writable copy under the temporary directory: the kernels compiled into it still load. The
process's environment is left as it is, so each process (the fork server, a pool's
workers) finds the copy again (one check of its directory).

The kernels are compiled for one target CPU whatever the host (:func:`pin_cpu_target`): their
sums are vectorised (``fastmath`` reassociation, core.engine.kernel), so the order of their
terms, and the last bits of every result, followed the vector width LLVM picked for the host:
512-bit on an AMD Zen 4, 256-bit on an Intel Ice Lake, and a chaotic run parted between the
two (the Chaos view's default run, eta 5, settled on its period-10 cycle at iteration 350 on
one and 404 on the other). x86-64-v3 (AVX2 and FMA, 256-bit vectors) runs on both and on
every x86-64 machine since 2013-2015, so they all compute the same bits. On the Ice Lake
that cost ~4% against its own target, and 512-bit vectors would have been ~14% faster
(docs/performance.md): bits that hold on every machine were chosen over that speed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _private(path: Path) -> bool:
    """A real directory of this user that nobody else can write: numba's cache files are
    pickles, so one planted by another user of a shared /tmp would run as this one."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def writable_cache_dir(wanted: Path, temp: Path) -> Path:
    """``wanted`` (made if missing) if this process can write it, else a private copy of it
    in ``temp``, made once per user (ValueError, naming both, if that fails too)."""
    with contextlib.suppress(OSError):
        wanted.mkdir(parents=True, exist_ok=True)  # numba would make it too
    if _writable(wanted):
        return wanted
    shared = temp / f"wsd-numba-cache-{os.getuid()}"
    if _private(shared):
        return shared
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{shared.name}.", dir=temp))  # mode 0700
        if wanted.is_dir():
            shutil.copytree(wanted, staging, dirs_exist_ok=True)
            staging.chmod(0o700)  # copytree gave it the mode of the original
    except OSError as exc:
        raise ValueError(
            f"NUMBA_CACHE_DIR={wanted} is not writable by this user, and no copy can be made in "
            f"{temp} ({exc.strerror or exc}): set NUMBA_CACHE_DIR to a writable directory"
        ) from None
    with contextlib.suppress(OSError):
        staging.rename(shared)  # whole, for the next process (another may have been first)
    if staging.exists() and _private(shared):
        shutil.rmtree(staging, ignore_errors=True)  # another process was first: use its copy
        return shared
    return shared if _private(shared) else staging


PORTABLE_CPU = "x86-64-v3"  # the kernels' target: AVX2 + FMA, whatever else the host has


def pin_cpu_target() -> str | None:
    """Compile the kernels for ``PORTABLE_CPU`` with its own features (not the host's, which may
    add AVX-512), unless ``NUMBA_CPU_NAME`` chose a target or the host lacks AVX2 or FMA (then
    the host's own: the pinned code would not run there). Returns the target set, or None."""
    from numba.core import config

    if config.CPU_NAME is not None:  # type: ignore[attr-defined]  # numba sets its settings dynamically
        return None
    from numba.core.registry import cpu_target

    if "_toplevel_target_context" in vars(cpu_target):  # numba compiled something already: too late
        log.warning("numba compiled before the kernels' target was pinned: they follow this host's CPU")
        return None
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # LLVM cannot read them here: leave the host's
        return None
    if not (features.get("avx2") and features.get("fma")):
        return None
    config.CPU_NAME, config.CPU_FEATURES = PORTABLE_CPU, ""  # type: ignore[attr-defined]
    return PORTABLE_CPU


def ensure_writable_cache() -> Path | None:
    """Before the kernels are decorated: pin their target CPU (:func:`pin_cpu_target`) and point
    numba's cache directory, if ``NUMBA_CACHE_DIR`` is set, at a directory this process can
    write; returns the one numba now uses (None: NUMBA_CACHE_DIR unset)."""
    pin_cpu_target()
    wanted = os.environ.get("NUMBA_CACHE_DIR")
    if not wanted:
        return None
    usable = writable_cache_dir(Path(wanted), Path(tempfile.gettempdir()))
    if usable != Path(wanted):
        from numba.core import config

        config.CACHE_DIR = str(usable)  # type: ignore[attr-defined]  # numba sets its settings dynamically
        log.warning("NUMBA_CACHE_DIR=%s is not writable here: using a copy of it, %s", wanted, usable)
    return usable
