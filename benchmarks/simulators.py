"""Regression time per RTL simulator: the cocotb regression of ``testbench/test_arrays.py`` (its six
scenarios per design) on Icarus and on Verilator, build (compile) seconds and the median of the
regression's run seconds per design.

    .venv/bin/python -m benchmarks.simulators [--cases mac-p6,...] [--repeats 3] [--out docs/results]

With ``--out`` it writes ``simulators.json`` and ``simulators.md`` there. Builds go to
``build/sim/<top>/<simulator>/``; a design whose Verilog is unchanged since an earlier build is not
recompiled, so the build figure is the honest one only when ``build/sim`` is deleted first (the
document records whether each build compiled).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from neurosim.hostload import load_average
from neurosim.results import write_result
from testbench import harness, stimulus
from testbench.test_arrays import CASES, build_case

DEFAULT_CASES = "mac-p6,spike-bitwise-horner-p2,spike-bitwise_2c-barrel-p4"


def time_case(case: dict, sim: str, repeats: int) -> dict:
    """Build seconds and ``repeats`` regression run seconds of one design on ``sim``."""
    os.environ["SIM"] = sim
    t0 = time.perf_counter()
    info = build_case(case)
    build_s = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t1 = time.perf_counter()
        tests, failed = harness.run(info, stimulus.scenarios(info, harness.seed()), tag=f"bench_{sim}")
        runs.append(round(time.perf_counter() - t1, 3))
        if failed:
            raise SystemExit(f"{info['top']} failed {failed} of {tests} tests on {sim}")
    return {"top": info["top"], "simulator": sim, "build_s": round(build_s, 2), "run_s": runs,
            "run_median_s": round(statistics.median(runs), 3), "tests": tests}


def render(doc: dict) -> str:
    """simulators.md: build and median regression seconds per design and simulator."""
    lines = [f"RTL simulator benchmark (`{doc['command']}`, {doc['date']}): {doc['cores']} cores, load "
             f"average {doc['load_before']} before and {doc['load_after']} after (1/5/15 min; the machine "
             f"is shared). Regression: the six cocotb scenarios of one design; run seconds are the median "
             f"of {doc['repeats']} runs, build seconds the one compile.", "",
             "| design | simulator | build s | regression s (median) | tests |",
             "|---|---|---:|---:|---:|"]
    for r in doc["rows"]:
        lines.append(f"| {r['top']} | {r['simulator']} | {r['build_s']:.1f} | {r['run_median_s']:.1f} | "
                     f"{r['tests']} |")
    lines.append("")
    for sim, tot in doc["totals"].items():
        lines.append(f"Total on {sim}: build {tot['build_s']:.1f} s, regression {tot['run_median_s']:.1f} s.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated case ids (default {DEFAULT_CASES})")
    ap.add_argument("--repeats", type=int, default=3, help="regression runs per design and simulator")
    ap.add_argument("--out", default=None, help="write simulators.json and simulators.md into this folder")
    args = ap.parse_args(argv)
    ids: dict = {p.id: p.values[0] for p in CASES}
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in ids]
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(ids)}")
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
    before = load_average()
    rows = [time_case(ids[c], sim, args.repeats) for sim in harness.SIMULATORS for c in wanted]
    totals = {sim: {k: round(sum(r[k] for r in rows if r["simulator"] == sim), 2)
                    for k in ("build_s", "run_median_s")} for sim in harness.SIMULATORS}
    cmd = "python -m benchmarks.simulators" + ("" if args.cases == DEFAULT_CASES else f" --cases {args.cases}") \
        + f" --repeats {args.repeats}"
    doc = {"command": cmd, "date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "repeats": args.repeats,
           "load_before": before, "load_after": load_average(), "rows": rows, "totals": totals,
           "renderer": "benchmarks.simulators:render"}
    if args.out:
        write_result("simulators", doc, args.out)
    print(render(doc), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
