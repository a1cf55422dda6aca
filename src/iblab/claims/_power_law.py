"""A power law y ~ x^p: its fit, and its exponent judged against the measuring method's
floor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from iblab.claims._bounds import within


@dataclass(frozen=True)
class PowerLawFit:
    """log y = intercept + exponent * log x, with a bootstrap 95% interval of the exponent.

    Attributes:
        exponent: The least-squares slope of log y on log x.
        intercept: log y at x = 1.
        low: The interval's lower end (2.5th percentile).
        high: The interval's upper end (97.5th percentile).
        n_points: How many points were fitted.
    """

    exponent: float
    intercept: float
    low: float
    high: float
    n_points: int

    def __str__(self) -> str:
        return f"{self.exponent:.3f} [{self.low:.3f}, {self.high:.3f}]"


def fit_power_law(x: ArrayLike, y: ArrayLike, n_boot: int = 1000, seed: int = 0) -> PowerLawFit:
    """Least-squares fit of log y against log x, with a pairs-bootstrap 95% percentile
    interval of the exponent.

    Args:
        x: Shape (k,); points with x or y not positive or not finite are left out.
        y: Shape (k,).
        n_boot: Bootstrap resamples (of the points, with replacement).
        seed: The resampling's seed.

    Returns:
        The fit.

    Raises:
        ValueError: Fewer than 3 usable points, or all at one x.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if lx.size < 3 or np.ptp(lx) == 0:
        raise ValueError(f"fit_power_law: need >= 3 positive points at 2+ x values, got {lx.size}")
    slope, intercept = np.polyfit(lx, ly, 1)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, lx.size, lx.size)
        if np.ptp(lx[idx]) > 0:
            boots.append(np.polyfit(lx[idx], ly[idx], 1)[0])
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return PowerLawFit(float(slope), float(intercept), float(lo), float(hi), int(lx.size))


@dataclass(frozen=True)
class LawCheck:
    """A power law judged against its measuring method (see `judge_power_law`).

    Attributes:
        full: The fit over every usable point (None: too few).
        high: The fit over the points with x <= high_max, which decides (None: too few).
        floor: What the method measures where the true y is 0 (y's units).
        agrees: True, False, or None (not resolved).
        reason: Why not resolved; empty otherwise.
    """

    full: PowerLawFit | None
    high: PowerLawFit | None
    floor: float
    agrees: bool | None
    reason: str

    def text(self, x_name: str, high_max: float) -> str:
        """Both fits and the floor, in a sentence.

        Args:
            x_name: What x is, in words ("n/d").
            high_max: The largest x of the deciding fit, as judged.

        Returns:
            "full-range fit ...; high-dimensional fit (x_name <= high_max) ...; floor ...".
        """

        def fit(f):
            return "no fit" if f is None else f"{f} ({f.n_points} points)"

        return (
            f"full-range fit {fit(self.full)}; high-dimensional fit ({x_name} <= {high_max:g}) "
            f"{fit(self.high)}; floor {self.floor:.2g}"
        )


def judge_power_law(
    x: ArrayLike, y: ArrayLike, *, floor: float, target: float, tol: float, high_max: float,
    max_width: float = 0.2, margin: float = 3.0, min_points: int = 10, n_boot: int = 1000,
) -> LawCheck:  # fmt: skip
    """An exponent judged by an interval rule above the method's floor.

    Fits log y against log x twice, over every point with y > 0 and over those with
    x <= high_max (the regime the law is about); the outcome is the second fit's. Not
    resolved when it has fewer than `min_points` usable points or they lie at fewer than 3
    values of x, when at any of its x values the median y (zeros counted) is below `margin`
    times the floor, or when its 95% interval is wider than `max_width`; otherwise agrees
    when |exponent - target| <= tol and contradicts when not.

    Args:
        x: Shape (k,), positive.
        y: Shape (k,), >= 0 (zeros count in the medians, not in the fits).
        floor: What the method measures where the true y is 0 (y's units).
        target: The exponent the claim states.
        tol: The exponent's allowed distance from target.
        high_max: The largest x fitted for the outcome.
        max_width: The widest 95% interval that resolves.
        margin: How many floors above the floor every median must lie.
        min_points: The fewest usable points that resolve.
        n_boot: Bootstrap resamples per fit.

    Returns:
        Both fits, the floor and the outcome.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    full = _try_fit(x, y, n_boot)
    high_x = x <= high_max
    high = _try_fit(x[high_x], y[high_x], n_boot)
    usable = high_x & (y > 0) & np.isfinite(y)
    xh, yh = x[high_x], y[high_x]
    medians = pd.Series(yh[np.isfinite(yh)]).groupby(xh[np.isfinite(yh)]).median()
    if usable.sum() < min_points or len(np.unique(x[usable])) < 3 or high is None:
        return LawCheck(full, high, floor, None, f"fewer than {min_points} usable points at "
                        f"3 or more {high_max:g}-or-smaller x values")  # fmt: skip
    if (medians < margin * floor).any():
        return LawCheck(full, high, floor, None, f"median within {margin:g}x of the floor "
                        f"{floor:.2g} at x = {medians.idxmin():.3g}")  # fmt: skip
    if high.high - high.low > max_width:
        return LawCheck(full, high, floor, None, f"95% interval wider than {max_width:g}")
    return LawCheck(full, high, floor, bool(within(target, tol).met(high.exponent)), "")


def _try_fit(x, y, n_boot: int) -> PowerLawFit | None:
    try:
        return fit_power_law(x, y, n_boot=n_boot)
    except ValueError:
        return None
