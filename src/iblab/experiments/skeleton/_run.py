"""The skeleton every reproduction runs on: its settings give configs (a sweep),
`run_sweep` trains them into a store with the reproduction's `evaluate` run where each run
trained, and the analysis reads the store: claims, figures, tables, settings.

So a reproduction resumes after any interruption (stored runs are not trained again), runs
on any executor (Dask too), and its runs answer `iblab query DIR`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iblab import store
from iblab.claims import Claim, print_claims, write_claims
from iblab.experiments.common import save_figure

from ._declare import Analysis, Planned, Reproduction, resolve
from ._report import write_pages


def judge(rep: Reproduction, analysis: Analysis, settings: Any) -> list[Claim]:
    """Every declared claim whose groups have runs, measured and decided.

    Args:
        rep: The reproduction.
        analysis: Its analysis (`rep.prepare`'s).
        settings: Its settings.

    Returns:
        The claims table's rows, in declaration order.
    """
    rows = []
    present = set(analysis.runs["group"])
    for spec in resolve(rep.claims, settings):
        if not present & set(spec.groups):
            continue
        measured = spec.statistic(analysis, settings)
        if measured is None:
            continue
        verdict = spec.judge(measured, settings)
        rows.append(
            Claim(
                resolve(spec.statement, settings), spec.paper, measured.details, verdict.agrees,
                resolve(spec.criterion, settings), verdict.reason, measured.estimate,
            )
        )  # fmt: skip
    return rows


def draw(rep: Reproduction, analysis: Analysis, settings: Any, out: Path) -> list[str]:
    """Draw every declared figure.

    Args:
        rep: The reproduction.
        analysis: Its analysis.
        settings: Its settings.
        out: Where name.png and name.pdf go.

    Returns:
        The names of the figures drawn (a figure with nothing to draw is left out).
    """
    drawn = []
    for figure in resolve(rep.figures, settings):
        fig = figure.draw(analysis, settings)
        if fig is not None:
            save_figure(fig, out, figure.name)
            drawn.append(figure.name)
    return drawn


def analyse(
    rep: Reproduction, frame: pd.DataFrame, history: pd.DataFrame, settings, out: Path,
    figures: bool = True,
):  # fmt: skip
    """Prepare the analysis, write its tables and figures, judge its claims.

    Args:
        rep: The reproduction.
        frame: The analysis frame (one row per planned run).
        history: The runs' records.
        settings: Its settings.
        out: The results folder.
        figures: Draw the figures; when False, those already in out are kept as they are.

    Returns:
        The claims (`iblab.claims.Claim` rows) and the names of the figures drawn (or kept).
    """
    analysis = rep.prepare(frame, history, settings)
    for name, table in rep.tables.items():
        df = table(analysis)
        if df is not None:
            df.to_csv(out / f"{name}.csv", index=False)
    if figures:
        drawn = draw(rep, analysis, settings, out)
    else:
        declared = [f.name for f in resolve(rep.figures, settings)]
        drawn = [name for name in declared if (out / f"{name}.png").is_file()]
    return judge(rep, analysis, settings), drawn


@dataclass(frozen=True)
class Call:
    """What one call of `reproduce` did: which settings, runs, training counts, failures."""

    which: str
    runs: int
    done: int
    skipped: int
    failed: pd.DataFrame
    elapsed: float
    reanalysed: bool = False
    added: tuple = ()  # groups added to the folder since (`add_groups`), as settings.json has them
    changes: tuple = ()  # the `name=value` changes made to the settings (`with_settings`)


def reproduce(
    rep: Reproduction,
    out: str | Path,
    quick: bool = False,
    settings: Any = None,
    executor: Any = None,
    log: Callable[[str], None] = print,
    figures: bool = True,
    changes: Sequence[str] = (),
) -> pd.DataFrame:
    """Train what is not yet stored in out, analyse the store; the claims table.

    Runs stored with status error are tried again; runs that still fail are left out of
    every claim, and claims.md and settings.json say which. settings.json also records where
    the analysis came from (`store.provenance`; each run's row records its own).

    Args:
        rep: The reproduction (its declarations).
        out: The store (created if missing; re-run to resume).
        quick: The quick settings instead of the full ones.
        settings: Settings to use instead of either (`with_settings` edits either).
        executor: Where to train (`iblab.executors.Local` or `Dask`); in-process if None.
        log: Where progress lines go.
        figures: Draw the figures; False keeps those already in out (see `reanalyse`).
        changes: `name=value` changes to those settings (`with_settings`); claims.md and
            settings.json record them.

    Returns:
        The claims table (`iblab.claims.claims_frame`).
    """
    t0 = time.perf_counter()
    out = Path(out)
    base = settings if settings is not None else rep.quick if quick else rep.full
    s = with_settings(base, changes)
    which = "given" if settings is not None else "quick" if quick else "full"
    planned = rep.plan(s)
    configs = list({store.run_id(c): c for _, c in planned}.values())
    log(f"{rep.name}: {len(configs)} runs ({_settings_said(which, changes)})")
    progress = _train(configs, out, executor, rep.evaluate, log)
    stored = store.load(out, arrays=False, run_ids=sorted(store.run_id(c) for c in configs))
    frame = analysis_frame(stored.runs, planned, out)
    failed = frame[frame.status == "error"].drop_duplicates("run_id")
    if len(failed):
        log(f"{len(failed)} runs failed (status error, e.g. {failed.message.iloc[0]!r}); "
            "they are left out of every claim")  # fmt: skip
        frame = frame[frame.status != "error"].reset_index(drop=True)
    history = stored.history[stored.history.run_id.isin(frame.run_id)].reset_index(drop=True)
    claims, drawn = analyse(rep, frame, history, s, out, figures)
    call = Call(which, len(configs), progress.done, progress.skipped, failed,
                time.perf_counter() - t0, changes=tuple(changes))  # fmt: skip
    frame.drop(columns=["config"]).to_parquet(out / "analysis.parquet", index=False)
    history.to_parquet(out / "history.parquet", index=False)
    table = _write(rep, claims, drawn, s, call, out)
    log(f"wrote {out} in {call.elapsed:.0f} s")
    return table


def reanalyse(
    rep: Reproduction, out: str | Path, settings: Any = None, figures: bool = True
) -> pd.DataFrame:
    """Analyse a finished reproduction again from its analysis.parquet and history.parquet
    (no run files needed, nothing trained): claims, figures, tables and pages.

    Args:
        rep: The reproduction.
        out: The folder of a finished call of `reproduce`.
        settings: The settings it ran with; read from its settings.json when None.
        figures: Draw the figures again; False judges the claims and writes the tables and
            pages only (quicker where figures take long), keeping the figures in out.

    Returns:
        The claims table.
    """
    t0 = time.perf_counter()
    out = Path(out)
    meta = json.loads((out / "settings.json").read_text())
    s = settings if settings is not None else _settings_from(rep, meta["settings"])
    frame = pd.read_parquet(out / "analysis.parquet")
    history = pd.read_parquet(out / "history.parquet")
    claims, drawn = analyse(rep, frame, history, s, out, figures)
    call = Call(meta["which"], meta["runs"], meta["trained_now"], meta["already_stored"],
                frame.iloc[:0], meta["wall_time_s"], reanalysed=True,
                added=tuple(meta.get("added", ())),
                changes=tuple(meta.get("changes", ())))  # fmt: skip
    meta |= {"reanalysed_s": time.perf_counter() - t0}
    return _write(rep, claims, drawn, s, call, out, meta)


def add_groups(
    rep: Reproduction, out: str | Path, names: Sequence[str], store_dir: str | Path,
    executor: Any = None, log: Callable[[str], None] = print, figures: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Add groups to a finished reproduction without training its other runs again: train
    the named groups' runs (at the folder's settings) into store_dir, put their rows in
    place of those groups' rows in out's analysis.parquet and history.parquet, and analyse
    the folder again (`reanalyse`); settings.json and the claims' note record what was added.

    Args:
        rep: The reproduction.
        out: The folder of a finished call of `reproduce` (no run files needed).
        names: The groups to train and add (new groups, or ones to replace).
        store_dir: Where their runs are trained (resumable; may be out itself).
        executor: Where to train (see `reproduce`).
        log: Where progress lines go.
        figures: Draw the figures again (see `reanalyse`).

    Returns:
        The claims table.
    """
    t0, out = time.perf_counter(), Path(out)
    meta = json.loads((out / "settings.json").read_text())
    s = _settings_from(rep, meta["settings"])
    planned = [(t, c) for t, c in rep.plan(s) if t["group"] in set(names)]
    configs = list({store.run_id(c): c for _, c in planned}.values())
    log(f"{rep.name}: adding {len(configs)} runs of {list(names)} to {out}")
    progress = _train(configs, Path(store_dir), executor, rep.evaluate, log)
    stored = store.load(store_dir, arrays=False, run_ids=sorted(store.run_id(c) for c in configs))
    frame = analysis_frame(stored.runs, planned, Path(store_dir)).drop(columns=["config"])
    old = pd.read_parquet(out / "analysis.parquet")
    kept = old[~old["group"].isin(names)]
    pd.concat([kept, frame], ignore_index=True).to_parquet(out / "analysis.parquet", index=False)
    history = pd.read_parquet(out / "history.parquet")
    history = history[history.run_id.isin(kept.run_id)]
    new = stored.history[stored.history.run_id.isin(frame.run_id)]
    pd.concat([history, new], ignore_index=True).to_parquet(out / "history.parquet", index=False)
    added = {"groups": list(names), "runs": len(configs), "trained_now": progress.done,
             "wall_time_s": time.perf_counter() - t0, "provenance": store.provenance()}  # fmt: skip
    meta["added"] = [*meta.get("added", []), added]
    (out / "settings.json").write_text(json.dumps(meta, indent=2, default=_plain))
    return reanalyse(rep, out, s, figures)


def plan_summary(rep: Reproduction, settings: Any, out: str | Path | None = None) -> pd.DataFrame:
    """What a call of `reproduce` would train, group by group; nothing is trained or written.

    Args:
        rep: The reproduction.
        settings: The settings to plan.
        out: A store to count the runs already in (none counted when None or missing).

    Returns:
        One row per declared group, in order: group, runs (distinct configs), flow (of
        them, trained by the exact gradient flow), stored (of them, stored in out with a
        status other than error: a call trains the rest); then a row "all" over the
        distinct configs of every group (a config planned in two groups trains once).
    """
    done = store.finished(out, index=False) if out is not None else {}
    kept = {run_id for run_id, status in done.items() if status != "error"}
    rows: dict[str, dict[str, str]] = {g.name: {} for g in resolve(rep.groups, settings)}
    for tags, config in rep.plan(settings):
        rows[tags["group"]][store.run_id(config)] = config.train.optimizer
    every = {k: v for runs in rows.values() for k, v in runs.items()}

    def row(group: str, runs: dict[str, str]) -> dict:
        flow = sum(opt == "gradient_flow" for opt in runs.values())
        return {"group": group, "runs": len(runs), "flow": flow,
                "stored": len(kept.intersection(runs))}  # fmt: skip

    return pd.DataFrame([row(g, runs) for g, runs in rows.items()] + [row("all", every)])


def with_settings(settings: Any, overrides: Sequence[str]) -> Any:
    """The settings with `name=value` overrides applied (each value parsed as YAML, as
    `iblab run --set` parses it) and every field validated against its annotation.

    Args:
        settings: A reproduction's settings (a dataclass).
        overrides: `name=value` strings, e.g. `seeds=3` or `dims=[1e4, 1e6]`.

    Returns:
        A new settings dataclass (settings itself when there are no overrides).

    Raises:
        ConfigError: One line naming the setting and value: no '=', an unknown name, or a
            value of the wrong type.
    """
    from iblab.config import ConfigError, parse_value

    if not overrides:
        return settings
    names = [f.name for f in dataclasses.fields(settings) if f.init]
    values = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set: expected name=value, got {item!r}")
        name, text = (part.strip() for part in item.split("=", 1))
        if name not in names:
            raise ConfigError(
                f"--set {name}: not a setting of {type(settings).__name__}; "
                f"choose from {', '.join(names)}"
            )
        values[name] = parse_value(name, text)
    return _typed(settings, values, "--set")


def _typed(settings: Any, values: dict, where: str) -> Any:
    """settings with the plain values (lists for tuples) put in, each checked against its
    field's annotation; ConfigError naming where the values came from, the field and the
    value (the fields given, for a check of the whole settings)."""
    from pydantic import PydanticUserError, TypeAdapter, ValidationError

    from iblab.config import ConfigError

    kept = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.init}
    try:
        adapter = TypeAdapter(type(settings))
    except PydanticUserError:  # a field of a type pydantic cannot check (e.g. an array)
        return dataclasses.replace(settings, **{k: _tuples(v) for k, v in values.items()})
    try:
        return adapter.validate_python(kept | values)
    except ValidationError as e:
        first = e.errors()[0]
        if not first["loc"]:  # a check of the whole settings (e.g. in __post_init__)
            raise ConfigError(f"{where} {', '.join(values)}: {first['msg']}") from None
        field = ".".join(str(k) for k in first["loc"])
        raise ConfigError(f"{where} {field}: {first['msg']}, got {first['input']!r}") from None


def _settings_from(rep: Reproduction, stored: dict):
    """The settings dataclass of rep rebuilt from settings.json's plain values."""
    fields = {f.name for f in dataclasses.fields(rep.full)}
    return _typed(rep.full, {k: v for k, v in stored.items() if k in fields}, "settings.json")


def _tuples(v):
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def _write(rep, claims, figures, s, call: Call, out: Path, meta: dict | None = None):
    """claims.csv and claims.md, the pages, settings.json; print the table."""
    table = write_claims(claims, out, rep.title, note=_note(call))
    write_pages(rep, table, figures, s, out)
    meta = (meta or {}) | {
        "reproduction": rep.name,
        "settings": _plain(dataclasses.asdict(s)),
        "which": call.which,
        "wall_time_s": call.elapsed,
        "runs": call.runs,
        "trained_now": call.done,
        "already_stored": call.skipped,
        "failed": meta["failed"] if meta else sorted(call.failed.run_id),
        "provenance": meta["provenance"] if meta else store.provenance(),
    }
    if call.changes:
        meta["changes"] = list(call.changes)
    (out / "settings.json").write_text(json.dumps(meta, indent=2, default=_plain))
    print_claims(table, rep.title)
    return table


def _settings_said(which: str, changes: Sequence[str]) -> str:
    """'quick settings', or 'quick settings with seeds=4, n=10' where they were changed."""
    return f"{which} settings" + (f" with {', '.join(changes)}" if changes else "")


def _note(call: Call) -> str:
    """The lines under the claims table: the call's time and counts, and failures."""
    which = "the call that trained the runs" if call.reanalysed else "this call"
    note = (
        f"Wall time of {which}: {call.elapsed:.0f} s, training {call.done} runs "
        f"({call.skipped} were already stored; {call.runs} in all, "
        f"{_settings_said(call.which, call.changes)}; see settings.json).\n"
    )
    if call.reanalysed:
        note += (
            "\nAnalysed again from analysis.parquet and history.parquet (no run trained or "
            "read; the runs' numbers version is settings.json's provenance).\n"
        )
    for added in call.added:
        note += (
            f"\nGroups {', '.join(added['groups'])} added since: {added['runs']} runs "
            f"({added['trained_now']} trained, in {added['wall_time_s']:.0f} s), their rows "
            "joined to the folder's (`add_groups`; their numbers version is in "
            "settings.json's `added`).\n"
        )
    if len(call.failed):
        note += (
            f"\n{len(call.failed)} runs failed (status error) and are left out of every "
            f"claim; re-running retries them. First message: {call.failed.message.iloc[0]}\n"
        )
    return note


def _train(configs, out: Path, executor, evaluate, log):
    from iblab.sweep import run_sweep

    marks = iter(range(10, 101, 10))
    mark = [next(marks)]

    def report(p) -> None:
        if p.total and 100 * p.done >= mark[0] * p.total:
            log(f"  {p.done}/{p.total} runs trained ({p.elapsed_s:.0f} s)")
            while mark[0] <= 100 * p.done / p.total:
                mark[0] = next(marks, 101)

    return run_sweep(
        configs, out, executor, retry_failed=True, evaluate=evaluate, on_progress=report
    )


def analysis_frame(stored: pd.DataFrame, planned: Planned, out: Path) -> pd.DataFrame:
    """One row per planned run: its tags, then its stored run row.

    Args:
        stored: The stored runs (`store.load(..., arrays=False).runs`).
        planned: The plan, (tags, config) pairs.
        out: The store (for the message).

    Returns:
        The tags joined to the stored rows, in plan order.

    Raises:
        ValueError: A tag is also a stored column.
        RuntimeError: A planned run has no stored result.
    """
    tags = pd.DataFrame([{**t, "run_id": store.run_id(c)} for t, c in planned])
    clash = (set(tags.columns) & set(stored.columns)) - {"run_id"}
    if clash:
        raise ValueError(f"plan: tag {sorted(clash)[0]!r} is also a stored column; rename it")
    missing = set(tags.run_id) - set(stored.run_id)
    if missing:
        raise RuntimeError(f"{len(missing)} planned runs have no stored result in {out}")
    return tags.merge(stored, on="run_id", how="left", validate="many_to_one")


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)
