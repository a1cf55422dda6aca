"""Rules on measured values against a threshold: one value (a statistic of the runs), every
run, or a fraction of the runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


@dataclass(frozen=True)
class Bound:
    """A threshold a measured value must meet: `value op limit`, or |value - limit| <= tol
    when op is "+-". NaN meets no bound.

    Attributes:
        op: "<", "<=", ">", ">=" or "+-".
        limit: The threshold, or the centre of the interval for "+-" (the value's units).
        tol: The half-width of the interval for "+-"; 0 otherwise.
    """

    op: str
    limit: float
    tol: float = 0.0

    def __post_init__(self):
        if self.op not in (*_COMPARE, "+-"):
            raise ValueError(f"Bound: op must be one of <, <=, >, >=, +-, got {self.op!r}")
        if self.tol < 0 or (self.tol and self.op != "+-"):
            raise ValueError(f"Bound: tol must be >= 0 and only set with op '+-', got {self.tol}")

    def met(self, values: ArrayLike) -> np.ndarray:
        """Whether each value meets the bound.

        Args:
            values: Measured values, any shape.

        Returns:
            Booleans, the shape of `values`.
        """
        v = np.asarray(values, float)
        if self.op == "+-":
            return np.abs(v - self.limit) <= self.tol
        return _COMPARE[self.op](v, self.limit)

    def interval_meets(self, lo: float, hi: float) -> bool | None:
        """Whether every value of the interval [lo, hi] meets the bound (True), none does
        (False), or some do (None: it straddles an edge).

        Args:
            lo: The interval's lower end.
            hi: Its upper end (>= lo).

        Returns:
            True, False or None.
        """
        if self.op == "+-":
            inside = self.limit - self.tol <= lo and hi <= self.limit + self.tol
            outside = hi < self.limit - self.tol or lo > self.limit + self.tol
        else:  # one-sided: the ends are the interval's extremes
            ends = self.met([lo, hi])
            inside, outside = bool(ends.all()), not ends.any()
        return True if inside else False if outside else None

    def worst(self, values: ArrayLike) -> float:
        """The value furthest on the wrong side of the bound: the largest for "<" and "<=",
        the smallest for ">" and ">=", the furthest from the centre for "+-".

        Args:
            values: Measured values, shape (k,), k >= 1, none NaN.

        Returns:
            One of `values`.
        """
        v = np.asarray(values, float)
        if self.op == "+-":
            return float(v[np.argmax(np.abs(v - self.limit))])
        return float(v.max() if self.op in ("<", "<=") else v.min())

    def __str__(self) -> str:
        if self.op == "+-":
            return f"within {_num(self.limit)} +- {_num(self.tol)}"
        return f"{self.op} {_num(self.limit)}"


def below(limit: float) -> Bound:
    """The bound value < limit.

    Args:
        limit: The threshold, in the measured value's units.

    Returns:
        The bound (its text, `str(bound)`, states it: "< limit").
    """
    return Bound("<", limit)


def at_most(limit: float) -> Bound:
    """The bound value <= limit.

    Args:
        limit: The threshold, in the measured value's units.

    Returns:
        The bound (its text, `str(bound)`, states it: "<= limit").
    """
    return Bound("<=", limit)


def above(limit: float) -> Bound:
    """The bound value > limit.

    Args:
        limit: The threshold, in the measured value's units.

    Returns:
        The bound (its text, `str(bound)`, states it: "> limit").
    """
    return Bound(">", limit)


def at_least(limit: float) -> Bound:
    """The bound value >= limit.

    Args:
        limit: The threshold, in the measured value's units.

    Returns:
        The bound (its text, `str(bound)`, states it: ">= limit").
    """
    return Bound(">=", limit)


def within(target: float, tol: float) -> Bound:
    """The bound |value - target| <= tol.

    Args:
        target: The interval's centre, in the measured value's units.
        tol: Its half-width, >= 0.

    Returns:
        The bound ("within target +- tol").
    """
    return Bound("+-", target, tol)


@dataclass(frozen=True)
class BoundCheck:
    """A rule's finding on values against a bound.

    Attributes:
        value: The number judged: the value itself (`judge_value`), the worst run
            (`judge_every_run`) or the fraction of runs (`judge_fraction`); NaN when none.
        n: How many values were judged (runs, or 1).
        agrees: True, False, or None (not resolved: nothing measured).
        reason: Why not resolved; empty otherwise.
    """

    value: float
    n: int
    agrees: bool | None
    reason: str = ""


def judge_value(value: float, bound: Bound) -> BoundCheck:
    """One measured number (a statistic of the runs: a median, a ratio) against a bound.

    Args:
        value: The number, in the bound's units.
        bound: What it must meet.

    Returns:
        Agrees when the value meets the bound, contradicts when not, not resolved when it is
            NaN (not measured).
    """
    v = float(value)
    if math.isnan(v):
        return BoundCheck(v, 0, None, "not measured")
    return BoundCheck(v, 1, bool(bound.met(v)))


def judge_every_run(
    values: ArrayLike, bound: Bound, reasons: ArrayLike | None = None
) -> BoundCheck:
    """A bound every run must meet.

    Args:
        values: One measured value per run, shape (k,); NaN marks a run not measured.
        bound: What each must meet.
        reasons: Per run, why it was not measured (shape (k,)); when given, a run not
            measured leaves the outcome open instead of being left out.

    Returns:
        The worst run's value (`Bound.worst`) and the count of measured runs; contradicts
            when a measured run misses the bound; otherwise agrees when every measured run
            meets it, unless `reasons` is given and some run was not measured (then not
            resolved, with the commonest reasons); not resolved when no run was measured.
    """
    v = np.asarray(values, float).ravel()
    missing = np.isnan(v)
    why = "no measured runs"
    if reasons is not None and missing.any():
        top = pd.Series(np.asarray(reasons, object).ravel()[missing]).value_counts().head(3)
        why = f"{int(missing.sum())} of {v.size} runs not measured: " + "; ".join(
            f"{k} ({c})" for k, c in top.items()
        )
    v = v[~missing]
    if not v.size:
        return BoundCheck(math.nan, 0, None, why)
    met = bool(bound.met(v).all())
    if met and reasons is not None and missing.any():
        return BoundCheck(bound.worst(v), int(v.size), None, why)
    return BoundCheck(bound.worst(v), int(v.size), met)


def judge_fraction(met: ArrayLike, share: Bound) -> BoundCheck:
    """The fraction of runs that meet a condition, against a bound on that fraction.

    Args:
        met: Per run, whether it meets the condition (booleans, shape (k,); for values
            against a bound, `bound.met(values)`).
        share: What the fraction in [0, 1] must meet: `at_least(0.9)`, or `above(0)` for
            "some run".

    Returns:
        The fraction and the count of runs; agrees when the fraction meets `share`,
            contradicts when not, not resolved when there are no runs.
    """
    m = np.asarray(met, bool).ravel()
    if not m.size:
        return BoundCheck(math.nan, 0, None, "no runs")
    fraction = float(m.mean())
    return BoundCheck(fraction, int(m.size), bool(share.met(fraction)))


def _num(x: float) -> str:
    """x as `:g` writes it, the exponent without padding (1e-8, not 1e-08)."""
    mantissa, e, exponent = f"{x:g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if e else mantissa
