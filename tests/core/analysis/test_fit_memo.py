"""FitMemo: a job's partial results fit each done curve once, and the fits are those of one
fit_ftle call over every curve, bit for bit (core.analysis.lyapunov)."""

import dataclasses

import numpy as np
import pytest

from core.analysis import lyapunov
from core.analysis.lyapunov import FitMemo, FTLEFit, fit_ftle
from core.config import RunConfig
from core.experiments.regimes import run_sweep

FIELDS = [f.name for f in dataclasses.fields(FTLEFit)]


def _curves(rng, shape, n_points=301):
    """Mean-distance curves that grow at random rates, then saturate, with noise."""
    rate = rng.uniform(-0.02, 0.2, size=shape)[..., None]
    t = np.arange(n_points)
    log_d = np.minimum(np.log(1e-8) + rate * t, np.log(1e-8) + 12) + rng.normal(0, 0.05, size=(*shape, n_points))
    return np.exp(log_d)


def _assert_same(fit, expected):
    for name in FIELDS:
        got, want = getattr(fit, name), getattr(expected, name)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_curves_done_in_any_order_get_the_fits_of_one_call():
    rng = np.random.default_rng(3)
    curves = _curves(rng, (12, 7))
    whole = fit_ftle(curves)
    memo, done = FitMemo(), np.zeros((12, 7), dtype=bool)
    for cells in np.array_split(rng.permutation(84), 5):  # chunks come back in any order
        done.flat[cells] = True
        partial = np.where(done[..., None], curves, np.nan)  # not computed yet: NaN
        _assert_same(memo(partial, done), fit_ftle(partial))
    _assert_same(memo(curves, done), whole)


def test_each_done_curve_is_fitted_once(monkeypatch):
    calls = []
    real = lyapunov.fit_ftle
    monkeypatch.setattr(lyapunov, "fit_ftle", lambda curves, config: calls.append(len(curves)) or real(curves, config))
    curves, memo = _curves(np.random.default_rng(4), (10,)), FitMemo()
    done = np.zeros(10, dtype=bool)
    for upto in (3, 3, 8, 10, 10):
        done[:upto] = True
        memo(curves, done)
    assert calls == [3, 5, 2]  # the new curves only; nothing when none is new


def test_a_sweeps_partial_results_fit_as_its_whole(monkeypatch):
    """The partial results a live map draws and the final result share one memo: their fits
    are fit_ftle's over the curves done, and the final one is the fit of all of them."""
    seen = []
    sweep = run_sweep(
        RunConfig(n_steps=150, n_perturbations=2), [0.05, 1.0, 6.0], 8, workers=1,
        on_progress=lambda done, total, partial: seen.append((partial.ftle, partial.done.copy(),
                                                              partial.cells.mean_distance[:, 0].copy())),
    )  # fmt: skip
    assert len(seen) > 2 and seen[0][1].sum() < seen[-1][1].sum()
    for fit, done, curves in seen:
        _assert_same(fit, fit_ftle(curves.reshape(3, 8, -1)))
        assert not fit.kept[~done].any() and np.isnan(fit.slope[~done]).all()
    _assert_same(sweep.ftle, fit_ftle(sweep.cells.mean_distance[:, 0].reshape(3, 8, -1), sweep.ftle_config))
    assert sweep.ftle.kept.any()  # eta 1 grows exponentially: a kept fit to compare


@pytest.mark.parametrize("n_points", [5, 301])
def test_curves_not_done_get_the_fit_of_a_curve_of_nan(n_points):
    """Shorter than every window (5 points) or not: as fit_ftle answers a NaN curve."""
    nan = np.full((4, n_points), np.nan)
    _assert_same(FitMemo()(nan, np.zeros(4, dtype=bool)), fit_ftle(nan))


def _counting_fits(monkeypatch):
    """The curves FitMemo hands to fit_ftle, call by call (the jobs' own fit_ftle is not counted)."""
    fitted = []
    real = lyapunov.fit_ftle
    monkeypatch.setattr(lyapunov, "fit_ftle", lambda curves, config: fitted.append(len(curves)) or real(curves, config))
    return fitted


def test_a_sweep_with_live_results_fits_each_cell_once(monkeypatch):
    fitted, updates = _counting_fits(monkeypatch), []
    run_sweep(RunConfig(n_steps=100, n_perturbations=2), [0.1, 1.0, 4.0], 8, workers=1,
              on_progress=lambda done, total, partial: updates.append(partial.summary()) or True)  # fmt: skip
    assert len(updates) > 2 and sum(fitted) == 3 * 8  # every cell, each once, over the partial results


@pytest.mark.parametrize(("kind", "ys", "curves_per_cell"), [("eta-eps", [1e-8, 1e-6], 2), ("eta-width", [4, 8], 1)])
def test_a_map_with_live_results_fits_each_curve_once(monkeypatch, kind, ys, curves_per_cell):
    """The eta x eps map's curves (a cell's at each eps) and a setting map's FTLE (a memo for
    each setting value's cells)."""
    from core.experiments.maps import run_map

    fitted, updates = _counting_fits(monkeypatch), []
    run_map(kind, RunConfig(n_steps=100, n_perturbations=2), [0.1, 1.0, 4.0], ys, n_inits=3, workers=1,
            on_progress=lambda done, total, partial: updates.append(done) or True)  # fmt: skip
    cells = 3 * 3 * (len(ys) if kind == "eta-width" else 1)
    assert len(updates) > 2 and sum(fitted) == cells * curves_per_cell
