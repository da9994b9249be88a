"""Sweep benchmark: what the bundled example costs, and how a CPU-bound sweep scales with workers.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python -m benchmarks.sweep [--work DIR] [--no-example]

1. ``examples/sweep-small.yaml`` on a 2-worker LocalCluster into a fresh folder (cold synthesis
   cache): wall time of the command, seconds per point by study (from the table's ``seconds``).
2. A CPU-bound sweep of 8 run points (tiny SpB2.0 checkpoint, 2048 tokens, spike mode; codings x
   quantizers) run with 1 worker and with 2 workers, one after the other in this process, each
   into a fresh folder. Ratio = wall(2 workers) / wall(1 worker) (target <= 0.6). Scheduling
   overhead per point = (wall(1 worker) - local cluster start+stop - sum of the points' own
   seconds) / 8: everything the sweep adds around the points (submission, result transfer, the
   table rewrite, the checkpoint made once).

Writes ``docs/results/sweep.json`` and ``docs/results/sweep.md`` (docs/measured-results.md quotes the .md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from neurosim.hostload import load_average as loadavg
from neurosim.results import write_result

import yaml

ROOT = Path(__file__).resolve().parents[1]
CPU_POINTS = [{"run.coding": c, "run.scale": "absmax"} for c in ("bitwise", "bitwise_2c", "ternary")] + \
             [{"run.coding": c, "run.scale": "adaptive", "run.k": k, "run.clamp": "none"}
              for c in ("bitwise", "ternary") for k in (3, 8)] + \
             [{"run.coding": "bitwise", "run.scale": "adaptive", "run.k": 8, "run.clamp": 127}]


def timed_sweep(spec: Path, out: Path, workers: int) -> dict:
    from neurosim.sweep import read_table, run_sweep
    load0 = loadavg()
    t0 = time.perf_counter()
    res = run_sweep(spec, out, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    rows = read_table(out)
    return {"workers": workers, "wall_s": round(wall, 2), "points": res["points"], "errors": res["errors"],
            "sum_point_s": round(sum(r["seconds"] or 0 for r in rows), 2),
            "by_study_s": {s: round(sum(r["seconds"] or 0 for r in rows if r["study"] == s), 2)
                           for s in sorted({r["study"] for r in rows})},
            "median_point_s": {s: round(statistics.median(r["seconds"] or 0 for r in rows if r["study"] == s), 2)
                               for s in sorted({r["study"] for r in rows})},
            "load_before": load0, "load_after": loadavg()}


def cluster_start_stop(workers: int) -> float:
    import logging
    from distributed import Client, LocalCluster
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.CRITICAL)
    client = Client(cluster, set_as_default=False)
    client.wait_for_workers(workers)
    client.close()
    cluster.close()
    return time.perf_counter() - t0


def render(doc: dict) -> str:
    lines = [f"Sweep benchmark (`python -m benchmarks.sweep`, {doc['date']}, {doc['machine']}, "
             f"{doc['cores']} cores, OPENBLAS_NUM_THREADS={doc['env']['OPENBLAS_NUM_THREADS']} "
             f"NUMBA_NUM_THREADS={doc['env']['NUMBA_NUM_THREADS']}):", ""]
    ex = doc.get("example")
    if ex:
        lines += [f"- `neurosim sweep examples/sweep-small.yaml --workers 2` (cold synthesis cache): "
                  f"{ex['points']} points in **{ex['wall_s']:.0f} s** wall ({ex['errors']} errors); point seconds by "
                  f"study (sum / median): " + ", ".join(f"{k} {v:.0f} s / {ex['median_point_s'][k]:.1f} s"
                                                         for k, v in ex["by_study_s"].items())
                  + f" (load {ex['load_before']} before, {ex['load_after']} after)."]
    c = doc["cpu_bound"]
    one, two = c["runs"]["1"], c["runs"]["2"]
    lines += [f"- CPU-bound sweep of {one['points']} run points (tiny SpB2.0, {c['tokens']} tokens, spike mode), "
              f"faster of {len(c.get('rounds', [1]))} round(s): "
              f"1 worker {one['wall_s']:.1f} s, 2 workers {two['wall_s']:.1f} s: **{c['ratio']:.2f}x** "
              f"(target <= 0.6x{'; NOT met' if c['ratio'] > 0.6 else ''}); points' own seconds "
              f"{one['sum_point_s']:.1f} s (1 worker) and {two['sum_point_s']:.1f} s (2 workers); load average "
              f"{one['load_before']} (1 worker) and {two['load_before']} (2 workers) before the runs.",
              f"- Overhead: local cluster start+stop {c['cluster_s']:.1f} s (1 worker); scheduling overhead "
              f"**{c['overhead_per_point_s']:.2f} s per point** (target < 1 s).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--no-example", action="store_true", help="skip the bundled example")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=2, choices=(1, 2),
                    help="rounds of the 1-vs-2-worker comparison (the second in the other order; the faster "
                         "run of each count is quoted)")
    ap.add_argument("--results", default=str(ROOT / "docs" / "results"))
    a = ap.parse_args(argv)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="neurosim-bench-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    doc: dict = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
           "cores": os.cpu_count(), "env": {v: os.environ.get(v, "unset")
                                            for v in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}}
    try:
        if not a.no_example:
            print("bundled example ...", file=sys.stderr)
            doc["example"] = timed_sweep(ROOT / "examples" / "sweep-small.yaml", work / "example", 2)
        elif (Path(a.results) / "sweep.json").is_file():   # keep the earlier measurement of the example
            old = json.loads((Path(a.results) / "sweep.json").read_text())
            if "example" in old:
                doc["example"] = old["example"]
        spec = work / "cpu.yaml"
        spec.write_text(yaml.safe_dump({
            "checkpoints": {"tiny": {"arch": "sse_swa_moba", "preset": "tiny", "seed": 0}},
            "studies": {"cpu": {"run": {"model": "tiny", "max_tokens": a.tokens, "mode": "spike"},
                                "points": CPU_POINTS}}}))
        rounds = []
        for i, order in enumerate([(1, 2), (2, 1)][:a.rounds]):
            r = {}
            for w in order:
                print(f"cpu-bound sweep, round {i + 1}, {w} worker(s) ...", file=sys.stderr)
                r[str(w)] = timed_sweep(spec, work / f"cpu{w}-{i}", w)
            rounds.append(r)
        cl = cluster_start_stop(1)
        runs = {w: min((r[w] for r in rounds), key=lambda x: x["wall_s"]) for w in ("1", "2")}
        one = runs["1"]
        doc["cpu_bound"] = {"tokens": a.tokens, "rounds": rounds, "runs": runs,
                            "ratio": runs["2"]["wall_s"] / one["wall_s"], "cluster_s": round(cl, 2),
                            "overhead_per_point_s": (one["wall_s"] - cl - one["sum_point_s"]) / one["points"]}
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    write_result("sweep", {**doc, "renderer": "benchmarks.sweep:render"}, Path(a.results))
    print(render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
