"""The computations behind the views, as plain functions of a config (no Dash), and the
plan of each kind of job: the checks of its request, its cache key and its work.

Each computation returns a typed *record* (dashboard.records) that figures are drawn from
and exports are written from. Records are cached by ``kind:version:config-hash:extra``,
so a repeated or shared run is read back instead of recomputed. Progress goes through a
plain callable (``dashboard.runner.Control``), which may stop the computation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from core.config import RunConfig
from core.data import dataset_shape
from core.diagnostics import run_diagnostics
from core.eps_sweep import run_eps_sweep
from core.experiments import dataset_for, run_stability
from core.hessian import EXACT_MAX_PARAMS, sharpness
from core.lyapunov_sweep import run_lyapunov
from core.maps import refine, run_map, zoom_grids
from core.model import MLP
from core.orbit import run_orbit
from core.orbital_stability import run_orbital
from core.parallel import default_workers
from core.regimes import TARGET_ACCURACY, geometric_grid, run_sweep
from core.weights import ablation_ratio, relative_displacement
from dashboard.records import (
    RECORD_VERSION,
    EpsSweepRecord,
    FTLERecord,
    FTLEWindow,
    MapRecord,
    OrbitalRecord,
    RunRecord,
)
from dashboard.runner import Plan
from dashboard.state import Limits, admit, map_values, number, quoted, run_values, to_config, whole_number

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


def record_key(kind: str, config: RunConfig, extra: str = "") -> str:
    return f"{kind}:v{RECORD_VERSION}:{config.key()}:{extra}"


def stability(config: RunConfig, on_progress: Callable | None = None) -> RunRecord:
    """The main run: reference + M copies, with everything the views draw."""
    # frequent calls, so the first live curve comes early and a stop request is seen at once;
    # the Control limits what is sent
    result = run_stability(config, on_progress=on_progress, progress_every=50, threads=JOB_THREADS)
    traj, mlp, data = result.trajectory, result.mlp, result.data
    start, final = traj.theta[0, 0], traj.final_theta[0]
    fit = result.ftle
    objective = mlp.objective(data.x_train, data.y_train, config.l2)
    ablation, curvature = {}, {}
    if np.isfinite(final).all() and np.isfinite(traj.loss[-1, 0]):
        ablation = {f"ablation_{layer.lower()}": ablation_ratio(objective, final, layer) for layer in ("W1", "W2")}
    if not traj.cancelled:  # the reference's curvature at the saved steps (NaN once not finite)
        saved = np.arange(traj.steps.size)
        if mlp.n_params > EXACT_MAX_PARAMS:  # Lanczos, ~0.05-0.5 s each: at most SHARPNESS_POINTS
            saved = np.unique(np.linspace(0, saved.size - 1, SHARPNESS_POINTS).round().astype(int))
        curvature = {"sharpness_steps": traj.steps[saved], "sharpness": sharpness(objective, traj.theta[saved, 0])}
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
    )


def eps_sweep(config: RunConfig, on_progress: Callable | None = None) -> EpsSweepRecord:
    """The run repeated at 14 eps (1e-15 .. 1e-2), 5 copies each, one initial network."""
    small = dataclasses.replace(config, n_perturbations=min(config.n_perturbations, SWEEP_COPIES))
    result = run_eps_sweep(small, SWEEP_EPS, on_progress=on_progress, threads=JOB_THREADS)
    return EpsSweepRecord(
        iterations=np.arange(result.loss.shape[0]),
        eps=result.eps,
        distance=result.distance,
        normalized_distance=result.normalized_distance,
        loss=result.loss,
        cancelled=result.cancelled,
    )


def ftle_sweep(
    config: RunConfig, n_inits: int, n_steps: int, on_progress: Callable | None = None, workers: int = 1
) -> FTLERecord:
    """FTLE statistics over ``n_inits`` initial networks for 14 eps (SPEC Fig. 12), over
    ``workers`` processes."""
    short = dataclasses.replace(config, n_steps=n_steps, n_perturbations=FTLE_COPIES)
    result = run_lyapunov(short, FTLE_EPS, n_inits, on_progress=on_progress, workers=workers)
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
MAP_COPIES = 5  # perturbed copies per network in a map (the sidebar's count is for single runs)
MAP_EPS = np.geomspace(1e-12, 1e-2, 6)  # the eps axis of an eta x eps map
ORBIT_LAST = 200  # losses per eta in the orbit diagram
ZOOM_FACTOR = 4
LANCZOS_PRODUCTS = 30  # gradient pairs of one Lanczos sharpness, for the cost estimate


def map_config(values: Any) -> RunConfig:
    """The config of a map from the controls' values: their network, data, seed, eps and
    iterations, with MAP_COPIES copies."""
    return dataclasses.replace(to_config(run_values(values)), n_perturbations=MAP_COPIES)


def map_grids(maps: dict, zoom: list | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The eta grid and the eps or seed grid (seeds ``seed`` .. ``seed + inits - 1``) of a
    map's settings, refined into ``zoom`` ([eta_lo, eta_hi, y_lo, y_hi]) if given."""
    etas = geometric_grid(maps["eta_min"], maps["eta_max"], maps["eta_points"])
    kind = maps["map"]
    ys = {"eta-eps": MAP_EPS, "eta-seed": seed + np.arange(maps["inits"])}.get(kind, np.zeros(0))
    if zoom is None:
        return etas, ys
    if kind in ("eta-eps", "eta-seed"):
        return zoom_grids(kind, etas, ys, zoom[:2], zoom[2:], ZOOM_FACTOR)
    return refine(etas, zoom[0], zoom[1], ZOOM_FACTOR), ys


def map_cost(kind: str, config: RunConfig, n_etas: int, n_ys: int, n_inits: int) -> tuple[int, int]:
    """(trajectory-steps, extra default-network steps for the sharpness) of a map."""
    cells, rows = {
        "eta": (n_etas * n_inits, 1 + MAP_COPIES),
        "eta-eps": (n_etas * n_inits, 1 + n_ys * MAP_COPIES),
        "eta-seed": (n_etas * n_ys, 1),
        "orbit": (n_etas, 1),
    }[kind]
    n_samples, n_inputs, n_classes = dataset_shape(config.dataset)
    p = MLP(n_inputs, config.hidden, n_classes).n_params
    hessian_rows = 2 * p if p <= EXACT_MAX_PARAMS else 2 * LANCZOS_PRODUCTS
    return cells * rows * config.n_steps, (cells * hessian_rows if kind == "eta" else 0)


def regime_map(config: RunConfig, kind: str, etas, ys, n_inits: int, control, workers: int) -> MapRecord:
    """The map of ``kind`` (core.regimes / core.maps) as a MapRecord; ``control`` gets the
    partial results (``map_record`` draws them)."""
    if kind == "eta":
        result = run_sweep(config, etas, n_inits, workers=workers, on_progress=control)
    elif kind == "orbit":
        result = run_orbit(
            config, etas, n_last=min(ORBIT_LAST, config.n_steps + 1), workers=workers, on_progress=control
        )
    else:
        result = run_map(kind, config, etas, ys, n_inits=n_inits, workers=workers, on_progress=control)
    return map_record(kind, config, n_inits, result)


def map_record(kind: str, config: RunConfig, n_inits: int, result) -> MapRecord:
    """A (partial) SweepResult, MapResult or OrbitResult as a MapRecord."""
    empty = np.zeros(0)
    parts = {"table": {}, "regimes": (), "value": empty, "share": empty, "diverged": empty, "losses": empty}
    ys, target = empty, TARGET_ACCURACY
    if kind == "eta":
        summary = result.summary()
        parts["table"] = {
            c: summary[c].to_numpy(dtype=np.float64) for c in summary.columns if c not in ("eta", "regime")
        }
        parts["regimes"] = tuple(r if isinstance(r, str) else None for r in summary["regime"])
        done, target = result.done.any(axis=1), result.target_accuracy
    elif kind == "orbit":
        parts["losses"], done = result.losses, result.done
    else:
        ys = result.ys
        parts.update(value=result.value, share=result.share, diverged=result.diverged)
        done = result.done
    return MapRecord(kind, config, np.asarray(result.etas), np.asarray(ys), n_inits, done=done,
                     target_accuracy=target, cancelled=result.cancelled, **parts)  # fmt: skip


def data_for(config: RunConfig):
    """The data of a run (for the Weights and Data views)."""
    return dataset_for(config, None)


# ---- plans: a page's request -> a checked job ------------------------------------------
FTLE_INITS = (2, 500)
FTLE_STEPS = (30, 2000)  # 30: the shortest FTLE fit window


def plan(kind: str, values: Any, extra: Any, limits: Limits, max_slots: int) -> Plan:
    """The job a page asks for, checked on the server: ``values`` are the run settings (each
    by its rule), ``extra`` the kind's own settings, and the cost against ``limits``.
    ValueError names what is refused."""
    if kind not in PLANS:
        raise ValueError(f"the job kind must be one of {', '.join(PLANS)}, got {quoted(kind)}")
    extra = extra if isinstance(extra, dict) else {}
    return PLANS[kind](values, extra, limits, max_slots)


def _run_plan(values, _extra, limits: Limits, _slots) -> Plan:
    config = admit(values, limits)
    return Plan(record_key("run", config), lambda control, _held: stability(config, control))


def _sweep_plan(values, _extra, limits: Limits, _slots) -> Plan:
    config = to_config(run_values(values))
    limits.check(
        config,
        1 + len(SWEEP_EPS) * min(config.n_perturbations, SWEEP_COPIES),
        advice=f"use fewer iterations (it trains {SWEEP_COPIES} copies at each of {len(SWEEP_EPS)} eps)",
    )
    return Plan(record_key("sweep", config), lambda control, _held: eps_sweep(config, control))


def _ftle_plan(values, extra, limits: Limits, max_slots: int) -> Plan:
    config = to_config(run_values(values))
    n_inits = whole_number("initial networks", extra.get("inits"), *FTLE_INITS)
    n_steps = whole_number("FTLE iterations", extra.get("steps"), *FTLE_STEPS)
    slots = max(1, min(default_workers(), max_slots))
    short = dataclasses.replace(config, n_steps=n_steps, n_perturbations=1)
    rows = n_inits * (1 + len(FTLE_EPS) * FTLE_COPIES)
    limits.check(short, rows, workers=slots, one_batch=False, advice="use fewer initial networks or FTLE iterations")
    return Plan(
        record_key("ftle", config, f"{n_inits}x{n_steps}"),
        lambda control, held: ftle_sweep(config, n_inits, n_steps, control, workers=held),
        slots,
    )


def _orbital_plan(values, extra, limits: Limits, _slots) -> Plan:
    config = admit(values, limits)
    t0 = whole_number("t0 (iteration to perturb at, below the iterations)", extra.get("t0"), 0, config.n_steps - 1)
    return Plan(record_key("orbital", config, str(t0)), lambda control, _held: orbital(config, t0, control))


def _map_plan(values, extra, limits: Limits, max_slots: int) -> Plan:
    """A map of the Regimes view: the controls' network, data set, seed, eps and iterations
    (with MAP_COPIES copies), the view's settings (state.MAP_RULES) and an optional zoom box."""
    config = map_config(values)
    maps = map_values(extra)
    zoom = _zoom_box(extra.get("zoom"))
    etas, ys = map_grids(maps, zoom, config.seed)
    slots = max(1, min(default_workers(), max_slots))
    steps, extra_steps = map_cost(maps["map"], config, etas.size, ys.size, maps["inits"])
    rows = -(-(steps + extra_steps) // config.n_steps)  # the same cost as so many rows of this config
    limits.check(
        config, rows, workers=slots, one_batch=False, advice="use fewer learning rates, networks or iterations"
    )
    grid = f"{maps['map']}:{maps['eta_min']!r}:{maps['eta_max']!r}:{maps['eta_points']}:{maps['inits']}:{zoom}"
    return Plan(
        record_key("map", config, grid),
        lambda control, held: regime_map(config, maps["map"], etas, ys, maps["inits"], control, held),
        slots,
    )


def _zoom_box(raw: Any) -> list[float] | None:
    """A zoom box [eta_lo, eta_hi, y_lo, y_hi] from the page, or None; ValueError if malformed."""
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        raise ValueError(f"a zoom box must be [eta_lo, eta_hi, y_lo, y_hi], got {quoted(raw)}")
    box = [
        number(f"zoom box {name}", v, -1e300, 1e300)
        for name, v in zip(("eta_lo", "eta_hi", "y_lo", "y_hi"), raw, strict=True)
    ]
    if not (0 < box[0] < box[1]):
        raise ValueError(f"the zoom box must span learning rates from low to high, got {box[0]:g} to {box[1]:g}")
    return box


CHAOS_SAVE_EVERY = 10  # saved weights of a long run (the weight series)
CHAOS_STEPS = (1000, 50_000)  # the transient is 1,000 steps


def _chaos_plan(values, extra, limits: Limits, _slots) -> Plan:
    """The Chaos view's long run: the controls' network, data and seed at its own eta and steps."""
    eta = number("η of the long run", extra.get("eta"), 0.0, 1000.0)
    n_steps = whole_number("iterations of the long run", extra.get("steps"), *CHAOS_STEPS)
    config = dataclasses.replace(
        to_config(run_values(values)),
        learning_rate=eta,
        n_steps=n_steps,
        n_perturbations=1,
        save_every=CHAOS_SAVE_EVERY,
    )
    limits.check(config, 1, advice="use fewer iterations")
    return Plan(
        record_key("chaos", config),
        lambda control, _held: run_diagnostics(config, on_progress=control),
    )


PLANS: dict[str, Callable[[Any, dict, Limits, int], Plan]] = {
    "run": _run_plan,
    "sweep": _sweep_plan,
    "ftle": _ftle_plan,
    "orbital": _orbital_plan,
    "map": _map_plan,
    "chaos": _chaos_plan,
}
