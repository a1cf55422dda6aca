"""Seeds derived from a run's own config, never from its position in a batch.

Each random stream (data, init, batches) hashes only the config parts it depends on, so
changing the step size keeps the data and the initialisation, and changing the width keeps
the data. The init stream leaves out init.scale: W_0 is linear in its scale, so runs that
differ only in scale share one initial direction.
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


def rng_for(config: Config, stream: str) -> np.random.Generator:
    """A numpy Generator for one named stream of one run."""
    parts = config.to_dict()
    if stream == "init":
        del parts["init"]["scale"]
    digest = fingerprint({k: parts[k] for k in STREAM_PARTS[stream]})
    entropy = [int(digest[i : i + 8], 16) for i in range(0, 32, 8)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def jax_seed_for(config: Config, stream: str) -> int:
    """A 32-bit integer seed for jax.random.key, from the same derivation."""
    return int(rng_for(config, stream).integers(0, 2**31 - 1))
