"""The computations behind the figures, each done once per call of ``figures``: several
figures draw from the same run (Figs. 2, 3, 5, 9 and 10 from the eta = 0.01 runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from core.config import RunConfig
from core.engine.parallel import default_workers
from core.experiments.diagnostics import Diagnostics, run_diagnostics
from core.experiments.map_kinds import map_kind
from core.experiments.maps import MapResult
from dashboard.jobs import compute
from dashboard.jobs.plans import spectrum_k
from dashboard.jobs.records import EpsSweepRecord, FTLERecord, MapRecord, OrbitalRecord, RunRecord, SpectrumRecord

T = TypeVar("T")


def _config(settings: dict) -> RunConfig:
    """A config with its data set's network defaults (digits: 64 tanh units), then ``settings``."""
    return RunConfig.for_dataset(settings.pop("dataset", "iris"), **settings)


def _go_on(*_args: object) -> bool:
    return True  # nothing stops a figure's computation (Ctrl-C does)


class Lab:
    """Memoised experiments, by their settings."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._done: dict[tuple, Any] = {}  # each value: what its key's computation returned

    def _once(self, key: tuple, compute: Callable[[], T]) -> T:
        if key not in self._done:
            self._done[key] = compute()
        return self._done[key]

    def run(self, **settings: Any) -> RunRecord:
        """Reference + copies with every read-out of the dashboard's main run."""
        config = _config(settings)
        return self._once(("run", config), lambda: compute.stability(config))

    def eps_sweep(self, eps: tuple[float, ...], **settings: Any) -> EpsSweepRecord:
        config = _config(settings)
        return self._once(("eps", config, eps), lambda: compute.eps_sweep(config, eps_values=np.array(eps)))

    def ftle(self, eps: tuple[float, ...], n_inits: int, **settings: Any) -> FTLERecord:
        config = _config(settings)
        key = ("ftle", config, eps, n_inits)
        return self._once(
            key,
            lambda: compute.ftle_sweep(config, n_inits, config.n_steps, workers=self.workers, eps_values=np.array(eps)),
        )

    def orbital(self, t0: int, **settings: Any) -> OrbitalRecord:
        config = _config(settings)
        return self._once(("orbital", config, t0), lambda: compute.orbital(config, t0))

    def diagnostics(self, transient: int, shuffles: int, **settings: Any) -> Diagnostics:
        config = _config(settings)
        key = ("chaos", config, transient, shuffles)
        return self._once(key, lambda: run_diagnostics(config, transient=transient, n_shuffles=shuffles))

    def regime_map(self, kind: str, etas: np.ndarray, ys: np.ndarray, n_inits: int, **settings: Any) -> MapRecord:
        """A map of the Regimes view ("eta", "orbit", "eta-eps", "eta-seed")."""
        config = _config(settings)
        key = ("map", kind, config, tuple(etas), tuple(ys), n_inits)
        return self._once(key, lambda: compute.regime_map(config, kind, etas, ys, n_inits, _go_on, self.workers))

    def setting_map(
        self, kind: str, etas: np.ndarray, ys: tuple, n_inits: int, value: str, **settings: Any
    ) -> MapResult:
        """A 2-D map over eta and a setting of the run ("eta-depth", "eta-width", ...) from the
        core's map kind, its ``value`` ("ftle", "leading", "loss", "steps")."""
        config = _config(settings)
        key = ("setting-map", kind, config, tuple(etas), ys, n_inits, value)
        run = map_kind(kind).run
        return self._once(key, lambda: run(config, etas, ys, n_inits, workers=self.workers, value=value))

    def spectrum(self, **settings: Any) -> SpectrumRecord:
        """The tangent-space Lyapunov spectrum of a config's reference network, every exponent
        the Chaos view's job computes (Iris: all P; docs/method.md §10)."""
        config = _config(settings)
        return self._once(("spectrum", config), lambda: compute.spectrum(config, spectrum_k(config)))
