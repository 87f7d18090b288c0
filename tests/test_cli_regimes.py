"""cli.py sweep, map and orbit: the files they write, and one-line refusals that write nothing."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS_COLUMNS = [
    "eta",
    "seed",
    "final_loss",
    "train_accuracy",
    "test_accuracy",
    "steps_to_accuracy",
    "ftle",
    "ftle_r2",
    "ftle_kept",
    "loss_increase_fraction",
    "sharpness_over_2_eta",
    "diverged",
    "regime",
]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sweep_writes_runs_summary_arrays_and_config(tmp_path):
    out = tmp_path / "sweep"
    done = cli("sweep", "--etas", "0.01", "1", "5", "--inits", "3", "--steps", "300", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "runs.csv",
        "summary.csv",
        "sweep.npz",
        "time_to_accuracy.csv",
    ]
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns) == RUNS_COLUMNS and len(runs) == 9
    assert list(runs["seed"][:3]) == [0, 1, 2] and list(runs["eta"].unique()) == [0.01, 1.0, 5.0]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["eta"]) == [0.01, 1.0, 5.0] and list(summary["regime"]) == ["stable", "edge", "chaotic"]
    with np.load(out / "sweep.npz") as arrays:
        np.testing.assert_allclose(arrays["final_loss"], runs["final_loss"], rtol=1e-9)
        assert arrays["loss"].shape == (9, 301) and arrays["mean_distance"].shape == (9, 301)
        assert list(arrays["regime"]) == list(runs["regime"])
    fastest = pd.read_csv(out / "time_to_accuracy.csv")
    assert fastest["steps_median"][1] < 150 and fastest["reached_target"][2] == 0  # eta 1 fast, 5 never
    config = json.loads((out / "config.json").read_text())
    assert config["inits"] == 3 and config["config"]["n_steps"] == 300 and config["target_accuracy"] == 0.9
    assert json.loads(done.stdout)["summary"]["regime"] == ["stable", "edge", "chaotic"]


def test_map_eta_eps_and_eta_seed_and_a_zoom(tmp_path):
    common = ("--steps", "150", "--eta-range", "0.1", "10", "3")
    done = cli("map", "--kind", "eta-eps", *common, "--eps-range", "1e-10", "1e-4", "2", "--inits", "2",
               "--out", str(tmp_path / "a"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "a" / "map.csv")
    assert list(table.columns) == ["eta", "eps", "ftle_mean", "ftle_kept_fraction", "diverged"] and len(table) == 6
    done = cli("map", "--kind", "eta-seed", *common, "--seeds", "4", "--out", str(tmp_path / "b"))
    assert done.returncode == 0, done.stderr
    seed_map = pd.read_csv(tmp_path / "b" / "map.csv")
    assert sorted(seed_map["seed"].unique()) == [0, 1, 2, 3] and len(seed_map) == 12
    zoomed = cli("map", "--kind", "eta-seed", *common, "--seeds", "4", "--zoom", "0.5", "10", "1", "2",
                 "--factor", "2", "--out", str(tmp_path / "c"))  # fmt: skip
    assert zoomed.returncode == 0, zoomed.stderr
    fine = pd.read_csv(tmp_path / "c" / "map.csv")
    assert sorted(fine["seed"].unique()) == [1, 2] and fine["eta"].nunique() == 3  # 1, 3.16, 10
    shared = fine.merge(seed_map, on=["eta", "seed"], suffixes=("_fine", "_coarse"))
    assert len(shared) == 4  # eta 1 and 10 x seeds 1 and 2, at bit-identical grid points
    np.testing.assert_array_equal(shared["final_loss_fine"], shared["final_loss_coarse"])


def test_orbit_writes_the_points_of_the_diagram(tmp_path):
    done = cli("orbit", "--etas", "0.5", "4", "--steps", "500", "--last", "50", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "o" / "orbit.csv")
    assert list(table.columns) == ["eta", "step", "loss"] and len(table) == 100
    assert table["step"].min() == 451


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sweep", "--eta-range", "1", "1", "5"), "eta range must go from low to high with low < high"),
        (("sweep", "--eta-range", "10", "1", "5"), "low < high, got 10 to 1"),
        (("sweep", "--eta-range", "0.1", "1", "1"), "--eta-range needs N >= 2 points, got 1"),
        (("sweep", "--eta-range", "0.1", "x", "3"), "--eta-range needs LO HI N"),
        (("sweep", "--target-accuracy", "0"), "--target-accuracy must be a finite number in (0, 1], got 0.0"),
        (("sweep", "--target-accuracy", "1.5"), "--target-accuracy must be a finite number in (0, 1], got 1.5"),
        (("sweep", "--dataset", "emnist"), "argument --dataset: invalid choice: 'emnist'"),
        (("sweep", "--dataset", "digits", "--data", "x.csv"), "give --dataset or --data, not both"),
        (("sweep", "--eta", "0.5"), "ambiguous option: --eta could match --etas, --eta-range"),
        (("map", "--kind", "eta-eps", "--zoom", "100", "200", "1e-8", "1e-6"), "lies outside the map's grid"),
        (("sweep", "--etas", "0.1", "-1"), "eta must be a finite number"),
        (("sweep", "--max-minutes", "0.0001"), "about"),
        (("map", "--kind", "eta-eps", "--eps-range", "1e-2", "1e-8", "4"), "eps range must go from low to high"),
        (("map", "--kind", "eta-seed", "--seeds", "0"), "--seeds must be between 1"),
        (("map", "--zoom", "5", "1", "1e-8", "1e-6"), "a zoom needs low < high"),
        (("orbit", "--last", "5000", "--steps", "100"), "--last must be between 1 and 101"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    out = tmp_path / "out"
    done = cli(*args, "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_job_over_the_time_limit_names_its_estimate(tmp_path):
    done = cli("sweep", "--inits", "1000", "--steps", "5000", "--max-minutes", "1", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "trajectory-steps, about" in done.stderr and "the limit is --max-minutes 1" in done.stderr


def test_an_out_path_that_is_a_file_is_refused_before_training(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    done = cli("orbit", "--etas", "1", "--steps", "10", "--last", "5", "--out", str(target))
    assert done.returncode == 2 and "it is a file, not a directory" in done.stderr
    assert target.read_text() == "keep me"
    done = cli("orbit", "--etas", "1", "--steps", "10", "--last", "5", "--out", str(tmp_path / "no" / "such"))
    assert done.returncode == 2 and "its parent" in done.stderr and "no does not exist" in done.stderr
    empty = cli("orbit", "--etas", "1", "--steps", "10", "--last", "5", "--out", "")
    assert empty.returncode == 2 and "--out needs a directory name" in empty.stderr
    proc = cli("orbit", "--etas", "1", "--steps", "10", "--last", "5", "--out", "/proc/wsd-test")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot" in proc.stderr  # no traceback


def test_a_progress_bar_goes_to_stderr_on_a_terminal_only(tmp_path):
    """On a pseudo-terminal the sweep draws a tqdm bar on stderr; piped, stderr stays empty."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    args = ["orbit", "--etas", "0.5", "1", "2", "--steps", "300", "--last", "10"]
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's width
    with subprocess.Popen(
        [sys.executable, "cli.py", *args, "--out", str(tmp_path / "tty")], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=secondary, stdin=subprocess.DEVNULL,
    ) as process:  # fmt: skip
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=120) == 0
    os.close(primary)
    assert b"orbit diagram" in seen and b"%|" in seen and b"cell/s" in seen, seen
    piped = cli(*args, "--out", str(tmp_path / "pipe"))
    assert piped.returncode == 0 and piped.stderr == ""


def test_init_from_starts_every_orbit_from_the_given_network(tmp_path):
    """The network seed 5 draws, given as a file to a seed-0 orbit, gives seed 5's orbit."""
    from core.config import RunConfig
    from core.engine.model import MLP
    from core.experiments.orbit import run_orbit

    init = tmp_path / "init.npz"
    np.savez(init, theta0=MLP().init(np.random.default_rng(5), 1)[0])  # as run_stability draws seed 5
    done = cli("orbit", "--etas", "0.5", "4", "--steps", "300", "--last", "20", "--init-from", str(init),
               "--out", str(tmp_path / "o"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "o" / "orbit.npz") as arrays:
        expected = run_orbit(RunConfig(n_steps=300, seed=5), [0.5, 4.0], n_last=20, workers=1)
        np.testing.assert_array_equal(arrays["losses"], expected.losses)
    np.savez(init, theta0=np.zeros(12))
    bad = cli("sweep", "--inits", "1", "--init-from", str(init), "--out", str(tmp_path / "s"))
    assert bad.returncode == 2 and "theta0 must have shape (83,)" in bad.stderr
    same = cli("sweep", "--init-from", str(init), "--out", str(tmp_path / "s"))
    assert (
        same.returncode == 2
        and "--init-from gives every network the same start: use one network, not 20" in same.stderr
    )
    assert not (tmp_path / "s").exists()
