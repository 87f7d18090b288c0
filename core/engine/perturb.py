"""Perturbed copies of a network (docs/method.md §2 and §4).

A copy is theta' = theta + delta with delta on the WEIGHTS only (biases untouched):
``"cube"``: delta_k ~ U(-eps, eps) i.i.d.; ``"sphere"``: delta uniform on the L2 sphere of
radius eps. Directions are drawn once at unit scale and multiplied by eps, so copies made
with different eps from the same generator state differ only in scale (the paper's Fig. 4; docs/method.md §2).
"""

from __future__ import annotations

import numpy as np

from core.arrays import BoolArray, FloatArray
from core.validate import check_choice


def unit_perturbations(rng: np.random.Generator, n: int, weight_mask: BoolArray, kind: str = "cube") -> FloatArray:
    """(n, P) directions: U(-1, 1) on weights ("cube") or unit L2 norm over weights ("sphere")."""
    check_choice("perturbation", kind, ("cube", "sphere"))
    delta = np.zeros((n, weight_mask.size))
    n_weights = int(weight_mask.sum())
    if kind == "cube":
        delta[:, weight_mask] = rng.uniform(-1.0, 1.0, size=(n, n_weights))
    else:
        g = rng.standard_normal((n, n_weights))
        delta[:, weight_mask] = g / np.linalg.norm(g, axis=1, keepdims=True)
    return delta


def with_copies(theta: FloatArray, unit: FloatArray, eps: float) -> FloatArray:
    """(P,), (M, P) -> (1 + M, P): row 0 is theta, rows 1.. are theta + eps * unit."""
    return np.vstack([theta[None, :], theta[None, :] + eps * unit])


def shared_reference_batch(theta: FloatArray, unit: FloatArray, eps: FloatArray) -> FloatArray:
    """(P,), (M, P), (E,) -> (1 + E M, P): theta once, then M copies at each eps in turn.

    One reference serves every eps, since the unperturbed trajectory does not depend on eps.
    """
    return np.vstack([theta[None, :]] + [with_copies(theta, unit, e)[1:] for e in eps])
