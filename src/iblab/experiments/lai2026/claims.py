"""Lai et al. (2026) reproduction: its claims, each a statistic of the runs and rules of
`iblab.claims` whose thresholds are their parameters (rules.py)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from iblab.claims import ExponentCheck, Verdict, any_of, within
from iblab.experiments.skeleton import ClaimSpec, Measured, resolve

from . import rules
from .analysis import (
    STABILISATION,
    SWEEP_RULES,
    ZERO_GAP,
    gap_column,
    sweeps,
    switch_share_by_d,
)
from .runs import G, orthogonal_d
from .settings import LaiSettings, convention_group

SQRT_ND, SQRT_TRACE = "Theta(sqrt(n/d))", "Theta(sqrt(n/||lambda||_1))"
FLOW_LIMIT = " (the gradient-flow limit)"


def _fit_text(f) -> str:
    return "no fit (fewer than 3 nonzero gaps)" if f is None else str(f)


def _by_x(g: pd.DataFrame, xcol: str, col: str) -> str:
    """Median and geometric mean (of the nonzero values) of col per x."""
    parts = []
    for x, v in g.groupby(xcol)[col]:
        pos = v[v > ZERO_GAP]
        geo = math.exp(float(np.log(pos).mean())) if len(pos) else math.nan
        parts.append(f"{x:.0e}: {v.median():.2g} / {geo:.2g}")
    return ", ".join(parts) or "none"


X_NAMES = {"n_over_d": "n/d", "n_over_tr_sigma": "n/tr Sigma", "init_scale": "init scale"}


class Beside(NamedTuple):
    """A second sweep read beside an exponent row: its group, its exponent's name in the row's
    details (settings -> text), the criterion's words for how it weighs in (settings -> text),
    and the rule that weighs it (rules.py: (law, beside) -> outcome)."""

    group: str
    name: Callable[[LaiSettings], str]
    criterion: Callable[[LaiSettings], str]
    regime: Callable[[ExponentCheck, ExponentCheck], Verdict | ExponentCheck]


INIT_SHARE_BESIDE = Beside(
    G.INIT_SWEEP,
    lambda s: f"gap against the init scale at d = {s.init_sweep_d:g}",
    lambda s: (
        "a contradiction is not resolved (outside the claim's regime) when the gap against the "
        f"init scale at d = {s.init_sweep_d:g} agrees with exponent {rules.INIT_SHARE_TARGET:g} "
        "by the same rule (the gap is the initialisation's share)"
    ),
    rules.outside_regime,
)
CUBIC_D_BESIDE = Beside(
    G.N_WIDTH_FLOW_CUBIC,
    lambda s: f"the same n sweep with d = {s.cubic_d_factor} n^3",
    lambda s: (
        "an outcome other than agrees is not resolved (outside the claim's regime: the data "
        "are not high-dimensional enough for these n) when the same n sweep with d = "
        f"{s.cubic_d_factor} n^3 agrees by the exponent rule over the "
        f"{_decades(G.N_WIDTH_FLOW_CUBIC, s):g} decades of n/d nearest 0 (along d ~ n^3 the "
        "exponent in n/d is (3 b - a) / 2 for gap ~ n^a d^-b: half as sensitive to a)"
    ),
    rules.fixed_d_regime,
)


def _exponent(group: str, beside: Beside | None = None):
    """The statistic of an exponent claim: the group's law (analysis.law); with `beside`,
    also the law of that group, for its rule."""

    def statistic(a, s: LaiSettings) -> Measured:
        law = a.derived["laws"][group]
        check, (used, zeros, total, inaccurate) = law["check"], law["counts"]
        xcol, col = sweeps(s)[group][0], gap_column(s)
        which = "relative gap" if col == "gap" else "unnormalised distance"
        g = a.group(group)
        details = (
            f"{which}: {check.text(X_NAMES[xcol], _target(group))}; median / geometric mean "
            f"by {X_NAMES[xcol]}: {_by_x(g[g.counted], xcol, col)}; unnormalised distance "
            f"exponent {_fit_text(law['distance'])} (least squares, full range); "
            f"{used}/{total} runs reached a global minimum, {zeros} of them with gap < "
            f"{ZERO_GAP:g}, {inaccurate} with an inaccurate reference (left out)"
        )
        if law["method"] == "gd":
            details += (f"; GD's step-size floor (its gap on exactly orthogonal inputs at this "
                        f"lr factor) {law['floor']:.2g}, reported, not censored")  # fmt: skip
        args: tuple = (law["args"],)
        if beside is not None:
            other = a.derived["laws"][beside.group]["check"]
            details += f"; {beside.name(s)}: exponent {other}"
            args += (a.derived["laws"][beside.group]["args"],)
        changed = law["changes"]["met"]
        if len(changed):
            details += (f"; where the median gap is 0, {int(changed.sum())} of "
                        f"{len(changed)} runs ever changed their activation pattern")  # fmt: skip
        args += (law["changes"],)
        top = f"{X_NAMES[xcol]} <= {check.window[1]:.1e}"
        zero = rules.gap_is_zero(check, len(changed))
        at_floor = "gap 0: " if zero else "at the floor: " if "floor" in check.reason else ""
        estimate = (f"{at_floor}exponent {check} ({check.n_points} runs, {top})"
                    if np.isfinite(check.exponent) else f"no fit ({check.reason})")  # fmt: skip
        why = (f"none of the {total} runs reaches a global minimum, which is what the claim is "
               "about" if total and not used else "")  # fmt: skip
        return Measured(args, estimate, details, why)

    return statistic


def _target(group: str) -> float:
    return rules.INIT_SHARE_TARGET if group == G.INIT_SWEEP else rules.EXPONENT_TARGET


def _decades(group: str, s: LaiSettings) -> float:
    """The decades of the swept variable that the group's exponent rule fits."""
    return resolve(SWEEP_RULES.get(group, rules.EXPONENT).params, s)["decades"]


def _exponent_criterion(group: str, beside: Beside | None = None):
    def criterion(s: LaiSettings) -> str:
        xcol = sweeps(s)[group][0]
        x = X_NAMES[xcol]
        target, tol = ((rules.INIT_SHARE_TARGET, rules.INIT_SHARE_TOL) if group == G.INIT_SWEEP
                       else (rules.EXPONENT_TARGET, rules.EXPONENT_TOL))  # fmt: skip
        decades = _decades(group, s)
        text = (
            f"median (quantile 0.5) regression of log {gap_column(s)} on log {x} over the "
            f"{decades:g} decades of {x} nearest 0 that the sweep has, with a "
            f"95% interval from {s.n_boot} resamples of the seeds: agrees when the interval "
            f"lies {within(target, tol)}, contradicts when it lies entirely outside; not "
            f"resolved otherwise, when the sweep spans fewer than {decades:g} "
            f"decades or the window fewer than {rules.MIN_VALUES} values, or when the median "
            f"gap at some {x} of the window is within {rules.FLOOR_MARGIN:g}x of the floor "
            "(the flow's: its gap on exactly orthogonal inputs, never below the numerical zero; "
            "gaps below it are set to it; GD is judged as GD, by what it ends with at its step, "
            "against the numerical zero); where the method is exact (floor: the numerical "
            "zero) and the median "
            f"gap at some {x} of the window is 0, outside the claim's regime when fewer than "
            f"{rules.MOST_CHANGE.limit:.0%} of the runs at those {x} ever change their "
            "activation pattern (GD: any flip; the flow: any event; a network whose pattern "
            "never changes is linear on its active entries and ends at the min-norm point), "
            "contradicts otherwise"
        )
        if beside is not None:
            text += "; " + beside.criterion(s)
        return text

    return criterion


def exponent_claim(group: str, statement, paper: str, beside: Beside | None = None) -> ClaimSpec:
    """The claim that the group's gap follows the paper's square-root law; with `beside`, its
    outcome is weighed against that sweep's exponent by the sweep's rule."""
    law = SWEEP_RULES.get(group, rules.EXPONENT)
    checks = (law, rules.PATTERN_CHANGES)
    outcome = rules.exponent_outcome
    if beside is not None:
        checks = (law, SWEEP_RULES.get(beside.group, rules.EXPONENT), rules.PATTERN_CHANGES)
        outcome = functools.partial(rules.exponent_outcome, regime=beside.regime)
    return ClaimSpec(
        statement,
        paper,
        (group,),
        _exponent(group, beside),
        checks,
        _exponent_criterion(group, beside),
        outcome,
    )


def _in_share_window(s: LaiSettings, labels: str, scale: float) -> bool:
    """A convention whose init lies in the init sweep's fitted window (its labels, at most
    10^decades times its smallest scale)."""
    top = min(s.init_sweep_scales) * 10**rules.EXPONENT_DECADES
    return labels == s.init_sweep_labels and scale <= top * (1 + 1e-9)


def _conventions(s: LaiSettings) -> list[ClaimSpec]:
    return [
        exponent_claim(convention_group(labels, scale),
                       f"single neuron, flow, {labels}, init {scale:g}: gap ~ sqrt(n/d)",
                       SQRT_ND + FLOW_LIMIT,
                       INIT_SHARE_BESIDE if _in_share_window(s, labels, scale) else None)
        for labels, scale in s.single_conventions
    ]  # fmt: skip


def init_share_claim() -> ClaimSpec:
    """The gap against the init scale at one d: the initialisation's share when ~ init."""
    return exponent_claim(
        G.INIT_SWEEP,
        lambda s: f"single neuron, flow, {s.init_sweep_labels}, d = {s.init_sweep_d:g}: gap ~ "
        "init scale",
        "(ours) at a small init the gap is the initialisation's share",
    )  # fmt: skip


def exponent_claims(s: LaiSettings) -> list[ClaimSpec]:
    """The exponent claims, in table order."""
    return [
        exponent_claim(G.D_SINGLE, "single neuron, GD: gap ~ sqrt(n/d), d varies", SQRT_ND),
        exponent_claim(G.D_WIDTH, lambda s: f"width m, GD (lr factor {s.lr_factor}): gap ~ "
                       "sqrt(n/d), d varies", SQRT_ND),
        exponent_claim(G.D_WIDTH_SMALL_LR, lambda s: f"width m, GD (lr factor "
                       f"{s.small_lr_factor}): gap ~ sqrt(n/d), d varies", SQRT_ND),
        exponent_claim(G.D_WIDTH_FLOW, "width m, exact flow: gap ~ sqrt(n/d), d varies",
                       SQRT_ND + FLOW_LIMIT),
        exponent_claim(G.D_SINGLE_FLOW, "single neuron, exact flow: gap ~ sqrt(n/d), d varies",
                       SQRT_ND + FLOW_LIMIT),
        *_conventions(s),
        init_share_claim(),
        exponent_claim(G.N_SINGLE, "single neuron, GD: gap ~ sqrt(n/d), n varies", SQRT_ND),
        exponent_claim(G.N_WIDTH_FLOW, "width m, exact flow: gap ~ sqrt(n/d), n varies",
                       SQRT_ND + FLOW_LIMIT, CUBIC_D_BESIDE),
        exponent_claim(G.N_WIDTH_FLOW_CUBIC, lambda s: "width m, exact flow: gap ~ sqrt(n/d), "
                       f"n varies, d = {s.cubic_d_factor} n^3", SQRT_ND + FLOW_LIMIT),
        exponent_claim(G.ANISO_POWER_LAW, lambda s: "single neuron, power-law spectrum "
                       f"({s.power_law_exponent}): gap ~ sqrt(n/tr)", SQRT_TRACE),
        exponent_claim(G.ANISO_SPIKED, lambda s: f"single neuron, spiked spectrum {list(s.spikes)}"
                       ": gap ~ sqrt(n/tr)", SQRT_TRACE),
        exponent_claim(G.ANISO_POWER_LAW_FLOW, lambda s: "width m, flow, power-law spectrum "
                       f"({s.power_law_exponent}): gap ~ sqrt(n/tr)", SQRT_TRACE + FLOW_LIMIT),
        exponent_claim(G.ANISO_SPIKED_FLOW, lambda s: f"width m, flow, spiked spectrum "
                       f"{list(s.spikes)}: gap ~ sqrt(n/tr)", SQRT_TRACE + FLOW_LIMIT),
    ]  # fmt: skip


def _orthogonal(group: str, reading: str):
    """Exactly orthogonal inputs: every run reaches the min-norm solution (gap 0)."""

    def statistic(a, s) -> Measured | None:
        g = a.group(group)
        g = g[g.reading == reading]
        if not len(g):
            return None
        reached = g[g.interpolated]
        solid = reached[reached.counted]
        unresolved = (
            f"{len(g) - len(reached)} of {len(g)} runs reach no global minimum"
            if len(reached) < len(g)
            else "no reference solved to optimality"
            if not len(solid)
            else ""
        )
        worst = float(solid["gap"].max()) if len(solid) else math.nan
        details = (
            f"max relative gap {worst:.2e} over the {len(solid)} of {len(g)} runs that reach "
            "a global minimum with a reference solved to optimality "
            f"({len(reached) - len(solid)} inaccurate references left out)"
        )
        return Measured(((solid["gap"],),), f"max gap {worst:.2e} ({len(solid)} runs)",
                        details, unresolved)  # fmt: skip

    return statistic


READING_NAMES = {"single": "single neuron", "width": "width m"}
ORTHOGONAL_PAPER = "gap 0 (Boursier et al. 2022; gradient flow)"
ORTHOGONAL_CRITERION = (
    f"every run reaches a global minimum, and its relative gap {rules.ORTHOGONAL_GAP}"
)


def orthogonal_claims() -> list[ClaimSpec]:
    """GD and the flow on exactly orthogonal inputs, for each reading."""

    def statement(name: str, method: str):
        return lambda s: (f"exactly orthogonal inputs, {name}, {method.format(s=s)}: the "
                          "min-norm solution")  # fmt: skip

    return [
        ClaimSpec(statement(name, method), ORTHOGONAL_PAPER, (group,),
                  _orthogonal(group, reading), (rules.ORTHOGONAL,), ORTHOGONAL_CRITERION)
        for group, method in ((G.ORTHOGONAL, "GD (lr factor {s.lr_factor})"),
                              (G.ORTHOGONAL_FLOW, "gradient flow"))
        for reading, name in READING_NAMES.items()
    ]  # fmt: skip


def _lr_table(g: pd.DataFrame) -> str:
    med = g.groupby("lr_factor")["gap"].median().sort_index(ascending=False)
    return ", ".join(f"{lr:g}: {v:.2e}" for lr, v in med.items())


def _lr_orthogonal(a, s) -> Measured | None:
    """On orthogonal inputs GD's gap is a discretisation floor (gradient flow has gap 0),
    so it should vanish linearly in lr."""
    lr = a.group(G.LR_SWEEP)
    orth = lr[lr.lr_data == "orthogonal"]
    if not len(lr):
        return None
    fit = a.derived["lr_fits"]["orthogonal"]
    exponent = math.nan if fit is None else fit.exponent
    details = (
        f"median relative gap by lr factor: {_lr_table(orth)}; fitted exponent of the gap in "
        f"lr {_fit_text(fit)}; {int(orth.interpolated.sum())}/{len(orth)} interpolate"
    )
    estimate = f"exponent in lr {fit}" if fit is not None else "no fit"
    return Measured(((orth.interpolated,), (exponent,)), estimate, details)


def _lr_gaussian(a, s) -> Measured | None:
    """On Gaussian inputs GD's gap should level off at the gradient-flow gap."""
    lr = a.group(G.LR_SWEEP)
    if not len(lr):
        return None
    gau = lr[(lr.lr_data == "gaussian") & lr.interpolated]
    med = gau.groupby("lr_factor")["gap"].median().sort_index()
    ratio = med.iloc[0] / med.iloc[1] if len(med) >= 2 else math.nan
    details = (
        f"median relative gap by lr factor: {_lr_table(gau)}; fitted exponent of the gap in "
        f"lr {_fit_text(a.derived['lr_fits']['gaussian'])}; sqrt(n/d) = "
        f"{math.sqrt(s.n / s.lr_sweep_d):.3g}"
    )
    return Measured(((ratio,),), f"ratio of the two smallest-lr gaps {ratio:.3g}", details)


def _low_dim(a, s) -> Measured | None:
    low = a.group(G.LOW_DIM)
    solved = low.ref_status.str.startswith("optimal")
    order_one = low[low.interpolated & solved]
    med = float(order_one["gap"].median()) if len(order_one) else math.nan
    fgap = float(low["function_gap"].median()) if len(low) else math.nan
    details = (
        f"{len(low)} runs: {int((~low.interpolated).sum())} do not reach a global minimum, "
        f"{int((~solved).sum())} reference QP infeasible or unsolved; median relative gap of "
        f"the rest {med:.3g}; median function-space gap {fgap:.3g}"
    )
    fails = ~low.interpolated | ~solved
    estimate = f"{int(fails.sum())}/{len(low)} runs fail; median gap {med:.3g}"
    return Measured(((fails,), (med,)), estimate, details)


def _by_d_text(g: pd.DataFrame, last: str, total: str) -> str:
    """The last change by d: the median step (GD), or the median share of the fit time."""
    if last == "last_cross_step":
        by_d = g.groupby("d")[last].median()
        return ", ".join(f"{int(d)}: {v:.0f}" for d, v in by_d.items())
    by_d = switch_share_by_d(g, last, total)
    return ", ".join(f"{d:.0e}: {v:.2g}" if pd.notna(v) else f"{d:.0e}: -" for d, v in by_d.items())


def _not_recorded(g: pd.DataFrame, column: str) -> Measured:
    """A row whose runs were stored before iblab recorded `column` (changes of side)."""
    why = (f"the {len(g)} runs do not record {column} (stored before iblab recorded changes "
           "of side): train them again")  # fmt: skip
    return Measured(((),), "not recorded", why, why)


def _stabilisation(group: str, last: str, total: str):
    def statistic(a, s) -> Measured | None:
        g = a.group(group)
        g = g[g.interpolated]
        if not len(g):
            return None
        if last not in g or g[last].isna().all():
            return _not_recorded(g, last)
        top = g[g.d == g.d.max()]
        stab, run = float(top[last].median()), float(top[total].median())
        share = float((top[last] / top[total]).median())
        seen = (
            f"median last change of side at step {stab:.0f} (last flip, chatter at the kink "
            f"included: {float(top.stabilisation_step.median()):.0f}), median steps run "
            f"{run:.0f}; median share (per run) {share:.2f}"
            if last == "last_cross_step"
            else f"median last change of side at t = {stab:.3g}, median fit time (the loss's "
            f"excess over its limit down to {rules.FIT_DROP:g} of its initial excess) "
            f"{run:.3g}; median share (per run) {share:.2g}"
        )
        unfitted = int(top[total].isna().sum())
        details = (
            f"at d = {g.d.max():.3g}: {seen}; entries that ever changed side (fraction) "
            f"{float(top.crossed_fraction.median()):.2g}; median by d: "
            f"{_by_d_text(g, last, total)}"
        )
        why = (f"{unfitted} of {len(top)} runs at d = {g.d.max():.0e} have no fit time (their "
               "loss's excess never fell that far)" if unfitted else "")  # fmt: skip
        return Measured(((share,),), f"last change of side at {share:.2g} of the run "
                        f"(d = {g.d.max():.0e})", details, why)  # fmt: skip

    return statistic


def _crossings(group: str):
    """The share of pattern entries that ever change side, against d; held entries at the
    end."""

    def statistic(a, s) -> Measured | None:
        g = a.group(group)
        g = g[g.interpolated]
        if not len(g):
            return None
        if "crossed_fraction" not in g or g.crossed_fraction.isna().all():
            return _not_recorded(g, "crossed_fraction")
        held_by_d = g.groupby("d").held_at_end.median()
        held = ", ".join(f"{d:.0e}: {v:.3g}" for d, v in held_by_d.items())
        args = {"x": g.d, "y": g.crossed_fraction, "groups": g.seed, "key": group}
        check = rules.CROSSINGS_FALL_WITH_D(args, s)
        crossed = ", ".join(f"{d:.0e}: {v:.3g}" for d, v in check.medians.items())
        details = (
            f"share of the n m entries that ever changed side: slope {check} of d "
            f"({len(g)} runs, {check.n_groups} seeds); median by d: {crossed}; entries held "
            f"on their kink at the end (median count, a finding of its own), by d: {held}"
        )
        ends = check.medians
        if ends.iloc[0] == 0:  # a share cannot fall below 0
            why = "the median share is 0 already at the smallest d: it cannot fall"
            return Measured((args,), f"median share 0 at every d ({len(g)} runs)"
                            if (ends == 0).all() else f"median share 0 at d = "
                            f"{ends.index[0]:.0e}", details, why)  # fmt: skip
        estimate = (f"slope {check.slope:.2g} [{check.low:.2g}, {check.high:.2g}]/decade; "
                    f"{ends.iloc[0]:.2g} at d = {ends.index[0]:.0e}, {ends.iloc[-1]:.2g} at "
                    f"{ends.index[-1]:.0e}")  # fmt: skip
        return Measured((args,), estimate, details)

    return statistic


def stabilisation_claims() -> list[ClaimSpec]:
    """The activation pattern stabilises early, for each reading and method; for the flow,
    from changes of side (not holds), and fewer entries change side as d grows."""
    quick = [
        ClaimSpec(f"{label}: activation pattern stabilises quickly",
                  "the ReLU pattern stabilises quickly w.h.p.", (group,),
                  _stabilisation(group, last, total), (rules.QUICK_STABILISATION,),
                  "at the largest d, the median last change of side as a share of the run "
                  f"{rules.QUICK_SWITCH} (GD: over the steps run to the loss tol, chatter at "
                  f"the kink not counted; the flow: over the time the loss's excess over its "
                  f"limit falls to {rules.FIT_DROP:g} of its initial excess)")
        for group, label, last, total in STABILISATION
    ]  # fmt: skip
    fewer = [
        ClaimSpec(f"{label}: fewer pattern entries change side as d grows",
                  "the ReLU pattern stabilises quickly w.h.p. (more so in high dimension)",
                  (group,), _crossings(group), (rules.CROSSINGS_FALL_WITH_D,),
                  "the median-regression slope of the share of entries that ever change side "
                  f"on log10 d, its 95% seed-bootstrap interval {rules.FEWER_CROSS}; not "
                  "resolved when the median share is already 0 at the smallest d")
        for group, label, _, _ in STABILISATION
    ]  # fmt: skip
    return quick + fewer


def _linear(a, s) -> Measured:
    lin = a.group(G.LINEAR)
    worst = float(lin["gap"].max()) if len(lin) else math.nan
    return Measured(((lin["gap"],),), f"max gap {worst:.2e} ({len(lin)} runs)",
                    f"max relative gap {worst:.2e} over {len(lin)} runs")  # fmt: skip


def claims(s: LaiSettings) -> list[ClaimSpec]:
    """Every claim of the reproduction, in table order."""
    return [
        *exponent_claims(s),
        *orthogonal_claims(),
        ClaimSpec(lambda s: f"orthogonal inputs (d = {orthogonal_d(s)}), width m: GD's gap is "
                  "O(lr)", "gap 0 for the flow; a GD step overshoots by O(lr)", (G.LR_SWEEP,),
                  _lr_orthogonal, (rules.ALL_INTERPOLATE, rules.LINEAR_IN_LR),
                  f"every run interpolates and the fitted exponent of the gap in lr is "
                  f"{rules.LR_EXPONENT}"),
        ClaimSpec(lambda s: f"Gaussian inputs (d = {s.lr_sweep_d}), width m: GD's gap levels "
                  "off as lr -> 0", "the gap is the gradient flow's, not the step's",
                  (G.LR_SWEEP,), _lr_gaussian, (rules.LEVELS_OFF_IN_LR,),
                  f"the ratio of the median gaps at the two smallest lr factors "
                  f"{rules.LEVELS_OFF}"),
        ClaimSpec(lambda s: f"low-dimensional inputs (d in {list(s.low_ds)}, n = {s.n}): no "
                  "implicit bias", "no implicit bias in the worst case (Vardi, Shamir 2021)",
                  (G.LOW_DIM,), _low_dim, (rules.SOME_RUN_FAILS, rules.ORDER_ONE_GAP),
                  "some run fails to reach the min-norm global minimum (not interpolating or "
                  f"QP infeasible) or the median relative gap {rules.NO_BIAS_GAP}", any_of),
        *stabilisation_claims(),
        ClaimSpec("control: GD on a linear network = its min-norm interpolator",
                  "(standard; checks the pipeline)", (G.LINEAR,), _linear, (rules.LINEAR,),
                  f"every run: relative gap {rules.LINEAR_GAP}"),
    ]  # fmt: skip
