"""Lai et al. (2026) reproduction: the analysis of the stored runs that claims and figures
share (named columns, the methods' floors, the exponent fits' inputs, the dynamics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from iblab.claims import fit_power_law
from iblab.experiments.skeleton import Analysis

from .rules import EXPONENT, FIT_DROP, INIT_SHARE, N_SWEEP_EXPONENT, NUMERICAL_ZERO
from .runs import G
from .settings import LaiSettings, convention_group

ZERO_GAP = NUMERICAL_ZERO  # relative gaps below this are numerical zeros (counted, not fitted)

# The exponent sweeps: group -> (x column, reading, method). method: "gd" (at the group's lr
# factor) or "flow". The flow is judged against its floor (its gap on orthogonal inputs, the
# numerical zero); GD is judged as GD: its gap is what GD ends with at its step, measured
# exactly, and its step-size floor (its gap on orthogonal inputs) is reported beside it.
SWEEPS = {
    G.D_SINGLE: ("n_over_d", "single", "gd"),
    G.D_WIDTH: ("n_over_d", "width", "gd"),
    G.D_WIDTH_SMALL_LR: ("n_over_d", "width", "gd"),
    G.D_WIDTH_FLOW: ("n_over_d", "width", "flow"),
    G.D_SINGLE_FLOW: ("n_over_d", "single", "flow"),
    G.N_SINGLE: ("n_over_d", "single", "gd"),
    G.N_WIDTH_FLOW: ("n_over_d", "width", "flow"),
    G.N_WIDTH_FLOW_CUBIC: ("n_over_d", "width", "flow"),
    G.ANISO_POWER_LAW: ("n_over_tr_sigma", "single", "gd"),
    G.ANISO_SPIKED: ("n_over_tr_sigma", "single", "gd"),
    G.ANISO_POWER_LAW_FLOW: ("n_over_tr_sigma", "width", "flow"),
    G.ANISO_SPIKED_FLOW: ("n_over_tr_sigma", "width", "flow"),
    G.INIT_SWEEP: ("init_scale", "single", "flow"),
}


# The rule each sweep is judged by (EXPONENT unless named here).
SWEEP_RULES = {G.INIT_SWEEP: INIT_SHARE, G.N_SINGLE: N_SWEEP_EXPONENT,
               G.N_WIDTH_FLOW: N_SWEEP_EXPONENT}  # fmt: skip


def sweeps(s: LaiSettings) -> dict:
    """SWEEPS and the single-neuron convention groups of s, all flow d sweeps."""
    return SWEEPS | {
        convention_group(labels, scale): ("n_over_d", "single", "flow")
        for labels, scale in s.single_conventions
    }


def tidy(frame: pd.DataFrame, s: LaiSettings) -> pd.DataFrame:
    """The analysis frame with the columns the claims and figures read, named plainly;
    interpolated: the run fits every reachable target within s.interp_residual; counted:
    it does and its reference solved to optimality (Clarabel can stop at "optimal
    inaccurate", seen at d = 1e8, and the gap to such a point is not a gap): the runs that
    fits, floors and the orthogonal rows use."""
    df = frame.copy()
    orthogonal = df["config.data.kind"] == "orthogonal"
    df["n"] = df["config.data.n"].astype(int)
    df["d"] = df["config.data.d"].astype(int)
    df["seed"] = df["config.seed"].astype(int)
    df["spectrum"] = df["config.data.spectrum.kind"].where(~orthogonal, "orthogonal")
    df["tr_sigma"] = df["data_tr_sigma"]
    df["n_over_d"] = df.n / df.d
    df["n_over_tr_sigma"] = df.n / df.tr_sigma
    df["init_scale"] = df["config.init.scale"].astype(float)
    df["lr_factor"] = df["config.train.lr"]
    df["step_budget"] = df["config.train.steps"].astype("Int64")  # none for flow runs
    df["final_loss"] = df["loss"]
    df["interpolated"] = (df["fit_residual"] <= s.interp_residual).astype(bool)
    df["counted"] = df["interpolated"] & (df["ref_status"] == "optimal")
    return df


def gap_column(s: LaiSettings) -> str:
    """The gap whose exponent is fitted: relative ("gap") or unnormalised ("distance")."""
    return "gap" if s.gap_normalisation == "relative" else "distance"


def floor(df: pd.DataFrame, s: LaiSettings, reading: str, method: str, lr_factor=None) -> float:
    """The gap a method measures on exactly orthogonal inputs, where the limit's gap is 0
    (see LaiSettings): never below the numerical zero."""
    col = gap_column(s)
    usable = df[df.counted & (df.reading == reading)]
    if method == "flow":
        at = usable[usable.group == G.ORTHOGONAL_FLOW][col]
    else:
        lr = usable[(usable.group == G.LR_SWEEP) & (usable.lr_data == "orthogonal")]
        at = lr[lr.lr_factor == lr_factor][col]
        if not len(at):
            orth = usable[usable.group == G.ORTHOGONAL]
            at = orth[orth.lr_factor == lr_factor][col]
    if not len(at):
        return math.inf  # not measured for this method: nothing can be resolved
    worst = at.max() if method == "flow" or reading == "single" else at.median()
    return max(float(worst), ZERO_GAP)


def _try_fit(x, y, n_boot: int):
    try:
        return fit_power_law(x, y, n_boot=n_boot)
    except ValueError:
        return None


def law(df: pd.DataFrame, s: LaiSettings, group: str) -> dict:
    """One exponent sweep: `args` (x, y, seeds, floor and key for the exponent rule;
    interpolating runs with a reference solved to optimality, gaps below ZERO_GAP as 0; the
    floor is the flow's, or the numerical zero for GD, see SWEEPS), `floor` (the method's
    floor: GD's step-size floor at its lr factor), `method` ("gd" or "flow"),
    `check` (the rule's finding, drawn in the figures; the init sweep's is judged against
    1), `changes` (for `rules.PATTERN_CHANGES`: per run at the window's values of x whose
    median gap is 0, whether its activation pattern ever changed, GD's by any flip and the
    flow's by any event; none when no median is 0), `distance` (the unnormalised distance's
    full-range fit) and `counts` (reached, zero gaps, planned, inaccurate references)."""
    xcol, reading, method = sweeps(s)[group]
    col = gap_column(s)
    reached = df[(df.group == group) & df.interpolated]
    g = reached[reached.counted]
    lr_factor = float(g.lr_factor.iloc[0]) if len(g) and method == "gd" else None
    y = g[col].where(g[col] > ZERO_GAP, 0.0)  # numerical zeros are zeros
    method_floor = floor(df, s, reading, method, lr_factor)
    judged_floor = method_floor if method == "flow" else ZERO_GAP  # GD judged as GD
    args = {"x": g[xcol], "y": y, "groups": g["seed"], "floor": judged_floor, "key": group}
    rule = SWEEP_RULES.get(group, EXPONENT)
    ok = g[g["gap"] > ZERO_GAP]
    counts = (len(reached), int((g["gap"] <= ZERO_GAP).sum()), int((df.group == group).sum()),
              len(reached) - len(g))  # fmt: skip
    check = rule(args, s)
    low, high = check.window
    inside = (g[xcol] >= low) & (g[xcol] <= high)
    zero_at = y[inside].groupby(g[xcol][inside]).median().pipe(lambda m: m.index[m == 0])
    changes = {"met": (g.switched_fraction[g[xcol].isin(zero_at)] > 0).to_numpy()}
    return {"args": args, "check": check, "changes": changes, "counts": counts,
            "floor": method_floor, "method": method,
            "distance": _try_fit(ok[xcol], ok["distance"], s.n_boot)}  # fmt: skip


def lr_fits(df: pd.DataFrame, s: LaiSettings) -> dict:
    """The gap-vs-lr fits of the lr sweep, per input kind (orthogonal, gaussian)."""
    lr = df[(df.group == G.LR_SWEEP) & df.interpolated & (df["gap"] > ZERO_GAP)]
    return {
        kind: _try_fit(g["lr_factor"], g["gap"], s.n_boot) if len(g := lr[lr.lr_data == kind])
        else None
        for kind in ("orthogonal", "gaussian")
    }  # fmt: skip


def dynamics(df: pd.DataFrame, h: pd.DataFrame) -> dict:
    """(reading, d) -> per-record arrays, for the runs that recorded their coefficients."""
    rec = df[df.group.isin([G.D_SINGLE, G.D_WIDTH]) & df["config.record.coefficients"]]
    if not len(rec) or "gap_to_ref" not in h:
        return {}
    out = {}
    for r in rec.drop_duplicates("run_id").itertuples():
        g = h[h.run_id == r.run_id]
        if len(g) and np.isfinite(g["gap_to_ref"]).any():
            columns = ("step", "gap_to_ref", "prediction_change", "pattern_changes",
                       "residual_max")  # fmt: skip
            out[(r.reading, int(r.d))] = {c: g[c].to_numpy() for c in columns}
    return out


def fit_times(history: pd.DataFrame, drop: float) -> pd.Series:
    """Per flow run (index run_id), its fit time: when the loss's excess over its limit
    first falls to `drop` times its excess at t = 0. The limit is the loss of the last
    record for a run that ends at t = inf (the exact limit: a single neuron fits only the
    targets it can reach, so its loss tends to a positive limit), 0 otherwise. The log
    excess is interpolated linearly in log t between the two records that bracket it (10
    records per decade: within a factor 10^0.1 of the true time); NaN when no record
    reaches it."""
    out = {}
    flows = history[history["time"].notna()] if "time" in history else history.iloc[:0]
    for run_id, h in flows.groupby("run_id"):
        t, loss = h["time"].to_numpy(float), h["loss"].to_numpy(float)
        limit = loss[-1] if np.isinf(t[-1]) else 0.0
        excess = np.maximum(loss - limit, 1e-300)
        below = excess <= drop * excess[0]
        k = int(np.argmax(below))
        if k == 0 or not np.isfinite(t[k]) or t[k - 1] <= 0:
            out[run_id] = t[k] if k and np.isfinite(t[k]) else math.nan
            continue
        lt, le = np.log(t[k - 1 : k + 1]), np.log(excess[k - 1 : k + 1])
        share = (math.log(drop * excess[0]) - le[0]) / (le[1] - le[0])
        out[run_id] = float(np.exp(lt[0] + share * (lt[1] - lt[0])))
    return pd.Series(out, dtype=float)


def prepare(frame: pd.DataFrame, history: pd.DataFrame, s: LaiSettings) -> Analysis:
    """The tidied runs (with `fit_time`, see `fit_times`); derived: `laws` (group ->
    `law`), `lr_fits`, `dynamics`."""
    df = tidy(frame, s)
    df["fit_time"] = df.run_id.map(fit_times(history, FIT_DROP))
    laws = {g: law(df, s, g) for g in sweeps(s)}
    derived = {"laws": laws, "lr_fits": lr_fits(df, s), "dynamics": dynamics(df, history)}
    return Analysis(df, history, derived)


# (group, label, the last change's column, the run length's column): GD its last change of
# side apart from chatter at the kink (engine.Sides) against the steps run to the loss tol;
# the flow its last change of side (flow.pattern_changes) against its fit time.
STABILISATION = (
    (G.D_SINGLE, "single neuron", "last_cross_step", "steps_run"),
    (G.D_WIDTH, "width m", "last_cross_step", "steps_run"),
    (G.D_SINGLE_FLOW, "single neuron, gradient flow (exact)", "last_cross_time", "fit_time"),
    (G.D_WIDTH_FLOW, "width m, gradient flow (exact)", "last_cross_time", "fit_time"),
)


def switch_share_by_d(g: pd.DataFrame, last: str, total: str) -> pd.Series:
    """Per d, the median over runs of the last pattern change as a share of the run (columns
    `last` and `total` of STABILISATION)."""
    return (g[last] / g[total]).groupby(g.d).median()
