"""The curvature panel of an Adam run: its preconditioned sharpness against (2 + 2 beta1)/((1 -
beta1) eta) (docs/method.md §14), from the run's own record."""

import dataclasses

import numpy as np
import pytest

from core.analysis.hessian import sharpness_series
from dashboard.figures import dynamics as fd
from dashboard.state import rules


def _lines(fig) -> list[float]:
    return [s.y0 for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1]


def _title(fig) -> str:
    return fig.layout.title.text.replace("<br>", " ")


def test_adams_panel_draws_the_preconditioned_sharpness_against_its_threshold():
    steps, t = np.array([0, 50, 100]), np.arange(101)
    flat = np.ones(101)
    preconditioned = np.array([100.0, 250.0, 342.0])
    fig = fd.curvature_figure(
        t, flat, flat, steps, np.array([1.0, 2.0, 3.0]), 0.1, optimizer="adam", preconditioned=preconditioned
    )
    assert fig.data[0].name == fd.PRECONDITIONED_NAME == fig.layout.yaxis.title.text
    np.testing.assert_array_equal(fig.data[0].y, preconditioned.astype(np.float32))
    assert _lines(fig) == [pytest.approx(380.0)]  # 38/eta at beta1 = 0.9
    assert "(2 + 2β1)/((1 − β1)η) = 380" in [a.text for a in fig.layout.annotations]
    assert "last preconditioned sharpness 342 = 0.90 × (2 + 2β1)/((1 − β1)η)" in _title(fig)
    # another optimizer's panel ignores a preconditioned series: GD's sharpness against 2/eta
    gd = fd.curvature_figure(t, flat, flat, steps, np.array([1.0, 2.0, 3.0]), 0.1, preconditioned=preconditioned)
    assert _lines(gd) == [pytest.approx(20.0)] and list(gd.data[0].y) == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="same length"):
        fd.curvature_figure(t, flat, flat, steps, steps * 1.0, 0.1, optimizer="adam", preconditioned=np.ones(2))


def test_an_adam_runs_record_carries_the_preconditioned_sharpness_of_its_reference():
    """The main run (dashboard.jobs.compute.stability) measures it along its own training; the
    core's series, which trains the reference alone, gives the same numbers."""
    from dashboard.jobs import compute

    values = rules.run_values({**rules.default_values(), "optimizer": "adam", "eta": 0.05, "steps": 200})
    config = dataclasses.replace(rules.to_config(values), n_perturbations=2, save_every=50)
    record = compute.stability(config)
    series = sharpness_series(config, 50)
    np.testing.assert_array_equal(record.sharpness_steps, series.steps)
    np.testing.assert_allclose(record.preconditioned_sharpness, series.preconditioned, rtol=1e-6)
    assert np.all(record.preconditioned_sharpness > 3 * record.sharpness)  # not the loss Hessian's
    fig = fd.curvature_view(record)
    np.testing.assert_array_equal(fig.data[0].y, record.preconditioned_sharpness.astype(np.float32))
    assert _lines(fig) == [pytest.approx(38 / 0.05)]
    momentum = compute.stability(dataclasses.replace(config, optimizer="momentum"))
    assert momentum.preconditioned_sharpness is None  # Adam's only
