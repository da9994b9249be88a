"""Long context on one GPU: ``docs/results/longctx.json`` / ``longctx.md`` / ``longctx_energy.png``.

    python -m benchmarks.longctx --spb5b DIR [--tokens 4096,16384,...] [--baseline SRC] [--check-blocks]
                                 [--refuse TOKENS] [--json FILE]       (on a CUDA GPU: measure)
    python -m benchmarks.longctx --render-only [--out docs/results]    (anywhere: energy, table, figure)

Measuring: per length, one whole ``neurosim run --device cuda --mode spike --trace`` of the
SpB2.0-5B layout (``neurosim.run.execute``; DIR is made with ``neurosim make-checkpoint --arch
sse_swa_moba --preset full`` when absent: random weights, bf16): seconds per phase, peak GPU memory
against the pre-flight estimate, the device seconds of the attention (MoBA's gate and products,
full attention, SWA) and of the SSE recurrence (CUDA events around those calls), MoBA's measured key
fractions. ``--baseline SRC``: the same run at the first length with the neurosim package under SRC
(an earlier version), its trace compared with this one's (records, histograms, attention
statistics: the fields both versions record) and its time (``--repeats N``: N more runs of each,
alternating, for medians). ``--check-blocks``: the first length
again with small blocks (attention one KV head at a time, SSE segments of 1,024, MLP rows of 1,024), compared the same way.
``--refuse TOKENS``: ``neurosim run`` at a length the GPU cannot hold (its exit status and line).
The checks run right after the first length, then the other lengths; each step is saved as it ends
(FILE, default OUT/longctx.json), so a run cut short keeps its results.

Rendering adds the energy per token against context length (:mod:`hwmodels.context_energy`): the
projections' energy per multiply-accumulate of the dense MAC and of the best spiking design from
``energy.json`` (one lane array, 45 nm, SRAM weights; or DRAM weights in batches of 16), times the
5B layout's projection MACs per token, plus the attention, KV-cache and SSE terms with MoBA's exact
mean visited keys (checked against the measured runs) and with dense attention, at 4,096 x 2^k
tokens up to 1,048,576 and at the measured lengths.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from benchmarks.longctx_report import GIB, energy_section, figure, render
from benchmarks.results_cli import parse_results_args, result_parser

PROMPT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings "
          "and arrows of outrageous fortune, or to take arms against a sea of troubles")


# --------------------------------------------------------------------------- measuring (GPU)
def _settings(model_dir: str, tokens: int, trace: str):
    from neurosim.run import Settings

    return Settings(model=model_dir, prompt=PROMPT * (tokens // 8 + 10), max_tokens=tokens, mode="spike",
                    device="cuda", trace=trace).validate()


class Timers:
    """CUDA events around the attention and SSE calls of the torch layers, summed per kind."""

    def __init__(self, torch):
        from neurosim.model import torch_layers as TL

        self.torch, self.TL, self.events = torch, TL, []
        self.orig = {n: getattr(TL, n) for n in ("attention", "moba_select", "sse_recurrence")}

        def wrap(name, fn):
            def timed(*a, **k):
                kind = name
                if name == "attention":
                    kind = "moba" if (a[6] if len(a) > 6 else k.get("sel")) is not None else (
                        "swa" if (a[5] if len(a) > 5 else k.get("window")) is not None else "full")
                e0, e1 = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                e0.record()
                out = fn(*a, **k)
                e1.record()
                self.events.append((kind, e0, e1))
                return out
            return timed
        for n, fn in self.orig.items():
            setattr(TL, n, wrap({"moba_select": "moba_gate", "sse_recurrence": "sse"}.get(n, n), fn))

    def seconds(self) -> dict:
        self.torch.cuda.synchronize()
        out: dict = {}
        for kind, e0, e1 in self.events:
            out[kind] = out.get(kind, 0.0) + e0.elapsed_time(e1) / 1000
        return out

    def close(self):
        for n, fn in self.orig.items():
            setattr(self.TL, n, fn)


def _trace_digest(trace: Path) -> dict:
    """What two traces must share to be the same result: summary without settings/timing, histograms."""
    s = json.loads((trace / "summary.json").read_text())
    with np.load(trace / "stats.npz") as z:
        hist = {k: z[k].tolist() for k in sorted(z.files)}
    return dict(layers=s["layers"], totals=s["totals"], accuracy=s["accuracy"], hist=hist)


def same_attention(a: list, b: list) -> tuple[bool, list[str]]:
    """Whether two traces' per-layer attention statistics agree in the fields both record, and the
    fields only one records (an earlier version may lack a newer field)."""
    a, b = [x or {} for x in a], [y or {} for y in b]
    one_only = sorted({k for x, y in zip(a, b) for k in x.keys() ^ y.keys()})
    equal = len(a) == len(b) and all(bool(x) == bool(y) and all(x[k] == y[k] for k in x.keys() & y.keys())
                                     for x, y in zip(a, b))
    return equal, one_only


def _compare(a: Path, b: Path) -> dict:
    da, db = _trace_digest(a), _trace_digest(b)
    recs_a = [r for L in da["layers"] for r in L["projections"]]
    recs_b = [r for L in db["layers"] for r in L["projections"]]
    same_att, one_only = same_attention([L.get("attention") for L in da["layers"]],
                                        [L.get("attention") for L in db["layers"]])
    return dict(identical_records=sum(x == y for x, y in zip(recs_a, recs_b)), records=len(recs_a),
                identical_histograms=sum(da["hist"][k] == db["hist"].get(k) for k in da["hist"]),
                histograms=len(da["hist"]), attention_stats_equal=same_att,
                attention_fields_in_one_only=one_only,
                totals_equal=da["totals"] == db["totals"], accuracy_equal=da["accuracy"] == db["accuracy"])


def _one_run(model_dir: str, tokens: int, trace: Path) -> dict:
    import torch

    from neurosim.model import load_checkpoint
    from neurosim.model.torch_memory import estimate_bytes
    from neurosim.run import execute

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    timers = Timers(torch)
    try:
        t0 = time.perf_counter()
        summ = execute(_settings(model_dir, tokens, str(trace)), quiet=True)
        wall = time.perf_counter() - t0
        att = timers.seconds()
    finally:
        timers.close()
    mc = load_checkpoint(model_dir).model_config
    stats = [L["attention"] for L in summ["layers"] if L.get("attention", {}).get("type") == "moba"]
    moba = [a["key_fraction"] for a in stats]
    t = summ["_timing"]
    return dict(tokens=tokens, wall_s=wall, phases={k: t[k] for k in sorted(t)},
                peak_gib=torch.cuda.max_memory_allocated() / GIB,
                estimate_gib=estimate_bytes(mc, tokens) / GIB, attention_s=att,
                moba_key_fraction=float(np.mean(moba)) if moba else None, moba_key_fractions=moba,
                moba_mean_keys=[a["mean_keys"] for a in stats],
                ppl_change=summ["accuracy"].get("ppl_change"))


def _baseline_run(src: str, model_dir: str, tokens: int, trace: Path) -> dict:
    """The same run with the neurosim package of ``src`` (a subprocess), its phases."""
    from benchmarks.earlier import with_package

    try:
        return dict(phases=with_package(src, "from benchmarks.longctx import _settings\nfrom neurosim.run import execute",
                                        f"execute(_settings({model_dir!r},{tokens},{str(trace)!r}),quiet=True)['_timing']"))
    except RuntimeError as exc:
        return dict(error=[str(exc)])


def _timing_pairs(a, n: int, tmp: Path) -> list[dict]:
    """``a.repeats`` runs of this code and of the earlier one at ``n`` tokens, alternating: the phases of each."""
    pairs = []
    for i in range(a.repeats):
        now = _one_run(a.spb5b, n, tmp / f"repeat{i}")["phases"]
        pairs.append(dict(current=now, baseline=_baseline_run(a.baseline, a.spb5b, n, tmp / f"base{i}").get("phases")))
        print(json.dumps(pairs[-1]), flush=True)
    return pairs


def _refusal(model_dir: str, tokens: int, tmp: Path) -> dict:
    text = tmp / "long.txt"
    text.write_text(PROMPT * (tokens // 8 + 10))
    r = subprocess.run([sys.executable, "-m", "neurosim", "run", "--model", model_dir, "--device", "cuda",
                        "--mode", "spike", "--text-file", str(text), "--max-tokens", str(tokens), "--allow-longer",
                        "--trace", str(tmp / "refused")], capture_output=True, text=True)
    return dict(tokens=tokens, exit_status=r.returncode, stderr=r.stderr.strip().splitlines(),
                trace_written=(tmp / "refused").exists())


def measure(a, save) -> dict:
    from neurosim.core.gpu import require_cuda
    from neurosim.model import make_checkpoint

    torch = require_cuda()   # before any CUDA allocation: the allocator's settings

    doc = json.loads(Path(a.json).read_text()) if Path(a.json).is_file() else {}
    props = torch.cuda.get_device_properties(0)
    gpu = dict(name=props.name, memory_gib=props.total_memory / GIB, torch=torch.__version__,
               cuda=torch.version.cuda, cpus=os.cpu_count())
    if a.memory_gib:   # an 80 GB card's memory on a larger one: the caching allocator is capped
        torch.cuda.set_per_process_memory_fraction(min(1.0, a.memory_gib * GIB / props.total_memory))
        props = types.SimpleNamespace(name=f"{props.name} capped at {a.memory_gib:g} GiB", total_memory=props.total_memory)
        gpu = dict(gpu, name=props.name, capped_gib=a.memory_gib)
    doc.setdefault("gpus", {})[props.name] = gpu
    runs = doc.setdefault("runs", {})
    save(doc)
    if not Path(a.spb5b, "config.json").is_file():
        t0 = time.perf_counter()
        make_checkpoint(a.spb5b, "sse_swa_moba", "full", progress=False)
        doc["checkpoint_s"] = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp())
    tokens = [int(t) for t in a.tokens.split(",")]
    first = tokens[0]
    for n in tokens:   # the first length, its checks, then the other lengths
        try:
            r = _one_run(a.spb5b, n, tmp / f"trace{n}")
        except torch.OutOfMemoryError as exc:   # recorded, and the next length tried
            doc.setdefault("failed", {})[f"{props.name}:{n}"] = dict(tokens=n, gpu=props.name,
                                                                  error=str(exc).splitlines()[0])
            print(json.dumps(doc["failed"]), flush=True)
            save(doc)
            continue
        r["gpu"] = props.name
        runs[f"{props.name}:{n}"] = r
        doc.get("failed", {}).pop(f"{props.name}:{n}", None)   # an earlier failure at this length, now run
        print(json.dumps(r), flush=True)
        save(doc)
        if n == first:
            _checks(a, doc, save, props.name, n, tmp)
    return doc


def _checks(a, doc: dict, save, gpu: str, n: int, tmp: Path) -> None:
    """The baseline comparison, the small-block comparison and the refusal, each saved as it ends."""
    trace = tmp / f"trace{n}"
    if a.baseline:
        base = _baseline_run(a.baseline, a.spb5b, n, tmp / "base")
        if "error" not in base:
            base["same_as_baseline"] = _compare(tmp / "base", trace)
        doc.setdefault("baseline", {})[f"{gpu}:{n}"] = dict(base, tokens=n, gpu=gpu)
        print(json.dumps(doc["baseline"]), flush=True)
        save(doc)
        if a.repeats > 0 and "error" not in base:
            doc["baseline"][f"{gpu}:{n}"]["timing_pairs"] = _timing_pairs(a, n, tmp)
            save(doc)
    if a.check_blocks:
        from neurosim.model import torch_layers as TL
        from neurosim.model import torch_network as TN

        old = TL.SCORE_ELEMENTS, TL.SSE_SEGMENT, TN.MLP_ROWS
        TL.SCORE_ELEMENTS = 4 * TL.QUERY_BLOCK * n    # one KV head (4 query heads) of the 5B layout at a time
        TL.SSE_SEGMENT, TN.MLP_ROWS = 1024, 1024
        try:
            rb = _one_run(a.spb5b, n, tmp / "blocks")
        finally:
            TL.SCORE_ELEMENTS, TL.SSE_SEGMENT, TN.MLP_ROWS = old
        rb["same_as_default_blocks"] = _compare(trace, tmp / "blocks")
        rb.update(gpu=gpu, kv_heads_per_block=1, of_kv_heads=8, sse_segment=1024, mlp_rows=1024)
        doc.setdefault("small_blocks", {})[f"{gpu}:{n}"] = rb
        print(json.dumps(rb), flush=True)
        save(doc)
    if a.refuse:
        doc.setdefault("refusal", {})[gpu] = dict(_refusal(a.spb5b, a.refuse, tmp), gpu=gpu)
        print(json.dumps(doc["refusal"]), flush=True)
        save(doc)


def invocation(a) -> str:
    """The measuring command as run, the checkpoint and the earlier package named DIR and SRC."""
    parts = ["python -m benchmarks.longctx --spb5b DIR", f"--tokens {a.tokens}"]
    parts += ["--baseline SRC"] if a.baseline else []
    parts += ["--check-blocks"] if a.check_blocks else []
    parts += [f"--refuse {a.refuse}"] if a.refuse else []
    parts += [f"--memory-gib {a.memory_gib:g}"] if a.memory_gib else []
    parts += [f"--repeats {a.repeats}"] if a.repeats else []
    return " ".join(parts)


def main(argv=None) -> int:
    ap = result_parser(__doc__, "longctx")
    ap.add_argument("--json", help="the measurement file (default OUT/longctx.json)")
    ap.add_argument("--spb5b", help="the SpB2.0-5B layout checkpoint (made there when absent)")
    ap.add_argument("--tokens", default="4096,16384,32768,65536,131072")
    ap.add_argument("--baseline", help="a folder holding an earlier neurosim package to compare with")
    ap.add_argument("--check-blocks", action="store_true")
    ap.add_argument("--refuse", type=int, help="a length the GPU cannot hold: check the refusal")
    ap.add_argument("--memory-gib", type=float, help="cap the GPU memory the run may allocate (GiB)")
    ap.add_argument("--repeats", type=int, default=0,
                    help="with --baseline: time this code and the earlier one this many more times each, "
                         "alternating (default 0)")
    a, out = parse_results_args(ap, argv)
    a.json = a.json or str(out / "longctx.json")

    command = invocation(a)

    def save(doc):
        doc["renderer"] = "benchmarks.longctx_report:render"
        doc.pop("command", None)
        if command not in doc.setdefault("commands", []):
            doc["commands"].append(command)
        Path(a.json).write_text(json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n")
    if a.render_only:
        from neurosim.results import write_result

        doc = json.loads(Path(a.json).read_text())
        doc["energy"] = energy_section(doc, json.loads((out / "energy.json").read_text()))
        doc["renderer"] = "benchmarks.longctx_report:render"
        write_result("longctx", doc, out)
        figure(doc, out / "longctx_energy.png")
        print(render(doc))
        return 0
    doc = measure(a, save)
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
