"""The report's figures (matplotlib, Agg backend). Each function returns a Figure, or None when
its inputs are absent; :func:`save` writes a PNG. Every plotted number comes from the trace
(``summary.json``, ``stats.npz``, one tile) or from ``hw.json`` (see :mod:`.data`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from neurosim.core.coding import step_weights  # noqa: E402

from .claims import PAPER  # noqa: E402
from .data import (CLASS_ORDER, KIND_COLORS, Trace, freq_keys, is_mlp, kind_label,  # noqa: E402
                   projection_class, sim_label, totals)

DPI = 110
SPARSITY_DEFS = (
    ("sparsity_fixed", "fixed hardware window"),
    ("sparsity_data", "per-tensor data-derived window"),
    ("sparsity_window3", "3-step windows (SpB1.0 method)"),
)


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": "neurosim report"})
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# per-layer aggregates (shared with the tables of build.py)

def layer_parts(trace: Trace) -> list[dict]:
    """Per layer: the attention-block projections and the MLP projections, each aggregated with
    :func:`.data.totals` (the same aggregation as ``neurosim run``)."""
    out = []
    for L in trace.summary["layers"]:
        P = L["projections"]
        attn = [p for p in P if not is_mlp(p["name"])]
        mlp = [p for p in P if is_mlp(p["name"])]
        out.append({"layer": L["layer"], "kind": L["kind"], "all": totals(P) if P else None,
                    "attn": totals(attn) if attn else None, "mlp": totals(mlp) if mlp else None,
                    "n_attn": len(attn), "n_mlp": len(mlp)})
    return out


def class_records(trace: Trace) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in trace.records:
        groups.setdefault(projection_class(r["name"]), []).append(r)
    return {c: groups[c] for c in CLASS_ORDER if c in groups}


def step_labels(coding: str, T: int) -> list[str]:
    """Tick labels of the time steps: the bit weight for bitwise codings."""
    if coding in ("binary", "ternary"):
        return [str(t) for t in range(T)]
    return [f"{w:+d}" if w < 0 else str(w) for w in step_weights(coding, T)]


# --------------------------------------------------------------------------------------------

def sparsity_per_layer(trace: Trace):
    parts = layer_parts(trace)
    tot = trace.summary["totals"]
    defs = [(k, lab) for k, lab in SPARSITY_DEFS if tot.get(k) is not None]
    n = len(parts)
    fig, axes = plt.subplots(len(defs), 1, figsize=(max(8.0, 0.32 * n + 4), 2.9 * len(defs)), sharex=True,
                             squeeze=False)
    x = np.arange(n)
    w = 0.4
    kinds_seen = list(dict.fromkeys(p["kind"] for p in parts if p["attn"] is not None))
    for ax, (key, label) in zip(axes[:, 0], defs):
        ia = [i for i, p in enumerate(parts) if p["attn"] is not None and p["attn"].get(key) is not None]
        im = [i for i, p in enumerate(parts) if p["mlp"] is not None and p["mlp"].get(key) is not None]
        ax.bar(x[ia] - w / 2, [100 * parts[i]["attn"][key] for i in ia], w,
               color=[KIND_COLORS.get(parts[i]["kind"], "#444") for i in ia])
        ax.bar(x[im] + w / 2, [100 * parts[i]["mlp"][key] for i in im], w, color=KIND_COLORS["mlp"], hatch="//",
               edgecolor="white", linewidth=0)
        ax.axhline(PAPER["sparsity_pct"], color="k", ls="--", lw=1)
        ax.axhline(100 * tot[key], color="crimson", ls=":", lw=1.2)
        T = f", T={tot['T_fixed']}" if key == "sparsity_fixed" else ""
        ax.set_title(f"{label}{T}: all projections {100 * tot[key]:.2f}%", fontsize=10)
        ax.set_ylabel("sparsity (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    handles: list = [Patch(color=KIND_COLORS.get(k, "#444"), label=f"{kind_label(k)} layer: attention-block projections")
               for k in kinds_seen]
    handles.append(Patch(facecolor=KIND_COLORS["mlp"], hatch="//", edgecolor="white", label="MLP projections"))
    handles.append(plt.Line2D([], [], color="k", ls="--", label=f"paper {PAPER['sparsity_pct']}%"))
    handles.append(plt.Line2D([], [], color="crimson", ls=":", label="measured, all projections"))
    ax = axes[-1, 0]
    ax.set_xticks(x)
    ax.set_xticklabels([str(p["layer"]) for p in parts], fontsize=8)
    ax.set_xlabel("layer")
    fig.suptitle("Spike sparsity per layer (zeros / cells of the spike trains at the projection inputs)",
                 fontsize=11)
    fig.tight_layout()
    fig.legend(handles=handles, fontsize=8, loc="upper center", ncol=min(3, len(handles)),
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    return fig


def count_histograms(trace: Trace):
    groups = class_records(trace)
    clamp = trace.settings.get("clamp")
    n = len(groups)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.2 * rows), squeeze=False)
    for ax, (cls, recs) in zip(axes.ravel(), groups.items()):
        acc: dict[int, int] = {}
        for r in recs:
            values, freq = trace.histograms[r["name"]]
            for v, f in zip(values.tolist(), freq.tolist()):
                acc[v] = acc.get(v, 0) + f
        vals = np.array(sorted(acc), dtype=np.int64)
        lo, hi = int(vals[0]), int(vals[-1])
        dense = np.zeros(hi - lo + 1)
        dense[vals - lo] = [acc[v] for v in vals.tolist()]
        share = np.where(dense > 0, 100 * dense / dense.sum(), np.nan)   # gaps, not zeros, on a log axis
        ax.stairs(share, np.arange(lo, hi + 2) - 0.5, fill=True, color="#1f78b4")
        ax.set_yscale("log")
        clamped = sum(r["clamped"] for r in recs)
        activations = sum(r["activations"] for r in recs)
        if clamp is not None:
            for c in (-clamp, clamp):
                ax.axvline(c, color="crimson", ls=":", lw=1)
        ax.set_title(f"{cls} ({len(recs)} proj.)\nclamped {clamped:,} of {activations:,} "
                     f"({100 * clamped / activations:.3g}%)", fontsize=9)
        ax.set_xlabel("integer spike count s")
        ax.set_ylabel("share of activations (%)")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    lim = f"; dotted: clamp ±{clamp}" if clamp is not None else ""
    fig.suptitle(f"Integer spike counts per projection class ({trace.settings['scale']} scale{lim})", fontsize=11)
    fig.tight_layout()
    return fig


def firing_per_step(trace: Trace) -> tuple[list[str], dict[str, np.ndarray], np.ndarray, int]:
    """Firing rate per time step, per projection class and overall: sum of ``spikes_per_step`` /
    sum of ``activations``. Trains of different length are aligned at the least significant step
    (bitwise codings) or at the first step (unary codings)."""
    coding = trace.coding
    T = max(len(r["firing_rate"]) for r in trace.records)
    right = coding in ("bitwise", "bitwise_2c")

    def agg(recs):
        s = np.zeros(T)
        for r in recs:
            sp = np.asarray(r["spikes_per_step"], dtype=np.float64)
            if right:
                s[T - len(sp):] += sp
            else:
                s[:len(sp)] += sp
        return s / sum(r["activations"] for r in recs)

    per = {c: agg(recs) for c, recs in class_records(trace).items()}
    return step_labels(coding, T), per, agg(trace.records), T


def firing_rate(trace: Trace):
    labels, per, total, T = firing_per_step(trace)
    fig, ax = plt.subplots(figsize=(min(max(7.0, 0.12 * T + 5), 12.0), 4.2))
    x = np.arange(T)
    ax.bar(x, 100 * total, color="#bbbbbb", label="all projections")
    for cls, rate in per.items():
        ax.plot(x, 100 * rate, marker="o" if T <= 16 else None, ms=3, lw=1.3, label=cls)
    if T <= 16:
        ax.set_xticks(x)
        ax.set_xticklabels(labels)
    bitwise = trace.coding in ("bitwise", "bitwise_2c")
    ax.set_xlabel("time step (bit weight, MSB first)" if bitwise else "time step")
    ax.set_ylabel("firing rate (% of activations spiking)")
    ax.set_title(f"Firing rate per time step ({trace.coding} coding, T={T})", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


RASTER_MAX_K = 512


def raster(trace: Trace):
    tile = trace.tile
    if tile is None:
        return None
    spikes = tile["spikes"]  # [T, M, K]
    T, M, K = spikes.shape
    k = min(K, RASTER_MAX_K)
    cmap = ListedColormap(["#2166ac", "#ffffff", "#b2182b"])
    panel = min(0.28 * T + 0.2, 2.6)   # inches per token row: long unary trains are squeezed
    fig, axes = plt.subplots(M, 1, figsize=(11, panel * M + 1.6), sharex=True, squeeze=False)
    labels = step_labels(tile["coding"], T)
    for m, ax in enumerate(axes[:, 0]):
        ax.imshow(spikes[:, m, :k], aspect="auto", interpolation="nearest", cmap=cmap, vmin=-1, vmax=1)
        if T <= 16:
            ax.set_yticks(range(T))
            ax.set_yticklabels(labels, fontsize=6)
        nz = int(np.count_nonzero(spikes[:, m, :]))
        ax.set_ylabel(f"row {m}\nstep", fontsize=8)
        ax.text(1.005, 0.5, f"{nz} spikes\n/ {T * K} cells", transform=ax.transAxes, fontsize=7, va="center")
    axes[-1, 0].set_xlabel(f"input channel (first {k} of {K})" if k < K else "input channel")
    src = tile["source"].split(":")
    what = src[1] if len(src) > 1 else tile["source"]
    fig.suptitle(f"Spike raster of tile {trace.tile_name}: {what}\n{M} token rows, {tile['coding']} coding, "
                 f"T={T}; red +1, blue -1, white no spike", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------

def energy_model(hw: dict, fk: str) -> dict | None:
    """The per-operation energies of one clock, read from hw.json: pJ per dense INT8 MAC
    (``energy_per_mac_eq_pj/mac``) and pJ per accumulate (one spike event x one weight:
    ``energy_per_cycle_pj/spike_busy`` / lanes)."""
    c = hw["comparison"][fk]
    label = sim_label(c)
    if label is None:
        return None
    r = c[label]
    lanes = hw["settings"]["lanes"]
    return {"label": label, "lanes": lanes, "pj_per_mac": r["energy_per_mac_eq_pj"]["mac"],
            "pj_per_accumulate": r["energy_per_cycle_pj"]["spike_busy"] / lanes,
            "spike_busy_pj": r["energy_per_cycle_pj"]["spike_busy"]}


def energy_freq(hw: dict) -> str | None:
    """The clock of the energy figure: 500 MHz (the paper's point) if simulated and met by both
    designs, else the fastest such clock, else the fastest simulated one."""
    fks = [fk for fk in freq_keys(hw) if sim_label(hw["comparison"][fk])]
    met = [fk for fk in fks if hw["comparison"][fk]["both_meet_timing"]]
    for group in (met, fks):
        if group:
            return "500" if "500" in group else group[-1]
    return None


def work_per_layer(trace: Trace, hw: dict | None):
    parts = layer_parts(trace)
    tokens = trace.summary["tokens"]
    n = len(parts)
    x = np.arange(n)
    dense = np.array([p["all"]["dense_macs"] / tokens if p["all"] else 0 for p in parts]) / 1e6
    accs = np.array([p["all"]["accumulates"] / tokens if p["all"] else 0 for p in parts]) / 1e6
    fk = energy_freq(hw) if hw is not None else None
    em = energy_model(hw, fk) if fk and hw is not None else None
    nrow = 2 if em else 1
    fig, axes = plt.subplots(nrow, 1, figsize=(max(8.0, 0.3 * n + 4), 4.0 * nrow), squeeze=False)
    ax = axes[0, 0]
    w = 0.4
    ax.bar(x - w / 2, dense, w, color="#999999", label="dense INT8 MACs")
    ax.bar(x + w / 2, accs, w, color="#1f78b4", label="spike accumulates (events x out features)")
    ax.set_xlabel("layer")
    ax.set_ylabel("operations per token (millions)")
    ax.set_title("Accumulate events vs dense MACs per layer", fontsize=11)
    ax.set_xticks(x)
    ax.set_xticklabels([str(p["layer"]) for p in parts], fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    if em and hw is not None:
        ax = axes[1, 0]
        e_mac = dense * 1e6 * em["pj_per_mac"] * 1e-6      # pJ -> uJ
        e_spk = accs * 1e6 * em["pj_per_accumulate"] * 1e-6
        ax.bar(x - w / 2, e_mac, w, color="#999999", label=f"INT8 MAC array ({em['pj_per_mac']:.3g} pJ/MAC)")
        ax.bar(x + w / 2, e_spk, w, color="#1f78b4",
               label=f"spiking array ({em['pj_per_accumulate']:.3g} pJ/accumulate)")
        ax.set_xlabel("layer")
        ax.set_ylabel("energy per token (\u00b5J)")
        ax.set_title(f"Estimated energy per token, projection arrays only ({fk} MHz, "
                     f"{hw['settings'].get('library', '')})", fontsize=10)
        ax.set_xticks(x)
        ax.set_xticklabels([str(p["layer"]) for p in parts], fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def _missed(hw: dict, fk: str) -> str:
    if hw["comparison"][fk]["both_meet_timing"]:
        return ""
    who = [name for d, name in (("mac", "MAC"), ("spike", "spiking"))
           if not hw["results"].get(f"{d}@{fk}", {}).get("meets_timing", True)]
    return f"\n({' and '.join(who) or 'a design'} misses timing)"


def area_power(hw: dict | None):
    if hw is None:
        return None
    fks = freq_keys(hw)
    comp = hw["comparison"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.4))
    x = np.arange(len(fks))
    w = 0.36
    mac = np.array([comp[f]["area_mac_um2"] for f in fks]) / 1e6
    spk = np.array([comp[f]["area_spike_um2"] for f in fks]) / 1e6
    a1.bar(x - w / 2, mac, w, color="#999999", label="INT8 MAC array")
    a1.bar(x + w / 2, spk, w, color="#1f78b4", label="spiking array")
    for i, f in enumerate(fks):
        a1.annotate(f"{-comp[f]['area_reduction_pct']:+.1f}%", (x[i] + w / 2, spk[i]), ha="center",
                    va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    a1.set_xticks(x)
    a1.set_xticklabels([f"{f} MHz" + _missed(hw, f) for f in fks])
    a1.set_ylabel("cell area (mm^2)")
    a1.set_title(f"Area, {hw['settings'].get('lanes')} lanes (paper: -{PAPER['area_reduction_pct']}%)", fontsize=10)
    a1.grid(axis="y", alpha=0.3)
    a1.legend(fontsize=8)
    series = (("mac_busy", "INT8 MAC, busy", "#999999"), ("spike_busy", "spiking, busy (1 event/cycle)", "#1f78b4"),
              ("spike_time_stepped_clock_gated", "spiking, time-stepped, clock-gated", "#a6cee3"))
    w3 = 0.26
    sims = []
    for i, f in enumerate(fks):
        label = sim_label(comp[f])
        sims.append(label)
        if label is None:
            a2.text(x[i], 0, "not simulated", ha="center", va="bottom", fontsize=8)
            continue
        pw = comp[f][label]["power_mw"]
        for j, (key, name, color) in enumerate(series):
            a2.bar(x[i] + (j - 1) * w3, pw[key], w3, color=color, label=name)
        red = comp[f][label]["power_reduction_equal_clock_busy_pct"]
        a2.annotate(f"{-red:+.1f}%", (x[i], pw["spike_busy"]), ha="center", va="bottom", fontsize=9,
                    xytext=(0, 2), textcoords="offset points")
    a2.set_xticks(x)
    a2.set_xticklabels([f"{f} MHz\n({s or '-'})" for f, s in zip(fks, sims)])
    a2.set_ylabel("power (mW)")
    a2.set_title(f"Power at equal clock (paper: -{PAPER['power_reduction_500mhz_pct']}% @ 500 MHz, "
                 f"-{PAPER['power_reduction_other_pct']}%)", fontsize=10)
    a2.grid(axis="y", alpha=0.3)
    handles, labels = a2.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    a2.legend(uniq.values(), uniq.keys(), fontsize=8)
    fig.suptitle(f"Spiking array vs INT8 MAC array ({hw['settings'].get('library', '')}, "
                 f"{hw['settings'].get('voltage_v', '')} V)", fontsize=11)
    fig.tight_layout()
    return fig
