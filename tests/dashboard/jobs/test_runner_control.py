"""A job's Control: how often it reports progress (a slow report, a live figure drawn from the
partial result, leaves its process a longer pause before the next)."""

from types import SimpleNamespace

from dashboard.jobs import runner
from dashboard.jobs.runner import REPORT_PAUSE, Control


class Clock:
    def __init__(self):
        self.now = 100.0

    def monotonic(self):
        return self.now


def _control(monkeypatch, admission, cost):
    """A Control whose reports take ``cost`` seconds of a clock the test moves."""
    clock = Clock()
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=clock.monotonic))
    reported = []

    def report(done, total, elapsed):
        reported.append((done, clock.now))
        clock.now += cost

    return Control(admission, None, report, seconds=0.5), clock, reported


def _ask(control, clock, times, total=100):
    for done, at in enumerate(times, start=1):
        clock.now = 100.0 + at
        assert control(done, total) is True


def test_quick_reports_come_every_seconds(monkeypatch, admission):
    control, clock, reported = _control(monkeypatch, admission, cost=0.01)
    _ask(control, clock, [0.0, 0.3, 0.52, 0.8, 1.1])
    assert [done for done, _ in reported] == [1, 3, 5]  # 0.5 s after the end of each


def test_a_slow_report_pauses_its_process_for_a_multiple_of_its_time(monkeypatch, admission):
    control, clock, reported = _control(monkeypatch, admission, cost=0.4)
    pause = REPORT_PAUSE * 0.4
    _ask(control, clock, [0.0, 0.4 + 0.5, 0.4 + pause - 0.01, 0.4 + pause + 0.01])
    assert [done for done, _ in reported] == [1, 4]  # not at 0.5 s after the first, but after 3 x 0.4 s
    assert pause > 0.5


def test_the_end_is_always_reported(monkeypatch, admission):
    control, clock, reported = _control(monkeypatch, admission, cost=0.4)
    _ask(control, clock, [0.0, 0.5], total=2)
    assert [done for done, _ in reported] == [1, 2]
