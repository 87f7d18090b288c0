"""Training as a dynamical system in weight space (Danovski, Soriano, Lacasa 2024).

Pure NumPy (+ scikit-learn for the Iris data). Never imports dash or plotly.

Shape legend, used in every docstring and comment of the package:

    K  trajectories trained side by side (references and perturbed copies)
    N  samples (training rows)
    D  input features
    H  hidden units
    C  classes
    P  parameters of one network, flat: W1 (D*H), b1 (H), W2 (H*C), b2 (C)
    S  saved steps
    T  number of gradient-descent steps; per-step records have T + 1 rows
    M  perturbed copies per reference
    G  independent groups (initial conditions)

A network is one flat float64 vector; a batch of networks is ``theta: (K, P)``.
"""

from core.config import FTLEConfig, RunConfig
from core.data import Dataset, load_dataset_file, load_iris
from core.experiments import (
    EpsSweepResult,
    LyapunovResult,
    OrbitalResult,
    StabilityResult,
    run_eps_sweep,
    run_lyapunov,
    run_orbital,
    run_stability,
)
from core.lyapunov import EnsembleStats, FTLEFit, ensemble_stats, fit_ftle, global_rate
from core.model import MLP
from core.training import Trajectory, descend

__all__ = [
    "Dataset",
    "EnsembleStats",
    "EpsSweepResult",
    "FTLEConfig",
    "FTLEFit",
    "LyapunovResult",
    "MLP",
    "OrbitalResult",
    "RunConfig",
    "StabilityResult",
    "Trajectory",
    "descend",
    "ensemble_stats",
    "fit_ftle",
    "global_rate",
    "load_dataset_file",
    "load_iris",
    "run_eps_sweep",
    "run_lyapunov",
    "run_orbital",
    "run_stability",
]
