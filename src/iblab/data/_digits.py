"""scikit-learn's 8x8 handwritten digits (d = 64) as a two-class problem."""

from __future__ import annotations

import numpy as np

from iblab.config import ConfigError, DigitsData
from iblab.data._dataset import Dataset


def standardize(X: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale each feature by the training mean and std (as sklearn's
    StandardScaler: features of zero training std are centred, not scaled)."""
    mean, std = X.mean(axis=0), X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X - mean) / std, (X_test - mean) / std


def digits_dataset(data: DigitsData, rng: np.random.Generator) -> Dataset:
    """scikit-learn's digits of two classes, label -1 for classes[0] and +1 for classes[1].

    The images are shuffled with rng: the first n for training (n None: all but n_test), the
    next n_test for testing; standardised by the training set when data.standardize.

    Args:
        data: The data config.
        rng: The "data" stream.

    Returns:
        The Dataset, d = 64; info holds d and tr_sigma, the mean ||x_i||^2.

    Raises:
        ConfigError: n < 1, or n + n_test exceeds the images of the two classes.
    """
    from sklearn.datasets import load_digits  # scikit-learn loads in seconds: only here

    images, targets = load_digits(return_X_y=True)
    keep = np.isin(targets, data.classes)
    X_all = images[keep].astype(np.float64)
    y_all = np.where(targets[keep] == data.classes[0], -1.0, 1.0)
    available = X_all.shape[0]
    n = data.n if data.n is not None else available - data.n_test
    if n < 1 or n + data.n_test > available:
        raise ConfigError(
            f"data.n: n + n_test = {n} + {data.n_test} exceeds the {available} images of "
            f"digits {data.classes}"
        )
    order = rng.permutation(available)
    train, test = order[:n], order[n : n + data.n_test]
    X, X_test = X_all[train], X_all[test]
    if data.standardize:
        X, X_test = standardize(X, X_test)
    info = {"d": 64.0, "tr_sigma": float(np.mean(np.sum(X * X, axis=1)))}
    return Dataset(X, y_all[train], X_test, y_all[test], info)
