"""The command line: a run writes its results; bad input is one line and exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import iblab
from iblab import store
from iblab.cli import app
from iblab.config import Config
from iblab.sweep import expand, from_overrides, parse_sweep

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
    assert summary["provenance"]["iblab"] == iblab.__version__  # and numbers, commit, libraries


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


@pytest.mark.parametrize(
    "override,suggested",
    [
        (
            "model.widht=8",
            "model.widht: Extra inputs are not permitted (got 8); did you mean 'width'?",
        ),
        ("trian.lr=0.1", "did you mean 'train'?"),
        ("data.labels.kindd=sign", "did you mean 'kind'?"),
        ("model.colour=red", None),  # nothing close: no guess
    ],
)
def test_a_misspelt_key_gets_a_suggestion(config_file, override, suggested):
    result = invoke("run", config_file, "--set", override)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert (suggested in lines[0]) if suggested else "did you mean" not in lines[0]


# ---------------------------------------------------------------- a grid from --set


def test_set_with_commas_is_a_grid_run_like_a_sweep_file(config_file, tmp_path):
    out = tmp_path / "store"
    grid = ["--set", "data.d=20,1e2", "--set", "seed=0,1", "--set", "train.steps=10"]
    result = invoke("run", config_file, *grid, "--out", out)
    assert result.exit_code == 0, result.output
    assert "4 runs done" in result.output
    sweep = {"base": SMALL | {"train": {"lr": 0.01, "steps": 10}}}
    sweep |= {"grid": {"data.d": [20, 100], "seed": [0, 1]}}
    expected = {store.run_id(c) for c in expand(parse_sweep(sweep))}
    assert set(store.finished(out)) == expected  # the ids a sweep file gives
    again = invoke("run", config_file, *grid, "--out", out)
    assert again.exit_code == 0 and "0 runs done" in again.output and "4 already in" in again.output
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep))
    resumed = invoke("sweep", sweep_file, "--out", out)
    assert resumed.exit_code == 0 and "0 runs done" in resumed.output


def test_a_grid_over_the_optimizer_runs_the_flow_once(config_file, tmp_path):
    out = tmp_path / "store"
    mixed = ["--set", "train.optimizer=gd,gradient_flow", "--set", "train.lr=0.5,0.1"]
    result = invoke(
        "run", config_file, *mixed, "--set", "train.lr_scale=n_over_norm_K", "--out", out
    )
    assert result.exit_code == 0, result.output
    runs = iblab.load(out).runs
    assert sorted(runs["config.train.optimizer"]) == ["gd", "gd", "gradient_flow"]
    assert runs.draw_id.nunique() == 1


@pytest.mark.parametrize(
    "overrides,grid",
    [
        (["data.d=1e3,1e4"], {"data.d": [1000.0, 10000.0]}),
        (["data.d=20", "seed=0,1"], {"seed": [0, 1]}),  # one value: the base's
        (["model.second_layer=[1, 2]"], {}),  # brackets: one value
        (["model.second_layer=[1,2],[3, 4]"], {"model.second_layer": [[1, 2], [3, 4]]}),
        (["data.path='a,b.npz'"], {}),  # quoted: one value
        (["data.path='a,b.npz',c.npz"], {"data.path": ["a,b.npz", "c.npz"]}),
        (["data.labels={kind: sign, noise: 0.1}"], {}),
        (["seed=0,1", "seed=2"], {}),  # the last of a key wins
        (["seed=2", "seed=0,1"], {"seed": [0, 1]}),
    ],
)
def test_which_set_values_make_a_grid(overrides, grid):
    assert from_overrides({}, overrides).grid == grid


@pytest.mark.parametrize(
    "args,named",
    [
        (["--set", "data.d=20,40"], "--out"),  # a grid writes a store
        (["--set", "data.d=20,,40", "--out", "s"], "--set data.d: empty value"),
        (["--set", "data.d=20,", "--out", "s"], "--set data.d: empty value"),
        (["--set", "data.d=20,0", "--out", "s"], "data.d"),
        (["--set", "data.d=20,[", "--out", "s"], "--set data.d: cannot parse"),
    ],
)
def test_a_bad_grid_is_one_line_and_runs_nothing(config_file, tmp_path, args, named):
    args = [tmp_path / a if a == "s" else a for a in args]
    result = invoke("run", config_file, *args)
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert named in lines[0]
    assert not (tmp_path / "s").exists()


def test_numbers_with_an_exponent_and_no_point_are_numbers(config_file):
    cfg = Config.from_yaml(config_file, ["data.d=1e3", "train.lr=5e-2", "train.tol=1.0e-8"])
    assert (cfg.data.d, cfg.train.lr, cfg.train.tol) == (1000, 0.05, 1e-8)
    plain = Config.from_yaml(config_file, ["data.d=1000", "train.lr=0.05", "train.tol=1.0e-08"])
    assert store.run_id(cfg) == store.run_id(plain)


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


# ---------------------------------------------------------------- silent mistakes, loudly


def test_a_problem_must_match_its_config():
    import iblab
    from iblab import Config, ConfigError

    small = Config.model_validate({**SMALL, "data": {"n": 6, "d": 40}, "model": {"width": 4}})
    other = iblab.make_problem(small)
    for change, named in ((("data", {"n": 100, "d": 40}), "data.n"), (("model", {"width": 9}),
                          "model.width")):  # fmt: skip
        cfg = Config.model_validate({**SMALL, "data": {"n": 6, "d": 40}, change[0]: change[1]})
        with pytest.raises(ConfigError, match=named):
            iblab.train(cfg, other)


def test_column_labels_are_refused_with_the_fix():
    from iblab.problem import Problem

    rng = np.random.default_rng(0)
    X, W0, a = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), np.ones(4)
    with pytest.raises(ValueError, match=r"y: expected shape \(5,\).*flatten it"):
        Problem.from_arrays(X, np.ones((5, 1)), W0, a)
    with pytest.raises(ValueError, match="a: expected shape"):
        Problem.from_arrays(X, np.ones(5), W0, np.ones(3))


def test_classification_loss_on_real_labels(config_file, tmp_path):
    result = invoke("run", config_file, "--set", "train.loss=logistic")
    assert result.exit_code == 2 and "train.loss" in result.output and "sign" in result.output
    np.savez(tmp_path / "real.npz", X=np.ones((5, 3)), y=np.linspace(-1, 1, 5))
    data = f"data={{kind: file, path: {tmp_path / 'real.npz'}}}"
    result = invoke("run", config_file, "--set", data, "--set", "train.loss=logistic")
    assert result.exit_code == 2 and "label -0.5" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_export_refuses_zipped_keys_as_two_dimensions(tmp_path):
    sweep = tmp_path / "s.yaml"
    base = {**SMALL, "data": {"n": 6, "d": 20}, "model": {"width": 4}}
    sweep.write_text(yaml.safe_dump({"base": base, "zip": {"train.lr": [0.01, 0.02],
                                                           "train.steps": [5, 10]}}))  # fmt: skip
    assert invoke("sweep", sweep, "--out", tmp_path / "out").exit_code == 0
    result = invoke(
        "export", tmp_path / "out", "--grid", "train.lr,train.steps", "--to", tmp_path / "x.nc"
    )
    assert result.exit_code == 2 and "vary together" in result.output
    assert not (tmp_path / "x.nc").exists()


def test_version_and_short_help():
    from importlib.metadata import version

    assert invoke("--version").output.strip() == f"iblab {version('iblab')}"
    assert "Usage" in invoke("-h").output and "Usage" in invoke("run", "-h").output


@pytest.mark.parametrize("args", [None, ["--version"], ["-h"], ["run", "-h"], ["export", "-h"]])
def test_version_and_help_load_no_jax(args):
    import subprocess
    import sys

    call = "" if args is None else f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
    code = (
        "import sys\nfrom iblab.cli import app\n" + call + "print(sorted(m for m in "
        "('jax', 'pandas', 'duckdb', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_run_draws_its_history_and_plot_draws_a_sweep(config_file, tmp_path):
    out = tmp_path / "out"
    assert invoke("run", config_file, "--out", out).exit_code == 0
    assert (out / "history.png").stat().st_size > 1000
    sweep = tmp_path / "s.yaml"
    base = {**SMALL, "data": {"n": 6, "d": 20}, "model": {"width": 4}}
    sweep.write_text(yaml.safe_dump({"base": base, "grid": {"train.lr": [0.01, 0.1]}, "seeds": 2}))
    assert invoke("sweep", sweep, "--out", tmp_path / "runs").exit_code == 0
    fig = tmp_path / "loss.png"
    result = invoke("plot", tmp_path / "runs", "--x", "train.lr", "--y", "loss", "--to", fig)
    assert result.exit_code == 0, result.output
    assert fig.stat().st_size > 1000
    bad = invoke("plot", tmp_path / "runs", "--x", "train.lr", "--y", "nope", "--to", fig)
    assert bad.exit_code == 2 and "nope" in bad.output


ROOT = Path(__file__).resolve().parents[1]


def test_check_runs_a_claims_file_and_prints_its_table(tmp_path):
    """`iblab check FILE --quick` runs a researcher's claims file as `iblab reproduce` runs a
    paper's: a store, the printed table, claims.csv; re-running trains nothing."""
    script = ROOT / "docs" / "examples" / "conjecture.py"
    iblab_command = str(Path(sys.executable).parent / "iblab")
    command = [iblab_command, "check", str(script), "--quick", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Conjecture" in done.stdout and "excess stable rank" in done.stdout
    assert set(pd.read_csv(tmp_path / "claims.csv").outcome) <= {"agrees", "contradicts",
                                                                   "not resolved"}  # fmt: skip
    assert (tmp_path / "excess_stable_rank_vs_init_scale.png").is_file()
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "training 0 runs" in (tmp_path / "claims.md").read_text()


@pytest.mark.parametrize(
    "text,named",
    [(None, "no such file"), ("x = 1\n", "declares no REPRODUCTION"), ("1/0\n", "ZeroDivision")],
)
def test_a_bad_claims_file_is_one_line_and_exit_2(tmp_path, text, named):
    path = tmp_path / "claims.py"
    if text is not None:
        path.write_text(text)
    result = invoke("check", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert named in result.output and len(result.output.strip().splitlines()) == 1


def test_a_claims_files_evaluate_reaches_worker_processes(tmp_path):
    """A function of a file off the import path cannot be pickled by name: the loaded
    reproduction's evaluate loads it from the file where it is called."""
    import pickle

    from iblab.experiments import skeleton

    path = tmp_path / "mine.py"
    path.write_text(
        "from iblab.experiments import Reproduction\n"
        "def evaluate(result):\n    return {'twice': 2}\n"
        "REPRODUCTION = Reproduction('mine', 'mine', None, None, [], [], evaluate=evaluate)\n"
    )
    rep = skeleton.from_file(path)
    assert pickle.loads(pickle.dumps(rep.evaluate))(None) == {"twice": 2}
