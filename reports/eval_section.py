"""The report's accuracy frontier: ``neurosim eval`` results (``eval.json``) as a claims row with its
95% interval, a table and a figure of accuracy (NLL change with its interval) against spikes per
activation / fixed-window sparsity for every quantizer setting."""

from __future__ import annotations

from pathlib import Path

from neurosim import NeurosimError

from .claims import Claim, fmt_signed_frac_pct, pointer
from .data import model_name

NO_EVAL = "no eval results given"


def load_eval(path) -> tuple[Path, dict]:
    """Read ``eval.json`` (``path``: the ``neurosim eval --out`` folder or the file)."""
    from neurosim.run.trace import read_json

    p = Path(path)
    f = p / "eval.json" if p.is_dir() else p
    doc = read_json(f, "give the folder written by `neurosim eval --out DIR`")
    if not isinstance(doc, dict) or not isinstance(doc.get("settings"), list) or not doc["settings"] \
            or "dnll_ci" not in doc["settings"][0]:
        raise NeurosimError(f"{f} is not a neurosim eval result (re-run `neurosim eval`)")
    return f, doc


def eval_claims(doc: dict, file: str = "eval.json") -> list[Claim]:
    """The accuracy claim from the eval's first setting: perplexity change with its 95% interval."""
    from neurosim.paper import PAPER

    from neurosim.run.evalstats import TOO_FEW, interval_shown

    s = doc["settings"][0]
    n, wt = s["windows"], doc["config"]["window_tokens"]
    lo, hi = s["ppl_change_ci"]
    ci = interval_shown(n)
    budget = "" if (n >= 32 and wt >= 512) else (
        "; budget setting of `make main` (the full setting is `neurosim eval --windows 32 --window-tokens 512`)")
    return [Claim("accuracy loss (INT8-Spiking vs BF16)", f"{PAPER['accuracy_loss_pct']:.2f}%",
                  f"{fmt_signed_frac_pct(s['ppl_change'])} "
                  + (f"[{fmt_signed_frac_pct(lo)}, {fmt_signed_frac_pct(hi)}]" if ci else f"({TOO_FEW})"),
                  s["ppl_change"], file, pointer("settings", 0, "ppl_change"), "signed_frac_pct",
                  f"perplexity change ({s['label']}, {doc['settings'][0]['quantizer']['mode']} mode) vs the float "
                  f"model over {n} windows x {wt} tokens ({s['tokens_scored']:,} predictions), "
                  + ("95% bootstrap interval over windows" if ci else f"no interval: {TOO_FEW} (at least 8)"),
                  "paper: benchmark-average accuracy drop of SpB2.0-5B, protocol unknown" + budget)]


def frontier_figure(doc: dict):
    """NLL change (95% interval) against spikes per activation, one numbered point per setting (the
    legend names them), with the target (+1% perplexity, i.e. ln 1.01 nats/token) dashed."""
    import math

    import matplotlib.pyplot as plt

    from .energy_section import STYLES

    fig, ax = plt.subplots(figsize=(10, 5.2))
    for i, s in enumerate(doc["settings"], 1):
        color, marker = STYLES[(i - 1) % len(STYLES)]
        x = s["totals"]["spikes_per_activation"]
        lo, hi = s["dnll_ci"]
        ax.errorbar([x], [s["dnll"]], yerr=[[s["dnll"] - lo], [hi - s["dnll"]]], fmt=marker, color=color,
                    ms=7, capsize=3, label=f"{i}: {s['label']}{_sparsity_note(s)}")
        ax.annotate(str(i), (x, s["dnll"]), fontsize=8, xytext=(4, 3), textcoords="offset points")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.axhline(math.log1p(0.01), color="grey", lw=0.8, ls="--", label="+1% perplexity (target bound)")
    ax.set_xlabel("spikes per activation")
    ax.set_ylabel("NLL change [nats/token], 95% CI")
    n, wt = doc["settings"][0]["windows"], doc["config"]["window_tokens"]
    ax.set_title(f"accuracy vs spikes, {model_name(doc)}, {n} windows x {wt} tokens", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def _sparsity_note(s: dict) -> str:
    """" (x% sparse)", or for windows that differ between projections the mixed figure, labelled,
    and the one on the common basis."""
    from neurosim.run.metrics import common_sparsity, mixed_windows

    t = s["totals"]
    if t["sparsity_fixed"] is None:
        return ""
    if not mixed_windows(t):
        return f" ({100 * t['sparsity_fixed']:.1f}% sparse)"
    c, T = common_sparsity(t, s["quantizer"]["coding"])
    assert c is not None                      # windows that differ have a common basis
    return f" ({100 * t['sparsity_fixed']:.1f}% sparse mixed, {100 * c:.1f}% on {T} cells)"


def eval_answer(ev: dict) -> str:
    """The accuracy question's one-line answer: the first setting's perplexity change with its interval."""
    from neurosim.paper import PAPER

    s = ev["settings"][0]
    lo, hi = s["ppl_change_ci"]
    return (f"Perplexity change {fmt_signed_frac_pct(s['ppl_change'])} (95% interval {fmt_signed_frac_pct(lo)} "
            f"to {fmt_signed_frac_pct(hi)}) for {s['label']} over {s['windows']} windows x "
            f"{ev['config']['window_tokens']} tokens; the paper reports a {PAPER['accuracy_loss_pct']}% accuracy "
            "loss (a benchmark average, another protocol).")


def add_eval_section(doc, figs: dict, ev: dict, ev_path) -> None:
    """The frontier's details (setting table, per-kind table); the opening figure is ``accuracy_frontier``
    (:func:`frontier_figure`), added by the caller."""
    from neurosim.run.eval_render import confirmation_lines, format_kinds, format_table
    from neurosim.run.windows import source_noun

    doc.p(f"From `{ev_path}`; windows drawn with seed {ev['config']['seed']} from "
          f"{', '.join(ev['corpus']['sources'])}. Perplexity change = exp(mean NLL change) - 1; intervals are "
          "95% percentile bootstrap intervals over windows (and, where shown, over "
          f"{source_noun(ev['config'])}: each source text "
          "resampled with its windows). A sparsity marked mixed counts each projection in its own window; "
          "the figure beside it counts every projection on the common INT8 window.")
    _table_from_md(doc, format_table(ev))
    doc.p("Fixed-window sparsity (each kind in its own window) / spikes per activation per projection kind:")
    _table_from_md(doc, format_kinds(ev))
    conf = confirmation_lines(ev)  # [how chosen, "", table, "", target sentence]
    if conf:
        doc.p(conf[0])
        _table_from_md(doc, conf[2])
        for line in conf[4:]:
            doc.p(line)


def _table_from_md(doc, md: str) -> None:
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    for ln in md.splitlines():
        if ln and not ln.startswith("|"):
            doc.p(ln)
    if len(lines) < 2:
        return
    def split(ln: str) -> list[str]:
        return [c.strip() for c in ln.strip().strip("|").split("|")]
    head = split(lines[0])
    doc.table(head, [split(ln) for ln in lines[2:]], align="l" * len(head))
