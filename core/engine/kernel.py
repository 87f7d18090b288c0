"""Compiled loss and gradient of the shallow network (numba): the engine's hot path.

The same mathematics as the NumPy reference in :class:`core.engine.objective.Objective`, which the
tests hold this kernel to, computed one network (row of theta) at a time:

- every loop over the N data rows is innermost and contiguous, so LLVM emits AVX2 vector
  code for it, sums over N included. The input and class counts D and C are compiled in
  (the data come as tuples of rows), so the short loops over them unroll and one pass over
  N does all their work. ``fastmath`` is limited to reassociation and FMA contraction and
  errors follow NumPy (no ZeroDivisionError checks, which kept divisions scalar): no
  ``nnan``/``ninf``, so a network that overflows still produces inf or NaN and the engine
  still sees it diverge;
- exp is computed here (Cody-Waite reduction, a degree-13 polynomial evaluated in a
  shallow tree, scaling by 2^k built from exponent bits), because libm's scalar exp took
  half the run time on the AVX2 machine it was written on (AMD EPYC without AVX-512, where
  NumPy's SIMD exp does not apply; later machines of this project have AVX-512, and the
  polynomial still vectorises inside the kernel's fused loops). It is within 2 ulp of
  NumPy's, inf above 709.78, 0 (through subnormals) below -745.13, NaN for NaN (tested).
  Rounding uses ``np.floor`` (a float, one vroundpd), never
  ``math.floor``: in numba that returns an int64, and the scalar float-int-float
  conversions kept every loop calling exp scalar (5.1 ns an element, now 1.9). Loops that
  call it hold no log or branch, which LLVM leaves scalar.

Each row is computed alone, in the same order whatever else is in the batch, so results
do not depend on batching or on how rows are split over threads or processes; and the
kernels are compiled for one target, x86-64-v3 (AVX2, 256-bit vectors), on every machine
that has it (core.engine.numba_cache), so they do not depend on the machine either: with
the host's own target the vectorised sums followed its vector width. The kernel
releases the GIL, so :class:`core.engine.objective.Objective` can split the rows over threads.
Hidden layers: sigmoid, tanh, ReLU. Output: softmax (the default); the legacy sigmoid
output stays on the NumPy path. ``softmax_loss_grad`` is the paper's one hidden layer;
``deep_softmax_loss_grad`` takes 1 to 4 (docs/method.md §12) and is used from two on, so the
one-layer network keeps its kernel, bits and speed. Both inline one output block,
``_softmax_cross_entropy`` (numba inlines it into each, so it compiles as the code it replaced:
the outputs of both kernels were checked unchanged bit for bit, docs/performance.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from core.arrays import FloatArray, IntArray
from core.engine.numba_cache import ensure_writable_cache

# The kernels below are compiled with cache=True, and numba refuses to decorate one whose
# cache directory it cannot write: point numba (not the environment) at a writable one first.
ensure_writable_cache()

if TYPE_CHECKING:
    from numba.core.typing.templates import Signature

# the code generator an @intrinsic returns: (context, builder, signature, args) -> LLVM value
Codegen: TypeAlias = Callable[[object, ir.IRBuilder, "Signature", list[ir.Value]], ir.Value]

FASTMATH = {"reassoc", "contract"}  # vectorised sums and FMA; IEEE NaN and inf kept
SIGMOID, TANH, RELU = 0, 1, 2
ACTIVATION_CODE = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU}

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_X_MAX = 710.0  # exp(710) overflows to inf
_X_MIN = -746.0  # exp(-746) underflows to 0
_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(14))  # |r| <= ln2/2: truncation < 1e-17
_SHIFTER = 6755399441055744.0  # 1.5 * 2^52: x + _SHIFTER holds the integer x in its low bits
_SHIFTER_BITS = int(np.float64(_SHIFTER).view(np.int64))
_LOG_CHUNK = 32


@intrinsic
def _bits_to_float(typingctx: object, i: types.Type) -> tuple[Signature, Codegen]:
    """Reinterpret an int64 as the float64 with those bits."""

    def codegen(context: object, builder: ir.IRBuilder, signature: Signature, args: list[ir.Value]) -> ir.Value:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float_to_bits(typingctx: object, f: types.Type) -> tuple[Signature, Codegen]:
    """Reinterpret a float64 as the int64 with its bits."""

    def codegen(context: object, builder: ir.IRBuilder, signature: Signature, args: list[ir.Value]) -> ir.Value:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@nb.njit(cache=True, fastmath=FASTMATH, inline="always")
def _pow2(k: float) -> float:
    """2.0 ** k for a whole float k in [-1022, 1023], from the exponent bits."""
    # numba's @intrinsic passes typingctx itself: compiled code calls these with the value only,
    # which numba's stub (the Python signature, typingctx included) does not know
    return _bits_to_float((_float_to_bits(k + _SHIFTER) - _SHIFTER_BITS + 1023) << 52)  # type: ignore[call-arg]


@nb.njit(cache=True, fastmath=FASTMATH, inline="always")
def exp(x: float) -> float:
    """exp(x) for float64 x; vectorises inside loops."""
    xc = x if x > _X_MIN else _X_MIN  # NaN -> _X_MIN here, restored at the end
    xc = xc if xc < _X_MAX else _X_MAX
    k = np.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    c = _TAYLOR
    r2 = r * r
    r4 = r2 * r2
    low = (c[0] + c[1] * r + (c[2] + c[3] * r) * r2) + (c[4] + c[5] * r + (c[6] + c[7] * r) * r2) * r4
    high = (c[8] + c[9] * r + (c[10] + c[11] * r) * r2) + (c[12] + c[13] * r) * r4
    p = low + high * (r4 * r4)
    half = np.floor(k * 0.5)  # 2^k = 2^half * 2^(k - half): both normal for k in [-1076, 1024]
    y = p * _pow2(half) * _pow2(k - half)
    return y if x == x else x


@nb.njit(cache=True, fastmath=FASTMATH)
def exp_array(x: FloatArray, out: FloatArray) -> None:
    """``out[i] = exp(x[i])`` for 1-d float64 arrays (for tests and benchmarks)."""
    for i in range(x.size):
        out[i] = exp(x[i])


@nb.njit(cache=True, fastmath=FASTMATH, inline="always")
def _softmax_cross_entropy(
    z: FloatArray, onehots: tuple[FloatArray, ...], top: FloatArray, true_shift: FloatArray, bias_grad: FloatArray
) -> tuple[float, float]:
    """The output block of both kernels, for one network: logits ``z`` (C, N) in, d loss / d z
    = (softmax - onehot) / N out in their place, the output bias's gradient (C,) into
    ``bias_grad``; returns (mean cross-entropy, accuracy). ``top`` and ``true_shift`` (N,) are
    work rows. Inlined by numba into each kernel, so its loops compile (and vectorise) in place."""
    c, n = len(onehots), z.shape[1]
    inv_n = 1.0 / n
    # shifted by the max over classes; true_shift = z_y - max z: 0 iff the true class wins
    for s in range(n):
        best, true = z[0, s], onehots[0][s] * z[0, s]
        for m in range(1, c):
            v = z[m, s]
            best = v if v > best else best
            true += onehots[m][s] * v
        top[s], true_shift[s] = best, true - best
    for m in range(c):
        for s in range(n):
            z[m, s] = exp(z[m, s] - top[s])
    for s in range(n):
        total = 0.0
        for m in range(c):
            total += z[m, s]
        top[s] = total  # in [1, C] for a finite row
    # sum_s log(total_s) as logs of products of 32: 4 scalar logs instead of N (they
    # were ~15% of the kernel); each product <= C^32, so no overflow for C <= 10^9
    sum_log = 0.0
    for lo in range(0, n, _LOG_CHUNK):
        product = 1.0
        for s in range(lo, min(lo + _LOG_CHUNK, n)):
            product *= top[s]
        sum_log += math.log(product)
    sum_true, right = 0.0, 0.0
    for s in range(n):
        sum_true += true_shift[s]
        right += 1.0 if true_shift[s] >= 0.0 else 0.0
        top[s] = inv_n / top[s]
    # d loss / d z = (softmax - onehot) / N
    for m in range(c):
        acc, om = 0.0, onehots[m]
        for s in range(n):
            v = z[m, s] * top[s] - om[s] * inv_n
            z[m, s] = v
            acc += v
        bias_grad[m] = acc
    return (sum_log - sum_true) * inv_n, right * inv_n


@nb.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")
def softmax_loss_grad(
    theta: FloatArray,
    xs: tuple[FloatArray, ...],
    onehots: tuple[FloatArray, ...],
    activation: int,
    loss: FloatArray,
    grad: FloatArray,
    accuracy: FloatArray,
) -> None:
    """Mean softmax cross-entropy, its gradient and the accuracy of every row of theta.

    theta (K, P) in the flat layout of :mod:`core.engine.model`; ``xs`` the D input features and
    ``onehots`` the C one-hot label indicators, each a tuple of (N,) arrays: as tuples,
    D and C are known when the kernel is compiled (one compilation per data shape), so
    the short loops over them unroll and each pass over the N rows does all their work.
    ``activation`` is a code of ACTIVATION_CODE. Writes loss (K,), grad (K, P), accuracy (K,).
    """
    n_rows, n_params = theta.shape
    d, c, n = len(xs), len(onehots), xs[0].size
    h = (n_params - c) // (d + 1 + c)  # P = D H + H + H C + C
    o_b1, o_w2, o_b2 = d * h, d * h + h, d * h + h + h * c
    a = np.empty((h, n))  # hidden outputs
    z = np.empty((c, n))  # logits, then exp(z - max), then d loss / d z
    top = np.empty(n)  # max over classes, then sum_m exp(z_m - max), then 1 / (N times that)
    true_shift = np.empty(n)  # z_y - max z: 0 iff the true class wins
    da = np.empty(n)  # d loss / d (pre-activation of one hidden unit)
    is_sigmoid = 1.0 if activation == SIGMOID else 0.0
    is_tanh = 1.0 if activation == TANH else 0.0
    is_relu = 1.0 if activation == RELU else 0.0
    for k in range(n_rows):
        th, g = theta[k], grad[k]
        # hidden layer: a_j = act(b1_j + sum_i W1_ij x_i)
        for j in range(h):
            aj, b = a[j], th[o_b1 + j]
            for s in range(n):
                v = b
                for i in range(d):
                    v += th[i * h + j] * xs[i][s]
                aj[s] = v
            if activation == SIGMOID:
                for s in range(n):
                    aj[s] = 1.0 / (1.0 + exp(-aj[s]))
            elif activation == TANH:
                for s in range(n):
                    aj[s] = math.tanh(aj[s])
            else:
                for s in range(n):
                    v = aj[s]
                    aj[s] = 0.0 if v <= 0.0 else v  # NaN stays NaN
        # logits z_m = b2_m + sum_j W2_jm a_j
        for m in range(c):
            b = th[o_b2 + m]
            for s in range(n):
                z[m, s] = b
        for j in range(h):
            aj, wj = a[j], o_w2 + j * c
            for s in range(n):
                v = aj[s]
                for m in range(c):
                    z[m, s] += th[wj + m] * v
        # softmax cross-entropy; z becomes d loss / d z, and the output bias's gradient is written
        loss[k], accuracy[k] = _softmax_cross_entropy(z, onehots, top, true_shift, g[o_b2 : o_b2 + c])
        # back through the hidden layer, one unit at a time
        for j in range(h):
            aj, wj = a[j], o_w2 + j * c
            acc_b = 0.0
            for s in range(n):
                v = 0.0
                for m in range(c):
                    v += th[wj + m] * z[m, s]
                av = aj[s]  # the slope act'(pre-activation) from a, without branches
                v *= is_sigmoid * (av * (1.0 - av)) + is_tanh * (1.0 - av * av) + is_relu * (1.0 if av > 0.0 else 0.0)
                da[s] = v
                acc_b += v
            g[o_b1 + j] = acc_b
            for i in range(d):
                acc, xi = 0.0, xs[i]
                for s in range(n):
                    acc += xi[s] * da[s]
                g[i * h + j] = acc
            for m in range(c):
                acc = 0.0
                for s in range(n):
                    acc += aj[s] * z[m, s]
                g[wj + m] = acc


@nb.njit(cache=True, fastmath=FASTMATH, inline="always")
def _activate(row: FloatArray, activation: int) -> None:
    """The hidden activation in place over one unit's (N,) pre-activations."""
    n = row.size
    if activation == SIGMOID:
        for s in range(n):
            row[s] = 1.0 / (1.0 + exp(-row[s]))
    elif activation == TANH:
        for s in range(n):
            row[s] = math.tanh(row[s])
    else:
        for s in range(n):
            v = row[s]
            row[s] = 0.0 if v <= 0.0 else v  # NaN stays NaN


@nb.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")
def deep_softmax_loss_grad(
    theta: FloatArray,
    xs: tuple[FloatArray, ...],
    onehots: tuple[FloatArray, ...],
    widths: IntArray,
    activation: int,
    loss: FloatArray,
    grad: FloatArray,
    accuracy: FloatArray,
) -> None:
    """``softmax_loss_grad`` for L hidden layers of ``widths: (L,)`` units (docs/method.md §12).

    The same mathematics and data layout; the first hidden layer and the logits are computed
    as there (D and C compiled in), the layers between them unit by unit, each unit's (N,)
    row accumulated from the rows of the layer below. Backward, the error of each hidden
    layer is kept whole ((H, N) per layer) because the layer below needs all of it; each
    weight's gradient and its share of the error sent down are one fused pass over N.
    """
    n_rows, n_params = theta.shape
    d, c, n = len(xs), len(onehots), xs[0].size
    depth = widths.size
    sizes = np.empty(depth + 2, dtype=np.int64)  # (D, H1, ..., HL, C)
    sizes[0], sizes[depth + 1] = d, c
    sizes[1 : depth + 1] = widths
    w_at = np.empty(depth + 1, dtype=np.int64)  # start of W_{l+1} in theta; its bias follows
    unit_at = np.zeros(depth + 1, dtype=np.int64)  # first row of hidden layer l + 1 in acts
    at = 0
    for layer in range(depth + 1):
        w_at[layer] = at
        at += (sizes[layer] + 1) * sizes[layer + 1]
    for layer in range(depth):
        unit_at[layer + 1] = unit_at[layer] + widths[layer]
    acts = np.empty((unit_at[depth], n))  # every hidden layer's outputs, first layer first
    deltas = np.empty((unit_at[depth], n))  # d loss / d pre-activation of each hidden unit
    z = np.empty((c, n))
    top = np.empty(n)
    true_shift = np.empty(n)
    is_sigmoid = 1.0 if activation == SIGMOID else 0.0
    is_tanh = 1.0 if activation == TANH else 0.0
    is_relu = 1.0 if activation == RELU else 0.0
    h1, last = widths[0], unit_at[depth - 1]
    h_last, o_out = widths[depth - 1], w_at[depth]
    o_b_out = o_out + h_last * c
    for k in range(n_rows):
        th, g = theta[k], grad[k]
        # first hidden layer from the data, as softmax_loss_grad
        for j in range(h1):
            aj, b = acts[j], th[d * h1 + j]
            for s in range(n):
                v = b
                for i in range(d):
                    v += th[i * h1 + j] * xs[i][s]
                aj[s] = v
            _activate(aj, activation)
        # hidden layers 2..L: a_j = act(b_j + sum_i W_ij a_i), row by row
        for layer in range(1, depth):
            h_in, h_out, o_w = widths[layer - 1], widths[layer], w_at[layer]
            o_b, below, here = o_w + h_in * h_out, unit_at[layer - 1], unit_at[layer]
            for j in range(h_out):
                aj, b = acts[here + j], th[o_b + j]
                for s in range(n):
                    aj[s] = b
                for i in range(h_in):
                    w, ai = th[o_w + i * h_out + j], acts[below + i]
                    for s in range(n):
                        aj[s] += w * ai[s]
                _activate(aj, activation)
        # logits z_m = b_m + sum_j W_jm a_j of the last hidden layer
        for m in range(c):
            b = th[o_b_out + m]
            for s in range(n):
                z[m, s] = b
        for j in range(h_last):
            aj, wj = acts[last + j], o_out + j * c
            for s in range(n):
                v = aj[s]
                for m in range(c):
                    z[m, s] += th[wj + m] * v
        # softmax cross-entropy, as softmax_loss_grad
        loss[k], accuracy[k] = _softmax_cross_entropy(z, onehots, top, true_shift, g[o_b_out : o_b_out + c])
        # into the last hidden layer: its error, its bias's gradient, the output weights'
        o_b_last = w_at[depth - 1] + sizes[depth - 1] * h_last
        for j in range(h_last):
            aj, dj, wj = acts[last + j], deltas[last + j], o_out + j * c
            acc_b = 0.0
            for s in range(n):
                v = 0.0
                for m in range(c):
                    v += th[wj + m] * z[m, s]
                av = aj[s]
                v *= is_sigmoid * (av * (1.0 - av)) + is_tanh * (1.0 - av * av) + is_relu * (1.0 if av > 0.0 else 0.0)
                dj[s] = v
                acc_b += v
            g[o_b_last + j] = acc_b
            for m in range(c):
                acc = 0.0
                for s in range(n):
                    acc += aj[s] * z[m, s]
                g[wj + m] = acc
        # down through the hidden layers: W_ij's gradient and the error sent to unit i together
        for layer in range(depth - 1, 0, -1):
            h_in, h_out, o_w = widths[layer - 1], widths[layer], w_at[layer]
            below, here = unit_at[layer - 1], unit_at[layer]
            o_b_below = w_at[layer - 1] + sizes[layer - 1] * h_in
            for i in range(h_in):
                ai, di = acts[below + i], deltas[below + i]
                for s in range(n):
                    di[s] = 0.0
                for j in range(h_out):
                    dj, w = deltas[here + j], th[o_w + i * h_out + j]
                    acc = 0.0
                    for s in range(n):
                        v = dj[s]
                        acc += ai[s] * v
                        di[s] += w * v
                    g[o_w + i * h_out + j] = acc
                acc_b = 0.0
                for s in range(n):
                    av = ai[s]
                    v = di[s] * (
                        is_sigmoid * (av * (1.0 - av))
                        + is_tanh * (1.0 - av * av)
                        + is_relu * (1.0 if av > 0.0 else 0.0)
                    )
                    di[s] = v
                    acc_b += v
                g[o_b_below + i] = acc_b
        # the first layer's weights from the data
        for j in range(h1):
            dj = deltas[j]
            for i in range(d):
                acc, xi = 0.0, xs[i]
                for s in range(n):
                    acc += xi[s] * dj[s]
                g[i * h1 + j] = acc


@nb.njit(cache=True, nogil=True, error_model="numpy")
def record_and_step(
    t: int,
    theta: FloatArray,
    grad: FloatArray,
    loss: FloatArray,
    accuracy: FloatArray,
    reference: IntArray,
    l1: bool,
    rate: FloatArray,
    diverged_at: IntArray,
    records: FloatArray,
    path_length: FloatArray,
) -> None:
    """One step of :func:`core.engine.training.descend` after the gradient, for every row k:

    records[:, t, k] = loss, accuracy, distance to row reference[k] (L1, or L2 if not
    ``l1``), ||theta_k||_1; a row whose loss or parameters are not finite gets
    diverged_at[k] = t and rate[k] = 0 (frozen); then theta_k -= rate[k] grad_k and
    path_length_k += |rate[k] grad_k|. ``records`` is (4, T + 1, K).
    """
    n_rows, n_params = theta.shape
    for k in range(n_rows):
        th, ref = theta[k], theta[reference[k]]
        dist, norm, finite = 0.0, 0.0, math.isfinite(loss[k])
        for p in range(n_params):
            v = th[p]
            diff = v - ref[p]
            dist += abs(diff) if l1 else diff * diff
            norm += abs(v)
            finite = finite and math.isfinite(v)
        records[0, t, k] = loss[k]
        records[1, t, k] = accuracy[k]
        records[2, t, k] = dist if l1 else math.sqrt(dist)
        records[3, t, k] = norm
        if not finite and diverged_at[k] == -1:
            diverged_at[k] = t
            rate[k] = 0.0
    for k in range(n_rows):
        th, g, path, eta = theta[k], grad[k], path_length[k], rate[k]
        for p in range(n_params):
            step = eta * g[p]
            th[p] -= step
            path[p] += abs(step)
