"""The slots a job computing on this server waits for (dashboard.jobs.runner.Jobs.slots_worth)."""

import contextlib

from core.engine.speed import POOL_START, REFERENCE_RATE
from dashboard.jobs.runner import Control, Plan


def test_a_chunked_job_smaller_than_a_pool_start_computes_in_one_slot(store, monkeypatch):
    """The defect: a small map (a strip of 5 learning rates x 2 networks x 150 iterations)
    waited for every slot, then started a process pool for a few cells: a class's runs
    waited behind the maps' pool starts (30 runs and 30 small maps: 333 s on 2 cores)."""
    asked = []

    @contextlib.contextmanager
    def slot(n_slots, should_stop, on_wait, *, visitor=None, coordinator=False):
        asked.append(n_slots)
        yield n_slots

    monkeypatch.setattr(type(store.admission), "slot", lambda self, *a, **k: slot(*a, **k))
    start = POOL_START * REFERENCE_RATE / store.limits.rate  # a pool's start at this engine speed
    record = type("Record", (), {"cancelled": True})()  # not stored
    held = []
    for chunked, seconds in ((True, 0.5 * start), (True, 1.9 * start), (True, 2.5 * start), (True, None),
                             (False, 0.5 * start)):  # fmt: skip
        plan = Plan(f"test:{chunked}:{seconds}", lambda control, n: held.append(n) or record, 2, chunked=chunked,
                    seconds=seconds)  # fmt: skip
        store.compute(plan, Control(store.admission, None, lambda *_: None), lambda *_: None)
    assert asked == held == [1, 1, 2, 2, 2]  # a map worth a pool gets the slots; a run keeps its own
