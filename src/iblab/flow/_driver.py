"""From a config to a flow run: pick the integrator, take records, build the TrainResult."""

from __future__ import annotations

import functools
import math
import time as clock

import jax
import numpy as np
import pandas as pd

from iblab import engine
from iblab.activations import Activation, dphi
from iblab.config import Config
from iblab.flow._paths import T_MAX
from iblab.flow._piecewise import flow_piecewise
from iblab.flow._smooth import engine_state, flow_smooth
from iblab.problem import Problem

EVENT_COLUMNS = ["time", "point", "neuron", "direction", "kind"]


def time_unit(p: Problem, act: Activation) -> float:
    """The fastest time scale at the start, n / max_i H_ii (H_ii = K_ii sum_j a_j^2 phi'^2)."""
    slopes = np.asarray(dphi(act, p.P0))
    top = float(np.max(np.diag(p.K) * ((slopes * p.a) ** 2).sum(axis=1), initial=0.0))
    return p.n / top if top > 0 else 1.0


def record_times(config: Config, unit: float) -> np.ndarray:
    """0, then `per_decade` geometrically spaced flow times per decade from unit / 100 up to
    (not including) the end time (1e300 for time = inf)."""
    end = min(config.train.flow_time, T_MAX)
    lo = 1e-2 * unit
    if end <= lo:
        return np.zeros(1)
    per = config.record.per_decade
    decades = math.log10(end) - math.log10(lo)  # end / lo overflows for a tiny unit (huge d)
    k = np.arange(int(math.ceil(decades * per)) + 1)
    grid = 10.0 ** (math.log10(lo) + k / per)
    return np.concatenate([[0.0], grid[grid < end]])


@functools.lru_cache(maxsize=32)
def _measure(spec: engine.Spec):
    return jax.jit(functools.partial(engine.measure, spec))


@jax.enable_x64(True)
def train_flow(config: Config, problem: Problem):
    """Run the flow for one config (in float64); returns a TrainResult with `events`."""
    from iblab.training import TrainResult, _blocks, spec_for

    started = clock.perf_counter()
    spec = spec_for(config)
    blocks = _blocks(problem, spec, np.float64)
    measure = _measure(spec)
    act = Activation.of(config.model)
    tc = config.train
    unit = time_unit(problem, act)
    times = record_times(config, unit)
    rows, coefs, seconds = [], [], []
    prev = [blocks.P0 > 0]

    def take(t, Ct, a, n_events):
        rec, pattern = measure(blocks, engine_state(Ct, a, len(rows)), prev[0])
        prev[0] = pattern
        if spec.keep_coefficients:
            coefs.append(np.asarray(rec.pop("C")))
            seconds.append(np.asarray(rec.pop("a")))
        rec.pop("step")
        rows.append(
            {"time": t, "events": n_events} | {k: np.asarray(v).item() for k, v in rec.items()}
        )

    p = problem
    if config.event_driven_flow:
        out = flow_piecewise(
            p.K, p.P0, p.a, p.y, loss=tc.loss, gamma=act.gamma, time=tc.flow_time, tol=tc.tol,
            max_events=tc.steps, record_times=times,
            on_record=lambda t, C, k: take(t, C.T, p.a, k), t_s=unit,
        )  # fmt: skip
        C, a, t_end, status, solver_steps = out.C, p.a, out.time, out.status, out.solver_steps
        events = pd.DataFrame(out.events, columns=EVENT_COLUMNS)
        singular_time = out.singular_time
    else:
        t_rec, Ct, A, status, evaluate, solver_steps = flow_smooth(
            p.K, p.P0, p.a, p.y, activation=act, loss=tc.loss,
            train_second_layer=config.model.train_second_layer, time=tc.flow_time, tol=tc.tol,
            max_steps=max(tc.steps, 1), record_times=times, t_s=unit,
        )  # fmt: skip
        for t, c, a_t in zip(t_rec, Ct, A, strict=True):
            take(t, c, a_t, 0)
        events = _sign_changes(p, act, t_rec, Ct, A, evaluate)
        C, a, t_end = Ct[-1].T, A[-1], float(t_rec[-1])
        singular_time = float("nan")
        counts = np.searchsorted(events.time.to_numpy(), t_rec, "right")
        for row, k in zip(rows, counts, strict=True):
            row["events"] = int(k)
    history = pd.DataFrame(rows)
    history.insert(0, "step", np.arange(len(history), dtype=np.int64))
    last = history.iloc[-1]
    summary = {
        "status": status,
        "flow_time": t_end,
        "events": len(events),
        "solver_steps": solver_steps,
        **{k: float(v) for k, v in last.items() if k not in ("step", "time", "events")},
        "stabilization_time": float(events.time.max()) if len(events) else 0.0,
        "singular_time": singular_time,
        "switched_fraction": float(events.point.nunique() / p.n) if len(events) else 0.0,
        "wall_time_s": clock.perf_counter() - started,
        **{f"data_{k}": v for k, v in p.info.items()},
    }
    return TrainResult(
        config=config, problem=p, history=history, summary=summary,
        C=np.asarray(C, np.float64), s=1.0, a=np.asarray(a, np.float64),
        coefficients=np.stack(coefs) if coefs else None,
        second_layers=np.stack(seconds) if seconds else None, events=events,
    )  # fmt: skip


def _sign_changes(p: Problem, act: Activation, times, Ct, A, evaluate) -> pd.DataFrame:
    """Sign changes of pre-activations in the general solver's run: each located by bisection
    on the solver's dense output between the two records that bracket it (a change that
    reverts between two records is not seen)."""
    from scipy import optimize

    Z = p.P0[None] + np.matmul(p.K, Ct)  # (R, n, m)
    rows = []
    for k in range(len(times) - 1):
        for i, j in zip(*np.nonzero((Z[k] > 0) != (Z[k + 1] > 0)), strict=True):
            z = lambda t, i=i, j=j: p.P0[i, j] + p.K[i] @ evaluate(t)[0][:, j]  # noqa: E731
            lo, hi = float(times[k]), float(times[k + 1])
            t = optimize.brentq(z, lo, hi, xtol=4e-16 * hi) if z(lo) * z(hi) < 0 else hi
            rows.append((t, int(i), int(j), 1 if Z[k + 1, i, j] > 0 else -1, "cross"))
    return pd.DataFrame(sorted(rows), columns=EVENT_COLUMNS)
