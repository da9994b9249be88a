"""Text of the scenario section: Markdown tables for energy.md and a console summary of <= 80 columns."""

from __future__ import annotations


def pct(x) -> str:
    """A reduction in percent with its sign (``n/a`` for None)."""
    return "n/a" if x is None else f"{x:+.1f}%"


def default_line(section: dict) -> str:
    """The default scenario in words."""
    d = section["default"]
    return (f"default: {d['sram_cell']} SRAM cells, compute {d['compute']}, {d['clock']} MHz, {d['dataflow']}, "
            f"{d['bank_kb']} KiB banks, weights {d['weights']}, {d['throughput']}")


def console_summary(section: dict) -> list[str]:
    """The scenario verdict in at most 10 lines of at most 80 characters."""
    lines = [f"Energy per token over {section['count']:,} modelling scenarios (memory included);"]
    lines += _wrap(default_line(section) + ".")
    for b, v in section["best"].items():
        lines.append(f"best spiking vs {b}: {pct(v['min'])} to {pct(v['max'])} "
                     f"(default {pct(v['default'])}), wins {100 * v['wins_share']:.0f}%")
    b0 = section["best"].get("MAC zero-skipping") or next(iter(section["best"].values()))
    be = b0.get("break_even_default")
    if be is not None:
        lines.append(f"break-even vs zero-skipping: {be:.2f} spikes/activation (MAC-weighted), "
                     f"measured {b0['spikes_measured']:.2f}")
    bars = section["tornado"].get("MAC zero-skipping", [])[:3]
    if bars:
        lines.append("largest single-axis swings vs zero-skipping: "
                     + ", ".join(f"{t['axis']} {t['low']:+.0f}..{t['high']:+.0f}%" for t in bars))
    return [ln for ln2 in lines for ln in _wrap(ln2)]


def _wrap(line: str, width: int = 80) -> list[str]:
    import textwrap
    return textwrap.wrap(line, width, subsequent_indent="  ") or [""]


def render_markdown(section: dict) -> str:
    """The scenario section of energy.md: axes, ranges per design, the tornado."""
    lines = [f"## Energy over {section['count']:,} modelling scenarios", "",
             "Every design priced under every combination of the axes below (memory at "
             f"{section['fixed']['memory_node_nm']} nm, {section['fixed']['memory_model']}; "
             f"{section['fixed']['buffer_kb']} KiB buffers; DRAM {section['fixed']['dram_pj_per_bit']:.1f} pJ/bit). "
             "Reductions are 1 - spiking / baseline energy per token: positive means spiking uses less.", "",
             "| axis | default | values | source | why the default |", "|---|---|---|---|---|"]
    for a in section["axes"]:
        if a["name"] not in section["grid"]:
            continue
        vals = "; ".join(f"`{k}`: {v}" for k, v in a["values"].items() if k in section["grid"][a["name"]])
        lines.append(f"| {a['name']} | `{a['default']}` | {vals} | {a['source']} | {a['why_default']} |")
    lines += ["", "Best spiking design in each scenario:", "",
              "| against | min | median | max | default | default design | spiking wins in | "
              "break-even s (default) | break-even s (range) | measured s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for b, v in section["best"].items():
        rng = v["break_even_range"]
        lines.append(f"| {b} | {pct(v['min'])} | {pct(v['median'])} | {pct(v['max'])} | {pct(v['default'])} | "
                     f"{v['default_design']} | {100 * v['wins_share']:.0f}% of scenarios | "
                     f"{_num(v['break_even_default'])} | "
                     f"{'n/a' if rng is None else f'{rng[0]:.2f}-{rng[1]:.2f}'} | {v['spikes_measured']:.3f} |")
    lines += ["", "Every spiking design:", "",
              "| design | against | min | median | max | default | wins in | uJ/token range |",
              "|---|---|---|---|---|---|---|---|"]
    for name, per in section["designs"].items():
        r = section["uj_per_token_range"][name]
        for b, v in per.items():
            lines.append(f"| {name} | {b} | {pct(v['min'])} | {pct(v['median'])} | {pct(v['max'])} | "
                         f"{pct(v['default'])} | {100 * v['wins_share']:.0f}% | {r['min']:.1f}-{r['max']:.1f} |")
    lines += ["", "One axis at a time (all others at their default): the best spiking design's reduction "
              "against the zero-skipping MAC per value (the tornado figure):", "",
              "| axis | default | reduction per value | swing |", "|---|---|---|---|"]
    for t in section["tornado"].get("MAC zero-skipping", []):
        vals = ", ".join(f"`{k}` {pct(v)}" for k, v in t["values"].items())
        lines.append(f"| {t['axis']} | `{t['default']}` | {vals} | {t['high'] - t['low']:.1f} points |")
    y = section.get("yan_break_even")
    if y:
        rate = y["break_even_rate"]
        lines += ["", f"### Against the literature: Yan et al.'s break-even at T={y['T']}", "",
                  f"A unary spiking array of T={y['T']} steps against the {y['qnn_bits']}-bit dense MAC that "
                  f"carries the same levels, priced in this model: break-even at "
                  + ("no spike rate" if rate is None else
                     f"{y['break_even_spikes_per_activation']:.2f} spikes per activation, a spike rate of "
                     f"{100 * rate:.1f}% per step")
                  + f"; Yan et al. (arXiv 2409.08290) report under {100 * y['published_rate']:.1f}%. "
                  "What this model assumes: " + "; ".join(y["assumptions"]) + "."]
    if section.get("skipped_designs"):
        lines += ["", "Not priced: " + ", ".join(section["skipped_designs"])
                  + " (the binary coding cannot carry negative counts)."]
    return "\n".join(lines) + "\n"


def _num(x) -> str:
    return "never" if x is None else f"{x:.2f}"


__all__ = ["console_summary", "render_markdown", "default_line", "pct"]
