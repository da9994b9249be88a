"""Spike codings: integer counts <-> spike trains of T time steps (the SpikingBrain codings).

A spike train has shape ``[T, *counts.shape]`` and dtype int8; step ``t`` carries weight
``step_weights(coding, T)[t]`` and ``decode`` is ``sum_t weight[t] * spikes[t]``.

* ``binary``     {0,1}: unary code of a non-negative count; T = max count.
* ``ternary``    {-1,0,1}: unary code of |s| carrying the sign; T = max |s|.
* ``bitwise``    {-1,0,1}: sign-magnitude, the bits of |s| MSB first, each 1-bit emitted as sign(s);
  step t weighs 2^(T-1-t); T = bit length of max |s|.
* ``bitwise_2c`` {0,1}: two's complement, MSB (sign) first; the sign step weighs -2^(T-1), step t>0
  weighs 2^(T-1-t); T = the smallest width that holds every count (so -128..127 needs 8 steps).

``T=None`` derives T from the data (at least 1), as the SpikingBrain 1.0 code does; an explicit T is
a fixed hardware window and counts that do not fit raise an error (never wrapped).
"""

from __future__ import annotations

import numpy as np

from neurosim import NeurosimError

CODINGS = ("binary", "ternary", "bitwise", "bitwise_2c")
#: Codings whose step weights are powers of two (one plane per bit).
BITWISE = ("bitwise", "bitwise_2c")
#: The INT8 hardware window of each coding: time steps that hold every count in [-127, 127]
#: (binary holds [0, 127]).
INT8_WINDOW = {"binary": 127, "ternary": 127, "bitwise": 7, "bitwise_2c": 8}
#: Window used by the SpikingBrain 1.0 report's sparsity (3 time steps, zero padded).
WINDOW3 = 3


def activation_bits(coding: str, T: int) -> int:
    """Bits of the signed integer activation a MAC needs to hold every count a window of T steps
    carries (the smallest two's-complement width of the window's range): bitwise sign + T magnitude
    bits, 1 + T (T=7: 8, INT8; T=11: 12); bitwise_2c T; ternary and binary (|count| <= T)
    1 + bit_length(T) (T=127: 8)."""
    check_coding(coding)
    if int(T) != T or T < 1:
        raise NeurosimError(f"window T must be a positive integer, got {T!r}")
    if coding == "bitwise":
        return 1 + int(T)
    if coding == "bitwise_2c":
        return int(T)
    return 1 + int(T).bit_length()


def count_range(coding: str, T: int) -> tuple[int, int]:
    """(lo, hi): the smallest and largest count a window of T steps carries: binary [0, T], ternary
    [-T, T], bitwise [-(2^T - 1), 2^T - 1] (sign-magnitude), bitwise_2c [-2^(T-1), 2^(T-1) - 1]."""
    check_coding(coding)
    if int(T) != T or T < 1:
        raise NeurosimError(f"window T must be a positive integer, got {T!r}")
    T = int(T)
    if coding == "binary":
        return 0, T
    if coding == "ternary":
        return -T, T
    if coding == "bitwise":
        return -((1 << T) - 1), (1 << T) - 1
    return -(1 << (T - 1)), (1 << (T - 1)) - 1


def check_coding(coding: str) -> str:
    """``coding`` itself when it is one of :data:`CODINGS`, else a one-line NeurosimError."""
    if coding not in CODINGS:
        raise NeurosimError(f"unknown coding {coding!r}; choose one of {', '.join(CODINGS)}")
    return coding


def _as_counts(counts, widen: bool = True) -> np.ndarray:
    """counts as an integer array (int64 unless ``widen=False``: min/max need no copy)."""
    c = np.asarray(counts)
    if c.dtype.kind not in "iu":
        raise NeurosimError(f"spike counts must be integers, got dtype {c.dtype}")
    return c.astype(np.int64, copy=False) if widen else c


def required_steps(counts, coding: str) -> int:
    """Smallest T (>= 1) whose window represents every count under ``coding``."""
    check_coding(coding)
    c = _as_counts(counts, widen=False)
    lo = int(c.min(initial=0))
    hi = int(c.max(initial=0))
    if coding == "binary":
        if lo < 0:
            raise NeurosimError(f"binary coding needs non-negative counts, got minimum {lo}")
        return max(1, hi)
    if coding == "ternary":
        return max(1, hi, -lo)
    if coding == "bitwise":
        return max(1, max(hi, -lo).bit_length())
    # two's complement: smallest T with -2^(T-1) <= lo and hi <= 2^(T-1) - 1
    return max(1, hi.bit_length() + 1, (-lo - 1).bit_length() + 1 if lo < 0 else 1)


def fits(counts, coding: str, T: int) -> np.ndarray:
    """Boolean mask of the counts that a window of T steps can represent."""
    lo, hi = count_range(coding, T)
    c = _as_counts(counts)
    return (c >= lo) & (c <= hi)


def resolve_steps(counts, coding: str, T: int | None) -> int:
    """T itself when given and wide enough (else a clear error), or the data-derived T."""
    if T is None:
        return required_steps(counts, coding)
    if int(T) != T or T < 1:
        raise NeurosimError(f"window T must be a positive integer, got {T!r}")
    T = int(T)
    if coding in BITWISE and T > 62:
        raise NeurosimError(f"window T={T} too long for a bitwise coding (at most 62 steps)")
    c = _as_counts(counts, widen=False)
    ends = np.array([c.min(initial=0), c.max(initial=0)], dtype=np.int64)
    if not fits(ends, coding, T).all():  # a window is an interval: its ends decide
        c = _as_counts(counts)
        bad = ~fits(c, coding, T)
        raise NeurosimError(
            f"{int(bad.sum())} count(s) do not fit a {coding} window of T={T} "
            f"(range {int(c.min())}..{int(c.max())} needs T={required_steps(c, coding)})"
        )
    return T


def step_weights(coding: str, T: int) -> np.ndarray:
    """int64 [T]: the weight of each time step (MSB first for the bitwise codings)."""
    check_coding(coding)
    if int(T) != T or T < 1:
        raise NeurosimError(f"window T must be a positive integer, got {T!r}")
    if coding in ("binary", "ternary"):
        return np.ones(T, dtype=np.int64)
    w = np.array([1 << (T - 1 - t) for t in range(T)], dtype=np.int64)
    if coding == "bitwise_2c":
        w[0] = -w[0]
    return w


def encode(counts, coding: str, T: int | None = None) -> np.ndarray:
    """Spike train int8 ``[T, *counts.shape]`` of integer ``counts``."""
    check_coding(coding)
    c = _as_counts(counts)
    T = resolve_steps(c, coding, T)
    t = np.arange(T, dtype=np.int64).reshape((T,) + (1,) * c.ndim)
    if coding == "binary":
        return (t < c).astype(np.int8)
    if coding == "ternary":
        return ((t < np.abs(c)) * np.sign(c)).astype(np.int8)
    shift = (T - 1) - t
    if coding == "bitwise":
        return (((np.abs(c) >> shift) & 1) * np.sign(c)).astype(np.int8)
    pattern = c & ((1 << T) - 1)  # two's complement bit pattern of width T
    return ((pattern >> shift) & 1).astype(np.int8)


def decode(spikes, coding: str) -> np.ndarray:
    """Exact inverse of :func:`encode`: int64 counts ``sum_t weight[t] * spikes[t]``."""
    check_coding(coding)
    s = np.asarray(spikes)
    if s.dtype.kind not in "iu" or s.ndim < 1 or s.shape[0] < 1:
        raise NeurosimError(f"spikes must be an integer array [T, ...] with T >= 1, got {s.dtype} {s.shape}")
    allowed = (0, 1) if coding in ("binary", "bitwise_2c") else (-1, 0, 1)
    if not np.isin(s, allowed).all():
        raise NeurosimError(f"{coding} spikes must take values in {allowed}")
    w = step_weights(coding, s.shape[0]).reshape((-1,) + (1,) * (s.ndim - 1))
    return (s.astype(np.int64) * w).sum(axis=0)


def spike_counts_per_value(counts, coding: str, T: int) -> np.ndarray:
    """Number of non-zero spikes each count emits in a window of T steps (int64, counts' shape)."""
    c = _as_counts(counts)
    if coding in ("binary", "ternary"):
        return np.abs(c)
    if coding == "bitwise":
        return _popcount(np.abs(c))
    return _popcount(c & ((1 << T) - 1))


def _popcount(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(v).astype(np.int64)
    out = np.zeros(v.shape, dtype=np.int64)
    while v.any():
        out += (v & 1).astype(np.int64)
        v = v >> np.uint64(1)
    return out


def count_histogram(c) -> tuple[np.ndarray, np.ndarray]:
    """(values, freq) of the integer counts that occur, ascending, both int64 (bincount when the
    range is small, else ``np.unique``)."""
    c = _as_counts(c)
    lo, hi = int(c.min()), int(c.max())
    if hi - lo > 1 << 20:
        return np.unique(c, return_counts=True)
    freq = np.bincount((c.ravel() - lo).astype(np.intp), minlength=hi - lo + 1)
    nz = np.flatnonzero(freq)
    return (nz + lo).astype(np.int64), freq[nz].astype(np.int64)


def spike_stats(counts, coding: str, T: int | None = None) -> dict:
    """Spike statistics of integer counts ``[..., K]`` (last axis = input channels).

    Sparsity is the fraction of zero entries of a spike tensor; it depends on the window, so
    several definitions are given side by side:

    * ``sparsity_fixed``: window ``T`` as given (a fixed hardware window; ``None`` when T is None);
    * ``sparsity_data``: window = the data-derived T of this tensor (the 1.0 code's default);
    * ``sparsity_window3``: the 1.0 report's method: the data-derived train zero-padded to a
      multiple of 3 steps (3-step windows);
    * ``spikes_per_activation``: mean non-zero spikes per activation in the window used (fixed T,
      else data-derived; only two's complement depends on it, through sign extension);
    * ``zero_fraction``: activations whose count is 0 (no spike at all);
    * ``silent_channel_fraction``: input channels (last axis) that never spike over all rows.

    ``firing_rate`` lists, per time step of the fixed (else data-derived) window, the fraction of
    activations that spike at that step. Computed from the histogram of the counts
    (:func:`histogram_stats`), so the statistics of a tensor and of its histogram are one function.
    """
    check_coding(coding)
    c = _as_counts(counts)
    if c.ndim < 1 or c.size == 0:
        raise NeurosimError(f"spike statistics need a non-empty [..., K] array, got shape {c.shape}")
    if T is not None:
        resolve_steps(c, coding, T)   # a window that does not hold every count is an error
    values, freq = count_histogram(c)
    silent = int((c.reshape(-1, c.shape[-1]) == 0).all(axis=0).sum())
    return histogram_stats(values, freq, coding, T, channels=c.shape[-1], silent_channels=silent)


def histogram_stats(values, freq, coding: str, T: int | None = None, *, channels: int,
                    silent_channels: int) -> dict:
    """:func:`spike_stats` of a count tensor given as its histogram: the distinct ``values`` and
    their ``freq`` (:func:`count_histogram`), its number of input ``channels`` (last axis) and how
    many of them are zero in every row (``silent_channels``). Same keys, same numbers. Values whose
    frequency is 0 are ignored."""
    check_coding(coding)
    v = _as_counts(values).ravel()
    f = np.asarray(freq, dtype=np.int64).ravel()
    if v.shape != f.shape or (f < 0).any() or f.sum() == 0:
        raise NeurosimError("a count histogram needs matching values and non-negative freq, not all zero")
    v, f = v[f > 0], f[f > 0]   # values that do not occur take no part (a fixed-range bincount has them)
    t_data = required_steps(v, coding)
    t_fixed = None if T is None else resolve_steps(v, coding, T)
    t_use = t_fixed if t_fixed is not None else t_data
    n = int(f.sum())
    spikes = int((spike_counts_per_value(v, coding, t_use) * f).sum())
    # two's complement trains depend on T (sign extension); the others do not
    spikes_data = int((spike_counts_per_value(v, coding, t_data) * f).sum()) if coding == "bitwise_2c" else spikes
    t_w3 = -(-t_data // WINDOW3) * WINDOW3
    firing = _firing_rate(v, f, n, coding, t_use)
    return {
        "coding": coding,
        "activations": n,
        "T_fixed": t_fixed,
        "T_data": t_data,
        "spikes": spikes,
        "spikes_per_step": [int(round(r * n)) for r in firing],
        "zeros_fixed": None if t_fixed is None else t_fixed * n - spikes,
        "spikes_data": spikes_data,
        "zeros_data": t_data * n - spikes_data,
        "sparsity_fixed": None if t_fixed is None else 1.0 - spikes / (t_fixed * n),
        "sparsity_data": 1.0 - spikes_data / (t_data * n),
        "sparsity_window3": 1.0 - spikes_data / (t_w3 * n),
        "spikes_per_activation": spikes / n,
        "zero_fraction": int(f[v == 0].sum()) / n,
        "silent_channel_fraction": int(silent_channels) / int(channels),
        "firing_rate": firing,
    }


def _firing_rate(v: np.ndarray, f: np.ndarray, n: int, coding: str, T: int) -> list[float]:
    """Per step of a T-step window, the fraction of the ``n`` activations (distinct values ``v``
    with frequencies ``f``) that spike at that step."""
    if coding in ("binary", "ternary"):
        hist = np.zeros(T + 1, dtype=np.int64)
        np.add.at(hist, np.minimum(np.abs(v), T), f)
        # a count a spikes at steps 0..a-1: steps t fire for every count > t
        ge = np.cumsum(hist[::-1])[::-1]  # ge[t] = #counts >= t
        return [float(ge[t + 1]) / n for t in range(T)]
    p = np.abs(v) if coding == "bitwise" else v & ((1 << T) - 1)
    return [float((((p >> (T - 1 - t)) & 1) * f).sum()) / n for t in range(T)]
