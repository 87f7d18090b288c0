"""The Jacobian of one Adam step on its tangent space (theta, m, v) (docs/method.md §10, §11).

Adam's step t (0-based, PyTorch's conventions: core.engine.optimizers) maps the state
(theta, m, v), each (P,), with g = grad L(theta) + l2 theta, to

    m' = b1 m + (1 - b1) g,   v' = b2 v + (1 - b2) g^2,
    theta' = theta - eta m_hat / (s + eps),   m_hat = m' / c1,   s = sqrt(v' / c2),

c1 = 1 - b1^(t+1), c2 = 1 - b2^(t+1) (elementwise). Its tangent space has dimension 3P, and with
dg = H dtheta (H the Hessian of the training loss, L2 term included: a Hessian-vector product)

    dm' = b1 dm + (1 - b1) dg
    dv' = b2 dv + 2 (1 - b2) g dg
    dtheta' = dtheta - eta [ a dm' - c dv' ],   a = 1 / (c1 (s + eps)),
                                                c = m_hat / ((s + eps)^2 2 c2 s),

the second term of the bracket being d(m_hat / (s + eps)) along ds = dv' / (2 c2 s). The
Jacobian depends on the state: on g, m' and v' of the step, which a trajectory of theta alone
does not hold; they are replayed from its gradients (``OptimizerState.direction``, the arithmetic
of the training, so the buffers are the training's).

Where s = 0 (v' = 0: every gradient of that parameter so far was zero, so m' = 0 too; a pixel
blank in every image of digits without l2) the square root has no derivative. There c is taken
as 0, which is the one-sided derivative from the only side the map is defined on (v' >= 0):
at m' = v' = 0, (h dm' / c1) / (sqrt(h dv' / c2) + eps) / h -> dm' / (c1 eps) as h -> 0+, whatever
dv' >= 0 is (the a dm' term, with s = 0). In floating point v' can also be 0 with m' not (g^2 underflowing,
|g| < 1e-154); the same convention then drops a term that has no finite value.
"""

from __future__ import annotations

import numpy as np

from core.arrays import FloatArray
from core.engine.optimizers import Optimizer


def adam_tangent_step(
    q: FloatArray,
    hq: FloatArray,
    eta: float | FloatArray,
    optimizer: Optimizer,
    t: int,
    grad: FloatArray,
    first: FloatArray,
    second: FloatArray,
) -> FloatArray:
    """J_t q, (3P, k), for the tangent vectors q = (dtheta; dm; dv) (3P, k) of Adam's step ``t``
    (0-based), with hq = H q[:P] (P, k), the step's gradient ``grad`` and its new buffers
    ``first`` = m_{t+1}, ``second`` = v_{t+1}: each (P, 1), or (P, k), one column per vector (the
    rows of a carrier). ``eta``: one, or (k,) one per vector."""
    p = len(hq)
    b1, b2, eps = optimizer.momentum, optimizer.beta2, optimizer.adam_eps
    c1, c2 = 1.0 - b1 ** (t + 1), 1.0 - b2 ** (t + 1)
    s = np.sqrt(second / c2)  # (P, 1) or (P, k)
    a = 1.0 / (c1 * (s + eps))
    with np.errstate(divide="ignore", invalid="ignore"):  # s = 0: c = 0 (module docstring)
        c = np.where(s > 0, (first / c1) / ((s + eps) ** 2 * (2.0 * c2 * s)), 0.0)
    dm = b1 * q[p : 2 * p] + (1.0 - b1) * hq
    dv = b2 * q[2 * p :] + (2.0 * (1.0 - b2)) * grad * hq
    dtheta = q[:p] - eta * (a * dm - c * dv)
    stacked: FloatArray = np.concatenate([dtheta, dm, dv])
    return stacked
