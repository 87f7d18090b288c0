"""The map kinds are one registry: every kind of core.experiments.map_kinds has each of its
parts (grids, cost, run, files) and its page parts (dashboard.state.map_kinds: label, record,
zoom rules; dashboard.figures.map_kinds: figure), and the page's menu, the URL's rule, the
command line and the registry name the same kinds."""

import argparse

import numpy as np
import plotly.graph_objects as go
import pytest

from cli import build_parser
from core.config import RunConfig
from core.engine.speed import Estimate
from core.experiments.map_kinds import MAP_KINDS, SETTING_MAPS, CellShape, Map2D, SettingMap, map_kind
from core.experiments.maps import PLANES
from dashboard.figures.map_kinds import FIGURES, map_figure
from dashboard.figures.maps import MAP_TEXT, map_heatmap
from dashboard.jobs import compute, plans
from dashboard.page import ids
from dashboard.state import rules
from dashboard.state.map_kinds import MAP_VIEWS
from dashboard.views import regimes


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def _menu_values() -> list[str]:
    def find(component):
        if getattr(component, "id", None) == ids.MAP_KIND:
            return component
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children] if children is not None else []:
            found = find(child)
            if found is not None:
                return found
        return None

    menu = next(m for m in map(find, regimes.layout()) if m is not None)
    return [option["value"] for option in menu.options]


def test_the_page_the_url_the_command_line_and_the_registry_name_the_same_kinds():
    names = list(MAP_KINDS)
    settings = ["eta-width", "eta-depth", "eta-l2", "eta-momentum", "eta-batch"]
    assert names == ["eta", "orbit", "eta-eps", "eta-seed", *settings]  # the menu's order
    assert _menu_values() == names == list(MAP_VIEWS) and set(FIGURES) == set(names)
    for name in names:
        assert rules.MAP_RULES["map"].parse(name) == name
    with pytest.raises(ValueError, match="must be one of eta, orbit, eta-eps, eta-seed, eta-width"):
        rules.MAP_RULES["map"].parse("eta-x")
    commands = _subcommands()
    kind_option = next(a for a in commands["map"]._actions if "--kind" in a.option_strings)
    assert (
        list(kind_option.choices)
        == [n for n, k in MAP_KINDS.items() if k.command == "map"]
        == ["eta-eps", "eta-seed", *settings]
    )
    assert {kind.command for kind in MAP_KINDS.values()} <= set(commands)
    with pytest.raises(
        ValueError, match=f"map kind must be one of eta, orbit, eta-eps, eta-seed, {', '.join(settings)}; got 'x'"
    ):
        map_kind("x")


@pytest.mark.parametrize("name", list(MAP_KINDS))
def test_every_kind_has_each_part(name):
    kind, view = MAP_KINDS[name], MAP_VIEWS[name]
    assert kind.name == view.name == name and view.label and view.live_seconds > 0
    shape = kind.shape(3, 2, 4, 5)
    assert isinstance(shape, CellShape) and shape.cells > 0 and shape.rows > 0
    net = rules.network_of(RunConfig())
    estimate = kind.estimate(net, 3, 2, 4, 5, 100, 2e5, 2)
    assert isinstance(estimate, Estimate) and estimate.seconds > 0
    assert estimate.trajectory_steps == shape.cells * shape.rows * 100
    assert 1 <= kind.n_networks(4, 2) <= 4
    ys = kind.y_grid(seed=7, n_networks=3, eps=plans.MAP_EPS)
    assert ys.size in (0, 3, plans.MAP_EPS.size) or isinstance(kind, SettingMap)
    assert (ys.size > 0) == (kind.y_name is not None) == isinstance(kind, Map2D)
    if isinstance(kind, Map2D):  # a 2-D map's layout, columns and heatmap
        assert PLANES[name].y_name == kind.y_name and name in MAP_TEXT


@pytest.mark.parametrize("kind", SETTING_MAPS, ids=lambda kind: kind.name)
def test_a_setting_maps_axis_is_drawn_as_its_core_setting_says(kind):
    """The figure takes its axis from the core's Setting: log for a log setting, one tick per
    value on a linear whole-numbered one (depth), whole numbers in the hover; and the hover
    names what a click cannot do exactly when clicking a point refuses to open its run (l2)."""
    setting, view = kind.plane.setting, MAP_VIEWS[kind.name]
    ys = np.asarray(setting.default[1:4], dtype=np.float64)  # (3,) positive
    ones = np.ones((2, ys.size))
    fig = map_heatmap(kind.name, [0.1, 1.0], ys, ones, ones, ones.astype(bool))
    axis, hover = fig.layout.yaxis, fig.data[1].hovertemplate
    assert (axis.type == "log") == setting.log
    assert (axis.tickmode == "linear" and axis.dtick == 1) == (setting.integer and not setting.log)
    assert ("customdata[1]:.0f}" in hover) == setting.integer
    values = {"hidden": 10, "optimizer": "gd", "batch": 8}
    try:
        view.clicked([1.0, float(ys[0])], values)
        refused = ""
    except ValueError as exc:
        refused = str(exc)
    assert bool(refused) == bool(view.click_hint) == ("<br>click: " in hover)
    if refused:  # the hover and the refusal say the same
        assert f"click: {view.click_hint}" in hover and refused.startswith(view.click_hint.split(":")[0])


@pytest.mark.parametrize("name", list(MAP_KINDS))
def test_every_kind_runs_draws_zooms_and_writes_its_files(name):
    """A tiny map of each kind, end to end: the core runs it, the record and its figure come
    from it, a zoom's grids and text are made, and the command line's files are named."""
    kind, view = MAP_KINDS[name], MAP_VIEWS[name]
    config = RunConfig(n_steps=40, n_perturbations=2)
    etas = np.array([0.1, 1.0, 3.0])
    ys = kind.y_grid(seed=0, n_networks=2, eps=np.array([1e-8, 1e-6]))[:2]  # a setting map: two of its own
    record = compute.regime_map(config, name, etas, ys, 2, None, 1)
    assert record.kind == name and record.done.all()
    figure = map_figure(record, zoomed=True)
    assert isinstance(figure, go.Figure) and figure.data
    assert figure.layout.title.text.startswith(f"{view.label} · iris, 40 iterations · zoomed into η 0.1–3")
    fine_etas, fine_ys = kind.zoom_grids(
        etas, ys, (0.1, 1.0), (float(ys.min()), float(ys.max())) if ys.size else (0, 1), 2
    )
    assert fine_etas.tolist()[::2] == [0.1, 1.0] and set(ys.tolist()) <= set(fine_ys.tolist())  # coarse points kept
    assert view.zoom_text(fine_etas, fine_ys).startswith("η 0.1–1 (3 points)")
    outputs = kind.outputs(kind.run(config, etas, ys, 2, workers=1))
    assert outputs and all(n.endswith((".csv", ".npz")) for n in outputs)
