"""cli.py with --hidden H1 H2 ...: deeper networks through the commands, the core's numbers in
their JSON, one-layer output unchanged, and bad widths refused in one line with exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from core.config import RunConfig
from core.experiments.spectrum import run_spectrum
from core.experiments.stability import run_stability


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], capture_output=True, text=True, timeout=300)


def test_run_of_a_two_layer_network_is_the_cores():
    done = _cli("run", "--hidden", "10", "10", "--eta", "0.5", "--steps", "200", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["n_params"], out["n_weights"]) == (193, 170)
    assert out["config"]["hidden"] == [10, 10]
    config = RunConfig(hidden=(10, 10), learning_rate=0.5, n_steps=200)
    assert RunConfig.from_dict(out["config"]) == config
    result = run_stability(config)
    assert out["final_loss"] == result.trajectory.loss[-1, 0]
    assert out["ftle"]["slope"] == float(result.ftle.slope)


def test_spectrum_of_a_two_layer_network_is_the_cores():
    done = _cli("spectrum", "--hidden", "10", "10", "--k", "5", "--steps", "100", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    want = run_spectrum(RunConfig(hidden=(10, 10), learning_rate=1.0, n_steps=100), 5).spectrum
    np.testing.assert_array_equal(out["exponents"], want.sorted)
    assert out["n_params"] == 193 and out["diverged_at"] is None


def test_one_width_is_the_one_layer_config_byte_for_byte():
    plain = _cli("sharpness", "--steps", "20", "--every", "10", "--json")
    given = _cli("sharpness", "--hidden", "10", "--steps", "20", "--every", "10", "--json")
    assert plain.returncode == given.returncode == 0, plain.stderr + given.stderr
    assert given.stdout == plain.stdout
    assert '"hidden": 10,' in plain.stdout


@pytest.mark.parametrize(
    "widths, shown",
    [(["10", "0"], "(10, 0)"), (["1", "2", "3", "4", "5"], "(1, 2, 3, 4, 5)"), (["2000"], "2000")],
)
def test_bad_widths_are_one_line_and_exit_2(widths, shown):
    done = _cli("run", "--hidden", *widths, "--steps", "5")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "cli.py run: error: hidden must be 1 to 4 hidden layers of 1 to 1024 units each "
        f"(an integer, or one per layer), got {shown}\n"
    )


def test_a_width_that_is_not_a_number_is_refused_by_the_parser():
    done = _cli("spectrum", "--hidden", "10", "ten")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "--hidden" in done.stderr and "'ten'" in done.stderr
