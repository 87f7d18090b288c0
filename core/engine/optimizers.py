"""The update rules beside plain gradient descent, in PyTorch's conventions (docs/method.md §11).

Each turns the gradient g_t of step t (the L2 term already in it, as PyTorch's
``weight_decay``) into the direction d_t of the step theta_{t+1} = theta_t - eta d_t:

- ``gd``:       d = g.
- ``momentum``: torch.optim.SGD(momentum=beta): b_1 = g_0, b_{t+1} = beta b_t + g_t; d = b.
- ``nesterov``: the same buffer, d = g + beta b (SGD(momentum=beta, nesterov=True)).
- ``adam``:     torch.optim.Adam(betas=(beta, beta2), eps=adam_eps): m = beta m + (1 - beta) g,
                v = beta2 v + (1 - beta2) g^2, d = m_hat / (sqrt(v_hat) + eps) with the
                bias corrections m_hat = m / (1 - beta^(t+1)), v_hat = v / (1 - beta2^(t+1)).

The state (buffers) is per row, so a reference and its copies each carry their own; every
row starts from zero state, as a fresh PyTorch optimizer does.

``stability_threshold`` gives, for each rule, the largest curvature of a quadratic on which it
is stable (the edge of stability of docs/method.md §6 and §11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.arrays import FloatArray
from core.validate import check_choice, check_float

# each update rule and the constants it reads (momentum is Adam's beta1)
CONSTANTS: dict[str, tuple[str, ...]] = {
    "gd": (),
    "momentum": ("momentum",),
    "nesterov": ("momentum",),
    "adam": ("momentum", "beta2", "adam_eps"),
}
OPTIMIZERS = tuple(CONSTANTS)
WITH_MOMENTUM = tuple(name for name, used in CONSTANTS.items() if "momentum" in used)


@dataclass(frozen=True)
class Threshold:
    """The sharpness above which an update rule's step is unstable: ``value`` (None: none to
    compare with the loss Hessian's), its formula ``label`` (as a figure prints it), a ``note``."""

    value: float | None
    label: str
    note: str = ""


def stability_threshold(optimizer: str, eta: float, beta: float = 0.9) -> Threshold:
    """The largest curvature a at which ``optimizer`` at learning rate eta (and momentum beta) is
    still stable on the quadratic a x^2 / 2 (PyTorch's conventions, as the rules above).

    With g = a x and h = eta a, each rule is a linear map of its state; it is stable while its
    multipliers z (eigenvalues) lie inside the unit circle, and the threshold is where one
    reaches it. For z^2 + c1 z + c0 that is |c0| < 1, p(1) > 0 and p(-1) > 0 (Jury).

    - gd: x' = (1 - h) x, z = 1 - h: stable for h < 2, threshold 2/eta.
    - momentum (heavy ball): b' = beta b + a x, x' = x - eta b'. On (x, b) the map
      [[1 - h, -eta beta], [a, beta]] has p(z) = z^2 - (1 + beta - h) z + beta; p(1) = h,
      p(-1) = 2 + 2 beta - h, |c0| = beta < 1: threshold (2 + 2 beta)/eta.
    - nesterov: b' = beta b + a x, x' = x - eta (a x + beta b')
      = (1 - h (1 + beta)) x - eta beta^2 b. On (x, b) the map
      [[1 - h (1 + beta), -eta beta^2], [a, beta]] has trace (1 + beta)(1 - h) and determinant
      beta (1 - h), so p(z) = z^2 - (1 + beta)(1 - h) z + beta (1 - h). Then p(1) = h > 0,
      p(-1) = 1 + (1 + 2 beta)(1 - h) > 0 iff h < (2 + 2 beta)/(1 + 2 beta), and |c0| < 1 iff
      h < 1 + 1/beta, a weaker bound (1 + 2 beta > beta). The threshold, where z = -1, is
      (2 + 2 beta)/((1 + 2 beta) eta): 2/eta at beta = 0, 4/(3 eta) as beta -> 1, and
      1.36/eta at beta = 0.9, below GD's 2/eta.
    - adam: the step is preconditioned by 1/(sqrt(v) + eps), so its threshold, (2 + 2 beta)/((1 -
      beta) eta) (38/eta at beta = 0.9; Cohen et al. 2022, "Adaptive gradient methods at the edge
      of stability"), bounds the preconditioned sharpness, not the loss Hessian's: no value.

    tests/core/engine/test_optimizers_thresholds.py checks the known values, and
    tests/dashboard/page/test_optimizer_controls.py builds each map from this module's own step
    and checks that its multipliers reach modulus 1 at eta a = threshold.
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    eta = check_float("eta", eta, low=0.0, high=float("inf"))
    beta = _beta("beta", beta)
    if optimizer == "gd":
        return Threshold(2.0 / eta, "2/η")
    if optimizer == "momentum":
        return Threshold((2.0 + 2.0 * beta) / eta, "(2 + 2β)/η")
    if optimizer == "nesterov":
        return Threshold((2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * eta), "(2 + 2β)/((1 + 2β)η)")
    adam = (2.0 + 2.0 * beta) / ((1.0 - beta) * eta)
    note = (
        f"Adam's threshold (2 + 2β1)/((1 − β1)η) = {adam:.4g} bounds the preconditioned sharpness "
        "(Cohen et al. 2022), not the sharpness of H itself"
    )
    return Threshold(None, "", note)


def _beta(name: str, value: object) -> float:
    """A decay rate in [0, 1)."""
    number = check_float(name, value, low=0.0, high=float("inf"), low_inclusive=True)
    if number >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


@dataclass(frozen=True)
class Optimizer:
    """An update rule and its constants; ``state(K, P)`` makes the per-run buffers."""

    name: str = "gd"
    momentum: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8

    def __post_init__(self) -> None:
        check_choice("optimizer", self.name, OPTIMIZERS)
        object.__setattr__(self, "momentum", _beta("momentum", self.momentum))
        object.__setattr__(self, "beta2", _beta("beta2", self.beta2))
        object.__setattr__(self, "adam_eps", check_float("adam_eps", self.adam_eps, low=0.0, high=1.0))

    def state(self, n_rows: int, n_params: int) -> OptimizerState:
        return OptimizerState(self, n_rows, n_params)


GD = Optimizer()


class OptimizerState:
    """The buffers of one run: ``direction(t, grad)`` is d_t (a (K, P) array owned by the state)."""

    def __init__(self, optimizer: Optimizer, n_rows: int, n_params: int) -> None:
        self.optimizer = optimizer
        shape = (n_rows, n_params)
        self.first = np.zeros(shape) if optimizer.name != "gd" else None  # b, or Adam's m
        self.second = np.zeros(shape) if optimizer.name == "adam" else None  # Adam's v
        self.out = np.zeros(shape) if optimizer.name in ("nesterov", "adam") else None

    def direction(self, t: int, grad: FloatArray) -> FloatArray:
        opt = self.optimizer
        if opt.name == "gd":
            return grad
        beta, b = opt.momentum, self.first
        assert b is not None
        if opt.name in ("momentum", "nesterov"):
            if t == 0:
                b[...] = grad  # PyTorch's first step: the buffer is the gradient
            else:
                b *= beta
                b += grad
            if opt.name == "momentum":
                return b
            assert self.out is not None
            np.multiply(b, beta, out=self.out)
            self.out += grad
            return self.out
        v, out = self.second, self.out
        assert v is not None and out is not None
        b *= beta
        b += (1.0 - beta) * grad
        v *= opt.beta2
        v += (1.0 - opt.beta2) * grad * grad
        m_hat = b / (1.0 - beta ** (t + 1))
        v_hat = v / (1.0 - opt.beta2 ** (t + 1))
        np.divide(m_hat, np.sqrt(v_hat) + opt.adam_eps, out=out)
        return out
