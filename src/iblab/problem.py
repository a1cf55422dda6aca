"""The training problem as the engine sees it: Gram blocks, targets and the second layer.

Shapes: n training points, t test points, m neurons. With `bias`, every input carries an
appended constant coordinate 1 and W_0 an appended column b_0, already folded into the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Problem:
    """One run's data and initialisation as Gram blocks: all training needs, whatever d is.

    Shapes: n training points, t test points, m neurons, d inputs. Build one from explicit
    arrays with `Problem.from_arrays`, or from a config with `iblab.make_problem`.

    Attributes:
        y: Targets (n,); -1/+1 for classification.
        a: Second layer at initialisation (m,).
        K: X X^T (n, n).
        P0: X W_0^T (n, m).
        y_test: Test targets (t,).
        K_test: X_test X^T (t, n).
        P0_test: X_test W_0^T (t, m).
        test_sqnorms: ||x_test||^2 (t,).
        X: Inputs (n, d), without the bias coordinate; None for data sampled as Gram
            blocks, as are X_test, W0 and b0.
        X_test: Test inputs (t, d).
        W0: First layer at initialisation (m, d).
        b0: Initial biases (m,), when model.bias.
        info: Scalar facts about the data (floats), reported as `data_*` in summaries.
        sampled_G0: W_0 W_0^T (m, m), bias folded in, when it was sampled (Gram data);
            None: formed from W0 on first use (see `G0`).
    """

    y: np.ndarray  # (n,) targets; +-1 for classification
    a: np.ndarray  # (m,) second layer at initialisation
    K: np.ndarray  # (n, n) X X^T
    P0: np.ndarray  # (n, m) X W_0^T
    y_test: np.ndarray  # (t,)
    K_test: np.ndarray  # (t, n) X_test X^T
    P0_test: np.ndarray  # (t, m) X_test W_0^T
    test_sqnorms: np.ndarray  # (t,) ||x_test||^2
    # Explicit arrays, present only when the data were not sampled as Gram blocks.
    X: np.ndarray | None = None  # (n, d), without the bias coordinate
    X_test: np.ndarray | None = None  # (t, d)
    W0: np.ndarray | None = None  # (m, d)
    b0: np.ndarray | None = None  # (m,) initial bias, when model.bias
    info: dict = field(default_factory=dict)  # scalar facts about the data (floats)
    # W_0 W_0^T (m, m) when it was sampled (Gram data, bias folded in); None: formed from the
    # explicit W0 on first use, since that costs O(m^2 d) and training needs only its trace.
    sampled_G0: np.ndarray | None = None

    @cached_property
    def G0(self) -> np.ndarray:
        """W_0 W_0^T (m, m), bias folded in."""
        if self.sampled_G0 is not None:
            return self.sampled_G0
        G0 = self.W0 @ self.W0.T
        return G0 if self.b0 is None else G0 + np.outer(self.b0, self.b0)

    @cached_property
    def G0_trace(self) -> float:
        """tr W_0 W_0^T = ||W_0||_F^2 (with b_0), without forming the m x m block."""
        if self.sampled_G0 is not None:
            return float(np.trace(self.sampled_G0))
        extra = 0.0 if self.b0 is None else float(self.b0 @ self.b0)
        return float(np.einsum("ij,ij->", self.W0, self.W0)) + extra

    @property
    def n(self) -> int:
        """Number of training points."""
        return self.K.shape[0]

    @property
    def m(self) -> int:
        """Number of neurons (the width)."""
        return self.P0.shape[1]

    @property
    def n_test(self) -> int:
        """Number of test points."""
        return self.K_test.shape[0]

    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        W0: np.ndarray,
        a: np.ndarray,
        X_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        b0: np.ndarray | None = None,
        info: dict | None = None,
    ) -> Problem:
        """Form the Gram blocks from explicit arrays in one O(n d (n + m)) pass.

        Arrays are taken as float64. With b0, each input gets an appended coordinate 1 and
        W_0 the column b0, folded into the blocks.

        Args:
            X: Training inputs (n, d).
            y: Targets (n,); -1/+1 for classification.
            W0: First layer at initialisation (m, d).
            a: Second layer (m,).
            X_test: Test inputs (t, d); None for no test points.
            y_test: Test targets (t,); used only with X_test.
            b0: Initial biases (m,); None for a network without bias.
            info: Scalar facts about the data, kept as `info`.

        Returns:
            The Problem, keeping the explicit arrays.

        Raises:
            ValueError: Naming the array whose shape does not fit.
        """
        X = np.asarray(X, dtype=np.float64)
        W0 = np.asarray(W0, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X: expected an (n, d) matrix, got shape {X.shape}")
        n, d = X.shape
        if X_test is None:
            X_test = np.zeros((0, d))
            y_test = np.zeros(0)
        X_test = np.asarray(X_test, dtype=np.float64)
        y, a, y_test = (np.asarray(v, dtype=np.float64) for v in (y, a, y_test))
        m = W0.shape[0] if W0.ndim == 2 else -1
        for name, arr, shape in (
            ("y", y, (n,)),
            ("W0", W0, (m, d)),
            ("a", a, (m,)),
            ("X_test", X_test, (X_test.shape[0], d)),
            ("y_test", y_test, (X_test.shape[0],)),
        ):
            if arr.shape != shape:
                raise ValueError(
                    f"{name}: expected shape {shape} (n = {n}, d = {d}, m = {m}), got "
                    f"{arr.shape}" + ("; flatten it" if arr.shape == shape + (1,) else "")
                )
        K, P0 = X @ X.T, X @ W0.T
        K_test, P0_test = X_test @ X.T, X_test @ W0.T
        test_sqnorms = np.einsum("ij,ij->i", X_test, X_test)
        if b0 is not None:
            K, K_test = K + 1.0, K_test + 1.0
            P0, P0_test = P0 + b0[None, :], P0_test + b0[None, :]
            test_sqnorms = test_sqnorms + 1.0
        return cls(
            y=y,
            a=a,
            K=K,
            P0=P0,
            y_test=y_test,
            K_test=K_test,
            P0_test=P0_test,
            test_sqnorms=test_sqnorms,
            X=X,
            X_test=X_test,
            W0=W0,
            b0=b0,
            info=dict(info or {}),
        )
