"""Kou, Chen, Gu (2023) reproduction: figures, read from the stored runs (PNG and PDF)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from iblab import figures
from iblab.experiments.skeleton import Figure

from .rules import KKT, RANK_CONSTANT, SPREAD
from .runs import DIGITS, FLOW, GAUSSIAN, GD

ROWS = [
    ("stable_rank", "stable rank", "log", (1.0, RANK_CONSTANT)),
    ("block_stable_rank", "max sign-block\nstable rank", "log", (1.0,)),
    ("margin_spread", "margin spread\n1 - min q / max q", "log", (SPREAD,)),
    ("kkt_residual", "KKT residual", "log", (KKT,)),
]


KNEE = 30.0  # log10 t: the time axis is linear in log10 t up to here, logarithmic beyond
DECADE_TICKS = (-10, 0, 10, 20, 30, 100, 1000)


def _squash(x):
    """log10 t -> axis position: itself up to KNEE, then KNEE (1 + log10(x / KNEE) / 2)."""
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x <= KNEE, x, KNEE * (1 + 0.5 * np.log10(np.maximum(x, KNEE) / KNEE)))


def _unsquash(y):
    y = np.asarray(y, float)
    return np.where(y <= KNEE, y, KNEE * 10 ** (2 * (np.maximum(y, KNEE) / KNEE - 1)))


def _median_curve(g: pd.DataFrame, col: str, points: int = 400):
    """The median over g's runs of col against log10_t: runs record at different times (the
    flow's records follow each run's own time scale), so each run is interpolated onto one
    grid, even on the figure's axis, before the median; a run counts only inside its range."""
    finite = g[np.isfinite(g[col]) & np.isfinite(g["log10_t"])]
    axis = _squash(finite["log10_t"])
    grid = np.linspace(axis.min(), axis.max(), points) if len(finite) else np.zeros(0)
    curves = [
        np.interp(grid, _squash(r["log10_t"]), r[col], left=np.nan, right=np.nan)
        for _, r in finite.sort_values("log10_t").groupby("run_id")
    ]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a grid point no run reaches
        med = np.nanmedian(curves, axis=0) if curves else grid
    return _unsquash(grid), med


def figure_dynamics(diag: pd.DataFrame, data: str, small: float):
    """The per-record figures against log10 t (flow time; lr * step for GD; linear up to
    t = 1e30 and logarithmic in log10 t beyond, since the flow runs to t = e^10000), one
    column per activation, for the small-init runs on `data` at its largest d: GD coloured
    by lr_factor, the flow in black; median over seeds and scales; dashed: the
    thresholds."""
    plt = figures.pyplot()
    sub = diag[(diag["data"] == data) & (diag["init_ratio"] <= small) & (diag["t"] > 0)]
    if not len(sub):
        return None
    sub = sub[sub["d"] == sub["d"].max()]
    acts = sorted(sub["act"].unique())
    colors = figures.colors_for(diag.loc[diag["method"] == GD, "lr_factor"])
    fig, axes = plt.subplots(
        len(ROWS), len(acts), figsize=(figures.TEXT_WIDTH, 1.3 * len(ROWS) + 1.0),
        squeeze=False, sharex="col", sharey="row", layout="constrained",
    )  # fmt: skip
    for j, act in enumerate(acts):
        runs = sub[sub["act"] == act]
        for i, (col, name, yscale, lines) in enumerate(ROWS):
            ax = axes[i, j]
            for (method, lr), g in runs.groupby(["method", "lr_factor"], dropna=False):
                x, med = _median_curve(g, col)
                flow = method == FLOW
                ax.plot(x, med, color="black" if flow else colors[lr],
                        lw=1.0, ls=":" if flow else "-",
                        label="exact flow" if flow else f"GD, lr factor {lr:g}")  # fmt: skip
            for y in lines:
                ax.axhline(y, color="grey", lw=0.8, ls="--", zorder=1)
            ax.set_xscale("function", functions=(_squash, _unsquash))
            ax.set_xticks(DECADE_TICKS)
            ax.set_yscale(yscale)
            if i == 0:
                d = figures.power_of_ten(runs["d"].max())
                ax.set_title(f"{act.replace('_', ' ')}, d = {d}", fontsize=7)
            if i == len(ROWS) - 1:
                ax.set_xlabel(f"log10 t (flow time; lr x step for GD; log scale past {KNEE:g})")
            if j == 0:
                ax.set_ylabel(name)
    figures.legend_below(fig, axes, ncol=4)
    return fig


def figure_limits(runs: pd.DataFrame, small: float):
    """Each small-init run's extrapolated limit of the stable rank (top) and of the margin
    spread (bottom) against d, per activation: GD by lr_factor, the flow in black."""
    plt = figures.pyplot()
    g = runs[(runs["data"] == GAUSSIAN) & (runs["init_ratio"] <= small)]
    if not len(g) or "srank_limit" not in g:
        return None
    acts = sorted(g["act"].unique())
    colors = figures.colors_for(runs.loc[runs["method"] == GD, "lr_factor"])
    fig, axes = plt.subplots(2, len(acts), figsize=(figures.TEXT_WIDTH, 4.0), squeeze=False,
                             sharex=True, sharey="row", layout="constrained")  # fmt: skip
    for j, act in enumerate(acts):
        for i, (col, name) in enumerate((("srank_limit", "stable rank limit"),
                                         ("spread_limit", "margin spread limit"))):  # fmt: skip
            ax = axes[i, j]
            for (method, lr), x in g[g["act"] == act].groupby(["method", "lr_factor"],
                                                              dropna=False):  # fmt: skip
                flow = method == FLOW
                ax.plot(x["d"], x[col], "D" if flow else "o", ms=3, ls="none",
                        color="black" if flow else colors[lr],
                        label="exact flow" if flow else f"GD, lr factor {lr:g}")  # fmt: skip
            ax.set_xscale("log")
            if i == 0:
                ax.set_title(act.replace("_", " "), fontsize=7)
                ax.axhline(1.0, color="grey", lw=0.8, ls="--", zorder=1)
            else:
                ax.axhline(SPREAD, color="grey", lw=0.8, ls="--", zorder=1)
                ax.set_xlabel("d")
            if j == 0:
                ax.set_ylabel(name)
    figures.legend_below(fig, axes, ncol=4)
    return fig


FIGURES = (
    Figure("dynamics_gaussian", lambda a, s: figure_dynamics(a.derived["diag"], GAUSSIAN,
                                                             s.small_init_ratio)),
    Figure("dynamics_digits", lambda a, s: figure_dynamics(a.derived["diag"], DIGITS,
                                                           s.small_init_ratio)),
    Figure("limits_vs_d", lambda a, s: figure_limits(a.runs, s.small_init_ratio)),
)  # fmt: skip
