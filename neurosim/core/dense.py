"""Exact dense integer products at BLAS speed, with the spike events counted analytically.

``exact_linear(counts, w_int)`` equals :func:`neurosim.core.engine.int_linear` bit for bit but runs as
float32 BLAS: the input axis is cut into chunks of ``k_chunk`` channels so that every partial sum of
a chunk, at most ``max|count| * 128 * k_chunk``, stays below 2^24 where float32 holds every integer
exactly; the chunk products are summed exactly (float64 holds integers up to 2^53). Counts too large
for useful float32 chunks (``k_chunk < MIN_CHUNK``) use float64 BLAS in chunks below 2^53, and
beyond that int64 matmul. Exact by construction, never by tolerance.

``dense_linear(counts, w_int, coding, T)`` returns the same :class:`SpikeLinearResult` as the
event-driven :func:`neurosim.core.engine.spike_linear`: identical integers, and the events it would
consume counted from the counts (``spike_events``: |c| for the unary codings, popcount(|c|) for
bitwise, popcount of the T-bit two's complement pattern for bitwise_2c). It is the dense INT8 MAC
array's product, for int8 runs and for spike runs with ``--engine dense``.
"""

from __future__ import annotations

import numpy as np

from neurosim.core.coding import check_coding, resolve_steps, spike_counts_per_value
from neurosim.core.engine import SpikeLinearResult, _check_counts, _check_weights

__all__ = ["F32_EXACT", "F64_EXACT", "MIN_CHUNK", "dense_linear", "exact_chunk", "exact_linear", "exact_product",
           "float32_weights", "spike_events"]

#: float32 holds every integer of magnitude <= 2^24 exactly (24-bit significand).
F32_EXACT = 2**24
#: float64 holds every integer of magnitude <= 2^53 exactly.
F64_EXACT = 2**53
#: Shortest float32 chunk worth a BLAS call (input channels); shorter chunks use float64 BLAS.
MIN_CHUNK = 64


def exact_chunk(max_abs: int, limit: int = F32_EXACT) -> int:
    """Input channels per chunk so that ``max_abs * 128 * chunk <= limit`` (|w| <= 128)."""
    return limit // (max(int(max_abs), 1) * 128)


def exact_linear(counts, w_int, *, wt32=None, max_abs: int | None = None) -> np.ndarray:
    """Exact ``counts @ w_int.T`` ([..., in] integers times INT8 [out, in]), int32 when
    ``in * 128 * max|count| < 2^31`` (as the engine), else int64; equals ``int_linear``.

    wt32: optionally ``w_int.T`` as float32 [in, out] (:func:`float32_weights`, converted once per
    weight and reused); max_abs: ``max|counts|`` when known."""
    w = _check_weights(w_int)
    c = _check_counts(counts, w.shape[1])
    K = w.shape[1]
    if max_abs is None:
        max_abs = int(np.abs(c).max(initial=0))
    out_dtype = np.int32 if K * 128 * max(max_abs, 1) < 2**31 else np.int64
    total = exact_product(c, w, wt32=wt32, max_abs=max_abs)
    return total.astype(out_dtype, copy=False)


def float32_weights(w_int) -> np.ndarray:
    """``w_int.T`` as a contiguous float32 [in, out] array (exact: INT8 values), for ``wt32``."""
    return np.ascontiguousarray(_check_weights(w_int).T, dtype=np.float32)


def exact_product(counts, w_int, *, wt32=None, max_abs: int | None = None) -> np.ndarray:
    """The exact integers of ``counts @ w_int.T`` in whatever array holds them exactly: float32
    (one chunk), float64 (chunk sums below 2^53) or int64. :func:`exact_linear` casts them to its
    integer dtype; a dequantization can take them as they are (every value is an exact integer)."""
    w = _check_weights(w_int)
    c = _check_counts(counts, w.shape[1])
    K = w.shape[1]
    if max_abs is None:
        max_abs = int(np.abs(c).max(initial=0))
    rows = c.reshape(-1, K)
    shape = c.shape[:-1] + (w.shape[0],)
    chunk, ftype = exact_chunk(max_abs), np.float32
    if chunk < MIN_CHUNK:
        chunk, ftype = exact_chunk(max_abs, F64_EXACT), np.float64  # type: ignore[assignment]  # float64 fallback
        if chunk < 1:  # |count| >= 2^46: no float product is exact; int64 matmul (slow, exact)
            return (rows.astype(np.int64) @ w.T.astype(np.int64)).reshape(shape)
    # the whole sum stays exact in float64 while |sum| <= 2^53; otherwise sum the chunks as int64
    acc_type = np.float64 if K * 128 * max(max_abs, 1) <= F64_EXACT else np.int64
    cf = rows.astype(ftype)
    wt = wt32 if (wt32 is not None and ftype == np.float32) else w.T.astype(ftype)  # wt: [in, out]
    if chunk >= K:  # one chunk: the float product is exact as it is
        return (cf @ wt).reshape(shape)
    total: np.ndarray | None = None
    for a in range(0, K, chunk):
        part = (cf[:, a:a + chunk] @ wt[a:a + chunk]).astype(acc_type)
        total = part if total is None else total + part
    assert total is not None                  # K > chunk: at least one chunk
    return total.reshape(shape)


def spike_events(counts, coding: str, T: int, freq=None) -> int:
    """Non-zero spikes of ``counts`` in ``coding`` over a window of ``T`` steps (the engine's events).

    freq: None, or the frequency of each entry of ``counts`` (then ``counts`` are the distinct
    values of a count histogram, :func:`neurosim.core.coding.count_histogram`)."""
    per = spike_counts_per_value(counts, coding, T)
    return int(per.sum() if freq is None else (per * np.asarray(freq, dtype=np.int64)).sum())


def dense_linear(counts, w_int, coding: str, T: int | None = None) -> SpikeLinearResult:
    """What :func:`neurosim.core.engine.spike_linear` returns for integer counts, computed densely:
    ``out`` by :func:`exact_linear`, ``events`` by :func:`spike_events` (``T=None``: data-derived)."""
    check_coding(coding)
    w = _check_weights(w_int.w_int if hasattr(w_int, "w_int") else w_int)
    c = _check_counts(counts, w.shape[1])
    T = resolve_steps(c, coding, T)
    out = exact_linear(c, w)
    events = spike_events(c, coding, T)
    N, K = w.shape
    return SpikeLinearResult(out=out, events=events, accumulates=events * N,
                             dense_macs=int(np.prod(c.shape[:-1], dtype=np.int64)) * K * N)
