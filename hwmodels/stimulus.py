"""Stimulus for the gate-level simulations: real activations and weights as cycle-by-cycle inputs.

Source data (``counts`` [M, K] integer activations, ``w_int`` [N, K] INT8 weights, the spike
coding and window T): trace tiles (``--trace OUT`` reads ``OUT/tiles/*.npz``) or, without a trace,
seeded synthetic data: Gaussian activations with a few outlier channels (a known property of LLM
activations) quantized per token with ``neurosim.core.quant.quantize_activations``
(absmax INT8) and Gaussian weights quantized per channel with ``quantize_weights``.

Streams (one dot product per token row, every row's first cycle has ``clear``, its last ``last``):

* MAC: one INT8 activation ``a = counts[m, k]`` per cycle broadcast to the lanes, lane i's weight
  ``w_int[i, k]``.
* spike (barrel variant): one event per cycle, only the non-zero spikes of ``encode(counts)``, in
  time-step order (MSB first) then input order: ``neg`` = spike < 0, ``sh`` = the step's shift
  ``T-1-t``, lane i's weight ``w_int[i, k]``.

After each row ``idle`` cycles with ``valid=0`` and every operand held at its last value (as the
upstream registers would). Cycles are classed active (an event in the unit's pipeline: valid in
the last ``latency`` cycles) or idle, to measure each class's energy separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.rtl.protocol import as_entry, frame, idle_cycle, mac_events, port_streams, spike_events

ACTIVE, IDLE = 0, 1


@dataclass
class Source:
    """Stimulus data: counts [M, K], the weights of each row [M, N, K], coding, window T, spikes [T, M,
    K], where they came from, and (trace tiles) the tile of each row."""
    counts: np.ndarray          # int64 [M, K]
    w_int: np.ndarray           # int64 [M, N, K]: the weights each row is multiplied with
    coding: str
    T: int
    spikes: np.ndarray          # int8 [T, M, K]
    origin: str                 # where the data came from
    row_tile: np.ndarray | None = None      # int [M]: index into ``tiles`` of each row (trace tiles)
    tiles: list[str] = field(default_factory=list)      # tile file names
    whole_tiles: dict = field(default_factory=dict)     # statistics of the whole tiles the rows come from

    @property
    def spikes_per_activation(self) -> float:
        """Non-zero spikes per activation of the source."""
        return float(np.count_nonzero(self.spikes) / self.counts.size)

    @property
    def zero_share(self) -> float:
        """Fraction of the source's activations that are zero (no spike at all)."""
        return float(np.count_nonzero(self.counts == 0) / self.counts.size)

    def stats(self) -> dict:
        """Spikes per activation and zero share of the streamed sample (and of the whole tiles)."""
        out: dict = {"spikes_per_activation": self.spikes_per_activation, "zero_share": self.zero_share,
               "activations": int(self.counts.size), "rows": int(self.counts.shape[0]),
               "tiles": len(self.tiles)}
        if self.whole_tiles:
            out["whole_tiles"] = self.whole_tiles
        return out


def synthetic_source(rows: int, k: int, lanes: int, coding: str = "bitwise", T: int | None = 7,
                     seed: int = 0, k_full: int = 2560) -> Source:
    """Seeded Gaussian data through the project's quantizers and spike coder.

    Each token row has ``k_full`` (the SpB2.0 hidden size) activations and is quantized per token
    over all of them, as in the model; the first ``k`` inputs are streamed. (With this distribution
    a full row gives about 1.66 spikes per activation, near what SmolLM2-135M gives with absmax
    INT8.)"""
    from neurosim.core.coding import encode
    from neurosim.core.quant import quantize_activations, quantize_weights
    rng = np.random.default_rng(seed)
    kf = max(k, k_full)
    x = rng.standard_normal((rows, kf)).astype(np.float32)
    outl = rng.choice(kf, size=max(1, kf // 50), replace=False)   # 2% outlier channels, x8
    x[:, outl] *= 8.0
    aq = quantize_activations(x, scale="absmax")
    w = (rng.standard_normal((lanes, kf)) * 0.02).astype(np.float32)
    wq = quantize_weights(w)
    counts = aq.counts.astype(np.int64)[:, :k]
    spikes = encode(counts, coding, T)
    w_rows = np.broadcast_to(wq.w_int.astype(np.int64)[:, :k], (rows, lanes, k)).copy()
    return Source(counts, w_rows, coding, int(spikes.shape[0]), spikes,
                  f"synthetic: seed {seed}, Gaussian N(0,1) rows of {kf} with 2% outlier channels x8, "
                  f"absmax INT8 per token, first {k} inputs streamed, "
                  f"weights N(0,0.02) INT8 per channel, {coding} T={int(spikes.shape[0])}")


def tile_source(trace_dir: str | Path, rows: int, k: int, lanes: int, coding: str, seed: int = 0) -> Source:
    """Rows taken round-robin from every tile under ``trace_dir/tiles`` (or ``trace_dir``) with the
    wanted coding, in the tiles' (sampled, stratified) name order: row r is row r // n_tiles of tile
    r % n_tiles, ``k`` consecutive inputs from a seeded random offset in that row, the first ``lanes``
    weight rows of that tile (so the stream visits every sampled layer and projection kind once
    ``rows >= n_tiles``)."""
    from neurosim.run.tiles import list_tiles, read_tile
    d = Path(trace_dir)
    tdir = d / "tiles" if (d / "tiles").is_dir() else d
    paths = list_tiles(tdir) if tdir.is_dir() else []
    if not paths:
        raise NeurosimError(f"no trace tiles (*.npz) under {tdir}: run 'neurosim run --trace {d}' first")
    tiles = []
    for p in paths:
        t = read_tile(p)
        if str(t["coding"]) != coding:
            continue
        if np.asarray(t["w_int"]).shape[0] < lanes:
            raise NeurosimError(f"tile {p.name} has {np.asarray(t['w_int']).shape[0]} output channels, "
                                f"fewer than {lanes} lanes")
        if np.abs(np.asarray(t["counts"])).max() > 127:
            raise NeurosimError(f"tile {p.name}: counts exceed INT8, the MAC baseline cannot take them")
        tiles.append((p, t))
    if not tiles:
        raise NeurosimError(f"no trace tile with coding {coding!r} under {tdir}")
    Ts = {int(t["T"]) for _, t in tiles}
    if len(Ts) != 1:
        raise NeurosimError(f"trace tiles have different windows T {sorted(Ts)}")
    T = Ts.pop()
    kk = min([k] + [np.asarray(t["counts"]).shape[1] for _, t in tiles])
    rng = np.random.default_rng(seed)
    cnt, wts, spk, used, row_tile = [], [], [], [], []
    for r in range(rows):
        j = r % len(tiles)
        p, t = tiles[j]
        i = r // len(tiles)
        c = np.asarray(t["counts"], np.int64)
        if i >= c.shape[0]:
            break
        k0 = int(rng.integers(0, c.shape[1] - kk + 1))
        cols = slice(k0, k0 + kk)
        cnt.append(c[i, cols])
        wts.append(np.asarray(t["w_int"], np.int64)[:lanes, cols])
        spk.append(np.asarray(t["spikes"])[:, i, cols])
        used.append(f"{p.name}[{i}, {k0}:]")
        row_tile.append(j)
    all_counts = np.concatenate([np.asarray(t["counts"]).ravel() for _, t in tiles])
    all_spikes = sum(int(np.count_nonzero(t["spikes"])) for _, t in tiles)
    whole = {"spikes_per_activation": all_spikes / all_counts.size,
             "zero_share": float(np.count_nonzero(all_counts == 0) / all_counts.size),
             "activations": int(all_counts.size), "tiles": len(tiles)}
    return Source(np.stack(cnt), np.stack(wts), coding, T, np.stack(spk, axis=1),
                  f"trace tiles under {tdir}: {len(tiles)} tiles, {len(used)} rows of {kk} inputs at seeded "
                  f"offsets (seed {seed}), {lanes} lanes; whole tiles: {whole['spikes_per_activation']:.3f} "
                  "spikes per activation",
                  np.asarray(row_tile, np.int64), [p.name for p, _ in tiles], whole)


def recode(src: Source, coding: str) -> Source:
    """The same rows and weights as ``src`` in another spike coding, at its INT8 window
    (``neurosim.core.coding.INT8_WINDOW``). The binary coding carries no sign: it gets the
    magnitudes ``|counts|`` (same events per activation as ternary)."""
    from neurosim.core.coding import INT8_WINDOW, encode
    if coding == src.coding:
        return src
    counts = np.abs(src.counts) if coding == "binary" else src.counts
    T = INT8_WINDOW[coding]
    spikes = encode(counts, coding, T)
    return Source(counts, src.w_int, coding, T, spikes,
                  src.origin + f"; re-encoded {coding} T={T}" + (" from |counts|" if coding == "binary" else ""),
                  src.row_tile, src.tiles, src.whole_tiles)


@dataclass
class Stream:
    """Per-cycle values of every input port (reset and drain values apart), the class of each cycle
    (active/idle), the last row's expected accumulators, events and activations."""
    inputs: dict[str, list[int]]
    reset: dict[str, int]
    drain: dict[str, int]
    cycle_class: np.ndarray
    expected_last_row: list[int]      # per lane: the last row's dot product
    events: int                       # MAC: activations; spike: non-zero spikes
    activations: int                  # activations processed (rows x inputs)
    info: dict = field(default_factory=dict)
    cycle_group: np.ndarray | None = None   # per cycle: the tile (Source.row_tile) of the row it belongs to
    group_activations: list[int] = field(default_factory=list)   # activations per tile


def _classes(valid: list[int], latency: int) -> np.ndarray:
    v = np.array(valid, dtype=np.int64)
    c = np.convolve(v, np.ones(latency + 1, dtype=np.int64))[: len(v)]
    return np.where(c > 0, ACTIVE, IDLE).astype(np.int64)


def build_stream(src: Source, design: str, manifest: dict, idle: int | None = None) -> Stream:
    """Cycle-by-cycle inputs for one lane array described by its manifest entry.

    Each token row is one dot product sequenced by :mod:`neurosim.rtl.protocol` (MAC: one activation
    per cycle; spiking unit: one event per non-zero spike; a row without spikes is left out), then
    ``idle`` cycles (default: the latency + 4, at least the design's gap) with every operand held."""
    entry = as_entry(manifest)
    if design != entry.design:
        raise NeurosimError(f"stream for a {design} array given the manifest of {entry.top}")
    lanes, lat = entry.lanes, entry.latency
    idle = max(entry.gap, lat + 4) if idle is None else max(idle, entry.gap)
    M, K = src.counts.shape
    cycles: list[dict] = []
    group: list[int] = []
    last_m = None
    for m in range(M):
        W = src.w_int[m, :lanes, :]
        if design == "mac":
            row = mac_events(src.counts[m], W)
        else:
            row = spike_events(src.spikes[:, m, :], src.coding, entry.variant, W)
            if not any(c["valid"] for c in row):
                continue
        n0 = len(cycles)
        cycles += frame(row) + [idle_cycle() for _ in range(idle)]
        group += [int(src.row_tile[m]) if src.row_tile is not None else 0] * (len(cycles) - n0)
        last_m = m
    if last_m is None:
        raise NeurosimError("the stimulus has no spike event at all")
    inputs = port_streams(entry, cycles)
    reset = {p: 0 for p in inputs}
    if "valid" in reset:
        reset["valid"] = 1          # registers without reset load the zero operands during reset
    drain = {p: 0 for p in inputs}          # valid=0: nothing more is accumulated
    if "w" in drain and inputs["w"]:
        drain["w"] = inputs["w"][-1]
    # each row restarts the accumulators: they end with the last row's dot product
    exp = [int(src.counts[last_m] @ src.w_int[last_m, i]) for i in range(lanes)]
    valid = inputs["valid"]
    n_groups = len(src.tiles) if src.row_tile is not None else 1
    per = np.bincount(src.row_tile, minlength=n_groups) * K if src.row_tile is not None else np.array([M * K])
    return Stream(inputs, reset, drain, _classes(valid, lat), exp, int(sum(valid)), M * K,
                  {"rows": M, "inputs": K, "idle_after_row": idle}, np.asarray(group, np.int64),
                  [int(x) for x in per])
