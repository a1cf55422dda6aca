"""The exact flow at scale: a large square-loss run, a long logistic run, and a seed sweep.

- square: n = m = 256, d = 10^5 (sampled Gram blocks), relu, square loss to 1e-20;
- logistic: n = 100, m = 64, d = 10^5, leaky ReLU (0.1), labels +-1, to flow time 1e30;
- sweep: 64 flows of one shape (n = m = 32, d = 10^5, square loss to 1e-20, seeds 0..63)
  through `train_many` against the same 64 one `train` call after another (throughput).

Each cell runs in its own process; "warm" is the median of the repeats after a first call.
Run: python -m benchmarks flow_scale [--quick]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks import _common as bc

TARGETS_S = {"square": 10.0, "logistic": 1.0}


def config(case: str, seed: int = 0):
    from iblab.config import validate

    if case == "logistic":
        data = {"kind": "gaussian", "n": 100, "d": 10**5, "sample": "gram",
                "labels": {"kind": "sign"}}  # fmt: skip
        model = {"width": 64, "activation": "leaky_relu", "slope": 0.1}
        train = {"optimizer": "gradient_flow", "loss": "logistic", "time": 1e30}
    else:
        n = 256 if case == "square" else 32
        data = {"kind": "gaussian", "n": n, "d": 10**5, "sample": "gram", "labels": {}}
        model = {"width": n}
        train = {"optimizer": "gradient_flow", "loss": "square", "tol": 1e-20}
    return validate({"seed": seed, "data": data, "model": model, "init": {"scale": 1.0},
                     "train": train, "record": {"per_decade": 1}})  # fmt: skip


def measure(case: str, repeats: int) -> dict:
    from iblab import make_problem, train

    c = config(case)
    p = make_problem(c)
    t0 = time.perf_counter()
    train(c, p)
    cold = time.perf_counter() - t0
    timing = bc.timed(lambda: train(c, p), repeats, warmup=0)
    r = timing.pop("value")
    return {"case": case, "cold_s": cold, **timing, "status": r.summary["status"],
            "events": r.summary["events"], "loss": r.summary["loss"]}  # fmt: skip


def sweep(runs: int) -> dict:
    from iblab import make_problem, train, train_many

    configs = [config("sweep", seed) for seed in range(runs)]
    problems = [make_problem(c) for c in configs]
    train(configs[0], problems[0])  # compile the records' figures once
    t0 = time.perf_counter()
    batched = train_many(configs, problems)
    together = time.perf_counter() - t0
    t0 = time.perf_counter()
    alone = [train(c, p) for c, p in zip(configs, problems, strict=True)]
    one_by_one = time.perf_counter() - t0
    same = all((a.C == b.C).all() for a, b in zip(batched, alone, strict=True))
    return {"case": "sweep", "runs": runs, "train_many_s": together, "one_by_one_s": one_by_one,
            "throughput_ratio": one_by_one / together, "identical": same}  # fmt: skip


def main(quick: bool = False, out: Path | None = None) -> dict:
    repeats = 1 if quick else 3
    rows = [bc.cell("benchmarks.flow_scale:measure", case=case, repeats=repeats)
            for case in ("square", "logistic")]  # fmt: skip
    batch = bc.cell("benchmarks.flow_scale:sweep", runs=16 if quick else 64)
    targets = [
        {"name": f"{r['case']} flow warm <= {TARGETS_S[r['case']]:g} s", "measured": r["wall_s"],
         "status": "met" if r["wall_s"] <= TARGETS_S[r["case"]] else "MISSED"}
        for r in rows
    ] + [{"name": "a seed sweep of flows >= 2x the throughput of one at a time",
          "measured": batch["throughput_ratio"],
          "status": "met" if batch["throughput_ratio"] >= 2 else "MISSED"}]  # fmt: skip
    payload = {"benchmark": "flow_scale", "quick": quick, "machine": bc.machine(),
               "rows": rows, "sweep": batch, "targets": targets}  # fmt: skip
    bc.write("flow_scale" + ("_quick" if quick else ""), payload)
    if out is not None:
        out.write_text(json.dumps(payload, indent=2, default=str))
    print(bc.describe(payload["machine"]))
    columns = [("case", "case", "s"), ("cold_s", "cold (s)", ".2f"),
               ("wall_s", "warm (s)", ".2f"), ("events", "events", ""),
               ("status", "status", "s"), ("loss", "loss", ".1e")]  # fmt: skip
    print(bc.table(rows, columns))
    print(f"sweep of {batch['runs']} flows: train_many {batch['train_many_s']:.1f} s, one at a "
          f"time {batch['one_by_one_s']:.1f} s ({batch['throughput_ratio']:.2f}x), identical "
          f"end points: {batch['identical']}")  # fmt: skip
    for t in targets:
        print(f"{t['status']:>6}  {t['name']}: {t['measured']:.2f}")
    return payload


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
