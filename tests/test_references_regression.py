"""Regression references: min-norm linear, single-neuron and pattern QPs, gaps, KKT checks."""

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize

from iblab.references.min_norm import (
    MinNormLinear,
    PatternQP,
    SingleNeuronQP,
    gap,
    kkt_violations,
    pattern_of,
)

TIGHT = dict(tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, max_iter=500)


def make(n, d, m, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    W0 = rng.standard_normal((m, d)) / np.sqrt(d)
    a = rng.choice([-1.0, 1.0], m) / np.sqrt(m)
    return rng, X, W0, a, X @ X.T, X @ W0.T, W0 @ W0.T


def planted(rng, X, W0, a, scale=0.5):
    """An interpolator W* with its pattern and targets."""
    m, d = W0.shape
    Ws = W0 + scale * rng.standard_normal((m, d)) / np.sqrt(d)
    Zs = X @ Ws.T
    return Ws, Zs > 0, (np.maximum(Zs, 0) * a).sum(1)


def assert_kkt(kkt, tol=1e-8):
    for key, value in kkt.items():
        if key != "stationarity":  # the relative version is checked
            assert value <= tol, (key, value)


# ---------------------------------------------------------------- MinNormLinear


@pytest.mark.parametrize("n,d,m", [(8, 40, 4), (20, 8, 3), (10, 60, 1)])
def test_min_norm_linear_is_gd_limit(n, d, m):
    rng, X, W0, a, K, P0, _ = make(n, d, m, seed=n + d)
    y = rng.standard_normal(n)
    ref = MinNormLinear().fit(K, P0, a, y)
    W = W0.copy()
    lr = n / ((a @ a) * np.linalg.eigvalsh(K).max())
    for _ in range(4000):
        r = X @ W.T @ a - y
        W -= lr * np.outer(a, r @ X) / n
    W_ref = W0 + ref.C_ @ X
    assert np.abs(W - W_ref).max() < 1e-8
    assert ref.s_ == 1.0 and ref.C_.shape == (m, n)
    fit = X @ W_ref.T @ a
    assert ref.residual_ == pytest.approx(np.abs(fit - y).max(), abs=1e-10)
    if n <= d:
        assert ref.residual_ < 1e-10
    assert ref.objective_ == pytest.approx(((W_ref - W0) ** 2).sum(), rel=1e-9)


# ---------------------------------------------------------------- SingleNeuronQP


def explicit_single(X, w0, y, center):
    """The same QP in w in R^d, by cvxpy."""
    w = cp.Variable(X.shape[1])
    c = w0 if center == "init" else np.zeros_like(w0)
    z = X @ w
    pos = y > 0
    cons = [z[pos] == y[pos], z[~pos] <= 0]
    cp.Problem(cp.Minimize(cp.sum_squares(w - c)), cons).solve(solver="CLARABEL", **TIGHT)
    return w.value


@pytest.mark.parametrize("center", ["init", "origin"])
@pytest.mark.parametrize("n,d,seed", [(6, 30, 0), (15, 100, 1), (20, 200, 2)])
def test_single_neuron_qp_kkt_and_explicit(center, n, d, seed):
    rng, X, W0, _, K, P0, _ = make(n, d, 1, seed)
    y = rng.standard_normal(n)
    q = SingleNeuronQP(center=center).fit(K, P0, 1.0, y)
    assert q.status_ == "optimal"
    assert q.s_ == (1.0 if center == "init" else 0.0)
    assert_kkt(q.kkt_)
    w = q.s_ * W0[0] + q.C_[0] @ X
    w_cvx = explicit_single(X, W0[0], y, center)
    assert np.abs(w - w_cvx).max() < 1e-7
    centre = W0[0] * q.s_
    assert q.objective_ == pytest.approx(((w - centre) ** 2).sum(), rel=1e-8)
    # Stationarity with the reported multipliers, in the convention of the docstring.
    pos = y > 0
    c_from_dual = np.where(pos, q.dual_, -q.dual_)
    assert np.abs((c_from_dual - q.C_[0]) @ X).max() < 1e-8
    assert np.all(q.dual_[~pos] >= -1e-12)


def test_single_neuron_qp_matches_slsqp():
    rng, X, W0, _, K, P0, _ = make(6, 12, 1, seed=5)
    y = rng.standard_normal(6)
    q = SingleNeuronQP().fit(K, P0, 1.0, y)
    pos = y > 0
    cons = [
        {"type": "eq", "fun": lambda w: X[pos] @ w - y[pos], "jac": lambda w: X[pos]},
        {"type": "ineq", "fun": lambda w: -X[~pos] @ w, "jac": lambda w: -X[~pos]},
    ]
    res = minimize(
        lambda w: ((w - W0[0]) ** 2).sum(),
        W0[0],
        jac=lambda w: 2 * (w - W0[0]),
        constraints=cons,
        method="SLSQP",
        options=dict(ftol=1e-15, maxiter=500),
    )
    assert res.success
    assert np.abs(W0[0] + q.C_[0] @ X - res.x).max() < 1e-7


@pytest.mark.parametrize("center", ["init", "origin"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_neuron_orthogonal_closed_form(center, seed):
    rng = np.random.default_rng(seed)
    n, d = 10, 25
    scales = rng.uniform(0.5, 3.0, n)
    X = np.zeros((n, d))
    X[np.arange(n), np.arange(n)] = scales
    w0 = rng.standard_normal(d)
    y = rng.standard_normal(n)
    K, p0 = X @ X.T, X @ w0
    q = SingleNeuronQP(center=center).fit(K, p0[:, None], 1.0, y)
    s = 1.0 if center == "init" else 0.0
    z = np.where(y > 0, y, np.minimum(s * p0, 0.0))
    c = (z - s * p0) / scales**2
    assert np.abs(q.C_[0] - c).max() < 1e-8
    assert_kkt(q.kkt_)


def test_single_neuron_output_weight():
    # a z_i = y_i: the output weight a rescales the targets; a is a scalar or a (1,) array.
    rng, X, W0, _, K, P0, _ = make(8, 30, 1, seed=6)
    y = rng.standard_normal(8)
    q2 = SingleNeuronQP().fit(K, P0, np.array([2.0]), y)
    q1 = SingleNeuronQP().fit(K, P0, 1.0, y / 2.0)
    assert q2.status_ == q1.status_ == "optimal"
    assert np.abs((q2.C_ - q1.C_) @ X).max() < 1e-8
    for bad in (0.0, -1.0, np.ones(2)):
        with pytest.raises(ValueError, match="a must be one positive number"):
            SingleNeuronQP().fit(K, P0, bad, y)


def test_single_neuron_infeasible():
    # More positive targets than dimensions: the equalities cannot all hold.
    rng, X, W0, _, K, P0, _ = make(20, 5, 1, seed=3)
    q = SingleNeuronQP().fit(K, P0, 1.0, np.abs(rng.standard_normal(20)) + 0.1)
    assert q.status_.startswith("infeasible") and q.C_ is None
    # x_2 = -x_1 cannot give both a positive output.
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    q = SingleNeuronQP(center="origin").fit(X @ X.T, np.zeros((2, 1)), 1.0, np.array([1.0, 1.0]))
    assert q.status_.startswith("infeasible")
    q = SingleNeuronQP(center="origin").fit(X @ X.T, np.zeros((2, 1)), 1.0, np.array([1.0, -1.0]))
    assert q.status_ == "optimal" and np.allclose(q.C_[0] @ X, [1.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("t", [1e2, 1e4])
@pytest.mark.parametrize("seed", [0, 1])
def test_references_do_not_depend_on_units(t, seed):
    # X' = t X and W_0' = W_0 / t give the same problem with W' = W / t, so C' = C / t^2:
    # the regime of large d and small init (K ~ d, ||W - W_0|| << 1), where Clarabel's
    # absolute tolerances once stopped short of the optimum (1e-2 off at t = 1e4).
    rng, X, W0, a, K, P0, _ = make(32, 400, 3, seed)
    P0 = 0.01 * P0
    y = rng.standard_normal(32)
    y_single = np.where(P0[:, 0] > 0, np.abs(y), -np.abs(y))
    _, D, y_pattern = planted(rng, X, 0.01 * W0, a, scale=0.05)
    for fit in (
        lambda K_: SingleNeuronQP().fit(K_, P0[:, :1], 1.0, y_single),
        lambda K_: PatternQP().fit(K_, P0, a, y_pattern, D),
    ):
        base, scaled = fit(K), fit(t * t * K)
        assert base.status_ == scaled.status_ == "optimal"
        assert_kkt(scaled.kkt_)
        assert np.abs(scaled.C_ * t * t - base.C_).max() <= 1e-8 * np.abs(base.C_).max()


# ---------------------------------------------------------------- PatternQP


def explicit_pattern(X, W0, a, y, D):
    m, d = W0.shape
    W = cp.Variable((m, d))
    Z = X @ W.T
    sgn = np.where(D, 1.0, -1.0)
    cons = [cp.multiply(sgn, Z) >= 0, cp.sum(cp.multiply(Z, a[None, :] * D), axis=1) == y]
    cp.Problem(cp.Minimize(cp.sum_squares(W - W0)), cons).solve(solver="CLARABEL", **TIGHT)
    return W.value


@pytest.mark.parametrize("n,d,m,seed", [(8, 30, 3, 0), (12, 60, 5, 1), (16, 120, 8, 2)])
def test_pattern_qp_planted(n, d, m, seed):
    rng, X, W0, a, K, P0, _ = make(n, d, m, seed)
    Ws, D, y = planted(rng, X, W0, a)
    q = PatternQP().fit(K, P0, a, y, D)
    assert q.status_ == "optimal" and q.s_ == 1.0 and q.C_.shape == (m, n)
    assert_kkt(q.kkt_)
    assert q.objective_ <= ((Ws - W0) ** 2).sum() + 1e-10
    W = W0 + q.C_ @ X
    assert np.abs(W - explicit_pattern(X, W0, a, y, D)).max() < 1e-7
    # Its pattern is consistent with D (zeros allowed where the sign constraint is active).
    Z = X @ W.T
    assert np.all(Z[D] >= -1e-9) and np.all(Z[~D] <= 1e-9)
    # Stationarity in the documented convention.
    sgn = np.where(D, 1.0, -1.0)
    Gam = (a[None, :] * D * q.dual_eq_[:, None] + sgn * q.dual_ineq_).T
    assert np.abs((Gam - q.C_) @ X).max() < 1e-8


@pytest.mark.parametrize("n,d,m,seed,slope", [(24, 200, 8, 3, 0.0), (40, 1000, 16, 4, 0.0),
                                              (24, 200, 8, 5, 0.1)])  # fmt: skip
def test_pattern_qp_active_set_matches_clarabel(n, d, m, seed, slope):
    """The active set (tried first) and Clarabel (the fallback) reach the same point: W
    within 1e-10 of each other, the same objective, and the active set's KKT residuals at
    rounding level; a constraint left active at 0 is found by both."""

    rng, X, W0, a, K, P0, _ = make(n, d, m, seed)
    _, D, y = planted(rng, X, W0, a)
    q = PatternQP().fit(K, P0, a, y, D, slope=slope)
    ref = PatternQP(solver="clarabel").fit(K, P0, a, y, D, slope=slope)
    assert q.solver_ == "active_set" and ref.solver_ == "clarabel" and ref.status_ == "optimal"
    assert_kkt(q.kkt_, tol=1e-12)
    assert np.abs((q.C_ - ref.C_) @ X).max() < 1e-10
    assert q.objective_ == pytest.approx(ref.objective_, rel=1e-10)
    big = 1e-9 * ref.dual_ineq_.max()
    assert ((q.dual_ineq_ > big) == (ref.dual_ineq_ > big)).all() and (q.dual_ineq_ > big).any()


@pytest.mark.parametrize("center,d", [("init", 80), ("origin", 80), ("init", 10)])
def test_single_neuron_qp_active_set_matches_clarabel(center, d):
    """Equality rows switched off (y_i <= 0) and, at d < n, a rank-deficient K: the active
    set's W is Clarabel's (or, where its system is singular, Clarabel answers)."""
    rng, X, W0, _, K, P0, _ = make(16, d, 1, seed=7)
    y = rng.standard_normal(16)
    y = np.where(P0[:, 0] > 0, np.abs(y), -np.abs(y))
    q = SingleNeuronQP(center=center).fit(K, P0, 1.0, y)
    ref = SingleNeuronQP(center=center, solver="clarabel").fit(K, P0, 1.0, y)
    assert q.status_ == ref.status_
    if q.status_ == "optimal":
        assert np.abs((q.C_ - ref.C_) @ X).max() < 1e-8 * max(1.0, np.abs(ref.C_ @ X).max())
        assert (q.dual_ >= 0)[y <= 0].all()


@pytest.mark.parametrize("target", [1.0, 1e-8])
def test_pattern_qp_infeasible_goes_to_clarabel(target):
    """A row no active neuron can fit (all its entries off): the active set leaves it to
    Clarabel, which says infeasible, however small the target and large the init."""
    rng, X, W0, a, K, P0, _ = make(6, 20, 3, seed=0)
    D = np.ones((6, 3), bool)
    D[2] = False
    y = np.full(6, target)
    q = PatternQP().fit(K, 1e3 * P0, a, y, D)
    assert q.solver_ == "clarabel" and q.status_ == "infeasible"


def test_pattern_qp_rejects_a_non_finite_solution():
    """A NaN target cannot be certified: the active set does not answer it."""
    from iblab.references._active_set import solve_span_qp_active_set
    from iblab.references.min_norm import _pattern_structure

    rng, X, W0, a, K, P0, _ = make(8, 30, 3, seed=1)
    _, D, y = planted(rng, X, W0, a)
    y[0] = np.nan
    assert solve_span_qp_active_set(K, 1.0, P0, y, *_pattern_structure(D, a)) is None


def test_pattern_qp_single_neuron_agree():
    rng, X, W0, _, K, P0, _ = make(10, 40, 1, seed=4)
    y = np.maximum(rng.standard_normal(10), 0.0)
    q1 = SingleNeuronQP().fit(K, P0, 1.0, y)
    q2 = PatternQP().fit(K, P0, np.ones(1), y, (y > 0)[:, None])
    assert np.abs((q1.C_ - q2.C_) @ X).max() < 1e-8
    assert q1.objective_ == pytest.approx(q2.objective_, rel=1e-8)


def test_pattern_qp_infeasible():
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    K, P0 = X @ X.T, np.zeros((2, 1))
    q = PatternQP().fit(K, P0, np.ones(1), np.ones(2), np.ones((2, 1), bool))
    assert q.status_.startswith("infeasible") and q.C_ is None
    # A target no active neuron can produce.
    rng, X, W0, a, K, P0, _ = make(6, 20, 3, seed=0)
    D = np.ones((6, 3), bool)
    D[2] = False
    q = PatternQP().fit(K, P0, a, np.ones(6), D)
    assert q.status_ == "infeasible"


def test_pattern_of():
    _, X, W0, _, K, P0, _ = make(7, 20, 4, seed=1)
    C = np.random.default_rng(0).standard_normal((4, 7))
    W = 0.7 * W0 + C @ X
    assert np.array_equal(pattern_of(0.7, C, K, P0), X @ W.T > 0)


# ---------------------------------------------------------------- gap and KKT violations


def test_gap_explicit():
    rng, X, W0, a, K, P0, G0 = make(9, 50, 4, seed=2)
    Xt = rng.standard_normal((13, 50)) / np.sqrt(50)
    C_gd, C_ref = rng.standard_normal((2, 4, 9))
    W, W_ref = 1.1 * W0 + C_gd @ X, W0 + C_ref @ X
    g = gap(1.1, C_gd, (1.0, C_ref), K, P0, G0, a, Xt @ X.T, Xt @ W0.T)
    assert g["distance"] == pytest.approx(np.linalg.norm(W - W_ref), rel=1e-10)
    assert g["ref_distance"] == pytest.approx(np.linalg.norm(W_ref - W0), rel=1e-10)
    assert g["normalised"] == pytest.approx(g["distance"] / g["ref_distance"])

    def f(V):
        return np.maximum(Xt @ V.T, 0) @ a

    rms = np.sqrt(np.mean((f(W) - f(W_ref)) ** 2))
    assert g["function_rms"] == pytest.approx(rms, rel=1e-10)
    ref_rms = np.sqrt(np.mean((f(W_ref) - f(W0)) ** 2))
    assert g["function_normalised"] == pytest.approx(rms / ref_rms, rel=1e-10)
    lin = gap(1.1, C_gd, (1.0, C_ref), K, P0, G0, a, Xt @ X.T, Xt @ W0.T, activation="linear")
    assert lin["function_rms"] == pytest.approx(
        np.sqrt(np.mean((Xt @ (W - W_ref).T @ a) ** 2)), rel=1e-10
    )


@pytest.mark.parametrize("n,d,m,seed", [(8, 40, 1, 0), (10, 60, 4, 1), (14, 100, 6, 2)])
def test_kkt_violations(n, d, m, seed):
    rng, X, W0, a, K, P0, G0 = make(n, d, m, seed)
    if m == 1:
        a = np.ones(1)
        y = rng.standard_normal(n)
        q = SingleNeuronQP().fit(K, P0, 1.0, y)
        kv = kkt_violations(1.0, q.C_, K, P0, a, y)
        Ws, _, _ = planted(rng, X, W0, a)
        y_other = np.maximum(X @ Ws[0], 0)
        q_other = SingleNeuronQP().fit(K, P0, 1.0, y_other)
        C_other = np.linalg.lstsq(X.T, (Ws - W0).T, rcond=None)[0].T
        other = kkt_violations(1.0, C_other, K, P0, a, y_other)
        assert q_other.objective_ < ((Ws - W0) ** 2).sum()
    else:
        Ws, D, y = planted(rng, X, W0, a)
        q = PatternQP().fit(K, P0, a, y, D)
        kv = kkt_violations(1.0, q.C_, K, P0, a, y, pattern=D)
        C_other = np.linalg.lstsq(X.T, (Ws - W0).T, rcond=None)[0].T
        other = kkt_violations(1.0, C_other, K, P0, a, y)
    # The QP's minimiser passes; the planted interpolator (not a minimiser) fails.
    assert kv["stationarity_rel"] < 1e-8 and kv["cs_violated"] == 0
    assert kv["primal_eq"] < 1e-9 and kv["primal_ineq"] < 1e-9
    assert kv["n_active"] > 0
    assert other["stationarity_rel"] > 1e-2 and other["cs_violated"] > 0
    assert other["primal_eq"] < 1e-9


def test_kkt_violations_scaled_init_needs_g0():
    rng, X, W0, a, K, P0, G0 = make(8, 40, 3, seed=0)
    Ws, D, y = planted(rng, X, W0, a)
    q = PatternQP().fit(K, P0, a, y, D)
    with pytest.raises(ValueError):
        kkt_violations(0.9, q.C_, K, P0, a, y, pattern=D)
    kv = kkt_violations(1.0 + 1e-13, q.C_, K, P0, a, y, pattern=D, G0=G0)
    assert kv["stationarity_rel"] < 1e-6
    kv = kkt_violations(0.5, q.C_, K, P0, a, y, pattern=D, G0=G0)
    assert kv["stationarity_rel"] > 0.1
