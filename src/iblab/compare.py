"""Runs on one draw, compared: how far each run's first layer ends from a reference run's.

Runs that differ only in train or record keys share their draw, the data and W_0
(`iblab.store.draw_id`), so their first layers W = s W_0 + C X differ by
(s - s_ref) W_0 + (C - C_ref) X, whose norm the draw's Gram blocks give at a cost independent
of d (`iblab.gram.distance_sq`).

Example:
    >>> from iblab import compare
    >>> pairs = compare.distances("results/gd_vs_flow", "train.optimizer == 'gradient_flow'")
    >>> pairs.groupby(["config.data.d", "config.train.lr"]).relative_distance.median()
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from iblab import gram, store
from iblab.config import FLOW_ONLY, GD_ONLY, Config, flatten
from iblab.config._fields import did_you_mean
from iblab.problem import Problem

if TYPE_CHECKING:
    from iblab.training import TrainResult

COLUMNS = (
    "run_id",
    "reference_id",
    "draw_id",
    "status",
    "differs",
    "relative_distance",
    "distance",
    "reference_travel",
)


class _Run(NamedTuple):
    """One run as compared: its config and final state (s, C (m, n); None without one)."""

    run_id: str
    draw_id: str
    status: str
    config: Config
    s: float | None
    C: np.ndarray | None
    problem: Problem | None = None  # its draw's blocks, when at hand (TrainResults)


def distances(source: str | os.PathLike | Sequence[TrainResult], reference: str) -> pd.DataFrame:
    """The distance of every run to the reference run on its draw, from Gram blocks.

    W is the first layer (m, d), with the bias column when model.bias. The draw's blocks are
    rebuilt with `iblab.make_problem` (store) or taken from the results.

    Args:
        source: A store directory, or TrainResults (e.g. `iblab.train_many`'s).
        reference: Which runs are references, as a pandas query over config keys written
            without the `config.` prefix: "train.optimizer == 'gradient_flow'", or
            "train.optimizer == 'gd' and train.lr == 0.02". It may pick at most one run on
            each draw.

    Returns:
        One row per run on the draw of a reference (the reference left out; runs on a draw
            without a reference are left out too): `run_id`, `reference_id`, `draw_id`,
            `status`, `differs` (the config keys whose values differ from the reference's,
            among those both runs take, comma-separated), `relative_distance`, `distance`
            ||W - W_ref||_F, `reference_travel` ||W_ref - W_0||_F (`relative_distance` is
            their ratio), then the run's config as `config.*` columns. Distances are in the
            units of W, and NaN when either run has no final state (status error).

    Raises:
        ValueError: One line naming `reference` when it names an unknown key, cannot be
            evaluated, picks no run, or picks two runs on one draw; or naming `source` when
            it holds no runs or is neither a directory nor TrainResults.
    """
    runs = _runs(source)
    if not runs:
        raise ValueError(f"source: no runs in {source!r}")
    table = pd.DataFrame([flatten(r.config.to_dict()) for r in runs])
    refs = _references(runs, _select(table, reference), reference)
    problems: dict[str, Problem] = {}
    rows = []
    for run in runs:
        ref = refs.get(run.draw_id)
        if ref is None or ref.run_id == run.run_id:
            continue
        if run.draw_id not in problems:  # one problem per draw, rebuilt at most once
            problems[run.draw_id] = _problem(ref) if ref.problem is None else ref.problem
        rows.append(_row(run, ref, problems[run.draw_id]))
    return pd.DataFrame(rows, columns=None if rows else list(COLUMNS))


def _select(table: pd.DataFrame, reference: str) -> list[int]:
    """The positions of table's rows (one per run, columns the flattened config keys) that
    the query `reference` picks; dotted keys may be written bare (train.lr) or backquoted."""
    expr = _backquoted(reference, set(table.columns))
    try:
        picked = table.reset_index(drop=True).query(expr, engine="python")
    except Exception as e:  # noqa: BLE001 (pandas raises many kinds; one line for all)
        message = " ".join(str(e).split())
        raise ValueError(f"reference: cannot evaluate {reference!r}: {message}") from None
    return list(picked.index)


_QUOTED = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)""")
_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _backquoted(expr: str, keys: set[str]) -> str:
    """expr with each dotted config key (outside strings) in backquotes, for pandas."""
    parts = _QUOTED.split(expr)
    for i in range(0, len(parts), 2):  # the even parts lie outside quotes
        parts[i] = _DOTTED.sub(lambda m: _quote_key(m.group(), keys), parts[i])
    return "".join(parts)


def _quote_key(dotted: str, keys: set[str]) -> str:
    """`a.b`.rest for the longest known key a.b that dotted starts with (a `config.` prefix
    dropped); ValueError naming dotted when none is known."""
    name = dotted.removeprefix("config.")
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in keys:
            return "".join([f"`{key}`", *(f".{p}" for p in parts[k:])])
    hint = did_you_mean(name, sorted(keys))
    raise ValueError(f"reference: {dotted!r} is not a config key of the runs{hint}")


def differing_keys(a: Config, b: Config) -> list[str]:
    """The config keys whose values differ between two runs, among those both take.

    The GD-only train keys count only between two GD or SGD runs, the flow-only ones only
    between two flow runs.

    Args:
        a: One run's config.
        b: The other's.

    Returns:
        The differing keys, dotted (e.g. train.lr), sorted.
    """
    flows = {c.train.optimizer == "gradient_flow" for c in (a, b)}
    skipped = set() if flows == {False} else {f"train.{k}" for k in GD_ONLY}
    skipped |= set() if flows == {True} else {f"train.{k}" for k in FLOW_ONLY}
    fa, fb = (flatten(c.model_dump(mode="json")) for c in (a, b))
    return sorted(k for k in (fa.keys() | fb.keys()) - skipped if fa.get(k) != fb.get(k))


def _row(run: _Run, ref: _Run, problem: Problem) -> dict:
    """One run's distances to its reference, and its config."""
    dist, travel = math.nan, math.nan
    if run.C is not None and ref.C is not None:
        blocks = (problem.K, problem.P0, problem.G0_trace)
        dist = _norm(gram.distance_sq(run.s, run.C, ref.s, ref.C, *blocks))
        travel = _norm(gram.distance_sq(ref.s, ref.C, 1.0, 0.0, *blocks))
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = float(np.divide(dist, travel))
    row = {
        "run_id": run.run_id,
        "reference_id": ref.run_id,
        "draw_id": run.draw_id,
        "status": run.status,
        "differs": ", ".join(differing_keys(run.config, ref.config)),
        "relative_distance": relative,
        "distance": dist,
        "reference_travel": travel,
    }
    return row | flatten(run.config.to_dict(), "config.")


def _norm(squared) -> float:
    """sqrt of a squared norm, its negative round-off read as 0."""
    return math.sqrt(max(float(squared), 0.0))


def _references(runs: list[_Run], picked: list[int], reference: str) -> dict[str, _Run]:
    """draw_id -> the reference run on that draw; ValueError (naming `reference`) when the
    query picks no run or two on one draw."""
    if not picked:
        raise ValueError(f"reference: {reference!r} picks none of the {len(runs)} runs")
    refs: dict[str, _Run] = {}
    for i in picked:
        run = runs[i]
        if run.draw_id in refs:
            other = refs[run.draw_id].run_id
            raise ValueError(
                f"reference: {reference!r} picks two runs on draw {run.draw_id} "
                f"({other}, {run.run_id}); narrow it to one run per draw"
            )
        refs[run.draw_id] = run
    return refs


def _problem(run: _Run) -> Problem:
    """The Gram blocks of a stored run's draw, rebuilt from its config."""
    from iblab.data import make_problem

    return make_problem(run.config)


def _runs(source) -> list[_Run]:
    """The runs of a store directory, or of TrainResults."""
    if isinstance(source, str | os.PathLike):
        return _stored_runs(source)
    if not isinstance(source, Sequence) or not all(hasattr(r, "config") for r in source):
        raise ValueError(
            f"source: a store directory or TrainResults expected, got {type(source).__name__}"
        )
    return [
        _Run(store.run_id(r.config), store.draw_id(r.config), r.summary["status"], r.config,
            r.s, np.asarray(r.C, np.float64), r.problem)
        for r in source
    ]  # fmt: skip


def _stored_runs(directory) -> list[_Run]:
    """The runs of a store, each with its final s and C (m, n) (None for a failed run).
    Runs stored before draw_id was recorded get it from their config."""
    frame = store.query(directory, "SELECT * FROM runs ORDER BY run_id")
    out = []
    for row in frame.to_dict("records"):
        config = Config.model_validate_json(row["config"])
        C = row.get("C")
        state = C is not None and not (np.ndim(C) == 0 and pd.isna(C))
        draw = row.get("draw_id")
        draw = draw if isinstance(draw, str) else store.draw_id(config)
        final = np.asarray(C, np.float64).reshape(config.model.width, -1) if state else None
        s = float(row["s"]) if state else None
        out.append(_Run(row["run_id"], draw, row["status"], config, s, final))
    return out
