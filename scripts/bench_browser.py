"""Dashboard speed in a real browser (headless Chromium), as a person clicking Run sees it.

    .venv/bin/python scripts/bench_browser.py [--repeats 3] [--json]

Starts the app on a free port with an empty results cache, then for the default run
(eta 0.01, 20 copies, 5,000 iterations) measures from the click on Run:
  first live update   the progress label first shows "iteration ... of 5,000"
  fully drawn         the final distance figure is on screen
  cached replay       the same, after a page reload (the result comes from the disk cache)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from screenshots import browser, free_port  # noqa: E402

FINAL_DRAWN = """
const label = document.getElementById('progress-label').textContent;
const el = document.querySelector('#distance-graph .js-plotly-plot');
const t = el && el.layout.title ? el.layout.title.text : '';
return label.includes('5,000 iterations') && t.startsWith('η') && !t.includes('training');
"""
FIRST_UPDATE = "return document.getElementById('progress-label').textContent.includes(' of 5,000');"


def _until(driver, condition, timeout=120.0, poll=0.01, what="the expected state") -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition(driver):
            return time.perf_counter()
        time.sleep(poll)
    label = driver.execute_script("return document.getElementById('progress-label').textContent")
    raise TimeoutError(f"the page did not reach {what} in {timeout:.0f} s (progress label: {label!r})")


def _click_run(driver, seed: int) -> float:
    """Type a seed not run before (so nothing is cached), then click Run."""
    box = driver.find_element("id", "seed")
    box.clear()
    box.send_keys(f"{seed}\t")
    time.sleep(1.0)  # let the seed settle into the state before the click
    started = time.perf_counter()
    driver.execute_script("document.getElementById('run').click();")
    return started


def measure(url: str, seed: int) -> dict:
    driver = browser()
    try:
        driver.get(url)
        _until(driver, lambda d: d.find_elements("id", "run"))
        time.sleep(2.0)
        started = _click_run(driver, seed)
        first = _until(driver, lambda d: d.execute_script(FIRST_UPDATE), what="a first live update")
        done = _until(driver, lambda d: d.execute_script(FINAL_DRAWN), what="the finished run")
        driver.get(url)  # a new page: only the disk cache remembers the run
        _until(driver, lambda d: d.find_elements("id", "run"))
        time.sleep(2.0)
        started_cached = _click_run(driver, seed)
        cached = _until(driver, lambda d: d.execute_script(FINAL_DRAWN), what="the cached run")
        return {
            "first_live_update_s": first - started,
            "fully_drawn_s": done - started,
            "cached_replay_s": cached - started_cached,
        }
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
            runs = [measure(f"http://127.0.0.1:{port}/", seed=100 + i) for i in range(args.repeats)]
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


if __name__ == "__main__":
    sys.exit(main())
