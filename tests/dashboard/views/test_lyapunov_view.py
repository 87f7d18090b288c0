"""The Lyapunov view's figures and table of an FTLE sweep: statistics with their CI and global rate."""

import io

import numpy as np
import pytest

from core.config import RunConfig
from dashboard import figures
from dashboard.jobs import compute
from dashboard.page import exports
from dashboard.views import lyapunov


def test_an_ftle_sweep_at_the_edge_lists_mean_ci_kept_and_global_rate():
    record = compute.ftle_sweep(RunConfig(learning_rate=1.0), 6, 200)
    j = int(np.argmin(np.abs(np.log10(record.eps) + 8)))
    kept = record.slopes[:, j][record.kept[:, j]]
    assert record.n_kept[j] == kept.size >= 3 and record.ci_low[j] <= record.mean[j] <= record.ci_high[j]
    assert record.mean[j] == pytest.approx(kept.mean(), rel=1e-12)  # the mean of the kept fits
    np.testing.assert_array_equal(record.n_kept, record.kept.sum(axis=0))
    assert np.isfinite(record.global_rate).all() and record.global_rate[j] > 0
    eps_figure, histogram = figures.lyapunov.ftle_views(record, -8)
    lam, share = eps_figure.data
    assert eps_figure.layout.xaxis.type == "log"
    np.testing.assert_array_equal(lam.x, record.eps)
    np.testing.assert_array_equal(lam.y, record.mean)
    np.testing.assert_array_equal(lam.error_y.array, record.std)
    np.testing.assert_array_equal(share.y, record.n_kept / 6)
    (bars,) = histogram.data
    np.testing.assert_array_equal(bars.x, kept)
    assert histogram.layout.title.text == f"FTLE at ε = 1e-08: {kept.size} kept, mean {kept.mean():.3f}"
    table = lyapunov.ftle_table(record)
    head, *rows = table.children
    assert [th.children for th in head.children] == ["ε", "FTLE mean", "95% CI", "kept", "global rate ln(d(T)/d(0))/T"]
    assert len(rows) == record.eps.size
    assert [td.children for td in rows[j].children] == [
        "1e-08",
        f"{record.mean[j]:.4f}",
        f"[{record.ci_low[j]:.4f}, {record.ci_high[j]:.4f}]",
        f"{kept.size} of 6",
        f"{record.global_rate[j]:.4f}",
    ]


def test_the_npz_export_holds_the_saved_weight_trajectory():
    record = compute.stability(RunConfig(n_steps=300, n_perturbations=2, save_every=100))
    with np.load(io.BytesIO(exports.export_npz(record))) as f:
        assert f["theta"].shape == (4, 3, 83) and list(f["saved_steps"]) == [0, 100, 200, 300]
        np.testing.assert_array_equal(f["theta"][-1, 0], record.theta_final)
        np.testing.assert_array_equal(f["theta"][0, 0], record.theta_start)  # the reference at t = 0
        np.testing.assert_array_equal(f["theta"], record.theta)
        # each copy starts eps-close to the reference on the weights only (docs/method.md §2)
        start = f["theta"][0]
        assert np.all(np.abs(start[1:] - start[0])[:, record.weight_mask] <= 1e-8 * (1 + 1e-6))  # eps, to rounding
        np.testing.assert_array_equal(
            start[1:, ~record.weight_mask], np.broadcast_to(start[0, ~record.weight_mask], (2, 13))
        )
