"""The report's verdict parts of the energy section: the answer over modelling scenarios, their ranges
and tornado, and every accuracy setting priced (the joint table and figure), read from energy.json."""

from __future__ import annotations

from . import scenario_figures as SF


def scenario_answer(energy: dict) -> str:
    """The energy question's one-line answer over the scenarios, against both MAC baselines."""
    from neurosim.hwmodels.scenario_report import pct
    s = energy["scenarios"]
    parts = [f"{pct(v['min'])} to {pct(v['max'])} against the {b} (default {pct(v['default'])}; spiking wins in "
             f"{100 * v['wins_share']:.0f}% of scenarios)" for b, v in s["best"].items()]
    return (f"Memory included, the best spiking design saves {'; '.join(parts)} over {s['count']:,} modelling "
            "scenarios (negative: it uses more energy); the paper claims no memory-included figure.")


def priced_at_default(energy: dict) -> bool:
    """Whether energy.json's designs were priced at its scenarios' default: for every baseline the best
    design's memory-included reduction equals the scenarios' default one as the report shows them (0.01%;
    the two come from separate pricing code, equal up to float rounding)."""
    best = (energy.get("scenarios") or {}).get("best")
    if not best:
        return False
    designs = {d["name"]: d for d in energy["designs"]}
    for b, v in best.items():
        d = designs.get(v.get("default_design"))
        if d is None or b not in d.get("vs", {}):
            return False
        if f"{d['vs'][b]['memory_included_reduction_pct']:.2f}" != f"{v['default']:.2f}":
            return False
    return True


def add_scenario_details(doc, figs: dict, energy: dict) -> None:
    """Ranges per baseline, the tornado figure and Yan et al.'s break-even beside the project's."""
    from neurosim.hwmodels.scenario_report import default_line, pct
    s = energy["scenarios"]
    doc.h(2, f"Energy over {s['count']:,} modelling scenarios")
    doc.p(f"Every design priced under every combination of the modelling axes (docs/energy.md); {default_line(s)}. "
          "Reductions are 1 - spiking / baseline energy per token; the best spiking design is taken per scenario.")
    rows = []
    for b, v in s["best"].items():
        rng = v["break_even_range"]
        rows.append([b, pct(v["min"]), pct(v["median"]), pct(v["max"]), pct(v["default"]),
                     f"{100 * v['wins_share']:.0f}%", "never" if v["break_even_default"] is None
                     else f"{v['break_even_default']:.2f}", "n/a" if rng is None else f"{rng[0]:.2f}-{rng[1]:.2f}",
                     f"{v['spikes_measured']:.2f}"])
    doc.table(["against", "min", "median", "max", "default", "spiking wins", "break-even s", "break-even range",
               "measured s"], rows, align="lrrrrrrrr")
    y = s.get("yan_break_even")
    if y and y.get("break_even_rate") is not None:
        doc.p(f"Against the literature: a unary T={y['T']} spiking array against the equivalent "
              f"{y['qnn_bits']}-bit dense MAC breaks even at a {100 * y['break_even_rate']:.1f}% spike rate per "
              f"step in this model; Yan et al. (arXiv 2409.08290) report under {100 * y['published_rate']:.1f}%. "
              "Assumed here: " + "; ".join(y["assumptions"]) + ".")


def add_tornado(doc, figs: dict, energy: dict) -> None:
    """The tornado figure (the energy section's opening figure when there are scenarios)."""
    figs["energy_tornado"] = lambda: SF.tornado(energy["scenarios"])
    doc.figure("energy_tornado", "how far each modelling axis alone moves the best spiking design's energy "
               "reduction against the zero-skipping MAC from the default scenario (black line)")


def add_joint_section(doc, figs: dict, energy: dict | None) -> None:
    """Every accuracy setting priced, when energy.json has them: the answer, the figure and the table."""
    priced = (energy or {}).get("eval_settings")
    if not priced:
        return
    from neurosim.hwmodels.eval_report import joint_answer, render_settings
    doc.h(2, "Every accuracy setting priced")
    doc.answer(joint_answer(priced))
    figs["accuracy_energy"] = lambda: SF.frontier(priced)
    doc.figure("accuracy_energy", "perplexity change (95% interval) against energy per token (marker: default "
               "scenario; bar: range over scenarios) for every setting, spiking design and MAC baseline")
    table = [ln for ln in render_settings(priced).splitlines() if ln.startswith("| ") and "---" not in ln]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in table]
    doc.table(cells[0], cells[1:], align="llllrrrll")


__all__ = ["priced_at_default", "scenario_answer", "add_scenario_details", "add_tornado", "add_joint_section"]
