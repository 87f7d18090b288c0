"""sweep, map and orbit: the regimes of the learning rate (files in --out)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from commands.backend import Backend, backend_args, backend_from
from commands.common import (
    Parser,
    ProgressBar,
    config_from,
    count_arg,
    csv_writer,
    data_note,
    emit,
    grid_args,
    grid_from,
    job_args,
    json_writer,
    network_args,
    npz_writer,
    out_dir,
    theta0_from,
    user_data,
    write_outputs,
)
from core.config import MAX_SEED, RunConfig
from core.data import Dataset
from core.engine.speed import Estimate, measure_rate, network_cost
from core.experiments.map_kinds import MAP_KINDS, Map2D, MapKind, Output, SettingMap
from core.experiments.maps import VALUES
from core.experiments.regimes import TARGET_ACCURACY
from core.experiments.stability import check_theta0, dataset_for, network_for
from core.validate import check_float, check_int, check_seed_range

FTLE_MIN_STEPS = 30  # the shortest FTLE window (core.config.FTLEConfig)
MAP_COMMAND_KINDS = tuple(name for name, kind in MAP_KINDS.items() if kind.command == "map")  # map --kind


@dataclass(frozen=True)
class Job:
    """A sweep-like command's checked settings: everything is checked and its cost bounded
    before any training."""

    config: RunConfig
    data: Dataset
    theta0: np.ndarray | None
    out: Path
    seconds: float  # the estimate
    meta: dict[str, Any]  # what config.json records of the settings
    backend: Backend  # where the cells are computed


def prepare(
    args: argparse.Namespace, kind: MapKind[Any], n_etas: int, n_ys: int, *, n_inits: int, ys: Any = None
) -> Job:
    """The Job of a map of ``kind`` (core.experiments.map_kinds: a sweep, orbit diagram or 2-D
    map) over ``n_etas`` learning rates x ``n_ys`` eps, seeds or setting values ``ys`` x
    ``n_inits`` networks; its distinct initial networks per learning rate (more than one cannot
    start from one --init-from file) are the kind's. Its time is estimated (the kind's estimate,
    the model the server uses; a setting map's each setting value with its own network) and
    bounded by --max-minutes before any training."""
    n_networks = kind.n_networks(n_inits, n_ys)
    config = config_from(args, eps=getattr(args, "eps", 1e-8))
    out = out_dir(args.out)
    data = dataset_for(config, user_data(args))
    mlp = network_for(config, data)
    theta0 = None
    if args.init_from is not None:
        if n_networks > 1:
            raise ValueError(f"--init-from gives every network the same start: use one network, not {n_networks}")
        start = theta0_from(args.init_from)
        assert start is not None  # --init-from names a file
        theta0 = check_theta0(start, mlp)
    backend = backend_from(args)
    net = network_cost(mlp, len(data.y_train), len(data.y_test))
    copies = getattr(args, "perturbations", None) or 0
    groups = None
    if isinstance(kind, SettingMap):  # checks the setting values (one line naming a bad one)
        n_train, n_test = len(data.y_train), len(data.y_test)
        groups = [network_cost(network_for(c, data), n_train, n_test) for c in kind.group_configs(config, ys, n_train)]
    estimate = kind.estimate(
        net, n_etas, n_ys, n_inits, copies, config.n_steps, measure_rate(), backend.cores,
        local=backend.executor is None, value=getattr(args, "value", "default"), groups=groups,
    )  # fmt: skip
    seconds = _check_cost(estimate, args, backend)
    settings = {k: v for k, v in config.to_dict().items() if k != "learning_rate"}  # the etas are the grid
    return Job(config, data, theta0, out, seconds, {"config": settings, **data_note(args)}, backend)


def _check_cost(estimate: Estimate, args: argparse.Namespace, backend: Backend) -> float:
    """The job's estimated seconds; refuse the job if that exceeds ``--max-minutes``."""
    if estimate.seconds > 60 * args.max_minutes:
        raise ValueError(
            f"this job is {estimate.trajectory_steps:,} trajectory-steps, about {estimate.seconds / 60:,.1f} min "
            f"on {backend.where} at this machine's speed ({estimate.training / 60:,.1f} min of training at "
            f"~{estimate.rate:,.0f} trajectory-steps/s a process, the rest starting processes, per-step calls, "
            f"sharpness and fits); the limit is --max-minutes {args.max_minutes:g}: "
            "use a coarser grid, fewer networks or steps"
        )
    return estimate.seconds


def _notes(job: Job, kind: MapKind[Any], value: str = "ftle") -> None:
    """One line on stderr for what the results cannot hold (not an error); a map showing
    ``value`` fits an FTLE only for "ftle"."""
    if not len(job.data.y_test):
        print("note: the data have no test rows: test accuracy and steps to accuracy are NaN", file=sys.stderr)
    if isinstance(kind, SettingMap) and kind.note(job.config):
        print(f"note: {kind.note(job.config)}", file=sys.stderr)
    if kind.ftle and value == "ftle" and job.config.n_steps < FTLE_MIN_STEPS:
        print(
            f"note: {job.config.n_steps} steps are fewer than the shortest FTLE window ({FTLE_MIN_STEPS})",
            file=sys.stderr,
        )


def _estimate(seconds: float) -> str:
    return f"estimated {seconds:.1f} s"


def _written(outputs: dict[str, Output], meta: dict[str, Any]) -> dict[str, Callable[[Path], object]]:
    """The writers of a kind's outputs (core.experiments.map_kinds: tables as .csv, arrays as
    .npz) and of config.json."""
    files = {name: _writer(name, out) for name, out in outputs.items()}
    return {**files, "config.json": json_writer(meta)}


def _writer(name: str, out: Output) -> Callable[[Path], object]:
    if name.endswith(".npz"):
        assert isinstance(out, dict), f"{name}: a kind's .npz output is its arrays by name"
        return npz_writer(**out)
    return csv_writer(out)


def cmd_sweep(args: argparse.Namespace) -> int:
    etas = grid_from(args.etas, args.eta_range, "eta", (1e-3, 20.0, 25))
    target = check_float("--target-accuracy", args.target_accuracy, low=0.0, high=1.0)
    kind = MAP_KINDS["eta"]
    job = prepare(args, kind, etas.size, 0, n_inits=args.inits)
    _notes(job, kind)
    started = time.perf_counter()
    with ProgressBar("sweep") as bar:
        result = kind.run(
            job.config, etas, (), args.inits, target_accuracy=target, data=job.data, theta0=job.theta0,
            workers=args.workers, executor=job.backend.executor, on_progress=bar,
        )  # fmt: skip
    outputs = kind.outputs(result)  # the FTLE fits and the labels: part of the job's time
    seconds = time.perf_counter() - started
    summary = outputs["summary.csv"]
    assert not isinstance(summary, dict), "the sweep's summary.csv is a table"
    meta = {**job.meta, "etas": etas, "inits": args.inits, "target_accuracy": target, "seconds": seconds}
    write_outputs(job.out, _written(outputs, meta))
    lines = [summary.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    lines.append(
        f"{etas.size} eta x {args.inits} networks in {seconds:.1f} s ({_estimate(job.seconds)}); wrote {job.out}"
    )
    emit({"summary": summary.to_dict(orient="list"), "seconds": seconds, "out": str(job.out)}, args.json, lines)
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    etas = grid_from(args.etas, args.eta_range, "eta", (0.01, 20.0, 12))
    kind = MAP_KINDS[args.kind]
    assert isinstance(kind, Map2D)  # map --kind names the 2-D kinds
    value = kind.value_of(args.value)  # refused before anything is made: eta-eps has no final loss
    target = check_float("--target-accuracy", args.target_accuracy, low=0.0, high=1.0)
    ys = _y_grid(args, kind)
    if args.zoom is not None:  # the refined grids (refused before they are made if too large)
        etas, ys = kind.zoom_grids(etas, ys, args.zoom[:2], args.zoom[2:], args.factor)
    job = prepare(args, kind, etas.size, ys.size, n_inits=args.inits, ys=ys)
    _notes(job, kind, value)
    started = time.perf_counter()
    with ProgressBar(f"{args.kind} map") as bar:
        result = kind.run(
            job.config, etas, ys, args.inits, data=job.data, theta0=job.theta0, workers=args.workers,
            executor=job.backend.executor, on_progress=bar, value=args.value, target_accuracy=target,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    meta = {**job.meta, "kind": args.kind, "etas": etas, result.y_name: result.ys, "seconds": seconds}
    if args.value != "default":  # the default's config.json as it was
        meta["value"] = args.value
    if value == "steps":
        meta["target_accuracy"] = target
    if isinstance(kind, SettingMap) and kind.note(job.config):
        meta["note"] = kind.note(job.config)
    if kind.n_networks(args.inits, ys.size) == args.inits:  # its networks per eta are --inits
        meta["inits"] = args.inits
    if args.zoom is not None:
        meta["zoom"] = {"box": args.zoom, "factor": args.factor}
    write_outputs(job.out, _written(kind.outputs(result), meta))
    finite = result.value[np.isfinite(result.value)]
    span = f"{finite.min():.4g}..{finite.max():.4g}" if finite.size else "none finite"
    lines = [
        f"{args.kind} map, {etas.size} eta x {ys.size} {result.y_name}: {result.value_name} {span}; "
        f"{int(result.diverged.sum())} point(s) diverged",
        f"{seconds:.1f} s ({_estimate(job.seconds)}); wrote {job.out}",
    ]
    emit(
        {"kind": args.kind, "value_name": result.value_name, "seconds": seconds, "out": str(job.out)}, args.json, lines
    )
    return 0


def _eps_grid(args: argparse.Namespace) -> np.ndarray:
    return grid_from(args.eps_values, args.eps_range, "eps", (1e-12, 1e-2, 6))


def _seed_grid(args: argparse.Namespace) -> np.ndarray:
    check_seed_range(args.seed, check_int("--seeds", args.seeds, low=1, high=100_000), MAX_SEED)
    return args.seed + np.arange(args.seeds)


_Y_GRIDS = {"eps": _eps_grid, "seed": _seed_grid}  # a 2-D map's second axis from its options


def _y_grid(args: argparse.Namespace, kind: Map2D) -> np.ndarray:
    """The second axis: eps or seeds from their options; a setting map's --y-values (checked
    with the run, core.experiments.setting_maps), by default the kind's own grid."""
    if kind.y_name in _Y_GRIDS:
        if args.y_values is not None:
            raise ValueError(f"--y-values sets a setting map's axis; the {kind.name} map takes --eps-values or --seeds")
        return _Y_GRIDS[str(kind.y_name)](args)
    if args.y_values is None:
        return kind.y_grid(seed=args.seed, n_networks=args.inits, eps=np.zeros(0))
    return np.asarray(args.y_values, dtype=np.float64)


def cmd_orbit(args: argparse.Namespace) -> int:
    etas = grid_from(args.etas, args.eta_range, "eta", (0.3, 30.0, 40))
    check_int("--last", args.last, low=1, high=args.steps + 1)
    kind = MAP_KINDS["orbit"]
    job = prepare(args, kind, etas.size, 0, n_inits=1)
    _notes(job, kind)
    started = time.perf_counter()
    with ProgressBar("orbit diagram") as bar:
        result = kind.run(
            job.config, etas, (), 1, n_last=args.last, data=job.data, theta0=job.theta0, workers=args.workers,
            executor=job.backend.executor, on_progress=bar,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    meta = {**job.meta, "etas": etas, "last": args.last, "seconds": seconds}
    write_outputs(job.out, _written(kind.outputs(result), meta))
    lines = [f"{'eta':>9} {'distinct':>8} {'min loss':>10} {'max loss':>10}"]
    for eta, row, k in zip(etas, result.losses, result.n_distinct, strict=True):
        low, high = (np.nanmin(row), np.nanmax(row)) if np.isfinite(row).any() else (math.nan, math.nan)
        lines.append(f"{eta:9.4g} {k:8d} {low:10.4g} {high:10.4g}")
    lines.append(
        f"{etas.size} learning rates x {args.steps} steps in {seconds:.1f} s "
        f"({_estimate(job.seconds)}); wrote {job.out}"
    )
    emit({"etas": etas, "n_distinct": result.n_distinct, "seconds": seconds, "out": str(job.out)}, args.json, lines)
    return 0


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add this module's subcommands to the parser's ``sub``."""
    sweep = sub.add_parser("sweep", help="regime sweep over eta x initial networks (runs.csv, summary.csv)")
    network_args(sweep, eta=None, steps=500, perturbations=5)
    grid_args(sweep, "eta", "learning rates (default 25 from 0.001 to 20)")
    sweep.add_argument("--eps", type=float, default=1e-8, help="perturbation radius of the copies")
    sweep.add_argument("--inits", type=count_arg, default=20, help="initial networks per learning rate")
    sweep.add_argument("--target-accuracy", type=float, default=0.9, help="test accuracy to reach, in (0, 1]")
    job_args(sweep)
    backend_args(sweep)
    sweep.set_defaults(func=cmd_sweep)

    maps = sub.add_parser(
        "map",
        help="2-D map: eta x eps (FTLE), eta x seed (final loss), or eta x width, depth, l2, momentum, batch size",
    )
    network_args(maps, eta=None, steps=200, perturbations=5)
    maps.add_argument("--kind", choices=MAP_COMMAND_KINDS, default="eta-eps")
    grid_args(maps, "eta", "learning rates (default 12 from 0.01 to 20)")
    grid_args(maps, "eps", "eta-eps: perturbation radii (default 6 from 1e-12 to 1e-2)")
    maps.add_argument("--inits", type=count_arg, default=8, help="eta-eps: initial networks per point")
    maps.add_argument("--seeds", type=int, default=16, help="eta-seed: networks seed .. seed + N - 1")
    maps.add_argument(
        "--y-values",
        type=float,
        nargs="+",
        metavar="Y",
        help="eta-width, eta-depth, eta-l2, eta-momentum, eta-batch: the widths (every hidden layer), depths "
        "(hidden layers of the first layer's width), L2 penalties, momentum betas (gd: heavy ball) or batch sizes "
        "(default: 2 5 10 20 50; 1 2 3 4; 1e-4 1e-3 1e-2 1e-1; 0 0.5 0.8 0.9 0.95; 8 16 32 64)",
    )
    maps.add_argument(
        "--value",
        choices=VALUES,
        default="default",
        help="what each point shows: the map's own value (eta-eps and the setting maps the mean FTLE, eta-seed "
        "the final loss), 'ftle', 'leading' (the leading tangent exponent of its networks; eta-eps: their mean, "
        "the same at every eps), 'loss' (the final loss; a setting map: the median over its networks) or 'steps' "
        "(the steps to --target-accuracy; a setting map: the median of the networks that reach it); eta-eps "
        "shows ftle or leading, eta-seed loss, leading or steps",
    )
    maps.add_argument(
        "--target-accuracy", type=float, default=TARGET_ACCURACY, help="--value steps: test accuracy to reach"
    )
    maps.add_argument(
        "--zoom",
        type=float,
        nargs=4,
        metavar=("ETA_LO", "ETA_HI", "Y_LO", "Y_HI"),
        help="compute only this rectangle of the map, refined by --factor",
    )
    maps.add_argument("--factor", type=count_arg, default=4, help="zoom: new points per grid interval")
    job_args(maps)
    backend_args(maps)
    maps.set_defaults(func=cmd_map)

    orbit = sub.add_parser("orbit", help="orbit diagram: the last losses of one network vs eta")
    network_args(orbit, eta=None, steps=2000, perturbations=None)
    grid_args(orbit, "eta", "learning rates (default 40 from 0.3 to 30)")
    orbit.add_argument("--last", type=int, default=200, help="losses kept per eta (the last N steps)")
    job_args(orbit)
    backend_args(orbit)
    orbit.set_defaults(func=cmd_orbit)
