"""Initialisation: the first layer W_0 (and bias b_0) and the second layer a.

Every draw comes from the config's "init" stream, in the order W_0, b_0, a.
"""

from __future__ import annotations

import math

import numpy as np

from iblab.config import Config, ModelConfig


def init_std(config: Config, d: int) -> float:
    """The std of W_0's entries, config.init.std(d, m), with d the input dimension (no bias)."""
    return config.init.std(d, config.model.width)


def second_layer(model: ModelConfig, rng: np.random.Generator) -> np.ndarray:
    """The second layer a at initialisation.

    balanced: +1/sqrt(m) for j < ceil(m/2), -1/sqrt(m) after (m = 1 gives a = 1);
    random_sign: iid +-1/sqrt(m); positive: +1/sqrt(m); a tuple: its values.

    Args:
        model: The model config (width m, second_layer).
        rng: The "init" stream; drawn from only for random_sign.

    Returns:
        a, shape (m,), float64.
    """
    m = model.width
    if isinstance(model.second_layer, tuple):
        return np.asarray(model.second_layer, dtype=np.float64)
    scale = 1.0 / math.sqrt(m)
    if model.second_layer == "balanced":
        return np.where(np.arange(m) < (m + 1) // 2, scale, -scale)
    if model.second_layer == "positive":
        return np.full(m, scale)
    return rng.choice(np.array([-scale, scale]), size=m)


def initial_bias(config: Config, std: float, rng: np.random.Generator) -> np.ndarray | None:
    """(m,) b_0 ~ N(0, std^2) when model.bias (zeros when std = 0), else None."""
    if not config.model.bias:
        return None
    m = config.model.width
    return std * rng.standard_normal(m)  # drawn even at std = 0: later draws stay put


def explicit_init(
    config: Config, d: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(W_0 (m, d) with iid N(0, std^2) entries, b_0 (m,) or None, a (m,))."""
    m = config.model.width
    std = init_std(config, d)
    W0 = std * rng.standard_normal((m, d))  # linear in std, whatever its value
    b0 = initial_bias(config, std, rng)
    return W0, b0, second_layer(config.model, rng)
