"""The dual coordinates u(x) along one region, for the square loss (closed form) and for the
classification losses (an adaptive 8th-order solver in log time).

A path has its own variable x: x = t - t0 for the square loss, x = log(1 + t / t_s) for the
classification losses (flow times of 1e30 and more in a bounded number of solver steps). It
yields increasing chunks of x at which events are looked for, and evaluates inside the
latest chunk: du(x) (T, n), r(x) = dL/df (T, n), the two at once by state(x), and
time(x) (T,). Its clock(x) is the flow's clock: t for the square loss and x itself (log
time) for the classification losses, whose t overflows float64 past e^709 while x, and
log_time(x) = log t, do not.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import DOP853

from iblab.flow._regions import Region

# Terms of the square-loss path's Taylor series on its first interval: 0.1^k / k! < 1e-30.
SERIES_TERMS = 20
_DIVISORS = np.arange(1, SERIES_TERMS + 1)  # x^k / k! = prod_{l <= k} x / l

# float64 stand-in for t = inf in log time: the classification loss is then of order 1e-300.
T_MAX = 1e300


def log_clock(t_s: float, time: float, log_time: float | None) -> float:
    """The log-time clock x = log(1 + t / t_s) at flow time `time` (capped at T_MAX), or at
    t = e^log_time when that is given (any size)."""
    if log_time is None:
        return math.log1p(min(time, T_MAX) / t_s)
    return float(np.logaddexp(0.0, log_time - math.log(t_s)))


def log_force(loss: str, f, y):
    """(sign, log |l'(f)|) elementwise for logistic (l' = -y sigma(-y f)) or exponential
    (l' = -y exp(-y f)) loss: the log keeps (t_s + t) l' finite when t is huge."""
    q = y * f
    return -y, (-np.logaddexp(0.0, q) if loss == "logistic" else -q)


def force(loss: str, f, y):
    """r = dL/df = l'(f) / n (..., n), in NumPy: the hot-path twin of losses.derivative."""
    if loss == "square":
        return (f - y) / y.shape[-1]
    sign, log_mag = log_force(loss, f, y)
    return sign * np.exp(log_mag) / y.shape[-1]


def direction(loss: str, f, y):
    """r = dL/df (..., n) up to a positive factor per row: r itself for the square loss, r
    / max |r| for the classification losses, whose r underflows once the margins pass ~745
    (t past e^745). Every test the flow makes of r (release functions and their slack,
    velocities' signs, the joint decision) is unchanged by such a factor."""
    if loss == "square":
        return force(loss, f, y)
    sign, log_mag = log_force(loss, f, y)
    return sign * np.exp(log_mag - np.max(log_mag, axis=-1, keepdims=True))


def loss_value(loss: str, f, y):
    """The mean loss (...,) of outputs f (..., n): 0.5 mean (f - y)^2, logistic or exp."""
    if loss == "square":
        return 0.5 * np.mean((f - y) ** 2, axis=-1)
    q = y * f
    return np.mean(np.logaddexp(0.0, -q) if loss == "logistic" else np.exp(-q), axis=-1)


class SquarePath:
    """Square loss: f = f0 - H u, du/dt = (f - y) / n, so with H = V diag(lam) V^T and
    c = V^T (f0 - y): u(t) = V [c (1 - exp(-lam t / n)) / lam] and r(t) = V [c exp(-lam t / n)]
    / n. Modes with lam <= 1e-13 lam_max move nothing (H = J J^T: u in null(H) leaves W).

    Most regions end in their first interval, [0, x1] with x1 = 0.1 n / ||H||_inf (at most a
    tenth of the fastest time scale): there u and r are their Taylor series in x, which
    converge like 0.1^k / k! (SERIES_TERMS terms reach float64), at the cost of that many
    products with H. The eigendecomposition is taken only for a path that goes past x1. The
    series keeps u's part in null(H) (and modes below 1e-13 lam_max), which the spectral form
    drops; past x1 u is the spectral form plus the difference of the two at x1, so it is
    continuous there and that part stays where the series left it."""

    # Whether the event search evaluates only the entries that may reach their kink within a
    # chunk (`_piecewise._bounded_values`): measured slower here (n = m = 256: 27 s against
    # 25 s), where regions mostly end within a 2-point first chunk.
    skips_entries = False

    def __init__(self, region: Region, f0, y, t0: float, t_end: float):
        self.H, self.n, self.f0_y = region.H, len(y), f0 - y
        self.t0, self.x0, self.x_end = t0, 0.0, t_end - t0
        bound = float(np.abs(self.H).sum(axis=1).max(initial=0.0))  # >= lam_max(H)
        self.x1 = min(0.1 * self.n / bound, self.x_end) if bound > 0 else 0.0
        self._eigen, self._anchor = None, 0.0
        if self.x1 > 0:  # w_k = (-H / n)^k (f0 - y) / n: r = sum w_k x^k / k!
            w = [self.f0_y / self.n]
            for _ in range(SERIES_TERMS - 1):
                w.append(-(self.H @ w[-1]) / self.n)
            self._w = np.array(w)

    def _spectrum(self):
        """(lam, V, c, pos, grid past x1), computed on first use."""
        if self._eigen is None:
            n = self.n
            lam, V = np.linalg.eigh(self.H)
            lam = np.maximum(lam, 0.0)
            top = lam.max(initial=0.0)
            pos = lam > 1e-13 * top if top > 0 else np.zeros_like(lam, bool)
            if pos.any():
                fast, slow = n / lam[pos].max(), n / lam[pos].min()
                # 4 points per doubling, from a tenth of the fastest time scale until the
                # slowest mode has decayed by e^-40; then the end (which may be inf).
                k = np.arange(int(4 * math.log2(400 * slow / fast)) + 2)
                grid = 0.1 * fast * 2.0 ** (k / 4)
                grid = grid[(grid > self.x1) & (grid < self.x_end)]
            else:
                grid = np.zeros(0)
            grid = np.concatenate([[0.0] if self.x1 == 0 else [], grid, [self.x_end]])
            self._eigen = (lam, V, V.T @ self.f0_y, pos, grid)
            self._modes = (lam[pos], self._eigen[2][pos], V[:, pos])  # the modes that move
            if self.x1 > 0:  # u continuous at x1: the series' part in null(H) is kept there
                x1 = np.array([self.x1])
                self._anchor = (self._du_series(x1) - self._du_spectral(x1))[0]
        return self._eigen

    @property
    def grid(self):
        """The points events are looked for at: 0, x1, then the spectrum's grid (x1 < x)."""
        head = [0.0, self.x1] if self.x1 > 0 else []
        if self.x1 >= self.x_end:
            return np.array(head)
        return np.concatenate([head, self._spectrum()[4]])

    @property
    def x_settled(self):
        """Past this point nothing changes in float64 (records stop; the end may be inf)."""
        return self.grid[-2] if np.isinf(self.x_end) else self.x_end

    def chunks(self, size: int = 8):
        """[0, x1], then the rest of the grid in chunks of 2, 4, then `size` points."""
        if self.x1 > 0:
            yield np.array([0.0, self.x1])
            if self.x1 >= self.x_end:
                return
        rest = self._spectrum()[4]
        start, step = 0, 2
        while start < len(rest):
            yield rest[start : start + step]
            start, step = start + step, min(2 * step, size)

    def _split(self, x, series, spectral):
        """series(x) where x <= x1, spectral(x) elsewhere; x (T,) -> (T, n)."""
        x = np.asarray(x, float)
        if len(x) == 1:  # the root search's evaluations: one x at a time
            return series(x) if 0 < self.x1 and x[0] <= self.x1 else spectral(x)
        near = x <= self.x1 if self.x1 > 0 else np.zeros(len(x), bool)  # x1 = 0: H = 0
        if near.all():
            return series(x)
        out = np.empty((len(x), self.n))
        if near.any():
            out[near] = series(x[near])
        out[~near] = spectral(x[~near])
        return out

    def du(self, x):
        return self._split(x, self._du_series, self._du_spectral)

    def r(self, x):
        return self._split(x, self._r_series, self._r_spectral)

    @staticmethod
    def _powers(x, shift: int):
        """x^(k + shift) / (k + shift)! for k < SERIES_TERMS (shift 0 or 1): (T, SERIES_TERMS)."""
        P = np.cumprod(x[:, None] / _DIVISORS, axis=1)  # x^k / k!, k >= 1
        if shift:
            return P
        return np.concatenate([np.ones((len(x), 1)), P[:, :-1]], axis=1)

    def _du_series(self, x):
        return self._powers(x, 1) @ self._w

    def _r_series(self, x):
        return self._powers(x, 0) @ self._w

    def _du_spectral(self, x):
        self._spectrum()
        lam, c, V = self._modes
        E = -np.expm1(-x[:, None] * lam / self.n) / lam
        return (E * c) @ V.T + self._anchor

    def _r_spectral(self, x):
        lam, V, c, pos, _ = self._spectrum()
        x = x[:, None]
        with np.errstate(invalid="ignore"):
            decay = np.where(pos, np.exp(-x * lam / self.n), 1.0)
        return (decay * c) @ V.T / self.n

    def velocity(self, x, du, r):
        """du/dx (T, n) at x (T,), given du(x) and r(x): r itself (x = t - t0)."""
        return r

    def state(self, x):
        """du(x) and r(x) together."""
        return self.du(x), self.r(x)

    def time(self, x):
        return self.t0 + np.asarray(x, float)

    clock = time

    def log_time(self, x):
        with np.errstate(divide="ignore"):
            return np.log(self.time(x))

    def x_at(self, t):
        return np.asarray(t, float) - self.t0


class LogTimePath:
    """Logistic or exponential loss: du/dt = l'(f0 - H u) / n, integrated in x = log(1 + t /
    t_s) by DOP853 (rtol 1e-12), each step's 7th-order interpolant giving the chunk. Starts
    at x0 and ends at x_end (clock values, `log_clock`)."""

    # The event search evaluates only the entries that may reach their kink within a step
    # (`_piecewise._bounded_values`): 9.0 s against 11.2 s at n = 100, m = 64 to t = 1e30.
    skips_entries = True

    def __init__(self, region: Region, f0, y, loss: str, t_s: float, x0: float, x_end: float):
        self.H, self.f0, self.y, self.loss_kind = region.H, f0, y, loss
        # A point that no neuron moves (its row of H exactly 0) keeps f_i, so its u_i grows
        # like t and would overflow past t ~ 1e308; it moves nothing (every coefficient of
        # it is 0), so it is held at 0. Bitwise the same path where every point moves.
        self.moved = region.H.any(axis=1)
        self.all_moved = bool(self.moved.all())
        self.n, self.t_s, self.log_ts = len(y), t_s, math.log(t_s)
        self.x0, self.x_end = x0, x_end
        scale = self.n / max(float(np.max(np.diag(region.H), initial=0.0)), 1e-300)
        self.solver = DOP853(
            self._rhs, self.x0, np.zeros(self.n), self.x_end, rtol=1e-12, atol=1e-12 * scale
        )
        self.steps = 0
        self._dense = None

    def _rhs(self, x, u):
        return self._rate(x, self.f0 - self.H @ u)

    def velocity(self, x, du, r):
        """du/dx (T, n) at x (T,) given du(x) (T, n): finite where t and r = dL/df are not."""
        return self._rate(np.asarray(x, float)[:, None], self.f0 - du @ self.H)

    def _rate(self, x, f):
        """du/dx = (t_s + t) l'(f) / n at x and outputs f (..., n), formed in logs so that
        neither factor overflows; 0 for the points no neuron moves."""
        sign, log_mag = log_force(self.loss_kind, f, self.y)
        if not self.all_moved:
            log_mag = np.where(self.moved, log_mag, -np.inf)
        return sign * np.exp(self.log_ts + x + log_mag) / self.n

    def chunks(self):
        yield np.array([self.x0])
        while self.solver.status == "running":
            x_old = self.solver.t
            message = self.solver.step()
            if self.solver.status == "failed":
                raise FloatingPointError(f"gradient flow: the ODE solver failed: {message}")
            self.steps += 1
            self._dense = _Interpolant(self.solver.dense_output())
            yield x_old + (self.solver.t - x_old) * np.array([0.25, 0.5, 0.75, 1.0])

    def reach(self, xa: float, xb: float) -> float:
        """An upper bound on ||du(x) - du(xa)||_2 for x in [xa, xb] inside the latest step,
        xa its start (the only use; from another xa it would need a factor 2): the
        interpolant is y_old + sum_k F_k b_k(s) with |b_k(s)| <= 1 on [0, 1], so the bound is
        sum_k ||F_k||_2."""
        if self._dense is None:
            return 0.0
        return float(np.linalg.norm(self._dense.F, axis=1).sum())

    def du(self, x):
        x = np.asarray(x, float)
        if self._dense is None:
            return np.zeros((len(x), self.n))
        return self._dense(x)

    def outputs(self, x):
        return self.f0 - self.du(x) @ self.H

    def r(self, x):
        """dL/df (T, n) at x (T,), each row scaled to max |r| = 1 (`direction`)."""
        return direction(self.loss_kind, self.outputs(x), self.y)

    def state(self, x):
        """du(x) and r(x) (rows scaled, `direction`) together, from one evaluation of the
        interpolant."""
        u = self.du(x)
        return u, direction(self.loss_kind, self.f0 - u @ self.H, self.y)

    def time(self, x):
        with np.errstate(over="ignore"):
            return self.t_s * np.expm1(np.asarray(x, float))

    def clock(self, x):
        return np.asarray(x, float)

    def log_time(self, x):
        """log t = log t_s + x + log(1 - e^-x), finite however large x is."""
        x = np.asarray(x, float)
        with np.errstate(divide="ignore"):
            return self.log_ts + x + np.log(-np.expm1(-x))

    def x_at(self, t):
        return np.log1p(np.asarray(t, float) / self.t_s)

    def x_at_log(self, log_t):
        """x at log t, for times past float64's range."""
        return np.logaddexp(0.0, np.asarray(log_t, float) - self.log_ts)


_EVEN = np.arange(16) % 2 == 0


class _Interpolant:
    """DOP853's 7th-order interpolant on one step, evaluated as one small matrix product
    (SciPy evaluates it term by term, with more overhead than arithmetic at this size)."""

    def __init__(self, dense):
        self.t_old, self.h, self.y_old = dense.t_old, dense.h, dense.y_old
        self.F = dense.F  # (7, n): y = y_old + F0 s + F1 s (1-s) + F2 s^2 (1-s) + ...

    def __call__(self, x):
        """u at x (T,): (T, n)."""
        s = ((np.asarray(x, float) - self.t_old) / self.h)[:, None]
        factors = np.where(_EVEN[: len(self.F)], s, 1.0 - s)  # s, 1-s, s, ...
        return np.cumprod(factors, axis=1) @ self.F + self.y_old
