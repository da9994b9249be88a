"""The report's verdict sections: energy over modelling scenarios (ranges, tornado) and every accuracy
setting priced (the joint table and figure), read from energy.json."""

from __future__ import annotations

from . import scenario_figures as SF


def add_scenario_sections(doc, figs: dict, energy: dict | None) -> None:
    """Add the two sections when energy.json has scenarios / priced eval settings; nothing otherwise."""
    s = (energy or {}).get("scenarios")
    if s:
        from neurosim.hwmodels.scenario_report import default_line, pct
        doc.h(1, f"Energy over {s['count']:,} modelling scenarios")
        zs = s["best"].get("MAC zero-skipping", {})
        doc.p(f"**Answer:** against the zero-skipping MAC the best spiking design saves {pct(zs.get('min'))} to "
              f"{pct(zs.get('max'))} of the energy per token (negative: it costs more) and wins in "
              f"{100 * zs.get('wins_share', 0):.0f}% of the scenarios; {default_line(s)}.")
        rows = []
        for b, v in s["best"].items():
            rng = v["break_even_range"]
            rows.append([b, pct(v["min"]), pct(v["median"]), pct(v["max"]), pct(v["default"]),
                         f"{100 * v['wins_share']:.0f}%", "never" if v["break_even_default"] is None
                         else f"{v['break_even_default']:.2f}", "n/a" if rng is None else f"{rng[0]:.2f}-{rng[1]:.2f}",
                         f"{v['spikes_measured']:.2f}"])
        doc.table(["against", "min", "median", "max", "default", "spiking wins", "break-even s", "break-even range",
                   "measured s"], rows, align="lrrrrrrrr")
        figs["energy_tornado"] = lambda: SF.tornado(s)
        doc.figure("energy_tornado", "how far each modelling axis alone moves the best spiking design's energy "
                   "reduction against the zero-skipping MAC from the default scenario (black line)")
        y = s.get("yan_break_even")
        if y and y.get("break_even_rate") is not None:
            doc.p(f"Against the literature: a unary T={y['T']} spiking array against the equivalent "
                  f"{y['qnn_bits']}-bit dense MAC breaks even at a {100 * y['break_even_rate']:.1f}% spike rate per "
                  f"step in this model; Yan et al. (arXiv 2409.08290) report under {100 * y['published_rate']:.1f}%. "
                  "Assumed here: " + "; ".join(y["assumptions"]) + ".")
    priced = (energy or {}).get("eval_settings")
    if priced:
        from neurosim.hwmodels.eval_report import joint_answer, render_settings
        doc.h(1, "Every accuracy setting priced")
        doc.p(f"**Answer:** {joint_answer(priced)}")
        table = [ln for ln in render_settings(priced).splitlines() if ln.startswith("| ") and "---" not in ln]
        cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in table]
        doc.table(cells[0], cells[1:], align="llllrrrll")
        figs["accuracy_energy"] = lambda: SF.frontier(priced)
        doc.figure("accuracy_energy", "perplexity change (95% interval) against energy per token (marker: default "
                   "scenario; bar: range over scenarios) for every setting, spiking design and MAC baseline")


__all__ = ["add_scenario_sections"]
