"""A results store that needs no server: a directory of Parquet files, one per finished run.

A run's file is named by a hash of its full config (`run_id`). It holds one table: a `run`
row (run_id, status, message, the flattened config as `config.*` columns, the config as
JSON, the summary figures) followed by one `history` row per recorded step (columns
`history.*`). A file is written under a temporary name and renamed, so it is whole or absent.

DuckDB reads the directory with the views `runs` and `history`; `load` returns pandas frames.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import time
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from iblab.config import ConfigError, fingerprint, flatten

FORMAT = "1"
RUN_ID_LENGTH = 24
HISTORY_PREFIX = "history."
EVENT_PREFIX = "event."
_META_RUN_ID = b"iblab.run_id"
_META_FORMAT = b"iblab.format"
_HEX = frozenset("0123456789abcdef")


def _is_run_file(name: str) -> bool:
    """Whether a file name is a run's (its run id, then .parquet): other files in the
    directory (a report, a figure) are not runs."""
    stem, dot, ext = name.partition(".")
    return ext == "parquet" and len(stem) == RUN_ID_LENGTH and set(stem) <= _HEX


# Bumped when the numbers a config gives change (a new random draw, a fixed rule), so
# results stored before are not taken for the config's results now.
NUMBERS = "2"


def run_id(config) -> str:
    """The name of a run's result: a prefix of the SHA-256 of its full config (and of the
    version of the numbers configs give, NUMBERS)."""
    return fingerprint({"config": config.to_dict(), "numbers": NUMBERS})[:RUN_ID_LENGTH]


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
    final: dict[str, Any] | None = None,
) -> pa.Table:
    """One run as a table: its `run` row, then its `history` rows, then (gradient flow) its
    `event` rows. The run row holds the config as JSON (`config`) and flattened
    (`config.*`), the summary, and `final`'s values (arrays stored flattened, row-major)."""
    row = {"run_id": rid, "kind": "run", "status": summary.get("status", "error")}
    row["message"] = message
    row |= flatten(config, "config.")
    row["config"] = json.dumps(config, sort_keys=True)
    row |= {k: _scalar(v) for k, v in summary.items() if k != "status"}
    row |= {k: _flat(v) for k, v in (final or {}).items()}
    tables = [pa.Table.from_pylist([row])]
    for kind, rows in (("history", history), ("event", events)):
        if rows is not None and len(rows):
            part = pa.Table.from_pandas(rows, preserve_index=False)
            part = part.rename_columns([f"{kind}.{c}" for c in part.column_names])
            part = part.add_column(0, "kind", pa.array([kind] * part.num_rows))
            tables.append(part.add_column(0, "run_id", pa.array([rid] * part.num_rows)))
    table = pa.concat_tables(tables, promote_options="default")
    return table.replace_schema_metadata({_META_RUN_ID: rid.encode(), _META_FORMAT: FORMAT})


def result_table(result, evaluation: dict[str, Any] | None = None) -> pa.Table:
    """A trained run (iblab.TrainResult) as its table: the final s, C (m, n) and a in the run
    row, C at every record as the history column `C` when record.coefficients.

    evaluation: more figures of the run; scalars join the run row, arrays with one value per
    recorded step join the history. Their names may not shadow the summary's or history's."""
    history = result.history.copy()
    summary = dict(result.summary)
    if result.coefficients is not None:
        history["C"] = [c.ravel() for c in result.coefficients]
    for name, value in (evaluation or {}).items():
        if name in summary or name in history or name in ("s", "C", "a"):
            raise ValueError(f"evaluate: {name!r} shadows a figure the run already has")
        if np.ndim(value) == 0:
            summary[name] = value.item() if isinstance(value, np.generic) else value
        elif len(value) == len(history):
            history[name] = np.asarray(value)
        else:
            raise ValueError(
                f"evaluate: {name!r} has {len(value)} values, the run {len(history)} records"
            )
    config = result.config
    final = {"s": result.s, "C": result.C, "a": result.a}
    return run_table(
        config.to_dict(), run_id(config), summary, history, events=result.events, final=final
    )


def _flat(v):
    return np.asarray(v, np.float64).ravel() if np.ndim(v) else float(v)


def _scalar(v):
    if isinstance(v, float) and not math.isfinite(v):
        return v  # NaN / inf stay floats (a diverged run)
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)


def write_run(directory: str | Path, table: pa.Table) -> Path:
    """Write atomically: a temporary file in the same directory, then rename."""
    return save_run(directory, table)[0]


def save_run(directory: str | Path, table: pa.Table) -> tuple[Path, str]:
    """`write_run`, also returning the stamp of the bytes written (what the index needs)."""
    rid = table.schema.metadata[_META_RUN_ID].decode()
    final = path_for(directory, rid)
    return final, _write_atomic(table, final)


class StoreWriteError(OSError):
    """Results could not be written; the message says where what was trained went."""


def check_writable(directory: str | Path) -> None:
    """Create directory if needed and try writing a file in it; ConfigError (one line,
    naming --out) when that fails, before any training."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--out: {str(directory)!r} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"--out: cannot write to {str(directory)!r} ({e.strerror or e})"
        ) from None


def _host() -> str:
    return socket.gethostname().replace(".", "-") or "host"


def _write_atomic(table: pa.Table, final: Path) -> str:
    """Write table to final through a temporary file; the stamp of the bytes written."""
    # The temporary name carries the writer's host and pid, so a file left by a killed
    # writer can be told from one still being written (remove_stale_temporaries).
    tmp = final.parent / f".{final.name}.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    try:
        tmp.write_bytes(data)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return _stamp_of(data)


FOREIGN_TEMP_AGE_S = 24 * 3600  # another host's temporary file is stale after a day


def remove_stale_temporaries(directory: str | Path) -> int:
    """Delete temporary files whose writer is gone: a dead pid on this host, or older than
    FOREIGN_TEMP_AGE_S when written from another host; how many were deleted."""
    removed, here, now = 0, _host(), time.time()
    for folder in (Path(directory), Path(directory) / INDEX_DIR):
        for tmp in folder.glob(".*.tmp"):
            parts = tmp.name.split(".")
            host, pid = (parts[-4], parts[-3]) if len(parts) >= 5 else ("", "")
            try:
                age = now - tmp.stat().st_mtime
            except FileNotFoundError:
                continue
            if host == here:
                stale = pid.isdigit() and not _alive(int(pid))
            else:
                stale = age > FOREIGN_TEMP_AGE_S
            if stale:
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stamp(path: Path) -> str:
    """A file's size and CRC-32 of its contents: what the index trusts a file by."""
    return _stamp_of(Path(path).read_bytes())


def _stamp_of(data: bytes) -> str:
    return f"{len(data)}:{zlib.crc32(data):08x}"


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
# _index/: segments that each hold the tables of some runs, tagged with the stamp (size and
# content checksum) of the file they came from. A run counts when its file exists and an
# index entry matches its stamp; files without one are read and indexed when the store is
# opened. A segment that cannot be read is ignored (and deleted when the store is writable);
# its runs are indexed again from their files. Deleting _index/ is always safe.

INDEX_DIR = "_index"
MAX_SEGMENTS = 16
_STAMP = "_stamp"
_SEGMENT_COLUMNS = {"run_id", "kind", "status", _STAMP}


def scan(directory: str | Path) -> dict[str, str]:
    """Result files present: run_id -> stamp (size and content checksum)."""
    out = {}
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return out
    with entries as it:
        for e in it:
            if _is_run_file(e.name):
                try:
                    out[e.name[: -len(".parquet")]] = stamp(Path(e.path))
                except FileNotFoundError:
                    pass
    return out


def add_to_index(directory: str | Path, tables: dict[str, tuple[pa.Table, str]]) -> None:
    """Write one index segment holding the given runs (run_id -> (table, file stamp))."""
    if not tables:
        return
    _write_segment(Path(directory), _with_stamp(tables))


def _write_segment(directory: Path, table: pa.Table) -> None:
    seg_dir = directory / INDEX_DIR
    seg_dir.mkdir(exist_ok=True)
    name = f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    _write_atomic(table.replace_schema_metadata(None), seg_dir / name)


def _segments(directory: Path, write: bool) -> list[Path]:
    """The index segments that can be read and have the index's columns."""
    good = []
    for path in sorted((directory / INDEX_DIR).glob("seg-*.parquet")):
        try:
            ok = _SEGMENT_COLUMNS <= set(pq.read_schema(path).names)
        except (OSError, pa.ArrowException):
            ok = False
        if ok:
            good.append(path)
        elif write:
            path.unlink(missing_ok=True)
    return good


def _indexed(con, segments: list[Path]) -> set[tuple[str, str]]:
    if not segments:
        return set()
    rows = con.execute(
        f"SELECT DISTINCT run_id, {_STAMP} FROM {_read(segments)} WHERE kind = 'run'"
    ).fetchall()
    return set(rows)


def _read(paths: list[Path], filename: bool = False) -> str:
    files = ", ".join(f"'{_sql_str(str(p))}'" for p in paths)
    extra = ", filename=true" if filename else ""
    return f"read_parquet([{files}], union_by_name=true{extra})"


def _open(directory: Path, write: bool = True):
    """A DuckDB connection with the view _all: the rows of every current run. write: index
    new files and merge segments (a read-only store, or write=False, keeps them in memory)."""
    import duckdb

    con = duckdb.connect()
    present = scan(directory)
    segments = _segments(directory, write)
    indexed = _indexed(con, segments)
    fresh = _read_files(
        directory, [r for r, m in present.items() if (r, m) not in indexed], present
    )
    if fresh and write:
        try:
            add_to_index(directory, fresh)
            segments, fresh = _segments(directory, write), {}
        except OSError:
            pass  # a read-only store: keep the fresh runs in memory
    table = pa.table({"run_id": list(present), "stamp": pa.array(present.values(), pa.string())})
    con.register("_present", table)
    _views(con, segments, fresh)
    if write and len(segments) > MAX_SEGMENTS:
        try:
            merged = _arrow(con.sql("SELECT * EXCLUDE (filename) FROM _current"))
            _write_segment(directory, merged)
            for p in segments:
                p.unlink(missing_ok=True)
            _views(con, _segments(directory, write), fresh)
        except OSError:
            pass
    return con


def _with_stamp(tables: dict[str, tuple[pa.Table, str]]) -> pa.Table:
    parts = [
        t.append_column(_STAMP, pa.array([m] * t.num_rows, pa.string())) for t, m in tables.values()
    ]
    return pa.concat_tables(parts, promote_options="permissive")


def _views(con, segments: list[Path], fresh: dict) -> None:
    sources = [f"SELECT * FROM {_read(segments, filename=True)}"] if segments else []
    if fresh:
        con.register("_fresh", _with_stamp(fresh))
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
        f"JOIN _present p ON s.run_id = p.run_id AND s.{_STAMP} = p.stamp "
        "WHERE s.kind = 'run' GROUP BY s.run_id"
    )
    con.execute(
        "CREATE OR REPLACE VIEW _current AS SELECT s.* FROM _seg s "
        "SEMI JOIN _chosen c ON s.run_id = c.run_id AND s.filename = c.filename"
    )
    con.execute(
        f"CREATE OR REPLACE VIEW _all AS SELECT * EXCLUDE (filename, {_STAMP}) FROM _current"
    )


def _read_files(directory: Path, rids: list[str], present: dict[str, str]) -> dict:
    tables = [read_run(path_for(directory, r)) for r in rids]
    return {r: (t, present[r]) for r, t in zip(rids, tables, strict=True) if t is not None}


def _arrow(result) -> pa.Table:
    """A DuckDB result as an Arrow table (DuckDB 1.x and 2.x)."""
    fetch = getattr(result, "to_arrow_table", None) or result.arrow
    return fetch()


def _retrying(fn):
    """Run fn again (up to 3 times) when an index segment it listed was merged away by
    another process opening the same store meanwhile."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        import duckdb

        for attempt in range(3):
            try:
                return fn(*args, **kwargs)
            except duckdb.IOException:
                if attempt == 2:
                    raise
                time.sleep(0.05 * (attempt + 1))

    return wrapped


@_retrying
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


def connect(directory: str | Path, read_only: bool = False):
    """A DuckDB connection with the views `runs`, `history` and `events` (the activation
    switches of gradient-flow runs: run_id, time, point, neuron, direction, kind).

    read_only: the three are in-memory tables and the connection can touch no file at all
    (DuckDB's enable_external_access = false, locked): no COPY ... TO, no reading files
    outside the store, no ATTACH, no extension installs; the store is not even indexed."""
    con = _open(Path(directory), write=not read_only)
    columns = [r[0] for r in con.execute("DESCRIBE _all").fetchall()]
    prefixes = (HISTORY_PREFIX, EVENT_PREFIX)
    run_cols = [c for c in columns if c != "kind" and not c.startswith(prefixes)]
    con.execute(
        f"CREATE VIEW runs AS SELECT {', '.join(map(_q, run_cols))} FROM _all WHERE kind = 'run'"
    )
    for view, prefix, kind, always, sql_type in (
        ("history", HISTORY_PREFIX, "history", "step", "BIGINT"),
        ("events", EVENT_PREFIX, "event", "time", "DOUBLE"),
    ):
        cols = [c for c in columns if c.startswith(prefix)]
        select = ", ".join(
            ['"run_id"']
            + [f"{_q(c)} AS {_q(c[len(prefix) :])}" for c in cols]
            + ([f"NULL::{sql_type} AS {always}"] if prefix + always not in cols else [])
        )
        con.execute(f"CREATE VIEW {view} AS SELECT {select} FROM _all WHERE kind = '{kind}'")
    if read_only:
        _seal(con)
    return con


def _seal(con) -> None:
    """Turn the views into in-memory tables, then cut the connection off from every file."""
    views = ("runs", "history", "events")
    for v in views:
        con.execute(f"CREATE TABLE _table_{v} AS SELECT * FROM {v}")
    for v in (*views, "_all", "_current", "_chosen", "_seg"):
        con.execute(f"DROP VIEW IF EXISTS {v}")
    for v in views:
        con.execute(f"ALTER TABLE _table_{v} RENAME TO {v}")
    for name in ("_present", "_fresh"):
        try:
            con.unregister(name)
        except Exception:  # noqa: BLE001 (not registered: nothing to remove)
            pass
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


@_retrying
def query(directory: str | Path, sql: str) -> pd.DataFrame:
    """Run SQL over the tables `runs`, `history` and `events`, read-only (see `connect`);
    return a DataFrame."""
    con = connect(directory, read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


class Results(NamedTuple):
    """runs: one row per run (config.*, status, message, summary figures).
    history: one row per recorded step of each run (run_id, step, figures)."""

    runs: pd.DataFrame
    history: pd.DataFrame


@_retrying
def load(
    directory: str | Path,
    arrays: bool = True,
    run_ids: Sequence[str] | None = None,
    runs: bool = True,
) -> Results:
    """The runs of a store as pandas DataFrames: (runs, history).

    arrays: keep the array columns (the final C and a, the recorded C; numpy arrays,
    flattened row-major). run_ids: only these runs. runs=False: history only (runs empty)."""
    con = connect(directory)
    try:
        where = ""
        if run_ids is not None:
            con.register("_wanted", pa.table({"run_id": pa.array(list(run_ids), pa.string())}))
            where = "WHERE run_id IN (SELECT run_id FROM _wanted)"
        frames = []
        for view, order, wanted in (("runs", "run_id", runs), ("history", "run_id, step", True)):
            cols = [
                _q(name)
                for name, sql_type, *_ in con.execute(f"DESCRIBE {view}").fetchall()
                if arrays or not sql_type.endswith("[]")
            ]
            limit = "" if wanted else "LIMIT 0"
            sql = f"SELECT {', '.join(cols)} FROM {view} {where} ORDER BY {order} {limit}"
            frames.append(con.execute(sql).df())
    finally:
        con.close()
    return Results(*frames)


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
    cols = [config_column(runs, d) for d in dims]
    dup = runs.duplicated(cols)
    if dup.any():
        example = runs.loc[dup, cols].iloc[0].to_dict()
        raise ValueError(
            f"dims: {', '.join(dims)} do not identify runs uniquely "
            f"(several runs at {example}); add the key that varies, e.g. seed"
        )
    for i, a in enumerate(cols):  # zipped keys would make a mostly empty grid
        for b in cols[i + 1 :]:
            pairs = runs[[a, b]].drop_duplicates()
            if len(pairs) == runs[a].nunique() == runs[b].nunique() > 1:
                raise ValueError(
                    f"dims: {dims[i]} and {dims[cols.index(b)]} vary together (a zipped "
                    f"axis): as two dimensions they would fill {len(pairs)} of "
                    f"{len(pairs) ** 2} cells; give only one of them"
                )
    if variables is None:
        variables = [c for c in numeric_figures(runs) if c not in cols]
    missing = [v for v in variables if v not in runs.columns]
    if missing:
        raise ValueError(f"variables: unknown column(s) {', '.join(missing)}")
    frame = runs.set_index(cols)[list(variables) + ["status"]]
    frame.index = frame.index.set_names(dims)
    import xarray as xr

    ds = xr.Dataset.from_dataframe(frame)
    ds["status"] = ds["status"].astype(str)
    return ds


def numeric_figures(runs: pd.DataFrame) -> list[str]:
    """The runs table's numeric summary columns (config keys and flags left out)."""
    return [
        c
        for c in runs.columns
        if not c.startswith("config.")
        and pd.api.types.is_numeric_dtype(runs[c])
        and not pd.api.types.is_bool_dtype(runs[c])
    ]


def config_column(runs: pd.DataFrame, key: str) -> str:
    for name in (key, f"config.{key}"):
        if name in runs.columns:
            return name
    raise ValueError(f"dims: {key!r} is not a config key of the stored runs")
