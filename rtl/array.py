"""Shared structure of the lane arrays: control pipeline and (segmented) accumulators.

A lane array has ``lanes`` identical lanes. Each cycle one input (an INT8 activation for the MAC,
one spike event for the spiking unit) and the control bits are broadcast to every lane; lane ``i``
receives its own INT8 weight ``w[i]`` (weight-stationary PE row: the weight buffer that feeds ``w``
is outside the unit). Each lane turns (input, weight) into a signed *term* (the product, or the
weight negated/shifted for a spike event) and adds it to its accumulator.

Common ports (all synchronous to ``clk``; Verilog ports are unsigned vectors, signedness is in the
manifest):

========= ===== ================ ======================================================================
port      dir   width            meaning
========= ===== ================ ======================================================================
clk       in    1                clock (added by Amaranth for the ``sync`` domain)
rst       in    1                synchronous reset, active high: zeroes the control pipeline and the
                                 accumulators (assert it first: ASIC flops have no power-up value)
valid     in    1                an input element / spike event is present this cycle
clear     in    1                this cycle starts a new dot product: the accumulator restarts from 0
                                 (plus this cycle's term when ``valid``)
last      in    1                this cycle ends the dot product: ``done`` follows ``latency`` cycles later
w         in    8 x lanes        lane i's signed weight in bits [8i+7 : 8i]
acc       out   ACC_W x lanes    lane i's signed accumulator in bits [ACC_W(i+1)-1 : ACC_W i]
done      out   1                ``acc`` holds the dot product ended by ``last`` (one-cycle pulse)
========= ===== ================ ======================================================================

Pipelining: registered stages before the accumulator (design specific) and an accumulator split into
``segments`` carry-pipelined pieces: segment j adds its slice of the term j cycles after segment 0,
together with the carry segment j-1 produced in the previous cycle. The result is complete
``segments - 1`` cycles after segment 0 has seen the last term, so the next ``clear`` must come at
least ``segments - 1`` idle cycles after ``last`` (``Config.gap``).

Event-driven: the accumulator registers are enabled only when their stage carries an event
(``valid``), a ``clear``, a Horner ``step`` or ``rst``; otherwise they hold. The registers feeding an
accumulator (term/product, delayed term slices) hold the term during an event and 0 otherwise
(:meth:`LaneArray.zhold`: loaded on events and once after a burst), so the adder needs no mask.
``rst`` must be held for at least 2 cycles (``reset_cycles`` in the manifest).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import Config, segment_bounds


class LaneArray(wiring.Component):
    """Base class of :class:`~neurosim.rtl.mac.MacArray` and :class:`~neurosim.rtl.spike.SpikeArray`.

    Subclasses provide :meth:`input_members` (extra broadcast input ports), and :meth:`lane_terms`,
    which builds the design-specific front end and returns, per lane, the signed term valid at
    pipeline stage ``len(cfg.stages)`` together with the control bits of that stage.
    """

    def __init__(self, cfg: Config):
        self.cfg = cfg
        members = {"valid": In(1), "clear": In(1), "last": In(1)}
        members.update(self.input_members())
        members["w"] = In(data.ArrayLayout(signed(8), cfg.lanes))
        members["acc"] = Out(data.ArrayLayout(signed(cfg.acc_w), cfg.lanes))
        members["done"] = Out(1)
        super().__init__(members)

    # -- overridden by the designs -------------------------------------------------------------
    def input_members(self) -> dict:
        return {}

    def front_end(self, m: Module, ctrl0: dict) -> tuple[dict, list]:
        """Return (control bits at the accumulator's first stage, per-lane term values)."""
        raise NotImplementedError

    # -- shared helpers ------------------------------------------------------------------------
    @staticmethod
    def stage(m: Module, ctrl: dict, name: str) -> dict:
        """Register the control bits (reset to 0 by ``rst``): one pipeline stage."""
        out = {}
        for key, sig in ctrl.items():
            if isinstance(sig, Const):      # absent control bit (e.g. no Horner step): no register
                out[key] = sig
                continue
            r = Signal(sig.shape(), name=f"{key}_{name}")
            m.d.sync += r.eq(sig)
            out[key] = r
        return out

    @staticmethod
    def hold(m: Module, value, en, name: str) -> Signal:
        """A data register loaded only when ``en`` (no reset: cleared through the protocol)."""
        r = Signal(value.shape(), name=name, reset_less=True)
        with m.If(en):
            m.d.sync += r.eq(value)
        return r

    @staticmethod
    def zhold(m: Module, value, v_in, v_out, name: str) -> Signal:
        """A data register that holds ``value`` for a stage carrying an event and 0 otherwise.

        Loaded when its input stage has an event (``v_in``), once more after the last event of a
        burst (``v_out``, to load 0) and during ``rst`` (0); otherwise it holds, so idle cycles cause
        no toggles. Its consumer can add it without masking: the ``valid`` mask (a high-fanout
        control register) stays off the adder's critical path.
        """
        rst = ResetSignal("sync")
        r = Signal(value.shape(), name=name, reset_less=True)
        with m.If(v_in | v_out | rst):
            m.d.sync += r.eq(Mux(v_in & ~rst, value, 0))
        return r

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        rst = ResetSignal("sync")
        ctrl0 = {"valid": self.valid, "clear": self.clear, "last": self.last,
                 "step": Const(0, 1)}
        ctrl, terms = self.front_end(m, ctrl0)
        bounds = segment_bounds(cfg.acc_w, cfg.segments)
        horner = cfg.design == "spike" and cfg.variant == "horner"
        carry_w = 2 if horner else 1
        # control bits of every accumulator segment's stage
        seg_ctrl = [ctrl]
        for j in range(1, cfg.segments):
            seg_ctrl.append(self.stage(m, seg_ctrl[-1], f"s{len(cfg.stages) + j}"))
        for lane, term in enumerate(terms):
            tw = term.shape().width
            segs, carry = [], None
            for j, (lo, hi) in enumerate(bounds):
                c = seg_ctrl[j]
                # slice j of the sign-extended term, delayed by j cycles
                if lo < tw:
                    src = term[lo:min(hi, tw)]
                else:
                    src = term[tw - 1]
                for d in range(j):
                    src = self.zhold(m, src, seg_ctrl[d]["valid"], seg_ctrl[d + 1]["valid"],
                                     f"t{lane}_s{j}_d{d + 1}")
                n = src.shape().width
                sl = Cat(src, src[n - 1].replicate(hi - lo - n)) if hi - lo > n else src
                L = hi - lo
                clr = c["clear"] | rst
                if j == 0 and not cfg.stages:
                    val = Mux(c["valid"] & ~rst, sl, 0)     # straight from the input ports
                else:
                    val = sl                                 # from a zhold register: 0 without event
                seg = Signal(unsigned(L), name=f"acc{lane}_seg{j}" if cfg.segments > 1 else f"acc{lane}",
                             reset_less=True)
                base = Mux(clr, 0, Mux(c["step"], Cat(Const(0, 1), seg), seg))
                full = Signal(unsigned(L + carry_w), name=f"sum{lane}_s{j}")
                if carry is None:
                    m.d.comb += full.eq(base + val)
                else:
                    m.d.comb += full.eq(base + val + Mux(rst, 0, carry))
                en = c["valid"] | c["clear"] | c["step"] | rst
                with m.If(en):
                    m.d.sync += seg.eq(full[:L])
                if j < cfg.segments - 1:
                    carry = Signal(unsigned(carry_w), name=f"carry{lane}_s{j + 1}", reset_less=True)
                    with m.If(en):
                        m.d.sync += carry.eq(full[L:])
                segs.append(seg)
            m.d.comb += self.acc[lane].eq(Cat(*segs))
        done = Signal(name="done_r")
        m.d.sync += done.eq(seg_ctrl[-1]["last"])
        m.d.comb += self.done.eq(done)
        return m
