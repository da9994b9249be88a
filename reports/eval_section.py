"""The report's accuracy frontier: ``neurosim eval`` results (``eval.json``) as a claims row with its
95% interval, a table and a figure of accuracy (NLL change with its interval) against spikes per
activation / fixed-window sparsity for every quantizer setting."""

from __future__ import annotations

from pathlib import Path

from neurosim import NeurosimError

from .claims import Claim, fmt_signed_frac_pct, pointer

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
        f"; budget setting of `make main` (the full setting is `neurosim eval --windows 32 --window-tokens 512`)")
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

    fig, ax = plt.subplots(figsize=(10, 5.2))
    for i, s in enumerate(doc["settings"], 1):
        x = s["totals"]["spikes_per_activation"]
        lo, hi = s["dnll_ci"]
        sp = s["totals"]["sparsity_fixed"]
        ax.errorbar([x], [s["dnll"]], yerr=[[s["dnll"] - lo], [hi - s["dnll"]]], fmt="o", capsize=3,
                    label=f"{i}: {s['label']}" + ("" if sp is None else f" ({100 * sp:.1f}% sparse)"))
        ax.annotate(str(i), (x, s["dnll"]), fontsize=8, xytext=(4, 3), textcoords="offset points")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.axhline(math.log1p(0.01), color="grey", lw=0.8, ls="--", label="+1% perplexity (target bound)")
    ax.set_xlabel("spikes per activation")
    ax.set_ylabel("NLL change [nats/token], 95% CI")
    n, wt = doc["settings"][0]["windows"], doc["config"]["window_tokens"]
    ax.set_title(f"accuracy vs spikes, {doc['model']['model_type']}, {n} windows x {wt} tokens", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def add_eval_section(doc, figs: dict, ev: dict | None, ev_path) -> None:
    """Append the frontier section (table, per-kind table, figure) to the report document."""
    from neurosim.run.eval import format_kinds, format_table

    if not doc.section("Accuracy over many windows: the quantizer frontier", ev, NO_EVAL,
                       "run `neurosim eval --out DIR` (e.g. `--settings benchmarks/frontier.yaml`) and pass `--eval DIR`."):
        return
    doc.p(f"From `{ev_path}`; windows drawn with seed {ev['config']['seed']} from "
          f"{', '.join(ev['corpus']['sources'])}. Perplexity change = exp(mean NLL change) - 1; intervals are "
          "95% percentile bootstrap intervals over windows.")
    _table_from_md(doc, format_table(ev))
    figs["accuracy_frontier"] = lambda: frontier_figure(ev)
    doc.figure("accuracy_frontier", "NLL change with its 95% interval against spikes per activation, per setting")
    doc.p("Fixed-window sparsity / spikes per activation per projection kind:")
    _table_from_md(doc, format_kinds(ev))


def _table_from_md(doc, md: str) -> None:
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    for ln in md.splitlines():
        if ln and not ln.startswith("|"):
            doc.p(ln)
    if len(lines) < 2:
        return
    split = lambda ln: [c.strip() for c in ln.strip().strip("|").split("|")]
    head = split(lines[0])
    doc.table(head, [split(ln) for ln in lines[2:]], align="l" * len(head))
