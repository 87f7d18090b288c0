"""The command line: its JSON contracts, files, and one-line errors with exit status 2."""

import contextlib
import errno
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli_main(argv: list[str]) -> int:
    """cli.main in this process (for tests that patch a command's module)."""
    import cli

    return cli.main(argv)


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
    # measured: the sigmoid saturates, so eta = 1000 does not overflow; the loss is finite and
    # huge (~3,400, against ln 3 = 1.1 for chance) and the copies are far apart
    assert out["diverged"] is False and out["diverged_rows"] == []
    assert out["final_loss"] > 100 and out["train_accuracy"] < 0.4
    assert out["max_normalized_distance"] > 10


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
    assert out["estimate_rate"] > 0  # what the dashboard estimates job times from


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


def assert_refused(result: subprocess.CompletedProcess, message: str) -> None:
    """The bad-input contract: exit status 2, one line on stderr holding ``message``, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "--seconds", "0"], "argument --seconds: must be a positive finite number, got 0.0"),  # was 1/0
        (["bench", "--seconds", "-1"], "argument --seconds: must be a positive finite number, got -1.0"),
        (["bench", "--seconds", "nan"], "argument --seconds: must be a positive finite number, got nan"),
        (["bench", "--seconds", "inf"], "argument --seconds: must be a positive finite number, got inf"),  # was a hang
        (["bench", "--seconds", "x"], "argument --seconds: must be a positive number, got 'x'"),
        (["bench", "--repeats", "0"], "argument --repeats: must be a whole number >= 1, got 0"),  # was max() of []
        (["bench", "--repeats", "1.5"], "argument --repeats: must be a whole number >= 1, got '1.5'"),
        (["bench", "--workers", "0"], "argument --workers: must be a whole number >= 1, got 0"),  # was ignored
        (["lyapunov", "--workers", "-1"], "argument --workers: must be a whole number >= 1, got -1"),
    ],
)
def test_bench_and_worker_numbers_are_checked_before_any_work(args, message):
    assert_refused(cli(*args, check=False), message)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--steps", "10000000", "--perturbations", "10000"],
        ["orbital", "--steps", "10000000", "--perturbations", "10000", "--t0", "10"],
        ["lyapunov", "--steps", "10000000", "--perturbations", "10000", "--inits", "1", "--workers", "1"],
    ],
)
def test_a_run_larger_than_the_memory_is_refused_with_an_estimate(args):
    """~3 TB of records: was numpy's MemoryError (or swapping)."""
    result = cli(*args, check=False)
    assert_refused(result, "GB of memory for ")
    assert "10,001 trajectories" in result.stderr and "GB are available: use fewer steps" in result.stderr


def test_a_ragged_csv_row_is_named_by_line_and_columns(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("1,2,0\n3,4,1\n5,6\n7,8,1\n")  # was "y_train must hold non-negative integer labels"
    assert_refused(cli("run", "--steps", "5", "--data", str(path), check=False), "ragged.csv: line 3 has 2 columns")
    path.write_text("1,2,0\n3,4,1,1\n5,6,0\n")  # was a two-line pandas message
    assert_refused(cli("run", "--steps", "5", "--data", str(path), check=False), "line 2 has 4 columns, expected 3")


def test_a_directory_given_as_data_is_called_a_directory(tmp_path):
    assert_refused(cli("run", "--data", str(tmp_path), check=False), "is a directory, not a file")


@pytest.fixture
def untrained(monkeypatch):
    """The run command's module, whose training fails the test if it starts: checks must come first."""
    from commands import runs as module

    def train(*args, **kwargs):
        raise AssertionError("the run started before --save was checked")

    monkeypatch.setattr(module, "run_stability", train)
    return module


@pytest.mark.parametrize(
    "save, make, reason",
    [
        ("missing/run", None, "does not exist"),
        (".", None, "it is a directory"),
        ("run", "run.npz", "it is a directory"),  # the directory that ".npz" appended names
        ("plain/run.npz", "plain", "is not a directory"),
    ],
)
def test_an_unwritable_save_path_is_refused_before_training(untrained, tmp_path, capsys, save, make, reason):
    if make == "plain":
        (tmp_path / make).write_text("a file")
    elif make is not None:
        (tmp_path / make).mkdir()
    assert cli_main(["run", "--save", str(tmp_path / save)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--save" in lines[0] and reason in lines[0], lines


def test_a_read_only_save_directory_is_refused_before_training(untrained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(untrained.os, "access", lambda path, mode: False)  # as root every mode bit is ignored
    assert cli_main(["run", "--save", str(tmp_path / "run")]) == 2
    assert f"directory {tmp_path} is not writable" in capsys.readouterr().err


def test_a_failed_save_leaves_no_file(tmp_path, capsys, monkeypatch):
    import cli
    from commands import runs as module

    def disk_full(file, **arrays):
        with open(file, "wb") if isinstance(file, (str, Path)) else contextlib.nullcontext(file) as f:
            f.write(b"PK\x03\x04 half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.np, "savez_compressed", disk_full)
    assert cli.main(["run", "--steps", "3", "--perturbations", "1", "--save", str(tmp_path / "run")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_vanishing_perturbation_prints_no_warning():
    """eps = 1e-320 is lost against weights of order 1, so d(0) = 0 and ln(d(T)/d(0)) is NaN:
    reported as null, without NumPy's RuntimeWarning on stderr."""
    result = cli("run", "--steps", "5", "--perturbations", "2", "--eps", "1e-320", "--json")
    assert result.stderr == "" and json.loads(result.stdout)["global_rate"] is None
