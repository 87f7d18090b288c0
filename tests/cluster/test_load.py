"""The lab server under load: 20 visitors at once, each loading the page and starting a run,
against ``gunicorn -w 2`` and two Celery workers on loopback (scripts/load_test.py). Every
request answers, every run finishes with its own result, within the deadline, and nothing
is left running. The times are reported (printed), not asserted: this machine is shared."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VISITORS, DEADLINE = 20, 120.0


def _load_test():
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "scripts" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("load_test", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_twenty_visitors_each_run_to_the_end_without_an_error():
    load_test = _load_test()
    report = load_test.run_load_test(VISITORS, workers=2, web_workers=2, steps=300, eta=0.37, deadline=DEADLINE)
    print(load_test.table(report))
    assert report.errors == [], "\n".join(report.errors)
    assert len(report.visits) == VISITORS and all(v.finished for v in report.visits)
    assert len({v.seed for v in report.visits}) == VISITORS  # a run each, none answered from the cache
    assert all(None not in (v.page_load, v.run_latency) for v in report.visits)
    assert report.elapsed <= DEADLINE
    assert report.stray_processes == []
    assert report.ok
