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
(``valid``), a ``clear``, a Horner ``step`` (Horner with a term register: the next cycle's step,
as its segments are stored pre-doubled) or ``rst``; otherwise they hold. The registers feeding an
accumulator (term/product, delayed term slices, MAC partial products) hold the term during an event
and 0 otherwise (:meth:`LaneArray.zreg`: the ``valid`` mask sits before the register), so the adder
needs no mask; plain registers between them (:meth:`LaneArray.follow`: MAC pair sums, product) keep
that property. ``clear`` and ``rst`` act after the adder (the segment loads its term slice instead
of the sum; carries into a cleared segment are 0), so neither high-fanout control bit is on a carry
chain. ``rst`` must be held ``Config.reset_cycles`` cycles (``reset_cycles`` in the manifest: 2, plus
one per plain register stage between the partial products and the accumulator).
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

    Parameters
    ----------
    cfg : Config
        From :func:`neurosim.rtl.params.make_config` with ``design`` equal to the subclass's ``DESIGN``.
    """

    #: the ``Config.design`` a subclass implements
    DESIGN = ""

    def __init__(self, cfg: Config):
        if cfg.design != self.DESIGN:
            raise ValueError(f"{type(self).__name__} needs a {self.DESIGN} configuration")
        self.cfg = cfg
        members = {"valid": In(1), "clear": In(1), "last": In(1)}
        members.update(self.input_members())
        members["w"] = In(data.ArrayLayout(signed(8), cfg.lanes))
        members["acc"] = Out(data.ArrayLayout(signed(cfg.acc_w), cfg.lanes))
        members["done"] = Out(1)
        super().__init__(members)

    # -- overridden by the designs -------------------------------------------------------------
    def input_members(self) -> dict:
        """Broadcast input ports of the design besides valid/clear/last/w (name -> member)."""
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
    def follow(m: Module, value, name: str) -> Signal:
        """A plain pipeline register (no enable, no reset) after zero-when-idle registers: it holds
        the stage's value during an event and 0 otherwise because its sources do."""
        r = Signal(value.shape(), name=name, reset_less=True)
        m.d.sync += r.eq(value)
        return r

    @staticmethod
    def zreg(m: Module, value, v_in, name: str) -> Signal:
        """A zero-when-idle register: it loads ``value`` when its input stage carries an event
        (``v_in``) and 0 otherwise (and during ``rst``).

        It holds 0 through idle cycles, so it does not toggle then, and its consumer adds it without
        masking: the ``valid`` mask (a high-fanout control bit) sits before the register, off the
        adder's critical path. No enable: a clock enable would only re-load the same 0.
        """
        rst = ResetSignal("sync")
        r = Signal(value.shape(), name=name, reset_less=True)
        m.d.sync += r.eq(Mux(v_in & ~rst, value, 0))
        return r

    # small pieces the proof's mutants (tests/test_formal.py) override
    @staticmethod
    def clear_bit(ctrl: dict, rst):
        """A segment restarts from its term (``clear``) or from 0 (``rst``)."""
        return ctrl["clear"] | rst

    @staticmethod
    def carry_bit(full, width: int):
        """The carry a segment's ``width``-bit adder passes to the next segment."""
        return full[width:]

    def elaborate(self, platform):
        """The lane array: per lane the design's term, the (segmented) accumulator, done."""
        cfg = self.cfg
        m = Module()
        #: internal state the formal proof (neurosim.rtl.formal) states its invariant over:
        #: "segs" [lane][segment] accumulator segment registers, "in_sign" (Horner two's complement)
        self.probe = {"segs": []}
        rst = ResetSignal("sync")
        ctrl0 = {"valid": self.valid, "clear": self.clear, "last": self.last,
                 "step": Const(0, 1)}
        ctrl, terms = self.front_end(m, ctrl0)
        horner = cfg.design == "spike" and cfg.variant == "horner"
        # Horner with a term register: each segment stores its value already doubled for the next
        # cycle's `step`, which it reads one stage ahead (the input ports for segment 0, the control
        # of segment j-1 for segment j), so `step` selects after the adder, not before it; the last
        # segment's own step then has no reader and gets no register (here and in the front end)
        predouble = horner and bool(cfg.stages)
        seg_ctrl, dbl = self._segment_control(m, ctrl, predouble, rst)
        for lane, term in enumerate(terms):
            segs = self._accumulator(m, lane, term, seg_ctrl, dbl, horner, rst)
            m.d.comb += self.acc[lane].eq(Cat(*segs))
            self.probe["segs"].append(segs)
        done = Signal(name="done_r")
        m.d.sync += done.eq(seg_ctrl[-1]["last"])
        m.d.comb += self.done.eq(done)
        return m

    def _segment_control(self, m: Module, ctrl: dict, predouble: bool, rst) -> tuple[list[dict], list]:
        """The control bits of every accumulator segment's stage, and (pre-doubled Horner) each
        segment's doubling bit of the next cycle."""
        cfg = self.cfg
        seg_ctrl = [ctrl]
        for j in range(1, cfg.segments):
            src = seg_ctrl[-1]
            if predouble and j == cfg.segments - 1:
                src = {**src, "step": Const(0, 1)}
            seg_ctrl.append(self.stage(m, src, f"s{len(cfg.stages) + j}"))
        dbl = []
        if predouble:
            assert len(cfg.stages) == 1, cfg.stages
            ahead = [{"step": self.step, "clear": self.clear}] + seg_ctrl[:-1]
            for j, a in enumerate(ahead):
                d = Signal(name=f"double_s{len(cfg.stages) + j}")
                m.d.comb += d.eq(a["step"] & ~a["clear"] & ~rst)     # a clear starts afresh: no doubling
                dbl.append(d)
        return seg_ctrl, dbl

    def _accumulator(self, m: Module, lane: int, term, seg_ctrl: list[dict], dbl: list, horner: bool,
                     rst) -> list:
        """Lane ``lane``'s accumulator segments (carry-save between them) fed by its ``term``."""
        cfg = self.cfg
        predouble = bool(dbl)
        tw = term.shape().width
        segs: list = []
        carry, shift = None, None
        for j, (lo, hi) in enumerate(segment_bounds(cfg.acc_w, cfg.segments)):
            c = seg_ctrl[j]
            # slice j of the sign-extended term, delayed by j cycles
            if lo < tw:
                src = term[lo:min(hi, tw)]
            else:
                src = term[tw - 1]
            for d in range(j):
                src = self.zreg(m, src, seg_ctrl[d]["valid"], f"t{lane}_s{j}_d{d + 1}")
            n = src.shape().width
            sl = Cat(src, src[n - 1].replicate(hi - lo - n)) if hi - lo > n else src
            L = hi - lo
            clr = self.clear_bit(c, rst)
            if j == 0 and not cfg.stages:
                val = Mux(c["valid"] & ~rst, sl, 0)     # straight from the input ports
            else:
                val = sl                                 # from a zero-when-idle register
            seg = Signal(unsigned(L), name=f"acc{lane}_seg{j}" if cfg.segments > 1 else f"acc{lane}",
                         reset_less=True)
            shin = Const(0, 1) if shift is None else shift   # Horner: bit doubled out of segment j-1
            if predouble:
                base = seg
            elif horner:
                base = Mux(c["step"], Cat(shin, seg[:L - 1]), seg)
            else:
                base = Mux(c["step"], Cat(Const(0, 1), seg), seg)
            full = Signal(unsigned(L + 1), name=f"sum{lane}_s{j}")
            if carry is None:
                m.d.comb += full.eq(base + val)
            else:
                m.d.comb += full.eq(base + val + carry)
            if predouble:
                en = c["valid"] | c["clear"] | rst | dbl[j]
                new = Signal(unsigned(L), name=f"new{lane}_s{j}")
                m.d.comb += new.eq(Mux(clr, val, full[:L]))
                with m.If(en):
                    m.d.sync += seg.eq(Mux(dbl[j], Cat(shin, new[:L - 1]), new))
                top = new[L - 1]
            else:
                en = c["valid"] | c["clear"] | c["step"] | rst
                with m.If(en):
                    m.d.sync += seg.eq(Mux(clr, val, full[:L]))
                top = Mux(clr, 0, seg[L - 1])
            if j < cfg.segments - 1:
                carry = Signal(unsigned(1), name=f"carry{lane}_s{j + 1}", reset_less=True)
                with m.If(en):
                    m.d.sync += carry.eq(Mux(clr, 0, self.carry_bit(full, L)))
                if horner:
                    # the doubling's carry between segments: this segment's top bit, one bit
                    # apart from the adder's carry (so that stays one bit)
                    shift = Signal(unsigned(1), name=f"shift{lane}_s{j + 1}", reset_less=True)
                    with m.If(en):
                        m.d.sync += shift.eq(top)
            segs.append(seg)
        return segs
