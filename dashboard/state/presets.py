"""The presets: buttons that set the controls (and the Regimes view's map settings) and open a
view, each with a sentence of what the run shows (the paper's regimes of the learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboard.state.rules import default_values


@dataclass(frozen=True)
class Preset:
    label: str
    sentence: str
    values: dict[str, Any]
    view: str
    maps: dict[str, Any] | None = None  # the Regimes view's settings

    def settings(self) -> dict[str, Any]:
        """Every control's value after the preset: its own values over the defaults."""
        return {**default_values(), **self.values}


PRESETS: dict[str, Preset] = {
    "low": Preset(
        "Low learning rate (η = 0.01)",
        "The loss falls smoothly; the copies drift apart and back but stay of the order of their "
        "first distance: stable, no exponential growth.",
        {"eta": 0.01, "eps": 1e-8, "perturbations": 20, "steps": 5000},
        "divergence",
    ),
    "edge": Preset(
        "Edge of stability (η = 1)",
        "The loss spikes yet converges; nearby networks separate exponentially at first "
        "(a positive finite-time Lyapunov exponent) until the distance saturates. (Seed 1: a network "
        "whose exponential phase is clean; some, like seed 0, jump abruptly instead.)",
        {"eta": 1.0, "eps": 1e-8, "perturbations": 5, "steps": 1000, "seed": 1},
        "lyapunov",
    ),
    # Seed 30, because at η = 5 more than half the networks settle: of seeds 0-199, 108 reach a fixed
    # point or a cycle by iteration 3,000 and 121 by 10,000 (seed 0: period 10 from iteration 404).
    # Of the 46 whose loss stays aperiodic (core.analysis.attractor) at both, 41 repeat to 1e-3 of
    # the loss with some period up to 30 on 80% or more of their steps after iteration 1,000 (a
    # slowly drifting cycle); the four least repetitive are seeds 50, 154, 8 (3% of steps) and 30
    # (77%). Seed 30 is aperiodic at 3,000, 10,000 and 50,000 iterations (between, it holds a
    # period-6 cycle from 6,038 to past 20,000) with its training accuracy never above chance. All
    # measured with the kernels' target CPU pinned (core.engine.numba_cache);
    # tests/dashboard/state/test_presets.py checks the run at the preset's settings.
    "chaotic": Preset(
        "Chaotic-intermittent (η = 5)",
        "The network never learns (its training accuracy never exceeds chance, 35%): the loss jumps "
        "between about 3 and 15 without settling on a fixed point or a cycle, and the distance between "
        "copies started 1e-8 apart grows a millionfold within 100 iterations. (Seed 30: at η = 5 more "
        "than half the networks, seed 0 among them, settle on a fixed point or a cycle instead.)",
        {"eta": 5.0, "eps": 1e-8, "perturbations": 10, "steps": 3000, "seed": 30},
        "divergence",
    ),
    "regimes": Preset(
        "Regime map (quick)",
        "Twelve learning rates from 0.01 to 10, six networks each, 300 iterations: the loss falls "
        "smoothly at small η, nearby networks separate exponentially while still learning around "
        "η = 1 (edge of stability), and the network stops learning beyond (chaotic).",
        {"eta": 1.0, "eps": 1e-8, "steps": 300, "dataset": "iris"},
        "regimes",
        {"map": "eta", "eta_min": 0.01, "eta_max": 10.0, "eta_points": 12, "inits": 6, "map_steps": 300},
    ),
    # The sentence is read off this map (cli.py map --kind eta-depth --etas 0.05 0.107 0.227 0.484
    # 1.03 2.2 4.69 10 --inits 3 --steps 300 --perturbations 5, the page's grid and copies): no
    # kept fit at any depth up to 0.227; the first kept fits at 0.484 (depths 1, 2), 1.03 (3),
    # 2.2 (4); at 4.69 and 10 the mean test accuracy is 27-42% at every depth (chance 33%; the
    # median final loss of depths 2-4 at 4.69 is ln 3 = 1.10 to 0.01: every class alike). Checked
    # by tests/dashboard/state/test_arch_preset.py.
    "architectures": Preset(
        "Regimes across architectures",
        "Eight learning rates from 0.05 to 10 for networks of one to four hidden layers of 10 units "
        "(three networks each, 300 iterations), coloured by the finite-time Lyapunov exponent: up to "
        "η = 0.23 nearby networks never separate exponentially at any depth; the first positive "
        "exponents come at η = 0.48 with one or two hidden layers, at 1.03 with three and at 2.2 with "
        "four; at η = 4.7 and 10 no depth learns (test accuracy 27-42%, chance 33%).",
        {"eta": 1.0, "eps": 1e-8, "steps": 300, "dataset": "iris"},
        "regimes",
        {
            "map": "eta-depth",
            "eta_min": 0.05,
            "eta_max": 10.0,
            "eta_points": 8,
            "inits": 3,
            "map_steps": 300,
            "map_value": "default",
            "map_axis": "",
        },
    ),  # fmt: skip
    "digits": Preset(
        "Digits (η = 1)",
        "Handwritten 8x8 digits with a 64-64-10 tanh network: at η = 1 it passes 90% test accuracy "
        "in about 30 iterations while nearby networks stay together.",
        {
            "dataset": "digits",
            "hidden": 64,
            "activation": "tanh",
            "eta": 1.0,
            "eps": 1e-8,
            "perturbations": 5,
            "steps": 300,
        },
        "divergence",
    ),
    "orbital": Preset(
        "Orbital stability",
        "Perturb the trained network at iteration 4000 instead of at the start: the distance "
        "neither grows nor shrinks, the sign of flat directions in the loss basin.",
        {"eta": 0.01, "eps": 1e-8, "perturbations": 20, "steps": 5000},
        "orbital",
    ),
}


def matching_preset(
    values: dict[str, Any], maps: dict[str, Any], view: str, shown: Any = None, keep_shown: bool = False
) -> Preset | None:
    """The preset whose settings the page shows now (its own values over the defaults, and its
    map settings); None once any setting differs, so that a preset's sentence is never left
    beside another run. Of presets with the same settings (Low and Orbital), the one whose
    sentence is ``shown`` stays if ``keep_shown`` (only the tab changed), else the one that
    opens ``view`` is chosen."""

    def matches(preset: Preset) -> bool:
        return all(values.get(n) == v for n, v in preset.settings().items()) and all(
            maps.get(n) == v for n, v in (preset.maps or {}).items()
        )

    # on the Regimes view the page shows a map: only a map preset's sentence describes it
    found = [p for p in PRESETS.values() if matches(p) and (view != "regimes" or p.maps is not None)]
    kept = [p for p in found if keep_shown and p.sentence == shown]
    preferred = kept + [p for p in found if p.view == view] + found
    return preferred[0] if preferred else None
