"""A real model in spike mode with trace: seconds beside the fp pass, peak memory, and where the spikes are.

    python -m benchmarks.realmodel [--model qwen2.5-coder-1.5b] [--tokens 512] [--name qwen_run]

One ``neurosim run --mode spike --trace`` in a child process (absmax, bitwise coding, every block
projection) over the first ``--tokens`` tokens of one file of the ``python-stdlib`` corpus (the
file of the first window that ``neurosim eval --corpus python-stdlib --seed 0`` draws, so the run is
reproducible from the Python version alone). The child's peak resident memory is its
``ru_maxrss``; the seconds are the run's own ``fp_s`` (float pass) and ``spike_s`` (spike pass with
recording and tiles) from its ``timing.json``. The document lists per projection kind and per layer
the fixed-window sparsity (zero cells of T=7 steps) and spikes per activation, from ``summary.json``.
Writes ``docs/results/NAME.json`` and ``NAME.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neurosim.hostload import load_average
from neurosim.results import write_result

_CHILD = """
import json, resource, sys
from neurosim.cli import main
rc = main(json.loads(sys.argv[1]))
json.dump({"rc": rc, "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, open(sys.argv[2], "w"))
"""


def corpus_file(model: str) -> str:
    """The python-stdlib file of the first window that eval draws with seed 0 (a 512-token window)."""
    from neurosim.model import load_checkpoint, resolve_model
    from neurosim.run.code_corpus import stdlib_root
    from neurosim.run.windows import load_texts, select_windows

    tok = load_checkpoint(resolve_model(model)).tokenizer
    w = select_windows(tok, load_texts(None, "python-stdlib"), 1, 512, 0, one_per_text=True)[0]
    return str(stdlib_root() / w.source.removeprefix("stdlib/"))


def measure(model: str, tokens: int) -> dict:
    text = corpus_file(model)
    with tempfile.TemporaryDirectory() as tmp:
        trace, res = Path(tmp) / "trace", Path(tmp) / "child.json"
        argv = ["run", "--model", model, "--text-file", text, "--max-tokens", str(tokens), "--mode", "spike",
                "--trace", str(trace)]
        load0, t0 = load_average(), time.perf_counter()
        subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv), str(res)], check=True)
        wall = time.perf_counter() - t0
        child = json.loads(res.read_text())
        summary = json.loads((trace / "summary.json").read_text())
        timing = json.loads((trace / "timing.json").read_text())
    return {
        "model": model, "model_type": summary["model"]["model_type"], "n_layers": summary["model"]["n_layers"],
        "text": os.path.relpath(text, _stdlib()), "python": platform.python_version(),
        "tokens": summary["tokens"], "wall_s": round(wall, 1), "fp_s": round(timing["fp_s"], 1),
        "spike_s": round(timing["spike_s"], 1), "total_s": round(timing["total_s"], 1),
        "peak_rss_gib": round(child["ru_maxrss_kib"] / 2**20, 2), "load_start": load0, "load_end": load_average(),
        "cpus": os.cpu_count(), "totals": summary["totals"], "accuracy": summary["accuracy"],
        "layers": [_layer(entry) for entry in summary["layers"]],
    }


def _stdlib() -> str:
    from neurosim.run.code_corpus import stdlib_root

    return str(stdlib_root())


def _layer(entry: dict) -> dict:
    """Per projection kind of one layer: fixed-window sparsity and spikes per activation."""
    out = {"layer": entry["layer"], "kinds": {}}
    for r in entry["projections"]:
        kind = r["name"].rsplit(".", 2)[-2]
        n = r["activations"]
        out["kinds"][kind] = {"sparsity_fixed": r["sparsity_fixed"], "spikes_per_activation": r["spikes"] / n,
                              "activations": n}
    return out


def _kinds_total(layers: list[dict]) -> dict:
    tot: dict[str, list[float]] = {}
    for lay in layers:
        for k, v in lay["kinds"].items():
            t = tot.setdefault(k, [0.0, 0.0, 0])
            t[0] += v["sparsity_fixed"] * v["activations"]
            t[1] += v["spikes_per_activation"] * v["activations"]
            t[2] += v["activations"]
    return {k: (a / n, b / n) for k, (a, b, n) in tot.items()}


def render(doc: dict) -> str:
    r = doc["result"]
    t, acc = r["totals"], r["accuracy"]
    lines = [f"{r['model']} ({r['model_type']}, {r['n_layers']} layers), spike mode with trace, absmax, bitwise "
             f"coding, every block projection (`{doc['command']}`, {doc['date']}, {r['cpus']} cores, load "
             f"average {r['load_start']} at the start / {r['load_end']} at the end):",
             "",
             f"Input: the first {r['tokens']} tokens of the Python {r['python']} standard library file "
             f"`{r['text']}`.",
             "",
             "| fp pass s | spike pass s (recording, tiles) | ratio | whole run s | peak RSS GiB | ppl fp | ppl spike | top-1 agree | spikes/act | sparsity T=7 |",
             "|---|---|---|---|---|---|---|---|---|---|",
             f"| {r['fp_s']:.1f} | {r['spike_s']:.1f} | {r['spike_s'] / r['fp_s']:.2f}x | {r['total_s']:.1f} | "
             f"{r['peak_rss_gib']:.2f} | {acc['ppl_fp']:.3f} | {acc['ppl_quant']:.3f} | {100 * acc['top1_agreement']:.1f}% | "
             f"{t['spikes_per_activation']:.3f} | {100 * t['sparsity_fixed']:.2f}% |",
             "",
             "Per projection kind (all layers): fixed-window sparsity / spikes per activation:",
             ""]
    kinds = _kinds_total(r["layers"])
    names = sorted(kinds)
    lines += ["| " + " | ".join(names) + " |", "|" + "---|" * len(names),
              "| " + " | ".join(f"{100 * kinds[k][0]:.2f}% / {kinds[k][1]:.2f}" for k in names) + " |", "",
              "Per layer:", "", "| layer | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for lay in r["layers"]:
        lines.append(f"| {lay['layer']} | " + " | ".join(
            f"{100 * lay['kinds'][k]['sparsity_fixed']:.1f}% / {lay['kinds'][k]['spikes_per_activation']:.2f}"
            for k in names) + " |")
    return "\n".join(lines) + "\n"


def model_parser(module: str, doc: str, name: str, option: tuple[str, int]) -> argparse.ArgumentParser:
    """The real-model benchmarks' command line: ``--model``, one size ``option`` (flag, default) and
    ``--name`` (the result's name, default ``name``)."""
    ap = argparse.ArgumentParser(prog=f"python -m benchmarks.{module}", description=doc.splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument(option[0], type=int, default=option[1])
    ap.add_argument("--name", default=name, help="result name: docs/results/NAME.{json,md}")
    return ap


def write_run(a: argparse.Namespace, command: str, module: str, result: dict, **extra) -> int:
    """Write the result document ``a.name`` (command, date, machine, renderer, ``extra``, result)."""
    doc = {"command": command, "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(), **extra,
           "renderer": f"benchmarks.{module}:render", "result": result}
    for p in write_result(a.name, doc):
        print(p)
    return 0


def main(argv=None) -> int:
    a = model_parser("realmodel", __doc__, "qwen_run", ("--tokens", 512)).parse_args(argv)
    r = measure(a.model, a.tokens)
    return write_run(a, f"python -m benchmarks.realmodel --model {a.model} --tokens {a.tokens}", "realmodel", r)

if __name__ == "__main__":
    raise SystemExit(main())
