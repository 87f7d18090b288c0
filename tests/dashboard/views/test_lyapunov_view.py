"""The Lyapunov view's figures and table of an FTLE sweep: statistics with their CI and global rate."""

import io

import numpy as np

from core.config import RunConfig
from dashboard import figures
from dashboard.jobs import compute
from dashboard.page import exports
from dashboard.views import lyapunov


def test_an_ftle_sweep_at_the_edge_lists_mean_ci_kept_and_global_rate():
    record = compute.ftle_sweep(RunConfig(learning_rate=1.0), 6, 200)
    j = int(np.argmin(np.abs(np.log10(record.eps) + 8)))
    assert record.n_kept[j] >= 3 and record.ci_low[j] <= record.mean[j] <= record.ci_high[j]
    assert np.isfinite(record.global_rate).all() and record.global_rate[j] > 0
    eps_figure, histogram = figures.lyapunov.ftle_views(record, -8)
    assert eps_figure.layout.xaxis.type == "log" and len(histogram.data) == 1
    table = lyapunov.ftle_table(record)
    assert len(table.children) == 1 + record.eps.size
    assert f"{record.n_kept[j]} of 6" in str(table.children[1 + j])


def test_the_npz_export_holds_the_saved_weight_trajectory():
    record = compute.stability(RunConfig(n_steps=300, n_perturbations=2, save_every=100))
    with np.load(io.BytesIO(exports.export_npz(record))) as f:
        assert f["theta"].shape == (4, 3, 83) and list(f["saved_steps"]) == [0, 100, 200, 300]
        np.testing.assert_array_equal(f["theta"][-1, 0], record.theta_final)
