"""Figures of the Lai et al. (2026) reproduction (PNG and PDF via common.save_figure)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from iblab.experiments.common import save_figure  # noqa: E402

ZERO = 1e-9


def _scatter_fit(ax, g: pd.DataFrame, xcol: str, fit, label: str, color) -> None:
    ok = g[g.interpolated & (g["gap"] > ZERO)]
    zeros = g[g.interpolated & (g["gap"] <= ZERO)]
    ax.scatter(ok[xcol], ok["gap"], s=14, alpha=0.6, color=color, label=label)
    if len(zeros):
        ax.scatter(zeros[xcol], np.full(len(zeros), ZERO), marker="v", s=14, color=color,
                   alpha=0.6)  # fmt: skip
    bad = g[~g.interpolated]
    if len(bad):
        y = bad["gap"].where(bad["gap"] > ZERO, ZERO)
        ax.scatter(bad[xcol], y, marker="x", s=18, color=color, alpha=0.6)
    if fit is not None and len(ok):
        xs = np.geomspace(ok[xcol].min(), ok[xcol].max(), 50)
        ax.plot(xs, np.exp(fit.intercept) * xs**fit.exponent, color=color,
                label=f"fit: exponent {fit}")  # fmt: skip
        ref = np.exp(fit.intercept) * np.sqrt(xs / xs[-1]) * xs[-1] ** fit.exponent
        ax.plot(xs, ref, color=color, ls=":", lw=1)


def _loglog(ax, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("||theta_GD - theta_ref|| / ||theta_ref - theta_0||")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.2)


def make_figures(df: pd.DataFrame, fits: dict, dyn: dict, s, out: Path) -> list[Path]:
    paths = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("d_single", "n_single"), ("d_width", "d_width_small_lr"))
    for ax, groups in zip(axes, panels, strict=True):
        for k, group in enumerate(groups):
            g = df[df.group == group]
            if len(g):
                _scatter_fit(ax, g, "n_over_d", fits.get(f"{group}:gap"), group, colors[k])
        _loglog(ax, "n / d")
    axes[0].set_title("single neuron (QP reference); dotted: slope 1/2", fontsize=9)
    axes[1].set_title(
        f"width m = {s.width} (pattern QP at GD's final pattern); lr factors {s.lr_factor} "
        f"(d_width) and {s.small_lr_factor} (d_width_small_lr)",
        fontsize=8,
    )
    fig.suptitle("gap vs n/d (v: gap at numerical zero, x: no global minimum reached)",
                 fontsize=9)  # fmt: skip
    paths += save_figure(fig, out, "gap_vs_n_over_d")

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, group in enumerate(("aniso_power_law", "aniso_spiked", "d_single")):
        g = df[df.group == group]
        if len(g):
            _scatter_fit(ax, g, "n_over_tr_sigma", fits.get(f"{group}:gap"), group, colors[k])
    _loglog(ax, "n / ||lambda||_1 = n / tr Sigma")
    ax.set_title("single neuron, anisotropic spectra", fontsize=9)
    paths += save_figure(fig, out, "gap_vs_n_over_trace")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, reading in enumerate(("single", "width")):
        g = df[(df.group == f"d_{reading}") & df.interpolated]
        if not len(g):
            continue
        med = g.groupby("d")[["stabilization_step", "steps_run", "switched_fraction"]].median()
        axes[0].scatter(g.d, g.stabilization_step + 1, s=12, alpha=0.5, color=colors[k])
        axes[0].plot(med.index, med.stabilization_step + 1, color=colors[k],
                     label=f"{reading}: stabilisation step + 1")  # fmt: skip
        axes[0].plot(med.index, med.steps_run, color=colors[k], ls="--",
                     label=f"{reading}: steps run")  # fmt: skip
        axes[1].plot(med.index, med.switched_fraction, color=colors[k], marker="o",
                     label=reading)  # fmt: skip
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("d")
    axes[0].legend(fontsize=7)
    axes[0].set_title("last step at which the activation pattern changed", fontsize=9)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("d")
    axes[1].set_ylabel("fraction of points whose pattern ever changed")
    axes[1].legend(fontsize=7)
    paths += save_figure(fig, out, "stabilisation_vs_d")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    cats = []
    top = df[df.group.isin(["d_single", "d_width"])]
    top = top[top.d == top.d.max()] if len(top) else top
    for name, g in (
        ("orthogonal", df[df.group == "orthogonal"]),
        (f"Gaussian d={int(top.d.max()) if len(top) else 0}", top),
        ("low-dim", df[df.group == "low_dim"]),
    ):
        for reading in ("single", "width"):
            h = g[g.reading == reading]
            if len(h):
                cats.append((f"{name}\n{reading}", h))
    for i, (_, h) in enumerate(cats):
        for j, r in enumerate(h.itertuples()):
            val = r.gap if np.isfinite(r.gap) else np.nan
            y = max(val, 1e-16) if np.isfinite(val) else 10.0
            marker = "o" if (r.interpolated and np.isfinite(val)) else "x"
            ax.scatter(i + 0.05 * (j - len(h) / 2), y, marker=marker, color=colors[i % 10])
    ax.set_xticks(range(len(cats)), [c[0] for c in cats], fontsize=7)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_ylabel("relative gap (x: no global minimum / QP infeasible, plotted at 10)")
    ax.set_title("extremes: exactly orthogonal vs low-dimensional correlated inputs", fontsize=9)
    paths += save_figure(fig, out, "extremes")

    lr = df[df.group == "lr_sweep"]
    if len(lr):
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for k, kind in enumerate(("orthogonal", "gaussian")):
            g = lr[lr.lr_data == kind]
            if not len(g):
                continue
            label = "orthogonal" if kind == "orthogonal" else f"Gaussian d={s.lr_sweep_d}"
            fit = fits.get(f"lr_sweep:{kind}")
            _scatter_fit(ax, g, "lr_factor", fit, label, colors[k])
        xs = np.geomspace(lr.lr_factor.min(), lr.lr_factor.max(), 20)
        top = lr[lr.lr_data == "orthogonal"]["gap"].median() if len(lr) else 1.0
        ax.plot(xs, top * xs / xs.max(), color="grey", ls="--", lw=0.8, label="slope 1")
        _loglog(ax, "lr factor (lr = factor * n / ||K||_2)")
        ax.set_title(f"width m = {s.width}: gap vs step size (n = {s.n})", fontsize=9)
        paths += save_figure(fig, out, "gap_vs_lr")

    if dyn:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4))
        for k, ((reading, d), v) in enumerate(sorted(dyn.items())):
            if not v:
                continue
            ls = "-" if reading == "width" else "--"
            c = colors[k % 10]
            lab = f"{reading} d={d}"
            st = np.maximum(v["step"], 1)
            axes[0].plot(st, np.maximum(v["gap"], 1e-16), ls=ls, color=c, label=lab)
            axes[1].plot(st, np.maximum(v["prediction_change"], 1e-16), ls=ls, color=c)
            axes[2].plot(st, v["pattern_changes"], ls=ls, color=c)
        for ax, t in zip(
            axes,
            ("relative distance to the reference", "max |f_t(x_i) - f_end(x_i)|",
             "pattern entries changed since the last record"),
            strict=True,
        ):  # fmt: skip
            ax.set_xscale("log")
            ax.set_title(t, fontsize=9)
            ax.set_xlabel("step")
        axes[0].set_yscale("log")
        axes[1].set_yscale("log")
        axes[0].legend(fontsize=6)
        paths += save_figure(fig, out, "dynamics")
    return paths
