"""``neurosim eval``: float vs INT8 / spike accuracy over many text windows, with 95% intervals.

Windows are drawn deterministically (:mod:`neurosim.run.windows`); for every window the float pass
runs once and every quantizer setting runs against it. Per setting: mean NLL change (nats/token)
and perplexity change ``exp(mean dNLL) - 1``, each with a 95% percentile-bootstrap interval over
windows (the same resamples for every setting, so the difference to the first setting has a paired
interval too), and for the perplexity change also over plays (a cluster bootstrap: the windows of a
source text are not independent); mean KL(fp || quantized) and top-1 agreement; the spike totals
(sparsity in the fixed window, marked mixed beside the common 7-cell basis where windows differ, and
the other definitions of the trace); tokens scored; the energy counts the energy model prices
(``energy_counts``, :func:`neurosim.run.evalstats.energy_counts`). ``confirm_seed`` scores the
chosen settings again on held-out windows (:mod:`neurosim.run.confirm`).

Quantizer settings are those of ``neurosim run`` (mode int8|spike, coding, scale, k, clamp, window,
projections, weight_group) plus

- ``smooth: ALPHA`` with ``calib_file`` / ``calib_tokens``: SmoothQuant migration folded into the
  weights (:mod:`neurosim.run.smooth`), calibrated on a text disjoint from the windows (default:
  the first ``calib_tokens`` tokens of The Winter's Tale, which is not an evaluation play);
- ``window_for: {PATTERN: T}``: projections whose weight name matches PATTERN (fnmatch; a pattern
  without wildcards matches as a substring, e.g. ``down_proj``) use a fixed spike window of T
  steps, so their per-token absmax scale has ``levels(T)`` levels (bitwise: 2^T - 1, e.g. 2047 for
  T = 11) instead of 127: the spiking form of mixed precision (weights stay INT8);
- ``rotate: hadamard|random`` (``rotate_seed``): the residual stream rotated by an orthogonal
  matrix folded offline into the weights (:mod:`neurosim.run.rotate`); with ``smooth`` the
  rotation comes first and the smoothing is calibrated on (and folded into) the rotated model
  (smoothing first would be undone: the rotation folds the norm weights, which carry 1/s, back
  into the projections and mixes the channels).

Determinism: every float operation runs with BLAS pinned to one thread
(:func:`neurosim.run.threads.blas_one_thread`, which says why that suffices), so the printed figures
are identical across ``OPENBLAS_NUM_THREADS`` / ``NUMBA_NUM_THREADS`` settings and processes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from neurosim import NeurosimError, __version__
from neurosim.core.coding import resolve_steps
from neurosim.core.dense import exact_linear
from neurosim.core.engine import spike_linear, PackedWeights
from neurosim.core.quant import dequant_linear, quantize_weights
from neurosim.run import evalstats as ES
from neurosim.run.confirm import (CHOICE_RULE, TARGET_PPL, TARGET_SPARSITY, chosen_settings, confirmation_windows,
                                  full_settings, target_met, target_sparsity, window_spans)
from neurosim.run.metrics import fixed_sparsity_text
from neurosim.run.code_corpus import corpus_record
from neurosim.run.fidelity import Product, Quantization, QuantizedProjection, name_matches, window_levels

__all__ = ["QuantSetting", "EvalConfig", "evaluate", "levels", "format_table", "format_kinds", "render_result",
           "EvalLinear", "configure", "run", "rotation_lines", "chosen_settings", "target_met", "verdict",
           "sparsity_cell", "target_sparsity", "confirmation_lines", "CHOICE_RULE",
           "EVAL_MARKER"]

EVAL_MARKER = "eval.json"


def levels(coding: str, T: int) -> int:
    """Largest |count| a window of T steps holds (:func:`neurosim.run.fidelity.window_levels`)."""
    return window_levels(coding, T)


@dataclass
class QuantSetting:
    """One quantizer setting; YAML keys and CLI flags have these names."""

    label: str | None = None
    mode: str = "int8"
    coding: str = "bitwise"
    scale: str = "absmax"
    k: float = 3.0
    clamp: int | None = 127
    window: int | None = None
    projections: list[str] = field(default_factory=lambda: ["*"])
    weight_group: int | None = None
    smooth: float | None = None  #: SmoothQuant strength alpha in [0, 1] (None: no smoothing)
    calib_file: str | None = None  #: calibration text (default: a disjoint play)
    calib_tokens: int = 2048
    window_for: dict[str, int] = field(default_factory=dict)  #: weight-name pattern -> window T
    rotate: str = "none"  #: residual-stream rotation, one of neurosim.run.rotate.ROTATIONS
    rotate_seed: int = 0  #: seed of a random rotation (rotate random, or no Hadamard of the order)

    def validate(self) -> "QuantSetting":
        from neurosim.run.settings import Settings

        if self.mode not in ("int8", "spike"):
            raise NeurosimError(f"eval mode must be int8 or spike, got {self.mode!r}")
        if self.rotate is None:
            self.rotate = "none"
        base = {f.name: getattr(self, f.name) for f in fields(Settings) if hasattr(self, f.name)}
        Settings(**base).validate()  # the fidelity's keys and the shared smooth / window_for / rotate keys
        if self.label is None:
            self.label = self.describe()
        return self

    def describe(self) -> str:
        q = "absmax" if self.scale == "absmax" else f"adaptive k={self.k:g}" + (
            ", no clamp" if self.clamp is None else f", clamp {self.clamp}")
        parts = [q]
        if self.rotate != "none":
            parts.append(f"rotate {self.rotate}" + (f" seed {self.rotate_seed}" if self.rotate == "random" else ""))
        if self.smooth is not None:
            parts.append(f"smooth {self.smooth:g}")
        parts += [f"{p} T={T}" for p, T in self.window_for.items()]
        if self.projections != ["*"]:
            parts.append("only " + ",".join(self.projections))
        if self.weight_group:
            parts.append(f"w group {self.weight_group}")
        if self.coding != "bitwise":
            parts.append(self.coding)
        return ", ".join(parts)


QUANT_KEYS = tuple(f.name for f in fields(QuantSetting))


@dataclass
class EvalConfig:
    """Everything an eval depends on; YAML keys and CLI flags have these names."""

    model: str | None = None
    text_file: list[str] | None = None
    corpus: str | None = None  #: default "shakespeare" when no text file is given
    encoding: str = "utf-8"  #: encoding of text_file and calib_file (Python codec name)
    windows: int = 32
    window_tokens: int = 512
    seed: int = 0
    #: seed of held-out windows (none shared with the seed's) on which the chosen settings are scored again
    confirm_seed: int | None = None
    bootstrap: int = 10000
    dtype: str = "float32"
    workers: int = 1  #: processes scoring windows (the figures do not depend on it)
    out: str | None = None
    settings: list[QuantSetting] = field(default_factory=lambda: [QuantSetting()])

    def validate(self) -> "EvalConfig":
        from neurosim.run.settings import check_encoding

        if self.text_file and self.corpus:
            raise NeurosimError("give either --text-file or --corpus, not both")
        check_encoding(self.encoding)
        for name, lo in (("windows", 1), ("window_tokens", 2), ("bootstrap", 100), ("workers", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise NeurosimError(f"{name} must be an integer >= {lo}, got {v!r}")
        for name in ("seed", "confirm_seed"):
            v = getattr(self, name)
            if (v is not None or name == "seed") and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise NeurosimError(f"{name} must be a non-negative integer, got {v!r}")
        if self.confirm_seed == self.seed:
            raise NeurosimError(f"confirm_seed must differ from seed ({self.seed}): the held-out windows need their own draw")
        if self.dtype not in ("float32", "float64"):
            raise NeurosimError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if not self.settings:
            raise NeurosimError("no quantizer settings to evaluate")
        for s in self.settings:
            s.validate()
        labels = [s.label for s in self.settings]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise NeurosimError(f"two settings share the label {sorted(dup)[0]!r}; give each a distinct label")
        return self


# --------------------------------------------------------------------------- the projection hook
class EvalLinear(QuantizedProjection):
    """The projection of one eval setting (a :class:`neurosim.run.fidelity.QuantizedProjection`):
    quantize, multiply exactly, dequantize, and keep a lean spike record per call.

    Beyond the run fidelities: per-projection windows (``window_for``: window T and absmax levels
    ``levels(T)``), weights quantized once per setting (cached INT8), and a dense product on exact
    float32 blocks (:func:`neurosim.core.dense.exact_linear`). ``records`` collects one record per call until cleared.
    """

    def __init__(self, q: QuantSetting, names: list[str]):
        super().__init__(Quantization.from_settings(q), q.projections)
        self.q = q
        self.mode = q.mode
        #: name -> (T engine, T stats, clamp, levels) of every selected projection
        self.plan = {nm: self.quant.plan(nm) for nm in names if self.selected(nm)}
        self.weights: dict[str, tuple] = {}
        #: keep the quantized weights across windows (False for models too large to hold them)
        self.keep = True
        self.records: list[dict] = []

    def integers(self, counts, w_int, T):
        if self.q.mode == "spike":
            r = spike_linear(counts, w_int, self.q.coding, T)
            return r.out, r.events
        return exact_linear(counts, w_int), None

    def holds(self, name: str) -> bool:
        """Whether ``name``'s quantization is in this setting's own cache (the model then passes
        w=None); the model-level cache of the base class is not used here."""
        return name in self.plan and name in self.weights

    def product(self, name: str, x: np.ndarray, w: np.ndarray) -> Product:
        plan = self.plan.get(name)
        if plan is None:
            return Product(y=x @ w.T)
        q = self.q
        T_engine, T_fix, clamp, L = plan
        aq = self._activations(x, clamp, L)  # shared inputs (q/k/v, gate/up) quantized once
        cached = self.weights.get(name)
        if cached is None:
            wq = quantize_weights(w, group_size=q.weight_group)
            cached = (wq, PackedWeights(wq.w_int) if q.mode == "spike" and wq.group_size is None else None)
            if self.keep:
                self.weights[name] = cached
        wq, packed = cached
        T = resolve_steps(aq.counts, q.coding, T_engine)
        events = []

        def product(counts, w_int):
            out, ev = self.integers(counts, packed if packed is not None and w_int is wq.w_int else w_int, T)
            events.append(ev)
            return out

        y = dequant_linear(aq, wq, product)
        rec = ES.count_record(aq.counts, q.coding, T_fix)
        rec.update(name=name, kind=ES.projection_kind(name), out_features=int(wq.w_int.shape[0]),
                   clamped=aq.clamped, T_window=T_fix)
        if q.mode == "spike":
            rec["events"] = sum(events)
        self.records.append(rec)
        return Product(y=y.astype(x.dtype, copy=False), acts=aq, weights=wq, T=T,
                       events=None if None in events else sum(events))


# --------------------------------------------------------------------------- the evaluation
class _Scorer:
    """The float model and every setting's (rotated / smoothed) model and hook, built from ``cfg``;
    deterministic (BLAS pinned to one thread), so every worker process builds the same ones."""

    def __init__(self, cfg: EvalConfig, base, calib: dict):
        from neurosim.run import folds as FO
        from neurosim.run import smooth as SM

        self.cfg, self.base = cfg, base
        names = [nm for i in range(base.n_layers) for nm in base.projection_names(i)]
        self.timing = {}
        t0 = time.perf_counter()
        rotated = {}  # (rotate, seed) -> (rotated float model, construction)
        for q in cfg.settings:
            rk = _rotation_key(q)
            if q.rotate != "none" and rk not in rotated:
                rotated[rk] = FO.rotated_model(base, q.rotate, q.rotate_seed)
        self.timing["rotation_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        amax = {}
        for q in cfg.settings:
            rk = _rotation_key(q)
            key = (q.calib_file, q.calib_tokens, rk)
            if q.smooth is not None and key not in amax:
                src, ids = calib[key[:2]]
                amax[key] = SM.calibrate(rotated[rk][0] if rk in rotated else base,
                                         FO.calibration_chunks(ids, cfg.window_tokens))
        self.models, self.hooks, self.rotations = [], [], []
        for q in cfg.settings:
            rk = _rotation_key(q)
            m, what = rotated.get(rk, (base, None))
            h = EvalLinear(q, names)
            h.keep = base.keep_weights
            if q.smooth is not None:
                # once the hook holds a quantized smoothed weight it ignores the float one
                m = FO.smoothed_model(m, amax[(q.calib_file, q.calib_tokens, rk)], q.smooth,
                                      cached=h.weights.__contains__)
            self.models.append(m)
            self.hooks.append(h)
            self.rotations.append(what)
        self.timing["calibration_s"] = time.perf_counter() - t0

    def score(self, w, bar=None) -> tuple[list[dict], list[list[dict]], list[dict]]:
        """One window: its row per setting, the spike records per setting and the energy counts per
        setting (:func:`neurosim.run.evalstats.kind_counts`)."""
        from neurosim.model import log_softmax

        if bar is not None:
            bar.set_postfix_str("float")
        lp = log_softmax(self.base.forward(w.ids))
        rows, recs, kinds = [], [], []
        for q, m, h in zip(self.cfg.settings, self.models, self.hooks):
            if bar is not None:
                bar.set_postfix_str(q.label[:40])
            logits = m.forward(w.ids, linear=h)
            acc = ES.window_accuracy(lp, logits, w.ids)
            kinds.append(ES.kind_counts(h.records))
            tot = ES.totals(h.records)
            for r in h.records:
                r["window"] = w.index
            recs.append(h.records)
            h.records = []
            rows.append({"setting": q.label, "window": w.index, "source": w.source, "offset": w.offset,
                         **acc, "spikes_per_activation": tot["spikes_per_activation"],
                         "sparsity_fixed": tot["sparsity_fixed"]})
        return rows, recs, kinds


def _rotation_key(q: QuantSetting) -> tuple:
    return q.rotate, q.rotate_seed if q.rotate == "random" else 0


def _prepare(cfg: EvalConfig) -> tuple:
    """Load the checkpoint, the texts and the windows, check every setting and the calibration texts
    (all before any work): (ckpt, model_dir, texts, windows, float model, calibration ids by key)."""
    from neurosim.model import Model, load_checkpoint, resolve_model
    from neurosim.run import folds as FO
    from neurosim.run.windows import check_disjoint, load_texts, select_windows

    model_dir = resolve_model(cfg.model)
    ckpt = load_checkpoint(model_dir)
    if ckpt.tokenizer is None:
        raise NeurosimError(f"{model_dir} has no tokenizer.json; neurosim eval needs one to read text")
    texts = load_texts(cfg.text_file, cfg.corpus, cfg.encoding)
    wins = select_windows(ckpt.tokenizer, texts, cfg.windows, cfg.window_tokens, cfg.seed,
                          one_per_text=cfg.corpus == "python-stdlib")
    base = Model(ckpt, dtype=np.dtype(cfg.dtype).type)
    base.keep_weights = base.weights_fit()   # float weights kept for small models only (re-read otherwise)
    for q in cfg.settings:
        FO.check_setting(q, base)
        _check_kind_windows(q, base)
    calib = {}
    for q in cfg.settings:
        if q.smooth is not None:
            key = (q.calib_file, q.calib_tokens)
            if key not in calib:
                src, ids = FO.calibration_ids(q.calib_file, q.calib_tokens, ckpt.tokenizer, cfg.encoding)
                check_disjoint(ids, wins, src)
                calib[key] = (src, ids)
    return ckpt, model_dir, texts, wins, base, calib


def _check_kind_windows(q: QuantSetting, base) -> None:
    """One-line error when projections of one kind get different windows (a ``window_for`` pattern
    that names only some layers): the energy counts hold one window per kind."""
    names = [nm for i in range(base.n_layers) for nm in base.projection_names(i)]
    seen: dict = {}
    for nm, plan in EvalLinear(q, names).plan.items():
        kind = ES.projection_kind(nm)
        if seen.setdefault(kind, plan[1]) != plan[1]:
            raise NeurosimError(f"setting {q.label!r}: {kind} projections get windows T={seen[kind]} and "
                                f"T={plan[1]}; give every projection of a kind the same window")


_WORKER: _Scorer | None = None  #: the scorer of a worker process (built by _worker_init)


def _worker_init(cfg: EvalConfig) -> None:
    """A worker process: BLAS pinned to one thread for its life, the scorer built once; Ctrl-C is
    left to the parent, which stops the workers (no traceback from each of them)."""
    import signal

    from threadpoolctl import threadpool_limits

    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(limits=1, user_api="blas")
    _, _, _, _, base, calib = _prepare(cfg)
    _WORKER = _Scorer(cfg, base, calib)


def _worker_score(w) -> tuple:
    return w.index, *_WORKER.score(w), _WORKER.rotations


def _score_in_workers(cfg: EvalConfig, wins, bar) -> tuple[dict, list]:
    """Score the windows in ``cfg.workers`` spawned processes; (window index -> (rows, recs)), rotations.

    Each worker builds the same models (deterministic), so the figures equal a one-process run's bit
    for bit; workers run their numba kernels on one thread each (NUMBA_NUM_THREADS=1 in their
    environment) so that N workers use N cores."""
    import multiprocessing as mp
    import signal
    from concurrent.futures import ProcessPoolExecutor, as_completed

    saved = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}
    os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done, rotations = {}, None
    # the workers are spawned (by the submits) with SIGINT blocked, a mask they keep: Ctrl-C reaches
    # the whole process group, and only this process handles it (a Ctrl-C meanwhile waits here)
    mask = getattr(signal, "pthread_sigmask", None)
    unmask = mask(signal.SIG_BLOCK, {signal.SIGINT}) if mask else None
    try:
        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(wins)), mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init, initargs=(cfg,)) as pool:
            futs = []
            try:
                futs += [pool.submit(_worker_score, w) for w in wins]
                if mask:
                    mask(signal.SIG_SETMASK, unmask)
                    mask = None
                for f in as_completed(futs):
                    i, rows, recs, kinds, rotations = f.result()
                    done[i] = (rows, recs, kinds)
                    bar.update(1)
            except KeyboardInterrupt:   # do not wait for the windows under way (their futures then
                for proc in list((getattr(pool, "_processes", None) or {}).values()):   # fail, none is
                    proc.terminate()                                                      # cancelled)
                raise
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
    finally:
        if mask:
            mask(signal.SIG_SETMASK, unmask)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return done, rotations


def evaluate(cfg: EvalConfig, quiet: bool = False) -> dict:
    """Run the evaluation ``cfg`` (validated here); returns the result dict (written to
    ``cfg.out`` when given: eval.json, windows.csv, eval.md, timing.json). With ``cfg.workers`` > 1
    the windows are scored in that many processes, with identical figures. With ``cfg.confirm_seed``
    the chosen settings (:func:`chosen_settings`) are scored again on windows drawn with that seed,
    none shared with the first set, under the result's ``confirmation`` key."""
    from dataclasses import replace

    from neurosim.outdir import OutputFolder
    from neurosim.hostload import load_average

    cfg.validate()
    t_start = time.perf_counter()
    folder = OutputFolder(cfg.out, EVAL_MARKER, "eval") if cfg.out else None
    try:
        ckpt, model_dir, texts, wins, base, calib = _prepare(cfg)
        held_out = confirmation_windows(cfg, ckpt, texts, wins, calib)
        # ---------------------------------------------------------------- all checks done: work
        timing = {}
        rows, recs, kinds, rotations = _score_windows(cfg, wins, base, calib, quiet, timing, "passes_s")
        result = _summarize(cfg, wins, rows, recs, kinds, ckpt, model_dir, base, calib, texts, rotations)
        if held_out is not None:
            chosen = chosen_settings(result)
            c_cfg = replace(cfg, seed=cfg.confirm_seed, confirm_seed=None,
                            settings=[q for q in cfg.settings if q.label in chosen])
            c_rows, c_recs, c_kinds, c_rot = _score_windows(c_cfg, held_out, base, calib, quiet, timing,
                                                            "confirm_passes_s")
            conf = _summarize(c_cfg, held_out, c_rows, c_recs, c_kinds, ckpt, model_dir, base, calib, texts, c_rot)
            conf["chosen_on"] = {"seed": cfg.seed, "windows": len(wins), "rule": CHOICE_RULE,
                                 "shared_windows": len(window_spans(wins) & window_spans(held_out))}
            result["confirmation"] = conf
            rows += [{**r, "setting": f"{r['setting']} [confirmation]"} for r in c_rows]
        timing["total_s"] = time.perf_counter() - t_start
        timing["cpus"] = os.cpu_count()
        timing["load_avg"] = load_average()
        if folder is not None:
            _write(folder, result, rows, timing)
        result["_timing"] = timing
        return result
    except BaseException:
        if folder is not None:
            folder.abort()
        raise


def _score_windows(cfg: EvalConfig, wins, base, calib, quiet: bool, timing: dict, key: str) -> tuple:
    """Score every setting of ``cfg`` on ``wins`` (in ``cfg.workers`` processes when > 1): rows and
    spike records in window order, the energy counts merged over windows, the rotations."""
    from tqdm import tqdm

    from neurosim.run.threads import blas_one_thread

    rows: list[dict] = []
    recs: list[list[dict]] = [[] for _ in cfg.settings]
    kinds: list[dict] = [{} for _ in cfg.settings]
    with blas_one_thread():
        workers = min(cfg.workers, len(wins))
        desc = f"eval, {len(cfg.settings)} setting(s)" + (f", {workers} workers" if workers > 1 else "")
        with tqdm(total=len(wins), desc=desc, unit="window", disable=quiet or None) as bar:   # None: on a terminal only
            t0 = time.perf_counter()
            if workers > 1:
                done, rotations = _score_in_workers(cfg, wins, bar)
            else:
                scorer = _Scorer(cfg, base, calib)
                timing.update(scorer.timing)
                t0 = time.perf_counter()
                done, rotations = {}, scorer.rotations
                for w in wins:
                    done[w.index] = scorer.score(w, bar)
                    bar.update(1)
            for w in wins:  # window order, whatever order the workers finished in
                wrows, wrecs, wkinds = done[w.index]
                rows += wrows
                for j, r in enumerate(wrecs):
                    recs[j] += r
                    ES.merge_kind_counts(kinds[j], wkinds[j])
            timing[key] = time.perf_counter() - t0
    timing["workers"] = workers
    return rows, recs, kinds, rotations


def _rtl_window(coding: str, T: int, K: int) -> dict:
    """The RTL parameters of a spiking lane array for window T at K inputs (neurosim rtl --t)."""
    from neurosim.rtl.params import make_config

    c = make_config("spike", coding=coding, t=T, k=K)
    return {"t": T, "k": K, "acc_w": c.acc_w, "levels": levels(coding, T)}


def _summarize(cfg, wins, rows, recs, counts, ckpt, model_dir, base, calib, texts, rotations) -> dict:
    n = len(wins)
    rng = np.random.default_rng([cfg.seed, 1])
    res = rng.integers(0, n, size=(cfg.bootstrap, n))
    gid, draws = ES.cluster_resamples([w.source for w in wins], cfg.bootstrap, np.random.default_rng([cfg.seed, 2]))
    tokens = sum(len(w.ids) for w in wins)
    by = {q.label: [r for r in rows if r["setting"] == q.label] for q in cfg.settings}
    first = np.array([r["dnll"] for r in by[cfg.settings[0].label]])
    out_settings = []
    for j, q in enumerate(cfg.settings):
        rs = by[q.label]
        d = np.array([r["dnll"] for r in rs])
        kl = np.array([r["kl"] for r in rs])
        t1 = np.array([r["top1"] for r in rs])
        nfp = np.array([r["nll_fp"] for r in rs])
        nq = np.array([r["nll_quant"] for r in rs])
        lo, hi = ES.bootstrap_mean_ci(d, res)
        vs = ES.bootstrap_mean_ci(d - first, res) if j else (0.0, 0.0)
        plays = ES.bootstrap_ratio_ci(d, gid, draws)
        vs_plays = ES.bootstrap_ratio_ci(d - first, gid, draws) if j else (0.0, 0.0)
        tot = ES.totals(recs[j])
        tot["sparsity_common"], tot["T_common"] = ES.common_sparsity(tot, q.coding)
        kinds = {}
        for r in recs[j]:
            kinds.setdefault(r["kind"], []).append(r)
        per_kind = {k: {x: ES.totals(v)[x] for x in ("sparsity_fixed", "spikes_per_activation", "zero_fraction", "T_fixed")}
                    for k, v in kinds.items()}
        win_params = []
        for pat, T in q.window_for.items():
            ks = sorted({r["in_features"] for r in recs[j] if name_matches(pat, r["name"])})
            win_params.append({"pattern": pat, **_rtl_window(q.coding, T, max(ks)),
                               "projections": len({r["name"] for r in recs[j] if name_matches(pat, r["name"])})})
        qd = asdict(q)
        out_settings.append({
            "label": q.label,
            "quantizer": qd,
            "windows": n,
            "tokens_scored": int(sum(r["tokens_scored"] for r in rs)),
            "nll_fp": float(nfp.mean()),
            "nll_quant": float(nq.mean()),
            "dnll": float(d.mean()),
            "dnll_ci": [lo, hi],
            "ppl_fp": float(np.exp(nfp.mean())),
            "ppl_quant": float(np.exp(nq.mean())),
            "ppl_change": float(np.expm1(d.mean())),
            "ppl_change_ci": [float(np.expm1(lo)), float(np.expm1(hi))],
            "dnll_ci_plays": None if plays is None else list(plays),
            "ppl_change_ci_plays": None if plays is None else [float(np.expm1(x)) for x in plays],
            "dnll_vs_first": float((d - first).mean()),
            "dnll_vs_first_ci": list(vs),
            "dnll_vs_first_ci_plays": None if vs_plays is None else list(vs_plays),
            "mean_kl": float(kl.mean()),
            "mean_kl_ci": list(ES.bootstrap_mean_ci(kl, res)),
            "top1_agreement": float(t1.mean()),
            "top1_agreement_ci": list(ES.bootstrap_mean_ci(t1, res)),
            "totals": tot,
            "mac_weighted_spikes_per_activation": tot["mac_weighted_spikes_per_activation"],
            "per_projection_kind": per_kind,
            "energy_counts": ES.energy_counts(counts[j], tokens, q.coding),
            "windows_for": win_params,
            "rotation": rotations[j],
        })
    smooth_info = {}
    if calib:
        from neurosim.run.smooth import unsmoothable

        smooth_info = {"calibration": [{"source": src, "tokens": int(len(ids))} for src, ids in calib.values()],
                       "unsmoothable": unsmoothable(base)}
    return {
        "schema_version": 1,
        "neurosim_version": __version__,
        "model": {"path": str(model_dir), "model_type": ckpt.model_type, "n_layers": base.n_layers},
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("out", "settings", "workers")},
        "corpus": corpus_record(cfg.corpus, texts),
        "selection": [{"window": w.index, "source": w.source, "offset": w.offset, "tokens": int(len(w.ids))}
                      for w in wins],
        "ci": {"level": ES.CI_LEVEL, "method": "percentile bootstrap over windows", "resamples": cfg.bootstrap,
               "plays": {"method": "cluster bootstrap: the source texts (plays) resampled with their windows",
                         "groups": int(draws.shape[1])}},
        "smoothing": smooth_info,
        "settings": out_settings,
    }


# --------------------------------------------------------------------------- outputs
def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def sparsity_cell(s: dict) -> str:
    """Fixed-window sparsity of a setting: its window, or, where the windows differ between
    projections, the mixed figure (each projection counted in its own window) labelled as such,
    beside the figure on the common basis (:func:`neurosim.run.metrics.common_sparsity`)."""
    if s["totals"]["sparsity_fixed"] is None:
        return "n/a (unbounded)"
    return fixed_sparsity_text(s["totals"], s["quantizer"]["coding"])


def _mac_weighted(t: dict) -> float | None:
    return t.get("mac_weighted_spikes_per_activation", t.get("accumulates_per_dense_mac"))


def format_table(result: dict) -> str:
    """The Markdown table of an eval result (also printed)."""
    n = result["settings"][0]["windows"]
    wt = result["config"]["window_tokens"]
    first = result["settings"][0]["label"]
    plays = "ppl_change_ci_plays" in result["settings"][0]
    ci = ES.interval_shown(n)
    few = f"no intervals: {ES.TOO_FEW} (at least {ES.MIN_CI_WINDOWS})"
    lines = [f"{n} windows x {wt} tokens, {result['model']['model_type']}; "
             + (("95% bootstrap intervals over windows"
                 + (", and over plays (cluster bootstrap: each source text resampled with its windows)" if plays else ""))
                if ci else few),
             "",
             "| setting | dNLL (nats/token) [95% CI] | ppl change [95% CI] | "
             + ("ppl change [95% CI over plays] | " if plays else "")
             + f"dNLL vs {first} [paired 95% CI] | mean KL | top-1 agree | sparsity, fixed window T "
             "| spikes/act (MAC-weighted) | tokens |",
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if plays else "")]
    for s in result["settings"]:
        t = s["totals"]
        lo, hi = s["dnll_ci"]
        plo, phi = s["ppl_change_ci"]
        vlo, vhi = s["dnll_vs_first_ci"]
        iv = (lambda a, b, f: f" [{a:{f}}, {b:{f}}]") if ci else (lambda a, b, f: f" ({ES.TOO_FEW})")
        vs = "-" if s is result["settings"][0] else f"{s['dnll_vs_first']:+.4f}" + iv(vlo, vhi, "+.4f")
        cp = s.get("ppl_change_ci_plays")
        pc = (("n/a (one text) | " if cp is None else f"[{cp[0]:+.2%}, {cp[1]:+.2%}] | ") if ci else
              f"({ES.TOO_FEW}) | ") if plays else ""
        mw = _mac_weighted(t)
        lines.append(f"| {s['label']} | {s['dnll']:+.4f}{iv(lo, hi, '+.4f')} | {s['ppl_change']:+.2%}"
                     f"{iv(plo, phi, '+.2%')} | {pc}{vs} | {s['mean_kl']:.4f} | {s['top1_agreement']:.1%} | "
                     f"{sparsity_cell(s)} | {t['spikes_per_activation']:.3f}"
                     + ("" if mw is None else f" ({mw:.3f})") + f" | {s['tokens_scored']:,} |")
    return "\n".join(lines)


def format_kinds(result: dict) -> str:
    """Per projection kind (q_proj, ..., down_proj): fixed-window sparsity (in the kind's own window)
    and spikes per activation of every setting."""
    kinds = list(dict.fromkeys(k for s in result["settings"] for k in s["per_projection_kind"]))
    lines = ["| setting | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for s in result["settings"]:
        cells = []
        for k in kinds:
            v = s["per_projection_kind"].get(k)
            cells.append("-" if v is None else f"{_pct(v['sparsity_fixed'])} / {v['spikes_per_activation']:.2f}")
        lines.append(f"| {s['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(doc: dict, where: str = "") -> str:
    """One sentence on the target (ppl-change interval below +1% at >= 65% fixed-window sparsity, on
    the common basis where windows differ), over the settings that quantize every projection ("" when
    there is none, e.g. a sensitivity sweep); ``where`` names the windows (e.g. held-out)."""
    full = full_settings(doc)
    if not full:
        return ""
    met = set(target_met(doc))
    ok = [s for s in full if s["label"] in met]
    n, wt = doc["settings"][0]["windows"], doc["config"]["window_tokens"]
    at = f"at {n}{where} windows x {wt} tokens" + ("" if n >= 32 and wt >= 512 else " (the full setting is 32 x 512)")
    what = (f"Target (perplexity-change interval below {TARGET_PPL:+.0%} at >= {TARGET_SPARSITY:.0%} "
            "fixed-window sparsity, on the common basis where windows differ)")
    if not ES.interval_shown(n):
        return f"{what} not judged{where}: {ES.TOO_FEW} for an interval ({n}; at least {ES.MIN_CI_WINDOWS})."
    if ok:
        best = min(ok, key=lambda s: s["ppl_change_ci"][1])
        return (f"{what} met {at} by: " + ", ".join(s["label"] for s in ok)
                + f"; best upper bound {best['label']}: {best['ppl_change_ci'][1]:+.2%}.")
    bounded = [s for s in full if (target_sparsity(s) or 0) >= TARGET_SPARSITY]
    best = min(bounded or full, key=lambda s: s["ppl_change_ci"][1])
    return (f"{what} not met {at}; closest: {best['label']}, interval "
            f"[{best['ppl_change_ci'][0]:+.2%}, {best['ppl_change_ci'][1]:+.2%}].")


def confirmation_lines(doc: dict) -> list[str]:
    """The held-out confirmation of a result (``--confirm-seed``): how the settings were chosen, the
    windows, the table and the target's sentence on them ([] when there is none)."""
    c = doc.get("confirmation")
    if not c:
        return []
    on = c["chosen_on"]
    v = verdict(c, " held-out")
    return ["Held-out confirmation: settings chosen on the {} windows of seed {} ({}), scored again on {} windows "
            "drawn with seed {} ({} token positions shared with the selection):".format(
                on["windows"], on["seed"], on["rule"], c["settings"][0]["windows"], c["config"]["seed"],
                on["shared_windows"]), "", format_table(c)] + (["", v] if v else [])


def render_result(doc: dict) -> str:
    """The Markdown of an eval result document (``docs/results/NAME.md``): the accuracy table, the
    per-kind spike table, the longer windows' RTL parameters and the calibration."""
    cmd = doc.get("command")
    v = verdict(doc)
    out = [(f"`{cmd}`: " if cmd else "") + format_table(doc), ""] + ([v, ""] if v else []) + [
           "Sparsity in the fixed window (each kind in its own) / spikes per activation, per projection kind:",
           "", format_kinds(doc)]
    conf = confirmation_lines(doc)
    if conf:
        out += ["", *conf]
    wins = [(s["label"], w) for s in doc["settings"] for w in s["windows_for"]]
    if wins:
        out += ["", "Longer windows (RTL: `neurosim rtl --design spike --t T --k K`; counts up to the levels):", "",
                "| setting | pattern | projections | T | levels | K | ACC_W |", "|---|---|---|---|---|---|---|"]
        out += [f"| {lab} | {w['pattern']} | {w['projections']} | {w['t']} | {w['levels']:,} | {w['k']:,} | {w['acc_w']} |"
                for lab, w in wins]
    sm = doc.get("smoothing") or {}
    if sm.get("calibration"):
        cal = "; ".join(f"{c['tokens']:,} tokens of {c['source']}" for c in sm["calibration"])
        un = ", ".join(sm["unsmoothable"]) or "none"
        out += ["", f"Smoothing calibrated on {cal} (disjoint from the windows); projections that cannot be "
                    f"smoothed offline: {un}."]
    rl = rotation_lines(doc)
    if rl:
        out += ["", *rl]
    rt = doc.get("run_time")
    if rt:
        w = rt.get("workers", 1)
        out += ["", f"Run time {rt['total_s']:,.0f} s on {rt['cpus']} CPU cores"
                    + (f", {w} worker processes" if w > 1 else "") + f" (load average after: {rt['load_after']})."]
    return "\n".join(out) + "\n"


def rotation_lines(doc: dict) -> list[str]:
    """One line per rotated setting: the orthogonal matrix folded into its weights ([] when none is)."""
    return [f"Rotation of {s['label']}: {s['rotation']}, folded offline into the weights (residual stream)."
            for s in doc["settings"] if s.get("rotation")]



def _write(folder, result: dict, rows: list[dict], timing: dict) -> None:
    d = folder.building
    (d / EVAL_MARKER).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    buf = io.StringIO()
    cols = ["setting", "window", "source", "offset", "tokens_scored", "nll_fp", "nll_quant", "dnll", "kl", "top1",
            "spikes_per_activation", "sparsity_fixed"]
    wr = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow({k: (repr(r[k]) if isinstance(r[k], float) else r[k]) for k in cols})
    (d / "windows.csv").write_text(buf.getvalue())
    (d / "eval.md").write_text("# neurosim eval\n\n" + render_result(result))
    (d / "timing.json").write_text(json.dumps(timing, indent=1) + "\n")
    folder.commit()


# --------------------------------------------------------------------------- CLI
def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``neurosim eval`` flags (corpus, windows, quantizer settings, output) to ``p``."""
    from neurosim.core.coding import CODINGS
    from neurosim.core.quant import SCALES
    from neurosim.run.settings import WINDOW_HELP, add_quantizer_arguments

    d, q = EvalConfig(), QuantSetting()
    p.add_argument("--model", help="a known model name (neurosim models) or a checkpoint directory "
                   "(default: the embedded SmolLM2-135M-Instruct)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text-file", nargs="+", help="evaluation text file(s) (default: --corpus shakespeare)")
    p.add_argument("--encoding", help=f"encoding of --text-file and --calib-file (default {d.encoding}; "
                                      "other bytes are refused)")
    src.add_argument("--corpus", choices=("shakespeare", "python-stdlib"),
                     help="bundled corpus: shakespeare (10 plays) or python-stdlib (the running Python's standard "
                          "library sources, one window per file); default shakespeare")
    p.add_argument("--windows", type=int, help=f"number of windows (default {d.windows})")
    p.add_argument("--window-tokens", type=int, help=f"tokens per window (default {d.window_tokens})")
    p.add_argument("--seed", type=int, help=f"window selection and bootstrap seed (default {d.seed})")
    p.add_argument("--confirm-seed", type=int, help="also score the chosen settings (the first, those meeting the "
                   "target and the accuracy/spike frontier) on windows drawn with this seed, none shared with --seed's "
                   "(default: no confirmation)")
    p.add_argument("--bootstrap", type=int, help=f"bootstrap resamples (default {d.bootstrap})")
    p.add_argument("--dtype", choices=("float32", "float64"), help="float dtype of the model (default float32)")
    p.add_argument("--workers", type=int, help="processes scoring windows, one core each (default 1; "
                   "the figures are identical for any number)")
    p.add_argument("--settings", help="YAML file: eval keys and/or 'settings:', a list of quantizer "
                   "settings (default: the one setting of the flags)")
    p.add_argument("--out", required=True, help="output folder (eval.json, windows.csv, eval.md, timing.json)")
    g = p.add_argument_group("quantizer (as in neurosim run; the base of every --settings entry)")
    g.add_argument("--label", help="name of the setting in the tables (default: from its settings)")
    g.add_argument("--mode", choices=("int8", "spike"), help=f"int8 (dense exact) or spike (default {q.mode})")
    g.add_argument("--coding", choices=CODINGS, help=f"spike coding (default {q.coding})")
    g.add_argument("--scale", choices=SCALES, help=f"activation quantizer (default {q.scale})")
    g.add_argument("--k", type=float, help="adaptive threshold divisor (default 3)")
    g.add_argument("--clamp", help="largest |count| or 'none' (adaptive only; default 127)")
    g.add_argument("--window", type=int, help=WINDOW_HELP)
    g.add_argument("--projections", help="comma-separated fnmatch patterns of quantized weight names (default *)")
    g.add_argument("--weight-group", type=int, help="per-group weight scales of G inputs (default per channel)")
    add_quantizer_arguments(g)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _quant_values(raw: dict, where: str) -> dict:
    from neurosim.run.settings import setting_items

    out = {}
    for k, value in setting_items(raw, QUANT_KEYS, where, "quantizer key"):
        out[k] = value
    return out


def _load_settings_file(path) -> tuple[dict, list[dict] | None]:
    from neurosim.run.settings import read_yaml

    p = Path(path)
    data = read_yaml(p, "settings file")
    if isinstance(data, list):
        data = {"settings": data}
    if not isinstance(data, dict):
        raise NeurosimError(f"settings file {p} must be a mapping or a list of settings")
    items = data.pop("settings", None)
    if items is not None and (not isinstance(items, list) or not all(isinstance(x, dict) for x in items)):
        raise NeurosimError(f"'settings' in {p} must be a list of mappings")
    ev_keys = [f.name for f in fields(EvalConfig) if f.name != "settings"]
    top_eval, top_quant = {}, {}
    for key, value in data.items():
        k = str(key).replace("-", "_")
        if k in ev_keys:
            top_eval[k] = value
        else:
            top_quant[key] = value
    top_quant = _quant_values(top_quant, str(p))
    if items is not None:
        items = [{**top_quant, **_quant_values(x, str(p))} for x in items]
    elif top_quant:
        items = [top_quant]
    return top_eval, items


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    ev, items = _load_settings_file(args.settings) if args.settings else ({}, None)
    for f in fields(EvalConfig):
        v = getattr(args, f.name, None)
        if f.name != "settings" and v is not None:
            ev[f.name] = v
    if isinstance(ev.get("text_file"), str):
        ev["text_file"] = [ev["text_file"]]
    flags = {}
    for k in QUANT_KEYS:
        v = getattr(args, k, None)
        if v is not None:
            flags[k] = v
    flags = _quant_values(flags, "the flags")
    entries = items if items is not None else [{}]
    try:
        settings = [QuantSetting(**{**e, **flags}) if items is None else QuantSetting(**{**flags, **e})
                    for e in entries]
        return EvalConfig(**ev, settings=settings).validate()
    except TypeError as exc:
        raise NeurosimError(f"bad settings: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """``neurosim eval``: evaluate every quantizer setting and write ``--out`` (eval.json, eval.md); exit code."""
    cfg = config_from_args(args)
    if not cfg.out:
        raise NeurosimError("--out DIR is required")
    from neurosim.outdir import check_replaceable

    check_replaceable(Path(cfg.out), EVAL_MARKER, "eval")   # before any work
    result = evaluate(cfg, quiet=getattr(args, "quiet", False))
    from neurosim.console import fit

    print(fit("\n".join([format_table(result), *confirmation_lines(result), *rotation_lines(result),
                          f"eval written to {cfg.out} ({result['_timing']['total_s']:.0f} s)"])))
    return 0
