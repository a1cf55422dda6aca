"""Frei et al. (2023) reproduction: figures, read from the stored runs (PNG and PDF)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from iblab import figures
from iblab.experiments.skeleton import Figure

from .rules import LIMITS
from .runs import CONSTANT, FLOW, LONG, MIXTURE, RANDOM_LABELS
from .settings import FreiSettings

PHASE_NAMES = {
    CONSTANT: "constant step",
    LONG: "loss-normalised step (lr / L)",
    FLOW: "exact gradient flow",
}
MARKERS = {CONSTANT: "o", LONG: "s", FLOW: "D"}
LINES = {CONSTANT: "-", LONG: "--", FLOW: ":"}


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


def figure_stable_rank(diag: pd.DataFrame):
    """Stable rank against step (symlog x: linear on [0, 1], log after), one panel per
    (step rule, d) that was run, one colour per init scale, one legend below."""
    plt = figures.pyplot()
    mix = diag[(diag["data"] == MIXTURE) & (diag["phase"] != FLOW)]
    order = {CONSTANT: 0, LONG: 1}
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
    return fig


def figure_kkt_alignment(diag: pd.DataFrame):
    """KKT residual, cosine(z, u*) and rank-2 residual against step, loss-normalised runs."""
    plt = figures.pyplot()
    long = diag[(diag["phase"] == LONG) & (diag["data"] == MIXTURE)]
    if not len(long):
        long = diag[diag["data"] == MIXTURE]
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
    fig.suptitle(f"{PHASE_NAMES[LONG]}; median over seeds, band: min to max", fontsize=8)
    figures.legend_below(fig, axes, ncol=3)
    return fig


def figure_test_accuracy(runs: pd.DataFrame, settings: FreiSettings):
    """Final test accuracy against d: network per (step rule, init scale), the SVM u*.
    Lines are not drawn across more than two decades of d without runs."""
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(figures.COLUMN_WIDTH, 3.4), layout="constrained")
    mix = runs[runs["data"] == MIXTURE]
    colors = figures.colors_for(runs["init_scale_rel"])
    for (phase, sc), g in mix.groupby(["phase", "init_scale_rel"]):
        m = g.groupby("d")["test_accuracy"].agg(["mean", "std"])
        ax.errorbar(
            m.index, m["mean"], yerr=m["std"].fillna(0.0), color=colors[sc], ls="none",
            marker=MARKERS[phase], ms=3, capsize=2,
        )  # fmt: skip
        x, y = figures.break_gaps(m.index, m["mean"])
        ax.plot(x, y, color=colors[sc], ls=LINES[phase])
    # One key for the colours (init scale), one for the line styles (step rule).
    for sc in sorted(mix["init_scale_rel"].unique()):
        ax.plot([], [], color=colors[sc], label=_scale_label(sc))
    for phase in sorted(mix["phase"].unique(), key=list(PHASE_NAMES).index):
        ax.plot([], [], color="grey", ls=LINES[phase], marker=MARKERS[phase], ms=3,
                label=PHASE_NAMES[phase])  # fmt: skip
    svm = mix.drop_duplicates(["d", "seed"]).groupby("d")["svm_test_accuracy"].mean()
    x, y = figures.break_gaps(svm.index, svm.to_numpy())
    ax.plot(x, y, color="black", ls=":", marker="x", label="max-margin linear predictor u*")
    rl = runs[runs["data"] == RANDOM_LABELS]
    if len(rl):
        m = rl.groupby("d")["test_accuracy"].mean()
        ax.plot(m.index, m.to_numpy(), "^", color="grey", label="network, random labels")
    ax.axhline(1 - settings.label_noise, color="grey", lw=0.8, ls="-.",
               label="1 - label noise (best possible)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("d")
    ax.set_ylabel("test accuracy (noisy labels)")
    figures.legend_below(fig, [ax], ncol=2)
    return fig


def figure_flow_limits(diag: pd.DataFrame, runs: pd.DataFrame):
    """Exact-flow runs: the rank-2 and KKT residuals of the learned part W - W_0 (whose
    direction has W's limit) and ||W_0|| / ||W - W_0|| against log10 t, one column per data
    set, one line per run coloured by init scale; solid where the run's limit check resolved
    (agrees or contradicts), dotted where not; a dot at each run's last activation switch;
    grey: the window the trend is judged on; dashed: the tolerances (and share 1)."""
    plt = figures.pyplot()
    flow = diag[(diag["phase"] == FLOW) & np.isfinite(diag["log_time"])]
    info = runs[runs["phase"] == FLOW].drop_duplicates("run_id").set_index("run_id")
    sets = sorted({(data, d) for data, d in zip(flow["data"], flow["d"], strict=True)})
    colors = figures.colors_for(diag["init_scale_rel"])
    rows = [
        (LIMITS["rank2"].column, "rank-2 residual\nof W - W_0", "rank2", LIMITS["rank2"]),
        (LIMITS["kkt"].column, "KKT residual\nof W - W_0", "kkt", LIMITS["kkt"]),
        ("init_share", "||W_0|| / ||W - W_0||", "rank2", None),
    ]
    fig, axes = plt.subplots(
        len(rows), len(sets), figsize=(figures.TEXT_WIDTH, 1.5 * len(rows) + 1.0),
        squeeze=False, sharex="col", sharey="row", layout="constrained",
    )  # fmt: skip
    for sc in sorted(flow["init_scale_rel"].unique()):  # the legend in order of scale
        axes[0, 0].plot([], [], color=colors[sc], lw=1.0, label=_scale_label(sc))
    for j, (data, d) in enumerate(sets):
        sub = flow[(flow["data"] == data) & (flow["d"] == d)]
        for i, (col, name, check, limit) in enumerate(rows):
            ax = axes[i, j]
            for run_id, g in sub.groupby("run_id"):
                _flow_line(ax, g, col, info.loc[run_id], check, colors)
            end = sub["log_time"].max() / np.log(10.0)
            share = LIMITS[check].rule.params["window_log_share"]  # the last share of log t
            ax.axvspan(end * (1 - share), end, color="0.9", lw=0, zorder=0)
            ax.axhline(limit.rule.params["tol"] if limit else 1.0, color="grey", lw=0.8,
                       ls="--")  # fmt: skip
            ax.set_yscale("log")
            ax.set_xscale("symlog", linthresh=10.0)  # linear to t = 1e10, then log of log t
            if i == 0:
                ax.set_title(f"{data.replace('_', ' ')}, {_d_label(d)}", fontsize=7)
            if i == len(rows) - 1:
                ax.set_xlabel("log10 t (symlog)")
            if j == 0:
                ax.set_ylabel(name)
    fig.suptitle(
        "exact gradient flow; solid: limit resolved, dotted: not resolved; dot: last "
        "activation switch; grey: trend window; dashed: tolerance", fontsize=7,
    )  # fmt: skip
    figures.legend_below(fig, axes, ncol=3)
    return fig


def _flow_line(ax, g: pd.DataFrame, col: str, r: pd.Series, check: str, colors) -> None:
    """One flow run's column against log10 t, with a dot at its last switch."""
    x, q = g["log_time"].to_numpy() / np.log(10.0), g[col].to_numpy()
    resolved = not pd.isna(r[f"{check}_agrees"])
    color = colors[r["init_scale_rel"]]
    ax.plot(x, q, color=color, lw=1.0, ls="-" if resolved else ":")
    k = np.searchsorted(x, r["stabilisation_log_time"] / np.log(10.0))
    if np.isfinite(r["stabilisation_log_time"]) and k < len(x):
        ax.plot(x[k], q[k], "o", color=color, ms=3)


def _flow_limits(a, s):
    """The flow-limit figure, when flow runs were judged."""
    return figure_flow_limits(a.derived["diag"], a.runs) if len(a.derived["checks"]) else None


FIGURES = (
    Figure("stable_rank_vs_step", lambda a, s: figure_stable_rank(a.derived["diag"])),
    Figure("kkt_alignment_vs_step", lambda a, s: figure_kkt_alignment(a.derived["diag"])),
    Figure("test_accuracy_vs_d", lambda a, s: figure_test_accuracy(a.runs, s)),
    Figure("flow_limits_vs_time", _flow_limits),
)
