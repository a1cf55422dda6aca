"""Kou, Chen, Gu (2023) reproduction: a tiny end-to-end run of reproduce() (GD and the exact
flow, both activations, Gaussian data and digits), its per-record columns, its limits, and
that its claims are decided by the measurements."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from iblab import store
from iblab.claims import at_most
from iblab.experiments import REPRODUCTIONS, kou2023, skeleton
from iblab.experiments.kou2023 import KouSettings

TINY = KouSettings(
    n=10,
    width=8,
    dims=(10**8,),
    init_scales=(1e-6,),
    seeds=1,
    lr_factors=(1.0,),
    steps=1000,
    per_decade=3,
    flow_per_decade=1,
    flow_log_time=1e3,
    flow_per_log_decade=10,
    digits_n=20,
    digits_n_test=10,
    digits_seeds=1,
)


@pytest.fixture(scope="module")
def tiny_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("kou")
    table = kou2023.REPRODUCTION.reproduce(out, settings=TINY)
    return out, table


def test_it_is_registered():
    assert REPRODUCTIONS["kou2023"] == "iblab.experiments.kou2023"
    assert skeleton.from_module(REPRODUCTIONS["kou2023"]) is kou2023.REPRODUCTION


def test_reproduce_writes_runs_limits_claims_and_pages(tiny_out):
    out, table = tiny_out
    runs = kou2023.tidy(pd.read_parquet(out / "analysis.parquet"))
    assert (
        len(runs) == len(kou2023.REPRODUCTION.plan(TINY)) == 8
    )  # {GD, flow} x {leaky, relu} x 2 sets
    assert set(runs["method"]) == {"gd", "flow"} and set(runs["data"]) == {"gaussian", "digits"}
    history = store.load(out)[1]
    for col in ("stable_rank", "block_stable_rank", "margin_spread", "kkt_residual"):
        assert col in history and np.isfinite(history[col].iloc[-1])
    limits = pd.read_csv(out / "limits.csv")
    assert len(limits) == 8 and {"rank1_limit", "spread_agrees", "kkt_reason"} <= set(limits)
    digits = runs[runs["data"] == "digits"]
    assert (digits["d"] == 64).all() and (digits["kou_ratio"] < 1).all()  # not orthogonal
    assert set(table["outcome"]) <= {"agrees", "contradicts", "not resolved"}
    assert len(table) >= 15
    first = table.iloc[0]
    assert first["claim"].startswith("Synthetic") and first["outcome"] == "agrees"
    for name in ("dynamics_gaussian", "dynamics_digits", "limits_vs_d"):
        assert (out / f"{name}.png").stat().st_size > 0
    assert "- steps: 1000" in (out / "settings.md").read_text()
    pd.testing.assert_frame_equal(skeleton.reanalyse(kou2023.REPRODUCTION, out), table)


def test_the_flow_and_gd_share_data_and_init(tiny_out):
    """A GD run and its flow twin have the same sets (same near-orthogonality facts) and the
    same W_0 (same stable rank at the start)."""
    out, _ = tiny_out
    runs = kou2023.tidy(pd.read_parquet(out / "analysis.parquet"))
    pairs = runs.pivot_table(index=["data", "act"], columns="method",
                             values=["kou_ratio", "stable_rank_step0"])  # fmt: skip
    for v in ("kou_ratio", "stable_rank_step0"):
        np.testing.assert_allclose(pairs[(v, "gd")], pairs[(v, "flow")], rtol=1e-9)


def _judged(out, claims):
    frame = pd.read_parquet(out / "analysis.parquet")
    history = pd.read_parquet(out / "history.parquet")
    analysis = kou2023.prepare(frame, history, TINY)
    rep = dataclasses.replace(kou2023.REPRODUCTION, claims=claims)
    return skeleton.judge(rep, analysis, TINY)


def test_claims_are_decided_by_the_measurements(tiny_out):
    """The ReLU bound judged against an impossible constant contradicts, against a huge one
    agrees."""
    out, _ = tiny_out
    spec = next(c for c in kou2023.CLAIMS if c.statement.startswith("GD, ReLU: the stable"))
    rows = {}
    for bound in (0.5, 1e9):
        claim = spec.with_params(bound=at_most(bound))
        rows[bound] = _judged(out, [claim])[0]
    assert rows[0.5].agrees is False and rows[1e9].agrees is True


def test_limit_checks_judge_gd_on_steps_and_the_flow_on_flow_time():
    """skeleton.limit_checks reads each run's own clock: GD's steps, the flow's time."""
    from iblab.claims import judge_run_limit

    runs = pd.DataFrame({
        "run_id": ["gd", "flow"], "config.train.optimizer": ["gd", "gradient_flow"],
        "config.train.steps": [1000, np.nan], "config.train.time": [np.nan, 1e30],
        "stabilisation_step": [0, np.nan], "stabilisation_time": [np.nan, 1.0],
        "init_share_final": [0.0, 0.0],
    })  # fmt: skip
    steps, times = np.geomspace(1, 1000, 13).round(), np.geomspace(1, 1e30, 61)
    history = pd.concat([
        pd.DataFrame({"run_id": "gd", "step": steps, "time": np.nan,
                      "q": 0.5 + 1 / np.log(np.e * steps)}),
        pd.DataFrame({"run_id": "flow", "step": np.arange(61), "time": times,
                      "q": 2.0 + 1 / np.log(np.e * times)}),
    ])  # fmt: skip
    rule = skeleton.Rule(judge_run_limit, {"tol": 1.0, "window_decades": 2.0,
                                           "max_init_share": 0.1})  # fmt: skip
    checks = skeleton.limit_checks(runs, history, {"q": skeleton.Limit("q", rule, "", "", "")})
    assert checks["q_agrees"].map(bool).to_dict() == {"gd": True, "flow": False}
    assert abs(checks.loc["gd", "q_limit"] - 0.5) < 0.05
    assert abs(checks.loc["flow", "q_limit"] - 2.0) < 0.01


def test_limit_checks_judge_a_flow_on_the_log_time_clock_on_log_t():
    """A flow with train.log_time set is judged on its records' log t (planned end and last
    switch as log t too, the rule called with log=True), as the same flow on t would be;
    the max_init_share = inf guard leaves a run W_0 still dominates resolved."""
    from iblab.claims import judge_run_limit

    runs = pd.DataFrame({
        "run_id": ["t", "log t"], "config.train.optimizer": "gradient_flow",
        "config.train.time": [1e30, None], "config.train.log_time": [np.nan, np.log(1e30)],
        "stabilisation_time": [1.0, np.nan], "stabilisation_log_time": [np.nan, 0.0],
        "init_share_final": [0.0, 50.0],
    })  # fmt: skip
    times = np.geomspace(1, 1e30, 61)
    q = 0.02 + 1 / np.log(np.e * times)
    history = pd.concat([
        pd.DataFrame({"run_id": "t", "step": np.arange(61), "time": times, "q": q}),
        pd.DataFrame({"run_id": "log t", "step": np.arange(61), "log_time": np.log(times),
                      "q": q}),
    ])  # fmt: skip
    rule = skeleton.Rule(judge_run_limit, {"tol": 0.05, "window_decades": 10.0,
                                           "max_init_share": np.inf})  # fmt: skip
    checks = skeleton.limit_checks(runs, history, {"q": skeleton.Limit("q", rule, "", "", "")})
    assert checks["q_agrees"].map(bool).to_dict() == {"t": True, "log t": True}
    np.testing.assert_allclose(checks.loc["log t", "q_limit"], checks.loc["t", "q_limit"])
