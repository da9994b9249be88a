"""Fidelity as one interface: the block projections ``y = x @ w.T`` in float, INT8 or spiking arithmetic,
and a recorder that observes them.

As Lava selects a floating-point or a bit-accurate model of one process, a run selects one
implementation of :class:`Projection` for every selected block projection of the model:

* :class:`FloatProjection` (mode ``fp``): ``x @ w.T`` in the model's float dtype;
* :class:`Int8Projection` (``int8``): activations quantized per token row (absmax or adaptive
  threshold), weights per output channel (or per group of inputs), the exact dense integer product
  at BLAS speed :func:`neurosim.core.dense.exact_linear`, one dequantization;
* :class:`SpikeProjection` (``spike``): the same integers through the event-driven engine
  :func:`neurosim.core.engine.spike_linear` (``engine="event"``, the default) or the exact dense
  path :func:`neurosim.core.dense.dense_linear` (``engine="dense"``: same integers, events counted
  from the counts). All feed identical integers to the same dequantization, so int8 and spike
  outputs are bit-identical.

A projection is the model's ``linear`` hook: ``projection(name, x, w) -> y`` with ``x`` [S, in] and
``w`` [out, in] in the model's dtype. ``projection.product(name, x, w)`` returns a :class:`Product`
that also carries the integers behind ``y``. A :class:`Recorder` wraps a projection, forwards every
call and, while ``recording``, gathers per-projection spike statistics, count histograms and the
hardware tiles of the trace.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from neurosim.core.coding import INT8_WINDOW, count_histogram, fits, histogram_stats, resolve_steps
from neurosim.core.dense import dense_linear, exact_linear, exact_product, float32_weights, spike_events
from neurosim.core.engine import PackedWeights, spike_linear
from neurosim.core.fast import histogram_silent
from neurosim.core.gemv import FEW_ROWS, few_rows_linear
from neurosim.core.quant import ActQuant, WeightQuant, dequant_linear, quantize_activations, quantize_weights
from neurosim.defaults import LANES
from neurosim.run.tiles import tile_rows, write_tile

__all__ = [
    "count_histogram",
    "name_matches",
    "window_levels",
    "Quantization",
    "Product",
    "Projection",
    "FloatProjection",
    "QuantizedProjection",
    "Int8Projection",
    "SpikeProjection",
    "FIDELITIES",
    "projection_for",
    "projection_kinds",
    "projection_record",
    "write_request_tile",
    "Recorder",
]


def name_matches(pattern: str, name: str) -> bool:
    """Whether weight name ``name`` matches ``pattern``: fnmatch when it has a wildcard, else as a
    substring (``down_proj`` matches every down_proj weight)."""
    if not any(ch in pattern for ch in "*?["):
        return pattern in name
    return fnmatch.fnmatchcase(name, pattern)


def window_levels(coding: str, T: int) -> int:
    """Largest |count| a window of T steps holds: bitwise 2^T - 1, bitwise_2c 2^(T-1) - 1, ternary T."""
    if coding == "bitwise":
        return 2 ** T - 1
    if coding == "bitwise_2c":
        return 2 ** (T - 1) - 1
    return T


@dataclass(frozen=True)
class Quantization:
    """How the quantized fidelities turn a float projection into integers (see neurosim.core.quant)."""

    scale: str = "absmax"  #: activation quantizer: "absmax" (V = max|x|/127) or "adaptive"
    k: float = 3.0  #: adaptive threshold divisor, V_th = mean|x| / k
    clamp: int | None = 127  #: largest |count| (None: unbounded, adaptive only)
    weight_group: int | None = None  #: inputs per weight scale (None: one per output channel)
    coding: str = "bitwise"  #: spike coding of the counts (neurosim.core.coding.CODINGS)
    window: int | None = None  #: fixed spike window T in steps (None: derived per tensor)
    #: (pattern, T) pairs: projections whose name matches (:func:`name_matches`, first pair wins) use
    #: the fixed window T, and absmax then has ``window_levels(coding, T)`` levels instead of 127
    window_for: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_settings(cls, s) -> "Quantization":
        """The quantization fields of a :class:`neurosim.run.settings.Settings` (or an eval setting)."""
        return cls(scale=s.scale, k=s.k, clamp=s.clamp, weight_group=s.weight_group, coding=s.coding,
                   window=s.window, window_for=tuple((getattr(s, "window_for", None) or {}).items()))

    def plan(self, name: str) -> tuple[int | None, int, int | None, int]:
        """(T for the engine (None: derived), T of the fixed-window statistics, clamp, absmax levels)
        of projection ``name``: the run's window, or the longer one of its ``window_for`` pattern."""
        T = next((t for p, t in self.window_for if name_matches(p, name)), None)
        if T is None:
            return self.window, INT8_WINDOW[self.coding] if self.window is None else self.window, self.clamp, 127
        L = window_levels(self.coding, T)
        return T, T, L if self.scale == "absmax" else min(L, self.clamp), L


@dataclass(frozen=True)
class Product:
    """One projection call: the float output and, for the quantized fidelities, the integers behind it."""

    y: np.ndarray  #: float output [S, out], dtype of x
    acts: ActQuant | None = None  #: quantized activations (None: a float product)
    weights: WeightQuant | None = None  #: quantized weights (None: a float product)
    T: int | None = None  #: window of the spike coding, in time steps
    events: int | None = None  #: input spike events the engine processed (None: the engine did not run)

    @property
    def quantized(self) -> bool:
        """True when ``y`` came from integers (int8 or spike), False for a float product."""
        return self.acts is not None


class Projection:
    """The projection interface: ``__call__(name, x, w) -> y`` (the model's ``linear`` hook) and
    ``product(name, x, w) -> Product``. Subclasses implement :meth:`product`."""

    mode = "?"

    def selected(self, name: str) -> bool:
        """Whether the projection ``name`` (a weight tensor name) runs in this fidelity."""
        return True

    def product(self, name: str, x: np.ndarray, w: np.ndarray) -> Product:
        """The output ``y`` [S, out] of ``x`` [S, in] times ``w`` [out, in].T, with its integers if any."""
        raise NotImplementedError

    def __call__(self, name: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return self.product(name, x, w).y


class FloatProjection(Projection):
    """Float reference: ``x @ w.T`` in the model's dtype."""

    mode = "fp"

    def product(self, name: str, x: np.ndarray, w: np.ndarray) -> Product:
        """The float product; never quantized."""
        return Product(y=x @ w.T)


class QuantizedProjection(Projection):
    """Shared by int8 and spike: selection by name pattern, quantization, dequantization.

    Subclasses give the exact integer product in :meth:`integers`.
    """

    def __init__(self, quant: Quantization = Quantization(), projections: Iterable[str] = ("*",)):
        self.quant = quant
        self.projections = tuple(projections)
        #: None, or a dict name -> WeightQuant that keeps each weight's quantization after its first
        #: call (decoding calls every projection once per token; set only while the weights are fixed)
        self.weight_cache: dict | None = None
        #: None, or the per-model store of derived weights (:meth:`bind_model`): name -> dict of
        #: the WeightQuant and the forms the products use, kept across forward passes
        self.model_cache: dict | None = None
        #: (copy of the last input, its plan, its ActQuant): see :meth:`_activations`
        self._last_input = None

    def bind_model(self, model) -> None:
        """Called by ``Model.forward`` with the model whose weights the calls will carry: while the
        model's derived weights fit in MODEL_CACHE_BYTES, each weight is quantized (and converted
        for its product) once per model and reused by every later pass (``model.derived``)."""
        self.model_cache = None
        store = getattr(model, "derived", None)
        if store is None or not model_cache_fits(model):
            return
        self.model_cache = store.setdefault(("int8-weights", self.quant.weight_group), {})

    def weights(self, name: str, w: np.ndarray) -> dict:
        """The cache entry of weight ``name``: ``{"wq": WeightQuant, ...}`` (products add their forms)."""
        entry = next((c[name] for c in (self.weight_cache, self.model_cache) if c is not None and name in c), None)
        if entry is None:
            entry = {"wq": quantize_weights(w, group_size=self.quant.weight_group)}
        for cache in (self.weight_cache, self.model_cache):
            if cache is not None and name not in cache:
                cache[name] = entry
        return entry

    def _activations(self, x: np.ndarray, clamp, levels) -> ActQuant:
        """x's per-token quantization; the previous call's when x equals its input bit for bit
        (projections that share an input, q/k/v and gate/up, quantize it once; the kept copy of
        the input makes the reuse safe against in-place changes of x)."""
        last = self._last_input
        key = (clamp, levels, x.dtype, x.shape)
        if last is not None and last[1] == key and np.array_equal(last[0], x):
            return last[2]
        aq = quantize_activations(x, self.quant.scale, k=self.quant.k, clamp=clamp, levels=levels)
        self._last_input = (x.copy(), key, aq)
        return aq

    def holds(self, name: str) -> bool:
        """Whether weight ``name``'s quantization is already kept (weight or model cache): the model
        then skips reading the float weight and passes ``w=None`` (see docs/model.md)."""
        return self.selected(name) and any(c is not None and name in c
                                           for c in (self.weight_cache, self.model_cache))

    def selected(self, name: str) -> bool:
        """Whether ``name`` matches one of the fnmatch patterns ``projections`` (others stay float)."""
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.projections)

    def integers(self, counts: np.ndarray, w_int: np.ndarray, T: int) -> tuple[np.ndarray, int | None]:
        """Exact integer product ``counts @ w_int.T`` and the input spike events processed (or None)."""
        raise NotImplementedError

    def whole(self, entry: dict, aq: ActQuant, T: int) -> tuple[np.ndarray, int | None]:
        """The product of the whole input (one weight scale per channel) with the cached weight
        forms of ``entry``: the exact integers (any dtype that holds them exactly) and the events."""
        return self.integers(aq.counts, entry["wq"].w_int, T)

    def product(self, name: str, x: np.ndarray, w: np.ndarray) -> Product:
        """Quantize x per token and w per channel (or group), multiply exactly, dequantize to x's dtype."""
        if not self.selected(name):
            return Product(y=x @ w.T)
        q = self.quant
        T_engine, _, clamp, levels = q.plan(name)
        aq = self._activations(x, clamp, levels)
        entry = self.weights(name, w)
        wq = entry["wq"]
        # the window depends on the counts' range only (fits is an interval): resolve it on (lo, hi)
        rng = aq.counts if aq.count_range is None else np.asarray(aq.count_range, dtype=np.int64)
        T = resolve_steps(rng, q.coding, T_engine)
        events = []
        if wq.group_size is None and aq.counts.ndim == 2 and aq.counts.shape[1] == wq.w_int.shape[1]:
            from neurosim.core.fast import dequant_rows

            acc, ev = self.whole(entry, aq, T)
            y = dequant_rows(acc, aq.scale, wq.scale[:, 0])
            return Product(y=y.astype(x.dtype, copy=False), acts=aq, weights=wq, T=T, events=ev)

        def product(counts, w_int):  # called once per weight group
            out, ev = self.integers(counts, w_int, T)
            events.append(ev)
            return out

        y = dequant_linear(aq, wq, product)
        total = None if None in events else sum(events)
        return Product(y=y.astype(x.dtype, copy=False), acts=aq, weights=wq, T=T, events=total)


class Int8Projection(QuantizedProjection):
    """Dense INT8: :func:`neurosim.core.dense.exact_linear` (no events counted while multiplying)."""

    mode = "int8"

    def integers(self, counts, w_int, T):
        """``exact_linear(counts, w_int)``; no events (the recorder counts them from the counts).
        Up to FEW_ROWS rows (a decode step) the same integers come from ``few_rows_linear``,
        which streams the INT8 weights instead of converting them to float32 on every call."""
        if counts.size <= FEW_ROWS * counts.shape[-1]:
            return few_rows_linear(counts, w_int), None
        return exact_linear(counts, w_int), None

    def whole(self, entry, aq, T):
        """The exact integers as float32 BLAS gives them (float32 ``w_int.T`` cached per weight);
        a decode step's few rows stream the INT8 codes instead (``few_rows_linear``)."""
        if aq.counts.shape[0] <= FEW_ROWS:
            return few_rows_linear(aq.counts, entry["wq"].w_int), None
        wt = entry.get("wt32")
        if wt is None:
            wt = entry["wt32"] = float32_weights(entry["wq"].w_int)
        rng = aq.count_range
        max_abs = None if rng is None else max(-rng[0], rng[1])
        return exact_product(aq.counts, entry["wq"].w_int, wt32=wt, max_abs=max_abs), None


class SpikeProjection(QuantizedProjection):
    """Spiking: :func:`neurosim.core.engine.spike_linear` in the window T (``engine="event"``) or
    :func:`neurosim.core.dense.dense_linear` (``"dense"``); both equal int8 exactly, same events."""

    mode = "spike"

    def __init__(self, quant: Quantization = Quantization(), projections: Iterable[str] = ("*",),
                 engine: str = "event"):
        super().__init__(quant, projections)
        #: (counts, their event lists by window and chunking): shared by products of one input
        self._lists = None
        if engine not in ("event", "dense"):
            raise ValueError(f"engine must be 'event' or 'dense', got {engine!r}")
        self.engine = engine

    def integers(self, counts, w_int, T):
        """The product in the window ``T`` (steps): the same integers, and the events consumed."""
        f = spike_linear if self.engine == "event" else dense_linear
        r = f(counts, w_int, self.quant.coding, T)
        return r.out, r.events

    def whole(self, entry, aq, T):
        """The event-driven product with the weights packed once per weight (``PackedWeights``)."""
        if self.engine != "event":
            return self.integers(aq.counts, entry["wq"].w_int, T)
        packed = entry.get("packed")
        if packed is None:
            packed = entry["packed"] = PackedWeights(entry["wq"].w_int)
        if self._lists is None or self._lists[0] is not aq.counts:  # event lists kept per counts
            self._lists = (aq.counts, {})
        r = spike_linear(aq.counts, packed, self.quant.coding, T, lists=self._lists[1])
        return r.out, r.events


#: Largest model (bytes of derived weights, about 6 per parameter: INT8 codes, float32 transposed
#: codes or packed tiles) whose quantized weights a projection keeps across passes (bind_model).
MODEL_CACHE_BYTES = 1 << 30


def model_cache_fits(model) -> bool:
    """Whether ``model``'s derived weights fit in :data:`MODEL_CACHE_BYTES` (its config's parameter
    count; a model that keeps its float weights anyway always does)."""
    if getattr(model, "keep_weights", False):
        return True
    try:
        from neurosim.model.config import count_parameters

        return count_parameters(model.model_config) * 6 <= MODEL_CACHE_BYTES
    except Exception:
        return False


#: mode -> implementation
FIDELITIES: dict[str, type[Projection]] = {"fp": FloatProjection, "int8": Int8Projection, "spike": SpikeProjection}


def projection_for(s):
    """The projection of a :class:`neurosim.run.settings.Settings` (its mode, quantization, patterns,
    engine); with ``device`` cuda the torch forward's (:mod:`neurosim.run.torch_fidelity`)."""
    if getattr(s, "device", "cpu") == "cuda":  # the torch forward's projections (lazy: PyTorch)
        from neurosim.run.torch_fidelity import torch_projection_for

        return torch_projection_for(s)
    if s.mode == "fp":
        return FloatProjection()
    q = Quantization.from_settings(s)
    if s.mode == "spike":
        return SpikeProjection(q, s.projections, engine=s.engine or "event")
    return FIDELITIES[s.mode](q, s.projections)


def projection_kinds(model) -> dict[str, str]:
    """Every block projection weight name of ``model`` -> its layer kind, in the order the model calls them."""
    return {nm: model.layer_kind(i) for i in range(model.n_layers) for nm in model.projection_names(i)}


def projection_record(name: str, kind: str, values, freq, *, quant: Quantization, in_features: int,
                      out_features: int, silent_channels: int, clamped: int, weight_clamped: int,
                      events: int | None = None) -> dict:
    """The trace record of one quantized projection call, from the histogram of its INT8 counts
    (``values``, ``freq``: :func:`neurosim.core.coding.count_histogram`) and the number of its input
    channels that are zero in every row: :func:`neurosim.core.coding.histogram_stats` in the
    projection's hardware window (``quant.plan(name)``; None when a count does not fit), plus name,
    kind, sizes, clamps, the engine's window ``T_engine`` and its work. ``events``: the events the
    engine consumed (None: counted from the histogram, as the dense path does)."""
    q = quant
    T_engine, hw = q.plan(name)[:2]
    T = resolve_steps(values, q.coding, T_engine)
    if events is None:
        events = spike_events(values, q.coding, T, freq=freq)
    stats_T = hw if bool(fits(values, q.coding, hw).all()) else None
    st = histogram_stats(values, freq, q.coding, stats_T, channels=in_features, silent_channels=silent_channels)
    tokens = st["activations"] // in_features
    st.update(
        name=name,
        kind=kind,
        in_features=in_features,
        out_features=out_features,
        tokens=tokens,
        clamped=int(clamped),
        weight_clamped=int(weight_clamped),
        T_engine=T,
        events=int(events),
        accumulates=int(events) * out_features,
        dense_macs=tokens * in_features * out_features,
    )
    return st


class Recorder:
    """The model's ``linear`` hook around a projection: forwards every call and, while ``recording``,
    keeps per-projection statistics (``records``), count histograms (``histograms``) and writes the
    requested hardware tiles.

    kinds: weight name -> layer kind (:func:`projection_kinds`). tiles: weight name -> tile file stem
    (:func:`neurosim.run.tiles.choose_tiles`), written under ``tiles_out``. source: the model label
    recorded in each tile. Only quantized products are recorded; a float projection records nothing.
    keep_counts: also keep each recorded projection's INT8 counts (``counts``: name -> array), to
    compare runs count by count. lean: a lean recording mode, ``lean(name, product) -> record`` makes
    each record (no histograms, no tiles).
    """

    def __init__(self, projection: Projection, kinds: dict[str, str], *, tiles: dict[str, str] | None = None,
                 tiles_out: Path | None = None, source: str = "smollm2-135m-instruct", keep_counts: bool = False,
                 lean: Callable[[str, Product], dict] | None = None):
        self.lean = lean
        self.projection = projection
        self.kinds = kinds
        self.recording = True
        self.records: dict[str, dict] = {}
        self.histograms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.tile_requests = dict(tiles or {})
        self.tiles_out = Path(tiles_out) if tiles_out is not None else None
        self.tiles_written: list[str] = []
        self.source = source
        self.keep_counts = keep_counts
        self.counts: dict[str, np.ndarray] = {}
        self._histogram = None  # (counts, histogram_silent of them): the last recorded input's

    @property
    def mode(self) -> str:
        """The mode of the wrapped projection."""
        return self.projection.mode

    def selected(self, name: str) -> bool:
        """Whether the wrapped projection runs ``name`` in its fidelity."""
        return self.projection.selected(name)

    def holds(self, name: str) -> bool:
        """Whether the wrapped projection already holds ``name``'s derived weights (it gets w=None)."""
        holds = getattr(self.projection, "holds", None)
        return holds is not None and holds(name)

    def bind_model(self, model) -> None:
        """Passes ``Model.forward``'s model on to the projection (see QuantizedProjection.bind_model)."""
        bind = getattr(self.projection, "bind_model", None)
        if bind is not None:
            bind(model)

    def ordered_records(self) -> list[dict]:
        """The records in the model's call order (the order of ``kinds``)."""
        return [self.records[n] for n in self.kinds if n in self.records]

    def __call__(self, name: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        p = self.projection.product(name, x, w)
        if self.recording and p.quantized:
            if self.lean is not None:
                self.records[name] = self.lean(name, p)
            else:
                self._record(name, p)
        return p.y

    def _record(self, name: str, p: Product) -> None:
        q = self.projection.quant
        aq, wq = p.acts, p.weights
        c = aq.counts
        tokens, in_f = c.shape
        rng = aq.count_range or (None, None)
        if self._histogram is None or self._histogram[0] is not c:  # shared inputs share counts
            self._histogram = (c, histogram_silent(c, *rng))  # one pass: histogram + silent columns
        values, freq, silent = self._histogram[1]
        self.histograms[name] = (values, freq)
        if self.keep_counts:
            self.counts[name] = c
        # int8 did not run the engine: projection_record counts the events it would process
        self.records[name] = projection_record(
            name, self.kinds.get(name, "unknown"), values, freq, quant=q, in_features=in_f,
            out_features=wq.w_int.shape[0], silent_channels=silent, clamped=aq.clamped,
            weight_clamped=wq.clamped, events=p.events)
        if name in self.tile_requests and self.tiles_out is not None:
            rows = tile_rows(tokens)
            path = self.tiles_out / f"{self.tile_requests[name]}.npz"
            write_request_tile(path, name, c[rows], wq.w_int[:LANES], q, aq.scale[rows],
                               f"{self.source}:{name}:tokens{rows.start}+")
            self.tiles_written.append(path.name)


def write_request_tile(path: Path, name: str, counts: np.ndarray, w_lanes: np.ndarray, quant: Quantization,
                       scale: np.ndarray, source: str) -> None:
    """One requested hardware tile of the recorded projection ``name`` (:func:`neurosim.run.tiles.write_tile`):
    its token rows' counts and scales, the first lanes' weights, the engine's window for those rows."""
    write_tile(path, counts, w_lanes, quant.coding, T=resolve_steps(counts, quant.coding, quant.plan(name)[0]),
               scale=scale, source=source)
