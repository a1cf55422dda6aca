"""Figures that read results: one style for all of them, legible at a paper's column width.

Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies); sizes are
in inches for a 3.4 in column. matplotlib is imported here only, with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iblab.plotting import Plot, auto_log, summarise

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
    """matplotlib.pyplot with the Agg backend and iblab's style applied.

    Returns:
        (module): The matplotlib.pyplot module.
    """
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


def metric_figure(runs: pd.DataFrame, plot: Plot):
    """One metric of a sweep against one axis, as `iblab plot` draws it.

    The median over the runs at each point is a line, with the band `plot.band` where
    several runs share a point (band none: each run a dot); one colour per combination of
    the hue keys, one line style per style value, one panel per facet value (shared axes).

    Args:
        runs: The runs to draw, as `iblab.plotting.prepare` gives them.
        plot: What to draw, from `iblab.plotting.prepare`.

    Returns:
        (matplotlib.figure.Figure): The open Figure; `save` it.
    """
    plt = pyplot()
    points = summarise(runs, plot)
    panels = _groups(points, [plot.facet] if plot.facet else [])
    fig, axes = _panels(plt, len(panels))
    colours = _palette(points, list(plot.hue), OKABE_ITO)
    styles = _palette(points, [plot.style] if plot.style else [], LINE_STYLES)
    ncols = min(len(panels), 3)
    for i, (ax, (value, part)) in enumerate(zip(axes, panels, strict=True)):
        for key, line in _groups(part, [*plot.hue, *([plot.style] if plot.style else [])]):
            dash, marker = styles[key[len(plot.hue) :]]
            _line(ax, line, plot, colours[key[: len(plot.hue)]], dash, marker)
        if plot.band == "none":
            shown = runs if not value else runs[_equal(runs[plot.facet], value[0])]
            _dots(ax, shown, plot, colours)
        if value:
            ax.set_title(_label([plot.facet], value))
        if i + ncols >= len(panels):  # no panel below: x tick labels and label here
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(_short(plot.x))
        if i % ncols == 0:
            ax.set_ylabel(_short(plot.y) + _band_note(points, plot.band))
    _scales(axes[0], runs, plot)
    _legend(fig, axes, _handles(plot, colours, styles), below=plot.facet is not None)
    return fig


LINE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))  # dash and marker per value
_BAND_NOTES = {"iqr": "band: quartiles", "minmax": "band: min to max", "none": "dots: runs"}


def _groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple[tuple, pd.DataFrame]]:
    """(key tuple, rows) per combination of keys' values, in sorted order, a missing value
    (NaN) last and as None; one group with key () when there are no keys."""
    if not keys:
        return [((), frame)]
    groups = frame.groupby(keys, dropna=False, sort=True)
    return [(tuple(None if pd.isna(v) else v for v in key), part) for key, part in groups]


def _panels(plt, n: int):
    """A figure with n panels sharing their axes (up to three a row) and the panels."""
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    size = (COLUMN_WIDTH, 2.4) if n == 1 else (TEXT_WIDTH, 2.0 * nrows + 0.6)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=size, sharex=True, sharey=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, list(axes.ravel()[:n])


def _palette(points: pd.DataFrame, keys: list[str], choices) -> dict:
    """key tuple -> one of choices, per combination of keys' values in sorted order."""
    combos = [key for key, _ in _groups(points[keys].drop_duplicates(), keys)]
    return {key: choices[i % len(choices)] for i, key in enumerate(combos)}


def _line(ax, line: pd.DataFrame, plot: Plot, colour, dash: str, marker: str) -> None:
    """The medians of one line and, where several runs share a point, its band."""
    ax.plot(line[plot.x], line["median"], ls=dash, marker=marker, ms=3, color=colour)
    band = line.dropna(subset=["low", "high"])
    if len(band):
        ax.fill_between(band[plot.x], band["low"], band["high"], color=colour, alpha=0.2, lw=0)


def _dots(ax, runs: pd.DataFrame, plot: Plot, colours: dict) -> None:
    """Each run as a dot, in its line's colour (band none)."""
    for key, part in _groups(runs, list(plot.hue)):
        ax.scatter(part[plot.x], part[plot.y], s=6, alpha=0.35, color=colours[key], lw=0)


def _equal(values: pd.Series, value) -> pd.Series:
    """values == value, a missing value (None) equal to a missing value."""
    return values.isna() if value is None else values == value


def _scales(ax, runs: pd.DataFrame, plot: Plot) -> None:
    """Log axes where asked for, or (not asked) where auto_log says (shared by all panels)."""
    for axis, col, forced in (("x", plot.x, plot.logx), ("y", plot.y, plot.logy)):
        if forced or (forced is None and auto_log(runs[col])):
            getattr(ax, f"set_{axis}scale")("log")


def _band_note(points: pd.DataFrame, band: str) -> str:
    """What the line and band are, for the y label, when some point has several runs."""
    return f" (median; {_BAND_NOTES[band]})" if (points["runs"] > 1).any() else ""


def _handles(plot: Plot, colours: dict, styles: dict) -> list:
    """Legend entries: one per colour (with no style key: in its line style), then one per
    line style (in black)."""
    from matplotlib.lines import Line2D

    handles = []
    if plot.hue:
        dash, marker = LINE_STYLES[0]
        for key, colour in colours.items():
            label = _label(list(plot.hue), key)
            handles.append(Line2D([], [], color=colour, ls=dash, marker=marker, ms=3, label=label))
    if plot.style:
        for key, (dash, marker) in styles.items():
            label = _label([plot.style], key)
            handles.append(Line2D([], [], color="black", ls=dash, marker=marker, ms=3, label=label))
    return handles


def _legend(fig, axes, handles: list, below: bool) -> None:
    """The legend: below the panels (several panels) or in the panel's best corner."""
    if not handles:
        return
    if below:
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    else:
        axes[0].legend(handles=handles, frameon=False, loc="best")


def _label(keys: list[str], values) -> str:
    """'gd, train.lr = 0.1': each key's value; a value other than a string named by its key."""
    return ", ".join(_part(k, v) for k, v in zip(keys, values, strict=True))


def _part(key: str, value) -> str:
    if isinstance(value, str):
        return value
    return f"{_short(key)} = {f'{value:g}' if _is_num(value) else value}"


def save(fig, path: str | Path) -> Path:
    """Save a figure (format from the suffix) and close it.

    Args:
        fig (matplotlib.figure.Figure): The figure.
        path: Where to write it (.png, .pdf, ...).

    Returns:
        The path written.
    """
    return _save(fig, pyplot(), path)


def _short(column: str) -> str:
    return column.removeprefix("config.")


def _is_num(value) -> bool:
    number = isinstance(value, int | float | np.integer | np.floating)
    return number and not isinstance(value, bool | np.bool_)


def _save(fig, plt, path) -> Path:
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
