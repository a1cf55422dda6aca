"""Sweeps: expansion, validation before running, resume, failures, executors, kills."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from math import inf

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from iblab import store, train, training
from iblab.cli import app
from iblab.config import GD_ONLY, Config, validate
from iblab.sweep import SweepError, expand, parse_sweep, plan, run_sweep

BASE = {
    "data": {"n": 6, "d": 20},
    "model": {"width": 4},
    "init": {"scale": 1.0},
    "train": {"lr": 0.05, "steps": 20},
    "record": {"every": 5},
}
# 4 x 5 x 10 = 200 runs of one shape (one compiled program).
SWEEP = {
    "base": BASE,
    "grid": {"init.scale": [0.01, 0.1, 1.0, 3.0], "train.lr": [0.01, 0.03, 0.1, 0.3, 1.0]},
    "seeds": 10,
}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_sweep(path, raw=SWEEP):
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The 200-run sweep, uninterrupted, in-process."""
    out = tmp_path_factory.mktemp("reference")
    progress = run_sweep(parse_sweep(SWEEP), out)
    assert progress.done == 200 and progress.failed == 0
    return out


def assert_same_runs(a, b, rtol=0.0):
    ra, rb = store.load(a), store.load(b)
    assert sorted(p.name for p in a.glob("*.parquet")) == sorted(
        p.name for p in b.glob("*.parquet")
    )
    timing = list(training.TIMING)  # batches differ between executors and resumes
    runs_a, runs_b = (r.runs.drop(columns=timing).set_index("run_id") for r in (ra, rb))
    assert runs_a.index.is_unique and set(runs_a.index) == set(runs_b.index)
    runs_b = runs_b.loc[runs_a.index, runs_a.columns]
    numeric = runs_a.select_dtypes("number").columns
    np.testing.assert_allclose(runs_a[numeric], runs_b[numeric], rtol=rtol, atol=0)
    assert (runs_a.status == runs_b.status).all()
    ha = ra.history.sort_values(["run_id", "step"]).reset_index(drop=True)
    hb = rb.history.sort_values(["run_id", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ha, hb, rtol=rtol, atol=0)


# ---------------------------------------------------------------- expansion


def test_expand_grid_zip_seeds():
    sweep = parse_sweep(
        {
            "base": BASE,
            "grid": {"data.d": [20, 40], "init.scale": [1e-3, 1.0, 2.0]},
            "zip": {"data.n": [4, 6], "train.lr": [0.1, 0.05]},
            "seeds": [3, 7],
        }
    )
    configs = expand(sweep)
    assert len(sweep) == len(configs) == 2 * 3 * 2 * 2
    pairs = {(c.data.n, c.train.lr) for c in configs}
    assert pairs == {(4, 0.1), (6, 0.05)}
    assert {c.seed for c in configs} == {3, 7}
    assert {(c.data.d, c.init.scale) for c in configs} == {
        (d, s) for d in (20, 40) for s in (1e-3, 1.0, 2.0)
    }
    assert len({store.run_id(c) for c in configs}) == len(configs)
    assert sum(len(g) for g in plan(configs)) == len(configs)
    assert all(len({(c.data.n, c.train.steps) for c in g}) == 1 for g in plan(configs))

    def as_flow(c: Config) -> Config:
        train = {k: v for k, v in c.to_dict()["train"].items() if k not in GD_ONLY}
        return validate(c.to_dict() | {"train": train | {"optimizer": "gradient_flow"}})

    flows = [as_flow(c) for c in configs]
    assert max(len(g) for g in plan(flows)) <= 2  # flows spread over the workers


def test_base_path_is_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = write_sweep(tmp_path / "s.yaml", {"base": "configs/base.yaml", "seeds": 3})
    result = invoke("sweep", path, "--out", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "3 runs" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "change,named",
    [
        ({"grid": {"data.foo": [1, 2]}}, "data.foo"),
        ({"grid": {"init.scale": [1.0, -1.0]}}, "init.scale"),
        ({"zip": {"data.n": [4, 6], "train.lr": [0.1]}}, "zip"),
        ({"grdi": {"data.d": [20]}}, "grdi"),
        ({"seeds": 0}, "seeds"),
        ({"grid": {"train.lr": []}}, "train.lr"),
        ({"base": "missing.yaml"}, "missing.yaml"),
    ],
)
def test_bad_sweep_fails_before_any_run(tmp_path, change, named):
    path = write_sweep(tmp_path / "s.yaml", SWEEP | change)
    result = invoke("sweep", path, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not list((tmp_path / "out").glob("*.parquet")) if (tmp_path / "out").exists() else True


def test_bad_axis_key_message_names_it():
    with pytest.raises(SweepError, match=r"data\.foo: Extra inputs are not permitted"):
        expand(parse_sweep({"base": BASE, "grid": {"data.foo": [1]}}))


# ---------------------------------------------------------------- GD and the flow in one sweep

MIXED = {"train.optimizer": ["gd", "gradient_flow"], "train.lr": [0.5, 0.1, 0.02]}


@pytest.mark.parametrize(
    "train",
    [
        {"lr_scale": "n_over_norm_K", "steps": 30},
        {"momentum": 0.5, "schedule": "cosine", "dtype": "float32"},
        {"time": 5.0, "max_events": 1000},  # flow-only keys, dropped for GD
    ],
    ids=["lr_scale-steps", "momentum-schedule-dtype", "flow-only"],
)
def test_a_sweep_over_the_optimizer_keeps_each_run_to_its_keys(train):
    sweep = parse_sweep({"base": BASE | {"train": train}, "grid": MIXED, "seeds": 2})
    configs = expand(sweep)
    flows = [c for c in configs if c.train.optimizer == "gradient_flow"]
    gds = [c for c in configs if c.train.optimizer == "gd"]
    assert len(sweep) == 12 and (len(gds), len(flows)) == (6, 2)  # one flow run per seed
    assert len({store.run_id(c) for c in configs}) == 8
    for c in gds:  # GD keeps every GD key the base gave
        kept = {k: getattr(c.train, k) for k in train if k in GD_ONLY}
        assert kept == {k: v for k, v in train.items() if k in GD_ONLY}
    assert {c.train.lr for c in gds} == {0.5, 0.1, 0.02}
    for c in flows:
        assert "lr" not in c.to_dict()["train"] and c.train.flow_time == train.get("time", inf)


def test_flows_and_gd_runs_are_never_grouped_together():
    # A flow keeps GD's defaults (steps 1000, ...), so its spec can equal a GD run's.
    base = {**BASE, "train": {"lr": 0.05}}  # GD runs keep the default steps too
    configs = expand(parse_sweep({"base": base, "grid": MIXED, "seeds": 3}))
    groups = plan(configs)
    assert all(len({c.train.optimizer for c in group}) == 1 for group in groups)
    assert sum(len(g) for g in groups if g[0].train.optimizer == "gradient_flow") == 3


def test_the_flow_at_every_step_is_one_run():
    sweep = parse_sweep({"base": BASE, "grid": MIXED})
    flows = [c for c in expand(sweep) if c.train.optimizer == "gradient_flow"]
    assert len(flows) == 1
    one = dict(BASE, train={"optimizer": "gradient_flow"})
    assert store.run_id(flows[0]) == store.run_id(Config.model_validate(one))


@pytest.mark.parametrize("grid", [{"data.d": [20, 40]}, {"train.lr": [0.1, 0.2]}], ids=["d", "lr"])
def test_without_an_optimizer_axis_a_flow_with_gd_keys_is_refused(grid):
    base = BASE | {"train": {"optimizer": "gradient_flow", "lr_scale": "n_over_norm_K"}}
    with pytest.raises(SweepError, match=r"train\.lr_scale: gradient_flow takes no lr_scale"):
        expand(parse_sweep({"base": base, "grid": grid}))


def test_dry_run_counts_runs_once_and_shows_their_assignments(tmp_path):
    flow_first = {"train.optimizer": ["gradient_flow", "gd"], "train.lr": MIXED["train.lr"]}
    path = write_sweep(tmp_path / "s.yaml", {"base": BASE, "grid": flow_first})
    result = invoke("sweep", path, "--out", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "4 runs (2 repeat a run)" in result.output
    lines = result.output.splitlines()
    shown = [json.loads(line)["train"] for line in lines if line.startswith('{"')]
    assigned = [yaml.safe_load(line) for line in lines if line.startswith("{'")]
    assert len(shown) == len(assigned) == 3
    for a, c in zip(assigned, shown, strict=True):  # each config beside its own assignment
        assert a["train.optimizer"] == c["optimizer"]
        assert c["optimizer"] == "gradient_flow" or a["train.lr"] == c["lr"]


# ---------------------------------------------------------------- running


def test_rerun_skips_finished_runs_and_a_changed_config_is_new(reference, tmp_path):
    again = run_sweep(parse_sweep(SWEEP), reference)
    assert (again.done, again.skipped) == (0, 200)
    changed = parse_sweep(SWEEP | {"base": BASE | {"train": {"lr": 0.05, "steps": 21}}})
    out = tmp_path / "copy"
    out.mkdir()
    for p in reference.glob("*.parquet"):
        (out / p.name).write_bytes(p.read_bytes())
    partial = expand(parse_sweep(SWEEP))[:5] + expand(changed)[:3]
    progress = run_sweep(partial, out)
    assert (progress.done, progress.skipped) == (3, 5)


def test_failures_are_results_and_the_sweep_goes_on(tmp_path):
    bad_file = tmp_path / "bad.npz"
    bad_file.write_text("not an npz file")
    configs = expand(parse_sweep({"base": BASE, "seeds": 3}))
    configs += expand(parse_sweep({"base": BASE, "grid": {"train.lr": [1e30]}}))
    configs += expand(
        parse_sweep({"base": BASE | {"data": {"kind": "file", "path": str(bad_file)}}})
    )
    progress = run_sweep(configs, tmp_path / "out", group_size=8)
    assert progress.done == 5 and progress.failed == 2
    assert progress.statuses == {"max_steps": 3, "diverged": 1, "error": 1}
    runs = store.load(tmp_path / "out").runs.set_index("status")
    assert runs.loc["error", "message"] and "traceback" in runs.columns
    assert runs.loc["diverged", "message"] == ""
    result = invoke("results", tmp_path / "out")
    assert result.exit_code == 0 and "error" in result.output and "diverged" in result.output
    # Errors are results: a re-run skips them unless asked to retry.
    assert run_sweep(configs, tmp_path / "out").done == 0
    assert run_sweep(configs, tmp_path / "out", retry_failed=True).done == 1


def test_sigkill_mid_sweep_then_resume_matches_uninterrupted(reference, tmp_path):
    path = write_sweep(tmp_path / "s.yaml")
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from iblab.cli import app; app()", "sweep", str(path)]
    cmd += ["--out", str(out), "--group-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*.parquet"))) < 20:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_with = len(list(out.glob("*.parquet")))
    assert 20 <= killed_with < 200, killed_with
    result = invoke("sweep", path, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"{200 - killed_with} runs done" in result.output
    assert_same_runs(reference, out)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_local_cluster_gives_the_same_results(reference, tmp_path, dask_client):
    from iblab.executors import Dask

    progress = run_sweep(parse_sweep(SWEEP), tmp_path, Dask(client=dask_client))
    assert progress.done == 200 and progress.lost == 0
    assert_same_runs(reference, tmp_path)


def test_a_killed_dask_worker_loses_no_runs(reference, tmp_path, dask_client):
    from iblab.executors import Dask

    victim = sorted(dask_client.scheduler_info()["workers"])[0]
    killed = []

    pid = dask_client.run(os.getpid, workers=[victim])[victim]

    def kill_once(progress):
        if not killed:
            killed.append(progress.done)
            os.kill(pid, signal.SIGKILL)

    progress = run_sweep(
        parse_sweep(SWEEP), tmp_path, Dask(client=dask_client), group_size=8, on_progress=kill_once
    )
    assert killed and killed[0] < 200
    assert progress.done == 200 and progress.lost == 0
    assert_same_runs(reference, tmp_path)


def _evaluate(result) -> dict:
    """Scalars join the run row, one value per record joins the history."""
    return {"twice_loss": 2 * result.summary["loss"], "step_sq": result.history["step"] ** 2}


def _evaluate_broken(result) -> dict:
    if result.config.seed == 1:
        raise RuntimeError("no reference")
    return {"loss": 0.0} if result.config.seed == 2 else {}


def _three():
    return expand(parse_sweep({"base": BASE, "seeds": 3}))


def test_evaluate_runs_where_each_run_trained_and_is_stored_with_it(tmp_path):
    run_sweep(_three(), tmp_path, evaluate=_evaluate)
    runs, history = store.load(tmp_path)
    np.testing.assert_allclose(runs.twice_loss, 2 * runs.loss, rtol=0)
    np.testing.assert_array_equal(history.step_sq, history.step**2)
    for row in runs.itertuples():  # the final state, rebuilt from the stored config
        result = train(Config.model_validate_json(row.config))
        np.testing.assert_array_equal(np.asarray(row.C).reshape(result.C.shape), result.C)
        assert row.s == result.s and row.loss == result.summary["loss"]


def test_a_failing_evaluation_is_stored_as_an_error(tmp_path):
    run_sweep(_three(), tmp_path, evaluate=_evaluate_broken)
    runs = store.load(tmp_path, arrays=False).runs.set_index("config.seed")
    assert runs.loc[0, "status"] != "error"
    assert runs.loc[1, "message"] == "evaluate: RuntimeError: no reference"
    assert runs.loc[2, "message"].startswith("evaluate: ValueError: evaluate: 'loss' shadows")
    assert (runs.loc[[1, 2], "status"] == "error").all()


def test_progress_moves_within_a_group(tmp_path):
    """In-process, the sweep reports how far the group in training has got, not only when
    a whole group ends."""
    raw = {"base": {**BASE, "train": {"lr": 0.01, "steps": 2000}}, "seeds": 4}
    seen = []
    run_sweep(expand(parse_sweep(raw)), tmp_path, on_progress=lambda p: seen.append(
        (p.done, p.in_flight)))  # fmt: skip
    partial = [f for done, f in seen if done == 0 and 0 < f < 4]
    assert len(partial) >= 3 and partial == sorted(partial)
    assert seen[-1] == (4, 0.0)


def test_flows_add_no_steps_to_the_progress_in_flight(tmp_path):
    # A flow calls back with its switches, which no step budget measures.
    raw = {"base": {**BASE, "train": {"optimizer": "gradient_flow"}}, "seeds": 2}
    seen = []
    run_sweep(expand(parse_sweep(raw)), tmp_path, on_progress=lambda p: seen.append(p.in_flight))
    assert seen and set(seen) == {0.0}


def _fails_on_seed_1(result) -> dict:
    if result.config.seed == 1:
        raise RuntimeError("no reference")
    return {"twice_loss": 2 * result.summary["loss"]}


def test_a_reproduction_leaves_failed_runs_out_and_says_so(tmp_path):
    from iblab.claims import at_least, judge_value
    from iblab.experiments import skeleton

    @dataclasses.dataclass
    class Toy:
        size: int = 3

    configs = _three()
    seen = []

    def runs(analysis, settings):
        seen.append(sorted(analysis.runs["config.seed"]))
        n = len(analysis.runs)
        return skeleton.Measured(((n,),), f"{n} runs", f"{n} runs")

    claim = skeleton.ClaimSpec(
        "toy", "-", ("g",), runs, (skeleton.Rule(judge_value, {"bound": at_least(1)}),), "n >= 1"
    )
    rep = skeleton.Reproduction(
        name="toy", title="toy", full=Toy(), quick=Toy(),
        groups=[skeleton.Group("g", lambda s: [({}, c) for c in configs])],
        claims=[claim], evaluate=_fails_on_seed_1,
    )  # fmt: skip
    for attempt in range(2):  # the second call tries the failed run again
        skeleton.reproduce(rep, tmp_path, settings=Toy(), log=lambda m: None)
        assert seen[-1] == [0, 2]
        assert "1 runs failed (status error)" in (tmp_path / "claims.md").read_text()
        meta = json.loads((tmp_path / "settings.json").read_text())
        assert meta["trained_now"] == [3, 1][attempt] and len(meta["failed"]) == 1
        assert meta["provenance"] == store.provenance()  # iblab, commit, numbers, libraries
