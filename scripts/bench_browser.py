"""Dashboard speed in a real browser (headless Chromium), as a person clicking Run sees it.

    .venv/bin/python scripts/bench_browser.py [--repeats 3] [--json]

Starts the app on a free port with an empty results cache, then for the default run
(eta 0.01, 20 copies, 5,000 iterations) measures from the click on Run:
  first live update   the progress label shows "iteration ... of 5,000" and the live figure is drawn
  fully drawn         the final distance figure is drawn (Plotly has its title and data)
  cached replay       the same, after a page reload (the result comes from the disk cache)
and reports the job's own time, which the finished progress label shows.

The clock runs in the page: a script clicks Run and a MutationObserver time-stamps the
first DOM change that shows each state, once the next frame is painted. Python only reads
the stamps, every 0.2 s. (An earlier version asked the browser over WebDriver every 10 ms;
on 2 cores that polling itself took CPU from the page and the job: 0.58 / 2.00 / 0.29 s
against 0.54 / 1.80 / 0.22 s with the clock in the page, on the same code.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from screenshots import browser, free_port

ROOT = Path(__file__).resolve().parents[1]

WATCH_AND_CLICK = """
const marks = window.__marks = {};
const t0 = performance.now();
// after the next frame is painted: a rAF callback runs before the paint, the task it queues after
const stamp = (name) => requestAnimationFrame(() => setTimeout(() => { marks[name] = performance.now() - t0; }, 0));
const check = () => {
  const label = document.getElementById('progress-label').textContent;
  const el = document.querySelector('#distance-graph .js-plotly-plot');
  const title = el && el.layout && el.layout.title ? el.layout.title.text : '';
  if (!marks.firstSeen && label.includes(' of 5,000') && title.includes('training')) {
    marks.firstSeen = true;
    stamp('first');
  }
  if (!marks.doneSeen && label.includes('5,000 iterations') && title.startsWith('η') && !title.includes('training')) {
    marks.doneSeen = true;
    marks.label = label;
    stamp('done');
  }
};
const changes = {subtree: true, childList: true, characterData: true, attributes: true};
new MutationObserver(check).observe(document.body, changes);
document.getElementById('run').click();
"""


def _mark(driver, name: str, timeout: float = 120.0) -> float:
    """Seconds from the click to the state ``name``, as stamped in the page."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value = driver.execute_script(f"return window.__marks['{name}']")
        if value is not None:
            return value / 1000
        time.sleep(0.2)
    label = driver.execute_script("return document.getElementById('progress-label').textContent")
    raise TimeoutError(f"the page did not reach '{name}' in {timeout:.0f} s (progress label: {label!r})")


def _open(driver, url: str, seed: int) -> None:
    """Load the page and type a seed (not run before, for a fresh run); leave it idle."""
    driver.get(url)
    deadline = time.perf_counter() + 60
    while not driver.find_elements("id", "run"):
        if time.perf_counter() > deadline:
            raise TimeoutError("the page did not load in 60 s")
        time.sleep(0.1)
    time.sleep(2.0)  # the page's own start-up callbacks settle
    box = driver.find_element("id", "seed")
    box.clear()
    box.send_keys(f"{seed}\t")
    time.sleep(1.0)  # the seed settles into the state before the click


def measure(url: str, seed: int) -> dict:
    driver = browser()
    try:
        _open(driver, url, seed)
        driver.execute_script(WATCH_AND_CLICK)
        first, done = _mark(driver, "first"), _mark(driver, "done")
        label = driver.execute_script("return window.__marks.label")
        _open(driver, url, seed)  # a new page: only the disk cache remembers the run
        driver.execute_script(WATCH_AND_CLICK)
        cached = _mark(driver, "done")
        return {
            "first_live_update_s": first,
            "fully_drawn_s": done,
            "cached_replay_s": cached,
            "job_s": float(label.rsplit("·", 1)[1].strip().rstrip("s")),
        }
    finally:
        driver.quit()


def run_benchmark(description: str, measure, seed_of) -> int:
    """Start the app on a free port with an empty cache, call ``measure(url, seed_of(i))`` for
    repeat i, print the medians (``--repeats`` and ``--json`` from the command line). A
    timeout prints the server's log (its requests left out)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "WSD_PORT": str(port), "WSD_CACHE_DIR": cache_dir}
        log_path = Path(cache_dir) / "server.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            time.sleep(6)
            runs = [measure(f"http://127.0.0.1:{port}/", seed_of(i)) for i in range(args.repeats)]
        except TimeoutError:
            errors = [line for line in log_path.read_text().splitlines() if "POST /_dash" not in line]
            print("server log (requests left out):", *errors[-40:], sep="\n", file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(10)
    summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    if args.json:
        print(json.dumps({"runs": runs, "median": summary}, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:22s} median {value:6.2f} s  (runs: {', '.join(f'{r[key]:.2f}' for r in runs)})")
    return 0


def main() -> int:
    return run_benchmark(__doc__.split("\n\n")[0], measure, lambda i: 100 + i)


if __name__ == "__main__":
    sys.exit(main())
