"""Explicit solutions theory predicts, scikit-learn style: `fit(...)` returns self and
fitted attributes end in `_`. All work from Gram blocks (data-span form W = s W_0 + C X)."""

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
