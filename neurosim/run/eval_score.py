"""Scoring eval windows: the inputs checked and loaded before any work (:func:`prepare`) and the
models and hooks of every setting (:class:`Scorer`), which score one window at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurosim import NeurosimError
from neurosim.run import evalstats as ES
from neurosim.run.eval_hook import eval_hook, projection_windows
from neurosim.run.eval_settings import EvalConfig, QuantSetting
from neurosim.run.fidelity import projection_kinds

__all__ = ["Prepared", "prepare", "Scorer", "Scored"]


@dataclass
class Prepared:
    """What an eval reads before any work: checkpoint, its folder, the texts, the windows, the float
    model and the calibration ids by (calib_file, calib_tokens)."""

    ckpt: Any  #: neurosim.model.checkpoint.Checkpoint
    model_dir: Any  #: Path
    texts: list
    windows: list
    base: Any  #: neurosim.model.network.Model
    calib: dict
    excluded: set = field(default_factory=set)  #: (source, offset) slots of --exclude-windows


@dataclass
class Scored:
    """The scores of every setting over a set of windows: rows (one per setting and window, window
    order), the spike records and the merged energy counts per setting, the rotation per setting."""

    rows: list[dict]
    records: list[list[dict]]
    kinds: list[dict]
    rotations: list


def rotation_key(q: QuantSetting) -> tuple:
    """The rotation a setting folds in: settings with equal keys share one rotated model."""
    return q.rotate, q.rotate_seed if q.rotate == "random" else 0


def prepare(cfg: EvalConfig) -> Prepared:
    """Load the checkpoint, the texts and the windows, check every setting and the calibration texts
    (all before any work)."""
    from neurosim.model import Model, load_checkpoint, resolve_model
    from neurosim.run import folds as FO
    from neurosim.run.windows import check_disjoint, load_texts, select_windows

    model_dir = resolve_model(cfg.model)
    ckpt = load_checkpoint(model_dir)
    if ckpt.tokenizer is None:
        raise NeurosimError(f"{model_dir} has no tokenizer.json; neurosim eval needs one to read text")
    texts = load_texts(cfg.text_file, cfg.corpus, cfg.encoding)
    exclude: set[tuple[str, int]] = set()
    if cfg.exclude_windows:
        from neurosim.run.confirm import excluded_slots

        exclude = excluded_slots(cfg.exclude_windows, cfg.window_tokens, {src for src, _ in texts})
    wins = select_windows(ckpt.tokenizer, texts, cfg.windows, cfg.window_tokens, cfg.seed, exclude=exclude,
                          one_per_text=cfg.corpus == "python-stdlib")
    base = Model(ckpt, dtype=np.dtype(cfg.dtype).type)
    base.keep_weights = base.weights_fit()   # float weights kept for small models only (re-read otherwise)
    for q in cfg.settings:
        FO.check_setting(q, base)
        check_kind_windows(q, base)
    calib = {}
    for q in cfg.settings:
        if q.smooth is not None:
            key = (q.calib_file, q.calib_tokens)
            if key not in calib:
                src, ids = FO.calibration_ids(q.calib_file, q.calib_tokens, ckpt.tokenizer, cfg.encoding)
                check_disjoint(ids, wins, src)
                calib[key] = (src, ids)
    return Prepared(ckpt, model_dir, texts, wins, base, calib, exclude)


def check_kind_windows(q: QuantSetting, base) -> None:
    """One-line error when projections of one kind get different windows (a ``window_for`` pattern
    that names only some layers): the energy counts hold one window per kind."""
    seen: dict = {}
    for nm, T in projection_windows(q, projection_kinds(base)).items():
        kind = ES.projection_kind(nm)
        if seen.setdefault(kind, T) != T:
            raise NeurosimError(f"setting {q.label!r}: {kind} projections get windows T={seen[kind]} and "
                                f"T={T}; give every projection of a kind the same window")


class Scorer:
    """The float model and every setting's (rotated / smoothed) model and hook, built from ``cfg``;
    deterministic (BLAS pinned to one thread), so every worker process builds the same ones.
    ``timing``: seconds of the rotations and the smoothing calibration."""

    def __init__(self, cfg: EvalConfig, base, calib: dict):
        import time

        from neurosim.run import folds as FO
        from neurosim.run import smooth as SM

        self.cfg, self.base = cfg, base
        kinds = projection_kinds(base)
        self.timing = {}
        t0 = time.perf_counter()
        rotated = {}  # (rotate, seed) -> (rotated float model, construction)
        for q in cfg.settings:
            rk = rotation_key(q)
            if q.rotate != "none" and rk not in rotated:
                rotated[rk] = FO.rotated_model(base, q.rotate, q.rotate_seed)
        self.timing["rotation_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        amax = {}
        for q in cfg.settings:
            rk = rotation_key(q)
            key = (q.calib_file, q.calib_tokens, rk)
            if q.smooth is not None and key not in amax:
                src, ids = calib[key[:2]]
                amax[key] = SM.calibrate(rotated[rk][0] if rk in rotated else base,
                                         FO.calibration_chunks(ids, cfg.window_tokens))
        self.models, self.hooks, self.rotations = [], [], []
        for q in cfg.settings:
            rk = rotation_key(q)
            m, what = rotated.get(rk, (base, None))
            h = eval_hook(q, kinds, keep_weights=base.keep_weights)   # (not for models too large)
            if q.smooth is not None:
                # once the hook holds a quantized smoothed weight it ignores the float one
                m = FO.smoothed_model(m, amax[(q.calib_file, q.calib_tokens, rk)], q.smooth, cached=h.holds)
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
                bar.set_postfix_str(str(q.label)[:40])
            logits = m.forward(w.ids, linear=h)
            acc = ES.window_accuracy(lp, logits, w.ids)
            records = list(h.records.values())   # call order
            h.records = {}
            kinds.append(ES.kind_counts(records))
            tot = ES.totals(records)
            for r in records:
                r["window"] = w.index
            recs.append(records)
            rows.append({"setting": q.label, "window": w.index, "source": w.source, "offset": w.offset,
                         **acc, "spikes_per_activation": tot["spikes_per_activation"],
                         "sparsity_fixed": tot["sparsity_fixed"]})
        return rows, recs, kinds
