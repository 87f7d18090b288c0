"""Regime labels: the rule table on every combination of its evidence, and the labels of real
sweeps (the Regimes view's quick map, the default sweep) checked against their own numbers."""

import itertools

import numpy as np
import pytest

from core.analysis.labels import (
    CHAOTIC,
    DIVERGED,
    EDGE,
    LEARNED_FRACTION,
    REGIME_TEXT,
    REGIMES,
    RISING_STEPS,
    SEPARATION,
    SLOW,
    STABLE,
    majority,
    regime_labels,
)
from core.config import RunConfig
from core.experiments.regimes import geometric_grid, run_sweep

CHANCE = 0.35  # Iris's most common training class
LEARNED = CHANCE + LEARNED_FRACTION * (1 - CHANCE)
ORDER = {SLOW: 0, STABLE: 1, EDGE: 2, CHAOTIC: 3, DIVERGED: 4}  # along eta, small to large


def table(diverged: bool, learned: bool, rising: bool, kept: bool, separated: bool) -> str:
    """docs/method.md §9, case by case."""
    if diverged:
        return DIVERGED
    unsettled = rising or kept or separated
    if learned:
        return EDGE if unsettled else STABLE
    return CHAOTIC if unsettled else SLOW


def test_every_combination_of_the_evidence_gets_the_label_of_the_table():
    cases = list(itertools.product([False, True], repeat=5))  # 32 networks
    diverged, learned, rising, kept, separated = (np.array(c) for c in zip(*cases, strict=True))
    labels = regime_labels(
        diverged, np.where(learned, 0.9, 0.4), CHANCE, np.where(rising, 0.3, 0.0), kept, np.where(separated, 10.0, 0.5)
    )
    assert list(labels) == [table(*c) for c in cases]
    assert set(labels) == set(REGIMES) == set(REGIME_TEXT)  # total: every label reachable, no other


def test_each_threshold_is_inclusive_and_a_nan_separation_is_calm():
    n = 5
    labels = regime_labels(
        np.zeros(n, dtype=bool),
        np.array([LEARNED, np.nextafter(LEARNED, 0), 0.9, 0.9, 0.9]),
        CHANCE,
        np.array([0.0, 0.0, RISING_STEPS, np.nextafter(RISING_STEPS, 0), 0.0]),
        np.zeros(n, dtype=bool),
        np.array([0.0, 0.0, 0.0, np.nextafter(SEPARATION, 0), np.nan]),
    )
    assert list(labels) == [STABLE, SLOW, EDGE, STABLE, STABLE]
    at_separation = regime_labels(
        np.array([False]), np.array([0.9]), CHANCE, np.zeros(1), np.zeros(1, dtype=bool), np.array([SEPARATION])
    )
    assert at_separation[0] == EDGE


def test_the_networks_of_the_issue_are_not_stable():
    """eta = 2.85 on the quick map: networks at chance (0.35) or just short of learned (0.667)
    with 7-16% loss-increasing steps, copies e^10-e^18 apart, were labelled "stable"."""
    labels = regime_labels(
        np.zeros(4, dtype=bool),
        np.array([0.667, 0.35, 0.35, 0.35]),
        CHANCE,
        np.array([0.067, 0.163, 0.163, 0.0]),
        np.array([True, False, False, False]),
        np.array([18.2, 10.6, 0.0, 0.2]),
    )
    assert list(labels) == [CHAOTIC, CHAOTIC, CHAOTIC, SLOW]
    assert majority(labels) == CHAOTIC and majority(np.array([SLOW, STABLE])) == STABLE  # tie: first in REGIMES


def test_every_sentence_quotes_the_thresholds_it_rests_on():
    for label in (STABLE, SLOW, EDGE, CHAOTIC):
        assert f"{RISING_STEPS:.0%}" in REGIME_TEXT[label] and f"{np.exp(SEPARATION):.0f}×" in REGIME_TEXT[label]
    assert "not learned" in REGIME_TEXT[SLOW] and "not learned" in REGIME_TEXT[CHAOTIC]


def labels_against_numbers(sweep) -> None:
    """Each network's label agrees with its own numbers, and the strip reads in eta order."""
    runs = sweep.runs()
    learned = runs["train_accuracy"] >= LEARNED
    rising = runs["loss_increase_fraction"] >= RISING_STEPS
    assert not (runs["regime"].isin([STABLE, EDGE]) & ~learned).any(), runs[~learned]
    assert not (runs["regime"].isin([STABLE, SLOW]) & (rising | runs["ftle_kept"])).any()
    summary = sweep.summary()
    at_chance = summary["train_accuracy"] <= sweep.chance + 0.05
    assert not (summary["regime"][at_chance] == STABLE).any(), summary
    order = [ORDER[r] for r in summary["regime"]]
    assert order == sorted(order), list(summary["regime"])


@pytest.fixture(scope="module")
def quick_map():
    """The "Regime map (quick)" preset as the Regimes view runs it (5 copies per network): ~4 s."""
    config = RunConfig(learning_rate=1.0, eps=1e-8, n_steps=300, n_perturbations=5)
    return run_sweep(config, geometric_grid(0.01, 10.0, 12), 6, workers=2)


def test_the_quick_map_labels_agree_with_its_numbers(quick_map):
    labels_against_numbers(quick_map)
    assert set(quick_map.summary()["regime"]) == {STABLE, EDGE, CHAOTIC}


def test_the_default_sweep_labels_agree_with_its_numbers():
    """`cli.py sweep`'s defaults (25 eta from 0.001 to 20, 20 networks, 5 copies, 500 steps):
    ~30 s on 2 cores. At eta = 0.001 most networks have not learned in 500 steps, though the
    loss never rose and their copies stayed together: slow, not stable."""
    sweep = run_sweep(RunConfig(n_steps=500, n_perturbations=5), geometric_grid(0.001, 20.0, 25), 20, workers=2)
    labels_against_numbers(sweep)
    first = sweep.summary().iloc[0]
    assert first["regime"] == SLOW and first["loss_increase_fraction"] == 0
    assert first["train_accuracy"] < LEARNED and (sweep.separation[0] < SEPARATION).all()
