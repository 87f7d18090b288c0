"""A writable numba cache before numba starts.

The kernels are compiled with ``cache=True``: numba keeps them in ``NUMBA_CACHE_DIR`` (the
container image fills one at build time). numba refuses to load, or even to decorate, a
kernel whose cache directory it cannot write ("no locator available"), so a server run as
another user than the image's, or on a read-only root filesystem, crashed at import.
Before numba is imported, a cache directory this process cannot write is replaced by a
writable copy under the temporary directory: the kernels compiled into it still load.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def writable_cache_dir(wanted: Path, temp: Path) -> Path:
    """``wanted`` (made if missing) if this process can write it, else a copy of it in
    ``temp``, made once per user (ValueError, naming both, if that fails too)."""
    with contextlib.suppress(OSError):
        wanted.mkdir(parents=True, exist_ok=True)  # numba would make it too
    if _writable(wanted):
        return wanted
    copy = temp / f"wsd-numba-cache-{os.getuid()}"
    try:
        if not copy.exists():
            staging = Path(tempfile.mkdtemp(prefix=f"{copy.name}.", dir=temp))
            if wanted.is_dir():
                shutil.copytree(wanted, staging, dirs_exist_ok=True)
            staging.rename(copy)  # whole, or not at all (another process may do the same)
    except OSError as exc:
        if not copy.is_dir():
            raise ValueError(
                f"NUMBA_CACHE_DIR={wanted} is not writable by this user, and no copy can be made in "
                f"{temp} ({exc.strerror or exc}): set NUMBA_CACHE_DIR to a writable directory"
            ) from None
    return copy


def ensure_writable_cache() -> None:
    """Point ``NUMBA_CACHE_DIR``, if set, at a directory this process can write."""
    wanted = os.environ.get("NUMBA_CACHE_DIR")
    if not wanted:
        return
    usable = writable_cache_dir(Path(wanted), Path(tempfile.gettempdir()))
    if usable == Path(wanted):
        return
    os.environ["NUMBA_CACHE_DIR"] = str(usable)
    if "numba" in sys.modules:  # numba read its settings when it was imported: read them again
        sys.modules["numba"].core.config.reload_config()
    log.warning("NUMBA_CACHE_DIR=%s is not writable here: using a copy of it, %s", wanted, usable)
