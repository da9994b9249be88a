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
that also carries the integers behind ``y``. A :class:`neurosim.run.recorder.Recorder` wraps a
projection, forwards every call and, while ``recording``, gathers per-projection spike statistics,
count histograms and the hardware tiles of the trace. :mod:`neurosim.run.backends` selects the
projections of a device by name (these on the CPU, :mod:`neurosim.run.torch_fidelity`'s on cuda).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol, runtime_checkable

import numpy as np

from neurosim.core.coding import INT8_WINDOW, count_histogram, count_range, resolve_steps
from neurosim.core.dense import dense_linear, exact_linear, exact_product, float32_weights
from neurosim.core.engine import PackedWeights, spike_linear
from neurosim.core.gemv import FEW_ROWS, few_rows_linear
from neurosim.core.quant import ActQuant, WeightQuant, dequant_linear, quantize_activations, quantize_weights

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
    "projection_kinds",
]


def name_matches(pattern: str, name: str) -> bool:
    """Whether weight name ``name`` matches ``pattern``: fnmatch when it has a wildcard, else as a
    substring (``down_proj`` matches every down_proj weight)."""
    if not any(ch in pattern for ch in "*?["):
        return pattern in name
    return fnmatch.fnmatchcase(name, pattern)


def window_levels(coding: str, T: int) -> int:
    """Largest |count| a window of T steps holds (the top of :func:`neurosim.core.coding.count_range`):
    bitwise 2^T - 1, bitwise_2c 2^(T-1) - 1, ternary T."""
    return count_range(coding, T)[1]


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
        if self.scale == "absmax":
            return T, T, L, L
        assert self.clamp is not None             # window_for with adaptive scaling needs a clamp
        return T, T, min(L, self.clamp), L


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


@runtime_checkable
class Projection(Protocol):
    """The projection interface: ``__call__(name, x, w) -> y`` (the model's ``linear`` hook),
    ``product(name, x, w) -> Product``, and the weight-cache hooks the model calls (``holds``,
    ``bind_model``). The fidelities below subclass it and implement :meth:`product`."""

    mode: str = "?"  #: the fidelity's name (``fp``, ``int8``, ``spike``)

    def selected(self, name: str) -> bool:
        """Whether the projection ``name`` (a weight tensor name) runs in this fidelity."""
        return True

    def product(self, name: str, x: np.ndarray, w: np.ndarray) -> Product:
        """The output ``y`` [S, out] of ``x`` [S, in] times ``w`` [out, in].T, with its integers if any."""
        raise NotImplementedError

    def holds(self, name: str) -> bool:
        """Whether the projection already keeps what it derives from weight ``name`` (the model then
        passes ``w=None``); a float projection keeps nothing."""
        return False

    def bind_model(self, model) -> None:
        """Called by ``Model.forward`` with the model whose weights the calls carry (no-op here)."""

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
        self._last_input: tuple | None = None

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
FIDELITIES: dict[str, Callable[..., Projection]] = {"fp": FloatProjection, "int8": Int8Projection,
                                                    "spike": SpikeProjection}


def projection_kinds(model) -> dict[str, str]:
    """Every block projection weight name of ``model`` -> its layer kind, in the order the model calls them."""
    return {nm: model.layer_kind(i) for i in range(model.n_layers) for nm in model.projection_names(i)}
