"""What a long run settles on, read from its loss series L(t) (docs/method.md §7).

Gradient descent at a fixed learning rate is an iterated map, so a run that stops changing
has reached a fixed point, one that repeats itself has reached a cycle, and one that does
neither within the run is aperiodic (chaotic, quasi-periodic, or still on its way). The
test is the one of the orbit diagram (§6), made sequential: the period p is the smallest p
with |L(t + p) - L(t)| <= tolerance at every t of the run's last half, and ``since`` is the
first iteration from which that holds to the end of the run.

The kinds are finite-time statements about the run given. At η = 5 a cycle can be a laminar
phase that ends in a burst: the Iris network of seed 0 repeats with period 10 from iteration
350 to about 35,800 and is irregular again from about 36,000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.arrays import FloatArray
from core.validate import check_float, check_int

FIXED_POINT, PERIODIC, APERIODIC, DIVERGED = "fixed_point", "periodic", "aperiodic", "diverged"
KINDS = (FIXED_POINT, PERIODIC, APERIODIC, DIVERGED)

# Evidence: Iris, 4-10-3 sigmoid, η = 5, seeds 0-199, 10,000 iterations; the largest
# |L(t + p) - L(t)| over the last half at each run's best period p, relative to the largest |L|
# there. 112 runs repeat to 1e-14-1e-8; the residue is a slow drift of the weights along the
# cycle, not rounding (seed 0's change per period falls from 3e-9 at iteration 1000 to 1e-10
# at 10,000). 6 runs sit at 2e-8-1e-6: 2 still closing in on their cycle when the last half
# began (seeds 63, 145), 1 drifting along it (52), 3 slowly moving off it (11, 80, 102: from
# 1e-8 to 3e-8, as seed 156 did before a burst). 1 run at 3.6e-6 was closing in after a burst
# (81); 81 runs differ by 1e-5 or more (76 by more than 1e-3). 1e-6 is also the tolerance at
# which the orbit diagram counts distinct losses (§6).
RTOL = 1e-6
TAIL_FRACTION = 0.5  # the period must hold over the run's last half: settled for half the run
# The last half must hold this many periods, so a cycle is seen to repeat at least 4 times.
MIN_REPEATS = 5
# Longest period searched. The settled runs above have periods 1, 2, 3 and 10; the near-cycles
# of the others have periods up to 627 (seeds 8 and 50, repeating to 8e-4). Checking 1000
# periods on a 5000-value tail takes about 20 ms.
MAX_PERIOD = 1000


@dataclass(frozen=True)
class Attractor:
    """kind: one of KINDS. period: the smallest period (1 for a fixed point), None for
    aperiodic and diverged runs. since: the first iteration from which the series repeats
    with that period to the end of the run; for a diverged run, the first non-finite one;
    None for an aperiodic run. window: how many of the last values the period was checked
    on; max_period: the longest period searched."""

    kind: str
    period: int | None
    since: int | None
    window: int
    max_period: int

    def to_dict(self) -> dict[str, str | int | None]:
        """The JSON form: kind, period, since."""
        return {"kind": self.kind, "period": self.period, "since": self.since}


def classify_attractor(
    series: FloatArray,
    *,
    rtol: float = RTOL,
    tail_fraction: float = TAIL_FRACTION,
    min_repeats: int = MIN_REPEATS,
    max_period: int = MAX_PERIOD,
) -> Attractor:
    """(T + 1,) loss series -> :class:`Attractor`, by the rule of the module docstring.

    The tolerance is ``rtol`` times the largest |L| over the last ``tail_fraction`` of the
    series (the window); periods 1 .. min(max_period, window // min_repeats) are tried, the
    smallest that holds over the whole window wins. A series with a non-finite value is
    diverged. A series too short for a period-1 check is aperiodic (nothing seen to repeat).
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"series must be a 1-D array of 1 or more values, got shape {x.shape}")
    check_float("rtol", rtol, low=0.0, high=1.0, low_inclusive=True)
    check_float("tail_fraction", tail_fraction, low=0.0, high=1.0)
    check_int("min_repeats", min_repeats, low=2, high=1_000_000)
    check_int("max_period", max_period, low=1, high=10_000_000)
    bad = np.flatnonzero(~np.isfinite(x))
    window = int(x.size * tail_fraction)
    longest = min(max_period, window // min_repeats)
    if bad.size:
        return Attractor(DIVERGED, None, int(bad[0]), window, longest)
    tail = x[x.size - window :]
    tolerance = rtol * float(np.abs(tail).max(initial=0.0))
    for p in range(1, longest + 1):
        if np.abs(tail[p:] - tail[:-p]).max() <= tolerance:
            return Attractor(FIXED_POINT if p == 1 else PERIODIC, p, _since(x, p, tolerance), window, longest)
    return Attractor(APERIODIC, None, None, window, longest)


def _since(x: FloatArray, period: int, tolerance: float) -> int:
    """First t such that |x(s + period) - x(s)| <= tolerance for every s >= t."""
    off = np.flatnonzero(np.abs(x[period:] - x[:-period]) > tolerance)
    return int(off[-1]) + 1 if off.size else 0
