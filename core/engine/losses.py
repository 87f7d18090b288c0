"""Activations and output losses of the shallow network, in NumPy (the reference engine and the
BLAS engine of :mod:`core.engine.objective`): hidden activations in place with their derivatives as
functions of the output, softmax cross-entropy for a batch (k, C, N) or one network (C, N),
and the legacy sigmoid output.
"""

from __future__ import annotations

import numpy as np

from core.arrays import FloatArray, IntArray

LEGACY_CLIP = 1e-7


def _sigmoid_(z: FloatArray) -> FloatArray:
    """Logistic sigmoid in place. exp(-z) may overflow to inf for z < -709: 1/inf = 0."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def _tanh_(z: FloatArray) -> FloatArray:
    return np.tanh(z, out=z)


def _relu_(z: FloatArray) -> FloatArray:
    return np.maximum(z, 0.0, out=z)


def _sigmoid_slope(a: FloatArray, out: FloatArray) -> FloatArray:
    np.subtract(1.0, a, out=out)
    return np.multiply(out, a, out=out)


def _tanh_slope(a: FloatArray, out: FloatArray) -> FloatArray:
    np.multiply(a, a, out=out)
    return np.subtract(1.0, out, out=out)


def _relu_slope(a: FloatArray, out: FloatArray) -> FloatArray:
    return np.greater(a, 0.0, out=out)


# activation: (forward in place, derivative as a function of the output a, into out)
ACTIVATION = {
    "sigmoid": (_sigmoid_, _sigmoid_slope),
    "tanh": (_tanh_, _tanh_slope),
    "relu": (_relu_, _relu_slope),
}


def softmax_ce_one(z: FloatArray, true_index: IntArray) -> tuple[float, float, FloatArray]:
    """Logits (C, N) of one network -> mean cross-entropy, accuracy, d loss / d z (C, N)
    written over z. ``true_index`` (N,) locates z[y_s, s] in z.ravel(). The mathematics of
    ``softmax_ce`` in five passes over (C, N) instead of eight, gathering and scattering at
    the true classes instead of multiplying by the one-hot array, and in few NumPy calls:
    at (C, N) = (10, 1438) a call's overhead is as long as its work.
    """
    n = z.shape[1]
    flat = z.reshape(-1)  # a view: z is contiguous
    z -= np.maximum.reduce(z, axis=0)
    true_shifted = flat[true_index]  # (N,) z_y - max z: 0 iff y wins
    total = np.add.reduce(np.exp(z, out=z), axis=0)  # (N,)
    loss = (np.log(total).sum() - true_shifted.sum()) / n
    accuracy = np.count_nonzero(true_shifted >= 0.0) / n
    z *= np.divide(1.0 / n, total, out=total)
    flat[true_index] -= 1.0 / n
    return loss, accuracy, z


def softmax_ce(z: FloatArray, onehot_t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Logits (k, C, N) -> mean cross-entropy (k,), accuracy (k,), d loss / d z (k, C, N).

    Overwrites z. Shifted by the max over classes, so exp never overflows for finite z.
    """
    n = z.shape[-1]
    z -= np.max(z, axis=1, keepdims=True)
    true_shifted = np.einsum("kcn,cn->kn", z, onehot_t)  # z_y - max z: 0 iff y wins
    p = np.exp(z)
    total = p.sum(axis=1)  # (k, N)
    loss = (np.log(total) - true_shifted).mean(axis=-1)
    accuracy = (true_shifted >= 0.0).mean(axis=-1)
    p /= total[:, None, :]
    p -= onehot_t
    p *= 1.0 / n
    return loss, accuracy, p


def legacy_sigmoid_ce(z: FloatArray, onehot_t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sigmoid outputs clipped to [1e-7, 1 - 1e-7], normalised to sum 1, cross-entropy.

    The clip has zero derivative outside its range, as in the original code's autodiff.
    """
    n = z.shape[-1]
    s = _sigmoid_(z)  # (k, C, N)
    clipped = np.clip(s, LEGACY_CLIP, 1.0 - LEGACY_CLIP)
    total = clipped.sum(axis=1)  # (k, N)
    true = np.einsum("kcn,cn->kn", clipped, onehot_t)
    loss = (np.log(total) - np.log(true)).mean(axis=-1)
    accuracy = (true >= clipped.max(axis=1)).mean(axis=-1)
    d_clipped = 1.0 / total[:, None, :] - onehot_t / true[:, None, :]
    inside = (s > LEGACY_CLIP) & (s < 1.0 - LEGACY_CLIP)
    dz = d_clipped * s * (1.0 - s) * inside
    dz *= 1.0 / n
    return loss, accuracy, dz
