"""Seeds derived from a run's own config, never from its position in a batch.

Each random stream (data, init, batches) hashes only the config parts it depends on, so
changing the step size keeps the data and the initialisation, and changing the width keeps
the data. Two keys shape a run without changing any draw, so no stream hashes them:
init.scale (W_0 is linear in its scale, so runs that differ only in scale share one initial
direction) and data.labels.condition (applied to the drawn targets afterwards).
"""

from __future__ import annotations

import numpy as np

from iblab.config import Config, fingerprint

# The config parts each stream depends on (besides the top-level seed).
STREAM_PARTS: dict[str, tuple[str, ...]] = {
    "data": ("seed", "data"),
    "init": ("seed", "data", "model", "init"),
    "batches": ("seed", "data", "model", "init", "train"),
}
NOT_DRAWN = (("init", "scale"), ("data", "labels", "condition"))


def rng_for(config: Config, stream: str) -> np.random.Generator:
    """A numpy Generator for one named stream of one run."""
    parts = config.to_dict()
    for *path, key in NOT_DRAWN:
        node = parts
        for step in path:
            node = node.get(step, {})
        node.pop(key, None)
    digest = fingerprint({k: parts[k] for k in STREAM_PARTS[stream]})
    entropy = [int(digest[i : i + 8], 16) for i in range(0, 32, 8)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def jax_seed_for(config: Config, stream: str) -> int:
    """A 32-bit integer seed for jax.random.key, from the same derivation."""
    return int(rng_for(config, stream).integers(0, 2**31 - 1))
