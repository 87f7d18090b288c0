"""The page's speed targets (docs/performance.md), measured end to end: the real app in headless Chromium, used as a
person uses it.

    .venv/bin/python scripts/bench_browser.py [--repeats 3] [--json] [--only load,map,run,replay,edge,ftle]

Each repeat starts the app (`python app.py`: the app factory with the diskcache background-callback
manager, as in production) on a free port with an empty results cache, warms it with one short run
in a throw-away browser (so its fork server has run a job, as on a server that has been up), then
opens a new headless Chromium and does, one after the other, each waiting for the page to be idle:

  scenario  the user's action (the clock starts)    first drawn                      complete
  load      opens / (navigation start)              the live distance figure has a   the finished distance figure
            the default run: eta 0.01, 20 copies,   finite point and the label says  (a new record key) and the
            5,000 iterations, started by the page   "iteration ... of 5,000"         label "5,000 iterations · t s"
  map       clicks Run map on the Regimes tab: the  the strip titled "computing"     the label says "done in" and
            default strip, 25 eta x 20 networks x   has a finite point (the first    the finished strip (a new
            (1 + 5) x 500 iterations, seed 0        cells)                           record key) is drawn
  run       types seed 100, clicks Run              as for load                      as for load
  replay    types seed 0 back, clicks Run: the      -                                as for load (the figure of
            default run again, from the disk cache                                   seed 0, from the cache)
  edge      clicks the preset "Edge of stability    -                                its run (eta 1, 5 copies,
            (eta = 1)" (opens the Lyapunov view)                                     1,000 iterations) drawn
  ftle      types 500 initial networks, clicks Run  the label counts a finished      the label says "done in", the
            FTLE sweep: the paper's job, eta 1,     network ("n of 500")             FTLE-against-eps figure (a new
            500 x (1 + 5) x 14 eps x 200 steps                                       record key) and its table drawn

"job" is the job's own seconds as the page's finished label states them. The server runs with
WSD_MAX_RUN_SECONDS=600: on a busy machine its measured engine rate prices the paper's FTLE sweep
above the default 60 s limit, and the limit decides admission only, not speed. The clock runs in the
page: a MutationObserver checks each condition on every DOM change and stamps performance.now()
once the next frame is painted (for load, from the navigation's start; otherwise from just
before the click, made by the same script). Python only polls for the stamps, every 0.2 s, with a
timeout (an earlier version polled over WebDriver every 10 ms, which on 2 cores took CPU from
the page and the job). Prints best and median of --repeats and the load average at the start
and the end; every process it starts (server, job processes, chromedriver, Chromium) is ended
on exit, Ctrl-C and failure. `run_benchmark` and `_mark` serve scripts/bench_map.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from screenshots import browser, free_port
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ROOT = Path(__file__).resolve().parents[1]
POLL = 0.2  # seconds between two looks at the page's stamps or state

# window.__bench.watch(t0, checks, graphs): stamps window.__marks[name] once checks[name] (a JS
# expression over H) holds, after the next paint; H.fresh(id): a figure drawn after t0 (its record
# key is not the one the graph, one of ``graphs``, had at t0).
WATCHER = """
if (!window.__bench) {
  const plot = (id) => { const g = document.getElementById(id); return g && g.querySelector('.js-plotly-plot'); };
  const finite = (a) => a != null && typeof a === 'object' && a.length !== undefined &&
    Array.prototype.some.call(a, (v) => (v != null && typeof v === 'object' ? finite(v) : Number.isFinite(v)));
  const layout = (id) => { const el = plot(id); return (el && el.layout) || {}; };
  const H = {
    text: (id) => { const e = document.getElementById(id); return e ? e.textContent : ''; },
    title: (id) => (layout(id).title && layout(id).title.text) || '',
    record: (id) => (layout(id).meta && layout(id).meta.record) || null,
    drawn: (id) => {
      const el = plot(id);
      return !!(el && el._fullData && el._fullData.some((t) => finite(t.y) || finite(t.z)));
    },
  };
  window.__bench = {
    watch(t0, checks, graphs) {
      if (this.observer) { this.observer.disconnect(); }
      const marks = window.__marks = {}, seen = {}, before = {};
      for (const id of graphs) { before[id] = H.record(id); }
      const h = {...H, fresh: (id) => { const r = H.record(id); return r !== null && r !== before[id]; }};
      const tests = Object.entries(checks).map(([name, src]) => [name, new Function('H', 'return (' + src + ');')]);
      // after the next paint: a rAF callback runs before the paint, the task it queues after it
      const now = (name) => { marks[name] = performance.now() - t0; };
      const stamp = (name) => requestAnimationFrame(() => setTimeout(() => now(name), 0));
      const check = () => {
        for (const [name, test] of tests) {
          if (!seen[name] && test(h)) { seen[name] = true; stamp(name); }
        }
      };
      this.observer = new MutationObserver(check);
      this.observer.observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
      check();
    },
  };
}
"""
CLICK = "window.__bench.watch(performance.now(), ...arguments); document.getElementById(arguments[2]).click();"
_LABEL = "const e = document.getElementById('progress-label'); return !!e && /^{} iterations ·/.test(e.textContent);"
WARMED, LOADED = _LABEL.format(100), _LABEL.format("5,000")
READ_MARK = (  # [the stamp of arguments[0] or null, the text of the element arguments[1]]
    "const m = document.getElementById(arguments[1]);"
    "return [(window.__marks || {})[arguments[0]], m ? m.textContent : ''];"
)
STALE = "const e = document.getElementById('stale-note'); return !!e && e.textContent.includes('press Run');"
IDLE = "return Array.from(document.querySelectorAll('#run, #map-run, #ftle-run')).every((b) => !b.disabled);"


@dataclass(frozen=True)
class Scenario:
    """What a person does (``prepare``, untimed, then a click on ``button``, or opening the page
    if None) and the page's states that stop the clock: ``checks`` (name -> JS condition)."""

    name: str
    button: str | None
    label: str  # the progress label: quoted on a timeout, its finished text gives "job"
    message: str  # where the page says that a job was refused or failed
    graphs: tuple[str, ...]  # their record keys before the action: "fresh" means drawn after it
    checks: dict[str, str]
    prepare: Callable | None = None
    timeout: float = 120.0
    job: bool = True  # the finished label states this job's own seconds


RUN_CHECKS = {
    "first": "H.text('progress-label').includes(' of 5,000') && H.title('distance-graph').includes('training')"
    " && H.drawn('distance-graph')",
    "complete": "H.text('progress-label').startsWith('5,000 iterations ·') && H.fresh('distance-graph')"
    " && !H.title('distance-graph').includes('training')",
}
NEEDS = {"replay": "run", "ftle": "edge"}  # played first: seed 100 on screen; the Lyapunov view at eta 1
TARGETS = {  # the speed targets in the browser: (scenario, interval) -> seconds
    ("load", "complete"): 1.0,
    ("run", "complete"): 1.0,
    ("map", "first"): 1.0,
    ("map", "complete"): 6.0,
    ("ftle", "complete"): 12.0,
}


def _click_tab(driver, label: str) -> None:
    driver.find_element(By.XPATH, f"//div[contains(@class, 'tab') and normalize-space()='{label}']").click()


def _type(driver, box_id: str, text: str) -> None:
    """Select what the box holds and type over it, then Tab (no Enter: that would start a run)."""
    box = driver.find_element(By.ID, box_id)
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text + Keys.TAB)


def _to_regimes(driver) -> None:
    _click_tab(driver, "Regimes")
    _wait(driver, "return !!document.getElementById('map-run')", 30, "the Regimes view")


def _seed(driver, seed: str) -> None:
    _click_tab(driver, "Divergence")  # where the run's figure is drawn
    _type(driver, "seed", seed)  # typed and Tab: no run starts (Enter would start one)
    _wait(driver, STALE, 30, "the note that the settings differ from the plots")


def _ftle_inits(driver) -> None:
    _type(driver, "ftle-inits", "500")


SCENARIOS = (
    Scenario("load", None, "progress-label", "run-message", ("distance-graph",), RUN_CHECKS, timeout=60),
    Scenario(
        "map",
        "map-run",
        "map-progress",
        "map-message",
        ("map-graph",),
        {
            "first": "H.title('map-graph').includes('computing') && H.drawn('map-graph')",
            "complete": "H.text('map-progress').includes('done in') && H.fresh('map-graph')"
            " && !H.title('map-graph').includes('computing')",
        },
        _to_regimes,
    ),
    Scenario(
        "run", "run", "progress-label", "run-message", ("distance-graph",), RUN_CHECKS, partial(_seed, seed="100")
    ),
    Scenario(
        "replay",
        "run",
        "progress-label",
        "run-message",
        ("distance-graph",),
        {"complete": RUN_CHECKS["complete"]},
        partial(_seed, seed="0"),
        job=False,  # the label states the time of the job that computed it
    ),
    Scenario(
        "edge",
        '{"name":"edge","type":"preset"}',
        "progress-label",
        "run-message",
        ("fit-graph",),
        {"complete": "H.text('progress-label').startsWith('1,000 iterations ·') && H.fresh('fit-graph')"},
        timeout=60,
    ),
    Scenario(
        "ftle",
        "ftle-run",
        "ftle-progress",
        "ftle-message",
        ("ftle-eps-graph",),
        {
            "first": "/[1-9][0-9,]* of 500/.test(H.text('ftle-progress'))",
            "complete": "H.text('ftle-progress').includes('done in') && H.fresh('ftle-eps-graph')"
            " && H.text('ftle-table').includes('95% CI')",
        },
        _ftle_inits,
        timeout=300,
    ),
)


def _wait(driver, script: str, timeout: float, what: str) -> None:
    """Until ``script`` returns true in the page (untimed preparation)."""
    deadline = time.perf_counter() + timeout
    while not driver.execute_script(script):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the page did not show {what} in {timeout:.0f} s")
        time.sleep(POLL)


def _mark(driver, name: str, timeout: float = 120.0, label: str = "progress-label", message: str = "") -> float:
    """Seconds from the action to the state ``name``, as stamped in the page; an error if the
    element ``message`` says something first (a refusal, a failed job)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value, said = driver.execute_script(READ_MARK, name, message)
        if value is not None:
            return value / 1000
        if said:
            raise RuntimeError(f"waiting for '{name}', the page said: {said}")
        time.sleep(POLL)
    text = driver.execute_script(f"return document.getElementById('{label}').textContent")
    raise TimeoutError(f"the page did not reach '{name}' in {timeout:.0f} s (#{label}: {text!r})")


def _job_seconds(label: str) -> float:
    """The job's own time in a finished label ("5,000 iterations · 2.2 s", "done in 9.1 s")."""
    found = re.search(r"done in ([\d.]+) s", label) or re.search(r"· ([\d.]+) s\s*$", label)
    return float(found.group(1)) if found else float("nan")


def play(driver, url: str, scenario: Scenario) -> dict[str, float]:
    """One scenario on the open page: its intervals in seconds, and the job's own time."""
    if scenario.prepare is not None:
        scenario.prepare(driver)
    args = (scenario.checks, list(scenario.graphs))
    if scenario.button is None:  # open the page: the watcher is installed before any of its scripts
        source = f"{WATCHER}\nwindow.__bench.watch(0, ...{json.dumps(args)});"
        added = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
        driver.get(url)
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", added)
    else:
        driver.execute_script(WATCHER)
        driver.execute_script(CLICK, *args, scenario.button)
    times = {name: _mark(driver, name, scenario.timeout, scenario.label, scenario.message) for name in scenario.checks}
    _wait(driver, IDLE, 60, "every job button enabled")
    if scenario.job:
        label = driver.execute_script(f"return document.getElementById('{scenario.label}').textContent")
        times["job"] = _job_seconds(label)
    return times


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back while a clean-up runs (they act once it is done)."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


@contextmanager
def open_browser() -> Iterator:
    """Headless Chromium, quit with its chromedriver (``quit`` stops the service whatever the
    browser answers) however the block ends."""
    driver = browser()
    try:
        yield driver
    finally:
        with _uninterrupted():
            driver.quit()


@contextmanager
def serve(log_path: Path) -> Iterator[str]:
    """``python app.py`` on a free port with an empty results cache; its URL once it answers. The
    server and every process it starts (its group) are ended when the block ends."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="wsd-bench-") as cache_dir:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the diskcache manager
        # no refusal by the estimate: on a busy machine the server's own rate prices the paper's
        # FTLE sweep above the default 60 s limit (the limit decides admission, not speed)
        env.update(WSD_PORT=str(port), WSD_CACHE_DIR=cache_dir, WSD_MAX_RUN_SECONDS="600")
        with open(log_path, "a") as log:
            server = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
            )
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_http(url, server, 120)
            yield url
        finally:
            with _uninterrupted():
                _end_group(server)


def _wait_http(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the server did not answer {url} in {timeout:.0f} s")
        time.sleep(POLL)


def _end_group(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL to what is left after 10 s."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(0.5)  # let job processes see their parent go, then sweep the group


def warm_up(url: str) -> None:
    """A short run in a throw-away browser: the server's first job, not measured."""
    with open_browser() as driver:
        driver.get(url + "?steps=100&seed=99")
        _wait(driver, WARMED, 120, "the warm-up run finished")


def repeat(chosen: list[Scenario], log_path: Path) -> tuple[dict[str, dict[str, float]], float]:
    """One repeat: a fresh server, warmed; a new browser plays the scenarios in order. Returns
    the intervals and the engine rate the server measured at its start (the machine's speed)."""
    logged = log_path.stat().st_size if log_path.exists() else 0
    with serve(log_path) as url:
        warm_up(url)
        with open_browser() as driver:
            if chosen[0].button is not None:  # no "load": the page is opened untimed
                driver.get(url)
                _wait(driver, LOADED, 120, "the default run finished")
            runs = {}
            for scenario in chosen:
                runs[scenario.name] = times = {k: round(v, 3) for k, v in play(driver, url, scenario).items()}
                print(scenario.name, ", ".join(f"{k} {v:.2f} s" for k, v in times.items()), file=sys.stderr)
    with open(log_path, "rb") as log:
        log.seek(logged)
        found = re.search(rb"the engine trains (\d+) trajectory-steps/s", log.read())
    return runs, float(found.group(1)) if found else float("nan")


def summarize(runs: list[dict[str, dict[str, float]]]) -> list[dict]:
    """One row per (scenario, interval): best, median, every run, the target."""
    rows = []
    for scenario, intervals in runs[0].items():
        for interval in intervals:
            values = [r[scenario][interval] for r in runs]
            finite = [v for v in values if v == v] or [float("nan")]
            target = TARGETS.get((scenario, interval))
            row = {"scenario": scenario, "interval": interval, "best": min(finite), "median": statistics.median(finite)}
            rows.append({**row, "runs": values, "target": target})
    return rows


def report(runs: list[dict[str, dict[str, float]]], machine: dict, as_json: bool) -> None:
    """Best and median of each interval, as a table or as JSON (NaN, a label without a time, as
    null); ``machine``: the load average at the start and the end, and the servers' engine rates."""
    rows = summarize(runs)
    if as_json:
        print(json.dumps(_nan_as_none({**machine, "summary": rows, "runs": runs}), indent=2))
        return
    loads = machine["load_average"]
    print(f"load average (1, 5, 15 min) at the start {loads['start']}, at the end {loads['end']}")
    if "engine_rates" in machine:
        rates = ", ".join(f"{r:,.0f}" for r in machine["engine_rates"])
        print(f"engine rate each server measured at its start (trajectory-steps/s per job): {rates}")
    width = max(len("interval"), *(len(row["interval"]) for row in rows))
    print(f"{'scenario':9s} {'interval':{width}s} {'target':>8s} {'best':>7s} {'median':>7s}  runs (s)")
    for row in rows:
        target = f"<= {row['target']:g}" if row["target"] else ""
        line = f"{row['scenario']:9s} {row['interval']:{width}s} {target:>8s} {row['best']:7.2f} {row['median']:7.2f}"
        print(f"{line}  {', '.join(f'{v:.2f}' for v in row['runs'])}")


def _nan_as_none(value):
    if isinstance(value, dict):
        return {k: _nan_as_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_as_none(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _exit_on_signals() -> None:
    """SIGTERM and SIGHUP end the script as Ctrl-C does: through every ``finally``."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: sys.exit(128 + number))


def run_benchmark(description: str, measure, seed_of) -> int:
    """For scripts/bench_map.py: one server (empty cache) for every repeat, ``measure(url,
    seed_of(i))`` -> {name: seconds} for repeat i; best and median printed (``--repeats``,
    ``--json``). A timeout prints the server's log (its requests left out)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    _exit_on_signals()
    loads = {"start": _load()}
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        try:
            with serve(log_path) as url:
                runs = [{Path(sys.argv[0]).stem: measure(url, seed_of(i))} for i in range(args.repeats)]
        except TimeoutError:
            _print_log(log_path)
            raise
    report(runs, {"load_average": {**loads, "end": _load()}}, args.json)
    return 0


def _print_log(log_path: Path) -> None:
    errors = [line for line in log_path.read_text().splitlines() if "POST /_dash" not in line]
    print("server log (requests left out):", *errors[-40:], sep="\n", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh servers, each running every scenario")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--only",
        default=",".join(s.name for s in SCENARIOS),
        help="scenarios, comma-separated (replay needs run, ftle edge)",
    )
    parser.add_argument("--server-log", type=Path, help="keep the servers' log here (default: a temporary file)")
    args = parser.parse_args()
    names = args.only.split(",")
    unknown = sorted(set(names) - {s.name for s in SCENARIOS})
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {[s.name for s in SCENARIOS]}")
    names += [NEEDS[n] for n in names if n in NEEDS]
    chosen = [s for s in SCENARIOS if s.name in names]
    _exit_on_signals()
    loads = {"start": _load()}
    with tempfile.TemporaryDirectory() as tmp:
        log_path = args.server_log or Path(tmp) / "server.log"
        try:
            runs, rates = zip(*(repeat(chosen, log_path) for _ in range(args.repeats)), strict=True)
        except TimeoutError:
            _print_log(log_path)
            raise
    report(list(runs), {"load_average": {**loads, "end": _load()}, "engine_rates": list(rates)}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
