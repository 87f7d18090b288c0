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
heavy ball). Adam carries two buffers (m, v): its tangent space is (theta, m, v), of dimension
3P, and its Jacobian depends on the step's gradient and buffers, replayed from the trajectory's
gradients as the training computed them (``core.analysis.adam_tangent``; one more objective call
on the one row theta_t a step).

Mini-batch SGD (docs/method.md §13) makes the same map with the batch's loss: J_t = I - eta
H_{B_t}, H_{B_t} the Hessian of the loss over the rows of step t's batch (L2 term included), so
the exponents are those of the random dynamical system that the one shared batch order drives
(``batches``: the Hessian of step t is that of ``batches.at(t)``).

A trajectory that stops being finite ends the estimate: the exponents are averages over the
steps before it (``n_steps``), and ``diverged_at`` says where it stopped.

The leading exponent alone (k = 1) can be measured while the network trains, without saving
its trajectory: :class:`LeadingTangents` is the objective ``descend`` calls, and at each step
evaluates, beside the K training rows, theta_r +- h q_r for each carried row r (one Hessian-vector
product each, as ``hessian_vector_product``), carries q_r by that row's J_t and normalises it (for
one vector the QR is its norm). On the compiled engine that is one call of K + 2R rows, the K rows'
results unchanged bit for bit: on Iris two rows more per step and carried row
(:class:`LeadingTangent`: one row, one carried).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np
from threadpoolctl import threadpool_limits

from core.analysis.adam_tangent import adam_tangent_step
from core.analysis.hessian import (
    EXACT_MAX_PARAMS,
    RELATIVE_STEP,
    NonFiniteGradient,
    hessian,
    hessian_vector_product,
)
from core.arrays import FloatArray, IntArray
from core.engine.numba_cache import ensure_writable_cache
from core.engine.objective import Objective
from core.engine.optimizers import GD, Optimizer, OptimizerState
from core.engine.training import MiniBatches
from core.engine.training import Objective as Loss
from core.validate import check_choice, check_float, check_int

METHODS = ("auto", "exact", "hvp")

ensure_writable_cache()  # before the kernels below are decorated (core.engine.numba_cache)


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
    buffer) for momentum and Nesterov, 3P (theta, m, v) for Adam; ValueError for another."""
    buffers = {"gd": 0, "momentum": 1, "nesterov": 1, "adam": 2}
    if optimizer.name not in buffers:
        raise ValueError(
            f"the tangent spectrum is computed for gd, momentum, nesterov and adam, not {optimizer.name!r}"
        )
    return (1 + buffers[optimizer.name]) * n_params


def _step(q: FloatArray, hq: FloatArray, eta: float | FloatArray, optimizer: Optimizer) -> FloatArray:
    """J_t q for the tangent vectors q = (dtheta; db): (2P, k) of a momentum method (``eta``: one,
    or (k,) one per vector)."""
    p, beta = len(hq), optimizer.momentum
    dtheta, dbuffer = q[:p], q[p:]
    if optimizer.name == "momentum":
        new_theta = dtheta - eta * (hq + beta * dbuffer)
    else:  # nesterov
        new_theta = dtheta - eta * ((1.0 + beta) * hq + beta * beta * dbuffer)
    stacked: FloatArray = np.concatenate([new_theta, beta * dbuffer + hq])
    return stacked


def _moved(
    q: FloatArray,
    hq: FloatArray,
    eta: float,
    optimizer: Optimizer,
    adam: OptimizerState | None,
    t: int,
    loss: Loss,
    theta: FloatArray,
) -> FloatArray | None:
    """J_t q of step t of any rule (``adam``: Adam's state, replayed); None if not finite."""
    if adam is not None:
        return _adam_step(adam, t, loss, theta, q, hq, eta)
    return _step(q, hq, eta, optimizer) if len(q) > len(hq) else q - eta * hq


def _adam_step(
    state: OptimizerState, t: int, loss: Loss, theta: FloatArray, q: FloatArray, hq: FloatArray, eta: float
) -> FloatArray | None:
    """J_t q (3P, k) of Adam's step t at ``theta`` (P,), after replaying the step on ``state`` (one
    row: its buffers become m_{t+1}, v_{t+1} by the training's own arithmetic); None if the
    step's gradient is not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        grad = np.array(loss(theta[None, :])[1], dtype=np.float64)  # (1, P), the step's (batch) gradient
    if not np.isfinite(grad).all():
        return None
    state.direction(t, grad)
    assert state.first is not None and state.second is not None
    return adam_tangent_step(q, hq, eta, state.optimizer, t, grad.T, state.first.T, state.second.T)


def start_vectors(objective: object, dim: int, k: int) -> FloatArray:
    """The tangent vectors a spectrum starts from, (dim, k): the first k unit vectors, those of
    the parameters the loss depends on first. A first-layer weight from a feature that is zero
    on every training row (digits: pixels blank in every image) never moves and the Jacobian
    leaves its direction alone (exponent log|1 - eta l2|, 0 without l2): started there, k
    vectors would measure only that. On Iris every parameter counts and this is np.eye(dim, k).
    An objective without the network and data (a test's) gets np.eye(dim, k)."""
    mlp, x = getattr(objective, "mlp", None), getattr(objective, "x", None)
    if mlp is None or x is None:
        return np.eye(dim, k)
    p, width = int(mlp.n_params), int(mlp.widths[0])
    blank = np.flatnonzero(np.all(np.asarray(x) == 0.0, axis=0))  # (B,) features zero on every row
    idle = (blank[:, None] * width + np.arange(width)).ravel()  # their W1 entries (flat layout: i H + j)
    order = np.concatenate([np.setdiff1d(np.arange(p), idle), idle, np.arange(p, dim)])
    q = np.zeros((dim, k))
    q[order[:k], np.arange(k)] = 1.0
    return q


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
    nesterov the tangent space is (theta, buffer): k up to 2P; with adam (theta, m, v): k up to
    3P, the buffers replayed from the gradient at each theta_t. ``on_progress(done, T)`` is
    called every ``progress_every`` steps; returning False stops the estimate at the last QR
    (``cancelled``). With ``batches`` (mini-batch SGD) step t's Jacobian is that of its batch's
    loss, ``batches.at(t)``.
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    if thetas.ndim != 2 or len(thetas) < 2:
        raise ValueError(f"thetas must have shape (T + 1, P) with T >= 1, got {thetas.shape}")
    n_steps, p = len(thetas) - 1, thetas.shape[1]
    dim = tangent_dimension(optimizer, p)
    k = check_int("k", k, low=1, high=dim)
    every = check_int("every", every, low=1, high=n_steps)
    eta = check_float("learning_rate", learning_rate, low=0.0, high=math.inf)
    check_choice("method", method, METHODS)
    exact = method == "exact" or (method == "auto" and p <= EXACT_MAX_PARAMS)

    q = start_vectors(objective, dim, k)  # (dim, k): the first k unit vectors the loss moves
    adam = optimizer.state(1, p) if optimizer.name == "adam" else None  # its buffers, replayed
    steps, local = [], []
    since, diverged_at, cancelled, report = 0, None, False, progress_every
    # one BLAS thread: the QR and the products of (P, k) blocks are small, and OpenBLAS on two
    # threads is slower on them and rounds differently
    with threadpool_limits(limits=1, user_api="blas"):
        for t in range(n_steps):
            if on_progress is not None and since == 0 and t >= report:  # stop only right after a QR
                report = t + progress_every
                if on_progress(t, n_steps) is False:
                    cancelled = True
                    break
            theta = thetas[t]
            loss = objective if batches is None else batches.at(t)  # the loss whose step this is
            hq = _hessian_times(loss, theta, q[:p], exact) if np.isfinite(theta).all() else None
            moved = None if hq is None else _moved(q, hq, eta, optimizer, adam, t, loss, theta)  # J_t q
            if moved is None:
                diverged_at = t
                break
            q = moved
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


# The carrier's arithmetic of one step, compiled: as ~25 numpy calls on (R, P) arrays it cost
# ~40 us a step on Iris (measured), more than the two rows it adds to the kernel's call (~8 us).
# Compiled eagerly (a signature each), so a process that imports this module has them, from
# numba's cache when it holds them.
@nb.njit(
    "boolean(float64[:, :], int64[::1], float64[:, ::1], float64[:, ::1], float64[::1])",
    cache=True,
    error_model="numpy",
)
def _shifted_rows(theta, rows, q, stack, h):  # type: ignore[no-untyped-def]  # pragma: no cover (compiled)
    """stack (K + 2R, P) <- theta (K, P), theta_r + h_r q_r, theta_r - h_r q_r for the rows
    ``rows`` (R,) with unit vectors q (R, P); h (R,) <- the steps. False (stack and h partly
    written) if a carried row is not finite."""
    k, p = theta.shape
    n = rows.size
    for i in range(k):
        for j in range(p):
            stack[i, j] = theta[i, j]
    for r in range(n):
        square = 0.0
        for j in range(p):
            square += theta[rows[r], j] * theta[rows[r], j]
        if not math.isfinite(square):
            return False
        step = RELATIVE_STEP * max(1.0, math.sqrt(square / p))
        h[r] = step
        for j in range(p):
            delta = q[r, j] * step
            stack[k + r, j] = theta[rows[r], j] + delta
            stack[k + n + r, j] = theta[rows[r], j] - delta
    return True


@nb.njit(
    "boolean(float64[:, :], int64, float64[::1], float64[:, ::1], float64[::1], float64[:, ::1], int64)",
    cache=True,
    error_model="numpy",
)
def _carry_gd(grad, k, h, q, eta, rates, t):  # type: ignore[no-untyped-def]  # pragma: no cover (compiled)
    """One GD tangent step of the R carried rows from the gradients (K + 2R, P) of a stacked
    call: H q_r by central differences, q_r <- J_t q_r / |J_t q_r| in place, rates[r, t] <-
    log |J_t q_r|. False, with nothing changed, if an H q is not finite."""
    n, p = q.shape
    for r in range(n):
        scale = 1.0 / (2.0 * h[r])
        for j in range(p):
            if not math.isfinite((grad[k + r, j] - grad[k + n + r, j]) * scale):
                return False
    for r in range(n):
        scale = 1.0 / (2.0 * h[r])
        square = 0.0
        for j in range(p):
            moved = q[r, j] - eta[r] * ((grad[k + r, j] - grad[k + n + r, j]) * scale)
            q[r, j] = moved
            square += moved * moved
        norm = math.sqrt(square)
        if norm > 0:
            rates[r, t] = math.log(norm)
            for j in range(p):
                q[r, j] = q[r, j] / norm
        else:
            rates[r, t] = -math.inf
    return True


class LeadingTangents:
    """The leading exponents (k = 1, ``every`` = 1) of R rows of a training, measured as it
    runs: the objective to hand ``descend`` for K rows (``objective`` evaluates the rows), of
    which ``rows`` (R,) are carried. Its first ``n_steps`` calls, at theta_0 .. theta_{T-1},
    also evaluate the gradient at theta_r +- h_r q_r of each carried row r (h_r as in
    ``hessian_vector_product``) and carry its unit vector q_r (the first unit vector at the
    start) by that row's J_t, with its own learning rate (``learning_rate``: one, or (R,));
    later calls (``descend`` evaluates theta_T at its end) only evaluate the objective.

    On the compiled engine, which computes each row alone, the K rows and the 2R shifted ones
    are one objective call, and the K rows' results are those of a call without the others, bit
    for bit; on every other engine (the BLAS engine rounds a stacked product by its rows) and
    with ``batches`` (the shifted rows take the batch's gradient, ``batches.at(t)``) the 2R rows
    are a call of their own. For Adam each carried row's buffers (m, v) are kept here, advanced
    from the gradient of the row's step (the training's own, or its batch's) by the training's
    arithmetic. A carried row that stops being finite ends its estimate alone.
    :meth:`spectrum` gives row r's result as ``tangent_spectrum`` with k = 1 would (the same
    numbers up to rounding)."""

    def __init__(
        self,
        objective: Objective,
        learning_rate: float | FloatArray,
        n_steps: int,
        rows: IntArray | None = None,
        optimizer: Optimizer = GD,
        batches: MiniBatches | None = None,
    ) -> None:
        self.objective, self.optimizer, self.batches = objective, optimizer, batches
        self.rows = np.zeros(1, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).ravel()  # (R,)
        if self.rows.size == 0 or self.rows.min() < 0:
            raise ValueError(f"rows must be 1 or more row indices, got {self.rows!r}")
        etas = np.broadcast_to(np.asarray(learning_rate, dtype=np.float64), self.rows.shape)
        self.eta = np.array([check_float("learning_rate", float(e), low=0.0, high=math.inf) for e in etas])  # (R,)
        self.n_params = objective.mlp.n_params
        dim = tangent_dimension(optimizer, self.n_params)
        self.q = np.tile(start_vectors(objective, dim, 1)[:, 0], (self.rows.size, 1))  # (R, dim)
        self.adam = optimizer.state(self.rows.size, self.n_params) if optimizer.name == "adam" else None  # replayed
        total = check_int("n_steps", n_steps, low=1, high=100_000_000)
        self.rates = np.full((self.rows.size, total), np.nan)  # (R, T) log |J_t q_r|
        self.done = np.zeros(self.rows.size, dtype=np.int64)  # (R,) tangent steps done per row
        self.ended = np.zeros(self.rows.size, dtype=bool)  # (R,) stopped being finite
        self.calls = 0
        self._rows: FloatArray | None = None
        # a row's results do not depend on the rows beside it (core.engine.objective): stack
        self.stacked = getattr(objective, "engine", None) == "compiled" and batches is None
        self.compiled = self.stacked and dim == self.n_params  # GD: _shifted_rows and _carry_gd

    def __call__(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(K, P) -> loss (K,), gradient (K, P), accuracy (K,) at theta; one tangent step of
        each carried row still finite. (Each step is ~25 numpy calls on (R, P) arrays: written
        for few calls, with a slice for "every row", since they cost as much as the rows.)"""
        t, p = self.calls, self.n_params
        self.calls += 1
        if t >= self.rates.shape[1] or self.ended.all():
            return self.objective(theta)
        if self.compiled and not self.ended.any():
            k = len(theta)
            stack, h = self._stack(k + 2 * self.rows.size), np.empty(self.rows.size)
            if _shifted_rows(theta, self.rows, self.q, stack, h):
                loss, grad, accuracy = self.objective(stack)
                if _carry_gd(grad, k, h, self.q, self.eta, self.rates, t):
                    self.done += 1
                    return loss[:k], grad[:k], accuracy[:k]
            # a row not finite: the step again, in numpy, which ends those rows
        active: slice | IntArray = slice(None) if not self.ended.any() else np.flatnonzero(~self.ended)
        rows = theta[self.rows[active]]  # (A, P)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging network ends its estimate
            square = np.einsum("ap,ap->a", rows, rows)
        if not np.isfinite(square).all():
            self.ended[np.arange(self.rows.size)[active][~np.isfinite(square)]] = True
            self.calls -= 1
            return self(theta)  # again, without those rows
        h = RELATIVE_STEP * np.maximum(1.0, np.sqrt(square / p))  # (A,)
        step = self.q[active, :p] * h[:, None]  # (A, P): h q (q has unit norm)
        n, k = len(rows), len(theta)
        if self.stacked:
            stack = self._stack(k + 2 * n)  # (K + 2A, P): theta, theta_r + h q_r, theta_r - h q_r
            stack[:k] = theta
            np.add(rows, step, out=stack[k : k + n])
            np.subtract(rows, step, out=stack[k + n :])
            loss, grad, accuracy = self.objective(stack)
            result, gradients = (loss[:k], grad[:k], accuracy[:k]), grad[k:]
        elif self.batches is None:
            result = self.objective(theta)
            gradients = self.objective(np.concatenate([rows + step, rows - step]))[1]  # (2A, P)
        else:  # the step's batch loss; for Adam also at the rows themselves (their step's gradient)
            result = self.objective(theta)
            at = rows if self.adam is not None else rows[:0]  # (A, P) or (0, P)
            gradients = self.batches.at(t)(np.concatenate([at, rows + step, rows - step]))[1]
            stepped, gradients = gradients[: len(at)], gradients[len(at) :]
        hq = gradients[:n] - gradients[n:]
        hq *= (1.0 / (2.0 * h))[:, None]  # (A, P) H q by central differences
        if self.adam is None:
            self._advance(t, active, hq, None)
        else:  # (A, P) the gradient of the carried rows' step, for Adam's buffers
            self._advance(t, active, hq, result[1][self.rows[active]] if self.batches is None else stepped)
        return result

    def _stack(self, n_rows: int) -> FloatArray:
        """The (n_rows, P) array of one stacked call, kept between steps."""
        if self._rows is None or len(self._rows) != n_rows:
            self._rows = np.empty((n_rows, self.n_params))
        return self._rows

    def _advance(self, t: int, active: slice | IntArray, hq: FloatArray, grad: FloatArray | None) -> None:
        """q_r <- J_t q_r / |J_t q_r| for the carried rows ``active`` with H q ``hq`` (A, P)
        (and, for Adam, the gradient ``grad`` (A, P) of their step)."""
        finite = np.isfinite(hq).all(axis=1) & (True if grad is None else np.isfinite(grad).all(axis=1))
        if not finite.all():
            self.ended[np.arange(self.rows.size)[active][~finite]] = True
            active, hq = np.arange(self.rows.size)[active][finite], hq[finite]
            grad = None if grad is None else grad[finite]
        q = self.q[active]  # (A, dim)
        if self.adam is not None and grad is not None:  # (theta, m, v): the buffers of step t first
            moved: FloatArray = self._adam_moved(t, active, q, hq, grad)
        elif q.shape[1] > self.n_params:  # (theta, buffer) of a momentum method
            moved = _step(q.T, hq.T, self.eta[active], self.optimizer).T
        else:
            moved = q - self.eta[active, None] * hq  # J_t q
        norm = np.sqrt(np.einsum("ad,ad->a", moved, moved))  # (A,)
        with np.errstate(divide="ignore"):
            self.rates[active, t] = np.log(norm)  # -inf for a vector sent to zero
        self.q[active] = moved / (norm[:, None] if norm.all() else np.where(norm > 0, norm, 1.0)[:, None])
        self.done[active] += 1

    def _adam_moved(
        self, t: int, active: slice | IntArray, q: FloatArray, hq: FloatArray, grad: FloatArray
    ) -> FloatArray:
        """J_t q (A, 3P) of Adam's step t for the rows ``active``: their buffers advanced by
        ``grad`` (A, P) as the training advances them (the others' are left: they have ended)."""
        assert self.adam is not None and self.adam.first is not None and self.adam.second is not None
        full = np.zeros((self.rows.size, self.n_params))
        full[active] = grad
        self.adam.direction(t, full)  # m_{t+1}, v_{t+1} of every row; an ended row's no longer matter
        first, second = self.adam.first[active], self.adam.second[active]
        moved: FloatArray = adam_tangent_step(
            q.T, hq.T, self.eta[active], self.optimizer, t, grad.T, first.T, second.T
        ).T
        return moved

    @property
    def exponents(self) -> FloatArray:
        """(R,) each carried row's exponent over its tangent steps done (NaN for none)."""
        return np.array([self.spectrum(row=r).exponents[0] for r in range(self.rows.size)])

    def spectrum(self, n_steps: int | None = None, *, row: int = 0) -> TangentSpectrum:
        """Carried row ``row``'s exponent over its first ``n_steps`` tangent steps (default: all
        those done; a training stopped early evaluates one more network at its end, which is not
        a step)."""
        done = int(self.done[row]) if n_steps is None else min(int(self.done[row]), n_steps)
        local = self.rates[row, :done, None]  # (S, 1), one step between "QRs"
        steps = np.arange(1, done + 1, dtype=np.int64)
        running = np.cumsum(local, axis=0) / steps[:, None]
        exponents = running[-1] if done else np.full(1, np.nan)
        diverged_at = int(self.done[row]) if self.ended[row] else None
        return TangentSpectrum(exponents, steps, local, running, done, self.n_params, 1, diverged_at)


class LeadingTangent(LeadingTangents):
    """The leading exponent of a training of one row (R = K = 1: :class:`LeadingTangents`),
    each step evaluating the rows theta_t and theta_t +- h q_t; ``spectrum(n_steps)``."""

    def __init__(
        self,
        objective: Objective,
        learning_rate: float,
        n_steps: int,
        optimizer: Optimizer = GD,
        batches: MiniBatches | None = None,
    ) -> None:
        super().__init__(objective, learning_rate, n_steps, None, optimizer, batches)

    @property
    def diverged_at(self) -> int | None:
        """The tangent step at which the row stopped being finite, or None."""
        return self.spectrum().diverged_at
