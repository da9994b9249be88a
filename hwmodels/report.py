"""hw.md: the Markdown summary of hw.json."""

from __future__ import annotations


def _f(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return str(x)


def _pct(x) -> str:
    return "-" if x is None else f"{x:,.1f}%"


def _ci(x: dict, key: str, nd: int = 2, unit: str = "") -> str:
    """``point [lo, hi]`` of one figure of an ``over_tiles`` entry."""
    p = x["point"][key]
    iv = (x.get("interval") or {}).get(key)
    return f"{p:.{nd}f}{unit}" + (f" [{iv[0]:.{nd}f}, {iv[1]:.{nd}f}]" if iv else "")


def stimulus_lines(doc: dict) -> list[str]:
    """The stimulus sample's spike rate and zero share beside the whole model's (hw.json's
    ``stimulus_stats``)."""
    st = doc.get("stimulus_stats")
    if not st:
        return []
    rows = [("stimulus sample (streamed rows)", st["sample"])]
    if st["sample"].get("whole_tiles"):
        rows.append(("whole trace tiles", st["sample"]["whole_tiles"]))
    if st.get("model"):
        rows.append(("whole model (trace summary, MAC-weighted)", st["model"]))
    L = ["## Stimulus against the model", "",
         "| data | spikes per activation | zero share |", "|---|---|---|"]
    L += [f"| {name} | {v['spikes_per_activation']:.3f} | {100 * v['zero_share']:.1f}% |" for name, v in rows]
    return L + [""]


def _over_tiles(doc: dict) -> list[tuple[str, str, dict]]:
    """(clock, simulation, ``over_tiles``) of every clock of a hw.json that has them."""
    out = []
    for fk, c in doc["comparison"].items():
        lab = "gspecify" if "energy_per_cycle_pj" in c.get("gspecify", {}) else "zero_delay"
        x = c.get(lab, {}).get("over_tiles")
        if x:
            out.append((fk, lab, x))
    return out


def interval_lines(items: list[tuple[str, str, dict]]) -> list[str]:
    """Per (clock, simulation, ``over_tiles``): the energies per event and per active cycle and the
    reductions with their 95% intervals over tiles, or why there is none."""
    L = []
    for fk, lab, x in items:
        if "point" not in x:
            L.append(f"- {fk} MHz: no interval over tiles ({x['why']}).")
            continue
        why = "" if x.get("interval") else f" (no interval: {x['why']})"
        line = (f"- {fk} MHz ({lab}), {x['tiles']} tiles{why}: energy per event (busy cycle) MAC "
                f"{_ci(x, 'mac_energy_per_event_pj')} pJ, spiking {_ci(x, 'spike_energy_per_event_pj')} pJ; per "
                f"active cycle MAC {_ci(x, 'mac_energy_per_active_cycle_pj')} pJ, spiking "
                f"{_ci(x, 'spike_energy_per_active_cycle_pj')} pJ; power reduction (equal clock, busy) "
                f"{_ci(x, 'power_reduction_equal_clock_busy_pct', 1, '%')}; energy per MAC-eq at the sample's rate "
                f"{_ci(x, 'energy_reduction_equal_work_pct', 1, '%')}")
        if "energy_reduction_equal_work_model_pct" in x["point"]:
            line += f", at the model's rate {_ci(x, 'energy_reduction_equal_work_model_pct', 1, '%')}"
        L.append(line + ".")
    method = next((x["method"] for _, _, x in items if x.get("method")), None)
    if L:
        L = ["", f"Intervals over tiles (95%{', ' + method if method else ''}):", ""] + L
    return L


def render_markdown(doc: dict) -> str:
    """hw.md from hw.json: bottom line, chosen configurations, candidates, energies, reductions,
    assumptions, scaling."""
    s = doc["settings"]
    L = ["# Hardware models: spiking accumulate array vs INT8 MAC array", "",
         f"Library {s['library']} ({s['voltage_v']} V), {s['lanes']} lanes, coding {s['coding']} "
         f"(T={s['T']}), Yosys: {s['yosys']}, stimulus: {s['stimulus']}.",
         f"Measured spikes per activation: {doc['measured_spikes_per_activation']:.3f}.", ""]
    L += stimulus_lines(doc) + ["## Bottom line", ""]
    P0 = doc["paper"]
    for fk, c in doc["comparison"].items():
        g = c.get("gspecify", {}) if "energy_per_cycle_pj" in c.get("gspecify", {}) else c.get("zero_delay", {})
        which = "with glitches (-gspecify)" if g is c.get("gspecify") else "zero-delay"
        paper_p = P0["power_reduction_500mhz_pct"] if fk == "500" else P0["power_reduction_other_pct"]
        line = (f"- **{fk} MHz** ({'both meet timing' if c['both_meet_timing'] else 'timing NOT met by both'}): "
                f"area {c['area_reduction_pct']:.1f}% smaller (paper {P0['area_reduction_pct']}%)")
        if "power_reduction_equal_clock_busy_pct" in g:
            line += (f"; power at equal clock, both busy, {which}: {g['power_reduction_equal_clock_busy_pct']:.1f}% "
                     f"lower (paper {paper_p}%); energy per MAC-equivalent: "
                     f"{g['energy_reduction_equal_work_pct']:.1f}% lower")
        L.append(line + ".")
    L += interval_lines(_over_tiles(doc))
    if doc.get("libraries"):
        L += ["", "## Cell libraries side by side (`--tech all`; positive reductions = spiking smaller)", ""]
        L += library_table(doc["libraries"])
    L += ["",
         "## Chosen configurations (cheapest that meets timing)", "",
         "| design @ MHz | top | family | pipeline | ABC -D ps | area um^2 | slack ns | fmax MHz | meets | critical path |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in doc["results"].items():
        L.append(f"| {key} | {r['top']} | {r['family']} | {r['pipeline']} | {r.get('abc_delay_target_ps')} | "
                 f"{_f(r['area_um2'], 0)} | "
                 f"{_f(r['slack_ns'], 3)} | {_f(r['fmax_mhz'], 0)} | {'yes' if r['meets_timing'] else '**NO**'} | "
                 f"{r['critical_path']} |")
    miss = [k for k, r in doc["results"].items() if not r["meets_timing"]]
    if miss:
        L += ["", "**Not reached:** " + ", ".join(
            f"{k} (best {doc['results'][k]['fmax_mhz']:.0f} MHz)" for k in miss) + "."]
    fks = list(doc["settings"]["freqs_mhz"])
    L += ["", "## Every candidate at one lane (area um^2, worst slack ns per clock)", "",
          "| design | family | pipeline | latency | area | " + " | ".join(f"slack @{f:g}" for f in fks) + " |",
          "|---|---|---|---|---|" + "---|" * len(fks)]
    for c in doc["candidates_1lane"]:
        sl = " | ".join(f"{c['timing'][f'{f:g}']['slack_ns']:.3f}{'' if c['timing'][f'{f:g}']['met'] else ' x'}"
                        for f in fks)
        L.append(f"| {c['design']} | {c['family']} | {c['pipeline']} | {c['latency']} | {c['area_um2']:,.0f} | {sl} |")
    L += ["", "## Energy per cycle of the whole array (pJ), gate-level activity", "",
          "| design @ MHz | sim | active | idle clocked | idle gated | switching | internal | clock | leakage | "
          "vectorless @0.1 | OpenSTA report_power @0.1 |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in doc["results"].items():
        rp = r.get("opensta_report_power_w") or {}
        sta_pj = rp["total_w"] * 1e6 / r["freq_mhz"] if rp else None   # W / MHz -> pJ per cycle
        for label, p in r["power"].items():
            if "active" not in p:
                L.append(f"| {key} | {label} | {p.get('skipped', '')} | | | | | | | | |")
                continue
            a = p["active"]
            L.append(f"| {key} | {label} | {_f(a['total_pj'], 2)} | {_f(p['idle_clocked']['total_pj'], 2)} | "
                     f"{_f(p['idle_clock_gated']['total_pj'], 2)} | {_f(a['switching_pj'], 2)} | "
                     f"{_f(a['internal_pj'] + a['input_pins_pj'], 2)} | {_f(a['clock_pj'], 2)} | "
                     f"{_f(a['leakage_pj'], 4)} | {_f(r['vectorless']['total_pj'], 2)} | {_f(sta_pj, 2)} |")
    L += ["", "Active: cycles with an event in the pipeline; idle: none (operands held). Internal includes "
          "flip-flop D-pin energy. OpenSTA's figure (vectorless, adds rise and fall energies) is a "
          "cross-check only.", ""]
    P = doc["paper"]
    L += ["", "## Reductions of the spiking array vs the MAC array (positive = spiking smaller)", "",
          "| MHz | both meet timing | area | power, equal clock, busy | power, time-stepped, gated | "
          "energy per MAC-eq (event-driven) | area x cycles per MAC-eq | energy per MAC-eq, model's rate | "
          "area x cycles per activation, model's rate | paper area | paper power |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for fk, c in doc["comparison"].items():
        for label in ("zero_delay", "gspecify"):
            r = c.get(label, {})
            if "energy_per_cycle_pj" not in r:
                L.append(f"| {fk} ({label}) | {c['both_meet_timing']} | {_f(c['area_reduction_pct'])}% | "
                         f"{r.get('skipped', '-')} | | | | | | | |")
                continue
            pp = P["power_reduction_500mhz_pct"] if fk == "500" else P["power_reduction_other_pct"]
            wm = r.get("equal_work_model") or {}
            am = (c.get("area_cycles_per_activation_um2") or {}).get("model") or {}
            L.append(f"| {fk} ({label}) | {c['both_meet_timing']} | {_f(c['area_reduction_pct'])}% | "
                     f"{_f(r['power_reduction_equal_clock_busy_pct'])}% | "
                     f"{_f(r['power_reduction_equal_clock_time_stepped_gated_pct'])}% | "
                     f"{_f(r['energy_reduction_equal_work_pct'])}% | "
                     f"{_f(c['area_x_cycles_reduction_equal_work_pct'])}% | {_pct(wm.get('reduction_pct'))} | "
                     f"{_pct(am.get('reduction_pct'))} | {P['area_reduction_pct']}% | {pp}% |")
    kinds = doc.get("settings", {}).get("kinds") or {}
    if doc.get("comparison_kinds"):
        L += ["", "## Every spiking kind vs the MAC array (`--coding`; positive = spiking smaller)", "",
              "| kind | coding | variant | T | spikes/act | MHz | both meet timing | area | energy per busy cycle pJ "
              "(spike / MAC) | energy per MAC-eq (event-driven) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, comp in doc["comparison_kinds"].items():
            kd = kinds.get(name, {})
            for fk, c in comp.items():
                lab = "gspecify" if "energy_per_cycle_pj" in c.get("gspecify", {}) else "zero_delay"
                r = c.get(lab, {})
                e = r.get("energy_per_cycle_pj", {})
                L.append(f"| {name} | {kd.get('coding')} | {kd.get('variant') or '-'} | {kd.get('T')} | "
                         f"{_f(kd.get('spikes_per_activation') or 0, 3)} | {fk} | {c['both_meet_timing']} | "
                         f"{_f(c['area_reduction_pct'])}% | "
                         + (f"{_f(e['spike_busy'], 2)} / {_f(e['mac_busy'], 2)} ({lab}) | "
                            f"{_f(r['energy_reduction_equal_work_pct'])}% |" if e else "not simulated | |"))
    L += ["", "Equal clock, busy: both arrays take one input per cycle (an activation / a spike event). "
          "Time-stepped: the spike array spends T slots per activation, busy at the measured spike rate, "
          "idle slots with ideal clock gating. Equal work: per MAC-equivalent (one activation x one weight), "
          "the spike array needs the measured spikes per activation in cycles; at the model's rate: the same with the "
          "whole trace's MAC-weighted spikes per activation (hw.json's `stimulus_stats/model`). Area x cycles per "
          "activation: area times the cycles one activation takes (MAC 1, spiking its spikes per activation).", "",
          "## Assumptions that differ from (or are unknown in) the paper", "",
          "| item | paper | here |", "|---|---|---|"]
    for a in doc["assumptions"]:
        L.append(f"| {a['item']} | {a['paper']} | {a['here']} |")
    ts = doc.get("technology_scaling")
    if ts:
        L += ["", f"## Technology scaling: {ts['label']}", "", f"Source: {ts['source']}.", ""]
        for node, e in ts["nodes"].items():
            if "refused" in e:
                L.append(f"- {node} nm: {e['refused']}")
                continue
            parts = []
            for fk, v in e["per_freq"].items():
                em = v["energy_per_mac_eq_pj"]
                parts.append(f"{fk} MHz: area MAC {v['area_mac_um2']:,.0f} / spike {v['area_spike_um2']:,.0f} um^2"
                             + (f", energy per MAC-eq MAC {em.get('mac', 0):.4f} / spike "
                                f"{em.get('spike_event_driven', 0):.4f} pJ" if em else ""))
            L.append(f"- {node} nm (energy x{e['energy_factor']:.4f}, area x{e['area_factor']:.4f}): " + "; ".join(parts))
    L.append("")
    return "\n".join(L)


def unit_figures(hw: dict, command: str | None = None) -> dict:
    """The unit hardware figures of a hw.json, for ``docs/results/hw.json`` (rendered by
    :func:`render_result`): per clock the chosen arrays, areas, busy-cycle energies, the reductions per
    busy cycle and at equal work (the stimulus' and the model's spike rate), area x cycles per
    activation, and the intervals over tiles; the stimulus against the model."""
    s = hw["settings"]
    clocks = {}
    for fk, c in hw["comparison"].items():
        lab = "gspecify" if "energy_per_cycle_pj" in c.get("gspecify", {}) else "zero_delay"
        r = c.get(lab, {})
        row = {"both_meet_timing": c["both_meet_timing"], "mac": c["mac"], "spike": c["spike"],
               "area_mac_um2": c["area_mac_um2"], "area_spike_um2": c["area_spike_um2"],
               "area_reduction_pct": c["area_reduction_pct"],
               "area_cycles_per_activation_um2": c.get("area_cycles_per_activation_um2", {})}
        if "energy_per_cycle_pj" in r:
            row.update(sim=lab, energy_per_cycle_pj=r["energy_per_cycle_pj"],
                       power_reduction_equal_clock_busy_pct=r["power_reduction_equal_clock_busy_pct"],
                       energy_reduction_equal_work_pct=r["energy_reduction_equal_work_pct"],
                       energy_per_mac_eq_pj=r["energy_per_mac_eq_pj"],
                       equal_work_model=r.get("equal_work_model"), over_tiles=r.get("over_tiles"))
        clocks[fk] = row
    return {"renderer": "neurosim.hwmodels.report:render_result", "command": command,
            "settings": {k: s.get(k) for k in ("library", "voltage_v", "lanes", "coding", "T", "yosys", "rows",
                                               "inputs", "seed", "stimulus")},
            "measured_spikes_per_activation": hw["measured_spikes_per_activation"],
            "stimulus_stats": hw.get("stimulus_stats"), "paper": hw["paper"], "clocks": clocks,
            "run_s": (hw.get("run") or {}).get("total_s"), "load_after": (hw.get("run") or {}).get("load_avg_after")}


def render_result(doc: dict) -> str:
    """``docs/results/hw.md`` from :func:`unit_figures`' document."""
    s = doc["settings"]
    L = ["# Unit hardware figures: spiking array vs INT8 MAC array", "",
         f"Generated by `{doc.get('command') or 'neurosim hw'}` then `python -m neurosim.results hw` "
         f"({s['library']}, {s['voltage_v']} V, {s['lanes']} lanes, {s['coding']} T={s['T']}, Yosys {s['yosys']}; "
         f"stimulus {s['rows']} rows x {s['inputs']} inputs, seed {s['seed']}"
         + (f"; run {doc['run_s']:.0f} s, load {doc['load_after']}" if doc.get("run_s") else "") + ").", ""]
    L += stimulus_lines(doc)
    L += ["| clock | timing met by both | sim | area MAC / spike um^2 | area red. | pJ per busy cycle MAC / spike | "
          "power red. (equal clock, busy) | energy red. per MAC-eq, stimulus rate | energy red. per MAC-eq, model rate "
          "| area x cycles per activation red., model rate |", "|---|---|---|---|---|---|---|---|---|---|"]
    for fk, c in doc["clocks"].items():
        e = c.get("energy_per_cycle_pj") or {}
        wm = c.get("equal_work_model") or {}
        am = c["area_cycles_per_activation_um2"].get("model") or {}
        L.append(f"| {fk} MHz | {'yes' if c['both_meet_timing'] else 'NO'} | {c.get('sim', 'not simulated')} | "
                 f"{c['area_mac_um2']:,.0f} / {c['area_spike_um2']:,.0f} | {c['area_reduction_pct']:.1f}% | "
                 + (f"{e['mac_busy']:.2f} / {e['spike_busy']:.2f} | {c['power_reduction_equal_clock_busy_pct']:.1f}% | "
                    f"{c['energy_reduction_equal_work_pct']:.1f}% | " if e else "- | - | - | ")
                 + f"{_pct(wm.get('reduction_pct'))} | {_pct(am.get('reduction_pct'))} |")
    L += interval_lines([(fk, c["sim"], c["over_tiles"]) for fk, c in doc["clocks"].items() if c.get("over_tiles")])
    p = doc["paper"]
    L += ["", f"The paper: area {p['area_reduction_pct']}% smaller, power {p['power_reduction_500mhz_pct']}% lower "
          f"at 500 MHz ({p['power_reduction_other_pct']}% at its other point). Reductions are positive when the "
          "spiking array is smaller or cheaper. Busy cycle: one activation (MAC) or one spike event (spiking) "
          "in every lane; equal work: per MAC-equivalent, the spiking array taking its spikes per activation "
          "in busy cycles; model rate: the trace's MAC-weighted spikes per activation.", ""]
    return "\n".join(L)


def library_table(libraries: dict) -> list[str]:
    """Markdown table of hw.json's ``libraries`` (:func:`neurosim.hwmodels.flow.library_summary` per
    library): per clock and library the MAC's and the spiking array's pipeline depth, area, slack,
    energy per busy cycle and per MAC-equivalent, and the spiking array's reductions."""
    L = ["| MHz | library (node) | design | pipeline | area um^2 | slack ns | pJ per busy cycle | pJ per MAC-eq "
         "| area red. | power red. (busy) | energy red. per MAC-eq |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    freqs = sorted({fk for side in libraries.values() for fk in side["per_freq"]}, key=float)
    for fk in freqs:
        for tech, side in libraries.items():
            c = side["per_freq"].get(fk)
            if c is None:
                continue
            sim = "" if c["simulation"] == "gspecify" else " (zero-delay)"
            for design in ("mac", "spike"):
                d = c[design]
                red = (f"{c['area_reduction_pct']:.1f}% | {c['power_reduction_equal_clock_busy_pct']:.1f}%{sim} | "
                       f"{c['energy_reduction_equal_work_pct']:.1f}%" if design == "spike" else " | | ")
                L.append(f"| {fk} | {tech} ({side['node_nm']} nm) | {design} | {d['pipeline']} | "
                         f"{_f(d['area_um2'], 0)} | {d['slack_ns']:+.3f}{'' if d['meets_timing'] else ' x'} | "
                         f"{d['energy_per_busy_cycle_pj']:.2f} | {d['energy_per_mac_eq_pj']:.3f} | {red} |")
    return L
