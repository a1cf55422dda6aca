"""Targets from teacher projections u = <beta, x>, following config.Labels."""

from __future__ import annotations

import numpy as np

from iblab.activations import Activation, phi
from iblab.config import Labels

TEACHER_KINDS = frozenset({"linear", "relu", "sign"})


def needs_teacher(labels: Labels) -> bool:
    """Whether the labels depend on the inputs through a teacher direction beta."""
    return labels.kind in TEACHER_KINDS


def random_unit_vector(rng: np.random.Generator, d: int) -> np.ndarray:
    """A (d,) vector uniform on the unit sphere of R^d."""
    g = rng.standard_normal(d)
    return g / np.linalg.norm(g)


def flip_signs(rng: np.random.Generator, y: np.ndarray, prob: float) -> np.ndarray:
    """y (N,) with each entry negated independently with probability prob."""
    return np.where(rng.random(y.shape[0]) < prob, -y, y)


def make_labels(
    labels: Labels, u: np.ndarray | None, size: int, rng: np.random.Generator
) -> np.ndarray:
    """(size,) targets. u (size,) holds <beta, x_i>, needed only for teacher kinds.

    noise: N(0, noise^2). linear: u + noise xi. relu: max(u, 0) + noise xi. sign: sign(u)
    (sign(0) = +1) flipped with probability flip. random_sign: uniform on {-1, +1}.
    """
    kind = labels.kind
    if kind == "noise":
        return labels.noise * rng.standard_normal(size)
    if kind == "random_sign":
        return rng.choice(np.array([-1.0, 1.0]), size=size)
    if u is None:
        raise ValueError(f"labels of kind {kind!r} need teacher projections")
    if kind == "sign":
        return flip_signs(rng, np.where(u >= 0, 1.0, -1.0), labels.flip)
    base = u if kind == "linear" else phi(Activation("relu"), u)
    return base + labels.noise * rng.standard_normal(size)


def condition_on_init(y: np.ndarray, P0: np.ndarray, a: np.ndarray, how: str) -> np.ndarray:
    """y (N,) tied to the initialisation (see config.Labels.condition); P0 (N, m) the
    initial pre-activations, a (m,) the second layer."""
    if how == "none":
        return y
    active = ((P0 > 0) & (a > 0)).any(axis=1)
    inactive = 0.0 if how == "init_active_zero" else -1.0
    seen = y if how == "init_dead_negative" else np.abs(y)
    return np.where(active, seen, inactive * np.abs(y))
