"""A preset's sentence is true of the run it starts: the Chaotic preset, measured."""

import dataclasses

import numpy as np
import pytest

from core.analysis.attractor import APERIODIC, classify_attractor
from core.analysis.labels import chance_accuracy
from core.experiments.stability import run_stability
from dashboard.state import rules
from dashboard.state.presets import PRESETS

CHAOTIC = PRESETS["chaotic"]


@pytest.fixture(scope="module")
def chaotic_run():
    """The run the preset's button starts: its controls over the defaults (10 copies, 3,000 steps)."""
    return run_stability(rules.to_config({**rules.default_values(), **CHAOTIC.values}))


def test_the_chaotic_preset_never_settles(chaotic_run):
    config = chaotic_run.config
    assert (config.learning_rate, config.n_steps, config.seed) == (5.0, 3000, 30)
    loss = chaotic_run.trajectory.loss[:, 0]
    assert classify_attractor(loss).kind == APERIODIC
    assert "without settling on a fixed point or a cycle" in CHAOTIC.sentence


def test_the_chaotic_preset_stays_aperiodic_in_the_chaos_views_long_run(chaotic_run):
    """The preset sets the seed; the Chaos view then trains the same network for 10,000 iterations."""
    longer = run_stability(dataclasses.replace(chaotic_run.config, n_steps=10_000, n_perturbations=1))
    loss = longer.trajectory.loss[:, 0]
    np.testing.assert_array_equal(loss[:3001], chaotic_run.trajectory.loss[:, 0])
    assert classify_attractor(loss).kind == APERIODIC


def test_the_chaotic_preset_never_learns_and_its_copies_separate(chaotic_run):
    chance = chance_accuracy(chaotic_run.data)
    accuracy, loss = chaotic_run.trajectory.accuracy[:, 0], chaotic_run.trajectory.loss[:, 0]
    assert accuracy.max() <= chance and f"never exceeds chance, {chance:.0%}" in CHAOTIC.sentence
    assert 2.5 < loss.min() < 3.5 and 14.5 < loss.max() < 15.5 and "between about 3 and 15" in CHAOTIC.sentence
    d = chaotic_run.mean_distance
    assert d[100] / d[0] > 1e6 and "grows a millionfold within 100 iterations" in CHAOTIC.sentence
