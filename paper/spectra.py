"""This project's figures of the tangent-space Lyapunov spectrum (docs/method.md §10): the
spectrum of several networks beside their finite-perturbation FTLE at eta = 1 and eta = 5, and
the spectrum's read-outs (positive exponents, leading exponent, sum, Kaplan-Yorke dimension)
against eta."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.experiments.regimes import geometric_grid
from dashboard.jobs.records import RunRecord, SpectrumRecord
from paper.drawings import against_eta, short_eps, spectra_beside_ftle
from paper.lab import Lab
from paper.sizes import Size
from paper.story import CHAOS, EDGE, FTLE_STEPS, Drawn, Number

BESIDE_ETAS = (EDGE, CHAOS)
FTLE_COPIES = 5  # as Figs. 11-12: 5 copies at eps = 1e-8 (the config's default eps)
POSITIVE_ETAS = (0.01, 10.0)
POSITIVE_READ = (0.01, 1.0, 10.0)  # where the count is given as a number (on every grid: its ends and 1)


def _beside_settings(eta: float, seed: int) -> dict:
    return {"seed": seed, "learning_rate": eta, "n_steps": FTLE_STEPS, "n_perturbations": FTLE_COPIES}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _beside_numbers(eta: float, spectra: list[SpectrumRecord], runs: list[RunRecord]) -> list[Number]:
    kept = [r.ftle.slope for r in runs if r.ftle.kept]
    head, leading = f"η = {eta:g}", _mean([s.exponents[0] for s in spectra])
    return [
        Number(f"{head}: leading tangent exponent λ₁, mean over {len(spectra)} networks", leading),
        Number(f"{head}: FTLE, mean of the kept fits", _mean(kept)),
        Number(f"{head}: share of networks whose FTLE fit is kept", len(kept) / len(runs)),
        Number(f"{head}: positive exponents of {spectra[0].dim}, mean", _mean([s.n_positive for s in spectra])),
        Number(f"{head}: sum of the exponents, mean", _mean([s.total for s in spectra])),
        Number(f"{head}: Kaplan-Yorke dimension, mean", _mean([s.kaplan_yorke for s in spectra])),
    ]  # fmt: skip


def draw_beside_ftle(lab: Lab, size: Size) -> Drawn:
    """Per eta: every exponent of each network over the FTLE's 200 iterations, and its leading
    one beside the FTLE of 5 copies of the same network."""
    panels, numbers = {}, []
    for eta in BESIDE_ETAS:
        seeds = range(size.spectrum_seeds)
        spectra = [lab.spectrum(**_beside_settings(eta, s)) for s in seeds]
        runs = [lab.run(**_beside_settings(eta, s)) for s in seeds]
        labels = [f"seed {s.config.seed}" for s in spectra]
        title = (f"η = {eta:g}: the tangent spectrum of each network over {FTLE_STEPS} iterations, "
                 f"its λ₁ beside the FTLE of {FTLE_COPIES} copies at ε = {short_eps(runs[0].config.eps)}")  # fmt: skip
        ftle = np.array([r.ftle.slope for r in runs])
        kept = np.array([bool(r.ftle.kept) for r in runs])
        panels[f"eta{eta:g}"] = spectra_beside_ftle(labels, np.array([s.exponents for s in spectra]), ftle, kept,
                                                    title=title)  # fmt: skip
        numbers += _beside_numbers(eta, spectra, runs)
    return Drawn(panels, numbers)


COUNT, SUM = "positive exponents", "sum of the exponents (per iteration)"
READOUTS: dict[str, Callable[[SpectrumRecord], float]] = {  # each a panel, by its title
    COUNT: lambda s: float(s.n_positive),
    "leading exponent λ₁ (per iteration)": lambda s: float(s.exponents[0]),
    SUM: lambda s: s.total,
    "Kaplan-Yorke dimension": lambda s: s.kaplan_yorke,
}


def positive_grid(lab: Lab, size: Size) -> tuple[np.ndarray, list[list[SpectrumRecord]]]:
    """The learning rates (E,) and, per eta, the spectra of networks 0 .. G-1."""
    etas = geometric_grid(*POSITIVE_ETAS, size.positive_etas)
    records = [
        [lab.spectrum(seed=s, learning_rate=float(eta), n_steps=size.positive_steps, n_perturbations=1)
         for s in range(size.positive_inits)]
        for eta in etas
    ]  # fmt: skip
    return etas, records


def readout(records: list[list[SpectrumRecord]], name: str, n_steps: int) -> np.ndarray:
    """(E, G) the read-out ``name`` of READOUTS; NaN where the trajectory stopped before
    ``n_steps`` (diverged): its exponents average fewer steps than the rest."""
    read = READOUTS[name]
    return np.array([[read(s) if s.n_steps == n_steps else np.nan for s in row] for row in records])


def draw_positive(lab: Lab, size: Size) -> Drawn:
    etas, records = positive_grid(lab, size)
    steps, dim = size.positive_steps, records[0][0].dim
    panels = {name: readout(records, name, steps) for name in READOUTS}
    title = (f"The tangent spectrum against η: all {dim} exponents of {size.positive_inits} networks per η "
             f"over {steps} iterations (grey: each network; black: their mean)")  # fmt: skip
    fig = against_eta(etas, panels, title=title, zero=tuple(n for n in READOUTS if "per iteration" in n))
    with np.errstate(all="ignore"):
        count, total = np.nanmean(panels[COUNT], axis=1), np.nanmean(panels[SUM], axis=1)
    numbers = [
        Number(f"η = {etas[i]:.3g}: positive exponents of {dim}, mean over {size.positive_inits} networks", count[i])
        for i in (int(np.argmin(np.abs(np.log(etas / eta)))) for eta in POSITIVE_READ)
    ]
    growing = etas[np.isfinite(total) & (total > 0)]
    numbers.append(Number("smallest η whose mean sum of exponents is positive (volumes grow)",
                          float(growing[0]) if growing.size else float("nan")))  # fmt: skip
    diverged = sum(s.n_steps < steps for row in records for s in row)
    numbers.append(Number("networks that diverged before the last iteration (left out)", float(diverged)))
    return Drawn({"": fig}, numbers)
