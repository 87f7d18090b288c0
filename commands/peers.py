"""The JAX peer of the engine (`cli.py bench --peers`, issue 22): the same training step as
the project's, written as a researcher would write it in JAX, timed beside the engine.

The peer: the 4-10-3 sigmoid network of the default config (``core.experiments.stability``'s
``network_for``), its softmax cross-entropy averaged over the 120 Iris training rows, the
gradient by ``jax.grad`` (``value_and_grad``: the loss of every step comes back too, as the
engine records it), plain gradient descent, float64 (``jax_enable_x64``); ``jit`` of a
``lax.scan`` over steps of the step ``vmap``-ed over the K networks. Parameters are the
pytree (W1 (K, D, H), b1 (K, H), W2 (K, H, C), b2 (K, C)), cut from the project's flat
``theta: (K, P)`` by ``MLP.views``, so both start from the same networks.

JAX is an optional extra (``pip install -e '.[peers]'``). It runs in a process of its own,
``python -m commands.peers``, started by :func:`run_peer` with ``XLA_FLAGS`` set to one
thread and pinned to one core before JAX is imported: the CLI's process never loads JAX, and its threads and
environment stay as they were. This module imports JAX only inside the functions that use it
(``importlib``: typed ``Any``, so the type check passes with or without JAX installed).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.config import RunConfig
from core.data import Dataset
from core.engine.model import MLP
from core.engine.speed import measure_throughput
from core.engine.training import descend
from core.experiments.stability import dataset_for, network_for

MISSING = "JAX is not installed: pip install -e '.[peers]' (or make bench-peers) to compare with it"
# one XLA thread: no Eigen thread pool, one intra-op thread (the engine is timed on one thread)
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
PEER_KS = (21, 200, 1000)
CHECK_STEPS, CHECK_ROWS, CHECK_ETA = 20, 21, 1.0  # the edge-of-stability rate: theta moves ~0.1
FIRST_STEPS = 64  # the timed run's length is calibrated from one run of this many steps

Params = tuple[Any, Any, Any, Any]  # W1 (K, D, H), b1 (K, H), W2 (K, H, C), b2 (K, C)


def jax_available() -> bool:
    """True if ``import jax`` would find a module (None in sys.modules hides it, as for import)."""
    try:
        return importlib.util.find_spec("jax") is not None
    except (ImportError, ValueError):
        return False


def load_jax() -> Any:
    """The jax module with float64 on."""
    jax = importlib.import_module("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def default_problem() -> tuple[MLP, Dataset]:
    """The default config's network (4-10-3 sigmoid, softmax) and data (Iris, 120 training rows)."""
    config = RunConfig()
    data = dataset_for(config, None)
    return network_for(config, data), data


# ---- the peer: what a researcher writes ----------------------------------------------------
def make_peer(jax: Any, x: np.ndarray, y: np.ndarray) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(train, path) on the data (x (N, D), y (N,)): ``train(params, eta, n_steps)`` -> (final
    params, losses (T, K)); ``path(params, eta, n_steps)`` -> params after each step (T, K, ...)."""
    jnp, lax = jax.numpy, jax.lax
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss(params: Params) -> Any:
        w1, b1, w2, b2 = params
        hidden = jax.nn.sigmoid(x @ w1 + b1)  # (N, H)
        log_p = jax.nn.log_softmax(hidden @ w2 + b2)  # (N, C)
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))

    def step(params: Params, eta: Any) -> tuple[Params, Any]:
        value, grad = jax.value_and_grad(loss)(params)
        return jax.tree.map(lambda p, g: p - eta * g, params, grad), value

    batched = jax.vmap(step, in_axes=(0, None))  # over the K networks

    def train(params: Params, eta: Any, n_steps: int) -> tuple[Params, Any]:
        return lax.scan(lambda p, _: batched(p, eta), params, length=n_steps)

    def path(params: Params, eta: Any, n_steps: int) -> Params:
        def body(p: Params, _: None) -> tuple[Params, Params]:
            new, _loss = batched(p, eta)
            return new, new

        return lax.scan(body, params, length=n_steps)[1]

    jit = jax.jit
    return jit(train, static_argnames="n_steps"), jit(path, static_argnames="n_steps")


# ---- checked against the engine, then timed -------------------------------------------------
def split(mlp: MLP, theta: np.ndarray) -> Params:
    """(K, P) -> the pytree (W1, b1, W2, b2), copies in the project's layout (``MLP.views``)."""
    w1, b1, w2, b2 = (np.array(part) for part in mlp.views(theta))
    return w1, b1, w2, b2


def max_difference(jax: Any, n_steps: int = CHECK_STEPS, n_rows: int = CHECK_ROWS, eta: float = CHECK_ETA) -> dict:
    """The peer's trajectory against the engine's (``descend``, one thread) from the same K
    networks (seed 0): the largest |difference| of any parameter at any step, and the largest
    distance moved from the start (what the difference is small against)."""
    mlp, data = default_problem()
    theta0 = mlp.init(np.random.default_rng(0), n_rows)  # (K, P)
    engine = descend(mlp.objective(data.x_train, data.y_train, threads=1), theta0, eta, n_steps, save_every=1)
    _train, path = make_peer(jax, data.x_train, data.y_train)
    stacked = path(split(mlp, theta0), eta, n_steps=n_steps)  # each (T, K, ...)
    peer = np.concatenate([np.asarray(p).reshape(n_steps, n_rows, -1) for p in stacked], axis=-1)  # (T, K, P)
    return {
        "steps": n_steps,
        "K": n_rows,
        "eta": eta,
        "max_abs_difference": float(np.abs(peer - engine.theta[1:]).max()),
        "max_abs_moved": float(np.abs(engine.theta[-1] - theta0).max()),
    }


def time_peer(jax: Any, n_rows: int, seconds: float, repeats: int) -> dict:
    """Trajectory-steps/s of the peer at K = ``n_rows``: best and median of ``repeats`` runs of
    about ``seconds`` each; compiling and a warm-up run excluded. ``cpu_per_wall`` is this
    process's CPU time over the wall time of the timed runs: 1 on one thread."""
    mlp, data = default_problem()
    train, _path = make_peer(jax, data.x_train, data.y_train)
    params = jax.device_put(split(mlp, mlp.init(np.random.default_rng(0), n_rows)))
    eta = RunConfig().learning_rate

    def run(n_steps: int) -> float:
        started = time.perf_counter()
        jax.block_until_ready(train(params, eta, n_steps=n_steps))
        return time.perf_counter() - started

    run(FIRST_STEPS)  # compile
    first = min(run(FIRST_STEPS), run(FIRST_STEPS))
    n_steps = max(FIRST_STEPS, int(FIRST_STEPS * seconds / first))
    run(n_steps)  # compile this length, warm
    wall, cpu, rates = 0.0, time.process_time(), []
    for _ in range(repeats):
        elapsed = run(n_steps)
        wall += elapsed
        rates.append(n_rows * n_steps / elapsed)
    return {
        "K": n_rows,
        "n_steps": n_steps,
        "traj_steps_per_s": max(rates),
        "median_traj_steps_per_s": float(np.median(rates)),
        "cpu_per_wall": (time.process_time() - cpu) / wall,
    }


def peer_main(argv: list[str] | None = None) -> int:
    """``python -m commands.peers``: the check, then the timings, as JSON on stdout."""
    parser = argparse.ArgumentParser(prog="python -m commands.peers")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ks", type=int, nargs="+", default=list(PEER_KS))
    args = parser.parse_args(argv)
    # XLA_FLAGS alone left XLA's CPU client ~1.8 cores busy on a quiet machine (measured: CPU
    # time / wall 1.8): the process and every thread it starts are pinned to one core, as the
    # engine is timed on one thread
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    jax = load_jax()
    report = {
        "jax_version": jax.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "check": max_difference(jax),
        "results": [time_peer(jax, k, args.seconds, args.repeats) for k in args.ks],
    }
    print(json.dumps(report))
    return 0


# ---- the CLI's side: the peer in its own process, the engine beside it ----------------------
def run_peer(seconds: float, repeats: int, ks: tuple[int, ...] = PEER_KS) -> dict:
    """The peer's report (``peer_main``) from a process of its own with one XLA thread."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    argv = ["--seconds", str(seconds), "--repeats", str(repeats), "--ks", *map(str, ks)]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "commands.peers", *argv], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"the JAX peer failed (exit status {done.returncode}):\n{done.stderr[-2000:]}")
    report: dict = json.loads(done.stdout)
    return report


def bench_peers(seconds: float, repeats: int) -> dict:
    """The peer at each K of ``PEER_KS`` beside the engine (``measure_throughput``, one thread)
    timed right after it, and the engine's rate over the peer's; ``{"skipped": MISSING}``
    without JAX."""
    if not jax_available():
        return {"skipped": MISSING}
    report = run_peer(seconds, repeats)
    for row in report["results"]:
        best, median = measure_throughput(row["K"], seconds, repeats, 1)
        row.update(engine_traj_steps_per_s=best, engine_median_traj_steps_per_s=median)
        row["ratio"] = best / row["traj_steps_per_s"]
    return report


def peer_lines(report: dict, repeats: int) -> list[str]:
    """What ``bench --peers`` prints: one line for the check, one per K."""
    if "skipped" in report:
        return [report["skipped"]]
    check = report["check"]
    lines = [
        f"JAX {report['jax_version']} peer (jax.grad, jit + vmap + lax.scan, float64, one XLA thread): "
        f"its trajectory of {check['steps']} steps (K = {check['K']}, eta {check['eta']:g}) equals the engine's "
        f"to {check['max_abs_difference']:.1e} (max |difference|; the parameters moved up to "
        f"{check['max_abs_moved']:.2f})"
    ]
    lines += [
        f"K = {r['K']:5d}: engine {r['engine_traj_steps_per_s']:,.0f} trajectory-steps/s, JAX "
        f"{r['traj_steps_per_s']:,.0f} (best of {repeats}; medians {r['engine_median_traj_steps_per_s']:,.0f} and "
        f"{r['median_traj_steps_per_s']:,.0f}; JAX CPU/wall {r['cpu_per_wall']:.2f}): the engine {r['ratio']:.2f}x JAX"
        for r in report["results"]
    ]
    return lines


if __name__ == "__main__":
    sys.exit(peer_main())
