"""Roofline: achieved FLOP/s of the engine's step against this machine's dense matmul peak.

Peak: the median FLOP/s of a 2048 x 2048 GEMM (2 * 2048^3 flops) in numpy and in JAX, the
larger of the two, per dtype. Step: train_many on prebuilt problems (no Gram sampling in the
timing) for n = 100, m = 512 (ReLU, square loss, GD, sampled Gram data), 1 and 16 runs,
float64 and float32, timed over STEPS steps; 16 runs are split over the cores as train_many
does (train.THREADS compiled calls side by side on the CPU backend; one call on an
accelerator). Flops counted per run and step: 2 n^2 m for Z = s P0 + K C^T (the one
O(n^2 m) product) plus 10 n m for the rest (add s P0, phi, f = H a, phi', G = r phi' a and
the update C - lr G, each a multiply-add per entry or cheaper). Each (batch, dtype) runs in
its own process.
Run: python -m benchmarks roofline [--quick]
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import _common as bc

N, M, SIZE = 100, 512, 2048
STEPS, STEPS_QUICK = 500, 100
TARGET = 0.30  # of peak, batch 16


def step_flops(n: int = N, m: int = M) -> int:
    return 2 * n * n * m + 10 * n * m


def peak_cell(repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    out = {}
    flops = 2 * SIZE**3
    for dt in ("float64", "float32"):
        A = np.random.default_rng(0).random((SIZE, SIZE)).astype(dt)
        t_np = bc.timed(lambda A=A: A @ A, repeats)
        mm = jax.jit(lambda x: x @ x)
        with jax.enable_x64(True):  # float64 stays float64, as in the engine
            Aj = jnp.asarray(A)
            t_jx = bc.timed(lambda Aj=Aj, mm=mm: mm(Aj).block_until_ready(), repeats)
        out[dt] = {
            "numpy_gflops": flops / t_np["wall_s"] / 1e9,
            "jax_gflops": flops / t_jx["wall_s"] / 1e9,
            "numpy_noise": t_np["noise"],
            "jax_noise": t_jx["noise"],
        }
        out[dt]["peak_gflops"] = max(out[dt]["numpy_gflops"], out[dt]["jax_gflops"])
    return out


def step_cell(batch: int, dtype: str, steps: int, repeats: int) -> dict:
    from iblab import Config, make_problem, train_many
    from iblab.training import side_by_side

    cfg = Config.model_validate(
        {
            "data": {"n": N, "d": 10**6, "sample": "gram"},
            "model": {"width": M},
            "init": {"scale": 1e-3},
            "train": {"lr": 1e-4, "steps": steps, "dtype": dtype},
            "record": {"every": steps},
        }
    )
    configs, problems = [cfg] * batch, [make_problem(cfg)] * batch
    t0 = time.perf_counter()
    train_many(configs, problems)
    first = time.perf_counter() - t0
    t = bc.timed(lambda: train_many(configs, problems), repeats, warmup=0)
    t.pop("value")
    per_step = t["wall_s"] / steps
    return {
        "batch": batch,
        "dtype": dtype,
        "steps": steps,
        "threads": min(side_by_side(), batch),
        "step_us": per_step * 1e6,
        "run_step_us": per_step / batch * 1e6,
        "gflops": step_flops() * batch / per_step / 1e9,
        "gflops_best": step_flops() * batch * steps / t["wall_min_s"] / 1e9,
        "cpu_s": t["cpu_s"],
        "noise": t["noise"],
        "wall_all_s": t["wall_all_s"],
        "compile_s": max(first - t["wall_s"], 0.0),
    }


def main(quick: bool = False) -> dict:
    machine = bc.machine()
    repeats = 3 if quick else 5
    steps = STEPS_QUICK if quick else STEPS
    peak = bc.cell("benchmarks.roofline:peak_cell", repeats=repeats)
    rows = []
    for batch in (1, 16):
        for dt in ("float64", "float32"):
            r = bc.cell(
                "benchmarks.roofline:step_cell", batch=batch, dtype=dt, steps=steps, repeats=repeats
            )
            r["peak_gflops"] = peak[dt]["peak_gflops"]
            r["fraction"] = r["gflops"] / r["peak_gflops"]
            rows.append(r)
    targets = []
    for dt in ("float64", "float32"):
        r = next(r for r in rows if r["batch"] == 16 and r["dtype"] == dt)
        targets.append(
            {
                "name": f"step >= {TARGET:.0%} of matmul peak, n={N}, m={M}, batch 16, {dt}",
                "measured": r["fraction"],
                "status": "met" if r["fraction"] >= TARGET else "MISSED",
            }
        )
    payload = {
        "benchmark": "roofline",
        "quick": quick,
        "machine": machine,
        "flops_per_run_step": step_flops(),
        "peak": peak,
        "rows": rows,
        "targets": targets,
    }
    path = bc.write("roofline", payload)
    print(f"Roofline: engine step, n={N}, m={M}, {step_flops() / 1e6:.2f} MFLOP per run-step")
    print(bc.describe(machine))
    for dt in ("float64", "float32"):
        p = peak[dt]
        print(
            f"matmul peak {dt}: numpy {p['numpy_gflops']:.1f}, JAX {p['jax_gflops']:.1f} GFLOP/s"
            f" ({SIZE}^2 GEMM)"
        )
    print(
        bc.table(
            rows,
            [
                ("batch", "runs", "d"),
                ("dtype", "dtype", ""),
                ("step_us", "us/step", ".0f"),
                ("run_step_us", "us/run-step", ".0f"),
                ("gflops", "GFLOP/s", ".1f"),
                ("peak_gflops", "peak GFLOP/s", ".1f"),
                ("fraction", "of peak", ".0%"),
                ("peak_rss_mb", "peak RSS MB", ".0f"),
            ],
        )
    )
    for t in targets:
        print(f"target {t['name']}: measured {t['measured']:.0%}, {t['status']}")
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main()
