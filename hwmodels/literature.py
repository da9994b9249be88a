"""The project's break-even set beside published ones.

Yan et al. (arXiv 2409.08290) compare a rate-coded SNN of ``T`` time steps with the quantized
network of ``ceil(log2(T + 1))``-bit activations that carries the same information, count data
movement, and report the spike rate (spikes per neuron per time step) below which the SNN uses less
energy: under 5.7% at T = 5 in their typical neuromorphic configuration (v4). :func:`yan_break_even`
sets up the same comparison in this project's model: every projection of the trace (its shapes and
token count), a unary spiking array at T = 5 that re-reads the weight row of every spike (time-step
major, as a time-stepped SNN does), priced with the measured spiking array's energy per event, against
a dense MAC array of 3-bit activations (the ``mac_width`` axis' rule, ESTIMATE), in the default
scenario; the break-even spike rate is the spikes per activation at equal energy divided by T.
"""

from __future__ import annotations

import math

import numpy as np

from . import energy_grid as eg
from . import scenarios as sc
from .dataflow import Projection

#: published break-even conditions, each with its own unit
PUBLISHED: list[dict] = [
    {"study": "Yan et al., arXiv 2409.08290 (v4, 2026)", "value": 0.057,
     "unit": "spikes per neuron per time step (spike rate), T = 5, against a 3-bit quantized network",
     "memory": "analytical model with weight and activation movement (their typical neuromorphic configuration)"},
    {"study": "Yan et al., arXiv 2409.08290 (v2-v3, 2025)", "value": 0.064,
     "unit": "spike rate, T in [5, 10], against ceil(log2(T+1))-bit quantized networks",
     "memory": "as above, earlier version of the model"},
    {"study": "Davidson & Furber, Front. Neurosci. 15:651141 (2021)", "value": None,
     "unit": "spikes per synapse (rate-coded SNN vs the same ANN on identical digital hardware)",
     "memory": "core operations only; their conclusion: most rate-coded SNNs are not more efficient"},
]


def yan_break_even(projections, grid, T: int = 5) -> dict:
    """The break-even of a unary T-step spiking array against the equivalent ceil(log2(T+1))-bit
    dense MAC, in this project's model at the default scenario (``grid``: an
    :class:`.energy_scenarios.Grid` of the trace and hardware)."""
    bits = math.ceil(math.log2(T + 1))
    ones = [Projection(p.name, p.in_features, p.out_features, p.tokens, np.array([1]),
                       np.array([p.tokens * p.in_features]), window=T, act_bits=bits, copies=p.copies)
            for p in projections]
    s = dict(sc.DEFAULT)
    s["clock"] = s["clock"] if s["clock"] in grid.systems else grid.clock_values()[-1]
    systems = grid.systems[s["clock"]]
    mac = next(x for x in systems if x["design"] == "mac")
    spk = next(x for x in systems if not x["baseline"])
    unary = dict(spk, coding="binary", variant="unary", dataflow="spike_barrel_per_event")
    mem_c = eg.memory_constants(s, grid.consts, ones, grid.lanes)
    period = 1000.0 / float(s["clock"])
    kw = {"period_ns": period, "words_per_row": grid.words_per_row}
    base = eg.price(eg.counts(ones, dict(mac, dataflow="mac_dense", baseline=True), grid.lanes), mac, s, mem_c,
                    factor=eg.compute_factor(s, mac, mac, grid.lanes), **kw)
    r = eg.price(eg.counts(ones, dict(unary, baseline=False), grid.lanes), unary, s, mem_c,
                 factor=eg.compute_factor(s, unary, mac, grid.lanes), **kw)
    ev, fix = r["event_part_pj"], r["total_pj"] - r["event_part_pj"]
    s_star = max(0.0, (base["total_pj"] - fix) / ev) if ev > 0 else None
    return {"T": T, "qnn_bits": bits, "break_even_spikes_per_activation": s_star,
            "break_even_rate": None if s_star is None else s_star / T, "published_rate": PUBLISHED[0]["value"],
            "scenario": s,
            "assumptions": [
                "the trace's projection shapes and token count; every activation's count scaled together",
                "unary spiking array: the measured bitwise array's energy per event (no shifter saved: ESTIMATE)",
                "time-step-major order: one weight-row read per spike event (no row held across steps)",
                f"the {bits}-bit dense MAC costs {bits}/8 of the measured INT8 MAC (ESTIMATE)",
                "weights resident in SRAM (default scenario); no membrane-potential memory traffic (the "
                "accumulators stay in the array), unlike Yan et al.'s neuron-state movement"]}


__all__ = ["PUBLISHED", "yan_break_even"]
