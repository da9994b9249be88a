"""The report's system-level energy section: tables, three figures and claims rows from ``energy.json``
(``neurosim energy --out DIR``, schema ``neurosim.energy/1``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim import NeurosimError

from .claims import Claim, fmt_pct, pointer

SCHEMA = "neurosim.energy/1"
NO_ENERGY = "no energy results given"
#: distinct (colour, marker) pairs for lines and points: no two series look alike up to 20
STYLES = [(c, m) for c, m in zip([f"tab:{n}" for n in ("blue", "orange", "green", "red", "purple", "brown",
                                                            "pink", "gray", "olive", "cyan")] * 2,
                                 "osD^v<>pXh" + "*Pd8H1234s")]
COMPONENT_LABELS = {"compute": "compute (lane array)", "weight_sram": "weight SRAM reads",
                    "weight_dram": "weight DRAM + staging", "buffers": "activation / spike buffers",
                    "outputs": "output writes", "leakage": "leakage over the run"}


def load_energy(path) -> tuple[Path, dict]:
    """Read ``energy.json`` (``path`` is the ``neurosim energy --out`` folder or the file)."""
    from neurosim.run.trace import read_json
    p = Path(path)
    f = p / "energy.json" if p.is_dir() else p
    doc = read_json(f, "give the folder written by `neurosim energy --out DIR`")
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("designs"), list):
        raise NeurosimError(f"{f} is not a {SCHEMA} document (re-run `neurosim energy`)")
    return f, doc


def compute_energy(trace_dir, hw_dir) -> dict:
    """Energy with the default memory configuration, from the trace and hw.json."""
    from neurosim.hwmodels.energy import energy_report
    return energy_report(trace_dir, hw_dir)


def _spiking(doc):
    return [(i, d) for i, d in enumerate(doc["designs"]) if "vs" in d]


def energy_claims(doc: dict | None, file: str = "energy.json") -> list[Claim]:
    """Memory-included energy reduction per token of each spiking design against both MAC baselines."""
    if doc is None:
        return [Claim("energy reduction per token, memory included", "not claimed", NO_ENERGY, None, None, None,
                      "pct", "-", "run `neurosim energy --trace OUT --hw HWOUT --out DIR` and pass `--energy DIR`")]
    s = doc["settings"]
    cfg = (f"{s['freq_mhz']:g} MHz, weights in {s['weights'].upper()}"
           + (f" (batch {s['batch']})" if s["weights"] == "dram" else "")
           + f", {s['sram_kb']} KiB banks, memory at {s['node_nm']} nm ({s['sram_model']})")
    rows = []
    for i, d in _spiking(doc):
        for base, v in d["vs"].items():
            ptr = pointer("designs", i, "vs", base, "memory_included_reduction_pct")
            val = v["memory_included_reduction_pct"]
            be = d["break_even"][base]["memory_included"]
            verdict = ("spiking LOSES: it uses more energy per token than the " + base
                       if v["spiking_loses"] else "spiking wins")
            measured = fmt_pct(val) + (" (spiking loses)" if v["spiking_loses"] else "")
            rows.append(Claim(f"energy reduction per token, memory included: {d['name']} vs {base}",
                              "not claimed (paper: compute only)", measured, val, file, ptr, "pct",
                              "1 - whole-model energy per token (compute + weight memory + buffers + leakage) of "
                              f"the spiking design / the {base}; {cfg}",
                              f"{verdict}; break-even at "
                              + ("no spike rate" if be is None else f"{be:.2f} spikes per activation")
                              + f" (trace: {d['spikes_per_activation']:.2f})"))
    return rows


def energy_stacked(doc: dict):
    """Stacked bars per design: energy per token by component [uJ]."""
    import matplotlib.pyplot as plt
    designs = doc["designs"]
    comps = list(COMPONENT_LABELS)
    fig, ax = plt.subplots(figsize=(max(8.5, 0.9 * len(designs) + 3), 4.6))
    x = np.arange(len(designs))
    bottom = np.zeros(len(designs))
    for c in comps:
        v = np.array([d["per_token"]["components_pj"][c] * 1e-6 for d in designs])
        if not v.any():
            continue
        ax.bar(x, v, bottom=bottom, label=COMPONENT_LABELS[c], width=0.6)
        bottom += v
    for xi, tot in zip(x, bottom):
        ax.text(float(xi), tot, f"{tot:,.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [d["name"].replace(", ", ",\n") for d in designs], fontsize=8, rotation=30, ha="right")
    ax.set_ylabel("energy per token [\u00b5J]")
    s = doc["settings"]
    ax.set_title(f"energy per token, {s['freq_mhz']:g} MHz, weights in {s['weights'].upper()}, "
                 f"memory at {s['node_nm']} nm", fontsize=10)
    ax.set_ylim(0, bottom.max() * 1.08 if len(bottom) else 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def energy_per_layer(doc: dict):
    """Energy per token and layer, one line per design [uJ]."""
    import matplotlib.pyplot as plt
    layers = [L["layer"] for L in doc["per_layer"]]
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    for i, d in enumerate(doc["designs"]):
        color, marker = STYLES[i % len(STYLES)]
        v = [L["designs"][d["name"]]["total_pj_per_token"] * 1e-6 for L in doc["per_layer"]]
        ax.plot(layers, v, marker=marker, ms=4, color=color, label=d["name"], ls="-" if "vs" in d else "--")
    ax.set_xlabel("layer")
    ax.set_ylabel("energy per token [\u00b5J]")
    ax.set_title("energy per token and layer (memory included)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def break_even_figure(doc: dict):
    """Per-projection spikes per activation against the break-even thresholds (and Yan et al.'s rate x T)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(10, 5.5))
    yan = (doc.get("scenarios") or {}).get("yan_break_even")
    if yan and yan.get("published_rate") is not None:
        y = yan["published_rate"] * yan["T"]
        ax.axhline(y, color="0.5", ls="--", lw=1,
                   label=f"Yan et al.: {100 * yan['published_rate']:.1f}% spike rate x T={yan['T']} = {y:.2f}")
    codings = sorted({d["coding"] for _, d in _spiking(doc)})
    for c in codings:
        s = [p["spikes_per_activation"][c] for p in doc["per_projection"]]
        ax.scatter(np.arange(len(s)), s, s=8, label=f"trace: spikes per activation per projection ({c})", zorder=3)
    styles = iter(f"C{i}" for i in range(1, 40))
    unit_drawn = set()
    for _, d in _spiking(doc):
        for base, be in d["break_even"].items():
            col = next(styles)
            if be["memory_included"] is not None:
                ax.axhline(be["memory_included"], color=col, ls="-", lw=1.2,
                           label=f"{d['name']} = {base} (memory included): {be['memory_included']:.2f}")
            # unit-only depends on the lane array alone: once per array and baseline
            unit = (d.get("coding"), d.get("variant"), base)
            if be["unit_only"] is not None and unit not in unit_drawn:
                unit_drawn.add(unit)
                ax.axhline(be["unit_only"], color=col, ls=":", lw=1.2,
                           label=f"spike {d.get('coding')} {d.get('variant')} array = {base} (unit only): "
                                 f"{be['unit_only']:.2f}")
    ax.set_yscale("log")         # unary codings reach tens of spikes per activation
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.1, 1, 10 instead of 10^0 ...
    ax.yaxis.set_minor_formatter(NullFormatter())          # ... and no 2x10^0 minor labels
    ax.set_xlabel("projection (layer order)")
    ax.set_ylabel("spikes per activation (log)")
    ax.set_title("break-even spike rates against the trace's projections", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    fig.tight_layout()
    return fig


def energy_answer(energy: dict) -> str:
    """The energy question's one-line answer: the best spiking design against each MAC baseline."""
    spk = _spiking(energy)
    if not spk:
        return "No spiking design could be priced (see the skipped designs below)."
    _, best = min(spk, key=lambda id_: id_[1]["per_token"]["total_pj"])
    parts = []
    for base, v in best["vs"].items():
        r = v["memory_included_reduction_pct"]
        parts.append(f"{abs(r):.1f}% {'less' if r >= 0 else 'more'} than the {base}")
    s = energy["settings"]
    return (f"Memory included, the best spiking design ({best['name']}) uses {', '.join(parts)} per token "
            f"({s['freq_mhz']:g} MHz, weights in {s['weights'].upper()} at {s['node_nm']} nm); "
            "the paper claims no memory-included figure.")


def add_energy_section(doc, figs: dict, energy: dict, energy_path) -> None:
    """The energy details (tables, per-layer and break-even figures); the opening figure is
    ``energy_stacked``, added by the caller."""
    s, c = energy["settings"], energy["constants"]
    doc.p(f"From `{energy_path}`: every traced projection priced per design with the explicit dataflows of "
          "`hwmodels/dataflow.py` (weight rows read per dot product of K inputs and "
          f"{s['lanes']} lanes, buffer and output traffic) at {s['freq_mhz']:g} MHz. Compute: {c['compute']['label']}. "
          f"Weight SRAM ({c['weight_sram']['model']}, {c['weight_sram']['source']}): "
          f"{c['weight_sram']['read_pj']:.2f} pJ per {s['word_bits']}-bit read, {c['weight_sram']['banks']} bank(s) of "
          f"{s['sram_kb']} KiB at {s['node_nm']} nm"
          + (f"; DRAM {c['dram']['pj_per_bit']:.1f} pJ/bit ({c['dram']['source']}), batch {s['batch']}"
             if s["weights"] == "dram" else "") + ".")
    rows = []
    for d in energy["designs"]:
        pt = d["per_token"]
        rows.append([d["name"] + ("" if d.get("meets_timing", True) else " (timing NOT met)"),
                     f"{pt['total_pj'] * 1e-6:,.1f}",
                     *(f"{pt['components_pj'][k] * 1e-6:,.1f}" for k in COMPONENT_LABELS),
                     f"{d['per_mac_eq_pj']:.3f}", f"{pt['run_time_us']:,.0f}"])
    doc.table(["design", "\u00b5J/token", *COMPONENT_LABELS.values(), "pJ/MAC-eq", "\u00b5s/token"], rows,
              align="l" + "r" * 9)
    figs["energy_per_layer"] = lambda: energy_per_layer(energy)
    doc.figure("energy_per_layer", "energy per token and layer, per design")
    rows = []
    for i, d in _spiking(energy):
        for base, v in d["vs"].items():
            be = d["break_even"][base]
            rows.append([d["name"], base, fmt_pct(v["memory_included_reduction_pct"]),
                         fmt_pct(v["unit_only_reduction_pct"]),
                         "never" if be["memory_included"] is None else f"{be['memory_included']:.2f}",
                         "never" if be["unit_only"] is None else f"{be['unit_only']:.2f}",
                         "**spiking LOSES**" if v["spiking_loses"] else "spiking wins"])
    doc.p("Break-even: the spikes per activation at which the spiking design's energy equals the baseline's "
          "(its event-proportional energy scaled, held weight rows, outputs and DRAM fixed); measured "
          + ", ".join(f"{k}: {v:.3f}" for k, v in energy["spikes_per_activation"].items())
          + f" spikes per activation, {100 * energy['nonzero_fraction']:.1f}% non-zero activations.")
    doc.table(["spiking design", "against", "reduction, memory incl.", "reduction, unit only",
               "break-even s (memory)", "break-even s (unit)", "verdict"], rows, align="lllrrrl")
    figs["break_even"] = lambda: break_even_figure(energy)
    doc.figure("break_even", "spikes per activation of each traced projection against the break-even thresholds "
                             "(solid: memory included, dotted: unit only; dashed grey: Yan et al.'s published "
                             "spike rate times their window, when priced with scenarios)")
    doc.p("Assumptions: " + "; ".join(energy["assumptions"]) + ".")


__all__ = ["SCHEMA", "NO_ENERGY", "load_energy", "compute_energy", "energy_claims", "add_energy_section", "energy_answer",
           "energy_stacked", "energy_per_layer", "break_even_figure"]
