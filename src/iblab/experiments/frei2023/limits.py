"""Frei et al. (2023) reproduction: each exact-flow run's t -> inf limits of the rank-2 and
KKT residuals, judged from their trend (`iblab.claims.judge_limit`), and the rule that
tallies the runs into a claim."""

from __future__ import annotations

import pandas as pd

from iblab.claims import Verdict, above, judge_limit

from .runs import FLOW


def judge_run_limit(
    time, q, *, planned: float, last_switch: float, init_share: float, tol: float,
    window_decades: float, max_init_share: float,
) -> Verdict:  # fmt: skip
    """One flow run's limit of q: `judge_limit`'s, and not resolved while the init still
    dominates, ||W_0||_F > max_init_share ||W - W_0||_F at the end (W(t) = W_0 + V log t +
    O(1) once the pattern settles: the 1 / log t trend that judge_limit extrapolates
    describes only runs where V log t has overtaken W_0).

    Args:
        time: The run's record times, shape (k,).
        q: The quantity at those times, shape (k,).
        planned: The flow time the run was planned to reach.
        last_switch: The time of its activation pattern's last change.
        init_share: ||W_0||_F / ||W - W_0||_F at the end.
        tol: The largest limit that agrees.
        window_decades: The decades of flow time the trend is judged on.
        max_init_share: The largest init share that resolves.

    Returns:
        The check (`iblab.claims.LimitCheck`; a Verdict-like with end and limit).
    """
    check = judge_limit(time, q, tol, planned=planned, last_switch=last_switch,
                        window_decades=window_decades)  # fmt: skip
    if check.agrees is not None and above(max_init_share).met(init_share):
        reason = f"init still dominates: ||W_0|| / ||W - W_0|| = {init_share:.2g}"
        return check.__class__(check.end, check.limit, None, reason)
    return check


def limit_checks(runs: pd.DataFrame, history: pd.DataFrame, limits: dict) -> pd.DataFrame:
    """Per flow run (index run_id), for each limit: the last value (`{q}_end`), the
    extrapolated limit (`{q}_limit`), the outcome (`{q}_agrees`: True, False or None) and
    its reason, by the limit's rule.

    Args:
        runs: The analysis frame (tidied: `init_share_final`, `stabilisation_time`).
        history: The runs' records (`time` and the limits' columns).
        limits: The limits to judge (name -> `rules.Limit`).

    Returns:
        One row per flow run; empty without flow runs.
    """
    flow = runs[runs["phase"] == FLOW].drop_duplicates("run_id").set_index("run_id")
    rows = {}
    for run_id, h in history[history["run_id"].isin(flow.index)].groupby("run_id"):
        h, r = h.sort_values("step"), flow.loc[run_id]
        row = {}
        for name, limit in limits.items():
            args = (h["time"], h[limit.column])
            check = limit.rule.judge(*args, planned=r["config.train.time"],
                                     last_switch=r["stabilisation_time"],
                                     init_share=r["init_share_final"],
                                     **limit.rule.params)  # fmt: skip
            row |= {f"{name}_end": check.end, f"{name}_limit": check.limit,
                    f"{name}_agrees": check.agrees, f"{name}_reason": check.reason}  # fmt: skip
        rows[run_id] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def tally_runs(agrees: pd.Series, reasons: pd.Series) -> Verdict:
    """The runs' outcomes combined: contradicts when any run contradicts, agrees when every
    run agrees, else not resolved (the reason counts the runs and their reasons).

    Args:
        agrees: Per run, True, False or None.
        reasons: Per run, why not resolved.

    Returns:
        The combined outcome.
    """
    agree, contra, open_ = _counts(agrees)
    if contra:
        return Verdict(False)
    if open_:
        counts = reasons[agrees.isna()].value_counts()
        top = "; ".join(f"{k} ({v})" for k, v in counts.head(3).items())
        return Verdict(None, f"{open_} of {len(agrees)} runs not resolved: {top}")
    return Verdict(True)


def counts_text(agrees: pd.Series) -> str:
    """'a agree, c contradict, o not resolved' over the runs."""
    agree, contra, open_ = _counts(agrees)
    return f"{agree} agree, {contra} contradict, {open_} not resolved"


def _counts(agrees: pd.Series) -> tuple[int, int, int]:
    agree = int((agrees == True).sum())  # noqa: E712 (object column: True/False/None)
    contra = int((agrees == False).sum())  # noqa: E712
    return agree, contra, len(agrees) - agree - contra
