"""Exact Hessian-vector products of the network's loss by the R-operator (docs/method.md §10).

Pearlmutter (1994, "Fast exact multiplication by the Hessian") differentiates the gradient's
own computation along a direction v: R{f} = d/dr f(theta + r v) at r = 0, applied to every
quantity of the forward and backward passes. With a_0 = x, z_l = W_l^T a_{l-1} + b_l,
a_l = f(z_l) for the hidden layers, logits z and softmax s, the loss's error at the logits
e = (s - Y) / N, and going down e_l = f'(z_l) * g_l with g_l = W_{l+1} e_{l+1}:

    forward   R{z_l} = V_l^T a_{l-1} + c_l + W_l^T R{a_{l-1}}   (R{a_0} = 0)
              R{a_l} = f'(z_l) R{z_l}
    output    R{e}   = s * (R{z} - sum_c s_c R{z}_c) / N
    backward  R{grad of [W_l; b_l]} = [R{a_{l-1}}; 0] e_l^T + [a_{l-1}; 1] R{e_l}^T
              R{e_l} = f'(z_l) (V_{l+1} e_{l+1} + W_{l+1} R{e_{l+1}}) + f''(z_l) R{z_l} g_l

(V_l, c_l: the direction's entries for W_l, b_l). H v is then the gradient's R-derivative,
plus l2 v on the weights (the L2 term's Hessian). It is exact up to rounding, not a central
difference of the gradient (``core.analysis.hessian.hessian_vector_product``: error ~1e-10 of
the product's scale from the difference step), and k directions share one forward and
backward pass at theta: all of them go through each layer in one batched matrix product.
In multiply-adds a product costs about 1.2 gradients on digits (the two products with the
input layer, X V_1 and X^T R{e_1}, dominate, as X W_1 and X^T e_1 dominate the gradient),
against 2 gradients for a central difference.

The derivatives of the activations are functions of their outputs a: tanh f' = 1 - a^2,
f'' = -2 a f'; sigmoid f' = a (1 - a), f'' = f' (1 - 2 a); relu f' = [a > 0], f'' = 0.

The samples are taken in blocks (the products are sums over samples) sized so that the
(k, width, block) work arrays stay in a core's cache, and reused from block to block: memory
does not grow with the data set, and on digits ten products take ~15 ms (CPU time, one
thread) against ~21 ms in one block of all 1,437 samples and ~23 ms by central differences
(20 gradients of ~1.2 ms). BLAS runs on one thread, as everywhere in the core (on two threads
OpenBLAS is slower on these products and rounds differently). A diverging network's products
are inf or nan, as its gradient is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core.arrays import FloatArray
from core.engine.losses import ACTIVATION
from core.engine.model import MLP
from core.engine.objective import blas_controller

# The cost of k products in gradient rows of the same network (a spectrum job's price): the
# pass at theta, and each direction's R-pass (digits, k = 10, one thread: 15 ms against a
# gradient's 1.2 ms, ~1.15 rows a direction; ~1.2 by multiply-adds).
PASS_ROWS, DIRECTION_ROWS = 1.0, 1.2
WORK_ELEMENTS = 160_000  # k x width x samples of a pass: (k, H, B) arrays of ~1.3 MB stay in L2


def supports(objective: object) -> bool:
    """Whether ``objective`` is a network's softmax cross-entropy loss whose data this module can
    read (the lab's ``Objective``: ``mlp``, ``x_t``, ``onehot_t``, ``l2``)."""
    mlp = getattr(objective, "mlp", None)
    return (
        isinstance(mlp, MLP)
        and mlp.output == "softmax"
        and all(hasattr(objective, name) for name in ("x_t", "onehot_t", "l2"))
    )


def product_rows(k: int) -> int:
    """The cost of ``k`` products at one theta, in gradient rows of the same network."""
    return math.ceil(PASS_ROWS + DIRECTION_ROWS * k)


def _slopes(activation: str, a: FloatArray) -> tuple[FloatArray, FloatArray]:
    """f'(z) and f''(z) / f'(z) as functions of the output a = f(z) (0 where f' is: relu)."""
    if activation == "tanh":
        return 1.0 - a * a, -2.0 * a
    if activation == "sigmoid":
        return a * (1.0 - a), 1.0 - 2.0 * a
    return (a > 0.0).astype(np.float64), np.zeros_like(a)  # relu


def _with_ones(a: FloatArray) -> FloatArray:
    """[a; 1] (H + 1, B): a row of ones under the activations, for the bias."""
    return np.vstack([a, np.ones((1, a.shape[1]))])


class _Arena:
    """Work arrays shared by the blocks of samples of one call: a flat buffer per name, as large
    as its first (largest) request, handed out as contiguous views of the shape asked. Freed
    and allocated again a block, such arrays cost page faults each time (glibc maps arrays
    above ~128 kB afresh): 27 ms a product at k = 10 on digits, 15 ms reused."""

    def __init__(self) -> None:
        self._buffers: dict[object, FloatArray] = {}

    def take(self, name: object, shape: tuple[int, ...]) -> FloatArray:
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.empty(size)
        return buffer[:size].reshape(shape)


def _add_block(
    mlp: MLP,
    weights: Sequence[FloatArray],
    down: Sequence[FloatArray],
    across: Sequence[FloatArray],
    x_t: FloatArray,
    y_t: FloatArray,
    n: int,
    grads: Sequence[FloatArray],
    work: _Arena,
) -> None:
    """grads (k, in + 1, out) per block += the R-derivative of the gradient of the samples
    ``x_t: (D, B)`` (one-hot ``y_t: (C, B)``) of a loss averaged over ``n`` samples.
    ``weights``: [W_l; b_l] (in + 1, out); ``down``: the directions' blocks as (k out, in + 1),
    for the forward products; ``across``: [V_l, W_l] (k, in, 2 out), each direction's weight
    rows beside the network's, for the backward. The products with the k directions stacked are
    one matrix product each, on (k, H, B) arrays of ``work``."""
    k = grads[0].shape[0]
    inputs = [_with_ones(x_t)]  # [a_{l-1}; 1] (in + 1, B), a_0 = x
    r_inputs: list[FloatArray | None] = [None]  # R{a_{l-1}} (k, in, B); R{a_0} = 0
    slopes = []
    for layer, w in enumerate(weights):
        z = w.T @ inputs[-1]  # (out, B)
        shape = (k, len(z), z.shape[1])
        r = np.matmul(down[layer], inputs[-1], out=work.take(("r", layer), shape).reshape(-1, shape[2])).reshape(shape)
        if r_inputs[-1] is not None:  # (k, out, B): V_l^T a + c_l, + W_l^T R{a_{l-1}}
            r += np.matmul(w[:-1].T, r_inputs[-1], out=work.take("product", shape))
        if layer == mlp.depth:  # the logits
            z -= z.max(axis=0)
            s = np.exp(z)
            s /= s.sum(axis=0)
            error = (s - y_t) / n  # (C, B)
            r -= np.einsum("cb,kcb->kb", s, r)[:, None, :]
            r *= s / n  # R{e} (k, C, B)
            break
        a = ACTIVATION[mlp.activation][0](z)
        first, ratio = _slopes(mlp.activation, a)
        slopes.append((first, ratio))
        inputs.append(_with_ones(a))
        r *= first
        r_inputs.append(r)  # R{a_l} = f'(z_l) R{z_l}
    r_error = r
    for layer in range(mlp.depth, -1, -1):  # block layer + 1, from the output down
        out = r_error.shape[1]
        stacked = inputs[layer] @ r_error.reshape(-1, r_error.shape[2]).T  # (in + 1, k out): [a; 1] R{e}^T
        grads[layer] += stacked.reshape(-1, k, out).transpose(1, 0, 2)
        r_below = r_inputs[layer]
        if r_below is None:
            break
        grads[layer][:, :-1] += (r_below.reshape(-1, r_below.shape[2]) @ error.T).reshape(k, -1, out)  # [R{a}; 0] e^T
        w = weights[layer][:-1]  # (H, out)
        g = w @ error  # (H, B): the error sent below, before the slope
        errors = work.take("errors", (k, 2 * out, g.shape[1]))  # [e_{l+1}; R{e_{l+1}}] of each direction
        errors[:, :out] = error
        errors[:, out:] = r_error
        r_g = np.matmul(across[layer], errors, out=work.take(("g", layer), (k, *g.shape)))  # [V, W] [e; R{e}]
        first, ratio = slopes[layer - 1]
        r_g *= first  # f' (V e + W R{e}) ...
        ratio *= g
        r_below *= ratio  # ... + f'' R{z} g = (f'' / f') R{a} g
        r_g += r_below
        r_error, error = r_g, first * g


def hessian_vector_products(objective: object, theta: FloatArray, v: FloatArray) -> FloatArray:
    """H v at ``theta: (P,)`` for the k columns of ``v: (P, k)`` (or one ``v: (P,)``), exact by the
    R-operator; the objective must be one that :func:`supports`. Not finite where the
    network's gradient is not."""
    assert supports(objective), "the R-operator needs the lab's softmax objective"
    mlp: MLP = objective.mlp  # type: ignore[attr-defined]
    x_t: FloatArray = objective.x_t  # type: ignore[attr-defined]
    onehot_t: FloatArray = objective.onehot_t  # type: ignore[attr-defined]
    l2: float = objective.l2  # type: ignore[attr-defined]
    theta = np.asarray(theta, dtype=np.float64)
    rows = np.ascontiguousarray(np.reshape(v, (len(theta), -1)).T)  # (k, P)
    n = x_t.shape[1]
    directions, weights = mlp.blocks(rows), mlp.blocks(theta)  # (k, in + 1, out), (in + 1, out)
    down = [d.transpose(0, 2, 1).reshape(-1, d.shape[1]) for d in directions]  # (k out, in + 1)
    across = [  # [V_l, W_l] (k, in, 2 out): each direction's weights beside the network's
        np.concatenate([d[:, :-1], np.broadcast_to(w[:-1], d[:, :-1].shape)], axis=2)
        for d, w in zip(directions, weights, strict=True)
    ]
    product = np.zeros_like(rows)
    grads = list(mlp.blocks(product))  # views, added into in place
    step = max(16, WORK_ELEMENTS // (len(rows) * max(mlp.sizes[1:])))  # samples a pass
    work = _Arena()
    with np.errstate(all="ignore"), blas_controller().limit(limits=1, user_api="blas"):
        for lo in range(0, n, step):
            block = slice(lo, min(lo + step, n))
            _add_block(mlp, weights, down, across, x_t[:, block], onehot_t[:, block], n, grads, work)
        if l2:
            product += l2 * rows * mlp.weight_mask
    result: FloatArray = product.T.reshape(np.shape(v))
    return result
