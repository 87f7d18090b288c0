"""The second axis of a map over eta and one setting of the run (docs/method.md §6): the width
or depth of the network, its L2 penalty, its momentum or its batch size.

Each value y of the axis is a config of its own, ``setting.config_for(config, y)`` (a
``dataclasses.replace`` of the map's config), so the cells of one y are trained together by
core.experiments.cells and the y values one after another. Network g of every point is the
run of seed ``config.seed + g``, so a point opens as a single run, bit for bit.

- ``width``: every hidden layer of the config's depth gets y units (a one-layer config: the
  one hidden layer), whole numbers 1..MAX_WIDTH.
- ``depth``: y hidden layers (1..MAX_DEPTH), each as wide as the config's first layer.
- ``l2``: the L2 penalty (weight decay), a positive number up to 1000 (a log axis: l2 = 0 is
  the config of the eta x seed map and the strip).
- ``momentum``: beta in [0, 1); the config's optimizer if it has momentum (momentum or
  nesterov), heavy-ball momentum if it is plain GD (said in ``note``), refused for Adam
  (its beta1 is another quantity: its own bias-corrected average).
- ``batch_size``: mini-batch SGD with y rows a step (1..the training rows), the batch order of
  the config's batch seed.

Per point, over its ``n_inits`` networks: the mean FTLE of the kept fits (copies at the
config's eps; computed as the eta x eps map's, core.experiments.maps) and the fraction kept;
the mean leading tangent exponent; the median final loss of the networks that did not
diverge; the median steps to the target test accuracy of the networks that reach it and the
fraction that do. ``share`` is the kept fraction (FTLE), the fraction reaching the target
(steps) or the mean final test accuracy (the others).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

from core.arrays import BoolArray, FloatArray, IntArray
from core.config import MAX_DEPTH, MAX_WIDTH, RunConfig
from core.experiments.cells import CellResults
from core.experiments.regimes import steps_to_accuracy

MAX_L2 = 1e3  # RunConfig's bound
# what a point shows, by value kind, and the share beside it
SHARES = {"ftle": "ftle_kept_fraction", "leading": "test_accuracy", "loss": "test_accuracy", "steps": "reached_target"}


class Setting(ABC):
    """One setting a map's second axis varies: its values' rule, the config of a value, its zoom."""

    name: str  # the axis's (and the table column's) name
    rule: str  # the rule in words, for messages
    default: tuple[float, ...]  # the page's grid and the CLI's default
    integer: bool = False
    log: bool = True  # the axis is drawn and refined in log
    refined: bool = True  # a zoom refines it (else keeps the values in range: few whole numbers)

    def grid(self, values: npt.ArrayLike, n_train: int) -> FloatArray | IntArray:
        """The checked values, sorted and distinct; ValueError names the value and the rule."""
        flat = np.ravel(np.asarray(values, dtype=object))
        if flat.size == 0:
            raise ValueError(f"the map needs at least one {self.name}")
        checked = [self.check(v, n_train) for v in flat]
        if self.integer:
            return np.unique(np.asarray(checked, dtype=np.int64))
        return np.unique(np.asarray(checked, dtype=np.float64))

    def check(self, value: Any, n_train: int) -> float:
        """One value, or ValueError '<name> <value> is not <rule>'."""
        low, high, low_inclusive = self.bounds(n_train)
        number = _number(value, self.integer)
        inside = number is not None and (number >= low if low_inclusive else number > low) and number <= high
        if not inside:
            shown = (
                f"{float(value):g}" if isinstance(value, numbers.Real) and not isinstance(value, bool) else repr(value)
            )
            raise ValueError(f"{self.name} {shown} is not {self.rule_for(n_train)}")
        assert number is not None
        return number

    def rule_for(self, n_train: int) -> str:
        return self.rule

    @abstractmethod
    def bounds(self, n_train: int) -> tuple[float, float, bool]:
        """(low, high, low inclusive) of a value."""

    @abstractmethod
    def config_for(self, config: RunConfig, value: float) -> RunConfig:
        """The config of the points of ``value``."""

    def check_start(self, config: RunConfig, theta0: FloatArray | None) -> None:  # noqa: B027 (most refuse nothing)
        """Refuse a map this setting cannot make from ``config`` (ValueError, one line)."""

    def note(self, config: RunConfig) -> str:
        """What a reader must know of how the map was made from ``config`` ('' if nothing)."""
        return ""


def _number(value: Any, integer: bool) -> float | None:
    """A real number (a whole one if ``integer``), or None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    if not math.isfinite(number) or (integer and number != int(number)):
        return None
    return int(number) if integer else number


class Width(Setting):
    name, default, integer = "width", (2, 5, 10, 20, 50), True
    rule = f"a whole number of hidden units from 1 to {MAX_WIDTH}"

    def bounds(self, n_train: int) -> tuple[float, float, bool]:
        return 1, MAX_WIDTH, True

    def config_for(self, config: RunConfig, value: float) -> RunConfig:
        return dataclasses.replace(config, hidden=(int(value),) * len(config.widths))

    def check_start(self, config: RunConfig, theta0: FloatArray | None) -> None:
        if theta0 is not None:
            raise ValueError("a map over the width changes the network: it cannot start from one given network")

    def note(self, config: RunConfig) -> str:
        depth = len(config.widths)
        return "" if depth == 1 else f"every one of the {depth} hidden layers has the width"


class Depth(Setting):
    name, default, integer, log, refined = "depth", (1, 2, 3, 4), True, False, False
    rule = f"a whole number of hidden layers from 1 to {MAX_DEPTH}"

    def bounds(self, n_train: int) -> tuple[float, float, bool]:
        return 1, MAX_DEPTH, True

    def config_for(self, config: RunConfig, value: float) -> RunConfig:
        return dataclasses.replace(config, hidden=(config.widths[0],) * int(value))

    def check_start(self, config: RunConfig, theta0: FloatArray | None) -> None:
        if theta0 is not None:
            raise ValueError("a map over the depth changes the network: it cannot start from one given network")


class L2(Setting):
    name, default = "l2", (1e-4, 1e-3, 1e-2, 1e-1)
    rule = f"a number in (0, {MAX_L2:g}] (the L2 penalty; l2 = 0 is the plain map)"

    def bounds(self, n_train: int) -> tuple[float, float, bool]:
        return 0.0, MAX_L2, False

    def config_for(self, config: RunConfig, value: float) -> RunConfig:
        return dataclasses.replace(config, l2=float(value))


class Momentum(Setting):
    name, default, log = "momentum", (0.0, 0.5, 0.8, 0.9, 0.95), False
    rule = "a number in [0, 1) (the momentum beta)"

    def bounds(self, n_train: int) -> tuple[float, float, bool]:
        return 0.0, math.nextafter(1.0, 0.0), True

    def config_for(self, config: RunConfig, value: float) -> RunConfig:
        optimizer = config.optimizer if config.optimizer in ("momentum", "nesterov") else "momentum"
        return dataclasses.replace(config, optimizer=optimizer, momentum=float(value))

    def check_start(self, config: RunConfig, theta0: FloatArray | None) -> None:
        if config.optimizer == "adam":
            raise ValueError(
                "the eta x momentum map varies the momentum of SGD (momentum or nesterov); the optimizer is adam: "
                "choose gd (the map then uses momentum), momentum or nesterov"
            )

    def note(self, config: RunConfig) -> str:
        return "the optimizer is gd: the map uses heavy-ball momentum" if config.optimizer == "gd" else ""


class BatchSize(Setting):
    name, default, integer = "batch_size", (8, 16, 32, 64), True
    rule = "a whole number of rows from 1 to the training rows"

    def bounds(self, n_train: int) -> tuple[float, float, bool]:
        return 1, n_train, True

    def rule_for(self, n_train: int) -> str:
        return f"a whole number of rows from 1 to the {n_train} training rows"

    def config_for(self, config: RunConfig, value: float) -> RunConfig:
        return dataclasses.replace(config, batch_size=int(value))


SETTINGS: dict[str, Setting] = {s.name: s for s in (Width(), Depth(), L2(), Momentum(), BatchSize())}


def point_arrays(
    cells: CellResults, n_etas: int, n_inits: int, value: str, target: float
) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
    """The cells of one setting value (eta-major, then network) -> value ("leading", "loss" or
    "steps"), share, diverged, done, each (E,): a point is done when all its networks are. (The
    FTLE's point is the eta x eps map's, at the one eps: core.experiments.maps.)"""
    grid = (n_etas, n_inits)
    done = np.all(cells.done.reshape(grid), axis=1)
    diverged = np.any((cells.diverged & cells.done).reshape(grid), axis=1) & done
    accuracy = cells.test_accuracy[:, -1].reshape(grid)
    with np.errstate(all="ignore"):
        if value == "steps":
            steps = steps_to_accuracy(cells.test_accuracy, target).reshape(grid)
            reached = np.isfinite(steps)
            points = _nanmedian(steps)
            share = np.where(np.isfinite(accuracy).any(axis=1), reached.mean(axis=1), np.nan)
        else:
            if value == "leading":
                points = cells.leading.reshape(grid).mean(axis=1)  # NaN if one is (its network diverged at once)
            else:
                loss = np.where(cells.diverged, np.nan, cells.loss[:, -1]).reshape(grid)
                points = _nanmedian(loss)
            share = _nanmean(accuracy)
    return np.where(done, points, np.nan), np.where(done, share, np.nan), diverged, done


def _nanmedian(values: FloatArray) -> FloatArray:
    """(E, G) -> (E,) median of the finite values of each row (NaN where none is)."""
    finite = np.isfinite(values).any(axis=1)
    out = np.full(values.shape[0], np.nan)
    out[finite] = np.nanmedian(values[finite], axis=1)
    return out


def _nanmean(values: FloatArray) -> FloatArray:
    finite = np.isfinite(values).any(axis=1)
    out = np.full(values.shape[0], np.nan)
    out[finite] = np.nanmean(values[finite], axis=1)
    return out
