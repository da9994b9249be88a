"""Event-driven integer accumulation: the golden integer model of a spiking linear layer.

``spike_linear`` computes ``W_int @ s`` for a batch of token rows event by event: every non-zero
spike of input channel k at time step t adds (or subtracts) the INT8 weight column ``W[:, k]`` into
the accumulator of step t's group; the groups are combined at the end with their step weights
(shifts: 2^e, negative for the two's complement sign step). Zero spikes cause no work. No multiply
is used anywhere. ``int_linear`` is the dense exact reference (int64 accumulation).

Layout: weights are packed once into output tiles ``[n_tiles, K, TILE]`` (W transposed per tile),
so each event is one contiguous vector add and a tile stays in cache while every token row uses it;
tiles run in parallel. Partial sums are int16 and flushed (shifted by the step weight) into int64
before they could overflow (at most 255 events of |w| <= 128 each), which halves the bytes of every
add compared with int32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from neurosim import NeurosimError
from neurosim.core.coding import check_coding, resolve_steps, step_weights

#: Output columns per weight tile (int8 bytes; 4 cache lines).
TILE = 256
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
        n_tiles = -(-self.out_features // TILE)
        padded = np.zeros((n_tiles * TILE, self.in_features), dtype=np.int8)
        padded[: self.out_features] = w
        self.tiles = np.ascontiguousarray(
            padded.reshape(n_tiles, TILE, self.in_features).transpose(0, 2, 1)
        )


def _check_weights(w_int) -> np.ndarray:
    w = np.asarray(w_int)
    if w.dtype != np.int8:
        raise NeurosimError(f"weights must be int8 [out, in], got dtype {w.dtype}")
    if w.ndim != 2 or 0 in w.shape:
        raise NeurosimError(f"weights must be a non-empty 2-D [out, in] matrix, got shape {w.shape}")
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


def spike_linear(x, w_int, coding: str, T: int | None = None, *, spikes: bool = False) -> SpikeLinearResult:
    """Event-driven integer product of token rows with INT8 weights ``[out, in]``.

    ``x`` holds integer counts ``[..., in]`` (encoded on the fly, no spike tensor is built), or with
    ``spikes=True`` a spike train ``[T, ..., in]`` as produced by :func:`neurosim.core.coding.encode`.
    ``T`` is the window for counts (``None``: derived from the data). ``w_int`` may be a
    :class:`PackedWeights` to skip packing. Equals :func:`int_linear` exactly.
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
        ptr, ev_k = _events_from_spikes(planes, unary)
        n_groups = 1 if unary else T
        max_abs = T if unary else (1 << T)
    else:
        c = _check_counts(x, K)
        T = resolve_steps(c, coding, T)
        lead = c.shape[:-1]
        rows = np.ascontiguousarray(c.reshape(-1, K), dtype=np.int64)
        ptr, ev_k = _events_from_counts(rows, _MODES[coding], T)
        n_groups = 1 if _MODES[coding] == 0 else T
        max_abs = int(np.abs(rows).max(initial=0))
    weights = np.ones(1, np.int64) if n_groups == 1 else step_weights(coding, T)
    shifts = np.array([int(abs(int(v))).bit_length() - 1 for v in weights], dtype=np.int64)
    negs = (weights < 0).astype(np.int8)
    M = (len(ptr) - 1) // (2 * n_groups)
    # |out| <= K * 128 * max|count|: int32 whenever that provably fits.
    out_dtype = np.int32 if K * 128 * max(max_abs, 1) < 2**31 else np.int64
    out = np.empty((M, N), dtype=out_dtype)
    if M:
        _accumulate(ptr, ev_k, shifts, negs, packed.tiles, out)
    events = int(len(ev_k))
    return SpikeLinearResult(
        out=out.reshape(lead + (N,)),
        events=events,
        accumulates=events * N,
        dense_macs=M * K * N,
    )


@nb.njit(cache=True)
def _walk_row(row, m, mode, T, G, pos, ev_k, write):
    """Walk the events of token row m: each event advances ``pos[seg]`` of its segment and, when
    ``write``, stores its input index at ``ev_k[pos[seg]]`` first (one walk counts, one fills)."""
    mask = (np.int64(1) << T) - 1
    for k in range(row.shape[0]):
        c = row[k]
        if c == 0:
            continue
        neg = 1 if (c < 0 and mode != 2) else 0
        if mode == 0:
            seg = (m * G) * 2 + neg
            for _ in range(abs(c)):
                if write:
                    ev_k[pos[seg]] = k
                pos[seg] += 1
        else:
            v = abs(c) if mode == 1 else (c & mask)
            b = 0
            while v:  # set bits only: bit b belongs to step T-1-b
                if v & 1:
                    seg = (m * G + T - 1 - b) * 2 + neg
                    if write:
                        ev_k[pos[seg]] = k
                    pos[seg] += 1
                v >>= 1
                b += 1


@nb.njit(parallel=True, cache=True)
def _events_from_counts(counts, mode, T):
    """Event lists of integer counts [M, K]: (ptr, input index per event).

    Events are grouped by (row m, group g, sign): segment ``(m*G + g)*2 + (0 if + else 1)`` spans
    ``ev_k[ptr[seg]:ptr[seg+1]]``. mode 0: unary (binary/ternary), one group, |c| events of sign(c);
    mode 1: sign-magnitude bitwise, group t gets bit T-1-t of |c| with sign(c); mode 2: two's
    complement, group t gets bit T-1-t of the T-bit pattern, always positive. Rows are independent
    (disjoint segments), so both walks run in parallel over rows.
    """
    M, K = counts.shape
    G = 1 if mode == 0 else T
    sizes = np.zeros(M * G * 2, np.int64)
    none = np.empty(0, np.int32)
    for m in nb.prange(M):
        _walk_row(counts[m], m, mode, T, G, sizes, none, False)
    ptr = np.zeros(M * G * 2 + 1, np.int64)
    ptr[1:] = np.cumsum(sizes)
    ev_k = np.empty(ptr[-1], np.int32)
    fill = ptr[:-1].copy()
    for m in nb.prange(M):
        _walk_row(counts[m], m, mode, T, G, fill, ev_k, True)
    return ptr, ev_k


@nb.njit(cache=True)
def _events_from_spikes(planes, unary):
    """Event lists (as in :func:`_events_from_counts`) of a spike train [T, M, K].

    Unary codings (binary, ternary) merge all steps into one group; -1 spikes go to the negative
    segment.
    """
    T, M, K = planes.shape
    G = 1 if unary else T
    cnt = np.zeros(M * G * 2 + 1, np.int64)
    for t in range(T):
        for m in range(M):
            g = m * G + (0 if unary else t)
            for k in range(K):
                v = planes[t, m, k]
                if v != 0:
                    cnt[g * 2 + (1 if v < 0 else 0) + 1] += 1
    ptr = np.cumsum(cnt)
    ev_k = np.empty(ptr[-1], np.int32)
    fill = ptr[:-1].copy()
    for t in range(T):
        for m in range(M):
            g = m * G + (0 if unary else t)
            for k in range(K):
                v = planes[t, m, k]
                if v != 0:
                    seg = g * 2 + (1 if v < 0 else 0)
                    ev_k[fill[seg]] = k
                    fill[seg] += 1
    return ptr, ev_k


@nb.njit(parallel=True, cache=True)
def _accumulate(ptr, ev_k, shifts, negs, tiles, out):
    """out[m, :] = sum over groups g and signs of (+/-)(acc << shift_g).

    acc is the int16 sum of the weight columns of up to FLUSH events of one (row, group, sign)
    segment; sixteen (then eight) columns are summed per pass so the accumulator is touched once per 16 events.
    """
    n_tiles, K, NT = tiles.shape
    M, N = out.shape
    G = shifts.shape[0]
    for ti in nb.prange(n_tiles):
        n0 = ti * NT
        nt = min(NT, N - n0)
        W = tiles[ti]
        acc16 = np.zeros(NT, np.int16)
        total = np.zeros(NT, np.int64)
        for m in range(M):
            total[:] = 0
            for seg in range(m * G * 2, (m + 1) * G * 2):
                g = (seg // 2) % G
                sh = shifts[g]
                subtract = (seg % 2 == 1) != (negs[g] != 0)
                e = ptr[seg]
                b = ptr[seg + 1]
                while e < b:
                    stop = min(b, e + FLUSH)
                    acc16[:] = 0
                    i = e
                    while i + 16 <= stop:
                        r0, r1, r2, r3 = ev_k[i], ev_k[i + 1], ev_k[i + 2], ev_k[i + 3]
                        r4, r5, r6, r7 = ev_k[i + 4], ev_k[i + 5], ev_k[i + 6], ev_k[i + 7]
                        q0, q1, q2, q3 = ev_k[i + 8], ev_k[i + 9], ev_k[i + 10], ev_k[i + 11]
                        q4, q5, q6, q7 = ev_k[i + 12], ev_k[i + 13], ev_k[i + 14], ev_k[i + 15]
                        for j in range(NT):
                            acc16[j] += (((W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])) + (
                                (W[r4, j] + W[r5, j]) + (W[r6, j] + W[r7, j]))) + (
                                ((W[q0, j] + W[q1, j]) + (W[q2, j] + W[q3, j])) + (
                                (W[q4, j] + W[q5, j]) + (W[q6, j] + W[q7, j])))
                        i += 16
                    while i + 8 <= stop:
                        r0, r1, r2, r3 = ev_k[i], ev_k[i + 1], ev_k[i + 2], ev_k[i + 3]
                        r4, r5, r6, r7 = ev_k[i + 4], ev_k[i + 5], ev_k[i + 6], ev_k[i + 7]
                        for j in range(NT):
                            acc16[j] += ((W[r0, j] + W[r1, j]) + (W[r2, j] + W[r3, j])) + (
                                (W[r4, j] + W[r5, j]) + (W[r6, j] + W[r7, j])
                            )
                        i += 8
                    while i < stop:
                        r0 = ev_k[i]
                        for j in range(NT):
                            acc16[j] += W[r0, j]
                        i += 1
                    if subtract:
                        for j in range(NT):
                            total[j] -= np.int64(acc16[j]) << sh
                    else:
                        for j in range(NT):
                            total[j] += np.int64(acc16[j]) << sh
                    e = stop
            for j in range(nt):
                out[m, n0 + j] = total[j]
