"""Frei et al. (2023) reproduction: its claims, each a statistic of the runs and rules of
`iblab.claims` whose thresholds are their parameters (rules.py)."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pandas as pd

from iblab.claims import counts_text, judge_value, tally_runs
from iblab.experiments.skeleton import ClaimSpec, Measured, Rule

from .rules import (
    ACCURACY_GAP,
    COSINE,
    HIGH_RANK,
    KEEPS_RANK,
    KKT,
    LIMITS,
    LINEAR_AGREE,
    LOW_RANK,
    NEAR_ORTHOGONAL,
    RANK2,
    SEPARATES,
    SLACK,
    SVM_AGREE,
    every_run,
)
from .runs import CONSTANT, FLOW, LONG, MIXTURE, RANDOM_LABELS, group_name
from .settings import FreiSettings

GD_GROUPS = tuple(group_name(p, d) for p in (CONSTANT, LONG) for d in (MIXTURE, RANDOM_LABELS))
FLOW_GROUPS = tuple(group_name(FLOW, d) for d in (MIXTURE, RANDOM_LABELS))


def _fmt(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else str(v)


def _range(x: pd.Series) -> str:
    return f"{_fmt(x.min())}..{_fmt(x.max())}"


def _dims(runs: pd.DataFrame) -> str:
    return ", ".join(f"{d:.0e}" for d in sorted(runs["d"].unique()))


def near_orthogonal(runs: pd.DataFrame) -> np.ndarray:
    """Per row, whether its set meets the theorems' assumption (NEAR_ORTHOGONAL)."""
    return NEAR_ORTHOGONAL.met(3 * runs["orthogonality_ratio"])


def subsets(runs: pd.DataFrame, s: FreiSettings) -> SimpleNamespace:
    """The GD runs the claims read: small-init (||W_0||_F <= small_init_ratio ||W_1 -
    W_0||_F) and large-init (scale >= large_scale_min), constant-step (`c`) and long (`l`)."""
    const, long = runs[runs["phase"] == CONSTANT], runs[runs["phase"] == LONG]
    small = runs["init_to_step_ratio"] <= s.small_init_ratio
    return SimpleNamespace(
        small_c=const[small[const.index]],
        large_c=const[const["init_scale_rel"] >= s.large_scale_min],
        small_l=long[small[long.index]],
        large_l=long[long["init_scale_rel"] >= s.large_scale_min],
    )


def on(which: str, where=None):
    """A statistic on one subset of the runs (`subsets`), restricted by where(runs) -> mask:
    the decorated f(g, s) is called with it, and the claim is left out when it is empty."""

    def wrap(f):
        @functools.wraps(f)
        def statistic(a, s) -> Measured | None:
            g = getattr(subsets(a.runs, s), which)
            g = g[where(g)] if where is not None else g
            return f(g, s) if len(g) else None

        return statistic

    return wrap


def _sets(a, s) -> Measured:
    sets = a.runs.drop_duplicates(["data", "d", "seed"])
    ratio = sets["orthogonality_ratio"]
    by_d = sets.groupby("d")["orthogonality_ratio"].median()
    return Measured(
        ((3 * ratio,),),
        f"gamma^3 R_min^4 / (n R_max^2 p) {_range(3 * ratio)} ({len(sets)} sets)",
        f"gamma^3 R_min^4 / (3 n R_max^2 p) = {_range(ratio)} over {len(sets)} sets "
        f"(median by d: {', '.join(f'{d:.0e}: {_fmt(v)}' for d, v in by_d.items())})",
    )


@on("small_c")
def _one_step(g: pd.DataFrame, s) -> Measured:
    r1 = g["stable_rank_step1"]
    return Measured(
        ((r1,),),
        f"srank(W_1) {_range(r1)} ({len(g)} runs)",
        f"srank(W_0) {_range(g['stable_rank_step0'])} -> srank(W_1) {_range(r1)} over "
        f"{len(g)} runs with ||W_0||_F <= {s.small_init_ratio:g} ||W_1 - W_0||_F",
    )


def _stays_small(a, s) -> Measured | None:
    sub = subsets(a.runs, s)
    if not len(sub.small_c):
        return None
    stays = pd.concat([sub.small_c, sub.small_l])["stable_rank_max_after_step1"]
    return Measured(
        ((stays,),),
        f"max srank {_range(stays)} ({len(stays)} runs)",
        f"max_t>=1 srank(W_t) {_range(stays)} over {len(stays)} runs (constant step, "
        f"{s.steps} steps; loss-normalised, {s.long_steps} steps)",
    )


@on("large_c")
def _large_init(g: pd.DataFrame, s) -> Measured:
    keep, final = g["stable_rank_step1"] / g["stable_rank_step0"], g["stable_rank_final"]
    return Measured(
        ((keep,), (final.median(),)),
        f"srank ratio >= {_fmt(keep.min())}; final srank median {_fmt(final.median())}",
        f"srank(W_1) / srank(W_0) >= {_fmt(keep.min())}; srank at step {s.steps} "
        f"{_range(final)} (median {_fmt(final.median())}) over {len(g)} runs (init >= "
        f"{s.large_scale_min:g} x Glorot)",
    )


def _rank2(which: str):
    @on(which)
    def statistic(g: pd.DataFrame, s) -> Measured:
        res, srank = g["rank2_residual_final"], g["stable_rank_final"]
        worst = g.groupby("d")["rank2_residual_final"].max()
        by_d = ", ".join(f"{d:.0e}: {_fmt(v)}" for d, v in worst.items())
        return Measured(
            ((res,),),
            f"rank-2 residual {_range(res)} ({len(g)} runs)",
            f"at step {s.long_steps}: ||W - W_2||_F / ||W||_F = {_range(res)} (max by d: "
            f"{by_d}), srank {_range(srank)} over {len(g)} runs",
        )

    return statistic


@on("small_l", near_orthogonal)
def _theorem(g: pd.DataFrame, s) -> Measured:
    res, kkt = g["rank2_residual_final"], g["kkt_residual_final"]
    return Measured(
        ((res,), (kkt,)),
        f"rank-2 residual {_range(res)}, KKT residual {_range(kkt)}",
        f"{len(g)} small-init long runs on sets with gamma^3 R_min^4 / (n R_max^2 p) "
        f"{NEAR_ORTHOGONAL} (d = {_dims(g)}), at step {s.long_steps}: ||W - W_2||_F / "
        f"||W||_F {_range(res)}, KKT residual {_range(kkt)}",
    )


@on("small_l")
def _kkt_point(g: pd.DataFrame, s) -> Measured:
    kkt, slack = g["kkt_residual_final"], g["slackness_normalised_final"]
    worst = g.groupby("d")["kkt_residual_final"].max()
    by_d = ", ".join(f"{d:.0e}: {_fmt(v)}" for d, v in worst.items())
    return Measured(
        ((g["accuracy"],), (kkt,), (slack,)),
        f"KKT residual {_range(kkt)}, slackness {_range(slack)}",
        f"KKT residual {_range(g['kkt_residual_first_separating'])} (first separating "
        f"record) -> {_range(kkt)} (step {s.long_steps}; max by d: {by_d}); complementary "
        f"slackness / sum(lambda) {_range(slack)}; train accuracy {_range(g['accuracy'])} "
        f"over {len(g)} small-init runs",
    )


@on("small_l")
def _linear_boundary(g: pd.DataFrame, s) -> Measured:
    agree = g["linear_test_agreement_final"]
    return Measured(
        ((agree,),),
        f"test agreement {_range(agree)} ({len(g)} runs)",
        f"test agreement of sign f with sign <z, x>: {_range(agree)} over {len(g)} runs "
        f"({s.n_test} test points each)",
    )


@on("small_l")
def _aligned(g: pd.DataFrame, s) -> Measured:
    cos, agree = g["cosine_svm_final"], g["svm_test_agreement_final"]
    return Measured(
        ((cos,), (agree,)),
        f"cos(z, u*) {_range(cos)}; test agreement {_range(agree)}",
        f"cos(z, u*) {_range(cos)}; sign f vs sign <u*, x> on test points {_range(agree)}; "
        f"margin of z / margin of u* {_range(g['z_margin_ratio_final'])}",
    )


@on("small_l", lambda g: g["data"] == MIXTURE)
def _tests_like_svm(g: pd.DataFrame, s) -> Measured:
    gap = (g["test_accuracy"] - g["svm_test_accuracy"]).abs()
    return Measured(
        ((gap,),),
        f"|accuracy gap| {_range(gap)} ({len(g)} runs)",
        f"|test acc - SVM test acc| {_range(gap)}; network test accuracy "
        f"{_range(g['test_accuracy'])} (1 - label noise = {1 - s.label_noise:g})",
    )


def _flow_limit(name: str):
    """The statistic of a flow-limit claim: the runs on near-orthogonal sets (the theorem's
    assumption), each judged by the limit's rule on its learned part W - W_0
    (`limits.limit_checks`); the other sets are reported beside them."""
    quantity = LIMITS[name].quantity

    def statistic(a, s) -> Measured | None:
        flow = a.runs[a.runs["phase"] == FLOW]
        if not len(flow) or f"{name}_agrees" not in flow:
            return None
        holds = near_orthogonal(flow)
        inside, outside = flow[holds], flow[~holds]
        if not len(inside):
            return None
        limits, counts = inside[f"{name}_limit"], counts_text(inside[f"{name}_agrees"])
        scales = sorted(inside["init_scale_rel"].unique())
        per_scale = "; ".join(
            f"{sc:g}: {_range(g[f'{name}_limit'])}" for sc, g in inside.groupby("init_scale_rel")
        )
        details = (
            f"{len(inside)} exact-flow runs to log t = {_range(inside['flow_log_time'])} on "
            f"near-orthogonal sets (d = {_dims(inside)}; init scales "
            f"{', '.join(f'{sc:g}' for sc in scales)} x Glorot; width {s.flow_width}); "
            f"{quantity} at the end {_range(inside[f'{name}_end'])}, extrapolated limit by "
            f"init scale: {per_scale}; {counts}; ||W_0|| / ||W - W_0|| at the end "
            f"{_range(inside['init_share_final'])}; last switch at log t <= "
            f"{_fmt(inside['stabilisation_log_time'].max())}"
        )
        if len(outside):
            details += (
                f". Where near-orthogonality fails ({len(outside)} runs, d = {_dims(outside)}): "
                f"{counts_text(outside[f'{name}_agrees'])}, limit "
                f"{_range(outside[f'{name}_limit'])}"
            )
        estimate = f"limit {_range(limits)} ({counts})"
        return Measured(((inside[f"{name}_agrees"], inside[f"{name}_reason"]),), estimate, details)

    return statistic


def _flow_criterion(name: str) -> str:
    p = LIMITS[name].rule.params
    return (
        f"per run, on Delta = W - W_0 (W_0 is fixed and ||Delta|| -> inf, so Delta / "
        f"||Delta|| has the limit of W / ||W||, whatever share W_0 still has of W at the "
        f"end; judge_limit on log t): not resolved if the pattern still switches in the "
        f"last {p['window_log_share']:.3g} of the run in log t; else the end value and the "
        f"limit of a fit q_inf + c / log t on them both <= {p['tol']:g} (agrees) or both "
        "above (contradicts); the claim contradicts if any run does"
    )


def _flow_claim(name: str) -> ClaimSpec:
    limit = LIMITS[name]
    return ClaimSpec(
        f"Exact gradient flow from every init scale converges to {limit.what}",
        limit.paper,
        FLOW_GROUPS,
        _flow_limit(name),
        (Rule(tally_runs),),
        _flow_criterion(name),
    )


# The GD rows that once stood in for the gradient-flow theorem say what loss-normalised GD
# reaches at its last step; the theorem's limit is tested by the exact-flow rows.
GD_ROW = "GD's last step, not GF's limit (tested by the exact-flow {} row)"
CLAIMS = (
    ClaimSpec("Training sets are nearly orthogonal (the theorems' assumption)",
              "gamma^3 R_min^4 >= C n R_max^2 p, C large", (*GD_GROUPS, *FLOW_GROUPS), _sets,
              (every_run(NEAR_ORTHOGONAL),),
              f"min over sets of gamma^3 R_min^4 / (n R_max^2 p): C {NEAR_ORTHOGONAL}"),
    ClaimSpec("One GD step from a small init drastically reduces the stable rank",
              "srank(W_1) <= C while srank(W_0) ~ m", GD_GROUPS, _one_step,
              (every_run(LOW_RANK),), f"every small-init constant-step run: srank(W_1) {LOW_RANK}"),
    ClaimSpec("With a small init the stable rank stays small throughout training",
              "srank(W_t) <= C for all t >= 1", GD_GROUPS, _stays_small, (every_run(LOW_RANK),),
              f"every small-init run: max over recorded t >= 1 of srank(W_t) {LOW_RANK}"),
    ClaimSpec("With a large init (Glorot and larger) the rank is not reduced",
              "experiments: large init keeps a high stable rank", GD_GROUPS, _large_init,
              (every_run(KEEPS_RANK), Rule(judge_value, {"bound": HIGH_RANK})),
              f"every run: srank(W_1)/srank(W_0) {KEEPS_RANK}; median final srank {HIGH_RANK}"),
    ClaimSpec("Loss-normalised GD from a small init is at rank <= 2 at its last step",
              GD_ROW.format("rank"), GD_GROUPS, _rank2("small_l"),
              (every_run(RANK2),), f"every run: ||W - W_2||_F / ||W||_F {RANK2}"),
    ClaimSpec("Loss-normalised GD from Glorot's init or larger is at rank <= 2 at its last step",
              GD_ROW.format("rank"), GD_GROUPS, _rank2("large_l"),
              (every_run(RANK2),), f"every run: ||W - W_2||_F / ||W||_F {RANK2}"),
    ClaimSpec("On nearly orthogonal sets small-init GD's last step has rank <= 2, is KKT",
              GD_ROW.format("rank and KKT"), GD_GROUPS, _theorem,
              (every_run(RANK2), every_run(KKT)),
              f"every run: rank-2 residual {RANK2} and KKT residual {KKT}"),
    ClaimSpec("GD's last step is a KKT point of min ||W||_F^2 s.t. y_i f(x_i; W) >= 1",
              GD_ROW.format("KKT"), GD_GROUPS, _kkt_point,
              (every_run(SEPARATES), every_run(KKT), every_run(SLACK)),
              f"every run: train accuracy {SEPARATES}, final KKT residual {KKT}, normalised "
              f"slackness {SLACK}"),
    ClaimSpec("The decision boundary is linear: sign f(x) = sign <z, x>, z = W^T a",
              "the limit network has a linear decision boundary", GD_GROUPS, _linear_boundary,
              (every_run(LINEAR_AGREE),), f"every run: test agreement {LINEAR_AGREE}"),
    ClaimSpec("z is close to the max-margin linear predictor u* (SVM on K, y)",
              "the boundary is that of an approx. max-margin predictor", GD_GROUPS, _aligned,
              (every_run(COSINE), every_run(SVM_AGREE)),
              f"every run: cos(z, u*) {COSINE} and test agreement with u* {SVM_AGREE}"),
    ClaimSpec("Consequence: the network tests like u* (noisy two-cluster mixture)",
              "implied by the linear, max-margin boundary", GD_GROUPS, _tests_like_svm,
              (every_run(ACCURACY_GAP),),
              f"every run: |test accuracy - SVM test accuracy| {ACCURACY_GAP}"),
    _flow_claim("rank2"),
    _flow_claim("kkt"),
)  # fmt: skip
