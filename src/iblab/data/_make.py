"""From a validated Config to the Problem the engine trains."""

from __future__ import annotations

import dataclasses

import numpy as np

from iblab import budget
from iblab.config import Config, GaussianData, MixtureData
from iblab.data._bias import fold_bias
from iblab.data._dataset import Dataset
from iblab.data._digits import digits_dataset
from iblab.data._files import file_dataset
from iblab.data._gaussian import gaussian_dataset, mixture_dataset, orthogonal_dataset
from iblab.data._gram_sampling import gaussian_gram, init_gram, mixture_gram
from iblab.data._init import explicit_init, init_std, initial_bias, second_layer
from iblab.data._labels import condition_on_init
from iblab.data._orthogonality import near_orthogonality
from iblab.problem import Problem
from iblab.seeding import rng_for

_LEAKY = ("leaky_relu", "smooth_leaky_relu")


def make_problem(config: Config) -> Problem:
    """The Gram blocks, targets and second layer of a config, in float64.

    Data (inputs, labels, teacher) come from the "data" stream, W_0, b_0 and a random second
    layer from the "init" stream, so one config always gives bit-identical arrays. Gaussian
    and mixture data with sample = "gram" are sampled as Gram blocks at a cost independent of
    d (X, X_test, W0 are then None); everything else is generated or read explicitly and
    reduced to blocks. With model.bias, b_0 ~ N(0, std^2) like W_0's entries and every input
    gets an appended coordinate 1, folded into the blocks (K += 1, P0 += b_0, G0 += b_0 b_0^T,
    likewise for the test blocks, test_sqnorms += 1). Targets are tied to W_0 last, when
    data.labels.condition asks for it.

    Args:
        config: The run's configuration.

    Returns:
        The Problem. Its info holds d; tr_sigma (tr Sigma for Gaussian data, with
            tr_sigma_sq = tr Sigma^2; d, the noise covariance's trace, for mixtures; norm^2
            for orthogonal data; the mean ||x_i||^2 for file and digits data); and
            `near_orthogonality`'s facts of the training inputs, without the bias coordinate.

    Raises:
        ConfigError: The run would not fit in memory (`iblab.budget.check`), or the data
            cannot be made as configured (an unreadable or malformed file, too few digits,
            more spikes than d).
    """
    budget.check(config)
    data = config.data
    if isinstance(data, GaussianData | MixtureData) and data.sample == "gram":
        return _conditioned(config, _gram_problem(config))
    return _conditioned(config, _explicit_problem(config, _dataset(config)))


def _conditioned(config: Config, p: Problem) -> Problem:
    """The targets tied to the initialisation when data.labels.condition asks for it."""
    labels = getattr(config.data, "labels", None)
    if labels is None or labels.condition == "none":
        return p
    how = labels.condition
    return dataclasses.replace(
        p,
        y=condition_on_init(p.y, p.P0, p.a, how),
        y_test=condition_on_init(p.y_test, p.P0_test, p.a, how),
    )


def _dataset(config: Config) -> Dataset:
    data, rng = config.data, rng_for(config, "data")
    if data.kind == "gaussian":
        return gaussian_dataset(data, rng)
    if data.kind == "mixture":
        return mixture_dataset(data, rng)
    if data.kind == "orthogonal":
        return orthogonal_dataset(data, rng)
    if data.kind == "file":
        return file_dataset(data)
    return digits_dataset(data, rng)


def _with_facts(config: Config, problem: Problem, info: dict) -> Problem:
    gamma = config.model.slope if config.model.activation in _LEAKY else 1.0
    facts = {**info, **near_orthogonality(problem.K, gamma)}
    return dataclasses.replace(problem, info={k: float(v) for k, v in facts.items()})


def _explicit_problem(config: Config, ds: Dataset) -> Problem:
    W0, b0, a = explicit_init(config, ds.X.shape[1], rng_for(config, "init"))
    problem = Problem.from_arrays(ds.X, ds.y, W0, a, X_test=ds.X_test, y_test=ds.y_test)
    return fold_bias(_with_facts(config, problem, ds.info), b0)


def _gram_problem(config: Config) -> Problem:
    data = config.data
    sample = gaussian_gram if data.kind == "gaussian" else mixture_gram
    K_all, y_all, info = sample(data, rng_for(config, "data"))
    rng = rng_for(config, "init")
    std = init_std(config, data.d)
    P_all, G0 = init_gram(K_all, data.d, std, config.model.width, rng)
    b0 = initial_bias(config, std, rng)
    a = second_layer(config.model, rng)
    n = data.n
    problem = Problem(
        y=y_all[:n].copy(),
        a=a,
        K=K_all[:n, :n].copy(),
        P0=P_all[:n].copy(),
        sampled_G0=G0,
        y_test=y_all[n:].copy(),
        K_test=K_all[n:, :n].copy(),
        P0_test=P_all[n:].copy(),
        test_sqnorms=np.diag(K_all)[n:].copy(),
    )
    return fold_bias(_with_facts(config, problem, info), b0)
