"""Event-driven integer accumulation: the golden integer model of a spiking linear layer.

``spike_linear`` computes ``W_int @ s`` for a batch of token rows event by event: every non-zero
spike of input channel k at time step t adds (or subtracts) the INT8 weight column ``W[:, k]`` into
the accumulator of step t's group; the groups are combined at the end with their step weights
(shifts: 2^e, negative for the two's complement sign step). Zero spikes cause no work. No multiply
is used anywhere. ``int_linear`` is the dense exact reference (int64 accumulation).

Layout: weights are packed once into output tiles ``[n_tiles, K, cols]`` (W transposed per tile,
up to MAX_TILE columns, a multiple of 64), so each event is one contiguous vector add. Events are
ordered by (input chunk, row, step, sign; built in :mod:`neurosim.core.events`): a tile's chunk of
K_BUDGET bytes of weights stays in L2 while every token row uses it; tiles run in parallel. Sixteen
events of one (row, step) are summed in int16 registers per pass (one accumulator update per 16
events); partial sums are int16 and flushed (shifted by the step weight) into the output before
they could overflow (at most 255 events of |w| <= 128 each).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from neurosim import NeurosimError
from neurosim.core.coding import check_coding, resolve_steps, step_weights
from neurosim.core.events import events_from_counts, events_from_spikes
from neurosim.core.fast import pack_tiles

#: Most output columns per weight tile (int8 bytes); wide tiles amortise each event's overhead, and a
#: limit above 1024 lets common widths split into equal unpadded tiles (9728 = 8 x 1216, not 10 x 1024
#: with 512 padded columns): 1.2x faster on the engine benchmark's headline row.
MAX_TILE = 1280
#: Bytes of one tile's weights per input chunk: about the L2 cache of one core (512 KiB here).
K_BUDGET = 1 << 19
#: Events accumulated in int16 before flushing: 255 * 128 < 2**15.
FLUSH = 255
_MODES = {"binary": 0, "ternary": 0, "bitwise": 1, "bitwise_2c": 2}




@dataclass(frozen=True)
class SpikeLinearResult:
    """Output of :func:`spike_linear`."""

    out: np.ndarray  #: int32 (when provably wide enough) or int64, [..., out_features]
    events: int  #: non-zero spikes consumed (one input spike = one event)
    accumulates: int  #: events * out_features: one add/sub of one INT8 weight each
    dense_macs: int  #: tokens * in_features * out_features of the dense INT8 GEMM


class PackedWeights:
    """INT8 weights ``[out, in]`` packed for the engine (weight-stationary: pack once, reuse)."""

    def __init__(self, w_int: np.ndarray):
        w = _check_weights(w_int)
        self.w_int = w
        self.out_features, self.in_features = w.shape
        N = self.out_features
        # Equal tiles of at most MAX_TILE columns (multiples of 64), at least one per thread.
        n_tiles = max(-(-N // MAX_TILE), min(nb.get_num_threads(), -(-N // 64)))
        cols = -(-(-(-N // n_tiles)) // 64) * 64
        n_tiles = -(-N // cols)
        self.tiles = pack_tiles(w, n_tiles, cols)  # [n_tiles, K, cols], zero-padded columns
        #: Input channels per chunk (events are ordered chunk by chunk).
        self.k_chunk = max(16, K_BUDGET // cols)


def check_int8_codes(codes, name: str = "weights") -> np.ndarray:
    """``codes`` as int8, refusing (never wrapping) values outside [-128, 127].

    An int8 array passes unchanged; another integer array is converted when every code fits, else a
    one-line :class:`NeurosimError` names the tensor, how many codes are out of range and the extremes
    (clamp them when quantizing, e.g. :func:`neurosim.core.quant.quantize_weights`, instead)."""
    w = np.asarray(codes)
    if w.dtype == np.int8:
        return w
    if w.dtype.kind not in "iu":
        raise NeurosimError(f"{name} must be int8 codes, got dtype {w.dtype}")
    bad = (w < -128) | (w > 127)
    if bad.any():
        raise NeurosimError(
            f"{name}: {int(bad.sum())} code(s) outside INT8 [-128, 127] (min {int(w.min())}, max "
            f"{int(w.max())}); they would wrap: clamp them when quantizing")
    return w.astype(np.int8)


def _check_weights(w_int, name: str = "weights") -> np.ndarray:
    """The products' weights: an int8 [out, in] array (other dtypes are refused; integer codes
    outside INT8 are named as such, never wrapped)."""
    w = np.asarray(w_int)
    if w.dtype != np.int8:
        if w.dtype.kind in "iu":
            check_int8_codes(w, name)       # names codes that would wrap
        raise NeurosimError(f"{name} must be int8 [out, in], got dtype {w.dtype}")
    if w.ndim != 2 or 0 in w.shape:
        raise NeurosimError(f"{name} must be a non-empty 2-D [out, in] matrix, got shape {w.shape}")
    return w


def _check_counts(counts, in_features: int) -> np.ndarray:
    c = np.asarray(counts)
    if c.dtype.kind not in "iu":
        raise NeurosimError(f"activation counts must be integers, got dtype {c.dtype}")
    if c.ndim < 1 or c.shape[-1] != in_features:
        raise NeurosimError(
            f"activation shape {c.shape} does not match weight in_features {in_features}"
        )
    return c


def int_linear(counts, w_int) -> np.ndarray:
    """Dense exact integer reference: int64 ``counts @ w_int.T``, shape [..., out]."""
    w = _check_weights(w_int)
    c = _check_counts(counts, w.shape[1])
    # float64 BLAS is exact while every partial sum stays below 2^53; otherwise integer matmul.
    bound = float(np.abs(c).max(initial=0)) * 128.0 * w.shape[1]
    if bound < 2.0**53:
        return (c.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
    return c.astype(np.int64) @ w.T.astype(np.int64)


def spike_linear(x, w_int, coding: str, T: int | None = None, *, spikes: bool = False,
                 lists: dict | None = None) -> SpikeLinearResult:
    """Event-driven integer product of token rows with INT8 weights ``[out, in]``.

    ``x`` holds integer counts ``[..., in]`` (encoded on the fly, no spike tensor is built), or with
    ``spikes=True`` a spike train ``[T, ..., in]`` as produced by :func:`neurosim.core.coding.encode`.
    ``T`` is the window for counts (``None``: derived from the data). ``w_int`` may be a
    :class:`PackedWeights` to skip packing. Equals :func:`int_linear` exactly.
    ``lists``: for counts only, a dict the caller keeps with *these* counts (never with others):
    the event lists built for them are stored there and reused by a later product of the same
    counts with other weights (projections that share their input, e.g. q/k/v).
    """
    check_coding(coding)
    packed = w_int if isinstance(w_int, PackedWeights) else PackedWeights(w_int)
    K, N = packed.in_features, packed.out_features
    if spikes:
        s = np.asarray(x)
        if s.dtype != np.int8 or s.ndim < 2 or s.shape[-1] != K:
            raise NeurosimError(f"spike train must be int8 [T, ..., {K}], got {s.dtype} {s.shape}")
        allowed = (0, 1) if coding in ("binary", "bitwise_2c") else (-1, 0, 1)
        if not np.isin(s, allowed).all():
            raise NeurosimError(f"{coding} spikes must take values in {allowed}")
        T = s.shape[0]
        lead = s.shape[1:-1]
        planes = np.ascontiguousarray(s.reshape(T, -1, K))
        unary = coding in ("binary", "ternary")
        ptr, ev_k = events_from_spikes(planes, unary, packed.k_chunk)
        max_abs = T if unary else (1 << T)
    else:
        c = _check_counts(x, K)
        T = resolve_steps(c, coding, T)
        lead = c.shape[:-1]
        # int8..int64 counts go in as they are (one compiled kernel per dtype); others as int64
        dt = c.dtype if c.dtype in (np.int8, np.int16, np.int32, np.int64) else np.int64
        key = (_MODES[coding], T, min(packed.k_chunk, K))  # chunks of K or more: one chunk
        if lists is not None and key in lists:
            ptr, ev_k, max_abs = lists[key]
        else:
            rows = np.ascontiguousarray(c.reshape(-1, K), dtype=dt)
            ptr, ev_k = events_from_counts(rows, key[0], T, key[2])
            max_abs = max(-int(rows.min(initial=0)), int(rows.max(initial=0)))
            if lists is not None:
                lists[key] = ptr, ev_k, max_abs
    weights = np.ones(1, np.int64) if coding in ("binary", "ternary") else step_weights(coding, T)
    negs = (weights < 0).astype(np.int8)  # magnitudes are 2^(G-1-g): the kernel folds by Horner
    M = int(np.prod(lead, dtype=np.int64))
    # |out| <= K * 128 * max|count|: int32 whenever that provably fits.
    out_dtype = np.int32 if K * 128 * max(max_abs, 1) < 2**31 else np.int64
    out = np.zeros((M, N), dtype=out_dtype)
    if M:
        tot = np.empty(packed.tiles.shape[::2], dtype=out_dtype)
        _accumulate(ptr, ev_k, negs, packed.tiles, out, tot)
    events = int(len(ev_k))
    return SpikeLinearResult(
        out=out.reshape(lead + (N,)),
        events=events,
        accumulates=events * N,
        dense_macs=M * K * N,
    )


@nb.njit(cache=True, inline="always")
def _sum_events(acc16, W, ev_k, e, b, neg):
    """acc16 (+/-)= sum of the weight rows W[ev_k[e:b]] (int16 lanes; the caller bounds b - e)."""
    NT = acc16.shape[0]
    i = e
    while i + 16 <= b:
        r0, r1, r2, r3 = ev_k[i], ev_k[i + 1], ev_k[i + 2], ev_k[i + 3]
        r4, r5, r6, r7 = ev_k[i + 4], ev_k[i + 5], ev_k[i + 6], ev_k[i + 7]
        q0, q1, q2, q3 = ev_k[i + 8], ev_k[i + 9], ev_k[i + 10], ev_k[i + 11]
        q4, q5, q6, q7 = ev_k[i + 12], ev_k[i + 13], ev_k[i + 14], ev_k[i + 15]
        if neg:
            for j in range(NT):
                acc16[j] -= (((W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])) + (
                    (W[r4, j] + W[r5, j]) + (W[r6, j] + W[r7, j]))) + (
                    ((W[q0, j] + W[q1, j]) + (W[q2, j] + W[q3, j])) + (
                    (W[q4, j] + W[q5, j]) + (W[q6, j] + W[q7, j])))
        else:
            for j in range(NT):
                acc16[j] += (((W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])) + (
                    (W[r4, j] + W[r5, j]) + (W[r6, j] + W[r7, j]))) + (
                    ((W[q0, j] + W[q1, j]) + (W[q2, j] + W[q3, j])) + (
                    (W[q4, j] + W[q5, j]) + (W[q6, j] + W[q7, j])))
        i += 16
    if i + 8 <= b:
        r0, r1, r2, r3 = ev_k[i], ev_k[i + 1], ev_k[i + 2], ev_k[i + 3]
        r4, r5, r6, r7 = ev_k[i + 4], ev_k[i + 5], ev_k[i + 6], ev_k[i + 7]
        if neg:
            for j in range(NT):
                acc16[j] -= ((W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])) + (
                    (W[r4, j] + W[r5, j]) + (W[r6, j] + W[r7, j]))
        else:
            for j in range(NT):
                acc16[j] += ((W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])) + (
                    (W[r4, j] + W[r5, j]) + (W[r6, j] + W[r7, j]))
        i += 8
    if i + 4 <= b:
        r0, r1, r2, r3 = ev_k[i], ev_k[i + 1], ev_k[i + 2], ev_k[i + 3]
        if neg:
            for j in range(NT):
                acc16[j] -= (W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])
        else:
            for j in range(NT):
                acc16[j] += (W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])
        i += 4
    if i + 2 <= b:
        r0, r1 = ev_k[i], ev_k[i + 1]
        if neg:
            for j in range(NT):
                acc16[j] -= W[r0, j] + W[r1, j]
        else:
            for j in range(NT):
                acc16[j] += W[r0, j] + W[r1, j]
        i += 2
    if i < b:
        r0 = ev_k[i]
        if neg:
            for j in range(NT):
                acc16[j] -= W[r0, j]
        else:
            for j in range(NT):
                acc16[j] += W[r0, j]


@nb.njit(cache=True)
def _fold(acc16, tot, neg, shift):
    """tot = (tot << shift) (+/-) acc16 (a Horner step over the groups, MSB first), then acc16 = 0."""
    if neg:
        for j in range(tot.shape[0]):
            tot[j] = (tot[j] << shift) - acc16[j]
    else:
        for j in range(tot.shape[0]):
            tot[j] = (tot[j] << shift) + acc16[j]
    acc16[:] = 0


@nb.njit(parallel=True, cache=True)
def _accumulate(ptr, ev_k, negs, tiles, out, tot):
    """out[m, :] = sum over groups g of (+/-) acc_g * 2^(G-1-g), by Horner's rule; ``out`` starts at
    zero, ``tot`` is scratch [n_tiles, cols] of out's dtype.

    Per tile (in parallel) and input chunk (its weights stay in L2 while every row uses them), the
    events of one (row, group) are summed into int16 lanes sixteen at a time (one accumulator
    update per 16 events), the negative segment subtracted into the same lanes, and folded into
    the row's total (shifted one step per group) at most every FLUSH events, before int16 could
    overflow. Group weights are 2^(G-1-g) (bitwise codings; G = 1 for the unary ones), negative
    where ``negs[g]`` (the two's complement sign step). Integer wrap-around of partial sums is
    harmless: the result provably fits ``out``'s dtype and all arithmetic is modular.
    """
    n_tiles, K, NT = tiles.shape
    M, N = out.shape
    G = negs.shape[0]
    n_chunks = (ptr.shape[0] - 1) // (M * G * 2)
    for ti in nb.prange(n_tiles):
        n0 = ti * NT
        nt = min(NT, N - n0)
        W = tiles[ti]
        acc16 = np.zeros(NT, np.int16)
        t = tot[ti]
        for kc in range(n_chunks):
            for m in range(M):
                t[:] = 0
                owed = 0  # shifts owed to t: groups passed since its last fold
                for g in range(G):
                    sub = negs[g] != 0
                    base = ((kc * M + m) * G + g) * 2
                    filled = 0
                    for s in range(2):
                        e = ptr[base + s]
                        b = ptr[base + s + 1]
                        while e < b:
                            take = min(b - e, FLUSH - filled)
                            _sum_events(acc16, W, ev_k, e, e + take, s == 1)
                            filled += take
                            e += take
                            if filled == FLUSH or e == b and (s == 1 or ptr[base + 2] == b):
                                _fold(acc16, t, sub, owed)
                                owed = 0
                                filled = 0
                    owed += 1
                row = out[m, n0:n0 + nt]
                sh = owed - 1
                for j in range(nt):
                    row[j] += t[j] << sh
