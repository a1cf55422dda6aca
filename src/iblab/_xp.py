"""The array namespace of an input, for functions written once for NumPy and JAX."""

from __future__ import annotations

import numpy as np


def namespace(x):
    """jax.numpy for a JAX array or tracer, numpy for anything else (computed in NumPy, so
    float64 stays float64 whatever JAX's precision setting)."""
    if type(x).__module__.startswith("jax"):  # jax and jaxlib types
        import jax.numpy as jnp

        return jnp
    return np
