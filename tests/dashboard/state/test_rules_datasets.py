"""The server's limits on the new data sets: priced from their sizes, MNIST without loading it."""

import pytest

from core import data as core_data
from core.config import RunConfig
from dashboard.state import rules

LIMITS = rules.Limits(rate=200_000.0)


def test_an_mnist_run_is_refused_by_its_estimate_without_loading_mnist(monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("MNIST was loaded to price a job")

    monkeypatch.setattr(core_data, "load_mnist", no_loading)
    # the page's default run (21 rows, 5,000 steps) on MNIST: 0.41 s a trajectory-step
    with pytest.raises(ValueError, match="this run"):
        LIMITS.check(RunConfig.for_dataset("mnist"))
    net = rules.network_of(RunConfig.for_dataset("mnist"))
    assert (net.n_params, net.engine) == (784 * 64 + 64 + 64 * 10 + 10, "blas")


@pytest.mark.parametrize("dataset", ["wine", "breast_cancer"])
def test_a_short_run_on_a_table_is_admitted(dataset):
    config = RunConfig.for_dataset(dataset, n_steps=500, n_perturbations=5)
    assert 0 < LIMITS.check(config) < LIMITS.max_seconds
