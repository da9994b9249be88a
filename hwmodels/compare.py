"""Stage 3 of the hardware flow: the spiking array against the MAC array, next to the paper.

Per clock, from two result rows of hw.json (``mac@<MHz>``, ``spike@<MHz>``; see
:func:`compare_pair`):

* area [um^2] and its reduction;
* per simulation (``zero_delay``, ``gspecify``) the energy of one busy cycle [pJ]
  (:func:`busy_cycle_energy`), power at equal clock [mW] (each array busy every cycle, or the spiking
  one on a time-stepped schedule of T slots per activation, idle slots clocked or ideally gated),
  and energy per MAC-equivalent (one activation x one weight) at equal work [pJ];
* with trace tiles, the per-event and per-cycle energies and the reductions with 95% intervals over
  tiles (``over_tiles``, :mod:`.intervals`);
* area x cycles per MAC-equivalent [um^2 x cycles] and per activation (throughput-normalised area);
* given the model's own MAC-weighted spikes per activation (a trace's
  ``summary.json:/totals/accumulates_per_dense_mac``), the equal-work figures again at that rate
  (``*_model``): the stimulus slice's rate can differ from the whole model's.

Reductions are ``100 (1 - spike / mac)`` percent: positive means the spiking array is smaller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .intervals import tile_intervals

__all__ = ["SIM_LABELS", "EnergyComparison", "Comparison", "busy_cycle_energy", "compare_pair", "compare",
           "reduction_pct", "equal_work_energy", "area_cycles_per_activation"]

#: gate-level simulations: zero-delay, and with the cell models' delays (-gspecify, glitches)
SIM_LABELS = ("zero_delay", "gspecify")


def reduction_pct(new: float, base: float) -> float:
    """``100 (1 - new / base)`` [%]; NaN when ``base`` is 0."""
    return 100.0 * (1.0 - new / base) if base else float("nan")


def busy_cycle_energy(p: dict, events: int) -> float:
    """Energy [pJ] of one cycle of an array that takes one input every cycle.

    The measured stream has active cycles (an event in the pipeline, including the drain after
    each row) and idle ones (operands held). Every cycle costs at least the idle-cycle floor (clock
    and leakage); what the active cycles cost above it is caused by the events:
    ``E_busy = E_idle + N_active (E_active - E_idle) / N_events``. Without idle cycles: E_active."""
    a, i = p["active"], p["idle_clocked"]
    if not i["cycles"] or not events:
        return a["total_pj"]
    return i["total_pj"] + a["cycles"] * (a["total_pj"] - i["total_pj"]) / events


def equal_work_energy(e_mac_busy: float, e_spk_busy: float, spa: float, lanes: int) -> dict:
    """Energy per MAC-equivalent (one activation x one weight) [pJ] at ``spa`` spikes per activation,
    and the spiking array's reduction [%]: the MAC array does ``lanes`` MAC-equivalents per busy cycle,
    the spiking array ``lanes`` accumulates (one event) per busy cycle."""
    return {"spikes_per_activation": spa, "mac_pj": e_mac_busy / lanes, "spike_pj": e_spk_busy * spa / lanes,
            "reduction_pct": reduction_pct(e_spk_busy * spa, e_mac_busy)}


def area_cycles_per_activation(area_mac: float, area_spk: float, spa: float) -> dict:
    """Area x cycles per activation [um^2 x cycles] (throughput-normalised area): the MAC array takes one
    cycle per activation, the spiking array ``spa`` (one per spike event); and the reduction [%]."""
    return {"spikes_per_activation": spa, "mac_um2": area_mac, "spike_um2": area_spk * spa,
            "reduction_pct": reduction_pct(area_spk * spa, area_mac)}


@dataclass
class EnergyComparison:
    """One simulation's energy figures of a spiking/MAC pair (energies pJ per cycle, power mW)."""

    energy_per_cycle_pj: dict[str, float]
    power_mw: dict[str, float]
    power_reduction_equal_clock_busy_pct: float             # (a) equal clock, both busy
    power_reduction_equal_clock_time_stepped_pct: float     # (a') spike on T slots per activation
    power_reduction_equal_clock_time_stepped_gated_pct: float
    energy_per_mac_eq_pj: dict[str, float]                  # (b) equal work
    energy_reduction_equal_work_pct: float
    energy_reduction_equal_work_time_stepped_gated_pct: float
    equal_work_model: dict | None = None                    # (b) at the model's spike rate
    over_tiles: dict | None = None                          # intervals over trace tiles (.intervals)

    @classmethod
    def of(cls, pm: dict, ps: dict, mac_events: int, spike_events: int, f: float, spa: float, T: int,
           lanes: int, spa_model: float | None = None) -> "EnergyComparison":
        """From the MAC's and the spiking array's power entries at clock ``f`` [MHz], with ``spa``
        spikes per activation (the stimulus') and a window of ``T`` steps; ``spa_model``: the model's
        MAC-weighted spikes per activation (adds ``equal_work_model``)."""
        e_mac = busy_cycle_energy(pm, mac_events)
        e_spk = busy_cycle_energy(ps, spike_events)
        e_idle = ps["idle_clocked"]["total_pj"]
        e_idle_g = ps["idle_clock_gated"]["total_pj"]
        rate = spa / T                                   # busy fraction of a time-stepped schedule
        slot = rate * e_spk + (1 - rate) * e_idle
        slot_g = rate * e_spk + (1 - rate) * e_idle_g
        return cls(
            energy_per_cycle_pj={"mac_busy": e_mac, "spike_busy": e_spk, "spike_idle_clocked": e_idle,
                                 "spike_idle_clock_gated": e_idle_g, "spike_time_stepped_clocked": slot,
                                 "spike_time_stepped_clock_gated": slot_g},
            power_mw={"mac_busy": e_mac * f * 1e-3, "spike_busy": e_spk * f * 1e-3,
                      "spike_time_stepped_clocked": slot * f * 1e-3,
                      "spike_time_stepped_clock_gated": slot_g * f * 1e-3},
            power_reduction_equal_clock_busy_pct=reduction_pct(e_spk, e_mac),
            power_reduction_equal_clock_time_stepped_pct=reduction_pct(slot, e_mac),
            power_reduction_equal_clock_time_stepped_gated_pct=reduction_pct(slot_g, e_mac),
            energy_per_mac_eq_pj={"mac": e_mac / lanes, "spike_event_driven": e_spk * spa / lanes,
                                  "spike_time_stepped_gated": slot_g * T / lanes},
            energy_reduction_equal_work_pct=reduction_pct(e_spk * spa, e_mac),
            energy_reduction_equal_work_time_stepped_gated_pct=reduction_pct(slot_g * T, e_mac),
            equal_work_model=None if spa_model is None else equal_work_energy(e_mac, e_spk, spa_model, lanes),
            over_tiles=tile_intervals(pm, ps, lanes, spa_model) if pm.get("per_tile") else None)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()
                if not (k in ("equal_work_model", "over_tiles") and v is None)}


@dataclass
class Comparison:
    """A spiking array against a MAC array at one clock (areas um^2)."""

    both_meet_timing: bool
    mac: str                              # top names
    spike: str
    area_mac_um2: float
    area_spike_um2: float
    area_reduction_pct: float
    energy: dict[str, EnergyComparison | str] = field(default_factory=dict)   # label -> figures or why skipped
    area_cycles_per_mac_eq_um2: dict[str, float] = field(default_factory=dict)
    area_x_cycles_reduction_equal_work_pct: float = float("nan")
    area_cycles_per_activation: dict[str, dict] = field(default_factory=dict)    # "stimulus", "model"

    def to_dict(self) -> dict:
        row = {"both_meet_timing": self.both_meet_timing, "mac": self.mac, "spike": self.spike,
               "area_mac_um2": self.area_mac_um2, "area_spike_um2": self.area_spike_um2,
               "area_reduction_pct": self.area_reduction_pct}
        for label, e in self.energy.items():
            row[label] = {"skipped": e} if isinstance(e, str) else e.to_dict()
        row["area_cycles_per_mac_eq_um2"] = self.area_cycles_per_mac_eq_um2
        row["area_x_cycles_reduction_equal_work_pct"] = self.area_x_cycles_reduction_equal_work_pct
        row["area_cycles_per_activation_um2"] = self.area_cycles_per_activation
        return row


def compare_pair(mac: dict, spk: dict, f: float, spa: float, T: int, lanes: int,
                 spa_model: float | None = None) -> Comparison:
    """Compare two result rows of hw.json (a MAC and a spiking array) at clock ``f`` [MHz]; ``spa``
    the stimulus' spikes per activation, ``spa_model`` (optional) the model's MAC-weighted one."""
    c = Comparison(mac["meets_timing"] and spk["meets_timing"], mac["top"], spk["top"],
                   mac["area_um2"], spk["area_um2"], reduction_pct(spk["area_um2"], mac["area_um2"]))
    for label in SIM_LABELS:
        pm, ps = mac["power"].get(label, {}), spk["power"].get(label, {})
        if "active" not in pm or "active" not in ps:
            c.energy[label] = pm.get("skipped") or ps.get("skipped") or "not simulated"
            continue
        c.energy[label] = EnergyComparison.of(pm, ps, mac["stream"]["events"], spk["stream"]["events"],
                                              f, spa, T, lanes, spa_model)
    c.area_cycles_per_mac_eq_um2 = {"mac": mac["area_um2"] / lanes,
                                    "spike_event_driven": spk["area_um2"] * spa / lanes,
                                    "spike_time_stepped": spk["area_um2"] * T / lanes}
    c.area_x_cycles_reduction_equal_work_pct = reduction_pct(spk["area_um2"] * spa, mac["area_um2"])
    c.area_cycles_per_activation["stimulus"] = area_cycles_per_activation(mac["area_um2"], spk["area_um2"], spa)
    if spa_model is not None:
        c.area_cycles_per_activation["model"] = area_cycles_per_activation(mac["area_um2"], spk["area_um2"],
                                                                           spa_model)
    return c


def compare(results: dict, freqs, spa: float, T: int, lanes: int, mac: str = "mac",
            spike: str = "spike", spa_model: float | None = None) -> dict:
    """hw.json's ``comparison``: {clock key: :meth:`Comparison.to_dict`} of the results
    ``<spike>@<MHz>`` against ``<mac>@<MHz>`` at every clock both have (``spa_model``: see
    :func:`compare_pair`)."""
    out = {}
    for f in freqs:
        fk = f"{f:g}"
        m, s = results.get(f"{mac}@{fk}"), results.get(f"{spike}@{fk}")
        if m and s:
            out[fk] = compare_pair(m, s, f, spa, T, lanes, spa_model).to_dict()
    return out
