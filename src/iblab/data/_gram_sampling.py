"""Exact sampling of Gram blocks of Gaussian data and Gaussian initialisation, cost free of d.

Rows are the N = n + n_test inputs [X; X_test]. Their Gram matrix K = X X^T (N, N) is
sampled first (the "data" stream), then X W_0^T and W_0 W_0^T given K (the "init" stream):

* Inputs. Coordinates split into explicit ones (spikes, a power-law head, the teacher or
  cluster-mean direction) sampled as an (N, h) Gaussian, and isotropic blocks of dimension
  d_g and eigenvalue s_g, each adding s_g Wishart(d_g, I_N) to K (Bartlett). Rotation
  invariance within each block makes this exact in law: a uniformly random teacher beta has
  explicit head components and, in each block, a component of norm ||beta_g|| that can be
  rotated onto one explicit coordinate of that block; a mixture mean lies, WLOG, on one
  explicit coordinate.
* Initialisation. W_0 has iid N(0, std^2) rows, so with X = F Q^T (F F^T = K, F (N, r) of
  rank r = min(N, d), Q (d, r) orthonormal) the coordinates W_0 Q are std * H^T, H ~ N(0, 1)
  (r, m), independent of the part orthogonal to the row space. Hence X W_0^T = std F H and
  W_0 W_0^T = std^2 (H^T H + Wishart(d - r, I_m)).

Power-law spectra have d distinct eigenvalues; their tail is replaced by blocks of constant
eigenvalue (see _spectrum.block_spectrum), an approximation that keeps tr Sigma = d.
"""

from __future__ import annotations

import numpy as np

from iblab.config import GaussianData, MixtureData
from iblab.data._labels import flip_signs, make_labels, needs_teacher
from iblab.data._spectrum import block_spectrum, traces
from iblab.data._wishart import wishart_identity


def gaussian_gram(
    data: GaussianData, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The Gram matrix and targets of Gaussian inputs x = Sigma^{1/2} z, sampled exactly.

    Same law as `gaussian_dataset` (exactly for isotropic and spiked spectra; a power law's
    tail is blocked, see `block_spectrum`), at a cost independent of d.

    Args:
        data: The data config.
        rng: The "data" stream.

    Returns:
        (K, y, info): K = X X^T (N, N) over the N = n + n_test rows [X; X_test], y (N,), and
            info (d, tr_sigma, tr_sigma_sq, gram_explicit_coordinates, gram_blocks).

    Raises:
        ConfigError: A spiked spectrum has more spikes than d.
    """
    rows = data.n + data.n_test
    spec = block_spectrum(data.spectrum, data.d, rows)
    eigs, dims = spec.head, spec.block_dims.copy()
    beta = None
    if needs_teacher(data.labels):
        # beta uniform on the sphere: explicit head part, one norm per block.
        g = rng.standard_normal(eigs.size)
        chi2 = np.zeros(dims.size)
        has = dims > 0
        chi2[has] = rng.chisquare(dims[has].astype(np.float64))
        norm = np.sqrt(g @ g + chi2.sum())
        beta = np.concatenate([g, np.sqrt(chi2[has])]) / norm
        eigs = np.concatenate([eigs, spec.block_eigs[has]])
        dims = dims - has
    Z = rng.standard_normal((rows, eigs.size)) * np.sqrt(eigs)
    K = Z @ Z.T
    for dim, eig in zip(dims, spec.block_eigs, strict=True):
        if dim > 0:
            K += eig * wishart_identity(rng, int(dim), rows)
    u = Z @ beta if beta is not None else None
    y = make_labels(data.labels, u, rows, rng)
    tr, tr_sq = traces(data.spectrum, data.d)
    info = {
        "d": float(data.d),
        "tr_sigma": tr,
        "tr_sigma_sq": tr_sq,
        "gram_explicit_coordinates": float(eigs.size),
        "gram_blocks": float(spec.block_dims.size),
    }
    return K, y, info


def mixture_gram(
    data: MixtureData, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The Gram matrix and labels of the mixture x = y~ mu + z, sampled exactly.

    Same law as `mixture_dataset`: mu on explicit coordinate 0, the other d - 1 coordinates
    a Wishart block.

    Args:
        data: The data config.
        rng: The "data" stream.

    Returns:
        (K, y, info): K = X X^T (N, N) over the N = n + n_test rows, y (N,), and info (d,
            tr_sigma, mu_norm).
    """
    rows = data.n + data.n_test
    clean = rng.choice(np.array([-1.0, 1.0]), size=rows)
    z0 = rng.standard_normal(rows) + data.mu_norm * clean
    K = np.outer(z0, z0) + wishart_identity(rng, data.d - 1, rows)
    y = flip_signs(rng, clean, data.label_noise)
    info = {"d": float(data.d), "tr_sigma": float(data.d), "mu_norm": data.mu_norm}
    return K, y, info


def _row_factor(K: np.ndarray, rank: int) -> np.ndarray:
    """F (N, rank) with F F^T = K: Cholesky when K has full rank, else the top eigenpairs."""
    if rank == K.shape[0]:
        try:
            return np.linalg.cholesky(K)
        except np.linalg.LinAlgError:
            pass
    ev, U = np.linalg.eigh(K)
    return U[:, -rank:] * np.sqrt(np.clip(ev[-rank:], 0.0, None))


def init_gram(
    K: np.ndarray, d: int, std: float, m: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The initialisation's Gram blocks given the inputs', exact in law.

    W_0 (m, d) has iid N(0, std^2) entries. With X = F Q^T (F F^T = K, rank r = min(N, d)),
    X W_0^T = std F H and W_0 W_0^T = std^2 (H^T H + Wishart(d - r, I_m)), H ~ N(0, 1) (r, m).
    Linear in std: the draws do not depend on it (std = 0 gives zeros).

    Args:
        K: X X^T (N, N).
        d: Input dimension.
        std: Std of W_0's entries.
        m: Width.
        rng: The "init" stream.

    Returns:
        (X W_0^T (N, m), W_0 W_0^T (m, m)).
    """
    rows = K.shape[0]
    rank = min(rows, d)
    H = rng.standard_normal((rank, m))
    P = std * (_row_factor(K, rank) @ H)
    G = std**2 * (H.T @ H + wishart_identity(rng, d - rank, m))
    return P, G
