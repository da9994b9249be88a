"""The eval result document (``eval.json``) from the scored windows: per setting the accuracy with
its bootstrap intervals, the spike totals, the per-kind figures and the energy counts."""

from __future__ import annotations

import numpy as np

from neurosim import __version__
from neurosim.run import evalstats as ES
from neurosim.run.code_corpus import corpus_record
from neurosim.run.eval_score import Prepared, Scored
from neurosim.run.eval_settings import EvalConfig, QuantSetting
from neurosim.run.fidelity import name_matches, window_levels
from neurosim.run.windows import source_noun

__all__ = ["summarize"]


def rtl_window(coding: str, T: int, K: int) -> dict:
    """The RTL parameters of a spiking lane array for window T at K inputs (neurosim rtl --t)."""
    from neurosim.rtl.params import make_config

    c = make_config("spike", coding=coding, t=T, k=K)
    return {"t": T, "k": K, "acc_w": c.acc_w, "levels": window_levels(coding, T)}


def _window_params(q: QuantSetting, recs: list[dict]) -> list[dict]:
    """The RTL parameters of every ``window_for`` pattern of ``q`` at its widest projection."""
    out = []
    for pat, T in q.window_for.items():
        ks = sorted({r["in_features"] for r in recs if name_matches(pat, r["name"])})
        out.append({"pattern": pat, **rtl_window(q.coding, T, max(ks)),
                    "projections": len({r["name"] for r in recs if name_matches(pat, r["name"])})})
    return out


def _per_kind(recs: list[dict]) -> dict:
    """Projection kind -> its fixed-window sparsity, spikes per activation, zero fraction and window."""
    kinds: dict[str, list[dict]] = {}
    for r in recs:
        kinds.setdefault(r["kind"], []).append(r)
    return {k: {x: ES.totals(v)[x] for x in ("sparsity_fixed", "spikes_per_activation", "zero_fraction", "T_fixed")}
            for k, v in kinds.items()}


def _setting(cfg: EvalConfig, j: int, rs: list[dict], first: np.ndarray, resamples, plays_draws, recs: list[dict],
             counts: dict, tokens: int, rotation) -> dict:
    """The summary of setting ``j`` from its window rows ``rs`` (``first``: the first setting's dNLL per
    window; ``resamples``: bootstrap window draws; ``plays_draws``: (group ids, cluster draws))."""
    from dataclasses import asdict

    q = cfg.settings[j]
    gid, draws = plays_draws
    d = np.array([r["dnll"] for r in rs])
    kl = np.array([r["kl"] for r in rs])
    t1 = np.array([r["top1"] for r in rs])
    nfp = np.array([r["nll_fp"] for r in rs])
    nq = np.array([r["nll_quant"] for r in rs])
    lo, hi = ES.bootstrap_mean_ci(d, resamples)
    vs = ES.bootstrap_mean_ci(d - first, resamples) if j else (0.0, 0.0)
    plays = ES.bootstrap_ratio_ci(d, gid, draws)
    vs_plays = ES.bootstrap_ratio_ci(d - first, gid, draws) if j else (0.0, 0.0)
    tot = ES.totals(recs)
    tot["sparsity_common"], tot["T_common"] = ES.common_sparsity(tot, q.coding)
    return {
        "label": q.label,
        "quantizer": asdict(q),
        "windows": len(rs),
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
        "mean_kl_ci": list(ES.bootstrap_mean_ci(kl, resamples)),
        "top1_agreement": float(t1.mean()),
        "top1_agreement_ci": list(ES.bootstrap_mean_ci(t1, resamples)),
        "totals": tot,
        "mac_weighted_spikes_per_activation": tot["mac_weighted_spikes_per_activation"],
        "per_projection_kind": _per_kind(recs),
        "energy_counts": ES.energy_counts(counts, tokens, q.coding),
        "windows_for": _window_params(q, recs),
        "rotation": rotation,
    }


def summarize(cfg: EvalConfig, prep: Prepared, wins: list, scored: Scored) -> dict:
    """The result document of ``cfg`` scored on ``wins`` (the windows of ``prep`` or held-out ones)."""
    from dataclasses import asdict

    n = len(wins)
    res = np.random.default_rng([cfg.seed, 1]).integers(0, n, size=(cfg.bootstrap, n))
    gid, draws = ES.cluster_resamples([w.source for w in wins], cfg.bootstrap, np.random.default_rng([cfg.seed, 2]))
    tokens = sum(len(w.ids) for w in wins)
    by = {q.label: [r for r in scored.rows if r["setting"] == q.label] for q in cfg.settings}
    first = np.array([r["dnll"] for r in by[cfg.settings[0].label]])
    out_settings = [_setting(cfg, j, by[q.label], first, res, (gid, draws), scored.records[j], scored.kinds[j],
                             tokens, scored.rotations[j]) for j, q in enumerate(cfg.settings)]
    smooth_info = {}
    if prep.calib:
        from neurosim.run.smooth import unsmoothable

        smooth_info = {"calibration": [{"source": src, "tokens": int(len(ids))} for src, ids in prep.calib.values()],
                       "unsmoothable": unsmoothable(prep.base)}
    return {
        "schema_version": 1,
        "neurosim_version": __version__,
        "model": {"path": str(prep.model_dir), "model_type": prep.ckpt.model_type, "n_layers": prep.base.n_layers},
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("out", "settings", "workers")},
        "corpus": corpus_record(cfg.corpus, prep.texts),
        "selection": [{"window": w.index, "source": w.source, "offset": w.offset, "tokens": int(len(w.ids))}
                      for w in wins],
        "ci": {"level": ES.CI_LEVEL, "method": "percentile bootstrap over windows", "resamples": cfg.bootstrap,
               "plays": {"method": f"cluster bootstrap: the source texts ({source_noun(vars(cfg))}) resampled "
                                   "with their windows",
                         "groups": int(draws.shape[1])}},
        "smoothing": smooth_info,
        "settings": out_settings,
    }
