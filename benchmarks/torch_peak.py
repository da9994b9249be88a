"""Peak live activation bytes of a torch pass against the pre-flight estimate:
``docs/results/torch_peak.json`` / ``torch_peak.md``.

    python -m benchmarks.torch_peak [--tokens 512,1024,2048] [--scale 8] [--out docs/results]
    python -m benchmarks.torch_peak --render-only [--out docs/results]

Per length, what ``neurosim run --device cuda --mode spike --trace`` does on a GPU, run on
PyTorch's CPU device: the float pass and the spike pass of a
:class:`~neurosim.model.torch_network.TorchModel` (the run's backend, :mod:`neurosim.run.backends`)
with the recorder keeping the trace statistics and its tiles, then the statistics and the accuracy
metrics. The model is a random-weight checkpoint of the SpB2.0 layout scaled down (:func:`scaled_config`:
the same 36 layers and layer kinds, every width divided by ``--scale``, MoBA blocks of 64 tokens),
with the bounded work areas scaled down too (:func:`scaled_blocks`), so that lengths of a few
thousand tokens are in the regime of the 5B layout at long context (MoBA blocks, attention rows,
SSE segments, MLP rows and logits rows all far shorter than the sequence).

:class:`benchmarks.torch_live.LiveBytes` counts the bytes of every tensor storage made during the
passes while it lives; the weights (uploaded before) and their one-time quantization (done before the
passes) are left out, so the peak compares with the estimate's activation part
(:func:`neurosim.model.torch_memory.activation_bytes`: the estimate less the weights and the reserve).
The slope between two lengths (bytes per token) compares with the estimate's per-token term
(:func:`~neurosim.model.torch_memory.floats_per_token` x 4 bytes).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results_cli import parse_results_args, result_parser

COMMAND = "python -m benchmarks.torch_peak --tokens 512,1024,2048 --scale 8"


def scaled_config(scale: int = 8) -> dict:
    """The config.json of the SpB2.0-5B layout with every width divided by ``scale`` (heads halved,
    head dimension divided by scale / 2; vocabulary divided by scale), its 36 layers of three kinds
    and MoBA blocks of 64 tokens (the 5B layout's 4,096 over 64: at 2,048 tokens as many blocks as it
    has at 131,072)."""
    from neurosim.model.maker import preset_config

    cfg = preset_config("sse_swa_moba", "full")
    heads, kv = cfg["num_heads"] // 2, cfg["attn"]["num_kv_heads"] // 2
    hd = cfg["head_dim"] * 2 // scale
    vocab = cfg["vocab_size"] // scale
    cfg.update(hidden_size=cfg["hidden_size"] // scale, intermediate_size=cfg["intermediate_size"] // scale,
               head_dim=hd, num_heads=heads, num_v_heads=heads, vocab_size=vocab,
               bos_token_id=vocab - 2, eos_token_id=vocab - 1)
    cfg["attn"].update(num_heads=heads, num_kv_heads=kv, moba_chunk_size=64, window_size=16)
    return cfg


#: the bounded work areas of the scaled run (module, attribute, value)
SCALED_BLOCKS = (("neurosim.model.torch_layers", "QUERY_BLOCK", 128),
                 ("neurosim.model.torch_layers", "SCORE_ELEMENTS", 4 * 128 * 1024),
                 ("neurosim.model.torch_layers", "SSE_SEGMENT", 256),
                 ("neurosim.model.torch_network", "MLP_ROWS", 256),
                 ("neurosim.model.torch_network", "LOGIT_ELEMENTS", 1 << 20),
                 ("neurosim.run.torch_fidelity", "LOGIT_ROWS", 64))


@contextlib.contextmanager
def scaled_blocks():
    """The work areas of :data:`SCALED_BLOCKS` while inside (the estimate reads the same values)."""
    import importlib

    old = [(importlib.import_module(m), a, getattr(importlib.import_module(m), a)) for m, a, _ in SCALED_BLOCKS]
    try:
        for m, a, v in SCALED_BLOCKS:
            setattr(importlib.import_module(m), a, v)
        yield
    finally:
        for mod, a, v in old:
            setattr(mod, a, v)


@contextlib.contextmanager
def _labels(lb, net):
    """Label the storages with the part of the pass that made them (layer kind and phase)."""
    from neurosim.model import torch_layers as TL

    stack: list[str] = []

    def wrap(obj, attr, label):
        fn = getattr(obj, attr)

        def labelled(*a, **k):
            stack.append(label(a) if callable(label) else label)
            lb.where = "/".join(stack)
            try:
                return fn(*a, **k)
            finally:
                stack.pop()
                lb.where = "/".join(stack)
        setattr(obj, attr, labelled)
        return obj, attr, fn
    undo = [wrap(net, "run_layer", lambda a: f"layer {net.layer_kind(a[0])}"),
            wrap(net, "_mlp", "mlp"), wrap(net, "head", "head"),
            wrap(TL, "attention", "attention"), wrap(TL, "moba_select", "moba_select"),
            wrap(TL, "sse_recurrence", "sse_recurrence")]
    try:
        yield
    finally:
        for obj, attr, fn in undo:
            if obj is net:
                delattr(net, attr)
            else:
                setattr(obj, attr, fn)


def measure_pass(model_dir, tokens: int, tiles: int = 32, seed: int = 0) -> dict:
    """One spike run of ``tokens`` random ids on the CPU device (module docstring): the peak live
    bytes of each phase, of the whole, and what was alive at the peak."""
    import torch

    from benchmarks.torch_live import LiveBytes
    from neurosim.model import Model, load_checkpoint
    from neurosim.model.torch_network import TorchModel
    from neurosim.run import Settings
    from neurosim.run.backends import backend
    from neurosim.run.fidelity import projection_kinds
    from neurosim.run.tiles import choose_tiles

    be = backend("cuda")
    model = Model(load_checkpoint(model_dir))
    s = Settings(model=str(model_dir), mode="spike", device="cuda", tiles=tiles)   # not validated: no GPU here
    net = TorchModel(model, "cpu")
    kinds = projection_kinds(model)
    projection = be.projection(s)
    hook = be.recorder(projection, kinds)
    selected = [nm for nm in kinds if projection.selected(nm)]
    for nm in selected:   # the one-time weight quantization and product operands, before the passes
        wq = projection.weight_quant(nm, net.weights[nm])
        g = wq.w_int.shape[1] // wq.groups
        for j in range(wq.groups):
            wq.product(torch.zeros((1, g), dtype=torch.int32), 127, j)
    ids = np.random.default_rng(seed).integers(0, model.vocab_size, tokens)
    peaks: dict[str, int] = {}
    alive: dict[str, list] = {}   # phase -> the storages alive at its peak
    with tempfile.TemporaryDirectory() as tmp, LiveBytes() as lb, _labels(lb, net):
        hook.tiles_out = Path(tmp)
        hook.tile_requests = choose_tiles(model, selected, tiles)

        def phase(name, fn):
            lb.reset_peak()
            lb.where = name
            out = fn()
            peaks[name] = lb.peak
            alive[name] = lb.at_peak
            return out
        t0 = time.perf_counter()
        fp = phase("fp pass", lambda: net.forward(ids, **be.forward_options))
        q = phase("spike pass", lambda: net.forward(ids, linear=hook, **be.forward_options))
        phase("statistics", hook.ordered_records)
        phase("accuracy", lambda: be.accuracy(fp, q, ids))
        wall = time.perf_counter() - t0
    return dict(tokens=tokens, peak_bytes=max(peaks.values()), phase_peak_bytes=peaks, wall_s=wall,
                at_peak={name: _grouped(a) for name, a in alive.items()})


def _grouped(alive: list, top: int = 16) -> list[list]:
    """The ``top`` largest groups of storages alive at a peak: [label, operator, dtype, shape, bytes]."""
    at: dict[tuple, int] = {}
    for label, op, shape, dtype, n in alive:
        key = (label, op.split(".")[1] if op.startswith("aten.") else op, dtype.removeprefix("torch."), shape)
        at[key] = at.get(key, 0) + n
    return sorted(([*k[:3], list(k[3]), n] for k, n in at.items()), key=lambda r: -r[-1])[:top]


def estimate_terms(mc, tokens: int) -> dict:
    """The estimate of the package imported (this one, or an earlier one's in a baseline run) for a
    float32 spike pass of ``tokens`` tokens (bytes): the whole, its activation part (the whole less
    the weights and the reserve) and its per-token term."""
    from neurosim.model import torch_memory as TM
    from neurosim.model.config import count_parameters

    try:
        per_token = TM.floats_per_token(mc, tokens)
    except TypeError:   # an earlier version: no length-dependent term
        per_token = TM.floats_per_token(mc)
    whole = TM.estimate_bytes(mc, tokens)
    params = count_parameters(mc)   # the weight term of every version: float32 values + int8 codes and operand
    activation = whole - params * 4 - 2 * (params - mc.vocab_size * mc.hidden_size) - TM.RESERVE
    if hasattr(TM, "activation_bytes") and TM.activation_bytes(mc, tokens) != activation:
        raise RuntimeError("the estimate's weight term changed: update estimate_terms")
    return dict(estimate_bytes=whole, activation_bytes=activation, per_token_bytes=per_token * 4)


def measure_all(tokens: list[int], scale: int, tiles: int) -> dict:
    """Every length's measurement and estimate with the neurosim package imported, and the 5B
    layout's estimate at :data:`SPB5B_TOKENS` tokens."""
    import torch

    from neurosim.model import make_checkpoint
    from neurosim.model.config import model_config
    from neurosim.model.maker import preset_config

    cfg = scaled_config(scale)
    mc = model_config(cfg)
    torch_threads()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_checkpoint(Path(tmp) / "scaled", config=cfg, progress=False)
        with scaled_blocks():
            for n in tokens:
                r = measure_pass(ckpt, n, tiles=tiles)
                r["estimate"] = estimate_terms(mc, n)
                runs.append(r)
                print(json.dumps({k: v for k, v in r.items() if k != "at_peak"}), file=sys.stderr, flush=True)
    big = model_config(preset_config("sse_swa_moba", "full"))
    return dict(runs=runs, spb5b=dict(tokens=SPB5B_TOKENS, **estimate_terms(big, SPB5B_TOKENS)),
                torch=torch.__version__)


#: the length at which the 5B layout's estimate is quoted (the length an 80 GB H100 must hold)
SPB5B_TOKENS = 131072


def _baseline(src: str, tokens: list[int], scale: int, tiles: int) -> dict:
    """:func:`measure_all` with the neurosim package under ``src`` (an earlier version; a subprocess)."""
    from benchmarks.earlier import with_package

    return with_package(src, "from benchmarks.torch_peak import measure_all", f"measure_all({tokens!r},{scale},{tiles})")


def measure(a) -> dict:
    tokens = [int(t) for t in a.tokens.split(",")]
    cfg = scaled_config(a.scale)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else None
    now = measure_all(tokens, a.scale, a.tiles)
    doc: dict = dict(command=COMMAND + (" --baseline SRC" if a.baseline else ""), scale=a.scale, tiles=a.tiles,
                     config={k: cfg[k] for k in ("num_hidden_layers", "hidden_size", "intermediate_size",
                                                 "head_dim", "num_heads", "vocab_size")}
                     | {"num_kv_heads": cfg["attn"]["num_kv_heads"], "moba_chunk_size": cfg["attn"]["moba_chunk_size"]},
                     blocks={f"{m.rsplit('.', 1)[1]}.{n}": v for m, n, v in SCALED_BLOCKS},
                     machine=dict(device="cpu", cpus=os.cpu_count(), threads=THREADS, torch=now["torch"],
                                  python=platform.python_version(), load_average=load),
                     runs=now["runs"], spb5b=now["spb5b"])
    if a.baseline:
        base = _baseline(a.baseline, tokens, a.scale, a.tiles)
        doc["baseline"] = dict(runs=base["runs"], spb5b=base["spb5b"])
    return doc


#: PyTorch's CPU threads (one: the live bytes do not depend on it, and a shared machine slows its barriers)
THREADS = 1


def torch_threads() -> None:
    """Use :data:`THREADS` CPU threads."""
    import torch

    torch.set_num_threads(THREADS)


def main(argv=None) -> int:
    ap = result_parser(__doc__, "torch_peak")
    ap.add_argument("--tokens", default="512,1024,2048", help="the lengths (comma-separated)")
    ap.add_argument("--scale", type=int, default=8, help="divide the SpB2.0-5B widths by this")
    ap.add_argument("--tiles", type=int, default=32, help="trace tiles kept during the pass (the run's default)")
    ap.add_argument("--baseline", help="a folder holding an earlier neurosim package: measured the same way")
    a, out = parse_results_args(ap, argv)
    from benchmarks.torch_peak_report import render
    from neurosim.results import write_result

    if a.render_only:
        doc = json.loads((out / "torch_peak.json").read_text())
    else:
        doc = measure(a)
    doc["renderer"] = "benchmarks.torch_peak_report:render"
    write_result("torch_peak", doc, out)
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
