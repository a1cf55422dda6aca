"""Explicit solutions theory predicts, scikit-learn style: `fit(...)` returns self and
fitted attributes end in `_`."""

from iblab.references.max_margin import MaxMarginLinear, sign_agreement

__all__ = ["MaxMarginLinear", "sign_agreement"]
