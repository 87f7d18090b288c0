"""The tangent spectrum's figures (dashboard.figures.spectrum): known values in, traces out."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from core.config import RunConfig
from dashboard import figures
from dashboard.jobs.records import FTLEWindow, SpectrumRecord

fs = figures.spectrum


def test_a_rate_segment_stops_at_the_end_or_where_it_leaves_the_range():
    x, y = fs.rate_segment(10, 1e-8, 0.5, 100, 1e-9, 1e-3)  # reaches 1e-3 after ln(1e5) / 0.5 = 23.03
    assert x == pytest.approx([10, 10 + math.log(1e5) / 0.5]) and y == pytest.approx([1e-8, 1e-3])
    x, y = fs.rate_segment(0, 1.0, -0.1, 50, 1e-2, 10.0)  # falls to 1e-2 at ln(100) / 0.1 = 46.05
    assert x == pytest.approx([0, math.log(100) / 0.1]) and y == pytest.approx([1.0, 1e-2])
    x, y = fs.rate_segment(5, 2.0, 1e-3, 30, 1.0, 100.0)  # stays inside to the end
    assert x == [5.0, 30.0] and y == pytest.approx([2.0, 2.0 * math.exp(0.025)])
    with pytest.raises(ValueError, match="finite rate"):
        fs.rate_segment(0, 1.0, math.nan, 10, 0.1, 10.0)


def _spectrum_record(exponents, dim=3, eta=1.0) -> SpectrumRecord:
    exponents = np.asarray(exponents, dtype=float)
    steps = np.arange(1, 11)
    running = np.tile(exponents, (10, 1)) + 1.0 / steps[:, None]  # settles onto the exponents
    return SpectrumRecord(
        config=RunConfig(learning_rate=eta, n_steps=10, seed=3),
        exponents=exponents,
        running_steps=steps,
        running=running,
        dim=dim,
        n_positive=int((exponents > 0).sum()),
        total=float(exponents.sum()),
        kaplan_yorke=2.5,
        n_steps=10,
        diverged_at=None,
        cancelled=False,
    )


def test_the_spectrum_figure_draws_the_exponents_by_index_and_the_zero_lines():
    record = _spectrum_record([0.3, 0.1, -0.2, -0.5], dim=4)
    fig = fs.spectrum_view(record)
    dots = fig.data[0]
    assert list(dots.x) == [1, 2, 3, 4] and list(dots.y) == pytest.approx([0.3, 0.1, -0.2, -0.5])
    assert list(dots.marker.color) == ["#e45756", "#e45756", "white", "white"]  # positive ones filled
    running = fig.data[1:]
    assert [t.name for t in running] == ["estimate of λ1", "estimate of λ2", "estimate of λ3"]  # RUNNING_SHOWN
    for j, trace in enumerate(running):  # column j at step t: exponent j + 1/t
        np.testing.assert_array_equal(trace.x, np.arange(1, 11))
        np.testing.assert_allclose(trace.y, [0.3, 0.1, -0.2][j] + 1.0 / np.arange(1, 11), rtol=1e-15)
    zero_lines = [s for s in fig.layout.shapes if s.y0 == 0 and s.y1 == 0]
    assert [(s.xref, s.yref) for s in zero_lines] == [("x domain", "y"), ("x2 domain", "y2")]  # one in each panel
    title = fig.layout.title.text.replace("<br>", " ")
    assert title == "Lyapunov spectrum at η = 1, seed 3, 10 iterations: all 4 exponents, 2 positive, λ₁ = 0.3"
    assert fig.layout.meta["spectrum"] == {"eta": 1.0, "seed": 3, "k": 4}


def test_a_partial_spectrum_says_so_and_an_empty_one_has_a_sentence():
    title = fs.spectrum_view(_spectrum_record([0.2, 0.1, 0.05], dim=760)).layout.title.text.replace("<br>", " ")
    assert title == "Lyapunov spectrum at η = 1, seed 3, 10 iterations: 3 of 760 exponents, 3 positive, λ₁ = 0.2"
    empty = dataclasses.replace(_spectrum_record([math.nan]), n_steps=0)
    fig = fs.spectrum_view(empty)
    assert not fig.data and "No spectrum" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="running must be"):
        fs.spectrum_figure(np.zeros(3), np.arange(5), np.zeros((5, 2)), title="")


def _run(rate: float, found: bool = True):
    """A run record's parts the lines read: <d> = 1e-8 e^(0.2 t) over 0..100, its copies equal."""
    t = np.arange(101)
    mean = 1e-8 * np.exp(0.2 * t)
    window = FTLEWindow(0.2, 1.0, 20.0, 40.0, math.log(1e-8), True) if found else FTLEWindow(*[math.nan] * 5, False)
    return SimpleNamespace(
        leading_exponent=rate,
        distance=np.tile(mean[:, None], (1, 3)),
        mean_distance=mean,
        config=RunConfig(eps=1e-8),
        n_weights=70,
        ftle=window,
    )


def test_the_leading_line_on_the_distances_starts_at_the_window_and_has_its_slope():
    record = _run(0.1)
    fig = fs.add_leading_to_distance(go.Figure(), record, normalized=False)
    (line,) = fig.data
    x, y = np.array(line.x), np.array(line.y)
    assert x[0] == 20 and y[0] == pytest.approx(1e-8 * math.exp(4.0))  # <d> at the window's start
    assert math.log(y[1] / y[0]) / (x[1] - x[0]) == pytest.approx(0.1)  # slope lambda_1 on the log axis
    assert x[1] == 100 and "λ₁ = 0.1000" in line.name  # inside the range to the run's end
    normalized = fs.add_leading_to_distance(go.Figure(), record, normalized=True).data[0]
    assert normalized.y[0] == pytest.approx(math.exp(4.0) / 70)  # <d> / (eps N_w)
    fast = fs.add_leading_to_distance(go.Figure(), _run(1.0), normalized=False).data[0]
    assert fast.y[1] == pytest.approx(1e-8 * math.exp(20.0))  # stops at the largest distance drawn
    assert fs.add_leading_to_distance(go.Figure(), _run(1.0, found=False), False).data[0].x[0] == 0  # no window: t = 0
    assert not fs.add_leading_to_distance(go.Figure(), _run(math.nan), False).data  # no exponent, no line


def test_the_leading_line_on_the_fit_starts_on_the_fitted_line():
    fig = fs.add_leading_to_fit(go.Figure(), _run(0.05))
    x, y = np.array(fig.data[0].x), np.array(fig.data[0].y)
    assert x.tolist() == [20, 59]  # over the window [20, 60)
    assert y[0] == pytest.approx(math.log(1e-8) + 0.2 * 20)  # the fitted line's value at the start
    assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(0.05)  # slope lambda_1 in ln units


def test_the_leading_exponent_is_a_horizontal_line_beside_the_ftle():
    fig = fs.add_leading_to_ftle(go.Figure(), 0.23, 4, 200)
    (shape,) = fig.layout.shapes
    assert shape.y0 == shape.y1 == 0.23
    assert fig.layout.annotations[0].text == "λ₁ of seed 4 = 0.2300 (200 iterations)"
    assert not fs.add_leading_to_ftle(go.Figure(), math.nan, 4, 200).layout.shapes
