"""Kou, Chen, Gu (2023) reproduction: what it runs (KouSettings), full and quick; the
thresholds that decide its claims are the parameters of its rules (rules.py)."""

from __future__ import annotations

from dataclasses import dataclass

TITLE = (
    "Kou, Chen, Gu (NeurIPS 2023): implicit bias of GD for two-layer ReLU and leaky ReLU "
    "networks on nearly-orthogonal data"
)
ABOUT = (
    "Two-layer networks f(x) = sum_j a_j phi(<w_j, x>), phi ReLU or leaky ReLU (gamma = "
    "slope), logistic loss, only the first layer trained, second layer balanced +-1/sqrt(m) "
    "and fixed. Synthetic data: isotropic Gaussian inputs with random +-1 labels, sampled as "
    "Gram blocks (`sample: gram`, cost free of d); real data: scikit-learn's digits, two "
    "classes, standardised. Constant-step GD with lr = lr_factor * n / mean ||x_i||^2 "
    "(`lr_scale: n_over_trace`) at every lr_factor, and the exact gradient flow "
    "(`optimizer: gradient_flow`) from the same data and W_0, on both data sets. Init "
    "scales are relative to Glorot's std sqrt(2 / (d + m)). Which of these are our choices "
    "(the paper's exact setting is not known to us) is listed in `KouSettings`'s docstring."
)


@dataclass(frozen=True)
class KouSettings:
    """What the reproduction runs.

    From the paper: two-layer networks with ReLU or leaky ReLU, only the first layer trained
    and the second fixed with both signs, a logistic loss, constant-step GD from a small
    Gaussian initialisation, nearly-orthogonal training data (||x_i||^2 >= C n
    max_{k != i} |<x_i, x_k>|), synthetic and real data.

    Our choices (the paper's exact setting is not known to us; each is a field):
    - data: isotropic Gaussian inputs x ~ N(0, I_d) with random labels (`labels`), at every
      d in `dims` (d = 10^13 costs what 10^4 costs with Gram sampling; the condition
      ||x||^2 >= C n p holds with C ~ sqrt(d) / (4 n)); `labels` = "random_sign" (the
      two-cluster mixture of the Frei reproduction would add a shared direction);
    - n = 20 training points, width m = 32 (`width`), leaky slope gamma = 0.1 (`slope`);
    - second layer: balanced, a_j = +1/sqrt(m) for the first half of the neurons, -1/sqrt(m)
      for the rest (a rescaling of a by c is a rescaling of the step by c^2 and of the init
      by c, so the paper's normalisation of a is absorbed by lr_factors and init_scales);
    - the step: lr = lr_factor * n / mean ||x_i||^2 for each lr_factor in `lr_factors` (the
      mean logistic loss has curvature about ||x||^2 / (4 n) in W, so the factors 0.25, 1,
      4 are 1/32, 1/8 and 1/2 of the stability limit 2 / curvature at the start);
    - init scales `init_scales` x Glorot's std (the theorems ask for a small init; 1.0 is
      Glorot's own; 1e-9 is small next to the first step even at d = 10^13); the
      theorems' rows read the small-init runs, ||W_0||_F <= small_init_ratio
      ||W_1 - W_0||_F, W_1 GD's first step at lr_factor 1 (exactly linear in the step, so
      any GD twin gives it; a flow run takes its GD twin's), as in the Frei reproduction:
      the first step shrinks like sqrt(n / d), so a fixed relative scale is not small at
      every d (the other runs are reported beside them);
    - `steps` GD steps, recorded geometrically (`per_decade` records a decade); the limits
      are judged on the last decades of steps (GD_TREND in rules.py);
    - the exact flow on the log-time clock to log t = `flow_log_time` (10^4: t = e^10000),
      `flow_per_decade` records a decade of t up to 1e300 and `flow_per_log_decade` a decade
      of log t past it, same data, widths and W_0 as GD (W_0 is linear in the init scale and
      shared across steps); its limits are judged on the last third of the run in log t
      (FLOW_TREND in rules.py), as Frei's;
    - real data: scikit-learn's digits `digits_classes` (label -1, +1), `digits_n` training
      and `digits_n_test` test images, standardised pixels (d = 64), GD at `digits_lr_factors`
      and the exact flow, init scales `digits_init_scales`, `digits_seeds` shuffles;
    - seeds: `seeds` draws of data and W_0 per (d, activation).
    """

    n: int = 20
    width: int = 32
    slope: float = 0.1
    activations: tuple[str, ...] = ("leaky_relu", "relu")
    labels: str = "random_sign"
    dims: tuple[int, ...] = (10**4, 10**6, 10**13)
    init_scales: tuple[float, ...] = (1e-9, 1e-6, 1e-3, 1.0)
    small_init_ratio: float = 0.1
    seeds: int = 2
    lr_factors: tuple[float, ...] = (0.25, 1.0, 4.0)
    steps: int = 100_000
    per_decade: int = 4
    flow_log_time: float = 1e4
    flow_per_decade: int = 1
    flow_per_log_decade: int = 60
    digits_classes: tuple[int, int] = (0, 1)
    digits_n: int = 100
    digits_n_test: int = 100
    digits_lr_factors: tuple[float, ...] = (1.0,)
    digits_init_scales: tuple[float, ...] = (1e-6,)
    digits_seeds: int = 2
    top_singular_values: int = 2
    dtype: str = "float64"


FULL = KouSettings()

QUICK = KouSettings(
    dims=(10**6,),
    init_scales=(1e-6, 1.0),
    seeds=1,
    lr_factors=(1.0, 4.0),
    steps=10_000,
    per_decade=3,
    digits_n=50,
    digits_n_test=50,
    digits_seeds=1,
)
