"""Sweeps: a base config and axes, expanded to runs, grouped by shape, run, stored.

A sweep file (YAML) has the keys `base` (a config path, relative to the sweep file or the
working directory, or a config inline), `grid` (Cartesian axes), `zip` (parallel axes of one
length) and `seeds` (a count n for seeds 0..n-1, or a list). Axis keys are config key paths
such as `data.d` or `init.scale`. Every expanded config is validated before anything runs.

A sweep whose axes vary `train.optimizer` mixes GD and the gradient flow: each of its runs
keeps only the train keys its optimiser takes (a flow run drops the GD-only keys, such as
lr, lr_scale and steps; a GD or SGD run the flow-only ones, such as time) before it is
validated, so one base serves both. Runs that then coincide (the flow at every lr of a grid)
are one run, with one run id.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iblab import budget, store
from iblab.config import (
    FLOW_ONLY,
    GD_ONLY,
    Config,
    ConfigError,
    apply_overrides,
    parse_value,
    read_yaml,
    set_key,
    split_override,
    split_values,
    validate,
)
from iblab.config._fields import did_you_mean

SWEEP_KEYS = ("base", "grid", "zip", "seeds")
MAX_RUNS = 100_000  # a sweep of more runs needs force=True (`iblab sweep --force`)
GROUP_SIZE = 32  # runs per unit of work; the engine vmaps up to 32 runs per call
# Flows are not batched (each runs on its own, one after another in its group), so their
# groups are small: a shape's runs then spread over the workers instead of one worker
# taking all twelve n = 512 flows of a sweep (15 minutes) while the other idles.
FLOW_GROUP_SIZE = 2
INDEX_EVERY = 500  # index the store after this many new results


class SweepError(ConfigError):
    """An invalid sweep file; the message names the key and the value."""


@dataclass(frozen=True)
class Sweep:
    """A sweep: a base config and the axes it is expanded along (see `expand`).

    len(sweep) is its run count before duplicates are removed.

    Attributes:
        base: The base config, as a raw mapping (not yet validated).
        grid: Cartesian axes: config key path (e.g. data.d) -> values.
        zip: Parallel axes, all of one length: key path -> values.
        seeds: The seeds each point runs with; None keeps the base's seed.
    """

    base: dict[str, Any]
    grid: dict[str, list] = field(default_factory=dict)
    zip: dict[str, list] = field(default_factory=dict)
    seeds: tuple[int, ...] | None = None

    def __len__(self) -> int:
        n = 1
        for values in self.grid.values():
            n *= len(values)
        if self.zip:
            n *= len(next(iter(self.zip.values())))
        return n * (len(self.seeds) if self.seeds is not None else 1)


# ---------------------------------------------------------------- reading and expanding


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file and check its structure (not yet the configs it expands to).

    Args:
        path: The sweep file (YAML); a `base` path in it is looked up next to it, then in the
            working directory.

    Returns:
        The Sweep.

    Raises:
        SweepError: One line naming the key and value: the file is missing or not valid
            YAML, or its structure is wrong (see `parse_sweep`).
    """
    path = Path(path)
    return parse_sweep(read_yaml(path, "sweep", SweepError), root=path.parent)


def parse_sweep(raw: Any, root: str | Path = ".") -> Sweep:
    """Build a Sweep from a mapping (a sweep file's contents).

    Args:
        raw: The mapping, with the keys `base`, `grid`, `zip` and `seeds` (all optional).
        root: The directory a `base` path is looked up under first (then the working
            directory).

    Returns:
        The Sweep.

    Raises:
        SweepError: One line naming the key: raw is not a mapping, an unknown key, an axis
            that is not a non-empty list, zip axes of different lengths, an axis both in
            grid and zip, bad seeds or seed both an axis and `seeds`, or a base that
            cannot be read.
    """
    if not isinstance(raw, dict):
        raise SweepError(f"sweep: expected a mapping, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in SWEEP_KEYS]
    if unknown:
        raise SweepError(
            f"sweep: unknown key {unknown[0]!r} (expected {', '.join(SWEEP_KEYS)})"
            + did_you_mean(unknown[0], SWEEP_KEYS)
        )
    grid = _axes(raw.get("grid"), "grid")
    zipped = _axes(raw.get("zip"), "zip")
    lengths = {k: len(v) for k, v in zipped.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise SweepError(f"sweep: zip axes must have one length, got {shown}")
    both = set(grid) & set(zipped)
    if both:
        raise SweepError(f"sweep: {sorted(both)[0]} is both a grid and a zip axis")
    seeds = _seeds(raw.get("seeds"))
    if seeds is not None and "seed" in set(grid) | set(zipped):
        raise SweepError("sweep: seed is an axis and `seeds` is given; use one")
    return Sweep(_base(raw.get("base"), Path(root)), grid, zipped, seeds)


def from_overrides(base: dict[str, Any], overrides: list[str]) -> Sweep:
    """The sweep of a config and `--set key.path=value` overrides (`iblab run --set`).

    A value with top-level commas (`data.d=1e3,1e4`) is a grid axis of its comma-separated
    values, each parsed as YAML, in the order given; commas inside brackets or a quoted
    string do not split (`model.second_layer=[1,2]` is one value, `[1,2],[3,4]` two; see
    `iblab.config.split_values`). The other overrides apply to the base. Of a key given
    twice, the last wins.

    Args:
        base: The base config, as a raw mapping.
        overrides: The overrides, each `key.path=value`.

    Returns:
        The Sweep (no zip axes, no seeds).

    Raises:
        ConfigError: One line naming `--set key`: an override without `=`, a value that is
            not YAML, or an empty piece between commas.
    """
    singles, grid = [], {}
    for item in overrides:
        key, text = split_override(item)
        key = key.strip()
        pieces = split_values(key, text)
        if len(pieces) == 1:
            singles.append(item)
            grid.pop(key, None)
        else:
            grid[key] = [parse_value(key, piece) for piece in pieces]
    return Sweep(apply_overrides(base, singles), grid)


def _base(base: Any, root: Path) -> dict[str, Any]:
    if base is None:
        return {}
    if isinstance(base, dict):
        return base
    if not isinstance(base, str):
        raise SweepError(f"sweep.base: a config path or mapping expected, got {base!r}")
    for candidate in (root / base, Path(base)):
        if candidate.is_file():
            raw = read_yaml(candidate, "sweep.base", SweepError)
            if not isinstance(raw, dict):
                raise SweepError(f"sweep.base: {base} must hold a mapping")
            return raw
    raise SweepError(f"sweep.base: file does not exist: {base!r}")


def _axes(axes: Any, name: str) -> dict[str, list]:
    if axes is None:
        return {}
    if not isinstance(axes, dict):
        raise SweepError(f"sweep.{name}: a mapping of key path -> list expected")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"sweep.{name}.{key}: a non-empty list expected, got {values!r}")
    return {str(k): v for k, v in axes.items()}


def _seeds(seeds: Any) -> tuple[int, ...] | None:
    if seeds is None:
        return None
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        return tuple(range(seeds))
    if (
        isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        return tuple(seeds)
    raise SweepError(f"sweep.seeds: a count >= 1 or a list of seeds >= 0 expected, got {seeds!r}")


def assignments(sweep: Sweep) -> Iterator[dict[str, Any]]:
    """The key path -> value assignments of each run, grid-major, then zip, then seed.

    Args:
        sweep: The sweep.

    Yields:
        One dict per run (before duplicates are removed).
    """
    grid_keys = list(sweep.grid)
    zip_rows = [
        dict(zip(sweep.zip, row, strict=True)) for row in zip(*sweep.zip.values(), strict=True)
    ]
    seeds = [{"seed": s} for s in sweep.seeds] if sweep.seeds is not None else [{}]
    for values in itertools.product(*sweep.grid.values()):
        point = dict(zip(grid_keys, values, strict=True))
        for row in zip_rows or [{}]:
            for seed in seeds:
                yield point | row | seed


def check_size(sweep: Sweep, limit: int | None = MAX_RUNS) -> int:
    """The sweep's run count (before duplicates are removed), counted without expanding it.

    Args:
        sweep: The sweep.
        limit: The most runs allowed; None for no limit.

    Returns:
        The run count.

    Raises:
        SweepError: The count is past `limit`.
    """
    count = len(sweep)
    if limit is not None and count > limit:
        raise SweepError(
            f"sweep: {count} runs is more than the limit of {limit}; split the sweep, or "
            "pass --force to run it anyway"
        )
    return count


def expand(sweep: Sweep, limit: int | None = MAX_RUNS) -> list[Config]:
    """Every run's validated config, duplicates removed.

    Refuses a sweep of more than `limit` runs before expanding anything. In a sweep that
    varies train.optimizer, each run keeps only the train keys its optimiser takes
    (`for_optimizer`).

    Args:
        sweep: The sweep.
        limit: The most runs allowed; None for no limit.

    Returns:
        The configs, in the order of `assignments` (the first of duplicates kept).

    Raises:
        SweepError: Too many runs, or a run whose config is invalid or would not fit in
            memory (`iblab.budget.check`); the message names the run's assignment.
    """
    return [config for _, config in expand_assignments(sweep, limit)]


def expand_assignments(
    sweep: Sweep, limit: int | None = MAX_RUNS
) -> list[tuple[dict[str, Any], Config]]:
    """`expand`, with the first assignment (key path -> value) that gave each config.

    Args:
        sweep: The sweep.
        limit: The most runs allowed; None for no limit.

    Returns:
        (assignment, config) pairs, one per distinct run.

    Raises:
        SweepError: As `expand`.
    """
    check_size(sweep, limit)
    mixed = OPTIMIZER in sweep.grid or OPTIMIZER in sweep.zip
    out, seen = [], set()
    for assignment in assignments(sweep):
        raw = json.loads(json.dumps(sweep.base, default=str))
        for key, value in assignment.items():
            set_key(raw, key, value, f"sweep: axis {key}", SweepError)
        try:
            config = validate(for_optimizer(raw) if mixed else raw)
            budget.check(config)
        except ConfigError as e:
            shown = ", ".join(f"{k}={v!r}" for k, v in assignment.items())
            raise SweepError(f"sweep: run {{{shown}}}: {e}") from None
        rid = store.run_id(config)
        if rid not in seen:
            seen.add(rid)
            out.append((assignment, config))
    return out


OPTIMIZER = "train.optimizer"


def for_optimizer(raw: dict[str, Any]) -> dict[str, Any]:
    """A raw config without the train keys its optimiser does not take.

    The GD-only keys (GD_ONLY) go for gradient_flow, the flow-only ones (FLOW_ONLY) for gd
    and sgd. Only sweeps that vary train.optimizer apply it; a single config with such keys
    is still refused.

    Args:
        raw: The raw config mapping.

    Returns:
        A mapping with a filtered `train` section (raw itself when it has none).
    """
    train = raw.get("train")
    if not isinstance(train, dict):
        return raw
    unused = GD_ONLY if train.get("optimizer") == "gradient_flow" else FLOW_ONLY
    return raw | {"train": {k: v for k, v in train.items() if k not in unused}}


def plan(configs: Sequence[Config], group_size: int = GROUP_SIZE) -> list[list[Config]]:
    """Groups of runs of one shape (one compiled program), at most group_size each
    (gradient flows: at most FLOW_GROUP_SIZE, since they gain nothing from batching). Flows
    and GD runs are never grouped together, even where their specs coincide (a flow keeps
    GD's defaults), so each group has one size and one unit of progress.

    Runs of one shape are split into the fewest groups of near-equal lengths.

    Args:
        configs: The runs' configs.
        group_size: The most runs in a group.

    Returns:
        The groups, each a list of configs.
    """
    from iblab.training import spec_for

    by_shape: dict[tuple, list[Config]] = {}
    for c in configs:
        data = c.data
        shape = (spec_for(c), data.kind, getattr(data, "n", None), getattr(data, "n_test", 0))
        shape += (c.model.width, c.train.optimizer == "gradient_flow")
        by_shape.setdefault(shape, []).append(c)
    return [
        chunk
        for runs in by_shape.values()
        for chunk in _balanced(runs, _group_size(runs[0], group_size))
    ]


def _group_size(config: Config, group_size: int) -> int:
    flow = config.train.optimizer == "gradient_flow"
    return min(group_size, FLOW_GROUP_SIZE) if flow else group_size


def _balanced(runs: list, size: int) -> list[list]:
    """Split into the fewest chunks of at most `size`, of near-equal lengths (so they pad to
    one batch shape)."""
    k = -(-len(runs) // size)
    bounds = [round(i * len(runs) / k) for i in range(k + 1)]
    return [runs[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# ---------------------------------------------------------------- running


@dataclass
class Progress:
    """Where a sweep stands: runs to do this time, done so far, failed among them.

    Attributes:
        total: Runs to train this time.
        skipped: Runs left out as already stored.
        done: Runs trained and written so far.
        failed: Runs among them with status diverged or error.
        lost: Runs in groups whose worker or transport failed (left for the next resume).
        statuses: Count of each status written.
        elapsed_s: Seconds since the sweep started running.
        in_flight: Runs' worth of steps taken by the group in training (in-process only;
            a group of flows, which have no step budget, adds nothing).
    """

    total: int
    skipped: int
    done: int = 0
    failed: int = 0
    lost: int = 0
    statuses: Counter = field(default_factory=Counter)
    elapsed_s: float = 0.0
    in_flight: float = 0.0  # runs' worth of steps taken by the group in training (in-process)

    @property
    def rate(self) -> float:
        """Runs done per second so far (0 before any time has passed)."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


FAILED = ("diverged", "error")


def run_sweep(
    configs: Iterable[Config] | Sweep,
    out: str | Path,
    executor=None,
    retry_failed: bool = False,
    group_size: int = GROUP_SIZE,
    on_progress: Callable[[Progress], None] | None = None,
    evaluate: Callable[[Any], dict] | None = None,
) -> Progress:
    """Run every config without a valid result in `out`; write one file per run.

    Runs already in `out` are skipped (with retry_failed, those of status error run again);
    a run given twice runs once. Interrupting loses only the runs in flight. When writing
    to `out` fails, the rest is written to a spill directory that the error names.

    Args:
        configs: The runs' configs, or a Sweep (expanded here).
        out: The store directory, created if needed.
        executor (Local | Dask | None): Where groups train: `iblab.executors.Local`
            (default, in-process) or `iblab.executors.Dask`.
        retry_failed: Run again the runs stored with status error.
        group_size: The most runs in one unit of work.
        on_progress: Called with the Progress as groups finish (and, in-process, as the
            group in training moves on).
        evaluate: evaluate(result) -> dict, more figures of each run, computed where it
            trained and stored with it (a module-level function, or a functools.partial of
            one, so that worker processes can receive it).

    Returns:
        The final Progress.

    Raises:
        SweepError: configs is a Sweep that does not expand (see `expand`).
        ConfigError: `out` cannot be written to (checked before any training).
        StoreWriteError: Results could not be written to `out`; the message says where
            they went.
    """
    from iblab.executors import Local

    if isinstance(configs, Sweep):
        configs = expand(configs)
    configs = list({store.run_id(c): c for c in configs}.values())  # each run once
    out = Path(out)
    store.check_writable(out)
    store.remove_stale_temporaries(out)
    stored = store.finished(out)
    todo = [
        c
        for c in configs
        if (s := stored.get(store.run_id(c))) is None or (retry_failed and s == "error")
    ]
    progress = Progress(total=len(todo), skipped=len(configs) - len(todo))
    groups = plan(todo, group_size)
    executor = executor if executor is not None else Local()
    unindexed: dict = {}
    writer = _Writer(out)
    t0 = time.perf_counter()

    def step(group: list[Config], t: int) -> None:
        if group[0].train.optimizer == "gradient_flow":
            return  # t counts a flow's switches, which have no budget to measure against
        steps = max(group[0].train.steps, 1)
        progress.in_flight = max(progress.in_flight, len(group) * min(t / steps, 1.0))
        progress.elapsed_s = time.perf_counter() - t0
        if on_progress is not None:
            on_progress(progress)

    try:
        for group, outcome in executor.map_unordered(groups, evaluate, on_step=step):
            progress.in_flight = 0.0
            if isinstance(outcome, BaseException):
                progress.lost += len(group)
                continue
            for rid, table in outcome:
                stamp = writer.write(table)
                if stamp is not None:
                    unindexed[rid] = (table, stamp)
                status = table.column("status")[0].as_py()
                progress.statuses[status] += 1
                progress.failed += status in FAILED
                progress.done += 1
            if len(unindexed) >= INDEX_EVERY:
                _index(out, unindexed)
                unindexed = {}
            progress.elapsed_s = time.perf_counter() - t0
            if on_progress is not None:
                on_progress(progress)
    finally:
        _index(out, unindexed)
        progress.elapsed_s = time.perf_counter() - t0
        if writer.error is not None and sys.exc_info()[0] is not None:  # interrupted
            warnings.warn(writer.message(), stacklevel=2)
    writer.raise_if_failed()
    return progress


def _index(out: Path, tables: dict) -> None:
    try:
        store.add_to_index(out, tables)
    except OSError:
        pass  # the index is derived: the next open rebuilds it from the run files


class _Writer:
    """Writes runs into the store; when that fails (disk full, store made read-only), writes
    the rest into a spill directory instead, so nothing trained is lost."""

    def __init__(self, out: Path):
        self.out, self.spill, self.error, self.spilled = out, None, None, 0

    def write(self, table) -> str | None:
        """The stamp of the file written into the store, None when it went to the spill.
        The store is tried first every time: a transient failure spills only its runs."""
        try:
            return store.save_run(self.out, table)[1]
        except OSError as e:
            self.error = e
        try:
            if self.spill is None:
                self.spill = Path(tempfile.mkdtemp(prefix="iblab-unwritten-"))
            store.save_run(self.spill, table)
            self.spilled += 1
        except OSError:
            pass  # counted in the message below as lost
        return None

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise store.StoreWriteError(self.message())

    def message(self) -> str:
        reason = self.error.strerror or str(self.error)
        where = (
            f"{self.spilled} trained runs were written to {self.spill} instead; move them "
            f"into {self.out} to keep them"
            if self.spilled
            else "the runs trained since could not be written anywhere"
        )
        return f"--out: writing to {str(self.out)!r} failed ({reason}); {where}"
