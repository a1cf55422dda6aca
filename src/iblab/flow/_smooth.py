"""Gradient flow for every other model (smooth_leaky_relu, a trained second layer): the
Gram-space state (C^T (n, m), a (m,)) integrated by diffrax's Dopri8 with a PID step-size
controller (rtol 1e-12).

The variable is x = t for the square loss and x = log(1 + t / t_s) for the classification
losses, whose flow slows like 1/t: dtheta/dx = (t_s + t) dtheta/dt, with (t_s + t) l'(f)
formed in logs so that flow times of 1e30 and beyond take a bounded number of steps. The run
stops at the end time or when the loss reaches tol (the square loss with time = inf needs
tol > 0: this solver has no exact t -> inf limit). For relu and leaky_relu with a trained
second layer the right-hand side has kinks; the solver steps through them with its error
control (no event location), and where the flow slides along a kink it stalls: the run then
ends with status max_solver_steps at the last record it reached.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from iblab import losses
from iblab.activations import Activation, dphi, phi
from iblab.flow._paths import T_MAX


def _rhs(act: Activation, loss: str, train_a: bool, log_time: bool):
    def rhs(x, state, args):
        Ct, a = state
        K, P0, y, log_ts, _ = args
        Z = P0 + K @ Ct
        f = phi(act, Z) @ a
        n = y.shape[0]
        if log_time:  # (t_s + t) dL/df = -y exp(log t_s + x - softplus(q)) / n
            q = y * f
            log_mag = -jnp.logaddexp(0.0, q) if loss == "logistic" else -q
            r = -y * jnp.exp(log_ts + x + log_mag) / n
        else:
            r = losses.derivative(loss, f, y) / n
        dCt = -(r[:, None] * dphi(act, Z)) * a[None, :]
        da = -(phi(act, Z).T @ r) if train_a else jnp.zeros_like(a)
        return dCt, da

    return rhs


@functools.lru_cache(maxsize=32)
def _solver(act: Activation, loss: str, train_a: bool, max_steps: int):
    import diffrax

    log_time = loss != "square"
    term = diffrax.ODETerm(_rhs(act, loss, train_a, log_time))

    def stop(t, state, args, **kwargs):
        Ct, a = state
        K, P0, y, _, tol = args
        f = phi(act, P0 + K @ Ct) @ a
        return jnp.mean(losses.value(loss, f, y)) <= tol

    @jax.jit
    def solve(state0, args, x0, x1, xs):
        return diffrax.diffeqsolve(
            term,
            diffrax.Dopri8(),
            t0=x0,
            t1=x1,
            dt0=None,
            y0=state0,
            args=args,
            saveat=diffrax.SaveAt(ts=xs, t1=True),
            stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-14),
            event=diffrax.Event(stop),
            max_steps=max_steps,
            throw=False,
        )

    return solve, log_time


_EVALUATE_STEPS = 4096  # solver steps to reach a time between two records


def _padded(xs, x1: float):
    """The record places xs (R,) padded with x1 to the next power of two (at least 16), so
    that runs whose record counts differ share one compiled solver; the solver saves at the
    extra places without stepping to them, and saves at x1 are dropped as records."""
    size = max(16, 1 << max(len(xs) - 1, 0).bit_length())
    return np.concatenate([xs, np.full(size - len(xs), x1)])


def flow_smooth(K, P0, a, y, *, activation: Activation, loss: str, train_second_layer: bool,
                time: float, tol: float, max_steps: int, record_times, t_s: float):  # fmt: skip
    """Integrate from C = 0; returns (times (R,), Ct (R, n, m), a (R, m), status,
    evaluate(t) -> (Ct, a), solver steps). Records after a stop are dropped; the last row is
    the end state. evaluate(t) integrates again from the last record before t."""
    solve, log_time = _solver(activation, loss, train_second_layer, max_steps)
    short, _ = _solver(activation, loss, train_second_layer, _EVALUATE_STEPS)
    n, m = P0.shape
    f64 = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
    to_x = (lambda t: np.log1p(np.asarray(t, float) / t_s)) if log_time else np.asarray
    x1 = float(to_x(min(time, T_MAX)))
    times = np.asarray(record_times, float)
    xs = _padded(to_x(times), x1)
    state0 = (jnp.zeros((n, m), jnp.float64), f64(a))
    args = (f64(K), f64(P0), f64(y), f64(math.log(t_s)), f64(tol))
    sol = solve(state0, args, f64(0.0), f64(x1), f64(xs))
    import diffrax

    ts, Ct, A = (np.asarray(v) for v in (sol.ts, *sol.ys))
    reached = np.isfinite(ts)  # diffrax leaves the saves it did not reach at inf
    finite = reached & np.isfinite(Ct).all(axis=(1, 2)) & np.isfinite(A).all(axis=1)
    if sol.result == diffrax.RESULTS.event_occurred:
        status = "converged"
    elif sol.result == diffrax.RESULTS.successful:
        status = "max_time"
    else:  # the budget ran out (e.g. stalled where a relu kink slides): end where it got to
        status = "max_solver_steps"
    if not finite[reached].all():
        status = "diverged"
    last = np.flatnonzero(finite)[-1]
    keep = np.flatnonzero(finite[:-1] & (ts[:-1] < ts[last]))
    rows = np.concatenate([keep, [last]])
    x_rows = ts[rows]
    t_rows = t_s * np.expm1(x_rows) if log_time else x_rows

    def evaluate(t):
        x = float(to_x(t))
        k = max(int(np.searchsorted(x_rows, x, "right")) - 1, 0)
        if x == x_rows[k]:
            return Ct[rows[k]], A[rows[k]]
        out = short((f64(Ct[rows[k]]), f64(A[rows[k]])), args, f64(x_rows[k]), f64(x), f64([x]))
        return np.asarray(out.ys[0][-1]), np.asarray(out.ys[1][-1])

    return t_rows, Ct[rows], A[rows], status, evaluate, int(sol.stats["num_steps"])
