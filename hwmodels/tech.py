"""Technology scaling estimates (labelled estimates, tabulated nodes only).

Source: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration, the VLSI Journal 58 (2017) 74-81,
doi:10.1016/j.vlsi.2017.02.002. Area factors are the paper's table; energy uses the paper's fitted
polynomial in VDD, ``E(V) = a V^2 + b V + c`` per node (coefficients as transcribed in the MIT-licensed
``nodeScale`` tool of UCLA NanoCAD, ``depCoeffDict`` columns 4-6). High-performance (HP) models for
45/32/7 nm. 28 nm is NOT a tabulated node (the paper has 32 and 20 nm): it is refused, not
interpolated.

The supply voltages are the nodes' usual nominal values and are an assumption of this module
(180 nm 1.8 V from the OSU liberty; 45 nm 1.0 V, 32 nm 0.9 V, 7 nm 0.7 V). The scaling multiplies
both designs by the same factor, so the relative reductions do not change; only absolute numbers move.
"""

from __future__ import annotations

from neurosim import NeurosimError

SOURCE = ("Stillmaker & Baas, Integration 58 (2017) 74-81, doi:10.1016/j.vlsi.2017.02.002; coefficients as "
          "transcribed in UCLA NanoCAD nodeScale (MIT)")

#: area of a 180 nm design at node N = area_180 / AREA_DIV_FROM_180[N] (paper's area table, row N col 180)
AREA_DIV_FROM_180 = {180: 1.0, 45: 19.0, 32: 40.0, 20: 88.0, 7: 320.0}
#: energy polynomial coefficients (a, b, c): E ~ a V^2 + b V + c (relative units, same for all nodes)
ENERGY_POLY = {180: (0.0, 24.64, -17.98),
               45: (1.018, -0.3107, 0.1539), 32: (0.8367, -0.4341, 0.1701),
               20: (0.373, -0.1582, 0.04104), 7: (0.1776, -0.09097, 0.02447)}
#: nominal supply voltage assumed per node [V] (assumption, see module doc)
NOMINAL_VDD = {180: 1.8, 45: 1.0, 32: 0.9, 20: 0.9, 7: 0.7}
TABULATED = tuple(sorted(AREA_DIV_FROM_180, reverse=True))


def _efac(node: int, vdd: float) -> float:
    a, b, c = ENERGY_POLY[node]
    return a * vdd * vdd + b * vdd + c


def energy_factor(node: int, src: int = 180) -> float:
    """Multiply an energy at ``src`` (nominal VDD) by this to estimate it at ``node`` (nominal VDD)."""
    check_node(node)
    return _efac(node, NOMINAL_VDD[node]) / _efac(src, NOMINAL_VDD[src])


def area_factor(node: int) -> float:
    """Multiply an area at 180 nm by this to estimate it at ``node`` [dimensionless]."""
    check_node(node)
    return 1.0 / AREA_DIV_FROM_180[node]


def check_node(node: int) -> None:
    """Raise a NeurosimError for a node without tabulated coefficients."""
    if node not in AREA_DIV_FROM_180:
        raise NeurosimError(f"technology node {node} nm is not tabulated by Stillmaker & Baas here "
                            f"(available: {', '.join(map(str, TABULATED))}); 28 nm would need interpolation")


def scale_energy_area(comparison: dict, nodes) -> dict:
    """Scaled estimates of the per-MAC-equivalent energy and the array areas of ``comparison``."""
    out: dict = {"source": SOURCE, "label": "ESTIMATE (scaled from OSU 0.18 um; not synthesized at these nodes)",
           "vdd_assumed_v": {str(n): NOMINAL_VDD[n] for n in NOMINAL_VDD}, "nodes": {}}
    for node in nodes:
        try:
            ef, af = energy_factor(int(node)), area_factor(int(node))
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


def check_scalable(doc: dict) -> None:
    """Raise a NeurosimError unless the compute energies of hw.json ``doc`` were measured at a node the
    scaling starts from (180 nm: OSU 0.18 um). Stillmaker & Baas's 130 nm coefficients are not
    transcribed here, so a sky130 hd document cannot be scaled to other nodes."""
    node = measured_node(doc)
    if node != 180:
        raise NeurosimError(f"the hw document was measured at {node} nm; the energy model scales compute "
                            f"energies from 180 nm only (no Stillmaker & Baas coefficients for {node} nm here): "
                            f"give the osu018 document (hw.json of `neurosim hw --tech osu018|all`)")
