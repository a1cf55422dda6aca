"""Exact gradient flow, dW/dt = -grad L(W) (and da/dt when the second layer trains).

`train: {optimizer: gradient_flow, time: T, tol: ...}` runs through `iblab.training` like any
optimiser. relu, leaky_relu and linear networks with a fixed second layer follow the
event-driven integrator in dual coordinates (`_piecewise`): closed form for the square loss,
an 8th-order solver in log time for logistic and exponential, every activation switch
located to about machine precision and kept in `TrainResult.events`. Everything else goes
through an adaptive ODE solver on the Gram-space state (`_smooth`, diffrax).
"""

from iblab.flow._driver import record_times, train_flow

__all__ = ["record_times", "train_flow"]
