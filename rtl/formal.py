"""Formal properties of the lane arrays: an exact reference next to the generated design.

The proof of one array is split in two parts, each a harness around the generated array:

:class:`TermHarness` (the lane terms): every lane's term, the signal its accumulator adds, equals
the documented per-cycle semantics (docs/rtl.md) of the ports, in every cycle with ``valid``:

=================== ==========================================================================
design              term (``valid`` gates it; ``clear`` restarts the sum from it)
=================== ==========================================================================
mac                 ``a * w`` (the SMT bit-vector product), at the product stage
binary              ``w``
ternary             ``neg ? -w : w``
bitwise barrel      ``(neg ? -w : w) << sh``
bitwise_2c barrel   ``(sh == t-1 ? -w : w) << sh``
Horner variants     as binary / ternary; the sum doubles on ``step`` (two's complement: the term
                    is negated from ``clear`` up to the first ``step``, the sign step)
=================== ==========================================================================

:class:`ProofHarness` (the accumulators): with the lane terms left free (the array's own term
signals; the MAC's multipliers are cut by the proof script), a reference accumulator ``ref``
(ACC_W bits) adds the same terms with the same ``valid`` / ``clear`` / Horner ``step`` semantics:
``ref = (step ? 2 ref : ref) + term``. One lane is checked per run, any lane: the lane index is a
solver constant (``AnyConst``), so the proof holds for every lane of the array while the solver's
work grows with one lane's logic, not all of them.

``ref`` is kept modulo 2^ACC_W, as the hardware's register is. Because every exact dot product of
at most K inputs lies in [acc_min, acc_max] (:func:`neurosim.rtl.params.acc_range`), which ACC_W
holds, equality modulo 2^ACC_W is equality of the integers; :mod:`neurosim.rtl.prove` checks that
containment and, exhaustively, that the per-event semantics over a coding's spike train of one
input adds exactly ``w * count``.

Assumptions (``Assume``), the protocol of docs/rtl.md and nothing more:

* ``rst``, once raised, is held for at least ``reset_cycles`` cycles, and the run opens with
  ``boot`` cycles of it (the all-zero initial state stays all zero through a reset, so this
  removes no behaviour; it makes the base case of the induction trivial);
* a barrel event's shift ``sh`` is a step of the window, 0 .. t-1;
* events (``valid``) and Horner ``step`` strobes belong to a dot product: they come in the cycle of
  a ``clear`` or after it, up to and including its ``last``;
* the next ``clear`` comes at least ``gap`` idle cycles after a ``last``.

Properties (``Assert``) of the accumulators, checked in every cycle while ``rst`` is low:

* the inductive invariant: accumulator segment j of the lane equals bits [lo_j, hi_j) of ``ref``
  as it was ``stages + j`` cycles earlier (Horner arrays with a term register: of ``ref`` doubled
  when the following cycle steps, as they store pre-doubled values);
* ``done`` is high exactly ``latency`` cycles after a ``last``, and then ``acc`` equals ``ref`` as
  it was after the ``last`` cycle.

``Cover`` statements (:attr:`ProofHarness.covers`) show the interesting states are reachable: a
finished dot product, a negative result, an accumulator at its lower and upper bound, and (spiking
units) a full-length spike train (an event of the first and of the last time step in one product).
"""

from __future__ import annotations

from amaranth.asserts import AnyConst
from amaranth.hdl import (Array, Assert, Assume, Cover, Elaboratable, Module, Mux, ResetSignal, Signal, Value,
                          signed, unsigned)

from .params import Config, segment_bounds


def product_stage(cfg: Config) -> int:
    """Pipeline stage (cycles after the ports) of the MAC's ``prod`` signals; 0 for spiking units."""
    return len(cfg.stages) - 1 if cfg.design == "mac" and cfg.stages else 0


def delay(m: Module, value, k: int, name: str, reset_less: bool = False) -> list:
    """``[value, value 1 cycle ago, ..., value k cycles ago]`` (registers reset by ``rst`` unless
    ``reset_less``)."""
    chain = [value]
    for i in range(k):
        r = Signal(value.shape(), name=f"{name}_d{i + 1}", reset_less=reset_less)
        m.d.sync += r.eq(chain[-1])
        chain.append(r)
    return chain


def spec_term(cfg: Config, d, w, in_sign):
    """The signed term of this cycle of a lane with weight ``w`` by the table of the module
    docstring, from the ports of the array ``d`` (before the ``valid`` gate); ``in_sign``: the
    Horner two's complement sign-step state (the reference's). The MAC's: ``a * w`` (an SMT
    bit-vector product)."""
    if cfg.design == "mac":
        return d.a * w
    if cfg.coding == "binary":
        return w
    if cfg.coding in ("ternary", "bitwise"):
        tm = Mux(d.neg, -w, w)
    elif cfg.variant == "barrel":                     # bitwise_2c barrel: the sign step is sh = t-1
        tm = Mux(d.sh == cfg.t - 1, -w, w)  # type: ignore[operator]  # t is set for every spike coding
    else:                                             # bitwise_2c Horner: clear .. first step
        tm = Mux(~d.step & (d.clear | in_sign), -w, w)
    if cfg.has_sh:
        return tm << d.sh
    return tm


def lane_terms(cfg: Config, d) -> list:
    """The array's own per-lane terms at the product stage: the MAC's ``prod``, the spiking
    units' ``term`` (elaborated ``d``'s probes)."""
    return d.probe["prod" if cfg.design == "mac" else "term"]


class ProofHarness(Elaboratable):
    """The array of ``cfg`` (built by ``unit_factory(cfg)``, default the generator's) with the
    reference, assumptions, assertions and covers of the module docstring.

    ``covers``: also add the Cover statements (bounds and full-length trains need a small K to be
    reachable in a short trace; they are off for the proof itself); ``boot``: reset cycles the run
    opens with; ``any_lane``: check one lane the solver picks instead of every lane;
    ``check_terms``: also assert the lane terms (:func:`assert_terms`; not with cut multipliers)."""

    def __init__(self, cfg: Config, unit_factory=None, covers: bool = False, boot: int = 0,
                 any_lane: bool = False, check_terms: bool = False):
        from .build import build_unit
        self.cfg = cfg
        self.boot = boot
        self.any_lane = any_lane
        self.check_terms = check_terms
        self.dut = (unit_factory or build_unit)(cfg)
        self.dut._MustUse__silence = True      # elaborated by hand in elaborate(), not as a submodule
        self.covers = covers

    def ports(self) -> list:
        """The wrapped array's ports (the solver drives its inputs freely every cycle)."""
        ports = [getattr(self.dut, name) for name in self.dut.signature.members]
        return [p.as_value() if hasattr(p, "as_value") else p for p in ports]

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

        self._assume_protocol(m, rst, step)

        # -- the reference ----------------------------------------------------------------------
        # the MAC's reference runs at the product stage q: its control bits are delayed q cycles
        q = product_stage(cfg)
        valid_q, clear_q = delay(m, d.valid, q, "valid")[-1], delay(m, d.clear, q, "clear")[-1]
        s -= q
        depth = s + cfg.segments          # delays of the reference the invariant needs
        refs, plain = [], []
        if self.any_lane:                 # one reference, for the lane the solver picks (any of them)
            sel = Signal(range(cfg.lanes), name="lane_sel")
            m.d.comb += sel.eq(AnyConst(range(cfg.lanes)))
            lanes = [sel]
            segs = [[Array(ss[j] for ss in probe["segs"])[sel] for j in range(cfg.segments)]]
        else:
            lanes = list(range(cfg.lanes))
            segs = probe["segs"]
        for i, lane in enumerate(lanes):
            name = "" if self.any_lane else str(lane)
            term = Signal(unsigned(n), name=f"ref_term{name}")
            m.d.comb += term.eq(Mux(valid_q, Array(lane_terms(cfg, d))[lane], 0))
            ref = Signal(unsigned(n), name=f"ref{name}")          # reset to 0 by rst
            base = Mux(step, ref << 1, ref) if horner else ref
            m.d.sync += ref.eq(Mux(clear_q, term, base + term))
            # what segment 0 holds one cycle after this one (pre-doubled: the next step known ahead)
            head = ref
            if predouble:
                head = Signal(unsigned(n), name=f"ref_pd{name}")
                m.d.comb += head.eq(Mux(d.step & ~d.clear & ~rst, ref << 1, ref))
            delayed = [head]
            for k in range(depth):
                r = Signal(unsigned(n), name=f"ref{name}_d{k + 1}")
                m.d.sync += r.eq(delayed[-1])
                delayed.append(r)
            refs.append(delayed)
            plain.append(ref)
        # -- the invariant and the result ----------------------------------------------------
        bounds = segment_bounds(n, cfg.segments)
        lag0 = 1 if predouble else s
        for i in range(len(lanes)):
            for j, (lo, hi) in enumerate(bounds):
                want = refs[i][lag0 + j][lo:hi]
                m.d.comb += Assert(rst | (segs[i][j] == want))
        m.d.comb += Assert(rst | (d.done == delay(m, d.last, cfg.latency, "last")[-1]))
        # after the last cycle ref holds the product; `latency - 1` cycles later done is high
        final = []
        for i in range(len(lanes)):
            if predouble:                   # the chain holds pre-doubled values: one of plain ref
                chain = [plain[i]]
                for k in range(cfg.latency - 1):
                    r = Signal(unsigned(n), name=f"ref{i}_p{k + 1}")
                    m.d.sync += r.eq(chain[-1])
                    chain.append(r)
                final.append(chain[-1])
            else:
                final.append(refs[i][cfg.latency - 1 - q])
        for i, lane in enumerate(lanes):
            # an Array of the lanes, not d.acc[sel]: a view indexed by a Value multiplies the index
            # into a bit offset, and the MAC proof cuts every multiplier
            acc = Array(d.acc[j].as_unsigned() for j in range(cfg.lanes))[lane]
            m.d.comb += Assert(rst | ~d.done | (acc == final[i]))
        if self.check_terms:
            assert_terms(m, cfg, d, lanes)
        if self.covers:
            self._covers(m)
        return m

    def _assume_protocol(self, m: Module, rst, step) -> None:
        """The protocol as assumptions: reset held long enough, the run opening in reset, events only
        inside a dot product (clear .. last), shifts within the window and the idle gap after a last."""
        cfg, d = self.cfg, self.dut
        rst_run = Signal(range(cfg.reset_cycles + 1), init=cfg.reset_cycles, reset_less=True)
        rst_q = Signal(reset_less=True)
        m.d.sync += rst_q.eq(rst)
        with m.If(rst):
            m.d.sync += rst_run.eq(Mux(rst_run == cfg.reset_cycles, rst_run, rst_run + 1))
        with m.Else():
            m.d.sync += rst_run.eq(0)
        # rst_run counts the rst cycles before this one: a release needs reset_cycles of them
        m.d.comb += Assume(~(rst_q & ~rst) | (rst_run >= cfg.reset_cycles))
        # the run opens with `boot` cycles of reset (the all-zero state stays; see the docstring)
        boot = Signal(range(self.boot + 1), reset_less=True)
        with m.If(boot != self.boot):
            m.d.sync += boot.eq(boot + 1)
        m.d.comb += Assume((boot == self.boot) | rst)
        in_dp = Signal(reset_less=True)          # inside a dot product: after a clear, up to its last
        with m.If(rst):
            m.d.sync += in_dp.eq(0)
        with m.Elif(d.last):
            m.d.sync += in_dp.eq(0)
        with m.Elif(d.clear):
            m.d.sync += in_dp.eq(1)
        m.d.comb += Assume(rst | ~(d.valid | step) | d.clear | in_dp)
        if cfg.has_sh:                           # an event's shift is one of the window's steps
            m.d.comb += Assume(~d.valid | (d.sh <= cfg.t - 1))  # type: ignore[operator]  # t is set for every spike coding
        if cfg.gap:
            quiet = Signal(range(cfg.gap + 1), reset_less=True)   # idle cycles still owed after a last
            with m.If(rst):
                m.d.sync += quiet.eq(0)
            with m.Elif(d.last):
                m.d.sync += quiet.eq(cfg.gap)
            with m.Elif(quiet != 0):
                m.d.sync += quiet.eq(quiet - 1)
            m.d.comb += Assume(rst | (quiet == 0) | ~d.clear)

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


class TermHarness(Elaboratable):
    """The array of ``cfg`` with its own lane terms (:func:`lane_terms`) asserted equal to
    :func:`spec_term` in every lane and cycle.

    Spiking units: whenever ``valid`` is high (a barrel event's ``sh`` assumed in 0 .. t-1), compared
    sign-extended to ACC_W bits; the Horner two's complement sign-step bit equals the reference's.
    MAC: the product signal at the product stage q equals ``a * w`` of the cycle q cycles earlier,
    and 0 when that cycle had no ``valid`` or had ``rst`` (q >= 1: its partial products are
    zero-when-idle registers)."""

    def __init__(self, cfg: Config, unit_factory=None):
        from .build import build_unit
        self.cfg = cfg
        self.dut = (unit_factory or build_unit)(cfg)
        self.dut._MustUse__silence = True      # elaborated by hand in elaborate(), not as a submodule

    ports = ProofHarness.ports

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut.elaborate(platform)       # elaborated here: its probes exist
        del dut
        assert_terms(m, self.cfg, self.dut)
        return m


def assert_terms(m: Module, cfg: Config, d, lanes=None) -> None:
    """Add to ``m`` the assertions of :class:`TermHarness` on the elaborated array ``d``, for the
    spiking units' ``lanes`` (default all; a Value: the lane the solver picks)."""
    terms = lane_terms(cfg, d)
    if cfg.design == "mac":
        q = product_stage(cfg)
        live = Signal()
        m.d.comb += live.eq((d.valid & ~ResetSignal("sync")) if q else 1)
        live_q = delay(m, live, q, "live", reset_less=True)[-1]
        a_q = delay(m, Value.cast(d.a), q, "a", reset_less=True)[-1]
        for lane in range(cfg.lanes):
            w_q = delay(m, Value.cast(d.w[lane]), q, f"w{lane}", reset_less=True)[-1]
            m.d.comb += Assert(terms[lane] == Mux(live_q, a_q * w_q, 0))
        return
    in_sign = Signal(reset_less=True, name="in_sign_ref")
    if cfg.coding == "bitwise_2c" and cfg.has_step:
        with m.If(d.step):
            m.d.sync += in_sign.eq(0)
        with m.Elif(d.clear):
            m.d.sync += in_sign.eq(1)
        m.d.comb += Assert(d.probe["in_sign"] == in_sign)
    if cfg.has_sh:                           # an event's shift is one of the window's steps
        m.d.comb += Assume(~d.valid | (d.sh <= cfg.t - 1))  # type: ignore[operator]  # t is set for every spike coding
    weights = [Value.cast(d.w[j]) for j in range(cfg.lanes)]
    for i, lane in enumerate(range(cfg.lanes) if lanes is None else lanes):
        got, want = Signal(cfg.acc_w, name=f"term_c{i}"), Signal(cfg.acc_w, name=f"spec_c{i}")
        m.d.comb += [got.eq(Array(terms)[lane]), want.eq(spec_term(cfg, d, Array(weights)[lane], in_sign))]
        m.d.comb += Assert(~d.valid | (got == want))
