"""Frei et al. (2023) reproduction: the one-step stable-rank drop, diagnose(), and a tiny
end-to-end run of reproduce()."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from iblab import make_problem, store, train
from iblab.claims import at_most
from iblab.config import Config
from iblab.experiments import frei2023, skeleton
from iblab.experiments.frei2023 import FreiSettings, diagnose
from iblab.problem import Problem

N, M, D = 20, 16, 2000


def _config(**train) -> Config:
    return Config.from_dict(
        {
            "seed": 3,
            "data": {
                "kind": "gaussian",
                "n": N,
                "n_test": 40,
                "d": D,
                "sample": "gram",
                "labels": {"kind": "random_sign"},
            },
            "model": {"width": M, "activation": "leaky_relu", "slope": 0.1},
            "init": {"scale": 1e-6, "base": "glorot"},
            "train": {"loss": "logistic", "lr": N / D, "steps": 30} | train,
            "record": {"geometric": True, "per_decade": 2, "spectrum": True},
        }
    )


def test_one_gd_step_from_small_init_makes_stable_rank_small():
    result = train(_config())
    h = result.history.set_index("step")
    assert result.problem.info["R_min"] ** 2 > 10 * result.problem.info["p_max"]
    assert h.loc[0, "stable_rank"] > 5.0  # a Gaussian 16 x 2000 matrix: about m d / (...)^2
    assert h.loc[1, "stable_rank"] < 3.0
    assert h.loc[1:, "stable_rank"].max() < 3.0


def test_diagnose_on_user_arrays_gives_finite_columns():
    """Explicit arrays (a user's own data) through the same blocks; long enough to separate."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    y = np.sign(rng.standard_normal(N))
    X_test = rng.standard_normal((40, D))  # the config's n_test
    W0 = 1e-6 * rng.standard_normal((M, D)) / np.sqrt(D)
    a = np.where(np.arange(M) < M // 2, 1.0, -1.0) / np.sqrt(M)
    problem = Problem.from_arrays(X, y, W0, a, X_test=X_test, y_test=np.sign(X_test[:, 0]))
    cfg = _config(steps=40, schedule="loss_normalized", lr_max=1e3 * N / D)
    cfg = Config.from_dict(
        cfg.to_dict() | {"record": cfg.record.model_dump() | {"coefficients": True}}
    )
    result = train(cfg, problem)
    df = diagnose(result)
    assert len(df) == len(result.history)
    assert list(df["step"]) == list(result.history["step"])
    always = ["stable_rank", "rank2_residual", "cosine_svm", "linear_test_agreement"]
    assert np.isfinite(df[always].to_numpy(float)).all()
    last = df.iloc[-1].drop(["kkt_valid"])
    assert np.isfinite(last.to_numpy(float)).all(), last
    assert last["accuracy"] == 1.0
    assert 0.0 <= last["kkt_residual"] < 1.0
    assert -1.0 <= last["cosine_svm"] <= 1.0


def test_diagnose_without_coefficients_gives_the_final_row():
    result = train(_config(steps=5))
    df = diagnose(result)
    assert len(df) == 1 and df["step"].iloc[0] == 5


TINY = FreiSettings(
    n=N,
    width=M,
    dims=(2000, 20000),
    init_scales=(1e-6, 1.0),
    seeds=1,
    n_test=40,
    steps=20,
    per_decade=2,
    random_label_dims=(),
    random_label_seeds=0,
    long_dims=(2000,),
    long_scales=(1e-6,),
    long_seeds=1,
    long_random_label_dims=(2000,),
    long_random_label_seeds=1,
    long_steps=20,
    long_per_decade=2,
    top_singular_values=2,
    flow_dims=(10**13,),
    flow_scales=(1e-6, 1.0),
    flow_seeds=1,
    flow_random_label_dims=(),
    flow_width=M,
    flow_per_decade=1,
    flow_log_time=69.0,
)


@pytest.fixture(scope="module")
def tiny_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("frei")
    frei2023.reproduce(out=out, settings=TINY)
    return out


def _runs(out):
    return frei2023.tidy(pd.read_parquet(out / "analysis.parquet"))


def test_reproduce_writes_claims_runs_and_figures(tiny_out):
    assert (tiny_out / "claims.md").read_text().startswith("# Frei")
    figures = ("stable_rank_vs_step", "kkt_alignment_vs_step", "test_accuracy_vs_d")
    for name in (*figures, "flow_limits_vs_time"):
        for ext in ("png", "pdf"):
            assert (tiny_out / f"{name}.{ext}").stat().st_size > 0
    runs = _runs(tiny_out)
    assert len(runs) == len(frei2023.plan(TINY)) == 8
    for col in (
        "R_min",
        "R_max",
        "p",
        "orthogonality_ratio",
        "stable_rank_step0",
        "stable_rank_step1",
        "stable_rank_final",
        "cosine_svm_final",
        "kkt_residual_final",
    ):
        assert col in runs
    gd = runs[runs["phase"] != "flow"]
    assert np.isfinite(gd["stable_rank_step1"]).all()
    assert runs.loc[runs["phase"] == "flow", "stable_rank_step1"].isna().all()  # no step 1
    claims = pd.read_csv(tiny_out / "claims.csv")
    assert set(claims["outcome"]) <= {"agrees", "contradicts", "not resolved"}
    assert len(claims) >= 10
    flow = pd.read_csv(tiny_out / "flow_limits.csv")
    assert len(flow) == 2 and (flow["flow_log_time"] == 69.0).all()
    assert {"rank2_limit", "kkt_limit", "stabilisation_log_time"} <= set(flow.columns)


def test_the_store_keeps_what_analysis_needs(tiny_out):
    """Per-record diagnostics are history columns; the final s, C, a and the recorded C are
    stored; every run's `config` column rebuilds a config that trains to its stored loss."""
    runs, history = store.load(tiny_out)
    assert {"rank2_residual", "kkt_residual", "cosine_svm", "C"} <= set(history.columns)
    for row in runs.sample(2, random_state=0).itertuples():
        config = Config.model_validate_json(row.config)
        assert store.run_id(config) == row.run_id
        result = train(config)
        assert abs(result.summary["loss"] - row.loss) <= 1e-10
        m, n = config.model.width, config.data.n
        np.testing.assert_allclose(np.asarray(row.C).reshape(m, n), result.C, rtol=1e-12)
        assert row.s == result.s
        np.testing.assert_array_equal(np.asarray(row.a), result.a)


def test_init_scales_share_one_direction(tiny_out):
    """Runs that differ only in init scale have W_0 in one direction: P0 / scale agrees."""
    runs = store.load(tiny_out, arrays=False).runs
    const = runs[runs["config.train.schedule"] == "constant"]
    const = const[const["config.data.d"] == const["config.data.d"].min()]
    problems = [
        (c.init.scale, make_problem(c))
        for c in (Config.model_validate_json(j) for j in const.config)
    ]
    assert len(problems) == 2
    (s1, p1), (s2, p2) = problems
    np.testing.assert_allclose(p1.P0 / s1, p2.P0 / s2, rtol=1e-12)
    np.testing.assert_array_equal(p1.K, p2.K)


def _judged(out, claims=frei2023.CLAIMS, limits=frei2023.LIMITS):
    """The claims of the stored runs under out, by the given declarations and limit rules."""
    frame = pd.read_parquet(out / "analysis.parquet")
    history = pd.read_parquet(out / "history.parquet")
    analysis = frei2023.prepare(frame, history, TINY, limits)
    rep = dataclasses.replace(frei2023.REPRODUCTION, claims=claims)
    return skeleton.judge(rep, analysis, TINY)


def test_claims_are_decided_by_the_measurements(tiny_out):
    """The same runs judged against impossible thresholds disagree."""
    one_step = next(c for c in frei2023.CLAIMS if c.statement.startswith("One GD step"))
    rows = {}
    for low_rank in (0.5, 1e9):
        claims = [c.with_params(bound=at_most(low_rank)) if c is one_step else c
                  for c in frei2023.CLAIMS]  # fmt: skip
        rows[low_rank] = next(c for c in _judged(tiny_out, claims) if c.claim.startswith("One"))
    assert rows[0.5].agrees is False and rows[1e9].agrees is True


def test_flow_rows_are_decided_by_each_runs_limit(tiny_out):
    """The small-init flow run settles; judged against a tolerance no residual meets, its
    row contradicts; against one every residual meets, it cannot contradict."""
    rows = {}
    rank2 = frei2023.LIMITS["rank2"]
    for rank2_tol in (-1.0, 1e9):
        limit = rank2._replace(rule=rank2.rule.with_params(tol=rank2_tol))
        claims = _judged(tiny_out, limits=frei2023.LIMITS | {"rank2": limit})
        flow = (c for c in claims if c.claim.startswith("Exact gradient flow"))
        rows[rank2_tol] = next(c for c in flow if c.claim.endswith("rank <= 2"))
    assert rows[-1.0].agrees is False
    assert rows[1e9].agrees in (True, None)


def test_flow_runs_are_judged_on_their_learned_part(tiny_out):
    """Flow records carry the rank-2 and KKT residuals of W - W_0 and W_0's share; each run
    is judged on them on log t, with no init-share guard: the large init, whose W_0 still
    dominates W, is judged on its trend as the small one is."""
    history = pd.read_parquet(tiny_out / "history.parquet")
    assert {"delta_rank2_residual", "delta_kkt_residual", "init_share", "log_time"} <= set(
        history.columns
    )
    flow = pd.read_csv(tiny_out / "flow_limits.csv").set_index("init_scale_rel")
    assert flow.loc[1e-6, "rank2_agrees"] and flow.loc[1e-6, "kkt_agrees"]
    assert flow.loc[1.0, "init_share_final"] > 1.0
    reasons = flow[["rank2_reason", "kkt_reason"]].fillna("").to_numpy().ravel()
    assert not any("init still dominates" in r for r in reasons)
    assert all(r == "" or "log t = " in r for r in reasons)


def test_settings_and_page_are_written(tiny_out):
    """Every reproduction writes settings.md and index.md (the table with its figures)."""
    assert "- flow_width: 16" in (tiny_out / "settings.md").read_text()
    page = (tiny_out / "index.md").read_text()
    assert "| claim | paper | estimate | outcome |" in page
    assert "![stable_rank_vs_step](stable_rank_vs_step.png)" in page
