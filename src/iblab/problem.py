"""The training problem as the engine sees it: Gram blocks, targets and the second layer.

Shapes: n training points, t test points, m neurons. With `bias`, every input carries an
appended constant coordinate 1 and W_0 an appended column b_0, already folded into the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Problem:
    y: np.ndarray  # (n,) targets; +-1 for classification
    a: np.ndarray  # (m,) second layer at initialisation
    K: np.ndarray  # (n, n) X X^T
    P0: np.ndarray  # (n, m) X W_0^T
    G0: np.ndarray  # (m, m) W_0 W_0^T
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

    @property
    def n(self) -> int:
        return self.K.shape[0]

    @property
    def m(self) -> int:
        return self.G0.shape[0]

    @property
    def n_test(self) -> int:
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
        """Form the Gram blocks from explicit arrays in one O(n d (n + m)) pass."""
        X = np.asarray(X, dtype=np.float64)
        W0 = np.asarray(W0, dtype=np.float64)
        d = X.shape[1]
        if X_test is None:
            X_test = np.zeros((0, d))
            y_test = np.zeros(0)
        X_test = np.asarray(X_test, dtype=np.float64)
        K, P0, G0 = X @ X.T, X @ W0.T, W0 @ W0.T
        K_test, P0_test = X_test @ X.T, X_test @ W0.T
        test_sqnorms = np.einsum("ij,ij->i", X_test, X_test)
        if b0 is not None:
            K, K_test = K + 1.0, K_test + 1.0
            P0, P0_test = P0 + b0[None, :], P0_test + b0[None, :]
            G0 = G0 + np.outer(b0, b0)
            test_sqnorms = test_sqnorms + 1.0
        return cls(
            y=np.asarray(y, dtype=np.float64),
            a=np.asarray(a, dtype=np.float64),
            K=K,
            P0=P0,
            G0=G0,
            y_test=np.asarray(y_test, dtype=np.float64),
            K_test=K_test,
            P0_test=P0_test,
            test_sqnorms=test_sqnorms,
            X=X,
            X_test=X_test,
            W0=W0,
            b0=b0,
            info=dict(info or {}),
        )
