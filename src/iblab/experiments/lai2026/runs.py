"""Lai et al. (2026) reproduction: the runs (configs, and what each run is to the analysis)
and the evaluation of one trained run (reference, gaps, KKT figures), computed where it
trained and stored with it."""

from __future__ import annotations

import functools
import math
import time
from typing import Literal

import numpy as np

from iblab.activations import Activation, phi
from iblab.config import Config, Spectrum
from iblab.gram import distance_sq, preactivations
from iblab.references import (
    MinNormLinear,
    PatternQP,
    SingleNeuronQP,
    gap,
    kkt_violations,
    pattern_of,
)

from .settings import LaiSettings, convention_group

Reading = Literal["single", "width", "linear"]
ISOTROPIC = Spectrum()


def plan(s: LaiSettings) -> list[tuple[dict, Config]]:
    """Every run as (tags, config); tags: group, reading (and lr_data for the lr sweep)."""
    runs: list[tuple[dict, Config]] = []

    def add(group: str, reading: Reading, n: int, d: int, seed: int, **kw) -> None:
        tags = {"group": group, "reading": reading} | kw.pop("tags", {})
        runs.append((tags, make_config(s, reading, n, d, seed, **kw)))

    for d in s.ds:
        # Seed 0 records C_t (record_coefficients), for the dynamics figure.
        for k in range(s.seeds):
            add("d_single", "single", s.n, d, k, coefficients=s.record_coefficients and k == 0)
        for k in range(s.width_seeds):
            add("d_width", "width", s.n, d, k, coefficients=s.record_coefficients and k == 0)
    for n in s.n_values:
        for k in range(s.seeds):
            add("n_single", "single", n, s.n_sweep_d, k)
    power = Spectrum(kind="power_law", exponent=s.power_law_exponent)
    spiked = Spectrum(kind="spiked", spikes=s.spikes)
    for d in s.aniso_ds:
        for k in range(s.aniso_seeds):
            add("aniso_power_law", "single", s.n, d, k, spectrum=power)
            add("aniso_spiked", "single", s.n, d, k, spectrum=spiked)
    d_orth = max(s.orthogonal_d, s.n + s.n_test)
    low = Spectrum(kind="spiked", spikes=s.low_spikes)
    for k in range(s.extreme_seeds):
        for reading in ("single", "width"):
            add("orthogonal", reading, s.n, d_orth, k, orthogonal=True)
            for d in s.low_ds:
                add("low_dim", reading, s.n, d, k, spectrum=low)
    for k in range(2):
        add("linear", "linear", s.n, 1000, k)
    # The gradient-flow limit: the d sweeps again, and orthogonal inputs for the floor.
    for d in s.flow_ds:
        for k in range(s.flow_seeds):
            add("d_width_flow", "width", s.n, d, k, flow=True)
            add("d_single_flow", "single", s.n, d, k, flow=True)
    for n in s.flow_n_values or s.n_values:
        for k in range(s.flow_sweep_seeds):
            add("n_width_flow", "width", n, s.n_sweep_d, k, flow=True)
    for d in s.aniso_ds:
        for k in range(s.flow_sweep_seeds):
            add("aniso_power_law_flow", "width", s.n, d, k, spectrum=power, flow=True)
            add("aniso_spiked_flow", "width", s.n, d, k, spectrum=spiked, flow=True)
    for labels, scale in s.single_conventions:
        group = convention_group(labels, scale)
        for d in s.flow_ds:
            for k in range(s.convention_seeds):
                add(group, "single", s.n, d, k, flow=True, single_labels=labels, init_scale=scale)
    for k in range(s.extreme_seeds):
        for reading in ("single", "width"):
            add("orthogonal_flow", reading, s.n, d_orth, k, orthogonal=True, flow=True)
    # Step-size dependence (one step budget, so these share one compiled program).
    budget = s.small_lr_steps()
    for d in s.small_lr_ds or s.ds:
        for k in range(s.width_seeds):
            add("d_width_small_lr", "width", s.n, d, k, lr_factor=s.small_lr_factor, steps=budget)
    for factor in s.lr_sweep_factors:
        for k in range(s.lr_sweep_seeds):
            sweep = {"lr_factor": factor, "steps": budget}
            add("lr_sweep", "width", s.n, d_orth, k, orthogonal=True,
                tags={"lr_data": "orthogonal"}, **sweep)  # fmt: skip
            add("lr_sweep", "width", s.n, s.lr_sweep_d, k, tags={"lr_data": "gaussian"}, **sweep)
    return runs


def make_config(
    s: LaiSettings,
    reading: Reading,
    n: int,
    d: int,
    seed: int,
    spectrum: Spectrum = ISOTROPIC,
    orthogonal: bool = False,
    lr_factor: float | None = None,
    steps: int | None = None,
    coefficients: bool = False,
    flow: bool = False,
    single_labels: str | None = None,
    init_scale: float | None = None,
) -> Config:
    """The run's config: everything that shapes it, so its hash is its identity. flow:
    gradient flow (exact) instead of GD; single_labels, init_scale: instead of the settings'."""
    single_labels = single_labels or s.single_labels
    init_scale = s.init_scale if init_scale is None else init_scale
    condition = "none" if reading != "single" or single_labels == "plain" else single_labels
    labels = {"kind": s.labels, "noise": s.label_noise, "condition": condition}
    data: dict = {"n": n, "n_test": s.n_test, "d": d, "labels": labels}
    if orthogonal:
        data |= {"kind": "orthogonal"}
    else:
        data |= {"kind": "gaussian", "sample": "gram", "spectrum": spectrum.model_dump()}
    model = {
        "width": 1 if reading == "single" else s.width,
        "activation": "linear" if reading == "linear" else "relu",
        "second_layer": [1.0] if reading == "single" else "balanced",
    }
    train = {
        "loss": "square",
        "optimizer": "gd",
        "lr": s.lr_factor if lr_factor is None else lr_factor,
        "lr_scale": "n_over_norm_K",
        "steps": s.steps if steps is None else steps,
        "tol": s.tol,
        "dtype": "float64",
    }
    if flow:
        train = {"loss": "square", "optimizer": "gradient_flow", "max_events": s.flow_events,
                 "tol": s.tol}  # fmt: skip
    record = {"geometric": True, "per_decade": s.per_decade, "coefficients": coefficients}
    return Config.from_dict(
        {
            "seed": seed,
            "data": data,
            "model": model,
            "init": {"scale": init_scale, "base": "inv_sqrt_d"},
            "train": train,
            "record": record,
        }
    )


def reading_of(config: Config) -> Reading:
    if config.model.activation == "linear":
        return "linear"
    return "single" if config.model.width == 1 else "width"


# ------------------------------------------------------------------ evaluation

_GAPS = ("gap", "distance", "ref_distance", "function_gap", "function_rms")


def _gap_row(res, ref, reading: Reading) -> dict:
    p = res.problem
    act = "linear" if reading == "linear" else "relu"
    g = gap(
        res.s, res.C, ref, p.K, p.P0, p.G0, a=p.a, K_test=p.K_test, P0_test=p.P0_test,
        activation=act,
    )  # fmt: skip
    keys = ("normalised", "distance", "ref_distance", "function_normalised", "function_rms")
    return {name: g[k] for name, k in zip(_GAPS, keys, strict=True)}


def reference(res, reading: Reading, pattern=None):
    """The reference solution of a trained run: the min-norm interpolator (linear), the
    nearest global minimum of the single neuron, the pattern QP at the run's final pattern
    (`pattern`, (n, m) bool; computed when not given)."""
    p = res.problem
    if reading == "linear":
        return MinNormLinear().fit(p.K, p.P0, p.a, p.y)
    if reading == "single":
        return SingleNeuronQP(center="init").fit(p.K, p.P0, p.a, p.y)
    if pattern is None:
        pattern = pattern_of(res.s, res.C, p.K, p.P0)
    return PatternQP().fit(p.K, p.P0, p.a, p.y, pattern)


def evaluate(res) -> dict:
    """Reference, gaps and KKT figures of one trained run, and fit_residual (the largest
    miss of a reachable target; `interpolated` is decided from it in the analysis, by
    LaiSettings.interp_residual); with recorded coefficients also
    the relative distance to the reference (`gap_to_ref`) and the largest change of the
    training predictions from their final values (`prediction_change`) at every record."""
    p, reading = res.problem, reading_of(res.config)
    f = _phi(reading)(preactivations(res.s, res.C, p.K, p.P0)) @ p.a
    # A global minimum fits every target the model can reach: the single ReLU neuron
    # (a > 0) outputs 0 for y_i <= 0 at best; the other readings interpolate.
    target = np.maximum(p.y, 0.0) if reading == "single" else p.y
    fit_residual = float(np.abs(f - target).max())
    row = {"fit_residual": fit_residual, "positive_labels": int((p.y > 0).sum())}
    pattern = pattern_of(res.s, res.C, p.K, p.P0) if reading == "width" else None
    t0 = time.perf_counter()
    ref = reference(res, reading, pattern)
    row["qp_time_s"] = time.perf_counter() - t0
    solved = getattr(ref, "C_", None) is not None
    row["ref_status"] = getattr(ref, "status_", "optimal")
    row |= _gap_row(res, ref, reading) if solved else dict.fromkeys(_GAPS, math.nan)
    if reading != "linear" and solved:
        kkt = kkt_violations(res.s, res.C, p.K, p.P0, p.a, p.y, pattern=pattern)
        keys = ("stationarity_rel", "primal_eq", "primal_ineq", "cs_violated", "dual_violated")
        row |= {f"kkt_{k}": kkt[k] for k in keys}
    if reading == "width":
        row["pattern_final_vs_init"] = int((pattern != (p.P0 > 0)).sum())
    if res.coefficients is not None and solved:
        row |= _dynamics(res, ref, reading)
    return row


def _phi(reading: Reading):
    return functools.partial(phi, Activation("linear" if reading == "linear" else "relu"))


def _dynamics(res, ref, reading: Reading) -> dict:
    """Per record: distance of W_t to the reference over the reference's distance to W_0,
    and max_i |f_t(x_i) - f_end(x_i)|."""
    p = res.problem
    s_ref, C_ref = float(ref.s_), np.asarray(ref.C_)
    zero = np.zeros_like(C_ref)
    ref_dist = math.sqrt(max(distance_sq(s_ref, C_ref, 1.0, zero, p.K, p.P0, p.G0), 0.0))
    ref_dist = ref_dist if ref_dist > 0 else math.nan  # the reference is W_0 itself
    phi = _phi(reading)
    f_end = phi(preactivations(res.s, res.C, p.K, p.P0)) @ p.a
    dist, pred = [], []
    for s_t, C_t in zip(res.history["s"], res.coefficients, strict=True):
        d2 = distance_sq(float(s_t), C_t, s_ref, C_ref, p.K, p.P0, p.G0)
        dist.append(math.sqrt(max(d2, 0.0)) / ref_dist)
        f_t = phi(preactivations(float(s_t), C_t, p.K, p.P0)) @ p.a
        pred.append(float(np.abs(f_t - f_end).max()))
    return {"gap_to_ref": np.asarray(dist), "prediction_change": np.asarray(pred)}
