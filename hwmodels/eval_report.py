"""Text of the priced accuracy settings: the joint accuracy-energy table and its one-line answer."""

from __future__ import annotations

from neurosim.run.evalstats import MIN_CI_WINDOWS, TOO_FEW

#: the accuracy target: perplexity change against the float model at most +1%
ACCURACY_BOUND = 0.01
ZS = "MAC zero-skipping"


def meets_accuracy(s: dict) -> bool:
    """The setting's whole 95% interval of the perplexity change is within the +1% bound."""
    ci = s.get("ppl_change_ci")
    return ci is not None and ci[1] is not None and ci[1] <= ACCURACY_BOUND


def wins_most(s: dict) -> bool:
    """The best spiking design beats the zero-skipping MAC in more than half of the scenarios."""
    return s["best"].get(ZS, {}).get("wins_share", 0.0) > 0.5


def joint_answer(priced: list[dict]) -> str:
    """One sentence: does any setting meet the accuracy target and win against the zero-skipping
    MAC in most scenarios? (Not judged where the eval had too few windows for an interval.)"""
    if priced and not any(s.get("interval_shown", True) for s in priced):
        best = max(priced, key=lambda s: s["best"].get(ZS, {}).get("wins_share", 0.0))
        return (f"The accuracy target is not judged: too few windows for an interval (at least {MIN_CI_WINDOWS}). "
                f"Most energy wins against the zero-skipping MAC: {best['label']}, "
                f"{100 * best['best'].get(ZS, {}).get('wins_share', 0.0):.0f}% of scenarios.")
    both = [s["label"] for s in priced if meets_accuracy(s) and wins_most(s)]
    acc = [s["label"] for s in priced if meets_accuracy(s)]
    if both:
        return (f"{len(both)} of {len(priced)} settings meet the +1% accuracy bound and beat the zero-skipping MAC "
                f"in most scenarios: {', '.join(both)}.")
    best = max(priced, key=lambda s: s["best"].get(ZS, {}).get("wins_share", 0.0))
    return (f"No setting meets both the +1% accuracy bound ({len(acc)} of {len(priced)} meet it) and an energy "
            f"win against the zero-skipping MAC in most scenarios (the most: {best['label']}, "
            f"{100 * best['best'].get(ZS, {}).get('wins_share', 0.0):.0f}% of scenarios).")


def _ci(s: dict) -> str:
    ci = s.get("ppl_change_ci")
    if s.get("ppl_change") is None:
        return "n/a"
    if not s.get("interval_shown", True):
        return f"{100 * s['ppl_change']:+.2f}% ({TOO_FEW})"
    inner = "" if not ci or ci[0] is None else f" [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]"
    return f"{100 * s['ppl_change']:+.2f}%{inner}"


def render_settings(priced: list[dict]) -> str:
    """Markdown: every setting's accuracy beside its energy per token (default and scenario range)."""
    lines = ["## Every accuracy setting priced", "",
             "Energy per token in uJ at the default scenario, with the range over all scenarios. A MAC "
             "baseline is priced at each setting's activation width (wider windows: wider MAC, ESTIMATE). "
             "Spikes per activation are MAC-weighted.", "",
             "| # | setting | perplexity change [95% CI] | widest activation | spikes/act | MAC dense | "
             "MAC zero-skipping | best spiking | best vs zero-skipping: wins in |", "|---|---|---|---|---|---|---|---|---|"]
    for i, s in enumerate(priced, 1):
        spk = ", ".join(f"{v:.2f}" for v in s["spikes_per_activation_mac_weighted"].values())
        base = {b: f"{v['default_uj']:.0f} ({v['min_uj']:.0f}-{v['max_uj']:.0f})" for b, v in s["baselines"].items()}
        name = min(s["designs"], key=lambda n: s["designs"][n]["default_uj"])
        d = s["designs"][name]
        zs = s["best"].get(ZS, {})
        lines.append(f"| {i} | {s['label']} | {_ci(s)} | {s['max_activation_bits']} bits | {spk} | "
                     f"{base.get('MAC dense', 'n/a')} | {base.get(ZS, 'n/a')} | "
                     f"{d['default_uj']:.0f} ({d['min_uj']:.0f}-{d['max_uj']:.0f}), {name} | "
                     f"{100 * zs.get('wins_share', 0.0):.0f}% of {s['scenarios']:,} |")
    lines += ["", joint_answer(priced)]
    return "\n".join(lines) + "\n"


def render_joint(doc: dict) -> str:
    """The joint results file (``neurosim.results joint``): the table, the figure and the answer."""
    head = [f"Every accuracy setting priced over the energy scenarios (`{doc['command']}`)." if doc.get("command")
            else "Every accuracy setting priced over the energy scenarios.", ""]
    body = render_settings(doc["settings"]).split("\n", 2)[2]
    return "\n".join(head) + body


def render_answer(doc: dict) -> str:
    """The short form the README quotes: the joint answer and the accuracy target on the selection
    windows and on the held-out ones."""
    out = [f"On {doc['windows']} windows x {doc['window_tokens']} tokens (`{doc['command']}`): {doc['answer']}"]
    if doc.get("selection_verdict"):
        out.append(f"Selection windows: {doc['selection_verdict']}")
    if doc.get("confirmation_verdict"):
        out.append(f"Held-out windows ({doc['confirmation_windows']}, seed {doc['confirmation_seed']}): "
                   f"{doc['confirmation_verdict']}")
    return "\n\n".join(out) + "\n"


__all__ = ["render_answer", "render_joint", "ACCURACY_BOUND", "meets_accuracy", "wins_most", "joint_answer", "render_settings"]
