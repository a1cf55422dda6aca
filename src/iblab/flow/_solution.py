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


def pattern_changes(events: pd.DataFrame, n: int, m: int) -> dict[str, float]:
    """What the events say of the activation pattern, crossings apart from holds.

    Args:
        events: A run's events (EVENT_COLUMNS).
        n: Training points.
        m: Neurons.

    Returns:
        last_cross_time and last_cross_log_time: the last entry to change side (kind
        cross; 0 and -inf when none did); crossed_fraction: the share of the n m entries
        that ever crossed; held_at_end: the entries held on their kink at the end (their
        last event has direction 0).
    """
    cross = events[events.kind == "cross"]
    last = events.drop_duplicates(["point", "neuron"], keep="last")
    return {
        "last_cross_time": float(cross.time.max()) if len(cross) else 0.0,
        "last_cross_log_time": float(cross.log_time.max()) if len(cross) else -np.inf,
        "crossed_fraction": len(cross.drop_duplicates(["point", "neuron"])) / (n * m),
        "held_at_end": int((last.direction == 0).sum()),
    }
