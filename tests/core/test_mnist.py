"""MNIST by name (core.mnist): read from fetch_openml's cache format, kept as a .npz, a clear
line when offline, pickled as its recipe. No test here touches the network: OpenML's URL
opener is replaced by one that fails (and counts its calls), and the data are a tiny MNIST of
12 images in the files fetch_openml writes (tests/data_fixtures/openml_mnist.py)."""

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

from core import data as core_data
from core import mnist
from core.config import RunConfig

_path = Path(__file__).resolve().parents[1] / "data_fixtures" / "openml_mnist.py"
_spec = importlib.util.spec_from_file_location("openml_mnist_fixture", _path)
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)  # by path: tests/ is no package

N_ROWS, N_TRAIN = 12, 10


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network (every URL opened fails and is counted), the data cache in tmp_path, MNIST's
    sizes those of the tiny fixture, fetch_openml's retries without a pause, caches emptied."""
    yield fixture.offline(monkeypatch, tmp_path, N_ROWS, N_TRAIN)
    fixture.forget()


def test_mnist_is_read_from_fetch_openmls_cache_then_from_its_own_file(offline, tmp_path):
    x, y = fixture.tiny_mnist(N_ROWS)
    fixture.write_openml_cache(tmp_path, x, y)
    data = core_data.load_dataset("mnist")
    assert offline == []  # every response came from the cache
    assert data.name == "mnist" and data.n_classes == 10 and data.n_features == 784
    assert data.x_train.dtype == np.float64 and data.x_train.shape == (N_TRAIN, 784)
    assert data.x_test.shape == (N_ROWS - N_TRAIN, 784)
    np.testing.assert_array_equal(data.x_train, x[:N_TRAIN] / 255.0)  # OpenML's order, pixels / 255
    np.testing.assert_array_equal(data.y_test, y[N_TRAIN:])
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.feature_names[29] == "pixel (1, 1)" and data.class_names[3] == "3"
    assert (tmp_path / mnist.CACHE_FILE).is_file()
    # the .npz alone serves the next process: OpenML's files may go
    for path in sorted((tmp_path / "openml").rglob("*.gz")):
        path.unlink()
    mnist._mnist_in.cache_clear()
    core_data._mnist_dataset.cache_clear()
    again = core_data.load_dataset("mnist")
    np.testing.assert_array_equal(again.x_train, data.x_train)
    assert offline == []


def test_the_same_mnist_object_serves_a_process_and_cannot_be_written(offline, tmp_path):
    fixture.write_openml_cache(tmp_path, *fixture.tiny_mnist(N_ROWS))
    data = core_data.load_dataset("mnist")
    assert core_data.load_dataset("mnist") is data
    with pytest.raises(ValueError, match="read-only"):
        data.x_train[0, 0] = 1.0


def test_offline_without_a_copy_is_one_line_naming_the_directory_and_the_way_out(offline, tmp_path):
    with pytest.raises(mnist.DataUnavailable) as caught:
        core_data.load_dataset("mnist")
    message = str(caught.value)
    assert "\n" not in message and offline  # it did try (the opener refused)
    assert str(tmp_path) in message and "network disabled in tests" in message
    assert "connect this machine to the internet once" in message and mnist.DATA_DIR_ENV in message
    assert isinstance(caught.value, ValueError)  # the CLI's one line and exit status 2
    assert not (tmp_path / mnist.CACHE_FILE).exists()


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((3, 784), np.uint8), "y": np.zeros(3, np.int64)}, "expected 12 images of 784 pixels"),
        ({"x": np.full((N_ROWS, 784), 300.0), "y": np.zeros(N_ROWS)}, "whole numbers in 0..255"),
        ({"x": np.zeros((N_ROWS, 784)), "y": np.full(N_ROWS, 10)}, "labels digits 0..9"),
        ({"pixels": np.zeros(3)}, "not a readable MNIST cache"),
    ],
)
def test_a_foreign_cache_file_is_named_with_the_rule(offline, tmp_path, arrays, message):
    np.savez(tmp_path / mnist.CACHE_FILE, **arrays)
    with pytest.raises(mnist.DataUnavailable, match=message):
        core_data.load_dataset("mnist")


def test_a_damaged_cache_file_says_delete_it(offline, tmp_path):
    (tmp_path / mnist.CACHE_FILE).write_bytes(b"not a zip file")
    with pytest.raises(mnist.DataUnavailable, match="delete it to download again"):
        core_data.load_dataset("mnist")


def test_mnist_travels_to_a_worker_as_its_recipe_and_the_worker_checks_its_copy(offline, tmp_path):
    x, y = fixture.tiny_mnist(N_ROWS)
    fixture.write_openml_cache(tmp_path, x, y)
    data = core_data.load_dataset("mnist", standardize=True)
    payload = pickle.dumps(data)
    assert len(payload) < 1_000 < data.x_train.nbytes  # a name and a fingerprint, not the pixels
    assert pickle.loads(payload) is data  # this process: the same object
    # another host whose copy differs: refused, not silently trained on
    np.savez_compressed(tmp_path / mnist.CACHE_FILE, x=x[::-1].copy(), y=y[::-1].copy())
    mnist._mnist_in.cache_clear()
    core_data._mnist_dataset.cache_clear()
    with pytest.raises(mnist.DataUnavailable, match="differs from the sender's"):
        pickle.loads(payload)


def test_other_data_sets_pickle_as_their_arrays():
    iris = core_data.load_iris()
    assert iris.recipe is None
    copy = pickle.loads(pickle.dumps(iris))
    np.testing.assert_array_equal(copy.x_train, iris.x_train)


def test_the_data_directory_is_wsd_data_dir_else_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(mnist.DATA_DIR_ENV, str(tmp_path / "data"))
    assert mnist.data_dir() == tmp_path / "data"
    monkeypatch.delenv(mnist.DATA_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mnist.data_dir() == tmp_path / "cache" / "weightspace-dynamics"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mnist.data_dir() == tmp_path / ".cache" / "weightspace-dynamics"


def test_mnist_keeps_its_published_split():
    with pytest.raises(ValueError, match="split_seed must be 0 for mnist .*got 3"):
        RunConfig.for_dataset("mnist", split_seed=3)
    with pytest.raises(ValueError, match="split_seed must be 0 for mnist"):
        core_data.load_mnist(split_seed=1)
    config = RunConfig.for_dataset("mnist")
    assert (config.hidden, config.activation) == (64, "tanh")  # the follow-up work's 784-64-10 tanh


def test_mnists_sizes_are_known_without_loading_it(monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("MNIST was loaded to count its rows")

    monkeypatch.setattr(core_data, "load_mnist", no_loading)
    assert core_data.dataset_sizes("mnist") == (60_000, 10_000, 784, 10)
    assert core_data.dataset_shape("mnist") == (60_000, 784, 10)
