"""Per-record diagnostics of a trained classification run (Frei et al. 2023).

`diagnose(result)` turns a TrainResult into one row per recorded step: stable rank and how
far W is from rank 2, the KKT residual and complementary slackness of the parameter-space
max-margin problem, the cosine between the network's linear direction z = W^T a and the
max-margin linear predictor u* (the SVM on K, y), and on test points the agreement of
sign f with sign <u*, x> and with sign <z, x>. Everything comes from Gram blocks, so it
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


def diagnose(result, svm: MaxMarginLinear | None = None) -> pd.DataFrame:
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
    origin the SVM columns are nan.
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
        kkt = metrics.kkt_residual(s, C, a, y, K, P0, G0, f_phi, f_dphi, kinks)
        lam_sum = float(np.sum(kkt["lambda"]))
        row["kkt_residual"] = float(kkt["residual"])
        row["complementary_slackness"] = float(kkt["complementary_slackness"])
        row["slackness_normalised"] = (
            row["complementary_slackness"] / lam_sum if lam_sum > 0 else np.nan
        )
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
        rows.append(row)
    df = pd.DataFrame(rows)[list(COLUMNS)]
    df["kkt_valid"] = act.homogeneous
    return df


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
