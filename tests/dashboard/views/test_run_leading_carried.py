"""The run's job (dashboard.jobs.compute.stability) takes its leading tangent exponent from its
own training: the record's curves are those of run_stability bit for bit, and lambda_1 is the one
a second training of the reference gives (run_leading_exponent), to rounding."""

import dataclasses

import numpy as np
import pytest

from core.config import RunConfig
from core.experiments.spectrum import run_leading_exponent
from core.experiments.stability import run_stability
from dashboard.jobs import compute

CONFIG = RunConfig(learning_rate=1.0, n_steps=300, seed=2, n_perturbations=4)


@pytest.mark.parametrize("config", [CONFIG, dataclasses.replace(CONFIG, optimizer="nesterov", learning_rate=0.3)])
def test_the_runs_record_is_unchanged_and_carries_its_exponent(config):
    record = compute.stability(config)
    traj = run_stability(config, threads=compute.JOB_THREADS).trajectory
    np.testing.assert_array_equal(record.loss, traj.loss)
    np.testing.assert_array_equal(record.theta, traj.theta)
    np.testing.assert_array_equal(record.distance, traj.distance[:, 1:])
    np.testing.assert_array_equal(record.path_length, traj.path_length[0])
    alone = run_leading_exponent(config).exponents[0]
    assert record.leading_steps == 300 and record.leading_exponent == pytest.approx(alone, abs=1e-12)
    assert abs(record.leading_exponent) > 1e-3  # a real exponent, not a flat direction's 0


def test_a_stopped_run_has_no_exponent():
    record = compute.stability(CONFIG, on_progress=lambda done, *_: done < 100)
    assert record.cancelled and np.isnan(record.leading_exponent) and record.leading_steps == 0
