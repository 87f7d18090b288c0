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
