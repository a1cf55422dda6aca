"""The store's derived index: segments of run tables, trusted by each file's stamp."""

from __future__ import annotations

import functools
import os
import time
import uuid
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from iblab.store._files import (
    INDEX_DIR,
    PROVENANCE_PREFIX,
    StoreVersionWarning,
    _is_run_file,
    _write_atomic,
    path_for,
    provenance,
    read_run,
    stamp,
)

# ---------------------------------------------------------------- the index
#
# Opening 10^4 small files costs seconds, so the store keeps a derived index under
# _index/: segments that each hold the tables of some runs, tagged with the stamp (size and
# content checksum) of the file they came from. A run counts when its file exists and an
# index entry matches its stamp; files without one are read and indexed when the store is
# opened. A segment that cannot be read is ignored (and deleted when the store is writable);
# its runs are indexed again from their files. Deleting _index/ is always safe.

MAX_SEGMENTS = 16
_STAMP = "_stamp"
_SEGMENT_COLUMNS = {"run_id", "kind", "status", _STAMP}


def scan(directory: str | Path) -> dict[str, str]:
    """The result files present in a store, with their stamps.

    Args:
        directory: The store; a missing directory holds none.

    Returns:
        run_id -> stamp (size and content checksum, see `stamp`).
    """
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
    """Write one index segment holding the given runs (nothing when there are none).

    Args:
        directory: The store.
        tables: run_id -> (the run's table, the stamp of its file).
    """
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
    _warn_other_versions(con, directory)
    return con


_VERSIONED = ("iblab", "numbers")  # what makes a store's runs comparable


def _warn_other_versions(con, directory: Path) -> None:
    """One StoreVersionWarning when some runs were written by another iblab version or
    another version of the numbers (or before runs recorded them), naming both."""
    columns = {r[0] for r in con.execute("DESCRIBE _all").fetchall()}
    picked = [
        f'"{PROVENANCE_PREFIX}{k}"' if f"{PROVENANCE_PREFIX}{k}" in columns else "NULL"
        for k in _VERSIONED
    ]
    rows = con.execute(
        f"SELECT {picked[0]}::VARCHAR, {picked[1]}::VARCHAR, count(*) FROM _all "
        "WHERE kind = 'run' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    here = provenance()
    current = tuple(here[k] for k in _VERSIONED)
    other = [(v, n) for *v, n in rows if n and tuple(v) != current]
    if not other:
        return
    message = (
        f"store {str(directory)!r}: {sum(n for _, n in other)} of its "
        f"{sum(r[-1] for r in rows)} runs come from {_describe(other)}; this is "
        f"{_describe([(current, None)])}: their figures may differ from what this version "
        "gives for the same config"
    )
    warnings.warn(message, StoreVersionWarning, stacklevel=2)


def _describe(groups) -> str:
    """'iblab 0.1.0, numbers 4 (12 runs)' for each group, joined."""
    parts = []
    for (version, numbers), count in groups:
        where = "no recorded version" if version is None else f"iblab {version}"
        where += "" if numbers is None else f", numbers {numbers}"
        parts.append(where + ("" if count is None else f" ({count} run{'s' * (count != 1)})"))
    return "; ".join(parts)


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
def finished(directory: str | Path, index: bool = True) -> dict[str, str]:
    """The runs with a valid result file, and their statuses.

    Args:
        directory: The store; a missing directory holds none.
        index: Index new files in the store as it is opened (False: read only, the new
            files read in memory).

    Returns:
        run_id -> status.
    """
    if not Path(directory).is_dir():
        return {}
    con = _open(Path(directory), write=index)
    try:
        rows = con.execute("SELECT run_id, status FROM _all WHERE kind = 'run'").fetchall()
    finally:
        con.close()
    return dict(rows)


def _sql_str(s: str) -> str:
    return s.replace("'", "''")
