"""Which steps get recorded."""

from __future__ import annotations

import numpy as np

from iblab.config import RecordConfig


def record_steps(record: RecordConfig, steps: int) -> np.ndarray:
    """Sorted unique steps: 0, 1, 2, then every `every` (or `per_decade` log-spaced per
    decade), and `steps` itself; all within [0, steps]. Shape (R,), int64."""
    base = [0, 1, 2, steps]
    if record.geometric:
        decades = np.log10(max(steps, 1))
        grid = np.logspace(0, decades, int(np.ceil(decades * record.per_decade)) + 1)
        extra = np.round(grid).astype(np.int64)
    else:
        extra = np.arange(0, steps + 1, record.every, dtype=np.int64)
    out = np.unique(np.concatenate([np.asarray(base, dtype=np.int64), extra]))
    return out[(out >= 0) & (out <= steps)]
