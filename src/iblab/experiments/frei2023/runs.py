"""Frei et al. (2023) reproduction: the runs (configs, and what each run is to the analysis)
and the evaluation of one trained run (per-record diagnostics, figures at steps 0, 1 and
the end), computed where it trained and stored with it."""

from __future__ import annotations

import numpy as np

from iblab.config import Config
from iblab.experiments.common import init_shares, log_time_records
from iblab.experiments.skeleton import Group

from .diagnostics import diagnose, fit_svm
from .settings import FreiSettings

CONSTANT, LONG, FLOW = "constant", "long", "flow"  # the step rules (the `phase` tag)
MIXTURE, RANDOM_LABELS = "mixture", "random_labels"  # the data sets (the `data` tag)


def group_name(phase: str, data: str) -> str:
    """The group of the runs with this step rule on this data."""
    return f"{phase}_{data}"


def _sweep(phase: str, data: str, dims, seeds: int, scales):
    """The group's runs: every d, seed and init scale (in that nesting)."""

    def runs(s: FreiSettings):
        for d in dims(s):
            for seed in range(seeds(s)):
                for scale in scales(s):
                    yield (
                        {"phase": phase, "data": data},
                        make_config(s, phase, data, d, scale, seed),
                    )

    return Group(group_name(phase, data), runs)


# The groups of runs. Runs that differ only in init scale share their data and W_0's
# direction (W_0 is linear in init.scale), so scales are directly comparable.
GROUPS = (
    _sweep(CONSTANT, MIXTURE, lambda s: s.dims, lambda s: s.seeds, lambda s: s.init_scales),
    _sweep(CONSTANT, RANDOM_LABELS, lambda s: s.random_label_dims,
           lambda s: s.random_label_seeds, lambda s: s.random_label_scales),
    _sweep(LONG, MIXTURE, lambda s: s.long_dims, lambda s: s.long_seeds, lambda s: s.long_scales),
    _sweep(LONG, RANDOM_LABELS, lambda s: s.long_random_label_dims,
           lambda s: s.long_random_label_seeds, lambda s: (min(s.long_scales),)),
    _sweep(FLOW, MIXTURE, lambda s: s.flow_dims, lambda s: s.flow_seeds, lambda s: s.flow_scales),
    _sweep(FLOW, RANDOM_LABELS, lambda s: s.flow_random_label_dims, lambda s: s.flow_seeds,
           lambda s: s.flow_scales),
)  # fmt: skip


def _data(s: FreiSettings, data: str, d: int) -> dict:
    common = {"n": s.n, "n_test": s.n_test, "d": d, "sample": "gram"}
    if data == MIXTURE:
        return common | {
            "kind": "mixture",
            "mean_norm_exponent": s.mean_norm_exponent,
            "label_noise": s.label_noise,
        }
    return common | {"kind": "gaussian", "labels": {"kind": "random_sign"}}


def make_config(s: FreiSettings, phase: str, data: str, d: int, scale: float, seed: int) -> Config:
    """The run's config: everything that shapes it, so its hash is its identity."""
    lr = s.lr(d)
    long, flow = phase == LONG, phase == FLOW
    train = {
        "loss": "logistic",
        "optimizer": "gd",
        "lr": lr,
        "steps": s.long_steps if long else s.steps,
        "dtype": s.dtype,
    }
    if long:
        train |= {"schedule": "loss_normalized", "lr_max": s.lr_max_factor * lr}
    if flow:
        train = {"loss": "logistic", "optimizer": "gradient_flow",
                 "log_time": s.flow_log_time, "tol": 0.0}  # fmt: skip
    per_decade = s.flow_per_decade if flow else s.long_per_decade if long else s.per_decade
    record = {"geometric": True, "per_decade": per_decade, "spectrum": True,
              "top_singular_values": s.top_singular_values, "coefficients": True}  # fmt: skip
    if flow:
        record |= log_time_records(s.flow_log_time, s.flow_per_log_decade)
    return Config.from_dict(
        {
            "seed": seed,
            "data": _data(s, data, d),
            "model": {
                "width": s.flow_width if flow else s.width,
                "activation": "leaky_relu",
                "slope": s.slope,
                "second_layer": "balanced",
                "train_second_layer": False,
            },
            "init": {"scale": scale, "base": "glorot"},
            "train": train,
            "record": record,
        }
    )


def evaluate(result) -> dict:
    """diagnose()'s columns at every record (those the history lacks), and per-run figures:
    stable rank at steps 0, 1 and the end, the final diagnostics, the SVM's margin and test
    accuracy, ||W_0||_F / ||W_1 - W_0||_F (init_to_step_ratio) and ||W_0||_F / ||C X||_F
    at the end (init_share_final; ||C X||_F = ||W - W_0||_F while s = 1); for a flow,
    also the learned part's per-record columns (`diagnostics.learned_part`)."""
    p, h = result.problem, result.history
    svm = fit_svm(p)
    gd = result.config.train.optimizer != "gradient_flow"  # a flow has no first step
    diag = diagnose(result, svm, learned=not gd)
    after = diag[diag["step"] >= 1]
    last = diag.iloc[-1]
    separating = diag[np.isfinite(diag["kkt_residual"])]
    svm_ok = svm.status_ == "optimal"
    out = init_shares(result) | {
        "stable_rank_step0": float(diag["stable_rank"].iloc[0]),
        "stable_rank_step1": float(diag["stable_rank"].iloc[1]) if gd and len(diag) > 1 else np.nan,
        "stable_rank_final": float(last["stable_rank"]),
        "stable_rank_max_after_step1": float(after["stable_rank"].max()),
        "kkt_residual_first_separating": (
            float(separating["kkt_residual"].iloc[0]) if len(separating) else np.nan
        ),
        "svm_status": svm.status_,
        "svm_margin": float(svm.margin_),
        "svm_test_accuracy": (
            float(np.mean(np.sign(svm.decision_function(p.K_test)) == p.y_test))
            if svm_ok and p.n_test > 0
            else np.nan
        ),
    }
    per_record = [c for c in diag.columns if c not in h.columns and c != "kkt_valid"]
    out |= {f"{c}_final": float(last[c]) for c in per_record}
    if len(diag) == len(h):
        out |= {c: diag[c].to_numpy(float) for c in per_record}
    return out
