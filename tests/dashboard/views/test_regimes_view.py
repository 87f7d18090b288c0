"""The Regimes view as plain functions: its job (live partial maps, refusals, zoom), the click
that opens a run, and the digits grid of the Data view."""

import numpy as np
import plotly.graph_objects as go
import pytest
from dash import no_update

from core.config import RunConfig
from core.experiments.regimes import run_sweep
from dashboard.jobs import compute, flow, plans
from dashboard.jobs.runner import REPORT_PAUSE
from dashboard.state import rules
from dashboard.views import data, map_zoom, regimes

VALUES = {**rules.run_values(rules.default_values()), "steps": 150}
MAPS = {"map": "eta", "eta_min": 0.01, "eta_max": 5.0, "eta_points": 4, "inits": 2, "map_steps": 150}


def _request(extra, values=VALUES, token="cd" * 16):
    return {"kind": "map", "values": values, "extra": extra, "token": token}


class Progress:
    def __init__(self):
        self.updates = []

    def __call__(self, update):
        self.updates.append(update)


def test_a_strip_map_fills_in_live_and_finishes_with_its_regimes(store, plotted):
    progress = Progress()
    sent, finished, label, message = regimes.map_job(store, _request(MAPS), progress)
    figure = go.Figure(sent)  # sent as a plain dict
    assert message == "" and label.startswith("4 learning rates · done in ")
    assert finished["kind"] == "map" and finished["extra"] == MAPS and finished["signature"]
    assert figure.layout.xaxis.type == "log" and "1-D strip" in figure.layout.title.text
    shown = flow.record_for(store, "map", finished)
    lines = {t["name"]: t for t in sent["data"] if "name" in t}
    for name, column in [
        ("final loss", "final_loss"),
        ("test accuracy", "test_accuracy"),
        ("FTLE fits kept", "ftle_kept_fraction"),
    ]:
        np.testing.assert_array_equal(plotted(lines[name]["x"]), shown.etas)
        np.testing.assert_array_equal(plotted(lines[name]["y"]), shown.table[column])
    bands = [s.name for s in figure.layout.shapes if s.type == "rect"]
    merged = [r for i, r in enumerate(shown.regimes) if r is not None and (i == 0 or r != shown.regimes[i - 1])]
    assert bands == merged and bands, "one band per run of equal regimes"
    live = [fig for text, fig in progress.updates if fig is not no_update]
    assert live and all("cells" in text for text, _ in progress.updates)
    # the record behind it equals the core's sweep of the same settings
    record = flow.record_for(store, "map", finished)
    sweep = run_sweep(plans.map_config(VALUES, MAPS), record.etas, 2, workers=1)
    np.testing.assert_array_equal(record.table["final_loss"], sweep.summary()["final_loss"].to_numpy())
    assert record.regimes == tuple(sweep.summary()["regime"])


def test_a_2d_map_and_a_zoom_into_its_box(store, plotted):
    maps = {**MAPS, "map": "eta-seed", "inits": 3}
    figure, finished, _, message = regimes.map_job(store, _request(maps), Progress())
    assert message == "" and figure["data"][1]["type"] == "heatmap"
    coarse = flow.record_for(store, "map", finished)
    assert coarse.done.all() and list(coarse.ys) == [0, 1, 2]
    # (seeds, etas): each cell coloured by log10 of its final loss
    np.testing.assert_allclose(plotted(figure["data"][1]["z"]), np.log10(coarse.value.T), rtol=1e-12)
    values, extra = map_zoom.zoom_request({"range": {"x": [0.05, 5.0], "y": [0.5, 2.5]}}, finished)
    assert extra["zoom"] == [0.05, 5.0, 1.0, 2.0]  # the seed axis zooms by whole seeds
    figure, zoomed, _, message = regimes.map_job(store, _request(extra, values), Progress())
    fine = flow.record_for(store, "map", zoomed)
    assert message == "" and list(fine.ys) == [1, 2] and fine.etas.size > 3
    # what the zoom covers (coarse grid 0.01, 0.0794, 0.63, 5 refined x4 from 0.0794): its
    # title and the line under the map's settings say it; Zoom out asks for the coarse map
    covers = "η 0.0794–5 (9 points) × seeds 1–2"
    assert map_zoom.zoom_text("eta-seed", fine.etas, fine.ys) == covers
    assert figure["layout"]["title"]["text"].replace("<br>", " ").endswith(f"zoomed into {covers}")  # wrapped
    assert covers in map_zoom.zoom_note(zoomed) and "map of η 0.01–5 set above" in map_zoom.zoom_note(zoomed)
    assert map_zoom.zoom_note(finished) == ""
    assert map_zoom.zoom_out_request(zoomed) == (values, maps)
    with pytest.raises(ValueError, match="not a zoom"):
        map_zoom.zoom_out_request(finished)
    for i, eta in enumerate(fine.etas):  # the coarse grid's points keep their values, bit for bit
        match = np.flatnonzero(coarse.etas == eta)
        if match.size:
            np.testing.assert_array_equal(fine.value[i], coarse.value[match[0], 1:3])


@pytest.mark.parametrize(
    ("y_span", "seeds"),
    [([0.6, 2.4], [1.0, 2.0]), ([1.2, 1.4], [1.0, 1.0]), ([1.6, 1.9], [2.0, 2.0]), ([-3.0, 9.0], [-3.0, 9.0])],
)
def test_a_box_on_a_seed_axis_zooms_to_whole_seeds(y_span, seeds):
    finished = {"kind": "map", "values": VALUES, "extra": {**MAPS, "map": "eta-seed"}}
    assert map_zoom.zoom_request({"range": {"x": [0.1, 1.0], "y": y_span}}, finished)[1]["zoom"][2:] == seeds


def test_a_zoom_box_is_kept_to_four_significant_digits():
    finished = {"kind": "map", "values": VALUES, "extra": MAPS}
    box = {"range": {"x2": [0.123456789, 2.00000000001], "y2": [0.3, 0.7]}}  # panel 2 of the strip
    assert map_zoom.zoom_request(box, finished)[1]["zoom"] == [0.1235, 2.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({**MAPS, "eta_min": 5.0, "eta_max": 1.0}, "eta_min must be below eta_max"),
        ({**MAPS, "map": "spiral"}, "map must be one of eta, orbit, eta-eps, eta-seed"),
        ({**MAPS, "eta_points": 500}, "eta_points must be a whole number from 2 to 60"),
        ({**MAPS, "eta_points": 60, "inits": 50, "map_steps": 5000}, "the limit is 60 s"),
        ({**MAPS, "zoom": [5, 1, 0, 1]}, "the zoom box must span learning rates from low to high"),
        ({**MAPS, "zoom": "everything"}, "a zoom box must be [eta_lo, eta_hi, y_lo, y_hi]"),
    ],
)
def test_bad_or_too_large_maps_are_refused_before_any_training(store, monkeypatch, extra, message):
    monkeypatch.setattr(compute, "regime_map", lambda *_: pytest.fail("a refused map must not train"))
    figure, finished, label, text = regimes.map_job(store, _request(extra), Progress())
    assert figure is no_update and text.startswith("Refused: ") and message in text, text


def test_a_click_opens_the_run_of_that_point():
    finished = {"kind": "map", "values": {**VALUES, "steps": 5000}, "extra": {**MAPS, "map": "eta-eps"}}
    etas = plans.map_grids(MAPS, None, 0)[0]
    click = {"points": [{"customdata": [float(etas[2]) * (1 + 1e-7), 1e-6, 0.3, 0.5]}]}
    values = map_zoom.clicked_run(click, finished)
    assert values["eta"] == etas[2] and values["eps"] == 1e-6 and values["seed"] == 0
    assert values["steps"] == 150  # the map's iterations, not the sidebar's
    seeds = {"kind": "map", "values": {**VALUES, "seed": 4}, "extra": {**MAPS, "map": "eta-seed"}}
    assert map_zoom.clicked_run({"points": [{"customdata": [float(etas[0]), 6.0]}]}, seeds)["seed"] == 6
    typed = {"points": [{"customdata": {"0": float(etas[1]), "1": 5, "2": 0.1, "3": 0.9}}]}  # a typed array
    assert map_zoom.clicked_run(typed, seeds)["seed"] == 5
    strip = {"kind": "map", "values": VALUES, "extra": MAPS}
    assert map_zoom.clicked_run({"points": [{"x": float(np.float32(etas[3]))}]}, strip)["eta"] == etas[3]
    with pytest.raises(ValueError):
        map_zoom.clicked_run({"points": []}, finished)


def test_digits_show_as_images_with_the_mistakes_first():
    record = compute.stability(RunConfig.for_dataset("digits", n_steps=40, n_perturbations=1, learning_rate=1.0))
    digits = compute.data_for(record.config)
    fig, text = data.data_view(record, digits, "2", "3")
    n_train = len(digits.y_train)
    predicted = record.predictions[n_train:]
    wrong = int((predicted != digits.y_test).sum())
    train = np.mean(record.predictions[:n_train] == digits.y_train)
    test = np.mean(predicted == digits.y_test)
    assert text == (
        f"Trained network: {train:.1%} of the {n_train} training images and {test:.1%} of the "
        f"{len(digits.y_test)} test images right; {wrong} test images wrong, shown first (framed in red)."
    )
    title = fig.layout.title.text.replace("<br>", " ")
    assert title == f"40 digits: label → prediction, {min(wrong, 40)} wrong (red)"  # 40 of the 359 test images
    heat, captions = fig.data
    assert heat.type == "heatmap"
    order = np.r_[np.flatnonzero(predicted != digits.y_test), np.flatnonzero(predicted == digits.y_test)][:40]
    assert list(captions.text) == [f"{digits.y_test[i]} → {predicted[i]}" for i in order]  # the mistakes first


def test_a_finished_map_keeps_its_figure_for_a_replay(store):
    figure, finished, _, _ = regimes.map_job(store, _request(MAPS), Progress())
    plan = flow.plan_of(store, "map", finished)
    assert regimes.replay(store, plan.key) == figure  # stored as the page received it
    assert regimes.replay(store, "map:v0:nothing") is None


def test_a_zoom_shows_the_coarse_map_until_its_cells_are_replaced(store):
    import dataclasses

    maps = {**MAPS, "map": "eta-seed", "inits": 3}
    _, finished, _, _ = regimes.map_job(store, _request(maps), Progress())
    coarse = flow.record_for(store, "map", finished)
    values, extra = map_zoom.zoom_request({"range": {"x": [0.05, 5.0], "y": [0.5, 2.5]}}, finished)
    assert regimes._coarse_record(store, _request(extra, values)).etas.tolist() == coarse.etas.tolist()
    _, zoomed, _, _ = regimes.map_job(store, _request(extra, values), Progress())
    fine = flow.record_for(store, "map", zoomed)
    pending = dataclasses.replace(fine, done=np.zeros_like(fine.done), value=np.full_like(fine.value, np.nan))
    shown = map_zoom.with_coarse(pending, coarse)
    assert shown.done.all()  # every cell has a coarse value to show
    near = np.abs(np.log(fine.etas)[:, None] - np.log(coarse.etas)[None, :]).argmin(axis=1)
    np.testing.assert_array_equal(shown.value, coarse.value[near][:, 1:3])  # seeds 1 and 2
    half = dataclasses.replace(fine, done=np.arange(fine.etas.size)[:, None] < 2 + 0 * fine.value)
    mixed = map_zoom.with_coarse(half, coarse)
    np.testing.assert_array_equal(mixed.value[:2], fine.value[:2])  # computed cells are kept


def test_a_strip_zoom_shows_the_coarse_strip_until_replaced(store):
    import dataclasses

    _, finished, _, _ = regimes.map_job(store, _request(MAPS), Progress())
    coarse = flow.record_for(store, "map", finished)
    # a span drawn on the strip's third panel arrives as "x3"/"y5" (each panel has its own axes)
    values, extra = map_zoom.zoom_request({"range": {"x3": [2.0, 0.05], "y5": [0, 1]}}, finished)
    assert extra["zoom"][:2] == [0.05, 2.0]
    _, zoomed, _, message = regimes.map_job(store, _request(extra, values), Progress())
    fine = flow.record_for(store, "map", zoomed)
    assert message == "" and fine.etas.size > 4
    blank = {k: np.full_like(v, np.nan) for k, v in fine.table.items()}
    shown = map_zoom.with_coarse(dataclasses.replace(fine, table=blank, regimes=(None,) * fine.etas.size), coarse)
    near = np.abs(np.log(fine.etas)[:, None] - np.log(coarse.etas)[None, :]).argmin(axis=1)
    np.testing.assert_array_equal(shown.table["final_loss"], coarse.table["final_loss"][near])
    assert shown.regimes == tuple(coarse.regimes[i] for i in near)


@pytest.mark.parametrize("kind", ["eta", "orbit", "eta-eps", "eta-seed"])
def test_every_map_kind_runs_at_its_defaults_within_the_limit(store, kind):
    """The defect: Run map with the defaults (or /?view=regimes) was refused, "~156 s": the map
    took the sidebar's 5,000 iterations. Priced at the rate the tests assume (200k/s)."""
    request = {"kind": "map", "values": rules.run_values(rules.default_values())}
    plan = plans.plan("map", request["values"], {**rules.default_map_values(), "map": kind}, store.limits, 2)
    assert plan.key.startswith("map:")


def test_a_map_click_puts_a_readable_eta_in_the_box_and_runs_that_point():
    """The defect: a click put 0.2848035868435799 in the η box. The map's own grid is now
    written with 3 significant digits (more only where points would merge), so the box shows
    the exact point the map computed."""
    maps = {**MAPS, "eta_min": 0.01, "eta_max": 10.0, "eta_points": 12}
    etas = plans.map_grids(maps, None, 0)[0]
    assert [float(f"{e:.3g}") for e in etas] == etas.tolist()  # 3 digits say each exactly
    strip = {"kind": "map", "values": VALUES, "extra": maps}
    values = map_zoom.clicked_run({"points": [{"x": float(np.float32(etas[7]))}]}, strip)
    assert values["eta"] == etas[7] and len(repr(float(values["eta"]))) <= 5
    dense = plans.readable(np.geomspace(1.0, 1.01, 30))  # points 3 digits would merge
    assert np.all(np.diff(dense) > 0) and dense[0] == 1.0
    zoomed = plans.map_grids(maps, [0.3, 3.0, 0, 1], 0)[0]
    assert set(etas[(etas >= 0.3) & (etas <= 3.0)]) <= set(zoomed)  # the coarse points, bit for bit


def test_the_time_left_starts_from_the_models_estimate_and_ends_on_the_jobs_own_pace():
    """The defect: "~261 s left" after the first cells of a map that was done in 77 s: the
    first cells also carry the start of the worker processes, and a naive extrapolation from
    them starts 2-3x high."""

    def left(label):
        return float(label.split("~")[1].split(" s left")[0])

    model_left = 77.0 * 11 / 12
    early = regimes.progress_label(1, 12, 20.0, 77.0)  # a slow first cell: naive 220 s
    assert early.startswith("1 of 12 cells · 20.0 s") and model_left < left(early) < 1.25 * model_left
    assert left(regimes.progress_label(1, 12, 20.0)) == 220.0  # without an estimate: the naive one
    assert left(regimes.progress_label(11, 12, 140.0, 77.0)) == pytest.approx(140 / 11, rel=0.1)  # 2x slower
    assert left(regimes.progress_label(6, 12, 38.5, 77.0)) == pytest.approx(38.5, abs=1)  # on schedule
    assert "left" not in regimes.progress_label(12, 12, 70.0, 77.0) + regimes.progress_label(0, 12, 1.0, 77.0)


def test_a_map_over_the_limit_says_how_many_networks_fit(store):
    """A digits strip at the view's defaults is refused with the number of networks that fits
    (priced by the same model the CLI uses), and that many are accepted."""
    import re

    values = {**VALUES, "dataset": "digits", "hidden": 64, "activation": "tanh"}
    maps = {**MAPS, "eta_points": 12, "inits": 20, "map_steps": 300}
    with pytest.raises(ValueError) as info:
        plans.plan("map", values, maps, store.limits, 2)
    fits = int(re.search(r"use at most (\d+) networks", str(info.value)).group(1))
    assert 1 <= fits < 20
    assert plans.plan("map", values, {**maps, "inits": fits}, store.limits, 2).key.startswith("map:")
    with pytest.raises(ValueError, match="the limit is 60 s"):
        plans.plan("map", values, {**maps, "inits": fits + 1}, store.limits, 2)


def test_a_map_in_the_app_pays_for_its_live_figures(monkeypatch):
    """The live figures are drawn in the job's own process, at most a quarter of a core (a slow
    figure is followed by a longer pause: REPORT_PAUSE); the FTLE fits of the partial results
    are each cell's once, the fits the core's estimate counts. On two cores with two workers
    that process slows them; the CLI, with no page, pays nothing of it."""
    from core.experiments.map_kinds import MAP_KINDS

    assert plans.LIVE_SECONDS == regimes.LIVE_SECONDS
    monkeypatch.setattr(plans, "default_workers", lambda: 2)
    config = plans.map_config(VALUES, {**MAPS, "map_steps": 500})
    bare = MAP_KINDS["eta"].estimate(rules.network_of(config), 25, 0, 20, plans.MAP_COPIES, 500, 200_000.0, 2)
    strip = plans.map_cost("eta", config, 25, 0, 20, 200_000.0, 2)
    # the strip's figure, 0.15 s at the reference rate, then a pause of 0.5 s (3 x 0.15 is less)
    assert strip.seconds == pytest.approx(bare.seconds * (2 + 0.15 / 0.65) / 2, rel=1e-12)
    heatmap = plans.map_cost("eta-eps", config, 25, 6, 4, 200_000.0, 2)  # 0.03 s, then 0.5 s
    bare_heatmap = MAP_KINDS["eta-eps"].estimate(
        rules.network_of(config), 25, 6, 4, plans.MAP_COPIES, 500, 200_000.0, 2
    )
    assert heatmap.seconds == pytest.approx(bare_heatmap.seconds * (2 + 0.03 / 0.53) / 2, rel=1e-12)
    slow = plans.map_cost("eta", config, 25, 0, 20, 50_000.0, 2)  # a figure of 0.6 s here: then 3 x 0.6 s
    bare_slow = MAP_KINDS["eta"].estimate(rules.network_of(config), 25, 0, 20, plans.MAP_COPIES, 500, 50_000.0, 2)
    assert slow.seconds == pytest.approx(bare_slow.seconds * (2 + 1 / (1 + REPORT_PAUSE)) / 2, rel=1e-12)
    assert strip.training == bare.training and strip.trajectory_steps == bare.trajectory_steps
    one = plans.map_cost("eta", config, 25, 0, 20, 200_000.0, 1)  # one worker: the other core is free
    assert one.seconds == MAP_KINDS["eta"].estimate(rules.network_of(config), 25, 0, 20, 5, 500, 200_000.0, 1).seconds
