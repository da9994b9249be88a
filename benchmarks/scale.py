"""Scale benchmark: the full-size SpB2.0-5B layout (random weights, bf16, sharded) on this machine.

    python -m benchmarks.scale [DIR] [--tokens 256] [--keep]
    python -m benchmarks.scale [DIR] --profile 4,0   # cProfile single layers of DIR/ckpt (needs --keep)

1. ``neurosim make-checkpoint --arch sse_swa_moba --preset full DIR/ckpt`` (skipped when DIR/ckpt
   already holds a loadable checkpoint; default DIR = build/scale, gitignored);
2. ``neurosim run --model DIR/ckpt --mode spike --max-tokens 256 --trace DIR/trace`` (in-process
   ``neurosim.run.execute``, in a child process of its own).

Each phase runs in its own child process; its peak RSS is the kernel's ``ru_maxrss`` of that child
(``os.wait4``), i.e. the high-water mark of resident memory, which includes file-backed pages of
the memory-mapped safetensors shards. A sampler thread inside the run child also records
``RssAnon`` (heap: what really has to fit in RAM) and ``RssFile`` (mapped checkpoint pages, which
the kernel can drop) every 0.2 s, split by phase (setup / fp pass / spike pass / trace write), and
the wall time of every layer of both passes. Load average (``/proc/loadavg``) is recorded at the
start and end. The checkpoint is deleted at the end unless ``--keep``; the trace is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from neurosim.hostload import load_average as loadavg
from neurosim.results import write_result

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "build" / "scale"
GB = 1 << 30


def _status_kb(*keys) -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in keys:
            out[k] = int(v.split()[0])
    return out


class Sampler(threading.Thread):
    """Samples VmRSS / RssAnon / RssFile of this process; ``mark(phase)`` starts a new phase."""

    def __init__(self, period=0.2):
        super().__init__(daemon=True)
        self.period = period
        self.phase = "setup"
        self.peaks: dict[str, dict] = {}
        self.stop_ev = threading.Event()

    def mark(self, phase):
        self._sample()
        self.phase = phase

    def _sample(self):
        s = _status_kb("VmRSS", "RssAnon", "RssFile")
        p = self.peaks.setdefault(self.phase, {"VmRSS": 0, "RssAnon": 0, "RssFile": 0})
        for k, v in s.items():
            p[k] = max(p[k], v)

    def run(self):
        while not self.stop_ev.is_set():
            self._sample()
            time.sleep(self.period)

    def stop(self):
        self.stop_ev.set()
        self.join()
        self._sample()


def child_run(ckpt: str, tokens: int, trace: str, result: str) -> None:
    """Inside the child: one spike-mode run with trace, timed per phase and per layer."""
    sampler = Sampler()
    sampler.start()
    t0 = time.perf_counter()
    from neurosim.model import network as model_mod
    from neurosim.run import Settings, execute

    layer_times: dict[str, list[float]] = {"fp": [], "spike": []}
    # time every layer: wrap Model.forward's progress callback by patching run_layer timing
    orig_forward = model_mod.Model.forward
    state = {"pass": "fp", "calls": 0}

    def forward(self, ids, linear=None, progress=None, **kw):
        state["pass"] = "fp" if state["calls"] == 0 else "spike"  # execute runs the float pass first
        state["calls"] += 1
        sampler.mark(state["pass"] + " pass")
        last = [time.perf_counter()]

        def prog(i, n):
            now = time.perf_counter()
            layer_times[state["pass"]].append(now - last[0])
            last[0] = now
            if progress is not None and hasattr(progress, "update"):
                progress.update(1)
            print(f"  {state['pass']} layer {i:2d} ({self.layer_kind(i)}): {layer_times[state['pass']][-1]:.1f} s, "
                  f"load {loadavg()}", file=sys.stderr, flush=True)

        out = orig_forward(self, ids, linear, prog, **kw)
        sampler.mark("after " + state["pass"])
        return out

    model_mod.Model.forward = forward  # type: ignore[method-assign]  # timed for this run only
    s = Settings(model=ckpt, mode="spike", max_tokens=tokens, trace=trace).validate()
    summary = execute(s, quiet=True)
    t_exec = time.perf_counter() - t0
    sampler.stop()
    timing = summary["_timing"]
    res = {
        "timing": timing,
        "wall_s": t_exec,
        "layer_times": layer_times,
        "rss_peaks_kb": sampler.peaks,
        "tokens": summary["tokens"],
        "totals": summary["totals"],
        "accuracy": summary["accuracy"],
    }
    Path(result).write_text(json.dumps(res, indent=1))


def profile_layers(ckpt: str, layers: list[int], tokens: int, top: int = 18) -> None:
    """cProfile of single layers of the full checkpoint in fp and spike mode (input: the token
    embeddings of the default text, so the statistics are not those of a real hidden state)."""
    import cProfile
    import pstats

    import numpy as np

    from neurosim.model import Model, load_checkpoint
    from neurosim.run.corpus import default_text
    from neurosim.run import Recorder, Settings, projection_for, projection_kinds

    ck = load_checkpoint(ckpt)
    model = Model(ck)
    ids = np.asarray(ck.tokenizer.encode(default_text()).ids, dtype=np.int64)[:tokens]
    h = model.embed(ids)
    kinds = projection_kinds(model)
    for i in layers:
        for mode in ("fp", "spike"):
            hook = None if mode == "fp" else Recorder(projection_for(Settings(model=ckpt, mode=mode).validate()), kinds)
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            model.run_layer(i, h, hook)
            prof.disable()
            print(f"\n=== layer {i} ({model.layer_kind(i)}), {mode}: {time.perf_counter() - t0:.1f} s, "
                  f"load {loadavg()}")
            pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def run_child(cmd: list[str], log: Path) -> tuple[int, float, int]:
    """Run cmd; returns (exit status, wall seconds, peak RSS in bytes of that child)."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, time.perf_counter() - t0, ru.ru_maxrss * 1024


def checkpoint_ok(path: Path) -> bool:
    if not (path / "config.json").is_file():
        return False
    try:
        from neurosim.model import load_checkpoint

        load_checkpoint(path)
        return True
    except Exception:
        return False


#: the targets for the 256-token spike run with trace
TARGET_S, TARGET_RSS_GB = 150, 4


def render(doc: dict) -> str:
    """The phase table (``docs/results/scale.md``) from the benchmark's document, with the verdict."""
    r = doc["result"]
    t = r["timing"]
    write_s = r["wall_s"] - t["total_s"]
    setup_s = t["total_s"] - t["fp_s"] - t["spike_s"]
    pk = r["rss_peaks_kb"]

    def ph(name):
        p = pk.get(name, {})
        return f"anon {p.get('RssAnon', 0) / 2**20:.2f} + file {p.get('RssFile', 0) / 2**20:.2f} GiB"

    env = ", ".join(f"{k}={v}" for k, v in doc["env"].items())
    wall, rss = doc["run_wall_s"], doc["run_peak_rss_bytes"]
    lines = [f"SpB2.0-5B layout, random bf16 weights (`{doc['command']}`, {doc['date']}, {doc['machine']}, {env}; "
             f"load average at the end {doc['load_end']}):", "",
             "| phase | wall s | peak RSS GiB | note |", "|---|---:|---:|---|"]
    for name, w, m, note in doc["checkpoint_rows"]:
        lines.append(f"| {name} | {'-' if w is None else f'{w:.0f}'} | {'-' if m is None else f'{m / GB:.2f}'} | {note} |")
    lines += [f"| run --mode spike --trace (whole child) | {wall:.0f} | {rss / GB:.2f} | {r['tokens']} tokens |",
              f"| setup (load ckpt, tokenizer, model) | {setup_s:.1f} | | {ph('setup')} |",
              f"| fp pass (36 layers + head) | {t['fp_s']:.1f} | | {ph('fp pass')} |",
              f"| spike pass (36 layers + head) | {t['spike_s']:.1f} | | {ph('spike pass')} |",
              f"| stats + trace write | {write_s:.1f} | | {ph('after spike')} |", ""]
    for p in ("fp", "spike"):
        srt = sorted(r["layer_times"][p])
        if srt:
            lines.append(f"{p} per layer: median {srt[len(srt) // 2]:.1f} s, min {srt[0]:.1f}, max {srt[-1]:.1f}.")
    tot = r["totals"]
    fixed = tot["sparsity_fixed"]
    lines += [f"Sparsity data-T {tot['sparsity_data']:.2%}, fixed T={tot['T_fixed']} "
              f"{'n/a' if fixed is None else f'{fixed:.2%}'}, {tot['spikes_per_activation']:.2f} spikes/activation.", "",
              f"Target: the run within {TARGET_S} s: {wall:.0f} s, "
              f"{'met' if wall <= TARGET_S else 'NOT met'}; peak RSS within {TARGET_RSS_GB} GB: {rss / 1e9:.2f} GB, "
              f"{'met' if rss / 1e9 <= TARGET_RSS_GB else 'NOT met'}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=str(DEFAULT_DIR), help=f"work directory (default {DEFAULT_DIR})")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--keep", action="store_true", help="keep the ~10 GB checkpoint afterwards")
    ap.add_argument("--out", help="also write scale.json and scale.md (rendered from it) into this folder")
    ap.add_argument("--profile", metavar="LAYERS", help="only profile these layers (comma list) of DIR/ckpt")
    ap.add_argument("--_child", nargs=3, metavar=("CKPT", "TRACE", "RESULT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        child_run(args._child[0], args.tokens, args._child[1], args._child[2])
        return 0

    if args.profile:
        profile_layers(str(Path(args.dir).resolve() / "ckpt"), [int(i) for i in args.profile.split(",")], args.tokens)
        return 0
    work = Path(args.dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    ckpt, trace, result = work / "ckpt", work / "trace", work / "run_result.json"
    neurosim = [sys.executable, "-m", "neurosim"]
    rows: list[tuple] = []
    print(f"load average at start: {loadavg()}", flush=True)
    if checkpoint_ok(ckpt):
        print(f"reusing {ckpt}")
        rows.append(("make-checkpoint --preset full", None, None, "reused"))
    else:
        if ckpt.exists():
            shutil.rmtree(ckpt)
        rc, wall, rss = run_child(neurosim + ["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "full",
                                              "--quiet", str(ckpt)], work / "make_checkpoint.log")
        if rc:
            print((work / "make_checkpoint.log").read_text()[-3000:])
            return rc
        size = sum(f.stat().st_size for f in ckpt.iterdir())
        rows.append(("make-checkpoint --preset full", wall, rss, f"{size / 1e9:.2f} GB on disk"))
        print(f"make-checkpoint: {wall:.0f} s, peak RSS {rss / GB:.2f} GiB, load {loadavg()}", flush=True)
    if trace.exists():
        shutil.rmtree(trace)
    rc, wall, rss = run_child([sys.executable, "-m", "benchmarks.scale", "--tokens", str(args.tokens),
                               "--_child", str(ckpt), str(trace), str(result)], work / "run.log")
    if rc:
        print((work / "run.log").read_text()[-3000:])
        return rc
    r = json.loads(result.read_text())
    import datetime
    import platform

    doc = {"command": f"python -m benchmarks.scale --tokens {args.tokens}", "date": datetime.date.today().isoformat(),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "env": {k: os.environ.get(k, "default") for k in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")},
           "load_end": loadavg(), "checkpoint_rows": [list(x) for x in rows], "run_wall_s": wall,
           "run_peak_rss_bytes": rss, "result": {k: r[k] for k in ("timing", "wall_s", "layer_times", "rss_peaks_kb",
                                                                 "tokens", "totals")},
           "ppl_change": r["accuracy"].get("ppl_change"), "renderer": "benchmarks.scale:render"}
    print(render(doc))
    if args.out:
        print(write_result("scale", doc, args.out)[1])
    if not args.keep:
        shutil.rmtree(ckpt)
        print(f"deleted {ckpt} (use --keep to keep it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
