"""`neurosim energy`: system-level energy per token (compute, weight memory, buffers, leakage)."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", required=True, help="trace folder from 'neurosim run --trace OUT'")
    parser.add_argument("--hw", required=True, help="folder from 'neurosim hw --out HWOUT' (hw.json)")
    parser.add_argument("--sram-kb", type=int, default=64, help="weight SRAM bank size in KiB (default 64)")
    parser.add_argument("--buffer-kb", type=int, default=8, help="activation/spike/output buffer bank in KiB (default 8)")
    parser.add_argument("--node", type=int, default=45,
                        help="memory node in nm: 45 or 32 (CACTI; compute scaled, ESTIMATE) or 180 (measured "
                             "node, cited SRAM figures); default 45")
    parser.add_argument("--weights", default="sram", choices=("sram", "dram"),
                        help="weights resident in on-chip SRAM, or streamed from DRAM once per batch "
                             "(default sram)")
    parser.add_argument("--batch", type=int, default=1, help="tokens sharing one DRAM fetch of the weights (default 1)")
    parser.add_argument("--freq", type=float, default=None, help="clock in MHz (a clock of hw.json; default the fastest)")
    parser.add_argument("--sram-model", default="cacti", choices=("cacti", "cited"),
                        help="SRAM figures from CACTI (default) or Horowitz ISSCC 2014")
    parser.add_argument("--dram", default="low", choices=("low", "high"),
                        help="DRAM energy per bit: low/high end of Horowitz's 1.3-2.6 nJ per 64 bits "
                             "(default low)")
    parser.add_argument("--cache", default="build/energy_cache", help="CACTI result cache folder (default build/energy_cache)")
    parser.add_argument("--out", default=None, help="output folder (energy.json, energy.md); default: print only")


def run(args) -> int:
    from neurosim.console import fit

    from .energy import energy_report, render_markdown, write_energy
    if args.out:
        from neurosim.outdir import check_replaceable

        check_replaceable(args.out, "energy.json", "energy")   # before any work
    doc = energy_report(args.trace, args.hw, sram_kb=args.sram_kb, node=args.node, weights=args.weights,
                        batch=args.batch, buffer_kb=args.buffer_kb, freq=args.freq, sram_model=args.sram_model,
                        dram_level=args.dram, cache_dir=args.cache)
    if args.out:
        write_energy(args.out, doc)
    if args.out and not getattr(args, "quiet", False):
        print(fit(f"wrote {args.out}/energy.json and energy.md"), file=sys.stderr)
    print(fit(render_markdown(doc)))   # the full tables are in energy.md
    return 0
