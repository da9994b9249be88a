"""The node-scaling axis checked against two measured points: ``docs/results/node_scaling.json``
and ``node_scaling.md``, from the libraries result (``docs/results/libraries.json``).

    python -m benchmarks.node_scaling [--results docs/results]

Both cell libraries' energies per MAC-equivalent and array areas are scaled to 45 nm with
Stillmaker & Baas (:mod:`neurosim.hwmodels.tech`: OSU 0.18 um from 180 nm, SkyWater sky130 hd from
130 nm, each at its library's 1.8 V supply); if the polynomials described both libraries, the two
estimates would agree. The same test without 45 nm: the polynomials' 180 -> 130 nm step applied to
OSU's figures, next to sky130 hd's measured ones (the ratio is the same number).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from neurosim.hwmodels import energy_grid as eg
from neurosim.hwmodels import tech
from neurosim.results import write_result

TARGET_NM = 45
#: two estimates within this many percent of each other agree
AGREE_PCT = 10.0
LIBS = ("osu018", "sky130hd")


def check(libs: dict, target: int = TARGET_NM) -> dict:
    """Per clock and design: each library's measured energy per MAC-equivalent [pJ] and area [um^2],
    scaled to ``target`` nm, and the difference of the two estimates [%] (OSU's over sky130's)."""
    a, b = (libs[t] for t in LIBS)
    src = {t: (libs[t]["node_nm"], float(libs[t]["voltage_v"])) for t in LIBS}
    ef = {t: tech.energy_factor(target, *src[t]) for t in LIBS}
    af = {t: tech.area_factor(target, src[t][0]) for t in LIBS}
    step_e = tech.energy_factor(src["sky130hd"][0], *src["osu018"])
    step_a = tech.area_factor(src["sky130hd"][0], src["osu018"][0])
    rows = []
    for fk in sorted(set(a["per_freq"]) & set(b["per_freq"]), key=float):
        for d in ("mac", "spike"):
            x, y = a["per_freq"][fk][d], b["per_freq"][fk][d]
            e = {t: r["energy_per_mac_eq_pj"] * ef[t] for t, r in zip(LIBS, (x, y))}
            ar = {t: r["area_um2"] * af[t] for t, r in zip(LIBS, (x, y))}
            rows.append({"freq_mhz": fk, "design": d,
                         "measured_energy_per_mac_eq_pj": {"osu018": x["energy_per_mac_eq_pj"],
                                                           "sky130hd": y["energy_per_mac_eq_pj"]},
                         "measured_area_um2": {"osu018": x["area_um2"], "sky130hd": y["area_um2"]},
                         "energy_at_target_pj": e, "area_at_target_um2": ar,
                         "energy_difference_pct": 100.0 * (e["osu018"] / e["sky130hd"] - 1.0),
                         "area_difference_pct": 100.0 * (ar["osu018"] / ar["sky130hd"] - 1.0),
                         "both_meet_timing": a["per_freq"][fk]["both_meet_timing"]
                         and b["per_freq"][fk]["both_meet_timing"],
                         "measured_energy_ratio": y["energy_per_mac_eq_pj"] / x["energy_per_mac_eq_pj"],
                         "measured_area_ratio": y["area_um2"] / x["area_um2"]})
    mac = [r for r in rows if r["design"] == "mac"]
    horowitz = eg.HOROWITZ_MUL8_PJ + eg.HOROWITZ_ADD32_PJ
    return {"target_nm": target, "source": tech.SOURCE,
            "vdd_1v2_over_1v8_at_130nm": tech.energy_poly(130, 1.2) / tech.energy_poly(130, 1.8),
            "horowitz_mac_pj": horowitz,
            "mac_over_horowitz": {t: [r["energy_at_target_pj"][t] / horowitz for r in mac] for t in LIBS},
            "measured_at": {t: {"node_nm": src[t][0], "vdd_v": src[t][1], "library": libs[t]["library"]} for t in LIBS},
            "energy_factor_to_target": ef, "area_factor_to_target": af,
            "polynomial_step_180_to_130": {"energy": step_e, "area": step_a}, "rows": rows}


def _span(v: list[float]) -> str:
    """``"6.5x to 7.5x"``, or one figure where both ends round alike."""
    lo, hi = f"{min(v):.1f}x", f"{max(v):.1f}x"
    return lo if lo == hi else f"{lo} to {hi}"


def render(doc: dict) -> str:
    """node_scaling.md from node_scaling.json."""
    c = doc["check"]
    t, st = c["target_nm"], c["polynomial_step_180_to_130"]
    ed = [r["energy_difference_pct"] for r in c["rows"]]
    ad = [r["area_difference_pct"] for r in c["rows"]]
    me = [r["measured_energy_ratio"] for r in c["rows"]]
    ma = [r["measured_area_ratio"] for r in c["rows"]]
    m = c["measured_at"]
    L = [f"Stillmaker & Baas scaling checked against two measured libraries: OSU 0.18 um "
         f"({m['osu018']['node_nm']} nm, {m['osu018']['vdd_v']:g} V) and SkyWater sky130 hd "
         f"({m['sky130hd']['node_nm']} nm, {m['sky130hd']['vdd_v']:g} V), each scaled to {t} nm "
         f"(energy x{c['energy_factor_to_target']['osu018']:.4f} and x{c['energy_factor_to_target']['sky130hd']:.4f}, "
         f"area x{c['area_factor_to_target']['osu018']:.4f} and x{c['area_factor_to_target']['sky130hd']:.4f}). "
         + ("The two estimates agree" if max(map(abs, ed + ad)) <= AGREE_PCT else "The two estimates do not agree")
         + f" (within {AGREE_PCT:g}% would): the one from 180 nm is {min(ed):+.0f}% to {max(ed):+.0f}% off the one "
         f"from 130 nm in energy per MAC-equivalent and {min(ad):+.0f}% to {max(ad):+.0f}% in area. The polynomials' "
         f"180 -> 130 nm step is x{st['energy']:.3f} in energy and x{st['area']:.3f} in area at 1.8 V; the measured "
         f"libraries differ by x{min(me):.3f} to x{max(me):.3f} and x{min(ma):.3f} to x{max(ma):.3f}. Both designs "
         "are multiplied by the same factor, so the spiking array's reductions do not move; absolute compute "
         "energies at 45 nm (and with them the compute share next to SRAM and DRAM in `neurosim energy`) "
         f"move by the factor between the two estimates. Horowitz's {t} nm 8-bit multiply plus 32-bit add is "
         f"{c['horowitz_mac_pj']:g} pJ; the MAC's estimate is "
         + " and ".join(f"{_span(v)} that from {m[k]['node_nm']} nm" for k, v in c["mac_over_horowitz"].items())
         + ".", "",
         f"| MHz | design | pJ per MAC-eq 180 nm | pJ per MAC-eq 130 nm | at {t} nm from 180 | at {t} nm from 130 "
         f"| difference | area um^2 at {t} nm from 180 | from 130 | difference |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for r in c["rows"]:
        me_, e, a = r["measured_energy_per_mac_eq_pj"], r["energy_at_target_pj"], r["area_at_target_um2"]
        mark = "" if r["both_meet_timing"] else " (timing not met by both)"
        L.append(f"| {r['freq_mhz']}{mark} | {r['design']} | {me_['osu018']:.3f} | {me_['sky130hd']:.3f} | "
                 f"{e['osu018']:.3f} | {e['sky130hd']:.3f} | {r['energy_difference_pct']:+.0f}% | "
                 f"{a['osu018']:,.0f} | {a['sky130hd']:,.0f} | {r['area_difference_pct']:+.0f}% |")
    L += ["", f"Source of the coefficients: {c['source']}. Supplies: each library's own; the 130 nm "
              f"polynomial at 1.2 V gives {c['vdd_1v2_over_1v8_at_130nm']:.2f}x its 1.8 V value. Figures of "
              f"`{doc['command']}` (libraries.md)."]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("docs/results"))
    a = ap.parse_args(argv)
    libs = json.loads((a.results / "libraries.json").read_text())
    doc = {"renderer": "benchmarks.node_scaling:render", "command": libs["command"],
           "check": check(libs["libraries"])}
    for p in write_result("node_scaling", doc, a.results):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
