"""An independent full-space trainer: W in R^{m x d}, gradients from jax.grad.

It shares no arithmetic with the Gram-space engine (no Gram blocks, no hand-written
gradients) and exists to check the engine, and as the baseline in benchmarks. It needs
explicit data. With a bias, inputs get an appended coordinate 1 and W the column b.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from iblab import losses
from iblab.activations import Activation, phi
from iblab.config import Config
from iblab.engine import batch_weights, learning_rate
from iblab.problem import Problem
from iblab.recording import record_steps
from iblab.seeding import jax_seed_for
from iblab.training import effective_lr


def _activation_fn(act: Activation):
    """phi (the model's definition) differentiated by autodiff, never by `dphi`; for relu
    and leaky_relu with grad_at_zero set, a custom JVP puts that value of phi'(0) at 0."""
    value = functools.partial(phi, act)
    if act.kind not in ("relu", "leaky_relu") or act.grad_at_zero is None:
        return value  # autodiff of the where-form gives the left derivative at 0

    @jax.custom_jvp
    def piecewise(z):
        return value(z)

    @piecewise.defjvp
    def _jvp(primals, tangents):
        (z,), (dz,) = primals, tangents
        out, auto = jax.jvp(value, (z,), (dz,))
        return out, jnp.where(z == 0, act.grad_at_zero * dz, auto)

    return piecewise


@jax.enable_x64(True)
def train_fullspace(config: Config, problem: Problem) -> dict[str, np.ndarray]:
    """Train on explicit arrays, in float64; returns {'step': (R,), 'W': (R, m, d'),
    'a': (R, m)} at the config's record steps, d' = d (+1 with bias). Runs the full step
    budget (no tol)."""
    if problem.X is None:
        raise ValueError("train_fullspace needs explicit data (sample: explicit)")
    mc, tc = config.model, config.train
    X, W = np.asarray(problem.X), np.asarray(problem.W0)
    if problem.b0 is not None:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
        W = np.hstack([W, problem.b0[:, None]])
    act = Activation.of(mc)
    X, y, W, a = jnp.asarray(X), jnp.asarray(problem.y), jnp.asarray(W), jnp.asarray(problem.a)
    key = jax.random.PRNGKey(jax_seed_for(config, "batches"))
    batch = tc.batch_size if tc.optimizer == "sgd" else None
    step = _step_fn(act, tc.loss, tc.schedule, tc.steps, batch, mc.train_second_layer)
    hp = (
        *effective_lr(config, problem),
        tc.decay_steps,
        tc.momentum,
        tc.weight_decay,
    )
    vW, va = jnp.zeros_like(W), jnp.zeros_like(a)
    wanted = set(int(t) for t in record_steps(config.record, tc.steps))
    out = {"step": [], "W": [], "a": []}
    for t in range(tc.steps + 1):
        if t in wanted:
            out["step"].append(t)
            out["W"].append(np.asarray(W))
            out["a"].append(np.asarray(a))
        if t < tc.steps:
            W, a, vW, va = step(W, a, vW, va, X, y, key, t, hp)
    return {k: np.asarray(v) for k, v in out.items()}


@functools.lru_cache(maxsize=64)
def _step_fn(act, loss_kind, schedule, steps, batch, train_a):
    phi = _activation_fn(act)

    def objective(W, a, X, y, w):
        f = phi(X @ W.T) @ a
        return jnp.sum(w * losses.value(loss_kind, f, y))

    @jax.jit
    def step(W, a, vW, va, X, y, key, t, hp):
        lr, lr_max, decay, mu, wd = hp
        n = X.shape[0]
        full = objective(W, a, X, y, jnp.full((n,), 1.0 / n))
        w = batch_weights(key, t, n, batch, X.dtype)
        gW, ga = jax.grad(objective, argnums=(0, 1))(W, a, X, y, w)
        gW = gW + wd * W
        ga = ga + wd * a if train_a else jnp.zeros_like(a)
        lr = learning_rate(schedule, steps, t, full, lr, lr_max, decay)
        vW, va = mu * vW + gW, mu * va + ga
        return W - lr * vW, a - lr * va, vW, va

    return step
