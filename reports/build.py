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
from .claims import NO_HW, PAPER, build_claims, fmt_frac_pct, fmt_pct
from .data import Trace, freq_keys, kind_label, load_hw, load_trace, model_name, sim_label
from .document import Document, to_html, to_markdown
from .energy_section import (
    NO_ENERGY,
    add_energy_section,
    compute_energy,
    energy_answer,
    energy_claims,
    energy_stacked,
    load_energy,
)
from .eval_section import add_eval_section, eval_answer, eval_claims, frontier_figure, load_eval
from .scenario_section import add_joint_section, add_scenario_details, add_tornado, scenario_answer
from .sections import _f, _n, add_hw_details, add_sparsity_details, add_work_details
from .verdict import short_answer, verdict_lines

REPORT_FILES = ("report.md", "report.html", "report.json")
#: the report folder's marker file and name in messages (neurosim.outdir.OutputFolder)
MARKER, WHAT = "report.md", "report"


def _sparsity_answer(t: dict) -> str:
    fixed = t.get("sparsity_fixed")
    which = (f"{fmt_frac_pct(fixed)} in the fixed T={t['T_fixed']} window" if fixed is not None
             else f"{fmt_frac_pct(t['sparsity_data'])} in each tensor's own window (no fixed window: unbounded counts)")
    return (f"Spike sparsity {which} at the inputs of the block projections (paper: {PAPER['sparsity_pct']}%), "
            f"{t['spikes_per_activation']:.2f} spikes per activation.")


def _trace_accuracy_answer(acc: dict) -> str:
    if "ppl_change" not in acc:
        return "No accuracy figures: the trace is of a float run."
    return (f"On the traced passage ({acc.get('positions', '?')} tokens) the perplexity changes by "
            f"{100 * acc['ppl_change']:+.2f}% and {fmt_frac_pct(acc['top1_agreement'])} of the next-token predictions "
            f"agree with the float model (paper: {PAPER['accuracy_loss_pct']}% accuracy loss). One passage gives no "
            "interval: pass `--eval DIR` for one over many windows.")


def _hw_answer(hw: dict) -> str:
    fks = freq_keys(hw)
    fk = "500" if "500" in fks else fks[-1]
    c = hw["comparison"][fk]
    label = sim_label(c)
    power = ("power not simulated" if label is None else
             f"{fmt_pct(c[label]['power_reduction_equal_clock_busy_pct'])} less power per busy cycle "
             f"(paper: {PAPER['power_reduction_500mhz_pct']}%)")
    timing = "" if c["both_meet_timing"] else " Timing is NOT met by both designs at this clock."
    return (f"At {fk} MHz the spiking array takes {fmt_pct(c['area_reduction_pct'])} less cell area than the INT8 "
            f"MAC array (paper: {PAPER['area_reduction_pct']}%) and {power}.{timing}")


def _claims(S: dict, hw: dict | None, energy: dict | None, ev: dict | None) -> list:
    """The claims table's rows; with an eval its accuracy rows come first and the trace's passage is alt."""
    claims = build_claims(S, hw) + (energy_claims(energy) if energy is not None else [])
    if ev is not None:
        i = next((j for j, c in enumerate(claims) if c.claim == "accuracy loss (INT8-Spiking vs BF16)"), len(claims))
        if i < len(claims):
            claims[i].claim += ", alt. (the trace's one passage)"
        claims[i:i] = eval_claims(ev)
    return claims


def _add_opening(doc: Document, S: dict, claims: list) -> None:
    """The model and settings in one paragraph, then the claims table in a collapsible block."""
    s, model, name = S["settings"], S["model"], model_name(S)
    kinds = ", ".join(f"{kind_label(k)} x{model['layer_kinds'].count(k)}" for k in dict.fromkeys(model["layer_kinds"]))
    window = f"fixed T={s['window']}" if s.get("window") else "per tensor (statistics on the INT8 hardware window)"
    doc.p(f"{name}, {model['n_layers']} layers ({kinds}), on {S['tokens']} tokens of "
          f"{S.get('input', {}).get('source', '?')}. Mode {s['mode']}, coding {s['coding']}, activation scale "
          f"{s['scale']}" + (f" (k={s['k']:g})" if s["scale"] == "adaptive" else "")
          + f", clamp {s['clamp']}, window {window}, weights INT8 per "
          + (f"group of {s['weight_group']}" if s.get("weight_group") else "output channel") + ".")
    doc.details("The claims table in full: definitions, sources, what differs from the paper")
    doc.p("Each measured value is one number of the named file, at the JSON pointer in the source column. "
          "Rows marked *alt.* give the same claim under another definition. Reductions are positive when "
          "the spiking design is smaller.")
    doc.table(["claim", "paper", "measured", "definition", "source", "what differs"],
              [[c.claim, c.paper, c.measured, c.definition,
                f"`{c.file}:{c.source}`" if c.source else "-", c.note] for c in claims], align="llrlll")
    doc.end_details()


def _add_sparsity(doc: Document, figs: dict, trace: Trace) -> None:
    """The sparsity question: answer, per-layer figure, details."""
    doc.h(1, "Sparsity: how many spike slots stay empty?")
    doc.answer(_sparsity_answer(trace.summary["totals"]))
    figs["sparsity_per_layer"] = lambda: F.sparsity_per_layer(trace)
    doc.figure("sparsity_per_layer", "per-layer sparsity, attention-block vs MLP projections, under each "
               f"definition; dashed: the paper's {PAPER['sparsity_pct']}%")
    doc.details("Sparsity per definition and layer, spike counts, firing rate, a spike raster")
    add_sparsity_details(doc, figs, trace)
    doc.end_details()


#: the traced passage's accuracy figures: summary.json key -> (label, format)
_ACCURACY_ROWS = {"ppl_fp": ("perplexity, float model", lambda v: _f(v, 3)),
                  "ppl_quant": ("perplexity, spiking model", lambda v: _f(v, 3)),
                  "ppl_change": ("perplexity change", lambda v: f"{100 * v:+.2f}%"),
                  "top1_agreement": ("top-1 agreement", fmt_frac_pct),
                  "mean_kl": ("mean KL(float || spiking)", lambda v: f"{v:.4f} nats"),
                  "positions": ("token positions", _n)}


def _add_accuracy(doc: Document, figs: dict, acc: dict, ev: dict | None, ev_path) -> None:
    """The accuracy question: from the eval when given (with its frontier figure), else the traced passage."""
    doc.h(1, "Accuracy: what does spiking cost against the float model?")
    if ev is not None:
        doc.answer(eval_answer(ev))
        figs["accuracy_frontier"] = lambda: frontier_figure(ev)
        doc.figure("accuracy_frontier", "NLL change with its 95% interval against spikes per activation, per setting")
        doc.details("Every quantizer setting over many windows, and the traced passage")
        add_eval_section(doc, figs, ev, ev_path)
    else:
        doc.answer(_trace_accuracy_answer(acc))
        doc.details("The traced passage's accuracy figures")
    rows = [[label, f(acc[k]), f"`summary.json:/accuracy/{k}`"] for k, (label, f) in _ACCURACY_ROWS.items()
            if k in acc]
    if rows:
        doc.table(["quantity (traced passage)", "value", "source"], rows, align="lrl")
    doc.p(f"The paper's {PAPER['accuracy_loss_pct']}% is a benchmark-average accuracy drop of SpB2.0-5B against "
          "BF16; these are next-token statistics of the traced model on text. A randomly initialised "
          "checkpoint (`make-checkpoint`) has no meaningful accuracy.")
    doc.end_details()


def _add_hardware(doc: Document, figs: dict, trace: Trace, hw: dict | None, hw_path: Path | None) -> None:
    """The area and power question, from hw.json."""
    doc.h(1, "Area and power: is the spiking array smaller and cooler than an INT8 MAC array?")
    if hw is None:
        doc.answer(f"Not measured: {NO_HW}. Run `neurosim hw --out HWOUT --trace {trace.path}` and pass `--hw HWOUT`.")
        return
    doc.answer(_hw_answer(hw))
    figs["area_power"] = lambda: F.area_power(hw)
    doc.figure("area_power", "area and power at each clock, with the reductions of the spiking array")
    doc.details("Every clock, the chosen configurations and the hardware model's assumptions")
    add_hw_details(doc, figs, trace, hw, hw_path)
    doc.end_details()


def _add_energy(doc: Document, figs: dict, trace: Trace, hw: dict | None, energy: dict | None, energy_path) -> None:
    """The energy question: over the scenarios when energy.json has them, the designs at the default
    scenario, then the projection arrays' work (the only part without energy.json)."""
    doc.h(1, "Energy: does the spiking design use less energy per token?")
    if energy is not None and energy.get("designs"):
        if energy.get("scenarios"):
            doc.answer(scenario_answer(energy))
            add_tornado(doc, figs, energy)
            doc.details("The energy over modelling scenarios: ranges, break-even, the literature")
            add_scenario_details(doc, figs, energy)
            doc.end_details()
        else:
            doc.answer(energy_answer(energy))
        add_joint_section(doc, figs, energy)
        figs["energy_stacked"] = lambda: energy_stacked(energy)
        doc.details("Energy per design at the default scenario, per layer, break-even spike rates, assumptions")
        doc.figure("energy_stacked", "energy per token by component, per design")
        add_energy_section(doc, figs, energy, energy_path)
        doc.end_details()
        doc.details("Accumulate events vs dense MACs, projection arrays only")
    else:
        doc.answer(f"Memory included: {NO_ENERGY} (run `neurosim energy --trace OUT --hw HWOUT --out DIR` and pass "
                   "`--energy DIR`, or `--energy compute`). Below: the projection arrays' work and compute energy.")
        doc.details("Accumulate events vs dense MACs, and the arrays' compute energy per token")
    add_work_details(doc, figs, trace, hw)
    doc.end_details()


def _add_provenance(doc: Document, trace: Trace, hw: dict | None, hw_path: Path | None, energy_path, ev_path) -> None:
    """Which files and versions made the report, and the trace's settings."""
    S = trace.summary
    doc.details("Provenance")
    doc.p(f"Report by neurosim {__version__} from the trace `{trace.path}` (schema {S['schema_version']}, "
          f"neurosim {S.get('neurosim_version', '?')})"
          + (f", hardware `{hw_path}` ({hw['schema']})" if hw is not None else "")
          + (f", energy `{energy_path}`" if energy_path is not None else "")
          + (f", eval `{ev_path}`" if ev_path is not None else "") + ". Settings of the trace: "
          + ", ".join(f"{k}={v}" for k, v in sorted(S["settings"].items())) + ".")
    doc.end_details()


def build_document(trace: Trace, hw: dict | None, hw_path: Path | None, energy: dict | None = None,
                   energy_path=None, ev: dict | None = None, ev_path=None) -> tuple[Document, list, dict]:
    """The document, its claims and the figure builders ``{name: callable -> Figure | None}``: the verdict
    first (in words, then the claims and energy in 12 lines), then one section per question (sparsity, accuracy, area and power, energy), each opening with
    its one-line answer and its figure, the details in collapsible blocks."""
    S = trace.summary
    claims = _claims(S, hw, energy, ev)
    figs: dict = {}
    doc = Document(f"neurosim report: SpikingBrain 2.0's claims on {model_name(S)}")
    doc.p(" ".join(short_answer(S, hw, energy, ev)))
    doc.pre(verdict_lines(S, hw, energy, ev))
    _add_opening(doc, S, claims)
    _add_sparsity(doc, figs, trace)
    _add_accuracy(doc, figs, S.get("accuracy", {}), ev, ev_path)
    _add_hardware(doc, figs, trace, hw, hw_path)
    _add_energy(doc, figs, trace, hw, energy, energy_path)
    _add_provenance(doc, trace, hw, hw_path, energy_path if energy is not None else None,
                    ev_path if ev is not None else None)
    return doc, claims, figs


def _price_eval_settings(energy: dict | None, ev: dict | None, hw: dict | None) -> dict | None:
    """energy.json with the eval's settings priced over its scenario grid, when the energy run priced
    none and the eval recorded its energy counts (``neurosim report --eval DIR --energy DIR``)."""
    if not energy or not energy.get("scenarios") or energy.get("eval_settings") or ev is None or hw is None:
        return energy
    if any("energy_counts" not in s for s in ev.get("settings", [])):
        return energy
    from neurosim.hwmodels.energy_eval import price_settings
    from neurosim.hwmodels.eval_report import joint_answer
    priced = price_settings(ev, hw, energy["scenarios"]["grid"])
    return dict(energy, eval_settings=priced, eval_answer=joint_answer(priced))


def build_report(trace_dir, out, hw_dir=None, tile: str | None = None, progress: bool = True,
                 energy_dir=None, eval_dir=None) -> dict:
    """Write the report into ``out``; returns {"out", "html", "md", "claims", "verdict", "figures"}.
    ``energy_dir``: a ``neurosim energy --out`` folder, or ``"compute"`` (from the trace and ``hw_dir``)."""
    out = Path(out)
    check_replaceable(out, MARKER, WHAT)
    trace = load_trace(trace_dir, tile=tile)
    hw_path, hw = load_hw(hw_dir) if hw_dir is not None else (None, None)
    energy_path: str | Path | None = None
    energy = None
    if energy_dir == "compute":
        if hw_dir is None:
            raise NeurosimError("--energy compute needs --hw HWOUT")
        energy_path, energy = "computed from --trace and --hw (default memory configuration)", \
            compute_energy(trace_dir, hw_dir)
    elif energy_dir is not None:
        energy_path, energy = load_energy(energy_dir)
    ev_path, ev = load_eval(eval_dir) if eval_dir is not None else (None, None)
    energy = _price_eval_settings(energy, ev, hw)
    doc, claims, figs = build_document(trace, hw, hw_path, energy, energy_path, ev, ev_path)
    verdict = verdict_lines(trace.summary, hw, energy, ev)
    short = short_answer(trace.summary, hw, energy, ev)

    with OutputFolder(out, MARKER, WHAT) as folder:
        tmp = folder.building
        fig_dir = tmp / "figures"
        fig_dir.mkdir()
        from tqdm import tqdm
        written = []
        with tqdm(total=len(figs), desc="report: figures", unit="fig", disable=None if progress else True, leave=False) as bar:
            for name, make in figs.items():
                fig = make()
                if fig is None:
                    raise NeurosimError(f"figure {name} has no data")
                F.save(fig, fig_dir / f"{name}.png")
                written.append(name)
                bar.update(1)
        (tmp / "report.md").write_text(to_markdown(doc))
        (tmp / "report.html").write_text(to_html(doc, fig_dir))
        meta = {"neurosim_version": __version__, "trace": str(trace.path), "model": model_name(trace.summary),
                "tokens": trace.summary["tokens"],
                "hw": str(hw_path) if hw_path else None, "tile": trace.tile_name,
                "energy": str(energy_path) if energy_path else None,
                "figures": [f"figures/{n}.png" for n in written],
                "short_answer": short, "verdict": verdict, "claims": [c.as_dict() for c in claims]}
        (tmp / "report.json").write_text(json.dumps(meta, indent=1, allow_nan=False) + "\n")
        folder.commit()
    return {"out": out, "html": out / "report.html", "md": out / "report.md", "claims": claims, "verdict": verdict,
            "short_answer": short,
            "figures": [out / "figures" / f"{n}.png" for n in written]}
