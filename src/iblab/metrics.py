"""Diagnostics of a two-layer network `f(x) = sum_j a_j phi(<w_j, x>)` from Gram blocks alone.

The first layer is W = s W_0 + C X (see `iblab.gram`). Shapes: C (m, n), a (m,), y (n,),
K = X X^T (n, n), P0 = X W_0^T (n, m), G0 = W_0 W_0^T (m, m); for test points pass
K_test = X_test X^T (t, n) and P0_test = X_test W_0^T (t, m) in place of (K, P0).

Everything except `kkt_residual` works on NumPy and JAX arrays alike; `kkt_residual` solves a
non-negative least-squares problem with SciPy (a QP with Clarabel when entries sit on their
kink) and is NumPy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.optimize

from iblab._qp import homogeneous_qp
from iblab._xp import namespace
from iblab.gram import frobenius_sq, preactivations, psd_factor, weight_gram

# --------------------------------------------------------------------------------------------
# Spectrum of the first layer
# --------------------------------------------------------------------------------------------


def singular_values(s, C, K, P0, G0, k=None):
    """Top-k singular values of W, descending.

    From eigvalsh of W W^T (m, m), clipped at 0 before the square root, so values below
    about sqrt(eps) * sigma_max are round-off.

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array): W_0 W_0^T (m, m).
        k (int | None): How many to return; None for all m.

    Returns:
        (array): The singular values, shape (k,) (or (m,)), in the units of W.
    """
    G = weight_gram(s, C, K, P0, G0)
    xp = namespace(G)
    ev = xp.linalg.eigvalsh(G)[::-1]
    sv = xp.sqrt(xp.clip(ev, 0.0, None))
    return sv if k is None else sv[:k]


def stable_rank(s, C, K, P0, G0):
    """The stable rank ||W||_F^2 / ||W||_2^2 of W, in [1, rank W].

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array): W_0 W_0^T (m, m).

    Returns:
        (scalar): The stable rank; nan for W = 0 (0/0 is left undefined).
    """
    G = weight_gram(s, C, K, P0, G0)
    xp = namespace(G)
    top = xp.clip(xp.linalg.eigvalsh(G)[-1], 0.0, None)
    fro = xp.clip(xp.trace(G), 0.0, None)
    safe = xp.where(top > 0, top, 1.0)
    return xp.where(top > 0, fro / safe, xp.nan)[()]


def frobenius_norm(s, C, K, P0, G0):
    """||W||_F, a scalar: inf only when the norm itself overflows.

    (s, C) are divided by their largest magnitude before squaring, so a W whose entries
    are near 1e200 still has a finite norm (and NaN in (s, C) gives NaN, never 0).

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array | float): W_0 W_0^T (m, m), or its trace, which is all this needs.

    Returns:
        (scalar): ||W||_F, in the units of W.
    """
    xp = namespace(C)
    scale = xp.maximum(xp.abs(s), xp.max(xp.abs(C), initial=0.0))
    unit = xp.where((scale > 0) & xp.isfinite(scale), scale, 1.0)
    sq = xp.maximum(frobenius_sq(s / unit, C / unit, K, P0, G0), 0.0)
    return xp.where(xp.isfinite(scale), unit * xp.sqrt(sq), scale)[()]


# --------------------------------------------------------------------------------------------
# Outputs, margins, accuracy
# --------------------------------------------------------------------------------------------


def outputs(s, C, a, K, P0, phi):
    """The network's outputs f(x) = phi(x^T W^T) a on the rows of (K, P0).

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        a (array): Second layer (m,).
        K (array): X X^T (n, n), or K_test = X_test X^T (t, n) for test points.
        P0 (array): X W_0^T (n, m), or P0_test = X_test W_0^T (t, m).
        phi (Callable): Elementwise activation (NumPy or JAX, matching the arrays).

    Returns:
        (array): f, shape (n,) (or (t,) with the test blocks).
    """
    return phi(preactivations(s, C, K, P0)) @ a


def normalized_margin(y, f, frob):
    """The normalized margin min_i y_i f_i / frob.

    With the second layer fixed (Frei et al. 2023: a_j = +-1/sqrt(m), only W trained) f is
    1-homogeneous in W for (leaky) ReLU and the right normaliser is frob = ||W||_F, which is
    what iblab reports. When a is trained too, pass ||W||_F * ||a||_2 (f is then
    2-homogeneous in (W, a)); that choice is the caller's and should be stated.

    Args:
        y (array): Labels -1/+1 (n,).
        f (array): Outputs (n,).
        frob (float): The normaliser, e.g. ||W||_F.

    Returns:
        (scalar): min_i y_i f_i / frob.
    """
    xp = namespace(f)
    return xp.min(y * f) / frob


def accuracy(y, f):
    """Fraction of points with sign f_i == y_i (f_i == 0 counts as an error).

    Args:
        y (array): Labels -1/+1 (n,).
        f (array): Outputs (n,).

    Returns:
        (scalar): The accuracy, in [0, 1].
    """
    xp = namespace(f)
    return xp.mean(xp.sign(f) == y)


# --------------------------------------------------------------------------------------------
# The network's linear direction
# --------------------------------------------------------------------------------------------


class SpanVector(NamedTuple):
    """A vector z = W_0^T g + X^T c of R^d, held by its coefficients.

    Attributes:
        g (array): Coefficients on the rows of W_0 (m,).
        c (array): Coefficients on the rows of X (n,).
    """

    g: object
    c: object


def linear_direction(s, C, a):
    """The network's linear direction z = W^T a = s W_0^T a + X^T (C^T a).

    Why z: Frei et al. (2023) show the limit network has (up to scale) one row shared by all
    neurons with a_j > 0 and one by all with a_j < 0, and |a_j| constant; as phi is strictly
    increasing, sign f(x) = `sign(<v_+ - v_-, x>) = sign(<z, x>)` exactly for such a network.
    For any other W, z is the network's effective linear predictor, not an exact one.

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        a (array): Second layer (m,).

    Returns:
        (SpanVector): SpanVector(g = s a, c = C^T a).
    """
    return SpanVector(g=s * a, c=C.T @ a)


def span_scores(z: SpanVector, K_other, P0_other):
    """`<z, x>` on the rows of (K_other, P0_other): P0_other g + K_other c.

    Args:
        z (SpanVector): The vector.
        K_other (array): Gram rows of the points against X: K (n, n) or K_test (t, n).
        P0_other (array): The points against W_0: P0 (n, m) or P0_test (t, m).

    Returns:
        (array): The scores, shape (n,) or (t,).
    """
    return P0_other @ z.g + K_other @ z.c


def span_sqnorm(z: SpanVector, K, P0, G0):
    """||z||^2 = g^T G0 g + 2 g^T P0^T c + c^T K c.

    Args:
        z (SpanVector): The vector.
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array): W_0 W_0^T (m, m).

    Returns:
        (scalar): ||z||^2.
    """
    return z.g @ G0 @ z.g + 2.0 * (P0 @ z.g) @ z.c + z.c @ K @ z.c


def cosine_to_span_vector(s, C, a, beta, K, P0, G0):
    """`cos(z, u) = <z, u> / (||z|| ||u||)` for z = W^T a and u = X^T beta.

    `<z, u>` = beta^T (P0 g + K c) and ||u||^2 = beta^T K beta; e.g. beta = the max-margin
    SVM's `beta_` gives the alignment of the network's linear direction with the SVM.

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        a (array): Second layer (m,).
        beta (array): Coefficients of u on the rows of X (n,).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array): W_0 W_0^T (m, m).

    Returns:
        (scalar): The cosine, in [-1, 1].
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


def clarke_slopes(act) -> tuple[float, float] | None:
    """The slopes phi' may take at 0 (Clarke's subdifferential).

    Args:
        act (Activation): The activation.

    Returns:
        (gamma, 1) for relu and leaky_relu, None for activations smooth at 0.
    """
    return (act.gamma, 1.0) if act.kind in ("relu", "leaky_relu") else None


def kkt_residual(s, C, a, y, K, P0, G0, phi, dphi, kink_slopes=None, kink_tol=1e-9, on_kink=None):
    """How far W is from a KKT point of min 1/2 ||W||_F^2 s.t. y_i f(x_i; W) >= 1, a fixed.

    W is first rescaled to W~ = W / q, q = min_i y_i f(x_i; W), so that its smallest margin
    is 1; this uses f(x; W / q) = f(x; W) / q, true for positively 1-homogeneous phi (ReLU,
    leaky ReLU). For other phi the rescaling, and so the residual, is not meaningful.

    Stationarity asks W~ = sum_i lambda_i V_i with lambda >= 0 and V_i = y_i grad_W f(x_i),
    i.e. V_i = y_i (a * phi'(z_i)) x_i^T, z_i = W x_i (the sign pattern of W and W~ agree).
    With A (n, m), A_ij = y_i a_j phi'(z_ij), the Gram matrix is H = (A A^T) * K and
    `<W~, V_i>` = sum_j A_ij z_ij / q; lambda solves the NNLS min_{lambda >= 0} ||W~ - sum
    lambda_i V_i||_F through a factor H = R^T R. At a kink z_ij = 0 the slope is dphi(0),
    unless kink_slopes = (lo, hi) is given: then, as in Clarke's subdifferential, every entry
    with |z_ij| <= kink_tol max |z| takes any slope in [lo, hi] ((gamma, 1) for a leaky
    ReLU), so lambda_i phi'_ij becomes a variable mu_ij with lo lambda_i <= mu_ij <=
    hi lambda_i, and the least-squares problem a QP (Clarabel). Gradient flow holds entries
    on their kink exactly; GD does not land on one. NumPy only (float64).

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        a (array): Second layer (m,), held fixed.
        y (array): Labels -1/+1 (n,).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array | float): W_0 W_0^T (m, m), or its trace, which is all this needs.
        phi (Callable): Elementwise activation.
        dphi (Callable): Its derivative, elementwise.
        kink_slopes (tuple[float, float] | None): (lo, hi), the slopes phi' may take at a
            kink (see `clarke_slopes`); None takes dphi(0).
        kink_tol (float): Entries with |z_ij| <= kink_tol max |z| count as on their kink.
        on_kink (array | None): (n, m) bool, entries that count as on their kink besides
            (given kink_slopes), e.g. the entries a flow holds on the kink of W when the
            residual is taken at W's learned part C X (s = 0), whose limit direction has
            them at 0.

    Returns:
        (dict): residual = ||W~ - sum_i lambda_i V_i||_F / ||W~||_F, lambda (n,),
            coefficients D (m, n) with sum_i lambda_i V_i = D X, kinks (entries on their
            kink, given kink_slopes), complementary_slackness =
            sum_i lambda_i (y_i f(x_i; W~) - 1) >= 0, scale = q and separates = q > 0;
            when q <= 0, residual is inf and lambda, coefficients, complementary_slackness
            nan. The residual is formed from Gram blocks, so when W_0 lies in the span of X
            and s != 0 its floor is about sqrt(eps) instead of eps.
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
            "coefficients": np.full(C.shape, np.nan),
            "kinks": 0,
            "complementary_slackness": np.nan,
            "scale": q,
            "separates": False,
        }
    A = y[:, None] * np.asarray(dphi(Z)) * a[None, :]
    kink = np.zeros(Z.shape, bool)
    if kink_slopes is not None:
        kink = np.abs(Z) <= kink_tol * np.abs(Z).max()
        if on_kink is not None:
            kink |= np.asarray(on_kink, bool)
    fit = _multipliers_with_kinks(A, K, Z, q, y, a, kink, *kink_slopes) if kink.any() else None
    if fit is None:  # no kink, or the QP failed: phi'(0) on the kinks
        kink[:] = False
        fit = _multipliers(A, K, Z, q)
    lam, D = fit
    res_sq = frobenius_sq(s / q, C / q - D, K, P0, G0)
    norm_sq = frobenius_sq(s / q, C / q, K, P0, G0)
    return {
        "residual": float(np.sqrt(max(res_sq, 0.0) / norm_sq)),
        "lambda": lam,
        "coefficients": D,
        "kinks": int(kink.sum()),
        "complementary_slackness": float(lam @ (margins / q - 1.0)),
        "scale": q,
        "separates": True,
    }


def _normal_equations(A, K, Z, q):
    """H = (A A^T) * K (n, n) and b = <W~, V_i> (n,): ||W~ - D X||_F^2 with D = (A *
    lambda[:, None])^T is lambda H lambda - 2 b lambda + ||W~||_F^2."""
    return (A @ A.T) * K, (A * Z).sum(axis=1) / q


def _multipliers(A, K, Z, q):
    """lambda (n,) >= 0 minimising ||W~ - D X||_F, D = (A * lambda[:, None])^T (m, n), an NNLS
    through a factor of H = (A A^T) * K = R^T R; returns (lambda, D)."""
    H, b = _normal_equations(A, K, Z, q)
    U, sig = psd_factor(H, H.shape[0] * np.finfo(float).eps)
    # min ||W~ - D X|| is, up to a constant, ||R lambda - R^{+T} b||.
    lam, _ = scipy.optimize.nnls(sig[:, None] * U.T, (U / sig).T @ b)
    return lam, (A * lam[:, None]).T


def _multipliers_with_kinks(A, K, Z, q, y, a, kink, lo, hi):
    """As `_multipliers`, with a variable slope on the kink entries (kink (n, m) bool): mu
    (one per kink entry) with lo lambda_i <= mu_ij <= hi lambda_i and D_ji = A_ij lambda_i +
    y_i a_j mu_ij off and on the kinks; returns (lambda, D), or None when the QP fails. The
    objective is tr(D K D^T) - 2 <D, Z^T / q> + const, in theta = (lambda, mu) (n + k,)."""
    A = np.where(kink, 0.0, A)
    H, b = _normal_equations(A, K, Z, q)
    n = b.shape[0]
    ki, kj = np.nonzero(kink)
    k = ki.size
    Bk = y[ki] * a[kj]  # D_{kj, ki} = Bk mu
    H_lm = A[:, kj] * K[:, ki] * Bk[None, :]  # (n, k)
    H_mm = (kj[:, None] == kj[None, :]) * K[np.ix_(ki, ki)] * np.outer(Bk, Bk)
    Hf = np.block([[H, H_lm], [H_lm.T, H_mm]])
    g = np.concatenate([b, Bk * Z[ki, kj] / q])
    sel_l = np.zeros((k, n + k))
    sel_l[np.arange(k), ki] = 1.0
    sel_m = np.zeros((k, n + k))
    sel_m[np.arange(k), n + np.arange(k)] = 1.0
    # G theta >= 0: lambda >= 0, mu - lo lambda >= 0, hi lambda - mu >= 0.
    G = np.vstack([np.eye(n, n + k), sel_m - lo * sel_l, hi * sel_l - sel_m])
    theta = homogeneous_qp(Hf, g, G)
    if theta is None:
        return None
    lam = np.maximum(theta[:n], 0.0)
    D = (A * lam[:, None]).T
    D[kj, ki] += Bk * np.clip(theta[n:], lo * lam[ki], hi * lam[ki])
    return lam, D
