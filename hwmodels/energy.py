"""System-level energy per token of a traced model: compute + weight memory + buffers + leakage.

For every projection of the trace and every design, the access counts of :mod:`.dataflow` are
priced with:

* **compute**: the lane array's gate-level energy per busy cycle from ``neurosim hw`` (hw.json;
  cell delays when simulated, else zero-delay), without its leakage, at the measured node (the
  document's cell library: OSU 0.18 um or SkyWater sky130 hd, 1.8 V) or scaled from it to ``node``
  with Stillmaker & Baas (:mod:`.tech`; ESTIMATE).
  The zero-skipping MAC pays the dense MAC's measured mean energy per activation for each
  non-zero one (zero detection not counted);
* **weight memory**: one SRAM read per weight row of ``lanes x 8`` bits (:mod:`.memory`, CACTI,
  or cited figures at the measured node), through the narrowest port that holds the row
  (:func:`.memory.weight_port`: 32 bits for 1-4 lanes, each access charged in full; rows over 512
  bits take several accesses); with ``weights="dram"`` every weight is also
  streamed from DRAM once per batch of ``batch`` tokens and written into the SRAM staging bank
  (all designs alike: a row is fetched whether or not a token of the batch needs it);
* **buffers**: activation / spike buffer and output writes in bits, priced per bit of a
  ``buffer_kb`` SRAM bank with a 64-bit port;
* **leakage**: the array's and every powered SRAM bank's standby power over the run time
  (busy cycles / clock; one array processes everything in sequence). With ``weights="sram"`` all
  weights are on chip (``ceil(weight bytes / bank)`` banks); with ``"dram"`` one staging bank.

Energies in pJ; per token = total over the trace / tokens. Break-even spike rate: scaling the
spikes per activation ``s`` scales the event-proportional part ``E_ev`` of a spiking design's energy
and leaves the rest ``E_fix`` (held weight rows, outputs, DRAM) alone, so it equals a baseline's
``E_B`` at ``s* = s_meas (E_B - E_fix) / E_ev``; unit-only uses compute energy alone.
"""

from __future__ import annotations

import math
from pathlib import Path

from neurosim import NeurosimError

from . import dataflow as df
from . import energy_grid as eg
from . import memory as mem
from . import tech
from .literature import PUBLISHED

SCHEMA = "neurosim.energy/1"
#: nodes where both CACTI and the compute scaling exist, plus the measured libraries' nodes (cited SRAM
#: figures; the compute energies unscaled at the document's own node, scaled at the other)
NODES_NM = (45, 32, *tech.SOURCE_NODES)
BUFFER_WORD_BITS = 64
COMPONENTS = ("compute", "weight_sram", "weight_dram", "buffers", "outputs", "leakage")


def read_hw(hw, tech_name: str | None = None) -> dict:
    """hw.json of a `neurosim hw` folder (or the file), checked for its schema; ``tech_name`` picks
    that cell library's document (``HW/<tech>/hw.json`` of a ``--tech all`` folder) and refuses a
    document measured on another library."""
    from neurosim.run.trace import read_json
    p = Path(hw)
    f = p / "hw.json" if p.is_dir() else p
    if tech_name is not None:
        tech.check_library(tech_name)
        if (f.parent / tech_name / "hw.json").is_file():
            f = f.parent / tech_name / "hw.json"
    doc = read_json(f, "give the folder written by `neurosim hw --out HWOUT`")
    if not isinstance(doc, dict) or doc.get("schema") != "neurosim.hw/1" or not isinstance(doc.get("results"), dict):
        raise NeurosimError(f"{f} is not a neurosim.hw/1 document (re-run `neurosim hw`)")
    own = doc.get("settings", {}).get("tech", tech.DEFAULT_LIBRARY)
    if tech_name is not None and own != tech_name:
        raise NeurosimError(f"{f} was measured on {own}, not {tech_name} (run `neurosim hw --tech {tech_name}` "
                            f"or --tech all)")
    return doc


def compute_designs(doc: dict, freq: float | None) -> tuple[float, list[dict]]:
    """The lane arrays of hw.json at one clock: energy per busy cycle [pJ] (dynamic, leakage apart)."""
    from .compare import busy_cycle_energy
    s = doc.get("settings", {})
    freqs = sorted({float(r["freq_mhz"]) for r in doc["results"].values()})
    if not freqs:
        raise NeurosimError("hw.json has no results")
    f = max(freqs) if freq is None else float(freq)
    if f not in freqs:
        raise NeurosimError(f"--freq {f:g} MHz not in hw.json (clocks: {', '.join(f'{x:g}' for x in freqs)})")
    kinds = s.get("kinds") or {}     # `neurosim hw --coding ...`: the kind of every result row
    out = []
    for key, r in sorted(doc["results"].items()):
        if float(r["freq_mhz"]) != f:
            continue
        kd = kinds.get(r["design"]) or {"design": "mac" if r["design"] == "mac" else "spike",
                                         "coding": s.get("coding", "bitwise"), "variant": s.get("variant", "barrel")}
        label = next((lb for lb in ("gspecify", "zero_delay") if "active" in r.get("power", {}).get(lb, {})), None)
        if label is None:
            continue
        e_busy = busy_cycle_energy(r["power"][label], r["stream"]["events"])
        period = 1000.0 / f
        leak_mw = float(r.get("leakage_nw", 0.0)) * 1e-6
        cfg = doc.get("configs", {}).get(f"{r['top']}@D{r['abc_delay_target_ps']}", {})
        d = {"key": key, "design": kd["design"], "top": r["top"], "pipeline": r.get("pipeline"),
             "meets_timing": bool(r.get("meets_timing")), "simulation": label,
             "busy_pj": e_busy, "dynamic_pj": e_busy - leak_mw * period, "leakage_mw": leak_mw,
             "acc_w": int(cfg.get("acc_w", 27)), "area_um2": r.get("area_um2")}
        if kd["design"] != "mac":
            d["coding"] = kd["coding"]
            d["variant"] = kd.get("variant") or "unary"
        out.append(d)
    if not any(d["design"] == "mac" for d in out) or not any(d["design"] != "mac" for d in out):
        raise NeurosimError(f"hw.json needs a simulated MAC and a spiking array at {f:g} MHz")
    return f, out


def design_systems(compute: list[dict]) -> list[dict]:
    """Design x dataflow combinations: dense and zero-skipping MAC; per spiking array its dataflows."""
    out = []
    for c in compute:
        if c["design"] == "mac":
            out += [dict(c, name="MAC dense", dataflow="mac_dense", baseline=True),
                    dict(c, name="MAC zero-skipping", dataflow="mac_zero_skip", baseline=True)]
        else:
            tag = c["coding"] if c["variant"] == "unary" else f"{c['coding']} {c['variant']}"
            if c["variant"] == "horner":
                out.append(dict(c, name=f"spike {tag}", dataflow="spike_horner", baseline=False))
            else:
                out += [dict(c, name=f"spike {tag}, row held", dataflow="spike_barrel_held", baseline=False),
                        dict(c, name=f"spike {tag}, row per event", dataflow="spike_barrel_per_event",
                             baseline=False)]
    return out


def _price(a: df.Accesses, p: df.Projection, sys_: dict, m: dict) -> dict:
    """Energy [pJ] of one projection's accesses, by component, and its event-proportional part
    (priced by :func:`.energy_grid.price`, the function every scenario uses)."""
    c = eg.Counts()
    c.add(a, p, m["lanes"])
    return eg.price(c, sys_, {"mac_width": "linear", "dataflow": "decode"}, m["memory"],
                    factor=m["compute_factor"], period_ns=m["period_ns"], words_per_row=m["words_per_row"])


def _add(acc: dict, r: dict) -> None:
    for k in COMPONENTS:
        acc["components_pj"][k] += r["components_pj"][k]
    for k in ("total_pj", "event_part_pj", "unit_pj", "busy_cycles", "weight_row_reads"):
        acc[k] += r[k]


def _zero() -> dict:
    return {"components_pj": {k: 0.0 for k in COMPONENTS}, "total_pj": 0.0, "event_part_pj": 0.0,
            "unit_pj": 0.0, "busy_cycles": 0, "weight_row_reads": 0}


def _pct(new: float, base: float) -> float | None:
    return 100.0 * (1.0 - new / base) if base else None


def _break_even(s_meas: float, spk: dict, base: dict, memory: bool) -> float | None:
    """Spikes per activation at which the spiking design's energy equals the baseline's (None: never,
    the fixed part alone exceeds the baseline or no events)."""
    if memory:
        ev, fix, b = spk["event_part_pj"], spk["total_pj"] - spk["event_part_pj"], base["total_pj"]
    else:
        ev, fix, b = spk["unit_pj"], 0.0, base["unit_pj"]
    if ev <= 0 or s_meas <= 0:
        return None
    s = s_meas * (b - fix) / ev
    return s if s > 0 else 0.0


def energy_report(trace, hw, *, sram_kb: int = 64, node: int = 45, weights: str = "sram", batch: int = 1,
                  buffer_kb: int = 8, freq: float | None = None, sram_model: str = "cacti",
                  dram_level: str = "low", cache_dir: str | Path = "build/energy_cache",
                  scenarios: str | None = None, tech_name: str | None = None) -> dict:
    """The energy document (``energy.json``) of a trace under the hardware of ``hw`` (its
    ``tech_name`` library's document, :func:`read_hw`); with ``scenarios`` (a grid of
    :func:`.scenarios.parse_grid`) also the verdict over that grid."""
    from . import scenarios as sc
    grid = sc.parse_grid(scenarios) if scenarios else None
    if grid is not None:
        sc.check_size(grid)
    _check_settings(weights, batch, node, sram_model)
    projections = df.projections_from_trace(trace)
    from neurosim.run.trace import read_summary
    summary = read_summary(trace)
    doc_hw = read_hw(hw, tech_name)
    src_nm, src_vdd = tech.measured_supply(doc_hw)
    f, compute = compute_designs(doc_hw, freq)
    lanes = int(doc_hw.get("settings", {}).get("lanes", 16))
    row_bits = lanes * df.INT8_BITS
    word_bits, words_per_row = mem.weight_port(row_bits)
    use_cited = node in tech.SOURCE_NODES or sram_model == "cited"
    sram, buf = (_memory_bank(kb, w, node, use_cited, cache_dir)
                 for kb, w in ((sram_kb, word_bits), (buffer_kb, BUFFER_WORD_BITS)))
    ef = 1.0 if node == src_nm else tech.energy_factor(node, src_nm, src_vdd)
    weight_bytes = sum(p.in_features * p.out_features for p in projections)
    n_banks = _weight_banks(projections, lanes, weights, sram_kb)
    dram = mem.dram(dram_level)
    m = {"compute_factor": ef, "lanes": lanes, "period_ns": 1000.0 / f, "words_per_row": words_per_row,
         "memory": {"weight": sram, "buffer": buf, "dram_batch": batch if weights == "dram" else 0,
                    "dram_pj_per_bit": dram["pj_per_bit"],
                    "leakage_mw": n_banks * sram["leakage_mw"] + 2 * buf["leakage_mw"]}}
    systems, skipped = [], []
    negative = any(int(p.values[p.freq > 0].min(initial=0)) < 0 for p in projections)
    for sy in design_systems(compute):
        if sy.get("coding") == "binary" and negative:
            skipped.append({"name": sy["name"], "reason": "the binary coding cannot carry the trace's negative counts"})
        else:
            systems.append(sy)
    tokens = int(summary.get("tokens") or max(p.tokens for p in projections))
    per_proj, totals, layers = _price_projections(projections, systems, m)
    events = {}
    for s in systems:
        if not s["baseline"]:
            events[s["coding"]] = sum(p.events(s["coding"], df_T(s["coding"])) for p in projections)
    acts = sum(p.activations for p in projections)
    s_meas = {c: e / acts for c, e in events.items()}

    dense_macs = sum(p.tokens * p.in_features * p.out_features for p in projections)
    designs = _design_rows(systems, totals, tokens, f, dense_macs, s_meas)
    _finish_projection_rows(per_proj, systems, tokens)
    per_layer = [{"layer": li, "designs": {k: _per_token_totals(v, tokens) for k, v in d.items()}}
                 for li, d in sorted(layers.items())]
    constants = _constants(doc_hw, compute, node, ef, sram, buf, dram, n_banks, row_bits, words_per_row, weights)
    out = {
        "schema": SCHEMA,
        "settings": {"trace": str(trace), "hw": str(hw), "freq_mhz": f, "node_nm": node, "sram_kb": sram_kb,
                     "buffer_kb": buffer_kb, "weights": weights, "batch": batch, "lanes": lanes,
                     "sram_model": "cited" if use_cited else "cacti", "dram_level": dram_level,
                     "word_bits": word_bits, "weight_row_bits": row_bits, "accesses_per_row": words_per_row},
        "model": summary.get("model", {}).get("path") if isinstance(summary.get("model"), dict) else None,
        "model_type": summary.get("model", {}).get("model_type") if isinstance(summary.get("model"), dict) else None,
        "tokens": tokens, "projections": len(projections), "weight_bytes": weight_bytes,
        "dense_macs_per_token": dense_macs / tokens,
        "spikes_per_activation": s_meas,
        "nonzero_fraction": sum(p.nonzero for p in projections) / acts,
        "constants": constants,
        "designs": designs,
        "skipped_designs": skipped,
        "per_layer": per_layer,
        "per_projection": per_proj,
        "published_break_even": PUBLISHED,
        "assumptions": _assumptions(row_bits, word_bits, words_per_row),
    }
    if grid is not None:
        from .energy_scenarios import Grid, summarize
        g = Grid(projections, doc_hw, tokens=tokens, cache_dir=cache_dir)
        out["scenarios"], out["scenario_rows"] = summarize(g, grid)
        from .literature import yan_break_even
        out["scenarios"]["yan_break_even"] = yan_break_even(projections, g)
    return out


def _memory_bank(kb: int, word_bits: int, node: int, cited: bool, cache_dir) -> dict:
    """One SRAM bank at ``node``: cited figures or CACTI (:mod:`.memory`)."""
    return mem.sram_cited(kb, word_bits, node) if cited else mem.sram_cacti(kb, word_bits, node, cache_dir)


def _price_projections(projections, systems, m: dict) -> tuple[list[dict], dict, dict]:
    """Every projection priced for every design: the per-projection rows, the totals per design and
    the totals per layer and design (pJ over the trace)."""
    per_proj = []
    totals = {s["name"]: _zero() for s in systems}
    layers: dict[int, dict] = {}
    for p in projections:
        row = {"name": p.name, "layer": p.layer, "activations": p.activations,
               "nonzero_fraction": p.nonzero / p.activations if p.activations else 0.0, "designs": {}}
        for s in systems:
            kw = {"lanes": m["lanes"], "acc_w": s["acc_w"]}
            if not s["baseline"]:
                kw["coding"] = s["coding"]
            a = df.accesses(p, s["dataflow"], **kw)
            r = _price(a, p, s, m)
            if not s["baseline"]:
                row.setdefault("spikes_per_activation", {})[s["coding"]] = a.notes["events"] / p.activations
            row["designs"][s["name"]] = r
            _add(totals[s["name"]], r)
            _add(layers.setdefault(p.layer, {x["name"]: _zero() for x in systems})[s["name"]], r)
        per_proj.append(row)
    return per_proj, totals, layers


def _constants(doc_hw: dict, compute: list[dict], node: int, ef: float, sram: dict, buf: dict, dram: dict,
               n_banks: int, row_bits: int, words_per_row: int, weights: str) -> dict:
    """energy.json's ``constants``: the compute energies (measured node, scaling) and the memories."""
    settings = doc_hw.get("settings", {})
    src_nm, src_vdd = tech.measured_supply(doc_hw)
    lib_name = tech.LIBRARIES[settings.get("tech", tech.DEFAULT_LIBRARY)]["label"].split(" (")[0]
    label = (f"measured node ({lib_name}, {src_vdd:g} V)" if node == src_nm else
             f"ESTIMATE: compute scaled from {lib_name} to {node} nm (Stillmaker & Baas, x{ef:.4f})")
    return {
        "compute": {"source": "neurosim hw gate-level simulation (hw.json)", "node_nm": src_nm,
                    "library": settings.get("library"),
                    "vdd_v": settings.get("voltage_v"), "unit": "pJ per busy cycle of the array",
                    "scaled_to_nm": node, "factor": ef, "label": label,
                    "scaling_source": tech.SOURCE, "scaled_vdd_v": tech.NOMINAL_VDD.get(node),
                    "leakage_note": "array leakage scaled like dynamic energy (no leakage factor in the source)",
                    "designs": [{k: c[k] for k in ("key", "top", "busy_pj", "dynamic_pj", "leakage_mw", "simulation",
                                                   "meets_timing", "acc_w")} for c in compute]},
        "weight_sram": dict(sram, banks=n_banks, weight_row_bits=row_bits, accesses_per_row=words_per_row,
                            unit="pJ per access of one word; mW per bank"),
        "buffer_sram": dict(buf, banks=2, unit="pJ per 64-bit access, charged per bit"),
        "dram": dict(dram, used=weights == "dram"),
    }


def _assumptions(row_bits: int, word_bits: int, words_per_row: int) -> list[str]:
    return [
        "one lane array processes every projection in sequence, one input per cycle (no stalls)",
        "zero-skipping MAC: the dense MAC's mean measured energy per activation for each non-zero one; "
        "the compressor is not counted",
        f"weight rows of {row_bits} bits read through a {word_bits}-bit SRAM port, {words_per_row} "
        "access(es) per row, each charged in full (the narrowest CACTI port holding the row; no word "
        "is reused across rows)",
        "buffers charged per bit of a 64-bit SRAM port (packed sequential access)",
        "dram: every weight streamed once per batch for every design",
        "attention score/value products, norms and the LM head are not in the trace's projections",
    ]


def _check_settings(weights: str, batch: int, node: int, sram_model: str) -> None:
    if weights not in ("sram", "dram"):
        raise NeurosimError(f"--weights must be sram or dram, got {weights!r}")
    if batch < 1:
        raise NeurosimError(f"--batch must be >= 1, got {batch}")
    if node not in NODES_NM:
        raise NeurosimError(f"--node must be one of {', '.join(map(str, NODES_NM))} nm: CACTI models 22-90 nm, the "
                            f"compute scaling (Stillmaker & Baas) 45/32/20/7 nm, and the measured libraries' nodes "
                            f"({'/'.join(map(str, tech.SOURCE_NODES))} nm) take cited SRAM figures; got {node}")
    if sram_model not in ("cacti", "cited"):
        raise NeurosimError(f"--sram-model must be cacti or cited, got {sram_model!r}")


def _weight_banks(projections, lanes: int, weights: str, sram_kb: int) -> int:
    """Powered weight SRAM banks: every weight on chip (``sram``) or one staging bank (``dram``),
    which must hold one weight group (K x lanes bytes)."""
    if weights == "sram":
        return math.ceil(sum(p.in_features * p.out_features for p in projections) / (sram_kb * 1024))
    largest_group = max(p.in_features for p in projections) * lanes
    if largest_group > sram_kb * 1024:
        raise NeurosimError(f"--sram-kb {sram_kb} cannot stage one weight group of {largest_group} bytes "
                            f"(K x lanes); use --sram-kb {2 ** math.ceil(math.log2(largest_group / 1024))} or more")
    return 1


def _design_rows(systems, totals: dict, tokens: int, f: float, dense_macs: int, s_meas: dict) -> list[dict]:
    """energy.json's ``designs``: per design its energy per token by component and per
    MAC-equivalent; per spiking design its reductions and break-even against each baseline."""
    def per_token(r):
        return {"components_pj": {k: v / tokens for k, v in r["components_pj"].items()},
                "total_pj": r["total_pj"] / tokens, "unit_pj": r["unit_pj"] / tokens,
                "busy_cycles": r["busy_cycles"] / tokens, "weight_row_reads": r["weight_row_reads"] / tokens,
                "run_time_us": r["busy_cycles"] / tokens / f}
    designs = []
    for s in systems:
        t = totals[s["name"]]
        d = {"name": s["name"], "design": s["design"], "dataflow": s["dataflow"], "top": s["top"],
             "meets_timing": s["meets_timing"], "simulation": s["simulation"],
             "per_token": per_token(t), "per_mac_eq_pj": t["total_pj"] / dense_macs,
             "unit_per_mac_eq_pj": t["unit_pj"] / dense_macs}
        if not s["baseline"]:
            d["coding"], d["variant"] = s["coding"], s["variant"]
            d["spikes_per_activation"] = s_meas[s["coding"]]
            d["vs"], d["break_even"] = {}, {}
            for b in systems:
                if not b["baseline"]:
                    continue
                tb = totals[b["name"]]
                d["vs"][b["name"]] = {"memory_included_reduction_pct": _pct(t["total_pj"], tb["total_pj"]),
                                      "unit_only_reduction_pct": _pct(t["unit_pj"], tb["unit_pj"]),
                                      "spiking_loses": t["total_pj"] > tb["total_pj"]}
                d["break_even"][b["name"]] = {
                    "memory_included": _break_even(s_meas[s["coding"]], t, tb, True),
                    "unit_only": _break_even(s_meas[s["coding"]], t, tb, False)}
        designs.append(d)
    return designs


def _per_token_totals(v: dict, tokens: int) -> dict:
    return {"total_pj_per_token": v["total_pj"] / tokens,
            "components_pj_per_token": {c: x / tokens for c, x in v["components_pj"].items()}}


def _finish_projection_rows(per_proj: list[dict], systems, tokens: int) -> None:
    """Per projection: each spiking design's break-even (memory included) against each baseline
    (for the figure), and its designs' totals per token."""
    for row in per_proj:
        for s in systems:
            if s["baseline"]:
                continue
            sp = row["spikes_per_activation"][s["coding"]]
            row.setdefault("break_even", {})[s["name"]] = {
                b["name"]: _break_even(sp, row["designs"][s["name"]], row["designs"][b["name"]], True)
                for b in systems if b["baseline"]}
        row["designs"] = {k: _per_token_totals(v, tokens) for k, v in row["designs"].items()}


def published_text(x: dict) -> str:
    """One published break-even condition as text."""
    v = "no single value" if x["value"] is None else f"{100 * x['value']:.1f}%" if x["value"] < 1 else f"{x['value']:g}"
    return f"{x['study']}: {v} ({x['unit']})"


def df_T(coding: str) -> int:
    from neurosim.core.coding import INT8_WINDOW
    return INT8_WINDOW[coding]


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


__all__ = ["SCHEMA", "NODES_NM", "COMPONENTS", "read_hw", "published_text", "compute_designs", "energy_report",
           "render_markdown", "write_energy"]
