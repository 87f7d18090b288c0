"""The optimizer flags of the CLI: they reach the config, and a constant the optimizer does not
use is refused in one line."""

import json
import subprocess
import sys

import pytest


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], capture_output=True, text=True, timeout=300)


def test_run_trains_with_adam():
    done = _cli("run", "--steps", "50", "--perturbations", "2", "--optimizer", "adam", "--beta2", "0.99", "--json")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)["config"]
    assert (config["optimizer"], config["momentum"], config["beta2"], config["adam_eps"]) == ("adam", 0.9, 0.99, 1e-8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--momentum", "0.5"), "--momentum does not apply to --optimizer gd"),
        (("--optimizer", "momentum", "--beta2", "0.9"), "--beta2 does not apply to --optimizer momentum"),
        (("--optimizer", "nesterov", "--momentum", "1"), "momentum must be in [0, 1), got 1.0"),
    ],
)
def test_a_constant_it_does_not_use_is_refused(args, message):
    done = _cli("run", "--steps", "5", *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"cli.py run: error: {message}\n")


def test_an_unknown_optimizer_is_refused_by_the_parser():
    done = _cli("run", "--optimizer", "sgd")
    assert done.returncode == 2 and "invalid choice: 'sgd'" in done.stderr
