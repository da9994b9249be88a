"""How fast a converted real model's float32 weights are read: the memory-map copy against a direct read.

    python -m benchmarks.weightread [--model qwen2.5-coder-1.5b] [--rounds 2] [--name qwen_weight_read]

A pass over a model too large to keep in memory reads every weight from its checkpoint once (twice
in ``neurosim run``: the float and the quantized pass; once per setting and window in ``neurosim
eval``). Each round reads every tensor both ways, alternating: ``mmap``, a float32 copy of the
memory-mapped view (page by page through page faults, the mapping then released: how
``Checkpoint.tensor`` read float32 before), and ``read``, ``Checkpoint.tensor`` as it is now (one
``readinto`` per tensor). Both check every value is finite and give the same bits (checked). CPU
seconds are the process's (user + system), so other load on the machine moves them less than the
wall seconds, which are given too. Writes ``docs/results/NAME.json`` and ``NAME.md``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from neurosim.hostload import load_average


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _mmap_copy(ck, name: str) -> np.ndarray:
    e = ck._entry(name)
    out = np.array(ck.raw(name), dtype=np.float32)
    ck._release(e)
    assert np.isfinite(out).all()
    return out


def measure(model: str, rounds: int) -> dict:
    from neurosim.model import load_checkpoint, resolve_model

    ck = load_checkpoint(resolve_model(model))
    names = [n for n in ck.names if ck._entry(n).dtype == "F32"]
    runs: dict[str, list[tuple[float, float]]] = {"mmap": [], "read": []}
    for _ in range(rounds):
        for way in ("mmap", "read"):
            c0, w0 = _cpu(), time.perf_counter()
            for n in names:
                (_mmap_copy(ck, n) if way == "mmap" else ck.tensor(n))
            runs[way].append((_cpu() - c0, time.perf_counter() - w0))
    for n in names[:3] + names[-3:]:
        assert np.array_equal(_mmap_copy(ck, n).view(np.uint32), ck.tensor(n).view(np.uint32)), n
    best = {k: min(v) for k, v in runs.items()}
    gb = sum(ck._entry(n).end - ck._entry(n).start for n in names) / 1e9
    return {"model": model, "tensors": len(names), "gb": gb,
            "rounds": rounds, "runs": {k: [[round(c, 2), round(w, 1)] for c, w in v] for k, v in runs.items()},
            "mmap_cpu_s": round(best["mmap"][0], 2), "read_cpu_s": round(best["read"][0], 2),
            "cpu_ratio": round(best["mmap"][0] / max(best["read"][0], 0.01), 2), "cpus": os.cpu_count()}


def render(doc: dict) -> str:
    r = doc["result"]
    rows = [f"| {way} | " + " | ".join(f"{c:.2f} s / {w:.1f} s" for c, w in r["runs"][way]) + " |"
            for way in ("mmap", "read")]
    return "\n".join([
        f"Reading every float32 weight of {r['model']} once ({r['tensors']} tensors, {r['gb']:.2f} GB; "
        f"`{doc['command']}`, {doc['date']}, {r['cpus']} cores, load average {doc['load_start']} at the start / "
        f"{doc['load_end']} at the end). CPU seconds (user + system) / wall seconds per round:",
        "",
        "| read | " + " | ".join(f"round {i + 1}" for i in range(r["rounds"])) + " |",
        "|---|" + "---|" * r["rounds"],
        *rows,
        "",
        f"Fastest round: {r['mmap_cpu_s']:.2f} CPU s through the memory map, {r['read_cpu_s']:.2f} CPU s read "
        f"directly: **{r['cpu_ratio']:.2f}x** less CPU per pass over the weights (the same bits).",
    ]) + "\n"


def main(argv=None) -> int:
    from benchmarks.realmodel import model_parser, write_run

    a = model_parser("weightread", __doc__, "qwen_weight_read", ("--rounds", 2)).parse_args(argv)
    load0 = load_average()
    r = measure(a.model, a.rounds)
    return write_run(a, f"python -m benchmarks.weightread --model {a.model} --rounds {a.rounds}", "weightread", r,
                     load_start=load0, load_end=load_average())

if __name__ == "__main__":
    raise SystemExit(main())
