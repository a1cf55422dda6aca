"""The pages a reproduction writes beside its claims: index.md (the claims table with its
figures, one page per reproduction on the docs site) and settings.md (every setting)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from iblab.claims import claims_markdown


def write_pages(rep, table: pd.DataFrame, figures: list[str], settings, out: Path) -> None:
    """Write index.md and settings.md under out.

    Args:
        rep: The reproduction (`Reproduction`).
        table: Its claims table (`iblab.claims.claims_frame`'s).
        figures: The names of the figures drawn (name.png under out).
        settings: The settings it ran with (a dataclass).
        out: The results folder.
    """
    (out / "index.md").write_text(index_text(rep.title, table, figures))
    (out / "settings.md").write_text(settings_text(rep, settings))


def index_text(title: str, table: pd.DataFrame, figures: list[str]) -> str:
    """The reproduction's page.

    Args:
        title: Its heading.
        table: The claims table (`iblab.claims.claims_frame`'s).
        figures: The names of the figures (name.png beside the page).

    Returns:
        Markdown: the claims table, links to the details and settings, every figure.
    """
    lines = [f"# {title}", "", claims_markdown(table).split("\n\n")[0], ""]
    lines += ["Each claim's criterion and measurements: [the claims in detail](claims.md); "
              "every setting: [settings](settings.md).", "", "## Figures", ""]  # fmt: skip
    for name in figures:
        lines += [f"### {name.replace('_', ' ')}", "", f"![{name}]({name}.png)", ""]
    return "\n".join(lines)


def settings_text(rep, settings) -> str:
    """The settings page.

    Args:
        rep: The reproduction (its title and `about`).
        settings: The settings it ran with (a dataclass).

    Returns:
        Markdown: what it runs, then every setting by name.
    """
    lines = [f"# {rep.title}: settings", ""]
    lines += [rep.about, ""] if rep.about else []
    lines += [f"- {k}: {v}" for k, v in dataclasses.asdict(settings).items()]
    lines += ["", "The criteria that decide the claims are listed once each under Criteria "
              "in [the claims table](claims.md)."]  # fmt: skip
    return "\n".join(lines) + "\n"
