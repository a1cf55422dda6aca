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
* flow: exact gradient flow (`optimizer: gradient_flow`) from every init scale to flow
  time `flow_time` (1e30); each run's rank-2 and KKT residuals are judged from their trend
  over the last decades of flow time (`iblab.claims.judge_limit`), the rows say how
  many runs converged and how far each got (flow_limits.csv).

Runs of one (data set, seed) share the data and the direction of W_0: W_0 is linear in
`init.scale` (the init stream does not hash the scale), so scales are directly comparable.
The activation is leaky ReLU (gamma = 0.1): the paper proves its gradient-flow results for
leaky ReLU (they rest on the implicit bias of homogeneous networks) and its gradient-descent
(one step, stable rank) results for a smoothed leaky ReLU; we use leaky ReLU throughout, for
which the KKT residual of the max-margin problem is meaningful (it is 1-homogeneous).

Layout (as every reproduction): settings, runs (the configs and the per-run evaluation),
claims, figures; `diagnostics` holds the per-record diagnose(). `reproduce(out, quick)`
trains into the store `out` what is not stored there yet (the per-record diagnostics are
history columns of each run), then writes claims.md / claims.csv, settings.json,
analysis.parquet (one row per run), history.parquet (per record) and the figures (PNG
and PDF) beside the runs.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pandas as pd

from iblab.experiments import pipeline

from .claims import limit_checks, make_claims
from .diagnostics import diagnose
from .figures import (
    figure_flow_limits,
    figure_kkt_alignment,
    figure_stable_rank,
    figure_test_accuracy,
)
from .runs import evaluate, make_config, plan
from .settings import CRITERIA, FULL, QUICK, TITLE, Criteria, FreiSettings

__all__ = [
    "CRITERIA",
    "FULL",
    "QUICK",
    "REPRODUCTION",
    "Criteria",
    "FreiSettings",
    "analyse",
    "diagnose",
    "evaluate",
    "limit_checks",
    "make_claims",
    "make_config",
    "plan",
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


def analyse(frame, history, s: FreiSettings, out: Path, criteria: Criteria = CRITERIA):
    """Figures under out and the claims, from the stored runs; flow_limits.csv: how far each
    flow run got and what its limit check found."""
    runs = tidy(frame)
    checks = limit_checks(runs, history, criteria)
    if len(checks):
        runs = runs.join(checks, on="run_id")
        reached = ["flow_time", "stabilization_time", "events", "init_share_final"]
        columns = ["run_id", *TAGS, *reached, *checks.columns]
        flow = runs[runs["phase"] == "flow"].drop_duplicates("run_id")
        flow[columns].to_csv(out / "flow_limits.csv", index=False)
    diag = history.merge(runs[["run_id", *TAGS]].drop_duplicates("run_id"), on="run_id")
    figure_stable_rank(diag, out)
    figure_kkt_alignment(diag, out)
    figure_test_accuracy(runs, s, out)
    if len(checks):
        figure_flow_limits(diag, runs, criteria, out)
    claims = make_claims(runs, s, criteria)
    with (out / "settings.md").open("w") as fh:
        fh.write(settings_text(s, criteria))
    return claims


def settings_text(settings: FreiSettings, crit: Criteria) -> str:
    s = dataclasses.asdict(settings)
    lines = [
        "## Settings used",
        "",
        "Leaky ReLU (gamma = slope), logistic loss, first layer trained, second layer "
        "balanced +-1/sqrt(m) and fixed; data sampled as Gram blocks (`sample: gram`); "
        "constant-step GD with lr = lr_factor * n / d, then loss-normalised GD "
        "(lr_t = min(lr / L_t, lr_max_factor * lr)). Init scales are relative to Glorot's std "
        "sqrt(2 / (d + m)). Which of these are our choices (the paper does not state them) "
        "is listed in `FreiSettings`'s docstring: beta, label noise, n_test, lr, step "
        "counts, lr_max, init scales, recording.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in s.items()]
    lines += ["", "Criteria (fixed before measuring):", ""]
    lines += [f"- {k}: {v}" for k, v in dataclasses.asdict(crit).items()]
    return "\n".join(lines) + "\n"


REPRODUCTION = pipeline.Reproduction(
    name="frei2023",
    title=TITLE,
    settings=lambda quick: QUICK if quick else FULL,
    plan=plan,
    evaluate=evaluate,
    analyse=analyse,
)


def reproduce(
    out: Path,
    quick: bool = False,
    settings: FreiSettings | None = None,
    criteria: Criteria = CRITERIA,
    executor=None,
) -> pd.DataFrame:
    """Run the reproduction into the store `out`; print and return the claims table.
    `settings` overrides the choice between FULL and QUICK (tests use a tiny one)."""
    rep = dataclasses.replace(REPRODUCTION, analyse=functools.partial(analyse, criteria=criteria))
    return pipeline.reproduce(rep, out, quick, settings, executor)
