"""Frei et al. (2023) reproduction: each exact-flow run's t -> inf limits of the rank-2 and
KKT residuals of its limit direction, read from the learned part W - W_0 and judged from
their trend on log t (`iblab.claims.judge_run_limit`, run by run on the log-time clock
through `iblab.experiments.skeleton.limit_checks`), and the rule that tallies the runs into
a claim (`iblab.claims.tally_runs`)."""

from __future__ import annotations

import pandas as pd

from iblab.claims import counts_text, judge_run_limit, tally_runs
from iblab.experiments import skeleton

from .runs import FLOW

__all__ = ["counts_text", "judge_run_limit", "limit_checks", "tally_runs"]


def limit_checks(runs: pd.DataFrame, history: pd.DataFrame, limits: dict) -> pd.DataFrame:
    """Per flow run (index run_id), for each limit: `skeleton.limit_checks`'s columns (on
    log t for the flows on the log-time clock).

    Args:
        runs: The analysis frame (tidied: `init_share_final`, `config.train.log_time`,
            `stabilisation_log_time`).
        history: The runs' records (`log_time` and the limits' columns).
        limits: The limits to judge (name -> `skeleton.Limit`).

    Returns:
        One row per flow run; empty without flow runs.
    """
    return skeleton.limit_checks(runs[runs["phase"] == FLOW], history, limits)
