"""figures: the paper's figures (and this project's own) drawn again, as PNG, SVG and CSV."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from commands.common import Parser, out_dir, staged

if TYPE_CHECKING:
    from paper import Figure


def _chosen(names: list[str] | None) -> tuple[Figure, ...]:
    from paper import FIGURES

    if not names:
        return FIGURES
    known = {f.name for f in FIGURES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--only: no figure named {', '.join(unknown)}; the figures are {', '.join(sorted(known))}")
    return tuple(f for f in FIGURES if f.name in names)


def cmd_figures(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from paper import PAPER, QUICK, write_all
    from paper.export import ExportError

    out, figures = out_dir(args.out), _chosen(args.only)
    size = QUICK if args.quick else PAPER
    started = time.monotonic()
    try:
        with (
            staged(out) as staging,
            tqdm(total=len(figures), desc="figures", unit="figure", file=sys.stderr, disable=None) as bar,
        ):

            def done(figure: Figure, _seconds: float) -> None:
                bar.set_postfix_str(figure.name)
                bar.update()

            numbers = write_all(figures, size, staging, on_figure=done)
    except ExportError as exc:
        raise ValueError(str(exc)) from None
    print(f"{len(figures)} figures ({size.name} settings) in {time.monotonic() - started:.0f} s: {out}/figures.md")
    headline = numbers[["figure", "number", "ours", "paper"]]
    for name, number, ours, paper in headline.itertuples(index=False, name=None):
        print(f"  {name}: {number} = {ours:.4g}" + (f" (paper: {paper})" if paper else ""))
    return 0


def register(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("figures", help="the paper's figures drawn again: PNG, SVG, CSV and an index (figures.md)")
    p.add_argument("--out", type=Path, required=True, help="directory for the files (made if missing)")
    p.add_argument("--quick", action="store_true", help="small settings (about a minute here) instead of the paper's")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these figures (names as in figures.md)")
    p.set_defaults(func=cmd_figures)
