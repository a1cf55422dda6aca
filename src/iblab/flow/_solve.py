"""One entry point for the flow: pick the integrator, pass records on, return the solution.

Nothing here knows of configs or training results: `iblab.training` builds those."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from iblab.activations import Activation, dphi, event_driven
from iblab.flow._paths import T_MAX
from iblab.flow._piecewise import flow_piecewise
from iblab.flow._smooth import flow_smooth
from iblab.flow._solution import Budget, FlowSolution, event_table

# on_record(t, Ct (n, m), a (m,), events so far, log t, active (n, m) bool or None)
DEFAULT_BUDGET = Budget()
OnRecord = Callable[[float, np.ndarray, np.ndarray, int, float, np.ndarray | None], None]


def time_unit(K, P0, a, act: Activation) -> float:
    """The fastest time scale at the start, n / max_i H_ii (H_ii = K_ii sum_j a_j^2 phi'^2)."""
    slopes = np.asarray(dphi(act, P0))
    top = float(np.max(np.diag(K) * ((slopes * a) ** 2).sum(axis=1), initial=0.0))
    return len(K) / top if top > 0 else 1.0


def record_times(end: float, unit: float, per_decade: int) -> np.ndarray:
    """0, then `per_decade` geometrically spaced flow times per decade from unit / 100 up to
    (not including) the end time (1e300 for end = inf)."""
    end = min(end, T_MAX)
    lo = 1e-2 * unit
    if end <= lo:
        return np.zeros(1)
    decades = math.log10(end) - math.log10(lo)  # end / lo overflows for a tiny unit (huge d)
    k = np.arange(int(math.ceil(decades * per_decade)) + 1)
    grid = 10.0 ** (math.log10(lo) + k / per_decade)
    return np.concatenate([[0.0], grid[grid < end]])


def record_log_times(
    log_end: float, unit: float, per_decade: int, per_log_decade: int | None = None
) -> np.ndarray:
    """log t of the records of a run to t = e^log_end: `record_times` up to 1e300, then
    `per_log_decade` (default per_decade) geometrically spaced values of log t per decade
    of log t, up to (not including) log_end (t = e^log_end is far past float64's range)."""
    per_log = per_log_decade or per_decade
    with np.errstate(divide="ignore"):
        logs = np.log(record_times(math.inf, unit, per_decade))
    start = math.log(T_MAX)
    if log_end <= start:
        return logs[logs < log_end]
    k = np.arange(int(math.ceil(math.log10(log_end / start) * per_log)) + 1)
    beyond = start * 10.0 ** (k / per_log)
    return np.concatenate([logs, beyond[(beyond > logs[-1]) & (beyond < log_end)]])


def solve(
    K: np.ndarray, P0: np.ndarray, a: np.ndarray, y: np.ndarray, *, activation: Activation,
    loss: str, train_second_layer: bool = False,
    time: float = math.inf, tol: float = 0.0, budget: Budget = DEFAULT_BUDGET,
    per_decade: int = 10, on_record: OnRecord | None = None, log_time: float | None = None,
    per_log_decade: int | None = None,
) -> FlowSolution:  # fmt: skip
    """Gradient flow of the two-layer network from W_0 (C = 0) in Gram space.

    Runs up to flow time `time`, the network's loss reaching `tol`, or a budget; the square
    loss with `time` inf and `tol` 0 runs to its exact t -> inf limit.

    Args:
        K: (n, n) Gram matrix X X^T of the training inputs.
        P0: (n, m) initial pre-activations X W_0^T.
        a: (m,) second layer.
        y: (n,) labels (+-1 for the logistic and exponential losses).
        activation: relu, leaky_relu and linear follow the event-driven integrator (with a
            fixed second layer); every other model the ODE solver.
        loss: square, logistic or exponential.
        train_second_layer: whether a moves too (ODE solver).
        time: the flow time to reach (inf allowed).
        tol: stop when the network's loss is at or below it (0: no such stop).
        budget: the most events and solver steps.
        per_decade: records per decade of t, from a hundredth of the fastest time scale.
        on_record: called as on_record(t, Ct (n, m), a (m,), events so far, log t, active)
            at 0, at each record time and at the end (t = inf past float64's range); active
            (n, m) bool is the activation pattern as the event-driven integrator decided it
            (above the kink and not held on it), None for linear networks and the ODE
            solver, whose pattern is read from the pre-activations.
        log_time: run to t = e^log_time instead of `time` (classification losses with the
            event-driven integrator; any size, e.g. 1e4 for t = e^10000).
        per_log_decade: with log_time, records per decade of log t past t = 1e300
            (default per_decade).

    Returns:
        The FlowSolution at the end.

    Raises:
        ValueError: naming the block, when K, P0, a or y holds a value that is not finite,
            or when log_time is given for a run that cannot take it.

    BLAS runs on one thread here: at these sizes (products of n x n and n x m blocks, one
    n x n eigendecomposition per region) threads only contend, and a fixed thread count keeps
    the numbers the same whatever else runs beside the flow.
    """
    blocks = {"K": K, "P0": P0, "a": a, "y": y}
    for name, value in blocks.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name}: gradient flow needs finite values, got {_first_bad(value)}")
    if log_time is not None and (
        loss == "square" or not event_driven(activation.kind, train_second_layer)
    ):
        raise ValueError(
            f"log_time: only classification losses on the event-driven integrator run to "
            f"t = e^log_time (got loss {loss!r}, activation {activation.kind!r})"
        )  # fmt: skip
    with threadpool_limits(limits=1, user_api="blas"):
        return _solve(np.asarray(K, np.float64), np.asarray(P0, np.float64),
                      np.asarray(a, np.float64), np.asarray(y, np.float64), activation, loss,
                      train_second_layer, time, tol, budget, per_decade, on_record,
                      log_time, per_log_decade)  # fmt: skip


def _solve(K, P0, a, y, activation, loss, train_second_layer, time, tol, budget, per_decade,
           on_record, log_time=None, per_log_decade=None) -> FlowSolution:  # fmt: skip
    unit = time_unit(K, P0, a, activation)
    record = on_record or (lambda *_: None)
    if event_driven(activation.kind, train_second_layer):
        if log_time is None:
            times, logs = record_times(time, unit, per_decade), None
        else:
            logs = record_log_times(log_time, unit, per_decade, per_log_decade)
            with np.errstate(over="ignore"):
                times = np.where(logs <= math.log(T_MAX), np.exp(logs), math.inf)
        return flow_piecewise(
            K, P0, a, y, loss=loss, gamma=activation.gamma, time=time, tol=tol,
            max_events=budget.max_events, record_times=times, t_s=unit, log_time=log_time,
            record_log_times=logs, on_record=lambda t, lt, C, k, active: record(
                t, C.T, a, k, lt, None if activation.kind == "linear" else active),
        )  # fmt: skip
    times = record_times(time, unit, per_decade)
    t_rec, Ct, A, status, evaluate, steps = flow_smooth(
        K, P0, a, y, activation=activation, loss=loss, train_second_layer=train_second_layer,
        time=time, tol=tol, max_steps=max(budget.max_solver_steps, 1), record_times=times,
        t_s=unit,
    )  # fmt: skip
    events = _sign_changes(K, P0, t_rec, Ct, evaluate)
    counts = np.searchsorted(events.time.to_numpy(), t_rec, "right")
    with np.errstate(divide="ignore"):
        for t, c, a_t, k in zip(t_rec, Ct, A, counts, strict=True):
            record(float(t), c, a_t, int(k), float(np.log(t)), None)
        return FlowSolution(
            time=float(t_rec[-1]), log_time=float(np.log(t_rec[-1])), Ct=Ct[-1], a=A[-1],
            status=status, events=events, solver_steps=steps,
        )  # fmt: skip


def _first_bad(value) -> str:
    flat = np.asarray(value, float).ravel()
    return f"{flat[~np.isfinite(flat)][0]} at flat index {np.flatnonzero(~np.isfinite(flat))[0]}"


def _sign_changes(K, P0, times, Ct, evaluate):
    """Sign changes of pre-activations in the ODE solver's run: each located by Brent's
    method on the solution between the two records that bracket it (a change that reverts
    between two records is not seen)."""
    from scipy import optimize

    Z = P0[None] + np.matmul(K, Ct)  # (R, n, m)
    rows = []
    for k in range(len(times) - 1):
        for i, j in zip(*np.nonzero((Z[k] > 0) != (Z[k + 1] > 0)), strict=True):
            z = lambda t, i=i, j=j: P0[i, j] + K[i] @ evaluate(t)[0][:, j]  # noqa: E731
            lo, hi = float(times[k]), float(times[k + 1])
            t = optimize.brentq(z, lo, hi, xtol=4e-16 * hi) if z(lo) * z(hi) < 0 else hi
            side = 1 if Z[k + 1, i, j] > 0 else -1
            rows.append((t, float(np.log(t)), int(i), int(j), side, "cross"))
    return event_table(sorted(rows))
