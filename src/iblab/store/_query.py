"""Reading a store: DuckDB views and tables, pandas frames, xarray grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa

from iblab.store._files import EVENT_PREFIX, HISTORY_PREFIX
from iblab.store._index import _open, _retrying

# ---------------------------------------------------------------- queries


def connect(directory: str | Path, read_only: bool = False):
    """A DuckDB connection to a store with the views `runs`, `history` and `events`.

    `runs` has one row per run, `history` one per recorded step (run_id, step, figures),
    `events` the activation switches of gradient-flow runs (run_id, time, point, neuron,
    direction, kind). Opening the store indexes new files. Close the connection when done.

    Args:
        directory: The store.
        read_only: Make the three in-memory tables and cut the connection off from every
            file (DuckDB's enable_external_access = false, locked): no COPY ... TO, no
            reading files outside the store, no ATTACH, no extension installs; the store is
            not even indexed.

    Returns:
        (duckdb.DuckDBPyConnection): The connection.
    """
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


@_retrying
def query(directory: str | Path, sql: str) -> pd.DataFrame:
    """Run SQL over a store's tables `runs`, `history` and `events`, read-only.

    Args:
        directory: The store.
        sql: The query (DuckDB SQL; see `connect` for the tables).

    Returns:
        The result as a DataFrame.
    """
    con = connect(directory, read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


class Results(NamedTuple):
    """A store's runs as pandas DataFrames, from `load`.

    Attributes:
        runs: One row per run (run_id, status, message, draw_id, `config.*`, `provenance.*`,
            summary figures).
        history: One row per recorded step of each run (run_id, step, figures), sorted by
            run_id and step.
    """

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

    Args:
        directory: The store.
        arrays: Keep the array columns (the final C and a, the recorded C; numpy arrays,
            flattened row-major).
        run_ids: Only these runs; None for all.
        runs: False: history only (runs is empty).

    Returns:
        Results(runs, history).
    """
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
    """How many runs a store holds per status.

    Args:
        directory: The store.

    Returns:
        A DataFrame with columns status and runs, sorted by status.
    """
    return query(
        directory, "SELECT status, count(*) AS runs FROM runs GROUP BY status ORDER BY status"
    )


def to_xarray(
    directory: str | Path,
    dims: list[str],
    variables: list[str] | None = None,
):
    """The runs of a dense grid as an xarray Dataset with one dimension per config key.

    Grid points without a run are NaN. Write NetCDF with `.to_netcdf(path)`.

    Args:
        directory: The store.
        dims: Config keys ('data.d' or 'config.data.d'); together they must identify each
            run (add 'seed' for several seeds).
        variables: Summary columns; None for every numeric one (`numeric_figures`).

    Returns:
        (xarray.Dataset): The variables and `status`, indexed by dims.

    Raises:
        ValueError: dims do not identify runs uniquely (the message names the key that
            varies), two dims vary together, or a dim or variable is unknown.
        ImportError: xarray is not installed (the message gives the install command).
    """
    xr = _xarray()
    runs = load(directory).runs
    cols = [config_column(runs, d) for d in dims]
    dup = runs.duplicated(cols)
    if dup.any():
        example = runs.loc[dup, cols].iloc[0].to_dict()
        varying = varying_keys(runs, cols)
        fix = (
            f"add the key that varies among them: {', '.join(varying)}"
            if varying
            else "their configs are equal: they come from other numbers versions "
            "(provenance.numbers); keep one version's runs"
        )
        raise ValueError(
            f"dims: {', '.join(dims)} do not identify runs uniquely "
            f"(several runs at {example}); {fix}"
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
    ds = xr.Dataset.from_dataframe(frame)
    ds["status"] = ds["status"].astype(str)
    return ds


def varying_keys(runs: pd.DataFrame, cols: list[str]) -> list[str]:
    """The config keys whose values differ between runs that share the values of cols.

    Args:
        runs: A runs table (`load`).
        cols: Column names to group by.

    Returns:
        The keys, without the `config.` prefix, most often differing first.
    """
    keys = [c for c in runs.columns if c.startswith("config.") and c not in cols]
    if not keys:
        return []
    counts = runs[cols + keys].astype(str).groupby(cols, dropna=False).nunique()
    spread = (counts > 1).sum()
    return [
        k.removeprefix("config.")
        for k in spread[spread > 0].sort_values(ascending=False, kind="stable").index
    ]


NETCDF_HINT = 'pip install "iblab[netcdf]"'


def _xarray():
    """The xarray module; ImportError naming the install command when it is missing."""
    try:
        import xarray
    except ImportError:
        raise ImportError(
            f"xarray is not installed (to_xarray and NetCDF export need it): {NETCDF_HINT}"
        ) from None
    return xarray


def numeric_figures(runs: pd.DataFrame) -> list[str]:
    """The runs table's numeric summary columns (config keys and flags left out).

    Args:
        runs: A runs table (`load`).

    Returns:
        The column names, in table order.
    """
    return [
        c
        for c in runs.columns
        if not c.startswith("config.")
        and pd.api.types.is_numeric_dtype(runs[c])
        and not pd.api.types.is_bool_dtype(runs[c])
    ]


def config_column(runs: pd.DataFrame, key: str) -> str:
    """The runs table's column for a config key, given with or without `config.`.

    Args:
        runs: A runs table (`load`).
        key: A key such as 'data.d', 'config.data.d' or 'seed'.

    Returns:
        The column name.

    Raises:
        ValueError: No such column.
    """
    for name in (key, f"config.{key}"):
        if name in runs.columns:
            return name
    raise ValueError(f"dims: {key!r} is not a config key of the stored runs")
