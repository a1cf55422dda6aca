"""Lai et al. (2026) reproduction: settings, run configs, training and reference comparison.

Every number that is our choice (the paper's exact setting is not known to us) is a field of
`LaiSettings`, documented there; `lai2026.reproduce` reports which were used.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from iblab.config import Config, Spectrum
from iblab.data import make_problem
from iblab.data._spectrum import traces
from iblab.gram import distance_sq, preactivations
from iblab.problem import Problem
from iblab.references import (
    MinNormLinear,
    PatternQP,
    SingleNeuronQP,
    gap,
    kkt_violations,
    pattern_of,
)
from iblab.train import TrainResult, train_many

Reading = Literal["single", "width", "linear"]


@dataclass(frozen=True)
class LaiSettings:
    """Every choice of the reproduction. None of these is known from the paper; each value
    is ours, and the README says which reproduce the sqrt(n/d) law.

    Sizes. n: training points of the d sweeps (n fixed); ds: the input dimensions of the d
    sweeps (Gram-sampled Gaussian data, so d up to 1e6 costs what d = 100 costs);
    n_values, n_sweep_d: the n sweep at fixed d; seeds: seeds per (d or n) point; n_test:
    test points for the function-space gap (equal in every run so that runs share one
    compiled program).

    Models. width: m of the width-m reading, second layer balanced +-1/sqrt(m), fixed
    (only W trains); the single-neuron reading is m = 1, a = 1. init_scale: W_0 entries
    N(0, (init_scale / sqrt(d))^2), so <w_0, x> is of order init_scale.

    Optimisation. lr = lr_factor * n / ||K||_2, K = X X^T (the curvature of
    1/(2n) sum (f - y)^2 is at most ||K||_2 |a|^2 / n; ||K||_2 ~ tr Sigma (1 + sqrt(n/d))^2
    for high-dimensional data, much more for low-dimensional correlated data); constant
    step, full-batch GD, float64; at
    most `steps` steps, stopping when the loss falls below `tol`. A run counts as reaching a
    global minimum when max_i |f(x_i) - y_i| <= interp_residual (y_i replaced by
    max(y_i, 0) for the single neuron, whose best output on y_i <= 0 is 0); others are flagged
    (`interpolated` False in the runs table) and left out of every fit.

    Labels. labels: y ~ N(0, label_noise^2) ("noise") or y = <beta, x> + label_noise xi
    ("linear", beta a random unit vector). single_labels: the single neuron's targets.
    "init_active" (default): |y_i| where <w_0, x_i> > 0 and -|y_i| elsewhere, so every
    positive target sits on a point the neuron sees at initialisation (a point with y_i > 0
    and <w_0, x_i> <= 0 gets no gradient and, for nearly orthogonal data, stays dead: GD
    then never reaches a global minimum). "init_active_zero": as init_active with 0 instead
    of -|y_i|. "plain": the labels as drawn (many runs then do not interpolate).

    Gap. gap_normalisation: the quantity whose exponent is fitted: "relative" =
    ||theta_GD - theta_ref|| / ||theta_ref - theta_0|| (default) or "absolute" =
    ||theta_GD - theta_ref||; both are always recorded and both exponents reported.
    exponent_tolerance: a fitted exponent "agrees" with 1/2 when |exponent - 0.5| <= it.

    Spectra. power_law_exponent: lambda_k ~ k^-exponent (tr Sigma = d); spikes: spiked
    spectrum (lambda = spikes, then 1). aniso_ds: the d values of the anisotropic sweeps.

    Extremes. low_ds: dimensions of the low-dimensional correlated extreme (n points,
    spiked spectrum low_spikes, n > d); orthogonal: exactly orthogonal inputs with
    ||x_i||^2 = orthogonal_d, d = orthogonal_d.

    Width-m references: pattern QPs at GD's final pattern and at the initial pattern (the
    latter only for the default-lr d sweep and the extremes; each is a Clarabel solve).

    Step size (discretisation). On exactly orthogonal inputs gradient flow ends at the
    min-norm point (Boursier et al. 2022): a pre-activation that reaches 0 stops there. GD
    with a finite step overshoots 0 by up to one step, so its gap has a floor of order lr
    (measured: relative gap ~ 0.08 lr_factor at m = n = 32). lr_sweep_factors: the width-m
    runs on orthogonal inputs (d = orthogonal_d) and on Gaussian inputs at d = lr_sweep_d,
    lr_sweep_seeds seeds each, at every factor (group "lr_sweep"): the gap-vs-lr row and
    figure. small_lr_factor: the width-m d sweep is repeated at this factor (group
    "d_width_small_lr", dimensions small_lr_ds, default ds), a gradient-flow proxy; its
    exponent is a separate claims row next to the default-lr one. Every small-lr run gets
    the step budget steps * lr_factor / min(lr_sweep_factors + (small_lr_factor,)) (lr *
    steps as at the default lr, for the smallest factor; one budget so that they share one
    compiled program) and stops at `tol` like every run.

    Single-neuron labels not conditioned on the initialisation ("plain") are not a reading
    of the reproduction: a point with y_i > 0 and <w_0, x_i> <= 0 receives no gradient and,
    on nearly orthogonal data, stays dead, so with n = 32 nearly every run (all but ~2^-16
    of them at n/2 positive labels) ends away from a global minimum and leaves the fit.
    """

    n: int = 32
    ds: tuple[int, ...] = (300, 1000, 3000, 10_000, 100_000, 1_000_000)
    n_values: tuple[int, ...] = (16, 32, 64)
    n_sweep_d: int = 10_000
    seeds: int = 4
    n_test: int = 64
    width: int = 32
    width_seeds: int = 3
    init_scale: float = 1.0
    lr_factor: float = 0.5
    steps: int = 4000
    tol: float = 1e-22
    interp_residual: float = 1e-6
    labels: Literal["noise", "linear"] = "noise"
    label_noise: float = 1.0
    single_labels: Literal["init_active", "init_active_zero", "plain"] = "init_active"
    gap_normalisation: Literal["relative", "absolute"] = "relative"
    exponent_tolerance: float = 0.15
    power_law_exponent: float = 0.5
    spikes: tuple[float, ...] = (30.0, 10.0)
    aniso_ds: tuple[int, ...] = (1000, 10_000, 100_000, 1_000_000)
    aniso_seeds: int = 3
    low_ds: tuple[int, ...] = (2, 3, 5)
    low_spikes: tuple[float, ...] = (4.0,)
    orthogonal_d: int = 4096
    extreme_seeds: int = 3
    per_decade: int = 10
    record_coefficients: bool = True
    n_boot: int = 1000
    extra_readings: tuple[str, ...] = field(default=())
    small_lr_factor: float = 0.02
    small_lr_ds: tuple[int, ...] | None = None
    lr_sweep_factors: tuple[float, ...] = (0.5, 0.1, 0.02, 0.005)
    lr_sweep_d: int = 10_000
    lr_sweep_seeds: int = 2

    @classmethod
    def quick(cls) -> LaiSettings:
        """About 1-2 minutes on 2 cores."""
        return cls(
            n=32,
            ds=(300, 1000, 3000, 10_000, 100_000, 1_000_000),
            n_values=(16, 32, 64),
            seeds=4,
            width=32,
            width_seeds=2,
            aniso_ds=(1000, 10_000, 100_000, 1_000_000),
            aniso_seeds=2,
            extreme_seeds=2,
        )

    @classmethod
    def full(cls) -> LaiSettings:
        """The full run (its measured time is in the README and in its settings.json).
        Width 64: each width-m pattern QP (m n = 4096 variables) takes a few seconds; at
        width 128 the QPs alone passed the time budget."""
        return cls(
            n=64,
            ds=(300, 1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000),
            n_values=(16, 32, 64, 128, 256),
            n_sweep_d=100_000,
            seeds=12,
            n_test=128,
            width=64,
            width_seeds=4,
            lr_sweep_seeds=3,
            aniso_ds=(1000, 3000, 10_000, 100_000, 1_000_000),
            aniso_seeds=6,
            extreme_seeds=4,
            steps=8000,
        )

    def small_lr_steps(self) -> int:
        """The step budget of every small-lr run (see the class docstring)."""
        smallest = min((*self.lr_sweep_factors, self.small_lr_factor))
        return int(math.ceil(self.steps * max(self.lr_factor / smallest, 1.0)))

    def describe(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


# ------------------------------------------------------------------ configs and problems


@dataclass
class RunSpec:
    """One run of the reproduction: its group, reading, data and seed."""

    group: str
    reading: Reading
    n: int
    d: int
    seed: int
    spectrum: Spectrum = Spectrum()
    data_kind: Literal["gaussian", "orthogonal"] = "gaussian"
    tags: dict = field(default_factory=dict)
    lr_factor: float | None = None  # None: LaiSettings.lr_factor
    steps: int | None = None  # None: LaiSettings.steps
    init_qp: bool = True  # width m: also the pattern QP at the initial pattern


def lr_factor_of(s: LaiSettings, r: RunSpec) -> float:
    return s.lr_factor if r.lr_factor is None else r.lr_factor


def tr_sigma(spec: RunSpec) -> float:
    if spec.data_kind == "orthogonal":
        return float(spec.d)
    return float(traces(spec.spectrum, spec.d)[0])


def make_config(s: LaiSettings, r: RunSpec, lr: float = 1.0) -> Config:
    """The run's config. Its data and initialisation do not depend on lr (they are seeded
    without the train part), so the problem can be made first and lr set from it
    (`stable_lr`)."""
    width = s.width if r.reading in ("width", "linear") else 1
    labels = {"kind": s.labels, "noise": s.label_noise}
    data: dict = {"n": r.n, "n_test": s.n_test, "d": r.d, "labels": labels}
    if r.data_kind == "orthogonal":
        data |= {"kind": "orthogonal"}
    else:
        data |= {"kind": "gaussian", "sample": "gram", "spectrum": r.spectrum.model_dump()}
    model = {
        "width": width,
        "activation": "linear" if r.reading == "linear" else "relu",
        "second_layer": [1.0] if r.reading == "single" else "balanced",
    }
    raw = {
        "seed": r.seed,
        "data": data,
        "model": model,
        "init": {"scale": s.init_scale, "base": "inv_sqrt_d"},
        "train": {
            "loss": "square",
            "optimizer": "gd",
            "lr": lr,
            "steps": s.steps if r.steps is None else r.steps,
            "tol": s.tol,
            "dtype": "float64",
        },
        "record": {
            "geometric": True,
            "per_decade": s.per_decade,
            "coefficients": s.record_coefficients,
        },
    }
    return Config.from_dict(raw)


def single_neuron_labels(y: np.ndarray, p0: np.ndarray, how: str) -> np.ndarray:
    """The single neuron's targets (see LaiSettings.single_labels); p0 = <w_0, x_i>."""
    if how == "plain":
        return y
    neg = 0.0 if how == "init_active_zero" else -1.0
    return np.where(p0 > 0, np.abs(y), neg * np.abs(y))


def stable_lr(s: LaiSettings, r: RunSpec, p: Problem) -> float:
    """lr = lr_factor * n / ||K||_2 (||K||_2 ~ tr Sigma for high-dimensional data; for
    low-dimensional correlated data n / tr Sigma would diverge)."""
    return lr_factor_of(s, r) * r.n / float(np.linalg.eigvalsh(p.K)[-1])


def make_lai_problem(s: LaiSettings, r: RunSpec, config: Config) -> Problem:
    p = make_problem(config)
    if r.reading == "single":
        y = single_neuron_labels(p.y, p.P0[:, 0], s.single_labels)
        yt = single_neuron_labels(p.y_test, p.P0_test[:, 0], s.single_labels)
        p = dataclasses.replace(p, y=y, y_test=yt)
    return p


# ------------------------------------------------------------------ evaluation


def _phi(reading: Reading):
    return (lambda z: z) if reading == "linear" else (lambda z: np.maximum(z, 0.0))


def _gap_row(prefix: str, res: TrainResult, ref, reading: Reading) -> dict:
    p = res.problem
    act = "linear" if reading == "linear" else "relu"
    g = gap(
        res.s, res.C, ref, p.K, p.P0, p.G0, a=p.a, K_test=p.K_test, P0_test=p.P0_test,
        activation=act,
    )  # fmt: skip
    return {
        f"{prefix}gap": g["normalised"],
        f"{prefix}distance": g["distance"],
        f"{prefix}ref_distance": g["ref_distance"],
        f"{prefix}function_gap": g["function_normalised"],
        f"{prefix}function_rms": g["function_rms"],
    }


def _nan_gap(prefix: str) -> dict:
    keys = ("gap", "distance", "ref_distance", "function_gap", "function_rms")
    return {f"{prefix}{k}": math.nan for k in keys}


def evaluate(s: LaiSettings, r: RunSpec, res: TrainResult, with_qp: bool = True) -> dict:
    """Reference solutions, gaps and KKT diagnostics of one trained run (a runs-table row)."""
    p = res.problem
    loss = float(res.summary["loss"])
    f = _phi(r.reading)(preactivations(res.s, res.C, p.K, p.P0)) @ p.a
    # A global minimum fits every target the model can reach: the single ReLU neuron
    # (a > 0) outputs 0 for y_i <= 0 at best; the other readings interpolate.
    target = np.maximum(p.y, 0.0) if r.reading == "single" else p.y
    fit_residual = float(np.abs(f - target).max())
    row = {
        "group": r.group,
        "reading": r.reading,
        "n": r.n,
        "d": r.d,
        "seed": r.seed,
        "spectrum": r.spectrum.kind if r.data_kind == "gaussian" else "orthogonal",
        "tr_sigma": tr_sigma(r),
        "n_over_d": r.n / r.d,
        "n_over_tr_sigma": r.n / tr_sigma(r),
        "lr_factor": lr_factor_of(s, r),
        "step_budget": int(res.config.train.steps),
        "final_loss": loss,
        "fit_residual": fit_residual,
        "interpolated": bool(fit_residual <= s.interp_residual),
        "positive_labels": int((p.y > 0).sum()),
        "ref_status": "",
        "init_ref_status": "",
        **r.tags,
    }
    t0 = time.perf_counter()
    if r.reading == "linear":
        ref = MinNormLinear().fit(p.K, p.P0, p.a, p.y)
        row |= _gap_row("", res, ref, "linear") | {"ref_status": "optimal"}
        row |= _nan_gap("init_ref_")
    elif r.reading == "single":
        ref = SingleNeuronQP(center="init").fit(p.K, p.P0, p.y, a=float(p.a[0]))
        row["ref_status"] = ref.status_
        row |= _gap_row("", res, ref, "single") if ref.C_ is not None else _nan_gap("")
        row |= _nan_gap("init_ref_")
    elif with_qp:
        D = pattern_of(res.s, res.C, p.K, p.P0)
        ref = PatternQP().fit(p.K, p.P0, p.a, p.y, D)
        row["ref_status"] = ref.status_
        row |= _gap_row("", res, ref, "width") if ref.C_ is not None else _nan_gap("")
        if r.init_qp:
            ref0 = PatternQP().fit(p.K, p.P0, p.a, p.y, p.P0 > 0)
            row["init_ref_status"] = ref0.status_
            row |= (
                _gap_row("init_ref_", res, ref0, "width")
                if ref0.C_ is not None
                else _nan_gap("init_ref_")
            )
        else:
            row |= _nan_gap("init_ref_")
        row["pattern_final_vs_init"] = int((D != (p.P0 > 0)).sum())
    else:
        ref = None
        row |= _nan_gap("") | _nan_gap("init_ref_")
    row["qp_time_s"] = time.perf_counter() - t0
    if r.reading != "linear" and (ref is None or getattr(ref, "C_", None) is not None):
        kkt = kkt_violations(res.s, res.C, p.K, p.P0, p.a, p.y)
        row |= {
            "kkt_stationarity_rel": kkt["stationarity_rel"],
            "kkt_primal_eq": kkt["primal_eq"],
            "kkt_primal_ineq": kkt["primal_ineq"],
            "kkt_cs_violated": kkt["cs_violated"],
            "kkt_dual_violated": kkt["dual_violated"],
        }
    row |= {
        "steps_run": int(res.summary["steps_run"]),
        "stabilization_step": int(res.summary["stabilization_step"]),
        "switched_fraction": float(res.summary["switched_fraction"]),
        "pattern_changes_total": int(res.history["pattern_changes"].sum()),
    }
    row["_ref"] = ref
    return row


def dynamics(res: TrainResult, ref, reading: Reading) -> dict:
    """Per recorded step: distance of W_t to the reference (relative), the largest change
    of the training predictions from their final values, pattern changes."""
    p = res.problem
    if res.coefficients is None or ref is None or getattr(ref, "C_", None) is None:
        return {}
    s_ref, C_ref = float(ref.s_), np.asarray(ref.C_)
    zero = np.zeros_like(C_ref)
    ref_dist = math.sqrt(max(distance_sq(s_ref, C_ref, 1.0, zero, p.K, p.P0, p.G0), 0.0))
    phi = _phi(reading)
    f_end = phi(preactivations(res.s, res.C, p.K, p.P0)) @ p.a
    steps = res.history["step"].to_numpy()
    dist, pred = [], []
    for C_t in res.coefficients:
        d2 = distance_sq(1.0, C_t, s_ref, C_ref, p.K, p.P0, p.G0)
        dist.append(math.sqrt(max(d2, 0.0)) / ref_dist)
        f_t = phi(preactivations(1.0, C_t, p.K, p.P0)) @ p.a
        pred.append(float(np.abs(f_t - f_end).max()))
    return {
        "step": steps,
        "gap": np.asarray(dist),
        "prediction_change": np.asarray(pred),
        "pattern_changes": res.history["pattern_changes"].to_numpy(),
        "residual_max": res.history["residual_max"].to_numpy(),
    }


def run_all(s: LaiSettings, specs: list[RunSpec], qp_filter=None, progress=None) -> list:
    """Train every run (batched per shape) and evaluate it; returns (rows, results)."""
    configs = [make_config(s, r) for r in specs]
    problems = [make_lai_problem(s, r, c) for r, c in zip(specs, configs, strict=True)]
    configs = [make_config(s, r, stable_lr(s, r, p)) for r, p in zip(specs, problems, strict=True)]
    results = train_many(configs, problems)
    rows = []
    for r, res in zip(specs, results, strict=True):
        with_qp = True if qp_filter is None else qp_filter(r)
        rows.append(evaluate(s, r, res, with_qp))
        if progress is not None:
            progress()
    return rows, results
