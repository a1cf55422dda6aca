"""Small convex QPs with homogeneous linear constraints, solved by Clarabel and then exactly on
the constraints found active (the KKT multiplier fits of `metrics` and `references`)."""

from __future__ import annotations

import clarabel
import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

_SOLVED = ("Solved", "AlmostSolved")


def clarabel_settings(tol=1e-12, max_iter=500, verbose=False, **extra):
    """Clarabel settings with all gap and feasibility tolerances set to `tol`."""
    st = clarabel.DefaultSettings()
    st.verbose = verbose
    st.max_iter = max_iter
    st.tol_gap_abs = st.tol_gap_rel = st.tol_feas = tol
    st.tol_infeas_abs = st.tol_infeas_rel = max(tol, 1e-12)
    st.tol_ktratio = max(tol, 1e-10)
    for key, value in extra.items():
        setattr(st, key, value)
    return st


def homogeneous_qp(H, g, G):
    """theta (p,) minimising 1/2 theta^T H theta - g^T theta s.t. G theta >= 0, or None when
    Clarabel fails. H (p, p) positive semidefinite, g (p,), G (c, p).

    The unconstrained minimiser (least squares) is returned when it is feasible. Otherwise
    Clarabel solves the QP in units where diag H and theta are of order 1 (its tolerances
    are absolute), and the QP is solved once more exactly on the null space of the rows it
    found active (dual > slack): interior points approach a degenerate optimum only to
    ~1e-6. That point is kept when it is feasible and no worse."""
    H, g, G = np.asarray(H, float), np.asarray(g, float), np.asarray(G, float)

    def objective(x):
        return 0.5 * x @ H @ x - g @ x

    def on_null_space(rows):
        N = sla.null_space(G[rows]) if rows.any() else np.eye(g.size)
        return N @ np.linalg.lstsq(N.T @ H @ N, N.T @ g, rcond=None)[0]

    def feasible(x):
        return bool((G @ x >= -1e-12 * max(float(np.abs(x).max()), 1e-300)).all())

    free = on_null_space(np.zeros(G.shape[0], bool))
    if feasible(free):
        return free
    h = float(np.abs(np.diag(H)).max()) or 1.0
    tau = float(np.abs(g).max()) / h or 1.0
    P = sp.triu(sp.csc_matrix((H + H.T) / (2 * h)), format="csc")
    cone = [clarabel.NonnegativeConeT(G.shape[0])]
    solver = clarabel.DefaultSolver(
        P, -g / (h * tau), sp.csc_matrix(-G), np.zeros(G.shape[0]), cone, clarabel_settings(1e-10)
    )
    sol = solver.solve()
    if str(sol.status) not in _SOLVED:
        return None
    theta = np.asarray(sol.x) * tau
    exact = on_null_space(np.asarray(sol.z) > np.asarray(sol.s))
    return exact if feasible(exact) and objective(exact) <= objective(theta) else theta
