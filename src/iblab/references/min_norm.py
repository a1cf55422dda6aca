"""Minimum-norm references for regression with `f(x) = sum_j a_j phi(<w_j, x>)`, a fixed.

Lai, Wang, Tao, Muthukumar (COLT 2026): GD on squared loss ends near the minimum-norm global
minimiser. Every reference is a point W_ref = s_ W_0 + C_ X given by Gram blocks alone
(K = X X^T (n, n), P0 = X W_0^T (n, m)); s_ = 1 (distance measured from the initialisation)
except `SingleNeuronQP(center="origin")`, where s_ = 0 (minimum ||w||).

Estimators follow scikit-learn: `fit(...)` returns self, fitted attributes end in `_`.
QPs are solved by a primal-dual active set on their multipliers (`_active_set`), kept only when
its KKT residuals certify it, else by Clarabel in an orthonormal basis of span X
(`_regression_qp`); every estimator reports KKT residuals `kkt_` computed independently from
the returned point, and `solver_` says which solver gave it.
"""

from __future__ import annotations

import functools

import numpy as np

from iblab._qp import clarabel_settings, homogeneous_qp
from iblab.activations import Activation, phi
from iblab.gram import distance_sq, preactivations, psd_factor, psd_pinv
from iblab.references._active_set import solve_span_qp_active_set
from iblab.references._regression_qp import gamma, solve_span_qp

__all__ = [
    "MinNormLinear",
    "SingleNeuronQP",
    "PatternQP",
    "pattern_of",
    "gap",
    "kkt_violations",
]


def _f64(*arrays):
    return [np.asarray(x, dtype=np.float64) for x in arrays]


def pattern_of(s, C, K, P0):
    """The activation pattern of W = s W_0 + C X on the training points.

    Args:
        s (float): Scale of W_0 in W = s W_0 + C X.
        C (array): Data-span coefficients (m, n).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).

    Returns:
        (array): Boolean (n, m): whether the pre-activation `<w_j, x_i>` is > 0.
    """
    return np.asarray(preactivations(s, *_f64(C, K, P0))) > 0


class MinNormLinear:
    """Minimum-norm interpolator of the linear network `f(x) = a^T W x = <v, x>`, v = W^T a.

    v_ = v0 + X^T alpha_ with alpha_ = K^+ (y - X v0) (the minimum-norm least-squares solution
    when K is singular or y - X v0 is off its range). GD on the linear network with a fixed
    moves W by a u^T only (the gradient is a r^T X / n), so v_t = v0 + ||a||^2 u_t and, with
    u in span X, the limit is W_ = W0 + a alpha_^T X / ||a||^2, the point of minimum
    `||W - W0||_F` among all W with a^T W X^T = the least-squares fit. Hence
    `C_ = outer(a, alpha_) / ||a||^2` (m, n) and s_ = 1.

    Args:
        rcond (float): Eigenvalues of K at most rcond times the largest count as zero (for K^+).

    Attributes:
        C_: Data-span coefficients of W_ (m, n), after `fit`.
        s_: Scale of W_0 in W_, 1.
        alpha_: Coefficients of v_ - v0 on the rows of X (n,).
        residual_: max_i |f(x_i) - y_i|; 0 when interpolation is possible.
        objective_: `||W_ - W0||_F^2 = alpha_^T K alpha_ / ||a||^2`.
    """

    def __init__(self, rcond=1e-12):
        self.rcond = rcond

    def fit(self, K, P0, a, y):
        """Compute the interpolator.

        Args:
            K (array): X X^T (n, n).
            P0 (array): X W_0^T (n, m).
            a (array): The fixed second layer (m,), not zero.
            y (array): Targets (n,).

        Returns:
            (MinNormLinear): self, fitted.
        """
        K, P0, a, y = _f64(K, P0, a, y)
        U, sig = psd_factor(K, self.rcond)
        fx0 = P0 @ a  # X v0 = X W0^T a
        self.alpha_ = psd_pinv(U, sig) @ (y - fx0)
        norm_a2 = float(a @ a)
        self.C_ = np.outer(a, self.alpha_) / norm_a2
        self.s_ = 1.0
        self.residual_ = float(np.abs(fx0 + K @ self.alpha_ - y).max(initial=0.0))
        self.objective_ = float(self.alpha_ @ K @ self.alpha_) / norm_a2
        return self


class _SpanQP:
    """Shared fitting of the QP references; subclasses define the constraint structure.

    solver: "auto" tries the active set first (`solve_span_qp_active_set`) and leaves to
    Clarabel what it cannot certify (an active set that cycles or is singular, an infeasible
    QP); "clarabel" uses Clarabel alone. tol, max_iter, polish and solver_options are
    Clarabel's and apply only where it solves.
    tol: Clarabel's gap and feasibility tolerances, in the units `solve_span_qp` solves in
    (constraint rows and right-hand sides of order 1, so about 1e-16 is machine precision;
    1e-12 there stalls as "insufficient progress"); the polishing re-solve then recovers the
    solution to machine precision."""

    def __init__(self, tol=1e-10, max_iter=500, rcond=1e-12, polish=True, solver_options=None,
                 solver="auto"):  # fmt: skip
        if solver not in ("auto", "clarabel"):
            raise ValueError(f"solver must be 'auto' or 'clarabel', got {solver!r}")
        self.solver = solver
        self.tol = tol
        self.polish = polish
        self.max_iter = max_iter
        self.rcond = rcond
        self.solver_options = solver_options

    def _solve(self, s, K, P0, y, eq, E, M, sgn):
        res = None
        if self.solver == "auto":
            res = solve_span_qp_active_set(K, s, P0, y, eq, E, M, sgn)
        if res is None:  # Clarabel's basis of span X: an eigendecomposition, only here
            U, sig = psd_factor(K, self.rcond)
            settings = clarabel_settings(self.tol, self.max_iter, **(self.solver_options or {}))
            res = solve_span_qp(K, U, sig, s, P0, y, eq, E, M, sgn, settings, self.polish)
            res["solver"] = "clarabel"
        self.solver_ = res["solver"]
        self.s_ = float(s)
        self.status_ = res["status"]
        self.C_ = res["C"]
        self.objective_ = res["objective"]
        self.n_iter_ = res["iterations"]
        self.solve_time_ = res["solve_time"]
        self.dual_eq_, self.dual_ineq_ = res["nu"], res["lam"]
        self.kkt_ = res["kkt"]
        self.polished_ = res["polished"]
        return self


def _single_neuron_structure(y, a):
    n = y.shape[0]
    eq = y > 0
    E = np.full((n, 1), float(a))
    M = ~eq[:, None]
    sgn = -np.ones((n, 1))
    return eq, E, M, sgn


class SingleNeuronQP(_SpanQP):
    """Minimum-norm global minimiser of one ReLU neuron `f(x) = a relu(<w, x>)`, a > 0.

    The set of minimisers of the squared loss is `{w : a <x_i, w> = y_i where y_i > 0,
    <x_i, w> <= 0 where y_i <= 0}` (zero loss when y >= 0; a point with y_i < 0 is best fit by
    output 0). Among it, `center="init"` takes the point nearest w0, `center="origin"` the
    point of least ||w||. With centre s w0 (s = 1 or 0), w = s w0 + X^T c: the constraints
    involve w only through `<x_i, w - centre>`, so the component of w - centre orthogonal to
    span X changes no constraint and only adds to the norm; at the optimum it is zero. The QP
    in c (n,) is `min c^T K c` s.t. `s p0_i + (K c)_i = y_i / a` (y_i > 0),
    `s p0_i + (K c)_i <= 0` (y_i <= 0), p0 = P0[:, 0]. Infeasible when n > d can make the
    polyhedron empty: then `status_ = "infeasible"` and `C_ = None`.

    Args:
        center (str): "init" (nearest w0, s_ = 1) or "origin" (least ||w||, s_ = 0).
        tol (float): Clarabel's gap and feasibility tolerances, in the QP's scaled units
            (constraint rows and right-hand sides of order 1; 1e-12 stalls there); the
            polishing re-solve then recovers the solution to machine precision.
        max_iter (int): Clarabel's iteration limit.
        rcond (float): Eigenvalues of K at most rcond times the largest count as zero.
        polish (bool): Re-solve with the constraints found active as equalities, keeping
            that point when its KKT residuals are smaller.
        solver_options (dict | None): More Clarabel settings, by name.
        solver (str): "auto" (the active set, then Clarabel where it cannot certify) or
            "clarabel" (Clarabel alone).

    Attributes:
        C_: Data-span coefficients (1, n), after `fit`; use it only when status_
            starts with "optimal" (most failures leave None).
        s_: Scale of w0 in the centre: 1 (init) or 0 (origin).
        status_: "optimal" (either solver), or Clarabel's: "optimal_inaccurate",
            "infeasible", ...
        objective_: ||w_ - centre||^2 (inf for most failures).
        dual_: The multipliers (n,): free nu_i for y_i > 0, lam_i >= 0 for y_i <= 0, of
            1/2 ||w - centre||^2 - sum nu_i (a z_i - y_i) - sum lam_i (-z_i), so stationarity
            is c_i = a nu_i (y_i > 0), c_i = -lam_i (y_i <= 0).
        kkt_: KKT residuals of the returned point (stationarity, stationarity_rel,
            primal_eq, primal_ineq, dual, complementarity), computed from the Gram blocks.
        polished_: Whether the polishing re-solve's point was kept.
        solver_: "active_set" or "clarabel", the solver whose point was kept.
        n_iter_: Iterations (active-set iterations, or Clarabel's over both solves).
        solve_time_: Seconds spent solving.
    """

    def __init__(
        self, center="init", tol=1e-10, max_iter=500, rcond=1e-12, polish=True, solver_options=None,
        solver="auto",
    ):  # fmt: skip
        super().__init__(tol, max_iter, rcond, polish, solver_options, solver)
        self.center = center

    def fit(self, K, P0, a, y):
        """Solve the QP.

        Args:
            K (array): X X^T (n, n).
            P0 (array): X w0 (n, 1) or (n,).
            a (float | array): The fixed output weight, > 0: a scalar or shape (1,), the
                second layer of width 1.
            y (array): Targets (n,).

        Returns:
            (SingleNeuronQP): self, fitted (status_ says whether it was solved).

        Raises:
            ValueError: center is not "init" or "origin", or a is not one positive number.
        """
        if self.center not in ("init", "origin"):
            raise ValueError(f"center must be 'init' or 'origin', got {self.center!r}")
        a_flat = np.asarray(a, dtype=np.float64).reshape(-1)
        if a_flat.shape != (1,) or not a_flat[0] > 0:
            raise ValueError(f"a must be one positive number, got {a}")
        a = float(a_flat[0])
        K, P0, y = _f64(K, P0, y)
        P0 = P0.reshape(-1, 1)
        s = 1.0 if self.center == "init" else 0.0
        self._solve(s, K, P0, y, *_single_neuron_structure(y, a))
        eq = y > 0
        self.dual_ = np.where(eq, self.dual_eq_, self.dual_ineq_[:, 0])
        return self


class PatternQP(_SpanQP):
    """Minimum ||W - W0||_F interpolator among width-m ReLU networks with a given pattern.

    Variables C (m, n), W = W0 + C X, Z = P0 + K C^T (n, m). Constraints: Z_ij >= 0 where
    D_ij = 1, Z_ij <= 0 where D_ij = 0, and sum_j a_j D_ij Z_ij = y_i (interpolation with that
    pattern). Objective ||C X||_F^2 = tr(C K C^T), solved as ||B||_F^2 with B = C F, K = F F^T
    (m r variables, n m + n constraint rows). Measured on 2 CPU cores, n = 100, d = 1000:
    m = 512 about 18 s (20-26 s with the polishing re-solve), m = 64 about 3 s.

    Args:
        tol (float): Solver tolerance, as for `SingleNeuronQP`.
        max_iter (int): Clarabel's iteration limit.
        rcond (float): Rank threshold of K, as for `SingleNeuronQP`.
        polish (bool): Re-solve on the active set (see `SingleNeuronQP`).
        solver_options (dict | None): More Clarabel settings, by name.
        solver (str): "auto" (the active set, then Clarabel where it cannot certify) or
            "clarabel" (Clarabel alone).

    Attributes:
        C_: Data-span coefficients (m, n), after `fit`; use it only when status_
            starts with "optimal" (most failures leave None).
        s_: 1.
        status_: "optimal" (either solver), or Clarabel's: "optimal_inaccurate",
            "infeasible", ...
        objective_: ||W_ - W0||_F^2 (inf for most failures).
        dual_eq_: nu (n,), and dual_ineq_: lam >= 0 (n, m), the multipliers of
            1/2 ||W - W0||^2 - sum_i nu_i (sum_j a_j D_ij Z_ij - y_i)
            - sum_ij lam_ij (2 D_ij - 1) Z_ij, whose stationarity is
            C_ji = a_j D_ij nu_i + (2 D_ij - 1) lam_ij.
        kkt_: KKT residuals of the returned point (stationarity, stationarity_rel,
            primal_eq, primal_ineq, dual, complementarity), computed from the Gram blocks.
        polished_: Whether the polishing re-solve's point was kept.
        solver_: "active_set" or "clarabel", the solver whose point was kept.
        n_iter_: Iterations (active-set iterations, or Clarabel's over both solves).
        solve_time_: Seconds spent solving.
    """

    def fit(self, K, P0, a, y, pattern, slope=0.0):
        """Solve the QP.

        Args:
            K (array): X X^T (n, n).
            P0 (array): X W_0^T (n, m).
            a (array): The fixed second layer (m,).
            y (array): Targets (n,).
            pattern (array): The activation pattern D (n, m), bool (e.g. `pattern_of`).
            slope (float): gamma of a leaky ReLU (an inactive entry then contributes
                a_j gamma Z_ij to f(x_i)); 0 for ReLU.

        Returns:
            (PatternQP): self, fitted (status_ says whether it was solved).

        Raises:
            ValueError: pattern's shape is not P0's.
        """
        K, P0, a, y = _f64(K, P0, a, y)
        D = np.asarray(pattern, bool)
        if D.shape != P0.shape:
            raise ValueError(f"pattern shape {D.shape} != P0 shape {P0.shape}")
        return self._solve(1.0, K, P0, y, *_pattern_structure(D, a, slope))


def _pattern_structure(D, a, slope=0.0):
    n, m = D.shape
    E = a[None, :] * np.where(D, 1.0, slope)
    return np.ones(n, bool), E, np.ones((n, m), bool), np.where(D, 1.0, -1.0)


def _ref_point(ref):
    if isinstance(ref, tuple):
        return float(ref[0]), np.asarray(ref[1], dtype=np.float64)
    return float(ref.s_), np.asarray(ref.C_, dtype=np.float64)


def gap(s, C, ref, K, P0, G0, a=None, K_test=None, P0_test=None, activation="relu"):
    """Distance between GD's W = s W0 + C X and a reference W_ref, in weights and outputs.

    Args:
        s (float): Scale of W_0 in W.
        C (array): Data-span coefficients of W (m, n).
        ref (estimator | tuple): A fitted estimator (its s_ and C_) or a pair (s_ref, C_ref).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        G0 (array): W_0 W_0^T (m, m).
        a (array | None): Second layer (m,), for the function-space gap.
        K_test (array | None): X_test X^T (t, n); given, the function-space gap is computed.
        P0_test (array | None): X_test W_0^T (t, m).
        activation (Activation | str | Callable): The activation of both networks: an
            Activation, the name of its kind (e.g. "relu" or "linear"), or a callable.

    Returns:
        (dict): distance = ||W - W_ref||_F, ref_distance = ||W_ref - W0||_F and normalised =
            distance / ref_distance; with K_test also function_rms = RMS_x (f(x) - f_ref(x)),
            ref_function_rms = RMS_x (f_ref(x) - f_0(x)) and function_normalised = their
            ratio, on the test points. Ratios are nan when the reference did not move.

    Raises:
        ValueError: K_test is given without a or P0_test.
    """
    K, P0, G0, C = _f64(K, P0, G0, C)
    s_ref, C_ref = _ref_point(ref)
    zero = np.zeros_like(C_ref)
    dist = np.sqrt(max(float(distance_sq(s, C, s_ref, C_ref, K, P0, G0)), 0.0))
    ref_dist = np.sqrt(max(float(distance_sq(s_ref, C_ref, 1.0, zero, K, P0, G0)), 0.0))
    out = dict(distance=dist, ref_distance=ref_dist, normalised=_ratio(dist, ref_dist))
    if K_test is not None:
        if a is None or P0_test is None:
            raise ValueError("the function-space gap needs a, K_test and P0_test")
        if isinstance(activation, str):
            activation = Activation(activation)
        if isinstance(activation, Activation):
            activation = functools.partial(phi, activation)
        K_test, P0_test, a = _f64(K_test, P0_test, a)

        def f(s_, C_):
            return activation(preactivations(s_, C_, K_test, P0_test)) @ a

        f_ref = f(s_ref, C_ref)
        rms = float(np.sqrt(np.mean((f(s, C) - f_ref) ** 2)))
        ref_rms = float(np.sqrt(np.mean((f_ref - f(1.0, zero)) ** 2)))
        out.update(
            function_rms=rms, ref_function_rms=ref_rms, function_normalised=_ratio(rms, ref_rms)
        )
    return out


def kkt_violations(s, C, K, P0, a, y, pattern=None, G0=None, atol=1e-8, rtol=1e-6, rcond=1e-12):
    """How far GD's end point W = s W0 + C X is from being the min-norm point of its QP.

    The QP: `PatternQP` with `pattern` (default: W's own pattern, `pattern_of`), or, when m = 1,
    a_0 > 0 and pattern is None, `SingleNeuronQP(center="init")`. The end point is that QP's
    solution iff it is feasible and W - W0 = Gamma X with Gamma_ji = E_ij nu_i + sgn_ij lam_ij
    (E_ij = a_j D_ij, sgn_ij = 2 D_ij - 1; see the estimators), lam >= 0, and lam_ij = 0 on
    every inequality with nonzero slack sgn_ij Z_ij.

    Computed: the active set A = {(i, j): |Z_ij| <= atol}; multipliers nu (free) and lam >= 0
    on A only (complementary slackness imposed) minimising ||W - W0 - Gamma X||_F (a small
    QP; plain least squares when A is empty). Then R = C_eff - Gamma, projected onto the
    range of K (C_eff = C + (s - 1) P0^T K^+, the span part of W - W0), gives the implied
    multipliers.

    Args:
        s (float): Scale of W_0 in W.
        C (array): Data-span coefficients of W (m, n).
        K (array): X X^T (n, n).
        P0 (array): X W_0^T (n, m).
        a (array): The fixed second layer (m,).
        y (array): Targets (n,).
        pattern (array | None): The pattern D (n, m), bool; None for W's own.
        G0 (array | None): W_0 W_0^T (m, m); needed when s != 1.
        atol (float): An inequality is active when |Z_ij| <= atol.
        rtol (float): An implied multiplier counts when above rtol * max |C_eff|.
        rcond (float): Eigenvalues of K at most rcond times the largest count as zero.

    Returns:
        (dict): stationarity and stationarity_rel: ||W - W0 - Gamma X||_F, and over
            ||W - W0||_F; zero iff W is the QP's minimiser (given feasibility).
            primal_eq: max_i |f(x_i) - y_i| with the pattern; primal_ineq: the largest sign
            violation. implied_multipliers (n, m): sgn_ij R_ji on inactive inequalities
            (zero elsewhere), the multiplier an inactive constraint would need to absorb
            the stationarity residual. cs_violated: how many inactive inequalities have
            |implied| > rtol * max |C_eff|; dual_violated: how many of those need a negative
            multiplier; cs_violation_max: max |implied_ij * slack_ij|. n_inequalities,
            n_active; nu (n,) and lam (n, m), the fitted multipliers.

    Raises:
        ValueError: s != 1 and G0 is None.
    """
    K, P0, a, y, C = _f64(K, P0, a, y, C)
    n, m = P0.shape
    if pattern is None and m == 1 and a[0] > 0:
        eq, E, M, sgn = _single_neuron_structure(y, a[0])
    else:
        D = pattern_of(s, C, K, P0) if pattern is None else np.asarray(pattern, bool)
        eq, E, M, sgn = _pattern_structure(D, a)
    U, sig = psd_factor(K, rcond)
    Z = s * P0 + K @ C.T
    C_eff = C + (s - 1.0) * P0.T @ psd_pinv(U, sig) if s != 1 else C
    act = M & (np.abs(Z) <= atol)
    nu, lam = _fit_multipliers(C_eff, K, eq, E, act, sgn)
    Gam = gamma(nu, lam, eq, E, act, sgn)
    if s != 1:
        if G0 is None:
            raise ValueError("kkt_violations needs G0 when s != 1")
        G0 = np.asarray(G0, dtype=np.float64)
        stat2 = distance_sq(s, C, 1.0, Gam, K, P0, G0)
        size2 = distance_sq(s, C, 1.0, np.zeros_like(C), K, P0, G0)
    else:
        R = C - Gam
        stat2, size2 = (R * (R @ K)).sum(), (C * (C @ K)).sum()
    stat, size = np.sqrt(max(float(stat2), 0.0)), np.sqrt(max(float(size2), 0.0))
    R = (C_eff - Gam) @ U @ U.T
    inactive = M & ~act
    implied = np.where(inactive, sgn * R.T, 0.0)
    thresh = rtol * np.abs(C_eff).max(initial=0.0)
    slack = sgn * Z
    return dict(
        stationarity=float(stat),
        stationarity_rel=float(stat / size) if size > 0 else float(stat),
        primal_eq=float(np.abs((E * Z).sum(1) - y)[eq].max(initial=0.0)),
        primal_ineq=float(max(0.0, -slack[M].min(initial=0.0))),
        n_inequalities=int(M.sum()),
        n_active=int(act.sum()),
        cs_violated=int((np.abs(implied) > thresh).sum()),
        dual_violated=int((implied < -thresh).sum()),
        cs_violation_max=float(np.abs(implied * slack).max(initial=0.0)),
        implied_multipliers=implied,
        nu=nu,
        lam=lam,
    )


def _fit_multipliers(C, K, eq, E, act, sgn):
    """nu (free, eq rows) and lam >= 0 (on act) minimising tr((C - Gam) K (C - Gam)^T): the
    normal equations H theta = g of that least-squares problem, with lam >= 0 (`_qp`)."""
    n, m = E.shape
    Eq = np.where(eq[:, None], E, 0.0)
    KC = K @ C.T  # (n, m)
    ai, aj = np.nonzero(act)
    sg = sgn[ai, aj]
    # Gram matrix of the design (columns: nu_i, then lam_ij on the active set) and its rhs.
    H_nl = Eq[:, aj] * K[:, ai] * sg[None, :]
    H_ll = (aj[:, None] == aj[None, :]) * K[np.ix_(ai, ai)] * np.outer(sg, sg)
    H = np.block([[K * (Eq @ Eq.T), H_nl], [H_nl.T, H_ll]])
    g = np.concatenate([(KC * Eq).sum(1), sg * KC[ai, aj]])
    p, k = n, ai.size
    theta = homogeneous_qp(H, g, np.eye(k, p + k, p))
    if theta is None:  # Clarabel failed: the unconstrained fit, its lam clipped at 0
        theta = np.linalg.lstsq(H, g, rcond=None)[0]
    lam = np.zeros((n, m))
    lam[ai, aj] = np.maximum(theta[p:], 0.0)
    return theta[:p], lam


def _ratio(num: float, den: float) -> float:
    """num / den, nan when the reference did not move (den = 0, e.g. orthogonal data)."""
    return num / den if den > 0 else float("nan")
