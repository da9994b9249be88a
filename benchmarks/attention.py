"""Attention-level sparsity at long context on the SpB2.0-5B widths: docs/results/attention.json + .md.

    python -m benchmarks.attention [--tokens 4096] [--kinds moba,sse_swa,full] [--chunk 512 --topk 4]
                                   [--out docs/results/attention] [--work DIR]

The 5B layout's 36 layers at 4096 tokens do not fit this 2-core machine's time (the 256-token spike
run took ~340 s), so this runs a reduced stack: one layer of each kind (``--kinds``, in order) with
the real widths (hidden 2560, 32 query / 8 KV heads of 128, MLP 9728, SSE 32 heads, 4 partitions,
top-2, SWA window 128) and the released MoBA chunk/top-k (512/4). The vocabulary is the maker's
512-token tokenizer (the embedding and head do not touch attention; the head is not run). Weights
are the maker's random initialisation (seed 0, bfloat16 on disk), the input is Hamlet from the
soliloquy on. Each layer runs in fp32 through ``Model.run_layer`` with its attention statistics
(``Model.attention_stats``' fields, as in a trace's ``summary.json`` layers):

* MoBA / full: ``block_fraction`` = mean over queries and heads of (key blocks visited / causal key
  blocks), ``key_fraction`` = mean of (keys visited / causal keys); full attention is 1.0. For MoBA
  the block fraction is fixed by chunk and top-k alone (every query visits min(top-k, causal
  blocks)); ``block_fraction_expected`` states it. So is the key fraction: the past blocks are
  whole, so a query visits (i - c chunk + 1) + min(top-k - 1, c) chunk keys in block c.
* SSE: ``partition_tokens`` = tokens routed to each partition (each token to top-2 of 4), their
  ``usage_entropy_bits`` (2.0 = uniform), and the SWA branch's ``swa_key_fraction``.

With random weights the routing and the block choice say nothing about the trained model's; the
fractions fixed by chunk/top-k and the window are exact, and the seconds show the cost at this length.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from neurosim.results import write_result

import numpy as np


def expected_block_fraction(tokens: int, chunk: int, topk: int) -> float:
    """Mean over positions of min(topk, causal blocks) / causal blocks."""
    b = np.arange(tokens) // chunk + 1
    return float(np.mean(np.minimum(topk, b) / b))


def config_for(kinds: list[str], chunk: int, topk: int) -> dict:
    from neurosim.model.maker import TOKENIZER_VOCAB, preset_config

    cfg = preset_config("sse_swa_moba", "full")
    cfg["num_hidden_layers"] = len(kinds)
    cfg["vocab_size"] = TOKENIZER_VOCAB
    cfg["attn"].update(layers=[i for i, k in enumerate(kinds) if k in ("moba", "full")],
                       full_layers=[i for i, k in enumerate(kinds) if k == "full"],
                       moba_chunk_size=chunk, moba_topk=topk)
    return cfg


def measure(tokens: int, kinds: list[str], chunk: int, topk: int, work: Path) -> dict:
    from neurosim.model import Model, load_checkpoint, make_checkpoint
    from neurosim.run.corpus import default_text

    cfg = config_for(kinds, chunk, topk)
    ckpt_dir = work / "ckpt"
    make_checkpoint(ckpt_dir, config=cfg, dtype="bfloat16", progress=False, force=True, seed=0)
    ckpt = load_checkpoint(ckpt_dir)
    model = Model(ckpt)
    got = [model.layer_kind(i) for i in range(model.n_layers)]
    if got != kinds:
        raise SystemExit(f"layout gave kinds {got}, wanted {kinds}")
    ids = np.asarray(ckpt.tokenizer.encode(default_text(chars=tokens * 12)).ids, dtype=np.int64)[:tokens]
    if len(ids) < tokens:
        raise SystemExit(f"only {len(ids)} tokens of text")
    h = model.embed(ids)
    layers = []
    for i in range(model.n_layers):
        stats: dict = {}
        t0 = time.perf_counter()
        h = model.run_layer(i, h, stats=stats)
        entry = {"layer": i, "kind": kinds[i], "seconds": round(time.perf_counter() - t0, 1), "attention": stats}
        if kinds[i] == "moba":
            stats["block_fraction_expected"] = expected_block_fraction(tokens, chunk, topk)
        layers.append(entry)
        print(f"layer {i} {kinds[i]}: {entry['seconds']} s {stats}", flush=True)
    return {
        "command": "python -m benchmarks.attention " + f"--tokens {tokens} --kinds {','.join(kinds)} "
                   f"--chunk {chunk} --topk {topk}",
        "tokens": tokens,
        "layout": {"hidden_size": cfg["hidden_size"], "intermediate_size": cfg["intermediate_size"],
                   "head_dim": cfg["head_dim"], "attn_heads": cfg["attn"]["num_heads"],
                   "attn_kv_heads": cfg["attn"]["num_kv_heads"], "sse_heads": cfg["num_heads"],
                   "num_sparse_partition": cfg["num_sparse_partition"], "num_writer": cfg["num_writer"],
                   "window_size": cfg["attn"]["window_size"], "moba_chunk_size": chunk, "moba_topk": topk,
                   "vocab_size": cfg["vocab_size"], "weights": "maker random init, seed 0, bfloat16",
                   "input": "Hamlet from 'To be, or not to be' (maker's 512-token tokenizer)"},
        "layers": layers,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "machine": f"{os.cpu_count()} cores, load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
    }


def render(res: dict) -> str:
    lay = res["layout"]
    lines = [f"Attention-level sparsity at {res['tokens']} tokens, SpB2.0-5B widths (one layer per kind; "
             f"MoBA chunk {lay['moba_chunk_size']} / top-{lay['moba_topk']}, SWA window {lay['window_size']}, "
             f"{lay['num_sparse_partition']} SSE partitions, top-{lay['num_writer']}; {lay['weights']}).",
             "",
             "| layer | kind | key blocks visited | keys visited | partition tokens | usage entropy (bits) | SWA keys | s |",
             "|---|---|---|---|---|---|---|---|"]
    for L in res["layers"]:
        a = L["attention"]
        if a["type"] == "sse":
            lines.append(f"| {L['layer']} | {L['kind']} | | | {' / '.join(map(str, a['partition_tokens']))} | "
                         f"{a['usage_entropy_bits']:.3f} of {a['max_entropy_bits']:.0f} | "
                         f"{a['swa_key_fraction']:.1%} | {L['seconds']} |")
        else:
            exp = f" (expected {a['block_fraction_expected']:.1%})" if "block_fraction_expected" in a else ""
            lines.append(f"| {L['layer']} | {L['kind']} | {a['block_fraction']:.1%}{exp} | {a['key_fraction']:.1%} "
                         f"| | | | {L['seconds']} |")
    lines += ["", "Fractions are means over queries (and heads) of the causal blocks/keys each query visits. "
              "With random weights the routing and the block choice are not the trained model's; the MoBA block "
              "fraction is fixed by chunk/top-k and length alone, the SWA share by the window. The whole 36-layer "
              "stack at this length was not run on this 2-core machine (one layer of each kind instead).",
              "", f"Seconds per layer (fp32, one BLAS/numba thread), peak RSS {res['peak_rss_gb']} GB; {res['machine']} "
              f"(shared machine: the seconds carry that load). Generated by `{res['command']}`; "
              "`python -m benchmarks.attention --render-only` re-renders this file from the JSON."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--kinds", default="moba,sse_swa,full")
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--topk", type=int, default=4)
    ap.add_argument("--out", default="docs/results/attention", help="writes OUT.json and OUT.md")
    ap.add_argument("--work", default=None, help="folder for the generated checkpoint (default: a temp dir)")
    ap.add_argument("--render-only", action="store_true", help="re-render OUT.md from OUT.json, run nothing")
    a = ap.parse_args(argv)
    import tempfile

    out = Path(a.out)
    if a.render_only:
        res = json.loads(out.with_suffix(".json").read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            res = measure(a.tokens, a.kinds.split(","), a.chunk, a.topk, Path(a.work or tmp))
    write_result(out.name, {**res, "renderer": "benchmarks.attention:render"}, out.parent)
    print(render(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
