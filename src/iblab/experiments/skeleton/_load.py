"""A reproduction from where it is declared: a module of iblab (`iblab reproduce NAME`) or
a researcher's Python claims file (`iblab check FILE`); either defines `REPRODUCTION`."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import sys
from pathlib import Path

from ._declare import Reproduction


class ClaimsFileError(ValueError):
    """A claims file that cannot be used: missing, not Python, or without `REPRODUCTION`."""


def from_module(name: str) -> Reproduction:
    """The `REPRODUCTION` of an importable module.

    Args:
        name: The module (e.g. "iblab.experiments.lai2026").

    Returns:
        The reproduction.

    Raises:
        ClaimsFileError: The module declares no `REPRODUCTION`.
    """
    return _checked(importlib.import_module(name), name)


def from_file(path: str | Path) -> Reproduction:
    """The `REPRODUCTION` a Python claims file declares.

    Its `evaluate`, if any, is wrapped so that worker processes load it from the file (a
    function defined in a file that is not on the import path cannot be sent by name).

    Args:
        path: The claims file (.py).

    Returns:
        The reproduction.

    Raises:
        ClaimsFileError: The file is missing, fails to load, or declares no `REPRODUCTION`.
    """
    path = Path(path).resolve()
    rep = _checked(_load(path), str(path))
    if rep.evaluate is None:
        return rep
    return dataclasses.replace(rep, evaluate=FileEvaluate(str(path)))


@dataclasses.dataclass(frozen=True)
class FileEvaluate:
    """The `evaluate` of a claims file's `REPRODUCTION`, loaded from the file where called
    (picklable: worker processes receive the path).

    Attributes:
        path: The claims file.
    """

    path: str

    def __call__(self, result) -> dict:
        """The file's evaluation of one trained run.

        Args:
            result: The trained run (`iblab.TrainResult`).

        Returns:
            More figures of the run, by name.
        """
        return _checked(_load(Path(self.path)), self.path).evaluate(result)


@functools.cache
def _load(path: Path):
    """The claims file as a module (once per process)."""
    if not path.is_file():
        raise ClaimsFileError(f"{path}: no such file")
    if path.suffix != ".py":
        raise ClaimsFileError(f"{path}: a claims file is a Python file (.py)")
    name = f"iblab_claims_file_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ClaimsFileError(f"{path}: {type(e).__name__}: {e}".splitlines()[0]) from e
    return module


def _checked(module, where: str) -> Reproduction:
    rep = getattr(module, "REPRODUCTION", None)
    if not isinstance(rep, Reproduction):
        raise ClaimsFileError(
            f"{where}: declares no REPRODUCTION (an iblab.experiments.Reproduction: settings, "
            "groups, claims, figures)"
        )
    return rep
