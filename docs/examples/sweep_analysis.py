"""A sweep and its analysis: expand a grid, run it into a store, read it with pandas and xarray.

Run: python docs/examples/sweep_analysis.py   (IBLAB_EXAMPLE_QUICK=1 for a seconds-long version)
"""

import os
import tempfile

import iblab
from iblab import store
from iblab.sweep import parse_sweep, run_sweep

quick = os.environ.get("IBLAB_EXAMPLE_QUICK") == "1"
sweep = parse_sweep(
    {
        "base": {
            "data": {"kind": "gaussian", "n": 20 if quick else 100, "sample": "gram"},
            "model": {"width": 16 if quick else 256},
            "init": {"scale": 1e-3},
            "train": {"lr": 1.0, "lr_scale": "n_over_norm_K", "steps": 200 if quick else 4000},
        },
        "grid": {"data.d": [100, 1000, 10000] if quick else [10**3, 10**4, 10**5, 10**6]},
        "seeds": 2 if quick else 5,
    }
)
out = tempfile.mkdtemp()
progress = run_sweep(sweep, out)  # re-running skips stored runs: an interrupted sweep resumes
print(f"{progress.done} runs, statuses {dict(progress.statuses)}")

# pandas: one row per run, config keys as columns.
runs, history = iblab.load(out)
print(runs.groupby("config.data.d")["loss"].median())

# SQL over the same store (read-only).
print(store.query(out, 'SELECT "config.data.d" AS d, max(step) AS last FROM history '
                       "JOIN runs USING (run_id) GROUP BY d ORDER BY d"))  # fmt: skip

# xarray: one dimension per grid key.
ds = store.to_xarray(out, ["data.d", "seed"], variables=["loss", "weight_norm"])
print(ds["weight_norm"].median("seed").to_series())
