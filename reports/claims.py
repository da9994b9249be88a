"""The claims table: SpikingBrain 2.0's headline numbers next to what neurosim measured.

Every measured value is one number read from ``summary.json`` or ``hw.json``; each row names it by
file and JSON pointer (RFC 6901) in ``source``, so the table can be checked against the inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .data import freq_keys, kind_label, sim_label

from neurosim.paper import PAPER, SPB1

NO_HW = "no hardware results given"


def pointer(*keys) -> str:
    """JSON pointer of a key path (``~`` and ``/`` escaped as RFC 6901 says)."""
    return "/" + "/".join(str(k).replace("~", "~0").replace("/", "~1") for k in keys)


def resolve(doc, ptr: str):
    """The value at JSON pointer ``ptr`` in ``doc``."""
    node = doc
    for part in ptr.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def fmt_frac_pct(x) -> str:
    """A fraction as a percentage with two decimals (the paper's 64.31% style)."""
    return "n/a" if x is None else f"{100.0 * x:.2f}%"


def fmt_pct(x) -> str:
    """A value already in percent (hw.json's ``*_pct``), two decimals."""
    return "n/a" if x is None else f"{x:.2f}%"


def fmt_signed_frac_pct(x) -> str:
    return "n/a" if x is None else f"{100.0 * x:+.2f}%"


@dataclass
class Claim:
    """One row of the claims table: the paper's value next to the measured one, with where it was read."""

    claim: str           # what the paper claims
    paper: str           # the paper's value
    measured: str        # formatted measured value ("no hardware results given" when absent)
    value: float | None  # the raw number read from the JSON (None when absent)
    file: str | None     # "summary.json" or "hw.json"
    source: str | None   # JSON pointer of the value in that file
    fmt: str             # "frac_pct" | "pct" | "signed_frac_pct"
    definition: str      # how the measured number is defined
    note: str            # one line on what differs from the paper

    def as_dict(self) -> dict:
        return asdict(self)


FORMATTERS = {"frac_pct": fmt_frac_pct, "pct": fmt_pct, "signed_frac_pct": fmt_signed_frac_pct}


def _m(doc: dict, file: str, fmt: str, *keys) -> tuple[str, float | None, str, str, str]:
    ptr = pointer(*keys)
    value = resolve(doc, ptr)
    return FORMATTERS[fmt](value), value, file, ptr, fmt


def _fixed_window(t: dict, coding: str) -> str:
    """``T=7``, or for windows that differ between projections the mixed label and the sparsity on
    the common basis (every projection counted with the coding's INT8 window)."""
    from neurosim.run.metrics import common_sparsity, mixed_windows

    if not mixed_windows(t):
        return f"T={t['T_fixed']}"
    c, T = common_sparsity(t, coding)
    assert c is not None                      # windows that differ have a common basis
    return (f"T={'/'.join(map(str, t['T_fixed']))}: a mixed figure, each projection counted in its own "
            f"window; on the common basis of {T} cells: {100 * c:.2f}%")


def build_claims(summary: dict, hw: dict | None) -> list[Claim]:
    """The claims rows from a trace's ``summary.json`` and (when given) ``hw.json``; absent hardware
    results give rows that say so."""
    t = summary["totals"]
    s = summary["settings"]
    model = summary["model"]
    kinds = sorted({kind_label(k) for k in model.get("layer_kinds", [])})
    where = (f"{model['model_type']} ({model['n_layers']} layers: {', '.join(kinds)}), {summary['tokens']} tokens "
             f"of {summary.get('input', {}).get('source', 'the input')}; {s['coding']} coding, {s['scale']} scale")
    rows: list[Claim] = []
    paper_sp = f"{PAPER['sparsity_pct']:.2f}%"
    if t.get("sparsity_fixed") is not None:
        rows.append(Claim("spike sparsity (INT8-Spiking)", paper_sp,
                          *_m(summary, "summary.json", "frac_pct", "totals", "sparsity_fixed"),
                          f"zeros / cells of the spike trains at the inputs of all {t['projections']} block "
                          "projections, fixed hardware window " + _fixed_window(t, s["coding"]),
                          f"{where}; paper: SpB2.0-5B, data and window unknown"))
    rows.append(Claim("spike sparsity (INT8-Spiking)" + (", alt." if rows else ""), paper_sp,
                      *_m(summary, "summary.json", "frac_pct", "totals", "sparsity_data"),
                      "same, window = each tensor's own data-derived T (the 1.0 code's default)",
                      "a tensor whose largest |count| needs fewer steps gets a shorter window (fewer zeros); "
                      "equals the fixed-window value when every tensor needs the full T"))
    rows.append(Claim("spike sparsity (INT8-Spiking), alt.", paper_sp,
                      *_m(summary, "summary.json", "frac_pct", "totals", "sparsity_window3"),
                      "SpB1.0 report's method: data-derived trains zero-padded to 3-step windows",
                      f"padding adds zeros; SpB1.0 7B reported {SPB1['sparsity_pct']}% this way"))
    acc = summary.get("accuracy", {})
    if "ppl_change" in acc:
        rows.append(Claim("accuracy loss (INT8-Spiking vs BF16)", f"{PAPER['accuracy_loss_pct']:.2f}%",
                          *_m(summary, "summary.json", "signed_frac_pct", "accuracy", "ppl_change"),
                          f"perplexity change of the spiking model vs the {s.get('dtype', 'float')} model "
                          f"on the same {acc['positions']} tokens",
                          "paper: benchmark-average accuracy drop, protocol unknown; here one passage's "
                          f"perplexity (top-1 agreement {fmt_frac_pct(acc['top1_agreement'])})"))
    if "top1_agreement" in acc:
        rows.append(Claim("accuracy loss (INT8-Spiking vs BF16), alt.", f"{PAPER['accuracy_loss_pct']:.2f}%",
                          *_m(summary, "summary.json", "frac_pct", "accuracy", "top1_agreement"),
                          "top-1 agreement of the next-token predictions with the float model",
                          "agreement, not a loss: 100% means identical predictions"))
    rows += _hw_claims(hw, t.get("accumulates_per_dense_mac"))
    return rows


def _hw_claims(hw: dict | None, rate: float | None = None) -> list[Claim]:
    """The hardware rows; ``rate``: the trace's MAC-weighted spikes per activation
    (``summary.json:/totals/accumulates_per_dense_mac``) for the equal-work rows."""
    paper_area = f"{PAPER['area_reduction_pct']:.1f}%"
    paper_p500 = f"{PAPER['power_reduction_500mhz_pct']:.1f}% @ 500 MHz"
    paper_other = f"{PAPER['power_reduction_other_pct']:.1f}% (other point, probably 250 MHz)"
    if hw is None:
        none: dict = dict(measured=NO_HW, value=None, file=None, source=None, fmt="pct",
                    definition="-", note="run `neurosim hw --out HWOUT` and pass `--hw HWOUT`")
        return [Claim("area reduction vs INT8 MAC", paper_area, **none),
                Claim("power reduction vs INT8 MAC", paper_p500, **none),
                Claim("power reduction vs INT8 MAC", paper_other, **none)]
    st = hw["settings"]
    tech = f"{st.get('library', '?')} {st.get('voltage_v', '?')} V, {st.get('lanes', '?')} lanes"
    rows = []
    fks = freq_keys(hw)
    area_fk = "500" if "500" in fks else fks[-1]
    for fk in [area_fk] + [k for k in fks if k != area_fk]:
        c = hw["comparison"][fk]
        timing = _timing_note(hw, fk)
        rows.append(Claim(f"area reduction vs INT8 MAC @ {fk} MHz" + ("" if fk == area_fk else ", alt."),
                          paper_area + (" @ 500 MHz" if fk == area_fk else ""),
                          *_m(hw, "hw.json", "pct", "comparison", fk, "area_reduction_pct"),
                          f"1 - cell area of the spiking array / the INT8 MAC array, each the smallest "
                          f"configuration meeting {fk} MHz (Yosys + ABC, OpenSTA)",
                          f"{tech}; paper's node, tools and array size unknown; no wires{timing}"))
    for fk in [area_fk] + [k for k in fks if k != area_fk]:
        c = hw["comparison"][fk]
        label = sim_label(c)
        paper = paper_p500 if fk == "500" else paper_other
        if label is None:
            rows.append(Claim(f"power reduction vs INT8 MAC @ {fk} MHz", paper, "not simulated", None, None,
                              None, "pct", "-", "; ".join(str(c.get(x, {}).get("skipped", ""))
                                                         for x in ("zero_delay", "gspecify")).strip("; ")))
            continue
        timing = _timing_note(hw, fk)
        sim = "with cell delays (glitches)" if label == "gspecify" else "zero-delay"
        rows.append(Claim(f"power reduction vs INT8 MAC @ {fk} MHz", paper,
                          *_m(hw, "hw.json", "pct", "comparison", fk, label, "power_reduction_equal_clock_busy_pct"),
                          f"1 - energy per busy cycle, spiking (one spike event, all lanes) / MAC (one "
                          f"activation, all lanes), equal clock; gate-level activity {sim}",
                          f"{tech}; the spike array needs ~{hw.get('measured_spikes_per_activation', 0):.2f} "
                          f"cycles per activation, see the equal-work row{timing}"))
        rows.append(Claim(f"power reduction vs INT8 MAC @ {fk} MHz, alt.", paper,
                          *_m(hw, "hw.json", "pct", "comparison", fk, label,
                              "power_reduction_equal_clock_time_stepped_gated_pct"),
                          "same clock, spiking array on a time-stepped schedule (T slots per activation, "
                          "idle slots ideally clock-gated)",
                          f"the spiking array then takes T={st.get('T', '?')} cycles per activation, the MAC "
                          "array one: much less work per second"))
        if rate is not None:
            rows.append(_equal_work_energy_row(hw, fk, label, rate))
    if rate is not None:
        rows += [_area_cycles_row(hw, fk, rate) for fk in fks]
    return rows + _library_claims(hw, area_fk, paper_area, paper_p500, paper_other)


def _library_claims(hw: dict, area_fk: str, paper_area: str, paper_p500: str, paper_other: str) -> list[Claim]:
    """Rows of the other cell libraries of ``neurosim hw --tech all`` (hw.json's ``libraries``)."""
    first = hw["settings"].get("tech", "osu018")
    rows = []
    for tech, side in hw.get("libraries", {}).items():
        if tech == first:
            continue
        where = f"{side['library']} {side['voltage_v']} V ({side['node_nm']} nm), same lanes and stimulus"
        fks = [area_fk] + [k for k in side["per_freq"] if k != area_fk]
        for fk in [k for k in fks if k in side["per_freq"]]:
            c = side["per_freq"][fk]
            timing = "" if c["both_meet_timing"] else "; timing NOT met by both"
            rows.append(Claim(f"area reduction vs INT8 MAC @ {fk} MHz, {tech}", paper_area,
                              *_m(hw, "hw.json", "pct", "libraries", tech, "per_freq", fk, "area_reduction_pct"),
                              f"as the area row, on {tech}: each design's smallest configuration meeting {fk} MHz "
                              f"on this library", where + timing))
            sim = "with cell delays (glitches)" if c["simulation"] == "gspecify" else "zero-delay"
            rows.append(Claim(f"power reduction vs INT8 MAC @ {fk} MHz, {tech}",
                              paper_p500 if fk == "500" else paper_other,
                              *_m(hw, "hw.json", "pct", "libraries", tech, "per_freq", fk,
                                  "power_reduction_equal_clock_busy_pct"),
                              f"as the power row (equal clock, both busy), on {tech}; gate-level activity {sim}",
                              where + timing))
    return rows


def _equal_work_energy_row(hw: dict, fk: str, label: str, rate: float) -> Claim:
    """Energy per MAC-equivalent at the trace's own spike rate, from hw.json's busy-cycle energies."""
    from neurosim.hwmodels.compare import equal_work_energy
    e = hw["comparison"][fk][label]["energy_per_cycle_pj"]
    lanes = hw["settings"]["lanes"]
    w = equal_work_energy(e["mac_busy"], e["spike_busy"], rate, lanes)
    spa_stim = hw.get("measured_spikes_per_activation", 0)
    at_stim = hw["comparison"][fk][label].get("energy_reduction_equal_work_pct")
    ptr = pointer("comparison", fk, label, "energy_per_cycle_pj")
    return Claim(f"energy reduction per MAC-equivalent @ {fk} MHz, alt.", "not claimed (per-cycle power only)",
                 fmt_pct(w["reduction_pct"]), w["reduction_pct"], None, None, "pct",
                 f"1 - spiking / MAC energy per MAC-equivalent (one activation x one weight), equal work: "
                 f"spiking {w['spike_pj']:.4f} pJ = spike_busy x {rate:.3f} spikes per activation / "
                 f"{lanes} lanes, MAC {w['mac_pj']:.4f} pJ = mac_busy / {lanes} lanes; from hw.json:{ptr} "
                 "and the trace's MAC-weighted rate summary.json:/totals/accumulates_per_dense_mac",
                 f"at the whole trace's spike rate (the hw stimulus' own {spa_stim:.3f} spikes per "
                 f"activation give {fmt_pct(at_stim)}); array energy only, no memory")


def _area_cycles_row(hw: dict, fk: str, rate: float) -> Claim:
    """Area x cycles per activation (throughput-normalised area) at the trace's own spike rate."""
    from neurosim.hwmodels.compare import area_cycles_per_activation
    c = hw["comparison"][fk]
    a = area_cycles_per_activation(c["area_mac_um2"], c["area_spike_um2"], rate)
    return Claim(f"area x cycles per activation @ {fk} MHz, alt.", f"{PAPER['area_reduction_pct']:.1f}% (area only)",
                 fmt_pct(a["reduction_pct"]), a["reduction_pct"], None, None, "pct",
                 f"1 - spiking / MAC area x cycles per activation (throughput-normalised area): MAC "
                 f"{a['mac_um2']:,.0f} um^2 x 1 cycle, spiking {c['area_spike_um2']:,.0f} um^2 x {rate:.3f} "
                 f"cycles (one per spike event); from hw.json:{pointer('comparison', fk)}/area_*_um2 and "
                 "summary.json:/totals/accumulates_per_dense_mac",
                 "equal lanes, each array at the smallest configuration meeting the clock; a positive value "
                 "means the spiking array does the same work with less silicon time" + _timing_note(hw, fk))


def _timing_note(hw: dict, fk: str) -> str:
    c = hw["comparison"][fk]
    if c["both_meet_timing"]:
        return ""
    miss = []
    for design, name in (("mac", "MAC"), ("spike", "spiking")):
        r = hw["results"].get(f"{design}@{fk}", {})
        if not r.get("meets_timing", True):
            fmax = r.get("fmax_mhz")
            miss.append(f"{name} array misses {fk} MHz" + (f" (fmax {fmax:.0f} MHz)" if fmax else ""))
    return "; " + ", ".join(miss or ["timing NOT met by both designs"])


def claims_text(rows: list[Claim]) -> str:
    """The claims table as aligned plain text (for stdout); a cell wider than 60 characters in the
    first three columns wraps onto continuation lines, so the columns stay aligned."""
    import textwrap

    head = ("claim", "paper", "measured", "definition")
    data = [(r.claim, r.paper, r.measured, r.definition) for r in rows]
    widths = [max(len(head[i]), *(min(len(d[i]), 60) for d in data)) for i in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:3], widths)) + "  " + head[3]]
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 10)
    for d in data:
        cells = [textwrap.wrap(x, w) or [""] for x, w in zip(d[:3], widths)]
        for j in range(max(map(len, cells))):
            left = "  ".join((c[j] if j < len(c) else "").ljust(w) for c, w in zip(cells, widths))
            lines.append((left + "  " + d[3]) if j == 0 else left.rstrip())
    return "\n".join(lines)
