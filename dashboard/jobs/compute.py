"""The computations behind the views, as plain functions of a config (no Dash).

Each computation returns a typed *record* (dashboard.jobs.records) that figures are drawn from
and exports are written from. Progress goes through a plain callable
(``dashboard.jobs.runner.Control``), which may stop the computation. What a page may ask of
them, checked, with each record's cache key, is the job's plan (dashboard.jobs.plans).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analysis.hessian import EXACT_MAX_PARAMS, preconditioned_sharpness, sharpness
from core.analysis.preconditioned import PreconditionerCarry
from core.analysis.tangent import TangentSpectrum, tangent_dimension
from core.analysis.weights import ablation_ratio, relative_displacement
from core.config import RunConfig
from core.experiments.eps_sweep import run_eps_sweep
from core.experiments.lyapunov_sweep import run_lyapunov
from core.experiments.map_kinds import map_kind
from core.experiments.orbital_stability import run_orbital
from core.experiments.regimes import TARGET_ACCURACY
from core.experiments.spectrum import run_leading_exponent, run_spectrum, run_stability_with_leading
from core.experiments.stability import dataset_for
from dashboard.jobs.records import (
    EpsSweepRecord,
    FTLERecord,
    FTLEWindow,
    MapRecord,
    OrbitalRecord,
    RunRecord,
    SpectrumRecord,
)
from dashboard.state.map_kinds import MAP_VIEWS

if TYPE_CHECKING:
    import numpy.typing as npt

    from core.arrays import FloatArray
    from core.data import Dataset

SWEEP_EPS = np.logspace(-15, -2, 14)  # Fig. 6; Fig. 4's panels use 1e-14, 1e-10, 1e-6, 1e-2
PANEL_EPS = (1e-14, 1e-10, 1e-6, 1e-2)
SWEEP_COPIES = 5
FTLE_EPS = np.logspace(-14, -1, 14)
FTLE_COPIES = 5
# One engine thread per job: the browser drawing live updates and the server answering
# polls need the other core. Measured on 2 cores with the earlier engine
# (scripts/bench_browser.py): the default run took 2.5 s in the app with 1 thread, 3.2 s
# with 2; with the current one a second thread no longer helps even alone (`cli.py bench`:
# 0.79 s with 1, 0.95 s with 2). One thread per job also suits a server running several
# users' jobs.
# (The FTLE sweep uses worker processes instead, one engine thread each.)
JOB_THREADS = 1
SHARPNESS_POINTS = 11  # sharpness points of a run whose Hessian needs Lanczos (digits)
# The leading tangent exponent of every run (k = 1): carried along the run's own training,
# its reference's tangent vector two rows more in each step's objective call
# (core.experiments.spectrum.run_stability_with_leading). Measured on the default run (Iris, 20
# copies, 5,000 steps; CPU time of the training, median of 9, one thread): +0.083 s beside its
# 0.50 s (+17%), where the second training of the reference it replaced took 0.143 s (+28%).
# Its price: dashboard.state.rules.with_tangent (core.engine.speed.TANGENT_STEP).
TANGENT_ROWS = 2  # rows each step of the run adds: theta +- h q of the reference
SPECTRUM_K_LARGE = 10  # exponents of a network whose Hessian is not formed (over EXACT_MAX_PARAMS: digits)
SPECTRUM_POINTS = 1000  # running estimates kept in a spectrum's record (and drawn)


def leading_exponent(config: RunConfig, data: Dataset | None = None) -> TangentSpectrum:
    """The leading tangent exponent of ``config``'s reference network (docs/method.md §10); every
    update rule has its tangent map (GD, momentum, Nesterov, Adam: core.analysis.tangent)."""
    return run_leading_exponent(config, data=data, threads=JOB_THREADS)


def stability(config: RunConfig, on_progress: Callable | None = None) -> RunRecord:
    """The main run: reference + M copies, with everything the views draw."""
    # frequent calls, so the first live curve comes early and a stop request is seen at once;
    # the Control limits what is sent
    # Adam: its preconditioner along the reference's training too, for its preconditioned sharpness
    adam = PreconditionerCarry(config.update_rule(), config.save_every) if config.optimizer == "adam" else None
    result, lead = run_stability_with_leading(  # the leading exponent carried along this training
        config, on_progress=on_progress, progress_every=50, threads=JOB_THREADS, carry=adam
    )
    traj, mlp, data = result.trajectory, result.mlp, result.data
    start, final = traj.theta[0, 0], traj.final_theta[0]
    fit = result.ftle
    objective = mlp.objective(data.x_train, data.y_train, config.l2)
    ablation: dict[str, Any] = {}  # the record's optional fields, each group given or left at its default
    curvature: dict[str, Any] = {}
    if np.isfinite(final).all() and np.isfinite(traj.loss[-1, 0]):
        w1, w2, *rest = (ablation_ratio(objective, final, layer) for layer in mlp.weight_names)
        ablation = {"ablation_w1": w1, "ablation_w2": w2, "ablation_rest": tuple(rest)}
    if not traj.cancelled:  # the reference's curvature at the saved steps (NaN once not finite)
        saved = np.arange(traj.steps.size)
        if mlp.n_params > EXACT_MAX_PARAMS:  # Lanczos, ~0.05-0.5 s each: at most SHARPNESS_POINTS
            saved = np.unique(np.linspace(0, saved.size - 1, SHARPNESS_POINTS).round().astype(int))
        curvature = {"sharpness_steps": traj.steps[saved], "sharpness": sharpness(objective, traj.theta[saved, 0])}
        if adam is not None and adam.carrier is not None:
            diagonal = adam.carrier.at(traj.steps[saved])
            curvature["preconditioned_sharpness"] = preconditioned_sharpness(objective, traj.theta[saved, 0], diagonal)
    tangent: dict[str, Any] = {}
    if not traj.cancelled:
        tangent = {"leading_exponent": float(lead.exponents[0]), "leading_steps": lead.n_steps}
    return RunRecord(
        config=config,
        iterations=np.arange(traj.n_steps + 1),
        distance=result.distance,
        mean_distance=result.mean_distance,
        normalized_distance=result.normalized_distance,
        loss=traj.loss,
        accuracy=traj.accuracy[:, 0],
        theta_norm=traj.theta_norm[:, 0],
        theta_start=start,
        theta_final=final,
        path_length=traj.path_length[0],
        displacement=relative_displacement(start, final),
        weight_mask=mlp.weight_mask,
        hidden=mlp.hidden,
        n_weights=mlp.n_weights,
        train_accuracy=float(traj.accuracy[-1, 0]),
        test_accuracy=float(result.test_accuracy[0]),
        predictions=mlp.predict(final[None, :], np.vstack([data.x_train, data.x_test]))[0],
        ftle=FTLEWindow(
            float(fit.slope), float(fit.r2), float(fit.start), float(fit.length), float(fit.intercept), bool(fit.kept)
        ),
        diverged_rows=tuple(int(r) for r in np.flatnonzero(traj.diverged)),
        cancelled=traj.cancelled,
        saved_steps=traj.steps,
        theta=traj.theta,
        **curvature,
        **ablation,
        **tangent,
    )


def eps_sweep(
    config: RunConfig, on_progress: Callable | None = None, eps_values: list[float] | FloatArray = SWEEP_EPS
) -> EpsSweepRecord:
    """The run repeated at 14 eps (1e-15 .. 1e-2, or ``eps_values``), 5 copies each, one
    initial network."""
    small = dataclasses.replace(config, n_perturbations=min(config.n_perturbations, SWEEP_COPIES))
    result = run_eps_sweep(small, eps_values, on_progress=on_progress, threads=JOB_THREADS)
    return EpsSweepRecord(
        iterations=np.arange(result.loss.shape[0]),
        eps=result.eps,
        distance=result.distance,
        normalized_distance=result.normalized_distance,
        loss=result.loss,
        cancelled=result.cancelled,
    )


def ftle_sweep(
    config: RunConfig,
    n_inits: int,
    n_steps: int,
    on_progress: Callable | None = None,
    workers: int = 1,
    eps_values: list[float] | FloatArray = FTLE_EPS,
) -> FTLERecord:
    """FTLE statistics over ``n_inits`` initial networks for 14 eps (the paper's Fig. 12, docs/method.md §3; or
    ``eps_values``), over ``workers`` processes."""
    short = dataclasses.replace(config, n_steps=n_steps, n_perturbations=FTLE_COPIES)
    result = run_lyapunov(short, eps_values, n_inits, on_progress=on_progress, workers=workers)
    tangent: dict[str, Any] = {}
    if not result.cancelled:
        lead = leading_exponent(short)  # network 0: ~10 ms at 200 steps
        tangent = {"leading_exponent": float(lead.exponents[0]), "leading_steps": lead.n_steps}
    return FTLERecord(
        eps=result.eps,
        slopes=result.fits.slope,
        kept=result.fits.kept,
        mean=np.array([s.mean for s in result.stats]),
        std=np.array([s.std for s in result.stats]),
        n_kept=np.array([s.kept for s in result.stats]),
        total=int(result.mean_distance.shape[0]),
        cancelled=result.cancelled,
        ci_low=np.array([s.ci_low for s in result.stats]),
        ci_high=np.array([s.ci_high for s in result.stats]),
        global_rate=_nanmean_rows(result.global_rate),
        seed=config.seed,
        **tangent,
    )


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """(G, E) -> (E,) mean over the finite values of each column (NaN for none)."""
    finite = np.isfinite(values)
    return np.where(
        finite.any(axis=0), np.where(finite, values, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1), np.nan
    )


def orbital(config: RunConfig, t0: int, on_progress: Callable | None = None) -> OrbitalRecord:
    result = run_orbital(config, t0, on_progress=on_progress, threads=JOB_THREADS)
    return OrbitalRecord(
        t0=t0,
        iterations=result.iterations,
        normalized_distance=result.normalized_distance,
        loss=result.after.loss[:, 0],
        cancelled=result.after.cancelled,
    )


# ---- maps over the learning rate (the Regimes view) --------------------------------
def regime_map(
    config: RunConfig,
    kind: str,
    etas: npt.ArrayLike,
    ys: npt.ArrayLike,
    n_inits: int,
    control: Callable[[int, int, Any], object] | None,
    workers: int,
) -> MapRecord:
    """The map of ``kind`` (core.experiments.map_kinds) as a MapRecord; ``control`` gets the
    partial results (``map_record`` draws them)."""
    result = map_kind(kind).run(config, etas, ys, n_inits, workers=workers, on_progress=control)
    return map_record(kind, config, n_inits, result)


def map_record(kind: str, config: RunConfig, n_inits: int, result: Any) -> MapRecord:
    """A (partial) result of the core's map kind as a MapRecord (its fields: dashboard.state.map_kinds)."""
    empty = np.zeros(0)
    parts = {"table": {}, "regimes": (), "ys": empty, "value": empty, "share": empty, "diverged": empty,
             "losses": empty, "target_accuracy": TARGET_ACCURACY, **MAP_VIEWS[kind].record_parts(result)}  # fmt: skip
    ys = np.asarray(parts.pop("ys"))
    return MapRecord(kind, config, np.asarray(result.etas), ys, n_inits, cancelled=result.cancelled, **parts)


def spectrum(config: RunConfig, k: int, control: Callable | None = None) -> SpectrumRecord:
    """The first ``k`` tangent exponents of ``config``'s reference network (docs/method.md §10).
    ``control`` follows the tangent steps (the training before them is ~1/30 of the work: it
    reports 0 done, so that a stop request is still seen)."""
    train = None if control is None else (lambda _done, total, *_: control(0, total))
    result = run_spectrum(config, k, on_progress=train, on_tangent=control)
    s = result.spectrum
    keep = np.unique(np.linspace(0, s.steps.size - 1, min(s.steps.size, SPECTRUM_POINTS)).round().astype(int))
    return SpectrumRecord(
        config=config,
        exponents=s.sorted,
        running_steps=s.steps[keep],
        running=s.running[keep],
        dim=tangent_dimension(config.update_rule(), s.n_params),
        n_positive=s.n_positive,
        total=s.total,
        kaplan_yorke=s.kaplan_yorke,
        n_steps=s.n_steps,
        diverged_at=s.diverged_at,
        cancelled=result.cancelled,
    )


def data_for(config: RunConfig) -> Dataset:
    """The data of a run (for the Weights and Data views)."""
    return dataset_for(config, None)
