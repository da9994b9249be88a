"""The verdict a user reads first: each paper claim beside its measurement, then the system-level
energy answer over the modelling scenarios, in at most 12 lines of at most 80 characters, and above it
the same answer in words (:func:`short_answer`, at most 4 lines).

Shared by the report (its first block), ``neurosim report``'s console output and the README.
Reductions read like the paper's: positive means the spiking design is smaller or uses less.
"""

from __future__ import annotations

import textwrap

from neurosim.paper import PAPER

from .data import model_name

WIDTH, MAX_LINES = 80, 12
#: fewer evaluation windows than this give no interval
MIN_WINDOWS_FOR_INTERVAL = 8


def _pct(x, signed: bool = True) -> str:
    return "n/a" if x is None else (f"{x:+.1f}%" if signed else f"{x:.1f}%")


def _accuracy(summary: dict, ev: dict | None) -> str:
    if ev is not None and ev.get("settings"):
        s = ev["settings"][0]
        n = int(s.get("windows", 0))
        ci = s.get("ppl_change_ci")
        if ci and n >= MIN_WINDOWS_FOR_INTERVAL:
            return f"ppl {100 * s['ppl_change']:+.2f}% [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}], {n} windows"
        return f"ppl {100 * s['ppl_change']:+.2f}% ({n}: too few windows for an interval)"
    acc = summary.get("accuracy", {})
    if "ppl_change" in acc:
        return f"ppl {100 * acc['ppl_change']:+.2f}% on one passage (no interval)"
    return "not measured"


def _unit_comparison(hw: dict) -> tuple[str, dict, dict]:
    """(clock MHz, the comparison at 500 MHz or the fastest clock, its power figures: gate-level
    simulation with SDF delays where run, else zero-delay)."""
    comp = hw.get("comparison", {})
    fk = "500" if "500" in comp else sorted(comp, key=float)[-1]
    c = comp[fk]
    return fk, c, c.get("gspecify" if "power_reduction_equal_clock_busy_pct" in c.get("gspecify", {})
                        else "zero_delay", {})


def _hw_rows(hw: dict | None, energy: dict | None) -> list[str]:
    if hw is None:
        return ["area, power      (no hardware results given)"]
    comp = hw.get("comparison", {})
    fk, c, p = _unit_comparison(hw)
    rows = [f"area saved       {PAPER['area_reduction_pct']:.1f}%   {_pct(c.get('area_reduction_pct'), False)} "
            f"one array at {fk} MHz (0.18 um cells)"]
    work = ""
    if energy and energy.get("designs"):
        best = _best_spiking(energy)
        v = best.get("vs", {}).get("MAC dense", {}).get("unit_only_reduction_pct")
        if v is not None:
            work = f", {_pct(v, False)} per MAC-eq (trace's rate)"
    rows.append(f"power saved      {PAPER['power_reduction_500mhz_pct']:.1f}%   "
                f"{_pct(p.get('power_reduction_equal_clock_busy_pct'), False)} per busy cycle{work}")
    ac = {k: (comp[k].get("area_cycles_per_activation_um2") or {}).get("model", {}).get("reduction_pct")
          for k in sorted(comp, key=float, reverse=True)}
    if any(v is not None for v in ac.values()):
        rows.append("area x cycles    -       " + ", ".join(f"{_pct(v, False)} @ {k} MHz" for k, v in ac.items()
                                                           if v is not None) + " (per activation)")
    return rows


def _best_spiking(energy: dict) -> dict:
    spk = [d for d in energy["designs"] if "vs" in d]
    return min(spk, key=lambda d: d["per_token"]["total_pj"]) if spk else {}


def _energy_rows(energy: dict | None) -> list[str]:
    if not energy or not energy.get("scenarios"):
        return ["energy/token     not priced (run `neurosim energy --trace T --hw H --out E`",
                "                 and pass `--energy E`)"]
    s = energy["scenarios"]
    rows = [f"Energy per token, memory included, best spiking design in {s['count']:,} scenarios",
            "(+ = spiking saves; default scenario in brackets; docs/energy.md has the axes):"]
    short = {"MAC dense": "dense MAC", "MAC zero-skipping": "zero-skipping MAC"}
    for b, v in s["best"].items():
        rows.append(f"  vs {short.get(b, b) + ':':19}{_pct(v['min'])} to {_pct(v['max'])} "
                    f"[{_pct(v['default'])}], spiking wins in {100 * v['wins_share']:.0f}%")
    zs = s["best"].get("MAC zero-skipping")
    if zs and zs.get("break_even_default") is not None:
        rows.append(f"  break-even vs zero-skipping MAC {zs['break_even_default']:.2f} spikes/activation, "
                    f"measured {zs['spikes_measured']:.2f}")
    return rows


def verdict_lines(summary: dict, hw: dict | None = None, energy: dict | None = None,
                  ev: dict | None = None) -> list[str]:
    """At most :data:`MAX_LINES` lines of at most :data:`WIDTH` characters."""
    t = summary.get("totals", {})
    sp = t.get("sparsity_fixed", t.get("sparsity_data"))
    lines = [f"VERDICT: {model_name(summary)}, {summary.get('tokens', '?')} tokens"[:WIDTH],
             "claim            paper   measured",
             f"spike sparsity   {PAPER['sparsity_pct']:.2f}%  "
             + ("n/a" if sp is None else f"{100 * sp:.2f}% (fixed window T={t.get('T_fixed', '?')})"),
             f"accuracy loss    {PAPER['accuracy_loss_pct']:.2f}%   {_accuracy(summary, ev)}"]
    lines += _hw_rows(hw, energy) + _energy_rows(energy)
    out = [ln if len(ln) <= WIDTH else ln[:WIDTH - 3] + "..." for ln in lines]
    return out[:MAX_LINES]


def _than(measured, claimed, more: str, less: str) -> str | None:
    return None if measured is None else (more if measured >= claimed else less)


def _accuracy_words(ev: dict | None) -> str:
    """How the perplexity change compares with the paper's accuracy loss, judged on its interval."""
    s = (ev or {}).get("settings") or [{}]
    ci, n = s[0].get("ppl_change_ci"), int(s[0].get("windows", 0))
    if not ci or n < MIN_WINDOWS_FOR_INTERVAL:
        return "an accuracy loss with no interval yet"
    paper = PAPER["accuracy_loss_pct"] / 100
    return ("more accuracy loss" if ci[0] > paper else "less accuracy loss" if ci[1] < paper
            else "an accuracy loss consistent with it")


def _energy_words(energy: dict | None) -> str:
    """Whether spiking saves energy per token with memory, over the scenarios, against each MAC."""
    best = ((energy or {}).get("scenarios") or {}).get("best") or {}
    if not best:
        return "energy with memory not priced"
    short = {"MAC dense": "dense", "MAC zero-skipping": "zero-skipping"}
    shares = [f"{100 * v['wins_share']:.0f}% (vs {short.get(b, b)} MAC)" for b, v in best.items()]
    if all(v["min"] > 0 for v in best.values()):
        return "with memory included, spiking saves energy in every scenario"
    if all(v["max"] < 0 for v in best.values()):
        return "with memory included, spiking costs energy in every scenario"
    return ("with memory included, spiking saves energy in " + " and ".join(shares)
            + " of the scenarios: the sign depends on modelling choices")


def short_answer(summary: dict, hw: dict | None = None, energy: dict | None = None,
                 ev: dict | None = None) -> list[str]:
    """The verdict in words, at most 4 lines of :data:`WIDTH` characters: each claim measured above or
    below the paper's, and whether spiking saves energy with memory over the scenarios."""
    t = summary.get("totals", {})
    sp = t.get("sparsity_fixed", t.get("sparsity_data"))
    sparsity = _than(None if sp is None else 100 * sp, PAPER["sparsity_pct"], "sparser spikes", "denser spikes")
    parts = [sparsity or "no spike sparsity", _accuracy_words(ev)]
    if hw and hw.get("comparison"):
        _, c, p = _unit_comparison(hw)
        saved = [x for x in (_than(c.get("area_reduction_pct"), PAPER["area_reduction_pct"],
                                   "more area saved", "less area saved"),
                             _than(p.get("power_reduction_equal_clock_busy_pct"), PAPER["power_reduction_500mhz_pct"],
                                   "more power saved per busy cycle", "less power saved per busy cycle")) if x]
        if saved:
            parts.append(" and ".join(saved) + " by one array")
    text = "In short: against the paper, " + ", ".join(parts) + "; " + _energy_words(energy) + "."
    return textwrap.wrap(text, WIDTH)[:4]


__all__ = ["WIDTH", "MAX_LINES", "MIN_WINDOWS_FOR_INTERVAL", "short_answer", "verdict_lines"]
