"""Figure builders and callback logic as plain functions."""

import numpy as np
import pytest

from core.config import RunConfig
from dashboard import callbacks, figures


def test_distance_figure_has_grey_copies_black_mean_and_dashed_loss_on_the_right():
    t = np.arange(5001)
    d = np.exp(np.random.default_rng(0).normal(-18, 0.1, (5001, 20)))
    fig = figures.distance_figure(t, d, d.mean(axis=1), np.linspace(2, 0.1, 5001))
    copies, mean, loss = fig.data
    assert np.isnan(np.asarray(copies.x, dtype=float)).sum() == 20  # one gap per copy: 20 lines
    assert mean.line.color == "black" and loss.yaxis == "y2" and loss.line.dash == "dash"
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.side == "right"
    assert len(mean.x) <= figures.MAX_POINTS and mean.x[-1] == 5000
    assert np.asarray(mean.y).dtype == np.float32
    assert fig.layout.uirevision


def test_thin_keeps_ends_and_bounds_size():
    assert figures.thin(10).tolist() == list(range(10))
    idx = figures.thin(50_001)
    assert idx[0] == 0 and idx[-1] == 50_000 and len(idx) <= figures.MAX_POINTS


def test_controls_become_a_config_or_one_message():
    config = callbacks.config_from_controls(1, 1e-6, 3, 200, 5)
    assert (config.learning_rate, config.eps, config.seed, config.n_steps) == (1.0, 1e-6, 3, 200)
    with pytest.raises(ValueError, match="learning_rate is empty"):
        callbacks.config_from_controls(None, 1e-8, 0, 100, 5)
    with pytest.raises(ValueError, match="eps must be"):
        callbacks.config_from_controls(0.01, -1, 0, 100, 5)
    with pytest.raises(ValueError, match="trajectory-steps; the limit"):
        callbacks.config_from_controls(0.01, 1e-8, 0, 50_000, 200)


def test_run_and_draw_returns_the_figure_and_a_summary():
    fig, summary = callbacks.run_and_draw(RunConfig(n_steps=100, n_perturbations=3))
    assert len(fig.data) == 3 and "final loss" in summary


def test_app_factory_builds_a_wired_app():
    from app import create_app

    app = create_app()
    assert app.server is not None and app.layout is not None
    assert any("distance-graph.figure" in key for key in app.callback_map)
