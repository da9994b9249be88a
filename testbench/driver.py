"""cocotb driver/monitor of a lane array (runs inside the simulator).

The design's manifest entry comes from the JSON file ``NEUROSIM_TB_ENTRY`` and the test vectors
(prepared on the pytest side by :mod:`testbench.stimulus` from neurosim's golden functions) from
``NEUROSIM_TB_VECTORS``. Inputs are driven and outputs sampled on the falling clock edge: what is
driven in cycle n is captured by rising edge n, and the outputs sampled in cycle n+1 show its effect.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge
from cocotb.types import LogicArray

from neurosim.rtl.protocol import ZERO_DEFAULT, decode_acc

_cache: dict = {}


def load() -> tuple[dict, dict]:
    """(manifest entry, vectors) from the files named by NEUROSIM_TB_ENTRY / NEUROSIM_TB_VECTORS."""
    if not _cache:
        with open(os.environ["NEUROSIM_TB_ENTRY"]) as f:
            _cache["entry"] = json.load(f)
        with open(os.environ["NEUROSIM_TB_VECTORS"]) as f:
            _cache["vectors"] = json.load(f)
    return _cache["entry"], _cache["vectors"]


class ArrayTB:
    """Drives a lane array's inputs on the falling clock edge and samples its outputs there."""
    def __init__(self, dut, entry: dict):
        self.dut = dut
        self.e = entry
        self.lanes = entry["lanes"]
        self.acc_w = entry["acc_w"]
        self.in_ports = [p["name"] for p in entry["ports"] if p["dir"] == "in" and p["name"] != "clk"]
        self.handles = {name: getattr(dut, name) for name in self.in_ports}

    async def reset(self):
        """Start the 10 ns clock and hold ``rst`` (the manifest's reset_cycles, at least 3; exactly
        ``tb_reset_cycles`` with X inputs when given)."""
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        for h in self.handles.values():
            h.value = 0
        exact = self.e.get("tb_reset_cycles")
        if exact:
            # exactly `exact` rising edges with rst, every other input X (don't care): first one
            # edge without rst (the state stays unknown), so that the clock's start at t=0 cannot
            # count as a reset edge
            for name, h in self.handles.items():
                if name != "rst":
                    h.value = LogicArray("X" * len(h))
            dut.rst.value = 0
            for _ in range(2):
                await FallingEdge(dut.clk)
        dut.rst.value = 1
        for _ in range(exact or max(3, self.e.get("reset_cycles", 2))):
            await FallingEdge(dut.clk)
        dut.rst.value = 0

    def read_acc(self) -> list[int]:
        # to_unsigned raises on X/Z: the accumulators must be defined
        """Signed per-lane accumulators now (raises on X/Z)."""
        return decode_acc(self.dut.acc.value.to_unsigned(), self.lanes, self.acc_w)

    async def run(self, cycles: list[dict], tail: int, acc_checks: dict | None = None) -> list[tuple[int, list[int]]]:
        """Drive ``cycles`` (then idle); return (cycle index, acc lanes) for every cycle with done."""
        dut, handles = self.dut, self.handles
        idle = {name: 0 for name in ZERO_DEFAULT if name in handles}
        acc_checks = acc_checks or {}
        # event-driven check: the accumulators may change in sample n only if an input cycle whose
        # operation reaches a segment register at edge n-1 carried an event, clear or step
        pre = self.e["latency"] - self.e["segments"]           # registered stages before segment 0
        active = [any(c.get(k) for k in ("valid", "clear", "step", "rst")) for c in cycles]
        if self.e.get("variant") == "horner" and self.e.get("stages"):
            # Horner with a term register stores each segment pre-doubled: a step's doubling
            # reaches the segment one edge before the step itself (neurosim.rtl.array)
            active = [a or (i + 1 < len(cycles) and bool(cycles[i + 1].get("step"))) for i, a in enumerate(active)]
        seen, prev = [], None
        for n in range(len(cycles) + tail):
            await FallingEdge(dut.clk)
            acc = dut.acc.value
            if prev is not None and acc != prev:
                lo, hi = n - 1 - pre - (self.e["segments"] - 1), n - 1 - pre
                assert any(active[i] for i in range(max(lo, 0), min(hi, len(active) - 1) + 1)), (
                    f"accumulator changed in cycle {n} without an event, clear or step feeding it")
            prev = acc
            if str(n) in acc_checks:
                got = self.read_acc()
                assert got == acc_checks[str(n)], f"cycle {n}: acc {got} != {acc_checks[str(n)]}"
            if n > 0 and dut.done.value == 1:
                seen.append((n, self.read_acc()))
            for name, v in (cycles[n] if n < len(cycles) else idle).items():
                handles[name].value = v
        return seen

    async def check(self, name: str, sc: dict):
        """Run one scenario and compare every ``done`` with the expected lanes and the latency."""
        lat = self.e["latency"]
        seen = await self.run(sc["cycles"], lat + 2, sc.get("acc_checks"))
        lasts, expected = sc["lasts"], sc["expected"]
        assert len(seen) == len(lasts), f"{name}: {len(seen)} done pulses for {len(lasts)} dot products"
        for j, ((n, got), exp, last) in enumerate(zip(seen, expected, lasts)):
            assert n - last == lat, f"{name} #{j}: done {n - last} cycles after last, latency is {lat}"
            assert got == exp, f"{name} #{j}: acc {got} != expected {exp}"
        self.dut._log.info("%s: %d dot products, %d cycles, bit-exact (SEED=%s)", name, len(lasts),
                           len(sc["cycles"]), sc.get("seed"))


async def run_scenario(dut, name: str):
    """Reset, then run the scenario ``vectors[name]`` and check it bit-exactly."""
    entry, vectors = load()
    tb = ArrayTB(dut, entry)
    await tb.reset()
    await tb.check(name, vectors[name])


async def run_scenarios(dut, name: str):
    """Run the scenarios of the list ``vectors[name]`` one after another after one reset (the
    multi-seed regression); a failure names the seed of its scenario."""
    entry, vectors = load()
    tb = ArrayTB(dut, entry)
    await tb.reset()
    for sc in vectors[name]:
        await tb.check(f"{name}[SEED={sc.get('seed')}]", sc)
