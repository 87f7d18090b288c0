"""The batch size on the page's settings (docs/method.md §13): its rule (a whole number from 1 to
the chosen data set's training rows, or the full batch), its seed, the server's check, the
config, the CLI line and the run's summary."""

import shlex

import pytest

from core.config import RunConfig
from dashboard.page import exports
from dashboard.page.controls import batch_hint, batch_seed_box
from dashboard.state import rules

MINI = {**rules.default_values(), "batch": "16", "batch_seed": "3"}
RULE_IRIS = "Batch size must be a whole number from 1 to 120 (the training rows of iris), or empty for the full batch"


@pytest.mark.parametrize(
    "raw, batch",
    [(None, None), ("", None), ("full", None), (" Full ", None), ("16", 16), (16, 16), ("1e1", 10), ("120", 120)],
)
def test_the_batch_rule_reads_a_size_or_the_full_batch(raw, batch):
    values, errors = rules.check_values({**rules.default_values(), "batch": raw}, {})
    assert values["batch"] == batch and errors == {}


def test_the_default_is_the_papers_full_batch():
    assert rules.default_values()["batch"] is None and rules.default_values()["batch_seed"] == 0
    config = rules.to_config(rules.run_values(rules.default_values()))
    assert config.batch_size is None and config.key() == RunConfig().key()  # the key it always had


@pytest.mark.parametrize(
    "dataset, raw, message",
    [
        ("iris", "121", f"{RULE_IRIS}, got 121; keeping 'full'"),
        ("iris", "500", f"{RULE_IRIS}, got 500; keeping 'full'"),
        (
            "iris",
            "abc",
            "Batch size must be a whole number from 1 to the training rows of the data set, or empty (or full) "
            "for the full batch, got 'abc'; keeping 'full'",
        ),
        ("iris", "0", "Batch size must be a whole number from 1 to the training rows"),
        ("iris", "2.5", "got '2.5'; keeping 'full'"),
        ("digits", "1500", "from 1 to 1438 (the training rows of digits), or empty for the full batch, got 1500"),
    ],
)
def test_a_bad_batch_size_is_one_message_naming_the_value_and_the_rule(dataset, raw, message):
    values, errors = rules.check_values({**rules.default_values(), "dataset": dataset, "batch": raw}, {})
    assert list(errors) == ["batch"] and message in errors["batch"]
    assert values["batch"] is None


def test_a_bad_batch_size_keeps_the_last_valid_one_if_it_fits():
    last = rules.check_values(MINI, {})[0]
    values, errors = rules.check_values({**MINI, "batch": "500"}, last)
    assert values["batch"] == 16 and errors["batch"] == f"{RULE_IRIS}, got 500; keeping 16"
    # digits' 1,000-row batch does not fit iris: changing the data set falls back to the full batch
    digits = rules.check_values({**MINI, "dataset": "digits", "batch": "1000"}, {})[0]
    values, errors = rules.check_values({**MINI, "batch": "1000"}, digits)
    assert values["batch"] is None and errors["batch"].endswith("got 1000; keeping 'full'")


def test_the_batch_seed_counts_only_with_a_batch():
    values, errors = rules.check_values({**rules.default_values(), "batch_seed": "-1"}, {})
    assert errors == {} and values["batch_seed"] == 0  # the box is off: not part of the run
    values, errors = rules.check_values({**MINI, "batch_seed": "-1"}, {})
    assert errors == {"batch_seed": "Batch seed must be a whole number from 0 to 2147483647, got '-1'; keeping 0"}
    assert rules.check_values({**rules.default_values(), "batch_seed": "5"}, {})[0]["batch_seed"] == 0


def test_the_config_of_the_controls_is_mini_batch_sgd():
    config = rules.to_config(rules.run_values(MINI))
    assert (config.batch_size, config.batch_seed) == (16, 3)
    assert config.key() != RunConfig().key()


def test_the_server_refuses_a_batch_larger_than_the_data_and_reads_old_pages_as_full_batch():
    values = rules.run_values(rules.check_values(MINI, {})[0])
    with pytest.raises(ValueError) as info:
        rules.run_values({**values, "batch": 500})
    assert str(info.value) == f"{RULE_IRIS}, got 500"
    with pytest.raises(ValueError, match="Batch size must be a whole number"):
        rules.run_values({**values, "batch": True})
    old_page = {name: value for name, value in values.items() if name not in rules.BATCH_ADDED_LATER}
    assert rules.run_values(old_page) == {**values, "batch": None, "batch_seed": 0}
    with pytest.raises(ValueError, match=r"no \['batch_seed'\]"):  # one of them alone is malformed
        rules.run_values({**old_page, "batch": 16})


def test_the_cli_line_names_the_batch_only_for_mini_batches_and_parses_to_the_pages_run():
    import cli
    from commands.common import batch_settings

    full = exports.cli_command(rules.run_values(rules.default_values()))
    assert "--batch" not in full  # cli.py refuses --batch-seed without --batch-size
    values = rules.run_values(rules.check_values(MINI, {})[0])
    line = exports.cli_command(values)
    assert line.endswith("--distance l1 --batch-size 16 --batch-seed 3 --json")
    args = cli.build_parser().parse_args(shlex.split(line)[2:])
    assert batch_settings(args) == {"batch_size": 16, "batch_seed": 3}


def test_the_batch_boxes_say_what_they_hold():
    assert "1 to 120;" in batch_hint("iris") and "1 to 1438;" in batch_hint("digits")
    assert batch_seed_box("full") == (True, "off: the full batch has no order")
    assert batch_seed_box("") == (True, "off: the full batch has no order")
    assert batch_seed_box("16")[0] is False and batch_seed_box("abc")[0] is False


def test_the_summary_of_a_mini_batch_run_says_so():
    from dashboard.views.divergence import batch_sentence

    sentence = batch_sentence(rules.to_config(rules.run_values(MINI)))
    assert sentence.startswith("Mini-batch SGD, batch 16 of the 120 training rows (7 steps per epoch, batch seed 3)")
    adam = rules.to_config(rules.run_values({**MINI, "optimizer": "adam"}))
    assert batch_sentence(adam).startswith("Mini-batch Adam, batch 16")
