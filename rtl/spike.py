"""Event-driven spiking accumulate lane array (one component for the four codings).

Each cycle carries at most one spike event (``valid``) of one input i, broadcast to all lanes; lane j
receives the weight ``w[j]`` = W[j, i] and adds or subtracts it, scaled by the event's time-step
weight. Without an event the accumulator register is not enabled (it holds).

Extra input ports (besides the common ones of :mod:`neurosim.rtl.array`), by coding and variant:

=========== ========== ===== ======== ============================================================
coding      variant    neg   sh       step
=========== ========== ===== ======== ============================================================
binary      (none)     -     -        -        event adds ``w``
ternary     (none)     1     -        -        ``neg``: the spike is -1 (subtract ``w``)
bitwise     barrel     1     SH_W     -        adds ``(-1)^neg * w << sh``; ``sh`` = T-1-t for step t
bitwise     horner     1     -        1        ``step``: first cycle of steps 1..T-1, the
                                               accumulator doubles before this cycle's term
bitwise_2c  barrel     -     SH_W     -        ``sh = T-1`` is the sign step: subtracts ``w << sh``
bitwise_2c  horner     -     -        1        events from ``clear`` up to the first ``step``
                                               (the sign step) subtract
=========== ========== ===== ======== ============================================================

``SH_W`` = bit length of T-1. All three are unsigned 1-bit / SH_W-bit ports. Events must come in
time-step order (all events of step 0, then step 1, ...) for the Horner variants; any order works for
the others.

Pipeline depth ``p``: 0 = term and accumulation in one cycle; 1 = the signed, shifted term is
registered; 2 / 3 / 4 = as 1 with the accumulator split into 2 / 3 / 4 carry-pipelined segments.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib.wiring import In

from .array import LaneArray
from .params import make_config


class SpikeArray(LaneArray):
    """``lanes`` spiking accumulate units sharing one broadcast event; see the module docstring.
    ``cfg`` as for :class:`~neurosim.rtl.array.LaneArray` (``design="spike"``)."""

    DESIGN = "spike"

    def input_members(self) -> dict:
        """The event's fields by coding/variant: ``neg`` (1 bit), ``sh`` (SH_W bits), ``step`` (1 bit)."""
        cfg = self.cfg
        members = {}
        if cfg.has_neg:
            members["neg"] = In(1)
        if cfg.has_sh:
            members["sh"] = In(cfg.sh_w)
        if cfg.has_step:
            members["step"] = In(1)
        return members

    # small pieces the proof's mutants (tests/test_formal.py) override
    def sign_step(self):
        """Barrel two's complement: the event is of the sign step (weight -2^(t-1))."""
        return self.sh == self.cfg.t - 1

    def shifted(self, term):
        """Barrel: the signed term shifted by the event's step, ``term << sh``."""
        return term << self.sh

    def front_end(self, m: Module, ctrl0: dict):
        """(control bits at the accumulator's first stage, per-lane signed shifted weights)."""
        cfg = self.cfg
        ctrl0 = dict(ctrl0)
        if cfg.has_step:
            ctrl0["step"] = self.step
        # sign of the event
        if cfg.has_neg:
            neg = self.neg
        elif cfg.coding == "bitwise_2c" and cfg.variant == "barrel":
            neg = Signal(name="sign_step")
            m.d.comb += neg.eq(self.sign_step())
        elif cfg.coding == "bitwise_2c":
            # Horner two's complement: the sign step is the one between clear and the first step strobe
            # (a step strobe wins: clear together with step starts a product whose sign step is empty)
            in_sign = Signal(name="in_sign_step", reset_less=True)
            with m.If(self.step):
                m.d.sync += in_sign.eq(0)
            with m.Elif(self.clear):
                m.d.sync += in_sign.eq(1)
            neg = Signal(name="sign_step")
            m.d.comb += neg.eq(~self.step & (self.clear | in_sign))
            self.probe["in_sign"] = in_sign
        else:
            neg = None
        terms = []
        for i in range(cfg.lanes):
            w = self.w[i]
            tm = w if neg is None else Mux(neg, -w, w)
            if cfg.has_sh:
                tw = tm.shape().width + cfg.t - 1
                tm = self.shifted(tm)[:tw].as_signed()
            sig = Signal(tm.shape(), name=f"term{i}")
            m.d.comb += sig.eq(tm)
            terms.append(sig)
        self.probe["term"] = terms          # the lane terms from the ports (formal proof)
        ctrl = ctrl0
        if "term" in cfg.stages:
            # Horner, one segment: it reads the step one stage ahead (neurosim.rtl.array), not s1
            nxt = self.stage(m, {**ctrl0, "step": Const(0, 1)} if cfg.has_step and cfg.segments == 1 else ctrl0, "s1")
            terms = [self.zreg(m, tm, ctrl0["valid"], f"term{i}_r")
                     for i, tm in enumerate(terms)]
            ctrl = nxt
        return ctrl, terms


def spike_array(**kw) -> SpikeArray:
    """Shorthand: ``spike_array(coding="bitwise", variant="horner", lanes=16, k=2560, pipeline=1)``."""
    return SpikeArray(make_config("spike", **kw))
