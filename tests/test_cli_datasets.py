"""The command line on wine, breast cancer and MNIST (docs/method.md §15): a run, a sweep and a
map end to end, in this process, with few steps; MNIST from a tiny copy in fetch_openml's
cache format, and one line with exit status 2 when it is neither cached nor downloadable."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import cli
from core import mnist

_path = Path(__file__).resolve().parent / "data_fixtures" / "openml_mnist.py"
_spec = importlib.util.spec_from_file_location("openml_mnist_fixture", _path)
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)


def run_json(capsys, *args: str) -> dict:
    assert cli.main([*args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "dataset, n_params", [("wine", 13 * 10 + 10 + 10 * 3 + 3), ("breast_cancer", 30 * 10 + 10 + 22)]
)
def test_a_run_on_a_table_learns_and_records_its_standardised_data(capsys, dataset, n_params):
    out = run_json(capsys, "run", "--dataset", dataset, "--eta", "0.5", "--steps", "300", "--perturbations", "2")
    assert out["n_params"] == n_params and not out["diverged"]
    assert out["config"]["dataset"] == dataset and out["config"]["standardize"] is True
    assert out["train_accuracy"] > 0.9 and out["test_accuracy"] > 0.8  # both are easy once standardised


def test_a_sweep_on_wine_writes_a_row_per_eta(capsys, tmp_path):
    out = run_json(
        capsys, "sweep", "--dataset", "wine", "--etas", "0.1", "3", "--inits", "2", "--perturbations", "1",
        "--steps", "40", "--workers", "1", "--out", str(tmp_path / "sweep"),
    )  # fmt: skip
    assert out["summary"]["eta"] == [0.1, 3.0]
    config = json.loads((tmp_path / "sweep" / "config.json").read_text())["config"]
    assert config["dataset"] == "wine" and config["hidden"] == 10
    runs = (tmp_path / "sweep" / "runs.csv").read_text().splitlines()
    assert len(runs) == 1 + 2 * 2  # a header, then 2 etas x 2 networks


def test_an_eta_eps_map_on_breast_cancer(capsys, tmp_path):
    assert cli.main([
        "map", "--kind", "eta-eps", "--dataset", "breast_cancer", "--etas", "0.1", "2", "--eps-values", "1e-10", "1e-6",
        "--inits", "1", "--perturbations", "1", "--steps", "40", "--workers", "1", "--out", str(tmp_path / "map"),
    ]) == 0, capsys.readouterr().err  # fmt: skip
    meta = json.loads((tmp_path / "map" / "config.json").read_text())
    assert meta["config"]["dataset"] == "breast_cancer" and meta["kind"] == "eta-eps"
    with np.load(tmp_path / "map" / "map.npz") as arrays:
        assert arrays["etas"].tolist() == [0.1, 2.0]


@pytest.fixture
def tiny_mnist_cache(monkeypatch, tmp_path):
    """MNIST's sizes those of a 12-image copy in fetch_openml's cache in tmp_path; no network."""
    fixture.offline(monkeypatch, tmp_path, 12, 10)
    yield tmp_path
    fixture.forget()


def test_a_run_on_mnist_trains_the_784_64_10_tanh_network(capsys, tiny_mnist_cache):
    fixture.write_openml_cache(tiny_mnist_cache, *fixture.tiny_mnist(12))
    out = run_json(capsys, "run", "--dataset", "mnist", "--eta", "0.1", "--steps", "5", "--perturbations", "1")
    assert out["n_params"] == 784 * 64 + 64 + 64 * 10 + 10
    assert out["config"]["activation"] == "tanh" and out["config"]["dataset"] == "mnist"
    assert (tiny_mnist_cache / mnist.CACHE_FILE).is_file()


def test_mnist_offline_and_not_cached_is_one_line_and_exit_2(capsys, tiny_mnist_cache):
    assert cli.main(["run", "--dataset", "mnist", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cli.py run: error: MNIST is not in the data cache")
    assert str(tiny_mnist_cache) in err and "WSD_DATA_DIR" in err
