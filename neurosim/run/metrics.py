"""Metrics of a run: how far a quantized pass is from the float pass, and totals over projection records.

The next-token negative log-likelihood has one owner, :func:`neurosim.model.network.token_nll`;
perplexities here are ``exp(mean NLL)`` of it. Divergences are in nats.
"""

from __future__ import annotations

import numpy as np

from neurosim.core.coding import INT8_WINDOW, WINDOW3
from neurosim.model import log_softmax, perplexity

__all__ = ["kl_divergence", "top1_agreement", "accuracy", "aggregate_totals", "spike_sums", "common_sparsity",
           "mixed_windows", "fixed_sparsity_text"]


def kl_divergence(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """KL(p || q) per position [S] in nats, from logits [S, vocab] (float64 softmax)."""
    lp = log_softmax(p_logits)
    lq = log_softmax(q_logits)
    return (np.exp(lp) * (lp - lq)).sum(axis=-1)


def top1_agreement(a_logits: np.ndarray, b_logits: np.ndarray) -> float:
    """Fraction of positions whose arg-max token is the same in both logits [S, vocab]."""
    return float((a_logits.argmax(-1) == b_logits.argmax(-1)).mean())


def accuracy(fp_logits: np.ndarray, q_logits: np.ndarray, ids) -> dict:
    """The ``accuracy`` block of ``summary.json``: the quantized logits against the float ones.

    Keys: ``positions``, ``top1_agreement`` (fraction), ``mean_kl`` (KL(fp || quant), nats, mean over
    positions) and, with two or more tokens, ``ppl_fp``, ``ppl_quant`` (perplexity of ``ids``) and
    ``ppl_change`` (ppl_quant / ppl_fp - 1).
    """
    out = {
        "positions": int(len(fp_logits)),
        "top1_agreement": top1_agreement(fp_logits, q_logits),
        "mean_kl": float(kl_divergence(fp_logits, q_logits).mean()),
    }
    if len(ids) > 1:
        out["ppl_fp"] = perplexity(fp_logits, ids)
        out["ppl_quant"] = perplexity(q_logits, ids)
        out["ppl_change"] = out["ppl_quant"] / out["ppl_fp"] - 1.0
    return out


def spike_sums(records: list[dict]) -> tuple[int, int, int, int, int]:
    """(activations, spikes, spikes in the data-derived window, cells of the data-derived window,
    cells of the data window rounded up to a multiple of 3 steps) summed over projection records."""
    return (sum(r["activations"] for r in records),
            sum(r["spikes"] for r in records),
            sum(r["spikes_data"] for r in records),
            sum(r["T_data"] * r["activations"] for r in records),
            sum(-(-r["T_data"] // WINDOW3) * WINDOW3 * r["activations"] for r in records))


def aggregate_totals(records: list[dict]) -> dict:
    """Totals over projection records (:class:`neurosim.run.recorder.Recorder`): counts summed,
    sparsities as zero cells over all cells, fractions weighted by activations (or input channels).

    Empty records give ``{}``. ``T_fixed``/``sparsity_fixed`` are set only when every record has a
    fixed window: ``T_fixed`` is that window, or the sorted list of the windows when projections
    use different ones (``window_for``), and ``sparsity_fixed`` is zero cells over all cells.
    """
    if not records:
        return {}
    n, spikes, spikes_data, cells_data, cells_w3 = spike_sums(records)
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
    if len(fixed) == len(records):
        windows = sorted({r["T_fixed"] for r in fixed})
        tot["T_fixed"] = windows[0] if len(windows) == 1 else windows
        tot["sparsity_fixed"] = 1.0 - spikes / sum(r["T_fixed"] * r["activations"] for r in fixed)
    tot["accumulates_per_dense_mac"] = tot["accumulates"] / tot["dense_macs"]
    return tot


def common_sparsity(tot: dict, coding: str) -> tuple[float | None, int]:
    """(sparsity, T) on the common basis: every projection counted with the coding's INT8 window
    (bitwise: 7 cells) per activation, whatever its own window, and the spikes it emits in its own
    window: ``1 - spikes / (T * activations)``. Settings whose windows differ between projections
    (``window_for``) are compared on this basis; their ``sparsity_fixed`` counts each projection's
    own window (a mixed basis). None when the totals have no spikes."""
    T = INT8_WINDOW[coding]
    if not tot or not tot.get("activations"):
        return None, T
    return 1.0 - tot["spikes"] / (T * tot["activations"]), T


def mixed_windows(tot: dict) -> bool:
    """Whether the fixed windows of the totals differ between projections (``T_fixed`` a list)."""
    return isinstance(tot.get("T_fixed"), list)


def fixed_sparsity_text(tot: dict, coding: str) -> str:
    """The fixed-window sparsity of totals as text: ``77.02% (T=7)``, or where the windows differ
    between projections ``67.63% mixed (T=7/11); 61.94% on 7 cells`` (the common basis)."""
    if tot.get("sparsity_fixed") is None:
        return "n/a"
    T = tot["T_fixed"]
    if not mixed_windows(tot):
        return f"{tot['sparsity_fixed']:.2%} (T={T})"
    common, Tc = common_sparsity(tot, coding)
    return f"{tot['sparsity_fixed']:.2%} mixed (T={'/'.join(map(str, T))}); {common:.2%} on {Tc} cells"
