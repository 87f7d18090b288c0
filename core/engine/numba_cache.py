"""A writable numba cache before numba starts.

The kernels are compiled with ``cache=True``: numba keeps them in ``NUMBA_CACHE_DIR`` (the
container image fills one at build time). numba refuses to load, or even to decorate, a
kernel whose cache directory it cannot write ("no locator available"), so a server run as
another user than the image's, or on a read-only root filesystem, crashed at import.
Before the kernels are decorated, a cache directory this process cannot write is replaced,
in numba's own setting (``numba.config.CACHE_DIR``, which numba lets a program set), by a
writable copy under the temporary directory: the kernels compiled into it still load. The
process's environment is left as it is, so each process (the fork server, a pool's
workers) finds the copy again (one check of its directory).
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


def ensure_writable_cache() -> Path | None:
    """Point numba's cache directory, if ``NUMBA_CACHE_DIR`` is set, at a directory this
    process can write; returns the one numba now uses (None: NUMBA_CACHE_DIR unset)."""
    wanted = os.environ.get("NUMBA_CACHE_DIR")
    if not wanted:
        return None
    usable = writable_cache_dir(Path(wanted), Path(tempfile.gettempdir()))
    if usable != Path(wanted):
        from numba.core import config

        config.CACHE_DIR = str(usable)  # type: ignore[attr-defined]  # numba sets its settings dynamically
        log.warning("NUMBA_CACHE_DIR=%s is not writable here: using a copy of it, %s", wanted, usable)
    return usable
