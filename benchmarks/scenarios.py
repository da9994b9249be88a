"""The energy verdict over every modelling scenario, and how long the grid takes:
``docs/results/scenarios.json`` and ``scenarios.md`` rendered from it.

    python -m benchmarks.scenarios [--trace build/trace] [--hw build/hw] [--out docs/results]

Times ``neurosim energy --scenarios all`` on the trace and hw.json of ``make main`` (SmolLM2-135M, 256
tokens) in one process: a first run with an empty CACTI cache (every bank configuration computed)
and three with the cache filled (the median is quoted); the target is at least 100 scenarios in under
10 s on 2 cores. Keeps the verdict per baseline (range, median, share of scenarios won, break-even),
the tornado and Yan et al.'s break-even, so the table can be re-rendered from the JSON alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from neurosim.hostload import load_average
from neurosim.results import write_result

TARGET_S, TARGET_N = 10.0, 100


def measure(trace, hw) -> dict:
    import os
    from neurosim.hwmodels.energy import energy_report
    times = []
    with tempfile.TemporaryDirectory(prefix="neurosim-cacti-bench-") as cache:
        for _ in range(4):
            t0 = time.perf_counter()
            doc = energy_report(trace, hw, cache_dir=cache, scenarios="all")
            times.append(time.perf_counter() - t0)
    s = doc["scenarios"]
    return {"renderer": "benchmarks.scenarios:render", "command": "python -m benchmarks.scenarios",
            "model": Path(doc["model"]).name if doc.get("model") else "?", "tokens": doc["tokens"],
            "projections": doc["projections"], "cpus": os.cpu_count(), "load_average_after": load_average(),
            "seconds_cold_cache": times[0], "seconds_warm_median": statistics.median(times[1:]),
            "count": s["count"], "axes": s["axes"], "grid": s["grid"], "default": s["default"], "fixed": s["fixed"],
            "best": s["best"], "tornado": s["tornado"], "designs": s["designs"],
            "uj_per_token_range": s["uj_per_token_range"], "yan_break_even": s["yan_break_even"],
            "spikes_per_activation_mac_weighted": s["spikes_per_activation_mac_weighted"]}


def render(doc: dict) -> str:
    """scenarios.md from scenarios.json."""
    from neurosim.hwmodels.scenario_report import render_markdown
    met = doc["seconds_warm_median"] < TARGET_S and doc["count"] >= TARGET_N
    head = [f"Energy verdict over {doc['count']:,} modelling scenarios (`{doc['command']}`): {doc['model']}, "
            f"{doc['tokens']} tokens, {doc['projections']} projections. `neurosim energy --scenarios all` took "
            f"{doc['seconds_warm_median']:.2f} s (median of 3, CACTI results cached; "
            f"{doc['seconds_cold_cache']:.1f} s with an empty cache) on {doc['cpus']} CPU cores, load average after "
            f"{doc['load_average_after']}: target at least {TARGET_N} scenarios in under {TARGET_S:.0f} s "
            f"{'met' if met else 'NOT met'}.", ""]
    body = render_markdown({**doc, "skipped_designs": []}).split("\n", 2)[2]
    return "\n".join(head) + body


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default="build/trace")
    ap.add_argument("--hw", default="build/hw")
    ap.add_argument("--out", default=None, help="results folder (default docs/results)")
    a = ap.parse_args(argv)
    pj, pm = write_result("scenarios", measure(a.trace, a.hw), a.out)
    print(pm.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
