"""Control rules, the URL query and the presets."""

import dataclasses
import math

import pytest

from core.config import RunConfig
from core.engine.model import MLP
from core.engine.speed import DESCEND_STEP, KERNEL_ROW
from dashboard.state import rules
from dashboard.state.presets import PRESETS
from dashboard.state.query import DEFAULT_VIEW, VIEWS, parse_query, to_query


def test_query_round_trip_restores_every_control():
    values = {**rules.default_values(), "eta": 0.1000000000000001, "eps": 3e-12, "seed": 7, "normalized": True}
    parsed, view, messages = parse_query(to_query(values, "weights"))
    assert parsed == values and view == "weights" and messages == []


def test_a_zoomed_maps_link_carries_its_box():
    maps = {**rules.default_map_values(), "map": "eta-seed", "zoom": [0.0794, 5.0, 1.0, 2.0]}
    query = to_query(rules.default_values(), "regimes", maps)
    assert "&zoom=0.0794%2C5.0%2C1.0%2C2.0" in query
    parsed, view, messages = parse_query(query)
    assert view == "regimes" and messages == [] and parsed["zoom"] == maps["zoom"]
    assert "zoom" not in to_query(rules.default_values(), "regimes", {**maps, "zoom": None})


@pytest.mark.parametrize(
    "query, message",
    [
        ("?zoom=1,0.5,0,0", "zoom: the zoom box must span learning rates from low to high"),
        ("?zoom=0.5,2", "zoom: a zoom box must be [eta_lo, eta_hi, y_lo, y_hi]"),
        ("?zoom=0.5,2,x,0", "zoom: zoom box y_lo must be a number"),
        ("?eta=abc", "Learning rate η must be a number"),
        ("?eta=nan", "Learning rate η must be a number"),
        ("?eps=-1", "Perturbation ε must be a number"),
        ("?steps=1e12", "Iterations must be a whole number"),
        ("?perturbations=2.5", "Copies must be a whole number"),
        ("?activation=%3Cscript%3E", "Activation must be one of"),
        ("?view=secret", "view="),
        ("?frobnicate=1", "unknown link parameter"),
        ("?eta=" + "9" * 5000, "characters; the limit is"),
    ],
)
def test_bad_link_parameters_are_named_and_skipped(query, message):
    parsed, view, messages = parse_query(query)
    assert parsed == {} and view == DEFAULT_VIEW
    assert len(messages) == 1 and message in messages[0]
    assert len(messages[0]) < 300  # a huge value is shortened, not echoed


def test_good_parameters_survive_next_to_bad_ones():
    parsed, _, messages = parse_query("?eta=1&eps=garbage&seed=3")
    assert parsed == {"eta": 1.0, "seed": 3} and "eps" in messages[0]


def test_bad_typed_values_keep_the_last_valid_one():
    last = {**rules.default_values(), "eta": 0.5}
    values, errors = rules.check_values({**last, "eta": None, "steps": -3}, last)
    assert values["eta"] == 0.5 and values["steps"] == 5000
    assert "keeping 0.5" in errors["eta"] and "Iterations must be a whole number" in errors["steps"]


def test_typed_text_is_quoted_in_the_message():
    values, errors = rules.check_values({**rules.default_values(), "eta": "abc", "steps": "1e6"}, {})
    assert errors["eta"] == "Learning rate η must be a number in (0, 1000], got 'abc'; keeping 0.01"
    assert errors["steps"].startswith("Iterations must be a whole number from 1 to 50000, got '1e6'")
    assert rules.parse_control("eta", " 0.5 ") == 0.5 and rules.parse_control("steps", "3000") == 3000


def test_a_forged_last_valid_value_is_not_kept():
    values, errors = rules.check_values({"hidden": "x"}, {"hidden": 4096, "steps": 10**9})
    assert values["hidden"] == 10 and values["steps"] == 5000  # the defaults, not the page's claims
    assert "keeping 10" in errors["hidden"]


LIMITS = rules.Limits(rate=120_000.0)


def test_cost_is_estimated_in_seconds_from_the_measured_rate():
    """A run is priced by core.engine.speed's model at the measured rate: its rows and steps, the
    calls' own time, and what the Divergence view computes after (51 sharpness points of the
    default run, the ablation, the leading tangent exponent: 2 rows more in each step's call,
    and the carrying of the tangent vector)."""
    from core.engine.speed import ADAM_TANGENT_STEP, TANGENT_STEP, network_cost, run_estimate

    net = network_cost(MLP(), 120, 30)
    bare = run_estimate(net, 21, 5000, 120_000.0, sharpness_points=51, ablation=True)
    run = rules.with_tangent(bare, net, RunConfig(), 120_000.0)
    assert run.seconds == pytest.approx(bare.seconds + 5001 * (2 * net.row + TANGENT_STEP) / 120_000.0)
    assert run.trajectory_steps == 23 * 5000
    assert LIMITS.check(RunConfig()) == pytest.approx(run.seconds)
    # Adam: its preconditioned sharpness beside the sharpness (51 points more), and its tangent
    # carried on (theta, m, v): ADAM_TANGENT_STEP a step instead of TANGENT_STEP
    adam_bare = run_estimate(net, 21, 5000, 120_000.0, sharpness_points=2 * 51, ablation=True)
    adam = rules.with_tangent(adam_bare, net, RunConfig(optimizer="adam"), 120_000.0)
    assert adam.seconds == pytest.approx(adam_bare.seconds + 5001 * (2 * net.row + ADAM_TANGENT_STEP) / 120_000.0)
    assert LIMITS.check(RunConfig(optimizer="adam")) == pytest.approx(adam.seconds)
    assert 21 * 5000 * KERNEL_ROW / 120_000 < run.seconds < 2 * 21 * 5000 / 120_000
    assert rules.Limits(rate=240_000.0).check(RunConfig()) == pytest.approx(run.seconds / 2)  # twice as fast
    with pytest.raises(ValueError) as info:
        LIMITS.check(RunConfig(n_steps=50_000, n_perturbations=200, hidden=64))
    message = str(info.value)
    assert "this run is ~10,150,000 trajectory-steps of a 515-parameter network, ~" in message
    assert "s on this server (~" in message and "the limit is 60 s: use fewer iterations or copies" in message


def test_a_slower_server_refuses_sooner():
    with pytest.raises(ValueError, match="the limit is 60 s"):
        rules.Limits(rate=1_000.0).check(RunConfig())


@pytest.mark.parametrize(
    "raw, message",
    [
        ({**rules.default_values(), "eta": 1e6}, "Learning rate η must be a number in (0, 1000], got 1000000.0"),
        ({**rules.default_values(), "steps": 1_000_000}, "Iterations must be a whole number from 1 to 50000"),
        (
            {**rules.default_values(), "hidden": 2000},
            "Hidden units must be 1 to 4 hidden layers of 1 to 1024 units each (an integer, or one per layer), "
            "got 2000",
        ),
        ({**rules.default_values(), "seed": True}, "Seed must be a whole number"),
        ({**rules.default_values(), "save_every": 1}, "unknown settings ['save_every']"),
        ({"eta": 0.1}, "the run request has no ['eps', 'seed'"),
        ("eta=5", "must be a mapping of settings"),
        ({**rules.default_values(), "steps": 50_000, "perturbations": 200, "hidden": 64}, "the limit is 60 s"),
    ],
)
def test_admit_checks_every_value_a_page_sends(raw, message):
    with pytest.raises(ValueError) as info:
        rules.admit(raw, LIMITS)
    assert message in str(info.value)


def test_admit_accepts_what_the_controls_send():
    config = rules.admit({**rules.default_values(), "eta": "0.5", "steps": "300"}, LIMITS)
    assert config.learning_rate == 0.5 and config.n_steps == 300


def test_presets_are_valid_runs():
    assert set(PRESETS) == {"low", "edge", "chaotic", "regimes", "architectures", "digits", "orbital"}
    assert rules.map_values(PRESETS["regimes"].maps)["eta_points"] == 12
    for preset in PRESETS.values():
        values = {**rules.default_values(), **preset.values}
        for name, value in preset.values.items():
            assert rules.parse_control(name, value) == value
        config = rules.to_config(values)
        LIMITS.check(config)
        assert preset.view in VIEWS and preset.sentence
    assert math.isclose(rules.to_config({**rules.default_values(), **PRESETS["chaotic"].values}).learning_rate, 5)


def test_map_settings_have_rules_and_round_trip_through_the_url():
    maps = {"map": "eta-eps", "eta_min": 0.05, "eta_max": 5.0, "eta_points": 8, "inits": 4}
    query = to_query(rules.default_values(), "regimes", maps)
    assert "map=eta-eps" in query and "eta_points=8" in query and "dataset=iris" in query
    assert "map=" not in to_query(rules.default_values(), "divergence", maps)
    parsed, view, messages = parse_query(query)
    assert view == "regimes" and not messages and {k: parsed[k] for k in maps} == maps
    _, _, messages = parse_query("?view=regimes&map=spiral&eta_points=1&dataset=emnist")
    assert messages == [
        "link parameter map must be one of eta, orbit, eta-eps, eta-seed, eta-width, eta-depth, eta-l2, "
        "eta-momentum, eta-batch, got 'spiral'; ignored",
        "link parameter eta_points must be a whole number from 2 to 60, got '1'; ignored",
        "link parameter dataset: Data set must be one of iris, digits, wine, breast_cancer, mnist, got 'emnist'; "
        "ignored",
    ]
    with pytest.raises(ValueError, match="eta_min must be below eta_max, got 5 and 1"):
        rules.map_values({**rules.default_map_values(), "eta_min": 5, "eta_max": 1})
    with pytest.raises(ValueError, match="inits must be a whole number from 1 to 50, got 0"):
        rules.map_values({**rules.default_map_values(), "inits": 0})


def test_digits_runs_are_costed_by_their_own_engine_and_their_sharpness_points():
    """The view's digits run: its rows on the BLAS engine, and as many Lanczos sharpnesses as
    the record holds (counted: the saved steps, at most dashboard.jobs.compute.SHARPNESS_POINTS)."""
    from core.engine.speed import ABLATION_ROWS, TANGENT_STEP, network_cost, run_estimate
    from dashboard.jobs import compute

    config = RunConfig.for_dataset("digits", n_steps=40, n_perturbations=1, save_every=20)
    record = compute.stability(config)
    net = network_cost(MLP(64, 64, 10, "tanh"), 1438, 359)
    points = len(record.sharpness_steps)  # 0, 20, 40
    bare = run_estimate(net, 2, 40, 120_000.0).seconds
    extra = (points * net.sharpness + ABLATION_ROWS * net.row) / 120_000
    tangent = 41 * (2 * net.row + TANGENT_STEP) / 120_000  # 2 rows more a step, and the carrying
    assert points == 3 and LIMITS.check(config) == pytest.approx(bare + extra + tangent)
    long = RunConfig.for_dataset("digits", n_steps=3000, n_perturbations=1)  # 31 saved steps, 11 sharpnesses
    longer = dataclasses.replace(long, n_steps=3100)
    per_step = (LIMITS.check(longer) - LIMITS.check(long)) / 100
    assert per_step == pytest.approx((4 * net.row + DESCEND_STEP + TANGENT_STEP) / 120_000)  # no more sharpness points


def test_a_presets_sentence_stands_only_while_its_settings_do():
    """The defect: the sentence stayed after the seed changed and after Back to another run."""
    from dashboard.state.presets import matching_preset

    def shown(preset, **changed):
        values = {**rules.default_values(), **preset.values, **changed}
        maps = {**rules.default_map_values(), **(preset.maps or {})}
        return matching_preset(values, maps, preset.view)

    for preset in PRESETS.values():
        assert shown(preset) is preset
        assert shown(preset, seed=preset.values.get("seed", 0) + 1) is None
        assert shown(preset, steps=preset.values["steps"] + 1) is None
    regimes = PRESETS["regimes"]
    values = {**rules.default_values(), **regimes.values}
    assert matching_preset(values, {**rules.default_map_values(), **regimes.maps, "eta_points": 13}, "regimes") is None
    # Low and Orbital share their settings: the open view picks the sentence
    low = {**rules.default_values(), **PRESETS["low"].values}
    assert matching_preset(low, rules.default_map_values(), "orbital") is PRESETS["orbital"]
    assert matching_preset(low, rules.default_map_values(), "weights") is PRESETS["low"]
    assert matching_preset(low, rules.default_map_values(), "regimes") is None  # a map is on screen there
    shown = PRESETS["orbital"].sentence  # the one clicked stays while only the tab changes
    assert matching_preset(low, rules.default_map_values(), "divergence", shown, keep_shown=True) is PRESETS["orbital"]
    shown = PRESETS["low"].sentence  # a click on Orbital (its view opens) replaces Low's sentence
    assert matching_preset(low, rules.default_map_values(), "orbital", shown) is PRESETS["orbital"]


def test_an_empty_t0_perturbs_at_four_fifths_of_any_run():
    """The defect: t0 stayed 4000 after presets of 1,000 iterations, a red error on a link."""
    from dashboard.jobs.plans import orbital_t0

    assert orbital_t0("", 5000) == 4000 and orbital_t0(None, 1000) == 800 and orbital_t0(" ", 300) == 240
    assert orbital_t0("12", 300) == 12
    with pytest.raises(ValueError, match=r"below the iterations\) must be a whole number from 0 to 299"):
        orbital_t0("300", 300)


@pytest.mark.parametrize(
    ("dataset", "workers"),
    [("iris", 1), ("iris", 2), ("digits", 1), ("digits", 2)],
)
def test_a_refusals_numbers_add_up(dataset, workers):
    """The defect: "~156 s" for 15,085,000 steps at 48,389 per s (312 s: the two processes were
    not said), and 146 s for 67,200 digits steps at "48,389 per s" (the Iris rate). Now also the
    seconds besides the training (processes, calls, sharpness, fits) are said."""
    import re

    from core.experiments.map_kinds import MAP_KINDS

    limits = rules.Limits(rate=48_389.0, max_seconds=1.0)
    config = RunConfig.for_dataset(dataset, n_steps=2_000, n_perturbations=5)
    with pytest.raises(ValueError) as info:
        limits.allow(
            MAP_KINDS["eta"].estimate(rules.network_of(config), 12, 0, 4, 5, 2000, limits.rate, workers), "less"
        )
    text = str(info.value)
    number = r"([\d,.]+)"
    steps, seconds = re.search(rf"~{number} trajectory-steps of .* ~{number} s on this server", text).groups()
    rate, training, besides = re.search(
        rf"\(~{number} trajectory-steps/s.*: ~{number} s, and ~{number} s besides", text
    ).groups()
    processes = int(re.search(r"on each of (\d+) processes", text).group(1)) if workers > 1 else 1
    assert processes == workers
    as_number = lambda s: float(s.replace(",", ""))  # noqa: E731
    assert as_number(steps) / (as_number(rate) * processes) == pytest.approx(as_number(training), rel=0.02)
    assert as_number(training) + as_number(besides) == pytest.approx(as_number(seconds), rel=0.02)
