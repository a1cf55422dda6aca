"""Kou, Chen, Gu (2023) reproduction: the rules that decide its claims, with their thresholds
(fixed before measuring)."""

from __future__ import annotations

import math

from iblab.claims import at_least, at_most, judge_every_run, judge_run_limit, tally_runs
from iblab.experiments.skeleton import Limit, Rule

# Near-orthogonality, ||x_i||^2 >= C n max_{k != i} |<x_i, x_k>| for every i: measured as
# R_min^2 / (n p), p the largest |<x_i, x_k>|; C = 1 is the most lenient reading of "C a
# large constant" (as in the Frei reproduction).
NEAR_ORTHOGONAL = at_least(1.0)
# "Stable rank converges to 1": its limit within RANK_ONE of 1.
RANK_ONE = 0.1
# "Stable rank bounded by a constant" (ReLU): at most 3, the Frei reproduction's constant
# (its limit has rank <= 2, so stable rank <= 2, and 3 leaves one unit of slack).
RANK_CONSTANT = 3.0
LOW_RANK = at_most(RANK_CONSTANT)
# "Every training point has the same normalised margin": the spread 1 - min_i q_i / max_i q_i
# of the margins q_i = y_i f(x_i) tends to at most SPREAD.
SPREAD = 0.05
KKT = 0.1  # the KKT residual of a KKT point of min ||W||_F^2 s.t. y_i f(x_i) >= 1
# GD's limit against the flow's (same data, width and W_0), pair by pair:
SAME_RANK = at_most(0.05)  # |srank limit (GD) - srank limit (flow)|
SAME_MARGIN = at_most(0.02)  # |normalised margin limit (GD) / (flow) - 1|

# Each run's limit is judged on its last stretch (GD: the last 2 decades of steps; the flow,
# on the log-time clock to log t = 1e4: the last third of the run in log t, as Frei's): the
# pattern must not switch there, the init must be at most a tenth of ||W - W_0|| at the end,
# and the end value and the limit of a fit q_inf + c / log t must fall on one side.
GD_TREND = {"window_decades": 2.0, "max_init_share": 0.1}
FLOW_TREND = {"window_log_share": 1 / 3, "max_init_share": 0.1}


def every_run(bound) -> Rule:
    """The rule: every run's (or pair's) value meets the bound; given `reasons`, one not
    measured leaves it open."""
    return Rule(judge_every_run, {"bound": bound})


TALLY = Rule(tally_runs)  # per-run limit outcomes: any contradicts, all agree, else open


def _limits(trend: dict) -> dict[str, Limit]:
    def rule(tol: float) -> Rule:
        return Rule(judge_run_limit, {"tol": tol, **trend})

    return {
        "rank1": Limit("stable_rank", rule(1.0 + RANK_ONE), "stable rank -> 1",
                       "||W||_F^2 / ||W||_2^2", "stable rank converges to 1 (leaky ReLU)"),
        "block_rank1": Limit("block_stable_rank", rule(1.0 + RANK_ONE),
                             "each sign block's stable rank -> 1", "max(srank W_+, srank W_-)",
                             "stable rank converges to 1 (leaky ReLU)"),
        "bounded": Limit("stable_rank", rule(RANK_CONSTANT), "stable rank bounded",
                         "||W||_F^2 / ||W||_2^2", "stable rank bounded by a constant (ReLU)"),
        "spread": Limit("margin_spread", rule(SPREAD), "equal normalised margins",
                        "1 - min_i q_i / max_i q_i", "all points: the same normalised margin"),
        "kkt": Limit("kkt_residual", rule(KKT), "a max-margin KKT point", "KKT residual",
                     "flow: a KKT point of max margin (Frei et al.)"),
        "srank": Limit("stable_rank", rule(math.inf), "stable rank", "srank", ""),
        "margin": Limit("normalised_margin", rule(math.inf), "normalised margin",
                        "min_i y_i f(x_i) / ||W||_F", ""),
    }  # fmt: skip


GD_LIMITS = _limits(GD_TREND)
FLOW_LIMITS = _limits(FLOW_TREND)
