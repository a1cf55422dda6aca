"""The Gram-space training engine: a pure, jitted step and the scan over steps.

Every optimiser here keeps W_t = s_t W_0 + C_t X, so a run needs only the Gram blocks
K = X X^T (n, n), P0 = X W_0^T (n, m) and G0 = W_0 W_0^T (m, m): a step costs O(n^2 m),
whatever the input dimension d. The gradient of the loss in W is G^T X with
G = (dl/df / n) * phi'(Z) * a (n, m), so GD moves C by -lr G^T and leaves s alone; weight
decay shrinks s and C alike; heavy-ball momentum keeps its velocity in the same form.

A run stops with status converged when its full-batch loss is at most tol, and with status
diverged when that loss is not finite, grows past DIVERGENCE_FACTOR times the initial loss
(at s = 1, C = 0, a = a0), or an update is not finite; the step is then refused, so the
final state is the last one reached and stop_step the step at which the rule fired.

`run` trains one problem; `compiled(spec)` returns `run` over a batch of problems of one
shape, as a few jitted calls (each reaching a chunk of the record steps, with progress
reported between them). Nothing here depends on what a run is batched with.

Performance notes (benchmarks/roofline.py measures the step against the machine's GEMM
peak): inside the loop the coefficients are held transposed, Ct = C^T (n, m), so the one
O(n^2 m) product K @ Ct and every elementwise op after it share the (n, m) layout of P0 and
Z, with no transposes. The batched loop is written by hand rather than vmap(while_loop): its
predicate is "any run still going", and when every run takes its step (the usual case) the
new state is taken as is, with no per-run select over the (n, m) arrays. Runs too large to
share the cache (GROUP_BYTES) are trained in groups one after another.

Why not optax: its sgd, momentum and weight decay, applied to the pytree (s, C, a), would
be exact here (they are linear, so W stays in the span), but its schedules are functions of
the step count alone, while the loss-normalised step needs the loss; for the few lines of
update rules below, a dependency would add indirection without removing code.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from iblab import gram, losses, metrics
from iblab.activations import Activation, dphi, phi

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
STATUS_NAMES = {RUNNING: "max_steps", CONVERGED: "converged", DIVERGED: "diverged"}
# A loss past this many times its initial value is divergence: gradient descent with a
# stable step does not climb 6 orders of magnitude, and one that does only overflows later.
DIVERGENCE_FACTOR = 1e6


class Spec(NamedTuple):
    """Everything that shapes the compiled program (static)."""

    activation: Activation
    loss: str
    schedule: str
    train_second_layer: bool
    momentum: bool  # heavy-ball buffers in use (else they stay 0 and are never touched)
    weight_decay: bool
    batch_size: int | None  # None: full batch
    steps: int
    record_at: tuple[int, ...]
    spectrum_k: int  # top singular values to record; 0: none
    keep_coefficients: bool
    dtype: str


class Hyper(NamedTuple):
    """Per-run scalars (batched)."""

    lr: jax.Array
    lr_max: jax.Array  # inf when uncapped
    decay_steps: jax.Array
    momentum: jax.Array
    weight_decay: jax.Array
    tol: jax.Array
    key: jax.Array  # uint32[2], for mini-batches


class Blocks(NamedTuple):
    """One problem's arrays: y (n,), a0 (m,), K (n, n), P0 (n, m), G0 (m, m) (or (0, 0) when
    the spectrum is not recorded), G0_trace = tr G0 (), y_test (t,), K_test (t, n),
    P0_test (t, m)."""

    y: jax.Array
    a0: jax.Array
    K: jax.Array
    P0: jax.Array
    G0: jax.Array
    G0_trace: jax.Array
    y_test: jax.Array
    K_test: jax.Array
    P0_test: jax.Array


class Sides(NamedTuple):
    """Each entry's side of its kink, with chatter told apart from a change of side.

    GD at step lr does not stop on a kink: an entry the flow would hold there flips side
    at most steps, each time by less than the step that carried it across. The rule
    (fixed before measuring): an entry changes side when it lies on the other side of its
    kink from its registered side by strictly more than its last step moved it
    (|z_t| > |z_t - z_{t-1}|). The change is dated at its last flip, the step at which it
    crossed, and the registered side becomes the new one; flips that never get that far
    (chatter) change nothing. A flip puts an entry in the band (|z_t| <= |z_t| + |z_{t-1}|),
    so a crossing in the run's last evaluated step is not registered: it counts in the band
    at the end (`held_at_end`). All (n, m) unless noted; held transposed like C, (n, m)."""

    side: jax.Array  # bool, the registered side (z > 0), from W_0's pattern
    z: jax.Array  # pre-activations at the last evaluated step
    flip: jax.Array  # int32, the last step at which the entry's pattern flipped
    crossed: jax.Array  # bool, the entry ever changed side
    band: jax.Array  # bool, |z| <= |z - z_prev| at the last evaluated step (chatter band)
    last_cross: jax.Array  # int32 scalar, the flip step of the latest change of side


def track_sides(sd: Sides, Z, t) -> Sides:
    """`Sides` after evaluating step t, Z (n, m) the pre-activations there."""
    pattern = Z > 0
    flip = jnp.where(pattern != (sd.z > 0), t, sd.flip).astype(jnp.int32)
    band = jnp.abs(Z) <= jnp.abs(Z - sd.z)
    change = (pattern != sd.side) & ~band
    latest = jnp.max(jnp.where(change, flip, -1), initial=-1)
    return Sides(
        side=jnp.where(change, pattern, sd.side),
        z=Z,
        flip=flip,
        crossed=sd.crossed | change,
        band=band,
        last_cross=jnp.maximum(sd.last_cross, latest).astype(jnp.int32),
    )


class State(NamedTuple):
    """The optimiser state. `run` returns C and vC as (m, n); inside the loop they are held
    transposed, (n, m) (see the module note)."""

    t: jax.Array  # step count
    s: jax.Array  # scale of W_0
    C: jax.Array  # (m, n) data-span coefficients; (n, m) inside the loop
    a: jax.Array  # (m,) second layer
    vs: jax.Array  # momentum buffers for s, C, a (0 without momentum)
    vC: jax.Array
    va: jax.Array
    last_change: jax.Array  # last step whose pattern differed from the step before
    switched: jax.Array  # (n,) bool, point i's pattern ever changed
    sides: Sides  # changes of side told apart from chatter at the kink (see `Sides`)
    status: jax.Array  # RUNNING, CONVERGED or DIVERGED
    stop_step: jax.Array  # step where the run stopped, -1 while running

    @property
    def pattern(self) -> jax.Array:
        """(n, m) bool, the activation pattern Z > 0 at the last evaluated step."""
        return self.sides.z > 0


def batch_weights(key, t, n: int, batch_size: int | None, dtype):
    """Per-example weights of step t, shape (n,): 1/n, or 1/B on the step's mini-batch.

    Batches partition a fresh permutation of the n points each epoch (n // B batches;
    the remainder of the permutation is left out of that epoch)."""
    if batch_size is None:
        return jnp.full((n,), 1.0 / n, dtype)
    per_epoch = n // batch_size
    perm = jax.random.permutation(jax.random.fold_in(key, t // per_epoch), n)
    idx = lax.dynamic_slice(perm, ((t % per_epoch) * batch_size,), (batch_size,))
    return jnp.zeros((n,), dtype).at[idx].set(1.0 / batch_size)


def learning_rate(schedule: str, steps: int, t, loss, lr, lr_max, decay_steps):
    """The step size at step t of `steps` (static), given the current full-batch loss.

    constant: lr; loss_normalized: min(lr / loss, lr_max); inverse_time:
    lr / (1 + t / decay_steps); cosine: lr (1 + cos(pi t / steps)) / 2. Scalars (traceable)."""
    if schedule == "loss_normalized":
        # A loss of exactly 0 (underflow) has a zero gradient: step 0, not inf * 0 = NaN.
        return jnp.where(loss > 0, jnp.minimum(lr / loss, lr_max), 0.0)
    if schedule == "inverse_time":
        return lr / (1.0 + t / decay_steps)
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + jnp.cos(jnp.pi * t / max(steps, 1)))
    return lr


def _forward(spec: Spec, s, Ct, a, K, P0):
    """Pre-activations, activations and outputs from the transposed coefficients Ct (n, m)."""
    Z = s * P0 + K @ Ct  # = gram.preactivations(s, Ct.T, K, P0)
    H = phi(spec.activation, Z)
    return Z, H, H @ a


def initial_state(spec: Spec, b: Blocks) -> State:
    m, n = b.P0.shape[1], b.P0.shape[0]
    dt = b.K.dtype
    zero = jnp.zeros((), dt)
    C = jnp.zeros((n, m), dt)  # held transposed inside the loop
    Z = b.P0
    return State(
        t=jnp.zeros((), jnp.int32),
        s=jnp.ones((), dt),
        C=C,
        a=b.a0,
        vs=zero,
        vC=C,
        va=jnp.zeros_like(b.a0),
        last_change=jnp.zeros((), jnp.int32),
        switched=jnp.zeros((n,), bool),
        sides=Sides(
            side=Z > 0,
            z=Z,
            flip=jnp.zeros((n, m), jnp.int32),
            crossed=jnp.zeros((n, m), bool),
            band=jnp.zeros((n, m), bool),
            last_cross=jnp.zeros((), jnp.int32),
        ),
        status=jnp.zeros((), jnp.int32),
        stop_step=jnp.full((), -1, jnp.int32),
    )


def _pick(take, x: State, y: State) -> State:
    """x where take, else y (take has the shape of x.t: scalar, or (batch,))."""

    def where(u, v):
        return jnp.where(take.reshape(take.shape + (1,) * (u.ndim - take.ndim)), u, v)

    return jax.tree.map(where, x, y)


def initial_loss(spec: Spec, b: Blocks):
    """The full-batch loss at initialisation (s = 1, C = 0, a = a0), a scalar."""
    f = phi(spec.activation, b.P0) @ b.a0
    return jnp.mean(losses.value(spec.loss, f, b.y))


def _propose(spec: Spec, hp: Hyper, b: Blocks, st: State, loss0) -> tuple[State, State]:
    """One optimiser step: the state after it (`moved`) and the state if it is refused
    (`kept`: the same parameters, with this step's pattern, status and stop step), refused
    when the loss is at most tol (converged), or when it is not finite or above
    DIVERGENCE_FACTOR * loss0 (the initial loss), or the update is not finite (diverged).
    st.C and st.vC are held transposed, (n, m)."""
    n = b.K.shape[0]
    Z, H, f = _forward(spec, st.s, st.C, st.a, b.K, b.P0)
    loss = jnp.mean(losses.value(spec.loss, f, b.y))

    pattern = Z > 0
    changed_points = jnp.any(pattern != st.pattern, axis=1)
    last_change = jnp.where(jnp.any(changed_points), st.t, st.last_change).astype(jnp.int32)
    switched = st.switched | changed_points
    sides = track_sides(st.sides, Z, st.t)

    w = batch_weights(hp.key, st.t, n, spec.batch_size, b.K.dtype)
    r = losses.derivative(spec.loss, f, b.y) * w  # dL/df_i
    G = (r[:, None] * dphi(spec.activation, Z)) * st.a[None, :]  # (n, m)
    g_C, g_a = G, (H.T @ r) if spec.train_second_layer else jnp.zeros_like(st.a)
    g_s = jnp.zeros_like(st.s)
    if spec.weight_decay:
        wd = hp.weight_decay
        g_s, g_C, g_a = wd * st.s, g_C + wd * st.C, g_a + wd * st.a
    vs, vC, va = st.vs, st.vC, st.va
    if spec.momentum:
        mu = hp.momentum
        vs, vC, va = mu * vs + g_s, mu * vC + g_C, mu * va + g_a
        g_s, g_C, g_a = vs, vC, va
    lr = learning_rate(spec.schedule, spec.steps, st.t, loss, hp.lr, hp.lr_max, hp.decay_steps)
    s, C, a = st.s - lr * g_s, st.C - lr * g_C, st.a - lr * g_a

    finite = jnp.isfinite(loss) & jnp.isfinite(s) & jnp.all(jnp.isfinite(C))
    finite &= jnp.all(jnp.isfinite(a))
    bounded = ~(loss > DIVERGENCE_FACTOR * loss0)
    converged = loss <= hp.tol
    status = jnp.where(converged, CONVERGED, jnp.where(finite & bounded, RUNNING, DIVERGED))
    status = status.astype(jnp.int32)
    moved = st._replace(
        t=st.t + 1, s=s, C=C, a=a, vs=vs, vC=vC, va=va, last_change=last_change,
        switched=switched, sides=sides, status=status,
    )  # fmt: skip
    kept = st._replace(
        last_change=last_change,
        switched=switched,
        sides=sides,
        status=status,
        stop_step=st.t,
    )
    return moved, kept


def measure(spec: Spec, b: Blocks, st: State, prev_pattern) -> tuple[dict, jax.Array]:
    """Figures recorded at one step (st in the loop's layout); returns them and the current
    activation pattern."""
    return figures(spec, b, st.t, st.s, st.C, st.a, prev_pattern)


def figures(
    spec: Spec, b: Blocks, step, s, Ct, a, prev_pattern, pattern=None
) -> tuple[dict, jax.Array]:
    """Figures of W = s W_0 + C X with second layer a: Ct = C^T (n, m), a (m,); `step` is
    recorded as is. Returns them and the activation pattern (n, m): `pattern` where given (the
    exact flow's, decided on the kinks), else Z > 0."""
    Z, _, f = _forward(spec, s, Ct, a, b.K, b.P0)
    pattern = Z > 0 if pattern is None else pattern
    C = Ct.T  # (m, n)
    frob = metrics.frobenius_norm(s, C, b.K, b.P0, b.G0_trace)
    out = {
        "step": step,
        "loss": jnp.mean(losses.value(spec.loss, f, b.y)),
        "weight_norm": frob,
        "second_layer_norm": jnp.linalg.norm(a),
        "s": s,  # W = s W_0 + C X
        "pattern_changes": jnp.sum(pattern != prev_pattern),
        "active_fraction": jnp.mean(pattern),
    }
    out |= _fit_figures(spec.loss, f, b.y, "", frob)
    if b.K_test.shape[0] > 0:
        _, _, f_test = _forward(spec, s, Ct, a, b.K_test, b.P0_test)
        out["test_loss"] = jnp.mean(losses.value(spec.loss, f_test, b.y_test))
        out |= _fit_figures(spec.loss, f_test, b.y_test, "test_", None)
    if spec.spectrum_k:
        ev = jnp.linalg.eigvalsh(gram.weight_gram(s, C, b.K, b.P0, b.G0))
        ev = jnp.maximum(ev[::-1], 0.0)
        out["stable_rank"] = jnp.sum(ev) / ev[0]
        for i in range(min(spec.spectrum_k, ev.shape[0])):
            out[f"sv{i + 1}"] = jnp.sqrt(ev[i])
    if spec.keep_coefficients:
        out |= {"C": C, "a": a}
    return out, pattern


def _fit_figures(loss: str, f, y, prefix: str, frob) -> dict:
    if loss in losses.CLASSIFICATION:
        q = y * f
        out = {f"{prefix}accuracy": jnp.mean(q > 0)}
        if frob is not None:
            out |= {"min_margin": jnp.min(q), "normalised_margin": jnp.min(q) / frob}
        return out
    res = f - y
    return {f"{prefix}residual_rms": jnp.sqrt(jnp.mean(res**2))} | (
        {"residual_max": jnp.max(jnp.abs(res))} if not prefix else {}
    )


def run(spec: Spec, hp: Hyper, b: Blocks, on_progress=None) -> tuple[dict, State]:
    """Train one problem for spec.steps steps; records at spec.record_at (R steps).

    Returns (records, final state) as NumPy arrays: records maps a name to an array of shape
    (R, ...). After a stop, later records repeat the stopped state (their `step` says where
    it stopped). on_progress(step): see `compiled`."""
    batch = jax.tree.map(lambda x: np.asarray(x)[None], (hp, b))
    records, st = compiled(spec)(*batch, on_progress)
    return jax.tree.map(lambda x: x[0], (records, st))


class Carry(NamedTuple):
    """What one chunk of records hands to the next: the state and the pattern last recorded."""

    st: State
    prev_pattern: jax.Array


def start(spec: Spec, b: Blocks) -> Carry:
    """The initial carry of a batch (leading batch axis on b)."""
    st0 = jax.vmap(functools.partial(initial_state, spec))(b)
    return Carry(st0, st0.pattern)


def advance_batched(spec: Spec, hp: Hyper, b: Blocks, carry: Carry, targets) -> tuple:
    """Train a batch on to each step of `targets` (int32 (k,)), recording at each; returns
    (carry, records (batch, k, ...)). The loop to a target runs while any run is below it
    and still running (running runs share their step count); a run that is not is left as
    it is."""
    propose = jax.vmap(functools.partial(_propose, spec))
    loss0 = jax.vmap(functools.partial(initial_loss, spec))(b)

    # Records are measured run by run (lax.map, not vmap): a reduction such as ||W||_F then
    # compiles to the same code whatever the batch size, so a run's figures are bitwise the
    # same alone and batched.
    def vmeasure(b, st, prev_pattern):
        return lax.map(lambda args: measure(spec, *args), (b, st, prev_pattern))

    def body(st, target):
        moved, kept = propose(hp, b, st, loss0)
        active = (st.t < target) & (st.status == RUNNING)
        ok = active & (moved.status == RUNNING)
        # Usually every run takes its step: then no select over the (n, m) arrays at all.
        return lax.cond(
            jnp.all(ok),
            lambda: moved,
            lambda: _pick(ok, moved, _pick(active, kept, st)),
        )

    def to_target(carry, target):
        st = lax.while_loop(
            lambda s: jnp.any((s.t < target) & (s.status == RUNNING)),
            lambda s: body(s, target),
            carry.st,
        )
        rec, pattern = vmeasure(b, st, carry.prev_pattern)
        return Carry(st, pattern), rec

    carry, records = lax.scan(to_target, carry, targets)
    return carry, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), records)  # (batch, k, ...)


def _finish(b: Blocks, st: State) -> State:
    """The final state in the public layout (C, vC as (m, n)), its pattern compared with the
    step before it."""
    Z = gram.preactivations(st.s, st.C.T, b.K, b.P0)
    Z_final = Z > 0
    changed = jnp.any(Z_final != st.pattern, axis=1)
    evaluated = st.stop_step < 0  # a stopped run evaluated its final pattern already
    sides = track_sides(st.sides, Z, st.t)
    return st._replace(
        C=st.C.T,
        vC=st.vC.T,
        last_change=jnp.where(evaluated & jnp.any(changed), st.t, st.last_change),
        switched=st.switched | (changed & evaluated),
        sides=jax.tree.map(lambda new, old: jnp.where(evaluated, new, old), sides, st.sides),
    )


# A run's records are reached in this many compiled calls, with progress reported between
# them. Progress is not a host callback inside the program: a program with one cannot be
# kept in JAX's persistent compilation cache.
PROGRESS_CHUNKS = 16


def program_spec(spec: Spec) -> Spec:
    """spec without what its programs do not read, so that runs that differ only there share
    them: the record steps (data, passed in chunks; only their number shapes the program)
    and the step count unless the schedule is cosine (the only rule that reads it)."""
    return spec._replace(record_at=(), steps=spec.steps if spec.schedule == "cosine" else 0)


@functools.lru_cache(maxsize=64)
def _programs(spec: Spec):
    """The (start, advance, finish) programs of a program spec (`program_spec`)."""
    begin = _CompiledOnce(jax.jit(functools.partial(start, spec)))
    step = _CompiledOnce(jax.jit(functools.partial(_advance_in_groups, spec)))
    return begin, step, _finish_program()


@functools.cache
def _finish_program():
    """The finish program, one for every spec (`_finish` reads none of it)."""
    return _CompiledOnce(jax.jit(jax.vmap(_finish)))


class _CompiledOnce:
    """A jitted function compiled once per argument shapes, however many threads call it
    at once: `train_many` trains a shape's chunks side by side, and jit alone let each
    thread compile the same program (seconds each) at the same time."""

    def __init__(self, fn):
        self.fn, self._lock, self._done, self._compiling = fn, threading.Lock(), {}, {}

    def __call__(self, *args):
        leaves, tree = jax.tree.flatten(args)
        key = (tree, tuple((x.shape, x.dtype) for x in leaves))
        done = self._done.get(key)
        if done is None:
            with self._lock:  # one lock per key, so that other shapes compile meanwhile
                lock = self._compiling.setdefault(key, threading.Lock())
            with lock:
                done = self._done.get(key)
                if done is None:
                    done = self._done[key] = self.fn.lower(*args).compile()
        return done(*args)


def compiled(spec: Spec):
    """The batched run for one spec: takes (Hyper, Blocks) with a leading batch axis (NumPy
    or JAX arrays of spec.dtype) and an optional on_progress(step), called as the batch
    passes record steps (at most PROGRESS_CHUNKS times); gives what vmap(run) gives, as NumPy
    arrays (records (batch, R, ...), final state)."""
    R = len(spec.record_at)
    size = -(-R // PROGRESS_CHUNKS)
    padded = list(spec.record_at) + [spec.record_at[-1]] * (size * PROGRESS_CHUNKS - R)
    chunks = [np.asarray(padded[i : i + size], np.int32) for i in range(0, R, size)]
    begin, step, finish = _programs(program_spec(spec))

    def run_chunks(hp: Hyper, b: Blocks, on_progress=None) -> tuple[dict, State]:
        # JAX's 64-bit types, on for this thread only: float64 runs need them, and float32
        # runs keep their float64 and int64 bookkeeping (record means, schedule scalars).
        with jax.enable_x64(True):
            hp, b = jax.device_put((hp, b))  # once, not at every chunk
            carry, parts = begin(b), []
            for targets in chunks:  # the last chunk repeats the last target: a no-op step
                carry, rec = step(hp, b, carry, targets)
                parts.append(rec)
                if on_progress is not None:
                    on_progress(int(targets[-1]))
            st = jax.tree.map(np.asarray, finish(b, carry.st))
        parts = jax.tree.map(np.asarray, parts)
        records = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1)[:, :R], *parts)
        return records, st

    return run_chunks


# Runs whose (n, m) arrays together pass this many bytes are trained in groups one after
# another (lax.map), each group batched: a step makes several passes over those arrays, and
# they should stay in the CPU's cache between passes. Small runs are batched all together.
GROUP_BYTES = int(os.environ.get("IBLAB_GROUP_BYTES", 1 << 20))


def _group_size(batch: int, n: int, m: int, itemsize: int) -> int:
    """The largest divisor of batch whose runs' (n, m) arrays fit in GROUP_BYTES (>= 1)."""
    fit = max(1, GROUP_BYTES // (n * m * itemsize))
    return max(g for g in range(1, batch + 1) if batch % g == 0 and g <= fit)


def _advance_in_groups(spec: Spec, hp: Hyper, b: Blocks, carry: Carry, targets) -> tuple:
    batch, n, m = b.P0.shape
    g = _group_size(batch, n, m, b.P0.dtype.itemsize)
    if g == batch:
        return advance_batched(spec, hp, b, carry, targets)
    split = lambda x: x.reshape((batch // g, g) + x.shape[1:])  # noqa: E731
    join = lambda x: x.reshape((batch,) + x.shape[2:])  # noqa: E731
    out = lax.map(
        lambda args: advance_batched(spec, *args, targets),
        jax.tree.map(split, (hp, b, carry)),
    )
    return jax.tree.map(join, out)
