"""iblab: the implicit bias of gradient descent in two-layer networks, trained in the span
of the data from Gram blocks, at a cost independent of the input dimension."""

import jax

jax.config.update("jax_enable_x64", True)

from iblab.config import Config, ConfigError  # noqa: E402
from iblab.data import make_problem  # noqa: E402
from iblab.diagnostics import Diagnosis, diagnose  # noqa: E402
from iblab.problem import Problem  # noqa: E402
from iblab.store import load  # noqa: E402
from iblab.train import TrainResult, train, train_many  # noqa: E402

__all__ = [
    "Config",
    "ConfigError",
    "Diagnosis",
    "Problem",
    "TrainResult",
    "diagnose",
    "load",
    "make_problem",
    "train",
    "train_many",
]
__version__ = "0.1.0"
