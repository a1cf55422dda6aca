"""Explicit data sets before they meet a network."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """An explicit data set, in float64, before it meets a network.

    Attributes:
        X: Training inputs (n, d).
        y: Training targets (n,).
        X_test: Test inputs (t, d); t may be 0.
        y_test: Test targets (t,).
        info: Scalar facts about the data (floats), e.g. d and tr_sigma.
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    info: dict = field(default_factory=dict)


def split_rows(Z: np.ndarray, y: np.ndarray, n: int, info: dict) -> Dataset:
    """The first n rows of Z (N, d) and y (N,) for training, the rest for testing."""
    return Dataset(Z[:n], y[:n], Z[n:], y[n:], info)
