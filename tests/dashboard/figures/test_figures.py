"""Figure builders: arrays in, traces out."""

import numpy as np

from dashboard import figures


def _f32(a) -> np.ndarray:
    """What a figure sends: float32 (dashboard.figures.base._f32)."""
    return np.asarray(a, dtype=np.float32)


def test_distance_figure_has_grey_copies_black_mean_and_dashed_loss_on_the_right():
    t = np.arange(5001)
    d = np.exp(np.random.default_rng(0).normal(-18, 0.1, (5001, 20)))
    loss = np.linspace(2, 0.1, 5001)
    fig = figures.distance.distance_figure(t, d, d.mean(axis=1), loss)
    copies, mean, loss_line = fig.data
    keep = figures.base.thin(5001)  # the mean and the loss: MAX_POINTS samples
    half = figures.base.thin(5001, figures.base.MAX_POINTS // 2)  # each copy: half as many
    np.testing.assert_array_equal(mean.x, _f32(t[keep]))
    np.testing.assert_array_equal(mean.y, _f32(d.mean(axis=1)[keep]))
    np.testing.assert_array_equal(loss_line.x, _f32(t[keep]))
    np.testing.assert_array_equal(loss_line.y, _f32(loss[keep]))
    # the 20 copies in one trace: each copy's samples, then a NaN gap
    xs = np.asarray(copies.x, dtype=float).reshape(20, half.size + 1)
    ys = np.asarray(copies.y, dtype=float).reshape(20, half.size + 1)
    np.testing.assert_array_equal(xs[:, :-1], np.tile(t[half], (20, 1)))
    np.testing.assert_array_equal(ys[:, :-1], _f32(d[half].T))
    assert np.isnan(xs[:, -1]).all() and np.isnan(ys[:, -1]).all()
    assert copies.name == "each copy d_m(t) (20)" and mean.name == "mean <d(t)>" and loss_line.name == "training loss"
    assert mean.line.color == "black" and loss_line.yaxis == "y2" and loss_line.line.dash == "dash"
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.side == "right"
    assert fig.layout.xaxis.title.text == "iteration t" and fig.layout.yaxis.title.text == "distance d(t)"
    assert fig.layout.yaxis2.title.text == "loss" and fig.layout.yaxis2.tickmode == "auto"
    assert fig.layout.uirevision == "distance"


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
    # linspace(0, 10, 5) = 0, 2.5, 5, 7.5, 10, rounded half to even
    assert figures.base.thin(11, 5).tolist() == [0, 2, 5, 8, 10]
    idx = figures.base.thin(50_001)
    assert idx[0] == 0 and idx[-1] == 50_000 and len(idx) == figures.base.MAX_POINTS
    assert set(np.diff(idx)) == {50, 51}  # even strides of 50,000 / 999 = 50.05


def test_eps_panels_and_collapse():
    from plotly.colors import sample_colorscale

    t = np.arange(101)
    eps = np.array([1e-14, 1e-10, 1e-6, 1e-2])
    d = np.ones((4, 101, 5)) * eps[:, None, None]
    loss = np.linspace(1, 0, 101)
    panels = figures.eps.eps_panels_figure(t, eps, d, loss)
    assert len(panels.data) == 12  # copies, mean and loss in each of 4 panels
    assert [a.text for a in panels.layout.annotations] == ["ε = 1e-14", "ε = 1e-10", "ε = 1e-06", "ε = 1e-02"]
    for j, e in enumerate(eps):
        copies, mean, panel_loss = panels.data[3 * j : 3 * j + 3]
        np.testing.assert_array_equal(mean.x, t)
        np.testing.assert_array_equal(mean.y, _f32(np.full(101, e)))  # every copy at eps: so is their mean
        np.testing.assert_array_equal(panel_loss.y, _f32(loss))
        ys = np.asarray(copies.y, dtype=float).reshape(5, 102)
        np.testing.assert_array_equal(ys[:, :-1], _f32(np.full((5, 101), e)))
        assert panel_loss.yaxis != mean.yaxis and mean.xaxis == panel_loss.xaxis
    collapse = figures.eps.collapse_figure(t, eps, np.full((4, 101), 0.5))
    *curves, bar = collapse.data
    assert [c.name for c in curves] == ["ε 1e-14", "ε 1e-10", "ε 1e-06", "ε 1e-02"]
    for c in curves:
        np.testing.assert_array_equal(c.x, t)
        np.testing.assert_array_equal(c.y, _f32(np.full(101, 0.5)))
    # colour = Viridis at (log10 eps - (-14)) / (-2 - (-14)): 0, 1/3, 2/3, 1
    assert [c.line.color for c in curves] == sample_colorscale("Viridis", [0, 1 / 3, 2 / 3, 1])
    assert (bar.marker.cmin, bar.marker.cmax) == (-14.0, -2.0) and bar.marker.colorbar.title.text == "log10 ε"
    assert collapse.layout.title.text.replace("<br>", " ") == (
        "Normalised distance <d>/(ε N_w): one curve for every ε (linear response)"
    )
    assert collapse.layout.yaxis.title.text == "<d>/(ε N_w)" and collapse.layout.xaxis.title.text == "iteration t"


def test_fit_figure_draws_the_window_or_says_why_not():
    t = np.arange(201)
    mean = np.exp(-20 + 0.3 * t)
    fit = {"slope": 0.3, "intercept": -20.0, "r2": 0.99, "start": 40.0, "length": 60.0, "kept": True}
    fig = figures.lyapunov.fit_figure(t, mean, fit)
    curve, line = fig.data
    np.testing.assert_array_equal(curve.x, t)
    np.testing.assert_allclose(curve.y, -20 + 0.3 * t, rtol=1e-6)  # ln <d>, sent as float32
    np.testing.assert_array_equal(line.x, np.arange(40, 100))  # the window [40, 100)
    np.testing.assert_allclose(line.y, -20 + 0.3 * np.arange(40, 100), rtol=1e-15)
    assert line.name == "fit on [40, 100): slope 0.3000, R² 0.990"
    assert fig.layout.title.text == "FTLE = 0.3000 per iteration, R² = 0.990: kept"
    (window,) = fig.layout.shapes
    assert (window.x0, window.x1) == (40, 99)
    rejected = figures.lyapunov.fit_figure(t, mean, {**fit, "slope": 0.01, "kept": False})
    assert rejected.layout.title.text.replace("<br>", " ") == (
        "FTLE = 0.0100 per iteration, R² = 0.990: rejected (needs R² > 0.9 and slope > 0.05)"
    )
    nofit = figures.lyapunov.fit_figure(t, np.ones(201), {**fit, "slope": float("nan")})
    assert len(nofit.data) == 1 and not nofit.layout.shapes
    np.testing.assert_array_equal(nofit.data[0].y, np.zeros(201))  # ln 1
    assert nofit.layout.title.text == "No window fits this run (too short, or non-finite distances)"


def test_ablation_colours_span_zero_to_two_centred_at_one_and_say_what_blue_means():
    fig = figures.weights.ablation_heatmap(np.array([[0.4, 1.0, 13.2]]), ["x"], ["h0", "h1", "h2"], "t")
    heat = fig.data[0]
    assert (heat.zmin, heat.zmax) == (0.0, 2.0) and (heat.zmin + heat.zmax) / 2 == 1.0  # white at "no change"
    assert heat.colorscale[0][1] != heat.colorscale[-1][1]  # diverging
    bar = heat.colorbar
    assert list(bar.tickvals) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert list(bar.ticktext) == ["0", "0.5", "1", "1.5", "≥ 2"]  # saturates beyond 2
    assert bar.title.text == (
        "L_w / L (1: no change; largest 13.2)<br>blue: removing it lowers the loss<br>red: removing it raises the loss"
    )
    np.testing.assert_array_equal(heat.z, [[0.4, 1.0, 13.2]])
    assert "%{z" in heat.hovertemplate  # the hover keeps the true ratio
    assert list(heat.x) == ["h0", "h1", "h2"] and list(heat.y) == ["x"] and fig.layout.title.text == "t"
    assert bar.orientation == "h" and bar.yref == "container" and bar.title.side == "bottom"


def test_an_ablation_within_range_names_no_largest_value():
    bar = figures.weights.ablation_heatmap(np.array([[0.9, 1.7]]), ["x"], ["h0", "h1"], "t").data[0].colorbar
    assert bar.ticktext[-1] == "2" and "largest" not in bar.title.text and "blue" in bar.title.text


def test_displacement_is_log_log_and_drops_undefined_points():
    fig = figures.weights.displacement_figure(
        np.array([0.1, np.nan, 0.0, 2.0]), np.array([1.0, 1.0, 1.0, 3.0]), list("abcd")
    )
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    (dots,) = fig.data
    assert list(dots.text) == ["a", "d"]  # NaN and 0 have no place on a log axis
    np.testing.assert_array_equal(dots.x, [0.1, 2.0])
    np.testing.assert_array_equal(dots.y, [1.0, 3.0])
    assert fig.layout.xaxis.title.text == "relative displacement |w(T) − w(0)| / |w(0)|"
    assert fig.layout.yaxis.title.text == "path length Σ|w(t+1) − w(t)|"


def test_ftle_figures_and_data_figure():
    eps = np.logspace(-14, -1, 14)
    mean, std, kept = np.linspace(0.1, 0.4, 14), np.full(14, 0.1), np.arange(14) + 5
    fig = figures.lyapunov.ftle_eps_figure(eps, mean, std, kept, 20)
    lam, share = fig.data
    np.testing.assert_array_equal(lam.x, eps)
    np.testing.assert_array_equal(lam.y, mean)
    np.testing.assert_array_equal(lam.error_y.array, std)
    np.testing.assert_array_equal(share.y, kept / 20)  # the fraction of the 20 networks kept
    assert share.yaxis == "y2" and tuple(fig.layout.yaxis2.range) == (0, 1.05)
    assert fig.layout.title.text == "Lyapunov exponent λ vs ε (20 initial networks)"
    hist = figures.lyapunov.ftle_histogram(np.array([0.2, 0.3]), 1e-8)
    assert hist.data[0].type == "histogram"
    np.testing.assert_array_equal(hist.data[0].x, [0.2, 0.3])
    assert hist.layout.title.text == "FTLE at ε = 1e-08: 2 kept, mean 0.250"
    x = np.random.default_rng(0).normal(size=(6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    is_train = np.arange(6) < 4
    data = figures.data.data_figure(x, y, np.array([0, 1, 1, 0, 1, 2]), is_train, list("abcd"), ["p", "q", "r"], 2, 3)
    *classes, crosses = data.data
    expected = [(c, train) for c in range(3) for train in (True, False)]
    assert [t.name for t in classes] == [f"{'pqr'[c]} ({'train' if tr else 'test'})" for c, tr in expected]
    for trace, (c, train) in zip(classes, expected, strict=True):
        rows = (y == c) & (is_train == train)
        np.testing.assert_array_equal(trace.x, x[rows, 2])
        np.testing.assert_array_equal(trace.y, x[rows, 3])
    assert crosses.name == "misclassified (1)"  # row 2: class 2 predicted 1
    np.testing.assert_array_equal(crosses.x, [x[2, 2]])
    np.testing.assert_array_equal(crosses.y, [x[2, 3]])
    assert data.layout.xaxis.title.text == "c" and data.layout.yaxis.title.text == "d"


def test_the_collapse_title_says_what_the_curves_do():
    one = np.array([[0.5, 0.6, 0.7], [0.5, 0.62, 0.71]])
    # final values 0.7 and 0.71: log10(0.71 / 0.7) = 0.006 decades, within COLLAPSE_DECADES
    assert figures.eps.collapse_title(one) == "Normalised distance <d>/(ε N_w): one curve for every ε (linear response)"
    spread = np.array([[0.5, 1.0, 1e6], [0.5, 0.6, 0.7]])  # log10(1e6 / 0.7) = 6.15 decades
    assert figures.eps.collapse_title(spread) == (
        "Normalised distance <d>/(ε N_w): no collapse, the ε curves end 6.2 decades apart"
    )
    single = np.array([[0.5, 0.6, 0.7]])  # one eps: nothing to compare
    assert figures.eps.collapse_title(single) == "Normalised distance <d>/(ε N_w) for each ε"
