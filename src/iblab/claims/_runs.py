"""Claims decided run by run: one run's limit judged from its trend while the init no longer
dominates, and the runs' outcomes tallied into one."""

from __future__ import annotations

import pandas as pd
from numpy.typing import ArrayLike

from iblab.claims._bounds import above
from iblab.claims._limit import LimitCheck, judge_limit
from iblab.claims._verdict import Verdict


def judge_run_limit(
    time: ArrayLike, q: ArrayLike, *, planned: float, last_switch: float, init_share: float,
    tol: float, max_init_share: float, window_decades: float = 10.0, min_records: int = 4,
    log: bool = False, window_log_share: float | None = None,
) -> LimitCheck:  # fmt: skip
    """One run's limit of q: `judge_limit`'s, and not resolved while the init still
    dominates, ||W_0||_F > max_init_share ||W - W_0||_F at the end (W(t) = W_0 + V log t +
    O(1) once the pattern settles: the 1 / log t trend that judge_limit extrapolates
    describes only runs where V log t has overtaken W_0). For gradient flow, time is flow
    time (or log t, with log=True: a flow on the log-time clock); for GD, the step.
    max_init_share = inf leaves the guard out (a limit read from W - W_0 itself, whose
    direction tends to W's whatever share W_0 still has).

    Args:
        time: The run's record times (or steps), shape (k,).
        q: The quantity at those times, shape (k,).
        planned: The time (or step) the run was planned to reach (its log with log=True).
        last_switch: The time (or step) of its activation pattern's last change (its log
            with log=True).
        init_share: ||W_0||_F / ||W - W_0||_F at the end.
        tol: The largest limit that agrees.
        window_decades: The decades of time the trend is judged on.
        max_init_share: The largest init share that resolves (inf: any).
        min_records: The fewest records in the window that resolve.
        log: Whether time, planned and last_switch are given as log t (`judge_limit`).
        window_log_share: The window as the run's last share in log t, instead of
            window_decades (`judge_limit`).

    Returns:
        The check (`LimitCheck`: end, limit, agrees, reason).
    """
    check = judge_limit(time, q, tol, planned=planned, last_switch=last_switch,
                        window_decades=window_decades, min_records=min_records,
                        log=log, window_log_share=window_log_share)  # fmt: skip
    if check.agrees is not None and above(max_init_share).met(init_share):
        reason = f"init still dominates: ||W_0|| / ||W - W_0|| = {init_share:.2g}"
        return LimitCheck(check.end, check.limit, None, reason)
    return check


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
    """'a agree, c contradict, o not resolved' over the runs.

    Args:
        agrees: Per run, True, False or None.

    Returns:
        The counts, in words.
    """
    agree, contra, open_ = _counts(agrees)
    return f"{agree} agree, {contra} contradict, {open_} not resolved"


def _counts(agrees: pd.Series) -> tuple[int, int, int]:
    agree = int((agrees == True).sum())  # noqa: E712 (object column: True/False/None)
    contra = int((agrees == False).sum())  # noqa: E712
    return agree, contra, len(agrees) - agree - contra
