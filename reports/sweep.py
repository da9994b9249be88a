"""`neurosim report --sweep DIR`: the Pareto view of a sweep's results table.

Frontiers a designer reads, each with its Pareto-optimal points marked and the paper's claims
(:mod:`neurosim.paper`) drawn where they apply:

- accuracy (top-1 agreement with the float model) vs energy (pJ per MAC-equivalent of the spiking
  array from ``neurosim hw``; an energy per token column is preferred when the table has one);
- area (um^2 of the spiking array) vs energy, with the INT8 MAC baseline of the same points;
- sparsity (fixed-window spike sparsity) vs accuracy, with the paper's 64.31% sparsity;
- area reduction vs power reduction against the MAC baseline, with the paper's claims.

Every plotted number is a column of ``DIR/results.parquet``. Writes ``sweep.md``, ``sweep.html``
(self-contained), ``sweep.json`` and ``figures/*.png`` atomically (:class:`neurosim.outdir.OutputFolder`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from neurosim import NeurosimError, __version__
from neurosim.outdir import OutputFolder
from neurosim.paper import PAPER, PAPER_SOURCE
from neurosim.sweep import pareto_mask, read_table

from .document import Document, to_html, to_markdown

os.environ.setdefault("MPLBACKEND", "Agg")

MARKER = "sweep.md"


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def energy_column(rows: list[dict]) -> tuple[str | None, str]:
    """The energy figure to plot: the spiking design's energy per token from ``neurosim energy``
    when the table has it, else the hardware flow's energy per MAC-equivalent of the spiking array."""
    cols = {k for r in rows for k, v in r.items() if _num(v) is not None}
    if "energy_per_token_spike_pj" in cols:
        return "energy_per_token_spike_pj", "energy per token of the spiking design, with memory [pJ]"
    if "energy_per_mac_eq_spike_pj" in cols:
        return "energy_per_mac_eq_spike_pj", "energy per MAC-equivalent of the spiking array [pJ]"
    return None, "energy"


def pick(rows: list[dict], *names: str) -> str:
    """The first of ``names`` that some row has a number for (else the first)."""
    for n in names:
        if any(_num(r.get(n)) is not None for r in rows):
            return n
    return names[0]


def _varying(rows: list[dict]) -> list[str]:
    keys = sorted({k for r in rows for k in r if k.split(".", 1)[0] in ("run", "hw", "eval", "energy") and "." in k})
    return [k for k in keys if len({json.dumps(r.get(k), default=str) for r in rows}) > 1]


def _label(r: dict, varying: dict) -> str:
    parts = [f"{k}={r.get(k)}" for k in varying.get(r.get("study"), []) if r.get(k) is not None]
    return f"{r['study']}#{r['point']}" + (f" ({', '.join(parts)})" if parts else "")


def frontier(rows, x, y, min_x, min_y) -> tuple[list[dict], list[bool]]:
    """The rows with both figures, and which of them are Pareto-optimal."""
    have = [r for r in rows if _num(r.get(x)) is not None and _num(r.get(y)) is not None]
    return have, pareto_mask([r[x] for r in have], [r[y] for r in have], min_x, min_y)


def _plot(have, mask, x, y, xlabel, ylabel, title, varying, extra=None):
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    xs, ys = [r[x] for r in have], [r[y] for r in have]
    ax.scatter([a for a, m in zip(xs, mask) if not m], [b for b, m in zip(ys, mask) if not m],
               c="#9aa7b8", label="point", zorder=2)
    opt = sorted((a, b) for a, b, m in zip(xs, ys, mask) if m)
    ax.scatter([a for a, _ in opt], [b for _, b in opt], c="#d1495b", marker="D", label="Pareto-optimal", zorder=3)
    if len(opt) > 1:
        ax.plot([a for a, _ in opt], [b for _, b in opt], c="#d1495b", lw=1, zorder=1)
    for r, a, b, m in zip(have, xs, ys, mask):
        if m:
            ax.annotate(f"{r['study']}#{r['point']}", (a, b), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if extra:
        extra(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def build_sweep_report(sweep_dir, out, progress: bool = True) -> dict:
    """Write the Pareto report of ``sweep_dir`` into ``out``; returns its ``sweep.json`` document."""
    rows = read_table(sweep_dir)
    if not rows:
        raise NeurosimError(f"{sweep_dir} has no finished points yet")
    ok = [r for r in rows if r.get("status") == "ok"]
    varying = {s: _varying([r for r in rows if r.get("study") == s]) for s in {r.get("study") for r in rows}}
    ecol, elabel = energy_column(ok)
    acc = pick(ok, "eval_top1_agreement", "top1_agreement")
    spa = pick(ok, "sparsity_fixed", "eval_sparsity_fixed")
    doc = Document("neurosim sweep: design-space frontiers")
    doc.p(f"Sweep `{Path(sweep_dir)}`: {len(rows)} points, {len(ok)} finished, {len(rows) - len(ok)} with an "
          f"error. Every number is a column of `results.parquet`; a point is Pareto-optimal when no other "
          f"point is at least as good in both figures and better in one.")
    doc.h(2, "The paper's claims")
    doc.table(["claim", "paper"], [["spike sparsity", f"{PAPER['sparsity_pct']}%"],
                                   ["accuracy loss", f"{PAPER['accuracy_loss_pct']}%"],
                                   ["area reduction", f"{PAPER['area_reduction_pct']}%"],
                                   ["power reduction @ 500 MHz", f"{PAPER['power_reduction_500mhz_pct']}%"],
                                   ["power reduction @ other clock", f"{PAPER['power_reduction_other_pct']}%"]])
    doc.p(f"Source: {PAPER_SOURCE}. The paper's accuracy loss is on benchmarks of SpB2.0; the sweep's "
          f"accuracy is the top-1 agreement of the quantized model with the float model on the run's "
          f"tokens (with its 95% Wilson interval in the table), so the two are not the same measure.")

    def paper_sparsity(ax):
        ax.axvline(PAPER["sparsity_pct"] / 100, color="#2e86ab", ls="--", lw=1,
                   label=f"paper sparsity {PAPER['sparsity_pct']}%")

    def paper_reductions(ax):
        ax.scatter([PAPER["area_reduction_pct"]] * 2,
                   [PAPER["power_reduction_500mhz_pct"], PAPER["power_reduction_other_pct"]],
                   marker="*", s=140, c="#2e86ab", label="paper (500 MHz, other clock)", zorder=4)

    def mac_baseline(have):
        def f(ax):
            pts = [(r["area_mac_um2"], r["energy_per_mac_eq_mac_pj"]) for r in have
                   if _num(r.get("area_mac_um2")) is not None and _num(r.get("energy_per_mac_eq_mac_pj")) is not None]
            if pts:
                ax.scatter([a for a, _ in pts], [b for _, b in pts], marker="x", c="#555555",
                           label="INT8 MAC baseline of the same point")
        return f

    fronts = [
        ("accuracy_energy", "Accuracy vs energy", ecol, acc, True, False,
         elabel, "top-1 agreement with the float model", None),
        ("area_energy", "Area vs energy", "area_spike_um2", ecol, True, True,
         "area of the spiking array [um^2]", elabel, "mac"),
        ("sparsity_accuracy", "Sparsity vs accuracy", spa, acc, False, False,
         "spike sparsity (fixed window)", "top-1 agreement with the float model", paper_sparsity),
        ("reductions", "Area reduction vs power reduction (spiking array vs INT8 MAC)", "area_reduction_pct",
         "power_reduction_pct", False, False, "area reduction [%]", "power reduction, equal clock, busy [%]",
         paper_reductions),
    ]
    figs: dict = {}
    meta_fronts: dict = {}
    for name, title, x, y, min_x, min_y, xl, yl, extra in fronts:
        doc.h(2, title)
        have, mask = frontier(ok, x, y, min_x, min_y) if x and y else ([], [])
        if not have:
            doc.p(f"No finished point has both the {xl} and the {yl}" + (" (a study with a `hw` stage gives energy "
                  "and area)" if "energy" in f"{x}{y}" or "area" in f"{x}{y}" else "") + ".")
            meta_fronts[name] = {"x": x, "y": y, "points": 0, "pareto": []}
            continue
        ex = mac_baseline(have) if extra == "mac" else extra
        figs[name] = (have, mask, x, y, xl, yl, title, ex)
        doc.figure(name, f"{title}: {len(have)} points, {sum(mask)} Pareto-optimal "
                         f"({'lower' if min_x else 'higher'} x and {'lower' if min_y else 'higher'} y are better)")
        best = [r for r, m in zip(have, mask) if m]
        best.sort(key=lambda r: r[x])
        doc.table(["Pareto-optimal point", x, y, "hash"],
                  [[_label(r, varying), f"{r[x]:.6g}", f"{r[y]:.6g}", r["hash"]] for r in best],
                  align="lrrl")
        meta_fronts[name] = {"x": x, "y": y, "points": len(have), "pareto": [r["hash"] for r in best]}
    doc.h(2, "Every point")
    cols = [c for c in (spa, "spikes_per_activation", acc, "mean_kl", "eval_dnll",
                        "area_spike_um2", "slack_spike_ns", ecol) if c and any(_num(r.get(c)) is not None for r in rows)]
    doc.table(["point", "status"] + cols,
              [[_label(r, varying), r["status"] if r["status"] == "ok" else f"error: {r.get('error')}"]
               + [f"{r[c]:.4g}" if _num(r.get(c)) is not None else "-" for c in cols] for r in rows],
              align="ll" + "r" * len(cols))
    meta = {"neurosim_version": __version__, "sweep": str(Path(sweep_dir).resolve()), "points": len(rows),
            "ok": len(ok), "errors": len(rows) - len(ok), "energy_column": ecol, "frontiers": meta_fronts,
            "figures": [f"figures/{n}.png" for n in figs], "paper": PAPER}
    from tqdm import tqdm
    with OutputFolder(out, MARKER, "sweep report") as of:
        fig_dir = of.building / "figures"
        fig_dir.mkdir()
        import matplotlib.pyplot as plt
        for name, args in tqdm(figs.items(), desc="report: figures", disable=None if progress else True, leave=False):
            fig = _plot(*args[:6], args[6], varying, args[7])  # type: ignore[call-arg]  # args: 8 fields
            fig.savefig(fig_dir / f"{name}.png", dpi=110, bbox_inches="tight", metadata={"Software": "neurosim report"})
            plt.close(fig)
        (of.building / "sweep.md").write_text(to_markdown(doc))
        (of.building / "sweep.html").write_text(to_html(doc, fig_dir))
        (of.building / "sweep.json").write_text(json.dumps(meta, indent=1, allow_nan=False) + "\n")
        of.commit()
    return meta


__all__ = ["build_sweep_report", "energy_column", "frontier"]
