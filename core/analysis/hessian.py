"""Sharpness: the largest eigenvalue of the Hessian of the training loss (docs/method.md §6).

At the edge of stability (Cohen et al. 2021, "Gradient descent on neural networks typically
occurs at the edge of stability", ICLR) full-batch GD with learning rate eta drives the
sharpness lambda_max(Hessian of L) up to about 2 / eta, the threshold beyond which GD on
the local quadratic model would diverge, and it then hovers there.

The Hessian is taken by central differences of the ANALYTIC gradient,
H[:, i] = (g(theta + h_i e_i) - g(theta - h_i e_i)) / (2 h_i), all 2P gradients in one
batched call of the objective, then symmetrised. With 83 parameters the exact Hessian is
cheap; for large P (digits: 4,810) Lanczos (ARPACK) needs only Hessian-vector products,
each a central difference of the gradient along the vector (one objective call on 2 rows).

For Adam the threshold bounds the *preconditioned* sharpness lambda_max(P^{-1} H) (Cohen et
al. 2022; docs/method.md §14, :mod:`core.analysis.preconditioned`), with P Adam's diagonal
preconditioner: the top eigenvalue of the symmetric P^{-1/2} H P^{-1/2}, which has the same
eigenvalues (:func:`preconditioned_sharpness`), from the dense Hessian or by Lanczos on
Hessian-vector products of the rescaled vectors.

Failure of the dynamics is data: a network whose parameters, loss or gradients are not
finite has sharpness NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from threadpoolctl import threadpool_limits

from core.analysis import rop
from core.analysis.preconditioned import AdamPreconditioners
from core.arrays import FloatArray, IntArray
from core.config import RunConfig
from core.data import Dataset
from core.engine.parallel import default_workers
from core.engine.training import Objective, Progress, check_memory, descend, descend_bytes
from core.experiments.stability import batches_for, dataset_for, network_for, start_and_directions
from core.validate import check_choice, check_float, check_int

METHODS = ("auto", "exact", "lanczos")
EXACT_MAX_PARAMS = 500  # "auto" takes the dense Hessian up to here: 2P gradients, a P x P eigvalsh
# Central differences of the gradient err by h^2 g''' / 6 (truncation) plus eps |g| / h
# (rounding); with derivatives of unit scale the sum is least at h ~ eps^(1/3) ~ 6e-6.
RELATIVE_STEP = float(np.finfo(np.float64).eps) ** (1 / 3)
LANCZOS_TOL = 1e-10  # relative accuracy asked of ARPACK; the products themselves err by ~1e-10
LANCZOS_SEED = 20210226  # fixes the start vector v0, so Lanczos results are reproducible
HESSIAN_ARRAYS = 5  # (P, P)-sized arrays of the exact Hessian: 2P rows in, 2P gradients out, H


class NonFiniteGradient(Exception):
    """A Hessian-vector product met a non-finite gradient (inside ARPACK's loop, or along a
    tangent trajectory)."""


def _steps(theta: FloatArray, step: float | None) -> FloatArray:
    """(P,) difference steps: ``step`` for every coordinate, else eps^(1/3) max(1, |theta_i|)
    (relative to large parameters so theta_i +- h_i stays well resolved in float64)."""
    if step is not None:
        return np.full(theta.shape, check_float("step", step, low=0.0, high=math.inf))
    steps: FloatArray = RELATIVE_STEP * np.maximum(1.0, np.abs(theta))
    return steps


def hessian(objective: Objective, theta: FloatArray, *, step: float | None = None) -> FloatArray:
    """Hessian (P, P) of the loss at ``theta: (P,)`` from one objective call on (2P, P) rows.

    ``step`` is an absolute difference step for every coordinate (default: see ``_steps``).
    A non-finite theta or gradient gives a matrix of NaN.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 1:
        raise ValueError(f"theta must have shape (P,), got {theta.shape}")
    p = theta.size
    check_memory(8 * HESSIAN_ARRAYS * p * p, f"the exact Hessian of {p:,} parameters", "use method='lanczos'")
    if not np.isfinite(theta).all():
        return np.full((p, p), np.nan)
    h = _steps(theta, step)
    diagonal = np.arange(p)
    rows = np.tile(theta, (2, p, 1))  # (2, P, P): theta + h_i e_i, then theta - h_i e_i
    rows[0, diagonal, diagonal] += h
    rows[1, diagonal, diagonal] -= h
    width = rows[0, diagonal, diagonal] - rows[1, diagonal, diagonal]  # the 2h actually represented
    grad = objective(rows.reshape(2 * p, p))[1].reshape(2, p, p)
    columns = (grad[0] - grad[1]) / width[:, None]  # row i: d grad / d theta_i = column i of H
    if not np.isfinite(columns).all():
        return np.full((p, p), np.nan)
    symmetric: FloatArray = 0.5 * (columns + columns.T)
    return symmetric


def hessian_vector_product(objective: Objective, theta: FloatArray, v: FloatArray) -> FloatArray:
    """H v at ``theta: (P,)``: (P,) for ``v: (P,)``, or (P, k) for the k columns of ``v: (P, k)``.
    Exact by the R-operator for the lab's softmax networks (``core.analysis.rop``: one forward
    and backward pass for all k); otherwise (the legacy sigmoid output, a test's objective) in
    one objective call on 2k rows, each by a central difference of the gradient along its unit
    vector, with the step eps^(1/3) max(1, rms(theta)) (as in ``_steps``).
    Raises ``NonFiniteGradient`` if a gradient is not finite.
    """
    columns = v.reshape(len(theta), -1)  # (P, k)
    norms = np.linalg.norm(columns, axis=0)  # (k,)
    if not norms.any():
        return np.zeros_like(v)
    with np.errstate(over="ignore"):  # a diverged network's weights may square past float64
        rms = float(np.sqrt(np.mean(theta * theta)))
    if not math.isfinite(rms):
        raise NonFiniteGradient
    if rop.supports(objective):
        product = rop.hessian_vector_products(objective, theta, columns)
    else:
        product = _central_products(objective, theta, columns, norms, RELATIVE_STEP * max(1.0, rms))
    if not np.isfinite(product).all():
        raise NonFiniteGradient
    return product.reshape(v.shape)


def _central_products(
    objective: Objective, theta: FloatArray, columns: FloatArray, norms: FloatArray, h: float
) -> FloatArray:
    """H columns (P, k) by central differences of the gradient along each column's unit
    vector with step ``h``, in one objective call on 2k rows."""
    scale = np.divide(h, norms, out=np.zeros_like(norms), where=norms > 0)  # a zero column: a zero product
    delta = (columns * scale).T  # (k, P)
    grad = objective(np.concatenate([theta + delta, theta - delta]))[1]
    k = len(norms)
    product: FloatArray = ((grad[:k] - grad[k:]) * (norms / (2.0 * h))[:, None]).T
    return product


def _lanczos_top(objective: Objective, theta: FloatArray, scale: FloatArray | None = None) -> float:
    """Largest algebraic eigenvalue at ``theta: (P,)`` by ARPACK on Hessian-vector products: of
    H, or of S H S for the diagonal ``scale`` S (P,)."""
    p = theta.size
    if not np.isfinite(theta).all() or not np.isfinite(objective(theta[None, :])[1]).all():
        return math.nan

    def product(v: FloatArray) -> FloatArray:
        if scale is None:
            return hessian_vector_product(objective, theta, v.ravel())
        return scale * hessian_vector_product(objective, theta, scale * v.ravel())

    operator = LinearOperator((p, p), matvec=product)
    v0 = np.random.default_rng(LANCZOS_SEED).standard_normal(p)
    try:
        return float(eigsh(operator, k=1, which="LA", v0=v0, tol=LANCZOS_TOL, return_eigenvectors=False)[0])
    except NonFiniteGradient:
        return math.nan
    except ArpackNoConvergence as exc:
        return float(exc.eigenvalues[0]) if len(exc.eigenvalues) else math.nan


def _exact_top(objective: Objective, theta: FloatArray, scale: FloatArray | None = None) -> float:
    """Largest eigenvalue of the dense Hessian H at ``theta: (P,)``, or of S H S for the
    diagonal ``scale`` S (P,)."""
    h = hessian(objective, theta)
    if scale is not None:
        h = scale[:, None] * h * scale[None, :]
    return float(np.linalg.eigvalsh(h)[-1]) if np.isfinite(h).all() else math.nan


def sharpness(objective: Objective, theta: FloatArray, *, method: str = "auto") -> FloatArray:
    """Largest (algebraic) Hessian eigenvalue (K,) of each row of ``theta: (K, P)``.

    ``method``: "exact" (eigvalsh of :func:`hessian`), "lanczos" (ARPACK, fixed start
    vector), or "auto" = exact for P <= ``EXACT_MAX_PARAMS``. Non-finite rows give NaN.
    """
    check_choice("method", method, METHODS)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2:
        raise ValueError(f"theta must have shape (K, P), got {theta.shape}")
    if method == "auto":
        method = "exact" if theta.shape[1] <= EXACT_MAX_PARAMS else "lanczos"
    top = _exact_top if method == "exact" else _lanczos_top
    with threadpool_limits(limits=1, user_api="blas"):  # eigvalsh of 83 x 83: 2-3x slower on two threads
        return np.array([top(objective, row) for row in theta], dtype=np.float64)


def preconditioned_sharpness(
    objective: Objective, theta: FloatArray, preconditioner: FloatArray, *, method: str = "auto"
) -> FloatArray:
    """Largest eigenvalue (K,) of P^{-1} H at each row of ``theta: (K, P)``, with P the diagonal
    ``preconditioner: (K, P)`` of that row (Adam's: core.analysis.preconditioned), as the top
    eigenvalue of the symmetric P^{-1/2} H P^{-1/2} (the same spectrum: P^{-1} H = P^{-1/2}
    (P^{-1/2} H P^{-1/2}) P^{1/2}). ``method`` as in :func:`sharpness`. A row whose theta is
    not finite, or whose preconditioner is not finite and positive, gives NaN."""
    check_choice("method", method, METHODS)
    theta = np.asarray(theta, dtype=np.float64)
    diagonal = np.asarray(preconditioner, dtype=np.float64)
    if theta.ndim != 2 or diagonal.shape != theta.shape:
        raise ValueError(
            f"theta and preconditioner must both have shape (K, P), got {theta.shape} and {diagonal.shape}"
        )
    if method == "auto":
        method = "exact" if theta.shape[1] <= EXACT_MAX_PARAMS else "lanczos"
    top = _exact_top if method == "exact" else _lanczos_top
    values = np.full(len(theta), np.nan)
    with threadpool_limits(limits=1, user_api="blas"):  # as in sharpness
        for k, (row, d) in enumerate(zip(theta, diagonal, strict=True)):
            if np.isfinite(d).all() and (d > 0).all():
                values[k] = top(objective, row, 1.0 / np.sqrt(d))
    return values


@dataclass(frozen=True, eq=False)
class SharpnessSeries:
    """Sharpness along the reference trajectory of ``config``.

    steps: (S,) iterations at which the sharpness was measured (0 and T always included);
    sharpness: (S,), NaN where the network is not finite (from the step the trajectory
    diverged); loss: (T + 1,) training loss; preconditioned: (S,) for Adam its preconditioned
    sharpness lambda_max(P_t^{-1} H) at the same steps (docs/method.md §14), else None.
    """

    config: RunConfig
    steps: IntArray
    sharpness: FloatArray
    loss: FloatArray
    cancelled: bool = False
    preconditioned: FloatArray | None = None

    @property
    def two_over_eta(self) -> float:
        """2 / eta: the edge of stability of GD on a quadratic."""
        return 2.0 / self.config.learning_rate


def sharpness_series(
    config: RunConfig,
    every: int,
    *,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    on_progress: Progress | None = None,
    method: str = "auto",
    threads: int | None = None,
) -> SharpnessSeries:
    """Train the reference network of ``config`` (as :func:`core.experiments.stability.run_stability`
    draws it from the seed, no copies) and measure the sharpness every ``every`` steps.

    ``every`` replaces ``config.save_every``; ``on_progress(done, total, partial)`` follows
    the training; ``threads`` share the 2P rows of each Hessian (default: one per core).
    """
    check_int("every", every, low=1, high=10_000_000)
    check_choice("method", method, METHODS)
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    p = mlp.n_params
    exact = method == "exact" or (method == "auto" and p <= EXACT_MAX_PARAMS)
    check_memory(
        descend_bytes(config.n_steps, 1, p, every) + (8 * HESSIAN_ARRAYS * p * p if exact else 0),
        f"the records of {config.n_steps + 1:,} steps ({p} parameters saved every {every})"
        + (" and the exact Hessian" if exact else ""),
        "use fewer steps or a larger every",
    )
    start, _ = start_and_directions(config, mlp, theta0)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, threads=threads or default_workers())
    batches = batches_for(config, data, objective)
    rule = config.update_rule()
    adam = AdamPreconditioners(objective, rule, every, batches) if rule.name == "adam" else None
    traj = descend(
        objective if adam is None else adam,
        start[None, :],
        config.learning_rate,
        config.n_steps,
        save_every=every,
        on_progress=on_progress,
        optimizer=rule,
        batches=batches,
    )
    # a diverged row is frozen at non-finite parameters or gradients: NaN from then on
    values = sharpness(objective, traj.theta[:, 0, :], method=method)  # (S,)
    preconditioned = None
    if adam is not None:
        preconditioned = preconditioned_sharpness(objective, traj.theta[:, 0, :], adam.at(traj.steps), method=method)
    return SharpnessSeries(config, traj.steps, values, traj.loss[:, 0], traj.cancelled, preconditioned)
