"""A results store that needs no server: a directory of Parquet files, one per finished run.

A run's file is named by a hash of its full config (`run_id`). It holds one table: a `run`
row (run_id, status, message, draw_id, the flattened config as `config.*` columns, the
config as JSON, where the run came from as `provenance.*` columns, the summary figures)
followed by one `history` row per recorded step (columns `history.*`). `draw_id` names the
run's draw (data and initialisation): runs that differ only in train or record keys share
it, so `GROUP BY draw_id` pairs them. A file is written under a temporary name and
renamed, so it is whole or absent. Opening a store that holds runs of another iblab or
numbers version warns once (StoreVersionWarning).

DuckDB reads the directory with the views `runs` and `history`; `load` returns pandas frames.
"""

from iblab.store._files import (
    EVENT_PREFIX,
    FOREIGN_TEMP_AGE_S,
    FORMAT,
    HISTORY_PREFIX,
    NUMBERS,
    PROVENANCE_PREFIX,
    RUN_ID_LENGTH,
    TRAINING_PARTS,
    StoreVersionWarning,
    StoreWriteError,
    check_writable,
    draw_id,
    path_for,
    provenance,
    read_run,
    remove_stale_temporaries,
    result_table,
    run_id,
    run_table,
    save_run,
    stamp,
    write_run,
)
from iblab.store._index import INDEX_DIR, MAX_SEGMENTS, add_to_index, finished, scan
from iblab.store._query import (
    Results,
    config_column,
    connect,
    load,
    numeric_figures,
    query,
    summarize,
    to_xarray,
    varying_keys,
)

__all__ = [
    "EVENT_PREFIX",
    "FOREIGN_TEMP_AGE_S",
    "FORMAT",
    "HISTORY_PREFIX",
    "INDEX_DIR",
    "MAX_SEGMENTS",
    "NUMBERS",
    "PROVENANCE_PREFIX",
    "RUN_ID_LENGTH",
    "Results",
    "StoreVersionWarning",
    "StoreWriteError",
    "TRAINING_PARTS",
    "add_to_index",
    "check_writable",
    "config_column",
    "connect",
    "draw_id",
    "finished",
    "load",
    "numeric_figures",
    "path_for",
    "provenance",
    "query",
    "read_run",
    "remove_stale_temporaries",
    "result_table",
    "run_id",
    "run_table",
    "save_run",
    "scan",
    "stamp",
    "summarize",
    "to_xarray",
    "varying_keys",
    "write_run",
]
