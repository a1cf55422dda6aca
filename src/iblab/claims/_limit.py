"""A quantity's t -> inf limit along a flow, judged from its trend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class LimitCheck:
    """A limit judged from its trend (see `judge_limit`).

    Attributes:
        end: The quantity at the last record.
        limit: Its fit extrapolated to 1 / log t = 0 (NaN when not fitted).
        agrees: True (end and limit <= tol), False (both > tol) or None (not resolved).
        reason: Why not resolved; empty otherwise.
    """

    end: float
    limit: float
    agrees: bool | None
    reason: str


def judge_limit(
    time: ArrayLike, q: ArrayLike, tol: float, *, planned: float, last_switch: float,
    window_decades: float = 10.0, min_records: int = 4,
) -> LimitCheck:  # fmt: skip
    """Whether q(t) tends to a limit <= tol, from its trend over the last decades of a flow.

    The window is the last `window_decades` decades of flow time before the last record.
    Not resolved when the run stopped before its planned time, when the activation pattern
    still changed inside the window, or when the window holds fewer than `min_records`
    records. Otherwise q is fitted on the window as q_inf + c / log(t / t_0) (directional
    convergence under the logistic loss is logarithmic in t) and extrapolated: agrees when
    both the last value and q_inf are <= tol, contradicts when both are > tol, not resolved
    when they straddle tol (the trend would cross it beyond the last record).

    Args:
        time: Record times, shape (k,), increasing; the first time > 0 is the unit t_0.
        q: The quantity at those times, shape (k,); non-finite records are left out.
        tol: The largest limit that agrees (q's units).
        planned: The flow time the run was planned to reach.
        last_switch: The time of the activation pattern's last change.
        window_decades: The window's length, in decades of flow time.
        min_records: The fewest records in the window that resolve.

    Returns:
        The last value, the extrapolated limit and the outcome.
    """
    t, q = np.asarray(time, float), np.asarray(q, float)
    t0 = t[t > 0].min(initial=np.inf)
    ok = np.isfinite(q) & (t > 0)
    t, q = t[ok], q[ok]
    if not len(t):
        return LimitCheck(np.nan, np.nan, None, "no finite records")
    end = float(q[-1])
    if t[-1] < planned * (1 - 1e-9):
        return LimitCheck(end, np.nan, None, f"stopped at t = {t[-1]:.2g} < {planned:.2g}")
    start = t[-1] / 10.0**window_decades
    if last_switch >= start:
        return LimitCheck(end, np.nan, None, f"pattern still switching at t = {last_switch:.2g}")
    window = t >= start
    if window.sum() < min_records:
        return LimitCheck(end, np.nan, None, f"fewer than {min_records} records in the window")
    x = 1.0 / np.log(t[window] / t0)
    _, limit = np.polyfit(x, q[window], 1)
    limit = float(limit)
    if end <= tol and limit <= tol:
        return LimitCheck(end, limit, True, "")
    if end > tol and limit > tol:
        return LimitCheck(end, limit, False, "")
    return LimitCheck(end, limit, None, f"trend crosses {tol:g} beyond t = {t[-1]:.2g}")
