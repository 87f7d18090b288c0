"""Input checks shared by the configs and the experiment entry points.

Each check raises ``ValueError`` naming the field, the rule and the offending value,
so the CLI and the dashboard can show the message as it is.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import cast

import numpy as np
import numpy.typing as npt


def check_int(name: str, value: object, *, low: int, high: int) -> int:
    """An integer (not a bool, not a float) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")
    return number


def check_float(name: str, value: object, *, low: float, high: float, low_inclusive: bool = False) -> float:
    """A finite real number in ``(low, high]`` (or ``[low, high]``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    above = value >= low if low_inclusive else value > low
    if not (math.isfinite(value) and above and value <= high):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be a finite number in {bracket}{low:g}, {high:g}], got {value!r}")
    return value


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """One of a fixed set of strings."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def check_values(name: str, values: object, *, low: float, high: float, what: str) -> list[float]:
    """A non-empty list of finite numbers in ``(low, high]`` (a grid of learning rates or radii);
    ``what`` names what needs them ("the sweep")."""
    checked = [check_float(name, v, low=low, high=high) for v in _flat(values)]
    if not checked:
        raise ValueError(f"{what} needs at least one {name}")
    return checked


def check_seed_range(seed: int, count: int, high: int) -> None:
    """Seeds ``seed .. seed + count - 1`` all at most ``high``."""
    if seed + count - 1 > high:
        raise ValueError(f"seeds {seed} .. {seed + count - 1} go past the largest seed {high}: use a smaller seed")


def _flat(values: object) -> list[object]:
    if isinstance(values, (str, bytes)):
        return [values]
    try:  # anything: np.ravel makes a 0-d object array of what it cannot read as numbers
        return [v.item() if hasattr(v, "item") else v for v in np.ravel(cast("npt.ArrayLike", values))]
    except (TypeError, ValueError):
        return [values]


def check_grid(name: str, value: object, *, low: int, high: int) -> tuple[int, int, int]:
    """An integer grid ``(start, stop, step)``, inclusive of ``stop``."""
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"{name} must be (start, stop, step), got {value!r}")
    start, stop, step = (check_int(f"{name}[{i}]", v, low=low, high=high) for i, v in enumerate(value))
    if step < 1 or stop < start:
        raise ValueError(f"{name} needs start <= stop and step >= 1, got {value!r}")
    return start, stop, step
