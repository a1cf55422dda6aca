"""Engine behaviour: stopping, divergence, recording, batching and seeding."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from iblab import Config, engine, make_problem, train, training
from iblab.config import RecordConfig
from iblab.recording import record_steps
from iblab.training import _chunks, train_many

QUICKSTART = Path(__file__).parents[1] / "configs" / "quickstart.yaml"
BASE = {
    "data": {"n": 8, "d": 40, "n_test": 4},
    "model": {"width": 6},
    "train": {"lr": 0.01, "steps": 40},
    "record": {"every": 10},
}


def config(**parts):
    raw = {k: dict(v) for k, v in BASE.items()}
    for part, values in parts.items():
        raw[part] = raw.get(part, {}) | values if isinstance(values, dict) else values
    return Config.model_validate(raw)


@pytest.mark.parametrize(
    "record,steps,expected",
    [
        ({"every": 10}, 35, [0, 1, 2, 10, 20, 30, 35]),
        ({"every": 1}, 3, [0, 1, 2, 3]),
        ({"geometric": True, "per_decade": 2}, 100, [0, 1, 2, 3, 10, 32, 100]),
        ({"every": 10}, 0, [0]),
    ],
)
def test_record_steps(record, steps, expected):
    assert record_steps(RecordConfig(**record), steps).tolist() == expected


def test_history_starts_with_step_and_ends_at_last_step():
    result = train(config())
    assert result.history.columns[0] == "step"
    assert result.history.step.tolist() == [0, 1, 2, 10, 20, 30, 40]
    assert result.summary["status"] == "max_steps"
    assert result.history.loss.iloc[-1] < result.history.loss.iloc[0]


def test_divergence_is_a_status_not_an_exception():
    result = train(config(train={"lr": 1e4, "steps": 200}))
    assert result.summary["status"] == "diverged"
    stop = result.summary["stopped_at"]
    assert 0 <= stop < 200
    assert result.history.step.iloc[-1] == stop
    assert np.isfinite(result.C).all()


@pytest.mark.parametrize("lr,status", [(50.0, "diverged"), (1.0, "max_steps")])
def test_a_loss_grown_a_millionfold_is_divergence(lr, status):
    cfg = Config.from_yaml(QUICKSTART, [f"train.lr={lr}", "train.steps=50"])
    result = train(cfg)
    summary, loss = result.summary, result.history.loss
    bound = engine.DIVERGENCE_FACTOR * loss.iloc[0]
    assert summary["status"] == status
    if status == "diverged":  # stopped where the loss first passed the bound, finite
        assert 0 < summary["stopped_at"] < 50
        assert result.history.step.iloc[-1] == summary["stopped_at"]
        assert bound < summary["loss"] < np.inf and (loss.iloc[:-1] <= bound).all()
    else:
        assert loss.max() <= loss.iloc[0]


def test_loss_tolerance_stops_early():
    # A linear network with d > n always interpolates (a ReLU one may keep dead units).
    linear = {"width": 6, "activation": "linear"}
    result = train(config(model=linear, train={"lr": 0.02, "steps": 5000, "tol": 1e-3}))
    assert result.summary["status"] == "converged"
    assert result.summary["loss"] <= 1e-3
    assert result.summary["steps_run"] < 5000
    assert result.history.step.iloc[-1] == result.summary["steps_run"]


@pytest.mark.parametrize("threads", [1, 2])
def test_same_config_same_numbers_whatever_the_batch(threads, monkeypatch):
    monkeypatch.setattr(training, "THREADS", threads)
    target = config(seed=3)
    others = [config(seed=s, train={"lr": 0.005 * (s + 1)}) for s in range(5)]
    alone = train(target)
    batched = train_many(others[:2] + [target] + others[2:])[2]
    np.testing.assert_allclose(batched.C, alone.C, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(batched.history.loss, alone.history.loss, rtol=1e-10)


@pytest.mark.parametrize(
    "runs,threads,sizes", [(1, 2, [1]), (5, 2, [3, 2]), (64, 2, [32, 32]), (100, 1, [32] * 3 + [4])]
)
def test_runs_are_split_over_cores_in_chunks(runs, threads, sizes):
    chunks = _chunks(list(range(runs)), threads)
    assert [len(c) for c in chunks] == sizes
    assert sum(chunks, []) == list(range(runs))


@pytest.mark.parametrize("backend,sizes", [("cpu", [1, 1, 1]), ("gpu", [3, 3, 3])])
def test_an_accelerator_takes_a_whole_chunk_in_one_call(backend, sizes, monkeypatch):
    monkeypatch.setattr(training, "THREADS", 3)
    monkeypatch.setattr(training.jax, "default_backend", lambda: backend)
    summaries = [r.summary for r in train_many([config(seed=i) for i in range(3)])]
    assert [s["batch_size"] for s in summaries] == sizes


@pytest.mark.parametrize(
    "widths,sizes", [([6], [1]), ([6, 6, 6], [3, 3, 3]), ([6, 6, 4], [2, 2, 1])]
)
def test_a_batched_run_reports_its_share_of_the_batch_time(widths, sizes, monkeypatch):
    monkeypatch.setattr(training, "THREADS", 1)  # one batch per shape
    configs = [config(seed=i, model={"width": w}) for i, w in enumerate(widths)]
    summaries = [r.summary for r in train_many(configs)]
    assert [s["batch_size"] for s in summaries] == sizes
    for s in summaries:
        assert s["batch_wall_time_s"] > 0
        assert s["wall_time_s"] == pytest.approx(s["batch_wall_time_s"] / s["batch_size"])
    together = [s["batch_wall_time_s"] for s in summaries if s["batch_size"] == max(sizes)]
    assert len(set(together)) == 1  # one batch, one time


def test_seeds_derive_from_the_config():
    p1, p2 = make_problem(config(seed=1)), make_problem(config(seed=1))
    np.testing.assert_array_equal(p1.K, p2.K)
    np.testing.assert_array_equal(p1.P0, p2.P0)
    # A step-size change keeps the data and the initialisation; a new seed changes both.
    p3 = make_problem(config(seed=1, train={"lr": 0.5}))
    np.testing.assert_array_equal(p1.P0, p3.P0)
    assert not np.allclose(make_problem(config(seed=2)).K, p1.K)


def test_pattern_tracking():
    result = train(config(train={"lr": 0.05, "steps": 40}))
    s = result.summary
    assert 0 <= s["stabilisation_step"] <= 40
    assert 0.0 <= s["switched_fraction"] <= 1.0
    assert result.history.pattern_changes.iloc[0] == 0


def _sides(zs):
    """Feed one entry's pre-activations z_0, z_1, ... to `engine.track_sides`."""
    z0 = jnp.full((1, 1), zs[0])
    sd = engine.Sides(z0 > 0, z0, jnp.zeros((1, 1), jnp.int32), jnp.zeros((1, 1), bool),
                      jnp.zeros((1, 1), bool), jnp.zeros((), jnp.int32))  # fmt: skip
    for t, z in enumerate(zs[1:], start=1):
        Z = jnp.full((1, 1), z)
        sd = engine.track_sides(sd, Z, t)
    return sd


@pytest.mark.parametrize(
    "zs,crossed,last,band",
    [
        ([1.0, 0.6, 0.2, -0.2, -0.6, -1.0], True, 3, False),  # a clean crossing, dated at step 3
        ([1.0, 0.5, 0.1, -0.05, 0.04, -0.03, 0.02], False, 0, True),  # chatter: no change
        ([1.0, 0.1, -0.05, 0.04, -0.03, -0.2, -0.5], True, 4, False),  # chatter, then leaves
        ([1.0, 0.1, -0.05, 0.04, -0.03, 0.2, 0.5], False, 0, False),  # chatter, back up
        ([-1.0, -0.2, 0.3, -0.1, -0.5], False, 0, False),  # across and straight back
    ],
)
def test_chatter_at_the_kink_is_not_a_change_of_side(zs, crossed, last, band):
    sd = _sides(zs)
    assert bool(sd.crossed[0, 0]) is crossed
    assert int(sd.last_cross) == last
    assert bool(sd.band[0, 0]) is band


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", [3, 4, 5])  # GD chatters at a kink until it stops
def test_gd_changes_of_side_do_not_depend_on_rounding(seed, threads, monkeypatch):
    """Alone, and batched beside the same problem with its blocks perturbed by 1e-14."""
    from test_flow_rounding import perturbed

    monkeypatch.setattr(training, "THREADS", threads)
    c = config(seed=seed, data={"n": 8, "d": 40, "n_test": 4, "labels": {"kind": "noise"}},
               train={"lr": 0.5, "lr_scale": "n_over_norm_K", "steps": 3000, "tol": 1e-20},
               init={"scale": 1.0})  # fmt: skip
    p = make_problem(c)
    s = train(c, p).summary
    keys = ("status", "last_cross_step", "crossed_fraction", "held_at_end", "stabilisation_step")
    for q in train_many([c, c], [perturbed(p, seed), p]):
        assert {k: s[k] for k in keys} == {k: q.summary[k] for k in keys}
    assert s["last_cross_step"] < s["stabilisation_step"]  # the late flips are chatter
    assert s["crossed_fraction"] > 0


@pytest.mark.parametrize("weight_decay", [0.0, 0.5])  # s = 1, s < 1
def test_explicit_W_matches_blocks(weight_decay):
    result = train(config(train={"lr": 0.01, "steps": 40, "weight_decay": weight_decay}))
    W, p = result.W, result.problem
    assert (result.s < 1) == (weight_decay > 0)
    np.testing.assert_allclose(p.X @ W.T, result.s * p.P0 + p.K @ result.C.T, rtol=1e-10)


def test_gram_data_has_no_W():
    result = train(config(data={"n": 8, "d": 40, "sample": "gram"}))
    with pytest.raises(ValueError, match="sample: gram"):
        _ = result.W


@pytest.mark.parametrize("rule", ["n_over_trace", "n_over_norm_K"])
def test_lr_scale_is_lr_times_a_factor_of_the_problem(rule):
    scaled = config(train={"lr": 0.5, "lr_scale": rule})
    K = make_problem(scaled).K
    factor = K.shape[0] / (
        np.trace(K) / K.shape[0] if rule == "n_over_trace" else np.linalg.eigvalsh(K)[-1]
    )
    by_hand = config(train={"lr": 0.5 * factor})
    a, b = train(scaled), train(by_hand)
    assert a.summary["lr_effective"] == pytest.approx(0.5 * factor, rel=1e-15)
    np.testing.assert_allclose(a.C, b.C, rtol=1e-12, atol=0)
    assert "lr_scale" not in by_hand.to_dict()["train"]  # the default keeps old run ids
    assert scaled.to_dict()["train"]["lr_scale"] == rule


def test_import_and_training_leave_jax_precision_alone():
    # 64-bit types are switched on only while iblab computes, and only in that thread.
    code = (
        "import jax; before = jax.config.jax_enable_x64; import iblab; "
        "imported = jax.config.jax_enable_x64; "
        "c = iblab.Config.model_validate({'data': {'n': 4, 'd': 8}, 'model': {'width': 3}, "
        "'train': {'steps': 3}}); r = iblab.train(c); "
        "print(before, imported, jax.config.jax_enable_x64, r.C.dtype)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "float64"]


@pytest.mark.parametrize("x64", [True, False])
def test_numbers_do_not_depend_on_the_callers_jax_precision(x64):
    target = config(train={"lr": 0.05, "steps": 40, "schedule": "cosine"})
    plain = train(target)
    with jax.enable_x64(x64):
        inside = train(target)
    np.testing.assert_array_equal(inside.C, plain.C)
    pd.testing.assert_frame_equal(inside.history, plain.history)


def test_progress_is_reported_to_the_callback_passed_in():
    steps = []
    result = train(config(train={"lr": 0.01, "steps": 40}), on_progress=steps.append)
    assert steps == sorted(steps) and steps[-1] == 40 and len(steps) <= engine.PROGRESS_CHUNKS
    assert not hasattr(engine, "on_progress")
    seen = []
    train_many([config(seed=s) for s in range(3)], on_progress=seen.append)
    assert max(seen) == 40
    assert result.summary["steps_run"] == 40


def test_runs_that_differ_only_in_steps_or_records_share_programs():
    spec = training.spec_for(config(train={"steps": 40}))
    longer = training.spec_for(config(train={"steps": 90}, record={"every": 3}))
    assert spec.record_at != longer.record_at
    share = engine._programs(engine.program_spec(spec))
    assert engine._programs(engine.program_spec(longer)) is share
    cosine = [training.spec_for(config(train={"steps": s, "schedule": "cosine"})) for s in (40, 90)]
    assert len({engine._programs(engine.program_spec(c)) for c in cosine}) == 2


def test_threads_calling_one_program_at_once_compile_it_once():
    traced = []

    def double(x):
        traced.append(x.shape)  # runs once per trace
        return 2 * x

    once = engine._CompiledOnce(jax.jit(double))
    x = np.arange(4.0)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: once(x), range(8)))
    assert traced == [(4,)] and all(np.array_equal(o, 2 * x) for o in outs)
    once(np.arange(3.0))
    assert traced == [(4,), (3,)]
