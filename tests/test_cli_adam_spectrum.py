"""cli.py spectrum --optimizer adam, in this process: its JSON is the core's spectrum of Adam's
map on (theta, m, v)."""

import json

import numpy as np

from core.config import RunConfig
from core.experiments.spectrum import run_spectrum


def test_the_adam_spectrum_json_is_the_cores(capsys):
    import cli

    argv = ["spectrum", "--optimizer", "adam", "--eta", "0.01", "--steps", "50", "--k", "3", "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    want = run_spectrum(RunConfig(learning_rate=0.01, n_steps=50, optimizer="adam"), 3).spectrum
    np.testing.assert_array_equal(out["exponents"], want.sorted)
    np.testing.assert_array_equal(np.array(out["running"]), want.running)
    assert out["config"]["optimizer"] == "adam" and out["k"] == 3 and out["n_steps"] == 50
    assert out["diverged_at"] is None and np.isfinite(out["exponents"]).all()
    assert out["n_positive"] == int(np.sum(want.exponents > 0)) and out["sum"] == want.total


def test_k_may_reach_three_times_the_parameters_and_no_further(capsys):
    import cli

    base = ["spectrum", "--optimizer", "adam", "--eta", "0.01", "--steps", "2", "--json"]
    assert cli.main([*base, "--k", str(3 * 83)]) == 0
    assert len(json.loads(capsys.readouterr().out)["exponents"]) == 3 * 83
    assert cli.main([*base, "--k", str(3 * 83 + 1)]) == 2
    assert "k must be between 1 and 249, got 250" in capsys.readouterr().err


def test_the_text_counts_the_exponents_of_the_249_dimensional_space(capsys):
    import cli

    assert cli.main(["spectrum", "--optimizer", "adam", "--eta", "0.01", "--steps", "5", "--k", "3"]) == 0
    assert "(from 3 of 249 exponents)" in capsys.readouterr().out
