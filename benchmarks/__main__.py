"""Run the benchmark suite: python -m benchmarks [NAME ...] [--quick]

NAME: peer, ensemble, dscale, roofline, flow, flow_scale or cli_times.

With no names, runs all seven. Each prints a table and writes benchmarks/results/<name>.json;
a summary of the targets is written to benchmarks/results/summary.json. --quick: fewer
steps and repeats (a smoke run, < 3 minutes; its figures are rougher). PyTorch (the peer
baseline) is an optional extra: pip install '.[bench]'.
"""

from __future__ import annotations

import argparse
import importlib
import time

from benchmarks import _common as bc

SUITE = {
    "peer": "benchmarks.peer",
    "ensemble": "benchmarks.ensemble",
    "dscale": "benchmarks.d_independence",
    "roofline": "benchmarks.roofline",
    "flow": "benchmarks.flow",
    "flow_scale": "benchmarks.flow_scale",
    "cli_times": "benchmarks.cli_times",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *SUITE], metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args()
    names = args.names or list(SUITE)
    summary = {"quick": args.quick, "machine": bc.machine(), "benchmarks": {}}
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        payload = importlib.import_module(SUITE[name]).main(quick=args.quick)
        summary["benchmarks"][name] = {
            "wall_s": time.perf_counter() - t0,
            "targets": payload.get("targets", []) if payload else [],
        }
    print("\n=== targets ===")
    for name, s in summary["benchmarks"].items():
        for t in s["targets"]:
            print(f"{name}: {t['name']}: {t['status']} (measured {t['measured']:.3g})")
        print(f"{name}: {s['wall_s']:.0f} s")
    if set(names) == set(SUITE):
        bc.write("summary" + ("_quick" if args.quick else ""), summary)


if __name__ == "__main__":
    main()
