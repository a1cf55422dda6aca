"""iblab.compare: runs paired by their draw, their distances computed from Gram blocks."""

import math

import numpy as np
import pandas as pd
import pytest

import iblab
from iblab import Config, compare, store
from iblab.sweep import expand, parse_sweep, run_sweep

BASE = {
    "data": {"n": 6, "d": 30, "n_test": 2},
    "model": {"width": 4},
    "init": {"scale": 0.5},
    "train": {"lr_scale": "n_over_norm_K", "steps": 300, "tol": 1e-9},
    "record": {"every": 100},
}
FLOW = "train.optimizer == 'gradient_flow'"


def mixed(base=BASE, seeds=2):
    """GD at two steps (one with weight decay, so s != 1) and the flow, on `seeds` draws."""
    grid = {"train.optimizer": ["gd", "gradient_flow"], "train.lr": [0.5, 0.1]}
    configs = expand(parse_sweep({"base": base, "grid": grid, "seeds": seeds}))
    decayed = [c for c in configs if c.train.optimizer == "gd" and c.train.lr == 0.1]
    return configs + [
        c.model_copy(update={"train": c.train.model_copy(update={"weight_decay": 0.05})})
        for c in decayed
    ]


@pytest.fixture(scope="module")
def results():
    return iblab.train_many(mixed())


@pytest.mark.parametrize("bias", [False, True])
def test_distances_from_blocks_are_the_norms_of_the_weights(bias):
    base = BASE | {"model": {"width": 4, "bias": bias}}
    trained = iblab.train_many(mixed(base, seeds=1))
    pairs = compare.distances(trained, FLOW).set_index("run_id")
    ref = next(r for r in trained if r.config.train.optimizer == "gradient_flow")
    W0 = np.column_stack([ref.problem.W0] + ([ref.problem.b0] if bias else []))

    def weights(r):
        return np.column_stack([r.W] + ([r.b] if bias else []))

    assert len(pairs) == 3 and any(r.s != 1.0 for r in trained)
    for r in trained:
        if r is ref:
            continue
        row = pairs.loc[store.run_id(r.config)]
        distance = np.linalg.norm(weights(r) - weights(ref))
        travel = np.linalg.norm(weights(ref) - W0)
        np.testing.assert_allclose(row.distance, distance, rtol=1e-9)
        np.testing.assert_allclose(row.reference_travel, travel, rtol=1e-9)
        np.testing.assert_allclose(row.relative_distance, distance / travel, rtol=1e-9)


def test_a_store_gives_what_its_results_give(results, tmp_path):
    run_sweep([r.config for r in results], tmp_path)
    stored = compare.distances(tmp_path, FLOW).sort_values("run_id", ignore_index=True)
    direct = compare.distances(results, FLOW).sort_values("run_id", ignore_index=True)
    pd.testing.assert_frame_equal(stored, direct, rtol=1e-12)
    assert len(direct) == 6 and direct.draw_id.nunique() == 2
    assert set(direct.reference_id) == {
        store.run_id(r.config) for r in results if r.config.train.optimizer == "gradient_flow"
    }
    assert (direct.differs == "train.optimizer").all()  # the flow takes no lr, weight_decay
    assert (direct["config.train.weight_decay"] > 0).sum() == 2
    assert direct["config.train.lr"].notna().all() and "config.train.time" not in direct


@pytest.mark.parametrize(
    "reference,rows",
    [
        (FLOW, 6),
        ("config.train.optimizer == 'gradient_flow'", 6),  # the prefix may stay
        ("`train.optimizer` == 'gradient_flow' and seed == 0", 3),  # backquoted; one draw
        ("train.lr == 0.5 and train.optimizer == 'gd'", 6),  # a GD reference
        ("train.weight_decay > 0", 6),
        ("train.optimizer.str.startswith('grad')", 6),  # a method after the key
    ],
)
def test_which_runs_a_reference_picks(results, reference, rows):
    pairs = compare.distances(results, reference)
    assert len(pairs) == rows and pairs.relative_distance.notna().all()


@pytest.mark.parametrize(
    "reference,message",
    [
        ("train.lrr == 0.5", "'train.lrr' is not a config key of the runs; did you mean"),
        ("train.lr == 7.0", "picks none of the 8 runs"),
        ("train.optimizer == 'gd'", "picks two runs on draw"),
        ("train.lr ==", "cannot evaluate 'train.lr =='"),
    ],
)
def test_a_bad_reference_is_one_line_naming_it(results, reference, message):
    with pytest.raises(ValueError, match="^reference: ") as error:
        compare.distances(results, reference)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_iblab_compare_is_imported_on_first_use():
    assert iblab.compare is compare and "compare" in dir(iblab)


@pytest.mark.parametrize(
    "source,message", [(42, "a store directory or TrainResults"), ("empty", "no runs in")]
)
def test_the_comparison_needs_runs(tmp_path, source, message):
    source = tmp_path if source == "empty" else source
    with pytest.raises(ValueError, match=f"^source: {message}"):
        compare.distances(source, FLOW)


CFG = Config.model_validate(BASE)


def changed(**train):
    return CFG.model_copy(update={"train": CFG.train.model_copy(update=train)})


@pytest.mark.parametrize(
    "a,b,keys",
    [
        (
            changed(lr=0.5),
            changed(optimizer="gradient_flow", steps=1000, lr_scale="none"),
            ["train.optimizer"],
        ),
        (changed(lr=0.5), changed(lr=0.1), ["train.lr"]),
        (changed(lr_scale="none"), CFG, ["train.lr_scale"]),
        (
            CFG,
            CFG.model_copy(update={"record": CFG.record.model_copy(update={"every": 7})}),
            ["record.every"],
        ),
        (
            changed(optimizer="gradient_flow", steps=1000, lr_scale="none", time=1.0),
            changed(optimizer="gradient_flow", steps=1000, lr_scale="none", lr=3.0),
            ["train.time"],
        ),
    ],
    ids=["gd-flow", "lr", "lr_scale", "record", "flow-time"],
)
def test_differing_keys_are_those_both_runs_take(a, b, keys):
    assert compare.differing_keys(a, b) == compare.differing_keys(b, a) == keys


@pytest.mark.parametrize("old_store", [False, True])
def test_failed_runs_have_no_distance_and_draws_without_a_reference_are_left_out(
    results, tmp_path, old_store
):
    kept = [r for r in results if r.config.seed == 0]
    lone = [r for r in results if r.config.seed == 1 and r.config.train.optimizer == "gd"]
    for r in kept + lone:
        table = store.result_table(r)
        if old_store:  # written before runs recorded their draw
            table = table.drop_columns(["draw_id"])
        store.write_run(tmp_path, table)
    failed = changed(lr=0.3)
    rid = store.run_id(failed)
    store.write_run(
        tmp_path, store.run_table(failed.to_dict(), rid, {"status": "error"}, message="boom")
    )
    pairs = compare.distances(tmp_path, FLOW).set_index("run_id")
    assert len(pairs) == 4 and pairs.draw_id.nunique() == 1  # seed 1 has no flow run
    assert pairs.loc[rid, "status"] == "error" and math.isnan(pairs.loc[rid, "distance"])
    assert pairs.drop(rid).distance.notna().all()


def test_no_other_run_gives_an_empty_frame(results):
    flows = [r for r in results if r.config.train.optimizer == "gradient_flow"]
    pairs = compare.distances(flows, FLOW)
    assert pairs.empty and list(pairs.columns) == list(compare.COLUMNS)
