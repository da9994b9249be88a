"""Fidelity-mode benchmark: SmolLM2-135M forward pass in fp vs int8 vs spike mode, one process.

    python -m benchmarks.modes [--tokens 256] [--repeats 5] [--threads-compare]

The forward pass of each mode is what ``neurosim run`` times (``neurosim.run.execute``'s ``fp_s`` /
``int8_s`` / ``spike_s``): ``Model.forward`` with float weights read from the checkpoint per
projection call, and for int8/spike the ``neurosim.run.Recorder`` hook around the int8 / spike
projection (activation quantization on every call, bitwise coding, absmax, every block projection)
with its statistics recording on. One model serves all rounds, so after the warm-up its derived
weights (``model.derived``: each weight quantized, and packed for the engine, once per model) are
kept and int8/spike skip reading the float weights (``holds``); the "first pass" column times
int8/spike on a fresh ``Model`` each round instead, which quantizes and packs every weight inside
the pass, as a single ``neurosim run`` does.
A further column times the hook with recording off (pure compute). Modes are interleaved
(fp, int8, spike, fp, ...) after one warm-up round, so machine-load drifts hit all of them alike;
the table gives median seconds and the median of the per-round ratios to fp.

Peak memory per mode, two measures: the process's resident high-water mark during that pass
(``VmHWM`` from /proc/self/status, reset before the pass by writing 5 to /proc/self/clear_refs;
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is the same counter but cannot be reset), and the
peak of Python/numpy heap allocations during the pass above what was allocated before it
(``tracemalloc``, in a separate untimed pass because tracing costs time).

``--threads-compare`` runs the whole benchmark three times in child processes: default threads,
``OPENBLAS_NUM_THREADS=1``, and ``OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1`` (the spike engine is
numba-parallel), and prints the tables side by side with the load average of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from neurosim.hostload import load_average as loadavg
from neurosim.results import write_result

MODES = ("fp", "int8", "spike")



def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(tokens: int, repeats: int) -> dict:
    import numpy as np

    from neurosim.model import Model, default_model_dir, load_checkpoint
    from neurosim.run.corpus import default_text
    from neurosim.run import Recorder, Settings, projection_for, projection_kinds

    ckpt = load_checkpoint(default_model_dir())
    model = Model(ckpt)  # as neurosim run: weights read per projection call, not cached
    kinds = projection_kinds(model)
    ids = np.asarray(ckpt.tokenizer.encode(default_text()).ids, dtype=np.int64)[:tokens]

    def hook(mode, recording=True):
        if mode == "fp":
            return None
        h = Recorder(projection_for(Settings(mode=mode).validate()), kinds)
        h.recording = recording
        return h

    def once(mode, recording=True, fresh=False):
        h = hook(mode, recording)
        m = Model(ckpt) if fresh else model
        t0 = time.perf_counter()
        logits = m.forward(ids, linear=h)
        return time.perf_counter() - t0, logits

    load0 = loadavg()
    # warm-up (numba compilation, page cache) and the bit-identity check
    _, li = once("int8")
    _, ls = once("spike")
    once("fp")
    identical = bool(np.array_equal(li, ls))
    times: dict[str, list] = {m: [] for m in MODES}
    times_norec: dict[str, list] = {m: [] for m in ("int8", "spike")}
    times_first: dict[str, list] = {m: [] for m in ("int8", "spike")}
    for _ in range(repeats):
        for m in MODES:
            times[m].append(once(m)[0])
        for m in ("int8", "spike"):
            times_norec[m].append(once(m, recording=False)[0])
            times_first[m].append(once(m, fresh=True)[0])
    load1 = loadavg()
    mem = {}
    for m in MODES:  # untimed passes for memory
        ok = _reset_hwm()
        once(m)
        hwm = _hwm_kb() if ok else None
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        once(m)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        mem[m] = {"vmhwm_mib": None if hwm is None else hwm / 1024, "tracemalloc_peak_mib": peak / 2**20}
    import resource

    return {
        "tokens": int(len(ids)),
        "repeats": repeats,
        "env": {k: os.environ.get(k, "default") for k in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")},
        "load_start": load0,
        "load_end": load1,
        "spike_bit_identical_to_int8": identical,
        "times": times,
        "times_norec": times_norec,
        "times_first": times_first,
        "memory": mem,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def table(r: dict) -> str:
    fp = r["times"]["fp"]
    lines = [f"env {r['env']}; {r['tokens']} tokens; {r['repeats']} interleaved rounds; "
             f"load average {r['load_start']} (start) / {r['load_end']} (end); "
             f"spike logits bit-identical to int8: {r['spike_bit_identical_to_int8']}",
             "",
             "| mode | median s | min s | ratio to fp (median of rounds) | median s, stats off | ratio, stats off "
             "| median s, first pass | ratio, first pass | peak RSS in pass (VmHWM) MiB | tracemalloc peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in MODES:
        t = r["times"][m]
        ratio = statistics.median(a / b for a, b in zip(t, fp))
        nr = nratio = first = fratio = "-"
        if m != "fp":
            tn = r["times_norec"][m]
            nr = f"{statistics.median(tn):.2f}"
            nratio = f"{statistics.median(a / b for a, b in zip(tn, fp)):.2f}x"
            tf = r.get("times_first", {}).get(m)
            if tf:
                first = f"{statistics.median(tf):.2f}"
                fratio = f"{statistics.median(a / b for a, b in zip(tf, fp)):.2f}x"
        mem = r["memory"][m]
        hwm = "n/a" if mem["vmhwm_mib"] is None else f"{mem['vmhwm_mib']:.0f}"
        lines.append(f"| {m} | {statistics.median(t):.2f} | {min(t):.2f} | {ratio:.2f}x | {nr} | {nratio} | {first} "
                     f"| {fratio} | {hwm} "
                     f"| {mem['tracemalloc_peak_mib']:.0f} |")
    lines.append(f"\nprocess ru_maxrss (whole run): {r['ru_maxrss_mib']:.0f} MiB")
    return "\n".join(lines)


#: the targets: mode -> largest median ratio to fp (statistics on)
TARGETS = {"int8": 1.3, "spike": 2.0}


def render(doc: dict) -> str:
    """``docs/results/modes.md`` from ``modes.json``: the table and the verdict per target."""
    r = doc["result"]
    fp = r["times"]["fp"]
    verdict = []
    for m, lim in TARGETS.items():
        ratio = statistics.median(a / b for a, b in zip(r["times"][m], fp))
        text = f"{m} {ratio:.2f}x fp (target <= {lim}x: {'met' if ratio <= lim else 'NOT met'}"
        tf = r.get("times_first", {}).get(m)
        if tf:
            first = statistics.median(a / b for a, b in zip(tf, fp))
            text += f"; first pass {first:.2f}x: {'met' if first <= lim else 'NOT met'}"
        verdict.append(text + ")")
    return (f"Fidelity modes, SmolLM2-135M (`{doc['command']}`, {doc['date']}, {doc['machine']}):\n\n"
            + table(r) + "\n\nTargets, statistics on: " + "; ".join(verdict) + ".\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads-compare", action="store_true")
    ap.add_argument("--json", help="write the raw result(s) here")
    ap.add_argument("--out", help="also write modes.json and modes.md (rendered from it) into this folder")
    args = ap.parse_args(argv)
    if not args.threads_compare:
        r = measure(args.tokens, args.repeats)
        print(table(r))
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=1))
        if args.out:
            import datetime
            import platform

            cmd = " ".join(f"{k}={v}" for k, v in r["env"].items() if v != "default")
            cmd = (cmd + " " if cmd else "") + f"python -m benchmarks.modes --tokens {args.tokens} --repeats {args.repeats}"
            doc = {"command": cmd, "date": datetime.date.today().isoformat(),
                   "machine": f"{platform.machine()}, {os.cpu_count()} cores", "result": r,
                   "renderer": "benchmarks.modes:render"}
            print(write_result("modes", doc, args.out)[1])
        return 0
    results = []
    for env in ({}, {"OPENBLAS_NUM_THREADS": "1"}, {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}):
        out = Path(f"/tmp/neurosim_modes_{os.getpid()}.json")
        child = [sys.executable, "-m", "benchmarks.modes", "--tokens", str(args.tokens), "--repeats", str(args.repeats),
                 "--json", str(out)]
        subprocess.run(child, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL,
                       cwd=Path(__file__).resolve().parents[1])
        r = json.loads(out.read_text())
        out.unlink()
        results.append(r)
        print(table(r) + "\n", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
