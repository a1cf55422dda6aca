"""iblab plot: what each option changes in the figure (read from its matplotlib objects),
the selections and derived columns, and bad option values (one line, exit status 2)."""

import itertools

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iblab import Config, store
from iblab.cli import app
from iblab.figures import OKABE_ITO, metric_figure, pyplot
from iblab.plotting import PlotError, evaluate, prepare, summarise, where

D = (10, 300, 10000)
LR = (0.01, 0.1)
SCALE = (0.5, 1.0)
SEEDS = range(4)


def loss_of(d, lr, scale, seed):
    return lr * d / 100 * scale * (1 + 0.1 * seed)


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    """A store of 48 runs (no training): d x lr x init scale x 4 seeds, loss known."""
    out = tmp_path_factory.mktemp("store")
    for d, lr, scale, seed in itertools.product(D, LR, SCALE, SEEDS):
        cfg = Config.model_validate(
            {
                "seed": seed,
                "data": {"n": 6, "d": d},
                "model": {"width": 4},
                "init": {"scale": scale},
                "train": {"lr": lr},
            }
        )
        loss = loss_of(d, lr, scale, seed)
        summary = {"status": "max_steps", "loss": loss, "gap": loss - 0.05, "n_over_d": 6 / d}
        store.write_run(out, store.run_table(cfg.to_dict(), store.run_id(cfg), summary))
    return out


@pytest.fixture(scope="module")
def runs(directory):
    return store.load(directory, arrays=False).runs


def draw(runs, **options):
    drawn, plot = prepare(runs, **{"x": "data.d", "y": "loss"} | options)
    return metric_figure(drawn, plot)


def panels(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def lines(ax):
    """The median lines of a panel: (x, y, colour, line style)."""
    return [(ln.get_xdata(), ln.get_ydata(), ln.get_color(), ln.get_linestyle()) for ln in ax.lines]


def bands(ax):
    """The y extent of each band of a panel."""
    ys = [np.concatenate([p.vertices[:, 1] for p in c.get_paths()]) for c in ax.collections]
    return [(y.min(), y.max()) for y in ys]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    pyplot().close("all")


def test_default_is_the_median_over_runs_with_an_interquartile_band(runs):
    fig = draw(runs)
    (ax,) = panels(fig)
    ((x, y, colour, style),) = lines(ax)
    at_d = [[loss_of(d, *p) for p in itertools.product(LR, SCALE, SEEDS)] for d in D]
    np.testing.assert_allclose(x, D)
    np.testing.assert_allclose(y, [np.median(v) for v in at_d])
    low, high = bands(ax)[0]
    assert np.isclose(low, np.quantile(at_d[0], 0.25)) and np.isclose(
        high, np.quantile(at_d[-1], 0.75)
    )
    assert colour == OKABE_ITO[0] and ax.get_xscale() == "log"  # d spans three decades
    assert "median" in ax.get_ylabel() and ax.get_legend() is None


@pytest.mark.parametrize(
    "options,colours,styles",
    [
        ({"hue": ["train.lr"]}, 2, 1),
        ({"hue": ["train.lr", "init.scale"]}, 4, 1),
        ({"style": "train.lr"}, 1, 2),
        ({"hue": ["init.scale"], "style": "train.lr"}, 2, 2),
    ],
)
def test_hue_and_style_give_one_line_per_combination(runs, options, colours, styles):
    (ax,) = panels(draw(runs, **options))
    drawn = lines(ax)
    assert len(drawn) == colours * styles
    assert len({c for *_, c, _ in drawn}) == colours
    assert len({s for *_, s in drawn}) == styles
    assert len(ax.get_legend().get_texts()) == (colours if "hue" in options else 0) + (
        styles if "style" in options else 0
    )


def test_hue_labels_name_each_key(runs):
    (ax,) = panels(draw(runs, hue=["train.lr", "init.scale"]))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "train.lr = 0.01, init.scale = 0.5"
    assert len(set(labels)) == 4


def test_facet_gives_one_panel_per_value_with_shared_axes(runs):
    fig = draw(runs, facet="train.lr", hue=["init.scale"])
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["train.lr = 0.01", "train.lr = 0.1"]
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[1])
    assert all(len(lines(ax)) == 2 for ax in axes)
    assert len(fig.legends) == 1  # below the panels
    lr = np.array([0.01, 0.1])
    tops = [max(y.max() for _, y, _, _ in lines(ax)) for ax in axes]
    np.testing.assert_allclose(np.divide(tops, tops[0]), lr / lr[0])


@pytest.mark.parametrize(
    "options,scales",
    [
        ({}, ("log", "log")),
        ({"logx": False}, ("linear", "log")),
        ({"logy": False}, ("log", "linear")),
        ({"x": "train.lr"}, ("linear", "log")),  # one decade: linear
        ({"x": "train.lr", "logx": True}, ("log", "log")),
    ],
)
def test_log_axes(runs, options, scales):
    (ax,) = panels(draw(runs, **options))
    assert (ax.get_xscale(), ax.get_yscale()) == scales


@pytest.mark.parametrize("band,quantiles", [("iqr", (0.25, 0.75)), ("minmax", (0.0, 1.0))])
def test_band_edges(runs, band, quantiles):
    (ax,) = panels(draw(runs, band=band, hue=["train.lr"]))
    values = [loss_of(D[0], LR[0], s, seed) for s in SCALE for seed in SEEDS]
    low = min(low for low, _ in bands(ax))
    assert np.isclose(low, np.quantile(values, quantiles[0]))
    assert len(ax.collections) == 2


def test_band_none_draws_every_run(runs):
    (ax,) = panels(draw(runs, band="none"))
    dots = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(dots) == len(runs)
    assert "dots" in ax.get_ylabel()


def test_one_run_per_point_has_no_band(runs):
    (ax,) = panels(draw(runs, hue=["train.lr", "init.scale"], style="seed"))
    assert len(lines(ax)) == 16 and not ax.collections
    assert "median" not in ax.get_ylabel()


@pytest.mark.parametrize(
    "sql,pandas",
    [
        ('"config.train.lr" = 0.1', "train.lr == 0.1"),
        ('"config.data.d" >= 200 AND "config.seed" IN (0, 1)', "data.d >= 200 and seed in [0, 1]"),
        ("loss < 0.05 OR status <> 'max_steps'", "`loss` < 0.05 or status != 'max_steps'"),
        (
            '"config.init.scale" = 1 AND NOT "config.seed" = 3',
            "config.init.scale == 1 and not seed == 3",
        ),
    ],
)
def test_where_takes_sql_or_pandas(runs, sql, pandas):
    by_sql, by_pandas = where(runs, sql), where(runs, pandas)
    assert 0 < len(by_sql) < len(runs)
    assert list(by_sql.run_id) == list(by_pandas.run_id)


def test_where_narrows_what_is_drawn(runs):
    (ax,) = panels(draw(runs, conditions=["train.lr == 0.1", '"config.init.scale" = 1']))
    ((_, y, _, _),) = lines(ax)
    np.testing.assert_allclose(y, [np.median([loss_of(d, 0.1, 1.0, s) for s in SEEDS]) for d in D])


def test_derive_adds_a_column_to_draw_and_select(runs):
    options = {"definitions": ["ratio = gap / sqrt(n_over_d)", "twice = 2 * ratio"]}
    drawn, plot = prepare(runs, x="data.d", y="twice", conditions=["ratio > 0"], **options)
    expected = 2 * (runs.gap / np.sqrt(runs.n_over_d))
    np.testing.assert_allclose(np.sort(drawn.twice), np.sort(expected[expected > 0]))
    points = summarise(drawn, plot)
    assert list(points.columns) == ["config.data.d", "median", "runs", "low", "high"]


@pytest.mark.parametrize(
    "expression",
    [
        "(loss).to_csv('leak.csv')",
        "loss.__class__",
        "__import__('os')",
        "@np",
        "open('leak.csv')",
        "loss[0]",
        "[v for v in loss]",
        "lambda: 1",
        "sqrt(loss, out=loss)",
        "loss @ loss",
    ],
)
def test_expressions_run_no_code(runs, expression, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PlotError, match="--derive") as e:
        evaluate(runs, expression, "--derive")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "leak.csv").exists()


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_draws_with_every_option(directory, tmp_path):
    fig = tmp_path / "f.png"
    result = invoke(
        "plot", directory, "--x", "data.d", "--y", "ratio", "--to", fig,
        "--hue", "train.lr", "--style", "init.scale", "--facet", "seed",
        "--where", "seed < 2", "--derive", "ratio = gap / sqrt(n_over_d)",
        "--band", "minmax", "--logx", "--no-logy",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert fig.stat().st_size > 1000
    assert "24 runs; 24 left out" in " ".join(result.output.split())
    assert "warning" not in result.output


def test_cli_warns_when_a_point_pools_unlike_runs(directory, tmp_path):
    pooled = invoke("plot", directory, "--x", "data.d", "--y", "loss", "--to", tmp_path / "f.png")
    assert pooled.exit_code == 0 and "warning" in pooled.output
    assert "init.scale, train.lr" in pooled.output or "train.lr, init.scale" in pooled.output
    split = invoke(
        "plot", directory, "--x", "data.d", "--y", "loss", "--to", tmp_path / "f.png",
        "--hue", "train.lr,init.scale",
    )  # fmt: skip
    assert split.exit_code == 0 and "warning" not in split.output


@pytest.mark.parametrize(
    "args,named",
    [
        (["--x", "data.dd"], "--x: 'data.dd' is not a column of the runs; did you mean 'data.d'?"),
        (["--y", "los"], "did you mean 'loss'?"),
        (["--y", "status"], "--y: 'status' is not numeric"),
        (["--hue", "train.lrr"], "--hue: 'train.lrr' is not a column of the runs; did you mean"),
        (["--style", "seeds"], "did you mean 'seed'?"),
        (["--facet", "init.scal"], "did you mean 'init.scale'?"),
        (["--hue", "data.d"], "--hue: 'data.d' is given to --x already"),
        (["--hue", "seed,train.lr"], "--hue: 8 combinations of seed, train.lr, but 7 colours"),
        (["--band", "wide"], "--band: expected iqr, minmax or none, got 'wide'"),
        (["--where", "seed > 10"], "--where: 'seed > 10' picks none of the 48 runs"),
        (["--where", "train.lrr == 0.1"], "--where: 'train.lrr' is not a column"),
        (["--where", '"config.train.lrr" = 0.1'], 'did you mean "config.train.lr"?'),
        (
            ["--where", "seed IN (0, 1)"],
            "'seed' is not a column of the runs; did you mean \"config.seed\"?",
        ),
        (["--where", "loss <"], "--where: cannot parse 'loss <'"),
        (["--where", "loss + 1"], "--where: 'loss + 1' is not a condition"),
        (["--derive", "ratio = gap / sqrt("], "--derive: cannot parse 'gap / sqrt('"),
        (["--derive", "ratio = gap.to_csv('x')"], "--derive: 'gap.to_csv' is not a column"),
        (["--derive", "ratio = (gap).to_csv('x')"], "not other calls"),
        (["--derive", "ratio = gap + 'a'"], "--derive: cannot evaluate \"gap + 'a'\""),
        (["--derive", "loss = 2 * gap"], "--derive: 'loss' is a column already"),
        (["--derive", "ratio"], "--derive: 'ratio' is not of the form 'name = expression'"),
        (["--y", "gap", "--logy"], "--logy: 24 values of 'gap' are <= 0"),
        (["--x", "train.optimizer", "--logx"], "--logx: 'train.optimizer' is not numeric"),
    ],
)
def test_bad_option_is_one_line_and_exit_2(directory, tmp_path, args, named):
    fig = tmp_path / "f.png"
    axes = [o for k, v in (("--x", "data.d"), ("--y", "loss")) if k not in args for o in (k, v)]
    result = invoke("plot", directory, "--to", fig, *axes, *args)
    assert result.exit_code == 2, result.output
    text = [line for line in result.output.splitlines() if line.strip()]
    assert len(text) == 1 and text[0].startswith("error:") and named in text[0], result.output
    assert "Traceback" not in result.output
    assert not fig.exists()  # refused before drawing


def test_expression_errors_name_the_definition(runs):
    with pytest.raises(PlotError, match=r"in 'ratio = gap / nope'"):
        prepare(runs, x="data.d", y="loss", definitions=["ratio = gap / nope"])
    with pytest.raises(PlotError, match="did you mean 'gap'"):
        prepare(runs, x="data.d", y="loss", definitions=["ratio = gapp / 2"])


def test_metric_figure_draws_a_plain_frame():
    frame = pd.DataFrame({"config.data.d": [1, 1, 2], "loss": [1.0, 3.0, 2.0]})
    drawn, plot = prepare(frame, x="data.d", y="loss")
    (ax,) = panels(metric_figure(drawn, plot))
    ((x, y, _, _),) = lines(ax)
    assert list(x) == [1, 2] and list(y) == [2.0, 2.0]


@pytest.mark.parametrize(
    "args,expected",
    [
        ([], {"hue": (), "logx": None, "logy": None, "band": "iqr"}),
        (["--hue", "train.lr,init.scale"], {"hue": ("config.train.lr", "config.init.scale")}),
        (
            ["--hue", "init.scale", "--hue", "train.lr"],
            {"hue": ("config.init.scale", "config.train.lr")},
        ),
        (["--logx", "--no-logy"], {"logx": True, "logy": False}),
        (["--style", "seed", "--facet", "train.lr"], {"style": "config.seed"}),
    ],
)
def test_cli_passes_its_options_on(directory, tmp_path, monkeypatch, args, expected):
    import iblab.figures

    seen = {}
    monkeypatch.setattr(iblab.figures, "metric_figure", lambda runs, plot: seen.update(p=plot))
    monkeypatch.setattr(iblab.figures, "save", lambda fig, path: path)
    fig = tmp_path / "f.png"
    result = invoke("plot", directory, "--x", "data.d", "--y", "loss", "--to", fig, *args)
    assert result.exit_code == 0, result.output
    assert {k: getattr(seen["p"], k) for k in expected} == expected


def test_a_missing_value_is_a_group_of_its_own():
    """Flow runs have no step size: they are a line (and a panel) of their own."""
    frame = pd.DataFrame(
        {
            "config.data.d": [1, 2, 1, 2],
            "config.train.optimizer": ["gd", "gd", "gradient_flow", "gradient_flow"],
            "config.train.lr": [0.1, 0.1, np.nan, np.nan],
            "loss": [1.0, 2.0, 3.0, 4.0],
        }
    )
    (ax,) = panels(
        metric_figure(*prepare(frame, "data.d", "loss", hue=["train.optimizer", "train.lr"]))
    )
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["gd, train.lr = 0.1", "gradient_flow, train.lr = None"]
    assert [list(y) for _, y, _, _ in lines(ax)] == [[1.0, 2.0], [3.0, 4.0]]
    fig = metric_figure(*prepare(frame, "data.d", "loss", facet="train.lr"))
    assert [ax.get_title() for ax in panels(fig)] == ["train.lr = 0.1", "train.lr = None"]
