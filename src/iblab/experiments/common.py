"""What every reproduction shares: claims tables, figures, power-law fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

OUTCOMES = {True: "agrees", False: "contradicts", None: "not resolved"}


@dataclass(frozen=True)
class Claim:
    """One row of a claims table: what the paper states, what was measured, and the outcome
    by a rule stated in `criterion`: agrees (True), contradicts (False: the measurement is
    converged, above its floor, and disagrees) or not resolved (None: not converged, below
    the floor, too few usable runs; `reason` says which)."""

    claim: str
    paper: str
    measured: str
    agrees: bool | None
    criterion: str = ""
    reason: str = ""


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    df = pd.DataFrame([asdict(c) for c in claims])
    df.insert(3, "outcome", df.pop("agrees").map(lambda a: OUTCOMES[a]))
    return df


def write_claims(claims: Sequence[Claim], out: Path, title: str) -> pd.DataFrame:
    """Write claims.md (a Markdown table) and claims.csv under out; return the frame."""
    df = claims_frame(claims)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "claims.csv", index=False)
    lines = [
        f"# {title}",
        "",
        "| claim | paper | measured | outcome | criterion |",
        "|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        outcome = f"{r.outcome} ({r.reason})" if r.reason else r.outcome
        cells = [r.claim, r.paper, r.measured, outcome, r.criterion]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    (out / "claims.md").write_text("\n".join(lines) + "\n")
    return df


def print_claims(df: pd.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    for col in ("claim", "paper", "measured", "outcome"):
        table.add_column(col, overflow="fold")
    styles = {"agrees": "green", "contradicts": "red", "not resolved": "yellow"}
    for r in df.itertuples():
        style = styles[r.outcome]
        shown = f"{r.outcome}: {r.reason}" if r.reason else r.outcome
        table.add_row(r.claim, r.paper, r.measured, f"[{style}]{shown}[/{style}]")
    Console().print(table)


def save_figure(fig, out: Path, name: str) -> list[Path]:
    """Save fig as name.png and name.pdf under out; close it."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


@dataclass(frozen=True)
class PowerLawFit:
    """log y = intercept + exponent * log x, with a bootstrap 95% interval."""

    exponent: float
    intercept: float
    low: float
    high: float
    n_points: int

    def __str__(self) -> str:
        return f"{self.exponent:.3f} [{self.low:.3f}, {self.high:.3f}]"


def fit_power_law(x, y, n_boot: int = 1000, seed: int = 0) -> PowerLawFit:
    """Least-squares fit of log y against log x (all positive), resampling points
    (pairs bootstrap) for the 95% percentile interval of the exponent."""
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
    """A power law judged against its measuring instrument (see `judge_power_law`)."""

    full: PowerLawFit | None  # every usable point
    high: PowerLawFit | None  # points with x <= high_max (the high-dimensional regime)
    floor: float  # what the instrument measures where the true value is 0
    agrees: bool | None
    reason: str

    def text(self, x_name: str, high_max: float) -> str:
        def fit(f):
            return "no fit" if f is None else f"{f} ({f.n_points} points)"

        return (
            f"full-range fit {fit(self.full)}; high-dimensional fit ({x_name} <= {high_max:g}) "
            f"{fit(self.high)}; floor {self.floor:.2g}"
        )


def judge_power_law(
    x, y, floor: float, target: float, tol: float, high_max: float,
    max_width: float = 0.2, margin: float = 3.0, min_points: int = 10, n_boot: int = 1000,
) -> LawCheck:  # fmt: skip
    """Fit log y against log x twice, over every point with y > 0 and over those with
    x <= high_max, and decide with rules fixed before measuring. The outcome is the
    high-dimensional fit's: not resolved when it has fewer than `min_points` points or
    they lie at fewer than 3 values of x, when at any of its x values the median y (zeros
    counted) is within `margin` times the instrument's floor, or when its 95% interval is
    wider than max_width; otherwise agrees when |exponent - target| <= tol and contradicts
    when not."""
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
    return LawCheck(full, high, floor, bool(abs(high.exponent - target) <= tol), "")


def _try_fit(x, y, n_boot: int) -> PowerLawFit | None:
    try:
        return fit_power_law(x, y, n_boot=n_boot)
    except ValueError:
        return None


@dataclass(frozen=True)
class LimitCheck:
    """A quantity's t -> inf limit judged from its trend (see `judge_limit`)."""

    end: float  # its value at the last record
    limit: float  # extrapolated to 1 / log t = 0 (nan when not fitted)
    agrees: bool | None  # limit <= tol (True), > tol (False), or not resolved (None)
    reason: str


def judge_limit(
    time, q, tol: float, *, planned: float, last_switch: float, window_decades: float = 10.0,
    min_records: int = 4,
) -> LimitCheck:  # fmt: skip
    """Whether q(t) -> a limit <= tol along a flow recorded at times `time` (increasing, the
    first > 0 record is taken as the time unit t_0), by a rule fixed before measuring.

    The window is the last `window_decades` decades of flow time before the last record.
    Not resolved when the run stopped before its planned time, when the activation pattern
    still changed inside the window (last_switch, the time of the last switch), or when the
    window holds fewer than `min_records` records. Otherwise q is fitted on the window as
    q_inf + c / log(t / t_0) (directional convergence under the logistic loss is
    logarithmic in t) and extrapolated: agrees when both the last value and q_inf are <=
    tol, contradicts when both are > tol, not resolved when they straddle tol (the trend
    would cross it beyond the last record)."""
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
