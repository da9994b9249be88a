"""System-level energy table: ``docs/results/energy.json`` and ``energy.md`` rendered from it.

    python -m benchmarks.energy [--trace build/trace] [--hw build/hw] [--out docs/results]

The committed table: ``--hw build/hw_all`` from ``neurosim hw --coding all --trace build/trace --out
build/hw_all`` (every spiking kind).

Runs :func:`neurosim.hwmodels.energy.energy_report` (what ``neurosim energy`` runs) on the trace of
``make main`` (SmolLM2-135M, 256 tokens, spike mode) and its hw.json for a few memory
configurations: weights in on-chip SRAM (64 KiB CACTI banks at 45 nm, compute scaled to 45 nm,
ESTIMATE), weights streamed from DRAM with batches of 1 and 16 tokens, and the measured node
(OSU 0.18 um compute, Horowitz's SRAM figures scaled to 180 nm). Keeps per design the energy per
token, its components, the energy per MAC-equivalent, the memory-included and unit-only reductions
against both MAC baselines and the break-even spike rates (no per-projection rows, so the file
stays small). ``energy.md`` is rendered from ``energy.json`` alone (``--render-only`` re-renders).
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results_cli import parse_results_args, result_parser
from neurosim.hwmodels.energy_output import published_text
from neurosim.results import write_result

CONFIGS: tuple[tuple[str, dict], ...] = (
    ("SRAM, 45 nm", {"weights": "sram", "node": 45}),
    ("DRAM, batch 1, 45 nm", {"weights": "dram", "batch": 1, "node": 45}),
    ("DRAM, batch 16, 45 nm", {"weights": "dram", "batch": 16, "node": 45}),
    ("SRAM, 180 nm (measured node, cited SRAM)", {"weights": "sram", "node": 180}),
)


def measure(trace, hw, cache) -> dict:
    from neurosim.hwmodels.energy import energy_report
    runs = []
    first: dict = {}
    for label, kw in CONFIGS:
        doc = energy_report(trace, hw, cache_dir=cache, **kw)
        first = first or doc
        runs.append({"label": label, "settings": doc["settings"],
                     "weight_sram": {k: doc["constants"]["weight_sram"].get(k)
                                     for k in ("model", "source", "node_nm", "vdd_v", "read_pj", "write_pj",
                                               "leakage_mw", "area_mm2", "banks", "label")},
                     "dram_pj_per_bit": doc["constants"]["dram"]["pj_per_bit"] if kw["weights"] == "dram" else None,
                     "compute_label": doc["constants"]["compute"]["label"],
                     "designs": [{k: d[k] for k in ("name", "per_token", "per_mac_eq_pj", "unit_per_mac_eq_pj",
                                                    "vs", "break_even", "meets_timing", "spikes_per_activation")
                                  if k in d} for d in doc["designs"]]})
    model = Path(first["model"]).name if first["model"] else "?"
    return {"command": "python -m benchmarks.energy", "trace_model": f"{model} ({first['model_type']})", "tokens": first["tokens"],
            "projections": first["projections"], "spikes_per_activation": first["spikes_per_activation"],
            "nonzero_fraction": first["nonzero_fraction"], "freq_mhz": first["settings"]["freq_mhz"],
            "compute_designs": first["constants"]["compute"]["designs"],
            "published_break_even": first["published_break_even"], "assumptions": first["assumptions"],
            "skipped_designs": first.get("skipped_designs", []),
            "hw_run": _hw_run(hw), "runs": runs}


def _hw_run(hw) -> dict:
    """How long the ``neurosim hw`` run behind the table took (its hw.json ``run``), for the
    target: ``--coding all`` under 10 minutes on 2 cores."""
    doc = json.loads((Path(hw) / "hw.json").read_text())
    run = doc.get("run", {})
    return {"total_s": run.get("total_s"), "syntheses_run": run.get("syntheses_run"), "cpus": run.get("cpus"),
            "load_avg_after": run.get("load_avg_after"),
            "designs": len(doc.get("settings", {}).get("kinds", {})) or None}


def _red(d: dict, b: str) -> str:
    v = d.get("vs", {}).get(b)
    if v is None:
        return "-"
    return f"{v['memory_included_reduction_pct']:+.1f}%" + (" (spiking LOSES)" if v["spiking_loses"] else "")


def _be(d: dict) -> str:
    be = d.get("break_even", {})
    return " / ".join("never" if be[b]["memory_included"] is None else f"{be[b]['memory_included']:.2f}"
                      for b in ("MAC dense", "MAC zero-skipping") if b in be) or "-"


def render(doc: dict) -> str:
    """energy.md from energy.json: every design under the first memory configuration, then the
    baselines and the best spiking design under each configuration."""
    spa = ", ".join(f"{k} {v:.3f}" for k, v in doc["spikes_per_activation"].items())
    first = doc["runs"][0]
    lines = [f"System-level energy per token (`{doc['command']}`): {doc['tokens']} tokens, "
             f"{doc['projections']} projections of {doc['trace_model']}, {doc['freq_mhz']:g} MHz, "
             f"16-lane arrays; spikes per activation: {spa}; {100 * doc['nonzero_fraction']:.1f}% non-zero "
             "activations. Memory included: weight SRAM (CACTI) / DRAM (Horowitz ISSCC 2014), buffers, "
             "outputs, leakage; compute from `neurosim hw` (45 nm: scaled, ESTIMATE).", "",
             f"Every design, {first['label']} ({first['weight_sram']['banks']} banks of "
             f"{first['settings']['sram_kb']} KiB, {first['weight_sram']['read_pj']:.1f} pJ per "
             f"{first['settings']['word_bits']}-bit read):", "",
             "| design | µJ/token | weight memory µJ | compute µJ | vs dense MAC | "
             "vs zero-skipping MAC | break-even s (vs dense / zero-skip) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for d in first["designs"]:
        pt = d["per_token"]["components_pj"]
        wm = (pt["weight_sram"] + pt["weight_dram"]) * 1e-6
        lines.append(f"| {d['name']}{'' if d.get('meets_timing', True) else ' (timing NOT met)'} | "
                     f"{d['per_token']['total_pj'] * 1e-6:,.1f} | {wm:,.1f} | "
                     f"{pt['compute'] * 1e-6:,.1f} | {_red(d, 'MAC dense')} | {_red(d, 'MAC zero-skipping')} | "
                     f"{_be(d)} |")
    lines += ["", "Each memory configuration: the MAC baselines and the spiking design with the least energy:", "",
              "| memory | MAC dense µJ | MAC zero-skipping µJ | best spiking design | µJ/token | "
              "vs dense MAC | vs zero-skipping MAC |", "|---|---:|---:|---|---:|---:|---:|"]
    for r in doc["runs"]:
        by = {d["name"]: d for d in r["designs"]}
        spk = [d for d in r["designs"] if "vs" in d]
        best = min(spk, key=lambda d: d["per_token"]["total_pj"])
        lines.append(f"| {r['label']} | {by['MAC dense']['per_token']['total_pj'] * 1e-6:,.1f} | "
                     f"{by['MAC zero-skipping']['per_token']['total_pj'] * 1e-6:,.1f} | {best['name']} | "
                     f"{best['per_token']['total_pj'] * 1e-6:,.1f} | {_red(best, 'MAC dense')} | "
                     f"{_red(best, 'MAC zero-skipping')} |")
    lines += ["", "Reductions are 1 - spiking / MAC energy per token (negative: the spiking design uses more). "
              "Break-even s: spikes per activation (in the design's own coding) at which its energy equals "
              "the baseline's. A design whose array misses the clock is marked (timing NOT met). "
              "Published break-even conditions: "
              + "; ".join(published_text(x) for x in doc["published_break_even"]) + "."]
    hr = doc.get("hw_run") or {}
    if hr.get("total_s") is not None:
        lines += ["", f"The `neurosim hw --coding all` run behind this table: {hr['total_s']:,.0f} s "
                  f"({hr['total_s'] / 60:.1f} min; target under 10 min on 2 cores) on {hr.get('cpus') or '?'} "
                  f"CPU cores, {hr.get('syntheses_run')} syntheses, load average after {hr.get('load_avg_after') or 'n/a'}."]
    if doc.get("skipped_designs"):
        lines += ["", "Not priced: " + "; ".join(f"{sk['name']} ({sk['reason']})" for sk in doc["skipped_designs"])
                  + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = result_parser(__doc__, "energy")
    for flag, default in (("--trace", "build/trace"), ("--hw", "build/hw"), ("--cache", "build/energy_cache")):
        ap.add_argument(flag, default=default, help=f"default {default}")
    a, out = parse_results_args(ap, argv)
    if a.render_only:
        doc = json.loads((out / "energy.json").read_text())
    else:
        doc = measure(a.trace, a.hw, a.cache)
    write_result("energy", {**doc, "renderer": "benchmarks.energy:render"}, out)
    print(render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
