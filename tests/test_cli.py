"""The command line: its JSON contracts, files, and one-line errors with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_run_json_summary_has_the_contract_keys():
    out = json.loads(cli("run", "--steps", "300", "--perturbations", "4", "--json").stdout)
    for key in (
        "final_loss",
        "train_accuracy",
        "test_accuracy",
        "d0",
        "max_normalized_distance",
        "final_normalized_distance",
        "ftle",
        "diverged",
    ):
        assert key in out
    assert set(out["ftle"]) >= {"slope", "r2", "window", "kept"}
    assert out["diverged"] is False and 0 < out["final_loss"] < 3
    assert out["d0"] == pytest.approx(0.5 * 1e-8 * 70, rel=0.3)
    assert out["config"]["learning_rate"] == 0.01


def test_run_saves_npz_and_init_from_reproduces_the_run(tmp_path):
    saved = tmp_path / "run.npz"
    first = json.loads(
        cli(
            "run", "--steps", "250", "--perturbations", "3", "--save-every", "100", "--save", str(saved), "--json"
        ).stdout
    )
    with np.load(saved) as f:
        assert f["steps"].tolist() == [0, 100, 200, 250]
        assert f["theta"].shape == (4, 4, 83) and f["loss"].shape == (251, 4) and f["distance"].shape == (251, 3)
        assert json.loads(str(f["config"]))["n_steps"] == 250
        theta0 = f["theta"][0, 0]
    init = tmp_path / "init.npz"
    np.savez(init, theta0=theta0)
    again = json.loads(
        cli("run", "--steps", "250", "--perturbations", "3", "--seed", "0", "--init-from", str(init), "--json").stdout
    )
    assert again["final_loss"] == first["final_loss"]


def test_eta_keeps_full_float64_precision():
    out = json.loads(cli("run", "--steps", "2", "--perturbations", "1", "--eta", "0.1000000000000001", "--json").stdout)
    assert out["config"]["learning_rate"] == 0.1000000000000001


def test_run_on_a_user_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    y = (x[:, 0] > 0).astype(int)
    path = tmp_path / "two.csv"
    path.write_text("\n".join(f"{a},{b},{c}" for (a, b), c in zip(x, y, strict=True)))
    out = json.loads(cli("run", "--data", str(path), "--steps", "50", "--perturbations", "2", "--json").stdout)
    assert out["n_params"] == 2 * 10 + 10 + 10 * 2 + 2 and out["test_accuracy"] is None


def test_diverging_run_is_reported():
    out = json.loads(cli("run", "--eta", "1000", "--steps", "200", "--perturbations", "2", "--json").stdout)
    assert isinstance(out["diverged"], bool) and out["final_loss"] is None or out["final_loss"] > 0


def test_lyapunov_json():
    out = json.loads(
        cli("lyapunov", "--eps", "1e-8", "1e-3", "--inits", "4", "--steps", "200", "--workers", "1", "--json").stdout
    )
    assert [r["eps"] for r in out["results"]] == [1e-8, 1e-3]
    for row in out["results"]:
        assert set(row) >= {"eps", "mean", "std", "ci", "kept", "total"} and row["total"] == 4


def test_bench_json():
    out = json.loads(cli("bench", "--seconds", "0.05", "--repeats", "1", "--json").stdout)
    assert sorted({r["K"] for r in out["results"]}) == [21, 1000]
    assert {r["threads"] for r in out["results"]} >= {1}
    assert all(r["traj_steps_per_s"] > 0 for r in out["results"])
    assert all(r["seconds"] > 0 for r in out["default_run"]) and out["default_run"][0]["threads"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--eta", "abc"], "invalid float value: 'abc'"),
        (["run", "--eta", "nan"], "learning_rate must be a finite number"),
        (["run", "--eta", "-1"], "learning_rate"),
        (["run", "--eps", "0"], "eps must be"),
        (["run", "--steps", "0"], "n_steps must be between"),
        (["run", "--hidden", "1e9"], "invalid int value"),
        (["run", "--perturbations", "-2"], "n_perturbations"),
        (["run", "--activation", "softsign"], "invalid choice"),
        (["run", "--data", "/nonexistent.csv"], "does not exist"),
        (["lyapunov", "--inits", "0"], "n_inits"),
        (["orbital", "--t0", "6000"], "t0 must be between"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = cli(*args, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ({"theta0": np.zeros(82)}, "shape (83,)"),
        ({"theta0": np.zeros((2, 83))}, "shape (83,)"),
        ({"theta0": np.full(83, np.nan)}, "NaN"),
        ({"theta0": np.zeros(83, dtype=np.int32)}, "float"),
        ({"weights": np.zeros(83)}, "no array named 'theta0'"),
        (None, "cannot read"),
    ],
)
def test_bad_init_from_files(tmp_path, content, message):
    path = tmp_path / "init.npz"
    if content is None:
        path.write_text("garbage")
    else:
        np.savez(path, **content)
    result = cli("run", "--steps", "5", "--init-from", str(path), check=False)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
