"""sharpness, spectrum and diagnostics: curvature along training, the tangent-space Lyapunov spectrum,
and the chaos diagnostics of one long run."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from commands.common import (
    Parser,
    ProgressBar,
    config_from,
    emit,
    json_writer,
    network_args,
    out_dir,
    theta0_from,
    user_data,
    write_outputs,
)
from core.analysis.attractor import APERIODIC, DIVERGED, FIXED_POINT, Attractor
from core.analysis.chaos import N_SHUFFLES, PERCENTILES
from core.analysis.hessian import sharpness_series
from core.analysis.preconditioned import preconditioned_threshold
from core.analysis.tangent import METHODS as SPECTRUM_METHODS
from core.analysis.tangent import tangent_dimension
from core.engine.optimizers import stability_threshold
from core.experiments.diagnostics import MAX_LAG, N_TOP, TRANSIENT, Diagnostics, run_diagnostics
from core.experiments.spectrum import run_spectrum


def cmd_sharpness(args: argparse.Namespace) -> int:
    config = config_from(args)
    data, theta0 = user_data(args), theta0_from(args.init_from)
    with ProgressBar("training", unit="step") as bar:
        result = sharpness_series(config, args.every, data=data, theta0=theta0, on_progress=bar)
    eta, beta = config.learning_rate, config.momentum
    threshold = stability_threshold(config.optimizer, eta, beta)  # the update rule's edge of stability
    summary = {
        "steps": result.steps.tolist(),
        "sharpness": result.sharpness.tolist(),
        "two_over_eta": result.two_over_eta,
        "threshold": threshold.value,  # None for Adam: its threshold bounds the preconditioned sharpness
        "threshold_label": threshold.label,
        "every": args.every,
        "final_loss": result.loss[-1],
        "config": config.to_dict(),
    }
    rows = zip(result.steps, result.sharpness, strict=True)
    if result.preconditioned is None:
        assert threshold.value is not None  # every rule but Adam has one
        lines = [f"{'step':>8} {'sharpness':>12} {'/ ' + threshold.label:>22}"]
        lines += [f"{s:8d} {v:12.5g} {v / threshold.value:22.3f}" for s, v in rows]
        lines.append(f"{threshold.label} = {threshold.value:.5g}; final loss {result.loss[-1]:.6g}")
    else:  # Adam: lambda_max(P^-1 H) beside, against (2 + 2 beta1) / ((1 - beta1) eta)
        edge = preconditioned_threshold(eta, beta)
        summary |= {"preconditioned_sharpness": result.preconditioned.tolist(), "preconditioned_threshold": edge}
        lines = [f"{'step':>8} {'sharpness':>12} {'precond.':>12} {'/ (2 + 2β1)/((1 − β1)η)':>24}"]
        lines += [
            f"{s:8d} {v:12.5g} {p:12.5g} {p / edge:24.3f}"
            for (s, v), p in zip(rows, result.preconditioned, strict=True)
        ]
        lines.append(
            f"(2 + 2β1)/((1 − β1)η) = {edge:.5g} bounds the preconditioned sharpness λmax(P⁻¹H); "
            f"final loss {result.loss[-1]:.6g}"
        )
    emit(summary, args.json, lines)
    return 0


def cmd_spectrum(args: argparse.Namespace) -> int:
    config = config_from(args)
    data, theta0 = user_data(args), theta0_from(args.init_from)
    with ProgressBar("training", unit="step") as bar:
        result = run_spectrum(
            config, args.k, every=args.every, method=args.method, data=data, theta0=theta0, on_progress=bar
        )
    spectrum = result.spectrum
    dim = tangent_dimension(config.update_rule(), spectrum.n_params)  # P, 2P with momentum, 3P with Adam
    summary = {
        "exponents": spectrum.sorted.tolist(),
        "running": spectrum.running.tolist(),
        "steps": spectrum.steps.tolist(),
        "n_positive": spectrum.n_positive,
        "sum": spectrum.total,
        "kaplan_yorke": spectrum.kaplan_yorke,
        "k": args.k,
        "n_params": spectrum.n_params,
        "every": spectrum.every,
        "n_steps": spectrum.n_steps,
        "diverged_at": spectrum.diverged_at,
        "final_loss": result.loss[spectrum.n_steps],
        "config": config.to_dict(),
    }
    if args.window is not None:
        ends, spectra = spectrum.finite_time(args.window)
        summary["finite_time"] = {"window": args.window, "ends": ends.tolist(), "spectra": spectra.tolist()}
    lines = [f"{i + 1:4d} {value: .6f}" for i, value in enumerate(spectrum.sorted)]
    lines.append(
        f"{spectrum.n_positive} of {args.k} positive; sum {spectrum.total:.6g}; Kaplan-Yorke dimension "
        f"{spectrum.kaplan_yorke:.4g}"
        + ("" if args.k == dim else f" (from {args.k} of {dim} exponents)")
        + f"; over {spectrum.n_steps:,} steps"
        + ("" if spectrum.diverged_at is None else f" (the network diverged at step {spectrum.diverged_at:,})")
    )
    emit(summary, args.json, lines)
    return 0


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
        "diagnostics.json": json_writer(summary),
    }


def _diagnostics_summary(result: Diagnostics, args: argparse.Namespace, seconds: float) -> dict:
    rates = result.expansion
    return {
        "attractor": result.attractor.to_dict(),
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


def attractor_line(attractor: Attractor, n_steps: int) -> str:
    """One line: what the loss settles on (core.analysis.attractor), e.g. "the loss settles on a cycle of
    period 10 from step 350 to the end (10000)"."""
    a = attractor
    if a.kind == DIVERGED:
        return f"the loss became non-finite at step {a.since}"
    if a.kind == APERIODIC:
        return (
            f"the loss is aperiodic: no fixed point and no cycle of period up to {a.max_period} "
            f"repeats over its last {a.window} steps"
        )
    what = "a fixed point" if a.kind == FIXED_POINT else f"a cycle of period {a.period}"
    return f"the loss settles on {what} from step {a.since} to the end ({n_steps})"


def cmd_diagnostics(args: argparse.Namespace) -> int:
    config = config_from(args, save_every=args.save_every)
    if args.transient >= args.steps:
        raise ValueError(
            f"--transient {args.transient} must be below --steps {args.steps} (the ACF and rates use the rest)"
        )
    out = out_dir(args.out)
    data, theta0 = user_data(args), theta0_from(args.init_from)
    started = time.perf_counter()
    with ProgressBar("training", unit="step") as bar:
        result = run_diagnostics(
            config,
            transient=args.transient,
            max_lag=args.max_lag,
            n_shuffles=args.shuffles,
            n_top=args.top,
            data=data,
            theta0=theta0,
            on_progress=bar,
        )
    summary = _diagnostics_summary(result, args, time.perf_counter() - started)
    write_outputs(out, _diagnostics_files(result, summary))
    s = summary
    lines = [
        attractor_line(result.attractor, result.loss.size - 1),
        f"loss rises on {s['loss_increase_fraction']:.1%} of steps; final loss {s['final_loss']:.4g}, "
        f"train accuracy {s['final_train_accuracy']:.3f}",
        f"ACF of the loss after step {args.transient}: {s['acf_outside_band_fraction']:.1%} of lags 1..{args.max_lag} "
        f"outside the {PERCENTILES[0]:g}-{PERCENTILES[1]:g} percentile band of {args.shuffles} shuffles",
        f"expansion rates: median {s['median_rate']:.3g} per step, {s['fraction_significant']:.1%} significant "
        f"({s['n_rates']} of {s['n_reference_times']} reference times have neighbours)"
        if s["n_rates"]
        else f"expansion rates: none (none of {s['n_reference_times']} reference times has a neighbour)",
        f"top moving weights: {', '.join(result.top_labels)}",
        f"{s['seconds']:.1f} s; wrote {out}",
    ]
    emit(summary, args.json, lines)
    return 0


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add this module's subcommands to the parser's ``sub``."""
    sharp = sub.add_parser("sharpness", help="largest Hessian eigenvalue along training vs 2/eta")
    network_args(sharp, eta=1.0, steps=400, perturbations=None)
    sharp.add_argument("--every", type=int, default=20, help="measure the sharpness every N steps (N >= 1)")
    sharp.add_argument("--init-from", type=Path, help=".npz with theta0 of shape (P,)")
    sharp.set_defaults(func=cmd_sharpness)

    spec = sub.add_parser("spectrum", help="Lyapunov exponents from the tangent dynamics (QR), Kaplan-Yorke dimension")
    network_args(spec, eta=1.0, steps=200, perturbations=None)
    spec.add_argument("--k", type=int, default=10, help="exponents to compute, 1 to P (10)")
    spec.add_argument("--every", type=int, default=1, help="re-orthonormalise every N steps (1)")
    spec.add_argument("--method", choices=SPECTRUM_METHODS, default="auto",
                      help="exact Hessian, Hessian-vector products, or auto: exact up to 500 parameters")  # fmt: skip
    spec.add_argument("--window", type=int, help="also the finite-time spectra over windows of N steps")
    spec.add_argument("--init-from", type=Path, help=".npz with theta0 of shape (P,)")
    spec.set_defaults(func=cmd_spectrum)

    diag = sub.add_parser("diagnostics", help="chaos diagnostics of one long run (ACF, expansion rates, weights)")
    network_args(diag, eta=5.0, steps=10000, perturbations=None)  # no perturbed copies
    diag.add_argument("--transient", type=int, default=TRANSIENT, help="steps left out of the ACF and the rates")
    diag.add_argument("--max-lag", type=int, default=MAX_LAG, help="largest lag of the autocorrelation")
    diag.add_argument("--shuffles", type=int, default=N_SHUFFLES, help="shuffled copies behind the null band")
    diag.add_argument("--top", type=int, default=N_TOP, help="weights with the longest path whose series are written")
    diag.add_argument("--save-every", type=int, default=1, help="save theta every N steps (the weight series)")
    diag.add_argument("--init-from", type=Path, help=".npz with theta0 of shape (P,)")
    diag.add_argument("--out", type=Path, required=True, help="directory for the CSV and JSON files")
    diag.set_defaults(func=cmd_diagnostics)
