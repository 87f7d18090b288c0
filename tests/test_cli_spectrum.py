"""cli.py spectrum: its JSON is the core's result, its text says the same, bad input is one line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from core.config import RunConfig
from core.experiments.spectrum import run_spectrum


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", "spectrum", *args], capture_output=True, text=True, timeout=300)


def test_the_json_is_the_cores_spectrum():
    done = _cli("--eta", "1", "--steps", "60", "--k", "4", "--seed", "1", "--every", "2", "--window", "20", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    want = run_spectrum(RunConfig(learning_rate=1.0, n_steps=60, seed=1), 4, every=2).spectrum
    np.testing.assert_array_equal(out["exponents"], want.sorted)
    np.testing.assert_array_equal(np.array(out["running"]), want.running)
    assert out["steps"] == list(range(2, 61, 2))
    assert (out["n_positive"], out["sum"], out["kaplan_yorke"]) == (want.n_positive, want.total, want.kaplan_yorke)
    assert out["finite_time"]["ends"] == [20, 40, 60] and np.shape(out["finite_time"]["spectra"]) == (3, 4)
    assert out["n_params"] == 83 and out["diverged_at"] is None


def test_the_text_lists_the_exponents_and_the_dimension():
    done = _cli("--eta", "1", "--steps", "40", "--k", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["1", "2", "3"]
    assert lines[3].startswith(tuple(f"{n} of 3 positive; sum " for n in range(4)))
    assert "Kaplan-Yorke dimension" in lines[3] and "(from 3 of 83 exponents)" in lines[3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--k", "0"), "k must be between 1 and 83, got 0"),
        (("--k", "84"), "k must be between 1 and 83, got 84"),
        (("--steps", "20", "--every", "2", "--window", "7"), "window must be a multiple of every (2), got 7"),
        (("--steps", "20", "--every", "30"), "every must be between 1 and 20, got 30"),
    ],
)
def test_bad_input_is_one_line(args, message):
    done = _cli(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"cli.py spectrum: error: {message}\n"
