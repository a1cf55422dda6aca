"""Exact gradient flow for relu, leaky_relu and linear networks with a fixed second layer.

The flow is followed region by region (see `_regions`): inside one, the dual coordinates
move in closed form (square loss) or by an 8th-order solver in log time (logistic,
exponential); every pre-activation is linear in them, so an event (a pre-activation reaching
its kink, a sliding entry's Filippov weight leaving [gamma, 1], the loss reaching tol) is the
root of a smooth scalar function along the path. Events are bracketed on the path's chunks
(with a check for a dip below 0 between two points, from the sign of the derivative at both
ends) and located by Brent's method to about machine precision. At a kink the entry crosses
when the flow on the other side carries it on, and slides (held at 0) when it pushes it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import optimize

from iblab.flow._instant import DOWN, HELD, UP, decide
from iblab.flow._paths import LogTimePath, SquarePath, direction, log_clock, loss_value
from iblab.flow._regions import ProjectionCache, Region, active_pattern, release_slack
from iblab.flow._solution import FlowSolution, event_table

KINK = 1e-12  # relative size of a pre-activation at rounding level, on its kink
BOUND_MARGIN = 1e-9  # relative slack of the move bounds that let entries go unevaluated
DENSE_SHARE = 0.2  # evaluate every entry when more than this share may reach its kink


@dataclass
class _Problem:
    K: np.ndarray
    P0: np.ndarray
    a: np.ndarray
    y: np.ndarray
    loss: str
    gamma: float
    tol: float

    def __post_init__(self):
        self.a_norm1 = float(np.abs(self.a).sum())  # sum_j |a_j|


def flow_piecewise(
    K, P0, a, y, *, loss: str, gamma: float, time: float, tol: float, max_events: int,
    record_times: np.ndarray, on_record: Callable[..., None], t_s: float,
    log_time: float | None = None, record_log_times: np.ndarray | None = None,
) -> FlowSolution:  # fmt: skip
    """Follow the flow from C = 0 to flow time `time` (inf allowed) or e^log_time (when
    given: classification losses, any size), the network's loss reaching tol, or
    `max_events` events. on_record(t, log t, C, events_so_far, active) is called at each
    record time in [0, end) and once at the end, with active (n, m) the pattern as the flow
    decided it (above the kink and not held; `active_pattern`); records past float64's range
    have t = inf and are placed by `record_log_times` (log t of every record). t_s: the unit
    of log time."""
    pb = _Problem(*(np.asarray(v, np.float64) for v in (K, P0, a, y)), loss, gamma, tol)
    n, m = pb.P0.shape
    C = np.zeros((m, n))
    D = np.where(pb.P0 > 0, 1.0, gamma)
    S = np.zeros((n, m), bool)
    armed = np.ones((3, n, m), bool)  # cross, release up, release down: may fire at once
    out = _Outcome()
    records = _Records(record_times, record_log_times, on_record)
    x_end = None if loss == "square" else log_clock(t_s, time, log_time)
    clock, region = 0.0, None  # clock: t (square loss) or log(1 + t / t_s)
    projections = ProjectionCache()
    t = log_t = 0.0
    decided = np.zeros((n, m), bool)  # entries decided at instant t
    at_instant = 0  # events handled at instant t
    rank_K = int(np.linalg.matrix_rank(pb.K, hermitian=True))
    lam_max = float(np.linalg.eigvalsh(pb.K)[-1]) if loss != "square" else np.nan  # bounds
    Z = pb.P0 + pb.K @ C.T
    while True:  # Z: the pre-activations at C
        region = Region(pb.K, pb.a, D, S, gamma, projections, rank_K, previous=region)
        f0 = region.outputs(Z)
        if np.isnan(out.singular_time) and (region.singular or gamma < 1 and _at_origin(Z)):
            out.singular_time = t  # a neuron at w_j = 0 (in span X) or pinned there
        if loss == "square":
            path = SquarePath(region, f0, pb.y, clock, time)
        else:
            path = LogTimePath(region, f0, pb.y, loss, t_s, clock, x_end)

        def emit(x, path=path, C0=C, region=region):
            records.emit(path, x, C0, region, len(out.events))

        hit = _detect(region, path, Z, pb, armed, emit, lam_max)
        out.solver_steps += getattr(path, "steps", 0)
        if hit is None:  # no event before the path's end
            C = C + region.coef_delta(path.du([path.x_end])[0]).T
            t, log_t = float(path.time(path.x_end)), float(path.log_time(path.x_end))
            if loss == "square" and np.isinf(t):
                out.status = "converged"  # the exact t -> inf limit
            break
        x, k = hit
        C = C + region.coef_delta(path.du([x])[0]).T
        if float(path.clock(x)) != clock:
            decided[:] = False
            at_instant = 0
        clock, at_instant = float(path.clock(x)), at_instant + 1
        t, log_t = float(path.time(x)), float(path.log_time(x))
        kind, i, j = region.describe(k)
        if kind == "tol":
            out.status = "converged"
            break
        Z = pb.P0 + pb.K @ C.T
        if tol == 0 and loss == "square" and _at_rounding_level(Z, pb):
            out.status = "converged"  # nothing left to fit: later "events" would be noise
            break
        if len(out.events) + out.idle_hits >= max_events:
            out.status = "max_events"
            break
        if at_instant > 4 * n * m + 16:  # decided entries do not fire again at an instant
            raise RuntimeError(f"gradient flow: no progress at t = {t!r}")  # pragma: no cover
        r = direction(pb.loss, region.outputs(Z), pb.y)
        before = len(out.events)
        near = np.abs(Z) <= KINK * np.max(np.abs(Z))  # (n, m) at rounding distance from 0
        for q, fired in _at_this_instant(region, near, r, armed, i, j, kind).items():
            events, undecided = _decide(
                pb, near, r, D, S, armed, decided, q, fired, (t, log_t), projections
            )
            out.events += events
            out.undecided_instants += int(undecided)
        out.idle_hits += int(len(out.events) == before)  # fired, and the decision kept all
    records.finish(t, log_t, C, len(out.events), active_pattern(D, S))
    return FlowSolution(
        time=t, log_time=log_t, Ct=C.T, a=pb.a, status=out.status,
        events=event_table(out.events),
        solver_steps=out.solver_steps, singular_time=out.singular_time,
        undecided_instants=out.undecided_instants,
    )  # fmt: skip


@dataclass
class _Outcome:
    """The run's tallies as it goes."""

    status: str = "max_time"
    events: list = field(default_factory=list)  # rows of EVENT_COLUMNS
    solver_steps: int = 0
    singular_time: float = float("nan")
    undecided_instants: int = 0
    idle_hits: int = 0  # events that fired and changed no state; they count in max_events


def _at_origin(Z) -> bool:
    """Whether a neuron's pre-activations (a column of Z (n, m)) are all at rounding level."""
    return bool(np.all(np.abs(Z) <= KINK * np.max(np.abs(Z)), axis=0).any())


def _at_rounding_level(Z, pb: _Problem) -> bool:
    """Whether every residual f_i - y_i of the network is within 64 ulps of the terms summed
    to form it (square loss): the fit cannot improve in float64."""
    f, ulp = _outputs_and_ulp(Z, pb)
    return bool(np.all(np.abs(f - pb.y) <= 64 * ulp))


def _outputs_and_ulp(Z, pb: _Problem):
    """The network's outputs f (..., n) at Z (..., n, m), and the size of one rounding of the
    residuals f - y: eps (sum_j |a_j phi(z_ij)| + |y_i|) (..., n)."""
    act = np.maximum(Z, pb.gamma * Z)
    terms = np.abs(act * pb.a).sum(axis=-1) + np.abs(pb.y)
    return act @ pb.a, np.finfo(float).eps * terms


def _at_this_instant(region: Region, near, r, armed, i, j, kind) -> dict[int, dict[int, str]]:
    """The entries whose events fall at this instant, by neuron (ascending), each {point:
    kind}: the one that fired, every armed entry off its kink at rounding distance from it
    (`near` (n, m): |z| <= KINK max |Z|), and every armed held entry whose release function
    is within half its slack of firing (a hold exactly at a bound, e.g. theta = gamma = 0,
    is not). Events that coincide in exact arithmetic (neurons of one pattern, a residual
    through 0) are then decided at one r, not in the order rounding puts them."""
    fired: dict[int, dict[int, str]] = {j: {i: kind}}
    for p, q in zip(*np.nonzero(~region.S & armed[0] & near), strict=True):
        fired.setdefault(int(q), {}).setdefault(int(p), "cross")
    half = 0.5 * release_slack(region.a[region.neurons], r)
    up, down = region.release_functions(r, slack=False)
    held = (region.points, region.neurons)
    fire_up, fire_down = armed[1][held] & (up + half <= 0), armed[2][held] & (down + half <= 0)
    for e in np.flatnonzero(fire_up | fire_down).tolist():
        p, q = region.entries[e]
        fired.setdefault(q, {}).setdefault(p, "release_up" if fire_up[e] else "release_down")
    return dict(sorted(fired.items()))


def _decide(pb: _Problem, near, r, D, S, armed, decided, j, fired: dict[int, str], instant,
            projections: ProjectionCache):  # fmt: skip
    """Decide neuron j's entries on its kink at once (`_instant.decide`), `fired` ({point:
    kind}) the events of this instant on it; apply the states to (D, S) in place and return
    the events, one per entry whose state changed: (t, log t, point, neuron, direction,
    kind) with (t, log t) = `instant`,
    direction +1 to the upper side, -1 to the lower side, 0 held (kind 'slide'); and whether
    the decision was left undecided (`Decision.undecided`)."""
    on_kink = S[:, j] | decided[:, j] | near[:, j]
    on_kink[list(fired)] = True
    points = np.flatnonzero(on_kink)
    start = np.where(S[points, j], HELD, np.where(D[points, j] == 1.0, UP, DOWN))
    guess, prefer = start.copy(), np.where(start == HELD, UP, start)
    for e, p in enumerate(points.tolist()):
        kind = fired.get(p)
        if kind is not None:
            guess[e] = {"cross": HELD, "release_up": UP, "release_down": DOWN}[kind]
            prefer[e] = -start[e] if kind == "cross" else guess[e]
    choice = decide(pb.K, pb.a[j], pb.gamma, r, D[:, j], points, guess, prefer,
                    lambda held: projections.inverse(pb.K, held))  # fmt: skip
    events = []
    for p, old, new in zip(points.tolist(), start.tolist(), choice.states.tolist(), strict=True):
        if new == old:
            continue
        if old == HELD:
            name = "release_up" if new == UP else "release_down"
        else:
            name = "slide" if new == HELD else "cross"
        events.append((*instant, p, j, int(new), name))
    S[points, j] = choice.states == HELD
    leaving = choice.states != HELD
    D[points[leaving], j] = np.where(choice.states[leaving] == UP, 1.0, pb.gamma)
    armed[:, points, j] = False
    decided[points, j] = True
    return events, choice.undecided


class _Records:
    """Calls on_record at the record times as the flow passes them: times (R,) ascending,
    with inf past float64's range, where log_times (R,) place them."""

    def __init__(self, times, log_times, on_record):
        self.times = np.asarray(times, float)
        self.by_log = log_times is not None
        with np.errstate(divide="ignore"):
            self.log_times = np.log(self.times) if log_times is None else np.asarray(log_times)
        self.on_record, self.next = on_record, 0

    def _x(self, path, k: int):
        """Record k's place on the path: from t, or from log t in a run to e^log_time (its
        x = log(1 + t / t_s) overflows from t once t / t_s does)."""
        if self.by_log:
            return path.x_at_log([self.log_times[k]])[0]
        return path.x_at([self.times[k]])[0]

    def emit(self, path, x_hi, C0, region, n_events):
        """Records before path coordinate x_hi, not yet emitted (x inside the latest chunk)."""
        if np.isinf(x_hi):  # the rest of a settled square-loss path: records stop there
            x_hi = getattr(path, "x_settled", x_hi)
        while self.next < len(self.times) and self._x(path, self.next) < x_hi:
            x = self._x(path, self.next)
            u = path.du([x])[0]
            k = self.next
            C = C0 + region.coef_delta(u).T
            self.on_record(self.times[k], self.log_times[k], C, n_events, region.active)
            self.next += 1

    def finish(self, t, log_t, C, n_events, active):
        while self.next < len(self.times) and self.log_times[self.next] < log_t:
            self.next += 1  # passed without being emitted: only when a region ended early
        self.on_record(t, log_t, C, n_events, active)


def _values(region: Region, path, Z0, pb: _Problem, xs, slopes: bool = True):
    """Event functions (T, F) and the derivative in x of the crossing functions (T, n m),
    None unless `slopes`."""
    U, R = path.state(xs)
    T = len(xs)
    moved = U.any()  # not at a region's start
    if slopes:  # du/dx too (finite where t is not)
        velocity = path.velocity(xs, U, R)
        V = np.concatenate([U, velocity]) if moved else velocity
    elif not moved:  # the region's start: Z = Z0
        Zs = Z0 + np.zeros((T, 1, 1))
        return region.functions(Zs, R, _stop(region, Zs, pb)), None
    else:
        V = U
    moves = _moves(region, pb.K, V)  # Z - Z0 and (or) dZ/dx
    Zs = Z0 + moves[:T] if moved else Z0 + np.zeros((T, 1, 1))
    stop = _model_stop(region, Z0, pb, U)
    F = region.functions(Zs, R, _stop(region, Zs, pb) if stop is None else stop)
    if not slopes:
        return F, None
    dZ = moves[-T:] * region.side  # d(side Z)/dx
    return F, dZ.reshape(T, -1)


def _moves(region: Region, K, V):
    """K coef_delta(V) (T, n, m) for dual moves V (T, n), skipping rows of V that are 0 (a
    region's start, whose moves are exactly 0)."""
    rows = np.flatnonzero(V.any(axis=1))
    if len(rows) == len(V):
        return np.matmul(K, region.coef_delta(V))
    moves = np.zeros((len(V),) + region.Dt.shape)
    moves[rows] = np.matmul(K, region.coef_delta(V[rows]))
    return moves


class _Bounds(NamedTuple):
    """What bounds the crossing functions' moves in one region: |z_ij(x) - z_ij(x')| <=
    per_move_ij ||du(x) - du(x')||_2 (n m,), a margin for the rounding of computed values,
    and the held entries (n m,) (their crossing functions are inf).

    z_ij(u) - z_ij(0) = -a_j x_i^T P_j X^T (D~_j u) with P_j a projection (I, or I less the
    projection onto neuron j's held inputs) and |D~| <= max(1, |gamma|), so per_move_ij =
    |a_j| max(1, |gamma|) ||x_i|| ||X||_2 = |a_j| max(1, |gamma|) sqrt(K_ii lambda_max(K))."""

    per_move: np.ndarray
    margin: float
    held: np.ndarray


def _bounds(region: Region, Z0, pb: _Problem, lam_max: float) -> _Bounds:
    rows = np.sqrt(np.maximum(np.diag(pb.K), 0.0) * lam_max)
    per_move = np.outer(rows, np.abs(pb.a) * max(1.0, abs(pb.gamma))).ravel()
    margin = BOUND_MARGIN * float(np.max(np.abs(Z0), initial=0.0))
    return _Bounds(per_move * (1 + BOUND_MARGIN), margin, region.S.ravel())


def _bounded_values(region: Region, path, Z0, pb: _Problem, bounds: _Bounds, shift, prev, xs):
    """Event functions (T + 1, F) and crossing slopes (T + 1, n m) at [x_prev] + xs, as
    `_values` gives them, but evaluated only for the crossing functions that may reach 0 on
    [x_prev, xs[-1]]: each other one holds a lower bound (prev's value less the most the
    entry can move there, `_Bounds`), which is > 0, with slope 0, so it neither fires nor
    dips. prev = (x_prev, F (F,), _) holds exact values or such bounds; values include
    `shift` (F,), as `_detect`'s. None when more than DENSE_SHARE of the entries may reach 0
    (`_values` is then cheaper) or the tol function must be evaluated exactly."""
    x_prev, F_prev = prev[0], prev[1]
    nm = Z0.size
    lower = F_prev[:nm] - bounds.per_move * path.reach(x_prev, xs[-1]) - bounds.margin
    near = np.flatnonzero(~bounds.held & (lower <= bounds.margin))
    if len(near) > DENSE_SHARE * nm:
        return None
    xs = np.concatenate([[x_prev], xs])
    U, R = path.state(xs)
    stop = _model_stop(region, Z0, pb, U)
    if stop is None:
        return None
    T = len(xs)
    i, j = np.divmod(near, Z0.shape[1])
    moves = region.z_moves(np.concatenate([U, path.velocity(xs, U, R)]), i, j)  # (2T, c)
    side = region.side.ravel()[near]
    g = np.broadcast_to(lower, (T, nm)).copy()
    g[:, near] = side * (Z0.ravel()[near] + moves[:T]) + shift[near]
    g[:, bounds.held] = np.inf
    if pb.gamma == 1.0:  # linear: no kink
        g[:] = np.inf
    dG = np.zeros((T, nm))
    dG[:, near] = side * moves[T:]
    up, down = region.release_functions(R)
    F = np.concatenate([g, up, down, stop[:, None]], axis=1)
    F[0] = F_prev  # as the dense search: a value at rounding level keeps its sign across chunks
    return xs, F, dG


def _model_stop(region: Region, Z0, pb: _Problem, U):
    """The tol function (T,) at dual moves U (T, n) from the region's affine model of the
    outputs (f = f0 - H u) where that model's loss, its residuals shrunk by far more than
    rounding could take off them, is above 4 tol: the network's own loss is then above tol
    too. None otherwise (the exact `_stop` must be evaluated); inf when tol = 0."""
    if pb.tol <= 0:
        return np.full(len(U), np.inf)
    moved = U @ region.H
    f = region.outputs(Z0) - moved
    # the model and the network part by rounding, and by the entries within KINK of their
    # kink on the side the model does not count: at most KINK max|Z| sum_j |a_j| per output
    kink = KINK * float(np.max(np.abs(Z0), initial=0.0)) * pb.a_norm1
    rounding = 1e-8 * (np.abs(f) + np.abs(pb.y) + np.abs(moved)) + 2 * kink
    shrunk = np.maximum(np.abs(f - pb.y) - rounding, 0.0)
    if pb.loss == "square":
        loss = 0.5 * np.mean(shrunk**2, axis=-1)
    else:
        loss = loss_value(pb.loss, f, pb.y) * (1 - 1e-6)
    if np.any(loss <= 4 * pb.tol):
        return None
    return loss - pb.tol


def _stop(region: Region, Z, pb: _Problem):
    """The tol function (...,) at pre-activations Z (..., n, m): an upper bound on the
    network's own loss, less tol, so that the loss recorded at the end is at or below tol
    whatever the rounding; inf when tol = 0 (a loss of exactly 0 is only float64
    underflow)."""
    if pb.tol <= 0:
        return np.full(Z.shape[:-2], np.inf)
    f, ulp = _outputs_and_ulp(Z, pb)
    if pb.loss != "square":
        return loss_value(pb.loss, f, pb.y) * (1 + 1e-9) - pb.tol
    # Near rounding level the residuals carry relative errors of order eps |f| / |f - y|:
    # widen each by a bound on its rounding, so any evaluation of the loss is <= tol.
    wide = np.abs(f - pb.y) + 16 * ulp
    return 0.5 * np.mean(wide**2, axis=-1) - pb.tol


def _armed_mask(region: Region, armed) -> np.ndarray:
    held = (region.points, region.neurons)
    return np.concatenate([armed[0].ravel(), armed[1][held], armed[2][held], [True]])


def _detect(region: Region, path, Z0, pb: _Problem, armed, emit, lam_max: float):
    """The first event along the path: (x, function index), or None. Calls emit(x) as the
    path advances, so that records before the event are taken. Marks functions seen > 0 as
    armed; an unarmed function at the region's start does not fire there.

    An unarmed entry sits on its kink (it switched at this instant); its crossing function
    is shifted up by KINK max |Z0| (`shift`), so that if it leaves to the wrong side
    (its velocity there was at rounding level, and the flow turns it) it fires once it is
    clearly across instead of never having been seen > 0."""
    mask = _armed_mask(region, armed)
    nm = Z0.size
    shift = np.zeros(len(mask))
    shift[:nm][~mask[:nm]] = KINK * np.max(np.abs(Z0), initial=0.0)
    bounds = _bounds(region, Z0, pb, lam_max) if path.skips_entries else None
    prev = None  # (x, F, dG) at the end of the last chunk; dG None where F holds bounds
    for xs in path.chunks():
        if prev is None:  # the region's start: every function, exactly
            F = _values(region, path, Z0, pb, xs[:1], slopes=False)[0] + shift
            now = np.flatnonzero(_fires_at_start(F[0] - shift, mask))
            if len(now):
                return xs[0], int(now[np.argmin(F[0][now])])
            prev, xs = (xs[0], F[0], None), xs[1:]
            if not len(xs):
                continue
        found = None
        if bounds is not None:
            found = _bounded_values(region, path, Z0, pb, bounds, shift, prev, xs)
        if found is not None:
            xs, F, dG = found
        elif prev[2] is not None:
            F, dG = _values(region, path, Z0, pb, xs)
            xs = np.concatenate([[prev[0]], xs])
            F = np.concatenate([prev[1][None], F + shift])
            dG = np.concatenate([prev[2][None], dG])
        else:  # prev holds bounds: evaluate it again, with the chunk
            xs = np.concatenate([[prev[0]], xs])
            F, dG = _values(region, path, Z0, pb, xs)
            F = F + shift
        seen = 0  # F[:seen] marked: functions seen > 0 on the way may fire at a later start
        for k in np.flatnonzero(_may_fire(F, dG)):
            _update_armed(region, armed, F[seen : k + 1] - shift)
            seen = k + 1
            hit = _first_in(
                region, path, Z0, pb, shift, xs[k], xs[k + 1], F[k], F[k + 1], dG[k : k + 2]
            )
            if hit is not None:
                emit(hit[0])
                return hit
        _update_armed(region, armed, F[seen:-1] - shift)
        emit(xs[-1])
        prev = (xs[-1], F[-1], None if found is not None else dG[-1])
    return None


def _fires_at_start(F0, mask):
    """Functions that fire at the region's start: armed ones at or below 0. Entries decided
    at this instant are unarmed: the joint decision left each consistent, so none is
    reversed by another switch of the same instant."""
    return (F0 <= 0) & mask


def _update_armed(region, armed, F):
    """Arm the functions > 0 in any row of F (T, F)."""
    positive = (F > 0).any(axis=0)
    n, m = armed.shape[1:]
    ns = region.n_sliding()
    held = (region.points, region.neurons)
    armed[0] |= positive[: n * m].reshape(n, m)
    armed[1][held] |= positive[n * m : n * m + ns]
    armed[2][held] |= positive[n * m + ns : n * m + 2 * ns]


def _may_fire(F, dG):
    """(T - 1,) bool: the intervals between consecutive rows of F (T, F) where `_first_in`
    may find a root: a function falls from > 0 to <= 0, or an entry's ends are > 0 with
    the derivative < 0 at the start and > 0 at the end (a possible dip)."""
    above = F > 0
    falls = (above[:-1] & ~above[1:]).any(axis=1)
    return falls | _may_dip(F[:-1], F[1:], dG[:-1], dG[1:]).any(axis=1)


def _may_dip(Fa, Fb, dGa, dGb):
    """(..., n m) bool: entries > 0 at both ends of an interval whose derivative goes from
    < 0 to > 0 across it (a possible dip below 0). Fa, Fb (..., F); dGa, dGb (..., n m)."""
    nm = dGa.shape[-1]
    Fa, Fb = Fa[..., :nm], Fb[..., :nm]
    return np.isfinite(Fa) & (Fa > 0) & (Fb > 0) & (dGa < 0) & (dGb > 0)


def _first_in(region, path, Z0, pb, shift, xa, xb, Fa, Fb, dG):
    """The earliest root in [xa, xb] of the functions (shifted up by `shift`, as Fa and Fb
    are) that fall from > 0 to <= 0 there, or that dip below 0 between two positive ends
    (derivative < 0 at xa and > 0 at xb)."""
    ks = np.flatnonzero((Fa > 0) & (Fb <= 0))
    his = np.full(len(ks), xb)
    dips = np.flatnonzero(_may_dip(Fa, Fb, dG[0], dG[1]))
    if not np.isfinite(xb):
        dips = dips[:0]
    elif len(dips):  # look closer only where the cubic through the ends dips towards 0
        low = _hermite_min(Fa[dips], Fb[dips], dG[0, dips], dG[1, dips], xb - xa)
        dips = dips[low < 0.5 * np.minimum(Fa[dips], Fb[dips])]
    for k in dips:
        g = _shifted(_function(region, path, Z0, pb, k), shift[k])
        low = optimize.minimize_scalar(g, bounds=(xa, xb), method="bounded")
        if low.fun <= 0:
            ks, his = np.append(ks, k), np.append(his, low.x)
    if not len(ks):
        return None
    if not np.isfinite(xb):  # a root in [x, inf): find a finite upper end
        for e, k in enumerate(ks):
            hi = max(2.0 * xa, 1.0)
            while np.isfinite(hi) and _one(region, path, Z0, pb, hi, k) + shift[k] > 0:
                hi *= 2.0
            his[e] = hi  # inf: reaches its kink only in the limit
        ks, his = ks[np.isfinite(his)], his[np.isfinite(his)]
        if not len(ks):
            return None
        guess = his
    else:  # where the chord through the ends crosses 0 (dips: their minimum)
        fa, fb = Fa[ks], np.minimum(Fb[ks], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            guess = np.where(his < xb, his, xa + (xb - xa) * fa / (fa - fb))
    guess = np.nan_to_num(guess, nan=xb)
    return _earliest_root(region, path, Z0, pb, shift, xa, ks, his, guess)


def _earliest_root(region, path, Z0, pb, shift, xa, ks, his, guess):
    """The smallest root over functions ks with g_k(xa) > 0 >= g_k(his): the one whose
    root is guessed first is refined by Brent's method, and the others are checked at its
    root (one vectorised evaluation); those already <= 0 there have an earlier root and are
    refined in turn. Each round drops the refined function, so it ends; with good guesses
    after one or two rounds, however many entries cross in the interval."""
    while True:
        e = int(np.argmin(guess))
        k, hi = int(ks[e]), float(his[e])
        g = _shifted(_function(region, path, Z0, pb, k), shift[k])
        if g(xa) <= 0:  # the full and the one-entry evaluations differ in the last bits
            return xa, k
        x = hi  # unless the one-entry evaluation puts the root there too
        if g(hi) <= 0:
            xtol = 4e-16 * max(abs(xa), abs(hi))  # about one ulp of the interval's scale
            x = optimize.brentq(g, xa, hi, xtol=xtol, rtol=8.9e-16, maxiter=300)
            step = xtol
            while g(x) > 0 and x < hi:  # the event is at or just past its root
                x, step = min(x + step, hi), 2 * step
        others = np.delete(ks, e)
        if len(others) == 0:
            return x, k
        fired = _some(region, path, Z0, pb, x, others) + shift[others] <= 0
        earlier = others[fired]
        if len(earlier) == 0:
            return x, k
        ks, his = earlier, np.full(len(earlier), x)
        guess = np.delete(guess, e)[fired]


def _hermite_min(fa, fb, da, db, h, samples=17):
    """Smallest value of the cubic Hermite interpolants on [0, h] (sampled), elementwise."""
    s = np.linspace(0.0, 1.0, samples)[:, None]
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return (h00 * fa + h10 * h * da + h01 * fb + h11 * h * db).min(axis=0)


def _some(region: Region, path, Z0, pb: _Problem, x, ks):
    """Event functions ks (K,) at one x, each as `_one` evaluates it (the path's state taken
    once): O(K n + n^2), not the O(n^2 m) of all of them."""
    u, r = (v[0] for v in path.state([x]))
    out = np.empty(len(ks))
    nm, m = Z0.shape[0] * Z0.shape[1], Z0.shape[1]
    side, K = region.side, pb.K
    columns = {}  # neuron j's coefficient move, once per neuron: many entries share one
    for e, k in enumerate(ks.tolist()):
        if k < nm:  # a crossing function: side z_ij, as `_function` evaluates it
            i, j = divmod(k, m)
            column = columns.get(j)
            if column is None:
                column = columns[j] = region.column_map(j)(u)
            out[e] = side[i, j] * (Z0[i, j] + K[i] @ column)
            continue
        kind, i, j = region.describe(k)
        if kind == "tol":
            out[e] = _one(region, path, Z0, pb, x, k)
        else:
            out[e] = region.release_function(r, region.entry_index(i, j), kind == "release_up")
    return out


def _one(region: Region, path, Z0, pb: _Problem, x, k):
    """Event function k at one x: O(n^2) for an entry, not the O(n^2 m) of all of them."""
    return _function(region, path, Z0, pb, k)(x)


def _function(region: Region, path, Z0, pb: _Problem, k):
    """Event function k as a function of x, with what does not depend on x taken once (the
    root search evaluates it many times): O(n) for a crossing function side z_ij (given the
    path's state), O(n^2 m) for the tol function."""
    kind, i, j = region.describe(k)
    if kind == "cross":
        column, side, z0, K_i = region.column_map(j), region.side[i, j], Z0[i, j], pb.K[i]
        return lambda x: side * (z0 + K_i @ column(path.du([x])[0]))
    if kind == "tol":
        return lambda x: float(_stop(region, Z0 + pb.K @ region.coef_delta(path.du([x])[0]), pb))
    e, up = region.entry_index(i, j), kind == "release_up"
    return lambda x: region.release_function(path.r([x])[0], e, up)


def _shifted(g, shift):
    """x -> g(x) + shift."""
    return lambda x: g(x) + shift
