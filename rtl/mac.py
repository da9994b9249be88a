"""INT8 multiply-accumulate lane array: the baseline the spiking unit is compared with.

Extra input port (besides the common ones of :mod:`neurosim.rtl.array`):

===== ===== ===== ====== ==========================================================================
port  dir   width signed meaning
===== ===== ===== ====== ==========================================================================
a     in    8     yes    INT8 activation, broadcast to every lane; lane i adds ``a * w[i]`` when
                         ``valid``
===== ===== ===== ====== ==========================================================================

Pipeline depth ``p`` (``neurosim.rtl.params.PIPELINES["mac"]``), each level one more cycle of latency:

* 0: multiply and accumulate in one cycle.
* 1: the 16-bit product is registered before the accumulator.
* 2: as 1, and the accumulator is split into 2 carry-pipelined segments.
* 3: as 2, and the multiplier is split into two registered half products ``a * w[3:0]`` (low nibble,
  unsigned) and ``a * w[7:4]`` (high nibble, signed), summed in the product stage.
* 4: as 3, with 3 accumulator segments.
* 5: the multiplier in three stages: four registered quarter products ``a * w[2j+1:2j]`` (top one
  signed), two registered pair sums, the product; 3 accumulator segments.
* 6: as 5, with 4 accumulator segments.

The partial products (P >= 3) are zero-when-idle registers (``valid`` masks them); the pair sums
and the product after them are plain registers, so ``rst`` must be held 3 (P = 3, 4) or 4 (P = 5, 6)
cycles for their zeros to reach the accumulators (``Config.reset_cycles``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib.wiring import In

from .array import LaneArray
from .params import make_config


class MacArray(LaneArray):
    """``lanes`` INT8 MACs sharing one broadcast activation ``a``; see the module docstring.
    ``cfg`` as for :class:`~neurosim.rtl.array.LaneArray` (``design="mac"``)."""

    DESIGN = "mac"

    def input_members(self) -> dict:
        """The broadcast INT8 activation ``a`` (signed 8 bits)."""
        return {"a": In(signed(8))}

    def front_end(self, m: Module, ctrl0: dict):
        """(control bits at the accumulator's first stage, per-lane 16-bit products) for the pipeline
        plan."""
        cfg = self.cfg
        ctrl = ctrl0
        a = self.a
        terms = []
        if "mulsplit4" in cfg.stages:
            # four registered quarter products a * w[2j+1:2j] (the top one signed), then two
            # registered pair sums, summed in the product stage
            ctrl1 = self.stage(m, ctrl0, "s1")
            ctrl2 = self.stage(m, ctrl1, "s2")
            for i in range(cfg.lanes):
                w = self.w[i]
                q = [self.zreg(m, a * (w[2 * j:2 * j + 2] if j < 3 else w[6:8].as_signed()),
                               ctrl0["valid"], f"q{i}_{j}") for j in range(4)]
                s0 = self.follow(m, q[0] + (q[1] << 2), f"ps{i}_0")
                s1 = self.follow(m, q[2] + (q[3] << 2), f"ps{i}_1")
                terms.append((s0 + (s1 << 4))[:16].as_signed())
            ctrl = ctrl2
        elif "mulsplit" in cfg.stages:
            ctrl1 = self.stage(m, ctrl0, "s1")
            for i in range(cfg.lanes):
                w = self.w[i]
                plo = self.zreg(m, a * w[0:4], ctrl0["valid"], f"plo{i}")
                phi = self.zreg(m, a * w[4:8].as_signed(), ctrl0["valid"], f"phi{i}")
                terms.append((plo + (phi << 4))[:16].as_signed())
            ctrl = ctrl1
        else:
            terms = [(a * self.w[i])[:16].as_signed() for i in range(cfg.lanes)]
        named = []
        for i, tm in enumerate(terms):
            sig = Signal(signed(16), name=f"prod{i}")
            m.d.comb += sig.eq(tm)
            named.append(sig)
        terms = named
        self.probe["prod"] = named          # the products at the product stage (formal proof)
        if "prod" in cfg.stages:
            n = len(cfg.stages)
            nxt = self.stage(m, ctrl, f"s{n}")
            if n == 1:      # straight from the ports: zero when idle by its own load control
                terms = [self.zreg(m, tm, ctrl["valid"], f"prod{i}_r")
                         for i, tm in enumerate(terms)]
            else:           # from zero-when-idle partial products: a plain register keeps that
                terms = [self.follow(m, tm, f"prod{i}_r") for i, tm in enumerate(terms)]
            ctrl = nxt
        return ctrl, terms


def mac_array(**kw) -> MacArray:
    """Shorthand: ``mac_array(lanes=16, k=2560, pipeline=0)``."""
    return MacArray(make_config("mac", coding=None, **kw))
