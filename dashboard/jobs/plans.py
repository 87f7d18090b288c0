"""The plan of each kind of job: a page's request -> a checked job (``dashboard.jobs.runner.Plan``).

A plan checks the request on the server (the run settings each by its rule, the kind's own
settings, and the cost against the server's limits; ValueError names what is refused),
names the record's cache key and holds the job's work, a computation of dashboard.jobs.compute.
Records are cached by ``kind:version:config-hash:extra``, so a repeated or shared run is
read back instead of recomputed. A map's settings give its grid of learning rates (and of
eps or seeds, refined into a zoom box) and its cost here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from core.analysis.hessian import EXACT_MAX_PARAMS
from core.analysis.rop import product_rows
from core.analysis.tangent import tangent_dimension
from core.config import MAX_BATCH_SIZE, RunConfig
from core.data import dataset_shape
from core.engine.parallel import default_workers
from core.engine.speed import REFERENCE_RATE, Estimate, lyapunov_estimate
from core.experiments.diagnostics import MAX_LAG, TRANSIENT, run_diagnostics
from core.experiments.map_kinds import Map2D, SettingMap, map_kind
from core.experiments.regimes import geometric_grid
from dashboard.jobs import compute
from dashboard.jobs.records import RECORD_VERSION, MapRecord
from dashboard.jobs.runner import REPORT_PAUSE, Plan
from dashboard.state.map_kinds import MAP_VIEWS
from dashboard.state.rules import (
    Limits,
    admit,
    map_axis_values,
    map_values,
    mlp_of,
    network_of,
    number,
    quoted,
    run_values,
    to_config,
    whole_number,
    zoom_box,
)

FTLE_INITS = (2, 500)
FTLE_STEPS = (30, 2000)  # 30: the shortest FTLE fit window


def record_key(kind: str, config: RunConfig, extra: str = "") -> str:
    return f"{kind}:v{RECORD_VERSION}:{config.key()}:{extra}"


def plan(kind: str, values: Any, extra: Any, limits: Limits, max_slots: int) -> Plan:
    """The job a page asks for, checked on the server: ``values`` are the run settings (each
    by its rule), ``extra`` the kind's own settings, and the cost against ``limits``.
    ValueError names what is refused."""
    if kind not in PLANS:
        raise ValueError(f"the job kind must be one of {', '.join(PLANS)}, got {quoted(kind)}")
    extra = extra if isinstance(extra, dict) else {}
    return PLANS[kind](values, extra, limits, max_slots)


def _run_plan(values: Any, _extra: dict[str, Any], limits: Limits, _slots: int) -> Plan:
    config = admit(values, limits)
    return Plan(record_key("run", config), lambda control, _held: compute.stability(config, control))


def _sweep_plan(values: Any, _extra: dict[str, Any], limits: Limits, _slots: int) -> Plan:
    config = to_config(run_values(values))
    copies, n_eps = compute.SWEEP_COPIES, len(compute.SWEEP_EPS)
    limits.check(
        config,
        1 + n_eps * min(config.n_perturbations, copies),
        advice=f"use fewer iterations (it trains {copies} copies at each of {n_eps} eps)",
    )
    return Plan(record_key("sweep", config), lambda control, _held: compute.eps_sweep(config, control))


def _ftle_plan(values: Any, extra: dict[str, Any], limits: Limits, max_slots: int) -> Plan:
    config = to_config(run_values(values))
    n_inits = whole_number("initial networks", extra.get("inits"), *FTLE_INITS)
    n_steps = whole_number("FTLE iterations", extra.get("steps"), *FTLE_STEPS)
    slots = max(1, min(default_workers(), max_slots))
    net = network_of(config)
    estimate = lyapunov_estimate(net, n_inits, len(compute.FTLE_EPS), compute.FTLE_COPIES, n_steps, limits.rate, slots)
    limits.allow(estimate, "use fewer initial networks or FTLE iterations", "this FTLE sweep")
    return Plan(
        record_key("ftle", config, f"{n_inits}x{n_steps}"),
        lambda control, held: compute.ftle_sweep(config, n_inits, n_steps, control, workers=held),
        slots,
    )


ORBITAL_T0_SHARE = 0.8  # an empty t0 box: perturb at 4/5 of the run (the paper: 4000 of 5000)


def orbital_t0(raw: Any, n_steps: int) -> int:
    """The orbital view's t0: a whole number below the iterations, or, left empty, 4/5 of them
    (so that a preset or a link of any length has a valid t0 without a race to set the box)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return int(ORBITAL_T0_SHARE * n_steps)
    return whole_number("t0 (iteration to perturb at, below the iterations)", raw, 0, n_steps - 1)


def _orbital_plan(values: Any, extra: dict[str, Any], limits: Limits, _slots: int) -> Plan:
    config = admit(values, limits)
    t0 = orbital_t0(extra.get("t0"), config.n_steps)
    return Plan(record_key("orbital", config, str(t0)), lambda control, _held: compute.orbital(config, t0, control))


# ---- maps over the learning rate (the Regimes view) --------------------------------
MAP_COPIES = 5  # perturbed copies per network in a map (the sidebar's count is for single runs)
MAP_EPS = np.geomspace(1e-12, 1e-2, 6)  # the eps axis of an eta x eps map
ZOOM_FACTOR = 4


def map_config(values: Any, maps: dict) -> RunConfig:
    """The config of a map: the controls' network, data, seed and eps, the map's own
    iterations (``maps["map_steps"]``), and MAP_COPIES copies."""
    config = to_config(run_values(values))
    return dataclasses.replace(config, n_perturbations=MAP_COPIES, n_steps=maps["map_steps"])


def map_grids(maps: dict, zoom: list | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The eta grid and the eps, seed or setting grid (seeds ``seed`` .. ``seed + inits - 1``; a
    setting map's typed axis, each value checked by its setting's rule, else the kind's own) of
    a map's settings, refined into ``zoom`` ([eta_lo, eta_hi, y_lo, y_hi]) if given."""
    etas = readable(geometric_grid(maps["eta_min"], maps["eta_max"], maps["eta_points"]))
    kind = map_kind(maps["map"])
    typed = map_axis_values(maps)
    if isinstance(kind, SettingMap) and typed is not None:  # batch sizes above the data's rows: the plan's check
        ys = kind.plane.setting.grid(typed, MAX_BATCH_SIZE)
    else:
        ys = kind.y_grid(seed=seed, n_networks=maps["inits"], eps=MAP_EPS)
    if zoom is None:
        return etas, ys
    etas, ys = kind.zoom_grids(etas, ys, zoom[:2], zoom[2:], ZOOM_FACTOR)
    return readable(etas), ys


def readable(grid: np.ndarray) -> np.ndarray:
    """A learning-rate grid written with as few significant digits as keep its points apart
    (3 at least): a clicked point then puts 0.285 in the box, and runs exactly that network.
    Rounding is idempotent, so a zoom keeps its coarse points bit for bit."""
    for digits in range(3, 18):
        rounded = np.array([float(f"{x:.{digits}g}") for x in grid])
        if np.all(np.diff(rounded) > 0):
            return rounded
    return np.asarray(grid, dtype=np.float64)


# A map in the app also draws its page a live figure at most every LIVE_SECONDS, in the job's
# own process beside the workers. Measured per figure (one core, at 200k/s): the strip's five
# panels 0.15 s, a heatmap or the orbit diagram 0.02-0.03 s; a figure that takes long is followed
# by a longer pause (dashboard.jobs.runner.REPORT_PAUSE), so figures keep at most a quarter of a
# core busy. The FTLE fits of the partial results are each cell's once (core.analysis.lyapunov
# .FitMemo), the fits the core's estimate counts; before, every figure fitted every cell again:
# the default strip's 21 updates took 15 s of CPU on a loaded machine and the job 18 s against
# 6-8 s without them.
LIVE_SECONDS = 0.5  # dashboard.views.regimes.LIVE_SECONDS


def map_cost(
    kind: str, config: RunConfig, n_etas: int, n_ys: int, n_inits: int, rate: float, workers: int, *,
    ys: np.ndarray | None = None, value: str = "default",
) -> Estimate:  # fmt: skip
    """The estimated time of a map here: its kind's estimate (core.experiments.map_kinds, the
    model the CLI uses too; a setting map's each setting value ``ys`` with its own network, its
    copies only for the FTLE), and the live figures its page is sent (the kind's figure,
    dashboard.state.map_kinds, drawn from the partial result, each followed by a pause of
    LIVE_SECONDS or REPORT_PAUSE times its own time). Their process is busy ``busy`` (at most
    1 / (1 + REPORT_PAUSE)) of a core beside ``workers`` that compute, so on fewer cores than
    ``workers + busy`` the job takes (workers + busy) / cores as long. ValueError names a
    setting value the run cannot take (a batch above the training rows)."""
    core_kind, net = map_kind(kind), network_of(config)
    copies, groups = MAP_COPIES, None
    if isinstance(core_kind, SettingMap):
        ys = core_kind.y_grid(seed=config.seed, n_networks=n_inits, eps=MAP_EPS) if ys is None else ys
        groups = [network_of(c) for c in core_kind.group_configs(config, ys, dataset_shape(config.dataset)[0])]
        copies = MAP_COPIES if core_kind.value_of(value) == "ftle" else 0
    estimate = core_kind.estimate(
        net, n_etas, n_ys, n_inits, copies, config.n_steps, rate, workers, value=value, groups=groups
    )
    figure = MAP_VIEWS[kind].live_seconds * REFERENCE_RATE / rate
    busy = figure / (figure + max(LIVE_SECONDS, REPORT_PAUSE * figure))  # a figure, then its pause
    factor = max(1.0, (estimate.workers + busy) / default_workers())
    return dataclasses.replace(estimate, seconds=estimate.seconds * factor)


def _map_plan(values: Any, extra: dict[str, Any], limits: Limits, max_slots: int) -> Plan:
    """A map of the Regimes view: the controls' network, data set, seed, eps and iterations
    (with MAP_COPIES copies), the view's settings (state.MAP_RULES) and an optional zoom box."""
    maps = map_values(extra)
    config = map_config(values, maps)
    zoom = zoom_box(extra.get("zoom"))
    etas, ys = map_grids(maps, zoom, config.seed)
    slots = max(1, min(default_workers(), max_slots))
    kind, n_inits, value = maps["map"], maps["inits"], maps["map_value"]
    cost = {"ys": ys, "value": value}
    estimate = map_cost(kind, config, etas.size, ys.size, n_inits, limits.rate, slots, **cost)
    limits.allow(estimate, _map_advice(kind, config, etas.size, ys.size, n_inits, limits, slots, cost), "this map")
    grid = f"{kind}:{maps['eta_min']!r}:{maps['eta_max']!r}:{maps['eta_points']}:{n_inits}:{zoom}"
    grid += "" if value == "default" else f":{value}"  # a map of the kind's own value keeps its key
    grid += f":{maps['map_axis']}" if maps["map_axis"] else ""
    return Plan(
        record_key("map", config, grid),
        lambda control, held: map_work(config, kind, etas, ys, n_inits, value, control, held),
        slots,
        chunked=True,
        seconds=estimate.seconds,  # the live progress label's time left starts from it
    )


def map_work(
    config: RunConfig, kind: str, etas: np.ndarray, ys: np.ndarray, n_inits: int, value: str,
    control: Callable[[int, int, Any], object] | None, workers: int,
) -> MapRecord:  # fmt: skip
    """The map of ``kind`` showing ``value`` (a 2-D map's; the strip and the orbit diagram show
    theirs) as a MapRecord; ``control`` gets the partial results (compute.map_record draws them)."""
    core_kind = map_kind(kind)
    if not isinstance(core_kind, Map2D):
        return compute.regime_map(config, kind, etas, ys, n_inits, control, workers)
    result = core_kind.run(config, etas, ys, n_inits, workers=workers, on_progress=control, value=value)
    return compute.map_record(kind, config, n_inits, result)


def _map_advice(
    kind: str, config: RunConfig, n_etas: int, n_ys: int, n_inits: int, limits: Limits, slots: int,
    cost: dict[str, Any] | None = None,
) -> str:  # fmt: skip
    """What would fit: the most networks per learning rate within the limit (for a kind whose
    cost grows with them: the strip and the eta x eps map), else fewer learning rates or iterations."""
    fits = next(
        (n for n in range(n_inits - 1, 0, -1) if _map_fits(kind, config, n_etas, n_ys, n, limits, slots, cost)), 0
    )
    if fits:
        return f"use at most {'1 network' if fits == 1 else f'{fits} networks'}, or fewer learning rates or iterations"
    return "use fewer learning rates, networks or iterations"


def _map_fits(
    kind: str, config: RunConfig, n_etas: int, n_ys: int, n_inits: int, limits: Limits, slots: int,
    cost: dict[str, Any] | None = None,
) -> bool:  # fmt: skip
    estimate = map_cost(kind, config, n_etas, n_ys, n_inits, limits.rate, slots, **(cost or {}))
    return estimate.seconds <= limits.max_seconds


CHAOS_SAVE_EVERY = 10  # saved weights of a long run (the weight series)
CHAOS_STEPS = (TRANSIENT + MAX_LAG, 50_000)  # the diagnostics leave out the transient, then need max_lag steps


def _chaos_plan(values: Any, extra: dict[str, Any], limits: Limits, _slots: int) -> Plan:
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


def spectrum_k(config: RunConfig) -> int:
    """The exponents a spectrum job computes: all of them (P, 2P with momentum, 3P with Adam) when
    the Hessian is formed (Iris: 83), else compute.SPECTRUM_K_LARGE (digits)."""
    n_params = mlp_of(config).n_params
    dim = tangent_dimension(config.update_rule(), n_params)
    return dim if n_params <= EXACT_MAX_PARAMS else min(compute.SPECTRUM_K_LARGE, dim)


def spectrum_config(values: Any, extra: dict[str, Any]) -> RunConfig:
    """The reference network of the Chaos view's long run (the controls' network, data, seed
    and optimizer at the view's eta and iterations), trained alone."""
    eta = number("η of the long run", extra.get("eta"), 0.0, 1000.0)
    n_steps = whole_number("iterations of the long run", extra.get("steps"), *CHAOS_STEPS)
    config = to_config(run_values(values))
    return dataclasses.replace(config, learning_rate=eta, n_steps=n_steps, n_perturbations=1, save_every=n_steps)


def _spectrum_plan(values: Any, extra: dict[str, Any], limits: Limits, _slots: int) -> Plan:
    """The Chaos view's spectrum: the tangent exponents of its long run's reference network.
    Each step costs ~2P gradients (the dense Hessian) or, beyond EXACT_MAX_PARAMS, k exact
    Hessian-vector products (``core.analysis.rop.product_rows``), and a QR: priced as that many
    rows trained beside the reference's own."""
    config = spectrum_config(values, extra)
    k = spectrum_k(config)
    n_params = mlp_of(config).n_params
    rows = 1 + (2 * n_params if n_params <= EXACT_MAX_PARAMS else product_rows(k))
    limits.check(config, rows, advice="use fewer iterations")
    return Plan(record_key("spectrum", config, f"k{k}"), lambda control, _held: compute.spectrum(config, k, control))


PLANS: dict[str, Callable[[Any, dict, Limits, int], Plan]] = {
    "run": _run_plan,
    "sweep": _sweep_plan,
    "ftle": _ftle_plan,
    "orbital": _orbital_plan,
    "map": _map_plan,
    "chaos": _chaos_plan,
    "spectrum": _spectrum_plan,
}
