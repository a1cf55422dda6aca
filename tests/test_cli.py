"""The command line: a run writes its results; bad input is one line and exit status 2."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from iblab.cli import app

SMALL = {
    "seed": 0,
    "data": {"kind": "gaussian", "n": 8, "d": 40, "n_test": 4},
    "model": {"width": 6},
    "train": {"lr": 0.01, "steps": 20},
    "record": {"every": 10},
}


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_run_writes_history_and_summary(config_file, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", config_file, "--out", out, "--set", "train.steps=30")
    assert result.exit_code == 0, result.output
    assert "status" in result.output
    history = pd.read_parquet(out / "history.parquet")
    assert history.step.iloc[-1] == 30
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["train"]["steps"] == 30
    assert summary["summary"]["status"] == "max_steps"


@pytest.mark.parametrize(
    "override,named",
    [
        ("data.n=0", "data.n"),
        ("data.d=0", "data.d"),
        ("model.width=0", "model.width"),
        ("train.lr=0", "train.lr"),
        ("train.lr=-1", "train.lr"),
        ("model.slope=1.5", "model.slope"),
        ("model.activation=tanh", "model.activation"),
        ("train.loss=cross_entropy", "train.loss"),
        ("data.kind=file", "data.path"),
        ("data={kind: file, path: missing.npz}", "data.path"),
        ("model.colour=red", "model.colour"),
        ("train.steps", "--set"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(config_file, tmp_path, override, named):
    out = tmp_path / "out"
    result = invoke("run", config_file, "--set", override, "--out", out)
    assert result.exit_code == 2
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert named in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()  # rejected before any work


def test_missing_config_file(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "nope.yaml" in result.output


def test_nan_in_user_data_is_rejected(tmp_path, config_file):
    X = np.ones((5, 3))
    X[2, 1] = np.nan
    np.savez(tmp_path / "data.npz", X=X, y=np.ones(5))
    result = invoke(
        "run", config_file, "--set", f"data={{kind: file, path: {tmp_path / 'data.npz'}}}"
    )
    assert result.exit_code == 2
    assert "data.path" in result.output and "NaN" in result.output


def test_unknown_reproduction():
    result = invoke("reproduce", "smith1999")
    assert result.exit_code == 2
    assert "smith1999" in result.output


def test_import_iblab_loads_no_heavy_optional_library():
    import subprocess
    import sys

    heavy = ["sklearn", "cvxpy", "duckdb", "matplotlib", "dask", "distributed"]
    code = f"import sys, iblab; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
