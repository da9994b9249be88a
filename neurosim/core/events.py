"""Event lists of a spiking linear layer: the input index of every non-zero spike, grouped by
(input chunk, token row, step group, sign), built from integer counts or from a spike train.

:func:`events_from_counts` and :func:`events_from_spikes` return ``(ptr, ev_k)``: segment
``((c*M + m)*G + g)*2 + s`` (chunk c of KC inputs, row m of M, group g of G, sign s: 0 positive,
1 negative) spans ``ev_k[ptr[seg]:ptr[seg+1]]``, int32 input indices ascending. Unary codings
(binary, ternary) have one group; the bitwise codings one group per time step, MSB first.
:func:`neurosim.core.engine.spike_linear` accumulates the weight rows these lists name.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

__all__ = ["events_from_counts", "events_from_spikes"]


@intrinsic
def _popcount(typingctx, word):
    """Set bits of an integer (LLVM's ctpop: one instruction on x86-64)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return word(word), codegen


@nb.njit(cache=True, inline="always")
def _piece(lo, hi):
    """The bits lo..hi-1 of a 64-bit word (0 <= lo < hi <= 64)."""
    top = np.uint64(-1) if hi == 64 else (np.uint64(1) << np.uint64(hi)) - np.uint64(1)
    return top & ~((np.uint64(1) << np.uint64(lo)) - np.uint64(1))


@nb.njit(cache=True)
def _row_words(counts, m, mode, T):
    """Row m's 64-input spike masks ``[T, n_words, 2]`` (bit b of the magnitude, or of the T-bit
    pattern in mode 2; positive / negative): bit j of word w is input 64*w + j. Built without
    branches on the data; a plain (not parallel) kernel so that LLVM vectorises it."""
    K = counts.shape[1]
    n_words = -(-K // 64)
    mag = np.zeros(n_words * 64, np.uint64)
    neg = np.zeros(n_words * 64, np.uint64)
    mask = (np.int64(1) << T) - 1
    for k in range(K):
        v = np.int64(counts[m, k])
        if mode == 1:
            mag[k] = np.uint64(abs(v))
            neg[k] = np.uint64(v < 0)
        else:
            mag[k] = np.uint64(v & mask)
    words = np.empty((T, n_words, 2), np.uint64)
    lane = np.arange(64).astype(np.uint64)
    for b in range(T):
        ub = np.uint64(b)
        for w in range(n_words):
            w0 = w * 64
            wp = np.uint64(0)
            wn = np.uint64(0)
            for j in range(64):
                bit = (mag[w0 + j] >> ub) & np.uint64(1)
                ng = neg[w0 + j]
                wp |= (bit & ~ng) << lane[j]
                wn |= (bit & ng) << lane[j]
            words[b, w, 0] = wp
            words[b, w, 1] = wn
    return words


@nb.njit(cache=True)
def _row_bit_events(counts, m, mode, T, KC, M, ptr, ev_k, count_only):
    """Row m of a bitwise coding: count its events per segment into ``ptr[seg + 1]`` (count_only),
    or write them at the cursors ``ptr[seg]``, one store per event (the index of each set bit of
    the masks; a chunk boundary inside a word splits it)."""
    K = counts.shape[1]
    words = _row_words(counts, m, mode, T)
    for b in range(T):
        g = T - 1 - b
        c_cur = -1
        pp = np.int64(0)
        pn = np.int64(0)
        for w in range(words.shape[1]):
            w0 = w * 64
            lo = w0
            end = min(w0 + 64, K)
            while lo < end:
                c = lo // KC
                hi = min((c + 1) * KC, end)
                sel = _piece(lo - w0, hi - w0)
                wp = words[b, w, 0] & sel
                wn = words[b, w, 1] & sel
                seg = ((c * M + m) * T + g) * 2
                if count_only:
                    ptr[seg + 1] += _popcount(wp)
                    ptr[seg + 2] += _popcount(wn)
                else:
                    if c != c_cur:
                        c_cur = c
                        pp = ptr[seg]
                        pn = ptr[seg + 1]
                    pp = _emit(ev_k, pp, wp, w0)
                    pn = _emit(ev_k, pn, wn, w0)
                lo = hi


@nb.njit(cache=True, inline="always")
def _emit(ev_k, cur, word, k0):
    """Write k0 + the index of every set bit of ``word`` (ascending) at ev_k[cur:]; the new cursor."""
    while word:
        ev_k[cur] = k0 + trailing_zeros(word)
        cur += 1
        word &= word - np.uint64(1)
    return cur


@nb.njit(parallel=True, cache=True)
def events_from_counts(counts, mode, T, KC):
    """Event lists of integer counts [M, K] (any integer dtype): (ptr, input index per event).

    Events are grouped by (input chunk c = k // KC, row m, group g, sign): segment
    ``((c*M + m)*G + g)*2 + (0 if + else 1)`` spans ``ev_k[ptr[seg]:ptr[seg+1]]``, input indices
    ascending. mode 0: unary (binary/ternary), one group, |c| events of sign(c); mode 1:
    sign-magnitude bitwise, group t gets bit T-1-t of |c| with sign(c); mode 2: two's complement,
    group t gets bit T-1-t of the T-bit pattern, always positive. Bitwise codings work on 64-input
    spike masks (:func:`_row_words`): a first pass counts their set bits, the second writes the
    index of each set bit (one store per event, no work for silent inputs). Rows are independent
    (disjoint segments): both passes run in parallel over rows.
    """
    M = counts.shape[0]
    G = 1 if mode == 0 else T
    sizes = np.zeros(-(-counts.shape[1] // KC) * M * G * 2 + 1, np.int64)
    ev_k = np.empty(0, np.int32)
    for m in nb.prange(M):
        _row_events(counts, m, mode, T, KC, M, sizes, ev_k, True)
    ptr = np.cumsum(sizes)
    ev_k = np.empty(ptr[-1], np.int32)
    for m in nb.prange(M):
        _row_events(counts, m, mode, T, KC, M, ptr, ev_k, False)
    return ptr, ev_k


@nb.njit(cache=True, inline="always")
def _row_events(counts, m, mode, T, KC, M, ptr, ev_k, count_only):
    """Row m's events: counted per segment into ``ptr[seg + 1]`` (count_only) or written at the
    cursors ``ptr[seg]`` (see :func:`_row_bit_events` and :func:`_row_unary_events`)."""
    if mode != 0:
        _row_bit_events(counts, m, mode, T, KC, M, ptr, ev_k, count_only)
    else:
        _row_unary_events(counts, m, KC, M, ptr, ev_k, count_only)


@nb.njit(cache=True, inline="always")
def _row_unary_events(counts, m, KC, M, ptr, ev_k, count_only):
    """Row m of a unary coding (one group): |c| events of sign(c) per input, counted per chunk into
    ``ptr[seg + 1]`` (count_only) or written at the cursors ``ptr[seg]``."""
    K = counts.shape[1]
    for c in range(-(-K // KC)):
        seg = (c * M + m) * 2
        ks = range(c * KC, min(K, (c + 1) * KC))
        if count_only:
            p = np.int64(0)
            n = np.int64(0)
            for k in ks:
                v = np.int64(counts[m, k])
                p += max(v, 0)
                n += max(-v, 0)
            ptr[seg + 1] = p
            ptr[seg + 2] = n
            continue
        pp, pn = ptr[seg], ptr[seg + 1]
        for k in ks:
            v = np.int64(counts[m, k])
            for _ in range(abs(v)):
                if v > 0:
                    ev_k[pp] = k
                    pp += 1
                else:
                    ev_k[pn] = k
                    pn += 1


@nb.njit(cache=True)
def events_from_spikes(planes, unary, KC):
    """Event lists (as in :func:`events_from_counts`) of a spike train [T, M, K].

    Unary codings (binary, ternary) merge all steps into one group; -1 spikes go to the negative
    segment.
    """
    T, M, K = planes.shape
    G = 1 if unary else T
    n_seg = (-(-K // KC)) * M * G * 2
    cnt = np.zeros(n_seg + 1, np.int64)
    ptr = cnt
    ev_k = np.empty(0, np.int32)
    fill = cnt[:0]
    for p in range(2):                   # pass 0 counts the events per segment, pass 1 fills them in
        count_pass = p == 0
        for t in range(T):
            for m in range(M):
                for k in range(K):
                    v = planes[t, m, k]
                    if v != 0:
                        seg = (((k // KC) * M + m) * G + (0 if unary else t)) * 2 + (1 if v < 0 else 0)
                        if count_pass:
                            cnt[seg + 1] += 1
                        else:
                            ev_k[fill[seg]] = k
                            fill[seg] += 1
        if count_pass:
            ptr = np.cumsum(cnt)
            ev_k = np.empty(ptr[-1], np.int32)
            fill = ptr[:-1].copy()
    return ptr, ev_k
