"""Shared fixtures. Tests run from the repository root (pytest's rootdir)."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def iris():
    from core.data import load_iris

    return load_iris()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
