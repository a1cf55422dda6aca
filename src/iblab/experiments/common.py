"""What every reproduction shares besides its claims (those are `iblab.claims`): figures, and
how far a trained first layer has moved from its initialisation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from iblab.config import LOG_T_MAX
from iblab.gram import frobenius_sq


def save_figure(fig, out: Path, name: str) -> list[Path]:
    """Save fig as name.png and name.pdf under out; close it."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def init_shares(result) -> dict:
    """How much of W is still its initialisation, for a run with W = s W_0 + C X.

    Args:
        result: A trained run (`iblab.TrainResult`; coefficients recorded for step 1).

    Returns:
        init_to_step_ratio = ||W_0||_F / ||W_1 - W_0||_F (nan for a flow, which has no
        first step, or without recorded coefficients) and init_share_final =
        ||W_0||_F / ||C X||_F at the end (||C X||_F = ||W - W_0||_F while s = 1; inf when
        W has not moved).
    """
    p, h = result.problem, result.history
    w0 = abs(float(h["s"].iloc[0])) * math.sqrt(max(float(np.trace(p.G0)), 0.0))
    gd = result.config.train.optimizer != "gradient_flow"  # a flow has no first step
    C1 = result.coefficients[1] if gd and result.coefficients is not None and len(h) > 1 else None

    def span_norm(C):  # ||C X||_F
        return math.sqrt(max(float(frobenius_sq(0.0, C, p.K, p.P0, 0.0)), 0.0))

    step1 = span_norm(C1) if C1 is not None else np.nan
    moved = span_norm(result.C)
    return {
        "init_to_step_ratio": w0 / step1 if step1 > 0 else np.nan,
        "init_share_final": w0 / moved if moved > 0 else np.inf,
    }


def log_time_records(log_time: float | None, per_log_decade: int) -> dict:
    """The record settings of a flow run to t = e^log_time: per_log_decade records a decade
    of log t past t = 1e300 (`record.per_log_decade`), only for a run that gets there."""
    return {"per_log_decade": per_log_decade} if log_time and log_time > LOG_T_MAX else {}
