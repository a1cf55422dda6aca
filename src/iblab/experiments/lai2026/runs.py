"""Lai et al. (2026) reproduction: the runs (configs, and what each run is to the analysis)
and the evaluation of one trained run (reference, gaps, KKT figures), computed where it
trained and stored with it."""

from __future__ import annotations

import functools
import itertools
import math
import time
from typing import Literal

import numpy as np

from iblab.activations import Activation, phi
from iblab.config import Config, Spectrum
from iblab.experiments.skeleton import Group, resolve
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


class G:
    """The groups' names, each defined here once."""

    D_SINGLE, D_WIDTH, N_SINGLE = "d_single", "d_width", "n_single"
    ANISO_POWER_LAW, ANISO_SPIKED = "aniso_power_law", "aniso_spiked"
    ORTHOGONAL, LOW_DIM, LINEAR = "orthogonal", "low_dim", "linear"
    D_WIDTH_FLOW, D_SINGLE_FLOW, N_WIDTH_FLOW = "d_width_flow", "d_single_flow", "n_width_flow"
    ANISO_POWER_LAW_FLOW, ANISO_SPIKED_FLOW = "aniso_power_law_flow", "aniso_spiked_flow"
    ORTHOGONAL_FLOW, D_WIDTH_SMALL_LR, LR_SWEEP = "orthogonal_flow", "d_width_small_lr", "lr_sweep"
    INIT_SWEEP = "single_flow_init_sweep"
    N_WIDTH_FLOW_CUBIC = "n_width_flow_d_n3"


READINGS: tuple[Reading, ...] = ("single", "width")  # the two readings of the ReLU model


def _power(s: LaiSettings) -> Spectrum:
    return Spectrum(kind="power_law", exponent=s.power_law_exponent)


def _spiked(s: LaiSettings) -> Spectrum:
    return Spectrum(kind="spiked", spikes=s.spikes)


def _low(s: LaiSettings) -> Spectrum:
    return Spectrum(kind="spiked", spikes=s.low_spikes)


def orthogonal_d(s: LaiSettings) -> int:
    """The dimension of the exactly orthogonal inputs (room for the test points)."""
    return max(s.orthogonal_d, s.n + s.n_test)


def sweep(name: str, readings, ds, seeds, ns=lambda s: (s.n,), tags=None, **options) -> Group:
    """A group: every n, d, seed and reading (in that nesting). ds, seeds, ns: settings ->
    values; options: make_config's keywords, each a value or settings -> value;
    `record_first` records the coefficients of seed 0 (for the dynamics figure)."""
    record_first = options.pop("record_first", False)

    def runs(s: LaiSettings):
        kw = {k: resolve(v, s) for k, v in options.items()}
        for n, d, k, reading in itertools.product(ns(s), ds(s), range(seeds(s)), readings):
            first = record_first and s.record_coefficients and k == 0
            config = make_config(s, reading, n, d, k, coefficients=first, **kw)
            yield {"reading": reading} | (tags or {}), config

    return Group(name, runs)


def _lr_sweep(s: LaiSettings):
    """Width m at every lr factor of the sweep, on orthogonal and on Gaussian inputs (one
    step budget, so that these share one compiled program)."""
    budget = s.small_lr_steps()
    for factor, k in itertools.product(s.lr_sweep_factors, range(s.lr_sweep_seeds)):
        for lr_data, d in (("orthogonal", orthogonal_d(s)), ("gaussian", s.lr_sweep_d)):
            config = make_config(s, "width", s.n, d, k, orthogonal=lr_data == "orthogonal",
                                 lr_factor=factor, steps=budget)  # fmt: skip
            yield {"reading": "width", "lr_data": lr_data}, config


def _init_sweep(s: LaiSettings):
    """The single-neuron flow at one d, at every init scale of the sweep."""
    for scale, k in itertools.product(s.init_sweep_scales, range(s.init_sweep_seeds)):
        config = make_config(s, "single", s.n, s.init_sweep_d, k, flow=True,
                             single_labels=s.init_sweep_labels, init_scale=scale)  # fmt: skip
        yield {"reading": "single"}, config


def _flow_ns(s: LaiSettings) -> tuple[int, ...]:
    """The n values of the flow's n sweeps (the GD sweep's when none are set)."""
    return s.flow_n_values or s.n_values


def _cubic_n_sweep(s: LaiSettings):
    """Width m, the flow, at every n of the flow's n sweep with d = cubic_d_factor n^3 (so d
    outgrows n^3 by one fixed factor, and n/d = 1 / (cubic_d_factor n^2))."""
    seeds = s.cubic_sweep_seeds or s.flow_sweep_seeds
    for n, k in itertools.product(_flow_ns(s), range(seeds)):
        config = make_config(s, "width", n, s.cubic_d_factor * n**3, k, flow=True)
        yield {"reading": "width"}, config


def _conventions(s: LaiSettings) -> list[Group]:
    """The single-neuron flow d sweep again, for each (labels, init scale) convention."""
    return [
        sweep(convention_group(labels, scale), ("single",), lambda s: s.flow_ds,
              lambda s: s.convention_seeds, flow=True, single_labels=labels, init_scale=scale)
        for labels, scale in s.single_conventions
    ]  # fmt: skip


_flow_seeds, _sweep_seeds = (lambda s: s.flow_seeds), (lambda s: s.flow_sweep_seeds)
_ds, _aniso, _flow_ds = (lambda s: s.ds), (lambda s: s.aniso_ds), (lambda s: s.flow_ds)
_seeds, _extreme = (lambda s: s.seeds), (lambda s: s.extreme_seeds)
_aniso_flow_seeds = lambda s: s.aniso_flow_seeds  # noqa: E731
BEFORE_CONVENTIONS = (
    sweep(G.D_SINGLE, ("single",), _ds, _seeds, record_first=True),
    sweep(G.D_WIDTH, ("width",), _ds, lambda s: s.width_seeds, record_first=True),
    sweep(G.N_SINGLE, ("single",), lambda s: (s.n_sweep_d,), _seeds, ns=lambda s: s.n_values),
    sweep(G.ANISO_POWER_LAW, ("single",), _aniso, lambda s: s.aniso_seeds, spectrum=_power),
    sweep(G.ANISO_SPIKED, ("single",), _aniso, lambda s: s.aniso_seeds, spectrum=_spiked),
    sweep(G.ORTHOGONAL, READINGS, lambda s: (orthogonal_d(s),), _extreme, orthogonal=True),
    sweep(G.LOW_DIM, READINGS, lambda s: s.low_ds, _extreme, spectrum=_low),
    sweep(G.LINEAR, ("linear",), lambda s: (1000,), lambda s: 2),
    sweep(G.D_WIDTH_FLOW, ("width",), _flow_ds, _flow_seeds, flow=True),
    sweep(G.D_SINGLE_FLOW, ("single",), _flow_ds, _flow_seeds, flow=True),
    sweep(G.N_WIDTH_FLOW, ("width",), lambda s: (s.n_sweep_d,), _sweep_seeds, flow=True,
          ns=_flow_ns),
    sweep(G.ANISO_POWER_LAW_FLOW, ("width",), _aniso, _aniso_flow_seeds, spectrum=_power,
          flow=True),
    sweep(G.ANISO_SPIKED_FLOW, ("width",), _aniso, _aniso_flow_seeds, spectrum=_spiked,
          flow=True),
)  # fmt: skip
AFTER_CONVENTIONS = (
    sweep(G.ORTHOGONAL_FLOW, READINGS, lambda s: (orthogonal_d(s),), _extreme, orthogonal=True,
          flow=True),
    sweep(G.D_WIDTH_SMALL_LR, ("width",), lambda s: s.small_lr_ds or s.ds,
          lambda s: s.width_seeds, lr_factor=lambda s: s.small_lr_factor,
          steps=lambda s: s.small_lr_steps()),
    Group(G.LR_SWEEP, _lr_sweep),
    Group(G.INIT_SWEEP, _init_sweep),
    Group(G.N_WIDTH_FLOW_CUBIC, _cubic_n_sweep),
)  # fmt: skip


def groups(s: LaiSettings) -> list[Group]:
    """The table of run groups: the fixed ones, and one per single-neuron convention."""
    return [*BEFORE_CONVENTIONS, *_conventions(s), *AFTER_CONVENTIONS]


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
    row["ref_solver"] = getattr(ref, "solver_", "closed form")
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
