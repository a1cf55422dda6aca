"""Figures of the Lai et al. (2026) reproduction, each declared as a `Figure` drawn from
the analysis, in iblab's figure style (iblab.figures)."""

from __future__ import annotations

import math
import textwrap

import numpy as np

from iblab import figures
from iblab.experiments.skeleton import Figure

from .analysis import STABILISATION, ZERO_GAP, switch_share_by_d
from .rules import EXPONENT_TARGET, INIT_SHARE_TARGET, LR_EXPONENT, QUICK_SWITCH
from .runs import G
from .settings import convention_group

ZERO = ZERO_GAP
GAP_LABEL = "relative gap to the reference"


def group_names(s) -> dict[str, str]:
    """What each run group is, in words (legends never show code names)."""
    return {
        G.D_SINGLE: "single neuron, d varies (n fixed)",
        G.N_SINGLE: "single neuron, n varies (d fixed)",
        G.D_WIDTH: f"width {s.width}, lr factor {s.lr_factor}",
        G.D_WIDTH_SMALL_LR: f"width {s.width}, lr factor {s.small_lr_factor}",
        G.D_WIDTH_FLOW: f"width {s.width}, gradient flow",
        G.D_SINGLE_FLOW: f"single neuron, gradient flow, init scale {s.init_scale:g}",
        G.N_WIDTH_FLOW: f"width {s.width}, gradient flow, n varies",
        G.N_WIDTH_FLOW_CUBIC: (
            f"width {s.width}, gradient flow, n varies, d = {s.cubic_d_factor} n^3"
        ),
        G.ANISO_POWER_LAW_FLOW: f"width {s.width}, gradient flow, power-law spectrum",
        G.ANISO_SPIKED_FLOW: f"width {s.width}, gradient flow, spiked spectrum",
        G.ANISO_POWER_LAW: "single neuron, power-law spectrum",
        G.ANISO_SPIKED: "single neuron, spiked spectrum",
        G.INIT_SWEEP: f"gradient flow, n / d = {s.n / s.init_sweep_d:.1e}",
    } | {
        convention_group(labels, scale): f"gradient flow, init scale {scale:g}"
        for labels, scale in s.single_conventions
    }


def _scatter_fit(ax, g, xcol: str, label: str, color, check=None, fit=None,
                 guide: float = 0.5, floor: float = math.nan) -> None:  # fmt: skip
    """Runs and a line: the exponent rule's check (its median fit over its window) or a
    least-squares `fit` over every run; dashed, the method's `floor`; dotted, a line of slope
    `guide` (the rule's target) through the fit's last point."""
    counted = g.counted  # as in the fits
    ok = g[counted & (g["gap"] > ZERO)]
    zeros = g[counted & (g["gap"] <= ZERO)]
    ax.scatter(ok[xcol], ok["gap"], s=10, alpha=0.6, color=color, label=label, linewidths=0)
    if len(zeros):
        ax.scatter(zeros[xcol], np.full(len(zeros), ZERO), marker="v", s=10, color=color,
                   alpha=0.6)  # fmt: skip
    bad = g[~counted]
    if len(bad):
        y = bad["gap"].where(bad["gap"] > ZERO, ZERO)
        ax.scatter(bad[xcol], y, marker="x", s=12, color=color, alpha=0.6)
    if np.isfinite(floor) and floor > ZERO:
        ax.axhline(floor, color=color, ls="--", lw=0.8)
    line = check if check is not None and np.isfinite(check.exponent) else fit
    if line is not None and len(ok):
        window = check.window if line is check else (ok[xcol].min(), ok[xcol].max())
        xs = np.geomspace(*window, 50)
        name = "median fit" if line is check else "fit"
        ax.plot(xs, np.exp(line.intercept) * xs**line.exponent, color=color,
                label=f"  {name}: exponent {line}")  # fmt: skip
        ref = np.exp(line.intercept) * (xs / xs[-1]) ** guide * xs[-1] ** line.exponent
        ax.plot(xs, ref, color=color, ls=":", lw=1)


def _loglog(ax, xlabel: str, ylabel: bool = True) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(GAP_LABEL)
    ax.grid(True, which="major", alpha=0.2)


def _legend_under(ax, panels: int) -> None:
    """The panel's legend under it, each label wrapped to the panel's width (about 110
    characters of legend text across the page), so that neighbours' legends do not meet."""
    handles, labels = ax.get_legend_handles_labels()
    width = 110 // panels
    labels = [textwrap.fill(lab, width, subsequent_indent="    ") for lab in labels]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.24), frameon=False,
              ncol=1)  # fmt: skip


GAP_NOTE = (
    "dots: runs; v: gap at numerical zero (1e-9); x: no global minimum reached or a reference "
    "not solved to optimality (left out); solid: median fit over the three decades of x "
    "nearest 0;\ndotted: slope {guide:g} (the rule's target) through the fit's last point; "
    "dashed: the method's floor (its gap on exactly orthogonal inputs)"
)


def _gap_figure(a, s, panels, xcol: str, xlabel: str, guide: float = EXPONENT_TARGET):
    """One panel per (title, groups): each group's runs, fit and floor against xcol, and a
    guide of slope `guide` (the target of the groups' rule)."""
    plt, df, laws = figures.pyplot(), a.runs, a.derived["laws"]
    names, colors = group_names(s), figures.OKABE_ITO
    fig, axes = plt.subplots(
        1, len(panels), figsize=(figures.TEXT_WIDTH, 3.8), layout="constrained", squeeze=False
    )
    axes = axes[0]
    for ax, (title, groups) in zip(axes, panels, strict=True):
        for k, group in enumerate(groups):
            g = df[df.group == group]
            if len(g):
                _scatter_fit(ax, g, xcol, names[group], colors[k], laws[group]["check"],
                             guide=guide, floor=laws[group]["floor"])  # fmt: skip
        _loglog(ax, xlabel, ylabel=ax is axes[0])
        ax.set_title(title)
        _legend_under(ax, len(panels))
    fig.suptitle(GAP_NOTE.format(guide=guide), fontsize=6)
    return fig


def gap_vs_n_over_d(a, s):
    """The gap against n / d: single neuron (QP reference), width m (pattern QP)."""
    panels = (
        ("single neuron (QP reference)", (G.D_SINGLE, G.N_SINGLE, G.D_SINGLE_FLOW)),
        (f"width {s.width} (pattern QP at the final pattern)",
         (G.D_WIDTH, G.D_WIDTH_SMALL_LR, G.D_WIDTH_FLOW, G.N_WIDTH_FLOW, G.N_WIDTH_FLOW_CUBIC)),
    )  # fmt: skip
    return _gap_figure(a, s, panels, "n_over_d", "n / d")


def gap_vs_n_over_trace(a, s):
    """The gap against n / tr Sigma, on anisotropic spectra."""
    panels = (
        ("single neuron, GD, anisotropic spectra", (G.ANISO_POWER_LAW, G.ANISO_SPIKED, G.D_SINGLE)),
        (f"width {s.width}, gradient flow, anisotropic spectra",
         (G.ANISO_POWER_LAW_FLOW, G.ANISO_SPIKED_FLOW, G.D_WIDTH_FLOW)),
    )  # fmt: skip
    return _gap_figure(a, s, panels, "n_over_tr_sigma", "n / tr Sigma")


def gap_vs_init_scale(a, s):
    """The single neuron's flow gap against the init scale at one d (None: not run)."""
    if not len(a.group(G.INIT_SWEEP)):
        return None
    title = f"single neuron, gradient flow, labels {s.init_sweep_labels}, d = {s.init_sweep_d:g}"
    return _gap_figure(a, s, ((title, (G.INIT_SWEEP,)),), "init_scale", "init scale",
                       guide=INIT_SHARE_TARGET)  # fmt: skip


def single_conventions(a, s):
    """The single neuron's flow gap under each labels convention, one panel per labels."""
    panels = []
    for labels in dict.fromkeys(lab for lab, _ in s.single_conventions):
        groups = [convention_group(lab, c) for lab, c in s.single_conventions if lab == labels]
        if labels == s.single_labels and (labels, s.init_scale) not in s.single_conventions:
            groups.insert(0, G.D_SINGLE_FLOW)  # the same d sweep at the settings' init scale
        panels.append((f"single neuron, labels {labels}", tuple(groups)))
    return _gap_figure(a, s, panels, "n_over_d", "n / d")


def _stabilisation_line(axes, g, label: str, last: str, total: str, s) -> None:
    """One reading and method: GD's steps (left: its last change of side, its last flip with
    chatter at the kink, the steps run), the last change of side as a share of the run
    (middle: GD's steps run; the flow's fit time), and the entries that ever changed side
    (right)."""
    colors = figures.OKABE_ITO
    single, flow = label.startswith("single"), last == "last_cross_time"
    flips = "stabilisation_step"  # GD's last flip, chatter included
    label = (
        f"{'single neuron' if single else f'width {s.width}'}, {'gradient flow' if flow else 'GD'}"
    )
    color = colors[0 if single else 1]
    style = {"color": color, "ls": ":" if flow else "-", "marker": "s" if flow else "o",
             "ms": 3, "label": label}  # fmt: skip
    if not flow:  # steps are comparable across d; flow times scale as 1 / d
        med = g.groupby("d")[[last, flips, total]].median()
        axes[0].scatter(g.d, g[last] + 1, s=8, alpha=0.4, color=color, linewidths=0)
        axes[0].plot(med.index, med[last] + 1, color=color,
                     label=f"{label}: last change of side (+1)")  # fmt: skip
        axes[0].plot(med.index, med[flips] + 1, color=color, ls="-.", lw=0.8,
                     label=f"{label}: last flip, chatter included (+1)")  # fmt: skip
        axes[0].plot(med.index, med[total], color=color, ls="--", label=f"{label}: steps run")
    share = switch_share_by_d(g, last, total)
    axes[1].plot(share.index, share.to_numpy(), **style)
    switched = g.groupby("d")["crossed_fraction"].median()
    axes[2].plot(switched.index, switched.to_numpy(), **style)


def stabilisation_vs_d(a, s):
    """When the activation pattern last changes, against d."""
    fig, axes = figures.pyplot().subplots(1, 3, figsize=(figures.TEXT_WIDTH, 2.9),
                                          layout="constrained")  # fmt: skip
    for group, label, last, total in STABILISATION:
        g = a.group(group)
        g = g[g.interpolated]
        if len(g) and last in g:
            _stabilisation_line(axes, g, label, last, total, s)
    axes[1].axhline(QUICK_SWITCH.limit, color="0.5", lw=0.8, ls="--",
                    label=f"the claims' rule: {QUICK_SWITCH.limit:.0%} of the run")  # fmt: skip
    axes[0].set_yscale("log")
    axes[0].set_ylabel("GD step (median over seeds)")
    axes[1].set_ylabel("last change / run (median)\nGD: steps; flow: fit time")
    axes[1].set_ylim(bottom=-0.03)  # the flow's last change can come after its fit time
    axes[2].set_ylabel("entries that ever\nchanged side (median)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("d")
    figures.legend_below(fig, axes, ncol=2)
    return fig


def _extreme_categories(a):
    """(label, runs) per input kind and reading: orthogonal, Gaussian at the largest d,
    low-dimensional."""
    top = a.group(G.D_SINGLE, G.D_WIDTH)
    top = top[top.d == top.d.max()] if len(top) else top
    d_top = figures.power_of_ten(top.d.max()) if len(top) else "?"
    cats = []
    for name, g in (("orthogonal", a.group(G.ORTHOGONAL)), (f"Gaussian, d = {d_top}", top),
                    ("low-dimensional", a.group(G.LOW_DIM))):  # fmt: skip
        for reading in ("single", "width"):
            h = g[g.reading == reading]
            if len(h):
                cats.append((f"{name}\n{'single neuron' if reading == 'single' else 'width'}", h))
    return cats


def extremes(a, s):
    """The gap on orthogonal, high-dimensional Gaussian and low-dimensional inputs."""
    fig, ax = figures.pyplot().subplots(figsize=(figures.TEXT_WIDTH, 3.0), layout="constrained")
    cats = _extreme_categories(a)
    for i, (label, h) in enumerate(cats):
        colour = figures.OKABE_ITO[0] if "single" in label else figures.OKABE_ITO[1]
        for j, r in enumerate(h.itertuples()):
            val = r.gap if np.isfinite(r.gap) else np.nan
            y = max(val, 1e-16) if np.isfinite(val) else 10.0
            marker = "o" if r.counted and np.isfinite(val) else "x"  # as in the fits
            ax.scatter(i + 0.04 * (j - len(h) / 2), y, marker=marker, s=12, color=colour)
    ax.set_xticks(range(len(cats)), [c[0] for c in cats])
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_ylabel(GAP_LABEL)
    ax.set_title("x: left out: no global minimum reached or QP infeasible (drawn at 10), or a "
                 "reference not solved to optimality (drawn at its gap)", fontsize=7)  # fmt: skip
    return fig


def gap_vs_lr(a, s):
    """GD's gap against the lr factor: the step-size floor."""
    lr = a.group(G.LR_SWEEP)
    if not len(lr):
        return None
    fig, ax = figures.pyplot().subplots(figsize=(figures.COLUMN_WIDTH, 3.4), layout="constrained")
    for k, kind in enumerate(("orthogonal", "gaussian")):
        g = lr[lr.lr_data == kind]
        if len(g):
            d_label = figures.power_of_ten(s.lr_sweep_d)
            label = "orthogonal inputs" if kind == "orthogonal" else f"Gaussian, d = {d_label}"
            _scatter_fit(ax, g, "lr_factor", label, figures.OKABE_ITO[k],
                         fit=a.derived["lr_fits"][kind], guide=LR_EXPONENT.limit)  # fmt: skip
    xs = np.geomspace(lr.lr_factor.min(), lr.lr_factor.max(), 20)
    top = lr[lr.lr_data == "orthogonal"]["gap"].median()
    ax.plot(xs, top * xs / xs.max(), color="grey", ls="--", lw=0.8, label="slope 1")
    _loglog(ax, "lr factor (lr = factor n / ||K||_2)")
    ax.set_title(f"width {s.width}, n = {s.n}: the step-size floor")
    fig.suptitle(f"dotted: slope {LR_EXPONENT.limit:g} (the rule's target) through the fit's "
                 "last point", fontsize=7)  # fmt: skip
    figures.legend_below(fig, [ax], ncol=1)
    return fig


def dynamics(a, s):
    """Gap, prediction change and pattern changes against step: colour = d (a sequential
    colour-blind-safe map with a colour bar), line style = reading."""
    import matplotlib as mpl

    plt, dyn = figures.pyplot(), a.derived["dynamics"]
    if not dyn:
        return None
    ds = sorted({d for (_, d), v in dyn.items() if v})
    norm = mpl.colors.LogNorm(min(ds), max(ds))
    cmap = plt.get_cmap("cividis")
    fig, axes = plt.subplots(1, 3, figsize=(figures.TEXT_WIDTH, 2.6), layout="constrained")
    for (reading, d), v in sorted(dyn.items()):
        if not v:
            continue
        ls = "-" if reading == "width" else "--"
        c = cmap(norm(d))
        st = np.maximum(v["step"], 1)
        axes[0].plot(st, np.maximum(v["gap_to_ref"], 1e-16), ls=ls, color=c)
        axes[1].plot(st, np.maximum(v["prediction_change"], 1e-16), ls=ls, color=c)
        axes[2].plot(st, v["pattern_changes"], ls=ls, color=c)
    labels = (
        GAP_LABEL,
        "max_i |f_t(x_i) - f_end(x_i)|",
        "pattern entries changed\nsince the last record",
    )
    for ax, label in zip(axes, labels, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    for ls, name in (("--", "single neuron"), ("-", f"width {s.width}")):
        axes[0].plot([], [], ls=ls, color="grey", label=name)
    figures.legend_below(fig, axes, ncol=2)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="d", pad=0.01)
    return fig


FIGURES = tuple(
    Figure(f.__name__, f)
    for f in (gap_vs_n_over_d, gap_vs_n_over_trace, single_conventions, gap_vs_init_scale,
              stabilisation_vs_d, extremes, gap_vs_lr, dynamics)
)  # fmt: skip
