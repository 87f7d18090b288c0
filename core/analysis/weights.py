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

With more hidden layers the same holds of the weights into the last hidden layer (its input
the layer below's outputs instead of x) and of the output layer; a weight further down moves
one unit, then the next layer's pre-activations by a rank-1 term, and the layers above it are
computed again for each weight, batched.

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

LAYERS = ("W1", "W2")  # the one-hidden-layer network's; MLP.weight_names in general
# The (B, C, N) block of ablated logits, reused for every block of B weights; the other work
# arrays are (B, N) (or (B, H, N) between the hidden layers of a deeper network). CPU time of
# W1 on the Digits preset (C N = 14,380), min of 6 on 2 busy cores: 0.28 s at 0.5 MiB, 0.24 at
# 1, 0.23 at 2, 0.22 at 4, 0.25 at 8, 0.29 at 16.
ABLATION_BLOCK_BYTES = 4 * 2**20


def _layer_number(mlp: MLP, layer: str) -> int:
    """0 for W1, ..., L for W_{L+1}, the output layer's weights."""
    if layer not in mlp.weight_names:
        raise ValueError(f"layer must be one of {', '.join(mlp.weight_names)}; got {layer!r}")
    return mlp.weight_names.index(layer)


def _layer_index(mlp: MLP, layer: str) -> IntArray:
    """Flat positions of the layer's weights, shaped like the layer: (fan_in, fan_out)."""
    index: IntArray = mlp.views(np.arange(mlp.n_params))[2 * _layer_number(mlp, layer)]
    return index


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

    ``layer`` is one of ``objective.mlp.weight_names`` (W1, W2 for one hidden layer). Returns
    the layer's shape: (D, H) for W1 (rows = inputs, columns = hidden units), (H, C) for the
    output layer; equal to the objective's loss of each ablated copy up to rounding (module
    docstring).
    """
    mlp = objective.mlp
    number = _layer_number(mlp, layer)
    index = _layer_index(mlp, layer)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (mlp.n_params,):
        raise ValueError(f"theta must have shape ({mlp.n_params},), got {theta.shape}")
    parts = mlp.views(theta)
    weights = parts[2 * number]
    x_t, n = objective.x_t, objective.x_t.shape[1]
    true_index = objective.onehot_t.argmax(axis=0) * n + np.arange(n)  # (N,) z[y_s, s] in a (C, N) block
    loss_of = _softmax_loss if mlp.output == "softmax" else _legacy_loss
    widest = max((mlp.n_classes, *mlp.sizes[number + 2 : -1]))  # C, or a wider layer computed again above
    block = max(1, ABLATION_BLOCK_BYTES // (8 * widest * max(n, 1)))
    z = np.empty((min(block, index.size), mlp.n_classes, n))  # (B, C, N), reused
    out = np.empty(index.size)
    with np.errstate(all="ignore"):  # a non-finite network gives non-finite losses, as the objective does
        pre, hidden, logits = _forward(mlp, theta, x_t)
        inputs = [x_t, *hidden]  # what each weight matrix multiplies
        for lo in range(0, index.size, block):
            flat = np.arange(lo, min(lo + block, index.size))  # (B,) positions in the layer
            rows, cols = np.divmod(flat, weights.shape[1])
            zb, w = z[: flat.size], weights[rows, cols]
            if number == mlp.depth:  # the output layer
                _w2_logits(zb, hidden[-1], logits, w, rows, cols)
            elif number == mlp.depth - 1:  # the last hidden layer: a rank-1 change of the logits
                _w1_logits(zb, pre[-1], hidden[-1], logits, inputs[number], w, rows, cols, parts[-2], mlp.activation)
            else:
                _deep_logits(zb, mlp, parts, number, pre, inputs, w, rows, cols)
            out[lo : lo + flat.size] = loss_of(zb, true_index)
        if objective.l2:  # the objective's 0.5 l2 |weights|^2, less the ablated weight's share
            squares = np.einsum("p,p->", theta * mlp.weight_mask, theta * mlp.weight_mask)
            out += 0.5 * objective.l2 * (squares - weights.ravel() ** 2)
    return out.reshape(index.shape)


def _forward(mlp: MLP, theta: FloatArray, x_t: FloatArray) -> tuple[list[FloatArray], list[FloatArray], FloatArray]:
    """Pre-activations u (H, N) and outputs act(u) (H, N) of each hidden layer, and the logits
    (C, N), of ``theta: (P,)``."""
    parts = mlp.views(theta)
    pre: list[FloatArray] = []
    hidden: list[FloatArray] = []
    a = x_t
    for layer in range(mlp.depth):
        w, b = parts[2 * layer], parts[2 * layer + 1]
        pre.append(w.T @ a + b[:, None])
        a = ACTIVATION[mlp.activation][0](pre[-1].copy())
        hidden.append(a)
    w, b = parts[-2:]
    return pre, hidden, w.T @ a + b[:, None]


def _deep_logits(
    z: FloatArray,
    mlp: MLP,
    parts: tuple[FloatArray, ...],
    number: int,
    pre: list[FloatArray],
    inputs: list[FloatArray],
    w: FloatArray,
    rows: IntArray,
    cols: IntArray,
) -> None:
    """Logits (B, C, N) into ``z`` with W_{number+1}[rows[b], cols[b]] (= w[b]) set to 0 in block
    row b, for a weight below the last hidden layer: the unit it feeds moves (as in
    ``_w1_logits``), the next layer's pre-activations by a rank-1 term, and every layer above
    is computed again, (B, H, N) at a time."""
    forward = ACTIVATION[mlp.activation][0]
    moved = pre[number][cols] - inputs[number][rows] * w[:, None]  # (B, N)
    forward(moved)
    moved -= inputs[number + 1][cols]  # (B, N): change of the unit's output
    above = parts[2 * number + 2]  # (H_this, H_next)
    u = pre[number + 1][None] + above[cols][:, :, None] * moved[:, None, :]  # (B, H_next, N)
    for layer in range(number + 1, mlp.depth):
        a = forward(u)
        w_next, b_next = parts[2 * layer + 2], parts[2 * layer + 3]
        u = np.matmul(w_next.T, a, out=z if layer + 1 == mlp.depth else None)
        u += b_next[:, None]


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
    """Logits (B, C, N) into ``z`` with W1[rows[b], cols[b]] (= w[b]) set to 0 in block row b
    (with more hidden layers: the weights into the last, ``x_t`` the layer below's outputs)."""
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

    Returns (D, H) for W1 (rows = inputs, columns = hidden units) or (H, C) for W2 (any of
    ``objective.mlp.weight_names``, shaped like it, with more hidden layers).
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
