"""Quantities of W = s W_0 + C X computed from Gram blocks alone.

Shapes: C (m, n), K = X X^T (n, n), P0 = X W_0^T (n, m), G0 = W_0 W_0^T (m, m), s a scalar.
Every function works on NumPy and JAX arrays alike (only `@`, `*`, `.T` and sums), except
`psd_factor` and `psd_pinv`, which are NumPy (float64).
"""

from __future__ import annotations

import numpy as np


def preactivations(s, C, K, P0):
    """X W^T = s X W_0^T + K C^T, shape (n, m). For test points pass (K_test, P0_test)."""
    return s * P0 + K @ C.T


def weight_gram(s, C, K, P0, G0):
    """W W^T = s^2 G0 + s (C P0 + P0^T C^T) + C K C^T, shape (m, m)."""
    CP = C @ P0
    return s * s * G0 + s * (CP + CP.T) + C @ K @ C.T


def frobenius_sq(s, C, K, P0, G0):
    """||W||_F^2 = tr W W^T for W = s W_0 + C X, without forming W or W W^T: O(m n^2).

    The result is a scalar, in the units of W squared.

    Args:
        s (float): the scale of W_0.
        C (ndarray): coefficients (m, n).
        K (ndarray): X X^T (n, n).
        P0 (ndarray): X W_0^T (n, m).
        G0 (ndarray | float): W_0 W_0^T (m, m), or its trace, which is all this needs.
    """
    trace_G0 = G0.trace() if getattr(G0, "ndim", 0) == 2 else G0
    return s * s * trace_G0 + 2.0 * s * (C * P0.T).sum() + (C * (C @ K)).sum()


def distance_sq(s1, C1, s2, C2, K, P0, G0):
    """||W_1 - W_2||_F^2 for W_i = s_i W_0 + C_i X: two first layers on one draw (the same
    X and W_0), compared from its Gram blocks at a cost independent of d, O(m n^2).

    W_1 - W_2 = (s_1 - s_2) W_0 + (C_1 - C_2) X, so with s_1 = s_2 this is
    tr (C_1 - C_2) K (C_1 - C_2)^T. With model.bias the blocks carry the bias column, and so
    does W. The result is a scalar, in the units of W squared.

    Args:
        s1 (float): the scale of W_0 in W_1 (1 for GD without weight decay, and the flow).
        C1 (ndarray): coefficients of W_1 (m, n).
        s2 (float): the scale of W_0 in W_2.
        C2 (ndarray | float): coefficients of W_2 (m, n), or 0 for W_2 = s2 W_0.
        K (ndarray): X X^T (n, n).
        P0 (ndarray): X W_0^T (n, m).
        G0 (ndarray | float): W_0 W_0^T (m, m) or its trace; used only when s1 != s2.
    """
    return frobenius_sq(s1 - s2, C1 - C2, K, P0, G0)


def psd_factor(H, rtol):
    """Eigen factor of a symmetric PSD matrix H (n, n) on its numerical range.

    Returns U (n, r) with orthonormal columns and sig (r,) > 0 such that
    H ~= U diag(sig^2) U^T, i.e. H ~= R^T R with R = sig[:, None] * U.T (r, n). Eigenvalues
    at most rtol * the largest (all of them when none is positive) count as zero, which
    drops negative round-off ones."""
    H = np.asarray(H, dtype=np.float64)
    ev, U = np.linalg.eigh(0.5 * (H + H.T))
    keep = ev > rtol * ev.max(initial=0.0)
    return U[:, keep], np.sqrt(ev[keep])


def psd_pinv(U, sig):
    """The pseudo-inverse H^+ = U diag(1 / sig^2) U^T (n, n) from `psd_factor`'s pieces."""
    return (U / sig**2) @ U.T
