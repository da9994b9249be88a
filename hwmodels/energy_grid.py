"""Energy per token under each modelling scenario, priced analytically from summed access counts.

The access counts of a design (:mod:`.dataflow`) do not depend on the scenario, so they are summed
over the projections once (:func:`counts`); each scenario then prices the sums with its own
constants (:class:`Constants`: SRAM cells and bank size from CACTI, the compute scaling, the clock's
measured energies, the dataflow, DRAM) in :func:`price`. ``neurosim energy`` prices its default
scenario with the same function, so the grid's default equals its table.

Energies in pJ (totals over the counted tokens); times in ns; leakage in mW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from neurosim import NeurosimError
from neurosim.formats import ENERGY_COMPONENTS

from . import dataflow as df
from . import memory as mem
from . import tech

#: memory node of every scenario [nm] (CACTI's range; compute is scaled to it)
NODE_NM = 45
BUFFER_KB = 8
BUFFER_WORD_BITS = 64
#: Horowitz ISSCC 2014, 45 nm, 0.9 V: 8-bit multiply 0.2 pJ, 32-bit add 0.1 pJ
HOROWITZ_MUL8_PJ, HOROWITZ_ADD32_PJ = 0.2, 0.1


def prefill_block(dataflow: str) -> int | None:
    """Tokens per weight-stationary block of a ``prefill-B`` dataflow; None for decode."""
    return int(dataflow[8:]) if dataflow.startswith("prefill-") else None

COMPONENTS = tuple(ENERGY_COMPONENTS)


@dataclass
class Counts:
    """Access counts of one design summed over projections (see :mod:`.dataflow`)."""

    busy: float = 0.0               # array cycles with an input
    busy_wide: float = 0.0          # busy cycles x (activation bits / 8) (a MAC's wider operands)
    rows: float = 0.0               # weight rows used (decode: one SRAM read each)
    shapes: list = field(default_factory=list)  # (tokens, weight rows per token) per projection
    buf_w: float = 0.0              # activation / spike buffer bits written
    buf_r: float = 0.0              # ... and read
    out_bits: float = 0.0
    events: float = 0.0             # spike events (spiking designs)
    dram_bits: float = 0.0          # weight bits x tokens (every weight once per token)
    dram_rows: float = 0.0          # weight rows x tokens (staging-bank writes, once per token)

    def add(self, a: df.Accesses, p: df.Projection, lanes: int) -> None:
        self.busy += a.busy_cycles
        self.busy_wide += a.busy_cycles * p.act_bits / df.INT8_BITS
        self.rows += a.weight_row_reads
        self.shapes.append((p.tokens, p.groups_per_token(lanes) * p.in_features))
        self.buf_w += a.buffer_write_bits
        self.buf_r += a.buffer_read_bits
        self.out_bits += a.output_write_bits
        self.events += a.notes.get("events", 0)
        self.dram_bits += p.tokens * p.in_features * p.out_features * df.INT8_BITS
        self.dram_rows += p.tokens * p.in_features * p.groups_per_token(lanes)

    def fetch(self, block: int) -> float:
        """Weight rows fetched from SRAM when every group's rows are read once per block of tokens."""
        return float(sum(math.ceil(t / block) * r for t, r in self.shapes))


def counts(projections, system: dict, lanes: int) -> Counts:
    """The summed access counts of ``system`` (an entry of :func:`.energy.design_systems`)."""
    c = Counts()
    for p in projections:
        kw = {"lanes": lanes, "acc_w": system["acc_w"]}
        if not system["baseline"]:
            kw["coding"] = system["coding"]
        c.add(df.accesses(p, system["dataflow"], **kw), p, lanes)
    return c


def local_buffer_kb(projections, lanes: int) -> int:
    """Local weight buffer of the prefill dataflows: holds one group's K weight rows [KiB, power of 2]."""
    need = max(p.in_features for p in projections) * lanes / 1024
    return 2 ** max(0, math.ceil(math.log2(need)))


def staging_bank_kb(projections, lanes: int, bank_kb: int) -> int:
    """The DRAM staging bank: one weight bank, enlarged to hold one group's K weight rows if needed."""
    return max(bank_kb, local_buffer_kb(projections, lanes))


class Constants:
    """Memory constants of the scenarios (CACTI at :data:`NODE_NM`, cached per configuration)."""

    def __init__(self, word_bits: int, cache_dir):
        self._memo: dict = {}
        self.word_bits, self.cache_dir = word_bits, cache_dir

    def bank(self, kb: int, cell: str, word_bits: int | None = None) -> dict:
        key = (kb, cell, word_bits or self.word_bits)
        if key not in self._memo:
            self._memo[key] = mem.sram_cacti(key[0], key[2], NODE_NM, self.cache_dir, cell=cell)
        return self._memo[key]


def compute_factor(scenario: dict, design: dict, mac: dict, lanes: int, source: tuple = (180, 1.8)) -> float:
    """Multiplier of the measured energies of ``design`` under the scenario's compute axis; ``mac``
    is the MAC design at the same clock (for the Horowitz anchors); ``source`` the measured node [nm]
    and supply [V] (:func:`.tech.measured_supply` of the hw document)."""
    v = scenario["compute"]
    poly = tech.energy_factor(NODE_NM, *source)
    if v.startswith("poly"):
        return poly * (1.0 if v == "poly" else float(v[6:]))
    mac_lane = mac["dynamic_pj"] / lanes
    if v == "horowitz-mac" or design["design"] == "mac":
        return (HOROWITZ_MUL8_PJ + HOROWITZ_ADD32_PJ) / mac_lane
    return HOROWITZ_ADD32_PJ / (design["dynamic_pj"] / lanes)


def price(c: Counts, design: dict, scenario: dict, mem_c: dict, *, factor: float, period_ns: float,
          words_per_row: int, mem_time_ns: float | None = None, widen: float = 1.0) -> dict:
    """Energy [pJ] of one design's counts by component, with its event-proportional part.

    ``mem_c``: the scenario's memory constants (:func:`memory_constants`); ``factor``: the compute
    scaling; ``mem_time_ns``: the time the memory leaks (default: the array's own run time);
    ``widen``: how many times wider the array is than synthesized (spike lists read once per group)."""
    is_mac = design["design"] == "mac"
    busy = c.busy_wide if is_mac and scenario["mac_width"] == "linear" else c.busy
    compute = busy * design["dynamic_pj"] * factor
    block = prefill_block(scenario["dataflow"])
    sram = mem_c["weight"]
    if block is None:
        w_sram, local = c.rows * words_per_row * sram["read_pj"], 0.0
    else:
        loc = mem_c["local"]
        fetched = c.fetch(block)
        w_sram = fetched * words_per_row * sram["read_pj"]
        local = (c.rows * loc["read_pj"] + fetched * loc["write_pj"]) * words_per_row
    w_dram = 0.0
    batch = mem_c["dram_batch"]
    if batch:
        w_dram = (c.dram_bits * mem_c["dram_pj_per_bit"] + c.dram_rows * words_per_row * sram["write_pj"]) / batch
    bw, br = (mem_c["buffer"]["write_pj"] / BUFFER_WORD_BITS, mem_c["buffer"]["read_pj"] / BUFFER_WORD_BITS)
    buffers = c.buf_w * bw + c.buf_r / widen * br
    outputs = c.out_bits * bw
    t_ns = c.busy * period_ns
    leak_array = t_ns * design["leakage_mw"] * factor
    leakage = leak_array + (t_ns if mem_time_ns is None else mem_time_ns) * mem_c["leakage_mw"]
    e = {"compute": compute, "weight_sram": w_sram + local, "weight_dram": w_dram, "buffers": buffers,
         "outputs": outputs, "leakage": leakage}
    total = sum(e.values())
    held = design.get("dataflow") == "spike_barrel_held"
    row_part = (w_sram if block is None else local) if not held else 0.0
    event = 0.0 if is_mac else compute + buffers + leakage + row_part
    return {"components_pj": e, "total_pj": total, "event_part_pj": event, "unit_pj": compute + leak_array,
            "busy_cycles": c.busy, "weight_row_reads": c.rows, "run_time_ns": t_ns}


def memory_constants(scenario: dict, consts: Constants, projections, lanes: int) -> dict:
    """The scenario's SRAM banks, buffers, DRAM and the leakage of every powered bank [mW]."""
    cell, kb = scenario["sram_cell"], int(scenario["bank_kb"])
    w = scenario["weights"]
    weight_bytes = sum(p.in_features * p.out_features * p.copies for p in projections)
    if w == "sram":
        bank, n_banks, batch = consts.bank(kb, cell), math.ceil(weight_bytes / (kb * 1024)), 0
    elif w.startswith("dram-b"):
        bank, n_banks, batch = consts.bank(staging_bank_kb(projections, lanes, kb), cell), 1, int(w[6:])
    else:
        raise NeurosimError(f"unknown weights value {w!r}")
    buf = consts.bank(BUFFER_KB, cell, BUFFER_WORD_BITS)
    leak = n_banks * bank["leakage_mw"] + 2 * buf["leakage_mw"]
    out = {"weight": bank, "banks": n_banks, "buffer": buf, "dram_batch": batch,
           "dram_pj_per_bit": mem.DRAM_PJ_PER_BIT["low"]}
    if prefill_block(scenario["dataflow"]):
        out["local"] = consts.bank(local_buffer_kb(projections, lanes), cell)
        leak += out["local"]["leakage_mw"]
    out["leakage_mw"] = leak
    return out


__all__ = ["NODE_NM", "prefill_block", "COMPONENTS", "Counts", "Constants", "counts", "price",
           "compute_factor", "memory_constants", "local_buffer_kb", "staging_bank_kb"]
