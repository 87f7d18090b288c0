"""run, orbital and lyapunov: the paper's single-run experiments and FTLE statistics."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from commands.common import Parser, config_from, count_arg, emit, network_args, theta0_from, user_data
from core.analysis.lyapunov import global_rate
from core.engine.parallel import default_workers
from core.experiments.lyapunov_sweep import run_lyapunov
from core.experiments.orbital_stability import run_orbital
from core.experiments.stability import StabilityResult, batch_order, run_stability


def _ftle_summary(result: StabilityResult) -> dict:
    fit = result.ftle
    window = [int(fit.start), int(fit.start + fit.length)] if np.isfinite(fit.start) else None
    return {"slope": float(fit.slope), "r2": float(fit.r2), "window": window, "kept": bool(fit.kept)}


def cmd_run(args: argparse.Namespace) -> int:
    config = config_from(args, eps=args.eps, save_every=args.save_every)
    save = None if args.save is None else _save_path(args.save)
    result = run_stability(config, data=user_data(args), theta0=theta0_from(args.init_from))
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
    order = batch_order(config, result.data)
    if order is not None:
        lines.append(
            f"mini-batches of {order.batch_size} rows, {order.per_epoch} per epoch "
            f"({order.n_samples % order.batch_size} of {order.n_samples} rows left out of each), batch seed "
            f"{order.seed}; loss and accuracy over all {order.n_samples} training rows"
        )
    if summary["diverged"]:
        lines.append(f"diverged trajectories (row 0 = reference): {summary['diverged_rows']}")
    if save is not None:
        lines.append(f"saved {save}")
    emit(summary, args.json, lines)
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
    config = config_from(args, eps=args.eps)
    result = run_orbital(config, args.t0, data=user_data(args), theta0=theta0_from(args.init_from))
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
    emit(
        summary,
        args.json,
        [
            f"perturbed at t0 = {args.t0}: <d>/(eps N_w) from {nd[0]:.4g} to {nd[-1]:.4g} "
            f"(range {np.nanmin(nd):.4g}..{np.nanmax(nd):.4g}) over {len(nd) - 1} iterations",
        ],
    )
    return 0


def cmd_lyapunov(args: argparse.Namespace) -> int:
    config = config_from(args)
    started = time.perf_counter()
    result = run_lyapunov(config, args.eps, args.inits, data=user_data(args), workers=args.workers)
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
    emit({"results": rows, "seconds": seconds, "config": config.to_dict()}, args.json, lines)
    return 0


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add this module's subcommands to the parser's ``sub``."""
    run = sub.add_parser("run", help="one reference network + perturbed copies")
    network_args(run, eta=0.01, steps=5000, perturbations=20)
    run.add_argument("--eps", type=float, default=1e-8, help="perturbation radius")
    run.add_argument("--init-from", type=Path, help=".npz with theta0 of shape (P,)")
    run.add_argument("--save", type=Path, help="write steps, theta, loss, distance, config to this .npz")
    run.add_argument("--save-every", type=int, default=100, help="save theta every N steps")
    run.set_defaults(func=cmd_run)

    orbital = sub.add_parser("orbital", help="perturb the reference at iteration t0 (orbital stability)")
    network_args(orbital, eta=0.01, steps=5000, perturbations=20)
    orbital.add_argument("--eps", type=float, default=1e-8)
    orbital.add_argument("--t0", type=int, default=4000)
    orbital.add_argument("--init-from", type=Path)
    orbital.set_defaults(func=cmd_orbital)

    lyap = sub.add_parser("lyapunov", help="FTLE statistics over many initial conditions")
    network_args(lyap, eta=1.0, steps=200, perturbations=5)
    lyap.add_argument("--eps", type=float, nargs="+", default=[1e-8])
    lyap.add_argument("--inits", type=int, default=40, help="initial conditions")
    lyap.add_argument("--workers", type=count_arg, default=None, help="processes (default: all cores)")
    lyap.set_defaults(func=cmd_lyapunov)
