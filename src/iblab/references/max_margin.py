"""The max-margin linear predictor without bias, from the Gram matrix K = X X^T alone.

Primal: min ||u||^2 s.t. `y_i <u, x_i> >= 1`. Dual, in data-span form (u = X^T (lambda * y)):
max sum_i lambda_i - 1/2 (lambda * y)^T K (lambda * y) s.t. lambda >= 0.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from iblab.gram import psd_factor

_TOL = 1e-10
_CLARABEL = {
    "tol_gap_abs": _TOL,
    "tol_gap_rel": _TOL,
    "tol_feas": _TOL,
    "tol_infeas_abs": _TOL,
    "tol_infeas_rel": _TOL,
    "tol_ktratio": 1e-8,
    "max_iter": 500,
}


class MaxMarginLinear:
    """Hard-margin linear SVM through the origin, solved as the dual QP with cvxpy + Clarabel.

    The predictor is u = X^T beta_, of least norm with `y_i <u, x_i> >= 1`. K is divided by
    its mean diagonal before solving (lambda is scaled back), so the solver sees O(1)
    numbers whatever ||x||^2 is.

    Args:
        polish: Re-solve the support set found by the solver exactly (K_SS beta_S = y_S),
            kept only if it stays dual and primal feasible.
        feas_tol: How far below 1 a margin `y_i <u, x_i>` may fall before the data count as
            not separable.
        support_tol: A point is a support vector when lambda_i > support_tol * max lambda.

    Attributes:
        lambda_: Dual variables (n,), after `fit`.
        beta_: lambda_ * y (n,), so u = X^T beta_.
        margin_: 1 / ||u||, the geometric margin, in the units of x.
        support_: Support vectors (n,), bool.
        status_: 'optimal'; or 'infeasible' when the data are not linearly separable through
            the origin, detected as an unbounded dual (Clarabel's dual-infeasibility
            certificate, or an optimum whose margins fall short of 1 by more than
            feas_tol); then lambda_ and beta_ are nan and margin_ is 0.
    """

    def __init__(self, polish: bool = True, feas_tol: float = 1e-6, support_tol: float = 1e-7):
        self.polish = polish
        self.feas_tol = feas_tol
        self.support_tol = support_tol

    def fit(self, K, y):
        """Solve for the max-margin predictor.

        Args:
            K (array): X X^T (n, n).
            y (array): Labels -1/+1 (n,).

        Returns:
            (MaxMarginLinear): self, fitted (status_ says whether the data were separable).

        Raises:
            RuntimeError: The solver failed without a certificate of infeasibility.
        """
        K = np.asarray(K, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        kappa = float(np.mean(np.diag(K)))
        if not kappa > 0:
            return self._set_infeasible(y)
        Ks = K / kappa
        lam = cp.Variable(K.shape[0], nonneg=True)
        U, sig = psd_factor(Ks, Ks.shape[0] * np.finfo(float).eps)
        F = U * sig  # (n, r), Ks ~= F F^T
        objective = cp.Maximize(cp.sum(lam) - 0.5 * cp.sum_squares(F.T @ cp.multiply(y, lam)))
        problem = cp.Problem(objective)
        problem.solve(solver=cp.CLARABEL, **_CLARABEL)
        if problem.status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
            return self._set_infeasible(y)
        if lam.value is None:
            raise RuntimeError(f"max-margin dual QP failed: {problem.status}")
        lam_s = np.clip(lam.value, 0.0, None)
        if self.polish:
            lam_s = self._polish(Ks, y, lam_s)
        if np.min(y * (Ks @ (lam_s * y))) < 1.0 - self.feas_tol:
            return self._set_infeasible(y)
        self.lambda_ = lam_s / kappa
        self.beta_ = self.lambda_ * y
        self.margin_ = 1.0 / np.sqrt(self.beta_ @ K @ self.beta_)
        self.support_ = lam_s > self.support_tol * lam_s.max()
        self.status_ = "optimal"
        return self

    def _polish(self, Ks, y, lam):
        """Exact re-solve on the support set; falls back to lam when that is not optimal."""
        S = lam > self.support_tol * lam.max()
        beta_S = np.linalg.lstsq(Ks[np.ix_(S, S)], y[S], rcond=None)[0]
        new = np.zeros_like(lam)
        new[S] = y[S] * beta_S
        margins = y * (Ks @ (new * y))
        ok = (
            new.min() >= 0
            and margins.min() >= 1.0 - 1e-12
            and np.allclose(margins[S], 1.0, rtol=0, atol=1e-9)
        )
        return new if ok else lam

    def _set_infeasible(self, y):
        n = y.shape[0]
        self.lambda_ = np.full(n, np.nan)
        self.beta_ = np.full(n, np.nan)
        self.margin_ = 0.0
        self.support_ = np.zeros(n, dtype=bool)
        self.status_ = "infeasible"
        return self

    def decision_function(self, K_other):
        """The scores `<u, x>` of other points.

        Args:
            K_other (array): X_other X^T (t, n).

        Returns:
            (array): The scores (t,).
        """
        return np.asarray(K_other) @ self.beta_


def sign_agreement(f_test, svm_scores):
    """Fraction of points where sign f == `sign <u, x>` (both zero counts as agreement).

    Args:
        f_test (array): The network's outputs (t,).
        svm_scores (array): The SVM's scores `<u, x>` (t,), from `decision_function`.

    Returns:
        (float): The fraction, in [0, 1].
    """
    return float(np.mean(np.sign(f_test) == np.sign(svm_scores)))
