"""Kou, Chen, Gu (2023) reproduction: its claims, each a statistic of the runs and rules of
`iblab.claims` whose thresholds are their parameters (rules.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from iblab.claims import counts_text
from iblab.experiments.skeleton import ClaimSpec, Measured

from .rules import (
    FLOW_LIMITS,
    GD_LIMITS,
    LOW_RANK,
    NEAR_ORTHOGONAL,
    SAME_MARGIN,
    SAME_RANK,
    TALLY,
    every_run,
)  # fmt: skip
from .runs import DIGITS, FLOW, GAUSSIAN, GD, LEAKY, RELU, group_name

KEYS = ["act", "d", "seed", "init_scale_rel"]  # a GD run and its flow share these


def _fmt(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else str(v)


def _range(x: pd.Series) -> str:
    x = x.dropna()
    return f"{_fmt(x.min())}..{_fmt(x.max())}" if len(x) else "none fitted"


def _groups(methods, data, acts) -> tuple[str, ...]:
    return tuple(group_name(m, data, a) for m in methods for a in acts)


def _select(a, method: str, data: str, acts) -> pd.DataFrame:
    r = a.runs
    return r[(r["method"] == method) & (r["data"] == data) & r["act"].isin(acts)]


def in_scope(runs: pd.DataFrame, s) -> pd.Series:
    """The theorems' scope: a small init (||W_0||_F <= small_init_ratio ||W_1 - W_0||_F,
    `tidy`'s init_ratio) and, for synthetic sets, near-orthogonality (real data are read
    where the condition fails: their rows say so)."""
    ortho = NEAR_ORTHOGONAL.met(runs["kou_ratio"]) | (runs["data"] == DIGITS)
    return (runs["init_ratio"] <= s.small_init_ratio) & ortho


def _by(g: pd.DataFrame, col: str, by: str) -> str:
    return "; ".join(f"{k:g}: {_range(x[col])}" for k, x in g.groupby(by))


def _sets(data: str):
    def statistic(a, s) -> Measured | None:
        sets = a.runs[a.runs["data"] == data].drop_duplicates(["d", "seed"])
        if not len(sets):
            return None
        ratio, frei = sets["kou_ratio"], sets["orthogonality_ratio"]
        return Measured(
            ((ratio,),),
            f"R_min^2 / (n p) {_range(ratio)} ({len(sets)} sets)",
            f"R_min^2 / (n p) = {_range(ratio)} over {len(sets)} sets (by d: "
            f"{_by(sets, 'kou_ratio', 'd')}); Frei's gamma^3 R_min^4 / (3 n R_max^2 p) "
            f"{_range(frei)}",
        )

    return statistic


def _limit(name: str, method: str, data: str, acts):
    """A per-run limit claim: the runs in scope tallied (`rules.TALLY`); the runs outside
    the scope are reported beside them."""

    def statistic(a, s) -> Measured | None:
        g = _select(a, method, data, acts)
        if not len(g) or f"{name}_agrees" not in g:
            return None
        scope = in_scope(g, s)
        inside, outside = g[scope], g[~scope]
        if not len(inside):
            return None
        lim, agrees = inside[f"{name}_limit"], inside[f"{name}_agrees"]
        by = "lr_factor" if method == GD else "d"
        details = (
            f"{len(inside)} runs ({', '.join(sorted(inside['act'].unique()))}; d = "
            f"{', '.join(f'{d:.0e}' for d in sorted(inside['d'].unique()))}; ||W_0|| <= "
            f"{s.small_init_ratio:g} ||W_1 - W_0||): value at the end "
            f"{_range(inside[f'{name}_end'])}; extrapolated limit by {by}: "
            f"{_by(inside, f'{name}_limit', by)}; "
            f"{counts_text(agrees)}"
        )
        if len(outside):
            details += (f". Outside the scope ({len(outside)} runs: larger init or not nearly "
                        f"orthogonal): {counts_text(outside[f'{name}_agrees'])}, limit "
                        f"{_range(outside[f'{name}_limit'])}")  # fmt: skip
        if data == DIGITS:
            details += f"; near-orthogonality R_min^2 / (n p) {_range(inside['kou_ratio'])}"
        estimate = f"limit {_range(lim)} ({counts_text(agrees)})"
        return Measured(((agrees, inside[f"{name}_reason"]),), estimate, details)

    return statistic


def _bounded_after_step1(data: str):
    def statistic(a, s) -> Measured | None:
        g = _select(a, GD, data, (RELU,))
        g = g[in_scope(g, s)]
        if not len(g):
            return None
        top = g["stable_rank_max_after_step1"]
        return Measured(
            ((top,),),
            f"max srank {_range(top)} ({len(g)} runs)",
            f"max over recorded steps t >= 1 of srank(W_t): {_range(top)} over {len(g)} "
            f"small-init runs (by lr_factor: {_by(g, 'stable_rank_max_after_step1', 'lr_factor')}"
            f"); srank(W_0) {_range(g['stable_rank_step0'])}",
        )

    return statistic


def _pairs(name: str, relative: bool, acts):
    """GD's limit against the flow's from the same data and W_0, pair by pair: |difference|
    (relative to the flow's when `relative`); a pair either of whose limits is not resolved
    is not measured."""

    def statistic(a, s) -> Measured | None:
        gd, flow = (_select(a, m, GAUSSIAN, acts) for m in (GD, FLOW))
        gd, flow = gd[in_scope(gd, s)], flow[in_scope(flow, s)]
        cols = [*KEYS, f"{name}_limit", f"{name}_agrees", f"{name}_reason"]
        m = gd[[*cols, "lr_factor"]].merge(flow[cols], on=KEYS, suffixes=("_gd", "_flow"))
        if not len(m) or f"{name}_limit_gd" not in m:
            return None
        g, f = m[f"{name}_limit_gd"], m[f"{name}_limit_flow"]
        ok = m[f"{name}_agrees_gd"].notna() & m[f"{name}_agrees_flow"].notna()
        diff = ((g / f - 1.0) if relative else (g - f)).abs().where(ok)
        reasons = np.where(m[f"{name}_agrees_gd"].isna(), "GD: " + m[f"{name}_reason_gd"],
                           "flow: " + m[f"{name}_reason_flow"])  # fmt: skip
        m = m.assign(diff=diff)
        per = "; ".join(f"{act} lr {lr:g}: GD {_range(x[f'{name}_limit_gd'])} vs flow "
                        f"{_range(x[f'{name}_limit_flow'])}"
                        for (act, lr), x in m[ok].groupby(["act", "lr_factor"]))  # fmt: skip
        return Measured(
            ({"values": diff, "reasons": reasons},),
            f"|{'relative ' if relative else ''}difference| {_range(diff.dropna())} "
            f"({int(ok.sum())} of {len(m)} pairs)",
            f"{len(m)} (GD, flow) pairs with the same data and W_0 (small init, nearly "
            f"orthogonal), {int(ok.sum())} with both limits resolved; limits {per}",
        )

    return statistic


def _limit_criterion(name: str, gd: bool) -> str:
    limit = (GD_LIMITS if gd else FLOW_LIMITS)[name]
    p = limit.rule.params
    window = (f"the last {p['window_decades']:g} decades of steps" if gd
              else f"the last {p['window_log_share']:.3g} of the run in log t")  # fmt: skip
    return (
        f"per run (judge_run_limit, on {window}): "
        f"not resolved if the pattern still switches there or ||W_0|| > "
        f"{p['max_init_share']:g} ||W - W_0|| at the end; else {limit.quantity}'s end value "
        f"and the limit of a fit q_inf + c / log t both <= {p['tol']:g} (agrees) or both "
        "above (contradicts); the claim contradicts if any run does"
    )


def _limit_claim(statement: str, name: str, method: str, data: str, acts,
                 paper: str = "") -> ClaimSpec:  # fmt: skip
    groups = _groups((method,), data, acts)
    paper = paper or (REAL if data == DIGITS else GD_LIMITS[name].paper)
    criterion = _limit_criterion(name, method == GD)
    return ClaimSpec(statement, paper, groups, _limit(name, method, data, acts), (TALLY,),
                     criterion)  # fmt: skip


REAL = "experiments on real data back the theory up"
BOTH = (LEAKY, RELU)
SYNTHETIC = _groups((GD, FLOW), GAUSSIAN, BOTH)
PAIRS = "GD's limit equals the flow's (question raised by Frei et al.)"
CLAIMS = (
    ClaimSpec("Synthetic training sets are nearly orthogonal (the assumption)",
              "||x_i||^2 >= C n max_k |<x_i, x_k>|, C a constant", SYNTHETIC, _sets(GAUSSIAN),
              (every_run(NEAR_ORTHOGONAL),), f"every set: R_min^2 / (n p) {NEAR_ORTHOGONAL}"),
    ClaimSpec("Digits (real data) training sets are nearly orthogonal",
              REAL, _groups((GD, FLOW), DIGITS, BOTH),
              _sets(DIGITS), (every_run(NEAR_ORTHOGONAL),),
              f"every set: R_min^2 / (n p) {NEAR_ORTHOGONAL}"),
    _limit_claim("GD, leaky ReLU: the stable rank of W converges to 1", "rank1", GD, GAUSSIAN,
                 (LEAKY,)),
    _limit_claim("GD, leaky ReLU: each sign block W_+, W_- has stable rank -> 1",
                 "block_rank1", GD, GAUSSIAN, (LEAKY,)),
    _limit_claim("Exact flow, leaky ReLU: the stable rank of W converges to 1", "rank1", FLOW,
                 GAUSSIAN, (LEAKY,)),
    ClaimSpec("GD, ReLU: the stable rank stays bounded by a constant (t >= 1)",
              "stable rank bounded by a constant (ReLU)", _groups((GD,), GAUSSIAN, (RELU,)),
              _bounded_after_step1(GAUSSIAN), (every_run(LOW_RANK),),
              f"every small-init run: max over recorded t >= 1 of srank(W_t) {LOW_RANK}"),
    _limit_claim("Exact flow, ReLU: the stable rank's limit is bounded", "bounded", FLOW,
                 GAUSSIAN, (RELU,)),
    _limit_claim("GD, leaky ReLU: all points get the same normalised margin", "spread", GD,
                 GAUSSIAN, (LEAKY,)),
    _limit_claim("GD, ReLU: all points get the same normalised margin", "spread", GD,
                 GAUSSIAN, (RELU,)),
    _limit_claim("Exact flow, leaky ReLU: all points get the same normalised margin",
                 "spread", FLOW, GAUSSIAN, (LEAKY,)),
    _limit_claim("Exact flow, ReLU: all points get the same normalised margin", "spread",
                 FLOW, GAUSSIAN, (RELU,)),
    *(ClaimSpec(f"{act.replace('_', ' ')}: GD's limit stable rank equals the exact flow's",
                PAIRS, _groups((GD, FLOW), GAUSSIAN, (act,)), _pairs("srank", False, (act,)),
                (every_run(SAME_RANK),),
                f"every pair with both limits resolved: |srank limit difference| {SAME_RANK}; "
                "open while a pair is not resolved") for act in BOTH),
    *(ClaimSpec(f"{act.replace('_', ' ')}: GD's limit normalised margin equals the flow's",
                PAIRS, _groups((GD, FLOW), GAUSSIAN, (act,)), _pairs("margin", True, (act,)),
                (every_run(SAME_MARGIN),),
                f"every pair with both limits resolved: |margin limit ratio - 1| {SAME_MARGIN}; "
                "open while a pair is not resolved") for act in BOTH),
    _limit_claim("GD's equal-margin limit is a KKT point of the max-margin problem", "kkt",
                 GD, GAUSSIAN, BOTH, "question: is the equal-margin network a KKT point?"),
    _limit_claim("The exact flow's limit is a KKT point of the max-margin problem", "kkt",
                 FLOW, GAUSSIAN, BOTH),
    _limit_claim("Digits, GD, leaky ReLU: the stable rank of W converges to 1", "rank1", GD,
                 DIGITS, (LEAKY,)),
    ClaimSpec("Digits, GD, ReLU: the stable rank stays bounded by a constant (t >= 1)",
              REAL, _groups((GD,), DIGITS, (RELU,)),
              _bounded_after_step1(DIGITS), (every_run(LOW_RANK),),
              f"every small-init run: max over recorded t >= 1 of srank(W_t) {LOW_RANK}"),
    _limit_claim("Digits, exact flow, leaky ReLU: the stable rank converges to 1", "rank1",
                 FLOW, DIGITS, (LEAKY,)),
    _limit_claim("Digits, GD: all points get the same normalised margin", "spread", GD,
                 DIGITS, BOTH),
    _limit_claim("Digits, exact flow: all points get the same normalised margin", "spread",
                 FLOW, DIGITS, BOTH),
)  # fmt: skip
