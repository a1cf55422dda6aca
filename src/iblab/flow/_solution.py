"""What a flow run returns: one solution object for both integrators, and its budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

# time is inf past float64's range (e^709), where log_time (natural log) still places it.
EVENT_COLUMNS = ["time", "log_time", "point", "neuron", "direction", "kind"]

# converged: the network's loss reached tol, or the exact t = inf limit (square loss);
# max_time: the flow time asked for; max_events / max_solver_steps: that budget ran out;
# diverged: the state stopped being finite.
STATUSES = ("converged", "max_time", "max_events", "max_solver_steps", "diverged")


class Budget(NamedTuple):
    """The most work one flow run may do: activation events followed (event-driven path)
    and adaptive solver steps (ODE path, and each region's steps for the classification
    losses on the event-driven path do not count here)."""

    max_events: int = 10_000_000
    max_solver_steps: int = 100_000


@dataclass(frozen=True)
class FlowSolution:
    """The end of one flow run.

    time: the flow time reached (inf for the exact limit of the square loss, and past
    float64's range); log_time: its natural log (finite there for the classification
    losses); Ct (n, m) and
    a (m,): the state there, C^T and the second layer; status: one of STATUSES; events: every
    activation switch, columns EVENT_COLUMNS (direction +1 to the upper side, -1 to the lower
    side, 0 held on the kink; kind cross, slide, release_up, release_down); solver_steps;
    singular_time: the first time a held set was rank deficient or a neuron sat at the
    origin, where the flow need not be unique (nan if none); undecided_instants: instants
    where the joint decision found no consistent state (0 in every run measured)."""

    time: float
    log_time: float
    Ct: np.ndarray
    a: np.ndarray
    status: str
    events: pd.DataFrame
    solver_steps: int = 0
    singular_time: float = float("nan")
    undecided_instants: int = 0


def event_table(rows) -> pd.DataFrame:
    """The events as a table (EVENT_COLUMNS), from rows (time, log_time, point, neuron,
    direction, kind)."""
    return pd.DataFrame(list(rows), columns=EVENT_COLUMNS).astype(
        {"point": np.int64, "neuron": np.int64, "direction": np.int64}
    )


def pattern_changes(events: pd.DataFrame, P0: np.ndarray) -> dict[str, float]:
    """What the events say of the activation pattern: changes of side apart from holds.

    An entry changes side when an event carries it to the side it was not on (direction +1
    or -1; it starts on the side of P0, above the kink where P0 > 0): a crossing, or a
    release to the other side after a hold. A hold (direction 0) and a release back to the
    side it came from change nothing.

    Args:
        events: A run's events (EVENT_COLUMNS), in time order.
        P0: (n, m) initial pre-activations.

    Returns:
        last_cross_time and last_cross_log_time: the last change of side (0 and -inf when
        none); crossed_fraction: the share of the n m entries that ever changed side;
        held_at_end: the entries held on their kink at the end (their last event has
        direction 0; always 0 on the ODE path, which has no holds).
    """
    side = np.where(np.asarray(P0) > 0, 1, -1)
    changed = np.zeros(len(events), bool)
    points, neurons = events.point.to_numpy(), events.neuron.to_numpy()
    for e, direction in enumerate(events.direction.to_numpy()):
        i, j = points[e], neurons[e]
        if direction != 0 and direction != side[i, j]:
            changed[e], side[i, j] = True, direction
    moved = events[changed]
    last = events.drop_duplicates(["point", "neuron"], keep="last")
    return {
        "last_cross_time": float(moved.time.max()) if len(moved) else 0.0,
        "last_cross_log_time": float(moved.log_time.max()) if len(moved) else -np.inf,
        "crossed_fraction": len(moved.drop_duplicates(["point", "neuron"])) / side.size,
        "held_at_end": int((last.direction == 0).sum()),
    }
