"""Limits judged run by run: each run's t -> inf limit of a recorded quantity from its trend
(a rule such as `iblab.claims.judge_run_limit`), on gradient-flow time or on GD steps."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from ._declare import Rule

# Per optimizer: the record clock, the planned end and the last activation switch (columns).
FLOW_CLOCK = ("time", "config.train.time", "stabilisation_time")
STEP_CLOCK = ("step", "config.train.steps", "stabilisation_step")


class Limit(NamedTuple):
    """A limit judged per run.

    Attributes:
        column: The per-record column (a history column) whose limit is judged.
        rule: The per-run rule, called as rule.judge(time, q, planned=, last_switch=,
            init_share=, **rule.params) (`iblab.claims.judge_run_limit`).
        what: What the limit is, in words (a claim's statement).
        quantity: The quantity, in symbols.
        paper: What the paper states.
    """

    column: str
    rule: Rule
    what: str
    quantity: str
    paper: str


def clock(run: pd.Series) -> tuple[str, str, str]:
    """The run's clock: flow time for gradient flow, the step for GD and SGD.

    Args:
        run: One row of the analysis frame (with `config.train.optimizer`).

    Returns:
        (record clock, planned end, last switch): column names (`FLOW_CLOCK`, `STEP_CLOCK`).
    """
    flow = run["config.train.optimizer"] == "gradient_flow"
    return FLOW_CLOCK if flow else STEP_CLOCK


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
        time, planned, switch = clock(r)
        row = {}
        for name, limit in limits.items():
            check = limit.rule.judge(h[time], h[limit.column], planned=r[planned],
                                     last_switch=r[switch], init_share=r["init_share_final"],
                                     **limit.rule.params)  # fmt: skip
            row |= {f"{name}_end": check.end, f"{name}_limit": check.limit,
                    f"{name}_agrees": check.agrees, f"{name}_reason": check.reason}  # fmt: skip
        rows[run_id] = row
    return pd.DataFrame.from_dict(rows, orient="index")
