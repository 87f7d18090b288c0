"""The Lyapunov spectrum of gradient descent from its tangent dynamics (docs/method.md §10).

One GD step theta -> theta - eta grad L(theta) (the gradient includes the L2 term) has the
Jacobian J_t = I - eta H_t, with H_t the Hessian of the training loss at theta_t. Tangent
vectors evolve as Q <- J_t Q. Starting from the first k unit vectors (deterministic and
comparable between runs), the product is re-orthonormalised by QR every ``every`` steps
(Benettin et al. 1980; Shimada and Nagashima 1979); the i-th exponent is the time average of
log |R_ii| per iteration (natural logarithm, the unit of the FTLE of §3):

    lambda_i = (1 / T) sum over the QR steps of log |R_ii|.

With k = P the sum of the exponents is exactly (1 / T) sum_t log |det J_t|, the average
volume contraction. The Kaplan-Yorke dimension is j + (lambda_1 + ... + lambda_j) /
|lambda_{j+1}|, j the largest index with a non-negative partial sum (a lower bound of the
full one when k < P and every computed partial sum is positive).

H_t Q is the exact Hessian times Q (central differences of the analytic gradient, one
objective call on 2P rows, ``core.analysis.hessian``) for small networks, or k
Hessian-vector products (one objective call on 2k rows) for large ones (``method``).

Momentum carries a buffer b, so its tangent space is (theta, b), of dimension 2P, and the
step's Jacobian acts on (dtheta, db) (PyTorch's conventions, core.engine.optimizers):

    heavy ball  b' = beta b + g,            theta' = theta - eta b'
                J = [[I - eta H, -eta beta I], [H, beta I]]
    Nesterov    b' = beta b + g,            theta' = theta - eta (g + beta b')
                J = [[I - eta (1 + beta) H, -eta beta^2 I], [H, beta I]]

(on a quadratic each pair of multipliers is the roots of z^2 - (1 + beta - eta a) z + beta for
heavy ball). Adam's Jacobian (its preconditioner depends on the gradient's history) is not
implemented.

Mini-batch SGD (docs/method.md §13) makes the same map with the batch's loss: J_t = I - eta
H_{B_t}, H_{B_t} the Hessian of the loss over the rows of step t's batch (L2 term included), so
the exponents are those of the random dynamical system that the one shared batch order drives
(``batches``: the Hessian of step t is that of ``batches.at(t)``).

A trajectory that stops being finite ends the estimate: the exponents are averages over the
steps before it (``n_steps``), and ``diverged_at`` says where it stopped.

The leading exponent alone (k = 1) can be measured while the network trains, without saving
its trajectory: :class:`LeadingTangent` is the objective ``descend`` calls, and at each step
evaluates the rows theta_t and theta_t +- h q_t in one call (one Hessian-vector product, as
``hessian_vector_product``), carries q by J_t and normalises it (for one vector the QR is its
norm). On Iris that costs two rows more per step than training the network alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.analysis.hessian import (
    EXACT_MAX_PARAMS,
    RELATIVE_STEP,
    NonFiniteGradient,
    hessian,
    hessian_vector_product,
)
from core.arrays import FloatArray, IntArray
from core.engine.objective import Objective
from core.engine.optimizers import GD, Optimizer
from core.engine.training import MiniBatches
from core.engine.training import Objective as Loss
from core.validate import check_choice, check_float, check_int

METHODS = ("auto", "exact", "hvp")


@dataclass(frozen=True, eq=False)
class TangentSpectrum:
    """The first k Lyapunov exponents of a GD trajectory.

    exponents: (k,) per iteration, in the order of the QR columns (which converges to
        descending order); ``sorted`` gives them largest first.
    steps: (S,) the iteration after each QR (every ``every``, and the last);
    local: (S, k) log |R_ii| / (steps between QRs): the expansion rates of each interval;
    running: (S, k) the estimate so far (cumulative mean of ``local``, weighted by steps);
    n_steps: the steps averaged over (T, or fewer if the trajectory diverged or it was stopped);
    diverged_at: the first step whose network or Hessian is not finite, or None;
    cancelled: stopped by its ``on_progress`` before the end of the trajectory.
    """

    exponents: FloatArray
    steps: IntArray
    local: FloatArray
    running: FloatArray
    n_steps: int
    n_params: int
    every: int
    diverged_at: int | None = None
    cancelled: bool = False

    @property
    def sorted(self) -> FloatArray:
        order: FloatArray = np.sort(self.exponents)[::-1]
        return order

    @property
    def n_positive(self) -> int:
        return int(np.sum(self.exponents > 0))

    @property
    def total(self) -> float:
        """Sum of the k exponents: the mean log volume growth of a k-dimensional box."""
        return float(np.sum(self.exponents))

    @property
    def kaplan_yorke(self) -> float:
        return kaplan_yorke(self.exponents)

    def finite_time(self, window: int) -> tuple[IntArray, FloatArray]:
        """Spectra over consecutive windows of ``window`` iterations (a multiple of ``every``):
        (ends (W,), spectra (W, k)), each the mean of ``local`` over its window."""
        check_int("window", window, low=self.every, high=max(self.every, self.n_steps))
        if window % self.every:
            raise ValueError(f"window must be a multiple of every ({self.every}), got {window}")
        per = window // self.every
        whole = (len(self.local) // per) * per
        if whole == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.local.shape[1]))
        spectra: FloatArray = self.local[:whole].reshape(-1, per, self.local.shape[1]).mean(axis=1)
        ends: IntArray = self.steps[per - 1 : whole : per]
        return ends, spectra


def kaplan_yorke(exponents: FloatArray) -> float:
    """j + S_j / |lambda_{j+1}| for the exponents sorted largest first, S_j their partial sums
    and j the largest index with S_j >= 0; 0 if lambda_1 < 0; k if every partial sum is >= 0."""
    ordered = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    if not np.isfinite(ordered).all():
        return math.nan
    partial = np.cumsum(ordered)
    j = int(np.sum(partial >= 0))  # partial sums decrease once the exponents are negative
    if j == 0:
        return 0.0
    if j == len(ordered):
        return float(j)
    return j + float(partial[j - 1]) / abs(float(ordered[j]))


def _hessian_times(objective: Loss, theta: FloatArray, q: FloatArray, exact: bool) -> FloatArray | None:
    """H q (P, k) at ``theta``, or None if a gradient is not finite."""
    if exact:
        h = hessian(objective, theta)
        return None if not np.isfinite(h).all() else h @ q
    try:
        return hessian_vector_product(objective, theta, q)  # k products in one objective call
    except NonFiniteGradient:
        return None


def tangent_dimension(optimizer: Optimizer, n_params: int) -> int:
    """The dimension of the tangent space of ``optimizer``'s map: P for GD, 2P (theta and the
    buffer) for momentum and Nesterov; Adam's Jacobian is not implemented (ValueError)."""
    if optimizer.name not in ("gd", "momentum", "nesterov"):
        raise ValueError(f"the tangent spectrum is computed for gd, momentum and nesterov, not {optimizer.name!r}")
    return n_params if optimizer.name == "gd" else 2 * n_params


def _step(q: FloatArray, hq: FloatArray, eta: float, optimizer: Optimizer) -> FloatArray:
    """J_t q for the tangent vectors q = (dtheta; db): (2P, k) of a momentum method."""
    p, beta = len(hq), optimizer.momentum
    dtheta, dbuffer = q[:p], q[p:]
    if optimizer.name == "momentum":
        new_theta = dtheta - eta * (hq + beta * dbuffer)
    else:  # nesterov
        new_theta = dtheta - eta * ((1.0 + beta) * hq + beta * beta * dbuffer)
    stacked: FloatArray = np.concatenate([new_theta, beta * dbuffer + hq])
    return stacked


def tangent_spectrum(
    objective: Objective,
    thetas: FloatArray,
    learning_rate: float,
    k: int,
    *,
    every: int = 1,
    method: str = "auto",
    optimizer: Optimizer = GD,
    on_progress: Callable[[int, int], bool | None] | None = None,
    progress_every: int = 50,
    batches: MiniBatches | None = None,
) -> TangentSpectrum:
    """The first ``k`` Lyapunov exponents of the GD trajectory ``thetas: (T + 1, P)`` (theta_0
    ... theta_T, every step) of ``objective`` at ``learning_rate``.

    ``every``: steps between re-orthonormalisations (1: every step); ``method``: "exact"
    (the dense Hessian each step), "hvp" (k Hessian-vector products), or "auto" = exact up
    to ``core.analysis.hessian.EXACT_MAX_PARAMS`` parameters. With ``optimizer`` momentum or
    nesterov the tangent space is (theta, buffer): k up to 2P. ``on_progress(done, T)`` is
    called every ``progress_every`` steps; returning False stops the estimate at the last QR
    (``cancelled``). With ``batches`` (mini-batch SGD) step t's Jacobian is that of its batch's
    loss, ``batches.at(t)``.
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    if thetas.ndim != 2 or len(thetas) < 2:
        raise ValueError(f"thetas must have shape (T + 1, P) with T >= 1, got {thetas.shape}")
    n_steps, p = len(thetas) - 1, thetas.shape[1]
    dim = tangent_dimension(optimizer, p)
    buffered = dim > p
    k = check_int("k", k, low=1, high=dim)
    every = check_int("every", every, low=1, high=n_steps)
    eta = check_float("learning_rate", learning_rate, low=0.0, high=math.inf)
    check_choice("method", method, METHODS)
    exact = method == "exact" or (method == "auto" and p <= EXACT_MAX_PARAMS)

    q = np.eye(dim, k)  # (P, k) or (2P, k): the first k unit vectors
    steps, local = [], []
    since, diverged_at, cancelled, report = 0, None, False, progress_every
    for t in range(n_steps):
        if on_progress is not None and since == 0 and t >= report:  # stop only right after a QR
            report = t + progress_every
            if on_progress(t, n_steps) is False:
                cancelled = True
                break
        theta = thetas[t]
        loss = objective if batches is None else batches.at(t)  # the loss whose step this is
        hq = _hessian_times(loss, theta, q[:p], exact) if np.isfinite(theta).all() else None
        if hq is None:
            diverged_at = t
            break
        q = _step(q, hq, eta, optimizer) if buffered else q - eta * hq  # J_t q
        since += 1
        if since == every or t == n_steps - 1:
            q, r = np.linalg.qr(q)
            with np.errstate(divide="ignore"):
                local.append(np.log(np.abs(np.diag(r))) / since)
            steps.append(t + 1)
            since = 0
    done = steps[-1] if steps else 0
    local_rates = np.array(local, dtype=np.float64).reshape(-1, k)
    step_array = np.array(steps, dtype=np.int64)
    widths = np.diff(np.concatenate([[0], step_array]))[:, None]  # (S, 1) steps in each interval
    with np.errstate(invalid="ignore"):
        running = np.cumsum(local_rates * widths, axis=0) / step_array[:, None]
    exponents = running[-1] if len(running) else np.full(k, np.nan)
    return TangentSpectrum(exponents, step_array, local_rates, running, done, p, every, diverged_at, cancelled)


class LeadingTangent:
    """The leading exponent (k = 1, ``every`` = 1) of a training, measured as it runs: the
    objective to hand ``descend`` for one row (``objective`` evaluates the rows). Its first
    ``n_steps`` calls, at theta_0 .. theta_{T-1}, each also evaluate the gradient at
    theta_t +- h q_t (h as in ``hessian_vector_product``) and carry the unit vector q (the
    first unit vector at the start) by J_t; later calls (``descend`` evaluates theta_T at its
    end) only evaluate the objective. :meth:`spectrum` gives the result as ``tangent_spectrum``
    with k = 1 would (the same numbers up to rounding). With ``batches`` (those ``descend`` is
    given) the Hessian-vector product of step t is that of its batch's loss, on the two rows
    theta_t +- h q_t, beside the call on theta_t alone."""

    def __init__(
        self,
        objective: Objective,
        learning_rate: float,
        n_steps: int,
        optimizer: Optimizer = GD,
        batches: MiniBatches | None = None,
    ) -> None:
        self.objective, self.optimizer, self.batches = objective, optimizer, batches
        self.eta = check_float("learning_rate", learning_rate, low=0.0, high=math.inf)
        self.n_params = objective.mlp.n_params
        self.q = np.eye(tangent_dimension(optimizer, self.n_params), 1)[:, 0]  # (P,) or (2P,)
        self.rates = np.full(check_int("n_steps", n_steps, low=1, high=100_000_000), np.nan)  # (T,) log |J_t q|
        self.rows = np.empty((3, self.n_params))  # theta, theta + h q, theta - h q
        self.done = 0
        self.diverged_at: int | None = None

    def __call__(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(1, P) -> loss (1,), gradient (1, P), accuracy (1,) at theta; one tangent step."""
        if self.done >= len(self.rates) or self.diverged_at is not None:
            return self.objective(theta)
        p, q, rows = self.n_params, self.q, self.rows
        row = theta[0]
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging network ends the estimate
            square = float(row @ row)
        if not math.isfinite(square):
            self.diverged_at = self.done
            return self.objective(theta)
        h = RELATIVE_STEP * max(1.0, math.sqrt(square / p))
        rows[0] = row
        np.multiply(q[:p], h, out=rows[2])  # the step h q (q has unit norm)
        np.add(row, rows[2], out=rows[1])
        np.subtract(row, rows[2], out=rows[2])
        if self.batches is None:
            loss, grad, accuracy = self.objective(rows)  # (3,), (3, P), (3,)
            result, shifted = (loss[:1], grad[:1], accuracy[:1]), grad[1:]
        else:  # descend steps with the batch's gradient and records this call's full loss
            result = self.objective(theta)
            shifted = self.batches.at(self.done)(rows[1:])[1]  # (2, P) the batch's gradients
        hq = shifted[0] - shifted[1]
        hq *= 1.0 / (2.0 * h)  # (P,) H q by central differences
        if not np.isfinite(hq).all():
            self.diverged_at = self.done
        else:
            if len(q) > p:  # (theta, buffer) of a momentum method
                moved = _step(q[:, None], hq[:, None], self.eta, self.optimizer)[:, 0]
            else:
                moved = q - self.eta * hq  # J_t q
            norm = math.sqrt(float(moved @ moved))
            self.rates[self.done] = math.log(norm) if norm > 0 else -math.inf
            self.q = moved / norm if norm > 0 else moved
            self.done += 1
        return result

    def spectrum(self, n_steps: int | None = None) -> TangentSpectrum:
        """The exponent over the first ``n_steps`` tangent steps (default: all those done; a
        training stopped early evaluates one more network at its end, which is not a step)."""
        done = self.done if n_steps is None else min(self.done, n_steps)
        local = self.rates[:done, None]  # (S, 1), one step between "QRs"
        steps = np.arange(1, done + 1, dtype=np.int64)
        running = np.cumsum(local, axis=0) / steps[:, None]
        exponents = running[-1] if done else np.full(1, np.nan)
        return TangentSpectrum(exponents, steps, local, running, done, self.n_params, 1, self.diverged_at)
