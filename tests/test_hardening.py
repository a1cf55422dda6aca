"""Hostile input and hostile conditions: one-line errors before any work, results that
follow the data, a query that cannot write, an index that checks files, no orphans."""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from iblab import Config, metrics, store, training
from iblab.cli import app
from iblab.sweep import parse_sweep, run_sweep
from iblab.training import train, train_many

SMALL = {
    "seed": 0,
    "data": {"kind": "gaussian", "n": 8, "d": 40},
    "model": {"width": 6},
    "train": {"lr": 0.01, "steps": 20},
    "record": {"every": 10},
}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, named: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:") and named in lines[0], lines[0]
    assert "Traceback" not in result.output


def _alias_bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# Config files whose bytes are the problem: (bytes, what the message names).
BAD_FILES = {
    "binary": (bytes(range(128, 256)) * 4, "not UTF-8"),
    "utf16": ("seed: 1\n".encode("utf-16"), "not UTF-8"),
    "recursive_alias": (b"data: &a [*a]\n", "refers to itself"),
    "alias_bomb": (_alias_bomb().encode(), "aliases"),
    "date_key": (b"2020-01-01: 1\n", "date"),
    "date_value": (b"seed: 2020-01-01\n", "date"),
    "duplicate_key": (b"seed: 1\nseed: 2\n", "duplicate key 'seed'"),
    "empty": (b"", "empty"),
    "not_yaml": (b"seed: [1,\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_config_file(tmp_path, case):
    content, named = BAD_FILES[case]
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    out = tmp_path / "out"
    assert_one_line_error(invoke("run", path, "--out", out), named)
    assert not out.exists()


# Values that pass a type check but make no run: (--set override, field named).
BAD_VALUES = [
    ("init.scale=.inf", "init.scale"),
    ("init.scale=.nan", "init.scale"),
    ("init.scale=1e300", "init.scale"),
    ("data.spectrum={kind: spiked, spikes: [.inf]}", "data.spectrum.spikes"),
    ("data.labels.noise=.nan", "data.labels.noise"),
    ("data={kind: mixture, mean_norm: .inf}", "data.mean_norm"),
    ("data={kind: mixture, mean_norm_exponent: .nan}", "data.mean_norm_exponent"),
    ("data={kind: mixture, d: 1000000, mean_norm_exponent: 5.0}", "data.mean_norm_exponent"),
    ("data={kind: orthogonal, norm: .inf}", "data.norm"),
    ("data.spectrum={kind: power_law, exponent: .inf}", "data.spectrum.exponent"),
    ("model={width: 6, activation: smooth_leaky_relu, smoothing: .inf}", "model.smoothing"),
    ("model.grad_at_zero=.nan", "model.grad_at_zero"),
    ("model.grad_at_zero=2", "model.grad_at_zero"),
    ("data.n=true", "data.n"),
    ("train.lr=true", "train.lr"),
    ("seed=9223372036854775808", "seed"),
    ("train.steps=3000000000", "train.steps"),
    ("record.every=1000000000000000000000000000000", "record.every"),
    ("record.per_decade=1000000000000000000000000000000", "record.per_decade"),
    ("data.n=1000000000000", "data.n"),
    ("data.n_test=1000000000000", "data.n_test"),
    ("model.width=1000000000000", "model.width"),
    ("data.d=1000000000000", "data.d"),
    ("data.d=1000000000", "data.sample: gram"),  # explicit: too big, and the fix is named
    ("train.steps=1000000000", "train.steps"),  # 1e8 records of ~40 figures each
    ("data.n=[1,", "--set data.n"),
    ("a..b=1", "--set"),
]


@pytest.mark.parametrize("override,named", BAD_VALUES)
def test_bad_value(tmp_path, override, named, monkeypatch):
    monkeypatch.setenv("IBLAB_MEMORY_BYTES", str(24 * 2**30))  # CI's memory, on any machine
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "out"
    assert_one_line_error(invoke("run", path, "--set", override, "--out", out), named)
    assert not out.exists()


@pytest.mark.parametrize(
    "arrays,named",
    [
        ({"X": np.ones((5, 0)), "y": np.ones(5)}, "no columns"),
        ({"X": np.ones((5, 2)) * (1 + 1j), "y": np.ones(5)}, "complex"),
        ({"X": np.ones((5, 2)), "y": np.ones((5, 2))}, "shape"),
        ("truncated", "cannot read"),
    ],
)
def test_bad_data_file(tmp_path, arrays, named):
    data = tmp_path / "data.npz"
    if arrays == "truncated":
        np.savez(data, X=np.ones((50, 3)), y=np.ones(50))
        data.write_bytes(data.read_bytes()[:300])
    else:
        np.savez(data, **arrays)
    config = {**SMALL, "data": {"kind": "file", "path": str(data)}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert_one_line_error(invoke("run", path, "--out", tmp_path / "out"), "data.path")
    assert named in invoke("run", path).output


def test_environment_and_output_paths(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    monkeypatch.setenv("IBLAB_MEMORY_BYTES", "4GB")
    assert_one_line_error(invoke("run", path), "IBLAB_MEMORY_BYTES")
    monkeypatch.delenv("IBLAB_MEMORY_BYTES")
    np.savez(tmp_path / "zeros.npz", X=np.zeros((4, 3)), y=np.ones(4))
    zeros = {**SMALL, "data": {"kind": "file", "path": str(tmp_path / "zeros.npz")}}
    zeros["train"] = {**SMALL["train"], "lr_scale": "n_over_trace"}
    path.write_text(yaml.safe_dump(zeros))
    assert_one_line_error(invoke("run", path), "train.lr_scale")
    missing = tmp_path / "nowhere" / "x.png"
    assert_one_line_error(
        invoke("plot", tmp_path, "--x", "seed", "--y", "loss", "--to", missing), "--to"
    )


def test_unwritable_out_fails_before_training(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(invoke("run", path, "--out", blocker / "out"), "--out")
    assert_one_line_error(invoke("run", path, "--out", blocker), "--out")
    sweep = write_sweep(tmp_path / "s.yaml", {"base": SMALL, "seeds": 2})
    assert_one_line_error(invoke("sweep", sweep, "--out", blocker / "out"), "--out")


def write_sweep(path, raw):
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "raw,named",
    [
        (None, "empty"),
        ({"base": SMALL, "grid": {"seed": list(range(1000)), "train.lr": [0.1] * 1000}}, "limit"),
        ({"base": SMALL, "grid": {f"k{i}": [1] * 10 for i in range(9)}}, "--force"),
        ({"base": SMALL, "grid": {"train.steps": [3_000_000_000]}}, "train.steps"),
        ({"base": SMALL, "grid": {"data.d": [10, 10**9]}}, "sample: gram"),
    ],
)
def test_bad_sweep(tmp_path, raw, named):
    path = tmp_path / "s.yaml"
    path.write_text("" if raw is None else yaml.safe_dump(raw))
    out = tmp_path / "out"
    t0 = time.perf_counter()
    result = invoke("sweep", path, "--out", out)
    assert time.perf_counter() - t0 < 10  # refused without expanding 10^6 or 10^9 runs
    assert_one_line_error(result, named)
    assert_one_line_error(invoke("sweep", path, "--out", out, "--dry-run"), named)
    assert not out.exists()


def test_sweep_over_a_changed_data_file_makes_new_runs(tmp_path):
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(data, X=rng.normal(size=(6, 5)), y=rng.normal(size=6))
    raw = {"base": {**SMALL, "data": {"kind": "file", "path": str(data)}}, "seeds": 2}
    out = tmp_path / "out"
    first = run_sweep(parse_sweep(raw), out)
    assert first.done == 2
    before = store.load(out).runs.set_index("config.seed").loss
    np.savez(data, X=rng.normal(size=(6, 5)), y=rng.normal(size=6))  # same name, new data
    second = run_sweep(parse_sweep(raw), out)
    assert second.done == 2 and second.skipped == 0
    runs = store.load(out).runs
    assert len(runs) == 4 and runs["config.data.sha256"].nunique() == 2
    assert not np.isin(runs.loss, before.to_numpy()).all()
    # A stored config pinned to the old contents is refused, naming the field.
    with pytest.raises(ValueError, match="data.sha256"):
        Config.model_validate_json(runs.config[runs.loss == before.iloc[0]].iloc[0])


def fingerprint_of(directory) -> dict:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def small_store(tmp_path):
    out = tmp_path / "store"
    run_sweep(parse_sweep({"base": SMALL, "seeds": 3}), out)
    return out


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO '{target}'",
        "COPY runs TO '{store}/{victim}'",
        "SELECT * FROM read_csv('{outside}')",
        "SELECT * FROM '{store}/{victim}'",
        "ATTACH '{tmp}/db.duckdb' AS other",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "CREATE TABLE t AS SELECT 1; COPY t TO '{target}'",
    ],
)
def test_query_cannot_touch_files(small_store, tmp_path, sql):
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b\nsecret_value,2\n")
    victim = next(small_store.glob("*.parquet")).name
    before = fingerprint_of(small_store)
    text = sql.format(
        target=tmp_path / "x.csv", store=small_store, victim=victim, outside=outside, tmp=tmp_path
    )
    result = invoke("query", small_store, text)
    assert_one_line_error(result, "sql")
    assert fingerprint_of(small_store) == before
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "db.duckdb").exists()
    assert "secret_value" not in result.output


def test_query_reads_runs_history_events(small_store):
    result = invoke("query", small_store, "SELECT count(*) AS n FROM runs", "--csv")
    assert result.exit_code == 0 and result.output.split() == ["n", "3"]


def test_junk_segment_and_truncated_file_with_mtime_restored(small_store):
    expected = store.load(small_store).runs.set_index("run_id").loss
    seg_dir = small_store / store.INDEX_DIR
    (seg_dir / "seg-00000000000000000000-junk.parquet").write_bytes(b"not parquet at all")
    (seg_dir / "seg-00000000000000000001-junk.parquet").write_bytes(
        next(small_store.glob("*.parquet")).read_bytes()  # valid Parquet, not a segment
    )
    loaded = store.load(small_store).runs.set_index("run_id").loss
    assert loaded.sort_index().equals(expected.sort_index())
    assert not list(seg_dir.glob("*junk*"))  # the bad segments are gone

    victim = sorted(small_store.glob("*.parquet"))[0]
    st = victim.stat()
    victim.write_bytes(victim.read_bytes()[: st.st_size // 2])
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert victim.stem not in store.finished(small_store)
    again = run_sweep(parse_sweep({"base": SMALL, "seeds": 3}), small_store)
    assert again.done == 1 and again.skipped == 2  # the truncated run, re-run
    assert (
        store.load(small_store)
        .runs.set_index("run_id")
        .loss.sort_index()
        .equals(expected.sort_index())
    )


def test_stale_temporaries_are_removed_and_live_ones_kept(small_store):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    host = socket.gethostname().replace(".", "-")
    stale = small_store / f".abc.parquet.{host}.{dead}.deadbeef.tmp"
    live = small_store / f".abc.parquet.{host}.{os.getpid()}.deadbeef.tmp"
    stale_seg = small_store / store.INDEX_DIR / f".seg-1.parquet.{host}.{dead}.cafe.tmp"
    other_host = small_store / f".abc.parquet.elsewhere.{dead}.beef.tmp"  # recent: kept
    for p in (stale, live, stale_seg, other_host):
        p.write_bytes(b"")
    run_sweep(parse_sweep({"base": SMALL, "seeds": 3}), small_store)
    assert live.exists() and not stale.exists() and not stale_seg.exists()
    assert other_host.exists()


def test_a_failed_write_keeps_what_was_trained(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = store.save_run
    calls = []

    def disk_full_after_one(directory, table):
        calls.append(directory)
        if os.path.samefile(directory, out) and len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(directory, table)

    monkeypatch.setattr(store, "save_run", disk_full_after_one)
    with pytest.raises(store.StoreWriteError, match="No space left") as err:
        run_sweep(parse_sweep({"base": SMALL, "seeds": 3}), out, group_size=1)
    spill = err.value.args[0].split("were written to ")[1].split(" instead")[0]
    assert len(list(out.glob("*.parquet"))) == 1
    assert len(list(Path(spill).glob("*.parquet"))) == 2  # nothing trained is lost


def test_killed_sweep_leaves_no_worker_processes(tmp_path):
    raw = {"base": {**SMALL, "train": {"lr": 0.01, "steps": 10**8}}, "seeds": 4}
    raw["base"]["record"] = {"every": 10**8}
    path = write_sweep(tmp_path / "s.yaml", raw)
    cmd = [sys.executable, "-c", "from iblab.cli import app; app()", "sweep", str(path)]
    cmd += ["--out", str(tmp_path / "out"), "--workers", "2", "--group-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(children(proc.pid)) < 3:
        time.sleep(0.1)  # two workers and the resource tracker
    workers = children(proc.pid)
    assert len(workers) >= 3, workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if alive(p)]


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited
        return f.read().split(") ")[1][0] != "Z"


# ---------------------------------------------------------------- recorded numbers


def test_norm_survives_overflow_of_its_square():
    rng = np.random.default_rng(0)
    K = np.eye(3)
    P0 = rng.normal(size=(3, 2))
    C = 1e200 * rng.normal(size=(2, 3))
    expected = 1e200 * np.linalg.norm(C / 1e200)  # W = C X with X orthonormal rows, s = 0
    assert metrics.frobenius_norm(0.0, C, K, P0, 1.0) == pytest.approx(expected, rel=1e-12)
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(metrics.frobenius_norm(np.nan, C, K, P0, 1.0))
    assert metrics.frobenius_norm(0.0, np.zeros((2, 3)), K, P0, 0.0) == 0.0


def test_overflow_is_diverged_never_zero():
    cfg = Config.model_validate({**SMALL, "train": {"lr": 50.0, "steps": 400}})
    summary = train(cfg).summary
    assert summary["status"] == "diverged"
    assert summary["weight_norm"] != 0.0 and not np.isnan(summary["weight_norm"])


@pytest.mark.parametrize("loss,labels", [("square", "noise"), ("logistic", "sign")])
def test_figures_are_bitwise_equal_alone_and_batched(loss, labels):
    base = {**SMALL, "data": {"n": 8, "d": 40, "labels": {"kind": labels}}}
    base["train"] = {"loss": loss, "lr": 0.5, "steps": 40}
    configs = [Config.model_validate({**base, "seed": s}) for s in range(8)]
    batched = train_many(configs)
    for c, b in zip(configs[:3], batched[:3], strict=True):
        alone = train(c)
        assert alone.history.equals(b.history)
        drop = training.TIMING
        assert {k: v for k, v in alone.summary.items() if k not in drop} == {
            k: v for k, v in b.summary.items() if k not in drop
        }
