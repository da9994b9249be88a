"""Technology scaling estimates (labelled estimates, tabulated nodes only).

Source: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration, the VLSI Journal 58 (2017) 74-81,
doi:10.1016/j.vlsi.2017.02.002. Area factors are the paper's area table; energy uses the paper's
fitted polynomial in VDD, ``E(V) = a V^2 + b V + c`` per node (the energy coefficients of its Table 5,
as transcribed in the MIT-licensed ``nodeScale`` tool of UCLA NanoCAD, ``depCoeffDict`` columns 4-6;
``areaDict`` for the area table). High-performance (HP) models for 45/32/20/7 nm. Two source nodes,
the two measured libraries: 180 nm (OSU 0.18 um) and 130 nm (SkyWater sky130 hd). 28 nm is NOT a
tabulated node (the paper has 32 and 20 nm): it is refused, not interpolated.

The supply voltages are an assumption of this module: the two measured libraries' own supply (1.8 V
both, from their liberty files) at 180 and 130 nm, the nodes' usual nominal values elsewhere (45 nm
1.0 V, 32 nm 0.9 V, 20 nm 0.9 V, 7 nm 0.7 V). How far the 130 nm supply moves the answer: the paper's
130 nm polynomial at 1.2 V gives 0.37x its value at 1.8 V. The scaling multiplies both designs by the
same factor, so the relative reductions do not change; only absolute numbers move.
"""

from __future__ import annotations

from neurosim import NeurosimError

SOURCE = ("Stillmaker & Baas, Integration 58 (2017) 74-81, doi:10.1016/j.vlsi.2017.02.002; coefficients as "
          "transcribed in UCLA NanoCAD nodeScale (MIT)")

#: area of a design measured at source node S, at node N = area_S / AREA_DIV[S][N] (the paper's area
#: table: row N, column S)
AREA_DIV = {180: {180: 1.0, 130: 2.9, 45: 19.0, 32: 40.0, 20: 88.0, 7: 320.0},
            130: {130: 1.0, 45: 6.4, 32: 14.0, 20: 30.0, 7: 110.0}}
AREA_DIV_FROM_180 = AREA_DIV[180]
#: the nodes energies and areas are measured at (the source of every scaling)
SOURCE_NODES = tuple(AREA_DIV)
#: energy polynomial coefficients (a, b, c): E ~ a V^2 + b V + c (relative units, same for all nodes;
#: Table 5 of the paper)
ENERGY_POLY = {180: (0.0, 24.64, -17.98), 130: (7.171, -6.709, 2.904),
               45: (1.018, -0.3107, 0.1539), 32: (0.8367, -0.4341, 0.1701),
               20: (0.373, -0.1582, 0.04104), 7: (0.1776, -0.09097, 0.02447)}
#: supply voltage assumed per node [V] (assumption, see module doc)
NOMINAL_VDD = {180: 1.8, 130: 1.8, 45: 1.0, 32: 0.9, 20: 0.9, 7: 0.7}
TABULATED = tuple(sorted(AREA_DIV_FROM_180, reverse=True))


def energy_poly(node: int, vdd: float) -> float:
    """The paper's energy polynomial of ``node`` at supply ``vdd`` [V] (relative units)."""
    a, b, c = ENERGY_POLY[node]
    return a * vdd * vdd + b * vdd + c


def energy_factor(node: int, src: int = 180, src_vdd: float | None = None) -> float:
    """Multiply an energy at ``src`` (supply ``src_vdd`` [V], default :data:`NOMINAL_VDD`) by this to
    estimate it at ``node`` (its :data:`NOMINAL_VDD`)."""
    check_node(node)
    if src not in ENERGY_POLY:
        raise NeurosimError(f"no Stillmaker & Baas energy coefficients for a source node of {src} nm here "
                            f"(available: {', '.join(map(str, sorted(ENERGY_POLY, reverse=True)))})")
    v = NOMINAL_VDD[src] if src_vdd is None else float(src_vdd)
    return energy_poly(node, NOMINAL_VDD[node]) / energy_poly(src, v)


def area_factor(node: int, src: int = 180) -> float:
    """Multiply an area at ``src`` (a measured node, :data:`SOURCE_NODES`) by this to estimate it at
    ``node`` [dimensionless]."""
    check_node(node)
    check_source(src)
    if node not in AREA_DIV[src]:
        raise NeurosimError(f"no area factor from {src} nm to {node} nm (nodes larger than the source are "
                            f"not scaled to)")
    return 1.0 / AREA_DIV[src][node]


def check_source(src: int) -> None:
    """Raise a NeurosimError for a source node that is not a measured library's (:data:`SOURCE_NODES`)."""
    if src not in SOURCE_NODES:
        raise NeurosimError(f"the scaling starts from a measured node ({', '.join(map(str, SOURCE_NODES))} nm), "
                            f"not {src} nm")


def check_node(node: int) -> None:
    """Raise a NeurosimError for a node without tabulated coefficients."""
    if node not in AREA_DIV_FROM_180:
        raise NeurosimError(f"technology node {node} nm is not tabulated by Stillmaker & Baas here "
                            f"(available: {', '.join(map(str, TABULATED))}); 28 nm would need interpolation")


def scale_energy_area(comparison: dict, nodes, tech: str = "osu018", vdd: float | None = None) -> dict:
    """Scaled estimates of the per-MAC-equivalent energy and the array areas of ``comparison``,
    measured on library ``tech`` (:data:`LIBRARIES`) at supply ``vdd`` [V] (default: the library's)."""
    check_library(tech)
    lib = LIBRARIES[tech]
    src = lib["node_nm"]
    vdd = lib["vdd_v"] if vdd is None else float(vdd)
    out: dict = {"source": SOURCE, "label": f"ESTIMATE (scaled from {lib['label'].split(' (')[0]}; not synthesized "
                                      f"at these nodes)",
           "vdd_assumed_v": {str(n): NOMINAL_VDD[n] for n in NOMINAL_VDD} | {str(src): vdd}, "nodes": {}}
    if tech != DEFAULT_LIBRARY:      # the default document stays as it was
        out["from_node_nm"] = src
    for node in nodes:
        try:
            ef, af = energy_factor(int(node), src, vdd), area_factor(int(node), src)
        except NeurosimError as exc:
            out["nodes"][str(node)] = {"refused": str(exc)}
            continue
        entry: dict = {"energy_factor": ef, "area_factor": af, "per_freq": {}}
        for fk, row in comparison.items():
            e = {}
            zd = row.get("gspecify", {}) if "energy_per_mac_eq_pj" in row.get("gspecify", {}) else row.get("zero_delay", {})
            if "energy_per_mac_eq_pj" in zd:
                e = {k: v * ef for k, v in zd["energy_per_mac_eq_pj"].items()}
            entry["per_freq"][fk] = {"area_mac_um2": row["area_mac_um2"] * af,
                                     "area_spike_um2": row["area_spike_um2"] * af,
                                     "energy_per_mac_eq_pj": e}
        out["nodes"][str(node)] = entry
    return out


#: the measured cell libraries of ``neurosim hw --tech``: node [nm], supply [V], corner, description
LIBRARIES: dict[str, dict] = {
    "osu018": {"node_nm": 180, "vdd_v": 1.8, "corner": "typical",
               "label": "OSU 0.18 um (osu018_stdcells, Debian qflow-tech-osu018)"},
    "sky130hd": {"node_nm": 130, "vdd_v": 1.8, "corner": "tt, 25 C, 1.80 V",
                 "label": "SkyWater sky130_fd_sc_hd 130 nm (foundry characterisation)"},
}
#: the library ``neurosim hw`` measures by default
DEFAULT_LIBRARY = "osu018"


def check_library(tech: str) -> None:
    """Raise a NeurosimError for a library name that is not in :data:`LIBRARIES`."""
    if tech not in LIBRARIES:
        raise NeurosimError(f"unknown --tech {tech!r}: expected one of {', '.join(LIBRARIES)} or all")


def measured_node(doc: dict) -> int:
    """The process node [nm] a hw.json document (or its ``settings``) was measured at: its ``tech``
    setting (documents without one are OSU 0.18 um)."""
    settings = doc.get("settings", doc)
    tech = settings.get("tech", DEFAULT_LIBRARY)
    check_library(tech)
    return LIBRARIES[tech]["node_nm"]


def measured_supply(doc: dict) -> tuple[int, float]:
    """The node [nm] and supply [V] a hw.json document's compute energies were measured at (its
    library's; the document's ``voltage_v`` where given)."""
    settings = doc.get("settings", doc)
    tech = settings.get("tech", DEFAULT_LIBRARY)
    node = measured_node(doc)
    return node, float(settings.get("voltage_v") or LIBRARIES[tech]["vdd_v"])
