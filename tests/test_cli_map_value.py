"""cli.py map --value leading: the map's points are the leading tangent exponents of their
networks, in a column of their own; the default map's files are as they were."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.experiments.spectrum import run_leading_exponent

ROOT = Path(__file__).resolve().parents[1]
COMMON = ("map", "--kind", "eta-seed", "--etas", "0.5", "2", "--seeds", "2", "--seed", "3", "--steps", "120")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_map_value_leading_writes_the_leading_exponents(tmp_path):
    done = cli(*COMMON, "--value", "leading", "--out", str(tmp_path / "lead"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value_name"] == "leading_exponent"
    table = pd.read_csv(tmp_path / "lead" / "map.csv")
    assert list(table.columns) == ["eta", "seed", "leading_exponent", "test_accuracy", "diverged"] and len(table) == 4
    for row in table.itertuples():
        config = RunConfig(learning_rate=row.eta, seed=row.seed, n_steps=120)
        assert abs(row.leading_exponent - run_leading_exponent(config).exponents[0]) < 1e-12
    assert json.loads((tmp_path / "lead" / "config.json").read_text())["value"] == "leading"
    with np.load(tmp_path / "lead" / "map.npz") as arrays:
        assert "leading_exponent" in arrays.files and "final_loss" not in arrays.files
    plain = cli(*COMMON, "--out", str(tmp_path / "plain"))
    assert plain.returncode == 0, plain.stderr
    assert list(pd.read_csv(tmp_path / "plain" / "map.csv").columns)[2] == "final_loss"
    assert "value" not in json.loads((tmp_path / "plain" / "config.json").read_text())


def test_an_unknown_value_is_refused_in_one_line(tmp_path):
    done = cli(*COMMON, "--value", "ftle2", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "argument --value: invalid choice: 'ftle2'" in done.stderr
    assert not (tmp_path / "x").exists()
