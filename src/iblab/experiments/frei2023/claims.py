"""Frei et al. (2023) reproduction: the claims table, from the analysis frame (one row per
run: its tags, its stored summary and evaluation)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from iblab.claims import (
    Claim,
    above,
    all_of,
    at_least,
    at_most,
    judge_every_run,
    judge_limit,
    judge_value,
)

from .settings import CRITERIA, Criteria, FreiSettings


def _fmt(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else str(v)


def _range(x: pd.Series) -> str:
    return f"{_fmt(x.min())}..{_fmt(x.max())}"


def _near_orthogonal(frame: pd.DataFrame, crit: Criteria) -> np.ndarray:
    """Per row, whether its set meets the theorems' assumption with the constant C."""
    return at_least(crit.near_orthogonal_c).met(3 * frame["orthogonality_ratio"])


def _by_d(group: pd.DataFrame, column: str) -> str:
    """'max by d: 1e+03: 0.2, ...' for the measured column."""
    worst = group.groupby("d")[column].max()
    return "max by d: " + ", ".join(f"{d:.0e}: {_fmt(v)}" for d, v in worst.items())


class Limit(NamedTuple):
    """A flow-limit claim: the per-record column judged, its tolerance in Criteria, and the
    row's wording."""

    column: str
    tol: str
    what: str
    quantity: str
    paper: str


LIMITS = {
    "rank2": Limit("rank2_residual", "rank2_tol", "rank <= 2", "||W - W_2||_F / ||W||_F",
                   "gradient flow converges in direction to a network of rank at most 2"),
    "kkt": Limit("kkt_residual", "kkt_tol",
                 "a KKT point of min ||W||_F^2 s.t. y_i f(x_i) >= 1", "KKT residual",
                 "gradient flow converges in direction to a KKT point of the "
                 "parameter-space max-margin problem"),
}  # fmt: skip


def limit_checks(runs: pd.DataFrame, history: pd.DataFrame, crit: Criteria) -> pd.DataFrame:
    """Per flow run (index run_id): for the rank-2 and KKT residuals, the last value
    (`{q}_end`), the extrapolated limit (`{q}_limit`), the outcome (`{q}_agrees`: True,
    False or None) and its reason, by `judge_limit` with the criteria's window; not resolved
    either while the init still dominates, ||W_0||_F > max_init_share ||W - W_0||_F at the
    end (W(t) = W_0 + V log t + O(1) once the pattern settles: the 1 / log t trend that
    judge_limit extrapolates describes only runs where V log t has overtaken W_0)."""
    flow = runs[runs["phase"] == "flow"].drop_duplicates("run_id").set_index("run_id")
    rows = {}
    for run_id, h in history[history["run_id"].isin(flow.index)].groupby("run_id"):
        h = h.sort_values("step")
        r = flow.loc[run_id]
        row = {}
        for name, limit in LIMITS.items():
            check = judge_limit(
                h["time"], h[limit.column], getattr(crit, limit.tol),
                planned=r["config.train.time"],
                last_switch=r["stabilization_time"], window_decades=crit.trend_decades,
            )  # fmt: skip
            agrees, reason = check.agrees, check.reason
            if agrees is not None and above(crit.max_init_share).met(r["init_share_final"]):
                agrees = None
                reason = (
                    f"init still dominates: ||W_0|| / ||W - W_0|| = {r['init_share_final']:.2g}"
                )
            row |= {f"{name}_end": check.end, f"{name}_limit": check.limit,
                    f"{name}_agrees": agrees, f"{name}_reason": reason}  # fmt: skip
        rows[run_id] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _tally(group: pd.DataFrame, name: str) -> tuple[bool | None, str, str]:
    """(outcome, counts text, reason) over runs judged by limit_checks: contradicts when
    any run contradicts, agrees when every run agrees, else not resolved."""
    verdicts = group[f"{name}_agrees"]
    agree = int((verdicts == True).sum())  # noqa: E712 (object column: True/False/None)
    contra = int((verdicts == False).sum())  # noqa: E712
    open_ = len(group) - agree - contra
    counts = f"{agree} agree, {contra} contradict, {open_} not resolved"
    if contra:
        return False, counts, ""
    if open_:
        reasons = group.loc[verdicts.isna(), f"{name}_reason"].value_counts()
        top = "; ".join(f"{k} ({v})" for k, v in reasons.head(3).items())
        return None, counts, f"{open_} of {len(group)} runs not resolved: {top}"
    return True, counts, ""


def _flow_claims(flow: pd.DataFrame, s: FreiSettings, crit: Criteria) -> list[Claim]:
    """The gradient-flow limit rows: rank <= 2 and KKT point, on the near-orthogonal sets
    (the theorem's assumption); what happens on the other sets is reported beside them."""
    holds = _near_orthogonal(flow, crit)
    inside, outside = flow[holds], flow[~holds]
    claims = []
    for name, (_, tol, what, quantity, paper) in LIMITS.items():
        if not len(inside):
            continue
        agrees, counts, reason = _tally(inside, name)
        scales = ", ".join(f"{sc:g}" for sc in sorted(inside["init_scale_rel"].unique()))
        per_scale = "; ".join(
            f"{sc:g}: {_range(g[f'{name}_limit'])}" for sc, g in inside.groupby("init_scale_rel")
        )
        measured = (
            f"{len(inside)} exact-flow runs to t = {_fmt(inside['flow_time'].min())}..."
            f"{_fmt(inside['flow_time'].max())} on near-orthogonal sets (d = "
            f"{', '.join(f'{d:.0e}' for d in sorted(inside['d'].unique()))}; init scales "
            f"{scales} x Glorot; width {s.flow_width}); {quantity} at the end "
            f"{_range(inside[f'{name}_end'])}, extrapolated limit by init scale: {per_scale}; "
            f"{counts}; last switch at t <= {_fmt(inside['stabilization_time'].max())}"
        )
        if len(outside):
            _, out_counts, _ = _tally(outside, name)
            measured += (
                f". Where near-orthogonality fails ({len(outside)} runs, d = "
                f"{', '.join(f'{d:.0e}' for d in sorted(outside['d'].unique()))}): "
                f"{out_counts}, limit {_range(outside[f'{name}_limit'])}"
            )
        claims.append(
            Claim(
                f"Exact gradient flow from every init scale converges to {what}",
                paper,
                measured,
                agrees,
                f"per run (judge_limit): not resolved if the pattern still switches in the "
                f"last {crit.trend_decades:g} decades of flow time or ||W_0|| > "
                f"{crit.max_init_share:g} ||W - W_0|| at the end; else the end value and "
                f"the limit of a fit q_inf + c / log t on them both <= "
                f"{getattr(crit, tol)} (agrees) or both above (contradicts); the row "
                f"contradicts if any run does",
                reason,
            )
        )
    return claims


def make_claims(
    runs: pd.DataFrame, settings: FreiSettings, crit: Criteria = CRITERIA
) -> list[Claim]:
    """The claims table; flow rows need the columns of `limit_checks` joined to `runs`."""
    s = settings
    const = runs[runs["phase"] == "constant"]
    long = runs[runs["phase"] == "long"]
    small = runs["init_to_step_ratio"] <= s.small_init_ratio
    small_c = const[small[const.index]]
    large_c = const[const["init_scale_rel"] >= s.large_scale_min]
    small_l = long[small[long.index]]
    large_l = long[long["init_scale_rel"] >= s.large_scale_min]
    claims = []

    sets = runs.drop_duplicates(["data", "d", "seed"])
    ratio = sets["orthogonality_ratio"]
    by_d = sets.groupby("d")["orthogonality_ratio"].median()
    assumed = judge_every_run(3 * ratio, at_least(crit.near_orthogonal_c))
    claims.append(
        Claim(
            "Training sets are nearly orthogonal (the theorems' assumption)",
            "gamma^3 R_min^4 >= C n R_max^2 p for a large constant C",
            f"gamma^3 R_min^4 / (3 n R_max^2 p) = {_range(ratio)} over {len(sets)} sets "
            f"(median by d: {', '.join(f'{d:.0e}: {_fmt(v)}' for d, v in by_d.items())})",
            assumed.agrees,
            f"min over sets of gamma^3 R_min^4 / (n R_max^2 p) >= C = {crit.near_orthogonal_c}",
            assumed.reason,
        )
    )

    if len(small_c):
        r1 = small_c["stable_rank_step1"]
        one_step = judge_every_run(r1, at_most(crit.low_rank))
        claims.append(
            Claim(
                "One GD step from a small init drastically reduces the stable rank",
                "srank(W_1) <= C (absolute constant) while srank(W_0) is of order m",
                f"srank(W_0) {_range(small_c['stable_rank_step0'])} -> srank(W_1) "
                f"{_range(r1)} over {len(small_c)} runs with ||W_0||_F <= "
                f"{s.small_init_ratio:g} ||W_1 - W_0||_F",
                one_step.agrees,
                f"max srank(W_1) <= {crit.low_rank} over small-init constant-step runs",
                one_step.reason,
            )
        )
        stays = pd.concat([small_c, small_l])["stable_rank_max_after_step1"]
        small_after = judge_every_run(stays, at_most(crit.low_rank))
        claims.append(
            Claim(
                "With a small init the stable rank stays small throughout training",
                "srank(W_t) <= C for all t >= 1",
                f"max_t>=1 srank(W_t) {_range(stays)} over {len(stays)} runs "
                f"(constant step, {s.steps} steps; loss-normalised, {s.long_steps} steps)",
                small_after.agrees,
                f"max over runs and recorded t >= 1 of srank <= {crit.low_rank}",
                small_after.reason,
            )
        )
    if len(large_c):
        keep = large_c["stable_rank_step1"] / large_c["stable_rank_step0"]
        final = large_c["stable_rank_final"]
        kept = all_of(
            judge_every_run(keep, at_least(crit.keep_fraction)),
            judge_value(final.median(), above(crit.low_rank)),
        )
        claims.append(
            Claim(
                "With a large init (Glorot default and larger) the rank is not reduced",
                "experiments: small init is important for low-rank networks; large init "
                "keeps a high stable rank",
                f"srank(W_1) / srank(W_0) >= {_fmt(keep.min())}; srank at step {s.steps} "
                f"{_range(final)} (median {_fmt(final.median())}) over {len(large_c)} runs "
                f"(init >= {s.large_scale_min:g} x Glorot)",
                kept.agrees,
                f"min srank(W_1)/srank(W_0) >= {crit.keep_fraction} and median final "
                f"srank > {crit.low_rank}",
                kept.reason,
            )
        )
    for label, group in (("a small init", small_l), ("the Glorot init or larger", large_l)):
        if not len(group):
            continue
        res = group["rank2_residual_final"]
        srank = group["stable_rank_final"]
        rank2 = judge_every_run(res, at_most(crit.rank2_tol))
        claims.append(
            Claim(
                f"Gradient flow (loss-normalised GD, {s.long_steps} steps) from {label} "
                "ends at rank <= 2",
                "gradient flow converges in direction to a network of rank at most 2 "
                "(any initialisation)",
                f"||W - W_2||_F / ||W||_F = {_range(res)} "
                f"({_by_d(group, 'rank2_residual_final')}), srank {_range(srank)} "
                f"over {len(group)} runs",
                rank2.agrees,
                f"max ||W - W_2||_F / ||W||_F <= {crit.rank2_tol} (W_2 best rank-2 approx.)",
                rank2.reason,
            )
        )
    holds = small_l[_near_orthogonal(small_l, crit)]
    if len(holds):
        res, kkt = holds["rank2_residual_final"], holds["kkt_residual_final"]
        theorem = all_of(
            judge_every_run(res, at_most(crit.rank2_tol)),
            judge_every_run(kkt, at_most(crit.kkt_tol)),
        )
        claims.append(
            Claim(
                "Where the training set is nearly orthogonal, the limit from a small init "
                "has rank <= 2 and is a KKT point",
                "the gradient-flow theorem, under its assumption",
                f"{len(holds)} small-init long runs on sets with "
                f"gamma^3 R_min^4 / (n R_max^2 p) >= "
                f"{crit.near_orthogonal_c:g} (d = "
                f"{', '.join(f'{d:.0e}' for d in sorted(holds['d'].unique()))}): "
                f"||W - W_2||_F / ||W||_F {_range(res)}, KKT residual {_range(kkt)}",
                theorem.agrees,
                f"max rank-2 residual <= {crit.rank2_tol} and max KKT residual <= {crit.kkt_tol}",
                theorem.reason,
            )
        )
    if len(small_l):
        kkt = small_l["kkt_residual_final"]
        slack = small_l["slackness_normalized_final"]
        first = small_l["kkt_residual_first_separating"]
        acc = small_l["accuracy"]
        kkt_point = all_of(
            judge_every_run(acc, at_least(1.0)),
            judge_every_run(kkt, at_most(crit.kkt_tol)),
            judge_every_run(slack, at_most(crit.slack_tol)),
        )
        claims.append(
            Claim(
                "The limit is a KKT point of min ||W||_F^2 s.t. y_i f(x_i; W) >= 1",
                "gradient flow converges in direction to a KKT point of the "
                "parameter-space max-margin problem",
                f"KKT residual {_range(first)} (first separating record) -> {_range(kkt)} "
                f"(final; {_by_d(small_l, 'kkt_residual_final')}); complementary "
                f"slackness / sum(lambda) {_range(slack)}; train "
                f"accuracy {_range(acc)} over {len(small_l)} small-init runs",
                kkt_point.agrees,
                f"train accuracy 1, max final KKT residual <= {crit.kkt_tol} and "
                f"max normalised slackness <= {crit.slack_tol}",
                kkt_point.reason,
            )
        )
        lin = small_l["linear_test_agreement_final"]
        linear = judge_every_run(lin, at_least(crit.linear_agree_min))
        claims.append(
            Claim(
                "The decision boundary is linear: sign f(x) = sign <z, x>, z = W^T a",
                "the limit network has a linear decision boundary",
                f"test agreement of sign f with sign <z, x>: {_range(lin)} over "
                f"{len(small_l)} runs ({s.n_test} test points each)",
                linear.agrees,
                f"min test agreement >= {crit.linear_agree_min}",
                linear.reason,
            )
        )
        cos = small_l["cosine_svm_final"]
        agree = small_l["svm_test_agreement_final"]
        ratio_m = small_l["z_margin_ratio_final"]
        aligned = all_of(
            judge_every_run(cos, at_least(crit.cosine_min)),
            judge_every_run(agree, at_least(crit.agree_min)),
        )
        claims.append(
            Claim(
                "z is close to the max-margin linear predictor u* (SVM on K, y)",
                "the linear decision boundary corresponds to an approximate-max-margin "
                "linear predictor",
                f"cos(z, u*) {_range(cos)}; sign f vs sign <u*, x> on test points "
                f"{_range(agree)}; margin of z / margin of u* {_range(ratio_m)}",
                aligned.agrees,
                f"min cos(z, u*) >= {crit.cosine_min} and min test agreement >= {crit.agree_min}",
                aligned.reason,
            )
        )
        mix = small_l[small_l["data"] == "mixture"]
        if len(mix):
            gap = (mix["test_accuracy"] - mix["svm_test_accuracy"]).abs()
            like_svm = judge_every_run(gap, at_most(crit.acc_tol))
            claims.append(
                Claim(
                    "Consequence: the network tests like u* (noisy two-cluster mixture)",
                    "implied by the linear, approximately max-margin decision boundary",
                    f"|test acc - SVM test acc| {_range(gap)}; network test accuracy "
                    f"{_range(mix['test_accuracy'])} (1 - label noise = "
                    f"{1 - s.label_noise:g})",
                    like_svm.agrees,
                    f"max |test accuracy - SVM test accuracy| <= {crit.acc_tol}",
                    like_svm.reason,
                )
            )
    flow = runs[runs["phase"] == "flow"]
    if len(flow) and "rank2_agrees" in flow:
        claims += _flow_claims(flow, s, crit)
    return claims
