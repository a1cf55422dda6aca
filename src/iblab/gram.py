"""Quantities of W = s W_0 + C X computed from Gram blocks alone.

Shapes: C (m, n), K = X X^T (n, n), P0 = X W_0^T (n, m), G0 = W_0 W_0^T (m, m), s a scalar.
Every function works on NumPy and JAX arrays alike (only `@`, `*`, `.T` and sums), except
`psd_factor` and `psd_pinv`, which are NumPy (float64).
"""

from __future__ import annotations

import numpy as np


def preactivations(s, C, K, P0):
    """Pre-activations X W^T = s X W_0^T + K C^T.

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        K (array): X X^T (n, n), or K_test = X_test X^T (t, n) for test points.
        P0 (array): X W_0^T (n, m), or P0_test = X_test W_0^T (t, m).

    Returns:
        (array): Z, shape (n, m) (or (t, m)).
    """
    return s * P0 + K @ C.T


def weight_gram(s, C, K, P0, G0):
    """W W^T = s^2 G0 + s (C P0 + P0^T C^T) + C K C^T.

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array): W_0 W_0^T (m, m).

    Returns:
        (array): W W^T, shape (m, m), in the units of W squared.
    """
    CP = C @ P0
    return s * s * G0 + s * (CP + CP.T) + C @ K @ C.T


def frobenius_sq(s, C, K, P0, G0):
    """||W||_F^2 = tr W W^T for W = s W_0 + C X, without forming W or W W^T: O(m n^2).

    Args:
        s (float): The scale of W_0.
        C (array): Coefficients (m, n).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array | float): W_0 W_0^T (m, m), or its trace, which is all this needs.

    Returns:
        (scalar): ||W||_F^2, in the units of W squared.
    """
    trace_G0 = G0.trace() if getattr(G0, "ndim", 0) == 2 else G0
    return s * s * trace_G0 + 2.0 * s * (C * P0.T).sum() + (C * (C @ K)).sum()


def distance_sq(s1, C1, s2, C2, K, P0, G0):
    """||W_1 - W_2||_F^2 for two first layers W_i = s_i W_0 + C_i X on one draw.

    The draw (the same X and W_0) gives both from its Gram blocks, at a cost independent of
    d, O(m n^2). W_1 - W_2 = (s_1 - s_2) W_0 + (C_1 - C_2) X, so with s_1 = s_2 this is
    tr (C_1 - C_2) K (C_1 - C_2)^T. With model.bias the blocks carry the bias column, and so
    does W.

    Args:
        s1 (float): The scale of W_0 in W_1 (1 for GD without weight decay, and the flow).
        C1 (array): Coefficients of W_1 (m, n).
        s2 (float): The scale of W_0 in W_2.
        C2 (array | float): Coefficients of W_2 (m, n), or 0 for W_2 = s2 W_0.
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array | float): W_0 W_0^T (m, m) or its trace; used only when s1 != s2.

    Returns:
        (scalar): ||W_1 - W_2||_F^2, in the units of W squared.
    """
    return frobenius_sq(s1 - s2, C1 - C2, K, P0, G0)


def psd_factor(H, rtol):
    """Eigen factor of a symmetric PSD matrix on its numerical range (NumPy, float64).

    Eigenvalues at most rtol * the largest (all of them when none is positive) count as
    zero, which drops negative round-off ones.

    Args:
        H (array): A symmetric PSD matrix (n, n); its symmetric part is used.
        rtol (float): Relative threshold below which eigenvalues count as zero.

    Returns:
        (tuple[ndarray, ndarray]): U (n, r) with orthonormal columns and sig (r,) > 0 such
            that H ~= U diag(sig^2) U^T, i.e. H ~= R^T R with R = sig[:, None] * U.T (r, n).
    """
    H = np.asarray(H, dtype=np.float64)
    ev, U = np.linalg.eigh(0.5 * (H + H.T))
    keep = ev > rtol * ev.max(initial=0.0)
    return U[:, keep], np.sqrt(ev[keep])


def psd_pinv(U, sig):
    """The pseudo-inverse H^+ = U diag(1 / sig^2) U^T from `psd_factor`'s pieces.

    Args:
        U (ndarray): Orthonormal columns (n, r).
        sig (ndarray): Positive square roots of the kept eigenvalues (r,).

    Returns:
        (ndarray): H^+, shape (n, n).
    """
    return (U / sig**2) @ U.T
