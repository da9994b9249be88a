"""Row-exact softmax attention: one kernel for every softmax attention of the model (prefill and
cached decode).

Each query row
visits its key segments in ascending key order and its arithmetic never depends on how many other
rows are computed with it or on keys it does not visit. So a decode step over a KV cache gives the
same bits as the same row of a whole-sequence pass (see docs/model.md, "Decoding with a cache").

:func:`attend` and :func:`attend_cached` take per-query key segments ``[start, end)``:
:func:`causal_segments`, :func:`window_segments` and :func:`moba_segments` build them.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; keep a pure-numpy fallback so the module imports without it
    from numba import njit, prange

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False

__all__ = ["attend", "attend_cached", "causal_segments", "moba_segments", "window_segments"]


def _attend_numpy(q, kT, v, seg_s, seg_e, scale, out):  # pragma: no cover - fallback only
    h_n, s_n, _ = q.shape
    g = h_n // kT.shape[0]
    for h in range(h_n):
        hs = h if seg_s.shape[0] != 1 else 0
        for i in range(s_n):
            idx = np.concatenate([np.arange(a, b) for a, b in zip(seg_s[hs, i], seg_e[hs, i])])
            sc = (q[h, i] @ kT[h // g][:, idx]) * scale
            e = np.exp(sc - sc.max())
            p = (e / e.sum(dtype=np.float64)).astype(q.dtype)
            out[h, i] = p @ v[h // g][idx]


def _attend_rows(q, kT, v, seg_s, seg_e, scale, out):  # pragma: no cover - compiled below
    """q [H,S,D], kT [KV,D,T], v [KV,T,Dv], seg_s/seg_e [1 or H, S, M] key ranges, out [H,S,Dv]."""
    nh, ns, nd = q.shape
    g = nh // kT.shape[0]
    ndv = v.shape[2]
    nm = seg_s.shape[2]
    per_head = seg_s.shape[0] != 1
    for r in prange(nh * ns):
        h = r // ns
        i = r - h * ns
        j = h // g
        hs = h if per_head else 0
        n = 0
        for m in range(nm):
            n += seg_e[hs, i, m] - seg_s[hs, i, m]
        sc = np.zeros(n, dtype=q.dtype)
        o = 0
        for m in range(nm):
            a = seg_s[hs, i, m]
            b = seg_e[hs, i, m]
            part = sc[o:o + b - a]
            for d in range(nd):   # slices keep the inner loops contiguous (vectorised)
                qd = q[h, i, d]
                kr = kT[j, d, a:b]
                for t in range(b - a):
                    part[t] += qd * kr[t]
            o += b - a
        mx = -np.inf
        for t in range(n):
            sc[t] = sc[t] * scale
            if sc[t] > mx:
                mx = sc[t]
        tot = 0.0
        for t in range(n):   # a strict float64 sum: never vectorised, one order for every row
            e = math.exp(sc[t] - mx)
            sc[t] = e
            tot += e
        inv = 1.0 / tot
        for t in range(n):
            sc[t] = sc[t] * inv
        acc = np.zeros(ndv, dtype=q.dtype)
        o = 0
        for m in range(nm):
            a = seg_s[hs, i, m]
            b = seg_e[hs, i, m]
            for t in range(a, b):
                p = sc[o + t - a]
                vr = v[j, t]
                for d in range(ndv):
                    acc[d] += p * vr[d]
            o += b - a
        for d in range(ndv):
            out[h, i, d] = acc[d]


if _HAVE_NUMBA:
    # the same body twice: threads over rows for a pass, one thread for a decode step (no launch
    # cost). Neither vectorises a reduction (no fastmath), so both give the same bits per row.
    _attend_kernel = njit(parallel=True, cache=True, fastmath=False)(_attend_rows)
    _attend_serial = njit(parallel=False, cache=True, fastmath=False)(_attend_rows)
else:  # pragma: no cover
    _attend_kernel = _attend_serial = _attend_numpy  # type: ignore[assignment]  # the kernels' numpy form


def attend(q, k, v, seg_start, seg_end, scale=None) -> np.ndarray:
    """Softmax attention of each query over explicit key segments (GQA), row-exact.

    q [S, H, D]; k [T, KV, D]; v [T, KV, Dv]; seg_start/seg_end int [S, M] (shared by all heads)
    or [H, S, M] (per head): query i visits keys ``seg_start[.., i, m] <= t < seg_end[.., i, m]``
    for every m, segments ascending and disjoint (empty segments have start == end). One softmax
    over the visited keys; scale default D**-0.5. Returns [S, H, Dv] in q's dtype. Each row's
    result depends only on its own query and visited keys (fixed summation order: scores over D,
    a float64 sum of the exponentials over the keys in order, outputs over the keys in order), so
    a decode step over a KV cache reproduces the row of a whole-sequence pass bit for bit.
    """
    s, h, d = q.shape
    t, kv, dv = v.shape
    if h % kv:
        raise ValueError(f"{h} query heads are not a multiple of {kv} kv heads")
    dt = q.dtype
    st, en = _segments(seg_start, seg_end, s, h, t)
    kT = np.ascontiguousarray(np.asarray(k, dt).transpose(1, 2, 0))
    vh = np.ascontiguousarray(np.asarray(v, dt).transpose(1, 0, 2))
    return _attend_heads(q, kT, vh, st, en, scale)


def _segments(seg_start, seg_end, s: int, h: int, keys: int):
    """Checked int64 key segments [1 or H, S, ...] of :func:`attend` / :func:`attend_cached`,
    each within the first ``keys`` keys."""
    st = np.asarray(seg_start, dtype=np.int64)
    en = np.asarray(seg_end, dtype=np.int64)
    if st.ndim == 2:
        st, en = st[None], en[None]
    if st.shape != en.shape or st.shape[1] != s or st.shape[0] not in (1, h):
        raise ValueError(f"segments {st.shape} do not fit {s} queries and {h} heads")
    if st.size and (st.min() < 0 or en.max() > keys or (en < st).any()):
        raise ValueError("key segments outside the keys")
    return st, en


def _attend_heads(q, kT, vh, st, en, scale):
    """The kernel call of :func:`attend` and :func:`attend_cached` (checked arguments)."""
    s, h, d = q.shape
    dt = q.dtype
    qh = np.ascontiguousarray(q.transpose(1, 0, 2))
    out = np.empty((h, s, vh.shape[2]), dtype=dt)
    scale = float(d ** -0.5 if scale is None else scale)
    if s:
        kernel = _attend_serial if s * h <= 64 else _attend_kernel
        kernel(qh, kT, vh, np.ascontiguousarray(st), np.ascontiguousarray(en), dt.type(scale), out)
    return out.transpose(1, 0, 2)


def attend_cached(q, kT, vh, n: int, seg_start, seg_end, scale=None) -> np.ndarray:
    """:func:`attend` over keys and values already stored head-major (a decode cache's buffers):
    kT [KV, D, cap] = keys transposed, vh [KV, cap, Dv] = values, C-contiguous, q's dtype; their
    first ``n`` key slots are valid and the segments must stay below ``n``. The same kernel and
    arithmetic as ``attend(q, kT[:, :, :n].transpose(2, 0, 1), vh[:, :n].transpose(1, 0, 2), ...)``,
    so the same bits, without transposing the whole cache for every call."""
    s, h, d = q.shape
    kv, dk, _ = kT.shape
    if h % kv:
        raise ValueError(f"{h} query heads are not a multiple of {kv} kv heads")
    if dk != d or vh.shape[0] != kv or vh.shape[1] != kT.shape[2] or n > kT.shape[2]:
        raise ValueError(f"cache buffers {kT.shape} / {vh.shape} do not fit queries {q.shape} and {n} keys")
    if kT.dtype != q.dtype or vh.dtype != q.dtype or not (kT.flags.c_contiguous and vh.flags.c_contiguous):
        raise ValueError("cache buffers must be C-contiguous in the queries' dtype")
    st, en = _segments(seg_start, seg_end, s, h, n)
    return _attend_heads(q, kT, vh, st, en, scale)


def causal_segments(qpos, base: int = 0):
    """Dense causal key segments: query at absolute position p sees cache indices [0, p - base]."""
    qpos = np.asarray(qpos, dtype=np.int64)
    return np.zeros((qpos.size, 1), np.int64), (qpos - base + 1)[:, None]


def window_segments(qpos, window: int | None, base: int = 0):
    """Sliding-window segments: the last ``window`` positions up to p (incl. p); None = causal."""
    st, en = causal_segments(qpos, base)
    if window is not None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        st = np.maximum(en - window, 0)
    return st, en


def moba_segments(sel: np.ndarray, chunk: int, topk: int, qpos=None):
    """Key segments [H, S, topk] from a MoBA block selection ``sel`` [H, S, n_blocks] (moba_select):
    the selected blocks in ascending order, the query's own block cut at the query (causal).
    qpos: the queries' positions (default 0..S-1)."""
    h, s, nb = sel.shape
    qpos = np.arange(s, dtype=np.int64) if qpos is None else np.asarray(qpos, dtype=np.int64)
    b = np.where(sel, np.arange(nb, dtype=np.int64), nb)
    b = np.sort(b, axis=-1)[..., :topk]
    if b.shape[-1] < topk:
        b = np.concatenate([b, np.full((h, s, topk - b.shape[-1]), nb, np.int64)], axis=-1)
    valid = b < nb
    st = np.where(valid, b * chunk, 0)
    en = np.where(valid, np.minimum((b + 1) * chunk, qpos[None, :, None] + 1), 0)
    return st, en
