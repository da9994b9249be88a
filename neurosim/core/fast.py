"""One-pass numba kernels behind the numpy reference paths of the quantizers, the dequantization and
the count statistics; each gives bit-identical results to its numpy form (tests/test_fast.py checks
them against the references on random inputs, ties at .5, all-zero and tiny rows included).

* :func:`absmax_counts`: absmax quantization of each row (``max|x|`` in the input dtype widened to
  float64, divided by ``levels``, rounded to float32; ``x`` rounded to float32 and divided by the
  float32 scale in float32; ``rint`` half to even; clamp), reporting non-finite input instead of
  quantizing it;
* :func:`absmax_weights`: the same rule for weight rows (levels = clamp = 127, INT8 codes), rows in
  parallel: the per-channel weight quantizer of every int8/spike projection call;
* :func:`bf16_to_float32`: bf16 bit patterns widened to float32 (exact: a 16-bit shift) with the
  count of NaN/inf patterns, in one parallel pass (checkpoint loading);
* :func:`pack_tiles`: INT8 weights [N, K] transposed into the event engine's zero-padded output
  tiles [n_tiles, K, cols], 32 inputs at a time, tiles in parallel;
* :func:`dequant_rows`: ``float32(float64(acc) * float64(a_scale[m]) * float64(w_scale[n]))``, left
  to right as numpy evaluates ``acc * a * w``;
* :func:`histogram_silent`: the histogram of integer counts (``count_histogram``) and the number of
  input channels (columns) that are zero in every row, in one pass.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_TINY = np.float32(np.finfo(np.float32).tiny)


@nb.njit(cache=True, inline="always")
def _row_absmax(row):
    """(max |row| widened to float64 (exact), whether every value is finite) of one row."""
    amax = 0.0
    finite = True
    for j in range(row.shape[0]):
        a = abs(row[j])
        if not np.isfinite(a):
            finite = False
        elif a > amax:
            amax = a
    return amax, finite


@nb.njit(cache=True)
def _absmax_kernel(x, levels, clamp, counts, scale, tiny):
    """x [M, F] float32/float64 -> counts int32 [M, F], scale float32 [M]; returns (clamped,
    lo, hi, finite): lo/hi the smallest/largest count, finite False when x holds NaN/inf (then
    counts/scale are not meaningful)."""
    M, F = x.shape
    clamped = 0
    lo = 0
    hi = 0
    for m in range(M):
        amax, finite = _row_absmax(x[m])
        if not finite:
            return 0, 0, 0, False
        v = np.float64(amax) / levels
        v32 = np.float32(v)
        if v32 < tiny:  # not a normal float32 scale: the row quantizes to 0 with scale 1
            scale[m] = np.float32(1.0)
            for j in range(F):
                counts[m, j] = 0
            continue
        scale[m] = v32
        for j in range(F):
            q = np.rint(np.float32(x[m, j]) / v32)
            if q > clamp:
                q = np.float32(clamp)
                clamped += 1
            elif q < -clamp:
                q = np.float32(-clamp)
                clamped += 1
            c = np.int32(q)
            counts[m, j] = c
            if c < lo:
                lo = c
            if c > hi:
                hi = c
    return clamped, lo, hi, True


def absmax_counts(x: np.ndarray, levels: int, clamp: int):
    """(counts int32 x.shape, scale float32 x.shape[:-1] + (1,), clamped, lo, hi), or None when
    ``x`` holds NaN/inf (the caller raises its error). ``x``: float32 or float64, last axis features."""
    x2 = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    counts = np.empty(x2.shape, dtype=np.int32)
    scale = np.empty(x2.shape[0], dtype=np.float32)
    clamped, lo, hi, finite = _absmax_kernel(x2, float(levels), float(clamp), counts, scale, _TINY)
    if not finite:
        return None
    return (counts.reshape(x.shape), scale.reshape(x.shape[:-1] + (1,)), int(clamped), int(lo), int(hi))


@nb.njit(parallel=True, cache=True)
def _weights_kernel(w, codes, scale, bad, clamped, tiny):
    """w [N, K] float32 -> codes int8 [N, K], scale float32 [N]; per row: bad[n] when w[n] holds
    NaN/inf, clamped[n] the codes clamped to +/-127 (float rounding guard)."""
    N, K = w.shape
    for n in nb.prange(N):
        amax, finite = _row_absmax(w[n])
        bad[n] = not finite
        v32 = np.float32(np.float64(amax) / 127.0)
        if not finite or v32 < tiny:  # zero / tiny rows: scale 1, codes 0 (|w| < 127 tiny rounds to 0)
            scale[n] = np.float32(1.0)
            for j in range(K):
                codes[n, j] = 0
            continue
        scale[n] = v32
        c = 0
        for j in range(K):
            q = np.rint(w[n, j] / v32)
            if q > 127.0:
                q = np.float32(127.0)
                c += 1
            elif q < -127.0:
                q = np.float32(-127.0)
                c += 1
            codes[n, j] = np.int8(q)
        clamped[n] = c


def absmax_weights(w: np.ndarray):
    """(codes int8 [N, K], scale float32 [N, 1], clamped) of float32 weights [N, K] by
    :func:`neurosim.core.quant.quantize_weights`' per-channel rule, bit for bit; None when ``w``
    holds NaN/inf (the caller raises its error)."""
    w2 = np.ascontiguousarray(w, dtype=np.float32)
    N, K = w2.shape
    codes = np.empty((N, K), dtype=np.int8)
    scale = np.empty(N, dtype=np.float32)
    bad = np.zeros(N, dtype=np.bool_)
    clamped = np.zeros(N, dtype=np.int64)
    _weights_kernel(w2, codes, scale, bad, clamped, _TINY)
    if bad.any():
        return None
    return codes, scale.reshape(N, 1), int(clamped.sum())


_BF16_CHUNK = 1 << 16


@nb.njit(parallel=True, cache=True)
def _bf16_kernel(bits, out, bad):
    n = bits.shape[0]
    for c in nb.prange(bad.shape[0]):
        nb_ = 0
        for i in range(c * _BF16_CHUNK, min(n, (c + 1) * _BF16_CHUNK)):
            b = np.uint32(bits[i])
            out[i] = b << np.uint32(16)
            nb_ += (b & np.uint32(0x7F80)) == np.uint32(0x7F80)  # exponent all ones: NaN or inf
        bad[c] = nb_


def bf16_to_float32(bits: np.ndarray):
    """(float32 array of bits' shape, number of NaN/inf values) of bf16 bit patterns (uint16)."""
    flat = np.ascontiguousarray(bits).reshape(-1)
    out = np.empty(flat.shape[0], dtype=np.uint32)
    bad = np.zeros(-(-flat.shape[0] // _BF16_CHUNK), dtype=np.int64)
    _bf16_kernel(flat, out, bad)
    return out.view(np.float32).reshape(bits.shape), int(bad.sum())


@nb.njit(parallel=True, cache=True)
def _pack_kernel(w, tiles):
    n_tiles, K, cols = tiles.shape
    N = w.shape[0]
    for t in nb.prange(n_tiles):
        n_end = min(cols, N - t * cols)  # columns past it are padding
        for k0 in range(0, K, 32):
            k1 = min(k0 + 32, K)
            for j in range(n_end):          # rows of w read 32 bytes at a time
                n = t * cols + j
                for k in range(k0, k1):
                    tiles[t, k, j] = w[n, k]
            for k in range(k0, k1):
                tiles[t, k, n_end:] = 0


def pack_tiles(w: np.ndarray, n_tiles: int, cols: int) -> np.ndarray:
    """int8 [n_tiles, K, cols]: ``tiles[t, k, j] = w[t * cols + j, k]``, zero past row N."""
    w2 = np.ascontiguousarray(w)
    tiles = np.empty((n_tiles, w2.shape[1], cols), dtype=w2.dtype)
    _pack_kernel(w2, tiles)
    return tiles


@nb.njit(cache=True)
def _dequant_kernel(acc, a, w, out):
    M, N = acc.shape
    for m in range(M):
        am = np.float64(a[m])
        for n in range(N):
            out[m, n] = np.float32(np.float64(acc[m, n]) * am * np.float64(w[n]))


def dequant_rows(acc: np.ndarray, a_scale: np.ndarray, w_scale: np.ndarray) -> np.ndarray:
    """float32 ``acc * a_scale * w_scale`` in float64 (acc [..., N] exact integers of any dtype,
    a_scale [..., 1], w_scale [N]), rounded once to float32: numpy's
    ``(acc.astype(f64) * a.astype(f64) * w.astype(f64)).astype(f32)`` bit for bit."""
    N = acc.shape[-1]
    acc2 = np.ascontiguousarray(acc).reshape(-1, N)
    out = np.empty(acc2.shape, dtype=np.float32)
    _dequant_kernel(acc2, np.ascontiguousarray(a_scale).reshape(-1), np.ascontiguousarray(w_scale).reshape(-1), out)
    return out.reshape(acc.shape)


@nb.njit(cache=True)
def _hist_kernel(c, lo, freq, colnz):
    M, K = c.shape
    for m in range(M):
        for k in range(K):
            v = c[m, k]
            freq[v - lo] += 1
            if v != 0:
                colnz[k] = True


def histogram_silent(c: np.ndarray, lo: int | None = None, hi: int | None = None):
    """(values, freq, silent): ``count_histogram(c)`` (ascending int64 values that occur, their
    int64 frequencies) and the number of columns of ``c`` [..., K] that are zero in every row.
    lo/hi: c's minimum and maximum when known. Falls back to numpy for wide ranges."""
    from neurosim.core.coding import count_histogram

    c2 = np.ascontiguousarray(c).reshape(-1, c.shape[-1])
    if lo is None or hi is None:
        lo, hi = int(c2.min()), int(c2.max())
    if hi - lo > 1 << 20 or c2.dtype.kind not in "iu":
        values, freq = count_histogram(c2)
        return values, freq, int((c2 == 0).all(axis=0).sum())
    freq = np.zeros(hi - lo + 1, dtype=np.int64)
    colnz = np.zeros(c2.shape[1], dtype=np.bool_)
    _hist_kernel(c2, np.int64(lo), freq, colnz)
    nz = np.flatnonzero(freq)
    return (nz + lo).astype(np.int64), freq[nz], int(c2.shape[1] - colnz.sum())
