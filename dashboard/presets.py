"""The presets: buttons that set the controls (and the Regimes view's map settings) and open a
view, each with a sentence of what the run shows (the paper's regimes of the learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    label: str
    sentence: str
    values: dict[str, Any]
    view: str
    maps: dict[str, Any] | None = None  # the Regimes view's settings


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
    "chaotic": Preset(
        "Chaotic-intermittent (η = 5)",
        "The network never learns: the loss jumps between plateaus such as ln 3 and irregular "
        "bursts, and copies separate quickly.",
        {"eta": 5.0, "eps": 1e-8, "perturbations": 10, "steps": 3000},
        "divergence",
    ),
    "regimes": Preset(
        "Regime map (quick)",
        "Twelve learning rates from 0.01 to 10, six networks each, 300 iterations: the loss falls "
        "smoothly at small η, nearby networks separate exponentially while still learning around "
        "η = 1 (edge of stability), and the network stops learning beyond (chaotic).",
        {"eta": 1.0, "eps": 1e-8, "steps": 300, "dataset": "iris"},
        "regimes",
        {"map": "eta", "eta_min": 0.01, "eta_max": 10.0, "eta_points": 12, "inits": 6},
    ),
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
