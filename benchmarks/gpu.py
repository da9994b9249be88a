"""GPU backend benchmark and bit-identity record: ``docs/results/gpu.json`` and ``gpu.md`` rendered from it.

    python -m benchmarks.gpu [--out docs/results] [--model CKPT ...] [--tokens 256] [--render-only]

On a CUDA GPU (PyTorch): (1) the int8 tensor-core GEMM (``torch._int_mm``, int32 accumulation)
against bf16 on the same shapes (CUDA events, median of 20 after warm-up), and its products checked
equal to the CPU golden model (``int_linear``); (2) one whole ``cuda_exact_linear`` call (numpy in and
out, weights resident) against the CPU engine and dense path on the same host; (3) ``neurosim run``
per model (the tiny SpB2.0 layout, plus any ``--model``) in fp / int8 / spike on the CPU and with
``--device cuda``: wall seconds per phase, and whether the int8/spike summaries (integers, events,
statistics, accuracy) are identical to the CPU run's. Only the block projections run on the GPU; the
rest of the model (attention, norms, quantizers) stays on the CPU in numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

PROMPT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings "
          "and arrows of outrageous fortune, or to take arms against a sea of troubles")


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


def _wall(fn, reps: int = 5) -> float:
    """Median wall time [s] of ``reps`` calls of ``fn`` after one warm-up call."""
    from benchmarks.engine import _median_time

    fn()
    return _median_time(fn, reps)


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
        t_int = _cuda_time(lambda: torch._int_mm(a, b), torch)
        t_bf = _cuda_time(lambda: ab @ bb, torch)
        got = torch._int_mm(a, b).cpu().numpy()
        ident = bool(np.array_equal(got, int_linear(c, w)))
        rows.append(dict(shape=f"{M}x{K}->{N}", int8_mm_s=t_int, bf16_mm_s=t_bf, int8_tops=2 * M * K * N / t_int / 1e12,
                         bf16_tflops=2 * M * K * N / t_bf / 1e12, bit_identical_to_cpu=ident))
    return rows


def calls(torch) -> dict:
    import numba

    from neurosim.core.dense import exact_linear
    from neurosim.core.engine import PackedWeights, int_linear, spike_linear
    from neurosim.core.gpu import WeightCache, cuda_dense_linear
    from neurosim.core.quant import quantize_activations

    rng = np.random.default_rng(0)
    M, K, N = 256, 2560, 9728
    x = rng.standard_normal((M, K)).astype(np.float32)
    c = quantize_activations(x, "adaptive", k=3.0, clamp=127).counts
    w = rng.integers(-127, 128, (N, K)).astype(np.int8)
    w_gpu = WeightCache().get("w", w, torch, "cuda")
    packed = PackedWeights(w)
    ref = int_linear(c, w)
    ev = spike_linear(c, packed, "bitwise", 7)
    gp = cuda_dense_linear(c, w, "bitwise", 7, w_gpu=w_gpu)
    same = bool(np.array_equal(gp.out, ref) and np.array_equal(ev.out, ref)
                and (gp.events, gp.accumulates) == (ev.events, ev.accumulates))
    return dict(shape=f"{M}x{K}->{N}", data="adaptive k=3, bitwise T=7", spikes_per_activation=ev.events / c.size,
                cuda_dense_linear_s=_wall(lambda: cuda_dense_linear(c, w, "bitwise", 7, w_gpu=w_gpu)),
                cpu_spike_linear_s=_wall(lambda: spike_linear(c, packed, "bitwise", 7)),
                cpu_exact_linear_s=_wall(lambda: exact_linear(c, w)),
                cpu_threads=numba.get_num_threads(), identical_out_and_events=same)


def logit_difference(model_dir: str, tokens: int) -> dict:
    """The float pass on the CPU (numpy) against ``--device cuda`` (float32 on the GPU): logit difference."""
    from neurosim.model import Model, load_checkpoint
    from neurosim.run.fidelity import CudaFloatProjection

    ckpt = load_checkpoint(model_dir)
    ids = np.asarray(ckpt.tokenizer.encode(PROMPT * 40).ids, dtype=np.int64)[:tokens]
    model = Model(ckpt)
    cpu = model.forward(ids)
    gpu = model.forward(ids, linear=CudaFloatProjection())
    d = np.abs(gpu.astype(np.float64) - cpu)
    return dict(max_abs=float(d.max()), max_abs_over_max_logit=float(d.max() / np.abs(cpu).max()),
                top1_agreement=float((gpu.argmax(-1) == cpu.argmax(-1)).mean()))


def runs(models: list[tuple[str, str]], tokens: int, modes=("fp", "int8", "spike"), save=None) -> list[dict]:
    """``neurosim run`` per model and mode on the CPU and with ``--device cuda``; ``save(rows)`` is called
    after every run (partial rows carry what has run so far)."""
    from neurosim.run import Settings, execute

    out = []
    for label, model in models:
        res = {}
        row = dict(model=label, tokens=tokens, seconds={}, phase_seconds={}, accuracy={})
        out.append(row)
        for mode in modes:
            for device in ("cuda", "cpu"):
                s = Settings(model=model, prompt=PROMPT * 40, max_tokens=tokens, mode=mode, device=device).validate()
                t0 = time.perf_counter()
                summ = execute(s, quiet=True)
                res[mode, device] = (summ, time.perf_counter() - t0)
                print(f"{label} {mode} {device}: {res[mode, device][1]:.2f} s", flush=True)
                key = f"{mode}_{device}"
                row["tokens"] = summ["tokens"]
                row["seconds"][key] = round(res[mode, device][1], 3)
                row["phase_seconds"][key] = summ.get("_timing", {})
                row["accuracy"][key] = summ["accuracy"]
                if mode != "fp" and (mode, "cpu") in res and (mode, "cuda") in res:
                    a, b = res[mode, "cpu"][0], res[mode, "cuda"][0]
                    row[f"{mode}_identical_to_cpu"] = bool(a["totals"] == b["totals"] and a["layers"] == b["layers"])
                    row["events"] = a["totals"]["events"]
                if save:
                    save(out)
        row["logits_fp_cuda_vs_cpu"] = logit_difference(model, tokens)
        if save:
            save(out)
    return out


def measure(models, tokens, modes=("fp", "int8", "spike"), save=None, tiny_run=True) -> dict:
    from neurosim.core.gpu import require_cuda

    torch = require_cuda()
    p = torch.cuda.get_device_properties(0)
    tiny = Path(tempfile.mkdtemp()) / "tiny"
    from neurosim.cli import main

    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(tiny)]) == 0
    doc = {
        "command": "python -m benchmarks.gpu" + "".join(f" --model {m}" for _, m in models) + f" --tokens {tokens}"
                   + ("" if tuple(modes) == ("fp", "int8", "spike") else f" --modes {','.join(modes)}")
                   + ("" if tiny_run else " --no-tiny"),
        "date": time.strftime("%Y-%m-%d"),
        "gpu": {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "capability": f"{p.major}.{p.minor}",
                "torch": torch.__version__, "cuda": torch.version.cuda, "cpu_cores": os.cpu_count()},
        "gemm": gemms(torch),
        "call": calls(torch),
        "runs": [],
    }

    def keep(rows):
        doc["runs"] = rows
        if save:
            save(doc)
    runs(([("tiny sse_swa_moba", str(tiny))] if tiny_run else []) + models, tokens, modes, keep)
    return doc


def render(doc: dict) -> str:
    g = doc["gpu"]
    lines = [f"GPU backend (`{doc['command']}`, {doc['date']}): {g['name']} ({g['memory_gib']} GiB, sm {g['capability']}), "
             f"PyTorch {g['torch']}, CUDA {g['cuda']}, {g['cpu_cores']} CPU cores.", "",
             "| GEMM | int8 `_int_mm` ms | bf16 ms | int8 TOPS | bf16 TFLOP/s | int8 products == CPU `int_linear` |",
             "|---|---:|---:|---:|---:|---|"]
    for r in doc["gemm"]:
        lines.append(f"| {r['shape']} | {r['int8_mm_s'] * 1e3:.3f} | {r['bf16_mm_s'] * 1e3:.3f} | {r['int8_tops']:.0f} | "
                     f"{r['bf16_tflops']:.0f} | {'identical' if r['bit_identical_to_cpu'] else 'DIFFERENT'} |")
    c = doc["call"]
    lines += ["", f"One projection call {c['shape']} ({c['data']}, {c['spikes_per_activation']:.2f} spikes/activation), "
              f"numpy in and out: `cuda_dense_linear` {c['cuda_dense_linear_s'] * 1e3:.1f} ms; on this host's CPU "
              f"({c['cpu_threads']} threads) `spike_linear` {c['cpu_spike_linear_s'] * 1e3:.1f} ms, `exact_linear` "
              f"{c['cpu_exact_linear_s'] * 1e3:.1f} ms; integers and events "
              f"{'identical' if c['identical_out_and_events'] else 'DIFFERENT'}.", "",
             "| model | tokens | fp cpu s | fp cuda s | int8 cpu s | int8 cuda s | spike cpu s | spike cuda s "
             "| int8 cuda == cpu | spike cuda == cpu | fp logits cuda vs cpu: max abs (rel) / top-1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in doc["runs"]:
        s, lg = r["seconds"], r.get("logits_fp_cuda_vs_cpu")

        def ok(key):
            return {True: "identical", False: "DIFFERENT", None: "not run"}[r.get(key)]

        def sec(key):
            return f"{s[key]:.2f}" if key in s else "not run"
        cols = " | ".join(sec(f"{m}_{d}") for m in ("fp", "int8", "spike") for d in ("cpu", "cuda"))
        logits = (f"{lg['max_abs']:.2e} ({lg['max_abs_over_max_logit']:.1e}) / {lg['top1_agreement']:.1%}"
                  if lg else "not run")
        lines.append(f"| {r['model']} | {r['tokens']} | {cols} | {ok('int8_identical_to_cpu')} "
                     f"| {ok('spike_identical_to_cpu')} | {logits} |")
    if doc.get("gpu_tests"):
        t = doc["gpu_tests"]
        lines += ["", f"GPU tests in the same session (`{t['command']}`): {t['result']}."]
    lines += ["", "Checkpoints given with `--model` were made there with `neurosim make-checkpoint --arch sse_swa_moba "
              "--preset full DIR` (random weights, SpB2.0-5B layout, bfloat16). Run seconds are whole `execute` calls (model load, float reference pass, quantized pass). "
              "Only the block projections run on the GPU (int8 tensor cores, int32 accumulation, events counted "
              "from the counts; the float passes' projections in float32 on the GPU); attention, norms and the "
              "quantizers stay on the CPU. `==`: the quantized pass's whole record (INT8 counts' statistics, "
              "integers, events per projection, totals) equals the CPU run's. The float pass on the GPU sums in "
              "another order: its logits are compared with the CPU's (max abs difference, relative to the largest "
              "|logit|, and top-1 agreement)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--model", action="append", default=[], help="also run this checkpoint directory")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--modes", default="fp,int8,spike", help="comma-separated modes to run per model")
    ap.add_argument("--no-tiny", action="store_true", help="skip the tiny checkpoint's runs")
    ap.add_argument("--render-only", action="store_true", help="re-render OUT/gpu.md from OUT/gpu.json")
    ap.add_argument("--tests-log", help="record the last line of this pytest log (the gpu tests) in gpu.json")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    def save(doc):  # after every run, so a run cut short keeps what it measured
        (out / "gpu.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        (out / "gpu.md").write_text(render(doc))
    if a.render_only:
        doc = json.loads((out / "gpu.json").read_text())
        if a.tests_log:
            last = [ln for ln in Path(a.tests_log).read_text().splitlines() if ln.strip()][-1]
            doc["gpu_tests"] = {"command": "python -m pytest -q -m gpu tests/test_gpu.py", "result": last.strip()}
    else:
        doc = measure([(Path(m).name, m) for m in a.model], a.tokens, tuple(a.modes.split(",")), save,
                      tiny_run=not a.no_tiny)
    save(doc)
    print(render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
