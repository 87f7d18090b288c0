"""The hidden-layers box: what a link or a preset writes in it, its help, and the command line."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

from dash import no_update

from dashboard.jobs import compute
from dashboard.page import controls, exports, ids
from dashboard.page.glossary import GLOSSARY, with_terms
from dashboard.page.sync import applied_outputs, linked
from dashboard.state import rules


def _field(layout, name):
    """The control's field (label, box, hint, error) in the controls' layout."""
    fields = [c for c in layout.children if getattr(c, "className", None) == "field"]
    return next(f for f in fields if f.children[0].htmlFor == name)


def test_a_link_to_a_deeper_network_writes_its_widths_in_the_box():
    change = linked("?hidden=10,10&view=weights", None, None)
    outputs = applied_outputs(change)
    assert outputs["controls"]["hidden"] == "10 10"  # as typed, and as cli.py --hidden takes them
    assert outputs["controls"]["eta"] == 0.01 and outputs["view"] == "weights"
    assert rules.parse_control("hidden", outputs["controls"]["hidden"]) == [10, 10]  # read back as the same run


def test_a_one_layer_link_writes_the_box_as_it_always_did():
    assert applied_outputs(linked("?hidden=12", None, None))["controls"]["hidden"] == 12
    assert applied_outputs({"controls": {"eta": 1.0}, "autorun": {}})["controls"]["hidden"] is no_update


def test_the_box_takes_text_and_says_how_in_its_help():
    field = _field(controls.controls(), ids.HIDDEN)
    _label, box, hint, error = field.children
    assert box.type == "text" and getattr(box, "inputMode", None) is None and box.value == "10"  # spaces, commas
    assert "10 10" in hint.children and field.title == GLOSSARY["hidden layers"]
    assert error.id == "hidden-error" and error.role == "alert"  # where the rule's red message goes
    assert "4-10-10-3" in GLOSSARY["hidden layers"]
    assert [t.children for t in with_terms("two hidden layers") if not isinstance(t, str)] == ["hidden layers"]


def test_the_command_line_of_a_deeper_run():
    values = {**rules.run_values(rules.default_values()), "hidden": [10, 10]}
    assert " --hidden 10 10 --activation sigmoid " in exports.cli_command(values)
    assert " --hidden 10 --activation " in exports.cli_command(rules.run_values(rules.default_values()))


def test_the_deeper_command_line_trains_the_same_run():
    """The command the page shows for 4-10-10-3, run by cli.py, reports the run the page trains."""
    values = {**rules.run_values(rules.default_values()), "hidden": [10, 10], "steps": 100, "perturbations": 2}
    command = exports.cli_command(values)
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    record = compute.stability(rules.to_config(values))
    assert record.config.hidden == (10, 10)
    assert json.loads(out.stdout)["final_loss"] == record.loss[-1, 0]
