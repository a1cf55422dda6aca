"""Tests of iblab.data: determinism, blocks, exact Gram sampling, files, digits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from iblab.config import Config, ConfigError, Spectrum
from iblab.data import (
    block_spectrum,
    make_problem,
    near_orthogonality,
    power_sum,
    second_layer,
    wishart_identity,
)


def config(data: dict, seed: int = 0, **parts) -> Config:
    return Config.from_dict({"seed": seed, "data": data, **parts})


def gauss(**kw) -> dict:
    return {"kind": "gaussian", "n": 4, "n_test": 2, "d": 50, **kw}


def mixture(**kw) -> dict:
    return {"kind": "mixture", "n": 4, "n_test": 2, "d": 50, "mean_norm": 3.0, **kw}


SMALL_MODEL = {"width": 3}

# ------------------------------------------------------------ determinism, explicit blocks

CASES = {
    "gaussian": gauss(),
    "gaussian_gram": gauss(sample="gram", labels={"kind": "linear"}),
    "power_law_gram": gauss(sample="gram", d=10**5, spectrum={"kind": "power_law"}),
    "mixture": mixture(),
    "mixture_gram": mixture(sample="gram"),
    "orthogonal": {"kind": "orthogonal", "n": 4, "n_test": 2, "d": 8, "labels": {"kind": "sign"}},
    "digits": {"kind": "digits", "n": 20, "n_test": 5},
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_same_config_same_arrays(name, bias):
    model = {"width": 5, "second_layer": "random_sign", "bias": bias}
    first, second = (make_problem(config(CASES[name], model=model)) for _ in range(2))
    for key in ("y", "a", "K", "P0", "G0", "y_test", "K_test", "P0_test", "test_sqnorms"):
        np.testing.assert_array_equal(getattr(first, key), getattr(second, key))
    assert first.info == second.info
    other = make_problem(config(CASES[name], seed=1, model=model))
    assert not np.array_equal(first.P0, other.P0)


@pytest.mark.parametrize("name", ["gaussian", "mixture", "orthogonal", "digits"])
def test_explicit_blocks_are_products_of_arrays(name):
    p = make_problem(config(CASES[name], model=SMALL_MODEL))
    X, X_test, W0 = p.X, p.X_test, p.W0
    assert X.dtype == np.float64 and p.K.dtype == np.float64
    np.testing.assert_allclose(p.K, X @ X.T)
    np.testing.assert_allclose(p.P0, X @ W0.T)
    np.testing.assert_allclose(p.G0, W0 @ W0.T)
    np.testing.assert_allclose(p.K_test, X_test @ X.T)
    np.testing.assert_allclose(p.P0_test, X_test @ W0.T)
    np.testing.assert_allclose(p.test_sqnorms, (X_test**2).sum(1))


def test_gram_path_shapes_and_no_arrays():
    p = make_problem(config(gauss(sample="gram", n=5, n_test=3), model={"width": 7}))
    assert (p.n, p.m, p.n_test) == (5, 7, 3)
    assert p.K.shape == (5, 5) and p.P0.shape == (5, 7) and p.P0_test.shape == (3, 7)
    assert p.X is None and p.X_test is None and p.W0 is None
    np.testing.assert_array_equal(p.K, p.K.T)


def test_gaussian_inputs_follow_spectrum():
    p = make_problem(config(gauss(n=400, d=3, spectrum={"kind": "spiked", "spikes": [9.0]})))
    np.testing.assert_allclose(p.X.var(axis=0), [9.0, 1.0, 1.0], rtol=0.25)
    assert p.info["tr_sigma"] == 11.0 and p.info["tr_sigma_sq"] == 83.0


def test_orthogonal_data():
    data = {"kind": "orthogonal", "n": 3, "n_test": 2, "d": 9, "labels": {"kind": "linear"}}
    p = make_problem(config(data))
    np.testing.assert_allclose(p.K, 9.0 * np.eye(3))
    np.testing.assert_array_equal(p.K_test, 0.0)
    assert p.X_test[0, 3] == 3.0 and p.info["orthogonality_ratio"] == math.inf


# ------------------------------------------------------------ init and second layer


@pytest.mark.parametrize(
    ("kind", "m", "expected"),
    [
        ("balanced", 1, [1.0]),
        ("balanced", 4, [0.5, 0.5, -0.5, -0.5]),
        ("balanced", 3, np.array([1, 1, -1]) / math.sqrt(3)),
        ("positive", 4, [0.5] * 4),
        ((0.1, -2.0), 2, [0.1, -2.0]),
    ],
)
def test_second_layer(kind, m, expected):
    model = Config.from_dict({"model": {"width": m, "second_layer": kind}}).model
    np.testing.assert_allclose(second_layer(model, np.random.default_rng(0)), expected)


def test_random_sign_second_layer():
    model = Config.from_dict({"model": {"width": 400, "second_layer": "random_sign"}}).model
    a = second_layer(model, np.random.default_rng(0))
    np.testing.assert_allclose(np.abs(a), 1 / 20)
    assert 100 < (a > 0).sum() < 300


@pytest.mark.parametrize("sample", ["explicit", "gram"])
def test_zero_init(sample):
    cfg = config(gauss(sample=sample), init={"base": "zero"}, model={"width": 3, "bias": True})
    p = make_problem(cfg)
    assert not p.P0.any() and not p.G0.any() and not p.b0.any()


def test_init_scale():
    cfg = config(gauss(d=400, n=2), model={"width": 200}, init={"scale": 2.0, "base": "one"})
    assert make_problem(cfg).W0.std() == pytest.approx(2.0, rel=0.02)


# ------------------------------------------------------------ bias folding


def test_bias_folding_explicit():
    p = make_problem(config(gauss(), model={"width": 3, "bias": True}))
    X, X_test, W0, b0 = p.X, p.X_test, p.W0, p.b0
    assert b0.shape == (3,) and b0.any()
    np.testing.assert_allclose(p.K, X @ X.T + 1)
    np.testing.assert_allclose(p.P0, X @ W0.T + b0)
    np.testing.assert_allclose(p.G0, W0 @ W0.T + np.outer(b0, b0))
    np.testing.assert_allclose(p.K_test, X_test @ X.T + 1)
    np.testing.assert_allclose(p.P0_test, X_test @ W0.T + b0)
    np.testing.assert_allclose(p.test_sqnorms, (X_test**2).sum(1) + 1)
    assert p.info["R_max"] == pytest.approx(np.sqrt((X**2).sum(1)).max())  # unaugmented


def test_bias_folding_gram():
    data = gauss(sample="gram")
    plain = make_problem(config(data, model={"width": 3}))
    biased = make_problem(config(data, model={"width": 3, "bias": True}))
    # The data stream ignores the model, so the inputs agree.
    np.testing.assert_allclose(biased.K, plain.K + 1)
    np.testing.assert_allclose(biased.K_test, plain.K_test + 1)
    np.testing.assert_allclose(biased.test_sqnorms, plain.test_sqnorms + 1)
    assert biased.info["R_min"] == plain.info["R_min"]
    unbiased_G0 = biased.G0 - np.outer(biased.b0, biased.b0)
    assert np.linalg.eigvalsh(unbiased_G0).min() > 0


# ------------------------------------------------------------ exact Gram sampling in law

SEEDS = 400
LAW_CASES = {
    "isotropic_noise": gauss(),
    "isotropic_linear": gauss(labels={"kind": "linear", "noise": 0.5}),
    "spiked_relu": gauss(
        spectrum={"kind": "spiked", "spikes": [20.0, 5.0]}, labels={"kind": "relu"}
    ),
    "spiked_sign": gauss(spectrum={"kind": "spiked", "spikes": [30.0]}, labels={"kind": "sign"}),
    "power_law_head": gauss(spectrum={"kind": "power_law", "exponent": 1.0}),
    "rank_deficient": gauss(d=4, labels={"kind": "linear", "noise": 0.0}),
    "mixture": mixture(label_noise=0.1),
}


def statistics(p) -> np.ndarray:
    """Functions of one problem's blocks whose means pin down their joint law, averaged over
    equivalent entries: norms, correlations, their coupling with W_0 and with the labels."""
    n, iu = p.n, np.triu_indices(p.n, 1)
    sqnorms = np.concatenate([np.diag(p.K), p.test_sqnorms])
    K_off = p.K[iu]
    P = np.vstack([p.P0, p.P0_test])
    pair = p.P0[iu[0]] * p.P0[iu[1]]  # (pairs, m): P_ij P_kj
    same_side = (p.P0[iu[0]] > 0) == (p.P0[iu[1]] > 0)
    G_diag, G_off = np.diag(p.G0), p.G0[np.triu_indices(p.m, 1)]
    in_span = np.einsum("ij,ij->j", p.P0, np.linalg.solve(p.K, p.P0))  # ||proj w_j||^2
    yy_K = (p.y[:, None] * p.y[None, :] * p.K)[iu]
    parts = [
        sqnorms.mean(), (sqnorms**2).mean(), K_off.mean(), (K_off**2).mean(),
        np.abs(p.K_test).mean(), np.trace(p.K @ p.K @ p.K) / n,
        P.mean(), (P**2).mean(), (P**4).mean(), (pair * K_off[:, None]).mean(),
        (same_side * np.sign(K_off)[:, None]).mean(), (p.P0[:, 0] * p.P0[:, 1]).mean(),
        G_diag.mean(), (G_diag**2).mean(), (G_off**2).mean(),
        np.round(G_diag - in_span, 8).mean(), (in_span * G_diag).mean(),
        ((P**2).mean(0) * G_diag).mean(),
        p.y.mean(), (p.y**2).mean(), (p.y_test**2).mean(), (p.y * np.diag(p.K)).mean(),
        yy_K.mean(), (p.y[:, None] * p.P0**2).mean(), (np.abs(p.y) > 0.5).mean(),
    ]  # fmt: skip
    return np.array(parts, dtype=np.float64)


def sample_statistics(data: dict, sample: str) -> np.ndarray:
    rows = [
        statistics(make_problem(config({**data, "sample": sample}, seed=s, model=SMALL_MODEL)))
        for s in range(SEEDS)
    ]
    return np.array(rows)


@pytest.mark.parametrize("name", LAW_CASES)
def test_gram_sampling_matches_explicit_in_law(name):
    gram = sample_statistics(LAW_CASES[name], "gram")
    explicit = sample_statistics(LAW_CASES[name], "explicit")
    diff = gram.mean(0) - explicit.mean(0)
    se = np.sqrt((gram.var(0) + explicit.var(0)) / SEEDS)
    z = np.divide(np.abs(diff), se, out=np.zeros_like(diff), where=se > 0)
    assert np.all((se > 0) | (diff == 0))
    assert z.max() < 5.0, f"largest |z| = {z.max():.2f} at statistic {z.argmax()}"


def z_score(samples: np.ndarray, expected: float) -> float:
    return abs(samples.mean() - expected) / (samples.std() / np.sqrt(samples.size))


@pytest.mark.parametrize("spectrum", [{}, {"kind": "spiked", "spikes": [20.0, 5.0]}])
def test_gram_moments_match_theory(spectrum):
    d, n, noise, var = 50, 4, 0.5, 1.0 / 50  # var: init std^2 for inv_sqrt_d
    data = gauss(sample="gram", labels={"kind": "linear", "noise": noise})
    data["spectrum"] = spectrum or {"kind": "isotropic"}
    tr, tr_sq = (73.0, 473.0) if spectrum else (50.0, 50.0)
    problems = [make_problem(config(data, seed=s, model=SMALL_MODEL)) for s in range(SEEDS)]

    def mean_of(f) -> np.ndarray:
        return np.array([f(p) for p in problems])

    in_span = lambda p: np.einsum("ij,ij->j", p.P0, np.linalg.solve(p.K, p.P0))  # noqa: E731
    expected = {
        "E ||x||^2 = tr Sigma": (mean_of(lambda p: np.diag(p.K).mean()), tr),
        "E <x_i, x_k>^2 = tr Sigma^2": (mean_of(lambda p: p.K[0, 1] ** 2), tr_sq),
        "E <x, w>^2 = std^2 tr Sigma": (mean_of(lambda p: (p.P0**2).mean()), var * tr),
        "E ||w||^2 = std^2 d": (mean_of(lambda p: np.diag(p.G0).mean()), var * d),
        "E ||w - proj w||^2 = std^2 (d - n)": (
            mean_of(lambda p: (np.diag(p.G0) - in_span(p)).mean()),
            var * (d - n),
        ),
        "E y^2 = tr Sigma / d + noise^2": (mean_of(lambda p: (p.y**2).mean()), tr / d + noise**2),
    }
    for claim, (samples, value) in expected.items():
        assert z_score(samples, value) < 5, claim


HUGE = 10**9


@pytest.mark.parametrize(
    "data",
    [
        gauss(d=HUGE, sample="gram", labels={"kind": "linear"}),
        gauss(d=HUGE, sample="gram", spectrum={"kind": "spiked", "spikes": [1e8]}),
        gauss(d=HUGE, sample="gram", spectrum={"kind": "power_law", "exponent": 0.5}),
        mixture(d=HUGE, sample="gram", mean_norm=1e4),
    ],
)
def test_gram_sampling_at_huge_d(data):
    p = make_problem(config(data, model={"width": 64}))
    sqnorm = p.info["tr_sigma"] + p.info.get("mu_norm", 0.0) ** 2
    assert np.all((0.5 < np.diag(p.K) / sqnorm) & (np.diag(p.K) / sqnorm < 2))
    np.testing.assert_allclose(np.diag(p.G0), 1.0, atol=1e-3)  # std^2 d = 1
    scaled_P0 = p.P0 / np.sqrt(np.diag(p.K) / HUGE)[:, None]  # N(0, 1) entries
    assert np.all(np.abs(scaled_P0) < 6)
    assert p.info["d"] == HUGE


def test_isotropic_at_huge_d_concentrates():
    p = make_problem(config(gauss(d=HUGE, sample="gram"), model=SMALL_MODEL))
    np.testing.assert_allclose(np.diag(p.K) / HUGE, 1.0, atol=1e-3)
    assert np.abs(p.K - np.diag(np.diag(p.K))).max() < 6 * math.sqrt(HUGE)


# ------------------------------------------------------------ spectra, Wishart, orthogonality


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 2.0])
def test_power_sum(s):
    direct = np.sum(np.arange(3, 400_001, dtype=float) ** -s)
    assert power_sum(s, 3, 400_000) == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_block_spectrum_keeps_trace(exponent):
    d = 10**8
    blocks = block_spectrum(Spectrum(kind="power_law", exponent=exponent), d, n_rows=20)
    total = blocks.head.sum() + (blocks.block_dims * blocks.block_eigs).sum()
    assert blocks.head.size + blocks.block_dims.sum() == d
    assert total == pytest.approx(d, rel=1e-12)
    eigs = np.concatenate([blocks.head, blocks.block_eigs])
    assert np.all(np.diff(eigs) <= 0)


def test_too_many_spikes():
    with pytest.raises(ConfigError, match="data.spectrum.spikes"):
        make_problem(config(gauss(d=2, spectrum={"kind": "spiked", "spikes": [1, 2, 3]})))


@pytest.mark.parametrize(("df", "p"), [(2, 3), (3, 3), (40, 3)])
def test_wishart_moments(df, p):
    rng = np.random.default_rng(0)
    W = np.array([wishart_identity(rng, df, p) for _ in range(4000)])
    np.testing.assert_allclose(W.mean(0), df * np.eye(p), atol=0.15 * df)
    assert W[:, 0, 1].var() == pytest.approx(df, rel=0.1)
    assert W[:, 2, 2].var() == pytest.approx(2 * df, rel=0.1)


def test_near_orthogonality():
    K = np.array([[4.0, 0.5, -1.0], [0.5, 9.0, 0.0], [-1.0, 0.0, 16.0]])
    facts = near_orthogonality(K, gamma=0.5)
    assert (facts["R_min"], facts["R_max"], facts["p_max"]) == (2.0, 4.0, 1.0)
    assert facts["orthogonality_ratio"] == pytest.approx(0.125 * 16 / (3 * 3 * 16 * 1.0))
    assert near_orthogonality(np.eye(2))["orthogonality_ratio"] == math.inf


def test_info_uses_leaky_slope():
    data = gauss()
    relu = make_problem(config(data, model={"width": 3})).info
    leaky = make_problem(config(data, model={"width": 3, "activation": "leaky_relu"})).info
    assert leaky["orthogonality_ratio"] == pytest.approx(0.1**3 * relu["orthogonality_ratio"])
    assert all(isinstance(v, float) for v in relu.values())


# ------------------------------------------------------------ files


def table(n: int = 6, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), np.sign(rng.standard_normal(n))


def write(path, X, y) -> None:
    full = np.column_stack([X, y])
    suffix = path.suffix
    if suffix == ".npz":
        np.savez(path, X=X, y=y)
    elif suffix == ".npy":
        np.save(path, full)
    elif suffix == ".csv":
        frame = pd.DataFrame(full, columns=[f"x{i}" for i in range(X.shape[1])] + ["y"])
        frame.to_csv(path, index=False, header=path.stem.endswith("header"))
    else:
        pd.DataFrame(full, columns=[f"x{i}" for i in range(X.shape[1])] + ["y"]).to_parquet(path)


def file_config(path, test_path=None) -> Config:
    data = {"kind": "file", "path": str(path)}
    if test_path is not None:
        data["test_path"] = str(test_path)
    return config(data, model=SMALL_MODEL)


NAMES = ["x.npz", "x.npy", "x.csv", "x_header.csv", "x.parquet"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("test_name", [None, "t.npz", "t.csv"])
def test_file_formats(tmp_path, name, test_name):
    X, y = table()
    write(tmp_path / name, X, y)
    test_path = None
    if test_name is not None:
        X_t, y_t = table(n=2, seed=1)
        write(test_path := tmp_path / test_name, X_t, y_t)
    p = make_problem(file_config(tmp_path / name, test_path))
    np.testing.assert_allclose(p.X, X)
    np.testing.assert_allclose(p.y, y)
    np.testing.assert_allclose(p.K, X @ X.T)
    if test_name is None:
        assert p.n_test == 0 and p.X_test.shape == (0, 3)
    else:
        np.testing.assert_allclose(p.X_test, X_t)
        np.testing.assert_allclose(p.y_test, y_t)
    assert p.info["d"] == 3.0


@pytest.mark.parametrize(
    "name,header,named",
    [
        ("x.csv", None, None),  # no header: the last column is y
        ("x.csv", ["a", "b", "label"], None),
        ("x.csv", ["label", "a", "b"], "column 0 'label'"),
        ("x.csv", ["a", "Target", "b"], "column 1 'Target'"),
        ("x.parquet", ["y", "a", "b"], "column 0 'y'"),
        ("x.csv", ["class", "a", "y"], None),  # the last is named a label too: a feature
    ],
)
def test_the_label_is_a_tables_last_column(tmp_path, name, header, named):
    X, y = table(d=2)
    frame = pd.DataFrame(np.column_stack([X, y]), columns=header)
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False, header=header is not None)
    else:
        frame.to_parquet(path)
    if named is None:
        np.testing.assert_array_equal(make_problem(file_config(path)).y, y)
    else:
        with pytest.raises(ConfigError, match=f"data.path: the label is .* {named}"):
            make_problem(file_config(path))


def test_npz_with_test_arrays(tmp_path):
    X, y = table()
    np.savez(tmp_path / "x.npz", X=X, y=y, X_test=X[:2], y_test=y[:2])
    p = make_problem(file_config(tmp_path / "x.npz"))
    np.testing.assert_allclose(p.K_test, X[:2] @ X.T)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("bad", "what"), [(np.nan, "NaN"), (np.inf, "inf")])
def test_file_non_finite(tmp_path, name, bad, what):
    X, y = table()
    X[3, 1] = bad
    write(tmp_path / name, X, y)
    with pytest.raises(ConfigError, match=f"data.path: X contains {what} at row 3"):
        make_problem(file_config(tmp_path / name))


def test_file_nan_label(tmp_path):
    X, y = table()
    y[2] = np.nan
    write(tmp_path / "x.csv", X, y)
    with pytest.raises(ConfigError, match="data.path: y contains NaN at row 2"):
        make_problem(file_config(tmp_path / "x.csv"))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.ones((4, 2)), "y": np.ones(3)}, r"data.path: y has shape \(3,\) but X has 4"),
        ({"X": np.ones(4), "y": np.ones(4)}, "data.path: X must be 2-D"),
        ({"y": np.ones(4)}, r"data.path: .npz file lacks key\(s\) \['X'\]"),
        (
            {
                "X": np.ones((4, 2)),
                "y": np.ones(4),
                "X_test": np.ones((2, 3)),
                "y_test": np.ones(2),
            },
            "data.path: X_test has 3 columns but X has 2",
        ),
    ],
)
def test_file_shape_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "x.npz", **arrays)
    with pytest.raises(ConfigError, match=message):
        make_problem(file_config(tmp_path / "x.npz"))


def test_test_file_column_mismatch(tmp_path):
    write(tmp_path / "x.npz", *table(d=3))
    write(tmp_path / "t.csv", *table(d=4))
    with pytest.raises(ConfigError, match="data.test_path: X has 4 columns but X has 3"):
        make_problem(file_config(tmp_path / "x.npz", tmp_path / "t.csv"))


def test_unsupported_and_non_numeric_files(tmp_path):
    (tmp_path / "x.txt").write_text("1 2 3\n")
    with pytest.raises(ConfigError, match="data.path: unsupported file type '.txt'"):
        make_problem(file_config(tmp_path / "x.txt"))
    (tmp_path / "x.csv").write_text("a,b\n1,2\nfoo,3\n")
    with pytest.raises(ConfigError, match="data.path: the table holds non-numeric"):
        make_problem(file_config(tmp_path / "x.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ConfigError, match="data.path: cannot read"):
        make_problem(file_config(tmp_path / "empty.csv"))
    np.save(tmp_path / "x.npy", np.ones(5))
    with pytest.raises(ConfigError, match=r"data.path: expected a 2-D table .* shape \(5,\)"):
        make_problem(file_config(tmp_path / "x.npy"))


@pytest.mark.parametrize("field", ["path", "test_path"])
def test_missing_file_rejected_by_config(tmp_path, field):
    write(tmp_path / "x.npz", *table())
    data = {"kind": "file", "path": str(tmp_path / "x.npz"), field: str(tmp_path / "no.npz")}
    with pytest.raises(ConfigError, match=f"data.{field}: file does not exist"):
        Config.from_dict({"data": data})


# ------------------------------------------------------------ digits


@pytest.mark.parametrize("standardize", [True, False])
def test_digits(standardize):
    data = {"kind": "digits", "classes": [3, 8], "n": 50, "n_test": 20}
    p = make_problem(config({**data, "standardize": standardize}, model=SMALL_MODEL))
    assert p.X.shape == (50, 64) and p.X_test.shape == (20, 64)
    assert set(np.unique(p.y)) == {-1.0, 1.0}
    if standardize:
        np.testing.assert_allclose(p.X.mean(0), 0.0, atol=1e-12)
        assert np.all(np.isin(np.round(p.X.std(0), 12), [0.0, 1.0]))
    else:
        assert p.X.min() >= 0 and p.X.max() <= 16


def test_digits_labels_follow_classes():
    from sklearn.datasets import load_digits

    images, targets = load_digits(return_X_y=True)
    p = make_problem(config({"kind": "digits", "classes": [7, 1], "standardize": False}))
    assert p.n == np.isin(targets, [1, 7]).sum()
    first = np.flatnonzero((images == p.X[0]).all(1))[0]
    assert p.y[0] == (-1.0 if targets[first] == 7 else 1.0)


def test_digits_too_many():
    with pytest.raises(ConfigError, match="data.n"):
        make_problem(config({"kind": "digits", "n": 300, "n_test": 100}))


# ------------------------------------------------------------ init scale, label conditioning


@pytest.mark.parametrize(
    "data",
    [gauss(), gauss(sample="gram"), mixture(sample="gram"), {"kind": "orthogonal", "n": 4, "d": 8}],
)
def test_w0_is_linear_in_its_scale(data):
    """Configs that differ only in init.scale share W_0's direction and everything else."""
    model = {"width": 3, "bias": True, "second_layer": "random_sign"}
    p1, p2 = (make_problem(config(data, model=model, init={"scale": s})) for s in (0.5, 2.0))
    np.testing.assert_allclose(4 * p1.P0, p2.P0, rtol=1e-12)
    np.testing.assert_allclose(16 * p1.G0, p2.G0, rtol=1e-12)
    np.testing.assert_array_equal(p1.y, p2.y)
    np.testing.assert_array_equal(p1.a, p2.a)
    zero = make_problem(config(data, model=model, init={"scale": 0.0}))
    assert not zero.P0.any() and not zero.G0.any()
    np.testing.assert_array_equal(zero.a, p1.a)  # later draws do not depend on the scale


@pytest.mark.parametrize(
    "how,expected",
    [
        ("init_active", [1, 2, -3, -0.5]),
        ("init_active_zero", [1, 2, 0, 0]),
        ("init_dead_negative", [1, -2, -3, -0.5]),
    ],
)
def test_labels_conditioned_on_the_initial_pattern(how, expected):
    from iblab.data._labels import condition_on_init

    y = np.array([1.0, -2.0, 3.0, -0.5])
    P0 = np.array([[0.1, -1.0], [0.2, -1.0], [-0.3, 5.0], [-0.1, 5.0]])
    a = np.array([1.0, -1.0])  # neuron 1 outputs negatively: it makes no point active
    np.testing.assert_array_equal(condition_on_init(y, P0, a, how), expected)
    np.testing.assert_array_equal(condition_on_init(y, P0, a, "none"), y)


@pytest.mark.parametrize("bias", [False, True])
def test_label_condition_is_part_of_the_config(bias):
    """Targets follow the initial pattern (with the bias, on the test set too) and are the
    plain draw's targets up to sign."""
    model = {"width": 1, "second_layer": [1.0], "bias": bias}
    data = gauss(sample="gram", n_test=50, labels={"condition": "init_active"})
    p = make_problem(config(data, model=model))
    for y, P0 in ((p.y, p.P0), (p.y_test, p.P0_test)):
        active = P0[:, 0] > 0
        assert (y[active] >= 0).all() and (y[~active] <= 0).all()
        assert active.any() and (~active).any()
    plain = make_problem(config(gauss(sample="gram", n_test=50), model=model))
    np.testing.assert_array_equal(np.abs(p.y), np.abs(plain.y))
    np.testing.assert_array_equal(np.abs(p.y_test), np.abs(plain.y_test))
    np.testing.assert_array_equal(p.P0, plain.P0)
