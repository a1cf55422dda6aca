"""Diagnostics for any two-layer network `f(x) = sum_j a_j phi(<w_j, x>)`, trained anywhere.

`diagnose(X, y, W, a)` takes NumPy, PyTorch or JAX arrays and compares the network with
what theory predicts: its spectrum (stable rank), its margins and the max-margin KKT
conditions (classification, labels +-1), the max-margin linear predictor, and, for
regression with the initialisation W0, the minimum-norm interpolator with W's own pattern.
A bias is not modelled: append a column of ones to X and the biases to W.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from iblab import metrics
from iblab.activations import Activation, dphi, phi
from iblab.data._orthogonality import near_orthogonality

_KINDS = ("relu", "leaky_relu", "linear")
DEFAULT_SLOPE = 0.1  # leaky_relu's slope when none is given
MAX_CLASSES = 20  # integer labels with at most this many values look like class indices


@dataclass(frozen=True)
class Diagnosis:
    """What `diagnose` found. Shapes: n points, d inputs, m neurons, t test points.

    Figures that do not apply to the task are None.

    Attributes:
        task: 'classification' when every label is -1 or +1, else 'regression'.
        n: Number of points.
        d: Input dimension.
        m: Number of neurons.
        singular_values: Singular values of W (min(m, d),), descending.
        stable_rank: ||W||_F^2 / ||W||_2^2 (nan for W = 0).
        weight_norm: ||W||_F.
        outputs: f(x_i) (n,).
        near_orthogonality: Near-orthogonality facts of X (R_min, R_max, p_max,
            orthogonality_ratio).
        margins: Classification: y_i f(x_i) (n,).
        min_margin: Classification: min_i y_i f(x_i).
        normalized_margin: Classification: min_margin / ||W||_F (a fixed, phi
            1-homogeneous).
        accuracy: Classification: fraction of points with sign f(x_i) = y_i.
        kkt_residual: Classification, homogeneous phi: stationarity of min ||W||^2 s.t.
            y_i f(x_i) >= 1 with a fixed, after rescaling W to unit minimum margin:
            ||W~ - sum_i lambda_i V_i|| / ||W~|| for the best lambda >= 0; inf when the
            network does not separate the data.
        kkt_slackness: Complementary slackness, sum_i lambda_i (margin_i / q - 1) /
            sum_i lambda_i: weight on points off the margin (a KKT point has this and
            kkt_residual near 0).
        kkt_multipliers: The lambda (n,) of kkt_residual.
        svm_margin: Geometric margin of the max-margin linear predictor u; 0 when no linear
            predictor separates.
        svm_cosine: cos(W^T a, u).
        boundary_agreement: Fraction of test points where sign f = sign `<u, x>` (needs
            X_test).
        residual_rms: Regression: root mean square of f(x_i) - y_i.
        residual_max: Regression: max_i |f(x_i) - y_i|.
        min_norm_gap: Regression with W0: ||W - W_ref|| / ||W_ref - W0|| for W_ref the
            min ||W - W0|| interpolator with W's own activation pattern; None when that
            problem is infeasible.
        min_norm_status: Regression with W0: the reference's status ('optimal', or why
            there is no min_norm_gap).
        test: Test figures (needs X_test, y_test): accuracy (classification) or
            residual_rms (regression); `summary` reports them as test_*.
    """

    task: str
    n: int
    d: int
    m: int
    singular_values: np.ndarray
    stable_rank: float
    weight_norm: float
    outputs: np.ndarray
    near_orthogonality: dict
    margins: np.ndarray | None = None
    min_margin: float | None = None
    normalized_margin: float | None = None
    accuracy: float | None = None
    kkt_residual: float | None = None
    kkt_slackness: float | None = None
    kkt_multipliers: np.ndarray | None = None
    svm_margin: float | None = None
    svm_cosine: float | None = None
    boundary_agreement: float | None = None
    residual_rms: float | None = None
    residual_max: float | None = None
    min_norm_gap: float | None = None
    min_norm_status: str | None = None
    test: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The scalar figures, by name.

        Returns:
            A flat dict: the scalar fields (arrays left out), the test figures as
                test_*, and the near-orthogonality facts.
        """
        out = {k: v for k, v in asdict(self).items() if not isinstance(v, np.ndarray | dict)}
        out |= {f"test_{k}": v for k, v in self.test.items()}
        return out | self.near_orthogonality


def diagnose(
    X,
    y,
    W,
    a,
    *,
    W0=None,
    activation: str = "relu",
    slope: float | None = None,
    X_test=None,
    y_test=None,
) -> Diagnosis:
    """Diagnose the network x -> a^T phi(W x), trained anywhere.

    Arrays may be NumPy, PyTorch (any device) or JAX; everything is taken as float64.
    y, a and y_test may also be (k, 1) or (1, k). Labels: every y_i in {-1, +1} is
    classification, any other real values regression. Two classes coded otherwise (0/1,
    1/2, ...) are refused (map them to -1/+1); integer labels of 3 to MAX_CLASSES values
    are diagnosed as regression targets, with a warning.

    Args:
        X (array_like): Inputs (n, d); for a bias, append a column of ones (and the biases to W).
        y (array_like): Labels or targets (n,).
        W (array_like): First layer (m, d).
        a (array_like): Second layer (m,).
        W0 (array_like | None): The initialisation (m, d), for regression's min-norm gap.
        activation: relu, leaky_relu or linear.
        slope: leaky_relu's negative slope, in [0, 1) (default 0.1); only leaky_relu
            takes one.
        X_test (array_like | None): Test inputs (t, d), for the test figures and boundary_agreement.
        y_test (array_like | None): Test labels or targets (t,), with X_test.

    Returns:
        The Diagnosis.

    Raises:
        ValueError: One line naming the argument: not numeric, NaN or inf, a shape that
            does not fit, an unknown activation, a slope it does not take or out of
            range, or two classes not coded -1/+1.

    Warns:
        UserWarning: Integer labels of 3 to MAX_CLASSES values, diagnosed as regression.
    """
    X, y, W, a = (_array(v, name) for v, name in ((X, "X"), (y, "y"), (W, "W"), (a, "a")))
    y, a = _vector(y, "y"), _vector(a, "a")
    W0 = None if W0 is None else _array(W0, "W0")
    _check(X, y, W, a, W0, activation, slope)
    act = Activation(activation, DEFAULT_SLOPE if slope is None else slope)
    n, d = X.shape
    m = W.shape[0]
    Z = X @ W.T  # (n, m)
    f = phi(act, Z) @ a
    sv = np.linalg.svd(W, compute_uv=False)
    frob = float(np.sqrt(np.sum(sv**2)))
    task = "classification" if np.all(np.abs(y) == 1.0) else "regression"
    K = X @ X.T
    base = dict(
        task=task,
        n=n,
        d=d,
        m=m,
        singular_values=sv,
        stable_rank=float(frob**2 / sv[0] ** 2) if sv[0] > 0 else float("nan"),
        weight_norm=frob,
        outputs=f,
        near_orthogonality=near_orthogonality(K, act.gamma),
    )
    test, f_test = {}, None
    if X_test is not None:
        X_test = _array(X_test, "X_test")
        y_test = _vector(_array(y_test, "y_test"), "y_test")
        if X_test.ndim != 2 or X_test.shape[1] != d or y_test.shape != (X_test.shape[0],):
            raise ValueError(
                f"X_test, y_test: expected shapes (t, {d}) and (t,), got {X_test.shape} and "
                f"{y_test.shape}"
            )
        f_test = phi(act, X_test @ W.T) @ a
    if task == "classification":
        extra = _classification(X, y, W, a, Z, f, K, act, frob, X_test, f_test)
        if X_test is not None:
            test["accuracy"] = float(metrics.accuracy(y_test, f_test))
    else:
        extra = _regression(X, y, W, a, Z, f, K, act, W0)
        if X_test is not None:
            test["residual_rms"] = float(np.sqrt(np.mean((f_test - y_test) ** 2)))
    return Diagnosis(**base, **extra, test=test)


def _classification(X, y, W, a, Z, f, K, act, frob, X_test, f_test) -> dict:
    from iblab.references import MaxMarginLinear, sign_agreement

    margins = y * f
    q = float(margins.min())
    out = dict(
        margins=margins,
        min_margin=q,
        normalized_margin=float(metrics.normalized_margin(y, f, frob)) if frob > 0 else np.nan,
        accuracy=float(metrics.accuracy(y, f)),
    )
    if act.homogeneous:
        m, n = W.shape[0], X.shape[0]
        # G0 enters only through its trace, ||W||_F^2: no m x m product W W^T is formed.
        kkt = metrics.kkt_residual(
            1.0, np.zeros((m, n)), a, y, K, Z, frob**2, functools.partial(phi, act),
            functools.partial(dphi, act), metrics.clarke_slopes(act),
        )  # fmt: skip
        out["kkt_multipliers"] = kkt["lambda"]
        if kkt["separates"]:
            # The residual again in R^{m x d}, free of the Gram-block cancellation floor.
            R = W / q - kkt["coefficients"] @ X
            out["kkt_residual"] = float(np.linalg.norm(R) / np.linalg.norm(W / q))
            total = float(np.sum(kkt["lambda"]))
            out["kkt_slackness"] = kkt["complementary_slackness"] / total if total > 0 else 0.0
        else:
            out["kkt_residual"] = float("inf")
    svm = MaxMarginLinear().fit(K, y)
    out["svm_margin"] = float(svm.margin_)
    if svm.status_ == "optimal":
        u, v = X.T @ svm.beta_, W.T @ a
        out["svm_cosine"] = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
        if X_test is not None:
            out["boundary_agreement"] = sign_agreement(f_test, X_test @ u)
    return out


def _regression(X, y, W, a, Z, f, K, act, W0) -> dict:
    res = f - y
    out = dict(residual_rms=float(np.sqrt(np.mean(res**2))), residual_max=float(np.abs(res).max()))
    if W0 is None:
        return out
    from iblab.references import MinNormLinear, PatternQP

    P0 = X @ W0.T
    if act.kind == "linear":
        ref = MinNormLinear().fit(K, P0, a, y)
        status = "optimal" if ref.residual_ < 1e-8 * max(1.0, np.abs(y).max()) else "no fit"
    else:
        ref = PatternQP().fit(K, P0, a, y, Z > 0, slope=act.gamma)
        status = ref.status_
    out["min_norm_status"] = status
    if ref.C_ is not None and status == "optimal":
        W_ref = W0 + ref.C_ @ X
        out["min_norm_gap"] = float(np.linalg.norm(W - W_ref) / np.linalg.norm(W_ref - W0))
    return out


def _array(value, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a PyTorch tensor, on any device
        value = value.detach().cpu().numpy()
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: not a numeric array ({e})") from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: contains NaN or inf")
    return out


def _vector(v: np.ndarray, name: str) -> np.ndarray:
    """(k,), (k, 1) or (1, k) as (k,)."""
    if v.ndim == 2 and 1 in v.shape:
        return v.reshape(-1)
    if v.ndim != 1:
        raise ValueError(f"{name}: expected a vector, got shape {v.shape}")
    return v


def _check(X, y, W, a, W0, activation, slope) -> None:
    if activation not in _KINDS:
        raise ValueError(f"activation: expected one of {', '.join(_KINDS)}, got {activation!r}")
    if slope is not None and activation != "leaky_relu":
        raise ValueError(
            f"slope: {activation} has no slope (got slope={slope}); use "
            "activation='leaky_relu' for a leaky ReLU, or leave slope out"
        )
    if slope is not None and not 0.0 <= slope < 1.0:
        raise ValueError(f"slope: expected 0 <= slope < 1, got {slope}")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X: expected a non-empty (n, d) matrix, got shape {X.shape}")
    n, d = X.shape
    if y.shape != (n,):
        raise ValueError(f"y: expected shape ({n},) for X of {n} rows, got {y.shape}")
    if W.ndim != 2 or W.shape[1] != d:
        raise ValueError(f"W: expected shape (m, {d}) for X of {d} columns, got {W.shape}")
    if a.shape != (W.shape[0],):
        raise ValueError(
            f"a: expected shape ({W.shape[0]},) for W of that many rows, got {a.shape}"
        )
    if W0 is not None and W0.shape != W.shape:
        raise ValueError(f"W0: expected the shape of W, {W.shape}, got {W0.shape}")
    _check_labels(y)


def _check_labels(y: np.ndarray) -> None:
    """Refuse two classes not coded -1/+1; warn that integer labels of a few values (class
    indices?) are taken as regression targets."""
    labels = np.unique(y)
    if not np.all(labels == np.round(labels)) or set(labels.tolist()) <= {-1.0, 1.0}:
        return  # real-valued targets, or classification labels
    shown = ", ".join(f"{v:g}" for v in labels)
    if len(labels) == 2:
        raise ValueError(
            f"y: labels {{{shown}}} look like two classes; classification diagnostics need "
            "-1 and +1 (e.g. 2 * y - 1 for 0/1 labels)"
        )
    if 3 <= len(labels) <= MAX_CLASSES:
        warnings.warn(
            f"y: labels {{{shown}}} are neither -1/+1 nor real-valued; diagnosed as regression "
            "targets (task 'regression'); for classification diagnostics map two classes to "
            "-1/+1",
            stacklevel=4,  # the caller of diagnose
        )
