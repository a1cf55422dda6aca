"""Per-example losses l(f, y) and their derivatives dl/df, as pure JAX functions.

square: (f - y)^2 / 2. Classification losses act on the margin q = y f: logistic
log(1 + e^-q) (stable for |q| ~ 1e3), exponential e^-q, hinge max(0, 1 - q).
The training loss is the (weighted) mean over examples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CLASSIFICATION = ("logistic", "exponential", "hinge")


def value(kind: str, f, y):
    if kind == "square":
        return 0.5 * (f - y) ** 2
    q = y * f
    if kind == "logistic":
        return jnp.logaddexp(0.0, -q)
    if kind == "exponential":
        return jnp.exp(-q)
    if kind == "hinge":
        return jnp.maximum(0.0, 1.0 - q)
    raise ValueError(f"train.loss: unknown loss {kind!r}")


def derivative(kind: str, f, y):
    """dl/df, elementwise."""
    if kind == "square":
        return f - y
    q = y * f
    if kind == "logistic":
        return -y * jax.nn.sigmoid(-q)
    if kind == "exponential":
        return -y * jnp.exp(-q)
    if kind == "hinge":
        return jnp.where(q < 1.0, -y, 0.0)
    raise ValueError(f"train.loss: unknown loss {kind!r}")
