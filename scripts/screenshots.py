"""Screenshots of the main views, taken from the real app in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--url http://127.0.0.1:8050] [--out docs]

Starts the app on a free local port unless --url is given, opens each view through a
shareable link, waits for the run to finish, and saves docs/<view>.png.
Needs Debian's chromium and chromium-driver (scripts/install-debian.sh browser).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
SHOTS = {
    "divergence": "?eta=0.01&eps=1e-08&perturbations=20&steps=5000&view=divergence",
    "edge-of-stability": "?eta=1.0&eps=1e-08&perturbations=5&steps=1000&seed=1&view=divergence",
    "lyapunov": "?eta=1.0&eps=1e-08&perturbations=5&steps=1000&seed=1&view=lyapunov",
    "weights": "?eta=0.01&eps=1e-08&perturbations=20&steps=5000&view=weights",
    "data": "?eta=0.01&eps=1e-08&perturbations=20&steps=5000&view=data",
    "orbital": "?eta=0.01&eps=1e-08&perturbations=20&steps=5000&view=orbital",
    "regimes": "?map_steps=500&view=regimes&map=eta&eta_min=0.001&eta_max=20&eta_points=20&inits=4",
    "chaos": "?eta=0.01&steps=500&view=chaos",
}
SIDE_PROGRESS = {"regimes": "map-progress", "chaos": "chaos-progress"}  # views that start their own job


def browser(width: int = 1400, height: int = 1600) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_idle(driver, timeout: float = 120) -> None:
    """Until the Run button is enabled again and the progress label says it is done."""
    WebDriverWait(driver, timeout).until(
        lambda d: (
            d.find_element(By.ID, "run").is_enabled() and "iterations ·" in d.find_element(By.ID, "progress-label").text
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            # a cache of its own: every view computes (a replay would say "from the cache")
            env={**os.environ, "WSD_PORT": str(port), "WSD_CACHE_DIR": tempfile.mkdtemp(prefix="wsd-shots-")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        time.sleep(6)
    args.out.mkdir(exist_ok=True)
    driver = browser()
    try:
        for name, query in SHOTS.items():
            driver.get(url + "/" + query)
            WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "run")))
            time.sleep(1.0)
            wait_idle(driver)
            if name == "orbital":
                driver.find_element(By.ID, "orbital-run").click()
                WebDriverWait(driver, 120).until(lambda d: "done" in d.find_element(By.ID, "orbital-progress").text)
            if name in SIDE_PROGRESS:  # a link to the view starts its job
                label = SIDE_PROGRESS[name]
                WebDriverWait(driver, 300).until(lambda d, i=label: "done in" in d.find_element(By.ID, i).text)
            if name == "lyapunov":
                driver.find_element(By.ID, "ftle-inits").clear()
                driver.find_element(By.ID, "ftle-inits").send_keys("20\t")
                driver.find_element(By.ID, "ftle-run").click()
                WebDriverWait(driver, 300).until(lambda d: "done" in d.find_element(By.ID, "ftle-progress").text)
            time.sleep(1.5)
            path = args.out / f"{name}.png"
            driver.save_screenshot(str(path))
            print(f"wrote {path}")
    finally:
        driver.quit()
        if server is not None:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
