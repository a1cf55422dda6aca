"""Reproduce Frei, Vardi, Bartlett, Srebro, Hu, "Implicit Bias in Leaky ReLU Networks
Trained on High-Dimensional Data" (ICLR 2023).

Claims tested: on nearly-orthogonal data, gradient flow on a two-layer leaky-ReLU network
(second layer fixed, logistic loss) converges in direction to a network of rank at most 2
that is a KKT point of min ||W||_F^2 s.t. y_i f(x_i; W) >= 1, whose decision boundary is
linear, sign f(x) = sign <z, x>, and close to the max-margin linear predictor u*; with a
small initialisation one gradient-descent step makes the stable rank ||W||_F^2 / ||W||_2^2
small and it stays small; with a large initialisation it does not.

Two phases, both on data sampled as Gram blocks (cost free of d):

* constant: GD with the constant step lr = lr_factor * n / d for `steps` steps, for every
  d in `dims`, every init scale in `init_scales` (relative to Glorot's std) and `seeds`
  seeds; the one-step and stays-small claims.
* long: the loss-normalised step lr_t = min(lr / L_t, lr_max) (a discretisation of gradient
  flow run at the speed of its margin growth) for `long_steps` steps; the limit claims
  (rank <= 2, KKT point, linear boundary, alignment with u*).
* flow: exact gradient flow (`optimizer: gradient_flow`) from every init scale on the
  log-time clock to log t = `flow_log_time` (10^4, t = e^10000); the theorem's limit is the
  direction of W(t), which, W_0 being fixed, is that of the learned part W - W_0: each
  run's rank-2 and KKT residuals of W - W_0 are judged from their trend over the last
  third of the run in log t (`iblab.claims.judge_run_limit` on log t, with no init-share guard),
  whatever share W_0 still has of W; the rows say how many runs converged and how far each
  got (flow_limits.csv). The loss-normalised rows on rank and KKT say what GD reaches at
  its last step.

Runs of one (data set, seed) share the data and the direction of W_0: W_0 is linear in
`init.scale` (the init stream does not hash the scale), so scales are directly comparable.
The activation is leaky ReLU (gamma = 0.1): the paper proves its gradient-flow results for
leaky ReLU (they rest on the implicit bias of homogeneous networks) and its gradient-descent
(one step, stable rank) results for a smoothed leaky ReLU; we use leaky ReLU throughout, for
which the KKT residual of the max-margin problem is meaningful (it is 1-homogeneous).

Layout (as every reproduction, declared on `iblab.experiments.skeleton`): settings (full
and quick), runs (the group table, the configs and the per-run evaluation), claims (each a
statistic and rules with their thresholds), figures; `limits` judges each flow run's limits,
`diagnostics` holds the per-record diagnose(). `reproduce(out, quick)` trains into the store
`out` what is not stored there yet (the per-record diagnostics are history columns of each
run), then writes claims.md / claims.csv, index.md, settings.md, settings.json,
flow_limits.csv, analysis.parquet (one row per run), history.parquet (per record) and the
figures (PNG and PDF) beside the runs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iblab.experiments import skeleton

from .claims import CLAIMS
from .diagnostics import diagnose
from .figures import FIGURES
from .limits import limit_checks
from .rules import LIMITS
from .runs import FLOW, GROUPS, evaluate, make_config
from .settings import ABOUT, FULL, QUICK, TITLE, FreiSettings

__all__ = [
    "CLAIMS",
    "FIGURES",
    "FULL",
    "GROUPS",
    "LIMITS",
    "QUICK",
    "REPRODUCTION",
    "FreiSettings",
    "diagnose",
    "evaluate",
    "limit_checks",
    "make_config",
    "plan",
    "prepare",
    "reproduce",
    "tidy",
]

TAGS = ["phase", "data", "d", "init_scale_rel", "seed"]


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The analysis frame with the columns the claims and figures read, named plainly."""
    df = frame.copy()
    df["d"] = df["config.data.d"].astype(float)
    df["init_scale_rel"] = df["config.init.scale"]
    df["seed"] = df["config.seed"].astype(int)
    df["lr"] = df["config.train.lr"]
    for name, info in (("R_min", "R_min"), ("R_max", "R_max"), ("p", "p_max")):
        df[name] = df[f"data_{info}"]
    df["orthogonality_ratio"] = df["data_orthogonality_ratio"]
    return df


def prepare(
    frame: pd.DataFrame, history: pd.DataFrame, s: FreiSettings, limits: dict = LIMITS
) -> skeleton.Analysis:
    """The tidied runs with each flow run's limit checks joined (`limits.limit_checks`, by
    the rules `limits`); derived: `checks` (those checks) and `diag` (the records with the
    runs' tags)."""
    runs = tidy(frame)
    checks = limit_checks(runs, history, limits)
    if len(checks):
        runs = runs.join(checks, on="run_id")
    diag = history.merge(runs[["run_id", *TAGS]].drop_duplicates("run_id"), on="run_id")
    return skeleton.Analysis(runs, history, {"checks": checks, "diag": diag})


def flow_limits(a: skeleton.Analysis) -> pd.DataFrame | None:
    """How far each flow run got and what its limit checks found (flow_limits.csv)."""
    checks = a.derived["checks"]
    if not len(checks):
        return None
    reached = ["flow_log_time", "stabilisation_log_time", "events", "init_share_final"]
    flow = a.runs[a.runs["phase"] == FLOW].drop_duplicates("run_id")
    return flow[["run_id", *TAGS, *reached, *checks.columns]]


REPRODUCTION = skeleton.Reproduction(
    name="frei2023",
    title=TITLE,
    full=FULL,
    quick=QUICK,
    groups=GROUPS,
    claims=CLAIMS,
    figures=FIGURES,
    evaluate=evaluate,
    prepare=prepare,
    tables={"flow_limits": flow_limits},
    about=ABOUT,
)


def plan(s: FreiSettings) -> skeleton.Planned:
    """Every run as (tags, config); tags: group, phase and data."""
    return REPRODUCTION.plan(s)


def reproduce(
    out: Path, quick: bool = False, settings: FreiSettings | None = None, executor=None,
    figures: bool = True,
):  # fmt: skip
    """Run the reproduction into the store `out`; print and return the claims table.
    `settings` overrides the choice between FULL and QUICK (tests use a tiny one);
    see `skeleton.reproduce`."""
    return skeleton.reproduce(REPRODUCTION, out, quick, settings, executor, figures=figures)
