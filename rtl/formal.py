"""Formal properties of the lane arrays: an exact reference next to the generated design.

:class:`ProofHarness` wraps one generated array (MAC or spiking unit, any coding, variant and
pipeline depth) and adds, per lane, an ACC_W-bit reference accumulator ``ref`` driven by the same
ports with the documented per-cycle semantics (docs/rtl.md):

=================== ==========================================================================
design              per cycle (``valid`` gates the term; ``clear`` restarts from the term)
=================== ==========================================================================
mac                 ``ref += a * w``
binary              ``ref += w``
ternary             ``ref += neg ? -w : w``
bitwise barrel      ``ref += (neg ? -w : w) << sh``
bitwise_2c barrel   ``ref += (sh == t-1 ? -w : w) << sh``
Horner variants     ``ref = (step ? 2 ref : ref) + term`` (two's complement: the term is
                    negated from ``clear`` up to the first ``step``, the sign step)
=================== ==========================================================================

``ref`` is kept modulo 2^ACC_W, as the hardware's register is. Because every exact dot product of
at most K inputs lies in [acc_min, acc_max] (:func:`neurosim.rtl.params.acc_range`), which ACC_W
holds, equality modulo 2^ACC_W is equality of the integers; :mod:`neurosim.rtl.prove` checks that
containment and, exhaustively, that the per-event semantics over a coding's spike train of one
input adds exactly ``w * count``.

Assumptions (``Assume``), the protocol of docs/rtl.md and nothing more:

* ``rst``, once raised, is held for at least ``reset_cycles`` cycles;
* a barrel event's shift ``sh`` is a step of the window, 0 .. t-1;
* events (``valid``) and Horner ``step`` strobes belong to a dot product: they come in the cycle of
  a ``clear`` or after it, up to and including its ``last``;
* the next ``clear`` comes at least ``gap`` idle cycles after a ``last``.

Properties (``Assert``), checked in every cycle while ``rst`` is low:

* the inductive invariant: accumulator segment j of every lane equals bits [lo_j, hi_j) of ``ref``
  as it was ``stages + j`` cycles earlier (Horner arrays with a term register: of ``ref`` doubled
  when the following cycle steps, as they store pre-doubled values), and the Horner two's
  complement sign-step register equals the reference's;
* ``done`` is high exactly ``latency`` cycles after a ``last``, and then ``acc`` equals ``ref`` as
  it was after the ``last`` cycle, in every lane.

``Cover`` statements (:attr:`ProofHarness.covers`) show the interesting states are reachable: a
finished dot product, a negative result, an accumulator at its lower and upper bound, and (spiking
units) a full-length spike train (an event of the first and of the last time step in one product).
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, Mux, ResetSignal, Signal, signed, unsigned

from .params import Config, segment_bounds


def product_stage(cfg: Config) -> int:
    """Pipeline stage (cycles after the ports) of the MAC's ``prod`` signals; 0 for spiking units."""
    return len(cfg.stages) - 1 if cfg.design == "mac" and cfg.stages else 0


def delay(m: Module, value, k: int, name: str) -> list:
    """``[value, value 1 cycle ago, ..., value k cycles ago]`` (registers reset by ``rst``)."""
    chain = [value]
    for i in range(k):
        r = Signal.like(value, name=f"{name}_d{i + 1}") if isinstance(value, Signal) else \
            Signal(value.shape(), name=f"{name}_d{i + 1}")
        m.d.sync += r.eq(chain[-1])
        chain.append(r)
    return chain


class ProofHarness(Elaboratable):
    """The array of ``cfg`` (built by ``unit_factory(cfg)``, default the generator's) with the
    reference, assumptions, assertions and covers of the module docstring.

    ``covers``: also add the Cover statements (bounds and full-length trains need a small K to be
    reachable in a short trace; they are off for the proof itself)."""

    def __init__(self, cfg: Config, unit_factory=None, covers: bool = False):
        from .build import build_unit
        self.cfg = cfg
        self.dut = (unit_factory or build_unit)(cfg)
        self.dut._MustUse__silence = True      # elaborated by hand in elaborate(), not as a submodule
        self.covers = covers

    def ports(self) -> list:
        """The wrapped array's ports (the solver drives its inputs freely every cycle)."""
        ports = [getattr(self.dut, name) for name in self.dut.signature.members]
        return [p.as_value() if hasattr(p, "as_value") else p for p in ports]

    # -- the reference --------------------------------------------------------------------------
    def _term(self, m: Module, lane: int, in_sign_ref) -> object:
        """Lane ``lane``'s signed term of this cycle from the ports (before the ``valid`` gate)."""
        cfg, d = self.cfg, self.dut
        w = d.w[lane]
        if cfg.design == "mac":           # left free: the array's own product (checked exhaustively
            #                               against a * w by neurosim.rtl.prove.check_products)
            return d.probe["prod"][lane]
        if cfg.coding == "binary":
            return w
        if cfg.coding in ("ternary", "bitwise"):
            tm = Mux(d.neg, -w, w)
        elif cfg.variant == "barrel":                     # bitwise_2c barrel: the sign step is sh = t-1
            tm = Mux(d.sh == cfg.t - 1, -w, w)  # type: ignore[operator]  # t is set for every spike coding
        else:                                             # bitwise_2c Horner: clear .. first step
            tm = Mux(~d.step & (d.clear | in_sign_ref), -w, w)
        if cfg.has_sh:
            return tm << d.sh
        return tm

    def elaborate(self, platform):
        cfg, d = self.cfg, self.dut
        m = Module()
        m.submodules.dut = dut = d.elaborate(platform)       # elaborated here: its probes exist
        del dut
        probe = d.probe
        n = cfg.acc_w
        s = len(cfg.stages)
        rst = ResetSignal("sync")
        step = d.step if cfg.has_step else 0
        horner = cfg.has_step
        predouble = horner and s > 0

        # -- assumptions: the protocol -----------------------------------------------------------
        rst_run = Signal(range(cfg.reset_cycles + 1), init=cfg.reset_cycles, reset_less=True)
        rst_q = Signal(reset_less=True)
        m.d.sync += rst_q.eq(rst)
        with m.If(rst):
            m.d.sync += rst_run.eq(Mux(rst_run == cfg.reset_cycles, rst_run, rst_run + 1))
        with m.Else():
            m.d.sync += rst_run.eq(0)
        # rst_run counts the rst cycles before this one: a release needs reset_cycles of them
        m.d.comb += Assume(~(rst_q & ~rst) | (rst_run >= cfg.reset_cycles))
        in_dp = Signal(reset_less=True)          # inside a dot product: after a clear, up to its last
        with m.If(rst):
            m.d.sync += in_dp.eq(0)
        with m.Elif(d.last):
            m.d.sync += in_dp.eq(0)
        with m.Elif(d.clear):
            m.d.sync += in_dp.eq(1)
        m.d.comb += Assume(rst | ~(d.valid | step) | d.clear | in_dp)
        if cfg.has_sh:                           # an event's shift is one of the window's steps
            m.d.comb += Assume(~d.valid | (d.sh <= cfg.t - 1))
        if cfg.gap:
            quiet = Signal(range(cfg.gap + 1), reset_less=True)   # idle cycles still owed after a last
            with m.If(rst):
                m.d.sync += quiet.eq(0)
            with m.Elif(d.last):
                m.d.sync += quiet.eq(cfg.gap)
            with m.Elif(quiet != 0):
                m.d.sync += quiet.eq(quiet - 1)
            m.d.comb += Assume(rst | (quiet == 0) | ~d.clear)

        # -- the reference ----------------------------------------------------------------------
        in_sign_ref = Signal(reset_less=True)
        if cfg.coding == "bitwise_2c" and horner:
            with m.If(d.step):
                m.d.sync += in_sign_ref.eq(0)
            with m.Elif(d.clear):
                m.d.sync += in_sign_ref.eq(1)
            m.d.comb += Assert(probe["in_sign"] == in_sign_ref)
        # the MAC's reference runs at the product stage q: its control bits are delayed q cycles
        q = product_stage(cfg)
        valid_q, clear_q = delay(m, d.valid, q, "valid")[-1], delay(m, d.clear, q, "clear")[-1]
        s -= q
        depth = s + cfg.segments          # delays of the reference the invariant needs
        refs, plain = [], []
        for lane in range(cfg.lanes):
            term = Signal(unsigned(n), name=f"ref_term{lane}")
            m.d.comb += term.eq(Mux(valid_q, self._term(m, lane, in_sign_ref), 0))
            ref = Signal(unsigned(n), name=f"ref{lane}")          # reset to 0 by rst
            base = Mux(step, ref << 1, ref) if horner else ref
            m.d.sync += ref.eq(Mux(clear_q, term, base + term))
            # what segment 0 holds one cycle after this one (pre-doubled: the next step known ahead)
            head = ref
            if predouble:
                head = Signal(unsigned(n), name=f"ref_pd{lane}")
                m.d.comb += head.eq(Mux(d.step & ~d.clear & ~rst, ref << 1, ref))
            delayed = [head]
            for k in range(depth):
                r = Signal(unsigned(n), name=f"ref{lane}_d{k + 1}")
                m.d.sync += r.eq(delayed[-1])
                delayed.append(r)
            refs.append(delayed)
            plain.append(ref)
        # -- the invariant and the result ----------------------------------------------------
        bounds = segment_bounds(n, cfg.segments)
        lag0 = 1 if predouble else s
        for lane in range(cfg.lanes):
            for j, (lo, hi) in enumerate(bounds):
                want = refs[lane][lag0 + j][lo:hi]
                m.d.comb += Assert(rst | (probe["segs"][lane][j] == want))
        last_d = [d.last]
        for k in range(cfg.latency):
            r = Signal(name=f"last_d{k + 1}")
            m.d.sync += r.eq(last_d[-1])
            last_d.append(r)
        m.d.comb += Assert(rst | (d.done == last_d[-1]))
        # after the last cycle ref holds the product; `latency - 1` cycles later done is high
        final = []
        for lane in range(cfg.lanes):
            if predouble:                   # the chain holds pre-doubled values: one of plain ref
                chain = [plain[lane]]
                for k in range(cfg.latency - 1):
                    r = Signal(unsigned(n), name=f"ref{lane}_p{k + 1}")
                    m.d.sync += r.eq(chain[-1])
                    chain.append(r)
                final.append(chain[-1])
            else:
                final.append(refs[lane][cfg.latency - 1 - q])
        for lane in range(cfg.lanes):
            m.d.comb += Assert(rst | ~d.done | (d.acc[lane].as_unsigned() == final[lane]))
        if self.covers:
            self._covers(m)
        return m

    def _covers(self, m):
        cfg, d = self.cfg, self.dut
        acc0 = Signal(signed(cfg.acc_w), name="cover_acc0")
        m.d.comb += acc0.eq(d.acc[0])
        m.d.comb += [Cover(d.done), Cover(d.done & (acc0 < 0)),
                     Cover(d.done & (acc0 == cfg.acc_min)), Cover(d.done & (acc0 == cfg.acc_max))]
        if cfg.design == "spike" and cfg.coding in ("bitwise", "bitwise_2c"):
            # an event of the first and of the last time step in one dot product
            first = Signal(reset_less=True)
            if cfg.has_sh:
                is_first, is_last = d.sh == cfg.t - 1, d.sh == 0
            else:
                steps = Signal(range(cfg.t + 1), reset_less=True)
                with m.If(d.clear):
                    m.d.sync += steps.eq(d.step)
                with m.Elif(d.step):
                    m.d.sync += steps.eq(steps + 1)
                now = Mux(d.clear, d.step, steps + d.step)
                is_first, is_last = now == 0, now == cfg.t - 1
            with m.If(d.clear):
                m.d.sync += first.eq(d.valid & is_first)
            with m.Elif(d.valid & is_first):
                m.d.sync += first.eq(1)
            m.d.comb += Cover(d.valid & d.last & is_last & (first | (d.clear & is_first)))
