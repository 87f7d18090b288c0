"""The batch size in the URL: ``batch=16&batch_seed=3`` for mini-batch SGD, nothing for the full
batch (so every link before mini-batches came means the run it meant then)."""

from dashboard.state import rules
from dashboard.state.query import parse_query, to_query

MINI = rules.check_values({**rules.default_values(), "batch": "16", "batch_seed": "3", "eta": "0.5"}, {})[0]


def test_a_mini_batch_link_round_trips_to_the_same_run():
    query = to_query(MINI, "divergence")
    assert "&optimizer=gd&batch=16&batch_seed=3&normalized=false&" in query
    parsed, view, messages = parse_query(query)
    assert parsed == MINI and view == "divergence" and messages == []
    assert rules.to_config(rules.run_values(parsed)) == rules.to_config(rules.run_values(MINI))


def test_a_full_batch_link_names_no_batch_and_means_the_full_batch():
    values = rules.default_values()
    query = to_query(values, "divergence")
    assert "batch" not in query
    parsed, _, messages = parse_query(query)
    assert parsed == values and messages == []
    # opened on a page showing a mini-batch run, the link still means the full batch
    assert {**MINI, **parsed}["batch"] is None and {**MINI, **parsed}["batch_seed"] == 0


def test_a_link_from_before_mini_batches_is_the_full_batch_run_it_was():
    old = "?eta=1.0&eps=1e-08&seed=1&dataset=iris&perturbations=5&steps=1000&hidden=10&activation=sigmoid"
    old += "&output=softmax&init=normal&distance=l1&optimizer=momentum&momentum=0.5&normalized=false&view=lyapunov"
    parsed, _, messages = parse_query(old)
    assert messages == [] and parsed["batch"] is None
    assert rules.to_config(rules.run_values({**MINI, **parsed})).batch_size is None


def test_bad_batch_link_parameters_are_named_and_skipped():
    parsed, _, messages = parse_query("?dataset=iris&batch=500&eta=0.5")
    assert parsed == {"dataset": "iris", "eta": 0.5}
    assert messages == [
        "link parameter batch: Batch size must be a whole number from 1 to 120 (the training rows of iris), "
        "or empty for the full batch, got 500; ignored"
    ]
    parsed, _, messages = parse_query("?batch=abc&batch_seed=-2")
    assert parsed == {}
    assert messages == [
        "link parameter batch: Batch size must be a whole number from 1 to the training rows of the data set, "
        "or empty (or full) for the full batch, got 'abc'; ignored",
        "link parameter batch_seed: Batch seed must be a whole number from 0 to 2147483647, got '-2'; ignored",
    ]
    assert parse_query("?dataset=digits&batch=500")[0] == {"dataset": "digits", "batch": 500}  # 1,438 rows


def test_a_link_with_a_batch_but_no_seed_opened_over_the_defaults_has_seed_zero():
    parsed, _, messages = parse_query(to_query(MINI, "divergence").replace("&batch_seed=3", ""))
    assert messages == [] and parsed["batch"] == 16 and "batch_seed" not in parsed
    assert rules.check_values({**rules.default_values(), **parsed}, {})[0]["batch_seed"] == 0
