"""Figures that read results: one style for all of them, legible at a paper's column width.

Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies); sizes are
in inches for a 3.4 in column. matplotlib is imported here only, with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
COLUMN_WIDTH = 3.4  # inches
TEXT_WIDTH = 7.0  # inches: multi-panel figures span the page
_STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
}


def pyplot():
    """matplotlib.pyplot with the Agg backend and iblab's style applied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update(_STYLE | {"axes.prop_cycle": cycler(color=OKABE_ITO)})
    return plt


def colors_for(values) -> dict:
    """One Okabe-Ito colour per distinct value, in sorted order."""
    ordered = sorted(set(values))
    return {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(ordered)}


def power_of_ten(value: float) -> str:
    """A label for value: $10^{k}$ (typeset) when it is a power of ten, else value:g."""
    k = np.log10(value) if value > 0 else np.nan
    return f"$10^{{{k:.0f}}}$" if np.isfinite(k) and float(k).is_integer() else f"{value:g}"


def break_gaps(x, y, decades: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) sorted by x with NaN inserted where consecutive x are more than `decades`
    apart, so a line is not drawn across a stretch with no data."""
    order = np.argsort(np.asarray(x, float))
    x, y = np.asarray(x, float)[order], np.asarray(y, float)[order]
    xs, ys = [], []
    for i in range(len(x)):
        if i and x[i - 1] > 0 and np.log10(x[i] / x[i - 1]) > decades:
            xs.append(np.nan)
            ys.append(np.nan)
        xs.append(x[i])
        ys.append(y[i])
    return np.asarray(xs), np.asarray(ys)


def legend_below(fig, axes, ncol: int = 3, title: str | None = None) -> None:
    """One legend for the whole figure, below the panels (out of the data's way), from the
    labelled artists of every panel (each label once)."""
    handles, labels = {}, []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        fig.legend(
            [handles[lab] for lab in labels], labels, loc="outside lower center", ncol=ncol,
            frameon=False, title=title,
        )  # fmt: skip


def history_figure(history: pd.DataFrame, path: str | Path) -> Path:
    """One run's history: loss, activation-pattern changes and (when recorded) stable rank,
    against the step (or flow time), in stacked panels sharing the x axis."""
    plt = pyplot()
    x_name = "time" if "time" in history else "step"
    panels = [("loss", "loss", True), ("pattern_changes", "pattern changes", False)]
    if "stable_rank" in history:
        panels.append(("stable_rank", "stable rank", False))
    fig, axes = plt.subplots(
        len(panels), 1, sharex=True, figsize=(COLUMN_WIDTH, 1.2 * len(panels) + 0.4)
    )
    x = history[x_name].to_numpy(dtype=float)
    positive = x > 0
    for ax, (column, label, log) in zip(axes, panels, strict=True):
        y = history[column].to_numpy(dtype=float)
        ax.plot(x[positive], y[positive], color=OKABE_ITO[0])
        if log and np.all(y[positive] > 0):
            ax.set_yscale("log")
        ax.set_ylabel(label)
    axes[0].set_xscale("log")
    axes[-1].set_xlabel("flow time" if x_name == "time" else "step")
    fig.align_ylabels(axes)
    return _save(fig, plt, path)


def metric_figure(
    runs: pd.DataFrame, x: str, y: str, path: str | Path, hue: str | None = None
) -> Path:
    """One metric of a sweep against one axis: every run as a dot and the median per x as a
    line, one colour per value of `hue`. Axes are logarithmic when their values are positive
    and span more than two decades."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
    groups = [(None, runs)] if hue is None else list(runs.groupby(hue, sort=True))
    for k, (value, part) in enumerate(groups):
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        label = None if hue is None else f"{_short(hue)} = {value:g}" if _is_num(value) else value
        ax.scatter(part[x], part[y], s=6, alpha=0.35, color=colour, linewidths=0)
        median = part.groupby(x, sort=True)[y].median()
        ax.plot(median.index, median.to_numpy(), marker="o", ms=3, color=colour, label=label)
    for axis, values in (("x", runs[x]), ("y", runs[y])):
        v = pd.to_numeric(values, errors="coerce").dropna()
        if len(v) and (v > 0).all() and v.max() / v.min() > 100:
            getattr(ax, f"set_{axis}scale")("log")
    ax.set_xlabel(_short(x))
    ax.set_ylabel(_short(y))
    if hue is not None:
        ax.legend(frameon=False, loc="best")
    return _save(fig, plt, path)


def _short(column: str) -> str:
    return column.removeprefix("config.")


def _is_num(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating)


def _save(fig, plt, path) -> Path:
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
