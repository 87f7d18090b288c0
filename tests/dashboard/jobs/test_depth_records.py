"""The main run's record of a deeper network: its widths, an ablation map per weight matrix,
its NPZ arrays; a one-layer record as before (and one cached before deeper networks still read)."""

import dataclasses
import pickle

import numpy as np
import pytest

from core.analysis.weights import ablation_ratio
from core.config import RunConfig
from dashboard.jobs import compute
from dashboard.jobs.records import RunRecord
from dashboard.state.rules import mlp_of

DEEP = RunConfig(hidden=(10, 10), n_steps=60, n_perturbations=2)


@pytest.fixture(scope="module")
def deep():
    return compute.stability(DEEP)


@pytest.fixture(scope="module")
def shallow():
    return compute.stability(RunConfig(n_steps=60, n_perturbations=2))


def test_a_deeper_record_holds_its_widths_and_every_matrixs_ablation(deep):
    assert deep.hidden == (10, 10) and deep.n_weights == 40 + 100 + 30
    assert [a.shape for a in deep.ablations()] == [(4, 10), (10, 10), (10, 3)]
    assert deep.ablation_w2.shape == (10, 10) and len(deep.ablation_rest) == 1
    data = compute.data_for(DEEP)
    objective = mlp_of(DEEP).objective(data.x_train, data.y_train)
    for layer, ratio in zip(("W1", "W2", "W3"), deep.ablations(), strict=True):
        np.testing.assert_array_equal(ratio, ablation_ratio(objective, deep.theta_final, layer))
    # one weight by hand: W2 from h1.3 to h2.7 sits at 40 + 10 (W1, b1) + 3 * 10 + 7 in the flat order
    theta = deep.theta_final.copy()
    loss = objective.loss(theta[None, :])[0]
    theta[40 + 10 + 3 * 10 + 7] = 0.0
    assert deep.ablation_w2[3, 7] == pytest.approx(objective.loss(theta[None, :])[0] / loss, rel=1e-12)


def test_a_deeper_records_export_has_each_map(deep):
    arrays = deep.arrays()
    assert arrays["ablation_w3"] is deep.ablation_rest[0] and "ablation_rest" not in arrays
    assert arrays["ablation_w1"] is deep.ablation_w1 and arrays["ablation_w2"] is deep.ablation_w2
    # (S, K, P): the saved steps 0 and 60 of the reference and 2 copies, P = 4*10+10 + 10*10+10 + 10*3+3 = 193
    assert arrays["theta"].shape == (2, 3, 193)
    np.testing.assert_array_equal(arrays["saved_steps"], [0, 60])
    np.testing.assert_array_equal(arrays["theta"][0, 0], deep.theta_start)
    np.testing.assert_array_equal(arrays["theta"][-1, 0], deep.theta_final)


def test_a_one_layer_record_is_as_before(shallow):
    assert shallow.hidden == 10 and type(shallow.hidden) is int and shallow.n_weights == 70
    assert shallow.ablation_rest == () and [a.shape for a in shallow.ablations()] == [(4, 10), (10, 3)]
    data = compute.data_for(shallow.config)
    objective = mlp_of(shallow.config).objective(data.x_train, data.y_train)
    for layer, ratio in zip(("W1", "W2"), shallow.ablations(), strict=True):
        np.testing.assert_array_equal(ratio, ablation_ratio(objective, shallow.theta_final, layer))
    assert {k for k in shallow.arrays() if k.startswith("ablation")} == {"ablation_w1", "ablation_w2"}


def test_a_diverged_reference_has_no_maps(deep):
    assert dataclasses.replace(deep, ablation_w1=None, ablation_w2=None, ablation_rest=()).ablations() == ()


def test_a_record_cached_before_deeper_networks_still_reads(shallow):
    """A record pickled without ``ablation_rest`` (RECORD_VERSION 7 before it) reads it as ():
    the new field's default is the class's, so the version and every cache key stay."""
    old = RunRecord.__new__(RunRecord)
    state = dict(shallow.__dict__)
    del state["ablation_rest"]
    old.__dict__.update(state)
    read = pickle.loads(pickle.dumps(old))
    assert "ablation_rest" not in read.__dict__
    assert read.ablation_rest == () and [a.shape for a in read.ablations()] == [(4, 10), (10, 3)]
