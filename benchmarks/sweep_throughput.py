"""Sweep throughput: runs per second of a 1,000-run sweep, batched vs one run at a time.

n = 50, d = 10^4 (Gram-sampled), m = 64, 500 GD steps, results written to a store in both
modes. `batched`: run_sweep in-process (runs of one shape batched, up to 32 per compiled
call, the calls side by side on the cores);
`one at a time`: train(config) per run, then the same write. Compilation is excluded
(one warm-up run of each shape first). Prints a table, writes JSON.
Run: python -m benchmarks.sweep_throughput [--runs 1000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from iblab import store, train
from iblab.sweep import expand, parse_sweep, run_sweep


def sweep(runs: int):
    return parse_sweep(
        {
            "base": {
                "data": {"kind": "gaussian", "n": 50, "d": 10_000, "sample": "gram"},
                "model": {"width": 64},
                "init": {"scale": 1e-3},
                "train": {"lr": 1e-2, "steps": 500},
                "record": {"every": 50},
            },
            "grid": {"train.lr": [1e-3, 2e-3, 5e-3, 1e-2]},
            "seeds": runs // 4,
        }
    )


def one_at_a_time(configs, out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for c in configs:
        r = train(c)
        rid = store.run_id(c)
        store.write_run(out, store.run_table(c.to_dict(), rid, r.summary, r.history))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/sweep_throughput.json")
    )
    args = parser.parse_args()
    configs = expand(sweep(args.runs))
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        run_sweep(configs[:64], warm)  # compile the batched program (32 runs per call)
        train(configs[0])  # and the single-run program
        t0 = time.perf_counter()
        progress = run_sweep(configs, Path(tmp) / "batched")
        batched_s = time.perf_counter() - t0
        single_s = one_at_a_time(configs, Path(tmp) / "single")
    rows = [
        {"mode": "local, batched (vmap 32)", "runs": len(configs), "seconds": batched_s},
        {"mode": "one run at a time", "runs": len(configs), "seconds": single_s},
    ]
    print(f"{'mode':<26} {'runs':>6} {'seconds':>9} {'runs/s':>8}")
    for r in rows:
        r["runs_per_s"] = r["runs"] / r["seconds"]
        print(f"{r['mode']:<26} {r['runs']:>6} {r['seconds']:>9.2f} {r['runs_per_s']:>8.1f}")
    speedup = rows[0]["runs_per_s"] / rows[1]["runs_per_s"]
    print(f"batched is {speedup:.1f}x one at a time; statuses {dict(progress.statuses)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.machine(), "cpus": len(os.sched_getaffinity(0))}
    args.out.write_text(
        json.dumps({"machine": machine, "rows": rows, "speedup": speedup}, indent=2)
    )


if __name__ == "__main__":
    main()
