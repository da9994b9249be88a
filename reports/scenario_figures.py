"""Figures of the energy verdict: the tornado over scenario axes and the joint accuracy-energy frontier."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib  # noqa: E402

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = "osD^vP*Xh<>p"


def tornado(section: dict | None, baseline: str = "MAC zero-skipping"):
    """Horizontal bars: how far each axis alone moves the best spiking design's reduction from the
    default scenario's (vertical line), against ``baseline``; None without scenarios."""
    bars = (section or {}).get("tornado", {}).get(baseline)
    if not bars or section is None:
        return None
    base = section["best"][baseline]["default"]
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(bars) + 1.4))
    for i, t in enumerate(reversed(bars)):
        ax.barh(i, max(t["high"] - t["low"], 0.15), left=t["low"], color="#4c72b0", alpha=0.8, height=0.6)
        below = sorted((x, v) for v, x in t["values"].items() if x < base)
        above = sorted(((x, v) for v, x in t["values"].items() if x >= base), reverse=True)
        for group, ha, dx in ((below, "right", -4), (above, "left", 4)):
            if group:
                ax.annotate(", ".join(f"{v} {x:+.1f}" for x, v in group), (group[0][0], i), xytext=(dx, 0),
                            textcoords="offset points", ha=ha, va="center", fontsize=8)
    ax.axvline(base, color="k", lw=1)
    lo_all = min(t["low"] for t in bars)
    hi_all = max(t["high"] for t in bars)
    pad = 0.45 * (hi_all - lo_all + 1)
    ax.set_xlim(lo_all - pad, hi_all + pad)
    ax.axvline(0, color="#c44e52", lw=1, ls="--")
    ax.set_yticks(range(len(bars)), [t["axis"] for t in reversed(bars)], fontsize=10)
    ax.set_xlabel(f"energy reduction of the best spiking design vs {baseline} [%] (> 0: spiking wins)",
                  fontsize=10)
    ax.set_title(f"One axis at a time from the default ({base:+.1f}%)", fontsize=11)
    ax.tick_params(labelsize=9)
    return fig


def frontier(priced: list[dict] | None, baseline: str = "MAC zero-skipping"):
    """Perplexity change (95% interval) of every setting against (left) its energy per token at the
    default scenario for each spiking design and both MAC baselines at the setting's precision, and
    (right) each spiking design's energy reduction against ``baseline``: default scenario (marker) and
    10th-90th percentile over the scenarios (bar). Numbers are the rows of the joint table; None
    without priced settings."""
    if not priced:
        return None
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5.4), sharey=True, gridspec_kw={"width_ratios": [1, 1]})
    cmap = plt.get_cmap("tab10")
    series: dict[str, int] = {}
    for i, s in enumerate(priced):
        if s.get("ppl_change") is None:
            continue
        y = 100 * s["ppl_change"]
        ci = s.get("ppl_change_ci") or [s["ppl_change"]] * 2
        yerr = [[y - 100 * ci[0]], [100 * ci[1] - y]]
        entries = list(s["designs"].items()) + list(s["baselines"].items())
        for name, d in entries:
            k = series.setdefault(name, len(series))
            ax.errorbar([d["default_uj"]], [y], yerr=yerr, fmt=MARKERS[k % len(MARKERS)], color=cmap(k % 10), ms=6,
                        capsize=2, lw=0.8, alpha=0.9, label=name)
        ax.annotate(str(i + 1), (min(d["default_uj"] for _, d in entries), y), xytext=(-8, 0),
                    textcoords="offset points", fontsize=8, ha="right", va="center")
        for name, d in s["designs"].items():
            v = d.get("vs", {}).get(baseline)
            if not v:
                continue
            k = series[name]
            x, lo, hi = v["default"], v.get("p10", v["min"]), v.get("p90", v["max"])
            bx.errorbar([x], [y], xerr=[[max(0.0, x - lo)], [max(0.0, hi - x)]], yerr=yerr,
                        fmt=MARKERS[k % len(MARKERS)], color=cmap(k % 10), ms=6, capsize=2, lw=0.8, alpha=0.9)
        bx.annotate(str(i + 1), (max(v["default"] for d in s["designs"].values()
                                     if (v := d.get("vs", {}).get(baseline))), y),
                    xytext=(8, 0), textcoords="offset points", fontsize=8, va="center")
    for a in (ax, bx):
        a.axhline(1.0, color="#c44e52", ls="--", lw=1)
        a.tick_params(labelsize=9)
    bx.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel("energy per token at the default scenario [uJ]", fontsize=10)
    ax.set_ylabel("perplexity change vs float [%] (95% interval; dashed: +1% bound)", fontsize=10)
    bx.set_xlabel(f"energy saved vs {baseline} [%] (bar: 10th-90th percentile of scenarios)", fontsize=10)
    fig.suptitle("Accuracy against energy: every setting, every design", fontsize=11)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def save(fig, path):
    """Write ``fig`` as a PNG and close it (the report's figure writer)."""
    from .figures import save as save_png
    return save_png(fig, path)


__all__ = ["tornado", "frontier", "save"]
