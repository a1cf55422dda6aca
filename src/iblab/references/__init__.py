"""Explicit solutions theory predicts, scikit-learn style: `fit(...)` returns self and
fitted attributes end in `_`. All work from Gram blocks (data-span form W = s W_0 + C X).

Shapes: n training points, t test points, m neurons; K = X X^T (n, n), P0 = X W_0^T (n, m),
G0 = W_0 W_0^T (m, m).
"""

from iblab.references.max_margin import MaxMarginLinear, sign_agreement
from iblab.references.min_norm import (
    MinNormLinear,
    PatternQP,
    SingleNeuronQP,
    gap,
    kkt_violations,
    pattern_of,
)

__all__ = [
    "MaxMarginLinear",
    "MinNormLinear",
    "PatternQP",
    "SingleNeuronQP",
    "gap",
    "kkt_violations",
    "pattern_of",
    "sign_agreement",
]
