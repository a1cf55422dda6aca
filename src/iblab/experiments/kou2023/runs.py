"""Kou, Chen, Gu (2023) reproduction: the runs (configs, and what each run is to the
analysis) and the evaluation of one trained run (per-record stable ranks, margin spread and
KKT residual), computed where it trained and stored with it."""

from __future__ import annotations

import functools

import numpy as np

from iblab import metrics
from iblab.activations import Activation, dphi, phi
from iblab.config import Config
from iblab.experiments.common import init_shares, log_time_records
from iblab.experiments.skeleton import Group

from .settings import KouSettings

GD, FLOW = "gd", "flow"  # the optimizer (the `method` tag)
GAUSSIAN, DIGITS = "gaussian", "digits"  # the data (the `data` tag)
LEAKY, RELU = "leaky_relu", "relu"  # the activation (the `act` tag)


def group_name(method: str, data: str, act: str) -> str:
    """The group of the runs of this optimizer on this data with this activation."""
    return f"{method}_{data}_{act}"


def _runs(method: str, data: str, act: str):
    """The group's runs: every d (or digits), seed, step size (GD) and init scale."""

    def runs(s: KouSettings):
        digits = data == DIGITS
        dims = (64,) if digits else s.dims
        seeds = s.digits_seeds if digits else s.seeds
        factors = (np.nan,) if method == FLOW else s.digits_lr_factors if digits else s.lr_factors
        scales = s.digits_init_scales if digits else s.init_scales
        for d in dims:
            for seed in range(seeds):
                for lr in factors:
                    for scale in scales:
                        tags = {"method": method, "data": data, "act": act, "lr_factor": lr}
                        yield tags, make_config(s, method, data, act, d, scale, seed, lr)

    return Group(group_name(method, data, act), runs)


def groups(s: KouSettings) -> list[Group]:
    """GD and the exact flow on Gaussian data and on digits, for every activation."""
    return [_runs(m, data, act) for data in (GAUSSIAN, DIGITS) for m in (GD, FLOW)
            for act in s.activations]  # fmt: skip


def _data(s: KouSettings, data: str, d: int) -> dict:
    if data == DIGITS:
        return {"kind": "digits", "classes": list(s.digits_classes), "n": s.digits_n,
                "n_test": s.digits_n_test}  # fmt: skip
    return {"kind": "gaussian", "n": s.n, "d": d, "sample": "gram", "labels": {"kind": s.labels}}


def make_config(s: KouSettings, method: str, data: str, act: str, d: int, scale: float,
                seed: int, lr_factor: float) -> Config:  # fmt: skip
    """The run's config: everything that shapes it, so its hash is its identity."""
    if method == FLOW:
        train = {"loss": "logistic", "optimizer": "gradient_flow",
                 "log_time": s.flow_log_time, "tol": 0.0}  # fmt: skip
    else:
        train = {"loss": "logistic", "optimizer": "gd", "lr": lr_factor,
                 "lr_scale": "n_over_trace", "steps": s.steps, "dtype": s.dtype}  # fmt: skip
    record = {"geometric": True, "spectrum": True, "coefficients": True,
              "per_decade": s.flow_per_decade if method == FLOW else s.per_decade,
              "top_singular_values": s.top_singular_values}  # fmt: skip
    if method == FLOW:
        record |= log_time_records(s.flow_log_time, s.flow_per_log_decade)
    return Config.from_dict(
        {
            "seed": seed,
            "data": _data(s, data, d),
            "model": {"width": s.width, "activation": act, "slope": s.slope,
                      "second_layer": "balanced", "train_second_layer": False},
            "init": {"scale": scale, "base": "glorot"},
            "train": train,
            "record": record,
        }
    )  # fmt: skip


def _record(p, act, s: float, C, a) -> dict:
    """One record's figures: the largest stable rank of the two sign blocks of W (the
    neurons with a_j > 0, and those with a_j < 0), the margin spread 1 - min_i y_i f(x_i) /
    max_i y_i f(x_i) (0 when every point has the same normalised margin), and the KKT
    residual and normalised complementary slackness of min ||W||_F^2 s.t. y_i f(x_i) >= 1."""
    f_phi, f_dphi = functools.partial(phi, act), functools.partial(dphi, act)
    blocks = [a > 0, a < 0]
    srank = [float(metrics.stable_rank(s, C[b], p.K, p.P0[:, b], p.G0[np.ix_(b, b)]))
             for b in blocks if b.any()]  # fmt: skip
    margins = p.y * np.asarray(metrics.outputs(s, C, a, p.K, p.P0, f_phi))
    kkt = metrics.kkt_residual(s, C, a, p.y, p.K, p.P0, p.G0, f_phi, f_dphi,
                               metrics.clarke_slopes(act))  # fmt: skip
    lam = float(np.sum(kkt["lambda"]))
    return {
        "block_stable_rank": max(srank),
        "margin_spread": 1.0 - margins.min() / margins.max() if margins.max() > 0 else np.nan,
        "kkt_residual": float(kkt["residual"]),
        "slackness_normalised": kkt["complementary_slackness"] / lam if lam > 0 else np.nan,
    }


def evaluate(result) -> dict:
    """Per record (history columns): excess_stable_rank = srank(W) - 1, block_stable_rank,
    margin_spread, kkt_residual, slackness_normalised (`_record`); per run: their final
    values, the stable rank at steps 0 and 1 and its maximum after step 1, and how much of W
    is its initialisation (`init_shares`)."""
    p, h = result.problem, result.history
    act = Activation.of(result.config.model)
    rows = [_record(p, act, float(h["s"].iloc[k]), np.asarray(C), result.a)
            for k, C in enumerate(result.coefficients)]  # fmt: skip
    per_record = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    per_record["excess_stable_rank"] = h["stable_rank"].to_numpy(float) - 1.0
    gd = result.config.train.optimizer != "gradient_flow"
    srank = h["stable_rank"].to_numpy(float)
    return (
        init_shares(result)
        | per_record
        | {f"{k}_final": float(v[-1]) for k, v in per_record.items()}
        | {
            "stable_rank_step0": srank[0],
            "stable_rank_step1": srank[1] if gd and len(srank) > 1 else np.nan,
            "stable_rank_final": srank[-1],
            "stable_rank_max_after_step1": float(srank[1:].max()) if gd else np.nan,
        }
    )
