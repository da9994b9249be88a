"""The recorders: the model's ``linear`` hook around a projection that keeps, while ``recording``,
per-projection spike statistics, count histograms and the hardware tiles of the trace
(:class:`Recorder`; the torch forward's is :class:`neurosim.run.torch_fidelity.TorchRecorder`), and the
trace record of one projection call (:func:`projection_record`) that both build."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from neurosim.core.coding import fits, histogram_stats, resolve_steps
from neurosim.core.dense import spike_events
from neurosim.core.fast import histogram_silent
from neurosim.defaults import LANES
from neurosim.run.fidelity import Product, Projection, QuantizedProjection, Quantization
from neurosim.run.tiles import tile_rows, write_tile

__all__ = ["projection_record", "write_request_tile", "RecorderBase", "Recorder"]


def projection_record(name: str, kind: str, values, freq, *, quant: Quantization, features: tuple[int, int],
                      silent_channels: int, clamped: int, weight_clamped: int, events: int | None = None) -> dict:
    """The trace record of one quantized projection call, from the histogram of its INT8 counts
    (``values``, ``freq``: :func:`neurosim.core.coding.count_histogram`) and the number of its input
    channels that are zero in every row: :func:`neurosim.core.coding.histogram_stats` in the
    projection's hardware window (``quant.plan(name)``; None when a count does not fit), plus name,
    kind, sizes (``features``: in, out), clamps, the engine's window ``T_engine`` and its work. ``events``:
    the events the engine consumed (None: counted from the histogram, as the dense path does)."""
    q = quant
    in_features, out_features = features
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


class RecorderBase:
    """What the recorders of both backends keep: the wrapped projection, the layer kinds, the records,
    histograms, tiles and counts (see :class:`Recorder`)."""

    def __init__(self, projection, kinds: dict[str, str], *, tiles: dict[str, str] | None = None,
                 tiles_out: Path | None = None, source: str = "smollm2-135m-instruct", keep_counts: bool = False):
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

    @property
    def mode(self) -> str:
        """The mode of the wrapped projection."""
        return self.projection.mode

    def selected(self, name: str) -> bool:
        """Whether the wrapped projection runs ``name`` in its fidelity."""
        return self.projection.selected(name)


class Recorder(RecorderBase):
    """The model's ``linear`` hook around a projection: forwards every call and, while ``recording``,
    keeps per-projection statistics (``records``), count histograms (``histograms``) and writes the
    requested hardware tiles.

    kinds: weight name -> layer kind (:func:`neurosim.run.fidelity.projection_kinds`). tiles: weight
    name -> tile file stem (:func:`neurosim.run.tiles.choose_tiles`), written under ``tiles_out``.
    source: the model label recorded in each tile. Only quantized products are recorded; a float
    projection records nothing. keep_counts: also keep each recorded projection's INT8 counts
    (``counts``: name -> array), to compare runs count by count. lean: the lean recording mode,
    ``lean(name, product) -> record`` makes each record (no histograms, counts or tiles).
    """

    def __init__(self, projection: Projection, kinds: dict[str, str], *, tiles: dict[str, str] | None = None,
                 tiles_out: Path | None = None, source: str = "smollm2-135m-instruct", keep_counts: bool = False,
                 lean: Callable[[str, Product], dict] | None = None):
        super().__init__(projection, kinds, tiles=tiles, tiles_out=tiles_out, source=source, keep_counts=keep_counts)
        self.projection: Projection = projection
        self.lean = lean
        self._histogram: tuple | None = None  # (counts, histogram_silent of them): the last recorded input's

    def holds(self, name: str) -> bool:
        """Whether the wrapped projection already holds ``name``'s derived weights (it gets w=None)."""
        return self.projection.holds(name)

    def bind_model(self, model) -> None:
        """Passes ``Model.forward``'s model on to the projection (see QuantizedProjection.bind_model)."""
        self.projection.bind_model(model)

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
        projection = self.projection
        assert isinstance(projection, QuantizedProjection), "only quantized products are recorded"
        q = projection.quant
        aq, wq = p.acts, p.weights
        assert aq is not None and wq is not None
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
            name, self.kinds.get(name, "unknown"), values, freq, quant=q, features=(in_f, wq.w_int.shape[0]),
            silent_channels=silent, clamped=aq.clamped, weight_clamped=wq.clamped, events=p.events)
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
