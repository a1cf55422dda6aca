"""Exact samples of Wishart(df, I_p): the Gram matrix Z Z^T of a (p, df) standard Gaussian Z."""

from __future__ import annotations

import numpy as np


def wishart_identity(rng: np.random.Generator, df: int, p: int) -> np.ndarray:
    """A sample of Wishart(df, I_p) at cost O(p^3), whatever df.

    df >= p: Bartlett's decomposition W = A A^T with A lower triangular, A_ii^2 ~
    chi^2(df - i) (i = 0..p-1) and A_ik ~ N(0, 1) below the diagonal. df < p (a singular
    Wishart): Z Z^T from an explicit (p, df) Gaussian Z. df = 0 gives zeros.

    Args:
        rng: The random generator.
        df: Degrees of freedom (>= 0).
        p: Size.

    Returns:
        The sample (p, p).
    """
    if df < p:
        Z = rng.standard_normal((p, df))
        return Z @ Z.T
    A = np.diag(np.sqrt(rng.chisquare(df - np.arange(p, dtype=np.float64))))
    rows, cols = np.tril_indices(p, k=-1)
    A[rows, cols] = rng.standard_normal(rows.size)
    return A @ A.T
