"""From configs to trained runs: build problems, group runs of one shape, batch them
through the engine, and turn the records into histories and summaries."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd
from scipy.linalg import get_blas_funcs
from threadpoolctl import threadpool_limits

from iblab import compile_cache, engine, flow
from iblab.activations import Activation
from iblab.config import Config, ConfigError
from iblab.problem import Problem
from iblab.recording import record_steps
from iblab.seeding import jax_seed_for

BATCH_CHUNK = 32  # runs per compiled call; a smaller last chunk is padded to share the shape
# A run's timing, in its summary: figures of how it was trained, not of its numbers (they
# differ alone and batched). Runs of one shape train together, vmapped, and cannot be timed
# apart, so each run of a batch reports an equal share: wall_time_s = batch_wall_time_s /
# batch_size, with batch_wall_time_s the seconds the batch's compiled call took (compiling
# it included when not cached; batches on other threads run meanwhile) and batch_size the
# runs in it (padding left out). A gradient-flow run trains alone: its wall_time_s is its
# own, and it has no batch figures.
TIMING = ("wall_time_s", "batch_wall_time_s", "batch_size")
# Compiled calls run side by side, one per core: XLA runs the engine's small products on one
# thread, so a batch split over cores trains up to `THREADS` times faster. On an accelerator
# one call takes a whole chunk (its runs vmapped on the device): split, they only queue there.
THREADS = int(os.environ.get("IBLAB_THREADS", 0)) or len(os.sched_getaffinity(0))


def side_by_side() -> int:
    """How many compiled calls train_many runs at once: THREADS on the CPU backend, else 1."""
    return THREADS if jax.default_backend() == "cpu" else 1


@dataclass
class TrainResult:
    """One trained run: its history, summary and final state W = s W_0 + C X, a.

    Shapes: n training points, m neurons, R recorded steps.

    Attributes:
        config: The run's configuration.
        problem: The data and initialisation it trained on (Gram blocks).
        history: One row per recorded step (column `step` first; a gradient-flow run adds
            `time` and `events`).
        summary: Final figures, `status` (converged, max_steps or diverged; a flow run's
            is `flow.solve`'s, e.g. max_time) and the run's timing (TIMING).
        C: Final data-span coefficients (m, n).
        s: Final scale of W_0 (1 unless weight decay shrinks it).
        a: Final second layer (m,).
        coefficients: C at every recorded step (R, m, n) when record.coefficients, else
            None.
        second_layers: a at every recorded step (R, m), with coefficients; else None.
        events: Gradient flow only: every activation switch, one row each; else None.
    """

    config: Config
    problem: Problem
    history: pd.DataFrame
    summary: dict
    C: np.ndarray
    s: float
    a: np.ndarray
    coefficients: np.ndarray | None = None
    second_layers: np.ndarray | None = None  # (R, m), with coefficients
    events: pd.DataFrame | None = None  # gradient_flow: every activation switch

    @property
    def W(self) -> np.ndarray:
        """First layer W = s W_0 + C X, shape (m, d), without the bias column.

        Raises:
            ValueError: The data were sampled as Gram blocks (no X, so no W).
        """
        p = self.problem
        if p.X is None:
            raise ValueError("W: data were sampled as Gram blocks (sample: gram); no W exists")
        # One BLAS call, W^T = s W_0^T + X^T C^T, on transposed views: no (m, d) temporaries.
        gemm = get_blas_funcs("gemm", (p.X, self.C, p.W0))
        return gemm(1.0, p.X.T, self.C.T, beta=self.s, c=p.W0.T).T

    @property
    def b(self) -> np.ndarray | None:
        """Biases (m,) when model.bias, else None."""
        if self.problem.b0 is None:
            return None
        return self.s * self.problem.b0 + self.C.sum(axis=1)


def spec_for(config: Config) -> engine.Spec:
    """The static part of a run: what shapes its compiled program.

    Args:
        config: The run's configuration.

    Returns:
        The engine's Spec; runs with equal specs (and shapes) share one compiled program.
    """
    mc, tc, rc = config.model, config.train, config.record
    return engine.Spec(
        activation=Activation.of(mc),
        loss=tc.loss,
        schedule=tc.schedule,
        train_second_layer=mc.train_second_layer,
        momentum=tc.momentum != 0,
        weight_decay=tc.weight_decay != 0,
        batch_size=tc.batch_size if tc.optimizer == "sgd" else None,
        steps=tc.steps,
        record_at=tuple(int(t) for t in record_steps(rc, tc.steps)),
        spectrum_k=rc.top_singular_values if rc.spectrum else 0,
        keep_coefficients=rc.coefficients,
        dtype=tc.dtype,
    )


def lr_factor(rule: str, K: np.ndarray) -> float:
    """The factor train.lr_scale puts on lr.

    1 (none), n / tr Sigma with tr Sigma = tr K / n the mean ||x_i||^2 (n_over_trace), or
    n / ||K||_2 (n_over_norm_K). Stable GD steps scale like these (for n << d, ||K||_2 is
    about tr Sigma).

    Args:
        rule: train.lr_scale: none, n_over_trace or n_over_norm_K.
        K: The Gram matrix X X^T (n, n).

    Returns:
        The factor, a float.

    Raises:
        ConfigError: The scale (tr K / n or ||K||_2) is not positive (all inputs zero).
    """
    if rule == "none":
        return 1.0
    n = K.shape[0]
    scale = float(np.trace(K)) / n if rule == "n_over_trace" else float(np.linalg.eigvalsh(K)[-1])
    if not scale > 0:
        raise ConfigError(
            f"train.lr_scale: {rule} needs inputs that are not all zero (got a scale of {scale})"
        )
    return n / scale


def effective_lr(config: Config, problem: Problem) -> tuple[float, float]:
    """The step size and its cap with train.lr_scale resolved on a problem.

    Args:
        config: The run's configuration (train.lr, train.lr_max, train.lr_scale).
        problem: The data whose K sets the scale.

    Returns:
        (lr, lr_max), lr_max inf when uncapped.

    Raises:
        ConfigError: lr_scale cannot be resolved (see `lr_factor`).
    """
    tc = config.train
    factor = lr_factor(tc.lr_scale, problem.K)
    return tc.lr * factor, (math.inf if tc.lr_max is None else tc.lr_max * factor)


def _hyper(config: Config, lrs: tuple[float, float], dtype) -> engine.Hyper:
    tc = config.train
    key = jax.random.PRNGKey(jax_seed_for(config, "batches"))
    as_dt = lambda v: np.asarray(v, dtype)  # noqa: E731
    lr, lr_max = lrs
    return engine.Hyper(
        lr=as_dt(lr),
        lr_max=as_dt(lr_max),
        decay_steps=as_dt(tc.decay_steps),
        momentum=as_dt(tc.momentum),
        weight_decay=as_dt(tc.weight_decay),
        tol=as_dt(tc.tol),
        key=np.asarray(key),
    )


def _blocks(p: Problem, spec: engine.Spec, dtype) -> engine.Blocks:
    """The engine's arrays; W_0 W_0^T (O(m^2 d) for explicit data) only when the spectrum
    is recorded, its trace otherwise."""
    c = lambda v: np.asarray(v, dtype)  # noqa: E731
    G0 = p.G0 if spec.spectrum_k else np.zeros((0, 0))
    return engine.Blocks(
        c(p.y), c(p.a), c(p.K), c(p.P0), c(G0), c(p.G0_trace), c(p.y_test), c(p.K_test),
        c(p.P0_test),
    )  # fmt: skip


def check_problem(config: Config, problem: Problem) -> tuple[float, float]:
    """Check that a problem fits its config, and resolve the step size on it.

    Args:
        config: The run's configuration.
        problem: The data passed with it.

    Returns:
        `effective_lr`'s (lr, lr_max).

    Raises:
        ConfigError: One line, when problem lacks the shapes config describes (data.n,
            data.n_test, model.width), has labels other than -1/+1 for a classification
            loss, or gives lr_scale no scale.
    """
    data = config.data
    expected = {
        "data.n": getattr(data, "n", None),
        "data.n_test": getattr(data, "n_test", None) if data.kind != "file" else None,
        "model.width": config.model.width,
    }
    found = {"data.n": problem.n, "data.n_test": problem.n_test, "model.width": problem.m}
    for field, value in expected.items():
        if value is not None and value != found[field]:
            raise ConfigError(
                f"{field}: the config says {value} but the problem passed with it has "
                f"{found[field]}; make them agree (or pass no problem)"
            )
    if config.train.loss != "square":
        ys = np.concatenate([problem.y, problem.y_test])
        bad = ys[np.abs(ys) != 1.0]
        if bad.size:
            raise ConfigError(
                f"train.loss: {config.train.loss} needs labels -1/+1, but the data have "
                f"label {bad[0]:g}; map classes to -1/+1 or use the square loss"
            )
    return effective_lr(config, problem)


def train(
    config: Config,
    problem: Problem | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train one run.

    Args:
        config: The run's configuration.
        problem: Data to train on in place of those the config describes (e.g.
            `Problem.from_arrays`); None draws them from the config.
        on_progress: Called as on_progress(k) as the run passes its records: k is the step
            reached, or for a gradient flow the switches so far (see `train_many`).

    Returns:
        The trained run.

    Raises:
        ConfigError: problem does not fit config (see `check_problem`).
    """
    return train_many([config], None if problem is None else [problem], on_progress=on_progress)[0]


def train_many(
    configs: Sequence[Config],
    problems: Sequence[Problem] | None = None,
    on_done: Callable[[int], None] | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> list[TrainResult]:
    """Train many runs; runs of one shape go through one compiled, vmapped program.

    Callbacks are called from the threads that train the chunks (flows: the calling thread).

    Args:
        configs: The runs' configurations.
        problems: One problem per config, in place of the data the configs describe; None
            draws each from its config.
        on_done: Called as on_done(k) after each chunk of k runs finishes.
        on_progress: Called as on_progress(step) as a chunk passes record steps (at most
            `engine.PROGRESS_CHUNKS` times a chunk); for a gradient flow, which has no step
            budget, as on_progress(switches) at each of its records, with the switches so
            far.

    Returns:
        One TrainResult per config, in input order; each equals what the run gives alone.

    Raises:
        ConfigError: A problem does not fit its config (see `check_problem`).
        ValueError: problems and configs differ in length.
    """
    compile_cache.enable()
    if problems is None:
        from iblab.data import make_problem

        problems = [make_problem(c) for c in configs]
    lrs = [check_problem(c, p) for c, p in zip(configs, problems, strict=True)]
    groups: dict[tuple, list[int]] = {}
    flows = []
    for i, (c, p) in enumerate(zip(configs, problems, strict=True)):
        if c.train.optimizer == "gradient_flow":
            flows.append(i)
            continue
        key = (spec_for(c), p.n, p.m, p.n_test)
        groups.setdefault(key, []).append(i)

    calls = side_by_side()
    jobs = [(spec, chunk) for (spec, *_), idx in groups.items() for chunk in _chunks(idx, calls)]
    results: list[TrainResult | None] = [None] * len(configs)

    def run(spec, chunk):
        t0 = time.perf_counter()
        outs = _run_chunk(spec, [configs[i] for i in chunk], [lrs[i] for i in chunk],
                          [problems[i] for i in chunk], on_progress)  # fmt: skip
        timing = batch_timing(time.perf_counter() - t0, len(chunk))
        pairs = zip(chunk, outs, strict=True)
        return [_result(configs[i], problems[i], *out, timing, lrs[i][0]) for i, out in pairs]

    # Flows run BLAS on one thread (flow.solve); held for the whole pool, so that no flow's
    # thread count depends on when another thread's flow ends. They run one after another
    # in this thread while the pool trains GD's compiled chunks: their event loops hold the
    # GIL between NumPy calls, so flows in two threads ran slower than one by one (0.59-1.01x).
    blas = threadpool_limits(limits=1, user_api="blas") if flows else contextlib.nullcontext()
    with blas, ThreadPoolExecutor(max(1, min(calls, len(jobs)))) as pool:
        futures = {pool.submit(run, spec, chunk): chunk for spec, chunk in jobs}
        for i in flows:
            results[i] = _train_flow(configs[i], problems[i], on_progress)
            if on_done is not None:
                on_done(1)
        for future in as_completed(futures):
            chunk = futures[future]
            for i, r in zip(chunk, future.result(), strict=True):
                results[i] = r
            if on_done is not None:
                on_done(len(chunk))
    return results  # type: ignore[return-value]


def batch_timing(seconds: float, runs: int) -> dict:
    """The TIMING figures of each of several runs trained together.

    Args:
        seconds: Wall-clock seconds the batch took.
        runs: How many runs it trained (padding left out).

    Returns:
        {wall_time_s: seconds / runs, batch_wall_time_s: seconds, batch_size: runs}.
    """
    return {"wall_time_s": seconds / runs, "batch_wall_time_s": seconds, "batch_size": runs}


def _chunks(idx: list[int], calls: int) -> list[list[int]]:
    """Split one shape's runs into compiled calls: at most BATCH_CHUNK runs each, and at
    least `calls` of them when there are enough runs to keep every one busy."""
    size = min(BATCH_CHUNK, max(1, math.ceil(len(idx) / calls)))
    return [idx[i : i + size] for i in range(0, len(idx), size)]


def _run_chunk(spec, configs, lrs, problems, on_progress=None):
    dtype = np.float64 if spec.dtype == "float64" else np.float32
    size = _padded_size(len(configs))
    pad = size - len(configs)
    hps = [_hyper(c, lr, dtype) for c, lr in zip(configs, lrs, strict=True)]
    hps += [hps[0]] * pad
    bls = [_blocks(p, spec, dtype) for p in problems] + [_blocks(problems[0], spec, dtype)] * pad
    stack = lambda xs: jax.tree.map(lambda *a: np.stack(a), *xs)  # noqa: E731
    records, state = engine.compiled(spec)(stack(hps), stack(bls), on_progress)
    return [
        (jax.tree.map(lambda x, k=k: x[k], records), jax.tree.map(lambda x, k=k: x[k], state))
        for k in range(len(configs))
    ]


def _padded_size(k: int) -> int:
    """Batch sizes are powers of two (up to BATCH_CHUNK) so few shapes get compiled."""
    return min(BATCH_CHUNK, 1 << (k - 1).bit_length()) if k > 1 else 1


_COLUMN_ORDER = ("loss", "accuracy", "residual_rms", "residual_max", "weight_norm")


def _result(config, problem, records, state, timing, lr) -> TrainResult:
    C_hist = records.pop("C", None)
    a_hist = records.pop("a", None)
    hist = pd.DataFrame(records)  # every remaining record is one scalar per step
    hist["step"] = hist["step"].astype(np.int64)
    hist = hist[
        ["step"]
        + [c for c in _COLUMN_ORDER if c in hist]
        + sorted(c for c in hist if c != "step" and c not in _COLUMN_ORDER)
    ]
    keep = ~hist["step"].duplicated().to_numpy()
    hist = hist[keep].reset_index(drop=True)
    status = engine.STATUS_NAMES[int(state.status)]
    last = hist.iloc[-1].to_dict()
    if not all(math.isfinite(last[k]) for k in ("loss", "weight_norm")):
        status = "diverged"  # finite (s, C, a) whose loss or norm overflowed
    summary = {
        "status": status,
        "steps_run": int(state.t),
        "stopped_at": int(state.stop_step) if int(state.stop_step) >= 0 else None,
        **{k: float(v) for k, v in last.items() if k != "step"},
        "stabilisation_step": int(state.last_change),
        "switched_fraction": float(np.mean(state.switched)),
        # changes of side apart from chatter at the kink (engine.Sides)
        "last_cross_step": int(state.sides.last_cross),
        "crossed_fraction": float(np.mean(state.sides.crossed)),
        "held_at_end": int(np.sum(state.sides.band)),
        "lr_effective": lr,
        **timing,
        **{f"data_{k}": v for k, v in problem.info.items()},
    }
    return TrainResult(
        config=config,
        problem=problem,
        history=hist,
        summary=summary,
        C=np.asarray(state.C, np.float64),
        s=float(state.s),
        a=np.asarray(state.a, np.float64),
        coefficients=None if C_hist is None else C_hist[keep],
        second_layers=None if a_hist is None else a_hist[keep],
    )


@functools.lru_cache(maxsize=32)
def _figures(spec: engine.Spec):
    return jax.jit(functools.partial(engine.figures, spec))


@jax.enable_x64(True)
def _train_flow(config: Config, problem: Problem, on_progress=None) -> TrainResult:
    """One gradient-flow run (in float64): `flow.solve`, its records measured like GD's;
    on_progress(switches so far) at each record."""
    started = time.perf_counter()
    spec = spec_for(config)
    blocks = _blocks(problem, spec, np.float64)
    figures = _figures(engine.program_spec(spec))
    rows, coefs, seconds = [], [], []
    prev = [blocks.P0 > 0]

    def take(t, Ct, a, n_events, log_t, active):
        rec, prev[0] = figures(blocks, len(rows), 1.0, Ct, a, prev[0], active)
        if spec.keep_coefficients:
            coefs.append(np.asarray(rec.pop("C")))
            seconds.append(np.asarray(rec.pop("a")))
        rec.pop("step")
        scalars = {k: np.asarray(v).item() for k, v in rec.items()}
        rows.append({"time": t, "log_time": log_t, "events": n_events} | scalars)
        if on_progress is not None:
            on_progress(n_events)

    p, tc = problem, config.train
    sol = flow.solve(
        p.K, p.P0, p.a, p.y, activation=Activation.of(config.model), loss=tc.loss,
        train_second_layer=config.model.train_second_layer, time=tc.flow_time, tol=tc.tol,
        budget=flow.Budget(tc.max_events, tc.max_solver_steps),
        per_decade=config.record.per_decade, on_record=take, log_time=tc.log_time,
        per_log_decade=config.record.per_log_decade,
    )  # fmt: skip
    history = pd.DataFrame(rows)
    history.insert(0, "step", np.arange(len(history), dtype=np.int64))
    last = history.iloc[-1]
    events = sol.events
    summary = {
        "status": sol.status,
        "flow_time": sol.time,
        "flow_log_time": sol.log_time,
        "events": len(events),
        "solver_steps": sol.solver_steps,
        **{k: float(v) for k, v in last.items() if k not in ("step", "time", "log_time", "events")},
        "stabilisation_time": float(events.time.max()) if len(events) else 0.0,
        "stabilisation_log_time": float(events.log_time.max()) if len(events) else -np.inf,
        "singular_time": sol.singular_time,
        "undecided_instants": sol.undecided_instants,
        "switched_fraction": float(events.point.nunique() / p.n) if len(events) else 0.0,
        **flow.pattern_changes(events, p.P0),
        **batch_timing(time.perf_counter() - started, 1),
        **{f"data_{k}": v for k, v in p.info.items()},
    }
    return TrainResult(
        config=config, problem=p, history=history, summary=summary,
        C=np.asarray(sol.Ct.T, np.float64), s=1.0, a=np.asarray(sol.a, np.float64),
        coefficients=np.stack(coefs) if coefs else None,
        second_layers=np.stack(seconds) if seconds else None, events=events,
    )  # fmt: skip
