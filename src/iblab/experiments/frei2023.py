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

Runs of one (data set, seed) share the data and the direction of W_0: the init scale only
rescales W_0 (P0 and G0 by scale and scale^2), which has the law of a fresh draw at that
scale and makes scales directly comparable. The activation is leaky ReLU (gamma = 0.1):
the paper proves its gradient-flow results for a smoothed leaky ReLU and its gradient-
descent (one step, stable rank) result for leaky ReLU; we use leaky ReLU throughout, for
which the KKT residual of the max-margin problem is meaningful (it is 1-homogeneous).

`reproduce(out, quick)` writes claims.md / claims.csv, runs.parquet (one row per run),
diagnostics.parquet (one row per recorded step of every run), settings.json, README.md and
the figures (PNG and PDF).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from iblab import figures
from iblab.config import Config
from iblab.experiments._frei_diagnostics import diagnose, fit_svm
from iblab.experiments.common import (
    Claim,
    print_claims,
    runs_frame,
    save_figure,
    write_claims,
    write_runs,
)
from iblab.problem import Problem

__all__ = [
    "CRITERIA",
    "FULL",
    "QUICK",
    "Criteria",
    "FreiSettings",
    "diagnose",
    "reproduce",
]

TITLE = "Frei, Vardi, Bartlett, Srebro, Hu (ICLR 2023): implicit bias of leaky ReLU networks"


@dataclass(frozen=True)
class FreiSettings:
    """What the reproduction runs.

    Given by the paper or fixed as this reproduction's defaults: n = 100 training
    points, width m = 512, leaky ReLU with gamma = 0.1, logistic loss, only the first layer
    trained, the two-cluster mixture x = y~ mu + z with ||mu|| = d^beta and label noise,
    isotropic Gaussian inputs with random labels, GD with a constant step, init scales from
    small to large.

    Our choices (the paper's text does not fix them): mean_norm_exponent beta = 0.3 (so
    ||mu|| = 15.8 at d = 10^4), label_noise = 0.1, n_test = 500 test points from the same
    law (noisy labels too), the step lr = lr_factor * n / d (the Hessian of the mean
    logistic loss in W scales like ||x||^2 |a|^2 / (4 n) ~ d / (4 n), so n / d is a quarter
    of the stability limit before the cluster direction is counted), `steps` and
    `long_steps`, lr_max = lr_max_factor * lr for the loss-normalised step, init scales
    relative to Glorot's std sqrt(2 / (d + m)); a run counts as small-init when
    ||W_0||_F <= small_init_ratio * ||W_1 - W_0||_F (the theorem asks the initialisation to
    be small next to the first step; with lr ~ n / d the first step shrinks like
    sqrt(n / d), so a fixed relative scale is not small at every d), and as large-init when
    its scale is >= large_scale_min (Glorot's default and larger); d = 10^13 (free with Gram
    sampling) is included because only there are the training sets close to the theorems'
    near-orthogonality condition with gamma = 0.1; the balanced second layer
    a_j = +-1/sqrt(m) (half each), geometric recording with `per_decade` records a decade
    (steps 0, 1, 2 always), seeds.
    """

    n: int = 100
    width: int = 512
    slope: float = 0.1
    dims: tuple[int, ...] = (10**3, 10**4, 10**5, 10**6, 10**13)
    init_scales: tuple[float, ...] = (1e-10, 1e-6, 1e-4, 1e-2, 1.0, 10.0)
    small_init_ratio: float = 0.1
    large_scale_min: float = 1.0
    seeds: int = 2
    mean_norm_exponent: float = 0.3
    label_noise: float = 0.1
    n_test: int = 500
    lr_factor: float = 1.0
    steps: int = 1000
    per_decade: int = 4
    random_label_dims: tuple[int, ...] = (10**6, 10**13)
    random_label_scales: tuple[float, ...] = (1e-10,)
    random_label_seeds: int = 2
    long_dims: tuple[int, ...] = (10**3, 10**4, 10**5, 10**6, 10**13)
    long_scales: tuple[float, ...] = (1e-10, 1.0)
    long_seeds: int = 2
    long_random_label_dims: tuple[int, ...] = (10**6, 10**13)
    long_random_label_seeds: int = 6
    long_steps: int = 3000
    long_per_decade: int = 4
    lr_max_factor: float = 1e250
    top_singular_values: int = 3
    dtype: str = "float64"

    def lr(self, d: int) -> float:
        return self.lr_factor * self.n / d


FULL = FreiSettings()

QUICK = FreiSettings(
    dims=(10**3, 10**5),
    init_scales=(1e-10, 1e-2, 1.0, 10.0),
    seeds=1,
    steps=200,
    per_decade=3,
    random_label_dims=(),
    random_label_seeds=0,
    long_dims=(10**3, 10**13),
    long_scales=(1e-10, 1.0),
    long_seeds=1,
    long_random_label_dims=(10**13,),
    long_random_label_seeds=4,
    long_steps=1000,
    long_per_decade=3,
)


@dataclass(frozen=True)
class Criteria:
    """Thresholds that turn measurements into "agrees: yes/no" (fixed before measuring).

    low_rank: "small stable rank" (the paper: at most an absolute constant; the limit has
    rank <= 2, so stable rank <= 2, and 3 leaves one unit of slack). keep_fraction: a large
    init "is not reduced" by one step when srank(1) >= keep_fraction * srank(0).
    rank2_tol: "rank at most 2" when ||W - W_2||_F <= rank2_tol ||W||_F (W_2 the best
    rank-2 approximation). kkt_tol, slack_tol: the KKT residual and the normalised
    complementary slackness at which W counts as a KKT point. cosine_min, agree_min: "close
    to the max-margin linear predictor". linear_agree_min: "linear decision boundary"
    (sign f == sign <z, x> on test points). acc_tol: test accuracy of the network equals the
    SVM's within this. near_orthogonal_c: the constant C in gamma^3 R_min^4 >= C n R_max^2 p
    (the paper needs a large C; 1 is the most lenient reading).
    """

    low_rank: float = 3.0
    keep_fraction: float = 0.5
    rank2_tol: float = 0.05
    kkt_tol: float = 0.1
    slack_tol: float = 0.1
    cosine_min: float = 0.9
    agree_min: float = 0.95
    linear_agree_min: float = 0.99
    acc_tol: float = 0.02
    near_orthogonal_c: float = 1.0


CRITERIA = Criteria()


# ------------------------------------------------------------------------------------ runs


@dataclass(frozen=True)
class RunPlan:
    phase: str  # "constant" or "long"
    data: str  # "mixture" or "random_labels"
    d: int
    scale: float
    seed: int


def plan(settings: FreiSettings) -> list[RunPlan]:
    """Every run, grouped by phase (runs of one phase share one compiled program)."""
    s = settings
    runs = [
        RunPlan("constant", "mixture", d, sc, seed)
        for d in s.dims
        for seed in range(s.seeds)
        for sc in s.init_scales
    ]
    runs += [
        RunPlan("constant", "random_labels", d, sc, seed)
        for d in s.random_label_dims
        for seed in range(s.random_label_seeds)
        for sc in s.random_label_scales
    ]
    runs += [
        RunPlan("long", "mixture", d, sc, seed)
        for d in s.long_dims
        for seed in range(s.long_seeds)
        for sc in s.long_scales
    ]
    runs += [
        RunPlan("long", "random_labels", d, min(s.long_scales), seed)
        for d in s.long_random_label_dims
        for seed in range(s.long_random_label_seeds)
    ]
    return runs


def _data_dict(settings: FreiSettings, data: str, d: int) -> dict:
    if data == "mixture":
        return {
            "kind": "mixture",
            "n": settings.n,
            "n_test": settings.n_test,
            "d": d,
            "mean_norm_exponent": settings.mean_norm_exponent,
            "label_noise": settings.label_noise,
            "sample": "gram",
        }
    return {
        "kind": "gaussian",
        "n": settings.n,
        "n_test": settings.n_test,
        "d": d,
        "sample": "gram",
        "labels": {"kind": "random_sign"},
    }


def config_for(settings: FreiSettings, run: RunPlan) -> Config:
    s = settings
    lr = s.lr(run.d)
    long = run.phase == "long"
    train = {
        "loss": "logistic",
        "optimizer": "gd",
        "lr": lr,
        "steps": s.long_steps if long else s.steps,
        "dtype": s.dtype,
    }
    if long:
        train |= {"schedule": "loss_normalized", "lr_max": s.lr_max_factor * lr}
    return Config.from_dict(
        {
            "seed": run.seed,
            "data": _data_dict(s, run.data, run.d),
            "model": {
                "width": s.width,
                "activation": "leaky_relu",
                "slope": s.slope,
                "second_layer": "balanced",
                "train_second_layer": False,
            },
            "init": {"scale": run.scale, "base": "glorot"},
            "train": train,
            "record": {
                "geometric": True,
                "per_decade": s.long_per_decade if long else s.per_decade,
                "spectrum": True,
                "top_singular_values": s.top_singular_values,
                "coefficients": True,
            },
        }
    )


def rescaled(problem: Problem, scale: float) -> Problem:
    """The problem with W_0 multiplied by scale (P0, P0_test by scale, G0 by scale^2)."""
    return dataclasses.replace(
        problem,
        P0=problem.P0 * scale,
        sampled_G0=problem.G0 * scale**2,
        P0_test=problem.P0_test * scale,
    )


class _DataCache:
    """One base problem (init scale 1) and one SVM per (data, d, seed)."""

    def __init__(self, settings: FreiSettings):
        self.settings = settings
        self._problems: dict[tuple, Problem] = {}
        self._svms: dict[tuple, object] = {}

    def key(self, run: RunPlan) -> tuple:
        return (run.data, run.d, run.seed)

    def problem(self, run: RunPlan) -> Problem:
        from iblab.data import make_problem

        k = self.key(run)
        if k not in self._problems:
            unit = dataclasses.replace(run, scale=1.0)
            self._problems[k] = make_problem(config_for(self.settings, unit))
        return rescaled(self._problems[k], run.scale)

    def svm(self, run: RunPlan):
        k = self.key(run)
        if k not in self._svms:
            self._svms[k] = fit_svm(self._problems[k])
        return self._svms[k]


def _run_extras(run: RunPlan, result, diag: pd.DataFrame, svm) -> dict:
    """Per-run figures for the runs table."""
    p, h = result.problem, result.history
    after = diag[diag["step"] >= 1]
    last = diag.iloc[-1]
    sep = diag[np.isfinite(diag["kkt_residual"])]
    w0 = abs(float(h["s"].iloc[0])) * math.sqrt(max(float(np.trace(p.G0)), 0.0))
    C1 = result.coefficients[1] if result.coefficients is not None and len(h) > 1 else None
    step1 = math.sqrt(max(float(np.sum(C1 * (C1 @ p.K))), 0.0)) if C1 is not None else np.nan
    svm_ok = svm.status_ == "optimal"
    svm_test_acc = (
        float(np.mean(np.sign(svm.decision_function(p.K_test)) == p.y_test))
        if svm_ok and p.n_test > 0
        else np.nan
    )
    return {
        "phase": run.phase,
        "data": run.data,
        "d": run.d,
        "init_scale_rel": run.scale,
        "seed": run.seed,
        "lr": result.config.train.lr,
        "R_min": p.info.get("R_min", np.nan),
        "R_max": p.info.get("R_max", np.nan),
        "p": p.info.get("p_max", np.nan),
        "orthogonality_ratio": p.info.get("orthogonality_ratio", np.nan),
        "init_to_step_ratio": w0 / step1 if step1 > 0 else np.nan,
        "stable_rank_step0": float(diag["stable_rank"].iloc[0]),
        "stable_rank_step1": float(diag["stable_rank"].iloc[1]) if len(diag) > 1 else np.nan,
        "stable_rank_final": float(last["stable_rank"]),
        "stable_rank_max_after_step1": float(after["stable_rank"].max()),
        "rank2_residual_final": float(last["rank2_residual"]),
        "kkt_residual_final": float(last["kkt_residual"]),
        "kkt_residual_first_separating": float(sep["kkt_residual"].iloc[0]) if len(sep) else np.nan,
        "slackness_normalized_final": float(last["slackness_normalized"]),
        "cosine_svm_final": float(last["cosine_svm"]),
        "z_margin_ratio_final": float(last["z_margin_ratio"]),
        "svm_test_agreement_final": float(last["svm_test_agreement"]),
        "linear_test_agreement_final": float(last["linear_test_agreement"]),
        "svm_status": svm.status_,
        "svm_margin": float(svm.margin_),
        "svm_test_accuracy": svm_test_acc,
    }


def run_all(
    settings: FreiSettings, log: Callable[[str], None] = print
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every planned run; return (runs table, diagnostics table)."""
    from iblab.train import BATCH_CHUNK, train_many

    runs = plan(settings)
    cache = _DataCache(settings)
    kept, extras, diags = [], [], []
    by_phase: dict[str, list[RunPlan]] = {}
    for r in runs:
        by_phase.setdefault(r.phase, []).append(r)
    for phase, group in by_phase.items():
        t0 = time.perf_counter()
        for start in range(0, len(group), BATCH_CHUNK):
            chunk = group[start : start + BATCH_CHUNK]
            configs = [config_for(settings, r) for r in chunk]
            problems = [cache.problem(r) for r in chunk]
            results = train_many(configs, problems)
            for run, res in zip(chunk, results, strict=True):
                svm = cache.svm(run)
                diag = diagnose(res, svm)
                extra = _run_extras(run, res, diag, svm)
                run_id = f"{phase}-{run.data}-d{run.d}-s{run.scale:g}-seed{run.seed}"
                extra["run_id"] = run_id
                diag.insert(0, "run_id", run_id)
                for k in ("phase", "data", "d", "init_scale_rel", "seed"):
                    diag[k] = extra[k]
                diags.append(diag)
                extras.append(extra)
                kept.append(SimpleNamespace(config=res.config, summary=res.summary))
            del results
        log(f"phase {phase}: {len(group)} runs in {time.perf_counter() - t0:.1f} s")
    return runs_frame(kept, extras), pd.concat(diags, ignore_index=True)


# ---------------------------------------------------------------------------------- claims


def _fmt(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else str(v)


def _range(x: pd.Series) -> str:
    return f"{_fmt(x.min())}..{_fmt(x.max())}"


def _by_d(group: pd.DataFrame, column: str) -> str:
    """'max by d: 1e+03: 0.2, ...' for the measured column."""
    worst = group.groupby("d")[column].max()
    return "max by d: " + ", ".join(f"{d:.0e}: {_fmt(v)}" for d, v in worst.items())


def make_claims(
    runs: pd.DataFrame, settings: FreiSettings, crit: Criteria = CRITERIA
) -> list[Claim]:
    s = settings
    const = runs[runs["phase"] == "constant"]
    long = runs[runs["phase"] == "long"]
    small = runs["init_to_step_ratio"] <= s.small_init_ratio
    small_c = const[small[const.index]]
    large_c = const[const["init_scale_rel"] >= s.large_scale_min]
    small_l = long[small[long.index]]
    large_l = long[long["init_scale_rel"] >= s.large_scale_min]
    claims = []

    sets = runs.drop_duplicates(["data", "d", "seed"])
    ratio = sets["orthogonality_ratio"]
    by_d = sets.groupby("d")["orthogonality_ratio"].median()
    claims.append(
        Claim(
            "Training sets are nearly orthogonal (the theorems' assumption)",
            "gamma^3 R_min^4 >= C n R_max^2 p for a large constant C",
            f"gamma^3 R_min^4 / (3 n R_max^2 p) = {_range(ratio)} over {len(sets)} sets "
            f"(median by d: {', '.join(f'{d:.0e}: {_fmt(v)}' for d, v in by_d.items())})",
            bool(len(ratio) and ratio.min() * 3 >= crit.near_orthogonal_c),
            f"min over sets of gamma^3 R_min^4 / (n R_max^2 p) >= C = {crit.near_orthogonal_c}",
        )
    )

    if len(small_c):
        r1 = small_c["stable_rank_step1"]
        claims.append(
            Claim(
                "One GD step from a small init drastically reduces the stable rank",
                "srank(W_1) <= C (absolute constant) while srank(W_0) is of order m",
                f"srank(W_0) {_range(small_c['stable_rank_step0'])} -> srank(W_1) "
                f"{_range(r1)} over {len(small_c)} runs with ||W_0||_F <= "
                f"{s.small_init_ratio:g} ||W_1 - W_0||_F",
                bool(r1.max() <= crit.low_rank),
                f"max srank(W_1) <= {crit.low_rank} over small-init constant-step runs",
            )
        )
        stays = pd.concat([small_c, small_l])["stable_rank_max_after_step1"]
        claims.append(
            Claim(
                "With a small init the stable rank stays small throughout training",
                "srank(W_t) <= C for all t >= 1",
                f"max_t>=1 srank(W_t) {_range(stays)} over {len(stays)} runs "
                f"(constant step, {s.steps} steps; loss-normalised, {s.long_steps} steps)",
                bool(stays.max() <= crit.low_rank),
                f"max over runs and recorded t >= 1 of srank <= {crit.low_rank}",
            )
        )
    if len(large_c):
        keep = large_c["stable_rank_step1"] / large_c["stable_rank_step0"]
        final = large_c["stable_rank_final"]
        claims.append(
            Claim(
                "With a large init (Glorot default and larger) the rank is not reduced",
                "experiments: small init is important for low-rank networks; large init "
                "keeps a high stable rank",
                f"srank(W_1) / srank(W_0) >= {_fmt(keep.min())}; srank at step {s.steps} "
                f"{_range(final)} (median {_fmt(final.median())}) over {len(large_c)} runs "
                f"(init >= {s.large_scale_min:g} x Glorot)",
                bool(keep.min() >= crit.keep_fraction and final.median() > crit.low_rank),
                f"min srank(W_1)/srank(W_0) >= {crit.keep_fraction} and median final "
                f"srank > {crit.low_rank}",
            )
        )
    for label, group in (("a small init", small_l), ("the Glorot init or larger", large_l)):
        if not len(group):
            continue
        res = group["rank2_residual_final"]
        srank = group["stable_rank_final"]
        claims.append(
            Claim(
                f"Gradient flow (loss-normalised GD, {s.long_steps} steps) from {label} "
                "ends at rank <= 2",
                "gradient flow converges in direction to a network of rank at most 2 "
                "(any initialisation)",
                f"||W - W_2||_F / ||W||_F = {_range(res)} "
                f"({_by_d(group, 'rank2_residual_final')}), srank {_range(srank)} "
                f"over {len(group)} runs",
                bool(res.max() <= crit.rank2_tol),
                f"max ||W - W_2||_F / ||W||_F <= {crit.rank2_tol} (W_2 best rank-2 approx.)",
            )
        )
    holds = small_l[3 * small_l["orthogonality_ratio"] >= crit.near_orthogonal_c]
    if len(holds):
        res, kkt = holds["rank2_residual_final"], holds["kkt_residual_final"]
        claims.append(
            Claim(
                "Where the training set is nearly orthogonal, the limit from a small init "
                "has rank <= 2 and is a KKT point",
                "the gradient-flow theorem, under its assumption",
                f"{len(holds)} small-init long runs on sets with "
                f"gamma^3 R_min^4 / (n R_max^2 p) >= "
                f"{crit.near_orthogonal_c:g} (d = "
                f"{', '.join(f'{d:.0e}' for d in sorted(holds['d'].unique()))}): "
                f"||W - W_2||_F / ||W||_F {_range(res)}, KKT residual {_range(kkt)}",
                bool(res.max() <= crit.rank2_tol and kkt.max() <= crit.kkt_tol),
                f"max rank-2 residual <= {crit.rank2_tol} and max KKT residual <= {crit.kkt_tol}",
            )
        )
    if len(small_l):
        kkt = small_l["kkt_residual_final"]
        slack = small_l["slackness_normalized_final"]
        first = small_l["kkt_residual_first_separating"]
        acc = small_l["accuracy"]
        claims.append(
            Claim(
                "The limit is a KKT point of min ||W||_F^2 s.t. y_i f(x_i; W) >= 1",
                "gradient flow converges in direction to a KKT point of the "
                "parameter-space max-margin problem",
                f"KKT residual {_range(first)} (first separating record) -> {_range(kkt)} "
                f"(final; {_by_d(small_l, 'kkt_residual_final')}); complementary "
                f"slackness / sum(lambda) {_range(slack)}; train "
                f"accuracy {_range(acc)} over {len(small_l)} small-init runs",
                bool(
                    kkt.max() <= crit.kkt_tol and slack.max() <= crit.slack_tol and acc.min() == 1.0
                ),
                f"train accuracy 1, max final KKT residual <= {crit.kkt_tol} and "
                f"max normalised slackness <= {crit.slack_tol}",
            )
        )
        lin = small_l["linear_test_agreement_final"]
        claims.append(
            Claim(
                "The decision boundary is linear: sign f(x) = sign <z, x>, z = W^T a",
                "the limit network has a linear decision boundary",
                f"test agreement of sign f with sign <z, x>: {_range(lin)} over "
                f"{len(small_l)} runs ({s.n_test} test points each)",
                bool(lin.min() >= crit.linear_agree_min),
                f"min test agreement >= {crit.linear_agree_min}",
            )
        )
        cos = small_l["cosine_svm_final"]
        agree = small_l["svm_test_agreement_final"]
        ratio_m = small_l["z_margin_ratio_final"]
        claims.append(
            Claim(
                "z is close to the max-margin linear predictor u* (SVM on K, y)",
                "the linear decision boundary corresponds to an approximate-max-margin "
                "linear predictor",
                f"cos(z, u*) {_range(cos)}; sign f vs sign <u*, x> on test points "
                f"{_range(agree)}; margin of z / margin of u* {_range(ratio_m)}",
                bool(cos.min() >= crit.cosine_min and agree.min() >= crit.agree_min),
                f"min cos(z, u*) >= {crit.cosine_min} and min test agreement >= {crit.agree_min}",
            )
        )
        mix = small_l[small_l["data"] == "mixture"]
        if len(mix):
            gap = (mix["test_accuracy"] - mix["svm_test_accuracy"]).abs()
            claims.append(
                Claim(
                    "Consequence: the network tests like u* (noisy two-cluster mixture)",
                    "implied by the linear, approximately max-margin decision boundary",
                    f"|test acc - SVM test acc| {_range(gap)}; network test accuracy "
                    f"{_range(mix['test_accuracy'])} (1 - label noise = "
                    f"{1 - s.label_noise:g})",
                    bool(gap.max() <= crit.acc_tol),
                    f"max |test accuracy - SVM test accuracy| <= {crit.acc_tol}",
                )
            )
    return claims


# --------------------------------------------------------------------------------- figures


PHASE_NAMES = {
    "constant": "constant step",
    "long": "loss-normalised step (lr / L)",
}


def _band(ax, df: pd.DataFrame, column: str, color, label: str) -> None:
    g = df.groupby("step")[column]
    med, lo, hi = g.median(), g.min(), g.max()
    ax.plot(med.index, med.to_numpy(), color=color, label=label, lw=1.2)
    if df["seed"].nunique() > 1:
        ax.fill_between(med.index, lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.2, lw=0)


def _scale_label(sc: float) -> str:
    return f"init {sc:g} x Glorot"


def _d_label(d: float) -> str:
    return f"d = {figures.power_of_ten(d)}"


def figure_stable_rank(diag: pd.DataFrame, out: Path) -> list[Path]:
    """Stable rank against step (symlog x: linear on [0, 1], log after), one panel per
    (step rule, d) that was run, one colour per init scale, one legend below."""
    plt = figures.pyplot()
    mix = diag[diag["data"] == "mixture"]
    order = {"constant": 0, "long": 1}
    combos = sorted({(p, d) for p, d in zip(mix["phase"], mix["d"], strict=True)},
                    key=lambda pd_: (order.get(pd_[0], 2), pd_[1]))  # fmt: skip
    colors = figures.colors_for(diag["init_scale_rel"])
    ncols = min(len(combos), 3) or 1
    nrows = -(-len(combos) // ncols) or 1
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(figures.TEXT_WIDTH, 1.9 * nrows + 0.8), squeeze=False,
        sharey=True, layout="constrained",
    )  # fmt: skip
    for ax in axes.ravel()[len(combos) :]:
        ax.set_visible(False)
    for ax, (phase, d) in zip(axes.ravel(), combos, strict=False):
        sub = mix[(mix["phase"] == phase) & (mix["d"] == d)]
        for sc, g in sub.groupby("init_scale_rel"):
            _band(ax, g, "stable_rank", colors[sc], _scale_label(sc))
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("log")
        ax.set_title(f"{PHASE_NAMES[phase]}, {_d_label(d)}", fontsize=7)
        ax.set_xlabel("step")
    for row in axes:
        row[0].set_ylabel("stable rank")
    figures.legend_below(fig, axes, ncol=3)
    return save_figure(fig, out, "stable_rank_vs_step")


def figure_kkt_alignment(diag: pd.DataFrame, out: Path) -> list[Path]:
    """KKT residual, cosine(z, u*) and rank-2 residual against step, loss-normalised runs."""
    plt = figures.pyplot()
    long = diag[(diag["phase"] == "long") & (diag["data"] == "mixture")]
    if not len(long):
        long = diag[diag["data"] == "mixture"]
    dims = sorted(long["d"].unique())
    colors = figures.colors_for(diag["init_scale_rel"])  # the same colours in every figure
    rows = [
        ("kkt_residual", "KKT residual", "log"),
        ("cosine_svm", "cos(W^T a, u*)", "linear"),
        ("rank2_residual", "rank-2 residual\n||W - W_2|| / ||W||", "log"),
    ]
    fig, axes = plt.subplots(
        len(rows), len(dims), figsize=(figures.TEXT_WIDTH, 1.4 * len(rows) + 0.9),
        squeeze=False, sharex=True, sharey="row", layout="constrained",
    )  # fmt: skip
    for j, d in enumerate(dims):
        sub = long[long["d"] == d]
        for i, (col, name, yscale) in enumerate(rows):
            ax = axes[i, j]
            for sc, g in sub.groupby("init_scale_rel"):
                g = g[np.isfinite(g[col])]
                if len(g):
                    _band(ax, g, col, colors[sc], _scale_label(sc))
            ax.set_xscale("symlog", linthresh=1)
            ax.set_yscale(yscale)
            if i == 0:
                ax.set_title(_d_label(d))
            if i == len(rows) - 1:
                ax.set_xlabel("step")
            if j == 0:
                ax.set_ylabel(name)
    fig.suptitle(f"{PHASE_NAMES['long']}; median over seeds, band: min to max", fontsize=8)
    figures.legend_below(fig, axes, ncol=3)
    return save_figure(fig, out, "kkt_alignment_vs_step")


def figure_test_accuracy(runs: pd.DataFrame, settings: FreiSettings, out: Path) -> list[Path]:
    """Final test accuracy against d: network per (step rule, init scale), the SVM u*.
    Lines are not drawn across more than two decades of d without runs."""
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(figures.COLUMN_WIDTH, 3.4), layout="constrained")
    mix = runs[runs["data"] == "mixture"]
    colors = figures.colors_for(runs["init_scale_rel"])
    for (phase, sc), g in mix.groupby(["phase", "init_scale_rel"]):
        m = g.groupby("d")["test_accuracy"].agg(["mean", "std"])
        ax.errorbar(
            m.index, m["mean"], yerr=m["std"].fillna(0.0), color=colors[sc], ls="none",
            marker="o" if phase == "constant" else "s", ms=3, capsize=2,
        )  # fmt: skip
        x, y = figures.break_gaps(m.index, m["mean"])
        ax.plot(x, y, color=colors[sc], ls="-" if phase == "constant" else "--",
                label=f"{PHASE_NAMES[phase]}, {_scale_label(sc)}")  # fmt: skip
    svm = mix.drop_duplicates(["d", "seed"]).groupby("d")["svm_test_accuracy"].mean()
    x, y = figures.break_gaps(svm.index, svm.to_numpy())
    ax.plot(x, y, color="black", ls=":", marker="x", label="max-margin linear predictor u*")
    rl = runs[runs["data"] == "random_labels"]
    if len(rl):
        m = rl.groupby("d")["test_accuracy"].mean()
        ax.plot(m.index, m.to_numpy(), "^", color="grey", label="network, random labels")
    ax.axhline(1 - settings.label_noise, color="grey", lw=0.8, ls="-.",
               label="1 - label noise (best possible)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("d")
    ax.set_ylabel("test accuracy (noisy labels)")
    figures.legend_below(fig, [ax], ncol=1)
    return save_figure(fig, out, "test_accuracy_vs_d")


# ------------------------------------------------------------------------------- reproduce


def _settings_text(settings: FreiSettings, crit: Criteria) -> str:
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


def reproduce(
    out: Path,
    quick: bool = False,
    settings: FreiSettings | None = None,
    criteria: Criteria = CRITERIA,
) -> pd.DataFrame:
    """Run the reproduction into `out`; return the claims frame. `settings` overrides the
    choice between FULL and QUICK (tests use a tiny one)."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = settings or (QUICK if quick else FULL)
    runs, diag = run_all(settings)
    write_runs(runs, out)
    diag.to_parquet(out / "diagnostics.parquet", index=False)
    figure_stable_rank(diag, out)
    figure_kkt_alignment(diag, out)
    figure_test_accuracy(runs, settings, out)
    claims = make_claims(runs, settings, criteria)
    df = write_claims(claims, out, TITLE)
    elapsed = time.perf_counter() - t0
    text = _settings_text(settings, criteria)
    with open(out / "claims.md", "a") as fh:
        fh.write("\n" + text)
    (out / "settings.json").write_text(
        json.dumps(
            {
                "settings": dataclasses.asdict(settings),
                "criteria": dataclasses.asdict(criteria),
                "quick": quick,
                "wall_time_s": elapsed,
            },
            indent=2,
        )
    )
    readme = [
        f"# {TITLE}",
        "",
        f"{'Quick' if quick else 'Full'} reproduction, {len(runs)} runs, "
        f"{elapsed:.0f} s wall time.",
        "",
        "Files: claims.md / claims.csv (the claims table), runs.parquet (one row per run, "
        "with R_min, R_max, p, orthogonality_ratio and stable rank at steps 0, 1 and the "
        "end), diagnostics.parquet (per recorded step: stable rank, rank-2 residual, KKT "
        "residual, complementary slackness, cos(z, u*), test agreements), figures "
        "stable_rank_vs_step, kkt_alignment_vs_step, test_accuracy_vs_d (.png, .pdf).",
        "",
        text,
    ]
    (out / "README.md").write_text("\n".join(readme))
    print_claims(df, TITLE)
    print(f"wrote {out} in {elapsed:.0f} s")
    return df
