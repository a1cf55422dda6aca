"""A reproduction is a sweep into a store: killed with SIGKILL and resumed on Dask, it
finishes with the claims of an uninterrupted local run without training stored runs again
(so Dask gives the local claims); `iblab query` reads its runs. On `iblab reproduce kou2023
--quick` made smaller by `--set` (both data sets, GD and the flow), which prints its claims
table; bad settings are refused before any work."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iblab import store
from iblab.experiments import kou2023, skeleton

IBLAB = [str(Path(sys.executable).parent / "iblab")]
SMALLER = {"n": 10, "width": 8, "dims": "[1e8]", "init_scales": "[1e-6]", "lr_factors": "[1]",
           "steps": 1000, "flow_log_time": 1000, "flow_per_log_decade": 10, "digits_n": 20,
           "digits_n_test": 10}  # fmt: skip
SET = [f"{name}={value}" for name, value in SMALLER.items()]
COMMAND = [*IBLAB, "reproduce", "kou2023", "--quick", *(a for s in SET for a in ("--set", s))]
PLANNED = [c for _, c in kou2023.REPRODUCTION.plan(skeleton.with_settings(kou2023.QUICK, SET))]
RUNS = len({store.run_id(c) for c in PLANNED})


def _reproduce(out: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*COMMAND, "--out", str(out), *extra], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _claims(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "claims.csv")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kou-quick")
    done = _reproduce(out)
    assert all(word in done.stdout for word in ("claim", "paper", "estimate", "outcome"))
    return out


def test_killed_and_resumed_on_dask_gives_the_local_claims(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([*COMMAND, "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    # Killed as soon as the first results land: the rest of that group may be unwritten.
    while not store.scan(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    assert 1 <= len(kept) < RUNS, "the kill should land mid-way"
    assert not (out / "claims.csv").exists()

    _reproduce(out, "--executor", "dask", "--workers", "2")  # the rest trained on Dask
    meta = json.loads((out / "settings.json").read_text())
    assert meta["which"] == "quick" and meta["changes"] == SET
    assert f"quick settings with {SET[0]}, {SET[1]}," in (out / "claims.md").read_text()
    assert meta["already_stored"] == len(kept)
    assert meta["trained_now"] == RUNS - len(kept)
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # not rewritten
    pd.testing.assert_frame_equal(_claims(out), _claims(uninterrupted))


def test_query_reads_a_reproduction(uninterrupted):
    sql = (
        'SELECT "config.data.d" AS d, count(*) AS runs, max(stable_rank_final) AS srank '
        "FROM runs GROUP BY d ORDER BY d"
    )
    done = subprocess.run(
        [*IBLAB, "query", str(uninterrupted), sql, "--csv"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "d,runs,srank"
    assert len(lines) - 1 == len({getattr(c.data, "d", None) for c in PLANNED})
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == RUNS


@pytest.mark.parametrize(
    "setting,says",
    [
        ("seed=3", "--set seed: not a setting of KouSettings; choose from n, width"),
        ("n=ten", "--set n: Input should be a valid integer"),
        ("dims=[-5]", "--set: the settings plan a bad run: data.d: Input should be greater"),
        ("n", "--set: expected name=value, got 'n'"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path, setting, says):
    done = subprocess.run([*IBLAB, "reproduce", "kou2023", "--out", str(tmp_path / "out"),
                           "--set", setting], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {says}") and done.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args,says",
    [
        (["--set", "seeds=2"], "--out: required with --set"),  # not the default folder
        (["--dry-run", "--out", "{file}"], "--out: {file} is a file, not a store"),
    ],
)
def test_where_a_call_would_write_is_checked_first(tmp_path, args, says):
    file = tmp_path / "a_file"
    file.write_text("kept")
    args = [a.format(file=file) for a in args]
    done = subprocess.run([*IBLAB, "reproduce", "kou2023", "--quick", *args],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {says.format(file=file)}")
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"] and file.read_text() == "kept"


def test_settings_are_edited_by_name_and_typed_by_their_fields():
    s = skeleton.with_settings(kou2023.QUICK, ["seeds=4", "dims=[1e4, 1e8]", " slope = 0.2"])
    assert (s.seeds, s.dims, s.slope) == (4, (10**4, 10**8), 0.2)
    assert dataclasses.replace(s, seeds=1, dims=(10**6,), slope=0.1) == kou2023.QUICK
    assert skeleton.with_settings(kou2023.QUICK, []) is kou2023.QUICK


def test_a_dry_run_counts_the_runs_and_trains_nothing(uninterrupted, tmp_path):
    distinct = {store.run_id(c): c for c in PLANNED}.values()
    flows = sum(c.train.optimizer == "gradient_flow" for c in distinct)
    files = {p.name: p.stat().st_mtime_ns for p in uninterrupted.iterdir()}
    for out, stored in ((uninterrupted, RUNS), (tmp_path / "new", 0)):
        done = subprocess.run([*COMMAND, "--out", str(out), "--dry-run"], capture_output=True,
                              text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("kou2023 settings: n=10, width=8,")
        total = next(line for line in done.stdout.splitlines() if "│ all " in line)
        assert [int(cell) for cell in total.split("│")[2:5]] == [RUNS, flows, stored]
    assert not (tmp_path / "new").exists()
    assert {p.name: p.stat().st_mtime_ns for p in uninterrupted.iterdir()} == files


def test_settings_pydantic_cannot_check_are_still_edited():
    @dataclasses.dataclass(frozen=True)
    class Own:  # a researcher's settings with an array field
        seeds: int = 2
        weights: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))

    s = skeleton.with_settings(Own(), ["seeds=3"])
    assert s.seeds == 3 and (s.weights == 0).all()
