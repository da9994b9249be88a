"""Regression time per RTL simulator: the cocotb regression of ``testbench/test_arrays.py`` (its six
scenarios per design) on Icarus and on Verilator, build (compile) and run seconds per design.

    .venv/bin/python -m benchmarks.simulators [--cases mac-p6,spike-bitwise-horner-p2] [--out FILE.json]

Builds go to ``build/sim/<top>/<simulator>/``; a design whose Verilog is unchanged since an earlier
build is not recompiled by Icarus, so the first run's build figure is the honest one (delete
``build/sim`` first).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from testbench import harness, stimulus
from testbench.test_arrays import CASES, build_case

DEFAULT_CASES = "mac-p6,spike-bitwise-horner-p2,spike-bitwise_2c-barrel-p4"


def time_case(case: dict, sim: str) -> dict:
    """Build and regression seconds of one design on ``sim``."""
    os.environ["SIM"] = sim
    t0 = time.perf_counter()
    info = build_case(case)
    t1 = time.perf_counter()
    tests, failed = harness.run(info, stimulus.scenarios(info, harness.seed()), tag=f"bench_{sim}")
    t2 = time.perf_counter()
    if failed:
        raise SystemExit(f"{info['top']} failed {failed} of {tests} tests on {sim}")
    return {"top": info["top"], "simulator": sim, "build_s": round(t1 - t0, 2), "run_s": round(t2 - t1, 2),
            "tests": tests}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated case ids (default {DEFAULT_CASES})")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    ids: dict = {p.id: p.values[0] for p in CASES}
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in ids]
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(ids)}")
    rows = [time_case(ids[c], sim) for sim in harness.SIMULATORS for c in wanted]
    print(f"{'design':40} {'simulator':9} {'build s':>8} {'run s':>8}")
    for r in rows:
        print(f"{r['top']:40} {r['simulator']:9} {r['build_s']:8.1f} {r['run_s']:8.1f}")
    for sim in harness.SIMULATORS:
        mine = [r for r in rows if r["simulator"] == sim]
        print(f"total {sim}: build {sum(r['build_s'] for r in mine):.1f} s, "
              f"regression {sum(r['run_s'] for r in mine):.1f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "loadavg": os.getloadavg()[0]}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
