"""The Chaos view's long run as a plain function: its figures, its summary, its refusals."""

import dataclasses

import pytest
from dash import no_update

from core.analysis.attractor import APERIODIC, DIVERGED, FIXED_POINT, Attractor
from core.config import RunConfig
from core.experiments.diagnostics import run_diagnostics
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
    loss_norm, acf, rates, weights = figures
    assert len(loss_norm.data) >= 2 and "lags" in acf.layout.title.text
    assert weights.data and all(t.name.startswith("p") for t in weights.data)
    assert "The loss rises on" in summary and "%" in summary
    assert "settles on a cycle of period 10 from iteration 350 to its end (3,000)" in summary  # seed 0
    assert any("of 3,000" in text for (text,) in updates)
    key = plan_of(store, "chaos", _request({"eta": 5, "steps": 3000})).key
    assert all(f.layout.meta["record"] == key for f in figures)  # each figure names the record it shows


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
    return _record(0)  # period 10 from iteration 350


@pytest.fixture(scope="module")
def aperiodic():
    return _record(30)  # the Chaotic preset's network


def _numbers(d) -> list[str]:
    """The run's own numbers, as the summary must print them."""
    return [
        f"rises on {d.loss_increase_fraction:.0%} of the steps",
        f"final training accuracy {d.accuracy[-1]:.0%}",
        f"most common class: {d.chance:.0%}",
        f"After iteration {d.transient:,}",
        f"outside the shuffle band at {d.fraction_outside_band:.0%} of lags",
        f"{d.expansion.fraction_significant:.0%} of their expansion rates are significant",
    ]


def test_a_periodic_run_is_called_a_cycle_with_its_period_and_start(periodic):
    assert periodic.attractor.to_dict() == {"kind": "periodic", "period": 10, "since": 350}
    text = chaos.summary_text(periodic)
    assert text.startswith("This run settles on a cycle of period 10 from iteration 350 to its end (3,000)")
    assert "A periodic orbit, not chaos." in text and "aperiodic" not in text
    assert all(number in text for number in _numbers(periodic)), text


def test_an_aperiodic_run_is_not_called_a_cycle(aperiodic):
    assert aperiodic.attractor.kind == APERIODIC
    text = chaos.summary_text(aperiodic)
    assert text.startswith(
        "This run's loss does not settle: no fixed point and no cycle of period up to 300 repeats over "
        "its last 1,500 iterations, so it stays aperiodic to its end (3,000)."
    )
    assert "settles on" not in text and "not chaos" not in text
    assert all(number in text for number in _numbers(aperiodic)), text


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
