"""The whole hardware flow: configuration search, synthesis, timing, gate-level power, comparison.

1. Candidates: every pipeline depth of the RTL generator (``neurosim.rtl.build.emit``, the default,
   cocotb-verified) and, with ``rtl="both"`` or ``"reference"``, of the reference arrays in
   :mod:`.designs` (gate-level checked only), synthesized
   at one lane with an ABC delay target of the fastest clock, each netlist timed at every clock.
2. Per design and clock: the smallest-area candidate that meets timing at one lane is synthesized
   at the full lane count and timed again (next candidate if the array misses); if none meets,
   the fastest candidate is kept and the result says plainly that the clock is not reached.
3. Power per chosen configuration: gate-level simulation of the full array (zero-delay and
   ``-gspecify``), toggles -> energy from the liberty (:mod:`.power`), active and idle cycles apart.
4. Comparison: per lane array at equal clock, and at equal work (energy and area x cycles per
   MAC-equivalent), next to the paper's reductions.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.paper import HW_CLAIMS as PAPER

from . import designs as refdesigns
from .activity import parse_netlist, simulate
from .liberty import Library
from .power import (DEFAULT_SLEW_NS, clock_energy_per_cycle, combine, energy_per_cycle, leakage_nw,
                    net_energies, vectorless_energy)
from .stimulus import ACTIVE, IDLE, build_stream, decode_acc, synthetic_source, tile_source
from .sta import run_sta
from .synth import synthesize
from .tech import scale_energy_area
from .tools import cell_models_for, default_liberty

POWER_CACHE_VERSION = 2         # bump when the simulation or the energy model changes
VECTORLESS_TOGGLE_RATE = 0.1
#: ABC delay targets tried for the full array, as fractions of the clock period
ABC_TARGET_STEPS = (1.0, 0.9, 0.8)     # toggles per net per cycle, a common default activity for contrast
STA_CROSSCHECK_ACTIVITY = 0.1


def _emit(family: str, design: str, pipeline: int, lanes: int, coding: str, k: int, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    if family == "generator":
        from neurosim.rtl.build import emit
        m = emit(design, coding=coding, lanes=lanes, k=k, pipeline=pipeline, variant=None, out_dir=out_dir)
        m["verilog"] = str(out_dir / Path(m["verilog"]).name)
        m["family"] = "generator"
        return m
    from neurosim.rtl.params import acc_range, signed_width  # same accumulator width as the generator
    acc_w = signed_width(*acc_range(design, None if design == "mac" else coding,
                                    7 if design == "spike" else None, k))
    v, m = refdesigns.emit_verilog(design, lanes=lanes, pipeline=pipeline, acc_w=acc_w)
    path = out_dir / f"{m['top']}.v"
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{m['top']}.", suffix=".tmp")
    with open(fd, "w") as fh:
        fh.write(v)
    Path(tmp).replace(path)        # atomic: concurrent runs never see a partial file
    m.update(verilog=str(path), family="reference", gap=0, k=k)
    return m


def _families(rtl: str) -> list[str]:
    fam = {"generator": ["generator"], "reference": ["reference"], "both": ["generator", "reference"]}
    if rtl not in fam:
        raise NeurosimError(f"--rtl must be one of {tuple(fam)}, got {rtl!r}")
    if "generator" in fam[rtl]:
        try:
            import neurosim.rtl.build  # noqa: F401
        except ImportError as exc:
            if rtl == "generator":
                raise NeurosimError(f"RTL generator not available: {exc}") from None
            return ["reference"]
    return fam[rtl]


def _depths(family: str, design: str, only: dict | None = None) -> list[int]:
    if family == "generator":
        from neurosim.rtl.params import PIPELINES
        d = sorted(PIPELINES[design])
    else:
        d = list(range(refdesigns.MAX_PIPELINE[design] + 1))
    if only and design in only:
        d = [p for p in d if p in only[design]]
    return d


def run_flow(out: str | Path, *, freqs=(250.0, 500.0), lanes: int = 16, coding: str = "bitwise",
             liberty: str | Path | None = None, trace: str | Path | None = None, rtl: str = "generator",
             flavour: str = "yowasp", rows: int = 4, k_inputs: int = 64, k: int = 2560, seed: int = 0,
             glitches: bool = True, cache_dir: str | Path = "build/hw_cache", progress: bool = True,
             tech_nodes=(45, 32, 7), workers: int = 2, pipelines: dict | None = None,
             slew_mode: str = "driver") -> dict:
    """Run the flow and write ``out/hw.json`` and ``out/hw.md``; returns the hw.json document.
    ``pipelines`` ({"mac": [..], "spike": [..]}) restricts the searched depths (tests, quick runs)."""
    t_start = time.time()
    from tqdm import tqdm
    if coding != "bitwise":
        raise NeurosimError("only the bitwise coding is modelled in hardware (barrel variant); got " + coding)
    if not freqs or any(f <= 0 for f in freqs):
        raise NeurosimError("--freq needs positive MHz values")
    if lanes < 1 or lanes > 256:
        raise NeurosimError("--lanes must be 1..256")
    check_out(Path(out))
    if not 1 <= k_inputs <= k:
        raise NeurosimError(f"--inputs must be 1..{k}: the arrays are built for dot products of at most "
                            f"K={k} inputs (longer ones could overflow the accumulators), got {k_inputs}")
    lib_path = Path(liberty) if liberty else default_liberty()
    lib = Library.load(lib_path)
    from .sta import STA_INPUT_DRIVER
    from .synth import ABC_DRIVING_CELL
    missing = lib.missing_cell_classes(tuple(dict.fromkeys((ABC_DRIVING_CELL, STA_INPUT_DRIVER))))
    if missing:
        raise NeurosimError(f"liberty {lib_path} lacks what the flow needs: {'; '.join(missing)}")
    models = cell_models_for(lib_path)
    cache_dir = Path(cache_dir)
    rtl_dir = cache_dir / "rtl"
    freqs = sorted(float(f) for f in freqs)
    periods = {f: round(1000.0 / f, 4) for f in freqs}
    delay_ps = int(round(min(periods.values()) * 1000))
    fams = _families(rtl)
    # stimulus first: a bad --trace fails before any synthesis
    if trace:
        src = tile_source(trace, rows, k_inputs, lanes, coding)
    else:
        src = synthetic_source(rows, k_inputs, lanes, coding, T=7, seed=seed)
    timings_s: dict[str, float] = {}

    # ---- 1. candidates at one lane ---------------------------------------------------------------
    cands = []
    for fam in fams:
        for design in ("mac", "spike"):
            for p in _depths(fam, design, pipelines):
                cands.append((fam, design, p))
    bar = tqdm(total=len(cands), desc="hw: synth+STA candidates (1 lane)", disable=not progress, unit="cfg")
    t0 = time.time()
    candidates = []
    from concurrent.futures import ThreadPoolExecutor
    emitted = [(fam, design, p, _emit(fam, design, p, 1, coding, k, rtl_dir)) for fam, design, p in cands]

    def cand(item):
        fam, design, p, m = item
        r = synthesize(m["verilog"], m["top"], lib_path, cache_dir=cache_dir / "synth", flavour=flavour,
                       booth=(design == "mac" and flavour == "yowasp"), delay_ps=delay_ps, lib=lib)
        row = {"family": fam, "design": design, "pipeline": p, "top": m["top"], "latency": m["latency"],
               "area_um2": r.area_um2, "cells": r.n_cells, "timing": {}}
        for f in freqs:
            s = run_sta(r.netlist, m["top"], lib_path, periods[f])
            row["timing"][f"{f:g}"] = {"slack_ns": s.slack_ns, "met": s.met, "fmax_mhz": s.fmax_mhz}
        return row
    # synthesis and STA are external processes: two at a time (2-core machines)
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        for row in pool.map(cand, emitted):
            candidates.append(row)
            bar.update(1)
    bar.close()
    timings_s["candidates"] = time.time() - t0

    # ---- 2. choose per design and clock; full array ---------------------------------------------
    t0 = time.time()
    chosen: dict[str, dict] = {}
    full_cache: dict[tuple, dict] = {}

    def full(fam, design, p, dps):
        key = (fam, design, p, dps)
        if key not in full_cache:
            m = _emit(fam, design, p, lanes, coding, k, rtl_dir)
            r = synthesize(m["verilog"], m["top"], lib_path, cache_dir=cache_dir / "synth", flavour=flavour,
                           booth=(design == "mac" and flavour == "yowasp"), delay_ps=dps, lib=lib)
            full_cache[key] = {"manifest": m, "synth": r, "sta": {}}
        return full_cache[key]

    def timed(fr, fk, f):
        if fk not in fr["sta"]:
            fr["sta"][fk] = run_sta(fr["synth"].netlist, fr["manifest"]["top"], lib_path, periods[f],
                                    activity=STA_CROSSCHECK_ACTIVITY)
        return fr["sta"][fk]
    sel = [(d, f) for d in ("mac", "spike") for f in freqs]
    bar = tqdm(total=len(sel), desc=f"hw: synth+STA chosen ({lanes} lanes)", disable=not progress, unit="cfg")
    # the first choice of every (design, clock), synthesized two at a time; the search below then
    # finds them in the cache
    first = []
    for design, f in sel:
        ok = sorted([c for c in candidates if c["design"] == design and c["timing"][f"{f:g}"]["met"]],
                    key=lambda c: c["area_um2"])
        if ok:
            m = _emit(ok[0]["family"], design, ok[0]["pipeline"], lanes, coding, k, rtl_dir)
            first.append((m, design == "mac" and flavour == "yowasp", int(round(periods[f] * 1000))))
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        list(pool.map(lambda a: synthesize(a[0]["verilog"], a[0]["top"], lib_path, cache_dir=cache_dir / "synth",
                                           flavour=flavour, booth=a[1], delay_ps=a[2], lib=lib), first))
    for design, f in sel:
        fk = f"{f:g}"
        # the array is synthesized for its own clock; when it misses by a little (buffering of the
        # broadcast inputs grows with the lanes), tighter ABC delay targets are tried before a deeper
        # pipeline
        targets = [int(round(periods[f] * 1000 * x)) for x in ABC_TARGET_STEPS]
        mine = [c for c in candidates if c["design"] == design]
        meeting = sorted([c for c in mine if c["timing"][fk]["met"]], key=lambda c: c["area_um2"])
        pick, met, tried = None, False, []
        for c in meeting:
            for dps in targets:
                fr = full(c["family"], design, c["pipeline"], dps)
                st = timed(fr, fk, f)
                tried.append({"top": fr["manifest"]["top"], "abc_delay_target_ps": dps, "slack_ns": st.slack_ns})
                if st.met:
                    pick, met, pick_d = c, True, dps
                    break
            if met:
                break
        if pick is None:
            pick = max(mine, key=lambda c: c["timing"][fk]["fmax_mhz"])
            best = None
            for dps in targets:
                st = timed(full(pick["family"], design, pick["pipeline"], dps), fk, f)
                if best is None or st.slack_ns > best[1]:
                    best = (dps, st.slack_ns)
            pick_d = best[0]
        chosen[f"{design}@{fk}"] = {"design": design, "freq_mhz": f, "family": pick["family"],
                                    "pipeline": pick["pipeline"], "abc_delay_target_ps": pick_d,
                                    "meets_timing": met, "tried_at_full_size": tried,
                                    "key": (pick["family"], design, pick["pipeline"], pick_d)}
        bar.update(1)
    bar.close()
    timings_s["chosen_synthesis"] = time.time() - t0

    # ---- 3. stimulus and gate-level power ---------------------------------------------------------
    t0 = time.time()
    spa = src.spikes_per_activation
    net_cache: dict[tuple, tuple] = {}
    jobs = []
    for key, ch in chosen.items():
        fr = full_cache[ch["key"]]
        m, r = fr["manifest"], fr["synth"]
        if ch["key"] not in net_cache:
            net = parse_netlist(Path(r.netlist).read_text(), lib)
            net_cache[ch["key"]] = (net, net_energies(net, lib, slew_mode=slew_mode),
                                    clock_energy_per_cycle(net, lib), leakage_nw(net, lib))
        net, ne, clk, leak = net_cache[ch["key"]]
        stream = build_stream(src, ch["design"], m)
        period = periods[ch["freq_mhz"]]
        ch["power"] = {}
        ch["stream"] = {"events": stream.events, "activations": stream.activations,
                        "cycles": len(stream.cycle_class), **stream.info}
        ch["vectorless"] = vectorless_energy(ne, clk, leak, period, VECTORLESS_TOGGLE_RATE).to_dict()
        ch["clock"] = clk
        ch["leakage_nw"] = leak
        for delays in ([False, True] if glitches else [False]):
            label = "gspecify" if delays else "zero_delay"
            if delays and not ch["meets_timing"]:
                ch["power"][label] = {"skipped": "timing not met at this clock: a delay-annotated "
                                                 "simulation would latch wrong values"}
                continue
            jobs.append((ch, label, delays, m, r, net, ne, clk, leak, stream, period))

    power_cache = cache_dir / "power"

    def one(job):
        ch, label, delays, m, r, net, ne, clk, leak, stream, period = job
        h = hashlib.sha256(json.dumps([POWER_CACHE_VERSION, r.key, period, delays, DEFAULT_SLEW_NS, slew_mode,
                                       stream.inputs, stream.reset, stream.drain,
                                       stream.cycle_class.tolist()], sort_keys=True).encode()).hexdigest()[:24]
        hit = power_cache / f"{h}.json"
        if hit.is_file():
            return ch, label, json.loads(hit.read_text())
        sim = simulate(r.netlist, net, models, stimulus=stream.inputs, drain=stream.drain,
                       drain_cycles=int(m["latency"]) + 4, period_ns=period, delays=delays,
                       cycle_class=stream.cycle_class, n_classes=2, reset_inputs=stream.reset,
                       reset_cycles=max(4, int(m.get("reset_cycles", 0))))
        got = decode_acc(sim.outputs["acc"], int(m["lanes"]), int(m["acc_w"]))
        if got != stream.expected_last_row:
            raise NeurosimError(f"{m['top']} ({label}): gate-level accumulators {got[:4]}... differ from "
                                f"the integer reference {stream.expected_last_row[:4]}...")
        act = energy_per_cycle(sim.toggles, ne, clk, leak, period, ACTIVE)
        idl = energy_per_cycle(sim.toggles, ne, clk, leak, period, IDLE)
        idl_gated = energy_per_cycle(sim.toggles, ne, clk, leak, period, IDLE, clocked=False)
        res = {
            "bit_exact": True, "cycles": sim.cycles, "vcd_bytes": sim.vcd_bytes,
            "unknown_vcd_bits": sim.toggles.unknown_vars,
            "active": act.to_dict(), "idle_clocked": idl.to_dict(), "idle_clock_gated": idl_gated.to_dict(),
            "stream_mean_clocked": combine([act, idl]).to_dict(),
        }
        power_cache.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_suffix(f".tmp{id(job)}")
        tmp.write_text(json.dumps(res))
        tmp.replace(hit)
        return ch, label, res
    # the simulations are external processes: run two at a time (2-core machines)
    from concurrent.futures import ThreadPoolExecutor
    bar = tqdm(total=len(jobs), desc="hw: gate-level power", disable=not progress, unit="sim")
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        for ch, label, res in pool.map(one, jobs):
            ch["power"][label] = res
            bar.update(1)
    for ch in chosen.values():   # stable key order in hw.json
        ch["power"] = dict(sorted(ch["power"].items()))
    bar.close()
    timings_s["power"] = time.time() - t0

    # ---- 4. assemble ----------------------------------------------------------------------------
    configs = {}
    for (fam, design, p, dps), fr in full_cache.items():
        m, r = fr["manifest"], fr["synth"]
        configs[f"{m['top']}@D{dps}"] = {
            "family": fam, "design": design, "pipeline": p, "abc_delay_target_ps": dps,
            "lanes": m["lanes"], "acc_w": m["acc_w"],
            "latency": m["latency"], "area_um2": r.area_um2, "seq_area_um2": r.seq_area_um2,
            "area_check_um2": r.area_check_um2, "cells": r.cells, "n_cells": r.n_cells,
            "netlist": r.netlist, "synth_settings": r.settings, "synth_key": r.key,
            "verilog_sha256": hashlib.sha256(Path(m["verilog"]).read_bytes()).hexdigest(),
            "timing": {fk: {**s.to_dict(), "path": s.path} for fk, s in fr["sta"].items()},
        }
    results = {}
    for key, ch in chosen.items():
        fr = full_cache[ch["key"]]
        top = fr["manifest"]["top"]
        c = {k2: v for k2, v in ch.items() if k2 != "key"}
        c["top"] = top
        c["area_um2"] = fr["synth"].area_um2
        st = fr["sta"][f"{ch['freq_mhz']:g}"]
        c["slack_ns"], c["fmax_mhz"] = st.slack_ns, st.fmax_mhz
        c["critical_path"] = f"{st.startpoint} -> {st.endpoint}"
        c["opensta_report_power_w"] = st.report_power_w
        results[key] = c
    comparison = compare(results, freqs, spa, src.T, lanes)
    settings = {
        "freqs_mhz": freqs, "lanes": lanes, "coding": coding, "variant": "barrel", "T": src.T, "k_max": k,
        "liberty": str(lib_path), "library": lib.name, "voltage_v": lib.voltage, "rtl": rtl,
        "families": fams, "yosys": flavour, "booth_for_mac": flavour == "yowasp",
        "abc_delay_target_ps_candidates": delay_ps, "abc_target_steps_full_array": ABC_TARGET_STEPS, "stimulus": src.origin, "rows": int(src.counts.shape[0]),
        "inputs": int(src.counts.shape[1]), "seed": seed, "slew_ns": DEFAULT_SLEW_NS, "slew_mode": slew_mode,
        "pipelines_searched": pipelines or "all",
        "vectorless_toggle_rate": VECTORLESS_TOGGLE_RATE, "sta_crosscheck_activity": STA_CROSSCHECK_ACTIVITY,
        "wire_capacitance": "none (unplaced netlist)", "clock_tree": "none (ideal clock; clock net = pin caps)",
    }
    doc = {
        "schema": "neurosim.hw/1",
        "settings": settings,
        "units": {"area": "um^2", "energy": "pJ per clock cycle of the whole lane array", "power": "mW",
                  "time": "ns", "freq": "MHz", "leakage": "nW", "capacitance": "pF"},
        "measured_spikes_per_activation": spa,
        "candidates_1lane": candidates,
        "configs": configs,
        "results": results,
        "comparison": comparison,
        "paper": PAPER,
        "assumptions": assumptions(settings, spa),
        "technology_scaling": scale_energy_area(comparison, tech_nodes) if tech_nodes else None,
    }
    doc = json.loads(json.dumps(doc, default=_jsonable))
    run_info = {"durations_s": {k2: round(v, 2) for k2, v in timings_s.items()},
                "total_s": round(time.time() - t_start, 2),
                "started_unix": round(t_start, 0)}
    doc["run"] = run_info          # the only non-deterministic field
    write_outputs(Path(out), doc, run_info)
    return doc


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o))


def _pct(new: float, base: float) -> float:
    return 100.0 * (1.0 - new / base) if base else float("nan")


def busy_cycle_energy(p: dict, events: int) -> float:
    """Energy [pJ] of one cycle of an array that takes one input every cycle.

    The measured stream has active cycles (an event in the pipeline, including the drain after
    each row) and idle ones (operands held). Every cycle costs at least the idle-cycle floor (clock
    and leakage); what the active cycles cost above it is caused by the events:
    ``E_busy = E_idle + N_active (E_active - E_idle) / N_events``. Without idle cycles: E_active."""
    a, i = p["active"], p["idle_clocked"]
    if not i["cycles"] or not events:
        return a["total_pj"]
    return i["total_pj"] + a["cycles"] * (a["total_pj"] - i["total_pj"]) / events


def compare(results: dict, freqs, spa: float, T: int, lanes: int) -> dict:
    """Reductions of the spiking array against the MAC array (positive = spiking is smaller)."""
    out = {}
    for f in freqs:
        fk = f"{f:g}"
        mac, spk = results.get(f"mac@{fk}"), results.get(f"spike@{fk}")
        if not mac or not spk:
            continue
        row = {"both_meet_timing": mac["meets_timing"] and spk["meets_timing"],
               "mac": mac["top"], "spike": spk["top"],
               "area_mac_um2": mac["area_um2"], "area_spike_um2": spk["area_um2"],
               "area_reduction_pct": _pct(spk["area_um2"], mac["area_um2"])}
        for label in ("zero_delay", "gspecify"):
            pm, ps = mac["power"].get(label, {}), spk["power"].get(label, {})
            if "active" not in pm or "active" not in ps:
                row[label] = {"skipped": pm.get("skipped") or ps.get("skipped") or "not simulated"}
                continue
            # energy of one busy cycle (one activation / one spike event, all lanes)
            e_mac = busy_cycle_energy(pm, mac["stream"]["events"])
            e_spk = busy_cycle_energy(ps, spk["stream"]["events"])
            e_idle = ps["idle_clocked"]["total_pj"]
            e_idle_g = ps["idle_clock_gated"]["total_pj"]
            rate = spa / T                                   # busy fraction of a time-stepped schedule
            slot = rate * e_spk + (1 - rate) * e_idle
            slot_g = rate * e_spk + (1 - rate) * e_idle_g
            r = {
                "energy_per_cycle_pj": {"mac_busy": e_mac, "spike_busy": e_spk, "spike_idle_clocked": e_idle,
                                        "spike_idle_clock_gated": e_idle_g,
                                        "spike_time_stepped_clocked": slot,
                                        "spike_time_stepped_clock_gated": slot_g},
                "power_mw": {"mac_busy": e_mac * f * 1e-3, "spike_busy": e_spk * f * 1e-3,
                             "spike_time_stepped_clocked": slot * f * 1e-3,
                             "spike_time_stepped_clock_gated": slot_g * f * 1e-3},
                # (a) equal clock, each array busy every cycle
                "power_reduction_equal_clock_busy_pct": _pct(e_spk, e_mac),
                # (a') equal clock, spike array on a time-stepped schedule (T slots per activation)
                "power_reduction_equal_clock_time_stepped_pct": _pct(slot, e_mac),
                "power_reduction_equal_clock_time_stepped_gated_pct": _pct(slot_g, e_mac),
                # (b) equal work: per MAC-equivalent (one activation x one weight)
                "energy_per_mac_eq_pj": {"mac": e_mac / lanes, "spike_event_driven": e_spk * spa / lanes,
                                         "spike_time_stepped_gated": slot_g * T / lanes},
                "energy_reduction_equal_work_pct": _pct(e_spk * spa, e_mac),
                "energy_reduction_equal_work_time_stepped_gated_pct": _pct(slot_g * T, e_mac),
            }
            row[label] = r
        row["area_cycles_per_mac_eq_um2"] = {"mac": mac["area_um2"] / lanes,
                                            "spike_event_driven": spk["area_um2"] * spa / lanes,
                                            "spike_time_stepped": spk["area_um2"] * T / lanes}
        row["area_x_cycles_reduction_equal_work_pct"] = _pct(spk["area_um2"] * spa, mac["area_um2"])
        out[fk] = row
    return out


def assumptions(settings: dict, spa: float) -> list[dict]:
    return [
        {"item": "process node", "paper": "unknown", "here": f"OSU 0.18 um ({settings['library']}), "
                                                           f"{settings['voltage_v']} V, typical corner"},
        {"item": "synthesis tool", "paper": "unknown", "here": f"{settings['yosys']} Yosys + ABC, Booth MAC: "
                                                               f"{settings['booth_for_mac']}"},
        {"item": "array size", "paper": "unknown", "here": f"{settings['lanes']} lanes, K<= {settings['k_max']}"},
        {"item": "coding", "paper": "INT8-Spiking (bitwise sign-magnitude, inferred)",
         "here": f"bitwise sign-magnitude, T={settings['T']}, barrel shifter"},
        {"item": "activity source", "paper": "unknown", "here": settings["stimulus"]
         + f"; measured {spa:.3f} spikes per activation"},
        {"item": "glitches", "paper": "unknown", "here": "zero-delay and -gspecify (cell delays) both reported"},
        {"item": "clock gating", "paper": "unknown", "here": "none / ideal for idle cycles, both reported"},
        {"item": "wires and clock tree", "paper": "unknown (post-layout?)", "here": "no wire load, ideal clock"},
        {"item": "throughput", "paper": "unknown", "here": "MAC: one activation per cycle; spike: one event "
                                                           "per cycle (event-driven) or T slots per activation"},
    ]


def check_out(out: Path) -> None:
    """HWOUT is replaced as a whole: refuse a file or a folder that is not an earlier hw output
    (it would be deleted), before any work."""
    if out.exists():
        if not out.is_dir():
            raise NeurosimError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()) and not (out / "hw.json").is_file():
            raise NeurosimError(f"--out {out} exists and is not a hw output folder (no hw.json): it would be "
                                "replaced; choose another --out")


def write_outputs(out: Path, doc: dict, run_info: dict) -> None:
    """Write hw.json, hw.md and run.json atomically (temporary folder, then rename)."""
    from .report import render_markdown
    out = Path(out)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{hashlib.sha1(str(time.time()).encode()).hexdigest()[:8]}"
    import shutil
    tmp.mkdir()
    old = None
    try:
        (tmp / "hw.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        (tmp / "hw.md").write_text(render_markdown(doc))
        (tmp / "run.json").write_text(json.dumps(run_info, indent=1) + "\n")
        if out.exists():
            old = out.parent / f".{out.name}.old-{tmp.name[-8:]}"
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        # an error or an interrupt (Ctrl-C, SIGTERM) leaves no partial folder and the earlier one as it was
        if old is not None and old.exists() and not out.exists():
            old.rename(out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
