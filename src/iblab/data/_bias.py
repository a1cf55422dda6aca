"""Folding a bias into the Gram blocks: each input gets an appended coordinate 1, W_0 the
column b_0, so K += 1, X W_0^T += b_0, W_0 W_0^T += b_0 b_0^T and ||x_test||^2 += 1."""

from __future__ import annotations

import dataclasses

import numpy as np

from iblab.problem import Problem


def fold_bias(problem: Problem, b0: np.ndarray | None) -> Problem:
    """problem with b0 (m,) folded into its blocks and stored; unchanged when b0 is None."""
    if b0 is None:
        return problem
    return dataclasses.replace(
        problem,
        K=problem.K + 1.0,
        P0=problem.P0 + b0[None, :],
        sampled_G0=None if problem.sampled_G0 is None else problem.sampled_G0 + np.outer(b0, b0),
        K_test=problem.K_test + 1.0,
        P0_test=problem.P0_test + b0[None, :],
        test_sqnorms=problem.test_sqnorms + 1.0,
        b0=b0,
    )
