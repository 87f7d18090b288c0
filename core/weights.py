"""Which weights matter (docs/method.md §5).

Ablation: on a trained network, set one weight w_ij to 0 and recompute the training loss
L_w; the map L_w / L over a layer (rows = inputs, columns = units) shows the weights whose
removal hurts. All ablated copies are rows of one theta array, evaluated in one batch.

Displacement vs path length: per parameter, Delta_w = |w(T) - w(0)| / |w(0)| (how far it
ended up) against D_w = sum_t |w(t+1) - w(t)| (how far it travelled).
"""

from __future__ import annotations

import numpy as np

from core.model import MLP
from core.objective import Objective

LAYERS = ("W1", "W2")


def _layer_index(mlp: MLP, layer: str) -> np.ndarray:
    """Flat positions of the layer's weights, shaped like the layer: (D, H) or (H, C)."""
    w1, _, w2, _ = mlp.views(np.arange(mlp.n_params))
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {layer!r}")
    return w1 if layer == "W1" else w2


def ablated_copies(mlp: MLP, theta: np.ndarray, layer: str) -> np.ndarray:
    """(P,) -> (n_layer_weights, P): row i is theta with the layer's i-th weight set to 0."""
    index = _layer_index(mlp, layer).ravel()
    copies = np.repeat(theta[None, :], index.size, axis=0)
    copies[np.arange(index.size), index] = 0.0
    return copies


def ablation_ratio(objective: Objective, theta: np.ndarray, layer: str = "W1") -> np.ndarray:
    """L_w / L for every weight of ``layer`` of the network ``theta: (P,)``.

    Returns (D, H) for W1 (rows = inputs, columns = hidden units) or (H, C) for W2.
    """
    mlp = objective.mlp
    shape = _layer_index(mlp, layer).shape
    base = objective.loss(theta[None, :])[0]
    ablated = objective.loss(ablated_copies(mlp, theta, layer))
    return (ablated / base).reshape(shape)


def relative_displacement(theta_start: np.ndarray, theta_end: np.ndarray) -> np.ndarray:
    """|w(T) - w(0)| / |w(0)| per parameter, (..., P); NaN where w(0) = 0 (the biases)."""
    start = np.asarray(theta_start, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(theta_end - start) / np.abs(start)
    out[start == 0] = np.nan
    return out
