"""energy.json's companions: ``energy.md`` (tables per token, reductions, break-even) and the
output folder ``neurosim energy --out`` writes (JSON, Markdown, scenario CSV, figures)."""

from __future__ import annotations

from pathlib import Path

from .energy import COMPONENTS

__all__ = ["published_text", "render_markdown", "write_energy"]


def published_text(x: dict) -> str:
    """One published break-even condition as text."""
    v = "no single value" if x["value"] is None else f"{100 * x['value']:.1f}%" if x["value"] < 1 else f"{x['value']:g}"
    return f"{x['study']}: {v} ({x['unit']})"


def render_markdown(doc: dict) -> str:
    """Tables of energy.md (per token, by component; reductions; break-even)."""
    s = doc["settings"]
    c = doc["constants"]
    lines = [f"# Energy per token ({doc['tokens']} tokens, {doc['projections']} projections)", "",
             f"{s['freq_mhz']:g} MHz, {s['lanes']} lanes, weights in {s['weights'].upper()}"
             + (f" (batch {s['batch']})" if s["weights"] == "dram" else "")
             + f", {s['sram_kb']} KiB weight banks x {c['weight_sram']['banks']}, {s['buffer_kb']} KiB buffers, "
             f"memory at {s['node_nm']} nm ({s['sram_model']}); compute: {c['compute']['label']}.", "",
             f"Weight SRAM: {c['weight_sram']['read_pj']:.2f} pJ read / {c['weight_sram']['write_pj']:.2f} pJ write "
             f"per {s['word_bits']}-bit word"
             + (f" ({s.get('accesses_per_row', 1)} per {s['weight_row_bits']}-bit weight row)"
                if s.get("weight_row_bits", s["word_bits"]) != s["word_bits"] else "")
             + f", {c['weight_sram']['leakage_mw']:.4g} mW leakage per bank "
             f"({c['weight_sram']['source']}).", "",
             "| design | total uJ/token | compute | weight SRAM | weight DRAM | buffers | outputs | leakage | "
             "pJ per MAC-eq | run time us/token |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for d in doc["designs"]:
        pt = d["per_token"]
        comp = " | ".join(f"{pt['components_pj'][k] * 1e-6:.2f}" for k in COMPONENTS)
        lines.append(f"| {d['name']}{'' if d['meets_timing'] else ' (timing NOT met)'} | {pt['total_pj'] * 1e-6:.2f} | {comp} | {d['per_mac_eq_pj']:.3f} | "
                     f"{pt['run_time_us']:.0f} |")
    lines += ["", "Reductions of the spiking designs (negative = spiking uses more energy) and break-even "
              "spikes per activation (measured: "
              + ", ".join(f"{k} {v:.3f}" for k, v in doc["spikes_per_activation"].items()) + "):", "",
              "| spiking design | against | memory-included reduction | unit-only reduction | "
              "break-even s (memory) | break-even s (unit) | verdict |", "|---|---|---|---|---|---|---|"]

    def num(x, fmt):
        return "never" if x is None else format(x, fmt)
    for d in doc["designs"]:
        for b, v in d.get("vs", {}).items():
            be = d["break_even"][b]
            lines.append(f"| {d['name']} | {b} | {num(v['memory_included_reduction_pct'], '.1f')}% | "
                         f"{num(v['unit_only_reduction_pct'], '.1f')}% | {num(be['memory_included'], '.2f')} | "
                         f"{num(be['unit_only'], '.2f')} | "
                         f"{'spiking LOSES' if v['spiking_loses'] else 'spiking wins'} |")
    for sk in doc.get("skipped_designs", []):
        lines.append(f"\nNot priced: {sk['name']} ({sk['reason']}).")
    lines += ["", "Published break-even conditions (each in its own unit): "
              + "; ".join(published_text(x) for x in doc["published_break_even"]) + ".",
              "", "Assumptions: " + "; ".join(doc["assumptions"]) + "."]
    return "\n".join(lines) + "\n"


def write_energy(out, doc: dict) -> Path:
    """``out/energy.json`` + ``out/energy.md`` (+ ``scenarios.csv``, ``tornado.png`` with scenarios,
    ``frontier.png`` with priced eval settings) through :class:`neurosim.outdir.OutputFolder`."""
    import csv
    from neurosim.outdir import OutputFolder
    from neurosim.run.trace import dump_json
    from .scenario_report import render_markdown as scenario_markdown
    doc = dict(doc)
    rows = doc.pop("scenario_rows", None)
    with OutputFolder(out, "energy.json", "energy") as folder:
        b = folder.building
        (b / "energy.json").write_text(dump_json(doc))
        md = render_markdown(doc) if "designs" in doc else f"# Energy per token of {len(doc['eval_settings'])} settings\n"
        if doc.get("scenarios"):
            md += "\n" + scenario_markdown(doc["scenarios"])
        if doc.get("eval_settings"):
            from .eval_report import render_settings
            md += "\n" + render_settings(doc["eval_settings"])
        (b / "energy.md").write_text(md)
        if rows:
            with open(b / "scenarios.csv", "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
        from neurosim.reports import scenario_figures as sf
        for name, fig in (("tornado.png", sf.tornado(doc.get("scenarios"))),
                          ("frontier.png", sf.frontier(doc.get("eval_settings")))):
            if fig is not None:
                sf.save(fig, b / name)
        return folder.commit()


