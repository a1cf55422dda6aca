"""What every reproduction shares: claims tables, figures, power-law fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Claim:
    """One row of a claims table: what the paper states, what was measured, and whether
    the measurement agrees (judged by a rule stated in `criterion`)."""

    claim: str
    paper: str
    measured: str
    agrees: bool
    criterion: str = ""


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    df = pd.DataFrame([asdict(c) for c in claims])
    df["agrees"] = df["agrees"].map({True: "yes", False: "no"})
    return df


def write_claims(claims: Sequence[Claim], out: Path, title: str) -> pd.DataFrame:
    """Write claims.md (a Markdown table) and claims.csv under out; return the frame."""
    df = claims_frame(claims)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "claims.csv", index=False)
    lines = [
        f"# {title}",
        "",
        "| claim | paper | measured | agrees | criterion |",
        "|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        cells = [r.claim, r.paper, r.measured, r.agrees, r.criterion]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    (out / "claims.md").write_text("\n".join(lines) + "\n")
    return df


def print_claims(df: pd.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    for col in ("claim", "paper", "measured", "agrees"):
        table.add_column(col, overflow="fold")
    for r in df.itertuples():
        style = "green" if r.agrees == "yes" else "red"
        table.add_row(r.claim, r.paper, r.measured, f"[{style}]{r.agrees}[/{style}]")
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
