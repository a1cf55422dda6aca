"""Diagnostics from Gram blocks agree with the same quantities computed from explicit arrays."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from iblab import metrics


def leaky(gamma):
    def phi(z):
        return np.maximum(z, gamma * z)

    def dphi(z):
        return np.where(z > 0, 1.0, gamma)

    return phi, dphi


def blocks(X, W0, X_test=None):
    out = dict(K=X @ X.T, P0=X @ W0.T, G0=W0 @ W0.T)
    if X_test is not None:
        out.update(K_test=X_test @ X.T, P0_test=X_test @ W0.T)
    return out


def random_setting(n, d, m, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W0 = rng.normal(size=(m, d)) / np.sqrt(d)
    C = rng.normal(size=(m, n)) / n
    X_test = rng.normal(size=(7, d))
    return X, W0, C, X_test, rng


def kkt_network(r, y, gamma, m, d, rng):
    """An exact KKT point of min ||W||_F^2 s.t. y_i f(x_i) >= 1 on orthogonal data.

    x_i = r_i q_i with orthonormal q_i; a_j = +-1/sqrt(m), half of each sign. Ansatz
    w_j = a_j sum_i lambda_i y_i phi'(<w_j, x_i>) x_i with lambda > 0: for a_j > 0 the
    coefficient of x_i is lambda_i / sqrt(m) when y_i = +1 (pre-activation > 0, phi' = 1)
    and -gamma lambda_i / sqrt(m) when y_i = -1 (pre-activation < 0, phi' = gamma), and
    mirrored for a_j < 0; this is self-consistent. Then y_i f(x_i) = lambda_i r_i^2
    (1 + gamma^2) / 2, so lambda_i = 2 / (r_i^2 (1 + gamma^2)) makes every margin 1.
    Returns X (n, d), a (m,), C (m, n) with W = C X, and lambda (n,).
    """
    n = r.shape[0]
    Q = np.linalg.qr(rng.normal(size=(d, n)))[0].T
    X = r[:, None] * Q
    a = np.r_[np.ones(m // 2), -np.ones(m // 2)] / np.sqrt(m)
    lam = 2.0 / (r**2 * (1.0 + gamma**2))
    same = np.where(y > 0, 1.0, -gamma)  # neurons with a_j > 0
    mirror = np.where(y > 0, -gamma, 1.0)  # neurons with a_j < 0
    rows = np.where(a[:, None] > 0, same[None, :], mirror[None, :])
    C = rows * lam[None, :] / np.sqrt(m)
    return X, a, C, lam


@pytest.mark.parametrize("s", [0.0, 0.7])
@pytest.mark.parametrize("n,d,m", [(6, 10, 4), (8, 5, 9)])
@pytest.mark.parametrize("k", [None, 2])
def test_singular_values_match_svd(s, n, d, m, k):
    X, W0, C, _, _ = random_setting(n, d, m)
    W = s * W0 + C @ X
    expected = np.zeros(m)
    sv = np.linalg.svd(W, compute_uv=False)
    expected[: sv.size] = sv
    got = metrics.singular_values(s, C, **blocks(X, W0), k=k)
    expected = expected if k is None else expected[:k]
    np.testing.assert_allclose(got, expected, atol=1e-7 * expected[0], rtol=1e-9)


@pytest.mark.parametrize("s,rank_one", [(0.0, "C"), (1.3, "W0")])
def test_stable_rank_of_rank_one_is_one(s, rank_one):
    rng = np.random.default_rng(1)
    n, d, m = 5, 12, 6
    X = rng.normal(size=(n, d))
    if rank_one == "C":
        W0, C = rng.normal(size=(m, d)), np.outer(rng.normal(size=m), rng.normal(size=n))
    else:
        W0, C = np.outer(rng.normal(size=m), rng.normal(size=d)), np.zeros((m, n))
    assert abs(metrics.stable_rank(s, C, **blocks(X, W0)) - 1.0) < 1e-12


@pytest.mark.parametrize("s", [0.0, 0.5])
def test_stable_rank_matches_explicit_and_zero_is_nan(s):
    X, W0, C, _, _ = random_setting(6, 9, 5)
    W = s * W0 + C @ X
    expected = np.linalg.norm(W) ** 2 / np.linalg.norm(W, 2) ** 2
    assert metrics.stable_rank(s, C, **blocks(X, W0)) == pytest.approx(expected, rel=1e-10)
    assert np.isnan(metrics.stable_rank(0.0, 0 * C, **blocks(X, W0)))


@pytest.mark.parametrize("gamma", [0.0, 0.1, 1.0])
def test_outputs_train_and_test(gamma):
    X, W0, C, X_test, rng = random_setting(6, 9, 5)
    a, s, (phi, _) = rng.normal(size=5), 0.8, leaky(gamma)
    W, b = s * W0 + C @ X, blocks(X, W0, X_test)
    f = metrics.outputs(s, C, a, b["K"], b["P0"], phi)
    f_test = metrics.outputs(s, C, a, b["K_test"], b["P0_test"], phi)
    np.testing.assert_allclose(f, phi(X @ W.T) @ a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(f_test, phi(X_test @ W.T) @ a, rtol=1e-12, atol=1e-12)


@jax.enable_x64(True)  # float64 JAX arrays, as the NumPy ones
def test_jax_arrays_give_numpy_results():
    X, W0, C, _, rng = random_setting(6, 9, 5)
    a, s, b = rng.normal(size=5), 0.4, blocks(X, W0)
    jb = {k: jnp.asarray(v) for k, v in b.items()}
    np.testing.assert_allclose(
        metrics.singular_values(s, jnp.asarray(C), **jb),
        metrics.singular_values(s, C, **b),
        rtol=1e-10,
    )
    assert float(metrics.stable_rank(s, jnp.asarray(C), **jb)) == pytest.approx(
        metrics.stable_rank(s, C, **b), rel=1e-10
    )
    relu = lambda z: jnp.maximum(z, 0.0)  # noqa: E731
    f = metrics.outputs(s, jnp.asarray(C), jnp.asarray(a), jb["K"], jb["P0"], relu)
    y = jnp.sign(f)
    assert float(metrics.accuracy(y, f)) == 1.0
    assert float(metrics.normalized_margin(y, f, 2.0)) == pytest.approx(
        float(jnp.min(jnp.abs(f))) / 2.0
    )


def test_normalized_margin_and_accuracy():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    f = np.array([2.0, -0.5, 3.0, 1.0])
    assert metrics.accuracy(y, f) == 0.75
    assert metrics.accuracy(y, np.zeros(4)) == 0.0
    assert metrics.normalized_margin(y, f, 2.0) == -0.5
    assert metrics.normalized_margin(y[:3], f[:3], 2.0) == 0.25
    X, W0, C, _, _ = random_setting(6, 9, 5)
    expected = np.linalg.norm(0.3 * W0 + C @ X)
    assert metrics.frobenius_norm(0.3, C, **blocks(X, W0)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("s", [0.0, 0.9])
def test_linear_direction_and_cosine_match_explicit(s):
    X, W0, C, X_test, rng = random_setting(6, 9, 5)
    a, beta, b = rng.normal(size=5), rng.normal(size=6), blocks(X, W0, X_test)
    z_explicit, u = (s * W0 + C @ X).T @ a, X.T @ beta
    z = metrics.linear_direction(s, C, a)
    np.testing.assert_allclose(W0.T @ z.g + X.T @ z.c, z_explicit, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        metrics.span_scores(z, b["K_test"], b["P0_test"]), X_test @ z_explicit, atol=1e-12
    )
    assert metrics.span_sqnorm(z, b["K"], b["P0"], b["G0"]) == pytest.approx(
        z_explicit @ z_explicit, rel=1e-12
    )
    expected = z_explicit @ u / np.linalg.norm(z_explicit) / np.linalg.norm(u)
    got = metrics.cosine_to_span_vector(s, C, a, beta, b["K"], b["P0"], b["G0"])
    assert got == pytest.approx(expected, rel=1e-10)


def test_sign_of_two_row_network_is_linear():
    """With one row per sign of a and |a_j| constant, sign f(x) = sign <W^T a, x> exactly."""
    rng = np.random.default_rng(3)
    n, d, m = 8, 20, 6
    X, X_test = rng.normal(size=(n, d)), rng.normal(size=(50, d))
    a = np.r_[np.ones(3), -np.ones(3)] / np.sqrt(m)
    C = np.repeat(rng.normal(size=(2, n)), 3, axis=0)
    W0 = np.zeros((m, d))
    b, (phi, _) = blocks(X, W0, X_test), leaky(0.2)
    f_test = metrics.outputs(0.0, C, a, b["K_test"], b["P0_test"], phi)
    z = metrics.linear_direction(0.0, C, a)
    scores = metrics.span_scores(z, b["K_test"], b["P0_test"])
    np.testing.assert_array_equal(np.sign(f_test), np.sign(scores))


# --- KKT residual --------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.05, 0.3, 0.9])
@pytest.mark.parametrize("m", [2, 6])
@pytest.mark.parametrize("scale", [1.0, 7.5])
def test_kkt_residual_vanishes_at_constructed_kkt_point(gamma, m, scale):
    rng = np.random.default_rng(4)
    n, d = 6, 15
    r = rng.uniform(1.0, 3.0, size=n)
    y = np.r_[np.ones(3), -np.ones(3)]
    X, a, C, lam = kkt_network(r, y, gamma, m, d, rng)
    W0 = rng.normal(size=(m, d))  # irrelevant with s = 0
    phi, dphi = leaky(gamma)
    out = metrics.kkt_residual(0.0, scale * C, a, y, **blocks(X, W0), phi=phi, dphi=dphi)
    assert out["separates"]
    assert out["scale"] == pytest.approx(scale, rel=1e-12)
    assert out["residual"] < 1e-8
    np.testing.assert_allclose(out["lambda"], lam, rtol=1e-8)
    assert abs(out["complementary_slackness"]) < 1e-10


def test_kkt_residual_with_nonzero_s_at_kkt_point():
    """The same KKT point held as s W_0 with W_0 = W: the Gram-form floor is ~sqrt(eps)."""
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(4), -np.ones(4)]
    X, a, C, _ = kkt_network(rng.uniform(1, 2, size=8), y, 0.2, 4, 12, rng)
    phi, dphi = leaky(0.2)
    out = metrics.kkt_residual(2.0, 0 * C, a, y, **blocks(X, C @ X), phi=phi, dphi=dphi)
    assert out["residual"] < 1e-6


@pytest.mark.parametrize("gamma", [0.1, 0.3])
def test_kkt_residual_takes_any_clarke_slope_on_a_kink(gamma):
    """Neuron 1 sits on its kink at x_2 with slope 0.4 in W = sum_i lambda_i V_i (lambda = 1,
    y = 1, a = 1): x_1 = (1, 0), x_2 = (-1/2, 1), w_1 = x_1 + 0.4 x_2 = (0.8, 0.4), so
    <w_1, x_2> = 0; w_2 = gamma x_1 + x_2 (inactive at x_1, active at x_2). With the slope
    fixed at phi'(0) = gamma the point is not stationary; with [gamma, 1] allowed it is."""
    X = np.array([[1.0, 0.0], [-0.5, 1.0]])
    C = np.array([[1.0, 0.4], [gamma, 1.0]])  # W = C X, s = 0
    a, y = np.ones(2), np.ones(2)
    phi, dphi = leaky(gamma)
    args = (0.0, C, a, y, *blocks(X, np.zeros((2, 2))).values(), phi, dphi)
    fixed = metrics.kkt_residual(*args)
    clarke = metrics.kkt_residual(*args, kink_slopes=(gamma, 1.0))
    assert fixed["kinks"] == 0 and fixed["residual"] > 0.05
    assert clarke["kinks"] == 1 and clarke["residual"] < 1e-7
    q = clarke["scale"]
    np.testing.assert_allclose(clarke["coefficients"], C / q, atol=1e-7)
    np.testing.assert_allclose(clarke["lambda"], np.ones(2) / q, rtol=1e-6)


def test_kkt_residual_takes_entries_marked_on_kink_as_kinks():
    """The network above with w_1 moved off its kink at x_2 by 1e-4: not a kink by
    kink_tol, so the slope there is fixed and the residual large; marked by on_kink, the
    entry takes a slope in [gamma, 1] and the residual is of the order of the move."""
    gamma, X = 0.1, np.array([[1.0, 0.0], [-0.5, 1.0]])
    C = np.array([[1.0, 0.4 + 1e-4], [gamma, 1.0]])
    a, y = np.ones(2), np.ones(2)
    phi, dphi = leaky(gamma)
    args = (0.0, C, a, y, *blocks(X, np.zeros((2, 2))).values(), phi, dphi, (gamma, 1.0))
    on_kink = np.array([[False, False], [True, False]])  # (n, m): x_2, neuron 1
    plain = metrics.kkt_residual(*args)
    marked = metrics.kkt_residual(*args, on_kink=on_kink)
    assert plain["kinks"] == 0 and plain["residual"] > 0.05
    assert marked["kinks"] == 1 and marked["residual"] < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kkt_residual_of_random_network_is_large_and_matches_explicit_nnls(seed):
    n, d, m, gamma = 7, 30, 8, 0.1
    X, W0, C, _, rng = random_setting(n, d, m, seed)
    a = rng.choice([-1.0, 1.0], size=m) / np.sqrt(m)
    s, (phi, dphi) = 1.0, leaky(gamma)
    W = s * W0 + C @ X
    f = phi(X @ W.T) @ a
    y = np.sign(f)  # labels the network separates, so q > 0
    out = metrics.kkt_residual(s, C, a, y, **blocks(X, W0), phi=phi, dphi=dphi)
    assert out["residual"] > 0.1
    # Explicit: W~ = W / q, V_i = y_i (a * phi'(W x_i)) x_i^T, NNLS over vec V_i.
    q = np.min(y * f)
    Wt = W / q
    V = np.stack([y[i] * np.outer(a * dphi(W @ X[i]), X[i]).ravel() for i in range(n)], axis=1)
    lam, res = scipy.optimize.nnls(V, Wt.ravel())
    assert out["scale"] == pytest.approx(q, rel=1e-12)
    assert out["residual"] == pytest.approx(res / np.linalg.norm(Wt), rel=1e-7)
    np.testing.assert_allclose(out["lambda"], lam, rtol=1e-6, atol=1e-9 * lam.max())
    assert out["complementary_slackness"] >= 0


def test_kkt_residual_flags_non_separating_network():
    X, W0, C, _, rng = random_setting(6, 9, 4)
    a = np.array([1.0, -1.0, 1.0, -1.0]) / 2
    phi, dphi = leaky(0.1)
    f = phi(X @ (W0 + C @ X).T) @ a
    y = -np.sign(f)
    out = metrics.kkt_residual(1.0, C, a, y, **blocks(X, W0), phi=phi, dphi=dphi)
    assert not out["separates"] and out["residual"] == np.inf
    assert np.isnan(out["lambda"]).all()
