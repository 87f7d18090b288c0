"""The Regimes view's speed in a real browser (headless Chromium), as a person pressing Run map sees it.

    .venv/bin/python scripts/bench_map.py [--repeats 3] [--json]

Starts the app on a free port with an empty results cache, opens the default 1-D Iris map
(25 eta from 0.001 to 20, 20 networks, 5 copies, 500 iterations) for another seed, then,
from a click on Run map for a seed not mapped before, measures:
  first cells drawn   the live strip (its title says "computing") is on screen
  complete            the progress label says "done in"
  cached replay       a second click on Run map: the label says "from the cache" and the strip is drawn
The clock runs in the page (a MutationObserver stamps each state after the next paint), as in
scripts/bench_browser.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_browser import _mark, run_benchmark  # noqa: E402
from screenshots import browser  # noqa: E402

MAP_LINK = "?view=regimes&map=eta&eta_min=0.001&eta_max=20&eta_points=25&inits=20&map_steps=500&seed={seed}"

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
  if (!cached && marks.firstSeen && !marks.doneSeen && label.includes('done in') && !title.includes('computing')) {
    marks.doneSeen = true; stamp('done');
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


def measure(url: str, seed: int) -> dict:
    driver = browser()
    try:
        driver.get(url + MAP_LINK.format(seed=seed))  # the link maps once (not measured)
        _wait_text(driver, "map-progress", "done in")
        box = driver.find_element("id", "seed")
        box.clear()
        box.send_keys(f"{seed + 1000}\t")  # above the seed slider's 99: no auto-run
        time.sleep(1.5)
        driver.execute_script(WATCH_AND_CLICK, False)
        first, done = _mark(driver, "first"), _mark(driver, "done")
        _wait_enabled(driver, "map-run")
        driver.execute_script(WATCH_AND_CLICK, True)
        try:
            cached = _mark(driver, "cached", timeout=30)
        except TimeoutError:
            label = driver.execute_script("return document.getElementById('map-progress').textContent")
            raise TimeoutError(f"no cached replay (map label {label!r})") from None
        return {"first_cells_drawn_s": first, "complete_s": done, "cached_replay_s": cached}
    finally:
        driver.quit()


def main() -> int:
    return run_benchmark(__doc__.split("\n\n")[0], measure, lambda i: 100 + 10 * i)


if __name__ == "__main__":
    sys.exit(main())
