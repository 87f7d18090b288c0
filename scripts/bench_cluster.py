"""The Celery backend's speed on this machine: a distributed map on 1 and 2 workers, and how
soon an idle worker picks up a task.

    .venv/bin/python scripts/bench_cluster.py [--repeats 3] [--json]

Starts a loopback Redis server and Celery workers (``celery -A app:celery_app worker``, one
process each; cluster.local), then measures:
  map on 1 / 2 workers   the Iris eta x seed map (16 learning rates from 0.05 to 10 x 16
                         seeds, 2,000 iterations: 256 cells), its cells sent as Celery tasks;
                         best of --repeats; the two results (and a local run) must be equal
  speed-up               1-worker time / 2-worker time (target >= 1.7)
  pick-up latency        from sending a task to an idle worker until it reports it started
                         (median of 20; target <= 0.5 s): the wait a browser run adds on Celery
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from cluster import CeleryExecutor, make_celery
from cluster.celery_app import CHUNK_TASK, seal
from cluster.local import celery_workers, redis_server
from core.config import RunConfig
from core.experiments.maps import run_map

ROOT = Path(__file__).resolve().parents[1]

SECRET = "bench-" + "0" * 26
CONFIG = RunConfig(n_steps=2000)
ETAS, SEEDS = np.geomspace(0.05, 10.0, 16), np.arange(16)


def timed_map(app, repeats: int):
    """(best seconds, result) of the map on the workers of ``app``."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run_map("eta-seed", CONFIG, ETAS, SEEDS, executor=CeleryExecutor(app))
        best = min(best, time.perf_counter() - started)
    return best, result


def pickup_latency(app, n: int = 20) -> float:
    """Median seconds from sending a (trivial) task until a worker has started it."""
    seconds = []
    for _ in range(n):
        sent = time.perf_counter()
        task = app.send_task(CHUNK_TASK, args=(seal((time.sleep, (0.3,)), app.chunk_key),))
        while task.state == "PENDING":
            time.sleep(0.002)
        seconds.append(time.perf_counter() - sent)
        task.get(timeout=30)
        task.forget()
    return statistics.median(seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    local = run_map("eta-seed", CONFIG, ETAS, SEEDS, workers=1)
    out: dict[str, float] = {}
    with redis_server() as url:
        app = make_celery(url, SECRET)
        results = {}
        for n in (1, 2):
            with celery_workers(url, SECRET, n=n):
                timed_map(app, 1)  # warm-up: each worker process loads the engine once
                out[f"map_{n}_workers_s"], results[n] = timed_map(app, args.repeats)
                if n == 1:
                    out["pickup_latency_s"] = pickup_latency(app)
    equal = all(np.array_equal(local.value, r.value, equal_nan=True) for r in results.values())
    out["speedup"] = out["map_1_workers_s"] / out["map_2_workers_s"]
    out["identical"] = equal
    if args.json:
        print(json.dumps(out))
    else:
        print(f"Iris eta x seed map, {ETAS.size} x {SEEDS.size} cells x {CONFIG.n_steps:,} iterations")
        print(f"  1 worker    {out['map_1_workers_s']:6.2f} s")
        print(f"  2 workers   {out['map_2_workers_s']:6.2f} s   speed-up {out['speedup']:.2f}x (target >= 1.7)")
        print(f"  identical to the local map: {equal}")
        print(f"  task pick-up latency (median of 20): {1000 * out['pickup_latency_s']:.0f} ms (target <= 500 ms)")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
