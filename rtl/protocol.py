"""The lane arrays' port protocol: port roles, the typed manifest entry, weight packing,
accumulator decoding and the event sequencer (the per-cycle port values of one dot product).

One owner for these facts: the builder (:mod:`neurosim.rtl.build`) writes manifest entries through
:class:`ManifestEntry`; the cocotb testbench (``testbench/``) and the gate-level power stimulus
(:mod:`neurosim.hwmodels.stimulus`) drive the arrays with :func:`dot_product` /
:func:`spike_events` / :func:`mac_events` and read them with :func:`decode_acc`. Plain Python and
numpy (no Amaranth).

Port roles (every port of a lane array has one, :data:`PORT_ROLES`):

* ``clock`` ``clk`` and ``reset`` ``rst`` (synchronous, active high, held ``reset_cycles``);
* ``control`` ``valid, clear, last, step``: 0 in every cycle that does not set them;
* ``operand`` ``a`` (MAC activation), ``neg``, ``sh`` (spike event fields): broadcast to all lanes
  and, like ``w``, *held* by the upstream registers in cycles that do not set them;
* ``weights`` ``w``: lane i's INT8 weight in bits [8i+7 : 8i] (:func:`pack_weights`);
* ``result`` ``acc``: lane i's ``acc_w``-bit two's-complement accumulator in bits
  [acc_w (i+1) - 1 : acc_w i] (:func:`decode_acc`); ``status`` ``done``.

A *cycle* is a dict of input port values (``w`` a list of per-lane weights until packed by
:func:`pack_cycles`); a *stream* is a list of cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["PORT_DOC", "PORT_ROLES", "CONTROL", "OPERANDS", "ZERO_DEFAULT", "WEIGHT_BITS", "Port",
           "ManifestEntry", "as_entry", "pack_weights", "decode_acc", "idle_cycle", "mac_events",
           "spike_events", "frame", "dot_product", "pack_cycles", "port_streams"]

#: one line per port, copied into the manifest
PORT_DOC = {
    "clk": "clock",
    "rst": "synchronous reset (active high, hold >= reset_cycles): zeroes control pipeline and accumulators",
    "valid": "an input element / spike event is present this cycle",
    "clear": "first cycle of a new dot product: the accumulator restarts from 0 (+ this cycle's term)",
    "last": "last cycle of the dot product: done pulses `latency` cycles later",
    "a": "INT8 activation broadcast to all lanes",
    "neg": "spike sign: 1 = subtract the (shifted) weight",
    "sh": "shift of the event's time step (step weight 2^sh; sh = T-1-t for step t)",
    "step": "first cycle of time step t >= 1: the accumulator doubles before this cycle's term",
    "w": "per-lane INT8 weights, lane i in bits [8i+7:8i]",
    "acc": "per-lane accumulators, lane i in bits [ACC_W*(i+1)-1 : ACC_W*i]",
    "done": "acc holds the dot product ended by `last` (one-cycle pulse)",
}
#: control bits: 0 in every cycle that does not set them
CONTROL = ("valid", "clear", "last", "step")
#: broadcast operands: held from the previous cycle when a cycle does not set them
OPERANDS = ("a", "neg", "sh")
#: inputs that read 0 when a cycle does not set them (the control bits and the reset)
ZERO_DEFAULT = CONTROL + ("rst",)
PORT_ROLES = {"clk": "clock", "rst": "reset", **{p: "control" for p in CONTROL},
              **{p: "operand" for p in OPERANDS}, "w": "weights", "acc": "result", "done": "status"}
#: bits per lane of the ``w`` port (INT8 weights)
WEIGHT_BITS = 8


@dataclass(frozen=True)
class Port:
    """One port in the manifest: ``width`` bits, ``signed`` as the testbench must read it (Verilog
    ports are unsigned vectors); ``elem_width`` x ``elems`` for the per-lane ``w`` and ``acc``."""

    name: str
    dir: str                       # "in" | "out"
    width: int
    signed: bool
    doc: str = ""
    elem_width: int | None = None
    elems: int | None = None

    @property
    def role(self) -> str:
        """The port's role: clock, reset, control, operand, weights, result or status."""
        return PORT_ROLES.get(self.name, "")

    def to_dict(self) -> dict:
        d = {"name": self.name, "dir": self.dir, "width": self.width, "signed": self.signed}
        if self.elems is not None:
            d.update(elem_width=self.elem_width, elems=self.elems)
        d["doc"] = self.doc
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Port":
        return cls(d["name"], d["dir"], int(d["width"]), bool(d.get("signed", False)), d.get("doc", ""),
                   d.get("elem_width"), d.get("elems"))


@dataclass(frozen=True)
class ManifestEntry:
    """One design of ``manifest.json`` (see docs/rtl.md): its parameters, timing protocol
    (``latency``, ``gap``, ``reset_cycles`` in cycles) and ports."""

    design: str
    top: str
    verilog: str
    coding: str | None
    variant: str | None
    lanes: int
    k: int
    t: int | None
    acc_w: int
    acc_min: int
    acc_max: int
    pipeline: int
    stages: tuple[str, ...]
    segments: int
    latency: int
    gap: int
    clock: str = "clk"
    reset: str = "rst"
    reset_cycles: int = 2
    ports: tuple[Port, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, cfg, ports, verilog: str | None = None) -> "ManifestEntry":
        """The entry of a :class:`neurosim.rtl.params.Config` with its ports."""
        return cls(cfg.design, cfg.top, verilog or f"{cfg.top}.v", cfg.coding, cfg.variant, cfg.lanes,
                   cfg.k, cfg.t, cfg.acc_w, cfg.acc_min, cfg.acc_max, cfg.pipeline, tuple(cfg.stages),
                   cfg.segments, cfg.latency, cfg.gap, "clk", "rst", cfg.reset_cycles, tuple(ports))

    @classmethod
    def from_dict(cls, d: dict) -> "ManifestEntry":
        """From a manifest dict; other keys (a testbench's paths, the flow's ``family``) are ignored."""
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        kw["stages"] = tuple(kw.get("stages", ()))
        kw["ports"] = tuple(Port.from_dict(p) for p in kw.get("ports", ()))
        return cls(**kw)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["stages"] = list(self.stages)
        d["ports"] = [p.to_dict() for p in self.ports]
        return d

    @property
    def inputs(self) -> dict[str, Port]:
        """Input ports by name, clock and reset included."""
        return {p.name: p for p in self.ports if p.dir == "in"}


def as_entry(entry) -> ManifestEntry:
    """A :class:`ManifestEntry` from an entry or a manifest dict."""
    return entry if isinstance(entry, ManifestEntry) else ManifestEntry.from_dict(entry)


def pack_weights(weights) -> int:
    """The ``w`` port's value: lane i's INT8 weight in bits [8i+7 : 8i] (two's complement). A
    weight outside [-128, 127] is a one-line NeurosimError naming the lane (never wrapped)."""
    v = 0
    for i, x in enumerate(weights):
        x = int(x)
        if not -128 <= x <= 127:
            from neurosim import NeurosimError
            raise NeurosimError(f"weight w[{i}] = {x} is outside INT8 [-128, 127]; it would wrap")
        v |= (x & 0xFF) << (WEIGHT_BITS * i)
    return v


def _port_value(port: "Port", v) -> int:
    """A scalar port's unsigned value; a value outside the port's range (signed ports: the signed
    range, others [0, 2^width)) is a one-line NeurosimError naming the port (never wrapped)."""
    v, w = int(v), port.width
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if port.signed else (0, (1 << w) - 1)
    if not lo <= v <= hi:
        from neurosim import NeurosimError
        raise NeurosimError(f"port {port.name} = {v} is outside its range [{lo}, {hi}]; it would wrap")
    return v & ((1 << w) - 1)


def decode_acc(value: int, lanes: int, acc_w: int) -> list[int]:
    """Signed per-lane accumulators from the ``acc`` port's unsigned value (lane 0 in the low bits)."""
    out = []
    for i in range(lanes):
        v = (value >> (acc_w * i)) & ((1 << acc_w) - 1)
        out.append(v - (1 << acc_w) if v >> (acc_w - 1) else v)
    return out


def idle_cycle() -> dict:
    """A cycle without an event: every control bit 0, operands held."""
    return {"valid": 0, "clear": 0, "last": 0, "step": 0}


def mac_events(counts: np.ndarray, W: np.ndarray) -> list[dict]:
    """The MAC stream of one dot product (unframed): one INT8 activation ``counts[i]`` per cycle
    broadcast to the lanes, lane j's weight ``W[j, i]``."""
    return [{"valid": 1, "clear": 0, "last": 0, "step": 0, "a": int(counts[i]), "w": W[:, i].tolist()}
            for i in range(len(counts))]


def spike_events(spikes: np.ndarray, coding: str, variant: str | None, W: np.ndarray, rng=None) -> list[dict]:
    """The spiking unit's stream of one dot product (unframed) from a spike train ``spikes`` [T, K].

    One cycle per non-zero spike, in time-step order then input order: ``neg`` = the spike's sign
    (ternary, bitwise), ``sh`` = the step's shift ``T-1-t`` (barrel variants), lane j's weight
    ``W[j, i]``. Horner variants: the first cycle of steps 1..T-1 carries ``step`` (a step without
    events gets a cycle of its own, ``valid=0``). For the variants without ``step`` ``rng`` may
    shuffle the events, which must not change the result."""
    from neurosim.core.coding import step_weights
    T = spikes.shape[0]
    sw = step_weights(coding, T)
    horner = variant == "horner"
    has_neg = coding in ("ternary", "bitwise")
    has_sh = variant == "barrel"
    cycles = []
    for t in range(T):
        strobe = horner and t > 0          # Horner: the first cycle of steps 1..T-1 doubles acc
        for i in np.flatnonzero(spikes[t]):
            s = int(spikes[t, i])
            sign = s * int(np.sign(sw[t]))      # the event's signed weight multiplier is sign * |sw[t]|
            c = {"valid": 1, "clear": 0, "last": 0, "step": int(strobe), "w": W[:, i].tolist()}
            if has_neg:
                c["neg"] = int(sign < 0)
            elif sign < 0:
                # bitwise_2c: the hardware knows the sign step itself (barrel: sh == T-1; Horner: the
                # step before the first strobe). Make sure that is the golden step weights' convention.
                assert coding == "bitwise_2c" and t == 0, (coding, t, sw)
            if coding == "binary":
                assert s == 1, s
            if has_sh:
                mag = abs(int(sw[t]))
                assert mag & (mag - 1) == 0, sw
                c["sh"] = mag.bit_length() - 1
            cycles.append(c)
            strobe = False
        if strobe:                                  # a step without events still doubles
            cycles.append({"valid": 0, "clear": 0, "last": 0, "step": 1})
    if rng is not None and not horner and len(cycles) > 1:
        order = rng.permutation(len(cycles))
        cycles = [cycles[j] for j in order]
    return cycles


def frame(cycles: list[dict]) -> list[dict]:
    """Mark a dot product's first cycle ``clear`` and its last ``last`` (no cycles: one control
    cycle with both, for an all-zero spike train)."""
    cycles = list(cycles) or [idle_cycle()]
    cycles[0] = dict(cycles[0], clear=1)
    cycles[-1] = dict(cycles[-1], last=1)
    return cycles


def dot_product(entry, counts: np.ndarray, W: np.ndarray, rng=None) -> tuple[list[dict], np.ndarray]:
    """(framed cycles, expected accumulators [lanes]) of one dot product ``W @ counts`` on a design.

    ``counts`` [K] integers in the unit's range (spike counts are encoded with
    :func:`neurosim.core.coding.encode` at the design's window), ``W`` [lanes, K] INT8 codes; the
    expected values come from :func:`neurosim.core.engine.int_linear`. Counts outside the unit's
    range or weights outside [-128, 127] are a one-line NeurosimError (never wrapped)."""
    from neurosim import NeurosimError
    from neurosim.core.coding import encode
    from neurosim.core.engine import check_int8_codes, int_linear
    from neurosim.rtl.params import count_range
    e = as_entry(entry)
    counts = np.asarray(counts)
    if counts.dtype.kind not in "iu":
        raise NeurosimError(f"counts must be integers, got dtype {counts.dtype}")
    counts = counts.astype(np.int64)
    lo, hi = count_range(e.design, e.coding, e.t)
    if counts.size and (counts.min() < lo or counts.max() > hi):
        raise NeurosimError(f"counts reach [{counts.min()}, {counts.max()}], outside the range "
                            f"[{lo}, {hi}] of {e.top}'s input")
    W = check_int8_codes(W, "W")
    expected = int_linear(counts[None, :], W)[0]
    if e.design == "mac":
        return frame(mac_events(counts, W)), expected
    assert e.coding is not None                           # a spike design has a coding
    spikes = encode(counts[None, :], e.coding, e.t)[:, 0, :]
    return frame(spike_events(spikes, e.coding, e.variant, W, rng)), expected


def pack_cycles(entry, cycles: list[dict]) -> list[dict]:
    """Port values as a simulator takes them: unsigned, ``w`` packed (:func:`pack_weights`), only the
    ports the design has; control bits and ``rst`` not given are 0, other values not given are left
    out (held from the previous cycle)."""
    ports = as_entry(entry).inputs
    out = []
    for c in cycles:
        d = {}
        for name, v in c.items():
            if name not in ports:
                continue
            d[name] = pack_weights(v) if name == "w" else _port_value(ports[name], v)
        for name in ZERO_DEFAULT:
            if name in ports:
                d.setdefault(name, 0)
        out.append(d)
    return out


def port_streams(entry, cycles: list[dict]) -> dict[str, list[int]]:
    """Per input port (clock and reset excluded) its value in every cycle: :func:`pack_cycles` with
    the held values filled in (0 before a port's first value)."""
    names = [p for p in as_entry(entry).inputs if p not in ("clk", "rst")]
    cols: dict[str, list[int]] = {p: [] for p in names}
    cur = dict.fromkeys(names, 0)
    for c in pack_cycles(entry, cycles):
        cur.update((p, v) for p, v in c.items() if p in cur)
        for p in names:
            cols[p].append(cur[p])
    return cols
