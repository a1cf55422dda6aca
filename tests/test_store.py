"""The results store: whole-or-absent files, SQL views, the index, load, xarray export."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import iblab
from iblab import Config, store
from iblab.cli import app


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
