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

from core.analysis.chaos import (
    ExpansionRates,
    autocorrelation,
    expansion_rates,
    loss_increase_fraction,
    shuffle_null_band,
)
from core.analysis.hessian import SharpnessSeries, sharpness, sharpness_series
from core.analysis.labels import REGIME_TEXT
from core.analysis.lyapunov import EnsembleStats, FTLEFit, ensemble_stats, fit_ftle, global_rate
from core.analysis.tangent import TangentSpectrum, kaplan_yorke, tangent_spectrum
from core.config import FTLEConfig, RunConfig
from core.data import Dataset, load_dataset, load_dataset_file, load_digits, load_iris
from core.engine.model import MLP
from core.engine.training import Trajectory, descend
from core.experiments.diagnostics import Diagnostics, run_diagnostics, top_moving_weights, weight_series
from core.experiments.eps_sweep import EpsSweepResult, run_eps_sweep
from core.experiments.lyapunov_sweep import LyapunovResult, run_lyapunov
from core.experiments.maps import MapResult, run_map, zoom
from core.experiments.orbit import OrbitResult, run_orbit
from core.experiments.orbital_stability import OrbitalResult, run_orbital
from core.experiments.regimes import SweepResult, run_sweep
from core.experiments.spectrum import SpectrumResult, run_spectrum
from core.experiments.stability import StabilityResult, run_stability

__all__ = [
    "Dataset",
    "Diagnostics",
    "EnsembleStats",
    "EpsSweepResult",
    "ExpansionRates",
    "FTLEConfig",
    "FTLEFit",
    "LyapunovResult",
    "MLP",
    "MapResult",
    "OrbitResult",
    "OrbitalResult",
    "REGIME_TEXT",
    "RunConfig",
    "SharpnessSeries",
    "SpectrumResult",
    "StabilityResult",
    "SweepResult",
    "TangentSpectrum",
    "Trajectory",
    "autocorrelation",
    "descend",
    "ensemble_stats",
    "expansion_rates",
    "fit_ftle",
    "global_rate",
    "kaplan_yorke",
    "load_dataset",
    "load_dataset_file",
    "load_digits",
    "load_iris",
    "loss_increase_fraction",
    "run_diagnostics",
    "run_eps_sweep",
    "run_lyapunov",
    "run_map",
    "run_orbit",
    "run_orbital",
    "run_spectrum",
    "run_stability",
    "run_sweep",
    "sharpness",
    "sharpness_series",
    "shuffle_null_band",
    "tangent_spectrum",
    "top_moving_weights",
    "weight_series",
    "zoom",
]
