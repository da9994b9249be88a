"""Statistics of ``neurosim eval``: lean per-projection spike records, their totals, per-window
accuracy, bootstrap confidence intervals over windows and over plays (a cluster bootstrap), and the
energy counts (exact histograms of the integer counts per projection kind) the energy model prices.

Spike records hold the same quantities as the trace's projection records (``spike_stats`` of
:mod:`neurosim.core.coding`), computed from the histogram of the integer counts so that a
projection costs one ``bincount``. Totals are zero cells over all cells; with per-projection
windows (``window_for``) the fixed-window sparsity uses each projection's own window.
"""

from __future__ import annotations

import numpy as np

from neurosim import NeurosimError
from neurosim.core.coding import activation_bits, fits, required_steps, spike_counts_per_value
from neurosim.model.network import log_softmax
from neurosim.run.fidelity import count_histogram
from neurosim.run.metrics import common_sparsity, mixed_windows, spike_sums

__all__ = ["count_record", "totals", "window_accuracy", "bootstrap_mean_ci", "CI_LEVEL", "MIN_CI_WINDOWS",
           "TOO_FEW", "interval_shown", "kind_counts", "merge_kind_counts", "energy_counts", "common_sparsity",
           "cluster_resamples", "bootstrap_ratio_ci", "mixed_windows", "projection_kind"]

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
    None when some count does not fit) and in the data-derived window, with the histogram of the
    counts (``values``, ``freq``: int64, occurring values only; :func:`kind_counts` takes them out)."""
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
        "values": vals,
        "freq": freq,
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
    cells = sum(r["T_fixed"] * r["activations"] for r in records) if fixed_ok else None
    return {
        "records": len(records),
        "activations": n,
        "spikes": spikes,
        "events": events,
        "accumulates": acc,
        "dense_macs": macs,
        "accumulates_per_dense_mac": acc / macs if macs else None,
        "mac_weighted_spikes_per_activation": acc / macs if macs else None,
        "clamped": sum(r.get("clamped", 0) for r in records),
        "T_fixed": (windows[0] if len(windows) == 1 else windows) if fixed_ok else None,
        "sparsity_fixed": 1.0 - spikes / cells if cells is not None else None,
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


# --------------------------------------------------------------------------- energy counts
def projection_kind(name: str) -> str:
    """The kind of a projection weight name: its module (``model.layers.3.mlp.down_proj.weight`` ->
    ``down_proj``), with the index of a sequential pair kept (``...lora_q_proj.1.weight`` ->
    ``lora_q_proj.1``)."""
    parts = name.split(".")
    if parts[-1] == "weight":
        parts = parts[:-1]
    return ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]


def kind_counts(records: list[dict]) -> dict:
    """Per projection kind, what the energy model needs from ``records`` (taking their ``values`` /
    ``freq`` out): ``{kind: {in_features, out_features, names (set), rows, window, lo, freq}}`` where
    ``freq[i]`` counts the activations equal to ``lo + i`` (a dense int64 histogram)."""
    out: dict = {}
    for r in records:
        vals, freq = r.pop("values"), r.pop("freq")
        k = out.get(r["kind"])
        if k is None:
            k = out[r["kind"]] = {"in_features": r["in_features"], "out_features": r.get("out_features"),
                                  "names": set(), "rows": 0, "window": r["T_window"], "lo": 0,
                                  "freq": np.zeros(0, np.int64)}
        for key in ("in_features", "out_features", "window"):
            got = r["T_window"] if key == "window" else r.get(key)
            if got != k[key]:
                raise NeurosimError(f"projections of kind {r['kind']} differ in {key} ({k[key]} and {got}, "
                                    f"{r['name']}); energy counts need one shape and window per kind")
        k["names"].add(r["name"])
        k["rows"] += r["activations"] // r["in_features"]
        _add_histogram(k, vals, freq)
    return out


def _add_histogram(k: dict, vals: np.ndarray, freq: np.ndarray) -> None:
    """Add the sparse histogram (vals, freq) to the dense one of ``k`` (``lo``, ``freq``)."""
    if len(vals) == 0:
        return
    old, old_lo = k["freq"], k["lo"]
    lo = int(vals[0]) if len(old) == 0 else min(old_lo, int(vals[0]))
    hi = int(vals[-1]) if len(old) == 0 else max(old_lo + len(old) - 1, int(vals[-1]))
    dense = np.zeros(hi - lo + 1, np.int64)
    dense[old_lo - lo:old_lo - lo + len(old)] += old
    np.add.at(dense, np.asarray(vals, np.int64) - lo, np.asarray(freq, np.int64))
    k["lo"], k["freq"] = lo, dense


def merge_kind_counts(into: dict, more: dict) -> dict:
    """Add the kind counts ``more`` (of other windows) to ``into`` (integer sums: any order gives the
    same result); returns ``into``."""
    for kind, m in more.items():
        k = into.get(kind)
        if k is None:
            into[kind] = {**m, "names": set(m["names"]), "freq": m["freq"].copy()}
            continue
        for key in ("in_features", "out_features", "window"):
            if m[key] != k[key]:
                raise NeurosimError(f"projections of kind {kind} differ in {key} ({k[key]} and {m[key]}); "
                                    "energy counts need one shape and window per kind")
        k["names"] |= m["names"]
        k["rows"] += m["rows"]
        nz = np.flatnonzero(m["freq"])
        _add_histogram(k, nz + m["lo"], m["freq"][nz])
    return into


def energy_counts(kinds: dict, tokens: int, coding: str) -> dict:
    """The ``energy_counts`` of a setting in eval.json: ``tokens`` (token positions run through the
    model) and per kind its shape (in/out features), ``projections`` (how many were counted),
    ``rows`` (token rows over those projections and windows), the window T and its coding, the
    activation width a MAC needs for it (:func:`neurosim.core.coding.activation_bits`) and the exact
    histogram of the counts fed to the spike coder (``values`` ascending, ``freq``: ints)."""
    out = {}
    for kind in sorted(kinds):
        k = kinds[kind]
        nz = np.flatnonzero(k["freq"])
        out[kind] = {"in_features": int(k["in_features"]), "out_features": int(k["out_features"]),
                     "projections": len(k["names"]), "rows": int(k["rows"]), "window": int(k["window"]),
                     "coding": coding, "activation_bits": activation_bits(coding, k["window"]),
                     "values": [int(v) for v in nz + k["lo"]], "freq": [int(f) for f in k["freq"][nz]]}
    return {"tokens": int(tokens), "kinds": out}


# --------------------------------------------------------------------------- intervals over plays
def cluster_resamples(groups: list, n_resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(group index of each value [n], int [B, G] bootstrap draws of the G distinct groups with
    replacement): the resamples of a cluster bootstrap (windows of one play stay together)."""
    keys = sorted(set(groups))
    index = {g: i for i, g in enumerate(keys)}
    gid = np.array([index[g] for g in groups], dtype=np.intp)
    return gid, rng.integers(0, len(keys), size=(n_resamples, len(keys)))


def bootstrap_ratio_ci(values: np.ndarray, gid: np.ndarray, draws: np.ndarray) -> tuple[float, float] | None:
    """Percentile 95% interval of the mean of ``values`` [n] over windows when whole groups (plays)
    are resampled (``gid``, ``draws`` of :func:`cluster_resamples`): each resample's mean is its
    drawn groups' sum over their window count. None with fewer than two groups."""
    g = draws.shape[1]
    if g < 2:
        return None
    v = np.asarray(values, dtype=np.float64)
    sums = np.bincount(gid, weights=v, minlength=g)
    counts = np.bincount(gid, minlength=g).astype(np.float64)
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    lo, hi = np.quantile(means, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
    return float(lo), float(hi)
