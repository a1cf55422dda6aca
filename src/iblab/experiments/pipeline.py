"""One pipeline for every reproduction: its settings give configs (a sweep), `run_sweep`
trains them into a store with the reproduction's `evaluate` run where each run trained, and
the analysis reads the store: claims, figures, settings.

So a reproduction resumes after any interruption (stored runs are not trained again), runs
on any executor (Dask too), and its runs answer `iblab query DIR`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iblab import store
from iblab.claims import Claim, print_claims, write_claims
from iblab.config import Config

Planned = list[tuple[dict, Config]]  # (tags: what the run is to the analysis, its config)


@dataclass(frozen=True)
class Reproduction:
    """What makes one paper's reproduction.

    settings(quick): the settings dataclass. plan(settings): every run, as (tags, config);
    a config planned twice (two groups share it) trains once. evaluate(result) -> dict: the
    per-run evaluation (a module-level function, so that worker processes receive it; it
    reads nothing but the run, so a store serves any settings). analyse(frame, history,
    settings, out):
    claims from the analysis frame (one row per planned run: its tags and its stored run
    row), writing figures under out; history: the planned runs' history rows."""

    name: str
    title: str
    settings: Callable[[bool], Any]
    plan: Callable[[Any], Planned]
    evaluate: Callable[[Any], dict]
    analyse: Callable[..., list[Claim]]


def reproduce(
    rep: Reproduction,
    out: str | Path,
    quick: bool = False,
    settings: Any = None,
    executor=None,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Train what is not yet stored in out (runs stored with status error are tried
    again), analyse the store; the claims table. Runs that still fail are left out of every
    claim, and claims.md and settings.json say which; settings.json also records where the
    analysis came from (`provenance`: iblab's version and commit, the numbers version, the
    jax, numpy and scipy versions; each run's row records its own)."""
    t0 = time.perf_counter()
    out = Path(out)
    s = settings if settings is not None else rep.settings(quick)
    which = "given" if settings is not None else "quick" if quick else "full"
    planned = rep.plan(s)
    configs = list({store.run_id(c): c for _, c in planned}.values())
    log(f"{rep.name}: {len(configs)} runs ({which} settings)")
    progress = _run(configs, out, executor, rep.evaluate, log)
    stored = store.load(out, arrays=False, run_ids=sorted(store.run_id(c) for c in configs))
    frame = analysis_frame(stored.runs, planned, out)
    failed = frame[frame.status == "error"].drop_duplicates("run_id")
    if len(failed):
        log(f"{len(failed)} runs failed (status error, e.g. {failed.message.iloc[0]!r}); "
            "they are left out of every claim")  # fmt: skip
        frame = frame[frame.status != "error"].reset_index(drop=True)
    history = stored.history[stored.history.run_id.isin(frame.run_id)].reset_index(drop=True)
    claims = rep.analyse(frame, history, s, out)
    elapsed = time.perf_counter() - t0
    frame.drop(columns=["config"]).to_parquet(out / "analysis.parquet", index=False)
    history.to_parquet(out / "history.parquet", index=False)
    table = write_claims(claims, out, rep.title)
    with (out / "claims.md").open("a") as fh:
        fh.write(
            f"\nWall time of this call: {elapsed:.0f} s, training {progress.done} runs "
            f"({progress.skipped} were already stored; {len(configs)} in all, {which} "
            "settings; see settings.json).\n"
        )
        if len(failed):
            fh.write(
                f"\n{len(failed)} runs failed (status error) and are left out of every claim; "
                "re-running retries them. First message: "
                f"{failed.message.iloc[0]}\n"
            )
    meta = {
        "reproduction": rep.name,
        "settings": _plain(dataclasses.asdict(s)),
        "which": which,
        "wall_time_s": elapsed,
        "runs": len(configs),
        "trained_now": progress.done,
        "already_stored": progress.skipped,
        "failed": sorted(failed.run_id),
        "provenance": store.provenance(),
    }
    (out / "settings.json").write_text(json.dumps(meta, indent=2, default=_plain))
    print_claims(table, rep.title)
    log(f"wrote {out} in {elapsed:.0f} s")
    return table


def _run(configs, out: Path, executor, evaluate, log):
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
    """One row per planned run: its tags, then its stored run row (`stored`, arrays left
    out)."""
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
