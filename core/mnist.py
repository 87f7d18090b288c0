"""MNIST (OpenML's ``mnist_784``, version 1) through scikit-learn's ``fetch_openml``, kept in a
local cache directory (docs/method.md §15).

70,000 images of 28 x 28 pixels, grey levels 0..255, labels 0..9; OpenML keeps them in the
order of the original distribution, the 60,000 training images first. The first load downloads
the data (~15 MB) into ``data_dir() / "openml"`` (scikit-learn's own cache format) and writes
the pixels and labels to ``data_dir() / "mnist_784.npz"`` (uint8, ~11 MB), which every later
load reads instead (in ~0.5 s, where parsing OpenML's ARFF file takes ~20 s). The directory is
``$WSD_DATA_DIR``, or ``$XDG_CACHE_HOME/weightspace-dynamics`` (``~/.cache/...`` without it).

A machine that is offline and has no copy gets :class:`DataUnavailable` (a ``ValueError``, so
the CLI prints it as one line), naming the directory and what to do.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from urllib.error import URLError

import numpy as np
import numpy.typing as npt

from core.arrays import IntArray

OPENML_NAME, OPENML_VERSION = "mnist_784", 1
SHAPE = (70_000, 784)  # images x pixels of mnist_784
N_TRAIN = 60_000  # the original training images, first in OpenML's order; the other 10,000 test
SIDE = 28  # pixels a side
LEVELS = 255.0  # grey levels 0..255
CACHE_FILE = "mnist_784.npz"
DATA_DIR_ENV = "WSD_DATA_DIR"
RETRIES, RETRY_DELAY = 3, 1.0  # fetch_openml's tries again after a network error, and seconds between (its defaults)

# The labels column read as text. scikit-learn 1.9.1 reads a nominal ARFF column as a pandas
# "category", which pandas 3 fills with int categories for the digits 0..9, and then strips
# quotes from them with a regular expression: TypeError (found with tests/data_fixtures, the
# format of OpenML's file). As text the labels are parsed here (core.mnist._checked).
LABELS_AS_TEXT = {"dtype": {SHAPE[1]: str}}

UInt8Array = npt.NDArray[np.uint8]


class DataUnavailable(ValueError):
    """A named data set that is neither in the cache nor downloadable now."""


def data_dir() -> Path:
    """Where downloaded data sets are kept: ``$WSD_DATA_DIR``, else the user's cache directory."""
    given = os.environ.get(DATA_DIR_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache) if cache else Path.home() / ".cache") / "weightspace-dynamics"


def mnist_arrays(directory: Path | None = None) -> tuple[UInt8Array, IntArray, str]:
    """MNIST's pixels x (70000, 784) uint8 in 0..255 (row-major 28 x 28), labels y (70000,)
    in 0..9, and a fingerprint of both (16 hex digits of their SHA-256), from the cache file in
    ``directory`` (default :func:`data_dir`), downloading it first if it is not there.
    Read-only arrays, kept for the process (a worker's chunks reuse them)."""
    return _mnist_in(data_dir() if directory is None else directory)


@functools.lru_cache(maxsize=1)
def _mnist_in(directory: Path) -> tuple[UInt8Array, IntArray, str]:
    cached = directory / CACHE_FILE
    if cached.is_file():
        x, y = _read_cache(cached)
    else:
        x, y = _fetch(directory)
        _write_cache(cached, x, y)
    x.flags.writeable = y.flags.writeable = False
    return x, y, fingerprint(x, y)


def fingerprint(x: UInt8Array, y: IntArray) -> str:
    """16 hex digits of the SHA-256 of the pixels and the labels: the same data on every host."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def _fetch(directory: Path) -> tuple[UInt8Array, IntArray]:
    """mnist_784 through ``fetch_openml``, cached by scikit-learn under ``directory / "openml"``."""
    from sklearn.datasets import fetch_openml  # type: ignore[import-untyped]  # ~2 s to import: only if not cached

    try:
        with warnings.catch_warnings():  # its "A network error occurred ... Retrying..." per try
            warnings.filterwarnings("ignore", message="A network error occurred", category=UserWarning)
            bunch = fetch_openml(
                OPENML_NAME,
                version=OPENML_VERSION,
                data_home=str(directory),
                as_frame=False,
                n_retries=RETRIES,
                delay=RETRY_DELAY,
                read_csv_kwargs=LABELS_AS_TEXT,
            )
    except (URLError, TimeoutError, ConnectionError) as exc:
        raise DataUnavailable(
            f"MNIST is not in the data cache {str(directory)!r} and cannot be downloaded from OpenML "
            f"({_reason(exc)}): connect this machine to the internet once, or copy {CACHE_FILE} "
            f"from a machine that has it into that directory (set {DATA_DIR_ENV} to use another)"
        ) from None
    except OSError as exc:
        raise DataUnavailable(f"cannot write the data cache {str(directory)!r} ({exc}); set {DATA_DIR_ENV}") from None
    return _checked(f"OpenML's {OPENML_NAME}", np.asarray(bunch.data), np.asarray(bunch.target))


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split()) or type(exc).__name__


def _read_cache(path: Path) -> tuple[UInt8Array, IntArray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            x, y = f["x"], f["y"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataUnavailable(
            f"{str(path)!r} is not a readable MNIST cache ({exc}): delete it to download again"
        ) from None
    return _checked(str(path), x, y)


def _checked(source: str, x: np.ndarray, y: np.ndarray) -> tuple[UInt8Array, IntArray]:
    """The arrays as uint8 pixels and int64 labels, or DataUnavailable naming what is wrong."""
    try:
        labels = np.char.strip(y.astype(str), "'\"").astype(np.int64)  # ARFF may quote them
    except (TypeError, ValueError):
        labels = np.full(y.shape, -1)
    if x.shape != SHAPE or labels.shape != SHAPE[:1]:
        raise DataUnavailable(
            f"{source}: expected {SHAPE[0]:,} images of {SHAPE[1]} pixels, got {x.shape} and {y.shape}"
        )
    if not (
        np.all(x == np.round(x)) and x.min() >= 0 and x.max() <= LEVELS and labels.min() >= 0 and labels.max() <= 9
    ):
        raise DataUnavailable(f"{source}: pixels must be whole numbers in 0..255 and labels digits 0..9")
    return x.astype(np.uint8), labels


def _write_cache(path: Path, x: UInt8Array, y: IntArray) -> None:
    """The arrays to ``path`` through a temporary file and a rename: a reader never sees half a file."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as f:
            temporary = Path(f.name)
            np.savez_compressed(f, x=x, y=y)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise DataUnavailable(f"cannot write the data cache {str(path)!r} ({exc}); set {DATA_DIR_ENV}") from None
