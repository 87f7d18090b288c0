"""The shallow network D -> H -> C on flat parameter vectors (docs/method.md §1).

Flat order (files, API, tests): W1 (D x H, row-major: input i -> hidden j at i*H + j),
b1 (H), W2 (H x C, row-major), b2 (C). For Iris with H = 10: P = 83, of which 70 weights.
So [W1; b1] is one (D + 1, H) matrix and [W2; b2] one (H + 1, C) matrix of theta.

The network knows its layout, draws initial networks and runs forward (logits, predictions,
accuracy); the training loss and its gradient over fixed data are :mod:`core.engine.objective`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from core.arrays import BoolArray, FloatArray, IntArray, ScalarT
from core.config import ACTIVATIONS, INITS, OUTPUTS
from core.engine.losses import ACTIVATION
from core.engine.objective import Objective
from core.validate import check_choice, check_int


@dataclass(frozen=True)
class MLP:
    """Architecture and activation of the network; knows the flat layout of theta."""

    n_inputs: int = 4
    hidden: int = 10
    n_classes: int = 3
    activation: str = "sigmoid"
    output: str = "softmax"

    def __post_init__(self) -> None:
        check_int("n_inputs", self.n_inputs, low=1, high=100_000)
        check_int("hidden", self.hidden, low=1, high=1024)
        check_int("n_classes", self.n_classes, low=2, high=10_000)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("output", self.output, OUTPUTS)

    # ---- layout -------------------------------------------------------------
    @cached_property
    def _offsets(self) -> tuple[int, int, int, int, int]:
        d, h, c = self.n_inputs, self.hidden, self.n_classes
        return (0, d * h, d * h + h, d * h + h + h * c, d * h + h + h * c + c)

    @property
    def n_params(self) -> int:
        return self._offsets[-1]

    @property
    def n_weights(self) -> int:
        return self.hidden * (self.n_inputs + self.n_classes)

    def step_flops(self, n_samples: int) -> int:
        """FLOPs of the loss and gradient of one network on ``n_samples`` rows, counting the
        products only: 2 N H D forward and 2 N H D for the gradient of W1, 2 N H C for the
        logits, the gradient of W2 and the backpropagated error each: 4 N D H + 6 N H C."""
        return 2 * n_samples * self.hidden * (2 * self.n_inputs + 3 * self.n_classes)

    @cached_property
    def weight_mask(self) -> BoolArray:
        """(P,) bool: True on the entries of W1 and W2, False on biases."""
        o = self._offsets
        mask = np.zeros(self.n_params, dtype=bool)
        mask[o[0] : o[1]] = True
        mask[o[2] : o[3]] = True
        return mask

    def views(
        self, theta: npt.NDArray[ScalarT]
    ) -> tuple[npt.NDArray[ScalarT], npt.NDArray[ScalarT], npt.NDArray[ScalarT], npt.NDArray[ScalarT]]:
        """Layer views of ``theta: (..., P)``: W1 (..., D, H), b1 (..., H), W2 (..., H, C), b2 (..., C)."""
        o, lead = self._offsets, theta.shape[:-1]
        d, h, c = self.n_inputs, self.hidden, self.n_classes
        return (
            theta[..., o[0] : o[1]].reshape(*lead, d, h),
            theta[..., o[1] : o[2]],
            theta[..., o[2] : o[3]].reshape(*lead, h, c),
            theta[..., o[3] : o[4]],
        )

    def init(self, rng: np.random.Generator, n: int, scheme: str = "normal") -> FloatArray:
        """(n, P) initial networks: weights N(0, 1) ("normal") or Glorot-uniform; biases 0."""
        check_choice("init", scheme, INITS)
        theta = np.zeros((n, self.n_params))
        w1, _, w2, _ = self.views(theta)
        if scheme == "normal":
            weights = rng.standard_normal((n, self.n_weights))
            w1[...] = weights[:, : w1[0].size].reshape(w1.shape)
            w2[...] = weights[:, w1[0].size :].reshape(w2.shape)
        else:
            for w, (fan_in, fan_out) in ((w1, w1.shape[1:]), (w2, w2.shape[1:])):
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                w[...] = rng.uniform(-limit, limit, size=w.shape)
        return theta

    # ---- forward ------------------------------------------------------------
    def hidden_activity(self, theta: FloatArray, x_t: FloatArray, out: FloatArray | None = None) -> FloatArray:
        """(K, P), (D, N) -> hidden outputs (K, H, N), written into ``out`` if given."""
        w1, b1, _, _ = self.views(theta)
        a = np.matmul(w1.transpose(0, 2, 1), x_t, out=out)
        a += b1[:, :, None]
        return ACTIVATION[self.activation][0](a)

    def logits(self, theta: FloatArray, x: FloatArray) -> FloatArray:
        """(K, P), (N, D) -> output pre-activations (K, N, C)."""
        theta = np.atleast_2d(theta)
        _, _, w2, b2 = self.views(theta)
        with np.errstate(all="ignore"):
            a = self.hidden_activity(theta, np.ascontiguousarray(x.T))
            z = np.matmul(w2.transpose(0, 2, 1), a) + b2[:, :, None]
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
