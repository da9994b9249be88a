"""`neurosim energy`: system-level energy per token (compute, weight memory, buffers, leakage), over
a grid of modelling scenarios, for a trace and/or every accuracy setting of an eval run."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", help="trace folder from 'neurosim run --trace OUT' (required unless --eval)")
    parser.add_argument("--hw", required=True, help="folder from 'neurosim hw --out HWOUT' (hw.json)")
    parser.add_argument("--eval", dest="eval_dir", default=None,
                        help="folder from 'neurosim eval --out DIR': price every accuracy setting it holds "
                             "(default: none)")
    parser.add_argument("--scenarios", default="all",
                        help="modelling scenarios: all (default; every axis, every value), default (one), none, "
                             "or AXIS=V1,V2 ... (axes: sram_cell, compute, clock, dataflow, bank_kb, weights, "
                             "throughput, mac_width; see docs/energy.md)")
    parser.add_argument("--sram-kb", type=int, default=64, help="weight SRAM bank size in KiB (default 64)")
    parser.add_argument("--buffer-kb", type=int, default=8, help="activation/spike/output buffer bank in KiB (default 8)")
    parser.add_argument("--node", type=int, default=45,
                        help="memory node in nm: 45 or 32 (CACTI; compute scaled, ESTIMATE) or a measured "
                             "library's node, 180 or 130 (cited SRAM figures; compute unscaled at the hw "
                             "document's own node); default 45")
    from .tech import LIBRARIES
    parser.add_argument("--tech", default=None, choices=tuple(LIBRARIES),
                        help="take the compute energies from this cell library's document of --hw (a "
                             "`neurosim hw --tech all` folder holds both); default: the document --hw names")
    parser.add_argument("--weights", default="sram", choices=("sram", "dram"),
                        help="weights resident in on-chip SRAM (default), or streamed from DRAM once per batch "
                             "(default sram)")
    parser.add_argument("--batch", type=int, default=1, help="tokens sharing one DRAM fetch of the weights (default 1)")
    parser.add_argument("--freq", type=float, default=None, help="clock in MHz (a clock of hw.json; default the fastest)")
    parser.add_argument("--sram-model", default="cacti", choices=("cacti", "cited"),
                        help="SRAM figures from CACTI (default) or Horowitz ISSCC 2014")
    parser.add_argument("--dram", default="low", choices=("low", "high"),
                        help="DRAM energy per bit: low (default) or high end of Horowitz's 1.3-2.6 nJ per 64 bits")
    parser.add_argument("--cache", default="build/energy_cache", help="CACTI result cache folder (default build/energy_cache)")
    parser.add_argument("--out", default=None, help="output folder (energy.json, energy.md, scenarios.csv, figures); "
                                                    "default: print the summary only")


def check(args) -> None:
    """Check the parsed flags' values without doing any work (``neurosim sweep`` checks every point
    with it first); a one-line NeurosimError names the bad one."""
    from neurosim import NeurosimError
    from . import scenarios as sc
    from .energy import check_options
    spec = None if args.scenarios == "none" else args.scenarios
    grid = sc.parse_grid(spec) if spec else None
    if grid is not None:
        sc.check_size(grid)
    if args.eval_dir and grid is None:
        raise NeurosimError("--eval prices every setting over the scenarios: leave out --scenarios none")
    check_options(weights=args.weights, batch=args.batch, node=args.node, sram_model=args.sram_model)


def run(args) -> int:
    from neurosim import NeurosimError
    from neurosim.console import fit
    from . import scenarios as sc
    from neurosim.formats import ENERGY_SCHEMA
    from .energy import read_hw, energy_report
    from .energy_output import write_energy
    from .scenario_report import console_summary
    check(args)
    if not args.trace and not args.eval_dir:
        raise NeurosimError("give --trace (a traced run) or --eval (an eval folder), or both")
    spec = None if args.scenarios == "none" else args.scenarios
    grid = sc.parse_grid(spec) if spec else None
    if args.out:
        from neurosim.outdir import check_replaceable
        check_replaceable(args.out, "energy.json", "energy")   # before any work
    eval_doc = None
    if args.eval_dir:
        from .energy_eval import read_eval
        eval_doc = read_eval(args.eval_dir)
    hw_doc = read_hw(args.hw, args.tech)
    if args.trace:
        doc = energy_report(args.trace, args.hw, sram_kb=args.sram_kb, node=args.node, weights=args.weights,
                            batch=args.batch, buffer_kb=args.buffer_kb, freq=args.freq, sram_model=args.sram_model,
                            dram_level=args.dram, cache_dir=args.cache, scenarios=spec,
                            tech_name=args.tech)
    else:
        doc = {"schema": ENERGY_SCHEMA, "settings": {"hw": str(args.hw), "eval": str(args.eval_dir)}}
    if eval_doc is not None:
        from .energy_eval import price_settings
        from .eval_report import joint_answer
        assert grid is not None                     # --eval needs the scenarios (checked above)
        doc["eval_settings"] = price_settings(eval_doc, hw_doc, grid, cache_dir=args.cache)
        doc["eval_answer"] = joint_answer(doc["eval_settings"])
    if args.out:
        write_energy(args.out, doc)
    lines = []
    if "designs" in doc:
        best = min((d for d in doc["designs"] if "vs" in d), key=lambda d: d["per_token"]["total_pj"])
        base = {d["name"]: d["per_token"]["total_pj"] for d in doc["designs"] if "vs" not in d}
        lines += [f"{doc['tokens']} tokens, {doc['settings']['freq_mhz']:g} MHz, node {doc['settings']['node_nm']} nm, "
                  f"weights in {doc['settings']['weights'].upper()}: uJ/token",
                  "  " + ", ".join(f"{k} {v * 1e-6:.1f}" for k, v in base.items()),
                  f"  best spiking ({best['name']}) {best['per_token']['total_pj'] * 1e-6:.1f}"]
    if doc.get("scenarios"):
        lines += console_summary(doc["scenarios"])
    if doc.get("eval_answer"):
        lines.append(doc["eval_answer"])
    print(fit("\n".join(lines)))
    if args.out and not getattr(args, "quiet", False):
        print(fit(f"wrote {args.out}/energy.json, energy.md and figures"), file=sys.stderr)
    return 0
