"""The controls' own logic: what a released slider sets."""

import pytest

from dashboard.page import ids
from dashboard.page.sync import slider_values


def test_a_released_slider_sets_its_control_as_the_box_shows_it():
    assert slider_values(ids.ETA_SLIDER, 0.0) == {"eta": 1.0}
    assert slider_values(ids.ETA_SLIDER, -1.2345) == {"eta": 0.05}  # 0.0583: the round value nearest
    assert slider_values(ids.EPS_SLIDER, -8) == {"eps": 1e-8}
    assert slider_values(ids.SEED_SLIDER, 42) == {"seed": 42}


@pytest.mark.parametrize(
    ("trigger", "position"), [(ids.ETA_SLIDER, None), (ids.ETA_SLIDER, 4.0), (ids.SEED_SLIDER, 2.5)]
)
def test_a_position_outside_a_controls_rule_is_refused(trigger, position):
    with pytest.raises(ValueError):
        slider_values(trigger, position)


def test_the_log_sliders_stop_at_round_values():
    """A hand on the eta or eps slider picks 1, 2 or 5 x 10^k (it gave 0.0187 and the like)."""
    import numpy as np

    positions = np.linspace(-4, 3, 701)
    values = {slider_values(ids.ETA_SLIDER, float(p))["eta"] for p in positions}
    assert values == {m * 10.0**k if k >= 0 else float(f"{m}e{k}") for k in range(-4, 3) for m in (1, 2, 5)} | {1000.0}
    assert slider_values(ids.EPS_SLIDER, -8.2)["eps"] == 5e-9 and slider_values(ids.EPS_SLIDER, -7.9)["eps"] == 1e-8


def _components(component):
    """Every component of a layout tree."""
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from _components(child)


def test_every_boxs_input_mode_is_one_dash_accepts():
    """With its prop checks on (debug), Dash draws no box whose inputMode is not in its list
    (HTML's "decimal" and "text" are not): every box of the page and its views has none or
    one of the list."""
    import inspect
    import typing

    from dash import dcc

    from dashboard.page.layout import build_layout

    accepted = set(
        typing.get_args(typing.get_args(inspect.signature(dcc.Input.__init__).parameters["inputMode"].annotation)[0])
    )
    assert "numeric" in accepted and "decimal" not in accepted  # the list read as meant
    boxes = [c for c in _components(build_layout()) if isinstance(c, dcc.Input)]
    modes = {getattr(box, "inputMode", None) for box in boxes}
    assert len(boxes) >= 10 and "numeric" in modes and modes <= accepted | {None}, modes
