"""Frei et al. (2023) reproduction: what it runs (FreiSettings), full and quick; the
thresholds that decide its claims are the parameters of its rules (claims.py)."""

from __future__ import annotations

from dataclasses import dataclass

TITLE = "Frei, Vardi, Bartlett, Srebro, Hu (ICLR 2023): implicit bias of leaky ReLU networks"
ABOUT = (
    "Leaky ReLU (gamma = slope), logistic loss, first layer trained, second layer balanced "
    "+-1/sqrt(m) and fixed; data sampled as Gram blocks (`sample: gram`); constant-step GD "
    "with lr = lr_factor * n / d, then loss-normalised GD (lr_t = min(lr / L_t, "
    "lr_max_factor * lr)), then exact gradient flow on the log-time clock (to log t = "
    "flow_log_time). Init scales are relative to Glorot's std "
    "sqrt(2 / (d + m)). Which of these are our choices (the paper does not state them) is "
    "listed in `FreiSettings`'s docstring: beta, label noise, n_test, lr, step counts, "
    "lr_max, init scales, recording."
)


@dataclass(frozen=True)
class FreiSettings:
    """What the reproduction runs.

    Given by the paper or fixed as this reproduction's defaults: n = 100 training
    points, width m = 512, leaky ReLU with gamma = 0.1, logistic loss, only the first layer
    trained, the two-cluster mixture x = y~ mu + z with ||mu|| = d^beta and label noise,
    isotropic Gaussian inputs with random labels, GD with a constant step, init scales from
    small to large.

    Our choices (the paper's text does not fix them): mean_norm_exponent beta = 0.3 (so
    ||mu|| = 15.8 at d = 10^4), label_noise = 0.1, n_test = 500 test points from the same
    law (noisy labels too), the step lr = lr_factor * n / d (the Hessian of the mean
    logistic loss in W scales like ||x||^2 |a|^2 / (4 n) ~ d / (4 n), so n / d is a quarter
    of the stability limit before the cluster direction is counted), `steps` and
    `long_steps`, lr_max = lr_max_factor * lr for the loss-normalised step, init scales
    relative to Glorot's std sqrt(2 / (d + m)); a run counts as small-init when
    ||W_0||_F <= small_init_ratio * ||W_1 - W_0||_F (the theorem asks the initialisation to
    be small next to the first step; with lr ~ n / d the first step shrinks like
    sqrt(n / d), so a fixed relative scale is not small at every d), and as large-init when
    its scale is >= large_scale_min (Glorot's default and larger); d = 10^13 (free with Gram
    sampling) is included because only there are the training sets close to the theorems'
    near-orthogonality condition with gamma = 0.1; the balanced second layer
    a_j = +-1/sqrt(m) (half each), geometric recording with `per_decade` records a decade
    (steps 0, 1, 2 always), seeds.

    The flow phase (exact gradient flow, `optimizer: gradient_flow`) runs every init scale
    in `flow_scales` on the mixture at `flow_dims` and on random labels at
    `flow_random_label_dims`, on the log-time clock to log t = `flow_log_time`
    (`train.log_time`), with `flow_per_decade` records a decade of flow time. Our choices
    for cost: the width `flow_width` = 64 (the event count grows with m; m = 512, the GD
    phases' width, is the option `flow_width=512`); flow_log_time = 10^4 (t = e^10000): the
    runs from 10x Glorot still switch at log t = 690 (about one crossing per unit of log t
    on the near-orthogonal sets) and a probe to 1e4 (11-20 s a run) saw the switches thin
    out past log t = 1000; the flow records `flow_per_decade` times a decade of t up to
    t = 1e300 and `flow_per_log_decade` times a decade of log t beyond, so the trend window
    of the flow rows (the last third of the run in log t) holds 11 records.
    """

    n: int = 100
    width: int = 512
    slope: float = 0.1
    dims: tuple[int, ...] = (10**3, 10**4, 10**5, 10**6, 10**13)
    init_scales: tuple[float, ...] = (1e-10, 1e-6, 1e-4, 1e-2, 1.0, 10.0)
    small_init_ratio: float = 0.1
    large_scale_min: float = 1.0
    seeds: int = 2
    mean_norm_exponent: float = 0.3
    label_noise: float = 0.1
    n_test: int = 500
    lr_factor: float = 1.0
    steps: int = 1000
    per_decade: int = 4
    random_label_dims: tuple[int, ...] = (10**6, 10**13)
    random_label_scales: tuple[float, ...] = (1e-10,)
    random_label_seeds: int = 2
    long_dims: tuple[int, ...] = (10**3, 10**4, 10**5, 10**6, 10**13)
    long_scales: tuple[float, ...] = (1e-10, 1.0)
    long_seeds: int = 2
    long_random_label_dims: tuple[int, ...] = (10**6, 10**13)
    long_random_label_seeds: int = 6
    long_steps: int = 3000
    long_per_decade: int = 4
    lr_max_factor: float = 1e250
    top_singular_values: int = 3
    dtype: str = "float64"
    flow_dims: tuple[int, ...] = (10**3, 10**5, 10**13)
    flow_scales: tuple[float, ...] = (1e-10, 1e-6, 1e-4, 1e-2, 1.0, 10.0)
    flow_seeds: int = 2
    flow_random_label_dims: tuple[int, ...] = (10**6, 10**13)
    flow_width: int = 64
    flow_log_time: float = 10_000.0
    flow_per_decade: int = 1
    flow_per_log_decade: int = 60

    def lr(self, d: int) -> float:
        return self.lr_factor * self.n / d


FULL = FreiSettings()

QUICK = FreiSettings(
    dims=(10**3, 10**5),
    init_scales=(1e-10, 1e-2, 1.0, 10.0),
    seeds=1,
    steps=200,
    per_decade=3,
    random_label_dims=(),
    random_label_seeds=0,
    long_dims=(10**3, 10**13),
    long_scales=(1e-10, 1.0),
    long_seeds=1,
    long_random_label_dims=(10**13,),
    long_random_label_seeds=4,
    long_steps=1000,
    long_per_decade=3,
    flow_dims=(10**13,),
    flow_scales=(1e-10, 1.0),
    flow_seeds=1,
    flow_random_label_dims=(),
    flow_width=32,
    flow_log_time=69.0,
)
