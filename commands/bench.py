"""bench: the engine's speed here, and the jobs the README quotes."""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

import numpy as np

from commands.common import Parser, count_arg, emit, positive_float
from core.analysis.hessian import hessian
from core.config import RunConfig
from core.engine.parallel import default_workers
from core.engine.speed import DepthSpeed, measure_depth, measure_rate, measure_throughput
from core.engine.training import descend
from core.experiments.lyapunov_sweep import run_lyapunov
from core.experiments.maps import run_map
from core.experiments.regimes import geometric_grid, run_sweep
from core.experiments.spectrum import run_spectrum
from core.experiments.stability import dataset_for, network_for, run_stability, start_and_directions


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
    fits and exact Hessians included. ``cpu_seconds`` is this process's CPU time: the whole
    job's with ``--workers 1`` (every chunk then runs here), steadier than the wall clock on
    a shared machine."""
    config = RunConfig(n_steps=500, n_perturbations=5)
    run_sweep(RunConfig(n_steps=2, n_perturbations=1), [0.1], 1, workers=1)  # compile (or load) the kernel
    started, cpu = time.perf_counter(), time.process_time()
    run_sweep(config, geometric_grid(1e-3, 20.0, 25), 20, workers=workers)
    return {
        "job": "1-D sweep, 25 eta x 20 networks x (1 + 5) x 500 steps",
        "traj_steps": 25 * 20 * 6 * 500,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "workers": workers or default_workers(),
    }


def bench_seed_map(workers: int | None) -> dict:
    """An eta x seed map on Iris: 25 eta (the sweep's) x 20 seeds, one network each, 500 steps;
    ``cpu_seconds`` as in :func:`bench_sweep`."""
    run_map("eta-seed", RunConfig(n_steps=2), [0.1], [0], workers=1)  # compile (or load) the kernel
    started, cpu = time.perf_counter(), time.process_time()
    run_map("eta-seed", RunConfig(n_steps=500), geometric_grid(1e-3, 20.0, 25), np.arange(20), workers=workers)
    return {
        "job": "eta x seed map, 25 eta x 20 seeds x 500 steps",
        "traj_steps": 25 * 20 * 500,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
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


def _best(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times), float(np.median(times))


def bench_spectrum(repeats: int) -> dict:
    """The tangent spectrum: all 83 exponents of the default Iris network at eta = 1 over 1,000
    steps (training included), and the leading 10 of a digits network over 300 steps against
    the 300 GD steps of a run with one copy (2 networks, as before) and of the reference
    alone (the spectrum's own training), one thread each."""
    iris = RunConfig(learning_rate=1.0, n_steps=1000)
    run_spectrum(RunConfig(learning_rate=1.0, n_steps=2), 2)  # compile (or load) the kernel
    iris_best, iris_median = _best(lambda: run_spectrum(iris, 83), repeats)
    digits = RunConfig.for_dataset("digits", learning_rate=0.1, n_steps=300, n_perturbations=1)
    run_spectrum(RunConfig.for_dataset("digits", n_steps=2), 1)
    spectrum_best, _ = _best(lambda: run_spectrum(digits, 10), max(1, repeats // 2))
    steps_best, _ = _best(lambda: run_stability(digits, threads=1), max(1, repeats // 2))
    alone_best, _ = _best(functools.partial(_train_reference, digits), max(1, repeats // 2))
    return {
        "iris_k83_1000_steps_seconds": iris_best,
        "iris_median_seconds": iris_median,
        "digits_k10_300_steps_seconds": spectrum_best,
        "digits_300_gd_steps_seconds": steps_best,
        "digits_ratio": spectrum_best / steps_best,
        "digits_reference_300_steps_seconds": alone_best,
        "digits_ratio_to_reference": spectrum_best / alone_best,
    }


def _train_reference(config: RunConfig) -> None:
    """The reference network of ``config`` trained alone on one thread, as the spectrum trains it."""
    data = dataset_for(config, None)
    mlp = network_for(config, data)
    start, _ = start_and_directions(config, mlp, None)
    with mlp.objective(data.x_train, data.y_train, config.l2) as objective:
        descend(objective, start[None, :], config.learning_rate, config.n_steps, save_every=1)


def bench_optimizers(repeats: int) -> list[dict]:
    """Trajectory-steps per second of each optimizer, K = 21, one thread, against GD's."""
    from core.data import load_iris
    from core.engine.model import MLP
    from core.engine.optimizers import OPTIMIZERS, Optimizer
    from core.engine.training import descend

    data = load_iris()
    mlp = MLP(data.n_features, 10, data.n_classes)
    objective = mlp.objective(data.x_train, data.y_train, 0.0, threads=1)
    theta0 = mlp.init(np.random.default_rng(0), 21)
    n_steps, rates = 2000, {}
    for optimizer in map(Optimizer, OPTIMIZERS):
        train = functools.partial(descend, objective, theta0, 0.01, n_steps, save_every=None, optimizer=optimizer)
        train()  # warm
        best, _ = _best(train, repeats)
        rates[optimizer.name] = 21 * n_steps / best
    return [{"optimizer": name, "traj_steps_per_s": rate, "of_gd": rate / rates["gd"]} for name, rate in rates.items()]


def depth_line(deep: DepthSpeed, repeats: int) -> str:
    """The two-hidden-layer network beside the one-layer one, per step and per FLOP."""
    network = "-".join(map(str, (4, *deep.widths, 3)))
    return (
        f"{network} (two hidden layers), K = {deep.rows}: {deep.rate:,.0f} trajectory-steps/s "
        f"(best of {repeats}; median {deep.median_rate:,.0f}), 1 thread: "
        f"{deep.rate * deep.step_flops / 1e9:.2f} GFLOP/s ({deep.step_flops:,} FLOPs a step); the one-layer "
        f"engine timed in turn: {deep.one_layer_rate:,.0f} trajectory-steps/s, "
        f"{deep.one_layer_rate * deep.one_layer_step_flops / 1e9:.2f} GFLOP/s ({deep.one_layer_step_flops:,}): "
        f"{deep.per_flop:.2f}x its speed per FLOP"
    )


def cmd_bench(args: argparse.Namespace) -> int:
    if args.estimates or args.costs:
        from commands import bench_costs  # here, not at the top: cli.py's imports are shared work

        return bench_costs.cmd_estimates(args) if args.estimates else bench_costs.cmd_costs(args)
    results, default_runs = [], []
    for k in (21, 1000):
        for threads in sorted({1, default_workers()}):
            best, median = measure_throughput(k, args.seconds, args.repeats, threads)
            results.append({"K": k, "threads": threads, "traj_steps_per_s": best, "median_traj_steps_per_s": median})
    deep = measure_depth((10, 10), 21, args.seconds, args.repeats)
    for threads in sorted({1, default_workers()}):
        best, median = bench_default_run(threads, args.repeats)
        default_runs.append({"threads": threads, "seconds": best, "median_seconds": median})
    lines = [
        f"K = {r['K']:5d}: {r['traj_steps_per_s']:,.0f} trajectory-steps/s "
        f"(best of {args.repeats}; median {r['median_traj_steps_per_s']:,.0f}), one process, {r['threads']} thread(s)"
        for r in results
    ]
    lines.append(depth_line(deep, args.repeats))
    lines += [
        f"default run (eta 0.01, 20 copies, 5,000 iterations): {r['seconds']:.2f} s "
        f"(best of {args.repeats}; median {r['median_seconds']:.2f}), {r['threads']} thread(s)"
        for r in default_runs
    ]
    rate = measure_rate()
    lines.append(f"the dashboard estimates job times here at {rate:,.0f} trajectory-steps/s (its own measurement)")
    payload: dict = {
        "results": results,
        "depth": deep.to_dict(),
        "default_run": default_runs,
        "repeats": args.repeats,
        "estimate_rate": rate,
    }
    if args.large:
        payload["large"] = large = bench_large(args.workers)
        lines.append(f"{large['job']}: {large['seconds']:.1f} s on {large['workers']} worker(s)")
    if args.sweep:
        payload["sweep"] = sweep = bench_sweep(args.workers)
        payload["seed_map"] = seed_map = bench_seed_map(args.workers)
        hess = payload["hessian"] = bench_hessian(args.repeats)
        lines += [
            f"{job['job']}: {job['seconds']:.1f} s on {job['workers']} worker(s) "
            f"(CPU time of this process {job['cpu_seconds']:.1f} s)"
            for job in (sweep, seed_map)
        ]
        lines += [
            f"exact Hessian of the {hess['n_params']}-parameter network: {1e3 * hess['seconds']:.2f} ms "
            f"(best of {args.repeats} x 100; median {1e3 * hess['median_seconds']:.2f} ms)",
        ]
    if args.spectrum:
        spec = payload["spectrum"] = bench_spectrum(args.repeats)
        lines += [
            "tangent spectrum, Iris, all 83 exponents, eta 1, 1,000 steps: "
            f"{spec['iris_k83_1000_steps_seconds']:.2f} s (best of {args.repeats}; median "
            f"{spec['iris_median_seconds']:.2f})",
            f"tangent spectrum, digits, 10 exponents, 300 steps: {spec['digits_k10_300_steps_seconds']:.2f} s, "
            f"{spec['digits_ratio']:.2f}x the 300 GD steps of a run with one copy "
            f"({spec['digits_300_gd_steps_seconds']:.2f} s), "
            f"{spec['digits_ratio_to_reference']:.2f}x those of the reference alone "
            f"({spec['digits_reference_300_steps_seconds']:.2f} s)",
        ]
    if args.optimizers:
        payload["optimizers"] = rows = bench_optimizers(args.repeats)
        lines += [
            f"{r['optimizer']:>9}: {r['traj_steps_per_s']:,.0f} trajectory-steps/s, {r['of_gd']:.2f}x GD "
            "(K = 21, one thread)"
            for r in rows
        ]
    if args.peers:
        from commands import peers  # here, not at the top: only --peers loads the peer's module

        payload["peers"] = report = peers.bench_peers(args.seconds, args.repeats)
        lines += peers.peer_lines(report, args.repeats)
    if args.digits:
        from core.engine.speed import measure_digits  # here, not at the top: cli.py's imports are shared work

        digits = [measure_digits(6, args.seconds, args.repeats, t) for t in sorted({1, default_workers()})]
        payload["digits"] = [d.to_dict() for d in digits]
        lines += [
            f"digits (64-64-10 tanh, N = 1,438), K = {d.rows}, {d.engine} engine, {d.threads} thread(s): "
            f"{d.rate:,.0f} trajectory-steps/s (best of {args.repeats}; median {d.median_rate:,.0f}); "
            f"FLOP-limited {d.flop_limited_rate:,.0f} ({d.step_flops / 1e6:.1f} MFLOP a step; DGEMM "
            f"{d.dgemm_gflops:.1f} GFLOP/s a thread on the step's shapes): {d.ratio:.2f}x from it"
            for d in digits
        ]
    emit(payload, args.json, lines)
    return 0


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    """Add this module's subcommands to the parser's ``sub``."""
    bench = sub.add_parser("bench", help="engine throughput (and the paper's large job with --large)")
    bench.add_argument("--seconds", type=positive_float, default=1.0, help="duration of each timed run")
    bench.add_argument("--repeats", type=count_arg, default=5, help="timed runs per K (best and median reported)")
    bench.add_argument("--large", action="store_true", help="also time the 8.4 M trajectory-step job")
    bench.add_argument(
        "--sweep",
        action="store_true",
        help="also time the default regime sweep, an eta x seed map and the exact Hessian",
    )
    bench.add_argument("--workers", type=count_arg, default=None, help="processes for --large (default: all cores)")
    bench.add_argument(
        "--digits", action="store_true", help="also time digits beside its FLOP-limited rate (DGEMM GFLOP/s)"
    )
    bench.add_argument(
        "--estimates",
        action="store_true",
        help="instead: one small job of each kind beside its estimated time (~2 min)",
    )
    bench.add_argument(
        "--costs", action="store_true", help="instead: measure the cost model's terms here beside its constants"
    )
    bench.add_argument("--spectrum", action="store_true", help="also time the tangent spectrum (Iris and digits)")
    bench.add_argument("--optimizers", action="store_true", help="also time each optimizer against GD")
    bench.add_argument(
        "--peers",
        action="store_true",
        help="also time the same training in JAX (an optional extra: pip install -e '.[peers]') beside the engine",
    )
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)
