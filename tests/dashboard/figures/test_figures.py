"""Figure builders: arrays in, traces out."""

import numpy as np

from dashboard import figures


def test_distance_figure_has_grey_copies_black_mean_and_dashed_loss_on_the_right():
    t = np.arange(5001)
    d = np.exp(np.random.default_rng(0).normal(-18, 0.1, (5001, 20)))
    fig = figures.distance.distance_figure(t, d, d.mean(axis=1), np.linspace(2, 0.1, 5001))
    copies, mean, loss = fig.data
    assert np.isnan(np.asarray(copies.x, dtype=float)).sum() == 20  # one gap per copy: 20 lines
    assert mean.line.color == "black" and loss.yaxis == "y2" and loss.line.dash == "dash"
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.side == "right"
    assert fig.layout.yaxis2.tickmode == "auto"
    assert len(mean.x) <= figures.base.MAX_POINTS and mean.x[-1] == 5000
    assert len(copies.x) == 20 * (figures.base.MAX_POINTS // 2 + 1)  # each copy: half the points, and a gap
    assert copies.x[0] == 0 and copies.x[-2] == 5000 and copies.y[-2] == np.float32(d[-1, -1])
    assert np.asarray(mean.y).dtype == np.float32
    assert fig.layout.uirevision


def test_a_live_update_in_place_equals_a_figure_drawn_afresh():
    rng = np.random.default_rng(1)
    small = np.abs(rng.normal(0, 1e-8, (300, 5)))
    fig = figures.distance.distance_figure(np.arange(300), small, small.mean(axis=1), rng.random(300), max_points=400)
    d = np.exp(rng.normal(-18, 3, (5001, 5)))  # spans more decades: the tick rule changes too
    loss = rng.random(5001)
    figures.distance.update_distance_figure(fig, np.arange(5001), d, d.mean(axis=1), loss, max_points=400)
    fresh = figures.distance.distance_figure(np.arange(5001), d, d.mean(axis=1), loss, max_points=400)
    assert fig.to_json() == fresh.to_json()


def test_the_placeholder_has_the_distance_figures_traces_and_axes_but_no_data():
    fig = figures.distance.distance_placeholder("Press Run to train.")
    drawn = figures.distance.distance_figure(np.arange(3), np.ones((3, 2)), np.ones(3), np.ones(3))
    assert [(t.type, t.yaxis, t.line.color) for t in fig.data] == [(t.type, t.yaxis, t.line.color) for t in drawn.data]
    assert all(not np.isfinite(np.asarray(t.y, dtype=float)).any() for t in fig.data)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.overlaying == "y"
    assert fig.layout.annotations[0].text == "Press Run to train."


def test_thin_keeps_ends_and_bounds_size():
    assert figures.base.thin(10).tolist() == list(range(10))
    idx = figures.base.thin(50_001)
    assert idx[0] == 0 and idx[-1] == 50_000 and len(idx) <= figures.base.MAX_POINTS


def test_eps_panels_and_collapse():
    t = np.arange(101)
    eps = np.array([1e-14, 1e-10, 1e-6, 1e-2])
    d = np.ones((4, 101, 5)) * eps[:, None, None]
    panels = figures.eps.eps_panels_figure(t, eps, d, np.linspace(1, 0, 101))
    assert len(panels.data) == 12 and panels.layout.annotations[0].text == "ε = 1e-14"
    collapse = figures.eps.collapse_figure(t, eps, np.full((4, 101), 0.5))
    assert len(collapse.data) == 5 and collapse.data[-1].marker.colorbar.title.text == "log10 ε"


def test_fit_figure_draws_the_window_or_says_why_not():
    t = np.arange(201)
    fit = {"slope": 0.3, "intercept": -20.0, "r2": 0.99, "start": 40.0, "length": 60.0, "kept": True}
    fig = figures.lyapunov.fit_figure(t, np.exp(-20 + 0.3 * t), fit)
    assert len(fig.data) == 2 and fig.data[1].x[0] == 40 and len(fig.data[1].x) == 60
    assert "kept" in fig.layout.title.text
    nofit = figures.lyapunov.fit_figure(t, np.ones(201), {**fit, "slope": float("nan")})
    assert len(nofit.data) == 1 and "No window" in nofit.layout.title.text


def test_ablation_colours_span_zero_to_two_centred_at_one_and_say_what_blue_means():
    fig = figures.weights.ablation_heatmap(np.array([[0.4, 1.0, 13.2]]), ["x"], ["h0", "h1", "h2"], "t")
    heat = fig.data[0]
    assert (heat.zmin, heat.zmax) == (0.0, 2.0) and (heat.zmin + heat.zmax) / 2 == 1.0  # white at "no change"
    assert heat.colorscale[0][1] != heat.colorscale[-1][1]  # diverging
    bar = heat.colorbar
    assert list(bar.tickvals) == [0.0, 0.5, 1.0, 1.5, 2.0] and bar.ticktext[-1] == "≥ 2"  # saturates beyond 2
    assert "largest 13.2" in bar.title.text and "blue: removing it lowers the loss" in bar.title.text
    assert list(heat.z[0]) == [0.4, 1.0, 13.2] and "%{z" in heat.hovertemplate  # the hover keeps the true ratio
    assert bar.orientation == "h" and bar.yref == "container" and bar.title.side == "bottom"


def test_an_ablation_within_range_names_no_largest_value():
    bar = figures.weights.ablation_heatmap(np.array([[0.9, 1.7]]), ["x"], ["h0", "h1"], "t").data[0].colorbar
    assert bar.ticktext[-1] == "2" and "largest" not in bar.title.text and "blue" in bar.title.text


def test_displacement_is_log_log_and_drops_undefined_points():
    fig = figures.weights.displacement_figure(
        np.array([0.1, np.nan, 0.0, 2.0]), np.array([1.0, 1.0, 1.0, 3.0]), list("abcd")
    )
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert list(fig.data[0].text) == ["a", "d"]


def test_ftle_figures_and_data_figure():
    eps = np.logspace(-14, -1, 14)
    fig = figures.lyapunov.ftle_eps_figure(eps, np.full(14, 0.28), np.full(14, 0.1), np.full(14, 18), 20)
    assert fig.data[0].error_y.array is not None and fig.data[1].yaxis == "y2"
    assert figures.lyapunov.ftle_histogram(np.array([0.2, 0.3]), 1e-8).data[0].type == "histogram"
    x = np.random.default_rng(0).normal(size=(6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    data = figures.data.data_figure(
        x, y, np.array([0, 1, 1, 0, 1, 2]), np.arange(6) < 4, list("abcd"), ["p", "q", "r"], 2, 3
    )
    crosses = data.data[-1]
    assert crosses.name == "misclassified (1)" and crosses.x[0] == x[2, 2]


def test_the_collapse_title_says_what_the_curves_do():
    one = np.array([[0.5, 0.6, 0.7], [0.5, 0.62, 0.71]])
    assert figures.eps.collapse_title(one).endswith("one curve for every ε (linear response)")
    spread = np.array([[0.5, 1.0, 1e6], [0.5, 0.6, 0.7]])
    assert figures.eps.collapse_title(spread).endswith("no collapse, the ε curves end 6.2 decades apart")
