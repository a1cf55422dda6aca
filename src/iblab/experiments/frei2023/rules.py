"""Frei et al. (2023) reproduction: the rules that decide its claims, with their thresholds
(fixed before measuring)."""

from __future__ import annotations

import math

from iblab.claims import above, at_least, at_most, judge_every_run, judge_run_limit
from iblab.experiments.skeleton import Limit, Rule

# The thresholds (see each claim's criterion). "Small stable rank": at most an absolute
# constant; the limit has rank <= 2, so stable rank <= 2, and 3 leaves one unit of slack.
RANK_CONSTANT = 3.0
LOW_RANK = at_most(RANK_CONSTANT)
HIGH_RANK = above(RANK_CONSTANT)
KEEPS_RANK = at_least(0.5)  # a large init is "not reduced": srank(1) / srank(0) meets it
RANK2 = at_most(0.05)  # "rank at most 2": ||W - W_2||_F / ||W||_F, W_2 the best rank-2 approx.
KKT = at_most(0.1)  # the KKT residual of a KKT point
SLACK = at_most(0.1)  # its complementary slackness / sum(lambda)
SEPARATES = at_least(1.0)  # train accuracy
LINEAR_AGREE = at_least(0.99)  # "linear decision boundary": sign f == sign <z, x> on test points
COSINE = at_least(0.9)  # "close to the max-margin linear predictor": cos(z, u*)
SVM_AGREE = at_least(0.95)  # and sign f == sign <u*, x> on test points
ACCURACY_GAP = at_most(0.02)  # |network test accuracy - SVM test accuracy|
NEAR_ORTHOGONAL = at_least(1.0)  # C in gamma^3 R_min^4 >= C n R_max^2 p (1: the most lenient)


def every_run(bound) -> Rule:
    """The rule: every run's value meets the bound."""
    return Rule(judge_every_run, {"bound": bound})


# A flow run's limit is judged on its learned part Delta = W - W_0 (`diagnostics.
# learned_part`): the theorem's limit is the direction lim W(t) / ||W(t)||, and as W_0 is
# fixed while ||Delta|| -> inf it equals lim Delta(t) / ||Delta(t)||. Delta's residuals are
# judged by their own trend (on log t: the flows run on the log-time clock, and
# `skeleton.limit_checks` judges such runs on their records' log_time), whatever share W_0
# still has of W: no init-share guard (max_init_share = inf). The trend window is the last
# third of the run in log t (the last 10 decades of a run to t = 1e30; log t from 6667 to
# 10^4 for the full runs), and the pattern must not change inside it.
TREND = {"window_log_share": 1 / 3, "max_init_share": math.inf}
LIMITS = {
    "rank2": Limit("delta_rank2_residual", Rule(judge_run_limit, {"tol": 0.05, **TREND}),
                   "rank <= 2", "||Delta - Delta_2||_F / ||Delta||_F (Delta = W - W_0)",
                   "GF converges in direction to a rank <= 2 network"),
    "kkt": Limit("delta_kkt_residual", Rule(judge_run_limit, {"tol": 0.1, **TREND}),
                 "a max-margin KKT point", "KKT residual of Delta / ||Delta|| (Delta = W - W_0)",
                 "GF converges in direction to a max-margin KKT point"),
}  # fmt: skip
