"""Figure builders: a record (or arrays) in, a Plotly figure out; no Dash. One module per family,
the shared axes and layout in base."""

from dashboard.figures import base, data, distance, dynamics, eps, lyapunov, maps, regimes, spectrum, weights

__all__ = ["base", "data", "distance", "dynamics", "eps", "lyapunov", "maps", "regimes", "spectrum", "weights"]
