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
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
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


def runs(models: list[tuple[str, str]], tokens: int) -> list[dict]:
    from neurosim.run import Settings, execute

    out = []
    for label, model in models:
        res = {}
        for mode in ("fp", "int8", "spike"):
            for device in ("cpu", "cuda"):
                s = Settings(model=model, prompt=PROMPT * 40, max_tokens=tokens, mode=mode, device=device).validate()
                t0 = time.perf_counter()
                summ = execute(s, quiet=True)
                res[mode, device] = (summ, time.perf_counter() - t0)
        row = dict(model=label, tokens=res["fp", "cpu"][0]["tokens"] if "tokens" in res["fp", "cpu"][0] else tokens,
                   seconds={f"{m}_{d}": round(v[1], 3) for (m, d), v in res.items()},
                   phase_seconds={f"{m}_{d}": v[0].get("_timing", {}) for (m, d), v in res.items()})
        for mode in ("int8", "spike"):
            a, b = res[mode, "cpu"][0], res[mode, "cuda"][0]
            row[f"{mode}_identical_to_cpu"] = bool(a["accuracy"] == b["accuracy"] and a["totals"] == b["totals"]
                                                  and a["layers"] == b["layers"])
        fa, fb = res["fp", "cpu"][0]["accuracy"], res["fp", "cuda"][0]["accuracy"]
        row["fp_ppl_cpu"], row["fp_ppl_cuda"] = fa.get("ppl_fp"), fb.get("ppl_fp")
        out.append(row)
    return out


def measure(models, tokens) -> dict:
    from neurosim.core.gpu import require_cuda

    torch = require_cuda()
    p = torch.cuda.get_device_properties(0)
    tiny = Path(tempfile.mkdtemp()) / "tiny"
    from neurosim.cli import main

    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(tiny)]) == 0
    return {
        "command": "python -m benchmarks.gpu" + "".join(f" --model {m}" for _, m in models) + f" --tokens {tokens}",
        "date": time.strftime("%Y-%m-%d"),
        "gpu": {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "capability": f"{p.major}.{p.minor}",
                "torch": torch.__version__, "cuda": torch.version.cuda, "cpu_cores": os.cpu_count()},
        "gemm": gemms(torch),
        "call": calls(torch),
        "runs": runs([("tiny sse_swa_moba", str(tiny))] + models, tokens),
    }


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
             "| int8 cuda == cpu | spike cuda == cpu | fp ppl cpu / cuda |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in doc["runs"]:
        s = r["seconds"]

        def ok(v):
            return "identical" if v else "DIFFERENT"
        lines.append(f"| {r['model']} | {r['tokens']} | {s['fp_cpu']:.2f} | {s['fp_cuda']:.2f} | {s['int8_cpu']:.2f} | "
                     f"{s['int8_cuda']:.2f} | {s['spike_cpu']:.2f} | {s['spike_cuda']:.2f} | {ok(r['int8_identical_to_cpu'])} "
                     f"| {ok(r['spike_identical_to_cpu'])} | {r['fp_ppl_cpu']:.6g} / {r['fp_ppl_cuda']:.6g} |")
    lines += ["", "Run seconds are whole `execute` calls (model load, float reference pass, quantized pass). "
              "Only the block projections run on the GPU (int8 tensor cores, int32 accumulation, events counted "
              "from the counts); attention, norms and the quantizers stay on the CPU, so the INT8 counts of a "
              "cuda run are those of the CPU run and its summary (integers, events, statistics, accuracy) is "
              "compared whole. fp on cuda multiplies in float32 on the GPU (another summation order)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--model", action="append", default=[], help="also run this checkpoint directory")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--render-only", action="store_true", help="re-render OUT/gpu.md from OUT/gpu.json")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.render_only:
        doc = json.loads((out / "gpu.json").read_text())
    else:
        doc = measure([(Path(m).name, m) for m in a.model], a.tokens)
        (out / "gpu.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    (out / "gpu.md").write_text(render(doc))
    print(render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
