"""Array types for annotations: NumPy arrays of float64, int64 or bool, any shape.

The shapes are written in the docstrings, in the legend of :mod:`core` (K, N, D, H, C, P, ...).
"""

from typing import TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]  # int64 on 64-bit platforms: the index type
BoolArray: TypeAlias = npt.NDArray[np.bool_]

# any NumPy scalar type: for functions that keep the dtype of the array they are given
ScalarT = TypeVar("ScalarT", bound=np.generic)
