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
from dataclasses import dataclass, replace
from pathlib import Path

from neurosim import NeurosimError
from neurosim.formats import ENERGY_SCHEMA

from . import dataflow as df
from . import energy_grid as eg
from . import memory as mem
from . import tech
from .designs import compute_designs, design_systems, read_hw
from .literature import PUBLISHED

#: nodes where both CACTI and the compute scaling exist, plus the measured libraries' nodes (cited SRAM
#: figures; the compute energies unscaled at the document's own node, scaled at the other)
NODES_NM = (45, 32, *tech.SOURCE_NODES)
BUFFER_WORD_BITS = 64
COMPONENTS = eg.COMPONENTS


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


def check_options(*, weights: str, batch: int, node: int, sram_model: str) -> None:
    """A one-line NeurosimError for an energy option outside its choices or range (before any work)."""
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


@dataclass(frozen=True)
class EnergySettings:
    """The memory system and clock a trace is priced with (``neurosim energy``'s options)."""
    sram_kb: int = 64                 # weight SRAM bank [KiB]
    node: int = 45                    # memory node [nm] (one of NODES_NM)
    weights: str = "sram"             # "sram": all weights on chip; "dram": streamed once per batch
    batch: int = 1                    # tokens per DRAM weight stream
    buffer_kb: int = 8                # activation / spike buffer bank [KiB]
    freq: float | None = None         # clock [MHz]; None: the fastest clock of hw.json
    sram_model: str = "cacti"         # "cacti" or "cited" (Horowitz ISSCC 2014)
    dram_level: str = "low"           # "low" or "high" end of the cited DRAM energy
    cache_dir: str | Path = "build/energy_cache"   # CACTI result cache
    scenarios: str | None = None      # a grid of :func:`.scenarios.parse_grid`, or None
    tech_name: str | None = None      # the cell library's document of a `--tech all` folder (:func:`read_hw`)

    def check(self) -> None:
        """A one-line NeurosimError for the first value out of range."""
        if self.scenarios:
            from . import scenarios as sc
            sc.check_size(sc.parse_grid(self.scenarios))
        check_options(weights=self.weights, batch=self.batch, node=self.node, sram_model=self.sram_model)


@dataclass
class MemoryPrices:
    """The memory and compute prices of one run: SRAM / buffer / DRAM figures, weight banks and the
    weight row's port (widths in bits), and the pricing inputs of :func:`.energy_grid.price`."""
    sram: dict
    buffer: dict
    dram: dict
    banks: int
    row_bits: int
    word_bits: int
    words_per_row: int
    cited: bool
    compute_factor: float
    pricing: dict


def memory_prices(st: EnergySettings, projections: list[df.Projection], lanes: int, freq: float,
                  doc_hw: dict) -> MemoryPrices:
    """Price the weight SRAM, buffers and DRAM for ``projections`` on an array of ``lanes`` at ``freq`` MHz;
    the compute energies of ``doc_hw`` scaled from its library's node to ``st.node``."""
    src_nm, src_vdd = tech.measured_supply(doc_hw)
    row_bits = lanes * df.INT8_BITS
    word_bits, words_per_row = mem.weight_port(row_bits)
    cited = st.node in tech.SOURCE_NODES or st.sram_model == "cited"
    if cited:
        sram = mem.sram_cited(st.sram_kb, word_bits, st.node)
        buf = mem.sram_cited(st.buffer_kb, BUFFER_WORD_BITS, st.node)
    else:
        sram = mem.sram_cacti(st.sram_kb, word_bits, st.node, st.cache_dir)
        buf = mem.sram_cacti(st.buffer_kb, BUFFER_WORD_BITS, st.node, st.cache_dir)
    ef = 1.0 if st.node == src_nm else tech.energy_factor(st.node, src_nm, src_vdd)
    weight_bytes = sum(p.in_features * p.out_features for p in projections)
    largest_group = max(p.in_features for p in projections) * lanes
    if st.weights == "sram":
        n_banks = math.ceil(weight_bytes / (st.sram_kb * 1024))
    else:
        if largest_group > st.sram_kb * 1024:
            raise NeurosimError(f"--sram-kb {st.sram_kb} cannot stage one weight group of {largest_group} bytes "
                                f"(K x lanes); use --sram-kb {2 ** math.ceil(math.log2(largest_group / 1024))} "
                                "or more")
        n_banks = 1
    dram = mem.dram(st.dram_level)
    pricing = {"compute_factor": ef, "lanes": lanes, "period_ns": 1000.0 / freq, "words_per_row": words_per_row,
               "memory": {"weight": sram, "buffer": buf, "dram_batch": st.batch if st.weights == "dram" else 0,
                          "dram_pj_per_bit": dram["pj_per_bit"],
                          "leakage_mw": n_banks * sram["leakage_mw"] + 2 * buf["leakage_mw"]}}
    return MemoryPrices(sram, buf, dram, n_banks, row_bits, word_bits, words_per_row, cited, ef, pricing)


def priced_systems(compute: list[dict], projections: list[df.Projection]) -> tuple[list[dict], list[dict]]:
    """The design systems to price, and those skipped with the reason (binary cannot carry negative counts)."""
    systems, skipped = [], []
    negative = any(int(p.values[p.freq > 0].min(initial=0)) < 0 for p in projections)
    for sy in design_systems(compute):
        if sy.get("coding") == "binary" and negative:
            skipped.append({"name": sy["name"], "reason": "the binary coding cannot carry the trace's negative counts"})
        else:
            systems.append(sy)
    return systems, skipped


def price_projections(projections: list[df.Projection], systems: list[dict], lanes: int,
                      pricing: dict) -> tuple[list[dict], dict[str, dict], dict[int, dict]]:
    """Every projection priced for every system [pJ over the trace]: the per-projection rows, the totals
    per system and the totals per layer and system."""
    per_proj = []
    totals = {s["name"]: _zero() for s in systems}
    layers: dict[int, dict] = {}
    for p in projections:
        row: dict = {"name": p.name, "layer": p.layer, "activations": p.activations,
               "nonzero_fraction": p.nonzero / p.activations if p.activations else 0.0, "designs": {}}
        for s in systems:
            kw = {"lanes": lanes, "acc_w": s["acc_w"]}
            if not s["baseline"]:
                kw["coding"] = s["coding"]
            a = df.accesses(p, s["dataflow"], **kw)
            r = _price(a, p, s, pricing)
            if not s["baseline"]:
                row.setdefault("spikes_per_activation", {})[s["coding"]] = a.notes["events"] / p.activations
            row["designs"][s["name"]] = r
            _add(totals[s["name"]], r)
            _add(layers.setdefault(p.layer, {x["name"]: _zero() for x in systems})[s["name"]], r)
        per_proj.append(row)
    return per_proj, totals, layers


def spikes_per_activation(systems: list[dict], projections: list[df.Projection]) -> dict[str, float]:
    """Spikes per activation of the trace, per coding of the spiking systems (each coding's INT8 window)."""
    events = {}
    for s in systems:
        if not s["baseline"]:
            events[s["coding"]] = sum(p.events(s["coding"], df_T(s["coding"])) for p in projections)
    acts = sum(p.activations for p in projections)
    return {c: e / acts for c, e in events.items()}


def _per_token(r: dict, tokens: int, freq: float) -> dict:
    return {"components_pj": {k: v / tokens for k, v in r["components_pj"].items()},
            "total_pj": r["total_pj"] / tokens, "unit_pj": r["unit_pj"] / tokens,
            "busy_cycles": r["busy_cycles"] / tokens, "weight_row_reads": r["weight_row_reads"] / tokens,
            "run_time_us": r["busy_cycles"] / tokens / freq}


def design_rows(systems: list[dict], totals: dict[str, dict], s_meas: dict[str, float], tokens: int,
                freq: float, dense_macs: int) -> list[dict]:
    """energy.json's ``designs``: per token, per MAC-equivalent, and for spiking designs the reductions
    and break-even spike rates against every baseline."""
    designs = []
    for s in systems:
        t = totals[s["name"]]
        d = {"name": s["name"], "design": s["design"], "dataflow": s["dataflow"], "top": s["top"],
             "meets_timing": s["meets_timing"], "simulation": s["simulation"],
             "per_token": _per_token(t, tokens, freq), "per_mac_eq_pj": t["total_pj"] / dense_macs,
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


def _split_per_token(designs: dict[str, dict], tokens: int) -> dict[str, dict]:
    return {k: {"total_pj_per_token": v["total_pj"] / tokens,
                "components_pj_per_token": {c: x / tokens for c, x in v["components_pj"].items()}}
            for k, v in designs.items()}


def finish_projection_rows(per_proj: list[dict], systems: list[dict], tokens: int) -> None:
    """Add each projection's break-even (memory included, for the figure) and turn its energies per token."""
    for row in per_proj:
        for s in systems:
            if s["baseline"]:
                continue
            sp = row["spikes_per_activation"][s["coding"]]
            row.setdefault("break_even", {})[s["name"]] = {
                b["name"]: _break_even(sp, row["designs"][s["name"]], row["designs"][b["name"]], True)
                for b in systems if b["baseline"]}
        row["designs"] = _split_per_token(row["designs"], tokens)


def constants(st: EnergySettings, compute: list[dict], doc_hw: dict, mp: MemoryPrices) -> dict:
    """energy.json's ``constants``: every price with its source and unit."""
    settings = doc_hw.get("settings", {})
    src_nm, src_vdd = tech.measured_supply(doc_hw)
    lib_name = tech.LIBRARIES[settings.get("tech", tech.DEFAULT_LIBRARY)]["label"].split(" (")[0]
    label = (f"measured node ({lib_name}, {src_vdd:g} V)" if st.node == src_nm else
             f"ESTIMATE: compute scaled from {lib_name} to {st.node} nm (Stillmaker & Baas, x{mp.compute_factor:.4f})")
    return {
        "compute": {"source": "neurosim hw gate-level simulation (hw.json)", "node_nm": src_nm,
                    "library": settings.get("library"),
                    "vdd_v": settings.get("voltage_v"), "unit": "pJ per busy cycle of the array",
                    "scaled_to_nm": st.node, "factor": mp.compute_factor, "label": label,
                    "scaling_source": tech.SOURCE, "scaled_vdd_v": tech.NOMINAL_VDD.get(st.node),
                    "leakage_note": "array leakage scaled like dynamic energy (no leakage factor in the source)",
                    "designs": [{k: c[k] for k in ("key", "top", "busy_pj", "dynamic_pj", "leakage_mw", "simulation",
                                                   "meets_timing", "acc_w")} for c in compute]},
        "weight_sram": dict(mp.sram, banks=mp.banks, weight_row_bits=mp.row_bits, accesses_per_row=mp.words_per_row,
                            unit="pJ per access of one word; mW per bank"),
        "buffer_sram": dict(mp.buffer, banks=2, unit="pJ per 64-bit access, charged per bit"),
        "dram": dict(mp.dram, used=st.weights == "dram"),
    }


def assumptions(mp: MemoryPrices) -> list[str]:
    """energy.json's ``assumptions``: what the pricing leaves out or simplifies."""
    return [
        "one lane array processes every projection in sequence, one input per cycle (no stalls)",
        "zero-skipping MAC: the dense MAC's mean measured energy per activation for each non-zero one; "
        "the compressor is not counted",
        f"weight rows of {mp.row_bits} bits read through a {mp.word_bits}-bit SRAM port, {mp.words_per_row} "
        "access(es) per row, each charged in full (the narrowest CACTI port holding the row; no word "
        "is reused across rows)",
        "buffers charged per bit of a 64-bit SRAM port (packed sequential access)",
        "dram: every weight streamed once per batch for every design",
        "attention score/value products, norms and the LM head are not in the trace's projections",
    ]


def energy_report(trace, hw, settings: EnergySettings | None = None, **changes) -> dict:
    """The energy document (``energy.json``) of a trace under the hardware of ``hw``, priced with
    ``settings`` (fields of :class:`EnergySettings` may also be given by name); with
    ``settings.scenarios`` also the verdict over that grid."""
    st = replace(settings or EnergySettings(), **changes)
    st.check()
    projections = df.projections_from_trace(trace)
    from neurosim.run.trace import read_summary
    summary = read_summary(trace)
    doc_hw = read_hw(hw, st.tech_name)
    f, compute = compute_designs(doc_hw, st.freq)
    lanes = int(doc_hw.get("settings", {}).get("lanes", 16))
    mp = memory_prices(st, projections, lanes, f, doc_hw)
    systems, skipped = priced_systems(compute, projections)
    tokens = int(summary.get("tokens") or max(p.tokens for p in projections))
    per_proj, totals, layers = price_projections(projections, systems, lanes, mp.pricing)
    s_meas = spikes_per_activation(systems, projections)
    acts = sum(p.activations for p in projections)
    dense_macs = sum(p.tokens * p.in_features * p.out_features for p in projections)
    designs = design_rows(systems, totals, s_meas, tokens, f, dense_macs)
    finish_projection_rows(per_proj, systems, tokens)
    model = summary.get("model") if isinstance(summary.get("model"), dict) else {}
    out: dict = {
        "schema": ENERGY_SCHEMA,
        "settings": {"trace": str(trace), "hw": str(hw), "freq_mhz": f, "node_nm": st.node, "sram_kb": st.sram_kb,
                     "buffer_kb": st.buffer_kb, "weights": st.weights, "batch": st.batch, "lanes": lanes,
                     "sram_model": "cited" if mp.cited else "cacti", "dram_level": st.dram_level,
                     "word_bits": mp.word_bits, "weight_row_bits": mp.row_bits, "accesses_per_row": mp.words_per_row},
        "model": model.get("path") if model else None,
        "model_type": model.get("model_type") if model else None,
        "tokens": tokens, "projections": len(projections),
        "weight_bytes": sum(p.in_features * p.out_features for p in projections),
        "dense_macs_per_token": dense_macs / tokens,
        "spikes_per_activation": s_meas,
        "nonzero_fraction": sum(p.nonzero for p in projections) / acts,
        "constants": constants(st, compute, doc_hw, mp),
        "designs": designs,
        "skipped_designs": skipped,
        "per_layer": [{"layer": li, "designs": _split_per_token(d, tokens)} for li, d in sorted(layers.items())],
        "per_projection": per_proj,
        "published_break_even": PUBLISHED,
        "assumptions": assumptions(mp),
    }
    if st.scenarios:
        from .energy_scenarios import Grid, summarize
        from .literature import yan_break_even
        from .scenarios import parse_grid
        g = Grid(projections, doc_hw, tokens=tokens, cache_dir=st.cache_dir)
        out["scenarios"], out["scenario_rows"] = summarize(g, parse_grid(st.scenarios))
        out["scenarios"]["yan_break_even"] = yan_break_even(projections, g)
    return out


def df_T(coding: str) -> int:
    from neurosim.core.coding import INT8_WINDOW
    return INT8_WINDOW[coding]


__all__ = ["NODES_NM", "COMPONENTS", "EnergySettings", "MemoryPrices", "read_hw", "compute_designs", "design_systems",
           "memory_prices", "energy_report"]
