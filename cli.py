"""Command line for the training-dynamics core (no Dash).

    python cli.py run --eta 0.01 --eps 1e-8 --perturbations 20 --steps 5000 --seed 0 --json
    python cli.py orbital --t0 4000 --json
    python cli.py lyapunov --eta 1 --eps 1e-14 1e-8 1e-3 --inits 40 --perturbations 5 --steps 200 --json
    python cli.py sharpness --eta 1 --steps 400 --every 20 --json
    python cli.py sweep --eta-range 0.001 20 25 --inits 20 --steps 500 --out sweep/
    python cli.py map --kind eta-eps --eta-range 0.1 10 8 --eps-range 1e-12 1e-2 6 --out map/
    python cli.py orbit --eta-range 0.3 30 40 --steps 2000 --last 200 --out orbit/
    python cli.py diagnostics --eta 5 --steps 10000 --out diagnostics/
    python cli.py bench [--large] [--json]

Bad input gets one line on stderr and exit status 2; nothing is half-written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.chaos import MAX_LAG, N_SHUFFLES, N_TOP, PERCENTILES, TRANSIENT, Diagnostics, run_diagnostics
from core.config import ACTIVATIONS, DATASETS, INITS, NORMS, OUTPUTS, PERTURBATIONS, RunConfig
from core.data import load_dataset_file
from core.experiments import StabilityResult, dataset_for, network_for, run_lyapunov, run_orbital, run_stability
from core.hessian import hessian, sharpness_series
from core.lyapunov import global_rate
from core.maps import MAP_KINDS, run_map, run_orbit, zoom_grids
from core.parallel import default_workers
from core.regimes import geometric_grid, run_sweep
from core.speed import estimate_seconds, measure_rate, measure_throughput
from core.validate import check_float, check_int

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _json_safe(value):
    """NaN/inf -> None so the output is strict JSON; numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _emit(payload: dict, as_json: bool, lines: list[str]) -> None:
    print(json.dumps(_json_safe(payload), indent=2) if as_json else "\n".join(lines))


# ---- arguments ---------------------------------------------------------------
def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {value!r}")
    return value


def _count(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value}")
    return value


def _network_args(p: argparse.ArgumentParser, *, eta: float, steps: int, perturbations: int) -> None:
    p.add_argument("--eta", type=float, default=eta, help="learning rate (float64 as typed)")
    p.add_argument("--steps", type=int, default=steps, help="gradient-descent iterations T")
    p.add_argument("--perturbations", type=int, default=perturbations, help="perturbed copies M per network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", choices=DATASETS, default="iris", help="data set by name (or --data FILE)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (iris default 10, digits 64)")
    p.add_argument(
        "--activation", choices=ACTIVATIONS, default=None, help="default: the data set's (iris sigmoid, digits tanh)"
    )
    p.add_argument("--output", choices=OUTPUTS, default="softmax")
    p.add_argument("--init", choices=INITS, default="normal")
    p.add_argument("--perturbation", choices=PERTURBATIONS, default="cube")
    p.add_argument("--distance", choices=NORMS, default="l1")
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty on the weights")
    p.add_argument("--standardize", action="store_true", help="standardise the features")
    p.add_argument("--data", type=Path, help=".npz (x_train, y_train[, x_test, y_test]) or .csv (last column = label)")
    p.add_argument("--json", action="store_true", help="print a JSON object")


def _config(args: argparse.Namespace, **extra) -> RunConfig:
    network = {name: getattr(args, name) for name in ("hidden", "activation") if getattr(args, name) is not None}
    return RunConfig.for_dataset(
        args.dataset,
        **network,
        seed=args.seed,
        output=args.output,
        init=args.init,
        standardize=args.standardize,
        learning_rate=args.eta,
        n_steps=args.steps,
        l2=args.l2,
        n_perturbations=args.perturbations,
        perturbation=args.perturbation,
        distance=args.distance,
        **extra,
    )


def _data(args: argparse.Namespace):
    return None if args.data is None else load_dataset_file(args.data)


def _theta0(path: Path | None) -> np.ndarray | None:
    """The array ``theta0`` of an .npz file (checked against the network by the core)."""
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"--init-from {path}: cannot read as .npz ({exc})") from None
    if "theta0" not in arrays:
        raise ValueError(f"--init-from {path}: no array named 'theta0' (has {sorted(arrays)})")
    return arrays["theta0"]


# ---- commands ----------------------------------------------------------------
def _ftle_summary(result: StabilityResult) -> dict:
    fit = result.ftle
    window = [int(fit.start), int(fit.start + fit.length)] if np.isfinite(fit.start) else None
    return {"slope": float(fit.slope), "r2": float(fit.r2), "window": window, "kept": bool(fit.kept)}


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args, eps=args.eps, save_every=args.save_every)
    save = None if args.save is None else _save_path(args.save)
    result = run_stability(config, data=_data(args), theta0=_theta0(args.init_from))
    traj, nd = result.trajectory, result.normalized_distance
    summary = {
        "final_loss": traj.loss[-1, 0],
        "train_accuracy": traj.accuracy[-1, 0],
        "test_accuracy": result.test_accuracy[0],
        "d0": result.mean_distance[0],
        "max_normalized_distance": np.nanmax(nd) if np.isfinite(nd).any() else math.nan,
        "final_normalized_distance": nd[-1],
        "global_rate": float(global_rate(result.mean_distance)),
        "ftle": _ftle_summary(result),
        "diverged": bool(traj.diverged.any()),
        "diverged_rows": np.flatnonzero(traj.diverged).tolist(),
        "n_weights": result.mlp.n_weights,
        "n_params": result.mlp.n_params,
        "config": config.to_dict(),
    }
    if save is not None:
        _save_run(save, result)
    fit = summary["ftle"]
    lines = [
        f"final loss {summary['final_loss']:.6g}, train accuracy {summary['train_accuracy']:.3f}, "
        f"test accuracy {summary['test_accuracy']:.3f}",
        f"<d(0)> = {summary['d0']:.4g}; <d>/(eps N_w): max {summary['max_normalized_distance']:.4g}, "
        f"final {summary['final_normalized_distance']:.4g}",
        f"FTLE {fit['slope']:.4g} per iteration (R^2 {fit['r2']:.3f}, window {fit['window']}, "
        f"{'kept' if fit['kept'] else 'not kept'})",
    ]
    if summary["diverged"]:
        lines.append(f"diverged trajectories (row 0 = reference): {summary['diverged_rows']}")
    if save is not None:
        lines.append(f"saved {save}")
    _emit(summary, args.json, lines)
    return 0


def _save_path(path: Path) -> Path:
    """The file ``--save`` writes, checked before any training: ``path`` with ".npz" appended
    unless it ends so; neither it nor that is a directory; its directory exists and is writable,
    and so is the file if it exists."""
    if path.is_dir():
        raise ValueError(f"--save {path}: cannot write there (it is a directory; give a file name)")
    target = path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")  # as np.savez would
    folder = target.parent
    if target.is_dir():
        reason = "it is a directory; give another file name"
    elif not folder.is_dir():
        reason = f"directory {folder} does not exist" if not folder.exists() else f"{folder} is not a directory"
    elif not os.access(folder, os.W_OK | os.X_OK):
        reason = f"directory {folder} is not writable"
    elif target.exists() and not os.access(target, os.W_OK):
        reason = "the file exists and is not writable"
    else:
        return target
    raise ValueError(f"--save {target}: cannot write there ({reason})")


def _save_run(path: Path, result: StabilityResult) -> None:
    """Write the run to ``path`` through a temporary file beside it, renamed when complete, so a
    failed write leaves nothing behind."""
    traj = result.trajectory
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "wb") as f:
            np.savez_compressed(
                f,
                steps=traj.steps,
                theta=traj.theta,
                loss=traj.loss,
                accuracy=traj.accuracy,
                distance=traj.distance[:, 1:],
                diverged_at=traj.diverged_at,
                config=json.dumps(result.config.to_dict()),
            )
        os.replace(partial, path)
    except OSError as exc:
        raise ValueError(f"--save {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        partial.unlink(missing_ok=True)


def cmd_orbital(args: argparse.Namespace) -> int:
    config = _config(args, eps=args.eps)
    result = run_orbital(config, args.t0, data=_data(args), theta0=_theta0(args.init_from))
    nd = result.normalized_distance
    summary = {
        "t0": args.t0,
        "initial_normalized_distance": nd[0],
        "final_normalized_distance": nd[-1],
        "min_normalized_distance": np.nanmin(nd),
        "max_normalized_distance": np.nanmax(nd),
        "final_loss": result.after.loss[-1, 0],
        "config": config.to_dict(),
    }
    _emit(
        summary,
        args.json,
        [
            f"perturbed at t0 = {args.t0}: <d>/(eps N_w) from {nd[0]:.4g} to {nd[-1]:.4g} "
            f"(range {np.nanmin(nd):.4g}..{np.nanmax(nd):.4g}) over {len(nd) - 1} iterations",
        ],
    )
    return 0


def cmd_lyapunov(args: argparse.Namespace) -> int:
    config = _config(args)
    started = time.perf_counter()
    result = run_lyapunov(config, args.eps, args.inits, data=_data(args), workers=args.workers)
    seconds = time.perf_counter() - started
    rows = []
    for j, (eps, st) in enumerate(zip(result.eps, result.stats, strict=True)):
        rows.append(
            {
                "eps": eps,
                "mean": st.mean,
                "std": st.std,
                "ci": [st.ci_low, st.ci_high],
                "kept": st.kept,
                "total": st.total,
                "diverged": int(result.diverged[:, j].sum()),
                "global_rate_mean": float(np.nanmean(result.global_rate[:, j])),
            }
        )
    lines = [f"{'eps':>9} {'FTLE mean':>10} {'std':>8} {'95% CI':>19} {'kept':>9}"]
    lines += [
        f"{r['eps']:9.2g} {r['mean']:10.4f} {r['std']:8.4f} [{r['ci'][0]:8.4f},{r['ci'][1]:8.4f}] "
        f"{r['kept']:4d}/{r['total']:<4d}"
        for r in rows
    ]
    lines.append(f"{args.inits} initial conditions in {seconds:.1f} s on {args.workers or default_workers()} worker(s)")
    _emit({"results": rows, "seconds": seconds, "config": config.to_dict()}, args.json, lines)
    return 0


def cmd_sharpness(args: argparse.Namespace) -> int:
    config = _config(args)
    result = sharpness_series(config, args.every, data=_data(args), theta0=_theta0(args.init_from))
    edge = result.two_over_eta
    summary = {
        "steps": result.steps.tolist(),
        "sharpness": result.sharpness.tolist(),
        "two_over_eta": edge,
        "every": args.every,
        "final_loss": result.loss[-1],
        "config": config.to_dict(),
    }
    lines = [f"{'step':>8} {'sharpness':>12} {'/ (2/eta)':>10}"]
    lines += [f"{s:8d} {v:12.5g} {v / edge:10.3f}" for s, v in zip(result.steps, result.sharpness, strict=True)]
    lines.append(f"2/eta = {edge:.5g}; final loss {result.loss[-1]:.6g}")
    _emit(summary, args.json, lines)
    return 0


def bench_large(workers: int | None) -> dict:
    """The paper's edge-of-stability job: eta 1, 500 inits x (1 + 5) x 14 eps x 200 steps."""
    eps = np.logspace(-14, -1, 14)
    config = RunConfig(learning_rate=1.0, n_steps=200, n_perturbations=5)
    started = time.perf_counter()
    run_lyapunov(config, eps, 500, workers=workers)
    seconds = time.perf_counter() - started
    return {
        "job": "eta 1, 500 inits x (1 + 5) x 14 eps x 200 steps",
        "paper_traj_steps": 500 * 6 * 14 * 200,
        "computed_traj_steps": 500 * (1 + 5 * 14) * 200,  # one reference shared by all eps
        "seconds": seconds,
        "workers": workers or default_workers(),
    }


def bench_default_run(threads: int, repeats: int) -> tuple[float, float]:
    """Seconds of the dashboard's default run (eta 0.01, 20 copies, 5,000 iterations) in
    the engine alone, no browser: (best, median) of ``repeats``."""
    config = RunConfig()
    run_stability(RunConfig(n_steps=2), threads=threads)  # compile (or load) the kernel
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run_stability(config, threads=threads)
        times.append(time.perf_counter() - started)
    return min(times), float(np.median(times))


def bench_sweep(workers: int | None) -> dict:
    """The default 1-D regime sweep on Iris: 25 eta x 20 networks x (1 + 5) x 500 steps, FTLE
    fits and exact Hessians included."""
    config = RunConfig(n_steps=500, n_perturbations=5)
    run_sweep(RunConfig(n_steps=2, n_perturbations=1), [0.1], 1, workers=1)  # compile (or load) the kernel
    started = time.perf_counter()
    run_sweep(config, geometric_grid(1e-3, 20.0, 25), 20, workers=workers)
    return {
        "job": "1-D sweep, 25 eta x 20 networks x (1 + 5) x 500 steps",
        "traj_steps": 25 * 20 * 6 * 500,
        "seconds": time.perf_counter() - started,
        "workers": workers or default_workers(),
    }


def bench_hessian(repeats: int) -> dict:
    """Seconds of one exact Hessian of the default network (P = 83) at a trained point: best
    and median of ``repeats`` x 100 calls."""
    result = run_stability(RunConfig(n_steps=500, n_perturbations=1), threads=1)
    objective = result.mlp.objective(result.data.x_train, result.data.y_train)
    theta = result.trajectory.final_theta[0]
    hessian(objective, theta)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(100):
            hessian(objective, theta)
        times.append((time.perf_counter() - started) / 100)
    return {"n_params": theta.size, "seconds": min(times), "median_seconds": float(np.median(times))}


def cmd_bench(args: argparse.Namespace) -> int:
    results, default_runs = [], []
    for k in (21, 1000):
        for threads in sorted({1, default_workers()}):
            best, median = measure_throughput(k, args.seconds, args.repeats, threads)
            results.append({"K": k, "threads": threads, "traj_steps_per_s": best, "median_traj_steps_per_s": median})
    for threads in sorted({1, default_workers()}):
        best, median = bench_default_run(threads, args.repeats)
        default_runs.append({"threads": threads, "seconds": best, "median_seconds": median})
    lines = [
        f"K = {r['K']:5d}: {r['traj_steps_per_s']:,.0f} trajectory-steps/s "
        f"(best of {args.repeats}; median {r['median_traj_steps_per_s']:,.0f}), one process, {r['threads']} thread(s)"
        for r in results
    ] + [
        f"default run (eta 0.01, 20 copies, 5,000 iterations): {r['seconds']:.2f} s "
        f"(best of {args.repeats}; median {r['median_seconds']:.2f}), {r['threads']} thread(s)"
        for r in default_runs
    ]
    rate = measure_rate()
    lines.append(f"the dashboard estimates job times here at {rate:,.0f} trajectory-steps/s (its own measurement)")
    payload: dict = {"results": results, "default_run": default_runs, "repeats": args.repeats, "estimate_rate": rate}
    if args.large:
        payload["large"] = large = bench_large(args.workers)
        lines.append(f"{large['job']}: {large['seconds']:.1f} s on {large['workers']} worker(s)")
    _emit(payload, args.json, lines)
    return 0


# ---- regime sweeps, maps and orbit diagrams ------------------------------------------
def _out_dir(path: Path) -> Path:
    """The directory ``--out`` names, checked before any work: it is a directory or can be made
    (its parent is a writable directory), and if it exists it is writable."""
    if path.exists() and not path.is_dir():
        reason = "it is a file, not a directory"
    elif path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        reason = "the directory is not writable"
    elif not path.exists() and not path.parent.is_dir():
        reason = f"its parent {path.parent} is not a directory"
    elif not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        reason = f"its parent {path.parent} is not writable"
    else:
        return path
    raise ValueError(f"--out {path}: cannot write there ({reason})")


def _write_outputs(out: Path, files: dict[str, Callable[[Path], object]]) -> None:
    """Write each file by its writer into a temporary directory beside ``out``, then move them
    into ``out`` (made if missing): an error leaves nothing half-written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, write in files.items():
            write(staging / name)
        out.mkdir(exist_ok=True)
        for name in files:
            os.replace(staging / name, out / name)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _csv(frame) -> Callable[[Path], object]:
    return lambda path: frame.to_csv(path, index=False, float_format="%.10g")


def _npz(**arrays) -> Callable[[Path], object]:
    return lambda path: np.savez_compressed(path, **arrays)


def _json_file(payload: dict) -> Callable[[Path], object]:
    return lambda path: path.write_text(json.dumps(_json_safe(payload), indent=2) + "\n")


def _grid(
    values: list[float] | None, grid: list[str] | None, name: str, default: tuple[float, float, int]
) -> np.ndarray:
    """An explicit list (``--NAMEs``) or a log range (``--NAME-range LO HI N``, N >= 2)."""
    if values is not None:
        return np.asarray(values, dtype=np.float64)
    if grid is None:
        return geometric_grid(*default, name=name)
    low, high, n = grid
    try:
        low, high, count = float(low), float(high), int(n)
    except ValueError:
        raise ValueError(
            f"--{name}-range needs LO HI N as two numbers and a whole number, got {' '.join(grid)}"
        ) from None
    if count < 2:
        raise ValueError(f"--{name}-range needs N >= 2 points, got {count} (give one value with --{name}s)")
    return geometric_grid(low, high, count, name=name)


def _check_cost(traj_steps: int, n_params: int, args: argparse.Namespace) -> float:
    """The job's estimated seconds here (a measured engine rate, scaled by P / 83, over the
    workers); refuse the job if that exceeds ``--max-minutes``."""
    workers = args.workers or default_workers()
    seconds = estimate_seconds(traj_steps, n_params, measure_rate(), workers)
    if seconds > 60 * args.max_minutes:
        raise ValueError(
            f"this job is {traj_steps:,} trajectory-steps, about {seconds / 60:,.1f} min on {workers} worker(s) "
            f"here; the limit is --max-minutes {args.max_minutes:g}: use a coarser grid, fewer networks or steps"
        )
    return seconds


class _Bar:
    """A tqdm progress bar on stderr, shown only on a terminal; an ``on_progress`` for the core."""

    def __init__(self, what: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=what, unit="cell", file=sys.stderr, disable=None, leave=False)

    def __call__(self, done: int, total: int, _partial) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def _prepare(args: argparse.Namespace, n_cells: int, rows_per_cell: int):
    """Config, data and the output directory of a sweep-like command, all checked (and the
    cost estimated and bounded) before any training."""
    config = _config(args, eps=getattr(args, "eps", 1e-8))
    out = _out_dir(args.out)
    data = dataset_for(config, _data(args))
    n_params = network_for(config, data).n_params
    seconds = _check_cost(n_cells * rows_per_cell * config.n_steps, n_params, args)
    return config, data, out, seconds


def cmd_sweep(args: argparse.Namespace) -> int:
    etas = _grid(args.etas, args.eta_range, "eta", (1e-3, 20.0, 25))
    target = check_float("--target-accuracy", args.target_accuracy, low=0.0, high=1.0)
    config, data, out, estimate = _prepare(args, etas.size * args.inits, 1 + args.perturbations)
    started = time.perf_counter()
    with _Bar("sweep") as bar:
        result = run_sweep(
            config, etas, args.inits, target_accuracy=target, data=data, workers=args.workers, on_progress=bar
        )
    seconds = time.perf_counter() - started
    runs, summary = result.runs(), result.summary()
    arrays = {name: np.asarray(runs[name]) for name in runs.columns if name != "regime"}
    meta = {
        "config": config.to_dict(),
        "etas": etas,
        "inits": args.inits,
        "target_accuracy": target,
        "seconds": seconds,
    }
    _write_outputs(
        out,
        {
            "runs.csv": _csv(runs),
            "summary.csv": _csv(summary),
            "time_to_accuracy.csv": _csv(result.time_to_accuracy()),
            "sweep.npz": _npz(
                **arrays,
                regime=np.asarray(runs["regime"], dtype=str),
                loss=result.cells.loss,
                test_accuracy_per_step=result.cells.test_accuracy,
                mean_distance=result.cells.mean_distance[:, 0],
            ),
            "config.json": _json_file(meta),
        },
    )
    lines = [summary.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    lines.append(
        f"{etas.size} eta x {args.inits} networks in {seconds:.1f} s (estimated {estimate:.0f} s); wrote {out}"
    )
    _emit({"summary": summary.to_dict(orient="list"), "seconds": seconds, "out": str(out)}, args.json, lines)
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    etas = _grid(args.etas, args.eta_range, "eta", (0.01, 20.0, 12))
    if args.kind == "eta-eps":
        ys = _grid(args.eps_values, args.eps_range, "eps", (1e-12, 1e-2, 6))
        cells, rows = etas.size * args.inits, 1 + ys.size * args.perturbations
    else:
        ys = args.seed + np.arange(check_int("--seeds", args.seeds, low=1, high=100_000))
        cells, rows = etas.size * ys.size, 1
    if args.zoom is not None:
        etas, ys = zoom_grids(args.kind, etas, ys, args.zoom[:2], args.zoom[2:], args.factor)
        cells = etas.size * (args.inits if args.kind == "eta-eps" else ys.size)
    config, data, out, estimate = _prepare(args, cells, rows)
    started = time.perf_counter()
    with _Bar(f"{args.kind} map") as bar:
        result = run_map(
            args.kind, config, etas, ys, n_inits=args.inits, data=data, workers=args.workers, on_progress=bar
        )
    seconds = time.perf_counter() - started
    meta = {"kind": args.kind, "config": config.to_dict(), "etas": etas, result.y_name: ys, "seconds": seconds}
    if args.kind == "eta-eps":
        meta["inits"] = args.inits
    _write_outputs(
        out,
        {
            "map.csv": _csv(result.table()),
            "map.npz": _npz(etas=etas, ys=ys, value=result.value, share=result.share, diverged=result.diverged),
            "config.json": _json_file(meta),
        },
    )
    finite = result.value[np.isfinite(result.value)]
    span = f"{finite.min():.4g}..{finite.max():.4g}" if finite.size else "none finite"
    lines = [
        f"{args.kind} map, {etas.size} eta x {ys.size} {result.y_name}: {result.value_name} {span}; "
        f"{int(result.diverged.sum())} point(s) diverged",
        f"{seconds:.1f} s (estimated {estimate:.0f} s); wrote {out}",
    ]
    _emit({"kind": args.kind, "value_name": result.value_name, "seconds": seconds, "out": str(out)}, args.json, lines)
    return 0


def cmd_orbit(args: argparse.Namespace) -> int:
    etas = _grid(args.etas, args.eta_range, "eta", (0.3, 30.0, 40))
    check_int("--last", args.last, low=1, high=args.steps + 1)
    config, data, out, estimate = _prepare(args, etas.size, 1)
    started = time.perf_counter()
    with _Bar("orbit diagram") as bar:
        result = run_orbit(config, etas, n_last=args.last, data=data, workers=args.workers, on_progress=bar)
    seconds = time.perf_counter() - started
    meta = {"config": config.to_dict(), "etas": etas, "last": args.last, "seconds": seconds}
    _write_outputs(
        out,
        {
            "orbit.csv": _csv(result.table()),
            "orbit.npz": _npz(etas=etas, losses=result.losses, diverged=result.diverged, n_distinct=result.n_distinct),
            "config.json": _json_file(meta),
        },
    )
    lines = [f"{'eta':>9} {'distinct':>8} {'min loss':>10} {'max loss':>10}"]
    for eta, row, k in zip(etas, result.losses, result.n_distinct, strict=True):
        low, high = (np.nanmin(row), np.nanmax(row)) if np.isfinite(row).any() else (math.nan, math.nan)
        lines.append(f"{eta:9.4g} {k:8d} {low:10.4g} {high:10.4g}")
    lines.append(f"{etas.size} learning rates x {args.steps} steps in {seconds:.1f} s; wrote {out}")
    _emit({"etas": etas, "n_distinct": result.n_distinct, "seconds": seconds, "out": str(out)}, args.json, lines)
    return 0


def _grid_args(p: argparse.ArgumentParser, name: str, what: str) -> None:
    """``--NAMEs V1 V2 ...`` or ``--NAME-range LO HI N`` (log-spaced), not both."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        f"--{name}s",
        dest=f"{name}_values" if name == "eps" else f"{name}s",
        type=float,
        nargs="+",
        help=f"explicit {what}",
    )
    group.add_argument(
        f"--{name}-range", nargs=3, metavar=("LO", "HI", "N"), help=f"{what}: N log-spaced from LO to HI"
    )


def _job_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="directory for the CSV, NPZ and JSON files")
    p.add_argument("--workers", type=_count, default=None, help="processes (default: all cores)")
    p.add_argument("--max-minutes", type=_positive_float, default=60.0, help="refuse jobs estimated to take longer")


# ---- chaos diagnostics of one long run -----------------------------------------------
def _table(columns: dict[str, np.ndarray]) -> Callable[[Path], object]:
    """A CSV writer of equal-length columns: integer and bool columns as integers, the others
    with 17 significant digits (float64 round-trips)."""
    arrays = [np.asarray(v) for v in columns.values()]
    fmt = ["%d" if a.dtype.kind in "biu" else "%.17g" for a in arrays]
    data = np.column_stack([a.astype(np.float64) for a in arrays])
    return lambda path: np.savetxt(path, data, fmt=fmt, delimiter=",", header=",".join(columns), comments="")


def _diagnostics_files(result: Diagnostics, summary: dict) -> dict[str, Callable[[Path], object]]:
    """The files of ``diagnostics``; expansion_rates.csv lists the reference times with a rate."""
    rates, has = result.expansion, np.isfinite(result.expansion.rate)
    per_step = {"loss": result.loss, "accuracy": result.accuracy, "weight_norm": result.weight_norm}
    return {
        "loss.csv": _table({"step": np.arange(result.loss.size), **per_step}),
        "acf.csv": _table(
            {
                "lag": np.arange(result.acf.size),
                "acf": result.acf,
                "null_low": result.null_low,
                "null_high": result.null_high,
            }
        ),
        "expansion_rates.csv": _table(
            {
                "t0": result.rate_steps[has],
                "loss_level": rates.level[has],
                "rate": rates.rate[has],
                "r2": rates.r2[has],
                "significant": rates.significant[has],
            }
        ),
        "top_weights.csv": _table(
            {"step": result.steps, **dict(zip(result.top_labels, result.top_series.T, strict=True))}
        ),
        "diagnostics.json": _json_file(summary),
    }


def _diagnostics_summary(result: Diagnostics, args: argparse.Namespace, seconds: float) -> dict:
    rates = result.expansion
    return {
        "loss_increase_fraction": result.loss_increase_fraction,
        "acf_outside_band_fraction": result.fraction_outside_band,
        "median_rate": rates.median_rate,
        "fraction_significant": rates.fraction_significant,
        "n_rates": int(rates.rates.size),
        "n_reference_times": int(rates.t0.size),
        "top_weight_indices": result.top_indices.tolist(),
        "top_weight_labels": list(result.top_labels),
        "final_loss": result.loss[-1],
        "final_train_accuracy": result.accuracy[-1],
        "diverged_at": None if result.diverged_at < 0 else result.diverged_at,
        "transient": args.transient,
        "max_lag": args.max_lag,
        "shuffles": args.shuffles,
        "seconds": seconds,
        "out": str(args.out),
        "config": result.config.to_dict(),
    }


def cmd_diagnostics(args: argparse.Namespace) -> int:
    config = _config(args, save_every=args.save_every)
    out = _out_dir(args.out)
    data, theta0 = _data(args), _theta0(args.init_from)
    started = time.perf_counter()
    result = run_diagnostics(
        config,
        transient=args.transient,
        max_lag=args.max_lag,
        n_shuffles=args.shuffles,
        n_top=args.top,
        data=data,
        theta0=theta0,
    )
    summary = _diagnostics_summary(result, args, time.perf_counter() - started)
    _write_outputs(out, _diagnostics_files(result, summary))
    s = summary
    lines = [
        f"loss rises on {s['loss_increase_fraction']:.1%} of steps; final loss {s['final_loss']:.4g}, "
        f"train accuracy {s['final_train_accuracy']:.3f}",
        f"ACF of the loss after step {args.transient}: {s['acf_outside_band_fraction']:.1%} of lags 1..{args.max_lag} "
        f"outside the {PERCENTILES[0]:g}-{PERCENTILES[1]:g} percentile band of {args.shuffles} shuffles",
        f"expansion rates: median {s['median_rate']:.3g} per step, {s['fraction_significant']:.1%} significant "
        f"({s['n_rates']} of {s['n_reference_times']} reference times have neighbours)",
        f"top moving weights: {', '.join(result.top_labels)}",
        f"{s['seconds']:.1f} s; wrote {out}",
    ]
    _emit(summary, args.json, lines)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cli.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="one reference network + perturbed copies")
    _network_args(run, eta=0.01, steps=5000, perturbations=20)
    run.add_argument("--eps", type=float, default=1e-8, help="perturbation radius")
    run.add_argument("--init-from", type=Path, help=".npz with theta0 of shape (P,)")
    run.add_argument("--save", type=Path, help="write steps, theta, loss, distance, config to this .npz")
    run.add_argument("--save-every", type=int, default=100, help="save theta every N steps")
    run.set_defaults(func=cmd_run)

    orbital = sub.add_parser("orbital", help="perturb the reference at iteration t0 (orbital stability)")
    _network_args(orbital, eta=0.01, steps=5000, perturbations=20)
    orbital.add_argument("--eps", type=float, default=1e-8)
    orbital.add_argument("--t0", type=int, default=4000)
    orbital.add_argument("--init-from", type=Path)
    orbital.set_defaults(func=cmd_orbital)

    lyap = sub.add_parser("lyapunov", help="FTLE statistics over many initial conditions")
    _network_args(lyap, eta=1.0, steps=200, perturbations=5)
    lyap.add_argument("--eps", type=float, nargs="+", default=[1e-8])
    lyap.add_argument("--inits", type=int, default=40, help="initial conditions")
    lyap.add_argument("--workers", type=_count, default=None, help="processes (default: all cores)")
    lyap.set_defaults(func=cmd_lyapunov)

    sharp = sub.add_parser("sharpness", help="largest Hessian eigenvalue along training vs 2/eta")
    _network_args(sharp, eta=1.0, steps=400, perturbations=20)
    sharp.add_argument("--every", type=int, default=20, help="measure the sharpness every N steps (N >= 1)")
    sharp.add_argument("--init-from", type=Path, help=".npz with theta0 of shape (P,)")
    sharp.set_defaults(func=cmd_sharpness)

    sweep = sub.add_parser("sweep", help="regime sweep over eta x initial networks (runs.csv, summary.csv)")
    _network_args(sweep, eta=1.0, steps=500, perturbations=5)
    _grid_args(sweep, "eta", "learning rates (default 25 from 0.001 to 20)")
    sweep.add_argument("--eps", type=float, default=1e-8, help="perturbation radius of the copies")
    sweep.add_argument("--inits", type=_count, default=20, help="initial networks per learning rate")
    sweep.add_argument("--target-accuracy", type=float, default=0.9, help="test accuracy to reach, in (0, 1]")
    _job_args(sweep)
    sweep.set_defaults(func=cmd_sweep)

    maps = sub.add_parser("map", help="2-D map: eta x eps (FTLE) or eta x seed (final loss)")
    _network_args(maps, eta=1.0, steps=200, perturbations=5)
    maps.add_argument("--kind", choices=MAP_KINDS, default="eta-eps")
    _grid_args(maps, "eta", "learning rates (default 12 from 0.01 to 20)")
    _grid_args(maps, "eps", "eta-eps: perturbation radii (default 6 from 1e-12 to 1e-2)")
    maps.add_argument("--inits", type=_count, default=8, help="eta-eps: initial networks per point")
    maps.add_argument("--seeds", type=int, default=16, help="eta-seed: networks seed .. seed + N - 1")
    maps.add_argument(
        "--zoom",
        type=float,
        nargs=4,
        metavar=("ETA_LO", "ETA_HI", "Y_LO", "Y_HI"),
        help="compute only this rectangle of the map, refined by --factor",
    )
    maps.add_argument("--factor", type=_count, default=4, help="zoom: new points per grid interval")
    _job_args(maps)
    maps.set_defaults(func=cmd_map)

    orbit = sub.add_parser("orbit", help="orbit diagram: the last losses of one network vs eta")
    _network_args(orbit, eta=1.0, steps=2000, perturbations=1)
    _grid_args(orbit, "eta", "learning rates (default 40 from 0.3 to 30)")
    orbit.add_argument("--last", type=int, default=200, help="losses kept per eta (the last N steps)")
    _job_args(orbit)
    orbit.set_defaults(func=cmd_orbit)

    diag = sub.add_parser("diagnostics", help="chaos diagnostics of one long run (ACF, expansion rates, weights)")
    _network_args(diag, eta=5.0, steps=10000, perturbations=1)  # no perturbed copies: --perturbations is unused
    diag.add_argument("--transient", type=int, default=TRANSIENT, help="steps left out of the ACF and the rates")
    diag.add_argument("--max-lag", type=int, default=MAX_LAG, help="largest lag of the autocorrelation")
    diag.add_argument("--shuffles", type=int, default=N_SHUFFLES, help="shuffled copies behind the null band")
    diag.add_argument("--top", type=int, default=N_TOP, help="weights with the longest path whose series are written")
    diag.add_argument("--save-every", type=int, default=1, help="save theta every N steps (the weight series)")
    diag.add_argument("--init-from", type=Path, help=".npz with theta0 of shape (P,)")
    diag.add_argument("--out", type=Path, required=True, help="directory for the CSV and JSON files")
    diag.set_defaults(func=cmd_diagnostics)

    bench = sub.add_parser("bench", help="engine throughput (and the paper's large job with --large)")
    bench.add_argument("--seconds", type=_positive_float, default=1.0, help="duration of each timed run")
    bench.add_argument("--repeats", type=_count, default=5, help="timed runs per K (best and median reported)")
    bench.add_argument("--large", action="store_true", help="also time the 8.4 M trajectory-step job")
    bench.add_argument("--workers", type=_count, default=None, help="processes for --large (default: all cores)")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"cli.py {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
