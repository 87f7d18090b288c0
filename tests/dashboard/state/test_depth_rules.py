"""Deeper networks on the page's settings: the hidden-layers rule (core.config.check_hidden's),
the URL (``hidden=10`` as always, ``hidden=10,10`` for two layers), the config and the price."""

import dataclasses
import json

import pytest

from core.config import RunConfig, check_hidden
from core.engine.model import MLP
from core.engine.speed import network_cost, run_estimate
from dashboard.jobs import plans
from dashboard.state import rules
from dashboard.state.query import parse_query, to_query

RULE = "1 to 4 hidden layers of 1 to 1024 units each (an integer, or one per layer)"
DEEP = {**rules.default_values(), "hidden": [10, 10]}


@pytest.mark.parametrize(
    "raw, hidden",
    [
        ("10", 10),
        (10, 10),
        ("1e1", 10),  # as every whole-number box reads it
        ((10,), 10),  # a one-layer tuple is the one-layer int, as in RunConfig
        ("10 10", [10, 10]),
        ("10,10", [10, 10]),
        (" 10, 20 ", [10, 20]),
        ([10, 10], [10, 10]),  # the page's store (JSON) holds a list
        ("1 2 3 1024", [1, 2, 3, 1024]),
    ],
)
def test_the_widths_of_one_to_four_layers_are_read(raw, hidden):
    parsed = rules.parse_control("hidden", raw)
    assert parsed == hidden and type(parsed) is type(hidden)
    assert rules.to_config({**rules.default_values(), "hidden": parsed}).widths == tuple(
        [hidden] if isinstance(hidden, int) else hidden
    )


@pytest.mark.parametrize(
    "raw", ["10 0", "0", "", "x", "10 x", "1 2 3 4 5", "2000", "10.5", True, None, [10.5], [1] * 10**6]
)
def test_a_bad_value_gets_the_cores_rule_and_the_value(raw):
    with pytest.raises(ValueError) as info:
        rules.parse_control("hidden", raw)
    assert str(info.value) == f"Hidden units must be {RULE}, got {rules.quoted(raw)}"


def test_the_page_states_the_rule_in_the_cores_words():
    with pytest.raises(ValueError) as info:
        check_hidden((10, 0))
    assert rules.HIDDEN_TEXT == RULE and RULE in str(info.value)


def test_a_bad_value_keeps_the_last_valid_widths():
    values, errors = rules.check_values({**rules.default_values(), "hidden": "10 0"}, DEEP)
    assert values["hidden"] == [10, 10]
    assert errors == {"hidden": f"Hidden units must be {RULE}, got '10 0'; keeping '10 10'"}


def test_a_one_layer_link_is_written_as_it_always_was():
    query = to_query(rules.default_values(), "divergence")
    assert query == (
        "?eta=0.01&eps=1e-08&seed=0&dataset=iris&perturbations=20&steps=5000&hidden=10&activation=sigmoid"
        "&output=softmax&init=normal&distance=l1&optimizer=gd&normalized=false&view=divergence"
    )
    assert parse_query("?hidden=10")[0] == {"hidden": 10}


def test_a_deeper_network_round_trips_through_the_link_and_the_pages_store():
    query = to_query(DEEP, "weights")
    assert "&hidden=10,10&" in query
    parsed, view, messages = parse_query(query)
    assert parsed == DEEP and view == "weights" and messages == []
    assert json.loads(json.dumps(parsed)) == parsed  # a dcc.Store gives back what it was given
    assert parse_query("?hidden=10%2C10")[0] == {"hidden": [10, 10]}  # as urlencode would write it


def test_a_bad_link_names_the_rule_and_keeps_the_rest():
    parsed, _, messages = parse_query("?hidden=10,0&seed=3")
    assert parsed == {"seed": 3}
    assert messages == [f"link parameter hidden: Hidden units must be {RULE}, got '10,0'; ignored"]


def test_the_config_and_its_key():
    assert rules.to_config(DEEP) == RunConfig(hidden=(10, 10))
    assert rules.to_config(rules.default_values()).key() == RunConfig().key()  # one layer: its records' keys stand
    assert rules.admit({**rules.run_values(DEEP), "hidden": "10 10"}, rules.Limits(rate=200_000.0)).hidden == (10, 10)
    assert plans.record_key("run", rules.to_config(rules.default_values())) == f"run:v7:{RunConfig().key()}:"


LIMITS = rules.Limits(rate=120_000.0)


def test_a_deeper_run_is_priced_as_its_network():
    """4-10-10-3 on Iris: P = 50 + 110 + 33 = 193, priced by core.engine.speed for that network
    (FLOPs); the Divergence view's run: 51 sharpness points (exact Hessian), the ablation and
    the leading tangent exponent."""
    net = network_cost(MLP(4, (10, 10), 3), 120, 30)
    assert net.n_params == 193 and rules.network_of(RunConfig(hidden=(10, 10))) == net
    bare = run_estimate(net, 21, 5000, 120_000.0, sharpness_points=51, ablation=True)
    expected = rules.with_tangent(bare, net, RunConfig(hidden=(10, 10)), 120_000.0).seconds
    assert LIMITS.check(RunConfig(hidden=(10, 10))) == pytest.approx(expected)
    assert LIMITS.check(RunConfig(hidden=(10, 10))) > 2 * LIMITS.check(RunConfig())


def test_a_deeper_run_over_the_limit_names_its_network():
    config = RunConfig(hidden=(64, 64, 64, 64), n_steps=50_000)
    p = MLP(4, (64, 64, 64, 64), 3).n_params  # 12,995
    with pytest.raises(ValueError, match=f"trajectory-steps of a {p}-parameter network") as info:
        LIMITS.check(config)
    assert "the limit is 60 s: use fewer iterations or copies" in str(info.value)
    assert p == 12_995
    with pytest.raises(ValueError, match="the limit is 60 s"):
        rules.admit({**rules.run_values(DEEP), "hidden": [64, 64, 64, 64], "steps": 50_000}, LIMITS)


def test_a_deeper_networks_settings_are_one_run_whatever_their_spelling():
    """What the page compares (the request under way, the result shown) is the checked values:
    "10 10" typed, [10, 10] from the store and 10,10 from a link are one run."""
    typed = rules.run_values({**rules.run_values(DEEP), "hidden": "10 10"})
    stored = rules.run_values(json.loads(json.dumps(typed)))
    linked = rules.run_values({**typed, **parse_query("?hidden=10,10")[0]})
    assert typed == stored == linked and dataclasses.asdict(rules.to_config(typed))["hidden"] == (10, 10)
