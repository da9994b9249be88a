"""Cached greedy decoding against the prompt's prefill: SmolLM2-135M, one process, side by side.

    python -m benchmarks.generate [--tokens 256] [--new 64] [--repeats 3] [--modes fp,int8]
                                  [--out docs/results/generate]   (writes OUT.json and OUT.md)

Per round (after one warm-up round), in this order:

* ``prefill``: ``Model.forward`` of the prompt, as ``neurosim run`` times its pass (weights read
  from the checkpoint on every projection call);
* ``generate``: ``Model.generate(prompt, new)``, what ``--generate`` did before the cache landed
  minus the re-runs: its own prefill into a ``DecodeCache`` plus ``new - 1`` cached decode steps
  (weights resident while decoding);
* ``decode``: the ``new - 1`` cached decode steps alone, from the cache of a prefill (what
  ``neurosim run --generate`` spends after its pass, which already filled the cache, kept the
  float weights in it and, for int8/spike, the weights' quantization in ``weight_cache``);
* ``recompute``: one whole-sequence forward of ``tokens + new/2`` tokens (the mean length of the
  former per-token re-run), times ``new - 1``: the cost without a cache, estimated from one step.

The warm-up round also makes what the model keeps across passes: the int8 weights' quantization
(``model.derived``, via the projection's ``bind_model``) and, for fp, the weights' exact block codes
(``derived["fp-block-weights"]``, made at the first decode step: about 1 s single-threaded for
SmolLM2-135M), so the timed rounds read them.

Printed: median seconds and the median over rounds of each ratio to that round's prefill. For int8
and spike the hook is the run's projection (no recording); as in ``neurosim run --generate``, its
``weight_cache`` is on while generating and for the cached prefill before ``decode`` (each weight
quantised once, at its first call) and off for the prefill and the recompute (quantised on every
call, as a pass does).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from neurosim.hostload import load_average as loadavg
from neurosim.results import write_result


def caching(hook, on: bool) -> None:
    if hook is not None:
        hook.weight_cache = {} if on else None


def measure(tokens: int, new: int, repeats: int, mode: str) -> dict:
    import numpy as np

    from neurosim.model import Model, default_model_dir, load_checkpoint
    from neurosim.model import DecodeCache
    from neurosim.run import Settings, projection_for
    from neurosim.run.corpus import default_text

    ckpt = load_checkpoint(default_model_dir())
    model = Model(ckpt)
    ids = np.asarray(ckpt.tokenizer.encode(default_text()).ids, dtype=np.int64)[:tokens]
    if len(ids) < tokens:
        raise SystemExit(f"the default text has only {len(ids)} tokens")
    hook = None if mode == "fp" else projection_for(Settings(mode=mode).validate())
    rows: dict[str, list] = {k: [] for k in ("prefill", "generate", "decode", "recompute")}
    long_ids = np.concatenate([ids, ids[: new // 2]])
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        model.forward(ids, hook)
        t1 = time.perf_counter()
        caching(hook, True)
        out = model.generate(ids, new, hook)
        caching(hook, False)
        t2 = time.perf_counter()
        cache = DecodeCache(model.n_layers)
        caching(hook, True)
        logits = model.forward(ids, hook, cache=cache)
        t3 = time.perf_counter()
        model.generate(ids, new, hook, cache=cache, logits=logits)
        caching(hook, False)
        t4 = time.perf_counter()
        model.forward(long_ids, hook, dense_from=len(ids))
        t5 = time.perf_counter()
        if r == 0:
            continue   # warm-up: numba compilation, page cache
        rows["prefill"].append(t1 - t0)
        rows["generate"].append(t2 - t1)
        rows["decode"].append(t4 - t3)
        rows["recompute"].append((t5 - t4) * (new - 1))
    ratios = {k: statistics.median(v / p for v, p in zip(rows[k], rows["prefill"])) for k in rows}
    return {"tokens": tokens, "new": int(len(out)), "mode": mode, "load": loadavg(),
            "seconds": {k: statistics.median(v) for k, v in rows.items()}, "ratio_to_prefill": ratios}


PHASES = ("prefill", "generate", "decode", "recompute")


def render(doc: dict) -> str:
    """The Markdown table of a results document (a list of per-mode results)."""
    r0 = doc["results"][0]
    lines = [f"Cached greedy decoding, SmolLM2-135M, prompt {r0['tokens']} tokens, {r0['new']} generated, "
             f"{doc['repeats']} rounds per mode (median seconds; ratio = median over rounds of phase / that "
             f"round's prefill), {doc['threads']}.", "",
             "| mode | " + " | ".join(PHASES) + " | generate / prefill | decode / prefill | load |",
             "|---|" + "---|" * (len(PHASES) + 3)]
    for r in doc["results"]:
        lines.append(f"| {r['mode']} | " + " | ".join(f"{r['seconds'][k]:.2f}" for k in PHASES)
                     + f" | {r['ratio_to_prefill']['generate']:.2f}x | {r['ratio_to_prefill']['decode']:.2f}x"
                     f" | {r['load']} |")
    lines += ["", "prefill: the prompt's forward pass as `neurosim run` times it; generate: `Model.generate` "
              "(its own prefill + cached steps); decode: the cached steps alone; recompute: the former "
              "no-cache re-run, estimated from one step. Target: generate within 3x of the prefill. "
              f"Generated by `{doc['command']}`."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default="fp", help="comma-separated: fp, int8, spike")
    ap.add_argument("--out", default=None, help="also write OUT.json and OUT.md")
    a = ap.parse_args(argv)
    results = []
    for mode in a.modes.split(","):
        res = measure(a.tokens, a.new, a.repeats, mode)
        results.append(res)
        print(f"SmolLM2-135M, {mode}, prompt {res['tokens']} tokens, {res['new']} generated, "
              f"{a.repeats} rounds, load {res['load']}")
        print(f"{'phase':>10} {'median s':>9} {'x prefill':>9}")
        for k in PHASES:
            print(f"{k:>10} {res['seconds'][k]:>9.2f} {res['ratio_to_prefill'][k]:>9.2f}")
        print(f"target: generate {a.new} within 3x of the prefill -> {res['ratio_to_prefill']['generate']:.2f}x"
              f" (decode steps alone {res['ratio_to_prefill']['decode']:.2f}x)", flush=True)
    if a.out:
        threads = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"))
        doc = {"command": f"python -m benchmarks.generate --tokens {a.tokens} --new {a.new} --repeats {a.repeats} "
                          f"--modes {a.modes} --out {a.out}", "threads": threads, "repeats": a.repeats,
               "results": results}
        out = Path(a.out)
        write_result(out.name, {**doc, "renderer": "benchmarks.generate:render"}, out.parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
