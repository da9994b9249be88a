"""Energy and power from toggle counts and the liberty's tables (computed here, not by OpenSTA).

For every net ``n`` (aliases merged) with ``N_n`` toggles (0<->1 transitions) in a class of cycles:

* load capacitance ``C_n = sum of the input-pin capacitances it drives (+ the output-port load)``
  [pF]; no wire capacitance (the netlists are not placed: a stated assumption).
* switching energy per toggle ``E_sw = 1/2 * C_n * V^2`` [pF * V^2 = pJ].
* internal energy per toggle of the driving cell's output pin ``E_int = mean over related pins of
  (rise_power + fall_power) / 2`` looked up at (``C_n``, input transition) [pJ] (rise and fall
  alternate, so half the toggles are rises). Input transition: ``slew_mode="driver"`` (flow
  default) reads each arc at the transition of the net on its related pin, that net's driver's
  liberty output transition at its load (one level; primary inputs driven by the library's driver cell; ideal clock
  0.1 ns); ``"fixed"`` reads every table at ``slew_ns``.
* internal energy of load pins that have their own tables (flip-flop D pins in OSU), per toggle
  ``(rise + fall) / 2`` at ``slew_ns`` [pJ].
* nets driven by primary inputs: ``E_sw`` only (the upstream driver's internal energy is outside
  the unit); the clock net is not counted from toggles but explicitly:

``E_clk per cycle = C_clk * V^2 (two transitions of 1/2 C V^2) + sum over clocked cells of
(rise + fall) energy of their clock pin`` [pJ]; no clock tree (ideal clock network).

Leakage: ``P_leak = sum of cell_leakage_power`` [nW]; per cycle ``E_leak = P_leak * t_clk``.

Energy per cycle = (sum_n N_n (E_sw + E_int + E_in)) / cycles + E_clk + E_leak;
power = energy per cycle * f.

Ideal clock gating (event-driven units): the clock pins only receive the clock in cycles classed as
active (an event somewhere in the pipeline), so ``E_clk`` is paid per active cycle only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .environment import OUTPUT_LOAD_PF, driver
from .netlist import Netlist
from .vcd import Toggles
from .liberty import Library

#: input transition time at which internal-power tables are read [ns]: a typical output transition
#: of OSU 0.18 um gates at light load (their rise/fall_transition tables give 0.03-0.1 ns at
#: 5-25 fF). Documented assumption; the tables vary by a few percent in this range.
DEFAULT_SLEW_NS = 0.1
#: load on each output port bit [pF] (:mod:`.environment`, as in synthesis and timing)
OUTPUT_PORT_LOAD_PF = OUTPUT_LOAD_PF


@dataclass
class NetEnergy:
    """Per-net energy per toggle [pJ] and load [pF], in the order of ``names``."""
    names: list[str]
    cap_pf: np.ndarray
    e_sw: np.ndarray
    e_int: np.ndarray
    e_in: np.ndarray

    @property
    def e_total(self) -> np.ndarray:
        """Energy per toggle of every net [pJ]: switching + internal + load-pin."""
        return self.e_sw + self.e_int + self.e_in


SLEW_MODES = ("driver", "fixed")


def net_loads(net: Netlist, lib: Library, n) -> float:
    """Load capacitance of a net [pF]: its load pins (+ the output-port load)."""
    c = sum(lib.cells[cell].pins[pin].capacitance for _, cell, pin in n.loads)
    return c + (OUTPUT_PORT_LOAD_PF if n.is_output else 0.0)


def net_slews(net: Netlist, lib: Library, slew_ns: float = DEFAULT_SLEW_NS, clock: str = "clk") -> dict:
    """Transition time [ns] of every net: its driver's output transition (liberty
    ``rise/fall_transition``, mean) at the net's load with input transition ``slew_ns`` (one level,
    not propagated further); primary inputs as driven by the library's driver cell
    (:meth:`~neurosim.hwmodels.liberty.Library.driver_cell`); the clock (ideal) ``slew_ns``."""
    out = {}
    for name, n in net.nets.items():
        if name == clock or n.const:
            out[name] = slew_ns
            continue
        c = net_loads(net, lib, n)
        if n.driver is not None:
            out[name] = lib.output_transition(n.driver[1], n.driver[2], c, slew_ns)
        elif n.is_input:
            out[name] = lib.output_transition(*driver(lib), c, slew_ns)
        else:
            out[name] = slew_ns
    return out


def net_energies(net: Netlist, lib: Library, slew_ns: float = DEFAULT_SLEW_NS,
                 clock: str = "clk", slew_mode: str = "fixed") -> NetEnergy:
    """Energy per toggle of every net except the clock and constants.

    ``slew_mode="fixed"``: every table is read at ``slew_ns``. ``"driver"``: each internal-power arc
    is read at the transition of the net on its related input pin, and flip-flop D-pin tables at
    the D net's transition (:func:`net_slews`)."""
    if slew_mode not in SLEW_MODES:
        raise ValueError(f"slew_mode must be one of {SLEW_MODES}")
    names, caps, esw, eint, ein = [], [], [], [], []
    v2 = lib.voltage ** 2
    slews = net_slews(net, lib, slew_ns, clock) if slew_mode == "driver" else None
    pin_net: dict[tuple[str, str], str] = {}
    if slews is not None:
        for name, n in net.nets.items():
            for inst, _, pin in n.loads:
                pin_net[(inst, pin)] = name
    for name, n in net.nets.items():
        if name == clock or n.const:
            continue
        c = net_loads(net, lib, n)
        e_int = 0.0
        if n.driver is not None:
            inst, cell, pin = n.driver
            if slews is None:
                e_int = lib.output_toggle_energy(cell, pin, c, slew_ns)
            else:
                sl = {p: slews[pin_net[(inst, p)]] for p in lib.cells[cell].inputs if (inst, p) in pin_net}
                e_int = lib.output_toggle_energy_arcs(cell, pin, c, sl, slew_ns)
        own = slew_ns if slews is None else slews[name]
        e_in = sum(lib.input_toggle_energy(cell, pin, own) for _, cell, pin in n.loads
                   if not lib.cells[cell].pins[pin].clock)
        names.append(name)
        caps.append(c)
        esw.append(0.5 * c * v2)
        eint.append(e_int)
        ein.append(e_in)
    return NetEnergy(names, np.array(caps), np.array(esw), np.array(eint), np.array(ein))


def clock_energy_per_cycle(net: Netlist, lib: Library, slew_ns: float = DEFAULT_SLEW_NS,
                           clock: str = "clk") -> dict:
    """Clock pins' internal energy plus the clock net's C V^2, per clock cycle [pJ]."""
    n = net.nets.get(net.alias.get(clock, clock))
    c = sum(lib.cells[cell].pins[pin].capacitance for _, cell, pin in n.loads) if n else 0.0
    pin_e = 0.0
    for _, cell, pin in (n.loads if n else []):
        p = lib.cells[cell].pins[pin]
        for arc in p.power:
            r, f = arc.energy(0.0, slew_ns)
            pin_e += (r + f) / len(p.power)          # one rise and one fall per cycle
    return {"clock_net_cap_pf": c, "clock_net_pj": c * lib.voltage ** 2, "clock_pins_pj": pin_e,
            "total_pj": c * lib.voltage ** 2 + pin_e, "clocked_pins": len(n.loads) if n else 0}


def leakage_nw(net: Netlist, lib: Library) -> float:
    """Total cell leakage of the netlist [nW]."""
    return float(sum(lib.cells[c].leakage_nw for c in net.instances.values()))


@dataclass
class EnergyBreakdown:
    """Energy of one class of cycles, per cycle [pJ]."""
    cycles: int
    toggles_per_cycle: float
    switching_pj: float
    internal_pj: float
    input_pins_pj: float
    clock_pj: float
    leakage_pj: float

    @property
    def total_pj(self) -> float:
        """Energy per cycle [pJ], all parts."""
        return (self.switching_pj + self.internal_pj + self.input_pins_pj + self.clock_pj
                + self.leakage_pj)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total_pj"] = self.total_pj
        return d


def energy_per_cycle(tog: Toggles, ne: NetEnergy, clk: dict, leak_nw: float, period_ns: float,
                     cls: int = 0, clocked: bool = True) -> EnergyBreakdown:
    """Energy per cycle of class ``cls`` [pJ]; ``clocked=False`` drops the clock energy (ideal
    clock gating of idle cycles)."""
    cycles = int(tog.n_cycles[cls]) if tog.n_cycles.sum() else 0
    idx = {n: i for i, n in enumerate(ne.names)}
    t = np.zeros(len(ne.names))
    for name, arr in tog.counts.items():
        i = idx.get(name)
        if i is not None:
            t[i] += arr[cls]
    div = max(cycles, 1)
    return EnergyBreakdown(
        cycles=cycles, toggles_per_cycle=float(t.sum() / div),
        switching_pj=float(t @ ne.e_sw / div), internal_pj=float(t @ ne.e_int / div),
        input_pins_pj=float(t @ ne.e_in / div),
        clock_pj=clk["total_pj"] if clocked else 0.0,
        leakage_pj=leak_nw * 1e-9 * period_ns * 1e-9 * 1e12)


def combine(parts: list[EnergyBreakdown]) -> EnergyBreakdown:
    """Cycle-weighted mean of several classes' per-cycle energies."""
    n = sum(p.cycles for p in parts)
    if n == 0:
        return EnergyBreakdown(0, 0, 0, 0, 0, 0, 0)
    def f(attr: str) -> float:
        return sum(getattr(p, attr) * p.cycles for p in parts) / n
    return EnergyBreakdown(n, f("toggles_per_cycle"), f("switching_pj"), f("internal_pj"),
                           f("input_pins_pj"), f("clock_pj"), f("leakage_pj"))


def vectorless_energy(ne: NetEnergy, clk: dict, leak_nw: float, period_ns: float,
                      toggle_rate: float) -> EnergyBreakdown:
    """Every non-clock net toggles ``toggle_rate`` times per cycle (a default activity, for contrast)."""
    return EnergyBreakdown(
        cycles=0, toggles_per_cycle=toggle_rate * len(ne.names),
        switching_pj=float(ne.e_sw.sum() * toggle_rate), internal_pj=float(ne.e_int.sum() * toggle_rate),
        input_pins_pj=float(ne.e_in.sum() * toggle_rate), clock_pj=clk["total_pj"],
        leakage_pj=leak_nw * 1e-9 * period_ns * 1e-9 * 1e12)
