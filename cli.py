"""Command line for the training-dynamics core (no Dash).

    python cli.py run --eta 0.01 --eps 1e-8 --perturbations 20 --steps 5000 --seed 0 --json
    python cli.py orbital --t0 4000 --json
    python cli.py lyapunov --eta 1 --eps 1e-14 1e-8 1e-3 --inits 40 --perturbations 5 --steps 200 --json
    python cli.py bench [--large] [--json]

Bad input gets one line on stderr and exit status 2; nothing is half-written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from core.config import ACTIVATIONS, DATASETS, INITS, NORMS, OUTPUTS, PERTURBATIONS, RunConfig
from core.data import load_dataset_file
from core.experiments import StabilityResult, run_lyapunov, run_orbital, run_stability
from core.lyapunov import global_rate
from core.parallel import default_workers
from core.speed import measure_rate, measure_throughput

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _json_safe(value):
    """NaN/inf -> None so the output is strict JSON; numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
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
