"""iblab.diagnose on networks trained elsewhere (here: plain NumPy)."""

import warnings

import numpy as np
import pytest

import iblab
from iblab.references import PatternQP


def numpy_gd(X, y, W0, a, loss, lr, steps, slope=0.0):
    """Full-batch GD on a two-layer (leaky) ReLU net with fixed a, written out in NumPy."""
    W = W0.copy()
    n = X.shape[0]
    for _ in range(steps):
        Z = X @ W.T
        f = np.where(Z > 0, Z, slope * Z) @ a
        r = (f - y) / n if loss == "square" else -y / (1 + np.exp(y * f)) / n
        W -= lr * ((r[:, None] * np.where(Z > 0, 1.0, slope) * a[None, :]).T @ X)
    return W


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    n, d, m = 12, 60, 8
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    a = np.where(np.arange(m) % 2 == 0, 1.0, -1.0) / np.sqrt(m)
    W0 = rng.normal(size=(m, d)) * 0.5
    return X, a, W0, rng


def test_stable_rank_and_regression_figures_match_numpy(problem):
    X, a, W0, rng = problem
    y = rng.normal(size=X.shape[0])
    W = numpy_gd(X, y, W0, a, "square", lr=0.5, steps=300)
    dg = iblab.diagnose(X, y, W, a)
    sv = np.linalg.svd(W, compute_uv=False)
    assert dg.stable_rank == pytest.approx(np.sum(sv**2) / sv[0] ** 2, rel=1e-10)
    np.testing.assert_allclose(dg.singular_values, sv, rtol=1e-10)
    f = np.maximum(X @ W.T, 0) @ a
    assert dg.task == "regression"
    assert dg.residual_rms == pytest.approx(np.sqrt(np.mean((f - y) ** 2)), rel=1e-10)
    assert dg.kkt_residual is None and dg.min_norm_gap is None  # no W0 given


def test_min_norm_gap_is_zero_for_its_own_patterns_min_norm_interpolator(problem):
    _, a, _, _ = problem
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 60))  # unscaled inputs, W_0 of the usual 1 / sqrt(d) scale
    W0 = rng.normal(size=(a.shape[0], 60)) / np.sqrt(60)
    Z0 = X @ W0.T
    y = np.maximum(Z0, 0) @ a + 1e-3 * rng.normal(size=X.shape[0])  # W0's pattern fits y
    ref = PatternQP().fit(X @ X.T, Z0, a, y, Z0 > 0)
    W = W0 + ref.C_ @ X
    assert np.array_equal(X @ W.T > 0, Z0 > 0)  # no entry on a kink
    dg = iblab.diagnose(X, y, W, a, W0=W0)
    assert dg.min_norm_status == "optimal"
    assert dg.min_norm_gap < 1e-6
    # Another interpolator with that pattern (moved along the null space of X) is not it.
    other = W + 1e-2 * rng.normal(size=W.shape) @ (np.eye(X.shape[1]) - np.linalg.pinv(X) @ X)
    assert iblab.diagnose(X, y, other, a, W0=W0).min_norm_gap > 1e-2


def test_kkt_residual_near_zero_at_a_constructed_kkt_point():
    # Orthogonal points and one neuron per sign: W = sum_i lambda_i y_i a_j x_i over the
    # neurons active on x_i, margins all exactly 1: a KKT point of min ||W||^2 s.t. margins.
    n, d = 4, 10
    X = np.eye(n, d) * 2.0
    y = np.array([1.0, 1.0, -1.0, -1.0])
    a = np.array([1.0, -1.0])
    W = np.zeros((2, d))
    W[0] = X[0] / 4 + X[1] / 4  # neuron 0 serves the +1 points: margin (1/4) * 4 = 1
    W[1] = X[2] / 4 + X[3] / 4  # neuron 1 the -1 points
    dg = iblab.diagnose(X, y, W, a)
    assert dg.task == "classification"
    np.testing.assert_allclose(dg.margins, 1.0, rtol=1e-12)
    assert dg.kkt_residual < 1e-10
    assert np.all(dg.kkt_multipliers > 0)
    assert dg.kkt_slackness < 1e-12
    W_bad = W.copy()
    W_bad[0, 5] = 0.3  # a component outside every point's direction
    assert iblab.diagnose(X, y, W_bad, a).kkt_residual > 0.1


def test_weight_on_a_point_off_the_margin_is_not_a_kkt_point():
    # Stationary (W in the cone of the V_i) but lambda_2 > 0 on a point of margin 2.
    X, y, W, a = np.eye(2), np.ones(2), np.array([[2.0, 1.0]]), np.ones(1)
    dg = iblab.diagnose(X, y, W, a, activation="linear")
    assert dg.kkt_residual < 1e-12 and dg.kkt_slackness > 0.3


def test_classification_after_numpy_gd_and_torch_like_shapes(problem):
    X, a, W0, rng = problem
    beta = rng.normal(size=X.shape[1])
    y = np.sign(X @ beta)
    W = numpy_gd(X, y, W0 * 0.01, a, "logistic", lr=2.0, steps=2000, slope=0.1)
    X_test = rng.normal(size=(30, X.shape[1])) / np.sqrt(X.shape[1])
    dg = iblab.diagnose(
        X, y[:, None], W, a[None, :], activation="leaky_relu", slope=0.1,
        X_test=X_test, y_test=np.sign(X_test @ beta),
    )  # fmt: skip
    assert dg.accuracy == 1.0 and dg.min_margin > 0
    assert dg.normalized_margin == pytest.approx(dg.min_margin / np.linalg.norm(W), rel=1e-12)
    assert 0 <= dg.kkt_residual < 1 and -1 <= dg.svm_cosine <= 1
    assert 0 <= dg.boundary_agreement <= 1 and "test_accuracy" in dg.summary()


@pytest.mark.parametrize(
    "change,named",
    [
        ({"y": np.zeros(5)}, "y"),
        ({"W": np.zeros((3, 7))}, "W"),
        ({"a": np.zeros(4)}, "a"),
        (
            {"y": np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])},
            "look like two classes",
        ),
        ({"y": np.tile([3.0, 7.0], 6)}, r"y: labels \{3, 7\} look like two classes"),
        ({"activation": "tanh"}, "activation"),
        ({"activation": "relu", "slope": 0.2}, "slope: relu has no slope"),
        ({"activation": "linear", "slope": 0.1}, "slope: linear has no slope"),
        ({"activation": "leaky_relu", "slope": 1.5}, "slope: expected"),
        ({"W0": np.zeros((2, 2))}, "W0"),
    ],
)
def test_bad_arguments_name_themselves(problem, change, named):
    X, a, W0, rng = problem
    args = {"y": rng.normal(size=X.shape[0]), "W": W0, "a": a} | change
    extra = {k: args.pop(k) for k in ("activation", "slope", "W0") if k in args}
    with pytest.raises(ValueError, match=named):
        iblab.diagnose(X, args["y"], args["W"], args["a"], **extra)


@pytest.mark.parametrize(
    "labels,task,warns",
    [
        ([0.0, 1.0, 2.0], "regression", True),
        ([-1.0, 0.0, 1.0], "regression", True),
        ([0.5, -1.25, 2.0], "regression", False),  # real-valued targets
        ([-1.0, 1.0], "classification", False),
    ],
)
def test_labels_say_what_they_were_taken_for(problem, labels, task, warns):
    X, a, W0, rng = problem
    y = np.resize(labels, X.shape[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dg = iblab.diagnose(X, y, W0, a)
    assert dg.task == task
    said = [str(w.message) for w in caught]
    assert bool(said) == warns
    if warns:
        assert said[0].startswith("y: labels {") and "regression targets" in said[0]
        assert caught[0].filename == __file__  # points at the call, not inside iblab
