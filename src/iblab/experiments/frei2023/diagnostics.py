"""Per-record diagnostics of a trained classification run (Frei et al. 2023).

`diagnose(result)` turns a TrainResult into one row per recorded step: stable rank and how
far W is from rank 2, the KKT residual and complementary slackness of the parameter-space
max-margin problem, the cosine between the network's linear direction z = W^T a and the
max-margin linear predictor u* (the SVM on K, y), and on test points the agreement of
sign f with sign <u*, x> and with sign <z, x>; for a flow, the rank-2 and KKT residuals of
the learned part W - W_0 too (`learned=True`: W_0 is fixed, so W / ||W|| and
(W - W_0) / ||W - W_0|| have one limit as t -> inf). Everything comes from Gram blocks, so it
works for sampled (`sample: gram`) and explicit data (a user's own arrays) alike.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from iblab import metrics
from iblab.activations import Activation, dphi, phi
from iblab.references.max_margin import MaxMarginLinear, sign_agreement

COLUMNS = (
    "step",
    "s",
    "loss",
    "accuracy",
    "test_accuracy",
    "normalised_margin",
    "stable_rank",
    "rank2_residual",
    "kkt_residual",
    "complementary_slackness",
    "slackness_normalised",
    "cosine_svm",
    "z_margin_ratio",
    "svm_test_agreement",
    "linear_test_agreement",
)
LEARNED = ("delta_rank2_residual", "delta_kkt_residual", "init_share")
KINK_TOL = 1e-9  # |z_ij| <= KINK_TOL max |z|: on the kink (metrics.kkt_residual's default)


def activation_of(config) -> Activation:
    return Activation.of(config.model)


def fit_svm(problem) -> MaxMarginLinear:
    """The max-margin linear predictor u* = X^T beta_ of the training set."""
    return MaxMarginLinear().fit(problem.K, problem.y)


def _states(result):
    """(history row index, s, C, a) for every record with coefficients, else the final one."""
    h = result.history
    if result.coefficients is not None:
        a_hist = result.second_layers
        for k in range(len(h)):
            a = result.a if a_hist is None else a_hist[k]
            yield k, float(h["s"].iloc[k]), np.asarray(result.coefficients[k]), a
    else:
        yield len(h) - 1, result.s, result.C, result.a


def diagnose(result, svm: MaxMarginLinear | None = None, learned: bool = False) -> pd.DataFrame:
    """One row per recorded step (only the final step when coefficients were not recorded).

    Columns: step, s, loss, accuracy, test_accuracy, normalised_margin (from the
    history); stable_rank (history, or computed); rank2_residual = ||W - W_2||_F / ||W||_F
    with W_2 the best rank-2 approximation (needs record.top_singular_values >= 2 in the
    history, else computed); kkt_residual, complementary_slackness and slackness_normalised
    = complementary_slackness / sum(lambda) (metrics.kkt_residual; meaningful for
    homogeneous activations only, see column kkt_valid); cosine_svm = cos(z, u*) for
    z = W^T a; z_margin_ratio = (min_i y_i <z, x_i> / ||z||) / (the SVM's margin), 1 when z
    is the max-margin direction; svm_test_agreement = fraction of test points with
    sign f == sign <u*, x>; linear_test_agreement = fraction with sign f == sign <z, x>
    (test columns are nan without test points). svm: the fitted MaxMarginLinear of the
    training set, fitted here when None; when the data are not separable through the
    origin the SVM columns are nan. learned: add the columns of `learned_part` (LEARNED).
    """
    p, h = result.problem, result.history
    act = activation_of(result.config)
    f_phi, f_dphi = functools.partial(phi, act), functools.partial(dphi, act)
    kinks = metrics.clarke_slopes(act)
    if svm is None:
        svm = fit_svm(p)
    has_svm = svm.status_ == "optimal"
    has_test = p.n_test > 0
    svm_test = svm.decision_function(p.K_test) if has_svm and has_test else None
    K, P0, G0, y = p.K, p.P0, p.G0, p.y
    rows = []
    for k, s, C, a in _states(result):
        hk = h.iloc[k]
        row = {"step": int(hk["step"]), "s": s}
        for col in ("loss", "accuracy", "test_accuracy", "normalised_margin"):
            row[col] = float(hk[col]) if col in h else np.nan
        row |= _rank_figures(hk, s, C, K, P0, G0)
        row |= _kkt_figures(s, C, a, y, K, P0, G0, f_phi, f_dphi, kinks)
        z = metrics.linear_direction(s, C, a)
        if has_svm:
            row["cosine_svm"] = float(metrics.cosine_to_span_vector(s, C, a, svm.beta_, K, P0, G0))
            z_norm = np.sqrt(max(float(metrics.span_sqnorm(z, K, P0, G0)), 0.0))
            z_margin = float(np.min(y * metrics.span_scores(z, K, P0))) / z_norm
            row["z_margin_ratio"] = z_margin / svm.margin_
        else:
            row["cosine_svm"] = row["z_margin_ratio"] = np.nan
        if has_test:
            f_test = metrics.outputs(s, C, a, p.K_test, p.P0_test, f_phi)
            z_test = metrics.span_scores(z, p.K_test, p.P0_test)
            row["linear_test_agreement"] = sign_agreement(f_test, z_test)
            row["svm_test_agreement"] = (
                sign_agreement(f_test, svm_test) if svm_test is not None else np.nan
            )
        else:
            row["linear_test_agreement"] = row["svm_test_agreement"] = np.nan
        if learned:
            row |= learned_part(s, C, a, y, K, P0, G0, f_phi, f_dphi, kinks)
        rows.append(row)
    df = pd.DataFrame(rows)[list(COLUMNS) + (list(LEARNED) if learned else [])]
    df["kkt_valid"] = act.homogeneous
    return df


def _kkt_figures(s, C, a, y, K, P0, G0, f_phi, f_dphi, kinks) -> dict:
    """The KKT residual of W, its complementary slackness, and that over sum(lambda)."""
    kkt = metrics.kkt_residual(s, C, a, y, K, P0, G0, f_phi, f_dphi, kinks, KINK_TOL)
    lam_sum = float(np.sum(kkt["lambda"]))
    slack = float(kkt["complementary_slackness"])
    return {
        "kkt_residual": float(kkt["residual"]),
        "complementary_slackness": slack,
        "slackness_normalised": slack / lam_sum if lam_sum > 0 else np.nan,
    }


def learned_part(s, C, a, y, K, P0, G0, f_phi, f_dphi, kinks) -> dict:
    """The learned part Delta = C X = W - s W_0 as a network of its own: its rank-2 residual
    ||Delta - Delta_2||_F / ||Delta||_F (singular values sqrt(eig(C K C^T))), the KKT residual
    of the max-margin problem at the direction Delta / ||Delta|| with Delta's own activation
    pattern (sign K C^T; `metrics.kkt_residual` with s = 0; inf while Delta does not
    separate), and init_share = ||s W_0||_F / ||Delta||_F. W_0 is fixed and ||Delta|| -> inf
    (like log t under the logistic loss), so W / ||W|| and Delta / ||Delta|| tend to the same
    limit direction: the theorem's limit can be read from Delta while W_0 still dominates W.
    The entries a flow holds on the kink of W (z_ij = 0, the existing residual's kinks) have
    Delta's pre-activation -s (P0)_ij, bounded while the others grow like log t, so the
    limit direction has them on its kink: there, as on Delta's own kinks, the residual lets
    the slope take any value in [gamma, 1] (Clarke's conditions).
    """
    rank = _rank_figures({}, 0.0, C, K, P0, G0)
    Z = np.asarray(metrics.preactivations(s, C, K, P0))
    held = np.abs(Z) <= KINK_TOL * np.abs(Z).max()
    kkt = metrics.kkt_residual(0.0, C, a, y, K, P0, G0, f_phi, f_dphi, kinks, KINK_TOL, held)
    moved = float(metrics.frobenius_sq(0.0, C, K, P0, G0))
    w0 = abs(s) * np.sqrt(max(float(np.trace(np.atleast_2d(G0))), 0.0))
    return {
        "delta_rank2_residual": rank["rank2_residual"],
        "delta_kkt_residual": float(kkt["residual"]),
        "init_share": w0 / np.sqrt(moved) if moved > 0 else np.inf,
    }


def _rank_figures(hk, s, C, K, P0, G0) -> dict:
    """Stable rank and the relative distance to the best rank-2 approximation of W."""
    if "sv2" in hk and "weight_norm" in hk and "stable_rank" in hk:
        fro_sq = float(hk["weight_norm"]) ** 2
        top2 = float(hk["sv1"]) ** 2 + float(hk["sv2"]) ** 2
        srank = float(hk["stable_rank"])
    else:
        sv = np.asarray(metrics.singular_values(s, C, K, P0, G0))
        fro_sq = float(metrics.frobenius_sq(s, C, K, P0, G0))
        top2 = float(np.sum(sv[:2] ** 2))
        srank = fro_sq / float(sv[0]) ** 2 if sv[0] > 0 else np.nan
    rank2 = np.sqrt(max(fro_sq - top2, 0.0) / fro_sq) if fro_sq > 0 else np.nan
    return {"stable_rank": srank, "rank2_residual": rank2}
