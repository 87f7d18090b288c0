"""Adam's preconditioner along a training, for its preconditioned sharpness (docs/method.md §14).

Cohen et al. 2022 ("Adaptive gradient methods at the edge of stability", arXiv 2207.14484,
§2) write Adam's step t (0-based here; their t is ours + 1) as
theta_{t+1} = theta_t - eta P_t^{-1} m_t, with the uncorrected first moment m_t and the
preconditioner

    P_t = (1 - beta1^(t+1)) diag(sqrt(v_hat_t) + eps),   v_hat_t = v_t / (1 - beta2^(t+1)),

which is PyTorch's update m_hat / (sqrt(v_hat) + eps) (core.engine.optimizers) rewritten:
m_hat = m / (1 - beta1^(t+1)). With P frozen, Adam on a quadratic with Hessian H is heavy-ball
momentum in its EMA form (m' = beta1 m + (1 - beta1) g) on the curvatures of P^{-1} H, stable
while the *preconditioned sharpness* lambda_max(P^{-1} H) stays below

    (2 + 2 beta1) / ((1 - beta1) eta)      (38/eta at beta1 = 0.9),

the threshold of ``core.engine.optimizers.stability_threshold`` for Adam
(:func:`preconditioned_threshold`). P_t is the preconditioner of the step *from* theta_t:
its v_t includes the gradient g_t at theta_t (the step's mini-batch gradient with batches).

:class:`AdamPreconditioners` records P_t of one row along a ``descend`` call: the objective to
hand it (``carry`` of core.experiments.stability.run_stability), which accumulates v from the
gradients the training itself computes; the eigenvalue is
:func:`core.analysis.hessian.preconditioned_sharpness`.
"""

from __future__ import annotations

import numpy as np

from core.arrays import FloatArray, IntArray
from core.engine.optimizers import Optimizer
from core.engine.training import MiniBatches, Objective
from core.validate import check_float, check_int


def preconditioned_threshold(eta: float, beta1: float) -> float:
    """(2 + 2 beta1) / ((1 - beta1) eta): the largest preconditioned sharpness at which Adam
    with a frozen preconditioner is stable (EMA heavy ball: with h = eta a the map of
    (x, m) has p(z) = z^2 - (1 + beta1 - (1 - beta1) h) z + beta1, and p(-1) = 0 at that h)."""
    eta = check_float("eta", eta, low=0.0, high=float("inf"))
    beta1 = check_float("beta1", beta1, low=0.0, high=1.0, low_inclusive=True)
    if beta1 >= 1.0:
        raise ValueError(f"beta1 must be in [0, 1), got {beta1!r}")
    return (2.0 + 2.0 * beta1) / ((1.0 - beta1) * eta)


def adam_preconditioner(second_moment: FloatArray, step: int, optimizer: Optimizer) -> FloatArray:
    """P_t (..., P), the diagonal of Adam's preconditioner of step ``step`` (0-based) from its
    uncorrected second moment v_t (..., P): (1 - beta1^(t+1)) (sqrt(v_t / (1 - beta2^(t+1))) + eps)."""
    check_int("step", step, low=0, high=10**12)
    if optimizer.name != "adam":
        raise ValueError(f"the preconditioner is Adam's, got optimizer {optimizer.name!r}")
    v_hat = np.asarray(second_moment, dtype=np.float64) / (1.0 - optimizer.beta2 ** (step + 1))
    diagonal: FloatArray = (1.0 - optimizer.momentum ** (step + 1)) * (np.sqrt(v_hat) + optimizer.adam_eps)
    return diagonal


class AdamPreconditioners:
    """The objective to hand ``descend`` (K rows): it returns ``objective``'s results unchanged
    and, from the gradient of row ``row`` at each call t (the step's mini-batch gradient with
    ``batches``), accumulates Adam's second moment as the training does and keeps P_t at every
    ``every``-th call and at the last. Call t is at theta_t: ``descend``'s T steps, then its
    evaluation of theta_T (whose P_T is that of the step Adam would take next)."""

    def __init__(
        self, objective: Objective, optimizer: Optimizer, every: int, batches: MiniBatches | None = None, row: int = 0
    ) -> None:
        if optimizer.name != "adam":
            raise ValueError(f"the preconditioner is Adam's, got optimizer {optimizer.name!r}")
        self.objective, self.optimizer, self.batches = objective, optimizer, batches
        self.every = check_int("every", every, low=1, high=10**12)
        self.row = check_int("row", row, low=0, high=10**12)
        self.calls = 0
        self.second: FloatArray | None = None  # (P,) v of the row
        self.kept: dict[int, FloatArray] = {}
        self.last: tuple[int, FloatArray] | None = None

    def __call__(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        t = self.calls
        self.calls += 1
        result = self.objective(theta)
        if self.batches is None:
            grad = result[1][self.row]
        else:  # the step's batch gradient, as descend takes it
            grad = self.batches.at(t)(theta[self.row : self.row + 1])[1][0]
        if self.second is None:
            self.second = np.zeros(grad.shape)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging row: NaN from then on
            self.second *= self.optimizer.beta2  # the arithmetic of OptimizerState.direction
            self.second += (1.0 - self.optimizer.beta2) * grad * grad
            diagonal = adam_preconditioner(self.second, t, self.optimizer)
        if t % self.every == 0:
            self.kept[t] = diagonal
        self.last = (t, diagonal)
        return result

    def at(self, steps: IntArray) -> FloatArray:
        """(S, P) P_t at the iterations ``steps`` (S,), each kept (a multiple of ``every``, or
        the last call); ValueError for one that is not."""
        found = []
        for step in np.asarray(steps, dtype=np.int64).ravel():
            if int(step) in self.kept:
                found.append(self.kept[int(step)])
            elif self.last is not None and self.last[0] == step:
                found.append(self.last[1])
            else:
                raise ValueError(f"no preconditioner kept at step {int(step)} (every {self.every}, {self.calls} calls)")
        return np.array(found, dtype=np.float64).reshape(len(found), -1)


class PreconditionerCarry:
    """``carry`` for core.experiments.stability.run_stability: wraps the training's objective in
    an :class:`AdamPreconditioners` of the reference (row 0) and keeps it as ``carrier``."""

    def __init__(self, optimizer: Optimizer, every: int) -> None:
        self.optimizer, self.every = optimizer, every
        self.carrier: AdamPreconditioners | None = None

    def __call__(self, objective: Objective, batches: MiniBatches | None) -> AdamPreconditioners:
        self.carrier = AdamPreconditioners(objective, self.optimizer, self.every, batches)
        return self.carrier
