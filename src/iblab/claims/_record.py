"""The claim record and the claims table (claims.csv, claims.md, the printed table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

OUTCOMES = {True: "agrees", False: "contradicts", None: "not resolved"}


@dataclass(frozen=True)
class Claim:
    """One row of a claims table: what the paper states, what was measured, and the outcome
    by the rule stated in `criterion`.

    Attributes:
        claim: The claim, in a sentence.
        paper: What the paper states.
        measured: What the runs measured, with their counts.
        agrees: True (agrees), False (contradicts: the measurement is resolved and
            disagrees) or None (not resolved: not converged, below the method's floor, too
            few usable runs; `reason` says which).
        criterion: The decision rule, fixed before measuring, with its thresholds.
        reason: Why the row is not resolved; empty otherwise.
    """

    claim: str
    paper: str
    measured: str
    agrees: bool | None
    criterion: str = ""
    reason: str = ""


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a table.

    Args:
        claims: The rows.

    Returns:
        One row per claim, columns claim, paper, measured, outcome ("agrees",
            "contradicts" or "not resolved"), criterion, reason.
    """
    df = pd.DataFrame([asdict(c) for c in claims])
    df.insert(3, "outcome", df.pop("agrees").map(lambda a: OUTCOMES[a]))
    return df


def write_claims(claims: Sequence[Claim], out: Path, title: str) -> pd.DataFrame:
    """Write claims.csv and claims.md (a Markdown table under the heading `title`).

    Args:
        claims: The rows.
        out: The folder to write into (created if missing).
        title: The Markdown heading.

    Returns:
        The table, as `claims_frame` gives it.
    """
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
    """Print the table (`claims_frame`'s) to the terminal, each outcome in its colour.

    Args:
        df: The table.
        title: The table's title.
    """
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
