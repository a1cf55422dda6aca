"""A user's arrays from disk: .npz (keys X, y, optional X_test, y_test), or .npy, .csv,
.parquet holding one 2-D table whose last column is y (a .csv may have a header row,
recognised by a non-numeric entry in the first row). The label is the last column whatever
the header calls it; a header that names another column as the label (y, label, target,
class) and not the last is refused rather than read with the wrong column as y.

data.test_path, in any of these formats, holds the test set (a .npz there uses keys X, y).
Everything is checked: NaN or inf, X not 2-D, y length, test columns; row numbers in the
messages count from 0.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from iblab.config import ConfigError, FileData
from iblab.data._dataset import Dataset

_SUFFIXES = (".npz", ".npy", ".csv", ".parquet")


def _as_float(value, name: str, field: str, path: Path) -> np.ndarray:
    if np.iscomplexobj(value):
        raise ConfigError(
            f"{field}: {name} holds complex values (file {str(path)!r}); iblab trains on real data"
        )
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"{field}: {name} holds non-numeric values (file {str(path)!r}): {e}"
        ) from None


def _is_numeric(row: pd.Series) -> bool:
    try:
        row.astype(np.float64)
    except (ValueError, TypeError):
        return False
    return True


LABEL_NAMES = ("y", "label", "labels", "target", "class")


def _check_label_last(columns, field: str, path: Path) -> None:
    """ConfigError when a table's header names a column other than the last as the label
    (and not the last one too)."""
    names = [n.strip().lower() if isinstance(n, str) else n for n in columns]
    if not names or names[-1] in LABEL_NAMES:
        return
    for i, name in enumerate(list(columns)[:-1]):
        if isinstance(name, str) and name.strip().lower() in LABEL_NAMES:
            raise ConfigError(
                f"{field}: the label is a table's last column, but the header names column "
                f"{i} {name!r} (file {str(path)!r}); move that column last"
            )


def _load(path: Path, suffix: str):
    """The raw content of a file: a dict of arrays (.npz), an array (.npy) or a table."""
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".csv":
        frame = pd.read_csv(path, header=None)
        if not _is_numeric(frame.iloc[0]):
            frame = pd.read_csv(path, header=0)  # the first row is a header
        return frame
    return pd.read_parquet(path)


def _split_table(table: np.ndarray, field: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if table.ndim != 2 or table.shape[1] < 2:
        raise ConfigError(
            f"{field}: expected a 2-D table with features and a last column y, got shape "
            f"{table.shape} (file {str(path)!r})"
        )
    return table[:, :-1], table[:, -1]


def read_arrays(path: Path, field: str) -> dict[str, np.ndarray]:
    """The arrays of one file, in float64.

    A .npz gives its keys X, y (required), X_test and y_test; a .npy, .csv or .parquet table
    gives X (all columns but the last) and y (the last). A .csv's first row is a header when
    it holds a non-numeric entry.

    Args:
        path: The file (.npz, .npy, .csv or .parquet).
        field: The config field it came from (e.g. "data.path"), for the messages.

    Returns:
        The arrays by name (X, y and, from a .npz, X_test, y_test), not yet checked.

    Raises:
        ConfigError: An unsupported suffix; the file cannot be read; a .npz lacks X or y;
            non-numeric or complex values; a table that is not 2-D with at least two
            columns, or whose header names a column other than the last as the label.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(
            f"{field}: unsupported file type {suffix!r} (expected one of "
            f"{', '.join(_SUFFIXES)}): {str(path)!r}"
        )
    try:
        raw = _load(path, suffix)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # incl. parse errors
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ConfigError(f"{field}: cannot read {str(path)!r}: {reason}") from None
    if isinstance(raw, dict):
        missing = [k for k in ("X", "y") if k not in raw]
        if missing:
            raise ConfigError(
                f"{field}: .npz file lacks key(s) {missing}, has {sorted(raw)} (file {str(path)!r})"
            )
        keys = [k for k in ("X", "y", "X_test", "y_test") if k in raw]
        return {k: _as_float(raw[k], k, field, path) for k in keys}
    if isinstance(raw, pd.DataFrame):
        _check_label_last(raw.columns, field, path)
        raw = raw.to_numpy()
    X, y = _split_table(_as_float(raw, "the table", field, path), field, path)
    return {"X": X, "y": y}


def _check_finite(name: str, value: np.ndarray, field: str, path: Path) -> None:
    bad = np.argwhere(~np.isfinite(value))
    if bad.size:
        first = tuple(bad[0])
        what = "NaN" if np.isnan(value[first]) else "inf"
        raise ConfigError(f"{field}: {name} contains {what} at row {first[0]} (file {str(path)!r})")


def _check_pair(
    X: np.ndarray, y: np.ndarray, names: tuple[str, str], field: str, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    x_name, y_name = names
    if X.ndim != 2:
        raise ConfigError(
            f"{field}: {x_name} must be 2-D, got shape {X.shape} (file {str(path)!r})"
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ConfigError(
            f"{field}: {y_name} has shape {y.shape} but {x_name} has {X.shape[0]} rows "
            f"(file {str(path)!r})"
        )
    _check_finite(x_name, X, field, path)
    _check_finite(y_name, y, field, path)
    return X, y


def file_dataset(data: FileData) -> Dataset:
    """The training and test sets of data.path (and data.test_path), validated.

    Test data come from X_test, y_test in a .npz path, or from test_path; neither gives an
    empty test set.

    Args:
        data: The data config.

    Returns:
        The Dataset; info holds d and tr_sigma, the mean ||x_i||^2.

    Raises:
        ConfigError: As `read_arrays`, and when X is not 2-D or empty, y's length is not
            X's rows, an array holds NaN or inf (the row is named, counting from 0), test
            data are given twice or half, or the test columns differ from X's.
    """
    main = read_arrays(data.path, "data.path")
    X, y = _check_pair(main["X"], main["y"], ("X", "y"), "data.path", data.path)
    if X.shape[0] == 0 or X.shape[1] == 0:
        what = "rows" if X.shape[0] == 0 else "columns (features)"
        raise ConfigError(f"data.path: X has no {what} (file {str(data.path)!r})")
    has_inline_test = "X_test" in main or "y_test" in main
    if has_inline_test and data.test_path is not None:
        raise ConfigError(
            f"data.test_path: {str(data.path)!r} already holds X_test/y_test; give test data "
            "in one place only"
        )
    if has_inline_test:
        if "X_test" not in main or "y_test" not in main:
            raise ConfigError(f"data.path: X_test and y_test go together (file {str(data.path)!r})")
        field, path = "data.path", data.path
        X_test, y_test = main["X_test"], main["y_test"]
        names = ("X_test", "y_test")
    elif data.test_path is not None:
        field, path = "data.test_path", data.test_path
        test = read_arrays(path, field)
        X_test, y_test = test["X"], test["y"]
        names = ("X", "y")
    else:
        field, path, names = "data.path", data.path, ("X_test", "y_test")
        X_test, y_test = np.zeros((0, X.shape[1])), np.zeros(0)
    X_test, y_test = _check_pair(X_test, y_test, names, field, path)
    if X_test.shape[1] != X.shape[1]:
        raise ConfigError(
            f"{field}: {names[0]} has {X_test.shape[1]} columns but X has {X.shape[1]} "
            f"(file {str(path)!r})"
        )
    info = {"d": float(X.shape[1]), "tr_sigma": float(np.mean(np.sum(X * X, axis=1)))}
    return Dataset(X, y, X_test, y_test, info)
