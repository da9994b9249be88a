"""Statistics of ``neurosim eval``: lean per-projection spike records, their totals, per-window
accuracy and bootstrap confidence intervals over windows.

Spike records hold the same quantities as the trace's projection records (``spike_stats`` of
:mod:`neurosim.core.coding`), computed from the histogram of the integer counts so that a
projection costs one ``bincount``. Totals are zero cells over all cells; with per-projection
windows (``window_for``) the fixed-window sparsity uses each projection's own window.
"""

from __future__ import annotations

import numpy as np

from neurosim.core.coding import fits, required_steps, spike_counts_per_value
from neurosim.model.network import log_softmax
from neurosim.run.fidelity import count_histogram
from neurosim.run.metrics import spike_sums

__all__ = ["count_record", "totals", "window_accuracy", "bootstrap_mean_ci", "CI_LEVEL", "MIN_CI_WINDOWS",
           "TOO_FEW", "interval_shown"]

CI_LEVEL = 0.95
#: fewest windows whose bootstrap interval is printed: below it the percentile bootstrap of a mean
#: has too few distinct resamples to mean anything (one window gives a zero-width interval)
MIN_CI_WINDOWS = 8
#: what the tables say in place of an interval over fewer windows
TOO_FEW = "too few windows"


def interval_shown(windows: int) -> bool:
    """Whether an interval over ``windows`` windows is printed (at least :data:`MIN_CI_WINDOWS`)."""
    return windows >= MIN_CI_WINDOWS


def count_record(c: np.ndarray, coding: str, T_fixed: int) -> dict:
    """Spike statistics of counts ``c`` [tokens, in] in a fixed window ``T_fixed`` (recorded as
    None when some count does not fit) and in the data-derived window."""
    vals, freq = count_histogram(c)
    t_data = required_steps(vals, coding)
    t_fix = T_fixed if bool(fits(vals, coding, T_fixed).all()) else None
    t_use = t_fix if t_fix is not None else t_data
    spikes = int((spike_counts_per_value(vals, coding, t_use) * freq).sum())
    spikes_data = (int((spike_counts_per_value(vals, coding, t_data) * freq).sum())
                   if coding == "bitwise_2c" else spikes)
    n = int(c.size)
    return {
        "activations": n,
        "in_features": int(c.shape[-1]),
        "T_fixed": t_fix,
        "T_data": t_data,
        "spikes": spikes,
        "spikes_data": spikes_data,
        "zeros": int(freq[vals == 0].sum()),
        "silent_channels": int((~(c != 0).any(axis=0)).sum()),
        "events": spikes,
    }


def totals(records: list[dict]) -> dict:
    """Totals over records (each may add ``out_features``, ``clamped``, ``T_window``)."""
    if not records:
        return {}
    n, spikes, spikes_data, cells_data, cells_w3 = spike_sums(records)
    windows = sorted({r["T_fixed"] for r in records if r["T_fixed"] is not None})
    fixed_ok = all(r["T_fixed"] is not None for r in records)
    events = sum(r["events"] for r in records)
    acc = sum(r["events"] * r.get("out_features", 0) for r in records)
    macs = sum(r["activations"] * r.get("out_features", 0) for r in records)
    return {
        "records": len(records),
        "activations": n,
        "spikes": spikes,
        "events": events,
        "accumulates": acc,
        "dense_macs": macs,
        "accumulates_per_dense_mac": acc / macs if macs else None,
        "clamped": sum(r.get("clamped", 0) for r in records),
        "T_fixed": (windows[0] if len(windows) == 1 else windows) if fixed_ok else None,
        "sparsity_fixed": 1.0 - spikes / sum(r["T_fixed"] * r["activations"] for r in records) if fixed_ok else None,
        "sparsity_data": 1.0 - spikes_data / cells_data,
        "sparsity_window3": 1.0 - spikes_data / cells_w3,
        "spikes_per_activation": spikes / n,
        "zero_fraction": sum(r["zeros"] for r in records) / n,
        "silent_channel_fraction": sum(r["silent_channels"] for r in records) / sum(r["in_features"] for r in records),
    }


def window_accuracy(lp_fp: np.ndarray, logits_q: np.ndarray, ids: np.ndarray, rows: int = 128) -> dict:
    """Accuracy of one window: ``lp_fp`` float64 log-softmax of the float logits [S, V], the
    quantized logits [S, V], token ids [S]. NLL (nats/token) over the S-1 next-token predictions;
    KL(fp || quantized) and top-1 agreement over all S positions. Computed in row blocks."""
    s = len(ids)
    kl = np.empty(s)
    agree = np.empty(s, dtype=bool)
    nll_q = np.empty(s - 1)
    for a in range(0, s, rows):
        b = min(s, a + rows)
        lq = log_softmax(logits_q[a:b])
        lp = lp_fp[a:b]
        kl[a:b] = (np.exp(lp) * (lp - lq)).sum(axis=-1)
        agree[a:b] = lp.argmax(-1) == lq.argmax(-1)
        t = np.arange(a, min(b, s - 1))
        nll_q[t] = -lq[t - a, ids[t + 1]]
    nll_fp = -lp_fp[np.arange(s - 1), ids[1:]]
    return {
        "tokens_scored": int(s - 1),
        "nll_fp": float(nll_fp.mean()),
        "nll_quant": float(nll_q.mean()),
        "dnll": float((nll_q - nll_fp).mean()),
        "kl": float(kl.mean()),
        "top1": float(agree.mean()),
    }


def bootstrap_mean_ci(values: np.ndarray, resamples: np.ndarray) -> tuple[float, float]:
    """Percentile 95% interval of the mean of ``values`` [n] over bootstrap ``resamples``
    (int [B, n] indices, shared by every setting so intervals of differences are paired)."""
    v = np.asarray(values, dtype=np.float64)
    means = v[resamples].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
    return float(lo), float(hi)
