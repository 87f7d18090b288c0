"""--batch-size and --batch-seed on the command line: they reach the config and the training,
a bad size is refused in one line naming the value and the rule (exit status 2), and the
commands that cannot train on mini-batches yet say so instead of ignoring the flag."""

import json
import subprocess
import sys

import pytest

from core.config import RunConfig
from core.experiments.stability import run_stability


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], capture_output=True, text=True, timeout=300)


def test_run_trains_on_mini_batches():
    done = _cli("run", "--batch-size", "16", "--eta", "0.1", "--steps", "300", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["config"]["batch_size"], summary["config"]["batch_seed"]) == (16, 0)
    expected = run_stability(RunConfig(batch_size=16, learning_rate=0.1, n_steps=300))
    assert summary["final_loss"] == float(expected.trajectory.loss[-1, 0])
    full = run_stability(RunConfig(learning_rate=0.1, n_steps=300))
    assert summary["final_loss"] != float(full.trajectory.loss[-1, 0])


def test_run_says_what_its_batches_are():
    done = _cli(
        "run", "--batch-size", "16", "--batch-seed", "3", "--eta", "0.1", "--steps", "20", "--perturbations", "2"
    )
    assert done.returncode == 0, done.stderr
    assert (
        "mini-batches of 16 rows, 7 per epoch (8 of 120 rows left out of each), batch seed 3; "
        "loss and accuracy over all 120 training rows"
    ) in done.stdout


def test_a_full_batch_run_prints_no_batch_settings():
    done = _cli("run", "--steps", "20", "--perturbations", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert "batch_size" not in json.loads(done.stdout)["config"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch-size", "500"), "batch_size must be a whole number from 1 to 120 (the training rows), got 500"),
        (("--batch-size", "121"), "batch_size must be a whole number from 1 to 120 (the training rows), got 121"),
        (("--batch-size", "0"), "batch_size must be a whole number from 1 to the training rows, got 0"),
        (("--batch-size", "-3"), "batch_size must be a whole number from 1 to the training rows, got -3"),
        (("--batch-seed", "2"), "--batch-seed applies only with --batch-size (the full batch has no order)"),
    ],
)
def test_a_bad_batch_is_refused_in_one_line(args, message):
    done = _cli("run", "--steps", "5", "--perturbations", "1", *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"cli.py run: error: {message}\n")


def test_a_batch_size_that_is_not_a_whole_number_is_refused_by_the_parser():
    done = _cli("run", "--batch-size", "1.5")
    assert done.returncode == 2 and "invalid int value: '1.5'" in done.stderr


def test_the_digits_data_set_has_its_own_bound():
    done = _cli("run", "--dataset", "digits", "--steps", "2", "--perturbations", "1", "--batch-size", "5000")
    assert done.returncode == 2
    assert "batch_size must be a whole number from 1 to" in done.stderr and "got 5000" in done.stderr


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
def test_every_optimizer_runs_on_batches(optimizer):
    done = _cli("run", "--steps", "30", "--perturbations", "2", "--optimizer", optimizer, "--batch-size", "8", "--json")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)["config"]
    assert (config["optimizer"], config["batch_size"]) == (optimizer, 8)


def test_spectrum_takes_the_batch_flags():
    done = _cli("spectrum", "--steps", "40", "--k", "3", "--batch-size", "30", "--batch-seed", "1", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["config"]["batch_size"] == 30 and len(summary["exponents"]) == 3


def test_the_jobs_over_many_networks_take_a_batch_size(tmp_path):
    for args in (
        ("lyapunov", "--inits", "2"),
        ("sharpness",),
        ("sweep", "--etas", "0.1", "--inits", "1", "--out", f"{tmp_path}/sweep"),
    ):
        done = _cli(*args, "--steps", "5", "--batch-size", "16")
        assert done.returncode == 0, (args, done.stderr)
