"""cli.py map --kind eta-width / eta-depth / eta-l2 / eta-momentum / eta-batch: the files of a
map over eta and a setting (each point the single run of its config), its notes, and bad
setting values refused in one line with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import RunConfig
from core.experiments.stability import run_stability

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_an_eta_x_momentum_map_of_final_losses_is_its_single_runs(tmp_path):
    done = cli(
        "map", "--kind", "eta-momentum", "--etas", "0.5", "2", "--y-values", "0", "0.9", "--inits", "1",
        "--seed", "2", "--steps", "80", "--value", "loss", "--out", str(tmp_path / "m"), "--json", "--workers", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "note: the optimizer is gd: the map uses heavy-ball momentum" in done.stderr
    assert json.loads(done.stdout)["value_name"] == "final_loss"
    table = pd.read_csv(tmp_path / "m" / "map.csv")
    assert list(table.columns) == ["eta", "momentum", "final_loss", "test_accuracy", "diverged"] and len(table) == 4
    for row in table.itertuples():
        config = RunConfig(learning_rate=row.eta, seed=2, n_steps=80, optimizer="momentum", momentum=row.momentum)
        assert row.final_loss == run_stability(config).trajectory.loss[-1, 0]  # the CSV's 17 digits: exact
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["momentum"] == [0.0, 0.9] and meta["value"] == "loss" and "heavy-ball" in meta["note"]
    with np.load(tmp_path / "m" / "map.npz") as arrays:
        assert arrays["final_loss"].shape == (2, 2) and arrays["momentum"].tolist() == [0.0, 0.9]


def test_the_default_axis_and_value_of_a_depth_map(tmp_path):
    done = cli("map", "--kind", "eta-depth", "--etas", "1", "--inits", "1", "--steps", "40", "--perturbations", "2",
               "--out", str(tmp_path / "d"), "--workers", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "d" / "map.csv")
    assert table["depth"].tolist() == [1, 2, 3, 4] and "ftle_mean" in table.columns


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--kind", "eta-width", "--y-values", "0", "10"),
            "width 0 is not a whole number of hidden units from 1 to 1024",
        ),
        (("--kind", "eta-depth", "--y-values", "5"), "depth 5 is not a whole number of hidden layers from 1 to 4"),
        (("--kind", "eta-l2", "--y-values", "-1"), "l2 -1 is not a number in (0, 1000]"),
        (("--kind", "eta-momentum", "--y-values", "1"), "momentum 1 is not a number in [0, 1)"),
        (
            ("--kind", "eta-batch", "--y-values", "500"),
            "batch_size 500 is not a whole number of rows from 1 to the 120",
        ),
        (("--kind", "eta-eps", "--value", "loss"), "the eta-eps map's value must be one of default, ftle, leading"),
        (("--kind", "eta-seed", "--y-values", "3"), "--y-values sets a setting map's axis"),
    ],
)
def test_bad_setting_values_exit_2_in_one_line(tmp_path, args, message):
    done = cli("map", *args, "--etas", "1", "--steps", "40", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
