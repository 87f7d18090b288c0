"""Control rules, the URL query and the presets."""

import math

import pytest

from core.config import RunConfig
from dashboard import state


def test_query_round_trip_restores_every_control():
    values = {**state.default_values(), "eta": 0.1000000000000001, "eps": 3e-12, "seed": 7, "normalized": True}
    parsed, view, messages = state.parse_query(state.to_query(values, "weights"))
    assert parsed == values and view == "weights" and messages == []


@pytest.mark.parametrize(
    "query, message",
    [
        ("?eta=abc", "eta must be a number"),
        ("?eta=nan", "eta must be a number"),
        ("?eps=-1", "eps must be a number"),
        ("?steps=1e12", "steps must be a whole number"),
        ("?perturbations=2.5", "perturbations must be a whole number"),
        ("?activation=%3Cscript%3E", "activation must be one of"),
        ("?view=secret", "view="),
        ("?frobnicate=1", "unknown link parameter"),
        ("?eta=" + "9" * 5000, "characters; the limit is"),
    ],
)
def test_bad_link_parameters_are_named_and_skipped(query, message):
    parsed, view, messages = state.parse_query(query)
    assert parsed == {} and view == state.DEFAULT_VIEW
    assert len(messages) == 1 and message in messages[0]
    assert len(messages[0]) < 300  # a huge value is shortened, not echoed


def test_good_parameters_survive_next_to_bad_ones():
    parsed, _, messages = state.parse_query("?eta=1&eps=garbage&seed=3")
    assert parsed == {"eta": 1.0, "seed": 3} and "eps" in messages[0]


def test_bad_typed_values_keep_the_last_valid_one():
    last = {**state.default_values(), "eta": 0.5}
    values, errors = state.check_values({**last, "eta": None, "steps": -3}, last)
    assert values["eta"] == 0.5 and values["steps"] == 5000
    assert "keeping 0.5" in errors["eta"] and "steps must be a whole number" in errors["steps"]


def test_cost_limit_gives_an_estimate():
    state.check_cost(RunConfig())
    with pytest.raises(ValueError, match=r"~10,050,000 trajectory-steps, ~335 s; the limit is 3,000,000"):
        state.check_cost(RunConfig(n_steps=50_000, n_perturbations=200))


def test_presets_are_valid_runs():
    assert set(state.PRESETS) == {"low", "edge", "chaotic", "orbital"}
    for preset in state.PRESETS.values():
        values = {**state.default_values(), **preset.values}
        for name, value in preset.values.items():
            assert state.parse_control(name, value) == value
        config = state.to_config(values)
        state.check_cost(config)
        assert preset.view in state.VIEWS and preset.sentence
    assert math.isclose(state.to_config({**state.default_values(), **state.PRESETS["chaotic"].values}).learning_rate, 5)
