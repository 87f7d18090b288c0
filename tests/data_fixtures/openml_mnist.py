"""A tiny MNIST in the files and folders of scikit-learn's OpenML cache, so that ``fetch_openml``
reads it exactly as it reads a downloaded mnist_784, without the network.

``fetch_openml("mnist_784", version=1, data_home=D)`` looks for each response under
``D/openml/openml.org/<the URL's path>.gz`` before it downloads (sklearn.datasets._openml:
``_open_openml_url``): the search by name, the description (with the data file's URL and MD5),
the features, the qualities (the number of rows) and the ARFF file. These are written here with
OpenML's field names and mnist_784's ids (data set 554, file 52667), 785 columns: pixel1 ..
pixel784 (numeric) and ``class`` (nominal 0..9, the target).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np

DATA_ID, FILE_ID = 554, 52667
PIXELS = 784


def tiny_mnist(n_rows: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n_rows, 784) grey levels 0..255 (some 0 and some 255) and labels cycling 0..9."""
    x = np.random.default_rng(seed).integers(0, 256, size=(n_rows, PIXELS))
    x[0, 0], x[0, 1] = 0, 255
    return x.astype(np.uint8), np.arange(n_rows) % 10


def write_openml_cache(data_home: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """The cache of ``fetch_openml("mnist_784", version=1, data_home=data_home)`` holding ``x``
    (N, 784) and ``y`` (N,); returns the folder ``data_home/openml/openml.org``."""
    root = data_home / "openml" / "openml.org"
    arff = _arff(x, y).encode()
    url = f"https://api.openml.org/data/v1/download/{FILE_ID}/mnist_784.arff"
    info = {"did": DATA_ID, "name": "mnist_784", "version": 1, "status": "active", "format": "ARFF"}
    description = {
        "id": str(DATA_ID), "name": "mnist_784", "version": "1", "format": "ARFF", "status": "active",
        "description": "A tiny stand-in for mnist_784, for tests.", "file_id": str(FILE_ID), "url": url,
        "default_target_attribute": "class", "md5_checksum": hashlib.md5(arff).hexdigest(),
    }  # fmt: skip
    features = [_feature(i, f"pixel{i + 1}", "numeric", False) for i in range(PIXELS)]
    features.append({**_feature(PIXELS, "class", "nominal", True), "nominal_value": [str(c) for c in range(10)]})
    qualities = [{"name": "NumberOfInstances", "value": f"{len(y)}.0"}]
    responses = {
        "api/v1/json/data/list/data_name/mnist_784/limit/2/data_version/1": {"data": {"dataset": [info]}},
        f"api/v1/json/data/{DATA_ID}": {"data_set_description": description},
        f"api/v1/json/data/features/{DATA_ID}": {"data_features": {"feature": features}},
        f"api/v1/json/data/qualities/{DATA_ID}": {"data_qualities": {"quality": qualities}},
    }
    for path, content in responses.items():
        _write_gz(root / f"{path}.gz", json.dumps(content).encode())
    _write_gz(root / f"data/v1/download/{FILE_ID}/mnist_784.arff.gz", arff)
    return root


def _feature(index: int, name: str, kind: str, target: bool) -> dict[str, str]:
    return {
        "index": str(index), "name": name, "data_type": kind, "is_target": str(target).lower(),
        "is_ignore": "false", "is_row_identifier": "false", "number_of_missing_values": "0",
    }  # fmt: skip


def _arff(x: np.ndarray, y: np.ndarray) -> str:
    header = ["@RELATION mnist_784", ""]
    header += [f"@ATTRIBUTE pixel{i + 1} NUMERIC" for i in range(PIXELS)]
    header += ["@ATTRIBUTE class {" + ",".join(str(c) for c in range(10)) + "}", "", "@DATA"]
    rows = [",".join(str(v) for v in pixels) + f",{label}" for pixels, label in zip(x, y, strict=True)]
    return "\n".join(header + rows) + "\n"


def _write_gz(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(content)


def offline(monkeypatch, data_home: Path, n_rows: int, n_train: int) -> list[object]:
    """MNIST for a test: no network (every URL OpenML opens fails, and is counted in the list
    returned), its data cache in ``data_home``, its sizes those of a tiny copy of ``n_rows``
    images (``n_train`` for training), fetch_openml's retries without a pause, and the loaded
    copies forgotten (call :func:`forget` again at the end)."""
    from urllib.error import URLError

    import sklearn.datasets._openml as openml

    from core import mnist

    calls: list[object] = []

    def no_network(request, *args, **kwargs):
        calls.append(getattr(request, "full_url", request))
        raise URLError("network disabled in tests")

    monkeypatch.setattr(openml, "urlopen", no_network)
    monkeypatch.setenv(mnist.DATA_DIR_ENV, str(data_home))
    monkeypatch.setattr(mnist, "SHAPE", (n_rows, PIXELS))
    monkeypatch.setattr(mnist, "N_TRAIN", n_train)
    monkeypatch.setattr(mnist, "RETRIES", 1)
    monkeypatch.setattr(mnist, "RETRY_DELAY", 1e-3)
    forget()
    return calls


def forget() -> None:
    """Forget the MNIST copies loaded in this process (core.mnist's and core.data's caches)."""
    from core import data, mnist

    mnist._mnist_in.cache_clear()
    data._mnist_dataset.cache_clear()
