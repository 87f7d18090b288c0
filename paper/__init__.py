"""The paper's figures, drawn again from scratch: ``python cli.py figures --out DIR``.

- :mod:`paper.sizes`: the settings (the paper's, and a quick set for tests);
- :mod:`paper.catalogue`: the figures in order, drawn by :mod:`paper.story` (the paper's)
  and :mod:`paper.regimes` (this project's own): each computes with the core through the
  dashboard's job functions (:mod:`paper.lab`) and draws with the dashboard's figure
  builders, so a figure here looks as it does in the app;
- :mod:`paper.export`: PNG, SVG and CSV of each figure, and the index ``figures.md``;
- :mod:`paper.chromium`: the Chromium that kaleido drives for PNG and SVG, every wait bounded.
"""

from paper.catalogue import FIGURES
from paper.export import write_all
from paper.sizes import PAPER, QUICK, Size
from paper.story import Figure

__all__ = ["FIGURES", "PAPER", "QUICK", "Figure", "Size", "write_all"]
