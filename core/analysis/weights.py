"""Which weights matter (docs/method.md §5).

Ablation: on a trained network, set one weight w_ij to 0 and recompute the training loss
L_w; the map L_w / L over a layer (rows = inputs, columns = units) shows the weights whose
removal hurts.

Every L_w comes from the one forward pass of the unablated network, because zeroing one
weight changes little of it. With pre-activations u = x W1 + b1 (N, H), hidden outputs
h = act(u) and logits z = h W2 + b2 (N, C):

- zeroing W1[i, j] moves only unit j: u'_j = u_j - x_i W1[i, j], and the logits by the
  rank-1 term z' = z + (act(u'_j) - h_j) W2[j, :];
- zeroing W2[j, k] moves only logit k: z'_k = z_k - h_j W2[j, k].

The loss of z' is then the objective's own (softmax cross-entropy or the legacy sigmoid
output, :mod:`core.engine.losses`) plus its l2 term less 0.5 l2 w^2. Batched over the weights, in
blocks of ``ABLATION_BLOCK_BYTES``, it costs one output layer per weight instead of a whole
network. Both layers of the Digits preset's final network (64-64-10, 4,736 weights, 1,438
rows) take ~0.3 s and at most 7 MB, against ~5.5 s and 315 MB with one copy of theta per
weight (wall and CPU time alike, measured on 2 busy cores). ``_ablation_by_copies``, that
definition, is the tests' reference.

Displacement vs path length: per parameter, Delta_w = |w(T) - w(0)| / |w(0)| (how far it
ended up) against D_w = sum_t |w(t+1) - w(t)| (how far it travelled).
"""

from __future__ import annotations

import numpy as np

from core.arrays import FloatArray, IntArray
from core.engine.losses import ACTIVATION, LEGACY_CLIP
from core.engine.model import MLP
from core.engine.objective import Objective

LAYERS = ("W1", "W2")
# The (B, C, N) block of ablated logits, reused for every block of B weights; the other work
# arrays are (B, N). CPU time of W1 on the Digits preset (C N = 14,380), min of 6 on 2 busy
# cores: 0.28 s at 0.5 MiB, 0.24 at 1, 0.23 at 2, 0.22 at 4, 0.25 at 8, 0.29 at 16.
ABLATION_BLOCK_BYTES = 4 * 2**20


def _layer_index(mlp: MLP, layer: str) -> IntArray:
    """Flat positions of the layer's weights, shaped like the layer: (D, H) or (H, C)."""
    w1, _, w2, _ = mlp.views(np.arange(mlp.n_params))
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {layer!r}")
    return w1 if layer == "W1" else w2


def ablated_copies(mlp: MLP, theta: FloatArray, layer: str) -> FloatArray:
    """(P,) -> (n_layer_weights, P): row i is theta with the layer's i-th weight set to 0."""
    index = _layer_index(mlp, layer).ravel()
    copies = np.repeat(theta[None, :], index.size, axis=0)
    copies[np.arange(index.size), index] = 0.0
    return copies


def _ablation_by_copies(objective: Objective, theta: FloatArray, layer: str) -> FloatArray:
    """L_w by definition: the objective's loss of every ablated copy, shaped like the layer.
    The reference of :func:`ablated_loss` (memory: 8 P bytes per weight)."""
    shape = _layer_index(objective.mlp, layer).shape
    return objective.loss(ablated_copies(objective.mlp, theta, layer)).reshape(shape)


def ablated_loss(objective: Objective, theta: FloatArray, layer: str = "W1") -> FloatArray:
    """Training loss L_w with each weight w of ``layer`` set to 0, of the network ``theta: (P,)``.

    Returns (D, H) for W1 (rows = inputs, columns = hidden units) or (H, C) for W2; equal to
    the objective's loss of each ablated copy up to rounding (module docstring).
    """
    mlp = objective.mlp
    index = _layer_index(mlp, layer)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (mlp.n_params,):
        raise ValueError(f"theta must have shape ({mlp.n_params},), got {theta.shape}")
    w1, _, w2, _ = mlp.views(theta)
    weights = w1 if layer == "W1" else w2
    x_t, n = objective.x_t, objective.x_t.shape[1]
    true_index = objective.onehot_t.argmax(axis=0) * n + np.arange(n)  # (N,) z[y_s, s] in a (C, N) block
    loss_of = _softmax_loss if mlp.output == "softmax" else _legacy_loss
    block = max(1, ABLATION_BLOCK_BYTES // (8 * mlp.n_classes * max(n, 1)))
    z = np.empty((min(block, index.size), mlp.n_classes, n))  # (B, C, N), reused
    out = np.empty(index.size)
    with np.errstate(all="ignore"):  # a non-finite network gives non-finite losses, as the objective does
        pre, hidden, logits = _forward(mlp, theta, x_t)
        for lo in range(0, index.size, block):
            flat = np.arange(lo, min(lo + block, index.size))  # (B,) positions in the layer
            rows, cols = np.divmod(flat, weights.shape[1])
            zb = z[: flat.size]
            if layer == "W1":
                _w1_logits(zb, pre, hidden, logits, x_t, weights[rows, cols], rows, cols, w2, mlp.activation)
            else:
                _w2_logits(zb, hidden, logits, weights[rows, cols], rows, cols)
            out[lo : lo + flat.size] = loss_of(zb, true_index)
        if objective.l2:  # the objective's 0.5 l2 |weights|^2, less the ablated weight's share
            squares = np.einsum("p,p->", theta * mlp.weight_mask, theta * mlp.weight_mask)
            out += 0.5 * objective.l2 * (squares - weights.ravel() ** 2)
    return out.reshape(index.shape)


def _forward(mlp: MLP, theta: FloatArray, x_t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pre-activations u (H, N), hidden outputs act(u) (H, N) and logits (C, N) of ``theta: (P,)``."""
    w1, b1, w2, b2 = mlp.views(theta)
    pre = w1.T @ x_t + b1[:, None]
    hidden = ACTIVATION[mlp.activation][0](pre.copy())
    return pre, hidden, w2.T @ hidden + b2[:, None]


def _w1_logits(
    z: FloatArray,
    pre: FloatArray,
    hidden: FloatArray,
    logits: FloatArray,
    x_t: FloatArray,
    w: FloatArray,
    rows: IntArray,
    cols: IntArray,
    w2: FloatArray,
    activation: str,
) -> None:
    """Logits (B, C, N) into ``z`` with W1[rows[b], cols[b]] (= w[b]) set to 0 in block row b."""
    moved = pre[cols] - x_t[rows] * w[:, None]  # (B, N): u'_j = u_j - x_i W1[i, j]
    ACTIVATION[activation][0](moved)
    moved -= hidden[cols]  # (B, N): change of unit j's output
    np.multiply(w2[cols][:, :, None], moved[:, None, :], out=z)
    z += logits


def _w2_logits(
    z: FloatArray, hidden: FloatArray, logits: FloatArray, w: FloatArray, rows: IntArray, cols: IntArray
) -> None:
    """Logits (B, C, N) into ``z`` with W2[rows[b], cols[b]] (= w[b]) set to 0 in block row b."""
    z[...] = logits
    z[np.arange(w.size), cols] -= hidden[rows] * w[:, None]  # z'_k = z_k - h_j W2[j, k]


def _at_labels(z: FloatArray, true_index: IntArray) -> FloatArray:
    """(B, C, N) -> (B, N) z[b, y_s, s], C-ordered. (Fancy indexing ``z[:, y, arange(N)]``
    lays the result out N-major, and sums of its rows then depend on B in the last bit.)"""
    return np.take(z.reshape(z.shape[0], -1), true_index, axis=1)


def _softmax_loss(z: FloatArray, true_index: IntArray) -> FloatArray:
    """Mean softmax cross-entropy (B,) of logits ``z: (B, C, N)`` (overwritten), as
    :func:`core.engine.losses.softmax_ce_one` computes it, without the gradient."""
    n = z.shape[-1]
    z -= z.max(axis=1, keepdims=True)
    true_shifted = _at_labels(z, true_index)  # (B, N) z_y - max z
    total = np.exp(z, out=z).sum(axis=1)  # (B, N)
    loss: FloatArray = (np.log(total).sum(axis=1) - true_shifted.sum(axis=1)) / n
    return loss


def _legacy_loss(z: FloatArray, true_index: IntArray) -> FloatArray:
    """Mean loss (B,) of the legacy sigmoid output of ``z: (B, C, N)`` (overwritten), as
    :func:`core.engine.losses.legacy_sigmoid_ce` computes it, without the gradient."""
    clipped = np.clip(ACTIVATION["sigmoid"][0](z), LEGACY_CLIP, 1.0 - LEGACY_CLIP, out=z)
    total = clipped.sum(axis=1)  # (B, N)
    true = _at_labels(clipped, true_index)  # (B, N)
    loss: FloatArray = (np.log(total) - np.log(true)).mean(axis=-1)
    return loss


def ablation_ratio(objective: Objective, theta: FloatArray, layer: str = "W1") -> FloatArray:
    """L_w / L for every weight of ``layer`` of the network ``theta: (P,)``.

    Returns (D, H) for W1 (rows = inputs, columns = hidden units) or (H, C) for W2.
    """
    ratio: FloatArray = ablated_loss(objective, theta, layer) / objective.loss(theta[None, :])[0]
    return ratio


def relative_displacement(theta_start: FloatArray, theta_end: FloatArray) -> FloatArray:
    """|w(T) - w(0)| / |w(0)| per parameter, (..., P); NaN where w(0) = 0 (the biases)."""
    start = np.asarray(theta_start, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(theta_end - start) / np.abs(start)
    out[start == 0] = np.nan
    return out
