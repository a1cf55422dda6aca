"""Lai et al. (2026) reproduction: the rules that decide its claims, with their thresholds
(fixed before measuring; the exponent rule's others are `LaiSettings` fields)."""

from __future__ import annotations

from iblab import claims
from iblab.experiments.skeleton import Rule

EXPONENT_TARGET = 0.5  # the paper's law: gap ~ (n/d)^(1/2)
MIN_POINTS = 10  # the fewest usable runs that resolve an exponent
ORTHOGONAL_GAP = claims.below(1e-8)  # exactly orthogonal inputs: gap 0, in every run
LINEAR_GAP = claims.below(1e-6)  # the linear control: the min-norm interpolator, in every run
SOME_RUN = claims.above(0.0)  # a fraction of runs: at least one
EVERY_RUN = claims.at_least(1.0)  # a fraction of runs: all of them
NO_BIAS_GAP = claims.at_least(0.1)  # low-dimensional inputs: a median gap of order one
QUICK_SWITCH = claims.at_most(
    0.1
)  # the last pattern switch as a share of the run, at the largest d
LR_EXPONENT = claims.within(1.0, 0.25)  # the gap in lr on orthogonal inputs: an O(lr) floor
LEVELS_OFF = claims.within(1.0, 0.2)  # the ratio of the median gaps at the two smallest lr factors


def _exponent_params(s) -> dict:
    return {
        "target": EXPONENT_TARGET,
        "tol": s.exponent_tolerance,
        "high_max": s.high_dim_max,
        "max_width": s.max_interval,
        "margin": s.floor_margin,
        "min_points": MIN_POINTS,
        "n_boot": s.n_boot,
    }


def judge_gap_or_floor(values, bound, *, floor_reason: str = ""):
    """`judge_every_run`, where a run beyond the bound is the method's floor (when
    floor_reason says so): then not resolved, for that reason.

    Args:
        values: One gap per run, shape (k,).
        bound: What every run must meet.
        floor_reason: Why a run beyond the bound is not a contradiction; empty: it is one.

    Returns:
        The check, or not resolved with floor_reason.
    """
    check = claims.judge_every_run(values, bound)
    return claims.Verdict(None, floor_reason) if floor_reason and not check.agrees else check


EXPONENT = Rule(claims.judge_power_law, _exponent_params)
ORTHOGONAL = Rule(claims.judge_every_run, {"bound": ORTHOGONAL_GAP})
GD_FLOOR_REASON = "GD's gap on these inputs is its step-size floor (the lr rows)"
ORTHOGONAL_GD_WIDTH = Rule(judge_gap_or_floor, {"bound": ORTHOGONAL_GAP,
                                                "floor_reason": GD_FLOOR_REASON})  # fmt: skip
LINEAR = Rule(claims.judge_every_run, {"bound": LINEAR_GAP})
SOME_RUN_FAILS = Rule(claims.judge_fraction, {"share": SOME_RUN})
ORDER_ONE_GAP = Rule(claims.judge_value, {"bound": NO_BIAS_GAP})
QUICK_STABILISATION = Rule(claims.judge_value, {"bound": QUICK_SWITCH})
ALL_INTERPOLATE = Rule(claims.judge_fraction, {"share": EVERY_RUN})
LINEAR_IN_LR = Rule(claims.judge_value, {"bound": LR_EXPONENT})
LEVELS_OFF_IN_LR = Rule(claims.judge_value, {"bound": LEVELS_OFF})
