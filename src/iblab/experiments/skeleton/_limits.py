"""Limits judged run by run: each run's t -> inf limit of a recorded quantity from its trend
(a rule such as `iblab.claims.judge_run_limit`), on gradient-flow time (or its log, for a
flow on the log-time clock) or on GD steps."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from ._declare import Rule


class Clock(NamedTuple):
    """What a run's limit is judged against (column names of the history and the analysis).

    Attributes:
        time: The record clock (a history column).
        planned: The planned end, on that clock (an analysis column).
        last_switch: The activation pattern's last change, on that clock (an analysis column).
        log: Whether the clock is log t (the rule is then called with log=True).
    """

    time: str
    planned: str
    last_switch: str
    log: bool = False


# Per optimizer: flow time (log t for a flow on the log-time clock, `train.log_time`) or the
# step.
FLOW_CLOCK = Clock("time", "config.train.time", "stabilisation_time")
LOG_CLOCK = Clock("log_time", "config.train.log_time", "stabilisation_log_time", log=True)
STEP_CLOCK = Clock("step", "config.train.steps", "stabilisation_step")


class Limit(NamedTuple):
    """A limit judged per run.

    Attributes:
        column: The per-record column (a history column) whose limit is judged.
        rule: The per-run rule, called as rule.judge(time, q, planned=, last_switch=,
            init_share=, **rule.params) on the run's clock (`clock`), and with log=True
            too on the log-time clock (`iblab.claims.judge_run_limit`).
        what: What the limit is, in words (a claim's statement).
        quantity: The quantity, in symbols.
        paper: What the paper states.
    """

    column: str
    rule: Rule
    what: str
    quantity: str
    paper: str


def clock(run: pd.Series) -> Clock:
    """The run's clock: flow time for gradient flow (log t when it ran on the log-time clock,
    its `config.train.log_time` set), the step for GD and SGD.

    Args:
        run: One row of the analysis frame (with `config.train.optimizer`).

    Returns:
        `FLOW_CLOCK`, `LOG_CLOCK` or `STEP_CLOCK`.
    """
    if run["config.train.optimizer"] != "gradient_flow":
        return STEP_CLOCK
    return LOG_CLOCK if pd.notna(run.get(LOG_CLOCK.planned)) else FLOW_CLOCK


def limit_checks(runs: pd.DataFrame, history: pd.DataFrame, limits: dict) -> pd.DataFrame:
    """Per run (index run_id), for each limit: the last value (`{name}_end`), the
    extrapolated limit (`{name}_limit`), the outcome (`{name}_agrees`: True, False or None)
    and its reason (`{name}_reason`), by the limit's rule on the run's clock (`clock`).

    Args:
        runs: The runs to judge (analysis rows with `init_share_final` and the clock's
            columns).
        history: Their records (the clock and the limits' columns).
        limits: The limits to judge (name -> `Limit`).

    Returns:
        One row per run with records; empty without runs.
    """
    runs = runs.drop_duplicates("run_id").set_index("run_id")
    rows = {}
    for run_id, h in history[history["run_id"].isin(runs.index)].groupby("run_id"):
        h, r = h.sort_values("step"), runs.loc[run_id]
        c = clock(r)
        at = {"planned": r[c.planned], "last_switch": r[c.last_switch],
              "init_share": r["init_share_final"]}  # fmt: skip
        if c.log:
            at["log"] = True
        row = {}
        for name, limit in limits.items():
            check = limit.rule.judge(h[c.time], h[limit.column], **at, **limit.rule.params)
            row |= {f"{name}_end": check.end, f"{name}_limit": check.limit,
                    f"{name}_agrees": check.agrees, f"{name}_reason": check.reason}  # fmt: skip
        rows[run_id] = row
    return pd.DataFrame.from_dict(rows, orient="index")
