"""The regime labels of a trained network (docs/method.md §6), from the evidence written beside
each threshold: stable, edge of stability, chaotic, diverged."""

from __future__ import annotations

from collections import Counter

import numpy as np

from core.data import Dataset

# Evidence, measured on Iris (4-10-3 sigmoid, 10 networks, 500 steps) with an independent
# implementation: eta = 0.01 reaches median training accuracy 0.82 with no loss-increasing
# step; eta = 1 reaches 0.93 with ~45% of its steps increasing the loss, its copies separate
# exponentially (FTLE ~0.29 per step, ~90% of fits kept) and its sharpness hovers around
# 2/eta; eta = 5, 20 and 1000 stay at chance (0.32-0.35) with 47-57% increasing steps.
STABLE, EDGE, CHAOTIC, DIVERGED = "stable", "edge", "chaotic", "diverged"
REGIMES = (STABLE, EDGE, CHAOTIC, DIVERGED)
REGIME_TEXT = {
    STABLE: "stable: the loss falls step after step and nearby networks stay together",
    EDGE: "edge of stability: the loss rises now and then, nearby networks separate exponentially, yet it learns",
    CHAOTIC: "chaotic: the loss jumps irregularly and the network never learns (accuracy near chance)",
    DIVERGED: "diverged: the weights or the loss overflowed",
}
# Learned: the final training accuracy is at least this fraction of the way from chance (the
# most common class's share) to 1. Iris: chance 0.35, so 0.68; eta 0.01 (0.82) and 1 (0.93) pass,
# eta >= 5 (0.32-0.35) do not.
LEARNED_FRACTION = 0.5
# Chaotic: not learned and at least this share of steps increase the loss (eta >= 5: 47-57%;
# a network that is merely slow, like eta = 0.001 after 500 steps, has ~0%).
CHAOTIC_INCREASES = 0.3
# Edge of stability: learned, and either a kept (positive, exponential) FTLE or at least this
# share of loss-increasing steps (eta = 1: ~45%; eta = 0.01: 0%).
EDGE_INCREASES = 0.05


def regime_labels(
    diverged: np.ndarray, train_accuracy: np.ndarray, chance: float, increases: np.ndarray, ftle_kept: np.ndarray
) -> np.ndarray:
    """Per network, the regime from the rules above; arrays of one shape in, str array out."""
    learned = train_accuracy >= chance + LEARNED_FRACTION * (1.0 - chance)
    labels = np.full(np.shape(diverged), STABLE, dtype=object)
    labels[learned & ((increases >= EDGE_INCREASES) | ftle_kept)] = EDGE
    labels[~learned & (increases >= CHAOTIC_INCREASES)] = CHAOTIC
    labels[diverged] = DIVERGED
    return labels


def majority(labels: np.ndarray) -> str | None:
    """The most common label (ties: the first in REGIMES); None for no labels."""
    counts = Counter(str(label) for label in labels)
    if not counts:
        return None
    return max(REGIMES, key=lambda r: (counts[r], -REGIMES.index(r)))


def chance_accuracy(data: Dataset) -> float:
    """The accuracy of always answering the most common training class."""
    return float(np.bincount(data.y_train).max() / data.y_train.size)
