"""Explicit synthetic inputs: Gaussian, two-cluster mixture and exactly orthogonal.

Every draw comes from the config's "data" stream. Rows are drawn for train and test
together (n + n_test rows), the first n are the training set.
"""

from __future__ import annotations

import math

import numpy as np

from iblab.config import GaussianData, MixtureData, OrthogonalData
from iblab.data._dataset import Dataset, split_rows
from iblab.data._labels import flip_signs, make_labels, needs_teacher, random_unit_vector
from iblab.data._spectrum import eigenvalues, traces


def gaussian_dataset(data: GaussianData, rng: np.random.Generator) -> Dataset:
    """Gaussian inputs x = Sigma^{1/2} z, z ~ N(0, I_d), unscaled (||x||^2 ~ tr Sigma).

    Labels follow data.labels, with a teacher beta uniform on the unit sphere drawn after
    the inputs. The n + n_test rows are drawn together; the first n are for training.

    Args:
        data: The data config.
        rng: The "data" stream.

    Returns:
        The Dataset; info holds d, tr_sigma (tr Sigma) and tr_sigma_sq (tr Sigma^2).

    Raises:
        ConfigError: A spiked spectrum has more spikes than d.
    """
    rows = data.n + data.n_test
    lam = eigenvalues(data.spectrum, data.d)
    X = rng.standard_normal((rows, data.d)) * np.sqrt(lam)
    u = X @ random_unit_vector(rng, data.d) if needs_teacher(data.labels) else None
    y = make_labels(data.labels, u, rows, rng)
    tr, tr_sq = traces(data.spectrum, data.d)
    return split_rows(X, y, data.n, {"d": float(data.d), "tr_sigma": tr, "tr_sigma_sq": tr_sq})


def mixture_dataset(data: MixtureData, rng: np.random.Generator) -> Dataset:
    """Two-cluster inputs x = y~ mu + z, z ~ N(0, I_d), y~ uniform on {-1, +1}.

    mu = mu_norm e with e uniform on the unit sphere. The label is y~ flipped with
    probability label_noise, for training and test points alike (test labels are as noisy
    as training labels).

    Args:
        data: The data config.
        rng: The "data" stream.

    Returns:
        The Dataset; info holds d, tr_sigma (d, the noise covariance's trace) and mu_norm.
    """
    rows = data.n + data.n_test
    mu = data.mu_norm * random_unit_vector(rng, data.d)
    clean = rng.choice(np.array([-1.0, 1.0]), size=rows)
    X = clean[:, None] * mu[None, :] + rng.standard_normal((rows, data.d))
    y = flip_signs(rng, clean, data.label_noise)
    info = {"d": float(data.d), "tr_sigma": float(data.d), "mu_norm": data.mu_norm}
    return split_rows(X, y, data.n, info)


def orthogonal_dataset(data: OrthogonalData, rng: np.random.Generator) -> Dataset:
    """Exactly orthogonal inputs x_i = norm e_i (norm defaults to sqrt(d)).

    Training rows sit on coordinates 0..n-1, test rows on the next n_test; labels follow
    data.labels with a teacher beta uniform on the unit sphere.

    Args:
        data: The data config.
        rng: The "data" stream.

    Returns:
        The Dataset; info holds d and tr_sigma = norm^2, the role tr Sigma plays for
            Gaussian inputs.
    """
    rows = data.n + data.n_test
    norm = data.norm if data.norm is not None else math.sqrt(data.d)
    X = np.zeros((rows, data.d))
    X[np.arange(rows), np.arange(rows)] = norm
    u = X @ random_unit_vector(rng, data.d) if needs_teacher(data.labels) else None
    y = make_labels(data.labels, u, rows, rng)
    return split_rows(X, y, data.n, {"d": float(data.d), "tr_sigma": float(norm**2)})
