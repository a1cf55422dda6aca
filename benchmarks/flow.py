"""Exact gradient flow against GD: cost and accuracy at one setting.

n = 64, m = 64, d = 10^5 (sampled Gram blocks), relu, fixed balanced second layer, square
loss, labels N(0, 1), init scale 1. GD at lr factor 0.005 (lr = 0.005 n / ||K||_2) runs to a
loss of 1e-20; the flow (optimizer gradient_flow) and GD at the usual factor 0.5 then run to
the loss GD(0.005) reached. Each method runs in its own process: `cold` is its first call
(compilation included), `warm` the median of the repeats after it. Accuracy: each end point's
distance to the flow's (relative to ||W_GF - W_0||), and its gap to the min ||W - W_0||
interpolator with its own final activation pattern (PatternQP).
Run: python -m benchmarks flow [--quick]  (or python -m benchmarks.flow)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from benchmarks import _common as bc

N, M, D = 64, 64, 10**5
LOSS_GD_SMALL = 1e-20


def config(method: str, seed: int, tol: float):
    from iblab.config import validate

    train = {"loss": "square", "tol": tol}
    if method == "flow":
        train |= {"optimizer": "gradient_flow"}
    else:
        train |= {"lr": float(method.split("_")[1]), "steps": 2_000_000}  # lr factor for now
    raw = {
        "seed": seed,
        "data": {"kind": "gaussian", "n": N, "d": D, "sample": "gram", "labels": {}},
        "model": {"width": M},
        "init": {"scale": 1.0},
        "train": train,
        "record": {"every": 10**6, "per_decade": 1},
    }
    return validate(raw)


def measure(method: str, seed: int, tol: float, repeats: int) -> dict:
    from iblab import make_problem, train

    c = config(method, seed, tol)
    p = make_problem(c)
    if method != "flow":  # lr = factor * n / ||K||_2
        lr = float(method.split("_")[1]) * N / np.linalg.eigvalsh(p.K).max()
        c = c.model_copy(update={"train": c.train.model_copy(update={"lr": lr})})
    t0 = time.perf_counter()
    train(c, p)
    cold = time.perf_counter() - t0
    timing = bc.timed(lambda: train(c, p), repeats, warmup=0)
    r = timing.pop("value")
    return {
        "method": method,
        "seed": seed,
        "cold_s": cold,
        **timing,
        "loss": r.summary["loss"],
        "status": r.summary["status"],
        "steps": r.summary.get("steps_run"),
        "events": r.summary.get("events"),
        "C": r.C,
    }


def gaps(rows: list[dict], seed: int) -> None:
    """Fill each row's distance to the flow and gap to its own pattern's min-norm point."""
    from iblab import make_problem
    from iblab.references import PatternQP

    p = make_problem(config("flow", seed, 0.0))
    C_flow = np.asarray(next(r for r in rows if r["method"] == "flow")["C"])
    norm = lambda C: float(np.sqrt(max(np.sum(C * (C @ p.K)), 0.0)))  # noqa: E731  ||C X||
    for r in rows:
        C = np.asarray(r.pop("C"))
        r["distance_to_flow"] = norm(C - C_flow) / norm(C_flow)
        pattern = (p.P0 + p.K @ C.T) > 0
        qp = PatternQP().fit(p.K, p.P0, p.a, p.y, pattern)
        r["pattern_gap"] = norm(C - qp.C_) / norm(qp.C_) if qp.C_ is not None else float("nan")


def main(quick: bool = False, out: Path | None = None) -> dict:
    seeds, repeats = ([0], 2) if quick else ([0, 1, 2], 3)
    rows = []
    for seed in seeds:
        small = bc.cell("benchmarks.flow:measure", method="gd_0.005", seed=seed,
                        tol=LOSS_GD_SMALL, repeats=repeats)  # fmt: skip
        target = small["loss"]
        cells = [small] + [
            bc.cell("benchmarks.flow:measure", method=m, seed=seed, tol=target, repeats=repeats)
            for m in ("flow", "gd_0.5")
        ]
        gaps(cells, seed)
        rows += cells
    payload = {"benchmark": "flow", "quick": quick, "machine": bc.machine(), "rows": rows,
               "n": N, "m": M, "d": D}  # fmt: skip
    bc.write("flow" + ("_quick" if quick else ""), payload)
    if out is not None:
        out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"gradient flow against GD: n={N}, m={M}, d={D:.0e}, relu, square loss")
    print(bc.describe(payload["machine"]))
    columns = [
        ("seed", "seed", "d"),
        ("method", "method", "s"),
        ("cold_s", "cold (s)", ".2f"),
        ("wall_s", "warm (s)", ".3f"),
        ("steps", "GD steps", ""),
        ("events", "events", ""),
        ("loss", "final loss", ".1e"),
        ("distance_to_flow", "distance to flow", ".1e"),
        ("pattern_gap", "gap to pattern min-norm", ".2e"),
    ]
    print(bc.table(rows, columns))
    return payload


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
