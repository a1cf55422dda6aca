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
    window_decades: float = 10.0, min_records: int = 4, log: bool = False,
    window_log_share: float | None = None,
) -> LimitCheck:  # fmt: skip
    """Whether q(t) tends to a limit <= tol, from its trend over the last decades of a flow.

    The window is the last `window_decades` decades of flow time before the last record, or,
    with `window_log_share`, the last share of the run in log t (log t from (1 - share)
    log t_end to log t_end; 1/3 of a run to t = 1e30 is its last 10 decades, and the rule
    scales to runs to t = e^10000).
    Not resolved when the run stopped before its planned time, when the activation pattern
    still changed inside the window, or when the window holds fewer than `min_records`
    records. Otherwise q is fitted on the window as q_inf + c / log(t / t_0) (directional
    convergence under the logistic loss is logarithmic in t) and extrapolated: agrees when
    both the last value and q_inf are <= tol, contradicts when both are > tol, not resolved
    when they straddle tol (the trend would cross it beyond the last record).

    Args:
        time: Record times, shape (k,), increasing; the first time > 0 is the unit t_0.
            With log=True their natural logs (-inf for t = 0), e.g. a flow history's
            `log_time` (runs to `train.log_time`, where t overflows float64).
        q: The quantity at those times, shape (k,); non-finite records are left out.
        tol: The largest limit that agrees (q's units).
        planned: The flow time the run was planned to reach (its log with log=True).
        last_switch: The time of the activation pattern's last change (its log with
            log=True); 0 (t), or -inf (log t), when it never changed.
        window_decades: The window's length, in decades of flow time.
        min_records: The fewest records in the window that resolve.
        log: Whether time, planned and last_switch are given as log t.
        window_log_share: When given, in (0, 1): the window is this last share of the run
            in log t (t_end > 1), and `window_decades` is not used.

    Returns:
        The last value, the extrapolated limit and the outcome.
    """
    if window_log_share is not None and not 0 < window_log_share < 1:
        raise ValueError(f"judge_limit: window_log_share must be in (0, 1), got {window_log_share}")
    t, q = np.asarray(time, float), np.asarray(q, float)
    clock = _LOG_T if log else _T
    t0 = t[clock.valid(t)].min(initial=np.inf)
    ok = np.isfinite(q) & clock.valid(t)
    t, q = t[ok], q[ok]
    if not len(t):
        return LimitCheck(np.nan, np.nan, None, "no finite records")
    end = float(q[-1])
    if clock.short_of(t[-1], planned):
        reason = f"stopped at {clock.name(t[-1])} < {clock.name(planned)}"
        return LimitCheck(end, np.nan, None, reason)
    start = (clock.earlier(t[-1], window_decades) if window_log_share is None
             else clock.share_start(t[-1], window_log_share))  # fmt: skip
    if last_switch >= start:
        reason = f"pattern still switching at {clock.name(last_switch)}"
        return LimitCheck(end, np.nan, None, reason)
    window = t >= start
    if window.sum() < min_records:
        return LimitCheck(end, np.nan, None, f"fewer than {min_records} records in the window")
    x = 1.0 / clock.elapsed(t[window], t0)
    _, limit = np.polyfit(x, q[window], 1)
    limit = float(limit)
    if end <= tol and limit <= tol:
        return LimitCheck(end, limit, True, "")
    if end > tol and limit > tol:
        return LimitCheck(end, limit, False, "")
    return LimitCheck(end, limit, None, f"trend crosses {tol:g} beyond {clock.name(t[-1])}")


@dataclass(frozen=True)
class _Clock:
    """The record clock `judge_limit` reads: flow time t, or log t (log=True)."""

    log: bool

    def valid(self, t: np.ndarray) -> np.ndarray:
        """The records that have a time on this clock (t > 0; log t finite)."""
        return np.isfinite(t) if self.log else t > 0

    def short_of(self, t: float, planned: float) -> bool:
        """Whether t stops short of the planned end (relative tolerance 1e-9 on t)."""
        return t < planned + np.log1p(-1e-9) if self.log else t < planned * (1 - 1e-9)

    def earlier(self, t: float, decades: float) -> float:
        """The instant `decades` decades of flow time before t."""
        return t - decades * np.log(10.0) if self.log else t / 10.0**decades

    def share_start(self, t: float, share: float) -> float:
        """The instant whose log t is (1 - share) log t (the run's last share in log t)."""
        return t * (1 - share) if self.log else t ** (1 - share)

    def elapsed(self, t: np.ndarray, t0: float) -> np.ndarray:
        """log(t / t0), the abscissa of the 1 / log t fit."""
        return t - t0 if self.log else np.log(t / t0)

    def name(self, t: float) -> str:
        """The instant t, in words."""
        return f"log t = {t:.4g}" if self.log else f"t = {t:.2g}"


_T, _LOG_T = _Clock(log=False), _Clock(log=True)
