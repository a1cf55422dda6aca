"""What every config field shares: bounds, strict numbers, the strict base model, the
error type."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

# Upper bounds: past these a run cannot fit in memory or finish (see iblab.budget for the
# memory a particular config needs, checked before it runs).
MAX_SIZE = 10**7  # n, n_test, width, batch size
MAX_DIMENSION = 10**15  # d (explicit data is bounded far lower, by memory)
MAX_STEPS = 10**9  # train.steps, record.every: hours of training even at n = m = 1
MAX_MAGNITUDE = 1e12  # scales of the data (norms, spikes, label noise) and smoothing
MAX_INIT_SCALE = 1e6
MAX_EXPONENT = 10.0  # spectrum and mean-norm exponents


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # YAML `true` would otherwise be taken as 1
        raise ValueError("expected a number, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Real = Annotated[float, BeforeValidator(_not_bool)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def did_you_mean(name: str, choices) -> str:
    """'; did you mean 'x'?' for the choice closest to a misspelt name, '' when none is
    close (difflib's ratio >= 0.6)."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class ConfigError(ValueError):
    """An invalid configuration (a ValueError); the message is one line naming the field
    and the value."""
