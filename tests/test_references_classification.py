"""The max-margin linear predictor from K alone, against scikit-learn and a primal QP in R^d."""

import cvxpy as cp
import numpy as np
import pytest
from sklearn.svm import SVC

from iblab import metrics
from iblab.references.max_margin import MaxMarginLinear, sign_agreement


def cosine(u, v):
    return u @ v / np.linalg.norm(u) / np.linalg.norm(v)


def separable(n, d, seed, scale=1.0):
    """Labels of a random direction through the origin, points kept off its boundary."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4 * n, d)) * scale
    w = rng.normal(size=d)
    keep = np.abs(X @ w) > 0.2 * scale * np.linalg.norm(w)
    X = X[keep][:n]
    return X, np.sign(X @ w), rng


@pytest.mark.parametrize("n,d,seed", [(20, 3, 0), (30, 5, 1), (15, 40, 2)])
def test_direction_matches_sklearn_svc_on_origin_symmetric_data(n, d, seed):
    """SVC always fits an intercept b, our SVM has none. On data closed under (x, y) -> (-x, -y)
    the constraint set of the biased hard-margin SVM is invariant under b -> -b, and its u is
    unique (strictly convex objective), so averaging the two optima shows b = 0 is optimal
    with the same u: SVC's u is then the max-margin direction through the origin. A very large
    C makes SVC's soft margin hard on separable data.
    """
    X, y, _ = separable(n, d, seed)
    X, y = np.vstack([X, -X]), np.r_[y, -y]
    svm = MaxMarginLinear().fit(X @ X.T, y)
    ref = SVC(kernel="linear", C=1e8, tol=1e-10).fit(X, y)
    assert svm.status_ == "optimal"
    assert abs(ref.intercept_[0]) < 1e-3
    assert cosine(X.T @ svm.beta_, ref.coef_[0]) > 0.9999


@pytest.mark.parametrize("n,d,seed", [(25, 4, 3), (12, 60, 4)])
@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_matches_primal_qp_in_input_space(n, d, seed, scale):
    X, y, _ = separable(n, d, seed, scale)
    svm = MaxMarginLinear().fit(X @ X.T, y)
    u = cp.Variable(d)  # ||u||^2 ~ 1 / scale^2: Clarabel's default absolute gap is too loose
    primal = cp.Problem(cp.Minimize(cp.sum_squares(u)), [cp.multiply(y, X @ u) >= 1])
    primal.solve(solver=cp.CLARABEL, tol_gap_abs=1e-14, tol_gap_rel=1e-12, tol_feas=1e-12)
    u_svm = X.T @ svm.beta_
    assert cosine(u_svm, u.value) > 1 - 1e-8
    assert svm.margin_ == pytest.approx(1 / np.linalg.norm(u.value), rel=1e-6)
    # KKT of the dual: margins >= 1, equal to 1 on the support, lambda >= 0 and 0 off it.
    margins = y * svm.decision_function(X @ X.T)
    assert margins.min() > 1 - 1e-8
    np.testing.assert_allclose(margins[svm.support_], 1.0, atol=1e-8)
    assert (svm.lambda_ >= 0).all()
    np.testing.assert_allclose(svm.beta_, svm.lambda_ * y)


def test_not_separable_is_infeasible():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    y = rng.choice([-1.0, 1.0], size=40)
    svm = MaxMarginLinear().fit(X @ X.T, y)
    assert svm.status_ == "infeasible"
    assert svm.margin_ == 0.0 and np.isnan(svm.beta_).all()


def test_decision_function_and_sign_agreement_on_test_rows():
    X, y, rng = separable(20, 6, 6)
    X_test = rng.normal(size=(30, 6))
    svm = MaxMarginLinear().fit(X @ X.T, y)
    scores = svm.decision_function(X_test @ X.T)
    np.testing.assert_allclose(scores, X_test @ (X.T @ svm.beta_), rtol=1e-12)
    assert sign_agreement(scores, scores) == 1.0
    assert sign_agreement(-scores, scores) == 0.0
    assert sign_agreement(np.array([1.0, -2.0, 3.0, 0.0]), np.array([2.0, 1.0, 1.0, 0.0])) == 0.75


@pytest.mark.parametrize("gamma", [0.1, 0.5])
def test_kkt_network_on_orthogonal_data_is_aligned_with_svm(gamma):
    """On orthogonal data the exact KKT network (see tests/test_metrics.py) has linear
    direction W^T a proportional to sum_i y_i x_i / ||x_i||^2, which is the SVM direction."""
    rng = np.random.default_rng(7)
    n, d, m = 8, 20, 4
    r = rng.uniform(1.0, 3.0, size=n)
    y = np.r_[np.ones(4), -np.ones(4)]
    X = r[:, None] * np.linalg.qr(rng.normal(size=(d, n)))[0].T
    a = np.r_[np.ones(m // 2), -np.ones(m // 2)] / np.sqrt(m)
    lam = 2.0 / (r**2 * (1.0 + gamma**2))
    rows = np.where(a[:, None] > 0, np.where(y > 0, 1.0, -gamma), np.where(y > 0, -gamma, 1.0))
    C = rows * lam / np.sqrt(m)
    W0 = rng.normal(size=(m, d))
    K, P0, G0 = X @ X.T, X @ W0.T, W0 @ W0.T
    svm = MaxMarginLinear().fit(K, y)
    np.testing.assert_allclose(svm.lambda_, 1.0 / r**2, rtol=1e-8)
    assert metrics.cosine_to_span_vector(0.0, C, a, svm.beta_, K, P0, G0) == pytest.approx(
        1.0, abs=1e-12
    )
