"""The paper reproductions, each a module declaring `REPRODUCTION` on the skeleton
(`iblab.experiments.skeleton`), which a researcher's claims file uses too."""

from iblab.experiments.skeleton import (
    Analysis,
    ClaimSpec,
    Figure,
    Group,
    Measured,
    Reproduction,
    Rule,
    reanalyse,
    reproduce,
)

REPRODUCTIONS = {
    "lai2026": "iblab.experiments.lai2026",
    "frei2023": "iblab.experiments.frei2023",
    "kou2023": "iblab.experiments.kou2023",
}

__all__ = [
    "REPRODUCTIONS",
    "Analysis",
    "ClaimSpec",
    "Figure",
    "Group",
    "Measured",
    "Reproduction",
    "Rule",
    "reanalyse",
    "reproduce",
]
