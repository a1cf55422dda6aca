"""What a user waits for at the command line: `iblab --version`, `iblab -h`, and the quick start
(`iblab run configs/quickstart.yaml --out DIR`) cold (an empty compilation cache) and warm
(the cache the cold run left), each on an idle machine and beside one CPU-bound process.

Every figure is the median wall time of separate processes, as a user sees them.
Run: python -m benchmarks cli_times [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks import _common as bc

ROOT = Path(__file__).resolve().parent.parent
IBLAB = [str(Path(sys.executable).with_name("iblab"))]  # the console script beside python
QUICKSTART = ["run", str(ROOT / "configs" / "quickstart.yaml")]


def wall(args: list[str], env: dict, repeats: int) -> list[float]:
    """Wall times (s) of `repeats` runs of `iblab ARGS` in fresh processes."""
    out = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([*IBLAB, *args, *(["--out", tmp] if args == QUICKSTART else [])],
                           env=env, check=True, capture_output=True)  # fmt: skip
            out.append(time.perf_counter() - t0)
    return out


@contextmanager
def busy(loaded: bool):
    """One CPU-bound process beside the measurement (when loaded)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def main(quick: bool = False, out: Path | None = None) -> dict:
    repeats = 2 if quick else 5
    rows = []
    for loaded in (False, True):
        with busy(loaded), tempfile.TemporaryDirectory() as cache:
            env = os.environ | {"IBLAB_COMPILATION_CACHE": cache}
            cases = [("iblab --version", ["--version"], repeats),
                     ("iblab -h", ["-h"], repeats),
                     ("quick start, cold", QUICKSTART, 1),
                     ("quick start, warm", QUICKSTART, repeats)]  # fmt: skip
            for name, args, k in cases:
                times = wall(args, env, k)
                rows.append({"case": name, "machine": "loaded" if loaded else "idle",
                             "wall_s": statistics.median(times), "repeats": times})  # fmt: skip
    version = next(r for r in rows if r["case"] == "iblab --version" and r["machine"] == "idle")
    targets = [{"name": "iblab --version under 1 s", "measured": version["wall_s"],
                "status": "met" if version["wall_s"] < 1.0 else "MISSED"}]  # fmt: skip
    payload = {"benchmark": "cli_times", "quick": quick, "machine": bc.machine(), "rows": rows,
               "targets": targets}  # fmt: skip
    bc.write("cli_times" + ("_quick" if quick else ""), payload)
    if out is not None:
        out.write_text(json.dumps(payload, indent=2, default=str))
    print(bc.describe(payload["machine"]))
    print(bc.table(rows, [("case", "case", "s"), ("machine", "machine", "s"),
                          ("wall_s", "wall (s)", ".2f")]))  # fmt: skip
    return payload


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)
