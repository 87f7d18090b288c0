"""``cli.py figures --quick``: every figure of the paper's story as PNG, SVG and CSV, an index,
and headline numbers in the ranges the core's own tests hold them to."""

import math
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _figures(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "cli.py", "figures", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run for the module (~45 s here), in its own process as a user runs it."""
    out = tmp_path_factory.mktemp("figures") / "out"
    done = _figures("--out", str(out), "--quick")
    assert done.returncode == 0, done.stderr[-3000:]
    numbers = pd.read_csv(out / "numbers.csv")
    return SimpleNamespace(out=out, stdout=done.stdout, numbers=numbers)


def _number(quick, figure: str, starts: str) -> float:
    rows = quick.numbers[(quick.numbers.figure == figure) & quick.numbers.number.str.startswith(starts)]
    assert len(rows) == 1, f"{figure}: {starts!r} in {quick.numbers.number.tolist()}"
    return float(rows.ours.iloc[0])


def test_every_figure_is_written_with_its_data_and_indexed(quick):
    from paper import FIGURES

    index = (quick.out / "figures.md").read_text()
    for figure in FIGURES:
        pngs = sorted(quick.out.glob(f"{figure.name}*.png"))
        assert pngs, f"no PNG of {figure.name}"
        assert f"| {figure.name} | {figure.paper} |" in index
        for png in pngs:
            assert png.with_suffix(".svg").is_file() and png.with_suffix(".csv").is_file(), png.stem
            assert f"]({png.name})" in index
    assert "| fig12-ftle | λ at ε = 1e-8: mean |" in index and "| 0.285 |" in index  # ours beside the paper's


def test_the_pictures_decode_and_are_not_blank(quick):
    from PIL import Image

    for png in sorted(quick.out.glob("*.png")):
        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert pixels.shape[1] == 1000 and pixels.shape[0] >= 400, png.name
        drawn = (pixels < 235).any(axis=2).mean()  # share of pixels that are not (nearly) white
        colours = np.unique(pixels.reshape(-1, 3), axis=0).shape[0]
        assert drawn > 0.01 and colours > 20, f"{png.name}: {drawn:.3%} drawn, {colours} colours"
    for svg in sorted(quick.out.glob("*.svg")):
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg.name


def test_the_csvs_hold_the_plotted_numbers(quick):
    collapse = pd.read_csv(quick.out / "fig06-collapse.csv")
    starts = collapse[collapse.x == 0].groupby("name").y.first()
    assert len(starts) == 5 and starts.mean() == pytest.approx(_number(quick, "fig06-collapse", "<d(0)>"), rel=1e-6)

    by_eps = pd.read_csv(quick.out / "fig12-ftle-by-eps.csv")
    mean = by_eps[(by_eps.name == "FTLE mean ± std") & np.isclose(by_eps.x, 1e-8, rtol=1e-9, atol=0)].y.iloc[0]
    assert mean == pytest.approx(_number(quick, "fig12-ftle", "λ at ε = 1e-8: mean"), rel=1e-12)

    orbital = pd.read_csv(quick.out / "fig08-orbital.csv")
    d = orbital[orbital.name == "<d>/(ε N_w)"].y.to_numpy()
    assert d[-1] / d[0] == pytest.approx(_number(quick, "fig08-orbital", "d(T) / d(t0)"), rel=1e-5)  # float32 plot

    strip = pd.read_csv(quick.out / "regimes-iris.csv")
    assert strip.x.nunique() == 8  # the quick strip's eight learning rates, every panel


def test_the_headline_numbers_fall_where_the_core_tests_hold_them(quick):
    assert _number(quick, "fig06-collapse", "<d(0)>") == pytest.approx(0.5, abs=0.05)  # the cube's mean |delta|
    assert _number(quick, "fig03-divergence", "largest") < 50  # bounded at eta = 0.01
    assert 0.5 < _number(quick, "fig08-orbital", "d(T) / d(t0)") < 2  # marginal
    assert 0.15 < _number(quick, "fig12-ftle", "λ at ε = 1e-8: mean") < 0.45  # the paper: 0.285 +- 0.10
    assert _number(quick, "fig12-ftle", "share of networks kept") >= 0.7  # the paper: ~90%
    assert _number(quick, "fig13-chaotic", "median final training accuracy") < 0.4  # chance is 1/3
    assert 0.1 < _number(quick, "regimes-iris", "Iris: smallest η labelled edge") < 5
    assert "fig12-ftle: λ at ε = 1e-8: mean = " in quick.stdout


def test_an_unknown_figure_and_a_missing_browser_are_refused_with_nothing_written(tmp_path):
    done = _figures("--out", str(tmp_path / "a"), "--only", "fig99", timeout=60)
    assert done.returncode == 2 and "no figure named fig99; the figures are " in done.stderr
    done = _figures("--out", str(tmp_path / "b"), "--only", "fig02-data", env={"BROWSER_PATH": "/nonexistent"})
    assert done.returncode == 2 and "PNG and SVG export needs Chromium (BROWSER_PATH=/nonexistent" in done.stderr
    assert "Traceback" not in done.stderr and sorted(tmp_path.iterdir()) == []


def test_a_trace_table_holds_lines_cells_error_bars_and_steps():
    from paper.export import figure_table

    nan = math.nan
    lines = go.Scatter(x=[0, 1, nan, 0, 1], y=[1.0, 2.0, nan, 3.0, 4.0], name="copies")
    cells = go.Heatmap(x=[1.0, 2.0, 3.0], y=["a", "b"], z=[[1, 2], [3, 4]])  # x as edges
    bars = go.Scatter(x=[1, 2], y=[5.0, 6.0], error_y={"array": [0.5, 0.25], "arrayminus": [0.1, 0.2]})
    steps = go.Scattergl(y=[7.0, 8.0, 9.0], x0=100, dx=10)
    table = figure_table(go.Figure([lines, cells, bars, steps]))
    copies = table[table.trace == 0]
    assert copies.line.tolist() == [0, 0, 1, 1] and copies.y.tolist() == [1, 2, 3, 4]
    heat = table[table.trace == 1]
    assert heat.x_low.tolist() == [1, 2, 1, 2] and heat.x_high.tolist() == [2, 3, 2, 3]
    assert heat.y.tolist() == ["a", "a", "b", "b"] and heat.z.tolist() == [1, 2, 3, 4]
    errors = table[table.trace == 2]
    assert errors.error_plus.tolist() == [0.5, 0.25] and errors.error_minus.tolist() == [0.1, 0.2]
    assert table[table.trace == 3].x.tolist() == [100, 110, 120]


def _fake_browser(folder: Path, script: str) -> Path:
    folder.mkdir()
    path = folder / "chromium"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def test_a_browser_that_exits_at_once_is_one_line_within_a_bound(tmp_path):
    """The issue: kaleido's server thread died and the command waited for ever."""
    fake = _fake_browser(tmp_path / "bin", "exit 1")
    work = tmp_path / "work"
    work.mkdir()
    args = ("--out", str(work / "out"), "--quick", "--only", "fig02-data")
    done = _figures(*args, env={"BROWSER_PATH": str(fake)}, timeout=120)  # for ever before
    err = done.stderr
    assert done.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith(f"cli.py figures: error: Chromium {fake} "), err
    assert "start" in err and "set BROWSER_PATH to a working Chromium" in err
    assert list(work.iterdir()) == []  # neither --out nor its staging directory


def test_a_browser_that_dies_mid_run_is_one_line_within_a_bound(tmp_path):
    """The machine's Chromium, killed once a PNG is in the staging directory."""
    import psutil

    from paper.chromium import chromium

    assert chromium(), "this test needs the machine's Chromium (or BROWSER_PATH)"
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "cli.py", "figures", "--quick", "--only", "fig02-data", "fig03-divergence", "fig06-collapse"]
        + ["--out", str(work / "out")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = psutil.Process(proc.pid)
    try:
        children, browsers = [], []

        def drawing() -> bool:  # a PNG is written, and the browser is found
            assert proc.poll() is None, f"the command ended first: {proc.stderr.read()}"
            children[:] = _descendants(parent)
            browsers[:] = [p for p in children if _is_chromium_main(p)]
            return bool(browsers) and any(work.glob(".out.*/*.png"))

        _until(drawing, 180, "a PNG in the staging directory")
        for browser in browsers:
            browser.kill()
        _, err = proc.communicate(timeout=120)  # for ever before
    finally:
        if proc.poll() is None:
            proc.kill()
    _until(lambda: not any(_alive(p) for p in children), 15, "the browser's processes to end")
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("cli.py figures: error: Chromium "), err
    assert "set BROWSER_PATH to a working Chromium" in err
    assert list(work.iterdir()) == []


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _descendants(parent) -> list:
    import psutil

    try:
        return parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_chromium_main(process) -> bool:
    """Chromium's browser process (not a renderer, GPU or other helper: those have --type=)."""
    import psutil

    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return False
    return process.name() == "chromium" and not any(arg.startswith("--type=") for arg in cmdline)
