"""A trend in a swept variable: the median-regression slope of y on log10 x, with an interval
from resampling seeds, judged against a bound on the slope (e.g. "falls with d": < 0)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from iblab.claims._bounds import Bound
from iblab.claims._exponent import _seed_interval, quantile_line, usable_points


@dataclass(frozen=True)
class TrendCheck:
    """A slope judged by `judge_trend`.

    Attributes:
        slope: The median-regression slope of y per decade of x (nan: no fit).
        low: The 95% interval's lower end (seed bootstrap; nan: no fit).
        high: Its upper end.
        medians: The median y at each x (index x).
        n_groups: Seeds (resampling units).
        agrees: True, False or None (not resolved).
        reason: Why not resolved; empty otherwise.
    """

    slope: float
    low: float
    high: float
    medians: pd.Series
    n_groups: int
    agrees: bool | None
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.slope:.3g} [{self.low:.3g}, {self.high:.3g}] per decade"


def judge_trend(
    x: ArrayLike, y: ArrayLike, groups: ArrayLike, *, slope: Bound, min_values: int = 3,
    min_groups: int = 3, n_boot: int = 1000, key: str = "",
) -> TrendCheck:  # fmt: skip
    """How y changes with x, per decade of x, by an interval rule.

    The slope is the median (quantile 0.5) regression slope of y on log10 x over every
    point; its 95% interval is the 2.5th to 97.5th percentile of that slope over `n_boot`
    resamples of the groups (seeds) with replacement, from a generator seeded by
    crc32(key). Agrees when the whole interval meets `slope`, contradicts when none of it
    does, not resolved when the interval straddles an edge of the bound, or when the sweep
    has fewer than `min_values` distinct x or `min_groups` seeds.

    Args:
        x: Shape (k,), positive (the swept variable, e.g. d).
        y: Shape (k,), finite (e.g. the share of entries that ever crossed their kink).
        groups: Shape (k,), the resampling unit of each point (its seed).
        slope: What the slope must meet, e.g. `below(0.0)` for "falls with x".
        min_values: The fewest distinct x that resolve (at least 2).
        min_groups: The fewest seeds that resolve (one seed gives an interval of width 0).
        n_boot: Bootstrap resamples of the seeds.
        key: What the generator's seed is derived from (the claim's name).

    Returns:
        The check.
    """
    if min_values < 2:
        raise ValueError(f"judge_trend: min_values must be >= 2, got {min_values}")
    x, y, groups = usable_points(x, y, groups)
    medians = pd.Series(y).groupby(x).median()
    n_groups = len(np.unique(groups))
    if len(medians) < min_values or n_groups < min_groups:
        reason = (f"{len(medians)} values of x; the rule needs {min_values}"
                  if len(medians) < min_values
                  else f"{n_groups} seeds; the rule needs {min_groups}")  # fmt: skip
        return TrendCheck(math.nan, math.nan, math.nan, medians, n_groups, None, reason)
    lx = np.log10(x)
    fit = quantile_line(lx, y)[0]
    lo, hi = _seed_interval(lx, y, groups, n_boot, key)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        agrees, reason = None, "no bootstrap resample spans two values of x"
    else:
        agrees = slope.interval_meets(lo, hi)
        straddles = f"95% interval [{lo:.3g}, {hi:.3g}] straddles an edge of slope {slope}"
        reason = "" if agrees is not None else straddles
    return TrendCheck(fit, lo, hi, medians, n_groups, agrees, reason)
