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

Layout (as every reproduction): settings, runs (the configs and the per-run evaluation),
claims (fits and the claims table), figures. `reproduce(out, quick)` trains into the store
`out` what is not stored there yet, then writes claims.md / claims.csv, settings.json,
analysis.parquet (one row per planned run), history.parquet (per record) and the
figures (PNG and PDF) beside the runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iblab.experiments import pipeline

from .claims import TITLE, claims, fits
from .figures import make_figures
from .runs import evaluate, make_config, plan, reading_of
from .settings import LaiSettings

__all__ = [
    "REPRODUCTION",
    "LaiSettings",
    "analyse",
    "claims",
    "evaluate",
    "fits",
    "make_config",
    "plan",
    "reading_of",
    "reproduce",
    "tidy",
]


def tidy(frame: pd.DataFrame, s: LaiSettings) -> pd.DataFrame:
    """The analysis frame with the columns the claims and figures read, named plainly;
    interpolated: the run fits every reachable target within s.interp_residual; counted:
    it does and its reference solved to optimality (Clarabel can stop at "optimal
    inaccurate", seen at d = 1e8, and the gap to such a point is not a gap): the runs that
    fits, floors and the orthogonal rows use."""
    df = frame.copy()
    orthogonal = df["config.data.kind"] == "orthogonal"
    df["n"] = df["config.data.n"].astype(int)
    df["d"] = df["config.data.d"].astype(int)
    df["seed"] = df["config.seed"].astype(int)
    df["spectrum"] = df["config.data.spectrum.kind"].where(~orthogonal, "orthogonal")
    df["tr_sigma"] = df["data_tr_sigma"]
    df["n_over_d"] = df.n / df.d
    df["n_over_tr_sigma"] = df.n / df.tr_sigma
    df["lr_factor"] = df["config.train.lr"]
    df["step_budget"] = df["config.train.steps"].astype("Int64")  # none for flow runs
    df["final_loss"] = df["loss"]
    df["interpolated"] = (df["fit_residual"] <= s.interp_residual).astype(bool)
    df["counted"] = df["interpolated"] & (df["ref_status"] == "optimal")
    return df


def analyse(frame: pd.DataFrame, history, s: LaiSettings, out: Path) -> list:
    df = tidy(frame, s)
    f = fits(df, s)
    make_figures(df, f, _dynamics(df, history), s, out)
    return claims(df, s, f)


def _dynamics(df: pd.DataFrame, h: pd.DataFrame) -> dict:
    """(reading, d) -> per-record arrays, for the runs that recorded their coefficients."""
    rec = df[df.group.isin(["d_single", "d_width"]) & df["config.record.coefficients"]]
    if not len(rec) or "gap_to_ref" not in h:
        return {}
    out = {}
    for r in rec.drop_duplicates("run_id").itertuples():
        g = h[h.run_id == r.run_id]
        if len(g) and np.isfinite(g["gap_to_ref"]).any():
            out[(r.reading, int(r.d))] = {
                "step": g["step"].to_numpy(),
                "gap": g["gap_to_ref"].to_numpy(),
                "prediction_change": g["prediction_change"].to_numpy(),
                "pattern_changes": g["pattern_changes"].to_numpy(),
                "residual_max": g["residual_max"].to_numpy(),
            }
    return out


REPRODUCTION = pipeline.Reproduction(
    name="lai2026",
    title=TITLE,
    settings=lambda quick: LaiSettings.quick() if quick else LaiSettings.full(),
    plan=plan,
    evaluate=evaluate,
    analyse=analyse,
)


def reproduce(out: Path, quick: bool = False, settings: LaiSettings | None = None, executor=None):
    """Run the reproduction into the store `out`; print and return the claims table."""
    return pipeline.reproduce(REPRODUCTION, out, quick, settings, executor)
