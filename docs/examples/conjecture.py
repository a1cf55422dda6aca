"""A conjecture of one's own, checked the way a paper's claims are: a claims file.

Conjecture: after a short run of GD from a small initialisation (leaky ReLU, logistic loss,
random labels), the first layer's stable rank ||W||_F^2 / ||W||_2^2 exceeds its value from a
much smaller init by an amount that grows like the square of the init scale: the random W_0
adds about scale^2 to ||W||_F^2 and little to ||W||_2^2, which the learned low-rank part sets.

Run: iblab check docs/examples/conjecture.py --quick --out results/conjecture
(a store: re-running resumes; --workers 2 or --executor dask as for `iblab reproduce`), or
python docs/examples/conjecture.py (IBLAB_EXAMPLE_QUICK=1 for the quick settings).
"""

from dataclasses import dataclass

import numpy as np

from iblab import Config, figures
from iblab.claims import judge_power_law
from iblab.experiments import ClaimSpec, Figure, Group, Measured, Reproduction, Rule


@dataclass(frozen=True)
class Settings:
    """n points in d dimensions (Gram-sampled: d costs nothing), width m, GD steps; each
    seed trains at the reference scale and at every scale (x Glorot's std), on one draw of
    the data and of W_0's direction (W_0 is linear in the init scale)."""

    n: int = 20
    d: int = 10_000
    width: int = 32
    steps: int = 50
    reference_scale: float = 1e-3
    scales: tuple[float, ...] = (2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2)
    seeds: int = 8


SWEEP = "init_scales"  # the one group
SQUARE_LAW = Rule(
    judge_power_law,
    {"target": 2.0, "tol": 0.5, "high_max": 0.05, "max_width": 1.0, "min_points": 10,
     "n_boot": 200},
)  # fmt: skip


def config(s: Settings, scale: float, seed: int) -> Config:
    return Config.from_dict(
        {
            "seed": seed,
            "data": {"kind": "gaussian", "n": s.n, "d": s.d, "sample": "gram",
                     "labels": {"kind": "random_sign"}},
            "model": {"width": s.width, "activation": "leaky_relu", "slope": 0.1},
            "init": {"scale": scale, "base": "glorot"},
            "train": {"loss": "logistic", "lr": s.n / s.d, "steps": s.steps},
            "record": {"geometric": True, "per_decade": 2, "spectrum": True},
        }
    )  # fmt: skip


def runs(s: Settings):
    for scale in (s.reference_scale, *s.scales):
        for seed in range(s.seeds):
            yield {}, config(s, scale, seed)


def excess(a, s: Settings):
    """Per (seed, scale): the final stable rank minus that seed's at the reference scale."""
    srank = a.group(SWEEP).pivot_table(
        index="config.seed", columns="config.init.scale", values="stable_rank"
    )
    return srank.drop(columns=s.reference_scale).sub(srank[s.reference_scale], axis=0).stack()


def square_law(a, s: Settings) -> Measured:
    """x: the init scales, y: the excess stable rank; floor 0 (both are computed exactly)."""
    e = excess(a, s)
    args = {"x": e.index.get_level_values(1), "y": e.to_numpy(), "floor": 0.0}
    fit = SQUARE_LAW(args, s).high
    medians = ", ".join(f"{sc:g}: {v:.3g}" for sc, v in e.groupby(level=1).median().items())
    return Measured(
        (args,),
        f"exponent {fit}" if fit else "no fit",
        f"{len(e)} runs against their seed's run at scale {s.reference_scale:g}; median "
        f"excess stable rank by init scale: {medians}; fit {fit}",
    )


def draw(a, s: Settings):
    e = excess(a, s)
    fig, ax = figures.pyplot().subplots(figsize=(figures.COLUMN_WIDTH, 3.0))
    ax.loglog(e.index.get_level_values(1), e.to_numpy(), "o", ms=3)
    xs = np.geomspace(min(s.scales), max(s.scales), 20)
    ax.loglog(xs, e.median() * (xs / np.median(s.scales)) ** 2, "--", label="slope 2")
    ax.set_xlabel("init scale (x Glorot)")
    ax.set_ylabel("excess stable rank after training")
    ax.legend()
    return fig


REPRODUCTION = Reproduction(
    name="conjecture",
    title="Conjecture: the stable rank after training grows like the init scale squared",
    full=Settings(),
    quick=Settings(seeds=3),
    groups=[Group(SWEEP, runs)],
    claims=[
        ClaimSpec(
            "excess stable rank after GD ~ (init scale)^2, small inits",
            "our conjecture (W_0 adds ~scale^2 to ||W||_F^2)",
            (SWEEP,),
            square_law,
            (SQUARE_LAW,),
            "fitted exponent within {target:g} +- {tol:g}, from >= {min_points} runs at >= 3 "
            "scales <= {high_max:g}, its 95% interval narrower than {max_width:g}".format(
                **SQUARE_LAW.params
            ),
        )
    ],
    figures=[Figure("excess_stable_rank_vs_init_scale", draw)],
)

if __name__ == "__main__":
    import os
    import tempfile

    from iblab.experiments import reproduce

    quick = os.environ.get("IBLAB_EXAMPLE_QUICK") == "1"
    reproduce(REPRODUCTION, tempfile.mkdtemp(), quick=quick)
