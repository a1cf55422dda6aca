"""The memory a run needs, estimated from its config before anything is allocated.

`check(config)` refuses a run whose estimate exceeds this machine's memory (or
IBLAB_MEMORY_BYTES) with one line naming the field that dominates and, where one exists,
the fix. The estimate counts float64 arrays only: the data (explicit X or Gram blocks),
W_0, the engine's per-run state, and the records.
"""

from __future__ import annotations

import math
import os

from iblab.config import Config, ConfigError

_F64 = 8
_STATE_ARRAYS = 12  # (n, m) arrays the engine holds per run: C, momentum, Z, H, G, ...
_SCALARS_PER_RECORD = 40  # loss, norms, margins, accuracies, the step in Spec.record_at


def available_bytes() -> int:
    """This machine's physical memory in bytes, or IBLAB_MEMORY_BYTES when set.

    Returns:
        The bytes available to a run.

    Raises:
        ConfigError: IBLAB_MEMORY_BYTES is not a number.
    """
    env = os.environ.get("IBLAB_MEMORY_BYTES")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ConfigError(
                f"IBLAB_MEMORY_BYTES: expected a number of bytes such as 4e9, got {env!r}"
            ) from None
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def record_count(config: Config) -> int:
    """About how many steps are recorded (an upper bound on len(record_steps(...))).

    Args:
        config: The run's configuration (record and train.steps).

    Returns:
        The bound.
    """
    rc, steps = config.record, config.train.steps
    if config.train.optimizer == "gradient_flow" or rc.geometric:
        per_decade = rc.per_decade if rc.geometric else 20
        return math.ceil(per_decade * math.log10(max(steps, 10) * 1e3)) + 4
    return steps // rc.every + 4


def estimate(config: Config) -> dict[str, int]:
    """The memory a run needs, in bytes, by the config field that sets each part.

    Counts float64 arrays only: the data (explicit X, W_0), the Gram blocks, the engine's
    per-run state and the records.

    Args:
        config: The run's configuration.

    Returns:
        Field (data.d, data.n, model.width, train.steps) -> bytes.
    """
    data, m = config.data, config.model.width
    n = getattr(data, "n", None) or 0
    n_all = n + getattr(data, "n_test", 0)
    d = getattr(data, "d", None)
    explicit = d is not None and getattr(data, "sample", "explicit") == "explicit"
    parts = {
        "data.d": 2 * _F64 * (n_all + m) * d if explicit else 0,  # X, W_0 and a temporary
        "data.n": _F64 * (n_all * n_all + n_all * m),  # K and P0, with test rows
        "model.width": _F64 * (_STATE_ARRAYS * n * m + m * m),
    }
    per_record = _SCALARS_PER_RECORD + config.record.top_singular_values
    if config.record.coefficients:
        per_record += m * n + m
    parts["train.steps"] = _F64 * record_count(config) * per_record
    return parts


def check(config: Config) -> None:
    """Refuse a run that would not fit in memory (`available_bytes`).

    Args:
        config: The run's configuration.

    Raises:
        ConfigError: One line naming the field that dominates the estimate and, where one
            exists, the fix.
    """
    parts = estimate(config)
    need, have = sum(parts.values()), available_bytes()
    if need <= have:
        return
    field = max(parts, key=parts.get)
    hint = {
        "data.d": "use data.sample: gram (cost independent of d) or a smaller d",
        "train.steps": "record fewer steps (record.every, record.geometric) or fewer steps",
    }.get(field, "use a smaller problem")
    if field == "train.steps" and config.record.coefficients:
        hint = "set record.coefficients: false or record fewer steps"
    raise ConfigError(
        f"{field}: this run needs about {_gb(need)} of memory ({field} = "
        f"{_value(config, field)}), more than the {_gb(have)} available; {hint}"
    )


def _value(config: Config, field: str):
    section, name = field.split(".")
    return getattr(getattr(config, section), name)


def _gb(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"
