"""Stage 2 of the hardware flow: gate-level power of every chosen configuration.

For each :class:`~neurosim.hwmodels.search.Choice`, :func:`measure_power` drives the full-size mapped
netlist with the stimulus of :func:`neurosim.hwmodels.stimulus.build_stream` in Icarus, zero-delay
and (when the clock is met) with ``-gspecify`` cell delays, checks the accumulators bit-exactly
against the integer reference, and turns the toggles into energy per cycle with the liberty
(:mod:`neurosim.hwmodels.power`): active and idle cycles apart, idle with and without ideal clock
gating; with trace tiles also per tile (``per_tile``: each tile's rows' active and idle cycles apart,
for the intervals over tiles of :mod:`.intervals`). Results are cached under
``cache_dir/power/<hash of netlist, clock, stimulus>.json``.
Units: energy pJ per clock cycle of the whole array, leakage nW, period ns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.rtl.protocol import decode_acc

from .compare import SIM_LABELS
from .gatesim import Vectors, simulate
from .liberty import Library
from .netlist import Netlist, parse_netlist
from .power import (DEFAULT_SLEW_NS, NetEnergy, clock_energy_per_cycle, combine, energy_per_cycle, leakage_nw,
                    net_energies, vectorless_energy)
from .search import Choice, SearchResult, Tools
from .stimulus import ACTIVE, IDLE, Source, Stream, build_stream

__all__ = ["POWER_CACHE_VERSION", "VECTORLESS_TOGGLE_RATE", "PowerResult", "measure_power"]

POWER_CACHE_VERSION = 3         # bump when the simulation or the energy model changes
#: toggles per net per cycle of the vectorless contrast figure
VECTORLESS_TOGGLE_RATE = 0.1


@dataclass
class PowerResult:
    """Power of one chosen configuration: the stimulus, the vectorless contrast, the clock and
    leakage figures, and per simulation (``zero_delay``, ``gspecify``) the measured energies or
    why the simulation was skipped."""

    stream: dict                          # events, activations, cycles, rows, inputs, idle_after_row
    vectorless: dict                      # EnergyBreakdown.to_dict() [pJ per cycle]
    clock: dict                           # clock energy per cycle [pJ] and clocked pins
    leakage_nw: float
    power: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"power": dict(sorted(self.power.items())), "stream": self.stream,
                "vectorless": self.vectorless, "clock": self.clock, "leakage_nw": self.leakage_nw}


@dataclass
class _Netlist:
    """A mapped netlist read once per full-size array, with its per-net energies."""

    net: Netlist
    energies: NetEnergy
    clock: dict
    leakage_nw: float


@dataclass
class _Sim:
    choice: Choice
    label: str
    delays: bool
    stream: Stream
    nl: _Netlist


def _merge(parts: list):
    """The cycle-weighted mean of per-tile breakdowns of one class (one part, or no cycles: the first)."""
    return parts[0] if len(parts) == 1 or not sum(p.cycles for p in parts) else combine(parts)


def _simulate(sim: _Sim, models: Path, slew_mode: str, cache: Path) -> dict:
    """One gate-level simulation (or its cached result): energies per cycle class [pJ]."""
    ch, stream, nl = sim.choice, sim.stream, sim.nl
    m, r = ch.array.entry, ch.array.synth
    period = ch.timing.period_ns
    groups = stream.cycle_group if stream.cycle_group is not None and len(stream.cycle_group) else None
    n_groups = len(stream.group_activations) if groups is not None else 1
    classes = stream.cycle_class + 2 * groups if groups is not None else stream.cycle_class
    h = hashlib.sha256(json.dumps([POWER_CACHE_VERSION, r.key, period, sim.delays, DEFAULT_SLEW_NS, slew_mode,
                                   stream.inputs, stream.reset, stream.drain,
                                   classes.tolist()], sort_keys=True).encode()).hexdigest()[:24]
    hit = cache / f"{h}.json"
    if hit.is_file():
        return json.loads(hit.read_text())
    vectors = Vectors(stream.inputs, stream.drain, drain_cycles=int(m["latency"]) + 4, reset=stream.reset,
                      reset_cycles=max(4, int(m.get("reset_cycles", 0))), cycle_class=classes,
                      n_classes=2 * n_groups)
    res = simulate(r.netlist, nl.net, models, vectors, period_ns=period, delays=sim.delays)
    got = decode_acc(res.outputs["acc"], int(m["lanes"]), int(m["acc_w"]))
    if got != stream.expected_last_row:
        raise NeurosimError(f"{m['top']} ({sim.label}): gate-level accumulators {got[:4]}... differ from "
                            f"the integer reference {stream.expected_last_row[:4]}...")
    args = (res.toggles, nl.energies, nl.clock, nl.leakage_nw, period)
    per = [(energy_per_cycle(*args, 2 * g + ACTIVE), energy_per_cycle(*args, 2 * g + IDLE),
            energy_per_cycle(*args, 2 * g + IDLE, clocked=False)) for g in range(n_groups)]
    act, idl, gated = (_merge([p[i] for p in per]) for i in range(3))
    out = {
        "bit_exact": True, "cycles": res.cycles, "vcd_bytes": res.vcd_bytes,
        "unknown_vcd_bits": res.toggles.unknown_vars,
        "active": act.to_dict(), "idle_clocked": idl.to_dict(),
        "idle_clock_gated": gated.to_dict(),
        "stream_mean_clocked": combine([act, idl]).to_dict(),
    }
    if groups is not None:
        valid = np.asarray(stream.inputs["valid"], np.int64)
        events = np.bincount(groups, weights=valid, minlength=n_groups)
        out["per_tile"] = [{"events": int(events[g]), "activations": stream.group_activations[g],
                            "active_cycles": a.cycles, "active_pj": a.total_pj,
                            "idle_cycles": i.cycles, "idle_pj": i.total_pj}
                           for g, (a, i, _) in enumerate(per)]
    cache.mkdir(parents=True, exist_ok=True)
    tmp = hit.with_suffix(f".tmp{id(sim)}")
    tmp.write_text(json.dumps(out))
    tmp.replace(hit)
    return out


def measure_power(found: SearchResult, src: Source | dict, tools: Tools, *, models: Path, glitches: bool = True,
                  slew_mode: str = "driver") -> dict[str, PowerResult]:
    """Stage 2: {choice key: PowerResult} for every choice of ``found``, driven by ``src``.

    ``models`` are the liberty's Verilog cell models; ``glitches=False`` skips the ``-gspecify``
    simulations; ``slew_mode`` selects the input transition of the energy tables (see
    :func:`neurosim.hwmodels.power.net_energies`)."""
    lib: Library = tools.lib
    netlists: dict[str, _Netlist] = {}
    results: dict[str, PowerResult] = {}
    sims: list[_Sim] = []
    for key, ch in found.choices.items():
        fa = ch.array
        if fa.key not in netlists:
            net = parse_netlist(Path(fa.synth.netlist).read_text(), lib)
            netlists[fa.key] = _Netlist(net, net_energies(net, lib, slew_mode=slew_mode),
                                        clock_energy_per_cycle(net, lib), leakage_nw(net, lib))
        nl = netlists[fa.key]
        # one Source, or {coding: Source} when several spike codings are measured (the MAC: bitwise's)
        s_src = src.get(ch.kind.coding or "bitwise", src.get("bitwise")) if isinstance(src, dict) else src
        assert s_src is not None, "no stimulus source for this coding"
        stream = build_stream(s_src, ch.kind.design, fa.entry)
        pr = PowerResult(stream={"events": stream.events, "activations": stream.activations,
                                 "cycles": len(stream.cycle_class), **stream.info},
                         vectorless=vectorless_energy(nl.energies, nl.clock, nl.leakage_nw, ch.timing.period_ns,
                                                      VECTORLESS_TOGGLE_RATE).to_dict(),
                         clock=nl.clock, leakage_nw=nl.leakage_nw)
        results[key] = pr
        for label in SIM_LABELS:
            delays = label == "gspecify"          # with the cell models' delays (glitches)
            if delays and not glitches:
                continue
            if delays and not ch.meets_timing:
                pr.power[label] = {"skipped": "timing not met at this clock: a delay-annotated "
                                              "simulation would latch wrong values"}
                continue
            sims.append(_Sim(ch, label, delays, stream, nl))
    models = Path(models)
    cache = tools.cache_dir / "power"
    bar = tools.bar(len(sims), "hw: gate-level power", "sim")

    def one(sim: _Sim) -> dict:
        with tools.clock("simulation"):
            out = _simulate(sim, models, slew_mode, cache)
        bar.update(1)
        return out
    try:
        for sim, res in zip(sims, tools.map(one, sims)):
            results[sim.choice.key].power[sim.label] = res
    finally:
        bar.close()
    return results
