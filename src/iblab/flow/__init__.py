"""Exact gradient flow, dW/dt = -grad L(W) (and da/dt when the second layer trains).

`solve(K, P0, a, y, ...)` returns a `FlowSolution`; `train: {optimizer: gradient_flow, ...}`
runs it through `iblab.training` like any optimiser. relu, leaky_relu and linear networks
with a fixed second layer follow the event-driven integrator in dual coordinates
(`_piecewise`): closed form for the square loss, an 8th-order solver in log time for
logistic and exponential, every activation switch located to about machine precision, and
the entries on their kink at one instant decided together (`_instant`). Everything else goes
through an adaptive ODE solver on the Gram-space state (`_smooth`, diffrax).
"""

from iblab.flow._solution import EVENT_COLUMNS, STATUSES, Budget, FlowSolution, pattern_changes
from iblab.flow._solve import record_times, solve, time_unit

__all__ = [
    "EVENT_COLUMNS",
    "STATUSES",
    "Budget",
    "FlowSolution",
    "pattern_changes",
    "record_times",
    "solve",
    "time_unit",
]
