"""The span QP of `_regression_qp` solved by a primal-dual active-set method on its multipliers.

The QP minimises 1/2 ||W - centre||_F^2 over W = s W_0 + C X subject to

    sum_j E_ij Z_ij = y_i  for eq_i,        sgn_ij Z_ij >= 0  for M_ij,       Z = s P0 + K C^T.

Its solution is C = Gamma, Gamma_ji = E_ij nu_i + sgn_ij lam_ij (modulo the null space of K),
so for a guessed set S of active sign constraints (lam = 0 off S) the equalities and
Z_ij = 0 on S are one symmetric linear system in (nu, lam_S), built from K, E and sgn alone:

    Q = [[K * (E E^T),   K[:, i] E_:j sgn_ij],        rhs = [y - sum_j E_ij s P0_ij,
         [  (sym.),      [j = j'] sgn sgn' K_ii']]            -s P0_ij on S]

(rows of S multiplied by sgn_ij). Each iteration solves it, then moves to S the entries that
violate their sign and out of S those whose multiplier is negative (Hintermueller, Ito and
Kunisch's primal-dual active set: a semismooth Newton method on the KKT conditions). When no
entry moves, every KKT condition holds up to the linear solve's rounding: stationarity by
construction, the equalities and Z = 0 on S by the solve, lam >= 0 on S and sgn Z >= 0 off
it by the stopping test. The cost is that of one (n + |S|)-square solve per iteration, against
an interior-point solve in m n variables; Clarabel (`solve_span_qp`) remains the fallback
when the iteration does not settle (degenerate or cycling active sets).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy import linalg

from iblab.references._regression_qp import kkt_residuals

MAX_ITER = 60  # active-set iterations before giving up (then Clarabel decides)
# An entry violates its sign when sgn Z < -FEAS * scale, and a multiplier is negative when
# lam < -FEAS * its scale: the scales are the right-hand side's and the multipliers' largest
# magnitudes, so the tests are relative and a value at rounding level is neither.
FEAS = 1e-12
# The point is returned only when its KKT residuals, computed afresh from the Gram blocks
# (`kkt_residuals`), are at most CERTIFY times their scales (the constraints' right-hand sides,
# the multipliers and their product): a solve that rounding or a near-singular system spoilt
# goes to Clarabel instead.
CERTIFY = 1e-10


def solve_span_qp_active_set(K, s, P0, y, eq, E, M, sgn, max_iter=MAX_ITER):
    """The span QP's minimiser by a primal-dual active set, or None when it does not settle
    or its KKT residuals do not certify it (see CERTIFY).

    Args:
        K: X X^T (n, n).
        s: W_0's scale in the centre (the QP measures W - s W_0).
        P0: X W_0^T (n, m).
        y: Targets (n,).
        eq: (n,) bool, the rows with an equality; E (n, m) its weights.
        M: (n, m) bool, the entries with a sign constraint; sgn (n, m) in {+1, -1}.
        max_iter: Iterations before giving up.

    Returns:
        `solve_span_qp`'s dict (status "optimal", C (m, n), nu, lam >= 0, objective
        ||W - centre||_F^2, kkt, polished False, iterations, solve_time) with solver
        "active_set", or None. C is Gamma itself: W = s W_0 + C X is the solution exactly,
        and C may differ from the minimum-norm coefficients by a part in the null space of
        K, which moves neither W nor any Z.
    """
    t0 = time.perf_counter()
    K = np.asarray(K, np.float64)
    offset = s * np.asarray(P0, np.float64)
    eq, M = np.asarray(eq, bool), np.asarray(M, bool)
    E = np.where(eq[:, None], E, 0.0)
    rhs = y - (E * offset).sum(1)
    empty = eq & (np.abs(E).sum(1) == 0)
    if np.any(rhs[empty] != 0):
        return None  # a target no entry can produce: Clarabel's rule decides it
    scale = max(np.abs(rhs[eq]).max(initial=0.0), np.abs(offset[M]).max(initial=0.0)) or 1.0
    found = _iterate(K, offset, rhs, eq & ~empty, E, M, sgn, scale, max_iter)
    if found is None:
        return None
    C, nu, lam, iterations = found
    lam = np.maximum(lam, 0.0)  # within FEAS of 0 where negative
    kkt = kkt_residuals(s, C, K, P0, y, eq, E, M, sgn, nu, lam)
    lam_scale = np.abs(lam).max(initial=0.0) or 1.0
    bounds = {"stationarity_rel": 1.0, "primal_eq": scale, "primal_ineq": scale,
              "dual": lam_scale, "complementarity": scale * lam_scale}  # fmt: skip
    if not np.isfinite(C).all() or not all(kkt[k] <= CERTIFY * b for k, b in bounds.items()):
        return None
    return dict(status="optimal", C=C, nu=nu, lam=lam, objective=float((C * (C @ K)).sum()),
                kkt=kkt, polished=False, iterations=iterations,
                solve_time=time.perf_counter() - t0, solver="active_set")  # fmt: skip


def _iterate(K, offset, rhs, eq, E, M, sgn, scale, max_iter):
    """The active-set iteration: (C (m, n), nu (n,), lam (n, m), iterations), or None.
    rhs (n,): y minus the equalities' offset part; eq: the rows with an equality and a
    coefficient; scale: the right-hand sides' largest magnitude (FEAS's unit)."""
    n, m = offset.shape
    rows = np.flatnonzero(eq)
    rhs_eq = rhs[rows]
    Ke = K[np.ix_(rows, rows)] * (E[rows] @ E[rows].T)
    active = np.zeros((n, m), bool)
    seen = {active.tobytes()}
    for it in range(1, max_iter + 1):
        ii, jj = np.nonzero(active)
        sg = sgn[ii, jj]
        cross = K[np.ix_(rows, ii)] * E[rows][:, jj] * sg[None, :]
        block = (K[np.ix_(ii, ii)] * (jj[:, None] == jj[None, :])) * np.outer(sg, sg)
        Q = np.block([[Ke, cross], [cross.T, block]])
        b = np.concatenate([rhs_eq, -sg * offset[ii, jj]])
        sol = _solve(Q, b)
        if sol is None:
            return None
        nu = np.zeros(n)
        nu[rows] = sol[: rows.size]
        lam = np.zeros((n, m))
        lam[ii, jj] = sol[rows.size :]
        C = (E * nu[:, None] + sgn * lam).T
        slack = np.where(M, sgn * (offset + K @ C.T), 0.0)
        lam_scale = np.abs(lam).max(initial=0.0) or 1.0
        drop = active & (lam < -FEAS * lam_scale)
        add = M & ~active & (slack < -FEAS * scale)
        if not drop.any() and not add.any():
            return C, nu, lam, it
        active = (active & ~drop) | add
        key = active.tobytes()
        if key in seen:
            return None  # the active set cycles
        seen.add(key)
    return None


def _solve(Q, b):
    """Q^{-1} b for symmetric Q, with Jacobi scaling; None when Q is (numerically) singular:
    then the multipliers are not unique (a degenerate active set), which Clarabel settles."""
    d = np.sqrt(np.abs(np.diag(Q)))
    if not d.all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        try:
            x = linalg.solve(Q / d[:, None] / d[None, :], b / d, assume_a="sym",
                             check_finite=False)  # fmt: skip
        except (linalg.LinAlgError, linalg.LinAlgWarning, ValueError):
            return None
    return x / d
