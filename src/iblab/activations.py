"""Activations phi and their derivatives phi', pure functions of pre-activations.

One definition serves NumPy and JAX: JAX arrays (and tracers) in give JAX arrays out, NumPy
arrays in give NumPy arrays out.
"""

from __future__ import annotations

from typing import NamedTuple

from iblab._xp import namespace


class Activation(NamedTuple):
    """An activation phi: its kind and parameters (a NamedTuple, hashable).

    Attributes:
        kind: relu, leaky_relu, smooth_leaky_relu or linear.
        slope: gamma in [0, 1), the slope for negative inputs of leaky_relu and
            smooth_leaky_relu.
        smoothing: H > 0: smooth_leaky_relu is quadratic on |z| <= 1/H, linear outside.
        grad_at_zero: phi'(0) for relu and leaky_relu; None means the left derivative (0 for
            relu, gamma for leaky_relu).
    """

    kind: str = "relu"
    slope: float = 0.1
    smoothing: float = 1.0
    grad_at_zero: float | None = None

    @classmethod
    def of(cls, model) -> Activation:
        """The activation a ModelConfig describes.

        Args:
            model (ModelConfig): The model section of a config (config.model).

        Returns:
            The Activation.
        """
        return cls(model.activation, model.slope, model.smoothing, model.grad_at_zero)

    @property
    def gamma(self) -> float:
        """Slope for negative inputs: 0 for relu, 1 for linear."""
        return {"relu": 0.0, "linear": 1.0}.get(self.kind, self.slope)

    @property
    def homogeneous(self) -> bool:
        """phi(c z) = c phi(z) for c > 0 (so margins scale with ||W||)."""
        return self.kind != "smooth_leaky_relu"


def event_driven(kind: str, train_second_layer: bool) -> bool:
    """Whether gradient flow of this model is followed switch by switch, not by the ODE solver.

    It is for relu, leaky_relu or linear with a fixed second layer.

    Args:
        kind: The activation's kind.
        train_second_layer: Whether the second layer is trained.

    Returns:
        True when the flow is event-driven.
    """
    return kind in ("relu", "leaky_relu", "linear") and not train_second_layer


def phi(act: Activation, z):
    """phi(z), elementwise.

    Args:
        act: The activation.
        z (array): Pre-activations, NumPy or JAX (any shape).

    Returns:
        (array): phi(z), of the shape of z (and its array library).
    """
    xp, g = namespace(z), act.gamma
    if act.kind == "smooth_leaky_relu":
        h = act.smoothing
        quad = (1 - g) * h / 4 * z**2 + (1 + g) / 2 * z + (1 - g) / (4 * h)
        return xp.where(z >= 1 / h, z, xp.where(z <= -1 / h, g * z, quad))
    if act.kind == "linear":
        return z
    # The where-form, not max(z, 0): its autodiff gives the left derivative at 0.
    return xp.where(z > 0, z, g * z)


def dphi(act: Activation, z):
    """phi'(z), elementwise.

    phi'(0) follows act.grad_at_zero for relu and leaky_relu.

    Args:
        act: The activation.
        z (array): Pre-activations, NumPy or JAX (any shape).

    Returns:
        (array): phi'(z), of the shape and dtype of z.
    """
    xp, g = namespace(z), act.gamma
    if act.kind == "smooth_leaky_relu":
        h = act.smoothing
        return xp.clip((1 - g) * h / 2 * z + (1 + g) / 2, g, 1.0)
    if act.kind == "linear":
        return xp.ones_like(z)
    at_zero = g if act.grad_at_zero is None else act.grad_at_zero
    return xp.where(z > 0, 1.0, xp.where(z < 0, g, at_zero)).astype(z.dtype)
