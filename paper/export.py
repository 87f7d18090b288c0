"""Each figure as PNG and SVG (Plotly's static export through kaleido, which drives the
machine's Chromium: :mod:`paper.chromium`) and its plotted numbers as CSV, with an index:
``figures.md`` (what each figure is, the paper's figure, the settings, the numbers beside the
paper's) and the same numbers in ``numbers.csv``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType

from paper.chromium import Browser, ExportError
from paper.lab import Lab
from paper.sizes import Size
from paper.story import Drawn, Figure

WIDTH, HEIGHT = 1000, 480  # pixels of a PNG (a figure's own height wins)
FORMATS = ("png", "svg")

__all__ = ["ExportError", "figure_table", "write_all", "write_panel"]


def trace_table(trace: BaseTraceType) -> pd.DataFrame:
    """The numbers one trace plots: x, y (z of a heatmap, one row per cell); the grey lines
    drawn as one trace with gaps get a ``line`` number each."""
    z = getattr(trace, "z", None)
    if z is not None:
        return _grid_table(trace, np.asarray(z, dtype=np.float64))
    columns = {k: pd.Series(np.asarray(v)) for k in ("x", "y") if (v := getattr(trace, k, None)) is not None}
    if "x" not in columns and "y" in columns and getattr(trace, "dx", None) is not None:  # x0 + i dx
        columns["x"] = pd.Series((trace.x0 or 0) + trace.dx * np.arange(len(columns["y"])))
    error = getattr(trace, "error_y", None)
    if error is not None and error.array is not None:  # error bars: +, and - if asymmetric
        columns["error_plus"] = pd.Series(np.asarray(error.array))
        minus = error.arrayminus if error.arrayminus is not None else error.array
        columns["error_minus"] = pd.Series(np.asarray(minus))
    table = pd.DataFrame(columns)
    if {"x", "y"} <= set(table.columns) and len(table):
        gap = table["x"].isna() & table["y"].isna()
        table = table.assign(line=gap.cumsum())[~gap]
    return table


def _grid_table(trace: BaseTraceType, z: npt.NDArray[np.float64]) -> pd.DataFrame:
    rows, cols = z.shape
    table: dict[str, npt.NDArray[Any]] = {}
    for name, values, n, repeat in (
        ("x", trace.x, cols, lambda a: np.tile(a, rows)),
        ("y", trace.y, rows, lambda a: np.repeat(a, cols)),
    ):
        values = np.asarray(values if values is not None else np.arange(n))  # numbers, or category names
        if values.size == n + 1:  # the cells' edges: both, as drawn
            table[f"{name}_low"], table[f"{name}_high"] = repeat(values[:-1]), repeat(values[1:])
        else:
            table[name] = repeat(values)
    return pd.DataFrame({**table, "z": z.ravel()})


def figure_table(fig: go.Figure) -> pd.DataFrame:
    """Every trace's numbers, one after another, named by the trace."""
    frames = []
    for i, trace in enumerate(fig.data):
        table = trace_table(trace)
        table.insert(0, "name", trace.name or trace.type)
        table.insert(0, "trace", i)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_panel(fig: go.Figure, stem: Path, browser: Browser) -> list[Path]:
    """``stem``.png, .svg and .csv."""
    height = fig.layout.height or HEIGHT
    spec = fig.to_dict()
    paths = [stem.with_suffix(f".{fmt}") for fmt in FORMATS]
    for fmt, path in zip(FORMATS, paths, strict=True):
        path.write_bytes(browser.image(spec, fmt, WIDTH, height))
    figure_table(fig).to_csv(stem.with_suffix(".csv"), index=False)
    return [*paths, stem.with_suffix(".csv")]


def write_all(
    figures: Iterable[Figure],
    size: Size,
    out: Path,
    *,
    lab: Lab | None = None,
    on_figure: Callable[[Figure, float], object] = print,
) -> pd.DataFrame:
    """Draw and write every figure into ``out``; ``on_figure(figure, seconds)`` after each.
    Returns the numbers table (also in numbers.csv; figures.md is the index)."""
    out.mkdir(parents=True, exist_ok=True)
    lab = lab or Lab()
    rows: list[tuple[Figure, list[Path]]] = []
    numbers: list[tuple[str, str, str, float, str]] = []
    started = time.monotonic()
    with Browser.started() as browser:
        for figure in figures:
            began = time.monotonic()
            drawn: Drawn = figure.draw(lab, size)
            panels = drawn.panels.items()
            files = [p for suffix, fig in panels for p in write_panel(fig, out / _stem(figure, suffix), browser)]
            rows.append((figure, files))
            numbers += [(figure.name, figure.paper, n.what, n.value, n.paper) for n in drawn.numbers]
            on_figure(figure, time.monotonic() - began)
    table = pd.DataFrame(numbers, columns=["figure", "paper_figure", "number", "ours", "paper"])
    table.to_csv(out / "numbers.csv", index=False)
    (out / "figures.md").write_text(index_text(rows, table, size, time.monotonic() - started))
    return table


def _stem(figure: Figure, suffix: str) -> str:
    return f"{figure.name}-{suffix}" if suffix else figure.name


def index_text(rows: list[tuple[Figure, list[Path]]], numbers: pd.DataFrame, size: Size, seconds: float) -> str:
    """figures.md: one line per figure, then the headline numbers beside the paper's."""
    command = "python cli.py figures --out DIR" + (" --quick" if size.name == "quick" else "")
    lines = [
        "# The paper's figures, drawn again",
        "",
        f"Made by `{command}` ({size.name} settings) in {seconds:.0f} s. Each figure is a PNG, an SVG and a "
        "CSV of the numbers it plots. The quantities are defined in the project's docs/method.md.",
        "",
        "| figure | paper | what it shows | settings | files |",
        "|---|---|---|---|---|",
    ]
    for figure, files in rows:
        pngs = ", ".join(f"[{p.stem}]({p.name})" for p in files if p.suffix == ".png")
        cells = (figure.name, figure.paper, _text(figure.what), _text(figure.settings(size)), pngs)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Numbers", "", "| figure | number | ours | the paper's |", "|---|---|---|---|"]
    headline = numbers[["figure", "number", "ours", "paper"]]
    for name, number, ours, paper in headline.itertuples(index=False, name=None):
        lines.append(f"| {name} | {_text(number)} | {ours:.4g} | {paper or '—'} |")
    return "\n".join(lines) + "\n"


def _text(cell: str) -> str:
    """A table cell's text as Markdown shows it: <d(t)> is not an HTML tag."""
    return cell.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
