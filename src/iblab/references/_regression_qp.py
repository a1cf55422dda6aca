"""The convex QP behind the regression references, in data-span coordinates, solved by Clarabel.

Every reference minimises ||W - centre||_F^2 over W = s W_0 + C X subject to sign and linear
constraints on the pre-activations Z = s P0 + K C^T (n, m). Write K = F F^T with F = U diag(sig)
(n, r), the eigen factor of K restricted to its numerical range (`iblab.gram.psd_factor`,
r = rank). With B = C F (m, r) the rows of B are the coordinates of w_j - centre_j in an
orthonormal basis of span X, so

    ||W - centre||_F^2 = ||B||_F^2 and Z = s P0 + F B^T,

a QP with identity Hessian whose constraint rows are rows of F. This is better conditioned than
either the objective tr(C K C^T) (cond K in the Hessian) or the variable U = K C^T (objective
with K^{-1}); only cond(F) = sqrt(cond K) enters. C is recovered as B diag(1/sig) U^T, the
minimum-norm coefficients (C lies in the range of K).

Constraint structure (all (n, m) arrays unless said):
  eq (n,) bool, E weights:  sum_j E_ij Z_ij = y_i  for eq_i
  M bool, sgn in {+1, -1}:  sgn_ij Z_ij >= 0       for M_ij
Lagrangian of 1/2 ||W - centre||_F^2:
  L = 1/2 ||W - centre||^2 - sum_i nu_i (sum_j E_ij Z_ij - y_i) - sum_ij lam_ij sgn_ij Z_ij,
so stationarity reads W - centre = Gamma X with Gamma_ji = E_ij nu_i + sgn_ij lam_ij, i.e.
C = Gamma (modulo the null space of K).
"""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

_STATUS = {
    "Solved": "optimal",
    "AlmostSolved": "optimal_inaccurate",
    "PrimalInfeasible": "infeasible",
    "AlmostPrimalInfeasible": "infeasible_inaccurate",
    "DualInfeasible": "unbounded",
    "AlmostDualInfeasible": "unbounded_inaccurate",
}


def solve_span_qp(K, U, sig, s, P0, y, eq, E, M, sgn, settings, polish=True):
    """Minimise ||B||_F^2 s.t. the constraints on Z = s P0 + F B^T. Returns a dict.

    Keys: status, C (m, n) or None, nu (n,), lam (n, m), objective (||B||_F^2 =
    ||W - centre||_F^2), kkt (`kkt_residuals`), polished, iterations, solve_time.

    Polishing: interior-point iterates approach a degenerate constraint (zero slack and zero
    multiplier, e.g. orthogonal data with centre 0) only like sqrt(gap), ~1e-6. With
    `polish`, the QP is solved once more with the constraints the first solve found active
    (slack <= multiplier) as equalities and the others dropped; that point is kept when its
    KKT residuals are smaller."""
    offset = s * P0
    n, m = offset.shape
    F = U * sig
    r = F.shape[1]
    eq = np.asarray(eq, bool)
    E = np.where(eq[:, None], E, 0.0)
    M = np.asarray(M, bool)
    # An equality row with no coefficient is a fact about the data, decided here.
    coef_norm = np.abs(E[:, :, None] * F[:, None, :]).sum(axis=(1, 2))
    empty = eq & (coef_norm == 0)
    rhs = y - (E * offset).sum(1)
    out = dict(nu=np.zeros(n), lam=np.zeros((n, m)), iterations=0, solve_time=0.0)
    out.update(polished=False, kkt={})
    if np.any(np.abs(rhs[empty]) > 1e-12 * max(1.0, np.abs(y).max(initial=0.0))):
        return dict(out, status="infeasible", C=None, objective=np.inf)
    rows_eq = np.flatnonzero(eq & ~empty)
    jj, ii = np.nonzero(M.T)  # neuron-major order keeps the KKT matrix block structured
    n_eq, n_in = rows_eq.size, ii.size
    if n_eq + n_in == 0 or r == 0:
        feasible = np.all(np.abs(rhs[eq]) <= 1e-12) and np.all((sgn * offset)[M] >= 0)
        C = np.zeros((m, n))
        return dict(out, status="optimal" if feasible else "infeasible", C=C, objective=0.0)

    A_eq = (E[rows_eq][:, :, None] * F[rows_eq][:, None, :]).reshape(n_eq, m * r)
    cols = (jj[:, None] * r + np.arange(r)[None, :]).ravel()
    vals = (-sgn[ii, jj][:, None] * F[ii]).ravel()
    A_in = sp.csr_matrix((vals, (np.repeat(np.arange(n_in), r), cols)), shape=(n_in, m * r))
    b_eq, b_in = rhs[rows_eq], sgn[ii, jj] * offset[ii, jj]
    # Solved in units where the constraint rows and right-hand sides are of order 1: with
    # A' = A / f, b' = b / beta the minimiser is x' = x f / beta and the multipliers
    # z' = z f^2 / beta. Clarabel's tolerances are absolute, and unscaled problems at large d
    # (rows ~ sqrt(d), ||W - W_0|| ~ 1e-3) stop short of optimality ("optimal inaccurate").
    f = float(sig.max())
    beta = float(max(np.abs(b_eq).max(initial=0.0), np.abs(b_in).max(initial=0.0))) or 1.0
    A_eq, A_in, b_eq, b_in = A_eq / f, A_in / f, b_eq / beta, b_in / beta
    P = sp.identity(m * r, format="csc")
    q = np.zeros(m * r)

    def run(A_ineq, b_ineq, equalities_only):
        A = sp.vstack([sp.csr_matrix(A_eq), A_ineq], format="csc")
        b = np.concatenate([b_eq, b_ineq])
        if equalities_only:
            cones = [clarabel.ZeroConeT(A.shape[0])]
        else:
            cones = [clarabel.ZeroConeT(n_eq)] if n_eq else []
            cones += [clarabel.NonnegativeConeT(n_in)] if n_in else []
        sol = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
        return sol, _STATUS.get(str(sol.status), str(sol.status).lower())

    def unpack(sol, keep):
        B = np.asarray(sol.x).reshape(m, r) * (beta / f)
        z = np.asarray(sol.z) * (beta / f**2)
        nu = np.zeros(n)
        nu[rows_eq] = -z[:n_eq]  # Clarabel: P x + A^T z = 0, so equalities flip sign
        lam = np.zeros((n, m))
        lam[ii[keep], jj[keep]] = z[n_eq:]
        C = (B / sig) @ U.T
        kkt = kkt_residuals(s, C, K, P0, y, eq, E, M, sgn, nu, lam)
        return dict(C=C, nu=nu, lam=lam, objective=float((B * B).sum()), kkt=kkt)

    t0 = time.perf_counter()
    sol, status = run(A_in, b_in, False)
    out.update(iterations=sol.iterations)
    if not status.startswith("optimal"):
        out.update(solve_time=time.perf_counter() - t0)
        return dict(out, status=status, C=None, objective=np.inf)
    res = unpack(sol, np.ones(n_in, bool))
    if polish and n_in:
        z_in = np.asarray(sol.z)[n_eq:]
        slack_in = np.asarray(sol.s)[n_eq:]
        act = z_in > slack_in
        sol2, status2 = run(A_in[act], b_in[act], True)
        out.update(iterations=out["iterations"] + sol2.iterations)
        if status2.startswith("optimal"):
            res2 = unpack(sol2, act)
            if _worst(res2["kkt"]) < _worst(res["kkt"]):
                res, out["polished"] = res2, True
    out.update(solve_time=time.perf_counter() - t0)
    return dict(out, status=status, **res)


def _worst(kkt):
    return max(v for k, v in kkt.items() if k != "stationarity")


def gamma(nu, lam, eq, E, M, sgn):
    """Coefficients the multipliers predict: Gamma_ji = E_ij nu_i [eq_i] + sgn_ij lam_ij [M_ij]."""
    eq = np.asarray(eq, bool)
    return (np.where(eq[:, None], E, 0.0) * nu[:, None] + np.where(M, sgn * lam, 0.0)).T


def kkt_residuals(s, C, K, P0, y, eq, E, M, sgn, nu, lam):
    """KKT residuals of (C, nu, lam) for the span QP, computed from the Gram blocks alone.

    stationarity: ||(C - Gamma) X||_F (W - centre = Gamma X), and relative to ||C X||_F;
    primal_eq: max_i |sum_j E_ij Z_ij - y_i|; primal_ineq: max(0, -min sgn_ij Z_ij) over M;
    dual: max(0, -min lam_ij) over M; complementarity: max |lam_ij sgn_ij Z_ij| over M."""
    K = np.asarray(K, dtype=np.float64)
    Z = s * P0 + K @ C.T
    R = C - gamma(nu, lam, eq, E, M, sgn)
    stat = np.sqrt(max((R * (R @ K)).sum(), 0.0))
    size = np.sqrt(max((C * (C @ K)).sum(), 0.0))
    eq = np.asarray(eq, bool)
    slack = (sgn * Z)[M]
    lm = lam[M]
    return dict(
        stationarity=float(stat),
        stationarity_rel=float(stat / size) if size > 0 else float(stat),
        primal_eq=float(np.abs((E * Z).sum(1) - y)[eq].max(initial=0.0)),
        primal_ineq=float(max(0.0, -slack.min(initial=0.0))),
        dual=float(max(0.0, -lm.min(initial=0.0))),
        complementarity=float(np.abs(lm * slack).max(initial=0.0)),
    )
