"""Reproduce Kou, Chen, Gu, "Implicit Bias of Gradient Descent for Two-layer ReLU and Leaky
ReLU Networks on Nearly-orthogonal Data" (NeurIPS 2023, arXiv 2310.18935).

Claims tested: on nearly-orthogonal data (||x_i||^2 >= C n max_{k != i} |<x_i, x_k>|), GD
with a constant step on a two-layer network (first layer trained, second fixed, logistic
loss) finds, for leaky ReLU, a first layer whose stable rank ||W||_F^2 / ||W||_2^2
converges to 1; for ReLU, one whose stable rank stays bounded by a constant; for both,
every training point asymptotically has the same normalised margin y_i f(x_i) / ||W||_F;
experiments on synthetic and real data back this up. Beside them, two questions the Frei
et al. (2023) reproduction raises: does GD at a finite step end where the exact gradient
flow ends (its stable rank and normalised margin), and is the equal-margin limit a KKT
point of the max-margin problem (the flow's is, by Frei et al.)?

Runs (`runs.groups`): GD at every lr_factor and the exact flow (`optimizer:
gradient_flow`) from the same data and W_0, leaky ReLU and ReLU, on Gram-sampled Gaussian
data at every d and init scale; GD on scikit-learn's digits (two classes). Every per-record
figure (stable rank, the largest stable rank of the two sign blocks of W, the spread of
the margins, the KKT residual) is a history column; each run's limits are judged from
their trend over its last decades of steps (GD) or its last third in log t (the flow, on
the log-time clock to t = e^10000)
(`skeleton.limit_checks`, rules.py), and the claims tally the runs in the theorems' scope
(small init, near-orthogonal sets; digits rows read the sets where the condition fails and
say so).

Layout (as every reproduction, declared on `iblab.experiments.skeleton`): settings, runs,
rules, claims, figures. `REPRODUCTION.reproduce(out, quick)` trains into the store `out` what is
not stored there yet, then writes claims.md / claims.csv, index.md, settings.md,
settings.json, limits.csv (each run's limits), analysis.parquet, history.parquet and the
figures beside the runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iblab.experiments import skeleton

from .claims import CLAIMS
from .figures import FIGURES
from .rules import FLOW_LIMITS, GD_LIMITS
from .runs import FLOW, GD, evaluate, groups, make_config
from .settings import ABOUT, FULL, QUICK, TITLE, KouSettings

__all__ = [
    "CLAIMS",
    "FIGURES",
    "FULL",
    "QUICK",
    "REPRODUCTION",
    "KouSettings",
    "evaluate",
    "groups",
    "make_config",
    "prepare",
    "tidy",
]

TAGS = ["method", "data", "act", "lr_factor", "d", "init_scale_rel", "seed"]
TWINS = ["data", "act", "d", "seed", "init_scale_rel"]  # runs with one data set and one W_0


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The analysis frame with the columns the claims and figures read, named plainly:
    d, init_scale_rel, seed, the step lr (GD: lr_factor n / mean ||x_i||^2), kou_ratio =
    R_min^2 / (n p) (the paper's near-orthogonality), Frei's orthogonality_ratio, and
    init_ratio = ||W_0||_F / ||W_1 - W_0||_F of GD's first step at lr_factor 1 (from the GD
    runs with the same data and W_0; nan without one)."""
    df = frame.copy()
    df["d"] = df["data_d"].astype(float)
    df["init_scale_rel"] = df["config.init.scale"]
    df["seed"] = df["config.seed"].astype(int)
    n = df["config.data.n"].astype(float)
    df["lr"] = df["lr_factor"] * n / df["data_tr_sigma"]
    df["kou_ratio"] = df["data_R_min"] ** 2 / (n * df["data_p_max"])
    df["orthogonality_ratio"] = df["data_orthogonality_ratio"]
    # ||W_0|| / ||W_1 - W_0|| at lr_factor 1 (the first step is linear in lr), per (set, W_0):
    gd = df[df["method"] == GD].assign(init_ratio=lambda g: g.init_to_step_ratio * g.lr_factor)
    return df.join(gd.groupby(TWINS)["init_ratio"].median(), on=TWINS)


def prepare(frame: pd.DataFrame, history: pd.DataFrame, s: KouSettings) -> skeleton.Analysis:
    """The tidied runs with each run's limit checks joined (GD's on steps, the flow's on
    flow time; rules.py); derived: `checks` and `diag` (the records with the runs' tags,
    t: flow time, or lr * step for GD, the flow time GD's step approximates, and log10_t:
    its log10, from the records' log t for the flow, whose t is inf past 1e300)."""
    runs = tidy(frame)
    checks = pd.concat([
        skeleton.limit_checks(runs[runs["method"] == GD], history, GD_LIMITS),
        skeleton.limit_checks(runs[runs["method"] == FLOW], history, FLOW_LIMITS),
    ])  # fmt: skip
    if len(checks):
        runs = runs.join(checks, on="run_id")
    tags = runs[["run_id", *TAGS, "lr", "init_ratio"]].drop_duplicates("run_id")
    diag = history.merge(tags, on="run_id")
    flow = diag["method"] == FLOW
    diag["t"] = diag["time"].where(flow, diag["lr"] * diag["step"])
    with np.errstate(divide="ignore"):
        diag["log10_t"] = np.where(flow, diag["log_time"] / np.log(10.0), np.log10(diag["t"]))
    return skeleton.Analysis(runs, history, {"checks": checks, "diag": diag})


def limits_table(a: skeleton.Analysis) -> pd.DataFrame | None:
    """Each run's tags, how far it got and its limit checks (limits.csv)."""
    checks = a.derived["checks"]
    if not len(checks):
        return None
    reached = [
        "stabilisation_step",
        "stabilisation_time",
        "init_share_final",
        "init_ratio",
        "kou_ratio",
    ]
    runs = a.runs.drop_duplicates("run_id")
    return runs[["run_id", *TAGS, *[c for c in reached if c in runs], *checks.columns]]


REPRODUCTION = skeleton.Reproduction(
    name="kou2023",
    title=TITLE,
    full=FULL,
    quick=QUICK,
    groups=groups,
    claims=CLAIMS,
    figures=FIGURES,
    evaluate=evaluate,
    prepare=prepare,
    tables={"limits": limits_table},
    about=ABOUT,
)
