"""GD at three step sizes against the exact gradient flow, on the same draws: how far GD's
first layer ends from the flow's, ||W_GD - W_flow||_F / ||W_flow - W_0||_F, against d.

Run: python docs/examples/gd_vs_flow.py   (IBLAB_EXAMPLE_QUICK=1 for a seconds-long version)
"""

import os
import tempfile
from pathlib import Path

from iblab import compare
from iblab.figures import pyplot
from iblab.sweep import parse_sweep, run_sweep

quick = os.environ.get("IBLAB_EXAMPLE_QUICK") == "1"
sweep = parse_sweep(
    {
        "base": {
            "data": {"n": 10 if quick else 40, "sample": "gram"},
            "model": {"width": 8 if quick else 32},
            "init": {"scale": 0.1},
            # GD's keys; flow runs drop them, since the sweep varies the optimiser.
            "train": {
                "lr_scale": "n_over_norm_K",
                "steps": 10**4 if quick else 10**5,
                "tol": 1e-10,
            },
        },
        "grid": {
            "train.optimizer": ["gd", "gradient_flow"],
            "train.lr": [1.0, 0.3, 0.1],  # the step is lr * n / ||K||_2; the flow has none
            "data.d": [20, 100, 1000] if quick else [10**2, 10**3, 10**4, 10**5],
        },
        "seeds": 3 if quick else 10,
    }
)
out = Path(tempfile.mkdtemp())
run_sweep(sweep, out)  # on each draw (d, seed): three GD runs and one flow run

pairs = compare.distances(out, "train.optimizer == 'gradient_flow'")
bands = (
    pairs.groupby(["config.train.lr", "config.data.d"])
    .relative_distance.quantile([0.25, 0.5, 0.75])
    .unstack()
)
print(bands)

plt = pyplot()
fig, ax = plt.subplots(figsize=(3.4, 2.4))
for lr, band in bands.groupby(level=0):
    d = band.index.get_level_values(1)
    (line,) = ax.plot(d, band[0.5], marker="o", label=f"GD, lr = {lr:g}")  # median over seeds
    ax.fill_between(d, band[0.25], band[0.75], color=line.get_color(), alpha=0.25)  # quartiles
ax.set(xscale="log", yscale="log", xlabel="d", ylabel="distance to the flow (relative)")
ax.legend()
fig.savefig(out / "gd_vs_flow.png")
print(f"wrote {out / 'gd_vs_flow.png'}")
