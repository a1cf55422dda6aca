"""Train on your own data: arrays in a file, a config that points at it, the result's W.

Run: python docs/examples/own_data.py   (IBLAB_EXAMPLE_QUICK=1 for a seconds-long version)
"""

import os
import tempfile
from pathlib import Path

import numpy as np

import iblab

quick = os.environ.get("IBLAB_EXAMPLE_QUICK") == "1"
n, d = (40, 200) if quick else (200, 5000)

# Your data: any (n, d) inputs and labels, saved as .npz (or .npy, .csv, .parquet).
rng = np.random.default_rng(0)
X = rng.normal(size=(n, d))
y = np.sign(X[:, 0] + 0.5 * X[:, 1])
X_test = rng.normal(size=(n, d))
folder = Path(tempfile.mkdtemp())
np.savez(
    folder / "mine.npz", X=X, y=y, X_test=X_test, y_test=np.sign(X_test[:, 0] + 0.5 * X_test[:, 1])
)

config = iblab.Config.from_dict(
    {
        "data": {"kind": "file", "path": str(folder / "mine.npz")},
        "model": {"width": 64, "activation": "leaky_relu", "slope": 0.1},
        "init": {"scale": 0.01},
        "train": {"loss": "logistic", "lr": 1.0, "lr_scale": "n_over_norm_K", "steps": 2000},
        "record": {"every": 100, "spectrum": True},
    }
)
print("data identity:", config.data.sha256[:12])  # the file's contents are part of the run id

result = iblab.train(config)
print(result.history[["step", "loss", "accuracy", "test_accuracy", "stable_rank"]].tail(3))
print({k: result.summary[k] for k in ("status", "normalised_margin", "lr_effective")})

W = result.W  # (m, d), formed from the span coefficients: W = s W_0 + C X
print("W:", W.shape, "stable rank from NumPy:", np.sum(W**2) / np.linalg.norm(W, 2) ** 2)
