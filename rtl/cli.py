"""``neurosim rtl``: emit Verilog for the spiking accumulate unit / INT8 MAC baseline lane arrays."""

from __future__ import annotations

import argparse
import json

from neurosim import NeurosimError
from neurosim.console import fit

from .params import CODINGS, DESIGNS, VARIANTS


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``neurosim rtl``."""
    parser.add_argument("--defaults", action="store_true",
                        help="emit every default configuration (MAC at every pipeline depth, every "
                             "coding/variant of the spiking unit at every depth) and manifest.json")
    # names are checked in run(), not by argparse choices, so that a bad one is a one-line error
    parser.add_argument("--design", metavar="|".join(DESIGNS), help="spike or mac (required unless --defaults)")
    parser.add_argument("--coding", metavar="|".join(CODINGS), default="bitwise",
                        help="spike coding (default: bitwise)")
    parser.add_argument("--variant", metavar="|".join(VARIANTS), default=None,
                        help="bitwise codings: barrel (shifter, default) or horner (doubling accumulator)")
    parser.add_argument("--lanes", type=int, default=16, help="lanes of the array (default 16)")
    parser.add_argument("--k", type=int, default=2560, help="maximum dot-product length K (default 2560)")
    parser.add_argument("--t", type=int, default=None,
                        help="spike window in time steps (default: INT8 range of the coding)")
    parser.add_argument("--pipeline", type=int, default=0, help="pipeline depth (default 0)")
    parser.add_argument("--acc-w", type=int, default=None,
                        help="force the accumulator width, an error if too small for K "
                             "(default: the narrowest that holds K products)")
    parser.add_argument("--prove", action="store_true",
                        help="prove formally that every default design (MAC and spiking, every coding, "
                             "variant and depth) computes the exact dot product (SymbiYosys + Yices; "
                             "docs/rtl.md); exit status 1 when a proof fails")
    parser.add_argument("--out", default=None,
                        help="output directory (default build/rtl; with --prove build/formal)")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def _check_names(args) -> None:
    for flag, value, allowed in (("--design", args.design, DESIGNS), ("--coding", args.coding, CODINGS),
                                 ("--variant", args.variant, VARIANTS)):
        if value is not None and value not in allowed:
            raise NeurosimError(f"unknown {flag[2:]} {value!r} ({flag}); choose one of {', '.join(allowed)}")


def run(args) -> int:
    """``neurosim rtl``: emit the Verilog and the manifest; returns the exit status (0)."""
    from pathlib import Path

    _check_names(args)
    if args.prove:
        if args.design:
            raise NeurosimError("--prove proves every default design; give it without --design")
        args.out = args.out or "build/formal"
    args.out = args.out or "build/rtl"
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NeurosimError(f"--out {out} exists and is not a folder")
    try:
        return _prove(args) if args.prove else _emit(args)
    except OSError as exc:            # e.g. a parent of --out is a file, or no permission
        raise NeurosimError(f"cannot write into {out}: {exc.strerror or exc}") from None


def _prove(args) -> int:
    from .prove import prove_all
    summary = prove_all(args.out)
    bad = [p for p in summary["proofs"] + summary["covers"] if p["status"] != "PASS"]
    print(f"{args.out}/formal.json: {len(summary['proofs'])} proofs, {len(summary['covers'])} cover "
          f"runs, {len(bad)} failed ({summary['seconds']:.0f} s)")
    for p in bad:
        print(f"FAILED {p['top']} {p['part']}: see {p['folder']}/sby.log")
    return 0 if summary["ok"] else 1


def _emit(args) -> int:
    from .build import emit, emit_defaults, write_manifest

    if args.defaults:
        if args.design:
            raise NeurosimError("give either --defaults or --design, not both")
        manifest = emit_defaults(args.out, lanes=args.lanes, k=args.k)
    else:
        if not args.design:
            raise NeurosimError("give --design spike|mac (or --defaults)")
        entry = emit(args.design, coding=args.coding, lanes=args.lanes, k=args.k,
                     pipeline=args.pipeline, variant=args.variant, out_dir=args.out, t=args.t,
                     acc_w=args.acc_w)
        # add to (or replace in) an existing manifest of the same folder
        from pathlib import Path
        old = []
        path = Path(args.out) / "manifest.json"
        if path.exists():
            try:
                old = [e for e in json.loads(path.read_text()).get("designs", [])
                       if e.get("top") != entry["top"]]
            except (ValueError, AttributeError):
                old = []
        manifest = write_manifest(args.out, old + [entry])
    if getattr(args, "quiet", False):
        return 0
    lines = [f"  {e['verilog']}: ACC_W={e['acc_w']} latency={e['latency']} gap={e['gap']}"
             for e in manifest["designs"]]
    print(fit("\n".join([f"{args.out}:", *lines, f"  manifest.json: {len(manifest['designs'])} design(s)"])))
    return 0
