"""The training loss and its gradient over fixed data, batched over K networks
(:class:`Objective`, which :meth:`core.engine.model.MLP.objective` makes for a network).

The loss is the mean over the N training rows of the cross-entropy of softmax(z)
(``output="softmax"``), or of sigmoid outputs clipped to [1e-7, 1 - 1e-7] and normalised
to sum 1 (``output="legacy_sigmoid"``). Gradients are analytic and batched over K.

Three implementations of the loss and gradient, held to each other by the tests:

- ``engine="numpy"``: the reference. The hidden layer is laid out (K, H, N) and the output
  layer (K, C, N), so the reductions over N run along contiguous memory, and rows are
  processed in blocks of ``BLOCK`` networks so the work arrays stay in cache.
- ``engine="compiled"``: the numba kernel of :mod:`core.engine.kernel` (softmax output), fastest
  for small data (Iris: 2-3x the reference per network, measured).
- ``engine="blas"``: one network at a time, every product a DGEMM on the network's own
  (D + 1, H) and (H + 1, C) blocks of theta, biases included through a row of ones
  (``_blas_work``): for digits ~8x the compiled kernel, measured.
- ``engine="auto"`` (default): "blas" for inputs of ``BLAS_MIN_INPUTS`` features or more, or
  with tanh from ``BLAS_MIN_FLOPS`` FLOPs per network-step on, else "compiled"; a choice by
  the network and the shape of the data only.

Every engine takes 1 to 4 hidden layers (docs/method.md §12): the reference and the BLAS
engine layer by layer with the one-layer arithmetic in each (so the one-layer network's bits
are those it always had), the compiled engine with the one-layer kernel for one hidden layer
and ``kernel.deep_softmax_loss_grad`` for more.

``on_rows(rows)`` is the same loss over a subset of the training rows (a mini-batch of SGD,
docs/method.md §13), computed by the same engine: one objective per batch size is kept and
refilled with each batch's rows, so its work arrays and the kernel's shape carry over.

"compiled" falls back to the reference for the legacy sigmoid output, and every engine for
no rows. In every engine a row's arithmetic does not depend on which other rows share its
batch or thread: the BLAS engine never stacks networks into one GEMM, because OpenBLAS
rounds a row of a stacked product differently with the number of rows stacked (measured:
(k H, D) @ (D, N) for digits differs in the last bit between k = 1, 2 and 3), and it pins
BLAS to one thread, because OpenBLAS on two threads rounds differently again.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache, partial
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import ThreadpoolController

from core.arrays import FloatArray, IntArray
from core.engine import kernel
from core.engine.losses import ACTIVATION, legacy_sigmoid_ce, softmax_ce, softmax_ce_one
from core.validate import check_choice, check_int

if TYPE_CHECKING:
    from core.engine.model import MLP

# rows_fn(group, theta, loss, grad, accuracy) of Objective._in_groups: fills its rows' results
Rows = Callable[[int, FloatArray, FloatArray, FloatArray, FloatArray], None]

BLOCK = 32  # networks per block: (BLOCK, H, N) float64 work arrays fit in L2
ENGINES = ("compiled", "numpy", "blas", "auto")
MIN_ROWS_PER_THREAD = 4  # below this a thread hand-off costs more than it saves (compiled engine)
# When "auto" takes the BLAS engine rather than the compiled kernel. Measured (one thread,
# K = 8, random data; trajectory-steps/s BLAS / compiled): with D = 4 inputs the kernel wins
# for sigmoid and ReLU at every size tried (N 120-1438, H 10-64: 0.30-0.53); from D = 16 on BLAS
# wins (N 120-1438, H 10-64: 1.7-14, digits 64-64-10: 8-14). tanh is scalar in the kernel (no
# vectorised tanh), 3.6x slower than sigmoid there, so with tanh BLAS wins from ~100k FLOPs
# (N = 480, D = 4, H = 10, 163k FLOPs: 1.6) and loses below (Iris, 41k: 0.61).
BLAS_MIN_INPUTS = 16
BLAS_MIN_FLOPS = 100_000  # with tanh


def resolve_engine(engine: str, mlp: MLP, n_samples: int) -> str:
    """The engine that runs for ``engine`` on ``n_samples`` rows: "auto" takes "blas" from
    ``BLAS_MIN_INPUTS`` inputs on (or, with tanh, from ``BLAS_MIN_FLOPS`` FLOPs per network-step
    on), else "compiled"; "compiled" (softmax only) takes "numpy" for the legacy sigmoid output,
    and every engine takes it for no rows."""
    if n_samples == 0:
        return "numpy"
    if engine == "auto":
        wide = mlp.n_inputs >= BLAS_MIN_INPUTS
        tanh_heavy = mlp.activation == "tanh" and mlp.step_flops(n_samples) >= BLAS_MIN_FLOPS
        engine = "blas" if wide or tanh_heavy else "compiled"
    if engine == "compiled" and mlp.output != "softmax":
        return "numpy"
    return engine


class Objective:
    """Mean loss over fixed data; ``objective(theta)`` -> (loss (K,), grad (K, P), accuracy (K,)),
    and ``objective.reusing(K)``, the same into arrays kept across calls (descend's per step).

    ``engine`` as in the module docstring; ``self.engine`` is the one that runs.
    ``threads`` > 1 splits the rows of the compiled and BLAS engines over that many threads
    (both release the GIL in their heavy parts; BLAS itself stays on one thread, so a row's
    bits do not depend on the threads either). The NumPy and BLAS engines keep their work
    arrays between calls: fresh ones of that size (> 128 KiB) would come from mmap on every
    step, and the page faults measured up to 3x slower. So one objective serves one run at
    a time (it is not to be called from several threads at once); it pickles without its
    work arrays and threads. Its threads stop at :meth:`close` (``with mlp.objective(...)
    as objective:`` closes it), or else when it is collected.
    """

    def __init__(
        self, mlp: MLP, x: FloatArray, y: IntArray, l2: float = 0.0, *, threads: int = 1, engine: str = "auto"
    ) -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if x.ndim != 2 or x.shape != (len(y), mlp.n_inputs):
            raise ValueError(f"x must have shape (N, {mlp.n_inputs}) matching y, got {x.shape} and {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= mlp.n_classes):
            raise ValueError(f"labels must lie in [0, {mlp.n_classes}), got {y.min()}..{y.max()}")
        self.mlp, self.l2 = mlp, float(l2)
        self.threads = check_int("threads", threads, low=1, high=256)
        self.engine = resolve_engine(check_choice("engine", engine, ENGINES), mlp, len(y))
        self.y = y.copy()  # (N,)
        self.x = np.ascontiguousarray(x)  # (N, D)
        self.x_t = np.ascontiguousarray(x.T)  # (D, N)
        self.onehot_t = np.zeros((mlp.n_classes, len(y)))  # (C, N)
        self.onehot_t[y, np.arange(len(y))] = 1.0
        self._xs, self._onehots = tuple(self.x_t), tuple(self.onehot_t)  # the kernel's layout
        self._widths = None if mlp.depth == 1 else np.array(mlp.widths, dtype=np.int64)  # (L,) for the deep kernel
        self._code, self._n_params = kernel.ACTIVATION_CODE[mlp.activation], mlp.n_params  # read every call
        if self.engine == "blas":
            self.x1_t = np.vstack([self.x_t, np.ones(len(y))])  # (D + 1, N): a row of ones for the bias
            self.true_index = y * len(y) + np.arange(len(y))  # (N,) flat index of z[y_s, s] in (C, N)
        self._work: dict[object, Sequence[FloatArray]] = {}
        self._batches: dict[int, Objective] = {}  # on_rows's objective per batch size
        self._pool: ThreadPoolExecutor | None = None
        self._close_pool: weakref.finalize[..., Objective] | None = None

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_work": {}, "_batches": {}, "_pool": None, "_close_pool": None}

    def on_rows(self, rows: IntArray) -> Objective:
        """The loss over the training rows ``rows`` (B,) alone: an objective of this network,
        L2 penalty, engine and threads on x[rows], y[rows]. The one of each size B is kept and
        refilled, so it is valid until the next call with as many rows."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or rows.size == 0 or rows.min() < 0 or rows.max() >= len(self.y):
            raise ValueError(f"rows must be 1 or more indices into the {len(self.y)} training rows, got {rows!r}")
        batch = self._batches.get(rows.size)
        if batch is None:
            batch = Objective(self.mlp, self.x[rows], self.y[rows], self.l2, threads=self.threads, engine=self.engine)
            self._batches[rows.size] = batch
        else:
            batch._refill(self.x[rows], self.y[rows])
        return batch

    def _refill(self, x: FloatArray, y: IntArray) -> None:
        """Put the rows (x, y), as many as before, in place of this objective's data: every
        engine reads the arrays filled here (``_xs`` and ``_onehots`` are views of their rows)."""
        n = len(y)
        self.y[:] = y
        self.x[:] = x
        self.x_t[:] = x.T
        self.onehot_t[:] = 0.0
        self.onehot_t[y, np.arange(n)] = 1.0
        if self.engine == "blas":
            self.x1_t[:-1] = self.x_t
            self.true_index[:] = y * n + np.arange(n)

    def __enter__(self) -> Objective:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the threads of this objective and of its batches' (made again if called after)."""
        for batch in self._batches.values():
            batch.close()
        if self._close_pool is not None:
            self._close_pool()  # at most once per pool
        self._pool, self._close_pool = None, None

    def _threads(self) -> ThreadPoolExecutor:
        """The pool of ``threads`` threads, made on first use. An objective not closed (with
        ``with`` or :meth:`close`) has its pool shut down when it is collected, or at exit."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="objective")
            self._close_pool = weakref.finalize(self, self._pool.shutdown, wait=False)
        return self._pool

    def _buffers(self, k: int, layer: int = 0) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Three (k, H, N) work arrays of hidden layer ``layer`` (views of BLOCK-sized ones)."""
        key = "numpy" if layer == 0 else ("numpy", layer)
        if key not in self._work:
            shape = (BLOCK, self.mlp.widths[layer], self.x.shape[0])
            self._work[key] = (np.empty(shape), np.empty(shape), np.empty(shape))
        a, da, slope = self._work[key]
        return a[:k], da[:k], slope[:k]

    def __call__(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(K, P) -> loss (K,), gradient (K, P), training accuracy (K,): fresh arrays."""
        theta = self._checked(theta)
        k = theta.shape[0]
        loss, accuracy, grad = np.empty(k), np.empty(k), np.empty_like(theta)
        self._fill(theta, loss, grad, accuracy)
        return loss, grad, accuracy

    def reusing(self, n_rows: int) -> Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]]:
        """This objective for theta of ``n_rows`` rows, returning the same three arrays every
        call, overwritten by the next: for a caller that is done with one call's results before
        it makes the next, as descend is. It allocates nothing per call, and its path is chosen
        once, here: with the compiled engine, no L2 term and one thread's rows, the kernel alone
        (it calls no NumPy function: no error state to set). Same numbers as ``self(theta)``, bit for bit."""
        k = check_int("n_rows", n_rows, low=0, high=2**40)
        shape = (k, self._n_params)
        loss, grad, accuracy = np.empty(k), np.empty(shape), np.empty(k)
        results = (loss, grad, accuracy)
        one_kernel_call = self.engine == "compiled" and not self.l2 and self._n_groups(k, MIN_ROWS_PER_THREAD) == 1
        fill = partial(self._compiled_rows, 0) if one_kernel_call else self._fill

        def objective(theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
            theta = np.ascontiguousarray(theta, dtype=np.float64)
            if theta.shape != shape:  # the kernel does not check bounds
                raise ValueError(f"theta must have shape {shape}, got {theta.shape}")
            fill(theta, loss, grad, accuracy)
            return results

        return objective

    def _checked(self, theta: FloatArray) -> FloatArray:
        """theta as a C-contiguous float64 (K, P) array; ValueError for another shape."""
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        if theta.ndim != 2 or theta.shape[1] != self._n_params:  # the kernel does not check bounds
            raise ValueError(f"theta must have shape (K, {self._n_params}), got {theta.shape}")
        return theta

    def _fill(self, theta: FloatArray, loss: FloatArray, grad: FloatArray, accuracy: FloatArray) -> None:
        """The results of theta (K, P), checked, into loss (K,), grad (K, P), accuracy (K,)."""
        if self.engine == "compiled" and not self.l2:  # the kernel calls no NumPy function: no errstate (~1 us)
            self._in_groups(self._compiled_rows, MIN_ROWS_PER_THREAD, theta, loss, grad, accuracy)
            return
        with np.errstate(all="ignore"):  # overflow of a diverging row stays in that row
            if self.engine == "compiled":
                self._in_groups(self._compiled_rows, MIN_ROWS_PER_THREAD, theta, loss, grad, accuracy)
            elif self.engine == "blas":
                with blas_controller().limit(limits=1, user_api="blas"):  # ~10 us; as in descend
                    self._in_groups(self._blas_rows, 1, theta, loss, grad, accuracy)  # ~1 ms a row: worth a thread
            else:
                for lo in range(0, theta.shape[0], BLOCK):
                    rows = slice(lo, min(lo + BLOCK, theta.shape[0]))
                    loss[rows], accuracy[rows] = self._block(theta[rows], grad[rows])
            if self.l2:
                weights = theta * self.mlp.weight_mask
                loss += 0.5 * self.l2 * np.einsum("kp,kp->k", weights, weights)
                grad += self.l2 * weights

    def loss(self, theta: FloatArray) -> FloatArray:
        """(K, P) -> loss (K,)."""
        return self(np.atleast_2d(theta))[0]

    def _in_groups(
        self,
        rows_fn: Rows,
        min_rows: int,
        theta: FloatArray,
        loss: FloatArray,
        grad: FloatArray,
        accuracy: FloatArray,
    ) -> None:
        """``rows_fn(group, theta, loss, grad, accuracy)`` on up to ``threads`` contiguous
        groups of rows (of at least ``min_rows`` each), group 0 in this thread."""
        k = theta.shape[0]
        n_groups = self._n_groups(k, min_rows)
        if n_groups == 1:  # one thread's work: no slices (~1 us a call)
            rows_fn(0, theta, loss, grad, accuracy)
            return
        size = max(1, math.ceil(k / n_groups))
        groups = [slice(lo, min(lo + size, k)) for lo in range(0, k, size)] or [slice(0, 0)]
        futures: list[Future[None]] = []
        if len(groups) > 1:
            pool = self._threads()
            futures = [
                pool.submit(rows_fn, i, theta[g], loss[g], grad[g], accuracy[g])
                for i, g in enumerate(groups[1:], start=1)
            ]
        g = groups[0]
        rows_fn(0, theta[g], loss[g], grad[g], accuracy[g])
        for future in futures:
            future.result()

    def _n_groups(self, n_rows: int, min_rows: int) -> int:
        """Into how many groups :meth:`_in_groups` splits ``n_rows`` rows."""
        return max(1, min(self.threads, n_rows // min_rows))

    def _compiled_rows(
        self, group: int, theta: FloatArray, loss: FloatArray, grad: FloatArray, accuracy: FloatArray
    ) -> None:
        xs, onehots, code = self._xs, self._onehots, self._code
        if self._widths is None:  # the paper's one hidden layer keeps its own kernel
            kernel.softmax_loss_grad(theta, xs, onehots, code, loss, grad, accuracy)
        else:
            kernel.deep_softmax_loss_grad(theta, xs, onehots, self._widths, code, loss, grad, accuracy)

    def _blas_rows(
        self, group: int, theta: FloatArray, loss: FloatArray, grad: FloatArray, accuracy: FloatArray
    ) -> None:
        """The BLAS engine, one network (row) at a time; ``group`` names the work arrays.
        Layer by layer: a_l = act([W_l; b_l]^T [a_{l-1}; 1]) (a_0 = x), then back from the
        logits, each layer's error written over its outputs once they are no longer needed."""
        mlp, x1_t = self.mlp, self.x1_t
        if group not in self._work:
            self._work[group] = _blas_work(mlp.widths, mlp.n_classes, x1_t.shape[1])
        *layers, z = self._work[group]  # (a1, slope) per hidden layer; a1 = [a; ones] (H + 1, N)
        ones = [x1_t] + [layers[2 * i] for i in range(mlp.depth)]  # the inputs [a; 1] of each weight block
        outs = [a1[:-1] for a1 in ones[1:]]  # (H, N) hidden outputs
        slopes = layers[1::2]
        forward, derivative = ACTIVATION[mlp.activation]
        with np.errstate(all="ignore"):  # numpy's error state is per thread: set it in the pool's too
            for k in range(theta.shape[0]):
                blocks, g_blocks = mlp.blocks(theta[k]), mlp.blocks(grad[k])
                for block, inputs, a in zip(blocks, ones, outs, strict=False):
                    forward(np.matmul(block.T, inputs, out=a))  # (H, N) = act(W^T a_prev + b)
                np.matmul(blocks[-1].T, ones[-1], out=z)  # (C, N) logits
                loss[k], accuracy[k], delta = self._output(z)  # d loss / d z, (C, N)
                for layer in range(mlp.depth, 0, -1):  # the block of layer + 1 sits above hidden layer `layer`
                    np.matmul(ones[layer], delta.T, out=g_blocks[layer])  # (H + 1, C'): [a; 1] delta^T
                    a = outs[layer - 1]
                    derivative(a, out=slopes[layer - 1])
                    da = np.matmul(blocks[layer][:-1], delta, out=a)  # (H, N), over a: it is no longer needed
                    da *= slopes[layer - 1]
                    delta = da
                np.matmul(x1_t, delta.T, out=g_blocks[0])  # (D + 1, H1): [x; 1] delta^T

    def _output(self, z: FloatArray) -> tuple[float, float, FloatArray]:
        """Logits (C, N) of one network -> loss, accuracy, d loss / d z (C, N), maybe over z."""
        if self.mlp.output == "softmax":
            return softmax_ce_one(z, self.true_index)
        loss, accuracy, dz = legacy_sigmoid_ce(z[None], self.onehot_t)
        return loss[0], accuracy[0], dz[0]

    def _block(self, theta: FloatArray, grad: FloatArray) -> tuple[FloatArray, FloatArray]:
        mlp, k = self.mlp, theta.shape[0]
        buffers = [self._buffers(k, layer) for layer in range(mlp.depth)]  # (a, da, slope), (k, H, N) each
        parts, g_parts = mlp.views(theta), mlp.views(grad)
        inputs: list[FloatArray] = [self.x_t]  # a_0 = x (D, N), then each hidden layer's outputs
        for layer, (a, _, _) in enumerate(buffers):
            inputs.append(mlp.hidden_activity(theta, inputs[-1], out=a, layer=layer))
        w, b = parts[-2:]
        z = np.matmul(w.transpose(0, 2, 1), inputs[-1])  # (k, C, N)
        z += b[:, :, None]
        output = softmax_ce if mlp.output == "softmax" else legacy_sigmoid_ce
        loss, accuracy, delta = output(z, self.onehot_t)  # d loss / d z, (k, C, N)
        for layer in range(mlp.depth, -1, -1):  # weight matrix layer + 1, from the output down
            np.matmul(inputs[layer], delta.transpose(0, 2, 1), out=g_parts[2 * layer])  # (k, fan_in, fan_out)
            np.sum(delta, axis=-1, out=g_parts[2 * layer + 1])
            if layer:
                a, da, slope = buffers[layer - 1]
                np.matmul(parts[2 * layer], delta, out=da)
                da *= ACTIVATION[mlp.activation][1](a, out=slope)
                delta = da
        return loss, accuracy


@cache
def blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded, found once (threadpool_limits looks for them on every
    call: ~0.4 ms). The BLAS engine pins BLAS to one thread on every call, also outside
    :func:`core.engine.training.descend`: OpenBLAS on two threads rounds its products differently."""
    return ThreadpoolController()


def _blas_work(widths: tuple[int, ...], c: int, n: int) -> list[FloatArray]:
    """Work arrays of the BLAS engine: for each hidden layer [a; ones] (H + 1, N) and the
    slope (H, N); then z (C, N)."""
    work = []
    for h in widths:
        a1 = np.empty((h + 1, n))
        a1[h] = 1.0
        work += [a1, np.empty((h, n))]
    return [*work, np.empty((c, n))]
