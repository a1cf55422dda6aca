"""The results store: whole-or-absent files, SQL views, the index, load, xarray export,
the versions each run records."""

import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import iblab
from iblab import Config, store
from iblab.cli import app
from iblab.sweep import run_sweep


def config(seed=0, **train):
    labels = {"kind": "noise" if train.get("loss", "square") == "square" else "sign"}
    return Config.model_validate(
        {
            "seed": seed,
            "data": {"n": 6, "d": 20, "labels": labels},
            "model": {"width": 4},
            "train": train,
        }
    )


def put(directory, cfg, loss=0.5, status="max_steps", steps=3, extra=None):
    history = pd.DataFrame({"step": np.arange(steps), "loss": np.linspace(1, loss, steps)})
    summary = {"status": status, "loss": loss, **(extra or {})}
    rid = store.run_id(cfg)
    return store.write_run(directory, store.run_table(cfg.to_dict(), rid, summary, history))


def test_write_is_whole_and_named_by_the_config(tmp_path):
    path = put(tmp_path, config())
    assert path.name == store.run_id(config()) + ".parquet"
    assert len(store.run_id(config())) == 24
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    assert store.read_run(path) is not None
    assert store.run_id(config(1)) != store.run_id(config()) != store.run_id(config(lr=0.2))


# ---------------------------------------------------------------- draws

DRAWN = {"data": {"n": 6, "d": 20, "n_test": 3}, "model": {"width": 4}}


def drawn(**parts):
    """A config on DRAWN, with the given parts replaced."""
    return Config.model_validate(DRAWN | parts)


@pytest.mark.parametrize(
    "parts",
    [
        {"train": {"lr": 0.3, "steps": 7}},
        {"train": {"optimizer": "gradient_flow", "time": 2.0}},
        {"train": {"optimizer": "sgd", "batch_size": 2, "momentum": 0.5}},
        {
            "data": DRAWN["data"] | {"labels": {"kind": "sign"}},
            "train": {"loss": "logistic"},
            "record": {"every": 3, "coefficients": True},
        },
    ],
    ids=["lr", "flow", "sgd", "loss-record"],
)
def test_runs_that_differ_only_in_training_share_their_draw(parts):
    other = drawn(**parts)
    base = drawn(**{k: v for k, v in parts.items() if k not in store.TRAINING_PARTS})
    assert store.run_id(other) != store.run_id(base)
    assert store.draw_id(other) == store.draw_id(base) == store.draw_id(base.to_dict())
    a, b = iblab.make_problem(base), iblab.make_problem(other)
    for name in ("y", "a", "K", "P0", "y_test", "K_test", "P0_test", "G0"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize(
    "parts",
    [
        {"seed": 1},
        {"data": DRAWN["data"] | {"d": 21}},
        {"model": {"width": 4, "activation": "leaky_relu"}},
        {"init": {"scale": 0.5}},
    ],
    ids=["seed", "data", "model", "init"],
)
def test_a_change_outside_training_is_another_draw(parts):
    assert store.draw_id(drawn(**parts)) != store.draw_id(drawn())


def test_no_draw_hashes_a_training_part():
    from iblab.seeding import STREAM_PARTS

    drawing = set(STREAM_PARTS["data"]) | set(STREAM_PARTS["init"])
    assert not drawing & set(store.TRAINING_PARTS)


def test_runs_on_one_draw_are_paired_by_a_query(tmp_path):
    for seed in range(2):
        for lr in (0.1, 0.2, 0.3):
            put(tmp_path, config(seed, lr=lr))
    pairs = store.query(
        tmp_path,
        'SELECT draw_id, count(*) AS runs, min("config.seed") AS seed FROM runs '
        "GROUP BY draw_id ORDER BY seed",
    )
    assert pairs.runs.tolist() == [3, 3] and pairs.seed.tolist() == [0, 1]
    assert pairs.draw_id.tolist() == [store.draw_id(config(s)) for s in range(2)]


def test_corrupt_or_misnamed_files_are_not_results(tmp_path):
    good = put(tmp_path, config(0))
    truncated = put(tmp_path, config(1))
    truncated.write_bytes(truncated.read_bytes()[:100])
    (tmp_path / ("ab" * 12 + ".parquet")).write_bytes(good.read_bytes())  # wrong name
    assert set(store.finished(tmp_path)) == {good.stem}


def test_views_runs_and_history(tmp_path):
    for seed in range(4):
        put(tmp_path, config(seed), loss=0.1 * seed)
    put(tmp_path, config(9, loss="logistic"), extra={"accuracy": 1.0})  # another schema
    runs = store.query(tmp_path, "SELECT * FROM runs ORDER BY loss")
    assert len(runs) == 5 and "config.data.d" in runs and "accuracy" in runs
    assert runs["config.seed"].tolist()[:4] == [0, 1, 2, 3]
    history = store.query(tmp_path, "SELECT run_id, count(*) AS k FROM history GROUP BY run_id")
    assert (history.k == 3).all() and len(history) == 5
    joined = store.query(
        tmp_path,
        'SELECT r."config.seed" AS seed, max(h.step) AS last FROM runs r '
        "JOIN history h USING (run_id) GROUP BY seed",
    )
    assert (joined["last"] == 2).all()
    loaded = iblab.load(tmp_path)
    assert len(loaded.runs) == 5 and len(loaded.history) == 15


def test_index_follows_new_rewritten_and_deleted_files(tmp_path):
    put(tmp_path, config(0), loss=0.5)
    assert store.load(tmp_path).runs.loss.tolist() == [0.5]
    assert list((tmp_path / store.INDEX_DIR).glob("seg-*.parquet"))
    path = put(tmp_path, config(0), loss=0.25)  # rewritten (e.g. a retried run)
    put(tmp_path, config(1), loss=0.75)
    assert sorted(store.load(tmp_path).runs.loss) == [0.25, 0.75]
    path.unlink()
    assert store.load(tmp_path).runs.loss.tolist() == [0.75]
    for seed in range(2, 2 + store.MAX_SEGMENTS + 2):  # many segments get merged
        put(tmp_path, config(seed))
        store.finished(tmp_path)
    assert len(list((tmp_path / store.INDEX_DIR).glob("seg-*.parquet"))) <= store.MAX_SEGMENTS
    assert len(store.load(tmp_path).runs) == store.MAX_SEGMENTS + 3


def test_empty_store(tmp_path):
    assert store.finished(tmp_path) == {}
    assert len(store.load(tmp_path).runs) == 0


def test_to_xarray_dense_grid_and_netcdf(tmp_path):
    for seed in range(2):
        for lr in (0.1, 0.2, 0.3):
            put(tmp_path, config(seed, lr=lr), loss=seed + lr)
    ds = store.to_xarray(tmp_path, ["seed", "train.lr"])
    assert dict(ds.sizes) == {"seed": 2, "train.lr": 3}
    np.testing.assert_allclose(ds["loss"].sel(seed=1).values, [1.1, 1.2, 1.3])
    with pytest.raises(ValueError, match="uniquely"):
        store.to_xarray(tmp_path, ["train.lr"])
    pytest.importorskip("netCDF4")
    out = tmp_path / "grid.nc"
    result = CliRunner().invoke(
        app, ["export", str(tmp_path), "--grid", "seed,train.lr", "--to", str(out)]
    )
    assert result.exit_code == 0, result.output
    import xarray as xr

    with xr.open_dataset(out) as back:
        np.testing.assert_allclose(back["loss"].values, ds["loss"].values)


@pytest.mark.parametrize(
    "dims,suggested",
    [(["train.lr"], "seed"), (["seed"], "train.lr"), (["seed", "train.lr"], "numbers versions")],
)
@pytest.mark.filterwarnings("ignore::iblab.store.StoreVersionWarning")
def test_export_on_dims_that_do_not_identify_runs_names_what_varies(tmp_path, dims, suggested):
    for seed in range(2):
        for lr in (0.1, 0.2):
            put(tmp_path, config(seed, lr=lr))
    cfg = config(0, lr=0.1)  # the same config once more, as another numbers version stored it
    rid = "ab" * 12
    table = store.run_table(cfg.to_dict(), rid, {"status": "max_steps", "loss": 1.0})
    restamp(store.write_run(tmp_path, table), "numbers", "3")
    if suggested != "numbers versions":
        (tmp_path / f"{rid}.parquet").unlink()
    with pytest.raises(ValueError, match="do not identify runs") as error:
        store.to_xarray(tmp_path, dims)
    fix = str(error.value).split("; ", 1)[1]
    assert suggested in fix and not any(d in fix for d in dims)


@pytest.mark.parametrize("entry", ["cli", "python"])
def test_export_without_xarray_names_the_install(tmp_path, monkeypatch, entry):
    put(tmp_path, config(0))
    monkeypatch.setitem(sys.modules, "xarray", None)  # `import xarray` raises ImportError
    hint = 'pip install "iblab[netcdf]"'
    if entry == "python":
        with pytest.raises(ImportError, match=re.escape(hint)):
            store.to_xarray(tmp_path, ["seed"])
        return
    out = tmp_path / "x.nc"
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--grid", "seed", "--to", str(out)])
    assert result.exit_code == 2 and hint in result.output and "xarray" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_cli_query_and_results(tmp_path):
    for seed in range(3):
        put(tmp_path, config(seed))
    result = CliRunner().invoke(
        app, ["query", str(tmp_path), "SELECT count(*) AS n FROM runs", "--csv"]
    )
    assert result.exit_code == 0 and result.output.split() == ["n", "3"]
    bad = CliRunner().invoke(app, ["query", str(tmp_path), "SELECT nope FROM runs"])
    assert bad.exit_code == 2 and "nope" in bad.output
    assert "max_steps" in CliRunner().invoke(app, ["results", str(tmp_path)]).output


# ---------------------------------------------------------------- provenance


def restamp(path, key, value):
    """Rewrite one provenance column of a run file's run row (as an older version would
    have written it)."""
    table = pq.read_table(path)
    column = store.PROVENANCE_PREFIX + key
    kinds = table.column("kind").to_pylist()
    values = pa.array([value if k == "run" else None for k in kinds], pa.string())
    table = table.set_column(table.schema.get_field_index(column), column, values)
    pq.write_table(table.replace_schema_metadata(pq.read_schema(path).metadata), path)


def test_run_files_carry_the_versions(tmp_path):
    from importlib.metadata import version

    table = store.read_run(put(tmp_path, config()))
    row = {k: v[0] for k, v in table.to_pydict().items() if k.startswith("provenance.")}
    assert row["provenance.iblab"] == iblab.__version__
    assert row["provenance.numbers"] == store.NUMBERS
    for library in ("jax", "numpy", "scipy"):
        assert row[f"provenance.{library}"] == version(library)
    commit = row["provenance.commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)
    runs = store.query(tmp_path, 'SELECT "provenance.iblab" AS v FROM runs')
    assert runs.v.tolist() == [iblab.__version__]


@pytest.mark.parametrize("state", ["none", "clean", "dirty"])
def test_git_commit_is_best_effort(tmp_path, state):
    from iblab.provenance import git_commit

    if state != "none":
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
        subprocess.run([*git, "init", "-q"], check=True)
        (tmp_path / "a.py").write_text("x = 1\n")
        subprocess.run([*git, "add", "a.py"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
        if state == "dirty":
            (tmp_path / "a.py").write_text("x = 2\n")
    commit = git_commit(tmp_path)
    expected = {"none": None, "clean": r"[0-9a-f]{40}", "dirty": r"[0-9a-f]{40}\+dirty"}[state]
    assert commit == expected if expected is None else re.fullmatch(expected, commit)


@pytest.mark.parametrize("key,old", [("iblab", "0.0.1"), ("numbers", "3"), ("iblab", None)])
@pytest.mark.parametrize("entry", ["query", "load", "resume", "cli"])
def test_a_store_of_another_version_says_so(tmp_path, key, old, entry):
    cfg = config(0)
    restamp(put(tmp_path, cfg), key, old)
    put(tmp_path, config(1))
    if entry == "cli":
        result = CliRunner().invoke(app, ["query", str(tmp_path), "SELECT 1 AS one", "--csv"])
        warned = [line for line in result.output.splitlines() if "warning" in line]
        assert result.exit_code == 0 and len(warned) == 1, result.output
        text = warned[0]
    else:
        open_store = {
            "query": lambda: store.query(tmp_path, "SELECT * FROM runs"),
            "load": lambda: store.load(tmp_path),
            "resume": lambda: run_sweep([cfg], tmp_path),  # stored already: nothing trains
        }[entry]
        with pytest.warns(store.StoreVersionWarning) as caught:
            open_store()
        text = str(caught[0].message)
    now = f"iblab {iblab.__version__}, numbers {store.NUMBERS}"
    then = {"iblab": f"iblab {old}, numbers {store.NUMBERS}", "numbers": f"numbers {old}"}[key]
    assert now in text and ("no recorded version" if old is None else then) in text
    assert "1 of its 2 runs" in text


@pytest.mark.parametrize("runs", [0, 2])
def test_a_store_of_this_version_says_nothing(tmp_path, runs):
    for seed in range(runs):
        put(tmp_path, config(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.query(tmp_path, "SELECT * FROM runs")
        store.load(tmp_path)
