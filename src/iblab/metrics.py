"""Diagnostics of a two-layer network f(x) = sum_j a_j phi(<w_j, x>) from Gram blocks alone.

The first layer is W = s W_0 + C X (see `iblab.gram`). Shapes: C (m, n), a (m,), y (n,),
K = X X^T (n, n), P0 = X W_0^T (n, m), G0 = W_0 W_0^T (m, m); for test points pass
K_test = X_test X^T (t, n) and P0_test = X_test W_0^T (t, m) in place of (K, P0).

Everything except `kkt_residual` works on NumPy and JAX arrays alike; `kkt_residual` solves a
non-negative least-squares problem with SciPy and is NumPy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.optimize

from iblab._xp import namespace
from iblab.gram import frobenius_sq, preactivations, psd_factor, weight_gram

# --------------------------------------------------------------------------------------------
# Spectrum of the first layer
# --------------------------------------------------------------------------------------------


def singular_values(s, C, K, P0, G0, k=None):
    """Top-k singular values of W, descending, shape (k,) (all m when k is None).

    From eigvalsh of W W^T (m, m), clipped at 0 before the square root, so values below
    about sqrt(eps) * sigma_max are round-off.
    """
    G = weight_gram(s, C, K, P0, G0)
    xp = namespace(G)
    ev = xp.linalg.eigvalsh(G)[::-1]
    sv = xp.sqrt(xp.clip(ev, 0.0, None))
    return sv if k is None else sv[:k]


def stable_rank(s, C, K, P0, G0):
    """||W||_F^2 / ||W||_2^2, in [1, rank W]; nan for W = 0 (0/0 is left undefined)."""
    G = weight_gram(s, C, K, P0, G0)
    xp = namespace(G)
    top = xp.clip(xp.linalg.eigvalsh(G)[-1], 0.0, None)
    fro = xp.clip(xp.trace(G), 0.0, None)
    safe = xp.where(top > 0, top, 1.0)
    return xp.where(top > 0, fro / safe, xp.nan)[()]


def frobenius_norm(s, C, K, P0, G0):
    """||W||_F, a scalar: inf only when the norm itself overflows.

    (s, C) are divided by their largest magnitude before squaring, so a W whose entries
    are near 1e200 still has a finite norm (and NaN in (s, C) gives NaN, never 0)."""
    xp = namespace(C)
    scale = xp.maximum(xp.abs(s), xp.max(xp.abs(C), initial=0.0))
    unit = xp.where((scale > 0) & xp.isfinite(scale), scale, 1.0)
    sq = xp.maximum(frobenius_sq(s / unit, C / unit, K, P0, G0), 0.0)
    return xp.where(xp.isfinite(scale), unit * xp.sqrt(sq), scale)[()]


# --------------------------------------------------------------------------------------------
# Outputs, margins, accuracy
# --------------------------------------------------------------------------------------------


def outputs(s, C, a, K, P0, phi):
    """f(x) = phi(x^T W^T) a on the rows of (K, P0), shape (n,) or, with (K_test, P0_test), (t,).

    phi is an elementwise callable (NumPy or JAX, matching the arrays).
    """
    return phi(preactivations(s, C, K, P0)) @ a


def normalized_margin(y, f, frob):
    """min_i y_i f_i / frob, a scalar.

    With the second layer fixed (Frei et al. 2023: a_j = +-1/sqrt(m), only W trained) f is
    1-homogeneous in W for (leaky) ReLU and the right normaliser is frob = ||W||_F, which is
    what iblab reports. When a is trained too, pass ||W||_F * ||a||_2 (f is then
    2-homogeneous in (W, a)); that choice is the caller's and should be stated.
    """
    xp = namespace(f)
    return xp.min(y * f) / frob


def accuracy(y, f):
    """Fraction of points with sign f_i == y_i (f_i == 0 counts as an error)."""
    xp = namespace(f)
    return xp.mean(xp.sign(f) == y)


# --------------------------------------------------------------------------------------------
# The network's linear direction
# --------------------------------------------------------------------------------------------


class SpanVector(NamedTuple):
    """A vector z = W_0^T g + X^T c of R^d, held by its coefficients g (m,) and c (n,)."""

    g: object
    c: object


def linear_direction(s, C, a):
    """z = W^T a = s W_0^T a + X^T (C^T a), as SpanVector(g = s a, c = C^T a).

    Why z: Frei et al. (2023) show the limit network has (up to scale) one row shared by all
    neurons with a_j > 0 and one by all with a_j < 0, and |a_j| constant; as phi is strictly
    increasing, sign f(x) = sign(<v_+ - v_->, x>) = sign(<z, x>) exactly for such a network.
    For any other W, z is the network's effective linear predictor, not an exact one.
    """
    return SpanVector(g=s * a, c=C.T @ a)


def span_scores(z: SpanVector, K_other, P0_other):
    """<z, x> on the rows of (K_other, P0_other): P0_other g + K_other c, shape (n,) or (t,)."""
    return P0_other @ z.g + K_other @ z.c


def span_sqnorm(z: SpanVector, K, P0, G0):
    """||z||^2 = g^T G0 g + 2 g^T P0^T c + c^T K c."""
    return z.g @ G0 @ z.g + 2.0 * (P0 @ z.g) @ z.c + z.c @ K @ z.c


def cosine_to_span_vector(s, C, a, beta, K, P0, G0):
    """cos(z, u) = <z, u> / (||z|| ||u||) for z = W^T a and u = X^T beta, beta (n,).

    <z, u> = beta^T (P0 g + K c) and ||u||^2 = beta^T K beta; e.g. beta = the max-margin
    SVM's `beta_` gives the alignment of the network's linear direction with the SVM.
    """
    xp = namespace(C)
    z = linear_direction(s, C, a)
    inner = beta @ span_scores(z, K, P0)
    nz = xp.sqrt(xp.clip(span_sqnorm(z, K, P0, G0), 0.0, None))
    nu = xp.sqrt(xp.clip(beta @ K @ beta, 0.0, None))
    return inner / (nz * nu)


# --------------------------------------------------------------------------------------------
# KKT residual of the parameter-space max-margin problem
# --------------------------------------------------------------------------------------------


def kkt_residual(s, C, a, y, K, P0, G0, phi, dphi):
    """How far W is from a KKT point of min 1/2 ||W||_F^2 s.t. y_i f(x_i; W) >= 1, a fixed.

    W is first rescaled to W~ = W / q, q = min_i y_i f(x_i; W), so that its smallest margin
    is 1; this uses f(x; W / q) = f(x; W) / q, true for positively 1-homogeneous phi (ReLU,
    leaky ReLU). For other phi the rescaling, and so the residual, is not meaningful.

    Stationarity asks W~ = sum_i lambda_i V_i with lambda >= 0 and V_i = y_i grad_W f(x_i),
    i.e. V_i = y_i (a * phi'(z_i)) x_i^T, z_i = W x_i (the sign pattern of W and W~ agree).
    With A (n, m), A_ij = y_i a_j phi'(z_ij), the Gram matrix is H = (A A^T) * K and
    <W~, V_i> = sum_j A_ij z_ij / q; lambda solves the NNLS min_{lambda >= 0} ||W~ - sum
    lambda_i V_i||_F through a factor H = R^T R. At a ReLU kink the subgradient chosen is
    dphi(0).

    Returns a dict: residual = ||W~ - sum_i lambda_i V_i||_F / ||W~||_F, lambda (n,),
    complementary_slackness = sum_i lambda_i (y_i f(x_i; W~) - 1) >= 0, scale = q and
    separates = q > 0; when q <= 0, residual is inf and lambda, complementary_slackness nan.
    The residual is formed from Gram blocks, so when W_0 lies in the span of X and s != 0
    its floor is about sqrt(eps) instead of eps.
    """
    s, C, a, y, K, P0, G0 = (np.asarray(v, dtype=np.float64) for v in (s, C, a, y, K, P0, G0))
    Z = np.asarray(preactivations(s, C, K, P0))
    margins = y * (np.asarray(phi(Z)) @ a)
    q = float(margins.min())
    if not q > 0:
        n = y.shape[0]
        return {
            "residual": np.inf,
            "lambda": np.full(n, np.nan),
            "complementary_slackness": np.nan,
            "scale": q,
            "separates": False,
        }
    A = y[:, None] * np.asarray(dphi(Z)) * a[None, :]
    H = (A @ A.T) * K
    b = (A * Z).sum(axis=1) / q
    U, sig = psd_factor(H, H.shape[0] * np.finfo(float).eps)
    # min ||W~ - sum lambda_i V_i|| is, up to a constant, ||R lambda - R^{+T} b|| with H = R^T R.
    lam, _ = scipy.optimize.nnls(sig[:, None] * U.T, (U / sig).T @ b)
    D = (A * lam[:, None]).T  # (m, n): sum_i lambda_i V_i = D X
    res_sq = frobenius_sq(s / q, C / q - D, K, P0, G0)
    norm_sq = frobenius_sq(s / q, C / q, K, P0, G0)
    return {
        "residual": float(np.sqrt(max(res_sq, 0.0) / norm_sq)),
        "lambda": lam,
        "complementary_slackness": float(lam @ (margins / q - 1.0)),
        "scale": q,
        "separates": True,
    }
