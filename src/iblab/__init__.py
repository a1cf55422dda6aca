"""iblab: the implicit bias of gradient descent in two-layer networks, trained in the span
of the data from Gram blocks, at a cost independent of the input dimension.

The names below are imported on first use, so `import iblab` (and `iblab --version` or
`--help`) loads neither JAX nor pandas."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {  # name -> the module that defines it
    "Config": "iblab.config",
    "ConfigError": "iblab.config",
    "Diagnosis": "iblab.diagnostics",
    "Problem": "iblab.problem",
    "TrainResult": "iblab.training",
    "diagnose": "iblab.diagnostics",
    "load": "iblab.store",
    "make_problem": "iblab.data",
    "train": "iblab.training",
    "train_many": "iblab.training",
}
_MODULES = ("claims", "compare")  # public submodules, imported on first use as iblab.NAME
__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and the API docs (`as`: re-exported)
    from iblab.config import Config as Config
    from iblab.config import ConfigError as ConfigError
    from iblab.data import make_problem as make_problem
    from iblab.diagnostics import Diagnosis as Diagnosis
    from iblab.diagnostics import diagnose as diagnose
    from iblab.problem import Problem as Problem
    from iblab.store import load as load
    from iblab.training import TrainResult as TrainResult
    from iblab.training import train as train
    from iblab.training import train_many as train_many


def __getattr__(name: str):
    """Import an exported name's module (or a public submodule) when first used."""
    if name in _MODULES:
        return importlib.import_module(f"iblab.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'iblab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_MODULES))
