"""Build the SkyWater sky130_fd_sc_hd Liberty file the hardware flow ships, from SkyWater's own
per-cell characterisation (Liberty JSON) in a checkout of google/skywater-pdk-libs-sky130_fd_sc_hd.

    python scripts/sky130_liberty.py CHECKOUT [--out hwmodels/cells/sky130hd]

Reads ``timing/sky130_fd_sc_hd__common.lib.json`` and ``timing/sky130_fd_sc_hd__tt_025C_1v80.lib.json``
(the library header: units, templates, operating conditions) and
``cells/<base>/sky130_fd_sc_hd__<cell>__tt_025C_1v80.lib.json`` for the cells of :data:`CELLS` (the
typical corner: tt, 25 C, 1.80 V), writes them as one Liberty library, gzip-compressed
(``sky130_fd_sc_hd__tt_025C_1v80.lib.gz``, deterministic: no time stamp), with SkyWater's
``LICENSE``, a ``SOURCE`` file naming the repository, the commit and the cells, and ``cells.json``:
each cell's area and leakage as read from its JSON, with the JSON's git blob id (what the tests check
the shipped Liberty against).

Every value is written as read (Python's shortest round-trip decimal of each number), so the shipped
file's areas, leakages and tables equal SkyWater's. Dropped, because the flow's tools do not use
them: user ``define`` attributes (simulator options), driver waveforms (CCS only) and ``test_cell``
groups (scan cells are not selected).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

LIB = "sky130_fd_sc_hd"
CORNER = "tt_025C_1v80"
REPO = "https://github.com/google/skywater-pdk-libs-sky130_fd_sc_hd"

#: base cell names (sky130_fd_sc_hd__<base>_<drive>) synthesis may use, and their drive strengths
CELLS = {
    # inverters, buffers, tie cells
    "inv": (1, 2, 4, 6, 8, 12, 16), "buf": (1, 2, 4, 6, 8, 12, 16), "conb": (1,),
    # NAND/NOR/AND/OR of 2-4 inputs (and their one-input-inverted forms)
    "nand2": (1, 2, 4, 8), "nand3": (1, 2, 4), "nand4": (1, 2, 4),
    "nor2": (1, 2, 4, 8), "nor3": (1, 2, 4), "nor4": (1, 2, 4),
    "and2": (1, 2, 4), "and3": (1, 2, 4), "and4": (1, 2, 4),
    "or2": (1, 2, 4), "or3": (1, 2, 4), "or4": (1, 2, 4),
    "nand2b": (1, 2, 4), "nor2b": (1, 2, 4), "and2b": (1, 2, 4), "or2b": (1, 2, 4),
    # AND-OR-invert / OR-AND-invert and their non-inverting forms
    "a21oi": (1, 2, 4), "a22oi": (1, 2, 4), "a211oi": (1, 2, 4), "a31oi": (1, 2, 4), "a32oi": (1, 2, 4),
    "a21o": (1, 2, 4), "a22o": (1, 2, 4), "a211o": (1, 2, 4), "a31o": (1, 2, 4),
    "o21ai": (0, 1, 2, 4), "o22ai": (1, 2, 4), "o211ai": (1, 2, 4), "o31ai": (1, 2, 4), "o32ai": (1, 2, 4),
    "o21a": (1, 2, 4), "o22a": (1, 2, 4), "o211a": (1, 2, 4), "o31a": (1, 2, 4),
    # XOR/XNOR, multiplexers, adders, majority
    "xor2": (1, 2, 4), "xnor2": (1, 2, 4), "xor3": (1, 2, 4), "xnor3": (1, 2, 4),
    "mux2": (1, 2, 4, 8), "mux2i": (1, 2, 4), "ha": (1, 2, 4), "fa": (1, 2, 4), "maj3": (1, 2, 4),
    # D flip-flops: no reset, asynchronous reset, asynchronous set
    "dfxtp": (1, 2, 4), "dfrtp": (1, 2, 4), "dfstp": (1, 2, 4),
}

#: attributes declared by the JSON's ``define`` (simulator options), dropped with it
_DROP = {"define", "sim_opt", "violation_delay_degrade_pct", "driver_waveform_rise", "driver_waveform_fall",
         "normalized_driver_waveform", "test_cell", "switching_power_split_model", "driver_model",
         "leakage_sim_opt", "default_constraint_arc_mode", "min_pulse_width_mode", "default_arc_mode",
         "def_sim_opt", "simulator"}
_TABLE_KEYS = ("index_1", "index_2", "index_3", "values")


def cell_names() -> list[str]:
    """Every shipped cell's full name, in :data:`CELLS` order."""
    return [f"{LIB}__{base}_{d}" for base, drives in CELLS.items() for d in drives]


def _num(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    return repr(float(x))


def _value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace('"', '\\"') + '"'
    return _num(v)


def _key(key: str) -> tuple[str, list[str]]:
    kind, *names = key.split(",")
    return kind, names


def emit(key: str, value, ind: int, out: list[str]) -> None:
    """Append the Liberty text of one JSON member (``kind,name`` keys are named groups or complex
    attributes; lists of dicts repeated groups; ``index_n``/``values`` table attributes)."""
    pad = "  " * ind
    kind, names = _key(key)
    if kind in _DROP:
        return
    if kind == "comp_attribute":
        name = names[0]
        if isinstance(value, dict):
            for k, v in value.items():
                out.append(f"{pad}{name}({_value(k)}, {_value(v)});")
        elif isinstance(value, list) and value and isinstance(value[0], list):
            for row in value:
                out.append(f"{pad}{name}(" + ", ".join(_value(x) for x in row) + ");")
        elif isinstance(value, list):
            out.append(f"{pad}{name}(" + ", ".join(_value(x) for x in value) + ");")
        else:
            out.append(f"{pad}{name}({_value(value)});")
        return
    if kind in _TABLE_KEYS:
        rows = value if value and isinstance(value[0], list) else [value]
        out.append(f"{pad}{kind}(" + ", ".join('"' + ", ".join(_num(x) for x in r) + '"' for r in rows) + ");")
        return
    if isinstance(value, dict):
        out.append(f"{pad}{kind} (" + ", ".join(f'"{n}"' for n in names) + ") {")
        for k, v in value.items():
            emit(k, v, ind + 1, out)
        out.append(f"{pad}}}")
        return
    if isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            emit(key, item, ind, out)
        return
    if isinstance(value, list):     # a simple list (e.g. statetable rows): one quoted string
        out.append(f"{pad}{kind} : " + _value(" ".join(str(x) for x in value)) + ";")
        return
    out.append(f"{pad}{kind} : {_value(value)};")


def _sorted_members(d: dict) -> list[tuple[str, object]]:
    """Simple attributes first, then groups (templates before the cells that use them), then the
    default operating conditions (which must follow their group)."""
    def order(kv):
        k, v = kv
        if k == "default_operating_conditions":
            return 2
        return int(isinstance(v, dict) or (isinstance(v, list) and bool(v) and isinstance(v[0], dict)))
    return sorted(d.items(), key=order)


def _blob_id(path: Path) -> str:
    """Git's blob id of a file (``git hash-object``): names the exact JSON a value came from."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def build(checkout: Path) -> tuple[str, dict[str, dict]]:
    """The Liberty text of the library (header + :data:`CELLS`) and, per cell, its area [um^2] and
    leakage [nW] as read from its JSON (with the JSON's path and git blob id), from a checkout."""
    header: dict = {}
    for f in (f"timing/{LIB}__common.lib.json", f"timing/{LIB}__{CORNER}.lib.json"):
        p = checkout / f
        if not p.is_file():
            raise SystemExit(f"error: {p} not found (is {checkout} a checkout of {REPO}?)")
        header.update(json.loads(p.read_text()))
    out = [f"/* {LIB}, corner {CORNER}: SkyWater's characterisation ({REPO}), Apache-2.0; "
           f"converted from its Liberty JSON by scripts/sky130_liberty.py */",
           f'library ("{LIB}__{CORNER}") {{']
    for k, v in _sorted_members(header):
        emit(k, v, 1, out)
    values: dict[str, dict] = {}
    for name in cell_names():
        base = re.sub(r"_\d+$", "", name[len(LIB) + 2:])
        p = checkout / "cells" / base / f"{name}__{CORNER}.lib.json"
        if not p.is_file():
            raise SystemExit(f"error: cell JSON {p} not found")
        data = json.loads(p.read_text())
        emit(f"cell,{name}", data, 1, out)
        values[name] = {"area": data["area"], "cell_leakage_power": data["cell_leakage_power"],
                        "json": str(p.relative_to(checkout)), "git_blob": _blob_id(p)}
    out.append("}")
    return "\n".join(out) + "\n", values


def commit_of(checkout: Path) -> str:
    """The checkout's HEAD commit (git rev-parse)."""
    res = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"error: {checkout} is not a git checkout: {res.stderr.strip()}")
    return res.stdout.strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", type=Path, help=f"a git checkout of {REPO}")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "hwmodels/cells/sky130hd")
    args = ap.parse_args(argv)
    commit = commit_of(args.checkout)
    text, values = build(args.checkout)
    names = list(values)
    args.out.mkdir(parents=True, exist_ok=True)
    lib = args.out / f"{LIB}__{CORNER}.lib.gz"
    with open(lib, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode())
    (args.out / "LICENSE").write_text((args.checkout / "LICENSE").read_text())
    (args.out / "SOURCE").write_text(
        f"repository: {REPO}\ncommit: {commit}\nlicense: Apache-2.0 (LICENSE beside this file)\n"
        f"corner: {CORNER} (typical process, 25 C, 1.80 V)\n"
        f"files: timing/{LIB}__common.lib.json, timing/{LIB}__{CORNER}.lib.json, "
        f"cells/<base>/<cell>__{CORNER}.lib.json\n"
        f"built by: python scripts/sky130_liberty.py CHECKOUT\n"
        f"cells ({len(names)}): {' '.join(n[len(LIB) + 2:] for n in names)}\n")
    (args.out / "cells.json").write_text(json.dumps({"repository": REPO, "commit": commit, "corner": CORNER,
                                                    "units": {"area": "um^2", "cell_leakage_power": "nW"},
                                                    "cells": values}, indent=1) + "\n")
    print(f"wrote {lib} ({lib.stat().st_size} bytes, {len(names)} cells, commit {commit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
