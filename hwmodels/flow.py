"""The hardware flow, stage by stage: search, power, comparison; then hw.json and hw.md.

:func:`run_flow` validates the settings, builds the stimulus (trace tiles or seeded synthetic data,
:mod:`.stimulus`) and runs the stages, each a function with typed results:

1. :func:`neurosim.hwmodels.search.search` -> :class:`~neurosim.hwmodels.search.SearchResult`:
   per design kind and clock the cheapest pipeline depth that meets it (candidates at one lane,
   the choice synthesized and timed at the full lane count);
2. :func:`neurosim.hwmodels.measure.measure_power` -> {key: :class:`~neurosim.hwmodels.measure.PowerResult`}:
   gate-level simulation of every choice (zero-delay and ``-gspecify``), toggles -> energy from the
   liberty, active and idle cycles apart;
3. :func:`neurosim.hwmodels.compare.compare` (:class:`~neurosim.hwmodels.compare.Comparison` per
   clock): per lane array at equal clock and at equal work, next to the paper's reductions.

Caches: synthesis under ``cache_dir/synth``, emitted Verilog under ``cache_dir/rtl``, timing under
``cache_dir/sta``, power under ``cache_dir/power``. The output folder is written through :class:`neurosim.outdir.OutputFolder`.
Units: area um^2, energy pJ per cycle, power mW, time ns, frequency MHz.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.core.coding import INT8_WINDOW
from neurosim.defaults import K as DEFAULT_K, LANES as DEFAULT_LANES
from neurosim.outdir import OutputFolder, check_replaceable
from neurosim.formats import HW_SCHEMA
from neurosim.hostload import load_average
from neurosim.paper import HW_CLAIMS
from neurosim.rtl.params import MAX_LANES

from .compare import busy_cycle_energy, compare
from .liberty import Library
from .measure import VECTORLESS_TOGGLE_RATE, measure_power
from .power import DEFAULT_SLEW_NS
from .search import (ABC_TARGET_STEPS, DEFAULT_KINDS, FAMILY, STA_CROSSCHECK_ACTIVITY, SearchResult, Tools,
                     search)
from .stimulus import Source, recode, synthetic_source, tile_source
from .tech import scale_energy_area
from .tech import DEFAULT_LIBRARY, LIBRARIES, check_library
from .tools import cell_models_for, liberty_for

__all__ = ["FlowSettings", "run_flow", "run_libraries", "library_summary", "fill_synthesis_cache", "assemble", "assumptions", "busy_cycle_energy", "compare", "check_out",
           "write_outputs"]

#: tool processes run at a time by default: one per core
DEFAULT_WORKERS = os.cpu_count() or 2
#: the hw output folder's marker file and name in messages (neurosim.outdir.OutputFolder)
MARKER, WHAT = "hw.json", "hw"


def check_array(freqs, lanes: int, k_inputs: int, k: int) -> None:
    """The clocks [MHz], lane count and dot-product length of a run, before any work (one-line errors)."""
    if not freqs or any(f <= 0 for f in freqs):
        raise NeurosimError("--freq needs positive MHz values")
    if lanes < 1 or lanes > MAX_LANES:
        raise NeurosimError(f"--lanes must be 1..{MAX_LANES}")
    if not 1 <= k_inputs <= k:
        raise NeurosimError(f"--inputs must be 1..{k}: the arrays are built for dot products of at most "
                            f"K={k} inputs (longer ones could overflow the accumulators), got {k_inputs}")


def _check(out: Path, freqs, lanes: int, coding: str, k_inputs: int, k: int) -> None:
    if coding != "bitwise":
        raise NeurosimError("the stimulus coding is bitwise (other spike codings: --coding all or a list, "
                            "re-encoded from it); got " + coding)
    check_array(freqs, lanes, k_inputs, k)
    check_out(out)


def _library(liberty, tech: str = DEFAULT_LIBRARY, cache_dir: str | Path = "build/hw_cache") -> tuple[Path, Library]:
    lib_path = Path(liberty) if liberty else liberty_for(tech, cache_dir)
    lib = Library.load(lib_path)
    missing = lib.missing_cell_classes()
    if missing:
        raise NeurosimError(f"liberty {lib_path} lacks what the flow needs: {'; '.join(missing)}")
    return lib_path, lib


@dataclass(frozen=True)
class FlowSettings:
    """What one run of the flow measures, and how (the flags of ``neurosim hw``).

    ``freqs`` clocks [MHz]; ``lanes`` lanes of the full arrays; ``k`` their maximum dot-product
    length; ``rows`` x ``k_inputs`` the stimulus (token rows x inputs per row; from ``trace``'s
    tiles, else seeded synthetic data in ``coding``); ``pipelines`` ({kind name: [depths]},
    ``--pipeline``) restricts the searched depths; ``workers`` tool processes at a time; ``kinds``
    the lane-array kinds (default: the MAC and the bitwise barrel array;
    :func:`neurosim.hwmodels.search.kinds_for` for more codings and variants, each driven by the
    stimulus re-encoded in its coding); ``tech`` the cell library
    (:data:`neurosim.hwmodels.tech.LIBRARIES`; ``liberty`` overrides its file); ``tech_nodes`` the
    Stillmaker & Baas nodes of the scaled estimates; ``glitches`` adds the delay-annotated
    simulations; ``slew_mode`` the input transition of the energy tables."""

    freqs: tuple = (250.0, 500.0)
    lanes: int = DEFAULT_LANES
    coding: str = "bitwise"
    liberty: str | Path | None = None
    trace: str | Path | None = None
    flavour: str = "yowasp"
    rows: int = 32
    k_inputs: int = 16
    k: int = DEFAULT_K
    seed: int = 0
    glitches: bool = True
    cache_dir: str | Path = "build/hw_cache"
    progress: bool = True
    tech_nodes: tuple = (45, 32, 7)
    workers: int = DEFAULT_WORKERS
    pipelines: dict | None = None
    slew_mode: str = "driver"
    kinds: tuple = DEFAULT_KINDS
    tech: str = DEFAULT_LIBRARY


def run_flow(out: str | Path, settings: FlowSettings | None = None, *, write: bool = True, **changes) -> dict:
    """Run the flow with ``settings`` (:class:`FlowSettings`; ``changes`` replace members of it) and
    write ``out/hw.json``, ``out/hw.md`` and ``out/run.json``; return hw.json. ``write=False``
    returns the document without writing it. Raises :class:`neurosim.NeurosimError` for bad
    settings before any synthesis."""
    t_start = time.time()
    s = replace(settings or FlowSettings(), **changes)
    out = Path(out)
    _check(out, s.freqs, s.lanes, s.coding, s.k_inputs, s.k)
    check_library(s.tech)
    lib_path, lib = _library(s.liberty, s.tech, s.cache_dir)
    models = cell_models_for(lib_path)
    freqs = sorted(float(f) for f in s.freqs)
    src, model_stats = _stimulus(s)        # a bad --trace fails before any synthesis
    tools = Tools(lib_path, lib, s.flavour, Path(s.cache_dir), s.workers, s.progress)
    timings_s: dict[str, float] = {}
    t0 = time.time()
    kinds = tuple(s.kinds)
    extra = [kd for kd in kinds if kd not in DEFAULT_KINDS]
    sources = {kd.coding: recode(src, kd.coding) for kd in kinds if kd.coding} | {"bitwise": src}
    found = search(kinds, freqs, lanes=s.lanes, k=s.k, tools=tools, pipelines=s.pipelines)
    timings_s["search"] = time.time() - t0
    t0 = time.time()
    power = measure_power(found, sources if extra else src, tools, models=models, glitches=s.glitches,
                          slew_mode=s.slew_mode)
    timings_s["power"] = time.time() - t0
    settings_doc = _settings_doc(s, freqs, lib_path, lib, found, src, kinds, sources if extra else None)
    doc = assemble(found, power, src, settings_doc, s.tech_nodes, model_stats)
    if extra:
        doc["comparison_kinds"] = {
            kd.name: compare(doc["results"], freqs, sources[kd.coding].spikes_per_activation, sources[kd.coding].T,
                             s.lanes, spike=kd.name) for kd in kinds if kd.design == "spike"}
    run_info = {"durations_s": {k2: round(v, 2) for k2, v in timings_s.items()},
                "total_s": round(time.time() - t_start, 2), "syntheses_run": tools.synthesized,
                "tool_s": {k2: round(v, 2) for k2, v in sorted(tools.seconds.items())},
                "started_unix": round(t_start, 0), "cpus": os.cpu_count(), "load_avg_after": load_average()}
    doc["run"] = run_info          # the only non-deterministic field
    if write:
        write_outputs(out, doc, run_info)
    return doc


def _stimulus(s: FlowSettings) -> tuple[Source, dict | None]:
    """The stimulus of ``s`` (trace tiles, else seeded synthetic data over the coding's window) and
    the whole model's spike statistics (trace only)."""
    if s.trace:
        return tile_source(s.trace, s.rows, s.k_inputs, s.lanes, s.coding, seed=s.seed), _model_stats(s.trace)
    return synthetic_source(s.rows, s.k_inputs, s.lanes, s.coding, T=INT8_WINDOW[s.coding], seed=s.seed), None


def _settings_doc(s: FlowSettings, freqs: list, lib_path: Path, lib: Library, found: SearchResult, src: Source,
                  kinds: tuple, sources: dict | None) -> dict:
    """hw.json's ``settings`` (``sources``: the stimulus per coding when more kinds than the default
    ones were measured)."""
    doc = {
        "freqs_mhz": freqs, "lanes": s.lanes, "coding": s.coding, "variant": "barrel", "T": src.T, "k_max": s.k,
        "liberty": str(lib_path), "library": lib.name, "voltage_v": lib.voltage, "rtl": FAMILY,
        "families": [FAMILY], "yosys": s.flavour, "booth_for_mac": s.flavour == "yowasp",
        "abc_delay_target_ps_candidates": found.delay_ps, "abc_target_steps_full_array": ABC_TARGET_STEPS,
        "stimulus": src.origin, "rows": int(src.counts.shape[0]), "inputs": int(src.counts.shape[1]),
        "seed": s.seed, "slew_ns": DEFAULT_SLEW_NS, "slew_mode": s.slew_mode,
        "pipelines_searched": s.pipelines or "all",
        "vectorless_toggle_rate": VECTORLESS_TOGGLE_RATE, "sta_crosscheck_activity": STA_CROSSCHECK_ACTIVITY,
        "wire_capacitance": "none (unplaced netlist)", "clock_tree": "none (ideal clock; clock net = pin caps)",
    }
    if s.tech != DEFAULT_LIBRARY:      # the default document stays as it was
        doc["tech"] = s.tech
        doc["node_nm"] = LIBRARIES[s.tech]["node_nm"]
    if sources:        # the default document stays as it was; more kinds add these members
        doc["kinds"] = {kd.name: {"design": kd.design, "coding": kd.coding, "variant": kd.variant,
                                  "T": sources[kd.coding].T if kd.coding else None,
                                  "spikes_per_activation": sources[kd.coding].spikes_per_activation
                                  if kd.coding else None} for kd in kinds}
    return doc


def run_libraries(out: str | Path, techs, settings: FlowSettings | None = None, **changes) -> dict:
    """:func:`run_flow` with ``settings`` (and ``changes``) on each cell library of ``techs``; one
    library writes as run_flow does.
    Several: ``out/hw.json`` is the first library's document with a ``libraries`` member (each
    library's :func:`library_summary`, side by side) and every other library's whole document is
    ``out/<tech>/hw.json``."""
    techs = list(techs)
    for t in techs:
        check_library(t)
    s = replace(settings or FlowSettings(), **changes)
    if len(techs) == 1:
        return run_flow(out, s, tech=techs[0])
    out = Path(out)
    check_out(out)
    docs = {t: run_flow(out, s, tech=t, write=False) for t in techs}
    main = docs[techs[0]]
    main["libraries"] = {t: library_summary(d) for t, d in docs.items()}
    run_info = dict(main["run"])
    run_info["total_s"] = round(sum(d["run"]["total_s"] for d in docs.values()), 2)
    run_info["per_library_s"] = {t: d["run"]["total_s"] for t, d in docs.items()}
    run_info["per_library"] = {t: {k: d["run"][k] for k in ("total_s", "syntheses_run", "load_avg_after", "durations_s",
                                                             "tool_s")} for t, d in docs.items()}
    run_info["syntheses_run"] = sum(d["run"]["syntheses_run"] for d in docs.values())
    run_info["load_avg_after"] = load_average()
    main["run"] = run_info
    write_outputs(out, main, run_info, {f"{t}/hw.json": docs[t] for t in techs[1:]})
    return main


def library_summary(doc: dict) -> dict:
    """One library's figures for the side-by-side table: per clock the MAC's and the spiking array's
    chosen pipeline depth, area [um^2], worst slack [ns], energy per busy cycle [pJ] and per
    MAC-equivalent [pJ] (delay-annotated simulation where it ran, else zero-delay), and the reductions."""
    s = doc["settings"]
    tech = s.get("tech", DEFAULT_LIBRARY)
    out = {"tech": tech, "node_nm": LIBRARIES[tech]["node_nm"], "label": LIBRARIES[tech]["label"],
           "library": s["library"], "voltage_v": s["voltage_v"], "per_freq": {}}
    for fk, c in doc["comparison"].items():
        sim = "gspecify" if "energy_per_cycle_pj" in c.get("gspecify", {}) else "zero_delay"
        e = c[sim]
        row = {"simulation": sim, "both_meet_timing": c["both_meet_timing"],
               "area_reduction_pct": c["area_reduction_pct"],
               "power_reduction_equal_clock_busy_pct": e["power_reduction_equal_clock_busy_pct"],
               "energy_reduction_equal_work_pct": e["energy_reduction_equal_work_pct"]}
        for design, busy, per in (("mac", "mac_busy", "mac"), ("spike", "spike_busy", "spike_event_driven")):
            r = doc["results"][f"{design}@{fk}"]
            row[design] = {"pipeline": r["pipeline"], "area_um2": r["area_um2"],
                           "slack_ns": r["slack_ns"], "meets_timing": r["meets_timing"],
                           "energy_per_busy_cycle_pj": e["energy_per_cycle_pj"][busy],
                           "energy_per_mac_eq_pj": e["energy_per_mac_eq_pj"][per]}
        out["per_freq"][fk] = row
    return out


def fill_synthesis_cache(settings: FlowSettings | None = None, **changes) -> int:
    """Stage 1 alone (:func:`~neurosim.hwmodels.search.search`, no stimulus, no output folder) with
    ``settings`` (:class:`FlowSettings`; ``changes`` replace members): fills ``cache_dir``'s
    synthesis cache with everything :func:`run_flow` with the same search settings synthesizes, so
    that runs differing only in other settings (stimulus, trace, power options) find it there.
    Returns the number of Yosys runs made (0: all cached)."""
    s = replace(settings or FlowSettings(), **changes)
    if not s.freqs or any(f <= 0 for f in s.freqs):
        raise NeurosimError("--freq needs positive MHz values")
    if s.lanes < 1 or s.lanes > MAX_LANES:
        raise NeurosimError(f"--lanes must be 1..{MAX_LANES}")
    lib_path, lib = _library(s.liberty, s.tech, s.cache_dir)
    tools = Tools(lib_path, lib, s.flavour, Path(s.cache_dir), s.workers, progress=False)
    search(tuple(s.kinds), sorted(float(f) for f in s.freqs), lanes=s.lanes, k=s.k, tools=tools,
           pipelines=s.pipelines)
    return tools.synthesized


def _model_stats(trace) -> dict | None:
    """The whole model's spike rate and zero share from the trace's ``summary.json`` (None without
    totals, e.g. a tiles-only folder)."""
    from neurosim.run.trace import SUMMARY, read_summary
    if not (Path(trace) / SUMMARY).is_file():
        return None
    t = read_summary(trace).get("totals") or {}
    if "accumulates_per_dense_mac" not in t:
        return None
    return {"spikes_per_activation": t["accumulates_per_dense_mac"], "zero_share": t["zero_fraction"],
            "source": "summary.json:/totals/accumulates_per_dense_mac (MAC-weighted spikes per activation), "
                      "/totals/zero_fraction (zero share of the activations)"}


def assemble(found: SearchResult, power: dict, src: Source, settings: dict, tech_nodes,
             model_stats: dict | None = None) -> dict:
    """hw.json (without its ``run`` member) from the stages' results; stage 3 (the comparison) and
    the technology scaling are computed here from the result rows. ``model_stats``: the whole
    model's spike rate and zero share (from a trace), set beside the stimulus sample's."""
    results = {}
    for key, ch in found.choices.items():
        row = ch.to_dict()
        row.update(power[key].to_dict())
        results[key] = row
    spa = src.spikes_per_activation
    spa_model = model_stats["spikes_per_activation"] if model_stats else None
    comparison = compare(results, settings["freqs_mhz"], spa, src.T, settings["lanes"], spa_model=spa_model)
    doc = {
        "schema": HW_SCHEMA,
        "settings": settings,
        "units": {"area": "um^2", "energy": "pJ per clock cycle of the whole lane array", "power": "mW",
                  "time": "ns", "freq": "MHz", "leakage": "nW", "capacitance": "pF"},
        "measured_spikes_per_activation": spa,
        "stimulus_stats": {"sample": src.stats(), "model": model_stats},
        "candidates_1lane": [c.to_dict() for c in found.candidates],
        "configs": {fa.key: fa.to_dict() for fa in found.arrays.values()},
        "results": results,
        "comparison": comparison,
        "paper": HW_CLAIMS,
        "assumptions": assumptions(settings, spa),
        "technology_scaling": scale_energy_area(comparison, tech_nodes, settings.get("tech", DEFAULT_LIBRARY),
                                                settings["voltage_v"]) if tech_nodes else None,
    }
    return json.loads(json.dumps(doc, default=_jsonable))


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o))


def assumptions(settings: dict, spa: float) -> list[dict]:
    """hw.json's ``assumptions``: what differs from, or is unknown in, the paper."""
    lib = LIBRARIES[settings.get("tech", DEFAULT_LIBRARY)]
    return [
        {"item": "process node", "paper": "unknown", "here": f"{lib['label'].split(' (')[0]} ({settings['library']}), "
                                                           f"{settings['voltage_v']} V, {lib['corner']} corner"},
        {"item": "synthesis tool", "paper": "unknown", "here": f"{settings['yosys']} Yosys + ABC, Booth MAC: "
                                                               f"{settings['booth_for_mac']}"},
        {"item": "array size", "paper": "unknown", "here": f"{settings['lanes']} lanes, K<= {settings['k_max']}"},
        {"item": "coding", "paper": "INT8-Spiking (bitwise sign-magnitude, inferred)",
         "here": f"bitwise sign-magnitude, T={settings['T']}, barrel shifter"},
        {"item": "activity source", "paper": "unknown", "here": settings["stimulus"]
         + f"; measured {spa:.3f} spikes per activation"},
        {"item": "glitches", "paper": "unknown", "here": "zero-delay and -gspecify (cell delays) both reported"},
        {"item": "clock gating", "paper": "unknown", "here": "none / ideal for idle cycles, both reported"},
        {"item": "wires and clock tree", "paper": "unknown (post-layout?)", "here": "no wire load, ideal clock"},
        {"item": "throughput", "paper": "unknown", "here": "MAC: one activation per cycle; spike: one event "
                                                           "per cycle (event-driven) or T slots per activation"},
    ]


def check_out(out: Path) -> None:
    """HWOUT is replaced as a whole: refuse a file or a non-empty folder that is not an earlier hw
    output (no hw.json), before any work (:func:`neurosim.outdir.check_replaceable`)."""
    check_replaceable(Path(out), MARKER, WHAT)


def write_outputs(out: Path, doc: dict, run_info: dict, extra: dict | None = None) -> None:
    """Write hw.json, hw.md and run.json (and ``extra``: {relative path: document}) into ``out``
    atomically (:class:`neurosim.outdir.OutputFolder`: an error or an interrupt leaves no partial
    folder and an earlier ``out`` as it was)."""
    from .report import render_markdown
    with OutputFolder(out, MARKER, WHAT) as folder:
        tmp = folder.building
        (tmp / "hw.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        (tmp / "hw.md").write_text(render_markdown(doc))
        (tmp / "run.json").write_text(json.dumps(run_info, indent=1) + "\n")
        for rel, d in (extra or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(json.dumps(d, indent=1, sort_keys=True) + "\n")
        folder.commit()
