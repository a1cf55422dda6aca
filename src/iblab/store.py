"""A results store that needs no server: a directory of Parquet files, one per finished run.

A run's file is named by a hash of its full config (`run_id`). It holds one table: a `run`
row (run_id, status, message, the flattened config as `config.*` columns, the config as
JSON, the summary figures) followed by one `history` row per recorded step (columns
`history.*`). A file is written under a temporary name and renamed, so it is whole or absent.

DuckDB reads the directory with the views `runs` and `history`; `load` returns pandas frames.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from iblab.experiments.common import flatten

FORMAT = "1"
RUN_ID_LENGTH = 24
HISTORY_PREFIX = "history."
EVENT_PREFIX = "event."
_META_RUN_ID = b"iblab.run_id"
_META_FORMAT = b"iblab.format"
_GLOB = "[0-9a-f]*.parquet"


def run_id(config) -> str:
    """The name of a run's result: a prefix of the SHA-256 of its full config."""
    return config.fingerprint()[:RUN_ID_LENGTH]


def path_for(directory: str | Path, rid: str) -> Path:
    return Path(directory) / f"{rid}.parquet"


# ---------------------------------------------------------------- one run


def run_table(
    config: dict,
    rid: str,
    summary: dict[str, Any],
    history: pd.DataFrame | None = None,
    message: str = "",
    events: pd.DataFrame | None = None,
) -> pa.Table:
    """One run as a table: its `run` row, then its `history` rows, then (gradient flow) its
    `event` rows."""
    row = {"run_id": rid, "kind": "run", "status": summary.get("status", "error")}
    row["message"] = message
    row |= flatten(config, "config.")
    row["config_json"] = json.dumps(config, sort_keys=True)
    row |= {k: _scalar(v) for k, v in summary.items() if k != "status"}
    tables = [pa.Table.from_pylist([row])]
    for kind, rows in (("history", history), ("event", events)):
        if rows is not None and len(rows):
            part = pa.Table.from_pandas(rows, preserve_index=False)
            part = part.rename_columns([f"{kind}.{c}" for c in part.column_names])
            part = part.add_column(0, "kind", pa.array([kind] * part.num_rows))
            tables.append(part.add_column(0, "run_id", pa.array([rid] * part.num_rows)))
    table = pa.concat_tables(tables, promote_options="default")
    return table.replace_schema_metadata({_META_RUN_ID: rid.encode(), _META_FORMAT: FORMAT})


def _scalar(v):
    if isinstance(v, float) and not math.isfinite(v):
        return v  # NaN / inf stay floats (a diverged run)
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)


def write_run(directory: str | Path, table: pa.Table) -> Path:
    """Write atomically: a temporary file in the same directory, then rename."""
    directory = Path(directory)
    rid = table.schema.metadata[_META_RUN_ID].decode()
    final = path_for(directory, rid)
    tmp = directory / f".{rid}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def read_run(path: Path) -> pa.Table | None:
    """A run's table, or None when the file is unreadable or not the run its name says."""
    try:
        table = pq.ParquetFile(path).read()
    except (OSError, pa.ArrowException):
        return None
    kv = table.schema.metadata or {}
    if kv.get(_META_RUN_ID, b"").decode() != path.stem or table.num_rows < 1:
        return None
    return table


# ---------------------------------------------------------------- the index
#
# Opening 10^4 small files costs seconds, so the store keeps a derived index under
# _index/: segments that each hold the tables of some runs, tagged with the modification
# time of the file they came from. A run counts when its file exists and an index entry
# matches its mtime; files without one are read and indexed when the store is opened.
# Deleting _index/ is always safe.

INDEX_DIR = "_index"
MAX_SEGMENTS = 16
_MTIME = "_mtime_ns"


def scan(directory: str | Path) -> dict[str, int]:
    """Result files present: run_id -> modification time (ns)."""
    out = {}
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return out
    with entries as it:
        for e in it:
            if e.name.endswith(".parquet") and e.name[:1] not in "._":
                try:
                    out[e.name[: -len(".parquet")]] = e.stat().st_mtime_ns
                except FileNotFoundError:
                    pass
    return out


def add_to_index(directory: str | Path, tables: dict[str, tuple[pa.Table, int]]) -> None:
    """Write one index segment holding the given runs (run_id -> (table, file mtime))."""
    if not tables:
        return
    _write_segment(Path(directory), _with_mtime(tables))


def _write_segment(directory: Path, table: pa.Table) -> None:
    seg_dir = directory / INDEX_DIR
    seg_dir.mkdir(exist_ok=True)
    name = f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = seg_dir / f".{name}.tmp"
    try:
        pq.write_table(table.replace_schema_metadata(None), tmp)
        os.replace(tmp, seg_dir / name)
    finally:
        tmp.unlink(missing_ok=True)


def _segments(directory: Path) -> list[Path]:
    return sorted((directory / INDEX_DIR).glob("seg-*.parquet"))


def _indexed(con, segments: list[Path]) -> set[tuple[str, int]]:
    if not segments:
        return set()
    rows = con.execute(
        f"SELECT DISTINCT run_id, {_MTIME} FROM {_read(segments)} WHERE kind = 'run'"
    ).fetchall()
    return set(rows)


def _read(paths: list[Path], filename: bool = False) -> str:
    files = ", ".join(f"'{_sql_str(str(p))}'" for p in paths)
    extra = ", filename=true" if filename else ""
    return f"read_parquet([{files}], union_by_name=true{extra})"


def _open(directory: Path):
    """A DuckDB connection with the view _all: the rows of every current run."""
    import duckdb

    con = duckdb.connect()
    present = scan(directory)
    segments = _segments(directory)
    indexed = _indexed(con, segments)
    fresh = _read_files(
        directory, [r for r, m in present.items() if (r, m) not in indexed], present
    )
    if fresh:
        try:
            add_to_index(directory, fresh)
            segments, fresh = _segments(directory), {}
        except OSError:
            pass  # a read-only store: keep the fresh runs in memory
    table = pa.table({"run_id": list(present), "mtime": pa.array(present.values(), pa.int64())})
    con.register("_present", table)
    _views(con, segments, fresh)
    if len(segments) > MAX_SEGMENTS:
        try:
            merged = _arrow(con.sql("SELECT * EXCLUDE (filename) FROM _current"))
            _write_segment(directory, merged)
            for p in segments:
                p.unlink(missing_ok=True)
            _views(con, _segments(directory), fresh)
        except OSError:
            pass
    return con


def _with_mtime(tables: dict[str, tuple[pa.Table, int]]) -> pa.Table:
    parts = [
        t.append_column(_MTIME, pa.array([m] * t.num_rows, pa.int64())) for t, m in tables.values()
    ]
    return pa.concat_tables(parts, promote_options="permissive")


def _views(con, segments: list[Path], fresh: dict) -> None:
    sources = [f"SELECT * FROM {_read(segments, filename=True)}"] if segments else []
    if fresh:
        con.register("_fresh", _with_mtime(fresh))
        sources.append("SELECT *, 'memory' AS filename FROM _fresh")
    if not sources:
        con.execute(
            "CREATE OR REPLACE VIEW _all AS "
            "SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS kind, NULL::VARCHAR AS status "
            "WHERE false"
        )
        return
    con.execute(f"CREATE OR REPLACE VIEW _seg AS {' UNION ALL BY NAME '.join(sources)}")
    con.execute(
        "CREATE OR REPLACE VIEW _chosen AS "
        "SELECT s.run_id, min(s.filename) AS filename FROM _seg s "
        f"JOIN _present p ON s.run_id = p.run_id AND s.{_MTIME} = p.mtime "
        "WHERE s.kind = 'run' GROUP BY s.run_id"
    )
    con.execute(
        "CREATE OR REPLACE VIEW _current AS SELECT s.* FROM _seg s "
        "SEMI JOIN _chosen c ON s.run_id = c.run_id AND s.filename = c.filename"
    )
    con.execute(
        f"CREATE OR REPLACE VIEW _all AS SELECT * EXCLUDE (filename, {_MTIME}) FROM _current"
    )


def _read_files(directory: Path, rids: list[str], present: dict[str, int]) -> dict:
    tables = [read_run(path_for(directory, r)) for r in rids]
    return {r: (t, present[r]) for r, t in zip(rids, tables, strict=True) if t is not None}


def _arrow(result) -> pa.Table:
    """A DuckDB result as an Arrow table (DuckDB 1.x and 2.x)."""
    fetch = getattr(result, "to_arrow_table", None) or result.arrow
    return fetch()


def finished(directory: str | Path) -> dict[str, str]:
    """The runs with a valid result file: run_id -> status."""
    if not Path(directory).is_dir():
        return {}
    con = _open(Path(directory))
    try:
        rows = con.execute("SELECT run_id, status FROM _all WHERE kind = 'run'").fetchall()
    finally:
        con.close()
    return dict(rows)


# ---------------------------------------------------------------- queries


def connect(directory: str | Path):
    """A DuckDB connection with the views `runs`, `history` and `events` (the activation
    switches of gradient-flow runs: run_id, time, point, neuron, direction, kind)."""
    con = _open(Path(directory))
    columns = [r[0] for r in con.execute("DESCRIBE _all").fetchall()]
    prefixes = (HISTORY_PREFIX, EVENT_PREFIX)
    run_cols = [c for c in columns if c != "kind" and not c.startswith(prefixes)]
    con.execute(
        f"CREATE VIEW runs AS SELECT {', '.join(map(_q, run_cols))} FROM _all WHERE kind = 'run'"
    )
    for view, prefix, kind, always in (
        ("history", HISTORY_PREFIX, "history", "step::BIGINT"),
        ("events", EVENT_PREFIX, "event", "time::DOUBLE"),
    ):
        always, sql_type = always.split("::")
        cols = [c for c in columns if c.startswith(prefix)]
        select = ", ".join(
            ['"run_id"']
            + [f"{_q(c)} AS {_q(c[len(prefix) :])}" for c in cols]
            + ([f"NULL::{sql_type} AS {always}"] if prefix + always not in cols else [])
        )
        con.execute(f"CREATE VIEW {view} AS SELECT {select} FROM _all WHERE kind = '{kind}'")
    return con


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def query(directory: str | Path, sql: str) -> pd.DataFrame:
    """Run SQL over the views `runs` and `history`; return a DataFrame."""
    con = connect(directory)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


class Results(NamedTuple):
    """runs: one row per run (config.*, status, message, summary figures).
    history: one row per recorded step of each run (run_id, step, figures)."""

    runs: pd.DataFrame
    history: pd.DataFrame


def load(directory: str | Path) -> Results:
    """All runs of a store as pandas DataFrames: (runs, history)."""
    con = connect(directory)
    try:
        runs = con.execute("SELECT * FROM runs ORDER BY run_id").df()
        history = con.execute("SELECT * FROM history ORDER BY run_id, step").df()
    finally:
        con.close()
    return Results(runs, history)


def summarize(directory: str | Path) -> pd.DataFrame:
    """Runs per status, with counts, as a DataFrame (status, runs)."""
    return query(
        directory, "SELECT status, count(*) AS runs FROM runs GROUP BY status ORDER BY status"
    )


def to_xarray(
    directory: str | Path,
    dims: list[str],
    variables: list[str] | None = None,
):
    """The runs of a dense grid as an xarray Dataset with one dimension per config key.

    dims: config keys ('data.d' or 'config.data.d'); together they must identify each run
    (add 'seed' for several seeds). variables: summary columns (default: every numeric
    one). Grid points without a run are NaN. Write NetCDF with `.to_netcdf(path)`."""
    runs = load(directory).runs
    cols = [_config_column(runs, d) for d in dims]
    dup = runs.duplicated(cols)
    if dup.any():
        example = runs.loc[dup, cols].iloc[0].to_dict()
        raise ValueError(
            f"dims: {', '.join(dims)} do not identify runs uniquely "
            f"(several runs at {example}); add the key that varies, e.g. seed"
        )
    if variables is None:
        skip = set(cols)
        variables = [
            c
            for c in runs.columns
            if c not in skip
            and not c.startswith("config.")
            and pd.api.types.is_numeric_dtype(runs[c])
            and not pd.api.types.is_bool_dtype(runs[c])
        ]
    missing = [v for v in variables if v not in runs.columns]
    if missing:
        raise ValueError(f"variables: unknown column(s) {', '.join(missing)}")
    frame = runs.set_index(cols)[list(variables) + ["status"]]
    frame.index = frame.index.set_names(dims)
    import xarray as xr

    ds = xr.Dataset.from_dataframe(frame)
    ds["status"] = ds["status"].astype(str)
    return ds


def _config_column(runs: pd.DataFrame, key: str) -> str:
    for name in (key, f"config.{key}"):
        if name in runs.columns:
            return name
    raise ValueError(f"dims: {key!r} is not a config key of the stored runs")
