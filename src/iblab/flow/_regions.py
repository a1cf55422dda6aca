"""One region of the piecewise-linear flow: fixed activation sides and sliding set.

Shapes: n points, m neurons; C (m, n), Z = P0 + K C^T (n, m). D (n, m) is the slope of each
entry's side (1, or gamma below the kink) and S (n, m) marks entries held on the kink
(sliding). With a fixed second layer a and r = dL/df (n,), inside the region the flow moves C
only through n dual coordinates u (du/dt = r):

    C_j(u) = C_j(0) - a_j Pi_j (D~_j * u),    D~ = D with the sliding entries set to 0,

where Pi_j = I - E_S K_SS^{-1} K_S,: (S = neuron j's sliding points) keeps those entries on
the kink; this is Filippov's sliding velocity, the gradient projected onto the kink. Outputs
are affine in u, f(u) = f(0) - H u, with H = sum_j a_j^2 diag(D~_j) K Pi_j diag(D~_j)
(symmetric PSD). A sliding entry (i, j) moves its own coefficient as -a_j theta_ij r_i, and
stays on the kink while its Filippov weight theta_ij lies in [gamma, 1].
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np
from scipy import linalg

RELEASE_SLACK = 1e-12
# H is updated across an event by swapping the terms of the neurons that changed; it is
# summed afresh after REBUILD_EVERY such updates (so rounding cannot build up) or when more
# than REBUILD_SHARE of the neurons changed at once.
REBUILD_EVERY = 32
REBUILD_SHARE = 0.25
# Held-set projections kept for reuse, least recently used dropped first past this size:
# each holds an n x n matrix, and unbounded, a run at n = 1024 (thousands of held sets)
# filled 12 GB.
CACHE_BYTES = 2**28


class _Held(NamedTuple):
    """One sliding neuron j's terms: its held points S (s,), M = K_SS^+ K_S,: (s, n), the
    correction diag(d) K_:,S M diag(d) (n, n) subtracted from H (d = a_j D~_j), its rows of
    the map r -> theta r (s, n), and whether its held set is rank deficient."""

    points: np.ndarray
    M: np.ndarray
    correction: np.ndarray
    to_w: np.ndarray
    deficient: bool


class Region:
    """The affine dynamics of one region (all arrays float64)."""

    def __init__(
        self, K, a, D, S, gamma: float, projections: ProjectionCache | None = None,
        rank_K: int | None = None, previous: Region | None = None,
    ):  # fmt: skip
        """projections: the held sets' projections, shared between regions. previous: a
        region whose per-neuron terms are reused for the neurons whose slopes and held sets
        have not changed (after an event, all but one)."""
        self.K, self.a, self.gamma = K, a, gamma
        self.S = S.copy()  # as built: the caller switches D and S in place after an event
        self.Dt = np.where(S, 0.0, D)
        Da = self.Dt * a
        self._minus_Da = -Da
        cache = ProjectionCache() if projections is None else projections
        same = _unchanged(previous, self.Dt, S)
        self._held: dict[int, _Held] = {}
        for j in np.flatnonzero(S.any(axis=0)).tolist():
            self._held[j] = previous._held[j] if same[j] else self._hold(j, cache, rank_K)
        # A neuron holds points whose inputs are linearly dependent, or span all of span X
        # (its weight is pinned, e.g. at 0; only when d < n). The flow need not be unique there.
        self.singular = any(held.deficient for held in self._held.values())
        self._held_mask = np.zeros(len(a), bool)  # (m,) the neurons that hold points
        self._held_mask[list(self._held)] = True
        changed = np.flatnonzero(~same)
        fresh = previous is None or previous._updates >= REBUILD_EVERY
        if fresh or len(changed) > REBUILD_SHARE * len(same):
            self._sum = K * (Da @ Da.T)
            for held in self._held.values():
                self._sum -= held.correction
            self._updates = 0
        else:  # H is a sum of per-neuron terms: swap the changed neurons' terms
            self._sum = previous._sum.copy()
            for j in changed.tolist():
                self._sum -= previous._term(j)
                self._sum += self._term(j)
            self._updates = previous._updates + 1
        idle = ~Da.any(axis=1)  # points no neuron moves: their rows of H are exactly 0
        self._sum[idle] = 0.0
        self._sum[:, idle] = 0.0
        self.H = 0.5 * (self._sum + self._sum.T)
        held = list(self._held.values())
        self.points = np.concatenate([h.points for h in held]) if held else np.zeros(0, int)
        self.neurons = np.repeat(list(self._held), [len(h.points) for h in held]).astype(int)
        # theta r_i of every sliding entry is linear in r: w = r @ self._to_w.T (n_sliding, n)
        self._to_w = np.concatenate([h.to_w for h in held]) if held else np.zeros((0, len(D)))
        self._a = a[self.neurons].astype(float)
        self.entries = list(zip(self.points.tolist(), self.neurons.tolist(), strict=True))
        self._entry_index = {entry: e for e, entry in enumerate(self.entries)}
        self.side = np.where(D == 1.0, 1.0, -1.0)  # +1 above the kink, -1 below
        self.active = active_pattern(D, self.S)  # the pattern inside the region

    def _term(self, j: int):
        """Neuron j's term of H (n, n): a_j^2 diag(D~_j) K Pi_j diag(D~_j)."""
        d = self.a[j] * self.Dt[:, j]
        term = self.K * np.outer(d, d)
        held = self._held.get(j)
        return term if held is None else term - held.correction

    def _hold(self, j: int, cache: ProjectionCache, rank_K: int | None) -> _Held:
        """The terms of sliding neuron j, its projection taken from (or put in) the cache."""
        K, idx = self.K, np.flatnonzero(self.S[:, j])

        def project():  # pinv: a neuron may hold more points than rank(K)
            inv, rank = held_inverse(K, idx)
            M = inv @ K[idx]  # (s, n)
            pinned = rank_K is not None and rank >= rank_K  # W_j fixed in span X
            return M, K[:, idx] @ M, rank < len(idx) or pinned, inv

        M, Q, deficient, _ = cache.get(idx.tobytes(), project)
        d = self.a[j] * self.Dt[:, j]
        correction = d[:, None] * Q * d[None, :]
        return _Held(idx, M, correction, -(M * self.Dt[:, j]), deficient)

    # ---- moves

    def coef_delta(self, v):
        """Change of C^T (..., n, m) for dual moves v (..., n)."""
        Ct = v[..., :, None] * self._minus_Da
        if self.entries:  # held entries take a_j (M_j (D~_j * v))_i = -a_j (v @ to_w.T)
            Ct[..., self.points, self.neurons] -= self._a * (v @ self._to_w.T)
        return Ct

    def z_moves(self, v, i, j):
        """The moves of pre-activations z_ij, entries (i, j) (c,) each, for dual moves v
        (T, n): (K coef_delta(v))[..., i, j] (T, c), at O(T n c) instead of O(T n^2 m)."""
        K = self.K
        moves = v @ (K[i] * self._minus_Da[:, j].T).T
        held = self._held_mask[j]
        if held.any():  # the held entries' coefficients, as in coef_delta
            shares = np.zeros((len(v),) + self.Dt.shape)
            shares[:, self.points, self.neurons] = -self._a * (v @ self._to_w.T)
            c = np.flatnonzero(held)
            moves[:, c] += np.einsum("tkc,ck->tc", shares[:, :, j[c]], K[i[c]])
        return moves

    def column_map(self, j: int):
        """v (n,) -> column j of coef_delta(v) (n,), the change of C_j for one dual move v,
        with what does not depend on v taken once (the root search evaluates one column many
        times)."""
        d = self.Dt[:, j]
        scaled, a_j = -self.a[j] * d, self.a[j]
        held = self._held.get(j)
        if held is None:
            return lambda v: scaled * v

        def column(v):
            col = scaled * v
            col[held.points] += a_j * (held.M @ (v * d))
            return col

        return column

    def outputs(self, Z):
        """f (n,) of the region's affine model at pre-activations Z (n, m)."""
        return (self.Dt * Z) @ self.a

    # ---- event functions: an event is one of them falling from > 0 to <= 0

    def n_sliding(self) -> int:
        return len(self.entries)

    def sliding_entries(self) -> list[tuple[int, int]]:
        return self.entries

    def release_functions(self, r, slack: bool = True):
        """Release functions of the sliding entries (..., n_sliding each): up = a_j (1 -
        theta) r_i and down = a_j (theta - gamma) r_i, proportional to minus the velocity of
        Z_ij if the entry were let go above the kink, and to the velocity below it. The entry
        stays held while both are >= 0 (both sides push it onto the kink); once one falls
        below 0 the flow carries it off to that side. Both are linear in r, so they stay
        continuous where r_i passes 0 (where theta has a pole). Shifted up by 1e-12 |a_j|
        max_k |r_k|, so that residuals at rounding level (or underflowed to 0) release nothing.
        """
        return self._release(r, self._to_w, self.points, self._a, slack)

    def release_function(self, r, e: int, up: bool):
        """One release function of sliding entry e (in sliding_entries order), r (n,)."""
        s = slice(e, e + 1)
        pair = self._release(r, self._to_w[s], self.points[s], self._a[s])
        return float(pair[0 if up else 1][0])

    def entry_index(self, i: int, j: int) -> int:
        """Position of sliding entry (i, j) in sliding_entries()."""
        return self._entry_index[(i, j)]

    def _release(self, r, to_w, points, a, slack: bool = True):
        w, ri = r @ to_w.T, r[..., points]
        slack = release_slack(a, r) if slack else 0.0
        return a * (ri - w) + slack, a * (w - self.gamma * ri) + slack

    def functions(self, Z, r, stop):
        """All event functions (..., F): side * Z for entries off the kink (inf on it), the
        two release functions of each sliding entry, and `stop` (the tol function).
        Z (..., n, m), r (..., n), stop (...)."""
        g = np.where(self.S, np.inf, self.side * Z).reshape(Z.shape[:-2] + (-1,))
        if self.gamma == 1.0:  # linear: no kink
            g = np.full_like(g, np.inf)
        up, down = self.release_functions(r)
        return np.concatenate([g, up, down, np.asarray(stop)[..., None]], axis=-1)

    def describe(self, k: int) -> tuple[str, int, int]:
        """What function k is: ('cross' | 'release_up' | 'release_down' | 'tol', i, j)."""
        n, m = self.side.shape
        if k < n * m:
            return "cross", k // m, k % m
        k -= n * m
        entries = self.sliding_entries()
        if k < len(entries):
            return "release_up", *entries[k]
        k -= len(entries)
        if k < len(entries):
            return "release_down", *entries[k]
        return "tol", -1, -1


class ProjectionCache:
    """Held sets' projections {held points: (M = K_SS^+ K_S,: (s, n), K_:,S M (n, n), rank
    deficient, K_SS^+ (s, s))}, at most max_bytes of them (least recently used dropped
    first; one larger than max_bytes alone is not kept). A projection is a function of its
    held points alone, so what is dropped is recomputed the same."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes, self.bytes = max_bytes, 0
        self._items: OrderedDict = OrderedDict()

    def get(self, key: bytes, make):
        """The projection stored under key, or make() stored there."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        if _nbytes(value) > self.max_bytes:
            return value
        self._items[key] = value
        self.bytes += _nbytes(value)
        while self.bytes > self.max_bytes:
            self.bytes -= _nbytes(self._items.popitem(last=False)[1])
        return value

    def inverse(self, K, idx):
        """K_SS^+ (s, s) for held points idx (s,) ascending: the stored projection's, or
        computed as it is (not stored: the joint decision tries held sets no region takes)."""
        idx = np.asarray(idx, np.int64)
        stored = self._items.get(idx.tobytes())
        return held_inverse(K, idx)[0] if stored is None else stored[3]


def held_inverse(K, idx):
    """(K_SS^+ (s, s), its rank) for held points idx (s,): pinvh with rtol 1e-12, the one
    inverse regions and the joint decision use (a neuron may hold more points than rank K)."""
    return linalg.pinvh(K[np.ix_(idx, idx)], rtol=1e-12, return_rank=True, check_finite=False)


def _nbytes(projection) -> int:
    """The memory of one projection's arrays (M and K_:,S M)."""
    return projection[0].nbytes + projection[1].nbytes


def active_pattern(D, S):
    """The activation pattern (n, m) bool as the flow decided it: entries above their kink and
    not held on it. Entries on a kink have z = 0 in exact arithmetic (inactive), so no record
    reads a side from z's rounding there."""
    return (D == 1.0) & ~S


_TINY = np.finfo(float).tiny


def release_slack(a, r):
    """The release functions' slack for second-layer weights a (...,): 1e-12 |a| max_k |r_k|
    (r (..., n)), and the smallest normal float so that r = 0 releases nothing either."""
    return RELEASE_SLACK * np.abs(a) * np.abs(r).max(axis=-1, keepdims=True) + _TINY


def _unchanged(previous: Region | None, Dt, S) -> np.ndarray:
    """(m,) bool: the neurons whose slopes and held points are those of `previous`."""
    if previous is None:
        return np.zeros(Dt.shape[1], bool)
    return ~(np.any(previous.Dt != Dt, axis=0) | np.any(previous.S != S, axis=0))
