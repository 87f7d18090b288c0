"""The Regimes view's maps over eta and a setting (width, depth, L2, momentum, batch size) and
its value selector, as plain functions: the plan's key and cost, refusals naming the value and
the rule, the record and figure of the value on screen, zoom, clicks and the CSV."""

import dataclasses
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import no_update

from core.config import RunConfig
from core.experiments.map_kinds import MAP_KINDS
from core.experiments.maps import run_map
from dashboard.figures.map_kinds import map_figure
from dashboard.jobs import compute, flow, plans
from dashboard.state import rules
from dashboard.views import map_zoom, regimes

VALUES = {**rules.run_values(rules.default_values()), "steps": 150}
MAPS = {"map": "eta-width", "eta_min": 0.1, "eta_max": 3.0, "eta_points": 2, "inits": 1, "map_steps": 60}


def _request(extra, values=VALUES):
    return {"kind": "map", "values": values, "extra": extra, "token": "ab" * 16}


@pytest.fixture
def one_slot(monkeypatch):
    """The maps here train in this process: a setting map starts its workers once per setting
    value, which on a loaded machine outlasted the 30 s a page may stay quiet."""
    monkeypatch.setattr(plans, "default_workers", lambda: 1)


def _main_heatmap(figure):
    return next(t for t in figure["data"] if t["type"] == "heatmap" and t.get("name") != "computed")


def test_a_width_map_of_final_losses_is_drawn_from_its_own_record_and_exported(store, one_slot):
    extra = {**MAPS, "map_value": "loss", "map_axis": "3 12"}
    figure, finished, _, message = regimes.map_job(store, _request(extra), lambda _: None)
    assert message == "", message
    record = flow.record_for(store, "map", finished)
    assert record.value_kind == "loss" and record.value_name == "final_loss" and record.ys.tolist() == [3, 12]
    direct = run_map("eta-width", RunConfig(n_steps=60, n_perturbations=5), record.etas, [3, 12], value="loss")
    np.testing.assert_array_equal(record.value, direct.value)  # the map the core makes, bit for bit
    heatmap = _main_heatmap(figure)
    assert heatmap["name"] == "final loss" and "width (hidden units)" in str(figure["layout"]["yaxis"]["title"])
    assert figure["layout"]["meta"]["record"] == plans.plan("map", VALUES, extra, store.limits, 2).key
    table = pd.read_csv(io.StringIO(regimes.map_csv(record)))
    assert list(table.columns) == ["eta", "width", "final_loss", "test_accuracy", "diverged"] and len(table) == 4
    np.testing.assert_array_equal(table["final_loss"].to_numpy().reshape(2, 2), record.value)


def test_the_value_and_the_axis_are_part_of_the_key_and_a_default_map_keeps_its_key(store):
    keys = {
        plans.plan("map", VALUES, {**MAPS, **change}, store.limits, 2).key
        for change in ({}, {"map_value": "loss"}, {"map_value": "leading"}, {"map_axis": "4 8"})
    }
    assert len(keys) == 4
    seed_maps = {**MAPS, "map": "eta-seed"}
    old = plans.plan("map", VALUES, seed_maps, store.limits, 2).key  # a request from before the selector
    assert old == plans.plan("map", VALUES, {**seed_maps, "map_value": "default", "map_axis": ""}, store.limits, 2).key
    assert old.endswith(":None")  # its grid's words as they were


def test_each_setting_value_is_priced_with_its_own_network():
    config = plans.map_config(VALUES, rules.map_values(MAPS))
    narrow = plans.map_cost("eta-width", config, 10, 2, 4, 2e5, 1, ys=np.array([2, 3]))
    wide = plans.map_cost("eta-width", config, 10, 2, 4, 2e5, 1, ys=np.array([200, 300]))
    assert wide.seconds > 3 * narrow.seconds and wide.n_params > narrow.n_params
    loss = plans.map_cost("eta-width", config, 10, 2, 4, 2e5, 1, ys=np.array([2, 3]), value="loss")
    assert loss.trajectory_steps * 6 == narrow.trajectory_steps  # no copies without the FTLE


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"map_axis": "0 10"}, "width 0 is not a whole number of hidden units from 1 to 1024"),
        ({"map": "eta-depth", "map_axis": "2 7"}, "depth 7 is not a whole number of hidden layers from 1 to 4"),
        ({"map": "eta-l2", "map_axis": "0"}, "l2 0 is not a number in (0, 1000]"),
        ({"map": "eta-momentum", "map_axis": "0.5 1"}, "momentum 1 is not a number in [0, 1)"),
        ({"map": "eta-batch", "map_axis": "16 500"}, "batch_size 500 is not a whole number of rows from 1 to the 120"),
        ({"map_axis": "ten"}, "map_axis must be up to 12 numbers separated by spaces"),
        ({"map": "eta-eps", "map_value": "loss"}, "the eta-eps map's value must be one of default, ftle, leading"),
    ],
)
def test_bad_setting_values_are_refused_in_one_line_before_any_training(store, monkeypatch, extra, message):
    monkeypatch.setattr(MAP_KINDS[extra.get("map", "eta-width")], "run", lambda *_, **__: pytest.fail("trained"))
    figure, _, _, text = regimes.map_job(store, _request({**MAPS, **extra}), lambda _: None)
    assert figure is no_update and text.startswith("Refused: ") and message in text and "\n" not in text, text


def test_the_selector_offers_each_kind_the_values_it_can_show():
    offered = {k: [o["value"] for o in regimes.value_options(k) if not o["disabled"]] for k in MAP_KINDS}
    assert offered["eta-eps"] == ["default", "ftle", "leading"]
    assert offered["eta-seed"] == ["default", "leading", "loss", "steps"]
    assert offered["eta-depth"] == ["default", "ftle", "leading", "loss", "steps"]
    assert offered["eta"] == offered["orbit"] == ["default"]
    assert rules.map_values({**MAPS, "map": "eta", "map_value": "loss"})["map_value"] == "default"  # ignored


def test_a_click_opens_the_run_of_its_setting():
    etas = plans.map_grids(MAPS, None, 0)[0]

    def click(kind, y, values=VALUES):
        finished = {"kind": "map", "values": values, "extra": {**MAPS, "map": kind}}
        return map_zoom.clicked_run({"points": [{"customdata": [float(etas[1]), y, 0.1, 0.5]}]}, finished)

    assert click("eta-width", 7.0)["hidden"] == 7
    assert click("eta-width", 7.0, {**VALUES, "hidden": [10, 10]})["hidden"] == [7, 7]  # every layer, as the map
    assert click("eta-depth", 3.0, {**VALUES, "hidden": 6})["hidden"] == [6, 6, 6]
    opened = click("eta-momentum", 0.8)
    assert opened["optimizer"] == "momentum" and opened["momentum"] == 0.8 and opened["eta"] == etas[1]
    assert click("eta-momentum", 0.8, {**VALUES, "optimizer": "nesterov"})["optimizer"] == "nesterov"
    with pytest.raises(ValueError, match="no L2 control"):
        click("eta-l2", 0.01)


def test_a_box_on_a_width_map_zooms_to_whole_widths_and_keeps_the_coarse_points(store, one_slot):
    extra = {**MAPS, "map_value": "loss", "map_axis": "2 4 32"}
    _, finished, _, _ = regimes.map_job(store, _request(extra), lambda _: None)
    coarse = flow.record_for(store, "map", finished)
    values, zoom = map_zoom.zoom_request({"range": {"x": [0.1, 3.0], "y": [1.6, 4.7]}}, finished)
    assert zoom["zoom"][2:] == [2.0, 4.0]
    figure, zoomed, _, message = regimes.map_job(store, _request(zoom, values), lambda _: None)
    assert message == "", message
    fine = flow.record_for(store, "map", zoomed)
    assert fine.ys.tolist() == [2, 3, 4]  # 2..4 refined x4 in log (2, 2.38, 2.83, 3.36, 4), whole
    assert "× width 2–4 (3 values)" in figure["layout"]["title"]["text"].replace("<br>", " ")
    for j, y in enumerate(fine.ys):
        if y in coarse.ys:
            k = coarse.ys.tolist().index(y)
            np.testing.assert_array_equal(fine.value[[0, -1], j], coarse.value[:, k])


def test_a_momentum_map_on_gd_says_it_uses_heavy_ball_momentum():
    config = RunConfig(n_steps=40, n_perturbations=2)
    record = compute.map_record("eta-momentum", config, 1, run_map("eta-momentum", config, [1.0], [0.5]))
    figure = map_figure(record)
    assert isinstance(figure, go.Figure)
    assert "the optimizer is gd: the map uses heavy-ball momentum" in figure.layout.title.text.replace("<br>", " ")


def test_a_zoom_of_a_setting_map_borrows_the_nearest_coarse_values_until_computed():
    config = RunConfig(n_steps=40, n_perturbations=2)
    coarse = compute.map_record("eta-width", config, 1, run_map("eta-width", config, [0.1, 1.0], [2, 8], value="loss"))
    fine = compute.map_record(
        "eta-width", config, 1, run_map("eta-width", config, [0.1, 0.3, 1.0], [2, 3, 5, 8], value="loss")
    )
    empty = dataclasses.replace(fine, done=np.zeros_like(fine.done), value=np.full_like(fine.value, np.nan))
    shown = map_zoom.with_coarse(empty, coarse)
    # widths 3 and 5 borrow the nearest coarse width in log (2 and 8), eta 0.3 the nearest coarse eta (0.1)
    np.testing.assert_array_equal(shown.value[:, [0, 1, 2, 3]], coarse.value[np.ix_([0, 0, 1], [0, 0, 1, 1])])
    depth = compute.map_record("eta-depth", config, 1, run_map("eta-depth", config, [1.0], [1, 3], value="loss"))
    nan = np.full((1, 3), np.nan)
    deeper = dataclasses.replace(depth, ys=np.array([1, 2, 3]), done=np.zeros((1, 3), bool), value=nan, share=nan)
    borrowed = map_zoom.with_coarse(deeper, depth)
    assert borrowed.done.tolist() == [[True, False, True]]  # depth 2 was not on the coarse map: not borrowed


@pytest.mark.parametrize(("kind", "columns"), [("eta", ["eta", "final_loss"]), ("orbit", ["eta", "last", "loss"])])
def test_the_strip_and_the_orbit_diagram_export_their_points(kind, columns):
    config = RunConfig(n_steps=40, n_perturbations=2)
    record = compute.regime_map(config, kind, [0.1, 1.0], [], 1, None, 1)
    table = pd.read_csv(io.StringIO(regimes.map_csv(record)))
    assert set(columns) <= set(table.columns) and table["eta"].nunique() == 2
