"""iblab: the implicit bias of gradient descent in two-layer networks, trained in the span
of the data from Gram blocks, at a cost independent of the input dimension."""

from iblab.config import Config, ConfigError
from iblab.data import make_problem
from iblab.diagnostics import Diagnosis, diagnose
from iblab.problem import Problem
from iblab.store import load
from iblab.training import TrainResult, train, train_many

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
