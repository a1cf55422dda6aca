"""Shared benchmark machinery: timing with medians, one subprocess per measurement, JSON out.

Timing. `timed(fn, repeats)` calls fn once to warm up (JIT compilation, caches), then
`repeats` more times, and keeps wall time (perf_counter) and this process's CPU time
(process_time) of each. Tables show the median wall time; the JSON keeps every repeat, the
minimum and the CPU time. On a shared machine other processes steal cores, which inflates
wall time (the minimum is the least disturbed repeat); CPU time is less sensitive to that.

Peak memory. Every measured cell runs in its own Python process (`cell(...)` below), which
reports its peak resident set size from resource.getrusage(RUSAGE_SELF).ru_maxrss at the end,
and the RSS it had after imports and before the work (`rss_before_mb`). Peak RSS is a per-
process high-water mark that never goes down, so a fresh process per cell is what makes it a
figure of that cell alone, not of everything run before it. tracemalloc is no use here: it
sees only Python-level allocations, not XLA's or PyTorch's buffers. The figures include the
cell's inputs (X and W_0 in float64 at d = 10^5 are 80 MB and 410 MB) and the interpreter
with its libraries (`rss_before_mb`).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
_MARK = "@@BENCH_RESULT@@"


def gaussian_arrays(n: int, d: int, m: int, seed: int = 0):
    """X (n, d), y (n,), W_0 (m, d) with N(0, 1/d) entries, a (m,) balanced +-1/sqrt(m)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    W0 = rng.standard_normal((m, d)) / d**0.5
    a = np.where(np.arange(m) < m // 2, 1.0, -1.0) / m**0.5
    return X, y, W0, a


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
    """Time fn: `warmup` untimed calls, then `repeats` timed ones. Returns medians and all
    repeats (seconds), and the last call's return value under 'value'."""
    value = None
    for _ in range(warmup):
        value = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {
        "wall_s": statistics.median(wall),
        "wall_min_s": min(wall),
        "wall_all_s": wall,
        "cpu_s": statistics.median(cpu),
        "noise": (max(wall) - min(wall)) / statistics.median(wall) if wall else 0.0,
        "value": value,
    }


def rss_mb() -> float:
    """Peak RSS of this process so far, MB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cell(target: str, **kwargs) -> dict:
    """Run `module:function(**kwargs)` in a fresh Python process and return its dict, with
    peak_rss_mb (the child's high-water mark) and rss_before_mb (after imports)."""
    cmd = [sys.executable, "-m", "benchmarks._common", target, json.dumps(kwargs)]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK) :])
    raise RuntimeError(f"benchmark cell {target} {kwargs} failed:\n{proc.stderr[-3000:]}")


def _child(target: str, raw: str) -> None:
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    before = rss_mb()
    out = fn(**json.loads(raw))
    out |= {"peak_rss_mb": rss_mb(), "rss_before_mb": before}
    print(_MARK + json.dumps(out, default=_jsonable), flush=True)


def _jsonable(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def machine() -> dict:
    """What the numbers were measured on."""
    import jax
    import numpy as np

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    info = {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_gb, 1),
        "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "numpy": np.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    return info


def describe(m: dict) -> str:
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; load avg (1 min) "
        f"{m['load_avg_1m']:.1f} at start; jax {m['jax']} ({m['jax_backend']}), "
        f"numpy {m['numpy']}, torch {m.get('torch')}"
    )


def write(name: str, payload: dict) -> Path:
    """Write benchmarks/results/<name>.json and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_jsonable))
    return path


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Format rows as a Markdown table; columns are (key, header, format spec)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    rule = "|" + "|".join("-" * (len(h) + 2) for _, h, _ in columns) + "|"
    lines = [head, rule]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            cells.append("-" if v is None else format(v, fmt) if fmt else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
