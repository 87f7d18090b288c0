"""The regime labels of a trained network (docs/method.md §6 and §9), from the evidence written
beside each threshold: a 2 x 2 rule table, plus diverged.

                   calm        unsettled
    learned        stable      edge
    not learned    slow        chaotic

Learned: the final training accuracy is at least LEARNED_FRACTION of the way from chance to 1.
Unsettled: the loss rises on at least RISING_STEPS of the steps, or the FTLE fit is kept
(exponential separation), or the copies' mean distance grows SEPARATION (in ln) above its
start at some step. Calm: none of these. Diverged overrides every other label.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt

from core.arrays import BoolArray, FloatArray
from core.data import Dataset

# Evidence for every threshold below: Iris, 4-10-3 sigmoid, eps 1e-8, 5 copies, sweeps of
# core.experiments.regimes.run_sweep over geometric_grid(0.001, 20, 25) (the `cli.py sweep` grid) with
# (steps, first seed, networks) = (500, 0, 20), (300, 100, 12), (500, 200, 12), (2000, 300, 12),
# plus 5000 steps at eta 0.001, 0.01, 0.1, 0.2 (10 networks) and the "Regime map (quick)"
# preset (12 eta from 0.01 to 10, 6 networks, 300 steps, 20 copies).
STABLE, SLOW, EDGE, CHAOTIC, DIVERGED = "stable", "slow", "edge", "chaotic", "diverged"

# Learned: chance is the most common class's share (Iris: 0.35), so 0.675. eta 0.01 after 5000
# steps reaches 0.95-0.98 and eta 1.11 after 500 steps a median 0.925; every network at
# eta >= 5.8 stays at 0.32-0.35. Networks at 0.667 (two classes of three) fall just short.
# "Not learned yet" at a small step: at eta 0.001, 2 of 20 networks pass after 500 steps and
# 9 of 10 after 5000 (0.69-0.98).
LEARNED_FRACTION = 0.5
# The loss rises: at least this share of loss-increasing steps. No network at eta <= 0.15 has a
# single one (up to 5000 steps); eta 1.11 has a median 46%, eta >= 5 a median 55% (95% of the
# networks above 34%; the rest, 3-4%, are stuck on a plateau: see SEPARATION).
RISING_STEPS = 0.05
# Nearby networks separate: max_t ln(<d(t)> / <d(0)>) at least ln 100. At eta <= 0.15 it
# stays <= 3.1 (eta 0.1, 5000 steps; <= 2.2 up to 2000 steps); networks that have not
# learned at eta >= 1.5 with under 5% rising steps and no kept FTLE (stuck at chance after
# early jumps, 1.2-4.2% rising steps) reach 5.3 to 18.1; eta 1.11: 12-18.
SEPARATION = math.log(100)

REGIMES = (STABLE, SLOW, EDGE, CHAOTIC, DIVERGED)  # legend order; a tied majority goes to the first
_FOLD = f"{math.exp(SEPARATION):.0f}×"
_CALM = f"the loss rises on under {RISING_STEPS:.0%} of steps and nearby networks stay within {_FOLD}"
_RISES = f"the loss rises on {RISING_STEPS:.0%} or more of steps"
_UNSETTLED = f"{_RISES} or nearby networks separate (exponentially, or over {_FOLD})"
REGIME_TEXT = {
    STABLE: f"stable: it learns; {_CALM} of their first distance",
    SLOW: f"slow: it has not learned yet, though {_CALM} of their first distance",
    EDGE: f"edge of stability: it learns, yet {_UNSETTLED}",
    CHAOTIC: f"chaotic: it has not learned, and {_UNSETTLED}",
    DIVERGED: "diverged: the weights or the loss overflowed",
}


def regime_labels(
    diverged: BoolArray,
    train_accuracy: FloatArray,
    chance: float,
    increases: FloatArray,
    ftle_kept: BoolArray,
    separation: FloatArray,
) -> npt.NDArray[np.object_]:
    """Per network, the regime of the rule table above; arrays of one shape in (``separation``:
    max_t ln(<d(t)>/<d(0)>); NaN counts as calm), object array of labels out."""
    learned = train_accuracy >= chance + LEARNED_FRACTION * (1.0 - chance)
    unsettled = (increases >= RISING_STEPS) | ftle_kept | (separation >= SEPARATION)  # NaN >= x is False
    table = [(diverged, DIVERGED), (learned & ~unsettled, STABLE), (learned, EDGE), (~unsettled, SLOW)]
    labels = np.select([np.asarray(c, dtype=bool) for c, _ in table], [r for _, r in table], CHAOTIC)
    return labels.astype(object)


def majority(labels: npt.NDArray[np.object_]) -> str | None:
    """The most common label (ties: the first in REGIMES); None for no labels."""
    counts = Counter(str(label) for label in labels)
    if not counts:
        return None
    return max(REGIMES, key=lambda r: (counts[r], -REGIMES.index(r)))


def chance_accuracy(data: Dataset) -> float:
    """The accuracy of always answering the most common training class."""
    return float(np.bincount(data.y_train).max() / data.y_train.size)
