"""Figure builders of the dynamics views: arrays in, traces and layout inspected."""

import numpy as np
import pytest

from core import RunConfig, load_digits, run_diagnostics, run_stability, sharpness_series
from dashboard.figures import dynamics as fd
from dashboard.figures.base import MAX_POINTS, thin


@pytest.fixture(scope="module")
def diagnostics():
    """A short chaotic-intermittent run (eta 5): ~0.5 s."""
    return run_diagnostics(RunConfig(learning_rate=5.0, n_steps=1500, save_every=1), transient=500)


@pytest.fixture(scope="module")
def edge():
    """Sharpness every 20 steps and <d(t)> of one eta = 1 network (edge of stability)."""
    config = RunConfig(learning_rate=1.0, n_steps=200, n_perturbations=3)
    return sharpness_series(config, 20), run_stability(config).mean_distance


def _values(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _annotations(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def _title(fig) -> str:
    """The title as one line (it is wrapped with <br> to the graph's width)."""
    return fig.layout.title.text.replace("<br>", " ")


# ---- edge of stability -------------------------------------------------------------------
def test_curvature_panels_share_one_iteration_axis_and_the_edge_line_sits_at_two_over_eta(edge):
    series, distance = edge
    t = np.arange(len(series.loss))
    fig = fd.curvature_figure(t, series.loss, distance, series.steps, series.sharpness, 1.0)
    sharp, loss, dist = fig.data
    assert [(tr.xaxis, tr.yaxis) for tr in fig.data] == [("x", "y"), ("x2", "y2"), ("x3", "y3")]
    assert fig.layout.xaxis.matches == fig.layout.xaxis2.matches == "x3"  # one zoom moves all three
    assert fig.layout.xaxis3.title.text == "iteration t" and fig.layout.yaxis3.type == "log"
    (line,) = [s for s in fig.layout.shapes if s.type == "line"]
    assert line.y0 == line.y1 == series.two_over_eta == 2.0 and line.yref == "y" and line.line.dash == "dash"
    assert "2/η = 2" in _annotations(fig)
    # every series is short (under MAX_POINTS): drawn whole, as float32
    np.testing.assert_array_equal(sharp.x, series.steps)
    np.testing.assert_array_equal(sharp.y, series.sharpness.astype(np.float32))
    np.testing.assert_array_equal(loss.x, t)
    np.testing.assert_array_equal(loss.y, series.loss.astype(np.float32))
    np.testing.assert_array_equal(dist.y, distance.astype(np.float32))
    last = series.sharpness[-1]
    assert _title(fig) == f"Edge of stability at η = 1: last sharpness {last:.4g} = {last / 2:.2f} × 2/η"
    assert [fig.layout[f"yaxis{n}"].title.text for n in ("", "2", "3")] == [
        "sharpness λ_max",
        "loss (nats)",
        "<d(t)> (log)",
    ]
    assert fig.layout.uirevision == "curvature"


def test_curvature_draws_nan_sharpness_as_a_gap_and_thins_long_series():
    t = np.arange(5001)
    steps = np.arange(0, 5001, 100)
    sharpness = np.where(steps < 3000, 1.9, np.nan)  # diverged at 3000
    loss_in = np.linspace(2, 0.1, 5001)
    fig = fd.curvature_figure(t, loss_in, np.geomspace(1e-8, 1, 5001), steps, sharpness, 0.5)
    sharp, loss, _ = fig.data
    np.testing.assert_array_equal(sharp.x, steps)  # 51 points: all drawn
    np.testing.assert_array_equal(sharp.y, np.where(steps < 3000, np.float32(1.9), np.nan))
    assert not sharp.connectgaps
    keep = thin(5001)
    assert len(loss.x) == MAX_POINTS and loss.x[-1] == 5000
    np.testing.assert_array_equal(loss.x, t[keep])
    np.testing.assert_array_equal(loss.y, loss_in[keep].astype(np.float32))
    assert fig.layout.shapes[0].y0 == 4.0  # 2 / 0.5
    assert "last sharpness 1.9 = 0.47 × 2/η" in fig.layout.title.text


def test_curvature_rejects_a_bad_eta_and_mismatched_arrays():
    t = np.arange(3.0)
    with pytest.raises(ValueError, match="eta must be a positive finite number, got 0.0"):
        fd.curvature_figure(t, t, t, t, t, 0.0)
    with pytest.raises(ValueError, match="same length"):
        fd.curvature_figure(t, t[:2], t, t, t, 1.0)


# ---- chaos diagnostics -------------------------------------------------------------------
def test_loss_dots_and_weight_norm_share_x_and_the_transient_is_shaded(diagnostics):
    figs = fd.chaos_figures(diagnostics)
    assert set(figs) == {"loss_norm", "acf", "rates", "weights"}
    fig = figs["loss_norm"]
    dots, norm = fig.data
    assert dots.type == "scattergl" and dots.mode == "markers" and norm.yaxis == "y2"
    assert fig.layout.xaxis.matches == "x2"
    assert (dots.x0, dots.dx, len(dots.y)) == (0, 1, 1501)  # evenly spaced: x sent as x0/dx
    # 1,501 values, under MAX_DOTS: every one drawn, as float32
    np.testing.assert_array_equal(dots.y, diagnostics.loss.astype(np.float32))
    np.testing.assert_array_equal(norm.y, diagnostics.weight_norm.astype(np.float32))
    assert _title(fig) == "Loss and weight norm over 1,500 iterations (first 500 shaded: transient)"
    shaded = [(s.x0, s.x1, s.xref) for s in fig.layout.shapes]
    assert shaded == [(0.0, 500, "x"), (0.0, 500, "x2")]  # both panels


def test_spread_sampling_shows_every_phase_of_a_cycle_where_even_thinning_aliases():
    n, m = 50_001, 5_001
    phase = np.arange(n) % 10  # a period-10 cycle
    even, spread = thin(n, m), fd.spread(n, m)
    assert len(np.unique(phase[even])) == 1  # stride 10: one phase, a cycle drawn as a constant
    counts = np.bincount(phase[spread], minlength=10)
    assert counts.min() > 0.7 * len(spread) / 10  # each phase about as often as it occurs
    assert spread[0] == 0 and spread[-1] == n - 1 and len(spread) <= m and np.all(np.diff(spread) > 0)
    assert np.array_equal(spread, fd.spread(n, m))  # the same figure on every redraw
    assert np.array_equal(fd.spread(100, m), np.arange(100))


def test_acf_band_is_a_filled_pair_and_the_title_counts_lags_outside(diagnostics):
    fig = fd.acf_figure(diagnostics.acf, diagnostics.null_low, diagnostics.null_high)
    low, high, acf = fig.data
    assert low.fill is None and high.fill == "tonexty" and not low.showlegend
    np.testing.assert_array_equal(low.y, diagnostics.null_low)
    np.testing.assert_array_equal(high.y, diagnostics.null_high)
    np.testing.assert_array_equal(acf.y, diagnostics.acf)
    np.testing.assert_array_equal(acf.x, np.arange(len(diagnostics.acf)))
    n = len(diagnostics.acf) - 1
    outside = round(diagnostics.fraction_outside_band * n)  # the core's count of lags 1..n outside
    assert _title(fig) == f"{outside} of {n} lags ({outside / n:.0%}) leave the shuffle-null band"
    hand = fd.acf_figure(np.array([1.0, 0.5, 0.05, -0.5, 0.0]), np.full(5, -0.1), np.full(5, 0.1))
    assert _title(hand) == "2 of 4 lags (50%) leave the shuffle-null band"  # lag 0 not counted


def test_acf_without_values_is_an_empty_state():
    fig = fd.acf_figure(np.full(5, np.nan), np.full(5, np.nan), np.full(5, np.nan))
    assert len(fig.data) == 0 and "No autocorrelation" in _annotations(fig)[0]


def test_rate_histogram_splits_by_significance_on_shared_bins_and_marks_the_median():
    rates = np.array([0.1, 0.2, np.nan, 0.3, 0.05, -0.02, np.nan, 0.25])
    significant = np.array([True, True, True, True, False, False, False, False])  # NaN at 2 counts nowhere
    fig = fd.expansion_histogram(rates, significant, bins=4)
    plain, sig = fig.data
    assert fig.layout.barmode == "stack"
    # 4 bins over the finite rates' range [-0.02, 0.3]: edges -0.02, 0.06, 0.14, 0.22, 0.3
    np.testing.assert_allclose(plain.x, [0.02, 0.10, 0.18, 0.26], rtol=1e-12)
    np.testing.assert_array_equal(sig.x, plain.x)
    np.testing.assert_allclose(plain.width, [0.08] * 4, rtol=1e-12)
    np.testing.assert_array_equal(plain.y, [2, 0, 0, 1])  # -0.02 and 0.05; 0.25
    np.testing.assert_array_equal(sig.y, [0, 1, 1, 1])  # 0.1, 0.2, 0.3 (the last edge counts in the last bin)
    assert plain.name == "not significant (3)" and sig.name == "significant (3)"
    (median,) = fig.layout.shapes
    assert median.x0 == median.x1 == pytest.approx(0.15, rel=1e-12)  # of -0.02, 0.05, 0.1, 0.2, 0.25, 0.3
    assert fig.layout.annotations[0].text == "median 0.15"
    assert _title(fig) == "6 local expansion rates, 3 significant (50%)"


def test_rate_histogram_of_a_real_run_counts_every_finite_rate(diagnostics):
    fig = fd.chaos_figures(diagnostics)["rates"]
    rates = diagnostics.expansion.rates
    plain, sig = fig.data
    assert rates.size > 0 and _values(plain.y).sum() + _values(sig.y).sum() == rates.size
    finite = np.isfinite(diagnostics.expansion.rate)
    significant = int((finite & diagnostics.expansion.significant).sum())
    assert _values(sig.y).sum() == significant and sig.name == f"significant ({significant})"
    assert fig.layout.shapes[0].x0 == pytest.approx(np.median(rates), rel=1e-12)


def test_rate_histogram_without_rates_is_an_empty_state():
    fig = fd.expansion_histogram(np.full(3, np.nan), np.zeros(3, dtype=bool))
    assert len(fig.data) == 0 and "No local expansion rate" in _annotations(fig)[0]


def test_top_weight_lines_are_named_by_their_labels(diagnostics):
    fig = fd.chaos_figures(diagnostics)["weights"]
    assert [t.name for t in fig.data] == list(diagnostics.top_labels)
    assert len(diagnostics.steps) <= fd.MAX_WEIGHT_POINTS  # every saved step drawn
    for j, trace in enumerate(fig.data):
        np.testing.assert_array_equal(trace.y, diagnostics.top_series[:, j].astype(np.float32))
        assert (trace.x0, trace.dx) == (diagnostics.steps[0], diagnostics.steps[1] - diagnostics.steps[0])
    assert _title(fig) == f"The {len(diagnostics.top_labels)} weights that move the most (longest paths)"
    with pytest.raises(ValueError, match=r"series must be \(S, n\) = \(3, 2\), got shape \(3, 1\)"):
        fd.top_weights_figure(np.arange(3), np.zeros((3, 1)), ["a", "b"])


def test_long_weight_series_are_sampled_and_keep_the_ends():
    steps = np.arange(0, 20_001, 2)
    series = np.stack([np.sin(steps / 7.0), np.cos(steps / 3.0)], axis=1)
    fig = fd.top_weights_figure(steps, series, ("w1", "w2"))
    keep = fd.spread(len(steps), fd.MAX_WEIGHT_POINTS)
    x = _values(fig.data[0].x)
    assert len(x) <= fd.MAX_WEIGHT_POINTS and x[0] == 0 and x[-1] == 20_000
    np.testing.assert_array_equal(x, steps[keep])
    for j, trace in enumerate(fig.data):
        np.testing.assert_array_equal(trace.y, series[keep, j].astype(np.float32))


# ---- digits ------------------------------------------------------------------------------
def _blocks(fig, n: int) -> np.ndarray:
    """(n, 8, 8) the digits read back out of the grid heatmap."""
    z = _values(fig.data[0].z)
    top, left = fd._cell_origins(n, 8)
    return np.stack([z[y : y + 8, x : x + 8] for y, x in zip(top, left, strict=True)])


def test_digits_grid_has_one_cell_per_digit_and_frames_the_misclassified():
    data = load_digits()
    images, labels = data.x_test[:20], data.y_test[:20]
    predictions = labels.copy()
    predictions[[1, 7, 12]] = (labels[[1, 7, 12]] + 1) % 10
    fig = fd.digits_grid_figure(images, labels, predictions)
    heat, captions = fig.data
    assert np.array_equal(_blocks(fig, 20), images.reshape(20, 8, 8).astype(np.float32))
    assert np.isfinite(_values(heat.z)).sum() == 20 * 64  # the rest are NaN separators
    assert len(captions.text) == 20 and captions.text[1] == f"{labels[1]} → {predictions[1]}"
    assert len(fig.layout.shapes) == 3 and all(s.line.color == fd.WRONG_COLOR for s in fig.layout.shapes)
    assert list(captions.textfont.color).count(fd.WRONG_COLOR) == 3
    assert "3 wrong" in fig.layout.title.text and fig.layout.uirevision == "digits"


def test_digit_pixel_zero_zero_is_drawn_top_left():
    image = np.zeros((1, 64))
    image[0, 0] = 1.0  # row 0, column 0
    fig = fd.digits_grid_figure(image, np.array([1]), np.array([1]))
    rows, cols = np.nonzero(_values(fig.data[0].z) == 1.0)
    top, left = fd._cell_origins(1, 8)
    assert (rows[0], cols[0]) == (top[0], left[0])  # smallest row and column of the block...
    assert fig.layout.yaxis.autorange == "reversed"  # ...and row 0 is drawn at the top
    assert fig.layout.yaxis.scaleanchor == "x"  # square pixels


def test_digits_grid_caps_the_count_and_checks_its_input():
    images = np.random.default_rng(0).random((50, 64))
    labels = np.arange(50) % 10
    fig = fd.digits_grid_figure(images, labels, labels)
    assert len(fig.data[1].text) == fd.MAX_DIGITS and fig.layout.title.text.startswith("first 40 of 50")
    assert len(fig.layout.shapes) == 0
    with pytest.raises(ValueError, match=r"images must be \(n, 64\).*got shape \(2, 63\)"):
        fd.digits_grid_figure(np.zeros((2, 63)), labels[:2], labels[:2])
    assert "No digits" in _annotations(fd.digits_grid_figure(np.zeros((0, 64)), labels[:0], labels[:0]))[0]


def test_every_builder_sets_a_uirevision_and_looks_up_no_template(diagnostics, edge):
    series, distance = edge
    t = np.arange(len(series.loss))
    figs = [
        *fd.chaos_figures(diagnostics).values(),
        fd.curvature_figure(t, series.loss, distance, series.steps, series.sharpness, 1.0),
        fd.digits_grid_figure(np.zeros((3, 64)), np.arange(3), np.arange(3)),
    ]
    for fig in figs:
        assert fig.layout.uirevision and fig.layout.template.layout.to_plotly_json() == {}
        assert fig.to_json()  # serialisable (NaN gaps travel inside base64 float32)
