"""d-scaling: train time against the input dimension d on sampled Gram data.

n = 100, m = 512, 1000 GD steps, isotropic Gaussian inputs, d from 10^2 to 10^9: the engine
sees only Gram blocks, so time per step should not grow with d (once d ~ n the Gram law no
longer changes shape; sampling the blocks costs O((n + m)^3), not O(d)). Each d runs in its
own process (peak RSS per d). Prints a table, writes JSON.
Run: python -m benchmarks dscale [--quick]  (or python -m benchmarks.d_independence)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks import _common as bc

DIMS = [10**2, 10**3, 10**4, 10**5, 10**6, 10**7, 10**8, 10**9]
STEPS = 1000


def config(d: int, seed: int = 0, steps: int = STEPS):
    from iblab import Config

    return Config.model_validate(
        {
            "seed": seed,
            "data": {"kind": "gaussian", "n": 100, "d": d, "sample": "gram", "n_test": 100},
            "model": {"width": 512},
            "init": {"scale": 1e-3},
            "train": {"lr": 100 / d, "steps": steps},
            "record": {"every": 100},
        }
    )


def measure(d: int, repeats: int = 3, steps: int = STEPS) -> dict:
    from iblab import make_problem, train

    cfg = config(d, steps=steps)
    t0 = time.perf_counter()
    problem = make_problem(cfg)
    sample_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    train(cfg, problem)  # compile
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = train(cfg, problem)
        times.append(time.perf_counter() - t0)
    return {
        "d": d,
        "sample_s": sample_s,
        "train_s_median": statistics.median(times),
        "train_s_all": times,
        "step_us": statistics.median(times) / steps * 1e6,
        "steps": steps,
        "compile_s": max(first - statistics.median(times), 0.0),
        "noise": (max(times) - min(times)) / statistics.median(times),
        "final_loss": result.summary["loss"],
    }


def main(quick: bool = False, out: Path | None = None) -> dict:
    dims = [10**2, 10**3, 10**5, 10**9] if quick else DIMS
    repeats, steps = (2, 300) if quick else (5, STEPS)
    machine = bc.machine()
    rows = [
        bc.cell("benchmarks.d_independence:measure", d=d, repeats=repeats, steps=steps)
        for d in dims
    ]
    base = next(r["step_us"] for r in rows if r["d"] == 10**3)
    for r in rows:
        r["ratio_to_d1000"] = r["step_us"] / base
    flat = max(r["ratio_to_d1000"] for r in rows if r["d"] >= 10**3)
    payload = {
        "benchmark": "dscale",
        "quick": quick,
        "machine": machine,
        "n": 100,
        "m": 512,
        "rows": rows,
        "max_ratio_to_d1000_for_d_ge_1e3": flat,
    }
    path = bc.write("dscale", payload)
    if out is not None:
        out.write_text(json.dumps(payload, indent=2))
    print(f"d-scaling: n=100, m=512, {steps} GD steps on sampled Gram data")
    print(bc.describe(machine))
    print(
        bc.table(
            rows,
            [
                ("d", "d", ".0e"),
                ("sample_s", "sample blocks (s)", ".3f"),
                ("step_us", "us/step (median)", ".0f"),
                ("ratio_to_d1000", "vs d=1e3", ".2f"),
                ("final_loss", "final loss", ".2e"),
                ("peak_rss_mb", "peak RSS MB", ".0f"),
            ],
        )
    )
    print(f"largest time per step for d >= 1e3 is {flat:.2f}x that at d = 1e3 (flat: ~1)")
    print(f"-> {path}")
    return payload


def _main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/d_independence.json"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    main(args.quick, args.out)


if __name__ == "__main__":
    _main_cli()
