"""Outcomes in three values, and how two or more combine (Kleene's logic: an unresolved part
decides nothing the resolved parts have not already decided)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Judged(Protocol):
    """Anything a rule returns: an outcome and, when not resolved, why."""

    agrees: bool | None
    reason: str


@dataclass(frozen=True)
class Verdict:
    """An outcome: True (agrees), False (contradicts) or None (not resolved), and why not
    resolved (empty otherwise)."""

    agrees: bool | None
    reason: str = ""


def all_of(*checks: Judged) -> Verdict:
    """Every part must agree.

    Args:
        *checks: The parts' outcomes (anything with `agrees` and `reason`).

    Returns:
        Contradicts when any part contradicts, agrees when every part agrees, else not
            resolved, with the unresolved parts' reasons.
    """
    return _combine(checks, decisive=False)


def any_of(*checks: Judged) -> Verdict:
    """Some part must agree.

    Args:
        *checks: The parts' outcomes (anything with `agrees` and `reason`).

    Returns:
        Agrees when any part agrees, contradicts when every part contradicts, else not
            resolved, with the unresolved parts' reasons.
    """
    return _combine(checks, decisive=True)


def _combine(checks, decisive: bool) -> Verdict:
    """`decisive` if any part has it, else not resolved if any part is, else `not decisive`."""
    outcomes = [c.agrees for c in checks]
    if decisive in outcomes:
        return Verdict(decisive)
    if None in outcomes:
        return Verdict(None, _reasons(checks))
    return Verdict(not decisive)


def _reasons(checks) -> str:
    """The unresolved parts' reasons, each once, in order."""
    return "; ".join(dict.fromkeys(c.reason for c in checks if c.agrees is None and c.reason))
