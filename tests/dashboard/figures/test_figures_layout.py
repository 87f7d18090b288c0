"""Figures read at 1024 x 768 and at 1920 x 1080 (issue 18 §3): log axes label decades or whole
values, titles fit the width of their graph, legends and colour bars clear the axis titles and
the mode bar, the regime strip labels eta on every panel and its lines in the legend."""

import numpy as np
import pytest

from core.analysis.labels import REGIMES
from dashboard import figures
from dashboard.figures.base import FULL_CHARS, HALF_CHARS, MODEBAR_CLEARANCE, RIGHT_AXIS_MARGIN, log_axis, whole_number

STRIP_COLUMNS = (
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
RNG = np.random.default_rng(0)


def strip(n: int = 6):
    etas = np.geomspace(0.01, 10, n)
    table = {k: RNG.uniform(0.1, 0.9, n) for k in STRIP_COLUMNS}
    table["final_loss"] = np.geomspace(0.05, 20, n)
    table["sharpness_over_2_eta"] = np.geomspace(0.01, 2, n)
    labels = ["stable", "stable", "edge", "edge", "chaotic", "diverged"][:n]
    return figures.regimes.regime_strip_figure(etas, table, labels, target_accuracy=0.9)


def every_figure() -> dict:
    """One of each builder's figures.base, on data spanning what the views show."""
    t = np.arange(301)
    eps = np.array([1e-14, 1e-10, 1e-6, 1e-2])
    d = eps[:, None, None] * np.exp(0.02 * t)[None, :, None] * RNG.uniform(1, 2, (1, 1, 4))
    loss = 1 + np.exp(-t / 50)
    etas, seeds = np.array([0.01, 0.1, 1.0, 10.0]), np.arange(4)
    grid = RNG.uniform(0.1, 5, (4, 4))
    eps14 = np.logspace(-14, -1, 14)
    moved, travelled = np.geomspace(1e-4, 2, 40), np.geomspace(1e-3, 5, 40)
    return {
        "distance": figures.distance.distance_figure(t, d[2], d[2].mean(axis=1), loss),
        "eps_panels": figures.eps.eps_panels_figure(t, eps, d, loss),
        "collapse": figures.eps.collapse_figure(t, eps, d.mean(axis=2) / eps[:, None]),
        "curvature": figures.dynamics.curvature_figure(t, loss, d[2].mean(axis=1), t[::50], np.full(7, 3.0), 1.0),
        "ftle_eps": figures.lyapunov.ftle_eps_figure(eps14, np.full(14, 0.3), np.full(14, 0.05), np.full(14, 9), 10),
        "displacement": figures.weights.displacement_figure(moved, travelled, list("a" * 40)),
        "ablation": figures.weights.ablation_heatmap(
            RNG.uniform(0.5, 1.5, (4, 10)), list("abcd"), list("0123456789"), "W"
        ),
        "acf": figures.dynamics.acf_figure(np.cos(np.arange(201) / 3), np.full(201, -0.1), np.full(201, 0.1)),
        "rates": figures.dynamics.expansion_histogram(RNG.normal(0, 1e-3, 500), RNG.random(500) < 0.2),
        "strip": strip(),
        "orbit": figures.maps.orbit_figure(etas, RNG.uniform(0.05, 20, (4, 30))),
        "eta_eps": figures.maps.map_heatmap("eta-eps", etas, eps, grid, grid / 5, np.ones((4, 4), bool)),
        "eta_seed": figures.maps.map_heatmap("eta-seed", etas, seeds, grid, grid / 5, np.ones((4, 4), bool)),
    }


FIGURES = every_figure()


def log_axes(fig) -> dict:
    layout = fig.layout.to_plotly_json()
    return {k: v for k, v in layout.items() if k[1:5] == "axis" and v.get("type") == "log"}


def tick_value(text: str) -> float:
    """'5×10<sup>−7</sup>' or '0.2' back to a number."""
    text = text.replace("\u2212", "-").replace("</sup>", "")
    if "10<sup>" not in text:
        return float(text)
    mantissa, _, exponent = text.rpartition("10<sup>")
    return float(mantissa.rstrip("×") or 1) * 10.0 ** int(exponent)


# ---- log axes ---------------------------------------------------------------------------------
def test_a_log_axis_over_two_decades_or_more_labels_the_decades_alone():
    axis = log_axis(np.geomspace(1e-4, 2, 50))
    assert axis["type"] == "log" and axis["exponentformat"] == "power"  # 10⁻⁴, not "100µ"
    assert axis["minorloglabels"] == "none"  # ticks at 2 and 5 stay, unlabelled: no bare "2" or "5"
    assert axis["tickmode"] == "auto" and axis["tickvals"] is None


# the 1-2-5 multiples of the powers of ten between lo and hi, ends included
@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (0.15, 2.5, [0.2, 0.5, 1, 2]),
        (3e-9, 5e-8, [5e-9, 1e-8, 2e-8, 5e-8]),
        (0.02, 0.9, [0.02, 0.05, 0.1, 0.2, 0.5]),
        (40, 2000, [50, 100, 200, 500, 1000, 2000]),
    ],
)
def test_a_log_axis_under_two_decades_writes_each_tick_whole(lo, hi, ticks):
    axis = log_axis([lo, hi])
    assert axis["tickmode"] == "array"
    assert axis["tickvals"] == pytest.approx(ticks, rel=1e-12)
    assert [tick_value(t) for t in axis["ticktext"]] == pytest.approx(axis["tickvals"])  # "2" means 2
    assert axis["ticktext"] == [whole_number(t) for t in axis["tickvals"]]


def test_tick_labels_of_a_small_span_are_written_out():
    assert log_axis([3e-9, 5e-8])["ticktext"] == [
        "5×10<sup>\u22129</sup>",
        "10<sup>\u22128</sup>",
        "2×10<sup>\u22128</sup>",
        "5×10<sup>\u22128</sup>",
    ]
    assert log_axis([0.15, 2.5])["ticktext"] == ["0.2", "0.5", "1", "2"]


def test_a_log_axis_within_a_fraction_of_a_decade_keeps_plotlys_whole_ticks():
    axis = log_axis([3.2e-13, 4.6e-13, np.nan, -1.0, 0.0])  # non-finite and non-positive ignored
    assert axis["tickmode"] == "auto" and axis["minorloglabels"] == "none"


def test_whole_numbers_are_plain_in_the_middle_and_powers_of_ten_at_the_ends():
    assert [whole_number(v) for v in (0.2, 1.0, 50.0, 5000.0)] == ["0.2", "1", "50", "5000"]
    assert whole_number(5e-7) == "5×10<sup>\u22127</sup>" and whole_number(1e-5) == "10<sup>\u22125</sup>"
    assert whole_number(2e5) == "2×10<sup>5</sup>"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_log_axis_of_every_figure_labels_no_bare_minor_digits(name):
    for key, axis in log_axes(FIGURES[name]).items():
        assert axis.get("minorloglabels") == "none", (name, key)
        assert axis.get("exponentformat") == "power", (name, key)


def test_the_views_log_axes_are_all_there():
    """The figures with log axes: a builder that drops log_axis fails the test above silently."""
    counts = {name: len(log_axes(fig)) for name, fig in FIGURES.items()}
    assert counts["distance"] == 1 and counts["eps_panels"] == 4 and counts["displacement"] == 2
    assert counts["strip"] == 5 + 2 and counts["orbit"] == 2 and counts["eta_eps"] == 2 and counts["eta_seed"] == 1
    assert counts["ftle_eps"] == 1 and counts["collapse"] == 1 and counts["curvature"] == 1


def test_a_live_update_that_widens_the_span_leaves_no_stale_ticks():
    t = np.arange(200)
    narrow = np.exp(np.linspace(-18, -16, 200))[:, None] * np.ones((1, 3))  # 0.9 decades: ticks written out
    fig = figures.distance.distance_figure(t, narrow, narrow.mean(axis=1), np.ones(200))
    assert fig.layout.yaxis.tickmode == "array"
    wide = np.exp(np.linspace(-18, -2, 200))[:, None] * np.ones((1, 3))
    figures.distance.update_distance_figure(fig, t, wide, wide.mean(axis=1), np.ones(200))
    assert fig.layout.yaxis.tickmode == "auto" and fig.layout.yaxis.tickvals is None


# ---- titles, legends, the mode bar --------------------------------------------------------------
HALF_WIDTH = ("displacement", "ablation", "acf", "rates")  # two graphs a row in their views


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_titles_fit_their_graph_and_the_top_margin_holds_every_line(name):
    fig = FIGURES[name]
    lines = fig.layout.title.text.split("<br>")
    assert max(map(len, lines)) <= (HALF_CHARS if name in HALF_WIDTH else FULL_CHARS)
    assert fig.layout.margin.t >= figures.base.TITLE_TOP_PX + figures.base.TITLE_LINE_PX * len(lines)
    assert fig.layout.title.yref == "container" and fig.layout.title.yanchor == "top"
    shift = figures.base.MULTILINE_TITLE_SHIFT_PX if len(lines) > 1 else 0  # Plotly lifts a title of 2+ lines
    assert fig.layout.title.pad.t == figures.base.TITLE_TOP_PX + shift


def test_a_long_title_in_a_half_width_graph_is_wrapped_and_nothing_is_lost():
    fig = FIGURES["displacement"]
    text = fig.layout.title.text
    assert "<br>" in text and text.replace("<br>", " ") == "How far each weight travelled vs where it ended"
    one_line = figures.weights.norm_figure(np.arange(3), np.ones(3))
    assert fig.layout.margin.t == one_line.layout.margin.t + figures.base.TITLE_LINE_PX


@pytest.mark.parametrize("name", ["distance", "eps_panels", "acf", "rates", "ftle_eps"])
def test_legends_sit_at_the_foot_of_the_figure_below_the_axis_titles(name):
    legend = FIGURES[name].layout.legend
    assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom")


@pytest.mark.parametrize("name", ["distance", "ftle_eps", "eps_panels", "strip"])
def test_a_right_hand_axis_leaves_the_mode_bar_its_strip(name):
    assert FIGURES[name].layout.margin.r >= RIGHT_AXIS_MARGIN


@pytest.mark.parametrize("name", ["collapse", "eta_eps", "eta_seed"])
def test_a_colour_bar_is_slim_titled_along_its_length_and_clear_of_the_mode_bar(name):
    fig = FIGURES[name]
    bars = [t.marker.colorbar if t.type == "scatter" else t.colorbar for t in fig.data if t.type != "scatter"]
    bars += [t.marker.colorbar for t in fig.data if t.type == "scatter" and t.marker.showscale]
    bars = [b for b in bars if b.title.text]  # the map's white layer under computed cells has none
    assert len(bars) == 1 and bars[0].title.side == "right"  # along the bar: a title on top ran under the mode bar
    assert fig.layout.margin.r >= 110 + MODEBAR_CLEARANCE  # slim bar, ticks, rotated title, padding


def test_figures_without_anything_on_the_right_keep_the_narrow_margin():
    assert FIGURES["displacement"].layout.margin.r == figures.base.MARGIN["r"]


# ---- the regime strip ---------------------------------------------------------------------------
def test_every_panel_of_the_strip_labels_eta():
    layout = strip().layout.to_plotly_json()
    x_axes = [k for k in layout if k.startswith("xaxis")]
    assert len(x_axes) == 5 and all(layout[k]["showticklabels"] for k in x_axes)
    assert all(layout[k]["minorloglabels"] == "none" for k in x_axes)
    assert [layout[k].get("matches") for k in sorted(x_axes)] == ["x5"] * 4 + [None]  # still one eta axis


def test_the_strips_lines_are_in_its_legend_accuracy_included():
    fig = strip()
    shown = [t.name for t in fig.data if t.showlegend and t.legend in (None, "legend")]
    assert shown == ["FTLE mean (95% CI)", "FTLE fits kept", "final loss", "train accuracy", "test accuracy"]


def test_the_regime_legend_is_drawn_once_at_the_foot_of_the_strip_and_apart_from_the_lines():
    fig = strip()
    regimes = [t for t in fig.data if t.legend == "legend2"]
    assert len(regimes) == len(REGIMES) and all(t.x == (None,) for t in regimes)
    assert all(max(map(len, t.name.split("<br>"))) <= figures.regimes.REGIME_CHARS for t in regimes)
    lines, key = fig.layout.legend, fig.layout.legend2
    assert (key.yref, key.y, key.yanchor, key.orientation) == ("container", 0, "bottom", "v")
    assert lines.yref == "container" and lines.yanchor == "top" and lines.y > 0.9  # under the title
    assert (
        fig.layout.margin.t >= figures.base.TITLE_TOP_PX + figures.base.TITLE_LINE_PX + figures.regimes.LINE_LEGEND_PX
    )
    assert fig.layout.height == figures.regimes.STRIP_HEIGHT


@pytest.mark.parametrize("name", ["orbit", "eta_eps", "eta_seed"])
def test_figures_without_regime_colours_carry_no_regime_legend(name):
    fig = FIGURES[name]
    assert not [t for t in fig.data if t.legend == "legend2"] and "legend2" not in fig.layout.to_plotly_json()


# ---- the other figures --------------------------------------------------------------------------
def test_the_eps_panels_are_two_a_row_with_the_loss_labelled_on_the_right_column_only():
    fig = FIGURES["eps_panels"]
    layout = fig.layout.to_plotly_json()
    loss_axes = {t.yaxis for t in fig.data if t.name == "training loss"}
    assert len(loss_axes) == 4
    in_order = sorted(loss_axes, key=lambda a: int(a[1:]))
    labelled = [layout[a.replace("y", "yaxis")].get("showticklabels") for a in in_order]
    assert labelled == [False, True, False, True]
    domains = {tuple(layout[k]["domain"]) for k in layout if k.startswith("xaxis")}
    assert len(domains) == 2  # two columns
    assert sum(t.showlegend is not False for t in fig.data) == 3  # copies, mean, loss: once


def test_a_seed_map_ticks_each_seed_once():
    y = FIGURES["eta_seed"].layout.yaxis
    assert (y.tickmode, y.tick0, y.dtick, y.tickformat) == ("linear", 0, 1, "d")  # halves wrote "1, 1, 2, 2"
    ones = np.ones((2, 40))
    many = figures.maps.map_heatmap("eta-seed", [0.1, 1.0], np.arange(40), ones, ones, ones.astype(bool))
    assert many.layout.yaxis.dtick == 4  # at most 10 labels


def test_ablation_maps_label_every_row_and_column_as_a_name():
    fig = figures.weights.ablation_heatmap(np.ones((2, 10)), ["h0", "h1"], [str(c) for c in range(10)], "W2")
    assert fig.layout.xaxis.type == "category" and fig.layout.yaxis.type == "category"  # "0".."9" are classes
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.xaxis.tickangle == -45


# ---- figures as tall as the graphs that hold them -------------------------------------------------
def graph_height(layout, graph_id: str) -> int:
    """The px height a view's layout gives the graph ``graph_id``."""

    def walk(node):
        if getattr(node, "id", None) == graph_id:
            return node
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list | tuple) else [children] if children else []:
            found = walk(child)
            if found is not None:
                return found
        return None

    graph = next(g for g in map(walk, layout) if g is not None)
    height = (graph.style or {}).get("height")
    return None if height is None else int(height.removesuffix("px"))


def test_the_regimes_graph_takes_each_figures_own_height():
    """A fixed 1,050 px graph left ~450 px empty under the 600-650 px orbit diagram and maps:
    the graph has no height of its own, and each figure sets one (checked in Chromium too)."""
    from dashboard.page import ids
    from dashboard.views import regimes

    assert graph_height(regimes.layout(), ids.MAP_GRAPH) is None
    assert figures.regimes.STRIP_HEIGHT == 1050


def test_forty_digits_fit_the_data_views_graph():
    from dashboard.page import ids
    from dashboard.views import data

    images = RNG.random((40, 64))
    fig = figures.dynamics.digits_grid_figure(images, np.zeros(40, int), np.zeros(40, int))
    assert fig.layout.height <= graph_height(data.layout(), ids.DATA_GRAPH)  # 95 px a row cut the fifth off
