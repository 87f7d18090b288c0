"""The optimizer on the page (issue 20 §3): its two controls and their rules, links with and
without them, the CLI line, the curvature panel's stability thresholds (checked against the
update rules of core.engine.optimizers on a quadratic), and a map trained with momentum."""

import dataclasses

import numpy as np
import pytest

from core.engine.optimizers import Optimizer
from dashboard.figures import dynamics as fd
from dashboard.page import exports
from dashboard.page.controls import momentum_box
from dashboard.state import rules
from dashboard.state.presets import PRESETS
from dashboard.state.query import parse_query, to_query

MOMENTUM = {**rules.default_values(), "optimizer": "momentum", "momentum": 0.5, "eta": 0.3}


# ---- rules ---------------------------------------------------------------------------------
def test_the_optimizer_controls_default_to_plain_gd():
    values = rules.default_values()
    assert values["optimizer"] == "gd" and values["momentum"] == 0.9
    config = rules.to_config(values)
    assert config.optimizer == "gd" and config.key() == rules.DEFAULTS.key()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("optimizer", "sgd", "Optimizer must be one of gd, momentum, nesterov, adam, got 'sgd'; keeping 'gd'"),
        ("momentum", "1", "Momentum β must be a number in [0, 1), got '1'; keeping 0.9"),
        ("momentum", "-0.1", "Momentum β must be a number in [0, 1), got '-0.1'; keeping 0.9"),
        ("momentum", "abc", "Momentum β must be a number in [0, 1), got 'abc'; keeping 0.9"),
        ("momentum", True, "Momentum β must be a number in [0, 1), got True; keeping 0.9"),
    ],
)
def test_a_bad_optimizer_setting_is_named_with_its_rule(name, raw, message):
    raw_values = {**rules.default_values(), "optimizer": "nesterov", name: raw}
    _, errors = rules.check_values(raw_values, {})
    assert errors == {name: message}


def test_gd_reads_no_momentum_so_its_box_is_neither_checked_nor_kept():
    values, errors = rules.check_values({**rules.default_values(), "momentum": "abc"}, {})
    assert errors == {} and values["momentum"] == 0.9
    values, _ = rules.check_values({**rules.default_values(), "momentum": "0.3"}, {})
    assert values["momentum"] == 0.9  # one gd run, one set of values
    values, _ = rules.check_values({**MOMENTUM, "momentum": "0.3"}, {})
    assert values["momentum"] == 0.3 and values["optimizer"] == "momentum"
    assert rules.run_values({**rules.default_values(), "momentum": 0.3})["momentum"] == 0.9


def test_the_server_refuses_a_bad_momentum_in_a_request():
    with pytest.raises(ValueError, match=r"Momentum β must be a number in \[0, 1\), got 1.5"):
        rules.run_values({**MOMENTUM, "momentum": 1.5})


def test_the_config_of_the_controls_carries_the_optimizer():
    config = rules.to_config(rules.run_values({**MOMENTUM, "optimizer": "adam"}))
    assert (config.optimizer, config.momentum, config.beta2, config.adam_eps) == ("adam", 0.5, 0.999, 1e-8)


def test_the_momentum_box_is_off_for_gd_and_says_what_it_means():
    assert momentum_box("gd") == (True, "off: gd reads no momentum")
    assert momentum_box("momentum")[0] is False and momentum_box("nesterov")[0] is False
    disabled, hint = momentum_box("adam")
    assert not disabled and "β1" in hint and "β2 = 0.999" in hint and "eps = 1e-08" in hint


def test_the_page_wires_the_momentum_box(tmp_path, monkeypatch):
    monkeypatch.setenv("WSD_CACHE_DIR", str(tmp_path / "cache"))
    from app import create_app

    assert "momentum.disabled" in " ".join(create_app().callback_map)


# ---- links ---------------------------------------------------------------------------------
def test_a_gd_link_carries_no_momentum_and_round_trips():
    values = rules.default_values()
    query = to_query(values, "divergence")
    assert "optimizer=gd" in query and "momentum" not in query
    parsed, view, messages = parse_query(query)
    assert parsed == values and view == "divergence" and messages == []


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
def test_a_link_with_momentum_round_trips(optimizer):
    values = {**MOMENTUM, "optimizer": optimizer}
    query = to_query(values, "divergence")
    assert f"optimizer={optimizer}&momentum=0.5&" in query
    parsed, _, messages = parse_query(query)
    assert parsed == values and messages == []
    assert rules.to_config(rules.run_values(parsed)) == rules.to_config(rules.run_values(values))


def test_an_old_link_means_the_same_gd_run():
    """A link written before the optimizers came names neither control: the page opens it over
    the defaults (dashboard/page/sync.py, from_link), so it is the gd run it was."""
    old = "?eta=1.0&eps=1e-08&seed=1&dataset=iris&perturbations=5&steps=1000&hidden=10&activation=sigmoid"
    old += "&output=softmax&init=normal&distance=l1&normalized=false&view=lyapunov"
    parsed, view, messages = parse_query(old)
    assert messages == [] and "optimizer" not in parsed and "momentum" not in parsed
    values = {**rules.default_values(), **parsed}
    config = rules.to_config(rules.run_values(values))
    assert config.optimizer == "gd" and config.key() == rules.to_config(rules.run_values(values)).key()
    assert parse_query(to_query(values, view))[0] == values  # rewritten, it still means that run


def test_bad_optimizer_link_parameters_are_named_and_skipped():
    parsed, _, messages = parse_query("?optimizer=rmsprop&momentum=1&eta=0.5")
    assert parsed == {"eta": 0.5}
    assert messages == [
        "link parameter optimizer: Optimizer must be one of gd, momentum, nesterov, adam, got 'rmsprop'; ignored",
        "link parameter momentum: Momentum β must be a number in [0, 1), got '1'; ignored",
    ]


def test_presets_are_gd_runs():
    """Each preset sets every control, so after a momentum run a preset is the GD run it describes."""
    for preset in PRESETS.values():
        assert rules.to_config(preset.settings()).optimizer == "gd"


# ---- exports -------------------------------------------------------------------------------
def test_the_cli_line_names_the_optimizer_only_when_it_is_not_gd():
    gd = exports.cli_command(rules.run_values(rules.default_values()))
    assert "--optimizer" not in gd and "--momentum" not in gd  # cli.py refuses --momentum with gd
    line = exports.cli_command(rules.run_values(MOMENTUM))
    assert line.endswith("--distance l1 --optimizer momentum --momentum 0.5 --json")


def test_the_cli_line_parses_to_the_run_of_the_page():
    """cli.py's own parser turns the page's line into the page's config."""
    import shlex

    import cli
    from commands.common import optimizer_settings

    for values in (rules.default_values(), MOMENTUM, {**MOMENTUM, "optimizer": "adam"}):
        values = rules.run_values(values)
        args = cli.build_parser().parse_args(shlex.split(exports.cli_command(values))[2:])
        config = rules.to_config(values)
        settings = optimizer_settings(args)
        assert settings["optimizer"] == config.optimizer
        assert settings.get("momentum", 0.9) == config.momentum


def test_an_export_names_its_optimizer():
    config = rules.to_config(rules.run_values(MOMENTUM))
    assert exports.export_name(config).startswith("weightspace-iris-eta0.3-momentum0.5-eps1e-08-seed0-")
    assert "-gd" not in exports.export_name(rules.DEFAULTS)


# ---- the stability thresholds ----------------------------------------------------------------
def one_step_map(optimizer: str, eta: float, beta: float, a: float) -> np.ndarray:
    """The linear map of one step (t >= 1) of core's update rule on a x^2 / 2, on the state
    (x, buffer) (gd: on x): its columns are the images of the unit states."""
    rule = Optimizer(optimizer, beta)
    size = 1 if optimizer == "gd" else 2
    columns = []
    for unit in np.eye(size):
        state = rule.state(1, 1)
        if size == 2:
            state.first[...] = unit[1]
        x = np.array([[unit[0]]])
        x_next = x - eta * state.direction(1, a * x)
        columns.append([x_next[0, 0]] + ([state.first[0, 0]] if size == 2 else []))
    return np.array(columns).T


def spectral_radius(matrix: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov"])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("eta", [0.01, 0.7, 3.0])
def test_the_threshold_is_the_stability_boundary_of_the_update_on_a_quadratic(optimizer, beta, eta):
    """At curvature a = threshold a multiplier of the step's map has modulus 1; just below every
    one is inside the unit circle, just above one is outside."""
    a = fd.stability_threshold(optimizer, eta, beta).value
    assert spectral_radius(one_step_map(optimizer, eta, beta, a)) == pytest.approx(1.0, abs=1e-9)
    assert spectral_radius(one_step_map(optimizer, eta, beta, a * (1 - 1e-4))) < 1.0
    assert spectral_radius(one_step_map(optimizer, eta, beta, a * (1 + 1e-4))) > 1.0


def test_the_thresholds_formulas():
    assert fd.stability_threshold("gd", 0.5, 0.9).value == 4.0
    assert fd.stability_threshold("momentum", 0.5, 0.9).value == pytest.approx(7.6)
    assert fd.stability_threshold("nesterov", 0.5, 0.9).value == pytest.approx(3.8 / 1.4)
    assert fd.stability_threshold("nesterov", 0.5, 0.0).value == 4.0  # no momentum: GD
    # the heavy ball's multipliers are the roots of z^2 - (1 + beta - eta a) z + beta (issue 20 §1)
    eta, beta, a = 0.7, 0.6, 2.0
    roots = np.roots([1.0, -(1 + beta - eta * a), beta])
    assert sorted(np.abs(np.linalg.eigvals(one_step_map("momentum", eta, beta, a)))) == pytest.approx(
        sorted(np.abs(roots))
    )
    adam = fd.stability_threshold("adam", 1.0, 0.9)
    assert adam.value is None and "= 38 bounds the preconditioned sharpness" in adam.note  # 38/eta at beta1 0.9
    with pytest.raises(ValueError, match="optimizer must be one of .* got 'sgd'"):
        fd.stability_threshold("sgd", 1.0)


# ---- the curvature panel -------------------------------------------------------------------
def _panel(optimizer: str, eta: float = 0.5, beta: float = 0.9):
    t = np.arange(101.0)
    steps = np.arange(0.0, 101.0, 20.0)
    sharpness = np.full(steps.size, 3.0)
    return fd.curvature_figure(
        t, t, np.geomspace(1e-8, 1, 101), steps, sharpness, eta, optimizer=optimizer, momentum=beta
    )


def _lines(fig) -> list[float]:
    return [s.y0 for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1]


@pytest.mark.parametrize(
    ("optimizer", "line", "label"),
    [
        ("gd", 4.0, "2/η = 4"),
        ("momentum", 7.6, "(2 + 2β)/η = 7.6"),
        ("nesterov", 3.8 / 1.4, "(2 + 2β)/((1 + 2β)η) = 2.714"),
    ],
)
def test_the_curvature_panel_draws_the_optimizers_threshold(optimizer, line, label):
    fig = _panel(optimizer)
    assert _lines(fig) == [pytest.approx(line)]
    assert label in [a.text for a in fig.layout.annotations]
    title = fig.layout.title.text.replace("<br>", " ")
    assert f"last sharpness 3 = {3 / line:.2f} × {label.split(' = ')[0]}" in title
    assert ("momentum β = 0.9" in title) == (optimizer == "momentum")


def test_the_curvature_panel_of_adam_has_a_note_not_a_line():
    fig = _panel("adam", eta=0.01)
    assert _lines(fig) == []
    (note,) = [a.text for a in fig.layout.annotations if "preconditioned" in a.text]
    assert "(2 + 2β1)/((1 − β1)η) = 3800" in note and "not the sharpness of H itself" in note
    title = fig.layout.title.text.replace("<br>", " ")
    assert "adam β1 = 0.9" in title and "last sharpness 3 (Adam's threshold is on the preconditioned" in title


def test_a_runs_curvature_view_reads_its_optimizer(store):
    """The panel of a momentum run (its record) draws (2 + 2 beta)/eta."""
    from dashboard.jobs import compute

    values = rules.run_values({**MOMENTUM, "steps": 200, "perturbations": 2})
    record = compute.stability(rules.to_config(values))
    assert record.config.optimizer == "momentum" and record.config.momentum == 0.5
    assert _lines(fd.curvature_view(record)) == [pytest.approx(3.0 / 0.3)]


# ---- jobs read the optimizer from the controls ---------------------------------------------
def test_a_map_of_the_page_trains_with_its_momentum():
    """A map's cell (dashboard.jobs.plans.map_config -> core's cells, which pass
    config.update_rule() to descend) is the run of the same config, not GD's."""
    from core.data import load_dataset
    from core.experiments.cells import train_cells
    from core.experiments.stability import run_stability
    from dashboard.jobs import plans

    values = rules.run_values(MOMENTUM)
    config = plans.map_config(values, {**rules.default_map_values(), "map_steps": 100})
    assert (config.optimizer, config.momentum) == ("momentum", 0.5)
    data = load_dataset("iris")
    cell = train_cells(config, data, np.array([0.3]), np.array([0]), workers=1)
    run = run_stability(dataclasses.replace(config, learning_rate=0.3, n_perturbations=1, save_every=1))
    np.testing.assert_array_equal(cell.loss[0], run.trajectory.loss[:, 0])
    gd = train_cells(dataclasses.replace(config, optimizer="gd"), data, np.array([0.3]), np.array([0]), workers=1)
    assert abs(gd.loss[0, -1] - cell.loss[0, -1]) > 0.01


def test_a_page_older_than_the_optimizer_controls_still_runs_its_gd_run():
    """A page open across a deploy sends its run without optimizer and momentum: the same run."""
    values = rules.run_values(rules.default_values())
    old_page = {name: value for name, value in values.items() if name not in rules.ADDED_LATER}
    assert rules.run_values(old_page) == values and rules.to_config(rules.run_values(old_page)).optimizer == "gd"
    with pytest.raises(ValueError, match=r"no \['momentum'\]"):  # one of them alone is a malformed request
        rules.run_values({**old_page, "optimizer": "momentum"})
