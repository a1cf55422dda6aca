"""Reproduction of Lai, Wang, Tao, Muthukumar (COLT 2026, arXiv 2603.04895).

Claim: for high-dimensional random data, GD on a shallow ReLU model with squared loss ends
near the minimum-l2-norm global minimum, with a gap of order sqrt(n/d) (sqrt(n/||lambda||_1)
for covariance spectrum lambda); the activation pattern stabilises quickly; exactly
orthogonal data give the min-norm solution exactly; low-dimensional data give no implicit
bias in the worst case.

Readings: the single neuron (m = 1, a = 1; reference `SingleNeuronQP`, the point of the
global-minimum polyhedron nearest w_0) and width m (second layer fixed at +-1/sqrt(m);
reference `PatternQP` at GD's final pattern). A linear network checks the pipeline (its GD
limit is `MinNormLinear` exactly). All choices are fields of `LaiSettings`.

Layout (as every reproduction, declared on `iblab.experiments.skeleton`): settings (full
and quick), runs (the group table, the configs and the per-run evaluation), rules (the
thresholds), analysis (what claims and figures share), claims, figures.
`reproduce(out, quick)` trains into the store `out` what is not stored there yet, then writes
claims.md / claims.csv, index.md, settings.md, settings.json, analysis.parquet (one row per
planned run), history.parquet (per record) and the figures (PNG and PDF) beside the runs.
"""

from __future__ import annotations

from pathlib import Path

from iblab.experiments import skeleton

from .analysis import prepare, tidy
from .claims import claims
from .figures import FIGURES
from .runs import evaluate, groups, make_config, reading_of
from .settings import ABOUT, FULL, QUICK, TITLE, LaiSettings

__all__ = [
    "FIGURES",
    "FULL",
    "QUICK",
    "REPRODUCTION",
    "LaiSettings",
    "claims",
    "evaluate",
    "groups",
    "make_config",
    "plan",
    "prepare",
    "reading_of",
    "reproduce",
    "tidy",
]

REPRODUCTION = skeleton.Reproduction(
    name="lai2026",
    title=TITLE,
    full=FULL,
    quick=QUICK,
    groups=groups,
    claims=claims,
    figures=FIGURES,
    evaluate=evaluate,
    prepare=prepare,
    about=ABOUT,
)


def plan(s: LaiSettings) -> skeleton.Planned:
    """Every run as (tags, config); tags: group, reading (and lr_data for the lr sweep)."""
    return REPRODUCTION.plan(s)


def reproduce(
    out: Path, quick: bool = False, settings: LaiSettings | None = None, executor=None,
    figures: bool = True,
):  # fmt: skip
    """Run the reproduction into the store `out`; print and return the claims table
    (`skeleton.reproduce`)."""
    return skeleton.reproduce(REPRODUCTION, out, quick, settings, executor, figures=figures)
