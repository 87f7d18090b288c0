"""Regime figures: the strip over eta, the 2-D maps and the orbit diagram, by their traces and layout."""

import json
import math

import numpy as np
import pytest

from core.analysis.labels import REGIME_TEXT, REGIMES
from core.config import RunConfig
from core.experiments.maps import run_map
from core.experiments.orbit import run_orbit
from core.experiments.regimes import run_sweep
from dashboard.figures import maps as fm
from dashboard.figures import regimes as fr
from dashboard.figures.base import title_block

COLUMNS = (
    "final_loss",
    "train_accuracy",
    "test_accuracy",
    "steps_to_accuracy",
    "reached_target",
    "loss_increase_fraction",
    "sharpness_over_2_eta",
    "ftle_mean",
    "ftle_ci_low",
    "ftle_ci_high",
    "ftle_kept_fraction",
    "diverged_fraction",
)
OKABE_ITO = {"stable": "#0072B2", "edge": "#E69F00", "chaotic": "#D55E00"}


@pytest.fixture(scope="module")
def sweep():
    """A real sweep (~1 s) and the summaries it streamed on the way (the first: one eta done)."""
    partial = []

    def keep(done, total, result):
        partial.append(result.summary())

    config = RunConfig(n_steps=150, n_perturbations=2)
    result = run_sweep(config, [0.01, 1, 5], 2, workers=1, on_progress=keep)
    return result.summary(), partial


def strip_of(summary, **kwargs):
    table = {k: summary[k].to_numpy(dtype=float) for k in COLUMNS}
    return fr.regime_strip_figure(summary["eta"].to_numpy(), table, list(summary["regime"]), **kwargs)


def by_name(fig, name):
    return next(t for t in fig.data if t.name == name)


def bands(fig):
    return [s for s in fig.layout.shapes if s.type == "rect"]


def test_the_strip_stacks_five_panels_on_one_shared_log_eta_axis(sweep):
    fig = strip_of(sweep[0], target_accuracy=0.9)
    layout = fig.layout.to_plotly_json()
    x_axes = sorted(k for k in layout if k.startswith("xaxis"))
    assert len(x_axes) == 5
    assert all(layout[k]["type"] == "log" for k in x_axes)
    assert [layout[k].get("matches") for k in x_axes] == ["x5"] * 4 + [None]  # all follow the bottom one
    assert layout["xaxis5"]["range"] == pytest.approx(np.log10(fm.log_edges([0.01, 1, 5])[[0, -1]]))
    panels = {t.xaxis for t in fig.data}
    assert panels == {"x", "x2", "x3", "x4", "x5"}
    assert [a.text for a in fig.layout.annotations][2].startswith("iterations to 90% test accuracy")
    assert fig.layout.yaxis3.type == "log"  # final loss
    assert fig.layout.yaxis2.tickmode == "auto" and fig.layout.yaxis4.tickmode == "auto"  # the secondaries
    assert by_name(fig, "train accuracy").yaxis == "y4" and by_name(fig, "FTLE fits kept").yaxis == "y2"
    json.loads(fig.to_json())  # serialisable as the page will send it


# each line of the strip and the summary column it draws (SweepResult.summary())
LINES = {
    "FTLE mean (95% CI)": "ftle_mean",
    "FTLE fits kept": "ftle_kept_fraction",
    "final loss": "final_loss",
    "train accuracy": "train_accuracy",
    "test accuracy": "test_accuracy",
    "iterations to target": "steps_to_accuracy",
    "loss-increasing steps": "loss_increase_fraction",
    "sharpness / (2/η)": "sharpness_over_2_eta",
}


def test_every_line_of_the_strip_draws_its_column_of_the_sweep(sweep):
    summary = sweep[0]
    fig = strip_of(summary)
    for name, column in LINES.items():
        line = by_name(fig, name)
        np.testing.assert_array_equal(line.x, [0.01, 1, 5])
        np.testing.assert_array_equal(np.asarray(line.y, dtype=float), summary[column].to_numpy(dtype=float))
    reached = by_name(fig, "iterations to target")
    np.testing.assert_array_equal(reached.customdata, summary["reached_target"].to_numpy(dtype=float))
    # marker diameter 5 px, plus 11 px at a share of 1 reaching the target
    np.testing.assert_allclose(reached.marker.size, 5 + 11 * np.nan_to_num(summary["reached_target"], nan=0.0))


def test_the_strip_sorts_an_unsorted_sweep_by_eta():
    etas = np.array([5.0, 0.01, 1.0])
    table = {k: np.array([3.0, 1.0, 2.0]) + i for i, k in enumerate(COLUMNS)}  # column i: i + 1, 2, 3 in eta order
    fig = fr.regime_strip_figure(etas, table, ["chaotic", "stable", "edge"])
    for i, column in enumerate(COLUMNS):
        if column in LINES.values():
            name = next(n for n, c in LINES.items() if c == column)
            np.testing.assert_array_equal(by_name(fig, name).x, [0.01, 1.0, 5.0])
            np.testing.assert_array_equal(by_name(fig, name).y, np.array([1.0, 2.0, 3.0]) + i)
    assert [s.name for s in bands(fig)] == ["stable", "edge", "chaotic"]


def test_ftle_error_bars_span_the_bootstrap_ci(sweep):
    summary = sweep[0]
    mean = by_name(strip_of(summary), "FTLE mean (95% CI)")
    y = np.asarray(mean.y, dtype=float)
    np.testing.assert_allclose(y + mean.error_y.array, summary["ftle_ci_high"], equal_nan=True)
    np.testing.assert_allclose(y - mean.error_y.arrayminus, summary["ftle_ci_low"], equal_nan=True)


def test_bands_colour_each_regime_between_geometric_midpoints_with_the_okabe_ito_palette():
    etas = np.array([0.01, 0.1, 1.0, 5.0, 50.0])
    table = {k: np.full(5, 0.5) for k in COLUMNS}
    fig = fr.regime_strip_figure(etas, table, ["stable", "stable", "edge", "chaotic", "diverged"])
    shapes = bands(fig)
    assert [s.name for s in shapes] == ["stable", "edge", "chaotic", "diverged"]  # neighbours alike share a band
    assert [s.fillcolor for s in shapes] == [*OKABE_ITO.values(), "#000000"]
    edges = fm.log_edges(etas)
    assert [(s.x0, s.x1) for s in shapes] == [(edges[0], edges[2]), *zip(edges[2:-1], edges[3:], strict=True)]
    assert shapes[0].x1 == pytest.approx(math.sqrt(0.1 * 1.0))
    assert all(s.yref == "paper" and (s.y0, s.y1) == (0, 1) and s.xref == "x" for s in shapes)  # every panel
    assert all(s.layer == "below" for s in shapes)


def test_a_real_sweep_gets_a_band_per_regime_it_found(sweep):
    summary = sweep[0]
    shapes = bands(strip_of(summary))
    assert [s.name for s in shapes] == list(summary["regime"]) == ["stable", "edge", "chaotic"]
    assert [s.fillcolor for s in shapes] == list(OKABE_ITO.values())


def test_the_regime_legend_has_each_colour_and_its_sentence():
    fig = fr.regime_strip_figure([1.0], {k: np.ones(1) for k in COLUMNS}, ["edge"])
    entries = [t for t in fig.data if t.legend == "legend2"]
    assert [t.name.replace("<br>", " ") for t in entries] == [REGIME_TEXT[r] for r in REGIMES]  # wrapped
    assert [t.marker.color for t in entries] == [fr.REGIME_COLORS[r] for r in REGIMES]
    assert all(t.x == (None,) for t in entries)  # legend only: nothing drawn
    items = fr.regime_legend_items({r: f"{r} in a sentence" for r in REGIMES})
    assert items[2] == ("edge", "#E69F00", "edge in a sentence") and len(items) == 5


def test_cells_not_yet_computed_are_gaps_and_unbanded(sweep):
    first = sweep[1][0]  # streamed while only eta = 0.01 was done
    assert first["final_loss"].isna().tolist() == [False, True, True]
    fig = strip_of(first)
    loss = np.asarray(by_name(fig, "final loss").y, dtype=float)
    assert np.isfinite(loss[0]) and np.isnan(loss[1:]).all()  # NaN, not 0: the line stops
    assert not by_name(fig, "final loss").connectgaps
    # after 150 steps at eta 0.01 the first network is calm but has not learned (accuracy 0.2)
    assert [s.name for s in bands(fig)] == ["slow"]  # pandas gives NaN labels: no band
    assert fig.layout.uirevision == strip_of(sweep[0]).layout.uirevision  # zoom survives the live update


def test_the_sharpness_panel_has_a_dashed_line_at_1_labelled_two_over_eta(sweep):
    fig = strip_of(sweep[0])
    sharp = by_name(fig, "sharpness / (2/η)")
    line = next(s for s in fig.layout.shapes if s.type == "line")
    assert (line.y0, line.y1) == (1, 1) and line.yref == sharp.yaxis  # data value, on the sharpness axis
    assert line.xref == f"{sharp.xaxis} domain" and (line.x0, line.x1) == (0, 1)
    assert line.line.dash == "dash" and line.label.text == "2/η"
    assert fig.layout[sharp.yaxis.replace("y", "yaxis")].type == "log"


@pytest.mark.parametrize("words", [4, 30])  # titles of 1 and of 3 lines
def test_the_strips_frame_is_made_once_and_each_copy_is_its_own(sweep, words):
    """The panels and layout are made once and copied (a live map draws its strip at every
    update): each figure has its own title, and the margins and legends that follow from it,
    whatever the title the frame was made under; a change to one figure leaves the next as it was."""
    summary, _ = sweep
    first, second = " ".join(["alpha"] * words), " ".join(["omega"] * words)
    assert fr.wrap(first).count("<br>") == fr.wrap(second).count("<br>") == (0 if words == 4 else 2)
    fr._strip_frame.cache_clear()
    alone = json.loads(strip_of(summary, title=first).to_json())
    title, top = title_block(first)  # what the figure's own title asks of its layout
    assert alone["layout"]["title"] == title
    assert alone["layout"]["margin"]["t"] == top + fr.LINE_LEGEND_PX + fr.PANEL_TITLE_PX
    assert alone["layout"]["legend"]["y"] == pytest.approx(1 - (top - 6) / fr.STRIP_HEIGHT)
    made = fr._strip_frame.cache_info().misses
    other = strip_of(summary, title=second)
    assert other.layout.title.text == fr.wrap(second) and "alpha" not in json.dumps(other.to_plotly_json())
    other.update_layout(height=10, margin_t=1).data[0].update(y=[0, 0, 0])  # a caller's own copy
    again = json.loads(strip_of(summary, title=first).to_json())
    assert fr._strip_frame.cache_info().misses == made  # one frame for both titles (as many lines)
    assert again == alone


def test_the_first_local_chunk_of_cells_is_a_quarter_of_the_others():
    """Its cells are a live map's first drawn (the process goes on with whole chunks after it
    while its workers start); an executor's chunks are all alike."""
    from core.experiments.cells import chunk_spans

    sizes = [s.stop - s.start for s in chunk_spans(500, 6, local=True)]  # the default strip
    assert sizes[:2] == [5, 21] and set(sizes[1:-1]) == {21} and sum(sizes) == 500
    assert {s.stop - s.start for s in chunk_spans(500, 6, local=False)[:-1]} == {21}
    assert [s.stop - s.start for s in chunk_spans(3, 40, local=True)] == [1, 1, 1]  # never empty


def test_log_edges_are_geometric_midpoints_and_centre_every_cell_in_log_space():
    c = np.array([0.01, 0.1, 2.0, 3.0])
    edges = fm.log_edges(c)
    np.testing.assert_allclose(edges[1:-1], np.sqrt(c[:-1] * c[1:]))
    np.testing.assert_allclose(np.sqrt(edges[:-1] * edges[1:])[[0, -1]], c[[0, -1]])  # the ends centred too
    np.testing.assert_allclose(fm.log_edges([1.0]), [10**-0.5, 10**0.5])
    np.testing.assert_allclose(fm.linear_edges([0, 1, 2]), [-0.5, 0.5, 1.5, 2.5])


@pytest.fixture(scope="module")
def eps_map():
    return run_map("eta-eps", RunConfig(n_steps=150, n_perturbations=2), [0.01, 1, 5], [1e-8, 1e-6], workers=1)


@pytest.fixture(scope="module")
def seed_map():
    return run_map("eta-seed", RunConfig(n_steps=150), [0.01, 1, 5, 20], [0, 1, 2], workers=1)


def main_heatmap(fig):
    return fig.data[1]  # data[0]: the white layer under computed cells


def test_the_heatmap_is_y_by_e_with_nan_where_not_done(seed_map):
    m = seed_map
    done = m.done.copy()
    done[1, 2] = done[3, 0] = False  # as during a live map
    fig = fm.map_heatmap(m.kind, m.etas, m.ys, m.value, m.share, done)
    z = np.asarray(main_heatmap(fig).z, dtype=float)
    assert z.shape == (3, 4)  # (Y, E)
    assert np.isnan(z[2, 1]) and np.isnan(z[0, 3])
    np.testing.assert_allclose(z[done.T], np.log10(m.value.T[done.T]))  # coloured by log10 final loss
    assert np.isnan(np.asarray(main_heatmap(fig).customdata, dtype=float)[~done.T][:, 2:]).all()  # hover: no value
    white = np.asarray(fig.data[0].z, dtype=float)
    assert np.isnan(white[~done.T]).all() and (white[done.T] == 0).all()


def test_an_eta_eps_map_is_coloured_by_the_ftle_itself_with_nan_where_not_done(eps_map):
    m = eps_map
    done = m.done.copy()
    done[2, 0] = False
    z = np.asarray(main_heatmap(fm.map_heatmap(m.kind, m.etas, m.ys, m.value, m.share, done)).z, dtype=float)
    assert np.isnan(z[0, 2]) and np.isfinite(m.value[2, 0])  # computed, but not yet shown: NaN, not 0
    np.testing.assert_equal(z[done.T], m.value.T[done.T])


def test_heatmap_cells_tile_log_axes_between_geometric_midpoints(eps_map, seed_map):
    fig = fm.map_heatmap(eps_map.kind, eps_map.etas, eps_map.ys, eps_map.value, eps_map.share, eps_map.done)
    heat = main_heatmap(fig)
    np.testing.assert_allclose(heat.x, fm.log_edges([0.01, 1, 5]))  # E + 1 edges
    np.testing.assert_allclose(heat.x[1:3], [0.1, math.sqrt(5)])
    np.testing.assert_allclose(heat.y, [1e-9, 1e-7, 1e-5])
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(fig.layout.xaxis.range, np.log10(heat.x[[0, -1]]))
    seeds = fm.map_heatmap(seed_map.kind, seed_map.etas, seed_map.ys, seed_map.value, seed_map.share, seed_map.done)
    np.testing.assert_allclose(main_heatmap(seeds).y, [-0.5, 0.5, 1.5, 2.5])
    assert seeds.layout.yaxis.type is None and seeds.layout.xaxis.type == "log"  # seeds: linear integers


def test_every_cell_and_every_selectable_centre_carries_its_eta_and_y(eps_map):
    m = eps_map
    fig = fm.map_heatmap(m.kind, m.etas, m.ys, m.value, m.share, m.done, diverged=m.diverged)
    custom = np.asarray(main_heatmap(fig).customdata, dtype=float)  # (Y, E, 4)
    assert custom.shape == (2, 3, 4)
    for i, eps in enumerate(m.ys):
        for j, eta in enumerate(m.etas):
            assert tuple(custom[i, j, :2]) == (eta, eps)
            np.testing.assert_equal(custom[i, j, 2:], [m.value[j, i], m.share[j, i]])
    centres = fig.data[-1]
    assert len(centres.x) == 6 and centres.marker.opacity == 0 and centres.showlegend is False
    assert {tuple(c) for c in np.asarray(centres.customdata)} == {(e, y) for e in m.etas for y in m.ys}
    assert fig.layout.dragmode == "select"
    assert "kept fraction" in main_heatmap(fig).hovertemplate and "ε" in main_heatmap(fig).hovertemplate
    assert main_heatmap(fig).colorbar.title.text == "FTLE (per step)"


def test_an_unsorted_grid_draws_the_same_map(seed_map):
    m = seed_map
    e, y = [2, 0, 3, 1], [1, 2, 0]
    grid = np.ix_(e, y)
    args = (m.value[grid], m.share[grid], m.done[grid])
    shuffled = fm.map_heatmap(m.kind, m.etas[e], m.ys[y], *args)
    fig = fm.map_heatmap(m.kind, m.etas, m.ys, m.value, m.share, m.done)
    for a, b in zip(shuffled.data, fig.data, strict=True):
        np.testing.assert_equal(
            np.asarray(a.z if a.type == "heatmap" else a.x), np.asarray(b.z if b.type == "heatmap" else b.x)
        )


def test_the_final_loss_colour_bar_is_labelled_in_loss_values():
    loss = np.array([[0.2, 0.5], [3.0, 40.0]])
    fig = fm.map_heatmap("eta-seed", [0.1, 1.0], [0, 1], loss, np.full((2, 2), 0.5), np.ones((2, 2), bool))
    bar = main_heatmap(fig).colorbar
    assert bar.title.text == "final loss (log scale)"
    assert list(bar.ticktext) == ["0.2", "0.5", "1", "2", "5", "10", "20"]
    np.testing.assert_allclose(bar.tickvals, np.log10([0.2, 0.5, 1, 2, 5, 10, 20]))
    assert "test accuracy" in main_heatmap(fig).hovertemplate


def test_the_orbit_diagram_has_every_last_loss_on_log_axes_and_the_ln_c_line():
    o = run_orbit(RunConfig(n_steps=120), [0.5, 2.0, 5.0], n_last=20, workers=1)
    fig = fm.orbit_figure(o.etas, o.losses)
    (dots,) = fig.data
    assert len(dots.x) == len(dots.y) == 3 * 20
    np.testing.assert_allclose(dots.x, np.repeat(o.etas, 20), rtol=1e-6)
    np.testing.assert_allclose(dots.y, o.losses.ravel(), rtol=1e-6)
    assert dots.mode == "markers"
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == pytest.approx(math.log(3)) and line.line.dash == "dot"
    assert line.label.text == "ln 3: every class alike"
    ten = fm.orbit_figure(o.etas, o.losses, n_classes=10).layout.shapes[0]
    assert ten.y0 == pytest.approx(math.log(10)) and ten.label.text.startswith("ln 10")
