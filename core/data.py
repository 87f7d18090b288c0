"""Training data: the data sets that ship with scikit-learn, MNIST, by name, or the user's own file.

- ``iris`` (docs/method.md §1): 150 rows, 4 raw features (cm), 3 classes; a fixed-seed
  permutation puts the first 120 rows in the training set and the last 30 in the test set.
- ``digits`` (docs/method.md §8): 1,797 images of 8 x 8 pixels (64 features, grey levels 0-16
  divided by 16 into [0, 1]), 10 classes; a fixed-seed permutation puts the first 80%
  (1,438 rows) in the training set and the last 359 in the test set. Its default network is
  64 -> 64 -> 10 with tanh (``core.config.DATASET_DEFAULTS``), the shape of the follow-up work's
  784-64-10 tanh network on MNIST, scaled to 8 x 8 images.
- ``wine`` (178 rows, 13 features, 3 cultivars) and ``breast_cancer`` (569 rows, 30 features,
  malignant / benign), docs/method.md §15: permuted like digits, the first 80% train (142 and
  455 rows), the rest test (36 and 114). Their columns span four orders of magnitude (wine's
  hue ~1, its proline ~750; a tumour's smoothness ~0.1, its worst area ~900), so these two come
  standardised: each feature minus its training rows' mean, over their std.
- ``mnist`` (docs/method.md §15; :mod:`core.mnist` downloads and caches it): 70,000 images of
  28 x 28 pixels, grey levels 0-255 divided by 255; the published split, 60,000 training images
  and 10,000 test images (no permutation: ``split_seed`` must be 0).

Standardisation (mean 0, std 1 from the training rows) is an option, off by default (wine and
breast cancer have it built in; the option then changes nothing).
"""

from __future__ import annotations

import csv
import functools
import importlib.util
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, SupportsIndex

import numpy as np
import numpy.typing as npt

from core import mnist
from core.arrays import FloatArray, IntArray
from core.config import DATASETS

N_TRAIN_IRIS = 120
TRAIN_FRACTION_DIGITS = 0.8  # also wine's and breast cancer's (Iris's 120 of 150 too)
DIGITS_LEVELS = 16.0  # grey levels 0..16


@dataclass(frozen=True, eq=False)
class Dataset:
    """Arrays are float64 features and int64 labels in ``[0, n_classes)``."""

    x_train: FloatArray  # (N, D)
    y_train: IntArray  # (N,)
    x_test: FloatArray  # (N_test, D), may have 0 rows
    y_test: IntArray  # (N_test,)
    n_classes: int
    feature_names: tuple[str, ...] = field(default=())
    class_names: tuple[str, ...] = field(default=())
    name: str = "data"
    # how to load it again, for a data set too large to pickle (MNIST, 440 MB): (name,
    # standardize, fingerprint); a worker process loads it from its own cache (see __reduce_ex__)
    recipe: tuple[str, bool, str] | None = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def standardized(self) -> Dataset:
        """Features scaled by the training rows' mean and std (constant columns left as is)."""
        mean = self.x_train.mean(axis=0)
        std = self.x_train.std(axis=0)
        std[std == 0] = 1.0
        return Dataset(
            (self.x_train - mean) / std,
            self.y_train,
            (self.x_test - mean) / std,
            self.y_test,
            self.n_classes,
            self.feature_names,
            self.class_names,
            f"{self.name} (standardised)",
        )

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        """Pickled as its arrays, or, with a ``recipe``, as the recipe: a chunk of MNIST cells
        sent to a worker then carries a name, not 440 MB, and the worker checks that its copy
        has the same fingerprint."""
        if self.recipe is None:
            return super().__reduce_ex__(protocol)
        return (_from_recipe, self.recipe)


IRIS_FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


def _sklearn_data_file(name: str) -> Path:
    """A data file of the installed scikit-learn (sklearn/datasets/data/NAME).

    Read straight from the package: importing sklearn costs ~2 s here, which every CLI call
    and worker would pay. Tests check the arrays equal scikit-learn's loaders.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-learn is not installed; it ships the Iris and digits data")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


WINE_FEATURES = (
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
    "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines", "proline",
)  # fmt: skip
_CANCER_MEASURES = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity", "concave points",
    "symmetry", "fractal dimension",
)  # fmt: skip
# scikit-learn's names: the mean of each measure over a tumour's nuclei, its standard error, its worst
BREAST_CANCER_FEATURES = tuple(
    f"{prefix}{measure}{suffix}"
    for prefix, suffix in (("mean ", ""), ("", " error"), ("worst ", ""))
    for measure in _CANCER_MEASURES
)


def iris_arrays() -> tuple[FloatArray, IntArray, tuple[str, ...]]:
    """Iris as scikit-learn ships it (iris.csv), in its row order: x (150, 4), y (150,), class names."""
    return table_arrays("iris.csv")


def digits_arrays() -> tuple[FloatArray, IntArray]:
    """The 8 x 8 digits as scikit-learn ships them (digits.csv.gz): x (1797, 64) grey levels
    0..16, row-major pixels; y (1797,) in 0..9."""
    table = np.loadtxt(_sklearn_data_file("digits.csv.gz"), delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1].astype(np.int64)


def table_arrays(file: str) -> tuple[FloatArray, IntArray, tuple[str, ...]]:
    """A data set as scikit-learn ships it in sklearn/datasets/data/``file`` (iris.csv,
    wine_data.csv, breast_cancer.csv): a header "rows,features,class names...", then a row per sample whose
    last cell is its class. x (N, D), y (N,), the class names."""
    with _sklearn_data_file(file).open() as f:
        header = f.readline().strip().split(",")
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    return table[:, :-1], table[:, -1].astype(np.int64), tuple(header[2:])


def _split(
    x: FloatArray, y: IntArray, n_train: int, split_seed: int
) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    """Rows permuted with ``default_rng(split_seed)``; the first ``n_train`` train, the rest test."""
    order = np.random.default_rng(split_seed).permutation(len(y))
    x, y = x[order], y[order]
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def load_iris(*, split_seed: int = 0, standardize: bool = False) -> Dataset:
    """Iris, permuted with ``default_rng(split_seed)``: 120 training rows, 30 test rows."""
    x, y, class_names = iris_arrays()
    data = Dataset(*_split(x, y, N_TRAIN_IRIS, split_seed), 3, IRIS_FEATURES, class_names, "iris")
    return data.standardized() if standardize else data


def load_digits(*, split_seed: int = 0, standardize: bool = False) -> Dataset:
    """The 8 x 8 digits, features / 16, permuted with ``default_rng(split_seed)``: 1,438
    training rows, 359 test rows. Feature i is pixel (row i // 8, column i % 8)."""
    x, y = digits_arrays()
    n_train = round(TRAIN_FRACTION_DIGITS * len(y))
    features = tuple(f"pixel ({i // 8}, {i % 8})" for i in range(x.shape[1]))
    classes = tuple(str(c) for c in range(10))
    data = Dataset(*_split(x / DIGITS_LEVELS, y, n_train, split_seed), 10, features, classes, "digits")
    return data.standardized() if standardize else data


def _load_table(file: str, name: str, features: tuple[str, ...], *, split_seed: int, standardize: bool) -> Dataset:
    """A table of scikit-learn's (:func:`table_arrays`), permuted with ``default_rng(split_seed)``,
    the first 80% training rows; always standardised by the training rows (``standardize``
    changes nothing: the columns' scales differ by orders of magnitude)."""
    x, y, classes = table_arrays(file)
    n_train = round(TRAIN_FRACTION_DIGITS * len(y))
    data = Dataset(*_split(x, y, n_train, split_seed), len(classes), features, classes, name)
    return replace(data.standardized(), name=name)  # its name stays the data set's


def load_wine(*, split_seed: int = 0, standardize: bool = False) -> Dataset:
    """scikit-learn's wine: 13 standardised features, 3 cultivars; 142 training rows, 36 test
    rows (permuted with ``default_rng(split_seed)``)."""
    return _load_table("wine_data.csv", "wine", WINE_FEATURES, split_seed=split_seed, standardize=standardize)


def load_breast_cancer(*, split_seed: int = 0, standardize: bool = False) -> Dataset:
    """scikit-learn's breast cancer (Wisconsin diagnostic): 30 standardised features, classes
    malignant (0) and benign (1); 455 training rows, 114 test rows."""
    return _load_table(
        "breast_cancer.csv", "breast_cancer", BREAST_CANCER_FEATURES, split_seed=split_seed, standardize=standardize
    )


def load_mnist(*, split_seed: int = 0, standardize: bool = False) -> Dataset:
    """MNIST (:mod:`core.mnist`: downloaded once into the data cache), pixels / 255: the
    published 60,000 training and 10,000 test images, in OpenML's order. Feature i is pixel
    (row i // 28, column i % 28). ``split_seed`` must be 0 (the split is the published one).
    The same read-only object for the same settings within a process."""
    if split_seed != 0:
        raise ValueError(f"split_seed must be 0 for mnist (its published training and test images), got {split_seed!r}")
    return _mnist_dataset(mnist.data_dir(), standardize)


@functools.lru_cache(maxsize=1)
def _mnist_dataset(directory: Path, standardize: bool) -> Dataset:
    x, y, print_ = mnist.mnist_arrays(directory)
    side, n_train = mnist.SIDE, mnist.N_TRAIN
    pixels = x / mnist.LEVELS  # (70000, 784) float64 in [0, 1]
    features = tuple(f"pixel ({i // side}, {i % side})" for i in range(x.shape[1]))
    classes = tuple(str(c) for c in range(10))
    data = Dataset(pixels[:n_train], y[:n_train], pixels[n_train:], y[n_train:], 10, features, classes, "mnist")
    data = replace(data.standardized() if standardize else data, recipe=("mnist", standardize, print_))
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


def _from_recipe(name: str, standardize: bool, print_: str) -> Dataset:
    """A data set pickled as its recipe (``Dataset.__reduce_ex__``), loaded here, or
    DataUnavailable if this machine's copy differs from the sender's."""
    data = load_dataset(name, standardize=standardize)
    if data.recipe is None or data.recipe[2] != print_:
        found = None if data.recipe is None else data.recipe[2]
        raise mnist.DataUnavailable(
            f"{name} here (fingerprint {found}) differs from the sender's ({print_}): "
            f"replace {mnist.data_dir() / mnist.CACHE_FILE} with the sender's copy"
        )
    return data


# (training rows, test rows, features, classes) of the data sets not worth loading to count
KNOWN_SIZES = {"mnist": (mnist.N_TRAIN, mnist.SHAPE[0] - mnist.N_TRAIN, mnist.SHAPE[1], 10)}


@functools.cache
def dataset_sizes(name: str) -> tuple[int, int, int, int]:
    """(training rows N, test rows, features D, classes C) of a named data set, read once per
    process (MNIST's are known: it is not loaded, so nothing is downloaded)."""
    if name in KNOWN_SIZES:
        return KNOWN_SIZES[name]
    data = load_dataset(name)
    return data.x_train.shape[0], data.x_test.shape[0], data.n_features, data.n_classes


def dataset_shape(name: str) -> tuple[int, int, int]:
    """(training rows N, features D, classes C) of a named data set (:func:`dataset_sizes`)."""
    n_train, _, n_features, n_classes = dataset_sizes(name)
    return n_train, n_features, n_classes


def load_dataset(name: str, *, split_seed: int = 0, standardize: bool = False) -> Dataset:
    """A data set by name: one of ``DATASETS``."""
    loaders = {
        "iris": load_iris,
        "digits": load_digits,
        "wine": load_wine,
        "breast_cancer": load_breast_cancer,
        "mnist": load_mnist,
    }
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return loaders[name](split_seed=split_seed, standardize=standardize)


def separating_pair(x: FloatArray, y: IntArray) -> tuple[int, int]:
    """The two features (i < j) in which the classes lie most apart: the pair with the largest
    Fisher criterion trace(S_w^-1 S_b) of its 2 x 2 within-class and between-class scatter
    matrices (Fisher 1936; Duda, Hart and Stork, Pattern Classification, §3.8). x (N, D),
    y (N,); D >= 2. A pair whose within-class scatter is singular scores by its pseudo-inverse."""
    classes, index = np.unique(y, return_inverse=True)
    means = np.array([x[index == c].mean(axis=0) for c in range(len(classes))])  # (C, D)
    within = x - means[index]
    s_w = within.T @ within  # (D, D)
    between = (means - x.mean(axis=0)) * np.sqrt(np.bincount(index))[:, None]
    s_b = between.T @ between  # (D, D)
    pairs = [(i, j) for i in range(x.shape[1]) for j in range(i + 1, x.shape[1])]
    scores = [float(np.trace(np.linalg.pinv(s_w[np.ix_(p, p)]) @ s_b[np.ix_(p, p)])) for p in pairs]
    return pairs[int(np.argmax(scores))]


def load_dataset_file(path: str | Path, *, standardize: bool = False) -> Dataset:
    """The user's data: an .npz with ``x_train``, ``y_train`` (optional ``x_test``,
    ``y_test``) or a CSV whose last column is the label. Every training row is used, in
    the given order. Raises ``ValueError`` with the file name and the rule broken."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"data file {str(path)!r} is a directory, not a file")
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    if path.suffix.lower() == ".npz":
        data = _load_npz(path)
    elif path.suffix.lower() in (".csv", ".txt"):
        data = _load_csv(path)
    else:
        raise ValueError(f"data file {str(path)!r} must end in .npz or .csv")
    return data.standardized() if standardize else data


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # a corrupt or non-npz file: numpy's many exception types
        raise ValueError(f"{path.name}: cannot read as .npz ({exc})") from None
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise ValueError(f"{path.name}: missing array {key!r} (has {sorted(arrays)})")
    has_test = "x_test" in arrays and "y_test" in arrays
    x_test = arrays["x_test"] if has_test else np.empty((0, np.shape(arrays["x_train"])[-1]))
    y_test = arrays["y_test"] if has_test else np.empty(0, dtype=np.int64)
    return _checked(path.name, arrays["x_train"], arrays["y_train"], x_test, y_test, ())


def _load_csv(path: Path) -> Dataset:
    import pandas as pd

    _check_columns(path)
    try:
        frame = pd.read_csv(path, header=None)
        if frame.shape[0] > 0 and not _is_numeric_row(frame.iloc[0, :-1]):
            frame = pd.read_csv(path)  # the first row is a header
    except Exception as exc:  # pandas raises several parser error types, some over several lines
        raise ValueError(f"{path.name}: cannot read as CSV ({' '.join(str(exc).split())})") from None
    if frame.shape[1] < 2:
        raise ValueError(f"{path.name}: needs at least one feature column and a label column")
    try:
        x = frame.iloc[:, :-1].to_numpy(dtype=np.float64)
    except ValueError:
        raise ValueError(f"{path.name}: feature columns must be numbers") from None
    labels = frame.iloc[:, -1]
    class_names: tuple[str, ...] = ()
    if pd.api.types.is_numeric_dtype(labels):
        y = np.asarray(labels)
    else:
        y, uniques = pd.factorize(labels, sort=True)
        class_names = tuple(str(u) for u in uniques)
    return _checked(path.name, x, y, np.empty((0, x.shape[1])), np.empty(0), class_names)


def _check_columns(path: Path) -> None:
    """Every non-blank line of a CSV has the number of cells most lines have, or ``ValueError``
    naming the first line that does not. (pandas blames a long line with a multi-line message
    and fills a short one with NaN, which then looks like a bad label.)"""
    counts: Counter[int] = Counter()
    first_line: dict[int, int] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            for row in reader:
                if len(row) > 1 or (row and row[0].strip()):  # pandas skips blank lines
                    counts[len(row)] += 1
                    first_line.setdefault(len(row), reader.line_num)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name}: cannot read as CSV ({exc})") from None
    if len(counts) > 1:
        expected = counts.most_common(1)[0][0]
        line, found = min((n, cells) for cells, n in first_line.items() if cells != expected)
        raise ValueError(
            f"{path.name}: line {line} has {found} columns, expected {expected}, "
            f"like {counts[expected]:,} of its {counts.total():,} non-blank lines"
        )


def _is_numeric_row(row: object) -> bool:
    try:
        np.asarray(row, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _checked(
    name: str,
    x_train: npt.ArrayLike,
    y_train: npt.ArrayLike,
    x_test: npt.ArrayLike,
    y_test: npt.ArrayLike,
    class_names: tuple[str, ...],
) -> Dataset:
    x_train, x_test = (_features(name, key, a) for key, a in (("x_train", x_train), ("x_test", x_test)))
    y_train, y_test = (_labels(name, key, a) for key, a in (("y_train", y_train), ("y_test", y_test)))
    if x_train.shape[0] < 1 or x_train.shape[0] != y_train.shape[0]:
        raise ValueError(
            f"{name}: x_train has {x_train.shape[0]} rows and y_train {y_train.shape[0]}; they must match and be > 0"
        )
    if x_test.shape[0] != y_test.shape[0] or (x_test.shape[0] and x_test.shape[1] != x_train.shape[1]):
        raise ValueError(f"{name}: x_test {x_test.shape} does not match y_test {y_test.shape} or x_train's columns")
    n_classes = int(max(y_train.max(), y_test.max(initial=0))) + 1
    if n_classes < 2:
        raise ValueError(f"{name}: labels must include at least two classes, got {n_classes}")
    return Dataset(x_train, y_train, x_test, y_test, n_classes, (), class_names, name)


def _features(name: str, key: str, a: npt.ArrayLike) -> FloatArray:
    a = np.asarray(a)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name}: {key} must be a 2-D numeric array, got shape {a.shape} dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: {key} contains NaN or infinite values")
    return a


def _labels(name: str, key: str, a: npt.ArrayLike) -> IntArray:
    a = np.asarray(a)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name}: {key} must be a 1-D array of integer labels, got shape {a.shape} dtype {a.dtype}")
    if a.size and (not np.isfinite(a).all() or (a != np.round(a)).any() or a.min() < 0):
        raise ValueError(f"{name}: {key} must hold non-negative integer labels")
    return a.astype(np.int64)
