"""iblab against the training loop a researcher writes today: a PyTorch nn.Module with
autograd and torch.optim.SGD, full batch, on the same data and the same initialisation.

n = 100, m = 512 (ReLU, fixed balanced second layer, square loss, lr = 50 / d), d in
{10^3, 10^4, 10^5}, 2,000 steps, float32 and float64. Both ends are compared: PyTorch's W
after k steps against iblab's W = s W_0 + C X after k steps, as relative Frobenius errors of W
and of W - W_0 (the part training moved).

PyTorch's step is O(n m d) and the same every step (full batch, no data loading), so its
2,000-step time is measured over k steps (all 2,000 at d = 10^3; fewer at larger d, see
TORCH_STEPS) in equal chunks and extrapolated: median time per step x 2,000. iblab runs the
full 2,000 steps. iblab's end-to-end time includes forming the Gram blocks from X and W_0
(Problem.from_arrays: K, P0 in O(n d (n + m)) and tr W_0 W_0^T in O(m d); W_0 W_0^T itself
is formed only when asked for) and forming W at the end (O(m n d), one BLAS call); its
engine time is train() alone. JIT compilation is excluded from both (one untimed warm-up
call) and reported apart. Every cell runs in its own process (peak RSS per cell).
Run: python -m benchmarks peer [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import _common as bc

N, M, STEPS = 100, 512, 2000
DIMS = [10**3, 10**4, 10**5]
LR_SCALE = 50.0  # lr = LR_SCALE / d: the NTK-scale step for ||x||^2 ~ d, stable at n = 100
TORCH_STEPS = {10**3: 2000, 10**4: 100, 10**5: 10}  # steps PyTorch runs (timed in 5 chunks)
TORCH_STEPS_QUICK = {10**3: 100, 10**4: 10, 10**5: 2}
# Relative error of W - W_0 allowed between the two ends (same dtype). float64: both are
# exact GD up to rounding. float32: rounding (~1e-7) is amplified along 2,000 steps.
TOL = {"float64": 1e-8, "float32": 1e-3}


def data(d: int, seed: int = 0):
    return bc.gaussian_arrays(N, d, M, seed)


def _config(d: int, dtype: str, steps: int):
    from iblab import Config

    return Config.model_validate(
        {
            "data": {"kind": "gaussian", "n": N, "d": d},
            "model": {"width": M, "activation": "relu", "second_layer": "balanced"},
            "train": {"lr": LR_SCALE / d, "steps": steps, "dtype": dtype},
            "record": {"every": max(steps, 1)},
        }
    )


def two_layer(W0, a):
    """The researcher's model: f(x) = a . relu(W x), W trained (nn.Linear without bias,
    weight = W_0), a a fixed buffer. PyTorch is imported here, never at module level."""
    import torch
    from torch import nn

    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(W0.shape[1], W0.shape[0], bias=False, dtype=W0.dtype)
            with torch.no_grad():
                self.first.weight.copy_(W0)
            self.register_buffer("a", a.clone())

        def forward(self, x):
            return torch.relu(self.first(x)) @ self.a

    return TwoLayer()


def sgd_steps(model, opt, X, y, k: int) -> float:
    """k steps of the researcher's loop: full batch, loss 0.5 * mean((f(X) - y)^2), autograd,
    opt.step(). Returns the loss of the last step (before its update)."""
    import torch

    for _ in range(k):
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * torch.mean((model(X) - y) ** 2)
        loss.backward()
        opt.step()
    return loss.item()


# ------------------------------------------------------------------ cells (own process)


def iblab_cell(d: int, dtype: str, repeats: int, check_steps: int, ref: str) -> dict:
    """Time iblab end to end (blocks, train, W) for STEPS steps; save (s, C) after
    check_steps and STEPS steps to `ref` for the PyTorch cell to compare against."""
    from iblab import Problem, train

    X, y, W0, a = data(d)
    cfg = _config(d, dtype, STEPS)
    parts: list[tuple[float, float, float]] = []

    def once():
        t0 = time.perf_counter()
        p = Problem.from_arrays(X, y, W0, a)
        t1 = time.perf_counter()
        r = train(cfg, p)
        t2 = time.perf_counter()
        W = r.W
        t3 = time.perf_counter()
        parts.append((t1 - t0, t2 - t1, t3 - t2))
        del W
        return r

    t0 = time.perf_counter()
    once()  # compiles
    first = time.perf_counter() - t0
    t = bc.timed(once, repeats, warmup=0)
    result = t.pop("value")
    parts = parts[1:]
    blocks, engine, form_w = (statistics.median(x) for x in zip(*parts, strict=True))
    p = result.problem
    check = train(_config(d, dtype, check_steps), p)
    np.savez(ref, s=[check.s, result.s], C=np.stack([check.C, result.C]))
    return {
        "d": d,
        "dtype": dtype,
        "steps": STEPS,
        "total_s": t["wall_s"],
        "total_min_s": t["wall_min_s"],
        "total_all_s": t["wall_all_s"],
        "cpu_s": t["cpu_s"],
        "noise": t["noise"],
        "blocks_s": blocks,
        "engine_s": engine,
        "form_W_s": form_w,
        "compile_s": max(first - t["wall_s"], 0.0),
        "loss_start": float(result.history.loss.iloc[0]),
        "loss_end": float(result.summary["loss"]),
    }


def torch_cell(d: int, dtype: str, steps: int, chunks: int, refs: dict) -> dict:
    """The PyTorch loop for `steps` steps, timed in `chunks` equal chunks; compares its W
    with iblab's (s, C) in each file of refs (dtype -> npz path)."""
    import torch

    torch.manual_seed(0)
    X, y, W0, a = data(d)
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    Xt, yt = torch.as_tensor(X, dtype=tdt), torch.as_tensor(y, dtype=tdt)
    model = two_layer(torch.as_tensor(W0, dtype=tdt), torch.as_tensor(a, dtype=tdt))
    opt = torch.optim.SGD(model.parameters(), lr=LR_SCALE / d)

    def run(k: int) -> float:
        return sgd_steps(model, opt, Xt, yt, k)

    run(1)  # warm-up (allocator, kernels), then back to W_0
    with torch.no_grad():
        model.first.weight.copy_(torch.as_tensor(W0, dtype=tdt))
    per_chunk = steps // chunks
    times, cpu = [], []
    loss0 = (0.5 * torch.mean((model(Xt) - yt) ** 2)).item()
    for _ in range(chunks):
        w0, c0 = time.perf_counter(), time.process_time()
        loss = run(per_chunk)
        times.append((time.perf_counter() - w0) / per_chunk)
        cpu.append((time.process_time() - c0) / per_chunk)
    done = per_chunk * chunks
    W = model.first.weight.detach().to(torch.float64).numpy()
    errors = {}
    for ref_dtype, path in refs.items():
        ref = np.load(path)
        k = 0 if done != STEPS else 1
        s, C = float(ref["s"][k]), ref["C"][k]
        W_ref = s * W0 + C @ X
        errors[f"err_W_vs_{ref_dtype}"] = float(np.linalg.norm(W - W_ref) / np.linalg.norm(W_ref))
        errors[f"err_dW_vs_{ref_dtype}"] = float(
            np.linalg.norm(W - W_ref) / np.linalg.norm(W_ref - W0)
        )
    step_s = statistics.median(times)
    return {
        "d": d,
        "dtype": dtype,
        "steps_run": done,
        "step_s": step_s,
        "step_all_s": times,
        "step_cpu_s": statistics.median(cpu),
        "noise": (max(times) - min(times)) / step_s,
        "total_s": step_s * STEPS,
        "loss_start": loss0,
        "loss_end": loss,
        "threads": torch.get_num_threads(),
        **errors,
    }


# ------------------------------------------------------------------ driver


def main(quick: bool = False) -> dict:
    if not bc.has_torch():
        print("peer: PyTorch is not installed (pip install '.[bench]'); skipped")
        return {}
    machine = bc.machine()
    torch_steps = TORCH_STEPS_QUICK if quick else TORCH_STEPS
    repeats = 2 if quick else 5
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for d in DIMS:
            k = torch_steps[d]
            refs = {dt: str(Path(tmp) / f"ref_{d}_{dt}.npz") for dt in ("float64", "float32")}
            ib = {
                dt: bc.cell(
                    "benchmarks.peer:iblab_cell",
                    d=d,
                    dtype=dt,
                    repeats=repeats,
                    check_steps=k,
                    ref=refs[dt],
                )
                for dt in ("float64", "float32")
            }
            for dt in ("float64", "float32"):
                chunks = min(5, k)
                tc = bc.cell(
                    "benchmarks.peer:torch_cell", d=d, dtype=dt, steps=k, chunks=chunks, refs=refs
                )
                i = ib[dt]
                rows.append(
                    {
                        "d": d,
                        "dtype": dt,
                        "torch_steps_run": tc["steps_run"],
                        "torch_step_ms": tc["step_s"] * 1e3,
                        "torch_2000_s": tc["total_s"],
                        "iblab_total_s": i["total_s"],
                        "iblab_engine_s": i["engine_s"],
                        "iblab_blocks_s": i["blocks_s"],
                        "iblab_form_W_s": i["form_W_s"],
                        "iblab_compile_s": i["compile_s"],
                        "speedup_total": tc["total_s"] / i["total_s"],
                        "speedup_engine": tc["total_s"] / i["engine_s"],
                        "err_dW": tc[f"err_dW_vs_{dt}"],
                        "err_dW_vs_f64": tc["err_dW_vs_float64"],
                        "err_W": tc[f"err_W_vs_{dt}"],
                        "same_end": tc[f"err_dW_vs_{dt}"] <= TOL[dt],
                        "loss_end_torch": tc["loss_end"],
                        "loss_end_iblab": i["loss_end"] if tc["steps_run"] == STEPS else None,
                        "torch_peak_rss_mb": tc["peak_rss_mb"],
                        "iblab_peak_rss_mb": i["peak_rss_mb"],
                        "torch_noise": tc["noise"],
                        "iblab_noise": i["noise"],
                        "torch": tc,
                        "iblab": i,
                    }
                )
                print(_row_line(rows[-1]), flush=True)
    targets = _targets(rows)
    payload = {
        "benchmark": "peer",
        "quick": quick,
        "machine": machine,
        "n": N,
        "m": M,
        "steps": STEPS,
        "lr": f"{LR_SCALE}/d",
        "tolerance_dW": TOL,
        "rows": rows,
        "targets": targets,
    }
    path = bc.write("peer", payload)
    print()
    print(f"Peer: PyTorch nn.Module + SGD vs iblab, n={N}, m={M}, {STEPS} steps")
    print(bc.describe(machine))
    print(report(rows))
    for t in targets:
        print(f"target {t['name']}: measured {t['measured']:.0f}x, {t['status']}")
    print(f"-> {path}")
    return payload


COLUMNS = [
    ("d", "d", ".0e"),
    ("dtype", "dtype", ""),
    ("torch_step_ms", "torch ms/step", ".1f"),
    ("torch_steps_run", "torch steps run", "d"),
    ("torch_2000_s", "torch 2000 steps (s)", ".1f"),
    ("iblab_total_s", "iblab end-to-end (s)", ".2f"),
    ("iblab_engine_s", "iblab engine (s)", ".2f"),
    ("speedup_total", "speedup end-to-end", ".0f"),
    ("speedup_engine", "speedup engine", ".0f"),
    ("err_dW", "rel err W-W0", ".1e"),
    ("torch_peak_rss_mb", "torch peak RSS MB", ".0f"),
    ("iblab_peak_rss_mb", "iblab peak RSS MB", ".0f"),
]


def report(rows: list[dict]) -> str:
    return bc.table(rows, COLUMNS)


def _row_line(r: dict) -> str:
    return (
        f"  d={r['d']:.0e} {r['dtype']}: torch {r['torch_step_ms']:.1f} ms/step "
        f"({r['torch_2000_s']:.1f} s / 2000), iblab {r['iblab_total_s']:.2f} s "
        f"(engine {r['iblab_engine_s']:.2f} s), x{r['speedup_total']:.0f}, "
        f"err dW {r['err_dW']:.1e}"
    )


def _targets(rows: list[dict]) -> list[dict]:
    out = []
    for d, want in ((10**4, 100), (10**5, 1000)):
        for dt in ("float64", "float32"):
            r = next((r for r in rows if r["d"] == d and r["dtype"] == dt), None)
            if r is None:
                continue
            for kind in ("total", "engine"):
                got = r[f"speedup_{kind}"]
                ok = got >= want and r["same_end"]
                out.append(
                    {
                        "name": f">= {want}x at d={d:.0e} {dt} ({kind}), same end point",
                        "measured": got,
                        "same_end": r["same_end"],
                        "status": "met" if ok else "MISSED",
                    }
                )
    return out


if __name__ == "__main__":
    main()
