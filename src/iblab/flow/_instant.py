"""One decision per instant: which entries of a neuron on its kink cross, are held, or leave.

At an event instant t*, the residuals r (n,) are continuous, so the velocity of a
pre-activation z_ij depends only on the slopes of neuron j's own entries: the neurons decide
independently. For neuron j, let P be its entries on the kink (those held, the one whose
event fired, and any other at rounding level). Each takes a state: held (a Filippov slope
theta in [gamma, 1] that keeps dz/dt = 0), up (slope 1, dz/dt >= 0) or down (slope gamma,
dz/dt <= 0). With the held set H fixed, theta r on H solves K_HH (theta r)_H = -K_H,: (D r)
over the entries not held (the projection `_regions.Region` uses), so every test is the
region's own formula:

- held is consistent when both release functions are >= 0 (`Region.release_functions`, with
  their slack of 1e-12 |a_j| max |r|: a hold at rounding distance from a bound stays held);
- up when dz/dt >= 0, down when dz/dt <= 0 (computed with the held entries' theta), each
  within the same relative slack (1e-12 |a_j| max |r| sum_k |K_ik|): a velocity at rounding
  level is a tie.

The consistent states are found by least-index principal pivoting (Murty's rule): start from
the states before t*, with the event's entry held if it reached its kink and let go to the
side its release function fell on if that fired; while some entry is inconsistent, change
the one of lowest point index: a held entry leaves to the side whose release function is
negative; an entry leaving the wrong way is held if the flow on its two sides pushes it onto
the kink (a_j r_i > 0, attracting), and goes to the other side otherwise. A tie (a state
consistent only within the slack, or a zero velocity) is thus settled by the event: an entry
arriving at its kink is held when holding is consistent, one whose release function fell to
0 is let go, and the flow after t* decides again if it must. Where the flow pushes an entry
away on both sides (a_j r_i < 0) every state may be consistent; there it keeps going the way
it moved: across its kink if it arrived, to its side if it left at t*, up if it was held.
With attracting entries only, the problem is a box-constrained LCP with a P-matrix
(K_PP diag(a_j r_P)): the velocities are unique and the pivoting ends. A state seen twice
ends the pivoting at the least inconsistent state seen (counted in `Decision.undecided`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from iblab.flow._regions import held_inverse, release_slack

HELD, UP, DOWN = 0, 1, -1


class Decision(NamedTuple):
    """States (|P|,) of the kink entries `points` (|P|,) of one neuron: HELD, UP or DOWN;
    `undecided` is True when the pivoting cycled (no consistent state was found)."""

    points: np.ndarray
    states: np.ndarray
    undecided: bool


def decide(K, a_j: float, gamma: float, r, slopes, points, guess, prefer, inverse=None) -> Decision:
    """The states of neuron j's kink entries at one instant.

    K (n, n); r (n,) the residuals dL/df; slopes (n,) the slope of every entry of neuron j
    off its kink (1 or gamma; entries in `points` are ignored); points (|P|,) ascending
    point indices on the kink; guess (|P|,) the state to start from; prefer (|P|,) UP or
    DOWN, the way each entry moves at t*; inverse(held points) gives K_HH^+ (default:
    `held_inverse`)."""
    points = np.asarray(points)
    states = np.asarray(guess).copy()
    attracting = a_j * r[points] > 0
    rows, slack = K[points], float(release_slack(a_j, r)[0])  # the same for every state
    band = _velocity_slack(rows, slack)
    seen: set[bytes] = set()
    best = (np.inf, states.copy())
    while True:
        up, down, velocity = _tests(K, a_j, gamma, r, slopes, points, states, inverse,
                                    rows, slack)  # fmt: skip
        held = states == HELD
        bad = np.where(
            held,
            (up < 0) | (down < 0),
            np.where(states == UP, velocity < -band, velocity > band),
        )
        if not bad.any():
            return Decision(points, states, False)
        violation = float(np.abs(np.where(held, np.minimum(np.minimum(up, down), 0), velocity))
                           [bad].sum())  # fmt: skip
        key = states.tobytes()
        if key in seen:
            return Decision(points, best[1], True)
        seen.add(key)
        if violation < best[0]:
            best = (violation, states.copy())
        e = int(np.flatnonzero(bad)[0])
        if held[e]:
            if up[e] < 0 and down[e] < 0:
                states[e] = prefer[e]
            else:
                states[e] = UP if up[e] < 0 else DOWN
        elif attracting[e]:
            states[e] = HELD
        else:
            states[e] = -states[e]


def _velocity_slack(rows, slack: float):
    """(|P|,) the velocities' slack, as the release functions': their slack, 1e-12 |a_j|
    max_k |r_k|, times sum_k |K_ik| (rows: K's rows of the kink points), the size of the
    terms a velocity -a_j sum_k K_ik d_k r_k sums. A velocity within it of 0 is a tie,
    consistent for the state tried first."""
    return slack * np.abs(rows).sum(axis=1)


def _tests(K, a_j, gamma, r, slopes, points, states, inverse, rows, slack: float):
    """Release functions (up, down) of the held entries and velocities dz/dt of the others,
    each (|P|,) (entries of the other kind hold 0); rows = K[points], slack = the release
    functions' (`release_slack`)."""
    d = np.asarray(slopes, float).copy()
    d[points] = np.where(states == UP, 1.0, gamma)
    held = points[states == HELD]
    d[held] = 0.0
    dr = d * r
    w = np.zeros(len(held))  # theta r on the held entries
    if len(held):
        inv = held_inverse(K, held)[0] if inverse is None else inverse(held)
        w = -(inv @ (K[held] @ dr))
    velocity = -a_j * (rows @ dr + rows[:, held] @ w)
    up = np.zeros(len(points))
    down = np.zeros(len(points))
    on = states == HELD
    up[on] = a_j * (r[held] - w) + slack
    down[on] = a_j * (w - gamma * r[held]) + slack
    velocity[on] = 0.0
    return up, down, velocity
