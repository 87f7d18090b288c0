"""The sharpness command: its JSON contract and its one-line error for a bad --every."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sharpness_json_contract_and_bad_every():
    result = cli("sharpness", "--eta", "1", "--steps", "100", "--every", "20", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["steps"] == [0, 20, 40, 60, 80, 100]
    assert len(out["sharpness"]) == 6 and all(0 < s < 20 for s in out["sharpness"])
    assert out["sharpness"][0] > 3 * out["two_over_eta"]  # the seed's network (~7) starts above the edge
    assert out["two_over_eta"] == 2.0 and out["config"]["learning_rate"] == 1.0 and out["config"]["n_steps"] == 100
    bad = cli("sharpness", "--steps", "10", "--every", "0")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["cli.py sharpness: error: every must be between 1 and 10000000, got 0"]


def test_each_update_rule_is_measured_against_its_own_threshold():
    """Momentum's sharpness against (2 + 2 beta)/eta; Adam's loss Hessian has no threshold, its
    preconditioned sharpness (the core's series, step for step) has (2 + 2 beta1)/((1 - beta1) eta)."""
    import dataclasses

    from core.analysis.hessian import sharpness_series
    from core.config import RunConfig

    momentum = json.loads(cli("sharpness", "--optimizer", "momentum", "--eta", "0.1", "--steps", "40", "--json").stdout)
    assert momentum["threshold"] == pytest.approx(38, rel=1e-14) and momentum["threshold_label"] == "(2 + 2β)/η"
    assert "preconditioned_sharpness" not in momentum
    args = ("sharpness", "--optimizer", "adam", "--eta", "0.05", "--steps", "60", "--every", "20")
    adam = json.loads(cli(*args, "--json").stdout)
    assert adam["threshold"] is None and adam["preconditioned_threshold"] == pytest.approx(760, rel=1e-14)
    config = dataclasses.replace(RunConfig(), optimizer="adam", learning_rate=0.05, n_steps=60)
    assert adam["preconditioned_sharpness"] == sharpness_series(config, 20).preconditioned.tolist()
    table = cli(*args).stdout.splitlines()
    assert table[0].split()[:3] == ["step", "sharpness", "precond."]
    assert table[-1].startswith("(2 + 2β1)/((1 − β1)η) = 760 bounds the preconditioned sharpness")
    step, sharpness, preconditioned, ratio = table[2].split()
    assert step == "20" and float(preconditioned) / 760 == pytest.approx(float(ratio), abs=1e-3)
