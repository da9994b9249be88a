"""`neurosim report`: Markdown + self-contained HTML report with figures, set against the paper's claims."""

from __future__ import annotations

import argparse
from pathlib import Path
from neurosim import NeurosimError
from neurosim.console import fit


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", default=None, help="trace folder from `neurosim run --trace OUT` (default: none)")
    parser.add_argument("--sweep", default=None,
                        help="sweep folder from `neurosim sweep SPEC --out DIR`: the Pareto report of its table "
                             "(sweep.md, sweep.html, sweep.json, figures/) instead of the trace report (default: none)")
    for flag, help_text in (
        ("--hw", "folder from `neurosim hw --out HWOUT` (or its hw.json); without it the hardware "
                 "sections say 'no hardware results given' (default: none)"),
        ("--energy", "folder from `neurosim energy --out DIR` (or its energy.json), or `compute` to "
                     "compute it from --trace and --hw with the default memory configuration"),
        ("--eval", "folder from `neurosim eval --out DIR`: the accuracy claim with its interval and the "
                   "quantizer frontier (default: none)"),
    ):
        parser.add_argument(flag, default=None, help=help_text)
    parser.add_argument("--out", required=True, help="report folder (report.md, report.html, report.json, figures/)")
    parser.add_argument("--tile", default=None, help="tile of the trace for the spike raster (default: the first)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def claims_console(rows, width: int = 80) -> str:
    """The claims table for a terminal of ``width`` columns: claim, paper and measured value, each
    cell wrapped within its column (the definitions are in the report)."""
    import textwrap

    head = ("claim", "paper", "measured")
    data = [(r.claim, r.paper, r.measured) for r in rows]
    natural = [max(len(head[i]), *(len(d[i]) for d in data)) for i in range(3)]
    paper, measured = min(natural[1], 16), min(natural[2], 26)
    widths = [min(natural[0], width - 4 - paper - measured), paper, measured]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    for d in data:
        cells = [textwrap.wrap(x, w, break_on_hyphens=False) or [""] for x, w in zip(d, widths)]
        for j in range(max(map(len, cells))):
            lines.append("  ".join((c[j] if j < len(c) else "").ljust(w) for c, w in zip(cells, widths)).rstrip())
    return "\n".join(lines)


def run(args) -> int:
    from .build import build_report

    if not args.out:
        raise NeurosimError("--out must name a folder")
    if args.sweep is not None:
        if any(getattr(args, k) is not None for k in ("trace", "hw", "energy", "eval")):
            raise NeurosimError("--sweep makes the sweep's own report: give it without --trace/--hw/--energy/--eval")
        from .sweep import build_sweep_report
        meta = build_sweep_report(args.sweep, args.out, progress=not args.quiet)
        for name, f in meta["frontiers"].items():
            print(fit(f"{name}: {f['points']} points, {len(f['pareto'])} Pareto-optimal"))
        print(fit(f"\nHTML report: {(Path(args.out) / 'sweep.html').resolve()}"))
        return 0
    if args.trace is None:
        raise NeurosimError("give --trace OUT (the trace report) or --sweep DIR (the sweep's Pareto report)")
    res = build_report(args.trace, args.out, hw_dir=args.hw, tile=args.tile, progress=not args.quiet,
                       energy_dir=args.energy, eval_dir=args.eval)
    print("\n".join(res["short_answer"] + [""] + res["verdict"]))
    print(fit(f"\nThe full claims table: {res['md']}"))
    print(fit(f"HTML report: {res['html'].resolve()}"))
    return 0
