"""A setting map's values share one set of worker processes (core.engine.parallel.shared_workers):
the same numbers as one value at a time, for any number of workers; one pool started; progress
over the whole map; and a stopped map leaves no worker process."""

import dataclasses

import numpy as np
import psutil
import pytest

from core.config import RunConfig
from core.experiments.map_kinds import MAP_KINDS
from core.experiments.maps import run_map

SHORT = RunConfig(n_steps=60, n_perturbations=2, seed=4)
ETAS, WIDTHS, INITS = [0.3, 1.0, 4.0], [3, 8, 16], 2  # 6 cells a width: 6 chunks, 5 of them on the workers


def _arrays(m):
    return m.value, m.share, m.diverged, m.done


@pytest.mark.parametrize("value", ["ftle", "loss"])
def test_the_map_on_shared_workers_is_each_value_alone_bit_for_bit(pools, value):
    """workers=1 and workers=2 (one pool for the three widths) give the numbers of each width
    mapped alone, as a separate train_cells; the progress counts cells over the whole map."""
    kind = MAP_KINDS["eta-width"]
    heard = []
    shared = kind.run(
        SHORT, ETAS, WIDTHS, INITS, workers=2, value=value, on_progress=lambda d, t, _: heard.append((d, t))
    )
    assert len(pools) == 1, "each width started worker processes of its own"
    alone = kind.run(SHORT, ETAS, WIDTHS, INITS, workers=1, value=value)
    assert len(pools) == 1  # one process: none started
    assert shared.done.all() and not shared.cancelled
    for a, b in zip(_arrays(shared), _arrays(alone), strict=True):
        np.testing.assert_array_equal(a, b)
    for j, width in enumerate(WIDTHS):
        column = run_map("eta-width", SHORT, ETAS, [width], n_inits=INITS, workers=1, value=value)
        for a, b in zip(_arrays(shared), _arrays(column), strict=True):
            np.testing.assert_array_equal(a[:, j], b[:, 0])
    total = len(ETAS) * len(WIDTHS) * INITS
    assert {t for _, t in heard} == {total} and heard[-1][0] == total
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)


@pytest.mark.parametrize("stop", ["progress returns False", "Ctrl-C"])
def test_a_stopped_setting_map_leaves_no_worker_process(pools, stop):
    """Stopped during its second width (the shared workers have computed chunks of the first):
    the map ends marked cancelled (or raises, Ctrl-C), and the pool's processes end. (The check
    of stop_when stops map_chunks the same way: tests/core/engine/test_parallel.py.)"""
    kind = MAP_KINDS["eta-width"]
    per_width = len(ETAS) * INITS
    workers: list[psutil.Process] = []
    stopping = []

    def on_progress(done, total, partial):
        if done > per_width and not stopping:
            workers.extend(psutil.Process(pid) for pid in list(pools[0]._processes))
            stopping.append(done)
        if stopping and stop == "Ctrl-C":
            raise KeyboardInterrupt
        return not (stopping and stop == "progress returns False")

    if stop == "Ctrl-C":
        with pytest.raises(KeyboardInterrupt):
            kind.run(SHORT, ETAS, WIDTHS, INITS, workers=2, value="loss", on_progress=on_progress)
    else:
        m = kind.run(SHORT, ETAS, WIDTHS, INITS, workers=2, value="loss", on_progress=on_progress)
        assert m.cancelled and m.done[:, 0].all() and not m.done[:, 2].any()
    assert len(pools) == 1 and workers, "the map ran no chunk on worker processes"
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"worker processes left running: {alive}"


def test_an_executor_given_is_used_for_every_value_and_no_process_starts(pools):
    """A Celery-like executor (here threads) through use_executor runs every chunk of every width."""
    from concurrent.futures import ThreadPoolExecutor

    from core.engine.parallel import use_executor

    submitted = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            submitted.append(fn)
            return super().submit(fn, *args, **kwargs)

    config = dataclasses.replace(SHORT, n_steps=20)
    with Recording(max_workers=2) as executor, use_executor(executor):
        m = MAP_KINDS["eta-width"].run(config, ETAS, WIDTHS, INITS, workers=2, value="loss")
    alone = MAP_KINDS["eta-width"].run(config, ETAS, WIDTHS, INITS, workers=1, value="loss")
    assert pools == [] and len(submitted) == len(WIDTHS) * len(ETAS) * INITS  # one cell a chunk
    for a, b in zip(_arrays(m), _arrays(alone), strict=True):
        np.testing.assert_array_equal(a, b)
