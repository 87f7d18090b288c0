"""The network D -> H -> C (or D -> H1 -> ... -> HL -> C) on flat parameter vectors
(docs/method.md §1, §12).

Flat order (files, API, tests): W1 (D x H, row-major: input i -> hidden j at i*H + j),
b1 (H), W2 (H x C, row-major), b2 (C). For Iris with H = 10: P = 83, of which 70 weights.
So [W1; b1] is one (D + 1, H) matrix and [W2; b2] one (H + 1, C) matrix of theta. With L
hidden layers the same pattern continues: W1, b1, W2, b2, ..., W_{L+1}, b_{L+1}, with
P = sum over layers of (fan_in + 1) fan_out.

The network knows its layout, draws initial networks and runs forward (logits, predictions,
accuracy); the training loss and its gradient over fixed data are :mod:`core.engine.objective`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from core.arrays import BoolArray, FloatArray, IntArray, ScalarT
from core.config import ACTIVATIONS, INITS, OUTPUTS, check_hidden, hidden_widths
from core.engine.losses import ACTIVATION
from core.engine.objective import Objective
from core.validate import check_choice, check_int


@dataclass(frozen=True)
class MLP:
    """Architecture and activation of the network; knows the flat layout of theta.

    ``hidden`` is the width of the one hidden layer (the paper's network) or the widths of 2 to
    4 hidden layers, stored as ``core.config.RunConfig`` stores it (an int for one layer);
    ``widths`` is always the tuple, ``depth`` its length.
    """

    n_inputs: int = 4
    hidden: int | tuple[int, ...] = 10
    n_classes: int = 3
    activation: str = "sigmoid"
    output: str = "softmax"

    def __post_init__(self) -> None:
        check_int("n_inputs", self.n_inputs, low=1, high=100_000)
        object.__setattr__(self, "hidden", check_hidden(self.hidden))
        check_int("n_classes", self.n_classes, low=2, high=10_000)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("output", self.output, OUTPUTS)

    # ---- layout -------------------------------------------------------------
    @property
    def widths(self) -> tuple[int, ...]:
        """(H1, ..., HL): the widths of the hidden layers."""
        return hidden_widths(self.hidden)

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.widths)

    @property
    def sizes(self) -> tuple[int, ...]:
        """(D, H1, ..., HL, C): layer l + 1's weight matrix is (sizes[l], sizes[l + 1])."""
        return (self.n_inputs, *self.widths, self.n_classes)

    @cached_property
    def _offsets(self) -> tuple[int, ...]:
        """Starts of W1, b1, W2, b2, ..., W_{L+1}, b_{L+1} in theta, then P."""
        offsets, at = [0], 0
        for fan_in, fan_out in pairwise(self.sizes):
            at += fan_in * fan_out
            offsets.append(at)  # b_l
            at += fan_out
            offsets.append(at)  # W_{l+1}, or P
        return tuple(offsets)

    @property
    def n_params(self) -> int:
        return self._offsets[-1]

    @property
    def n_weights(self) -> int:
        return sum(fan_in * fan_out for fan_in, fan_out in pairwise(self.sizes))

    @property
    def weight_names(self) -> tuple[str, ...]:
        """("W1", ..., "W{L+1}"): the weight matrices, input side first."""
        return tuple(f"W{i + 1}" for i in range(self.depth + 1))

    @property
    def layer_names(self) -> tuple[str, ...]:
        """("W1", "b1", ..., "W{L+1}", "b{L+1}"): the parts of theta in the order of ``views``."""
        return tuple(name for i in range(self.depth + 1) for name in (f"W{i + 1}", f"b{i + 1}"))

    def step_flops(self, n_samples: int) -> int:
        """FLOPs of the loss and gradient of one network on ``n_samples`` rows, counting the
        products only: for each weight matrix (a, b), 2 N a b forward and 2 N a b for its
        gradient, and 2 N a b for the error sent back below it (none below W1). One hidden
        layer: 4 N D H + 6 N H C."""
        products = [fan_in * fan_out for fan_in, fan_out in pairwise(self.sizes)]
        return 2 * n_samples * (2 * sum(products) + sum(products[1:]))

    @cached_property
    def weight_mask(self) -> BoolArray:
        """(P,) bool: True on the entries of the weight matrices, False on biases."""
        o = self._offsets
        mask = np.zeros(self.n_params, dtype=bool)
        for w_start, b_start in zip(o[0:-1:2], o[1::2], strict=True):
            mask[w_start:b_start] = True
        return mask

    def views(self, theta: npt.NDArray[ScalarT]) -> tuple[npt.NDArray[ScalarT], ...]:
        """Layer views of ``theta: (..., P)``: W1 (..., D, H), b1 (..., H), W2 (..., H, C), b2 (..., C)
        for one hidden layer; W1, b1, ..., W_{L+1}, b_{L+1} (``layer_names``) for L."""
        o, lead = self._offsets, theta.shape[:-1]
        parts: list[npt.NDArray[ScalarT]] = []
        for i, (fan_in, fan_out) in enumerate(pairwise(self.sizes)):
            parts.append(theta[..., o[2 * i] : o[2 * i + 1]].reshape(*lead, fan_in, fan_out))
            parts.append(theta[..., o[2 * i + 1] : o[2 * i + 2]])
        return tuple(parts)

    def blocks(self, theta: npt.NDArray[ScalarT]) -> tuple[npt.NDArray[ScalarT], ...]:
        """[W_l; b_l] of ``theta: (..., P)`` as (..., fan_in + 1, fan_out) views, l = 1 .. L + 1
        (each weight matrix is followed by its bias in theta)."""
        o, lead = self._offsets, theta.shape[:-1]
        return tuple(
            theta[..., o[2 * i] : o[2 * i + 2]].reshape(*lead, fan_in + 1, fan_out)
            for i, (fan_in, fan_out) in enumerate(pairwise(self.sizes))
        )

    def init(self, rng: np.random.Generator, n: int, scheme: str = "normal") -> FloatArray:
        """(n, P) initial networks: weights N(0, 1) ("normal") or Glorot-uniform; biases 0.
        "normal" draws all weights at once, W1 first; Glorot layer by layer."""
        check_choice("init", scheme, INITS)
        theta = np.zeros((n, self.n_params))
        matrices = self.views(theta)[0::2]
        if scheme == "normal":
            weights = rng.standard_normal((n, self.n_weights))
            at = 0
            for w in matrices:
                w[...] = weights[:, at : at + w[0].size].reshape(w.shape)
                at += w[0].size
        else:
            for w in matrices:
                fan_in, fan_out = w.shape[1:]
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                w[...] = rng.uniform(-limit, limit, size=w.shape)
        return theta

    # ---- forward ------------------------------------------------------------
    def hidden_activity(
        self, theta: FloatArray, x_t: FloatArray, out: FloatArray | None = None, layer: int = 0
    ) -> FloatArray:
        """(K, P), inputs of hidden layer ``layer`` (0: the data, (D, N); else (K, H_layer, N))
        -> that layer's outputs (K, H, N), written into ``out`` if given."""
        parts = self.views(theta)
        w, b = parts[2 * layer], parts[2 * layer + 1]
        a = np.matmul(w.transpose(0, 2, 1), x_t, out=out)
        a += b[:, :, None]
        return ACTIVATION[self.activation][0](a)

    def logits(self, theta: FloatArray, x: FloatArray) -> FloatArray:
        """(K, P), (N, D) -> output pre-activations (K, N, C)."""
        theta = np.atleast_2d(theta)
        w, b = self.views(theta)[-2:]
        with np.errstate(all="ignore"):
            a = np.ascontiguousarray(x.T)
            for layer in range(self.depth):
                a = self.hidden_activity(theta, a, layer=layer)
            z = np.matmul(w.transpose(0, 2, 1), a) + b[:, :, None]
        logits: FloatArray = z.transpose(0, 2, 1)
        return logits

    def predict(self, theta: FloatArray, x: FloatArray) -> IntArray:
        """(K, P), (N, D) -> predicted labels (K, N)."""
        labels: IntArray = self.logits(theta, x).argmax(axis=-1)
        return labels

    def accuracy(self, theta: FloatArray, x: FloatArray, y: IntArray) -> FloatArray:
        """(K, P) -> fraction of rows classified correctly, (K,); NaN when there are no rows."""
        if len(y) == 0:
            return np.full(np.atleast_2d(theta).shape[0], np.nan)
        accuracy: FloatArray = (self.predict(theta, x) == y).mean(axis=-1)
        return accuracy

    def objective(
        self, x: FloatArray, y: IntArray, l2: float = 0.0, *, threads: int = 1, engine: str = "auto"
    ) -> Objective:
        """The training loss on (x, y) as a callable for :func:`core.engine.training.descend`."""
        return Objective(self, x, y, l2, threads=threads, engine=engine)
