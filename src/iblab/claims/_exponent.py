"""An asymptotic exponent: median regression of log y on log x over the decades of x nearest
0 that a sweep has, with an interval from resampling seeds, judged against a target band."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import linprog

from iblab.claims._bounds import within

_SPAN_RTOL = 1e-9  # decades counted to this relative rounding (10^3 / 1 spans 3 decades)


def quantile_line(lx: ArrayLike, ly: ArrayLike, quantile: float = 0.5) -> tuple[float, float]:
    """Quantile regression of ly on lx (a line), solved as a linear program with HiGHS.

    Minimises sum_i rho_q(ly_i - a - b lx_i), rho_q(r) = r (q - [r < 0]), through its dual
    (maximise ly . u subject to [1, lx]^T u = (1 - q) [1, lx]^T 1, 0 <= u <= 1), whose
    equality constraints' multipliers are (a, b).

    Args:
        lx: Shape (k,), at least two distinct values.
        ly: Shape (k,), finite.
        quantile: q in (0, 1); 0.5 is median (least absolute deviations) regression.

    Returns:
        (slope b, intercept a).

    Raises:
        ValueError: Fewer than two distinct lx, or the program did not solve.
    """
    lx, ly = np.asarray(lx, float), np.asarray(ly, float)
    if lx.size < 2 or np.ptp(lx) == 0:
        raise ValueError("quantile_line: need points at 2 or more x values")
    design = np.column_stack([np.ones_like(lx), lx])
    res = linprog(-ly, A_eq=design.T, b_eq=(1 - quantile) * design.sum(axis=0),
                  bounds=(0, 1), method="highs")  # fmt: skip
    if res.status != 0:
        raise ValueError(f"quantile_line: the linear program did not solve ({res.message})")
    intercept, slope = -res.eqlin.marginals
    return float(slope), float(intercept)


@dataclass(frozen=True)
class ExponentCheck:
    """An asymptotic exponent judged by `judge_asymptotic_exponent`.

    Attributes:
        exponent: The median-regression slope over the window (nan: no fit).
        low: The 95% interval's lower end (seed bootstrap; nan: no fit).
        high: Its upper end.
        intercept: The median fit's log y at x = 1 (nan: no fit).
        window: (smallest x, largest x) fitted for the outcome.
        n_points: Points in the window.
        n_groups: Seeds (resampling units) in the window.
        decades: log10(largest x / smallest x) of the whole sweep.
        full: The median-regression slope over every point (nan: no fit).
        log_mean: The least-squares slope of log y over the window (nan: no fit).
        upper: The upper-quantile (`upper_quantile`) slope over the window (nan: no fit).
        ratio: Median over the cells (distinct x) of each cell's median y / x^target, then
            the `ratio_percentiles` of those cell medians, as (median, low, high, cells).
        floor: What the method measures where the true y is 0 (y's units).
        agrees: True, False, or None (not resolved).
        reason: Why not resolved; empty otherwise.
    """

    exponent: float
    low: float
    high: float
    intercept: float
    window: tuple[float, float]
    n_points: int
    n_groups: int
    decades: float
    full: float
    log_mean: float
    upper: float
    ratio: tuple[float, float, float, int]
    floor: float
    agrees: bool | None
    reason: str

    def __str__(self) -> str:
        if math.isnan(self.exponent):
            return "no fit"
        return f"{self.exponent:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def text(self, x_name: str, target: float) -> str:
        """Every number of the check, in a sentence.

        Args:
            x_name: What x is, in words ("n/d").
            target: The exponent of the ratio y / x^target (the claim's).

        Returns:
            "median fit ... over x_name in [..] (k runs, s seeds); full range ...; ...".
        """
        med, lo, hi, cells = self.ratio
        return (
            f"median-regression exponent {self} over {x_name} in [{self.window[0]:.2g}, "
            f"{self.window[1]:.2g}] ({self.n_points} runs, {self.n_groups} seeds; the sweep "
            f"spans {self.decades:.3g} decades); full-range median fit {self.full:.3f}; "
            f"log-mean fit {self.log_mean:.3f}; upper-quantile exponent {self.upper:.3f}; "
            f"gap / ({x_name})^{target:g} by cell: median {med:.3g}, spread [{lo:.3g}, "
            f"{hi:.3g}] over {cells} cells; floor {self.floor:.2g}"
        )


def judge_asymptotic_exponent(
    x: ArrayLike, y: ArrayLike, groups: ArrayLike, *, target: float, tol: float,
    decades: float = 3.0, floor: float = 0.0, margin: float = 3.0, min_values: int = 3,
    upper_quantile: float = 0.9, ratio_percentiles: tuple[float, float] = (10.0, 90.0),
    n_boot: int = 1000, key: str = "",
) -> ExponentCheck:  # fmt: skip
    """The exponent of y in x as x -> 0, by an interval rule.

    The window is the `decades` decades of x nearest 0 that the sweep has: smallest x to
    10^decades times it. y below `floor` is set to the floor (censored: the method cannot
    tell such values apart). The exponent is the median (quantile 0.5) regression slope of
    log y on log x over the window; its 95% interval is the 2.5th to 97.5th percentile of
    the slope over `n_boot` resamples of the groups (seeds) with replacement, every point of
    a drawn seed taken, from a generator seeded by crc32(key), so the result is
    reproducible. Not resolved when the sweep spans fewer than `decades` decades, when the
    window holds fewer than `min_values` distinct x, or when the median y at some x of the
    window is below `margin` times the floor; otherwise agrees when the interval lies inside
    target +- tol, contradicts when it lies entirely outside, not resolved when it straddles
    an edge. Reported beside it: the full-range median fit, the least-squares (log-mean)
    fit and the `upper_quantile` fit over the window, and the ratio y / x^target by cell.

    Args:
        x: Shape (k,), positive (the swept variable, e.g. n/d).
        y: Shape (k,), >= 0 (e.g. the gap).
        groups: Shape (k,), the resampling unit of each point (its seed).
        target: The exponent the claim states.
        tol: The half-width of the band the interval must lie in.
        decades: The decades of x fitted, nearest 0.
        floor: What the method measures where the true y is 0; 0 leaves y <= 0 out.
        margin: How many floors above the floor every median in the window must lie.
        min_values: The fewest distinct x in the window that resolve.
        upper_quantile: The quantile of the reported upper fit.
        ratio_percentiles: The spread reported for the ratio by cell.
        n_boot: Bootstrap resamples of the seeds.
        key: What the generator's seed is derived from (the claim's name).

    Returns:
        The check.
    """
    x, y, groups = usable_points(x, y, groups)
    if not x.size:
        nan = math.nan
        return ExponentCheck(nan, nan, nan, nan, (nan, nan), 0, 0, 0.0, nan, nan, nan,
                             (nan, nan, nan, 0), floor, None, "no usable points")  # fmt: skip
    span = math.log10(x.max() / x.min())
    inside = x <= x.min() * 10**decades * (1 + _SPAN_RTOL)
    censored = np.maximum(y, floor)
    usable = censored > 0
    fitted = inside & usable
    head = (
        (float(x.min()), float(x[inside].max())), int(fitted.sum()),
        len(np.unique(groups[fitted])), span,
        *_side_fits(x, censored, fitted, usable, upper_quantile),
        _ratio(x, y, target, ratio_percentiles), floor,
    )  # fmt: skip
    if span < decades * (1 - _SPAN_RTOL):
        reason = f"the sweep spans {span:.3g} decades, the rule needs {decades:g}"
        return ExponentCheck(math.nan, math.nan, math.nan, math.nan, *head, None, reason)
    if len(np.unique(x[fitted])) < min_values:
        reason = f"fewer than {min_values} values of x in the window"
        return ExponentCheck(math.nan, math.nan, math.nan, math.nan, *head, None, reason)
    lx, ly = np.log(x[fitted]), np.log(censored[fitted])
    slope, intercept = quantile_line(lx, ly)
    lo, hi = _seed_interval(lx, ly, groups[fitted], n_boot, key)
    medians = pd.Series(y[inside]).groupby(x[inside]).median()
    agrees, reason = _decide(lo, hi, target, tol, medians, margin, floor)
    return ExponentCheck(slope, lo, hi, intercept, *head, agrees, reason)


def usable_points(x, y, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and groups as arrays, the points with finite y and finite positive x only."""
    x, y, groups = np.asarray(x, float), np.asarray(y, float), np.asarray(groups)
    keep = np.isfinite(x) & (x > 0) & np.isfinite(y)
    return x[keep], y[keep], groups[keep]


def _decide(lo, hi, target, tol, medians, margin, floor) -> tuple[bool | None, str]:
    """The interval rule, after the floor check (see `judge_asymptotic_exponent`)."""
    if (medians < margin * floor).any():
        return (
            None,
            f"median within {margin:g}x of the floor {floor:.2g} at x = {medians.idxmin():.3g}",
        )
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None, "no bootstrap resample spans two values of x"
    agrees = within(target, tol).interval_meets(lo, hi)
    if agrees is not None:
        return agrees, ""
    return None, f"95% interval [{lo:.3f}, {hi:.3f}] straddles an edge of {target:g} +- {tol:g}"


def _seed_interval(lx, ly, groups, n_boot: int, key: str) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the median slope over resamples of the seeds."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    units = np.unique(groups)
    members = [np.flatnonzero(groups == u) for u in units]
    slopes = []
    for _ in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(0, units.size, units.size)])
        if np.ptp(lx[idx]) > 0:
            slopes.append(quantile_line(lx[idx], ly[idx])[0])
    if not slopes:
        return math.nan, math.nan
    lo, hi = np.percentile(slopes, [2.5, 97.5])
    return float(lo), float(hi)


def _side_fits(x, y, window, usable, upper_quantile: float) -> tuple[float, float, float]:
    """The full-range median slope, and the log-mean and upper-quantile slopes in the window."""

    def slope(mask, fit):
        if len(np.unique(x[mask])) < 2:
            return math.nan
        return fit(np.log(x[mask]), np.log(y[mask]))

    return (
        slope(usable, lambda lx, ly: quantile_line(lx, ly)[0]),
        slope(window, lambda lx, ly: float(np.polyfit(lx, ly, 1)[0])),
        slope(window, lambda lx, ly: quantile_line(lx, ly, upper_quantile)[0]),
    )


def _ratio(x, y, target: float, percentiles) -> tuple[float, float, float, int]:
    """Each cell's median y / x^target, and the median and percentiles of those."""
    if not x.size:
        return math.nan, math.nan, math.nan, 0
    cells = pd.Series(y / x**target).groupby(x).median().to_numpy()
    lo, hi = np.percentile(cells, percentiles)
    return float(np.median(cells)), float(lo), float(hi), int(cells.size)
