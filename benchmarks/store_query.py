"""Store query time with 10^4 runs: open the directory and answer SQL.

Writes N synthetic runs (13 history rows each) as a sweep does (files, then the index from
memory), then times: open + one SQL query over `runs` and one over `history` (warm index,
median of 5), iblab.load, and opening with the index deleted (every file read once).
Run: python -m benchmarks.store_query [--runs 10000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from iblab import Config, store

SQL = [
    'SELECT "config.train.lr" AS lr, avg(loss) AS loss, count(*) AS runs FROM runs GROUP BY lr',
    "SELECT step, avg(loss) AS loss FROM history GROUP BY step ORDER BY step",
]


def populate(directory: Path, runs: int) -> float:
    base = Config.model_validate({"data": {"n": 50, "d": 10_000}, "model": {"width": 64}})
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    tables = {}
    for i in range(runs):
        c = base.model_copy(update={"seed": i // 4})
        c = Config.model_validate(c.to_dict() | {"train": {"lr": [0.25, 0.5, 1.0, 2.0][i % 4]}})
        h = pd.DataFrame({"step": np.arange(0, 501, 50), "loss": rng.random(11)})
        summary = {"status": "max_steps", "loss": float(h.loss.iloc[-1]), "wall_time_s": 0.01}
        rid = store.run_id(c)
        table = store.run_table(c.to_dict(), rid, summary, h)
        tables[rid] = (table, store.save_run(directory, table)[1])
    store.add_to_index(directory, tables)
    return time.perf_counter() - t0


def open_and_query(directory: Path) -> float:
    t0 = time.perf_counter()
    con = store.connect(directory)
    for sql in SQL:
        con.execute(sql).fetchall()
    con.close()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/store_query.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_s = populate(d, args.runs)
        warm = [open_and_query(d) for _ in range(5)]
        t0 = time.perf_counter()
        loaded = store.load(d)
        load_s = time.perf_counter() - t0
        shutil.rmtree(d / store.INDEX_DIR)
        cold_s = open_and_query(d)
    rows = {
        "runs": args.runs,
        "history_rows": len(loaded.history),
        "write_s": write_s,
        "open_and_query_s_median": statistics.median(warm),
        "open_and_query_s_all": warm,
        "load_s": load_s,
        "open_without_index_s": cold_s,
    }
    for k, v in rows.items():
        print(f"{k:<28} {v:.3f}" if isinstance(v, float) else f"{k:<28} {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.machine(), "cpus": len(os.sched_getaffinity(0))}
    args.out.write_text(json.dumps({"machine": machine, **rows}, indent=2))


if __name__ == "__main__":
    main()
