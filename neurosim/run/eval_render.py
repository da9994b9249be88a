"""The Markdown of an eval result: the accuracy table, the per-kind spike table, the target's verdict,
the held-out confirmation and the rotation lines (printed by ``neurosim eval`` and written to
``eval.md``; ``docs/results`` re-renders them from ``eval.json``)."""

from __future__ import annotations

from neurosim.run import evalstats as ES
from neurosim.run.confirm import TARGET_PPL, TARGET_SPARSITY, full_settings, target_met, target_sparsity
from neurosim.run.metrics import fixed_sparsity_text
from neurosim.run.windows import source_noun

__all__ = ["format_table", "format_kinds", "verdict", "confirmation_lines", "render_result", "rotation_lines",
           "sparsity_cell"]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def sparsity_cell(s: dict) -> str:
    """Fixed-window sparsity of a setting: its window, or, where the windows differ between
    projections, the mixed figure (each projection counted in its own window) labelled as such,
    beside the figure on the common basis (:func:`neurosim.run.metrics.common_sparsity`)."""
    if s["totals"]["sparsity_fixed"] is None:
        return "n/a (unbounded)"
    return fixed_sparsity_text(s["totals"], s["quantizer"]["coding"])


def _mac_weighted(t: dict) -> float | None:
    return t.get("mac_weighted_spikes_per_activation", t.get("accumulates_per_dense_mac"))


def format_table(result: dict) -> str:
    """The Markdown table of an eval result (also printed)."""
    n = result["settings"][0]["windows"]
    wt = result["config"]["window_tokens"]
    first = result["settings"][0]["label"]
    plays = "ppl_change_ci_plays" in result["settings"][0]
    ci = ES.interval_shown(n)
    few = f"no intervals: {ES.TOO_FEW} (at least {ES.MIN_CI_WINDOWS})"
    texts = source_noun(result["config"])
    over_texts = f", and over {texts} (cluster bootstrap: each source text resampled with its windows)"
    lines = [f"{n} windows x {wt} tokens, {result['model']['model_type']}; "
             + (("95% bootstrap intervals over windows" + (over_texts if plays else "")) if ci else few),
             "",
             "| setting | dNLL (nats/token) [95% CI] | ppl change [95% CI] | "
             + (f"ppl change [95% CI over {texts}] | " if plays else "")
             + f"dNLL vs {first} [paired 95% CI] | mean KL | top-1 agree | sparsity, fixed window T "
             "| spikes/act (MAC-weighted) | tokens |",
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if plays else "")]
    for s in result["settings"]:
        t = s["totals"]
        lo, hi = s["dnll_ci"]
        plo, phi = s["ppl_change_ci"]
        vlo, vhi = s["dnll_vs_first_ci"]
        iv = (lambda a, b, f: f" [{a:{f}}, {b:{f}}]") if ci else (lambda a, b, f: f" ({ES.TOO_FEW})")
        vs = "-" if s is result["settings"][0] else f"{s['dnll_vs_first']:+.4f}" + iv(vlo, vhi, "+.4f")
        cp = s.get("ppl_change_ci_plays")
        pc = (("n/a (one text) | " if cp is None else f"[{cp[0]:+.2%}, {cp[1]:+.2%}] | ") if ci else
              f"({ES.TOO_FEW}) | ") if plays else ""
        mw = _mac_weighted(t)
        lines.append(f"| {s['label']} | {s['dnll']:+.4f}{iv(lo, hi, '+.4f')} | {s['ppl_change']:+.2%}"
                     f"{iv(plo, phi, '+.2%')} | {pc}{vs} | {s['mean_kl']:.4f} | {s['top1_agreement']:.1%} | "
                     f"{sparsity_cell(s)} | {t['spikes_per_activation']:.3f}"
                     + ("" if mw is None else f" ({mw:.3f})") + f" | {s['tokens_scored']:,} |")
    return "\n".join(lines)


def format_kinds(result: dict) -> str:
    """Per projection kind (q_proj, ..., down_proj): fixed-window sparsity (in the kind's own window)
    and spikes per activation of every setting."""
    kinds = list(dict.fromkeys(k for s in result["settings"] for k in s["per_projection_kind"]))
    lines = ["| setting | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for s in result["settings"]:
        cells = []
        for k in kinds:
            v = s["per_projection_kind"].get(k)
            cells.append("-" if v is None else f"{_pct(v['sparsity_fixed'])} / {v['spikes_per_activation']:.2f}")
        lines.append(f"| {s['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(doc: dict, where: str = "") -> str:
    """One sentence on the target (ppl-change interval below +1% at >= 65% fixed-window sparsity, on
    the common basis where windows differ), over the settings that quantize every projection ("" when
    there is none, e.g. a sensitivity sweep); ``where`` names the windows (e.g. held-out)."""
    full = full_settings(doc)
    if not full:
        return ""
    met = set(target_met(doc))
    ok = [s for s in full if s["label"] in met]
    n, wt = doc["settings"][0]["windows"], doc["config"]["window_tokens"]
    at = f"at {n}{where} windows x {wt} tokens" + ("" if n >= 32 and wt >= 512 else " (the full setting is 32 x 512)")
    what = (f"Target (perplexity-change interval below {TARGET_PPL:+.0%} at >= {TARGET_SPARSITY:.0%} "
            "fixed-window sparsity, on the common basis where windows differ)")
    if not ES.interval_shown(n):
        return f"{what} not judged{where}: {ES.TOO_FEW} for an interval ({n}; at least {ES.MIN_CI_WINDOWS})."
    if ok:
        best = min(ok, key=lambda s: s["ppl_change_ci"][1])
        return (f"{what} met {at} by: " + ", ".join(s["label"] for s in ok)
                + f"; best upper bound {best['label']}: {best['ppl_change_ci'][1]:+.2%}.")
    bounded = [s for s in full if (target_sparsity(s) or 0) >= TARGET_SPARSITY]
    best = min(bounded or full, key=lambda s: s["ppl_change_ci"][1])
    return (f"{what} not met {at}; closest: {best['label']}, interval "
            f"[{best['ppl_change_ci'][0]:+.2%}, {best['ppl_change_ci'][1]:+.2%}].")


def confirmation_lines(doc: dict) -> list[str]:
    """The held-out confirmation of a result (``--confirm-seed``): how the settings were chosen, the
    windows, the table and the target's sentence on them ([] when there is none)."""
    c = doc.get("confirmation")
    if not c:
        return []
    on = c["chosen_on"]
    v = verdict(c, " held-out")
    return ["Held-out confirmation: settings chosen on the {} windows of seed {} ({}), scored again on {} windows "
            "drawn with seed {} ({} token positions shared with the selection):".format(
                on["windows"], on["seed"], on["rule"], c["settings"][0]["windows"], c["config"]["seed"],
                on["shared_windows"]), "", format_table(c)] + (["", v] if v else [])


def render_result(doc: dict) -> str:
    """The Markdown of an eval result document (``docs/results/NAME.md``): the accuracy table, the
    per-kind spike table, the longer windows' RTL parameters and the calibration."""
    cmd = doc.get("command")
    v = verdict(doc)
    out = [(f"`{cmd}`: " if cmd else "") + format_table(doc), ""] + ([v, ""] if v else []) + [
           "Sparsity in the fixed window (each kind in its own) / spikes per activation, per projection kind:",
           "", format_kinds(doc)]
    conf = confirmation_lines(doc)
    if conf:
        out += ["", *conf]
    wins = [(s["label"], w) for s in doc["settings"] for w in s["windows_for"]]
    if wins:
        out += ["", "Longer windows (RTL: `neurosim rtl --design spike --t T --k K`; counts up to the levels):", "",
                "| setting | pattern | projections | T | levels | K | ACC_W |", "|---|---|---|---|---|---|---|"]
        out += [f"| {lab} | {w['pattern']} | {w['projections']} | {w['t']} | {w['levels']:,} | {w['k']:,} "
                f"| {w['acc_w']} |" for lab, w in wins]
    sm = doc.get("smoothing") or {}
    if sm.get("calibration"):
        cal = "; ".join(f"{c['tokens']:,} tokens of {c['source']}" for c in sm["calibration"])
        un = ", ".join(sm["unsmoothable"]) or "none"
        out += ["", f"Smoothing calibrated on {cal} (disjoint from the windows); projections that cannot be "
                    f"smoothed offline: {un}."]
    rl = rotation_lines(doc)
    if rl:
        out += ["", *rl]
    rt = doc.get("run_time")
    if rt:
        w = rt.get("workers", 1)
        out += ["", f"Run time {rt['total_s']:,.0f} s on {rt['cpus']} CPU cores"
                    + (f", {w} worker processes" if w > 1 else "") + f" (load average after: {rt['load_after']})."]
    return "\n".join(out) + "\n"


def rotation_lines(doc: dict) -> list[str]:
    """One line per rotated setting: the orthogonal matrix folded into its weights ([] when none is)."""
    return [f"Rotation of {s['label']}: {s['rotation']}, folded offline into the weights (residual stream)."
            for s in doc["settings"] if s.get("rotation")]
