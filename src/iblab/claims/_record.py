"""The claim record and the claims table (claims.csv, claims.md, the printed table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

OUTCOMES = {True: "agrees", False: "contradicts", None: "not resolved"}
CELL_MAX = 80  # the longest cell of the claims table, in characters


@dataclass(frozen=True)
class Claim:
    """One row of a claims table: what the paper states, what was measured, and the outcome
    by the rule stated in `criterion`.

    Attributes:
        claim: The claim, in a few words.
        paper: What the paper states.
        measured: What the runs measured, with their counts (the row's details).
        agrees: True (agrees), False (contradicts: the measurement is resolved and
            disagrees) or None (not resolved: not converged, below the method's floor, too
            few usable runs; `reason` says which).
        criterion: The decision rule, fixed before measuring, with its thresholds.
        reason: Why the row is not resolved; empty otherwise.
        estimate: The estimate with its interval or range, in a few words (the table's
            cell; `measured` holds the rest).
    """

    claim: str
    paper: str
    measured: str
    agrees: bool | None
    criterion: str = ""
    reason: str = ""
    estimate: str = ""


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a table.

    Args:
        claims: The rows.

    Returns:
        One row per claim, columns claim, paper, estimate, outcome ("agrees",
            "contradicts" or "not resolved"), measured, criterion, reason.
    """
    columns = ["claim", "paper", "estimate", "outcome", "measured", "criterion", "reason"]
    df = pd.DataFrame([asdict(c) for c in claims], columns=[*columns[:3], "agrees", *columns[4:]])
    df.insert(3, "outcome", df.pop("agrees").map(lambda a: OUTCOMES[a]))
    return df[columns]


def write_claims(
    claims: Sequence[Claim], out: Path, title: str, note: str = "", cell_max: int = CELL_MAX
) -> pd.DataFrame:
    """Write claims.csv and claims.md: a table a reader takes in at a glance (claim, paper,
    estimate, outcome; cells of at most `cell_max` characters), each criterion once, and a
    details section per claim below.

    Args:
        claims: The rows.
        out: The folder to write into (created if missing).
        title: The Markdown heading.
        note: Markdown under the table (how the table was made).
        cell_max: The longest table cell; longer text is cut (the details keep it whole).

    Returns:
        The table, as `claims_frame` gives it.
    """
    df = claims_frame(claims)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "claims.csv", index=False)
    parts = [f"# {title}", "", claims_markdown(df, cell_max)]
    parts += [note] if note else []
    parts += [criteria_markdown(df), details_markdown(df)]
    (out / "claims.md").write_text("\n".join(parts))
    return df


def claims_markdown(df: pd.DataFrame, cell_max: int = CELL_MAX) -> str:
    """The claims table in Markdown: claim | paper | estimate | outcome, one row per claim.

    Args:
        df: The table (`claims_frame`'s).
        cell_max: The longest cell; longer text is cut with "...".

    Returns:
        The Markdown table, with a line pointing to the details.
    """
    lines = ["| claim | paper | estimate | outcome |", "|---|---|---|---|"]
    for r in df.itertuples():
        cells = [r.claim, r.paper, r.estimate or "-", r.outcome]
        lines.append("| " + " | ".join(_cell(str(c), cell_max) for c in cells) + " |")
    lines += ["", "Each criterion is stated once under Criteria; each claim's measurements, "
              "its criterion and, where not resolved, why, are under Details.", ""]  # fmt: skip
    return "\n".join(lines)


def criteria_markdown(df: pd.DataFrame) -> str:
    """Each distinct criterion once, numbered, with the claims it decides.

    Args:
        df: The table (`claims_frame`'s).

    Returns:
        A Markdown section "## Criteria".
    """
    lines = ["## Criteria", ""]
    for k, (criterion, rows) in enumerate(_criteria(df).items(), 1):
        lines.append(f"{k}. {criterion} (claims {', '.join(map(str, rows))})")
    return "\n".join(lines) + "\n"


def details_markdown(df: pd.DataFrame) -> str:
    """Per claim: what the paper states, what was measured, the criterion, the outcome.

    Args:
        df: The table (`claims_frame`'s).

    Returns:
        A Markdown section "## Details", one subsection per claim.
    """
    number = {c: k for k, c in enumerate(_criteria(df), 1)}
    lines = ["## Details", ""]
    for k, r in enumerate(df.itertuples(), 1):
        outcome = f"{r.outcome}: {r.reason}" if r.reason else r.outcome
        criterion = f"criterion {number[r.criterion]}" if r.criterion in number else "none"
        lines += [f"### {k}. {r.claim}", "", f"- paper: {r.paper}", f"- measured: {r.measured}",
                  f"- decided by: {criterion}", f"- outcome: {outcome}", ""]  # fmt: skip
    return "\n".join(lines)


def _criteria(df: pd.DataFrame) -> dict[str, list[int]]:
    """Each distinct criterion and the (1-based) rows it decides, in order of first use."""
    out: dict[str, list[int]] = {}
    for k, c in enumerate(df.criterion, 1):
        if isinstance(c, str) and c:
            out.setdefault(c, []).append(k)
    return out


def _cell(text: str, cell_max: int) -> str:
    """One table cell: at most cell_max characters, pipes escaped."""
    text = text if len(text) <= cell_max else text[: cell_max - 3].rstrip() + "..."
    return text.replace("|", "\\|")


def print_claims(df: pd.DataFrame, title: str) -> None:
    """Print the table (`claims_frame`'s) to the terminal, each outcome in its colour.

    Args:
        df: The table.
        title: The table's title.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    for col in ("claim", "paper", "estimate", "outcome"):
        table.add_column(col, overflow="fold")
    styles = {"agrees": "green", "contradicts": "red", "not resolved": "yellow"}
    for r in df.itertuples():
        style = styles[r.outcome]
        shown = f"{r.outcome}: {r.reason}" if r.reason else r.outcome
        table.add_row(r.claim, r.paper, r.estimate or "-", f"[{style}]{shown}[/{style}]")
    Console().print(table)
