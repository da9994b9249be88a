"""Stimulus for the gate-level simulations: real activations and weights as cycle-by-cycle inputs.

Source data (``counts`` [M, K] integer activations, ``w_int`` [N, K] INT8 weights, the spike
coding and window T): trace tiles (``--trace OUT`` reads ``OUT/tiles/*.npz``) or, without a trace,
seeded synthetic data: Gaussian activations with a few outlier channels (a known property of LLM
activations; SPEC section 2) quantized per token with ``neurosim.core.quant.quantize_activations``
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

ACTIVE, IDLE = 0, 1


@dataclass
class Source:
    counts: np.ndarray          # int64 [M, K]
    w_int: np.ndarray           # int64 [M, N, K]: the weights each row is multiplied with
    coding: str
    T: int
    spikes: np.ndarray          # int8 [T, M, K]
    origin: str                 # where the data came from

    @property
    def spikes_per_activation(self) -> float:
        return float(np.count_nonzero(self.spikes) / self.counts.size)


def synthetic_source(rows: int, k: int, lanes: int, coding: str = "bitwise", T: int | None = 7,
                     seed: int = 0, k_full: int = 2560) -> Source:
    """Seeded Gaussian data through the project's quantizers and spike coder.

    Each token row has ``k_full`` (the SpB2.0 hidden size) activations and is quantized per token
    over all of them, as in the model; the first ``k`` inputs are streamed. (With this distribution
    a full row gives about 1.66 spikes per activation, near the 1.61 measured on SmolLM2-135M with
    absmax INT8, SPEC.md section 2.)"""
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


def tile_source(trace_dir: str | Path, rows: int, k: int, lanes: int, coding: str) -> Source:
    """Rows taken round-robin from every tile under ``trace_dir/tiles`` (or ``trace_dir``) with the
    wanted coding: row r is row r // n_tiles of tile r % n_tiles, first ``k`` inputs, first
    ``lanes`` weight rows of that tile (so the stream visits several layers and projections)."""
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
    cnt, wts, spk, used = [], [], [], []
    for r in range(rows):
        p, t = tiles[r % len(tiles)]
        i = r // len(tiles)
        c = np.asarray(t["counts"], np.int64)
        if i >= c.shape[0]:
            break
        cnt.append(c[i, :kk])
        wts.append(np.asarray(t["w_int"], np.int64)[:lanes, :kk])
        spk.append(np.asarray(t["spikes"])[:, i, :kk])
        used.append(f"{p.name}[{i}]")
    all_counts = np.concatenate([np.asarray(t["counts"]).ravel() for _, t in tiles])
    all_spikes = sum(int(np.count_nonzero(t["spikes"])) for _, t in tiles)
    src = Source(np.stack(cnt), np.stack(wts), coding, T, np.stack(spk, axis=1),
                 f"trace tiles under {tdir}: rows {', '.join(used)}; first {kk} inputs, {lanes} lanes; "
                 f"whole tiles: {all_spikes / all_counts.size:.3f} spikes per activation")
    return src


def _pack(w_col: np.ndarray) -> int:
    v = 0
    for i, x in enumerate(w_col):
        v |= (int(x) & 0xFF) << (8 * i)
    return v


@dataclass
class Stream:
    inputs: dict[str, list[int]]
    reset: dict[str, int]
    drain: dict[str, int]
    cycle_class: np.ndarray
    expected_last_row: list[int]      # per lane: the last row's dot product
    events: int                       # MAC: activations; spike: non-zero spikes
    activations: int                  # activations processed (rows x inputs)
    info: dict = field(default_factory=dict)


def _classes(valid: list[int], latency: int) -> np.ndarray:
    v = np.array(valid, dtype=np.int64)
    c = np.convolve(v, np.ones(latency + 1, dtype=np.int64))[: len(v)]
    return np.where(c > 0, ACTIVE, IDLE).astype(np.int64)


def build_stream(src: Source, design: str, manifest: dict, idle: int | None = None) -> Stream:
    """Cycle-by-cycle inputs for one lane array described by its manifest."""
    lanes = int(manifest["lanes"])
    ports = {p["name"] for p in manifest["ports"] if p["dir"] == "in"}
    lat = int(manifest.get("latency", 1))
    gap = int(manifest.get("gap", 0))
    idle = max(gap, lat + 4) if idle is None else max(idle, gap)
    M, K = src.counts.shape
    wcols_rows = [[_pack(src.w_int[m, :lanes, k]) for k in range(K)] for m in range(M)]
    cyc: dict[str, list[int]] = {p: [] for p in ports if p not in ("clk", "rst")}
    last_vals = {p: 0 for p in cyc}

    def emit(**vals):
        for p in cyc:
            if p in vals:
                last_vals[p] = vals[p]
            elif p in ("valid", "clear", "last", "step"):
                last_vals[p] = 0
            cyc[p].append(last_vals[p])
    events = 0
    for m in range(M):
        wcols = wcols_rows[m]
        if design == "mac":
            for k in range(K):
                emit(valid=1, clear=int(k == 0), last=int(k == K - 1), a=int(src.counts[m, k]), w=wcols[k])
                events += 1
        else:
            if "step" in ports:
                raise NeurosimError("Horner spike variant: stimulus not implemented (use the barrel variant)")
            evs = [(t, k) for t in range(src.T) for k in np.flatnonzero(src.spikes[t, m])]
            if not evs:
                continue
            for j, (t, k) in enumerate(evs):
                s = int(src.spikes[t, m, k])
                sh = src.T - 1 - t if src.coding in ("bitwise", "bitwise_2c") else 0
                vals = dict(valid=1, clear=int(j == 0), last=int(j == len(evs) - 1), w=wcols[k])
                if "neg" in cyc:
                    vals["neg"] = int(s < 0)
                if "sh" in cyc:
                    vals["sh"] = sh
                emit(**vals)
                events += 1
        for _ in range(idle):
            if "valid" in cyc or "a" not in cyc:
                emit()
            else:            # a MAC without 'valid' (reference design) idles on a zero activation
                emit(a=0)
    reset = {p: 0 for p in cyc}
    if "valid" in reset:
        reset["valid"] = 1          # registers without reset load the zero operands during reset
    drain = {p: 0 for p in cyc}          # valid=0 (or a=0): nothing more is accumulated
    if "w" in drain and cyc["w"]:
        drain["w"] = cyc["w"][-1]
    last_m = max(m for m in range(M) if design == "mac" or np.any(src.spikes[:, m]))
    if src.coding == "bitwise_2c" and design == "spike":
        raise NeurosimError("bitwise_2c stimulus not implemented")
    if "clear" in ports:     # each row restarts the accumulators: they end with the last row
        exp = [int(src.counts[last_m] @ src.w_int[last_m, i]) for i in range(lanes)]
    else:                    # reference designs accumulate every row
        exp = [int(sum(src.counts[m] @ src.w_int[m, i] for m in range(M))) for i in range(lanes)]
    busy = cyc["valid"] if "valid" in cyc else None
    if busy is None:     # no valid port: the activation cycles are the busy ones
        busy = ([1] * K + [0] * idle) * M
    return Stream(cyc, reset, drain, _classes(busy, lat), exp,
                  events, M * K, {"rows": M, "inputs": K, "idle_after_row": idle})


def decode_acc(value: int, lanes: int, acc_w: int) -> list[int]:
    out = []
    for i in range(lanes):
        v = (value >> (acc_w * i)) & ((1 << acc_w) - 1)
        out.append(v - (1 << acc_w) if v >> (acc_w - 1) else v)
    return out
