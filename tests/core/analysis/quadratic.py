"""A quadratic loss for the tests of the tangent dynamics: its Hessian is A everywhere, so
the exponents of its training maps are known in closed form."""

import numpy as np


class Quadratic:
    """L(theta) = theta' A theta / 2: (loss, grad, accuracy) as the objective protocol has it."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __call__(self, theta):
        grad = theta @ self.a
        return 0.5 * np.sum(theta * grad, axis=1), grad, np.zeros(len(theta))
