"""Build the report: ``DIR/report.md``, a self-contained ``DIR/report.html``, ``DIR/figures/*.png``
and ``DIR/report.json`` (the claims table with the JSON pointer of every measured value).

The directory is assembled under a temporary sibling name and swapped into place at the end by
:class:`neurosim.outdir.OutputFolder`: an error or an interrupt leaves no ``DIR`` behind (and an
earlier report as it was); a file or a non-empty folder without ``report.md`` is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from neurosim import NeurosimError, __version__
from neurosim.outdir import OutputFolder, check_replaceable

from . import figures as F
from .claims import NO_HW, PAPER, SPB1, build_claims, fmt_frac_pct, fmt_pct
from .data import CLASS_HELP, Trace, freq_keys, kind_label, load_hw, load_trace, sim_label
from .document import Document, to_html, to_markdown
from .energy_section import add_energy_section, compute_energy, energy_claims, load_energy
from .eval_section import add_eval_section, eval_claims, load_eval

REPORT_FILES = ("report.md", "report.html", "report.json")
#: the report folder's marker file and name in messages (neurosim.outdir.OutputFolder)
MARKER, WHAT = "report.md", "report"


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.4g}"


def _f(x, nd=2) -> str:
    return "n/a" if x is None else f"{x:,.{nd}f}"


def build_document(trace: Trace, hw: dict | None, hw_path: Path | None, energy: dict | None = None,
                   energy_path=None, ev: dict | None = None, ev_path=None) -> tuple[Document, list, dict]:
    """The document, its claims and the figure builders ``{name: callable -> Figure | None}``."""
    S = trace.summary
    s, t, model = S["settings"], S["totals"], S["model"]
    claims = build_claims(S, hw) + (energy_claims(energy) if energy is not None else [])
    if ev is not None:  # the accuracy row comes from the eval, with its interval; the trace's passage is alt.
        i = next((j for j, c in enumerate(claims) if c.claim == "accuracy loss (INT8-Spiking vs BF16)"), len(claims))
        if i < len(claims):
            claims[i].claim += ", alt. (the trace's one passage)"
        claims[i:i] = eval_claims(ev)
    figs = {}
    doc = Document("neurosim report: SpikingBrain 2.0's neuromorphic claims, measured")
    kinds = ", ".join(f"{kind_label(k)} x{model['layer_kinds'].count(k)}" for k in dict.fromkeys(model["layer_kinds"]))
    window = f"fixed T={s['window']}" if s.get("window") else "per tensor (statistics on the INT8 hardware window)"
    doc.p(f"Model `{model['model_type']}` from `{model['path']}`: {model['n_layers']} layers ({kinds}). "
          f"Input: {S['tokens']} tokens of {S.get('input', {}).get('source', '?')}. Mode {s['mode']}, "
          f"coding {s['coding']}, activation scale {s['scale']}"
          + (f" (k={s['k']:g})" if s["scale"] == "adaptive" else "")
          + f", clamp {s['clamp']}, window {window}, weights INT8 per "
          + (f"group of {s['weight_group']}" if s.get("weight_group") else "output channel") + ".")
    doc.p(f"Trace: `{trace.path}` (schema {S['schema_version']}, neurosim {S.get('neurosim_version', '?')}). "
          + (f"Hardware: `{hw_path}` ({hw['schema']})." if hw is not None
             else f"Hardware: **{NO_HW}** (run `neurosim hw --out HWOUT` and pass `--hw HWOUT`)."))

    # ---- claims -------------------------------------------------------------------------------
    doc.h(1, "Claims: the paper next to the measurement")
    doc.p("Each measured value is one number of the named file, at the JSON pointer in the source column. "
          "Rows marked *alt.* give the same claim under another definition. Reductions are positive when "
          "the spiking design is smaller.")
    doc.table(["claim", "paper", "measured", "definition", "source", "what differs"],
              [[c.claim, c.paper, c.measured, c.definition,
                f"`{c.file}:{c.source}`" if c.source else "-", c.note] for c in claims],
              align="llrlll")

    # ---- sparsity -----------------------------------------------------------------------------
    doc.h(1, "Spike sparsity per layer")
    doc.p("Sparsity = zero entries / all entries of the spike trains at the inputs of the block's linear "
          "projections (embeddings, lm_head, norms and attention math stay floating point). A layer's "
          "attention-block projections (coloured by layer kind) and its MLP projections are aggregated "
          "separately, with the same aggregation `neurosim run` uses (activation-weighted; q/k/v and "
          "gate/up read the same input, which therefore counts once per projection).")
    figs["sparsity_per_layer"] = lambda: F.sparsity_per_layer(trace)
    doc.figure("sparsity_per_layer", "per-layer sparsity, attention-block vs MLP projections, under each "
               f"definition; dashed: the paper's {PAPER['sparsity_pct']}%")
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
    if att:   # traces written before the attention statistics lack them: no table then
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

    # ---- counts -------------------------------------------------------------------------------
    doc.h(1, "Integer spike counts")
    doc.p("Histograms of the integer activation counts s (from `stats.npz`), summed over the projections of "
          "each class (classes by the tensor they read), with the share of activations that needed clamping.")
    figs["count_histograms"] = lambda: F.count_histograms(trace)
    doc.figure("count_histograms", "integer spike counts per projection class (log scale), clamped share in "
                                   "each title")
    rows = []
    for cls, recs in F.class_records(trace).items():
        clamped = sum(r["clamped"] for r in recs)
        n_act = sum(r["activations"] for r in recs)
        rows.append([cls, len(recs), _n(n_act), _n(clamped), fmt_frac_pct(clamped / n_act), CLASS_HELP[cls]])
    doc.table(["class", "projections", "activations", "clamped", "clamped share", "reads"], rows, align="lrrrrl")
    doc.p(f"Total clamped: {_n(t['clamped'])} of {_n(t['activations'])} activations "
          f"(`summary.json:/totals/clamped`, `/totals/activations`).")

    # ---- firing rate --------------------------------------------------------------------------
    doc.h(1, "Firing rate per time step")
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

    # ---- raster -------------------------------------------------------------------------------
    doc.h(1, "Spike raster of one real tile")
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

    # ---- work and energy ----------------------------------------------------------------------
    doc.h(1, "Accumulate events vs dense MACs, and energy per token")
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

    # ---- hardware -----------------------------------------------------------------------------
    doc.h(1, "Area and power: spiking array vs INT8 MAC array")
    if hw is None:
        doc.p(f"**{NO_HW}**: run `neurosim hw --out HWOUT --trace {trace.path}` and pass `--hw HWOUT`.")
    else:
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
        figs["area_power"] = lambda: F.area_power(hw)
        doc.figure("area_power", "area and power at each clock, with the reductions of the spiking array")
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
        if hw.get("libraries"):
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
                                 _f(c["mac"]["energy_per_busy_cycle_pj"], 3),
                                 _f(c["spike"]["energy_per_busy_cycle_pj"], 3),
                                 _f(c["mac"]["energy_per_mac_eq_pj"], 3), _f(c["spike"]["energy_per_mac_eq_pj"], 3),
                                 fmt_pct(c["area_reduction_pct"]), fmt_pct(c["power_reduction_equal_clock_busy_pct"]),
                                 fmt_pct(c["energy_reduction_equal_work_pct"]), c["simulation"]])
            doc.table(["clock", "library", "MAC P", "spike P", "MAC area um^2", "spike area um^2", "timing met",
                       "MAC pJ/busy cycle", "spike pJ/busy cycle", "MAC pJ/MAC-eq", "spike pJ/MAC-eq", "area red.",
                       "power red.", "energy red. equal work", "sim"], rows, align="llrrrrlrrrrrrrl")
        if hw.get("assumptions"):
            doc.p("Assumptions of the hardware model (from hw.json):")
            doc.table(["item", "paper", "here"], [[a["item"], a["paper"], a["here"]] for a in hw["assumptions"]],
                      align="lll")

    add_energy_section(doc, figs, energy, energy_path)
    add_eval_section(doc, figs, ev, ev_path)

    # ---- accuracy -----------------------------------------------------------------------------
    doc.h(1, "Accuracy against the float model")
    acc = S.get("accuracy", {})
    shown = {"ppl_fp": ("perplexity, float model", lambda v: _f(v, 3)),
             "ppl_quant": ("perplexity, spiking model", lambda v: _f(v, 3)),
             "ppl_change": ("perplexity change", lambda v: f"{100 * v:+.2f}%"),
             "top1_agreement": ("top-1 agreement", fmt_frac_pct),
             "mean_kl": ("mean KL(float || spiking)", lambda v: f"{v:.4f} nats"),
             "positions": ("token positions", _n)}
    rows = [[label, f(acc[k]), f"`summary.json:/accuracy/{k}`"] for k, (label, f) in shown.items() if k in acc]
    doc.table(["quantity", "value", "source"], rows, align="lrl")
    doc.p(f"The paper's {PAPER['accuracy_loss_pct']}% is a benchmark-average accuracy drop of SpB2.0-5B against "
          "BF16; these are next-token statistics of the traced model on one text. A randomly initialised "
          "checkpoint (`make-checkpoint`) has no meaningful accuracy.")

    doc.h(1, "Provenance")
    doc.p(f"Report by neurosim {__version__}. Settings of the trace: "
          + ", ".join(f"{k}={v}" for k, v in sorted(s.items())) + ".")
    return doc, claims, figs


def _stimulus_from(stimulus: str, trace_path: Path) -> bool | None:
    """Whether hw.json's stimulus is a tile of this trace (None: not a trace tile at all)."""
    import re

    m = re.search(r"trace tile (\S+)", stimulus)
    if not m:
        return None
    return Path(m.group(1)).resolve().parent == (Path(trace_path) / "tiles").resolve()


def build_report(trace_dir, out, hw_dir=None, tile: str | None = None, progress: bool = True,
                 energy_dir=None, eval_dir=None) -> dict:
    """Write the report into ``out``; returns {"out", "html", "md", "claims", "figures"}.
    ``energy_dir``: a ``neurosim energy --out`` folder, or ``"compute"`` (from the trace and ``hw_dir``)."""
    out = Path(out)
    check_replaceable(out, MARKER, WHAT)
    trace = load_trace(trace_dir, tile=tile)
    hw_path, hw = load_hw(hw_dir) if hw_dir is not None else (None, None)
    energy_path, energy = None, None
    if energy_dir == "compute":
        if hw_dir is None:
            raise NeurosimError("--energy compute needs --hw HWOUT")
        energy_path, energy = "computed from --trace and --hw (default memory configuration)", \
            compute_energy(trace_dir, hw_dir)
    elif energy_dir is not None:
        energy_path, energy = load_energy(energy_dir)
    ev_path, ev = load_eval(eval_dir) if eval_dir is not None else (None, None)
    doc, claims, figs = build_document(trace, hw, hw_path, energy, energy_path, ev, ev_path)

    with OutputFolder(out, MARKER, WHAT) as folder:
        tmp = folder.building
        fig_dir = tmp / "figures"
        fig_dir.mkdir()
        from tqdm import tqdm
        written = []
        with tqdm(total=len(figs), desc="report: figures", unit="fig", disable=not progress, leave=False) as bar:
            for name, make in figs.items():
                fig = make()
                if fig is None:
                    raise NeurosimError(f"figure {name} has no data")
                F.save(fig, fig_dir / f"{name}.png")
                written.append(name)
                bar.update(1)
        (tmp / "report.md").write_text(to_markdown(doc))
        (tmp / "report.html").write_text(to_html(doc, fig_dir))
        meta = {"neurosim_version": __version__, "trace": str(trace.path),
                "hw": str(hw_path) if hw_path else None, "tile": trace.tile_name,
                "energy": str(energy_path) if energy_path else None,
                "figures": [f"figures/{n}.png" for n in written],
                "claims": [c.as_dict() for c in claims]}
        (tmp / "report.json").write_text(json.dumps(meta, indent=1, allow_nan=False) + "\n")
        folder.commit()
    return {"out": out, "html": out / "report.html", "md": out / "report.md", "claims": claims,
            "figures": [out / "figures" / f"{n}.png" for n in written]}
