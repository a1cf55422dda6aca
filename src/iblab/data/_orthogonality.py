"""Near-orthogonality of a training set, read off its Gram matrix."""

from __future__ import annotations

import numpy as np


def near_orthogonality(K: np.ndarray, gamma: float = 1.0) -> dict[str, float]:
    """Norm and correlation facts of n inputs from K = X X^T, without bias augmentation.

    Frei et al. (ICLR 2023) assume near-orthogonal data: gamma^3 R_min^4 >= C n R_max^2 p for a
    large constant C, with R_min = min_i ||x_i||, R_max = max_i ||x_i||,
    `p = max_{i != k} |<x_i, x_k>|` and gamma the leaky-ReLU slope.

    Args:
        K: X X^T (n, n).
        gamma: The leaky-ReLU slope (1 for other activations).

    Returns:
        {R_min, R_max, p_max, orthogonality_ratio}, floats, with orthogonality_ratio =
            gamma^3 R_min^4 / (3 n R_max^2 p), which that condition asks to be at least
            1 / (a large constant); inf when p = 0 (exactly orthogonal data or n = 1).
    """
    K = np.asarray(K, dtype=np.float64)
    n = K.shape[0]
    norms = np.sqrt(np.clip(np.diag(K), 0.0, None))
    off = np.abs(K - np.diag(np.diag(K)))
    p = float(off.max()) if n > 1 else 0.0
    r_min, r_max = float(norms.min()), float(norms.max())
    numerator = gamma**3 * r_min**4
    ratio = numerator / (3.0 * n * r_max**2 * p) if p > 0 else float("inf")
    return {"R_min": r_min, "R_max": r_max, "p_max": p, "orthogonality_ratio": float(ratio)}
