"""The report's detail blocks (what a question's collapsible block holds): the sparsity statistics, the
spike counts, firing rates and a raster, the work and compute energy of the projection arrays, and the
area/power comparison. Every number is read from ``summary.json`` or ``hw.json``."""

from __future__ import annotations

from pathlib import Path

from . import figures as F
from .claims import NO_HW, SPB1, fmt_frac_pct, fmt_pct
from .data import CLASS_HELP, Trace, freq_keys, kind_label, sim_label


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.4g}"


def _f(x, nd=2) -> str:
    return "n/a" if x is None else f"{x:,.{nd}f}"


def add_sparsity_details(doc, figs: dict, trace: Trace) -> None:
    """Sparsity under every definition, per layer and of the attention, then counts, firing rate, raster."""
    t = trace.summary["totals"]
    doc.p("Sparsity = zero entries / all entries of the spike trains at the inputs of the block's linear "
          "projections (embeddings, lm_head, norms and attention math stay floating point). A layer's "
          "attention-block projections (coloured by layer kind) and its MLP projections are aggregated "
          "separately, with the same aggregation `neurosim run` uses (activation-weighted; q/k/v and "
          "gate/up read the same input, which therefore counts once per projection).")
    rows = []
    for key, label in F.SPARSITY_DEFS:
        rows.append([label + (f" (T={t['T_fixed']})" if key == "sparsity_fixed" and t.get("T_fixed") else ""),
                     fmt_frac_pct(t.get(key)), f"`summary.json:/totals/{key}`"])
    rows += [["spikes per activation", _f(t["spikes_per_activation"], 3), "`summary.json:/totals/spikes_per_activation`"],
             ["activations with count 0", fmt_frac_pct(t["zero_fraction"]), "`summary.json:/totals/zero_fraction`"],
             ["silent input channels", fmt_frac_pct(t["silent_channel_fraction"]),
              "`summary.json:/totals/silent_channel_fraction`"]]
    doc.table(["all projections", "value", "source"], rows, align="lrl")
    doc.p(f"SpikingBrain 1.0 (7B, bitwise sign-magnitude coding, 3-step windows) reported {SPB1['sparsity_pct']}% "
          f"sparsity, {SPB1['spikes_per_activation']} spikes per activation and {SPB1['silent_channel_pct']}% "
          "silent channels.")
    rows = []
    for part in F.layer_parts(trace):
        for which, label, n in (("attn", f"{kind_label(part['kind'])} block", part["n_attn"]),
                                ("mlp", "MLP", part["n_mlp"])):
            a = part[which]
            if a is None:
                continue
            rows.append([part["layer"], label, n, fmt_frac_pct(a["sparsity_fixed"]), fmt_frac_pct(a["sparsity_data"]),
                         fmt_frac_pct(a["sparsity_window3"]), _f(a["spikes_per_activation"], 3),
                         fmt_frac_pct(a["silent_channel_fraction"]), _n(a["clamped"])])
    doc.table(["layer", "projections of", "n", "sparsity fixed T", "sparsity data T", "sparsity 3-step",
               "spikes/act", "silent ch", "clamped"], rows, align="llrrrrrrr")
    att = [L for L in trace.summary["layers"] if L.get("attention")]
    if att and all(L["attention"]["type"] == "full" for L in att):
        doc.p(f"Attention-level sparsity: none. All {len(att)} layers use full causal attention, so every query "
              "visits every earlier key (`summary.json:/layers/i/attention`); the model's only sparsity is in "
              "its spike trains.")
    elif att:   # traces written before the attention statistics lack them: no table then
        doc.p("Attention-level sparsity beside it (`summary.json:/layers/i/attention`): the share of the causal "
              "key blocks and keys each query visits (MoBA's block selection; full attention 1.0), and for "
              "SSE layers the tokens routed to each partition, their usage entropy and the SWA window's "
              "share of the causal keys.")
        rows = []
        for L in att:
            a = L["attention"]
            if a["type"] == "sse":
                rows.append([L["layer"], kind_label(L["kind"]), "-", "-", " / ".join(map(str, a["partition_tokens"])),
                             f"{_f(a['usage_entropy_bits'], 3)} of {_f(a['max_entropy_bits'], 0)}",
                             fmt_frac_pct(a["swa_key_fraction"])])
            else:
                rows.append([L["layer"], kind_label(L["kind"]), fmt_frac_pct(a["block_fraction"]),
                             fmt_frac_pct(a["key_fraction"]), "-", "-", "-"])
        doc.table(["layer", "kind", "key blocks visited", "keys visited", "partition tokens",
                   "usage entropy (bits)", "SWA keys"], rows, align="llrrrrr")

    doc.h(2, "Integer spike counts")
    doc.p("Histograms of the integer activation counts s (from `stats.npz`), summed over the projections of "
          "each class (classes by the tensor they read), with the share of activations that needed clamping.")
    figs["count_histograms"] = lambda: F.count_histograms(trace)
    doc.figure("count_histograms", "integer spike counts per projection class (log scale), clamped share in "
                                   "each title")
    rows = []
    for cls, recs in F.class_records(trace).items():
        clamped = sum(r["clamped"] for r in recs)
        n_act = sum(r["activations"] for r in recs)
        rows.append([cls, str(len(recs)), _n(n_act), _n(clamped), fmt_frac_pct(clamped / n_act), CLASS_HELP[cls]])
    doc.table(["class", "projections", "activations", "clamped", "clamped share", "reads"], rows, align="lrrrrl")
    doc.p(f"Total clamped: {_n(t['clamped'])} of {_n(t['activations'])} activations "
          f"(`summary.json:/totals/clamped`, `/totals/activations`).")

    doc.h(2, "Firing rate per time step")
    labels, per, total, T = F.firing_per_step(trace)
    bitwise = trace.coding in ("bitwise", "bitwise_2c")
    doc.p("Fraction of activations that spike at each time step: the sum of `spikes_per_step` over the "
          "projections divided by the sum of their `activations`"
          + (" (MSB first; trains of different length aligned at the least significant bit)." if bitwise
             else " (trains of different length aligned at the first step)."))
    figs["firing_rate"] = lambda: F.firing_rate(trace)
    doc.figure("firing_rate", "firing rate per time step" + (" (bit plane)" if bitwise else ""))
    if T <= 16:
        doc.table(["step" + (" (bit weight)" if bitwise else ""), "all projections", *per.keys()],
                  [[labels[i], fmt_frac_pct(total[i]), *(fmt_frac_pct(v[i]) for v in per.values())]
                   for i in range(T)])

    doc.h(2, "Spike raster of one real tile")
    if trace.tile is not None:
        tl = trace.tile
        Tt, M, K = tl["spikes"].shape
        doc.p(f"Tile `{trace.tile_name}` (`{tl['source']}`): {M} token rows x {K} inputs, {tl['coding']} coding, "
              f"T={Tt}, {int((tl['spikes'] != 0).sum()):,} spikes in {Tt * M * K:,} cells; "
              f"{tl['w_int'].shape[0]} weight rows (hardware lanes). The tile's spike train is what the "
              "testbenches replay.")
        figs["spike_raster"] = lambda: F.raster(trace)
        doc.figure("spike_raster", f"spike raster of {trace.tile_name}")
    else:
        doc.p("The trace holds no tiles (`neurosim run --tiles 0`): no raster.")


def add_work_details(doc, figs: dict, trace: Trace, hw: dict | None) -> None:
    """Accumulate events against dense MACs, and the projection arrays' energy per token from hw.json."""
    S, t = trace.summary, trace.summary["totals"]
    doc.p("One event is one non-zero spike; it adds (or subtracts) one shifted weight into every output, so "
          "accumulates = events x out features; a dense INT8 layer does tokens x in x out MACs.")
    doc.table(["all projections", "value", "source"],
              [[k.replace("_", " "), _n(t[k]) if k != "accumulates_per_dense_mac" else _f(t[k], 3),
                f"`summary.json:/totals/{k}`"] for k in ("events", "accumulates", "dense_macs",
                                                         "accumulates_per_dense_mac")], align="lrl")
    figs["work_per_layer"] = lambda: F.work_per_layer(trace, hw)
    efk = F.energy_freq(hw) if hw is not None else None
    doc.figure("work_per_layer", "accumulates vs dense MACs per token and layer"
               + (f"; estimated energy per token at {efk} MHz" if efk else ""))
    if hw is None:
        doc.p(f"Energy per token: **{NO_HW}**.")
    else:
        doc.p("Energy per token of the projection arrays only (no memory traffic, attention math or "
              "control): MAC array = dense MACs per token x `energy_per_mac_eq_pj/mac`; spiking array = "
              "accumulates per token x `energy_per_cycle_pj/spike_busy` / lanes (one busy cycle handles one "
              "event in every lane), from hw.json's gate-level figures at each clock.")
        rows = []
        tok = S["tokens"]
        for fk in freq_keys(hw):
            em = F.energy_model(hw, fk)
            if em is None:
                rows.append([f"{fk} MHz", "not simulated", "", "", "", "", ""])
                continue
            e_mac = t["dense_macs"] / tok * em["pj_per_mac"] * 1e-6
            e_spk = t["accumulates"] / tok * em["pj_per_accumulate"] * 1e-6
            rows.append([f"{fk} MHz", em["label"], _f(em["pj_per_mac"], 4), _f(em["pj_per_accumulate"], 4),
                         _f(e_mac, 3), _f(e_spk, 3), fmt_pct(100.0 * (1.0 - e_spk / e_mac))])
        doc.table(["clock", "simulation", "pJ per MAC", "pJ per accumulate", "MAC array \u00b5J/token",
                   "spiking \u00b5J/token", "reduction"], rows)
        ts = hw.get("technology_scaling") or {}
        em = F.energy_model(hw, efk) if efk else None
        nodes = {k: v for k, v in (ts.get("nodes") or {}).items() if "energy_factor" in v}
        if em and nodes:
            e_mac = t["dense_macs"] / tok * em["pj_per_mac"] * 1e-6
            e_spk = t["accumulates"] / tok * em["pj_per_accumulate"] * 1e-6
            doc.p(f"{ts.get('label', 'Technology scaling')}: the {efk} MHz energies per token times hw.json's "
                  f"`technology_scaling/nodes/N/energy_factor` ({ts.get('source', 'source not given')}). "
                  "The same factor multiplies both designs, so the reduction does not change.")
            doc.table(["node", "energy factor", "MAC array \u00b5J/token", "spiking \u00b5J/token"],
                      [[f"{n} nm", _f(v["energy_factor"], 5), _f(e_mac * v["energy_factor"], 3),
                        _f(e_spk * v["energy_factor"], 3)] for n, v in sorted(nodes.items(), key=lambda kv: -float(kv[0]))])
        doc.p(f"This model needs {_f(t['accumulates_per_dense_mac'], 3)} accumulates per dense MAC "
              "(`summary.json:/totals/accumulates_per_dense_mac`); hw.json's own equal-work reduction assumes "
              f"its stimulus' {_f(hw.get('measured_spikes_per_activation'), 3)} spikes per activation "
              "(`hw.json:/measured_spikes_per_activation`), hence the difference from its `energy_reduction_equal_work_pct`.")


def add_hw_details(doc, figs: dict, trace: Trace, hw: dict, hw_path) -> None:
    """The area/power table of every clock and hw.json's assumptions."""
    st = hw["settings"]
    doc.p(f"From `{hw_path}`: {st.get('library')} at {st.get('voltage_v')} V, {st.get('lanes')} lanes, "
          f"{st.get('coding')} coding (T={st.get('T')}), Yosys {st.get('yosys')}, stimulus: "
          f"{st.get('stimulus')}; measured {hw.get('measured_spikes_per_activation', float('nan')):.3f} spikes per "
          "activation in that stimulus. See `hw.md` beside it for every configuration.")
    same = _stimulus_from(str(st.get("stimulus", "")), trace.path)
    if not same:
        doc.p(f"**Note:** the hardware stimulus is not a tile of this trace (`{trace.path}`)"
              + (" but synthetic" if same is None else "") + f"; run `neurosim hw --trace {trace.path}` "
              "for gate-level activity from the same model and text.")
    rows = []
    for fk in freq_keys(hw):
        c = hw["comparison"][fk]
        label = sim_label(c)
        pw = c[label]["power_mw"] if label else {}
        r = c[label] if label else {}
        rows.append([f"{fk} MHz", c["mac"] if "mac" in c else "", c["spike"] if "spike" in c else "",
                     "yes" if c["both_meet_timing"] else "**NO**", _f(c["area_mac_um2"], 0),
                     _f(c["area_spike_um2"], 0), fmt_pct(c["area_reduction_pct"]), label or "-",
                     _f(pw.get("mac_busy"), 3), _f(pw.get("spike_busy"), 3),
                     fmt_pct(r.get("power_reduction_equal_clock_busy_pct")),
                     _f(pw.get("spike_time_stepped_clock_gated"), 3),
                     fmt_pct(r.get("power_reduction_equal_clock_time_stepped_gated_pct")),
                     fmt_pct(r.get("energy_reduction_equal_work_pct"))])
    doc.table(["clock", "MAC top", "spike top", "timing met", "MAC area um^2", "spike area um^2", "area red.",
               "sim", "MAC mW", "spike busy mW", "power red.", "spike time-stepped gated mW",
               "power red. time-stepped", "energy red. equal work"], rows, align="llllrrrlrrrrrr")
    _stimulus_and_intervals(doc, hw)
    if hw.get("libraries"):
        _library_table(doc, hw)
    if hw.get("assumptions"):
        doc.p("Assumptions of the hardware model (from hw.json):")
        doc.table(["item", "paper", "here"], [[a["item"], a["paper"], a["here"]] for a in hw["assumptions"]],
                  align="lll")


def _library_table(doc, hw: dict) -> None:
    """Both cell libraries side by side (``neurosim hw --tech all``; hw.json's ``libraries``)."""
    doc.p("Both cell libraries side by side (`neurosim hw --tech all`; hw.json's `libraries`), each "
          "design at its cheapest pipeline depth meeting each clock on each library:")
    rows = []
    for fk in freq_keys(hw):
        for tech, side in hw["libraries"].items():
            c = side["per_freq"].get(fk)
            if c is None:
                continue
            rows.append([f"{fk} MHz", f"{tech} ({side['node_nm']} nm)", c["mac"]["pipeline"],
                         c["spike"]["pipeline"], _f(c["mac"]["area_um2"], 0), _f(c["spike"]["area_um2"], 0),
                         "yes" if c["both_meet_timing"] else "**NO**",
                         _f(c["mac"]["energy_per_busy_cycle_pj"], 3), _f(c["spike"]["energy_per_busy_cycle_pj"], 3),
                         _f(c["mac"]["energy_per_mac_eq_pj"], 3), _f(c["spike"]["energy_per_mac_eq_pj"], 3),
                         fmt_pct(c["area_reduction_pct"]), fmt_pct(c["power_reduction_equal_clock_busy_pct"]),
                         fmt_pct(c["energy_reduction_equal_work_pct"]), c["simulation"]])
    doc.table(["clock", "library", "MAC P", "spike P", "MAC area um^2", "spike area um^2", "timing met",
               "MAC pJ/busy cycle", "spike pJ/busy cycle", "MAC pJ/MAC-eq", "spike pJ/MAC-eq", "area red.",
               "power red.", "energy red. equal work", "sim"], rows, align="llrrrrlrrrrrrrl")


def _stimulus_and_intervals(doc, hw: dict) -> None:
    """The hw stimulus' spike rate and zero share beside the model's, and the energies with their
    intervals over tiles (hw.json's ``stimulus_stats`` and ``comparison/*/*/over_tiles``)."""
    st = hw.get("stimulus_stats")
    if st:
        rows = [["stimulus sample (streamed rows)", st["sample"]]]
        if st["sample"].get("whole_tiles"):
            rows.append(["whole trace tiles", st["sample"]["whole_tiles"]])
        if st.get("model"):
            rows.append(["whole model (trace summary, MAC-weighted)", st["model"]])
        doc.p("The gate-level stimulus against the model it stands for (`hw.json:/stimulus_stats`):")
        doc.table(["data", "spikes per activation", "zero share"],
                  [[name, _f(v["spikes_per_activation"], 3), fmt_frac_pct(v["zero_share"])] for name, v in rows],
                  align="lrr")
    rows, method = [], ""
    for fk in freq_keys(hw):
        c = hw["comparison"][fk]
        label = sim_label(c)
        x = c[label].get("over_tiles") if label else None
        if not x or "point" not in x:
            continue
        method = x.get("method") or f"no interval: {x.get('why')}"
        iv = x.get("interval") or {}

        def cell(key, nd=2, unit=""):
            lo_hi = iv.get(key)
            return f"{x['point'][key]:.{nd}f}{unit}" + (f" [{lo_hi[0]:.{nd}f}, {lo_hi[1]:.{nd}f}]" if lo_hi else "")
        rows.append([f"{fk} MHz", label, str(x["tiles"]), cell("mac_energy_per_event_pj"),
                     cell("spike_energy_per_event_pj"), cell("mac_energy_per_active_cycle_pj"),
                     cell("spike_energy_per_active_cycle_pj"), cell("power_reduction_equal_clock_busy_pct", 1, "%"),
                     cell("energy_reduction_equal_work_model_pct", 1, "%")
                     if "energy_reduction_equal_work_model_pct" in x["point"] else "-"])
    if rows:
        doc.p(f"Energies over the tiles of the stimulus, 95% intervals ({method}); pJ per event is a busy "
              "cycle's energy (one activation or one spike event in every lane):")
        doc.table(["clock", "sim", "tiles", "MAC pJ/event", "spike pJ/event", "MAC pJ/active cycle",
                   "spike pJ/active cycle", "power red. (busy)", "energy red. per MAC-eq, model's rate"], rows,
                  align="lllrrrrrr")


def _stimulus_from(stimulus: str, trace_path: Path) -> bool | None:
    """Whether hw.json's stimulus came from this trace's tiles (None: not from trace tiles at all).

    ``neurosim hw --trace`` writes ``trace tiles under DIR: ...`` (DIR the tiles folder); an older
    form named one tile file, ``trace tile FILE``."""
    import re

    tiles = (Path(trace_path) / "tiles").resolve()
    m = re.search(r"trace tiles under (.+?): ", stimulus + " ")
    if m:
        return Path(m.group(1)).resolve() == tiles
    m = re.search(r"trace tile (\S+)", stimulus)
    if not m:
        return None
    return Path(m.group(1)).resolve().parent == tiles
