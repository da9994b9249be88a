"""GPU backend benchmark (``--device cuda``): ``docs/results/gpu.json`` and ``gpu.md`` rendered from it.

    python -m benchmarks.gpu [--out docs/results] [--spb5b DIR] [--tokens 4096,256] [--cpu-tokens 256]
                             [--repeats 3] [--device cuda] [--render-only] [--tests-log LOG]

On a CUDA GPU (PyTorch), with the whole forward on the GPU (:class:`neurosim.model.torch_network.TorchModel`):

1. the int8 tensor-core GEMM (``torch._int_mm``, int32 accumulation) against bf16 on the same shapes
   (CUDA events, median of 20 after warm-up), its products checked equal to ``int_linear``;
2. per model (the SpB2.0-5B layout given with ``--spb5b``, made by ``neurosim make-checkpoint
   --arch sse_swa_moba --preset full DIR``; a SmolLM2-135M-shaped llama and the tiny SpB2.0, both
   made here with random weights) and sequence length: the weight upload (timed alone), then
   medians over ``--repeats`` of the float pass, the spike pass with trace statistics (every
   projection's count histogram, silent channels, events; records built on the host) and the
   accuracy metrics, i.e. what ``neurosim run --device cuda --mode spike`` does after loading; the
   peak GPU memory; the ratio of the run to the authors' reference bf16 forward (one H200,
   2.04 s at 4096 tokens, 0.22 s at 256) and to the targets (3x that; SmolLM2 256 tokens: 1 s);
3. one whole ``neurosim.run.execute`` per model (``--trace``, at its longest sequence): its phases;
4. at ``--cpu-tokens`` the same passes of the CPU golden model (numpy) on the same host: the share
   of identical INT8 counts (the GPU's activations differ from the CPU's by float order, which can
   move a count), the logit differences, whether the records have the CPU's schema and the
   attention statistics are equal.

``--device cpu`` runs everything but the GEMMs on PyTorch's CPU device (a dry run of the script).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.gpu_report import REFERENCE_BF16_S, record_schema, render
from benchmarks.results_cli import parse_results_args, result_parser

PROMPT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings "
          "and arrows of outrageous fortune, or to take arms against a sea of troubles")
#: SmolLM2-135M's layout, as a config.json for make_checkpoint (random weights)
SMOLLM2_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
    "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
    "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "vocab_size": 49152, "tie_word_embeddings": True,
    "max_position_embeddings": 8192, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
}


def _cuda_time(fn, torch, reps: int = 20) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    return statistics.median(times)


def gemms(torch) -> list[dict]:
    from neurosim.core.engine import int_linear

    rng = np.random.default_rng(0)
    rows = []
    for M, K, N in [(4096, 2560, 9728), (256, 2560, 9728), (4096, 9728, 2560)]:
        c = rng.integers(-127, 128, (M, K)).astype(np.int8)
        w = rng.integers(-128, 128, (N, K)).astype(np.int8)
        a = torch.from_numpy(c).cuda()
        b = torch.from_numpy(w).cuda().t()  # column-major [K, N]
        ab, bb = a.to(torch.bfloat16), b.to(torch.bfloat16)
        t_int = _cuda_time(lambda a=a, b=b: torch._int_mm(a, b), torch)
        t_bf = _cuda_time(lambda ab=ab, bb=bb: ab @ bb, torch)
        got = torch._int_mm(a, b).cpu().numpy()
        ident = bool(np.array_equal(got, int_linear(c, w)))
        rows.append({"shape": f"{M}x{K}->{N}", "int8_mm_s": t_int, "bf16_mm_s": t_bf,
                     "int8_tops": 2 * M * K * N / t_int / 1e12, "bf16_tflops": 2 * M * K * N / t_bf / 1e12,
                     "bit_identical_to_cpu": ident})
    return rows


def token_ids(ckpt, tokens: int) -> np.ndarray:
    """The first ``tokens`` token ids of the repeated prompt (the runs' input)."""
    ids = np.asarray(ckpt.tokenizer.encode(PROMPT * (tokens // 8 + 10)).ids, dtype=np.int64)[:tokens]
    assert len(ids) == tokens, f"the prompt gives only {len(ids)} tokens"
    return ids


def _logit_diff(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.float64) - b)
    return {"max_abs": float(d.max()), "max_abs_over_max_logit": float(d.max() / np.abs(b).max()),
            "top1_agreement": float((a.argmax(-1) == b.argmax(-1)).mean())}


class Bench:
    """One loaded model on the device and the passes of a spike run."""

    def __init__(self, model_dir: str, device: str):
        from neurosim.model import Model, load_checkpoint
        from neurosim.model.torch_network import TorchModel
        from neurosim.run.fidelity import projection_kinds

        self.model_dir = model_dir
        self.ckpt = load_checkpoint(model_dir)
        self.kinds = projection_kinds(Model(self.ckpt))
        t0 = time.perf_counter()
        self.net = TorchModel(Model(self.ckpt), device)
        self.net.synchronize()
        self.weights_s = time.perf_counter() - t0
        self.torch = self.net.torch

    def spike_pass(self, ids, keep_counts=False):
        from neurosim.run.fidelity import Quantization
        from neurosim.run.torch_fidelity import TorchQuantizedProjection, TorchRecorder

        rec = TorchRecorder(TorchQuantizedProjection("spike", Quantization()), self.kinds, keep_counts=keep_counts)
        logits = self.net.forward(ids, linear=rec)
        return logits, rec, rec.ordered_records()

    def time_run(self, ids, repeats: int) -> dict:
        """Median seconds of each phase of a spike run after loading (fp pass, spike pass with
        statistics, accuracy) and the peak device memory."""
        from neurosim.run.torch_fidelity import torch_accuracy

        torch, net = self.torch, self.net
        cuda = net.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        phases: dict[str, list] = {"fp_s": [], "spike_s": [], "accuracy_s": [], "run_s": []}
        for _ in range(repeats + 1):   # the first repeat warms up (and quantizes the weights)
            t0 = time.perf_counter()
            fp = net.forward(ids)
            net.synchronize()
            t1 = time.perf_counter()
            q, _, recs = self.spike_pass(ids)
            t2 = time.perf_counter()
            acc = torch_accuracy(fp, q, ids)
            t3 = time.perf_counter()
            for k, v in (("fp_s", t1 - t0), ("spike_s", t2 - t1), ("accuracy_s", t3 - t2), ("run_s", t3 - t0)):
                phases[k].append(v)
            del fp, q
        out = {k: statistics.median(v[1:]) for k, v in phases.items()}
        out.update(first_run_s=phases["run_s"][0], repeats=repeats, projections=len(recs),
                   events=sum(r["events"] for r in recs), top1_agreement=acc["top1_agreement"])
        if cuda:
            out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        return out

    def profile(self, ids, top: int = 12) -> dict:
        """The device time of the heaviest operators of one fp pass and one spike pass (torch.profiler)."""
        from torch.profiler import ProfilerActivity, profile

        out = {}
        for label, fn in (("fp", lambda: self.net.forward(ids)), ("spike", lambda: self.spike_pass(ids))):
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                fn()
                self.net.synchronize()
            ev = sorted(prof.key_averages(), key=lambda e: -e.self_device_time_total)[:top]
            out[label] = [{"op": e.key, "calls": e.count, "device_ms": e.self_device_time_total / 1e3} for e in ev]
            print(label, "profile:", [(e["op"][:40], e["calls"], round(e["device_ms"], 1)) for e in out[label]],
                  flush=True)
        return out

    def compare_cpu(self, ids) -> dict:
        """The CPU golden model's fp and spike passes (dense engine) on the same ids, against the device's."""
        from neurosim.model import Model
        from neurosim.run.fidelity import Quantization, SpikeProjection
        from neurosim.run.recorder import Recorder

        model = Model(self.ckpt)
        t0 = time.perf_counter()
        fp_cpu = model.forward(ids)
        t1 = time.perf_counter()
        rec = Recorder(SpikeProjection(Quantization(), engine="dense"), self.kinds, keep_counts=True)
        q_cpu = model.forward(ids, linear=rec)
        cpu_recs = rec.ordered_records()
        t2 = time.perf_counter()
        mirror = Mirror(SpikeProjection(Quantization(), engine="dense"), self.net)
        model.forward(ids, linear=Recorder(mirror, self.kinds))  # type: ignore[arg-type]  # duck-typed projection
        fp_dev = self.net.forward(ids).cpu().numpy()
        q_dev, trec, dev_recs = self.spike_pass(ids, keep_counts=True)
        q_dev = q_dev.cpu().numpy()
        same = sum(int((rec.counts[n] == trec.counts[n]).sum()) for n in rec.counts)
        total = sum(a.size for a in rec.counts.values())
        per = [float((rec.counts[n] == trec.counts[n]).mean()) for n in rec.counts]
        ident_recs = sum(a == b for a, b in zip(cpu_recs, dev_recs))
        near = sum(int((np.abs(rec.counts[n] - trec.counts[n]) <= 1).sum()) for n in rec.counts)
        # the control: the CPU model itself with its embeddings moved by one float32 ulp
        nudged = Model(Nudged(self.ckpt))
        nrec = Recorder(SpikeProjection(Quantization(), engine="dense"), self.kinds, keep_counts=True)
        q_nudged = nudged.forward(ids, linear=nrec)
        control = {
            "identical_count_share": sum(int((rec.counts[n] == nrec.counts[n]).sum()) for n in rec.counts) / total,
            "within_one_share": sum(int((np.abs(rec.counts[n] - nrec.counts[n]) <= 1).sum()) for n in rec.counts) / total,
            "attention_stats_equal": model.attention_stats == nudged.attention_stats,
            "spike_logits": _logit_diff(q_nudged, q_cpu)}
        return {"cpu_fp_s": t1 - t0, "cpu_spike_s": t2 - t1, "counts": total, "identical_counts": same,
                "identical_count_share": same / total, "within_one_share": near / total,
                "worst_projection_share": min(per), "same_input": mirror.summary(), "control": control,
                "identical_records": int(ident_recs), "records": len(cpu_recs),
                "record_schema_equal": all(record_schema(a) == record_schema(b)
                                           for a, b in zip(cpu_recs, dev_recs)) and len(cpu_recs) == len(dev_recs),
                "attention_stats_equal": model.attention_stats == self.net.attention_stats,
                "events_cpu": sum(r["events"] for r in cpu_recs),
                "events_device": sum(r["events"] for r in dev_recs),
                "fp_logits": _logit_diff(fp_dev, fp_cpu), "spike_logits": _logit_diff(q_dev, q_cpu)}


class Nudged:
    """A checkpoint seen with its embedding table moved by one float32 ulp (towards +inf): a
    perturbation of the size of the GPU's float-order differences, for a CPU-vs-CPU control."""

    def __init__(self, ckpt):
        self.ckpt, self.model_config, self.names = ckpt, ckpt.model_config, ckpt.names

    def tensor(self, name):
        """The checkpoint's tensor; the embeddings nudged."""
        t = self.ckpt.tensor(name)
        return np.nextafter(t, np.float32(np.inf)) if name == self.model_config.embed_name else t


class Mirror:
    """A CPU projection that also runs every quantized projection on the device with the CPU's own
    input (the CPU pass's activations): counts, scales and outputs compared bit for bit."""

    def __init__(self, cpu_projection, net):
        from neurosim.run.torch_fidelity import TorchQuantizedProjection

        self.cpu, self.net = cpu_projection, net
        self.quant, self.mode = cpu_projection.quant, cpu_projection.mode
        self.device = TorchQuantizedProjection(self.mode, self.quant, cpu_projection.projections)
        self.counts = self.same_counts = self.projections = self.same_outputs = 0

    def selected(self, name):
        return self.cpu.selected(name)

    def product(self, name, x, w):
        p = self.cpu.product(name, x, w)
        if p.quantized:
            torch = self.net.torch
            y, aq, _ = self.device.product(name, torch.from_numpy(np.ascontiguousarray(x)).to(self.net.device),
                                           self.net.weight(name))
            c = aq.counts.cpu().numpy()
            self.counts += c.size
            self.same_counts += int((c == p.acts.counts).sum())
            self.projections += 1
            self.same_outputs += int(np.array_equal(y.cpu().numpy(), p.y)
                                     and np.array_equal(aq.scale.cpu().numpy(), p.acts.scale))
        return p

    def summary(self) -> dict:
        """Counts and projections compared, and how many were identical."""
        return {"counts": self.counts, "identical_counts": self.same_counts, "projections": self.projections,
                "identical_outputs": self.same_outputs}


def whole_run(model_dir: str, tokens: int, device: str) -> dict:
    """One ``neurosim.run.execute`` in spike mode with a trace: its phases (seconds)."""
    from neurosim.run import Settings, execute

    with tempfile.TemporaryDirectory() as tmp:
        s = Settings(model=model_dir, prompt=PROMPT * (tokens // 8 + 10), max_tokens=tokens, mode="spike",
                     engine="dense", device="cuda", trace=str(Path(tmp) / "trace")).validate()
        t0 = time.perf_counter()
        summ = execute(s, quiet=True)
        wall = time.perf_counter() - t0
    t = summ["_timing"]
    return {"tokens": summ["tokens"], "wall_s": wall, "phases": t, "projections": summ["totals"]["projections"]}


def measure(models, cpu_tokens, repeats, device, save, profile=False) -> dict:
    from neurosim.core.gpu import torch_device

    torch, _ = torch_device(device)
    cuda = device == "cuda"
    if cuda:
        p = torch.cuda.get_device_properties(0)
        gpu = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "capability": f"{p.major}.{p.minor}"}
    else:
        gpu = {"name": "PyTorch CPU device (dry run)", "memory_gib": None, "capability": None}
    gpu.update(torch=torch.__version__, cuda=torch.version.cuda, cpu_cores=os.cpu_count())
    doc: dict = {"date": time.strftime("%Y-%m-%d"), "gpu": gpu, "gemm": gemms(torch) if cuda else [], "models": [],
           "reference_bf16_s": {str(k): v for k, v in REFERENCE_BF16_S.items()}}
    save(doc)
    for label, model_dir, tokens in models:
        row = {"model": label, "runs": [], "compare": []}
        doc["models"].append(row)
        if cuda:   # first, so that its copy of the weights is freed before the timed one is loaded
            row["whole_run"] = whole_run(model_dir, max(tokens), device)
            gc.collect()
            torch.cuda.empty_cache()
            save(doc)
        b = Bench(model_dir, device)
        row["weights_s"] = b.weights_s
        for n in tokens:
            ids = token_ids(b.ckpt, n)
            r = dict(tokens=n, **b.time_run(ids, repeats))
            row["runs"].append(r)
            print(label, n, {k: round(v, 3) for k, v in r.items() if isinstance(v, float)}, flush=True)
            save(doc)
        if profile and cuda and label == "spb5b":
            row["profile"] = b.profile(token_ids(b.ckpt, max(tokens)))
            save(doc)
        if cpu_tokens in tokens or label != "spb5b":
            n = cpu_tokens if cpu_tokens in tokens else min(tokens)
            row["compare"].append(dict(tokens=n, **b.compare_cpu(token_ids(b.ckpt, n))))
            print(label, "vs cpu", row["compare"][-1]["identical_count_share"], flush=True)
            save(doc)
        del b
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return doc


def main(argv=None) -> int:
    ap = result_parser(__doc__, "gpu")
    ap.add_argument("--spb5b", help="a SpB2.0-5B layout checkpoint (make-checkpoint --preset full)")
    ap.add_argument("--tokens", default="4096,256", help="sequence lengths of the spb5b runs")
    ap.add_argument("--cpu-tokens", type=int, default=256, help="sequence length of the CPU comparison")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--profile", action="store_true", help="record the heaviest device operators of the spb5b passes")
    ap.add_argument("--skip-small", action="store_true", help="only the --spb5b checkpoint")
    ap.add_argument("--tests-log", help="record the last line of this pytest log (the gpu tests) in gpu.json")
    a, out = parse_results_args(ap, argv)
    command = "python -m benchmarks.gpu" + (" --spb5b DIR" if a.spb5b else "") + \
        (f" --tokens {a.tokens}" if a.tokens != "4096,256" else "") + \
        (f" --repeats {a.repeats}" if a.repeats != 3 else "") + (" --profile" if a.profile else "") + (" --device cpu" if a.device == "cpu" else "")

    def save(doc):  # after every step, so a run cut short keeps what it measured
        doc.setdefault("command", command)
        (out / "gpu.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        (out / "gpu.md").write_text(render(doc))
    if a.render_only:
        doc = json.loads((out / "gpu.json").read_text())
    else:
        from neurosim.model import make_checkpoint

        tmp = Path(tempfile.mkdtemp())
        tiny, smol = tmp / "tiny", tmp / "smollm2"
        make_checkpoint(tiny, "sse_swa_moba", "tiny", progress=False)
        make_checkpoint(smol, config=SMOLLM2_CONFIG, progress=False)
        models = [] if a.skip_small else [("smollm2-135m layout", str(smol), [256]), ("tiny sse_swa_moba", str(tiny), [256])]
        if a.spb5b:
            models.append(("spb5b", a.spb5b, [int(t) for t in a.tokens.split(",")]))
        doc = measure(models, a.cpu_tokens, a.repeats, a.device, save, a.profile)
    if a.tests_log:
        last = [ln for ln in Path(a.tests_log).read_text().splitlines() if ln.strip()][-1]
        doc["gpu_tests"] = {"command": "python -m pytest -q -m gpu tests/test_gpu.py", "result": last.strip()}
    save(doc)
    print(render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
