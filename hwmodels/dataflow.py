"""Explicit dataflows: memory accesses of each lane-array design, counted from a trace.

A *dot-product group* is one token row times ``lanes`` output channels: the array reads the row's
K inputs once and produces ``lanes`` outputs. A projection of N outputs over M token rows has
``M * ceil(N / lanes)`` groups. A *weight row* is the ``lanes`` INT8 weights of one input channel
for the group's output channels: one word of ``lanes x 8`` bits of the weight memory.

Every count comes from the trace's histogram of integer counts of the projection (``stats.npz``:
values and frequencies over all M x K activations), so sums over token rows are exact; counts are
signed integers (negative counts are activations below zero).

Buffer traffic is counted in bits (entries packed into the buffer's words, sequential access):

* activation buffer (MAC designs): the producer writes each token row once; the array reads it once
  per group. Dense: K entries of 8 bits. Zero-skipping: a compressed list of the non-zero entries,
  each ``8 + ceil(log2 K)`` bits (value and channel index), built by the producer (the compressor's
  logic is not counted).
* spike buffer (spiking designs): an address-event list, one entry per spike event of
  ``ceil(log2 K)`` (channel) ``+ ceil(log2 T)`` (step; bitwise codings only, unary steps all weigh
  1) ``+ 1`` (sign; ternary and bitwise) bits, written
  once per token row and read once per group.
* output buffer: every design writes each output once, ``acc_w`` bits (the accumulator width).

Accumulator updates (one per lane per busy cycle) happen inside the lane array; their energy is part
of the gate-level energy per busy cycle of ``neurosim hw`` and is counted here only as
``accumulator_updates`` (not charged again as memory).

Busy cycles: the array takes one input per cycle: one activation (dense MAC), one non-zero
activation (zero-skipping MAC), one spike event (spiking designs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neurosim import NeurosimError
from neurosim.core.coding import CODINGS, INT8_WINDOW, count_range, spike_counts_per_value
from neurosim.defaults import LANES

#: bits of one INT8 weight / activation
INT8_BITS = 8
#: dataflows and the function computing each (see the functions' docstrings)
DATAFLOWS = ("mac_dense", "mac_zero_skip", "spike_barrel_held", "spike_barrel_per_event", "spike_horner")


@dataclass(frozen=True)
class Projection:
    """One traced projection: the histogram of its integer counts and its shape.

    ``values``/``freq``: histogram of the counts over all ``tokens x in_features`` activations.
    ``window``: the spike window T its counts were quantized for (None: the coding's INT8 window);
    ``act_bits``: the width of the same activation as a MAC operand (8 for INT8; a wider window
    needs a wider MAC operand, e.g. 12 bits for the signed bitwise window T=11); ``copies``: how
    many stored weight matrices of this shape the histogram covers (a kind summed over layers).
    """

    name: str
    in_features: int
    out_features: int
    tokens: int
    values: np.ndarray
    freq: np.ndarray
    layer: int = 0
    kind: str = ""
    window: int | None = None
    act_bits: int = INT8_BITS
    copies: int = 1

    def __post_init__(self):
        v, f = np.asarray(self.values), np.asarray(self.freq)
        if v.shape != f.shape or v.ndim != 1 or v.dtype.kind not in "iu" or f.dtype.kind not in "iu":
            raise NeurosimError(f"{self.name}: the histogram needs integer values and frequencies of one shape")
        if (f < 0).any():
            raise NeurosimError(f"{self.name}: negative histogram frequencies")
        if self.in_features < 1 or self.out_features < 1 or self.tokens < 0:
            raise NeurosimError(f"{self.name}: in/out features must be >= 1 and tokens >= 0")
        if int(f.sum()) != self.tokens * self.in_features:
            raise NeurosimError(f"{self.name}: the histogram holds {int(f.sum())} activations, expected "
                                f"tokens x in_features = {self.tokens * self.in_features}")
        object.__setattr__(self, "values", v.astype(np.int64))
        object.__setattr__(self, "freq", f.astype(np.int64))

    @classmethod
    def from_counts(cls, name: str, counts, out_features: int, **kw) -> "Projection":
        """From an integer count matrix ``[tokens, in_features]`` (tests, small examples)."""
        c = np.asarray(counts)
        if c.ndim != 2 or c.dtype.kind not in "iu":
            raise NeurosimError(f"{name}: counts must be an integer matrix [tokens, in_features]")
        v, f = np.unique(c.astype(np.int64), return_counts=True)
        return cls(name, c.shape[1], out_features, c.shape[0], v, f.astype(np.int64), **kw)

    @property
    def activations(self) -> int:
        return int(self.freq.sum())

    @property
    def nonzero(self) -> int:
        """Activations whose count is not zero."""
        return int(self.freq[self.values != 0].sum())

    def events(self, coding: str, T: int) -> int:
        """Spike events of all activations under ``coding`` in a window of ``T`` steps."""
        return int((self.freq * _events_per_value(self, coding, T)).sum())

    def spiking_channels(self, coding: str, T: int) -> int:
        """Activations that emit at least one spike (the rows a held-row dataflow reads)."""
        return int(self.freq[_events_per_value(self, coding, T) > 0].sum())

    def groups_per_token(self, lanes: int) -> int:
        return -(-self.out_features // lanes)


def _events_per_value(p: Projection, coding: str, T: int) -> np.ndarray:
    if coding not in CODINGS:
        raise NeurosimError(f"unknown coding {coding!r}; choose one of {', '.join(CODINGS)}")
    v = p.values[p.freq > 0]
    if coding == "binary" and v.size and v.min() < 0:
        raise NeurosimError(f"{p.name}: the binary coding cannot carry negative counts (minimum {int(v.min())})")
    lim = count_range(coding, T)
    if v.size and (v.min() < lim[0] or v.max() > lim[1]):
        raise NeurosimError(f"{p.name}: counts {int(v.min())}..{int(v.max())} do not fit the {coding} window "
                            f"T={T} ({lim[0]}..{lim[1]})")
    return spike_counts_per_value(p.values, coding, T)


def _bits(n: int) -> int:
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


@dataclass
class Accesses:
    """Access counts of one projection under one dataflow (totals over all its token rows)."""

    dataflow: str
    groups: int                      # dot-product groups (token rows x ceil(N / lanes))
    busy_cycles: int                 # array cycles with an input
    weight_row_reads: int            # words of lanes x 8 bits
    weight_word_bits: int
    buffer_write_bits: int           # activation or spike buffer
    buffer_read_bits: int
    output_write_bits: int
    accumulator_updates: int         # lanes x busy cycles (inside the array's energy)
    notes: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _common(p: Projection, lanes: int, acc_w: int) -> tuple[int, int]:
    groups = p.tokens * p.groups_per_token(lanes)
    return groups, p.tokens * p.out_features * acc_w


def mac_dense(p: Projection, *, lanes: int = LANES, acc_w: int = 27) -> Accesses:
    """Dense INT8 MAC array: every group reads one weight row per input (K rows), zeros included;
    one activation per cycle; activations (8 bits) written once per token row, read once per group."""
    groups, out_bits = _common(p, lanes, acc_w)
    busy = groups * p.in_features
    return Accesses("mac_dense", groups, busy, busy, lanes * INT8_BITS,
                    p.activations * p.act_bits, busy * p.act_bits, out_bits, busy * lanes)


def mac_zero_skip(p: Projection, *, lanes: int = LANES, acc_w: int = 27) -> Accesses:
    """Zero-skipping INT8 MAC array (the fair baseline): one weight row and one cycle per non-zero
    activation; the activation buffer holds (value, channel index) entries of the non-zero ones."""
    groups, out_bits = _common(p, lanes, acc_w)
    gpt = p.groups_per_token(lanes)
    entry = p.act_bits + _bits(p.in_features)
    busy = gpt * p.nonzero
    return Accesses("mac_zero_skip", groups, busy, busy, lanes * INT8_BITS,
                    p.nonzero * entry, busy * entry, out_bits, busy * lanes, {"entry_bits": entry})


def _spike(name: str, p: Projection, coding: str, T: int | None, lanes: int, acc_w: int, rows_per: str) -> Accesses:
    T = (p.window or INT8_WINDOW[coding]) if T is None else int(T)
    groups, out_bits = _common(p, lanes, acc_w)
    gpt = p.groups_per_token(lanes)
    ev = p.events(coding, T)
    step_bits = _bits(T) if coding in ("bitwise", "bitwise_2c") else 0       # unary steps all weigh 1
    entry = _bits(p.in_features) + step_bits + (1 if coding in ("ternary", "bitwise") else 0)
    busy = gpt * ev
    rows = gpt * (p.spiking_channels(coding, T) if rows_per == "channel" else ev)
    return Accesses(name, groups, busy, rows, lanes * INT8_BITS, ev * entry, busy * entry, out_bits,
                    busy * lanes, {"coding": coding, "T": T, "entry_bits": entry, "events": ev})


def spike_barrel_held(p: Projection, *, coding: str = "bitwise", T: int | None = None, lanes: int = LANES,
                      acc_w: int = 27) -> Accesses:
    """Spiking array, barrel (shift-by-step) form, channel-major order: the weight row of a channel
    is read once and held in a register while all of that channel's spikes are accumulated (each
    shifted by its step), so one row per non-zero channel; one spike event per cycle.
    Unary codings (ternary, binary) have no shift and use the same held-row order."""
    return _spike("spike_barrel_held", p, coding, T, lanes, acc_w, "channel")


def spike_barrel_per_event(p: Projection, *, coding: str = "bitwise", T: int | None = None,
                           lanes: int = LANES, acc_w: int = 27) -> Accesses:
    """Spiking array, barrel form in time-step-major order (no held row): one weight row per event."""
    return _spike("spike_barrel_per_event", p, coding, T, lanes, acc_w, "event")


def spike_horner(p: Projection, *, coding: str = "bitwise", T: int | None = None, lanes: int = LANES,
                 acc_w: int = 27) -> Accesses:
    """Spiking array, Horner form (``acc = 2 acc + sum of the step's spikes``): steps must be taken in
    order across all channels, so a channel's row cannot be held across its steps: one weight row per
    event; one event per cycle (the doubling between steps is folded into the accumulator update)."""
    return _spike("spike_horner", p, coding, T, lanes, acc_w, "event")


def accesses(p: Projection, dataflow: str, **kw) -> Accesses:
    """Dispatch by dataflow name (one of :data:`DATAFLOWS`)."""
    fn = {"mac_dense": mac_dense, "mac_zero_skip": mac_zero_skip, "spike_barrel_held": spike_barrel_held,
          "spike_barrel_per_event": spike_barrel_per_event, "spike_horner": spike_horner}.get(dataflow)
    if fn is None:
        raise NeurosimError(f"unknown dataflow {dataflow!r}; choose one of {', '.join(DATAFLOWS)}")
    if dataflow.startswith("mac"):
        kw = {k: v for k, v in kw.items() if k not in ("coding", "T")}
    return fn(p, **kw)


def projections_from_trace(trace) -> list[Projection]:
    """Every projection of a trace folder (``summary.json`` + ``stats.npz``), in layer order."""
    from neurosim.run.trace import read_histograms, read_summary
    summary = read_summary(trace)
    hists = read_histograms(trace)
    out = []
    for layer in summary.get("layers", []):
        for pr in layer.get("projections", []):
            name = pr["name"]
            if name not in hists:
                raise NeurosimError(f"{trace}: stats.npz has no histogram for {name}")
            v, f = hists[name]
            out.append(Projection(name, int(pr["in_features"]), int(pr["out_features"]), int(pr["tokens"]),
                                  v, f, layer=int(layer.get("layer", 0)), kind=str(pr.get("kind", ""))))
    if not out:
        raise NeurosimError(f"{trace}: the trace has no projections")
    return out


__all__ = ["Projection", "Accesses", "DATAFLOWS", "INT8_BITS", "mac_dense", "mac_zero_skip",
           "spike_barrel_held", "spike_barrel_per_event", "spike_horner", "accesses",
           "projections_from_trace"]
