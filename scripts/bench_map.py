"""The Regimes view's speed in a real browser (headless Chromium), as a person pressing Run map sees it.

    .venv/bin/python scripts/bench_map.py [--digits] [--repeats 3] [--json]

Starts the app on a free port with an empty results cache, opens the default 1-D Iris map
(25 eta from 0.001 to 20, 20 networks, 5 copies, 500 iterations; with --digits the digits
strip of 12 eta from 0.01 to 20, 2 networks, 300 iterations, 64 tanh units) for another seed,
then, from a click on Run map for a seed not mapped before, measures:
  first cells drawn   the live strip (its title says "computing") is on screen
  complete            the progress label says "done in"
  cached replay       a second click on Run map: the label says "from the cache" and the strip is drawn
  first time left     the job's seconds the first "~N s left" label foretold (its elapsed + N),
                      beside job, the seconds the finished label says ("done in")
The clock runs in the page (a MutationObserver stamps each state after the next paint), as in
scripts/bench_browser.py.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from bench_browser import _mark, run_benchmark
from screenshots import browser

ROOT = Path(__file__).resolve().parents[1]

MAP_LINK = "?view=regimes&map=eta&eta_min=0.001&eta_max=20&eta_points=25&inits=20&map_steps=500&seed={seed}"
DIGITS_LINK = (
    "?view=regimes&dataset=digits&hidden=64&activation=tanh&map=eta&eta_min=0.01&eta_max=20&eta_points=12"
    "&inits=2&map_steps=300&seed={seed}"
)

WATCH_AND_CLICK = """
const marks = window.__marks = {};
const cached = arguments[0];
const t0 = performance.now();
const stamp = (name) => requestAnimationFrame(() => setTimeout(() => { marks[name] = performance.now() - t0; }, 0));
const check = () => {
  const label = document.getElementById('map-progress').textContent;
  const el = document.querySelector('#map-graph .js-plotly-plot');
  const title = el && el.layout && el.layout.title ? el.layout.title.text : '';
  if (!cached && !marks.firstSeen && title.includes('computing')) { marks.firstSeen = true; stamp('first'); }
  if (!cached && !marks.leftLabel && label.includes('s left')) { marks.leftLabel = label; }
  if (!cached && marks.firstSeen && !marks.doneSeen && label.includes('done in') && !title.includes('computing')) {
    marks.doneSeen = true; marks.doneLabel = label; stamp('done');
  }
  if (cached && !marks.cachedSeen && label.includes('from the cache') && title.includes('1-D strip')) {
    marks.cachedSeen = true; stamp('cached');
  }
};
const changes = {subtree: true, childList: true, characterData: true, attributes: true};
new MutationObserver(check).observe(document.body, changes);
document.getElementById('map-run').click();
"""


def _wait_text(driver, element_id: str, text: str, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    read = f"const el = document.getElementById('{element_id}'); return el ? el.textContent : '';"
    while text not in driver.execute_script(read):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"#{element_id} did not show {text!r} in {timeout:.0f} s")
        time.sleep(0.2)


def _wait_enabled(driver, element_id: str, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while driver.execute_script(f"return document.getElementById('{element_id}').disabled"):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"#{element_id} stayed disabled")
        time.sleep(0.1)
    time.sleep(0.5)


def _seconds_in(label: str | None, pattern: str) -> float:
    found = re.search(pattern, label or "")
    return float(found.group(1)) if found else float("nan")


def measure(url: str, seed: int, link: str = MAP_LINK) -> dict:
    driver = browser()
    try:
        driver.get(url + link.format(seed=seed))  # the link maps once (not measured)
        _wait_text(driver, "map-progress", "done in", timeout=300)
        box = driver.find_element("id", "seed")
        box.clear()
        box.send_keys(f"{seed + 1000}\t")  # above the seed slider's 99: no auto-run
        time.sleep(1.5)
        driver.execute_script(WATCH_AND_CLICK, False)
        first, done = _mark(driver, "first", timeout=300), _mark(driver, "done", timeout=300)
        marks = driver.execute_script("return window.__marks")
        foretold = _seconds_in(marks.get("leftLabel"), r"([\d.]+) s ·") + _seconds_in(
            marks.get("leftLabel"), r"~(\d+) s left"
        )
        job = _seconds_in(marks.get("doneLabel"), r"done in ([\d.]+) s")
        _wait_enabled(driver, "map-run")
        driver.execute_script(WATCH_AND_CLICK, True)
        try:
            cached = _mark(driver, "cached", timeout=30)
        except TimeoutError:
            label = driver.execute_script("return document.getElementById('map-progress').textContent")
            raise TimeoutError(f"no cached replay (map label {label!r})") from None
        return {
            "first_cells_drawn_s": first,
            "complete_s": done,
            "cached_replay_s": cached,
            "first_time_left_s": foretold,
            "job_s": job,
        }
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--digits", action="store_true")
    known, sys.argv[1:] = parser.parse_known_args()  # the rest for run_benchmark
    link = DIGITS_LINK if known.digits else MAP_LINK
    return run_benchmark(__doc__.split("\n\n")[0], lambda url, seed: measure(url, seed, link), lambda i: 100 + 10 * i)


if __name__ == "__main__":
    sys.exit(main())
