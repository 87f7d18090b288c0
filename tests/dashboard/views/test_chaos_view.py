"""The Chaos view's long run as a plain function: its figures, its summary, its refusals."""

import dataclasses

import numpy as np
import pytest
from dash import no_update

from core.analysis.attractor import APERIODIC, DIVERGED, FIXED_POINT, Attractor
from core.config import RunConfig
from core.experiments.diagnostics import run_diagnostics
from dashboard.jobs import compute
from dashboard.jobs.flow import plan_of, side_job
from dashboard.state import rules
from dashboard.views import chaos

VALUES = rules.run_values(rules.default_values())
JOB = chaos.SIDE_JOBS[0]


def _request(extra):
    return {"kind": "chaos", "values": VALUES, "extra": extra, "token": "ef" * 16}


def test_a_long_run_at_eta_5_draws_its_diagnostics(store):
    updates = []
    *figures, summary, label, message = side_job(store, JOB, _request({"eta": 5, "steps": 3000}), updates.append)
    assert message == "" and label.startswith("done in ")
    key = plan_of(store, "chaos", _request({"eta": 5, "steps": 3000})).key
    assert all(f.layout.meta["record"] == key for f in figures)  # each figure names the record it shows
    d = store.load(key)
    assert d.config.learning_rate == 5.0 and d.loss.size == 3001
    loss_norm, acf, rates, weights = figures
    dots, norm = loss_norm.data
    np.testing.assert_array_equal(dots.y, d.loss.astype(np.float32))  # 3,001 dots: all drawn
    np.testing.assert_array_equal(norm.y, d.weight_norm.astype(np.float32))
    np.testing.assert_array_equal(acf.data[2].y, d.acf)
    lags = d.acf.size - 1
    outside = int(np.sum((d.acf[1:] < d.null_low[1:]) | (d.acf[1:] > d.null_high[1:])))
    assert acf.layout.title.text.replace("<br>", " ") == (
        f"{outside} of {lags} lags ({outside / lags:.0%}) leave the shuffle-null band"
    )
    assert sum(np.sum(t.y) for t in rates.data) == np.isfinite(d.expansion.rate).sum()
    assert [t.name for t in weights.data] == list(d.top_labels) and all(t.name.startswith("p") for t in weights.data)
    for j, line in enumerate(weights.data):
        np.testing.assert_array_equal(line.y, d.top_series[:, j].astype(np.float32))
    assert summary == chaos.summary_text(d)
    assert summary.startswith(
        "This run settles on a cycle of period 10 from iteration 404 to its end (3,000)"
    )  # seed 0
    assert any("of 3,000" in text for (text,) in updates)


def test_the_shortest_long_run_the_page_allows_is_diagnosed(store):
    """1,200 iterations: the 1,000 of the transient left out, then 200 lags of the ACF (1,000
    was allowed, then refused by the diagnostics as "transient must be between 0 and 999")."""
    *figures, summary, label, message = side_job(store, JOB, _request({"eta": 5, "steps": 1200}), lambda _: None)
    assert message == "" and label.startswith("done in ") and "to its end (1,200)" in summary, (message, summary)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"eta": 0, "steps": 3000}, "η of the long run must be a number in (0, 1000]"),
        ({"eta": 5, "steps": 10}, "iterations of the long run must be a whole number from 1200 to 50000"),
        ({"eta": "x", "steps": 3000}, "got 'x'"),
    ],
)
def test_bad_long_runs_are_refused(store, extra, message):
    *figures, label, text = side_job(store, JOB, _request(extra), lambda _: None)
    assert all(f is no_update for f in figures) and text.startswith("Refused: ") and message in text, text


# ---- the summary, from the record's own numbers ----------------------------------------------
def _record(seed: int):
    config = RunConfig(learning_rate=5.0, n_steps=3000, seed=seed, save_every=100)
    return run_diagnostics(config, transient=1000, max_lag=50, n_shuffles=50)


@pytest.fixture(scope="module")
def periodic():
    return _record(0)  # period 10 from iteration 404


@pytest.fixture(scope="module")
def aperiodic():
    return _record(30)  # the Chaotic preset's network


READING = (
    "A cycle's ACF never decays into the band and its rates are near 0; chaos needs a loss that never "
    "settles and nearby values that separate exponentially."
)


def _evidence(d) -> str:
    """The evidence sentence, each number recomputed from the run's arrays."""
    loss, data = d.loss, compute.data_for(d.config)
    rising = np.mean(loss[1:] > loss[:-1])  # a finite run: every step counts
    chance = np.bincount(data.y_train).max() / data.y_train.size  # always the most common class
    acf, low, high = d.acf[1:], d.null_low[1:], d.null_high[1:]
    outside = np.mean((acf < low) | (acf > high))
    rates = d.expansion.rate[np.isfinite(d.expansion.rate)]
    assert rates.size  # both runs below find neighbours
    significant = d.expansion.significant.sum() / rates.size
    return (
        f"The loss rises on {rising:.0%} of the steps; final training accuracy {d.accuracy[-1]:.0%} (always "
        f"answering the most common class: {chance:.0%}). After iteration {d.transient:,}, its ACF lies "
        f"outside the shuffle band at {outside:.0%} of lags; {rates.size:,} of {d.expansion.t0.size:,} reference "
        f"times found neighbours, and {significant:.0%} of their expansion rates are significant (median "
        f"{np.median(rates):.3g} per iteration)."
    )


def test_a_periodic_run_is_called_a_cycle_with_its_period_and_start(periodic):
    assert periodic.attractor.to_dict() == {"kind": "periodic", "period": 10, "since": 404}
    assert np.isfinite(periodic.loss).all() and periodic.loss.size == 3001
    tail = periodic.loss[-1500:]  # the classifier's window: it repeats every 10 iterations there
    np.testing.assert_allclose(tail[10:], tail[:-10], rtol=1e-6)  # core.analysis.attractor.RTOL
    assert not np.allclose(tail[1:], tail[:-1], rtol=1e-6)  # and is no fixed point
    assert chaos.summary_text(periodic) == (
        "This run settles on a cycle of period 10 from iteration 404 to its end (3,000): its loss repeats "
        f"every 10 iterations to {chaos.TOLERANCE_TEXT}. A periodic orbit, not chaos. {_evidence(periodic)} {READING}"
    )


def test_an_aperiodic_run_is_not_called_a_cycle(aperiodic):
    assert aperiodic.attractor.kind == APERIODIC
    assert chaos.summary_text(aperiodic) == (
        "This run's loss does not settle: no fixed point and no cycle of period up to 300 repeats over "
        f"its last 1,500 iterations, so it stays aperiodic to its end (3,000). {_evidence(aperiodic)} {READING}"
    )


def test_fixed_points_falling_losses_and_divergences_have_their_own_sentences(periodic):
    at_rest = dataclasses.replace(periodic, attractor=Attractor(FIXED_POINT, 1, 1234, 1500, 300))
    assert chaos.attractor_sentence(at_rest) == (
        f"This run settles on a fixed point from iteration 1,234 to its end (3,000): its loss stays at "
        f"{periodic.loss[-1]:.4g}. Not chaos."
    )
    falling = dataclasses.replace(
        periodic, attractor=Attractor(APERIODIC, None, None, 1500, 300), loss_increase_fraction=0.0
    )
    assert chaos.attractor_sentence(falling) == (
        "This run's loss falls at every step but has not settled by iteration 3,000: still converging."
    )
    diverged = dataclasses.replace(periodic, attractor=Attractor(DIVERGED, None, 17, 1500, 300))
    assert chaos.summary_text(diverged) == "The loss became non-finite at iteration 17: this run diverged."


def test_the_intro_asserts_nothing_about_the_run():
    intro = "".join(p if isinstance(p, str) else p.children for p in chaos.layout()[0].children)  # glossary words
    assert "fixed point or a cycle" in intro
    for claim in ("never settles", "never learns", "jumps between plateaus", "is chaotic"):
        assert claim not in intro
