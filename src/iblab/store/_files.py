"""One run's file: its table (run row, history, events), written atomically, read back,
named by its config (run_id) and tagged with its draw (draw_id)."""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from iblab.config import ConfigError, fingerprint, flatten

FORMAT = "1"
RUN_ID_LENGTH = 24
INDEX_DIR = "_index"  # the derived index (see _index)
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
# 6: stored names spelt one way (stabilisation_step, stabilisation_time, normalised_margin);
# 5: one decision per instant in the flow; GD diverges past a factor of its start.
NUMBERS = "6"


PROVENANCE_PREFIX = "provenance."


def provenance() -> dict[str, str | None]:
    """What a run's row records of where it came from (the `provenance.*` columns).

    Returns:
        {iblab, commit, numbers, ...}: iblab's version, its git commit (None unless
            imported from a checkout), the version of the numbers configs give (NUMBERS),
            and the jax, numpy and scipy versions (see `iblab.provenance`).
    """
    from iblab.provenance import versions

    v = versions()
    return {"iblab": v["iblab"], "commit": v["commit"], "numbers": NUMBERS} | v


def run_id(config) -> str:
    """The name of a run's result: a prefix of the SHA-256 of its full config and NUMBERS.

    Args:
        config (Config): The run's configuration.

    Returns:
        The run id, RUN_ID_LENGTH hex characters.
    """
    return fingerprint({"config": config.to_dict(), "numbers": NUMBERS})[:RUN_ID_LENGTH]


# The config parts a run trains with; the rest (seed, data, model, init) is its draw.
TRAINING_PARTS = ("train", "record")


def draw_id(config) -> str:
    """The name of a run's draw, its data and initialisation.

    A prefix of the SHA-256 of its config without the training parts (TRAINING_PARTS) and
    of NUMBERS: runs that differ only in train or record keys share it (`iblab.seeding`
    draws nothing from them).

    Args:
        config (Config | dict): The run's configuration, or its `to_dict()`.

    Returns:
        The draw id, RUN_ID_LENGTH hex characters.
    """
    raw = config if isinstance(config, dict) else config.to_dict()
    draw = {k: v for k, v in raw.items() if k not in TRAINING_PARTS}
    return fingerprint({"draw": draw, "numbers": NUMBERS})[:RUN_ID_LENGTH]


def path_for(directory: str | Path, rid: str) -> Path:
    """The path of a run's file in a store: `directory/<rid>.parquet`.

    Args:
        directory: The store.
        rid: The run id.

    Returns:
        The path (which may not exist).
    """
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
    """One run as a table: its `run` row, then its `history` rows, then its `event` rows.

    The run row holds its draw (`draw_id`), the config as JSON (`config`) and flattened
    (`config.*`), where the run came from (`provenance.*`, see `provenance`), the summary,
    and `final`'s values (arrays stored flattened, row-major). History and event columns
    are prefixed `history.` and `event.`.

    Args:
        config: The run's config as `Config.to_dict()`.
        rid: The run id (`run_id`).
        summary: Final figures; `status` becomes the row's status (error when absent).
            Values that are not None, bool, int, float or str are stored as strings.
        history: One row per recorded step, or None.
        message: The run's message (e.g. an error).
        events: Gradient flow: one row per activation switch, or None.
        final: More values for the run row (e.g. the final s, C, a).

    Returns:
        The Arrow table, tagged with its run id.
    """
    row = {"run_id": rid, "kind": "run", "status": summary.get("status", "error")}
    row["message"] = message
    row["draw_id"] = draw_id(config)
    row |= flatten(config, "config.")
    row["config"] = json.dumps(config, sort_keys=True)
    row |= {PROVENANCE_PREFIX + k: v for k, v in provenance().items()}
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


# Column names of the run row that an evaluation may not take (dotted names are reserved
# for the config.*, history.* and event.* columns).
RESERVED = frozenset(
    {"run_id", "draw_id", "kind", "status", "message", "config", "traceback", "s", "C", "a"}
)


def result_table(result, evaluation: dict[str, Any] | None = None) -> pa.Table:
    """A trained run as its table (see `run_table`).

    The final s, C (m, n) and a go in the run row, and C at every record in the history
    column `C` when record.coefficients.

    Args:
        result (TrainResult): The trained run.
        evaluation: More figures of the run: scalars join the run row, arrays with one value
            per recorded step join the history.

    Returns:
        The Arrow table.

    Raises:
        ValueError: An evaluation name shadows a summary figure, a history column or a
            reserved column (or holds a '.'), or an array's length is not the number of
            records.
    """
    history = result.history.copy()
    summary = dict(result.summary)
    if result.coefficients is not None:
        history["C"] = [c.ravel() for c in result.coefficients]
    for name, value in (evaluation or {}).items():
        if name in summary or name in history or name in RESERVED or "." in name:
            raise ValueError(f"evaluate: {name!r} shadows a figure the run already has")
        if np.ndim(value) == 0:
            summary[name] = value if isinstance(value, str) else np.asarray(value).item()
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
    """Write a run's table to its file, atomically.

    The table goes to a temporary file in the same directory, then is renamed, so the file
    is whole or absent.

    Args:
        directory: The store (must exist).
        table: The run's table (`run_table`, `result_table`).

    Returns:
        The file's path.
    """
    return save_run(directory, table)[0]


def save_run(directory: str | Path, table: pa.Table) -> tuple[Path, str]:
    """`write_run`, also returning the stamp of the bytes written (what the index needs).

    Args:
        directory: The store (must exist).
        table: The run's table.

    Returns:
        (path, stamp); see `stamp`.
    """
    rid = table.schema.metadata[_META_RUN_ID].decode()
    final = path_for(directory, rid)
    return final, _write_atomic(table, final)


class StoreWriteError(OSError):
    """Results could not be written; the message says where what was trained went."""


class StoreVersionWarning(UserWarning):
    """A store holds runs written by another iblab version or another version of the
    numbers (NUMBERS): their figures may differ from what this version gives."""


def check_writable(directory: str | Path) -> None:
    """Create a store's directory if needed and check that a file can be written in it.

    Meant to run before any training.

    Args:
        directory: The store.

    Raises:
        ConfigError: One line naming --out: the path is not a directory, or it cannot be
            created or written to.
    """
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
    """Delete temporary files (in the store and its index) whose writer is gone.

    A temporary file is stale when its writer's pid is dead on this host, or when it was
    written from another host more than FOREIGN_TEMP_AGE_S seconds ago.

    Args:
        directory: The store.

    Returns:
        How many files were deleted.
    """
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
    """A file's size and the CRC-32 of its contents: what the index trusts a file by.

    Args:
        path: The file.

    Returns:
        'size:crc32' (CRC-32 as 8 hex digits).
    """
    return _stamp_of(Path(path).read_bytes())


def _stamp_of(data: bytes) -> str:
    return f"{len(data)}:{zlib.crc32(data):08x}"


def read_run(path: Path) -> pa.Table | None:
    """A run's table, read from its file.

    Args:
        path: The run's file (`path_for`).

    Returns:
        The table, or None when the file is unreadable, empty, or not the run its name
            says.
    """
    try:
        table = pq.ParquetFile(path).read()
    except (OSError, pa.ArrowException):
        return None
    kv = table.schema.metadata or {}
    if kv.get(_META_RUN_ID, b"").decode() != path.stem or table.num_rows < 1:
        return None
    return table
