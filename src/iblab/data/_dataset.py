"""Explicit data sets before they meet a network."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """X (n, d), y (n,), X_test (t, d), y_test (t,) in float64; info: scalar facts (floats)."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    info: dict = field(default_factory=dict)


def split_rows(Z: np.ndarray, y: np.ndarray, n: int, info: dict) -> Dataset:
    """The first n rows of Z (N, d) and y (N,) for training, the rest for testing."""
    return Dataset(Z[:n], y[:n], Z[n:], y[n:], info)
