"""The controls' own logic: what a released slider sets."""

import pytest

from dashboard import ids
from dashboard.controls_callbacks import slider_values


def test_a_released_slider_sets_its_control_as_the_box_shows_it():
    assert slider_values(ids.ETA_SLIDER, 0.0) == {"eta": 1.0}
    assert slider_values(ids.ETA_SLIDER, -1.2345) == {"eta": 0.0583}  # 3 significant digits
    assert slider_values(ids.EPS_SLIDER, -8) == {"eps": 1e-8}
    assert slider_values(ids.SEED_SLIDER, 42) == {"seed": 42}


@pytest.mark.parametrize(
    ("trigger", "position"), [(ids.ETA_SLIDER, None), (ids.ETA_SLIDER, 4.0), (ids.SEED_SLIDER, 2.5)]
)
def test_a_position_outside_a_controls_rule_is_refused(trigger, position):
    with pytest.raises(ValueError):
        slider_values(trigger, position)


def test_a_slider_moved_by_its_box_is_not_a_release():
    """A link, a preset or typing sets the slider's value only; a hand sets its drag_value too."""
    from dashboard.controls_callbacks import released

    assert released(24, 24) and released(-1.5, -1.5)
    assert not released(24, 0) and not released(24, None) and not released(1, True)
