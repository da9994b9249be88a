"""Float reference layers (numpy; float32 by default, float64 on request).

Pure functions: no weights are stored here, no projections are done here (the model does them
through its ``linear`` hook). Shapes use S = tokens, H = query heads, KV = key/value heads,
D = head dim. Every function computes in the dtype of its inputs unless ``dtype`` is given.

Assumptions where the paper and the reference code are silent (also in docs/model.md):

- RoPE angles are computed in float64 and cast to the working dtype (HF computes them in float32).
- MoBA gates with the post-norm, post-RoPE queries and keys (as MoBA patches the attention
  function, which receives roped q/k); with GQA each query head scores the blocks of its own KV
  head. Ties between block scores go to the earlier block.
- The SSE recurrence L2-normalises q and k as ``x / sqrt(sum(x^2) + 1e-6)`` (flash-linear-attention's
  in-kernel l2norm) and scales q by ``Dk ** -0.5``.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; keep a pure-numpy fallback so the module imports without it
    from numba import njit, prange

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False

__all__ = [
    "rms_norm",
    "silu",
    "sigmoid",
    "softplus",
    "softmax",
    "rope_cos_sin",
    "apply_rope",
    "attention",
    "causal_mask",
    "window_mask",
    "sliding_window_attention",
    "moba_select",
    "moba_mask",
    "moba_attention",
    "attend",
    "attend_cached",
    "causal_segments",
    "window_segments",
    "moba_segments",
    "l2_normalize",
    "gated_delta_rule",
    "sse_route",
    "sse_recurrence",
    "swiglu",
]


def _dt(x, dtype):
    return np.dtype(dtype) if dtype is not None else (x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32))


# --------------------------------------------------------------------------- elementwise
def rms_norm(x: np.ndarray, w: np.ndarray, eps: float, dtype=None) -> np.ndarray:
    """RMSNorm over the last axis: ``x / sqrt(mean(x^2) + eps) * w``.

    x [..., N], w [N] -> [..., N] in ``dtype`` (default: x's float dtype).
    """
    dt = _dt(x, dtype)
    x = np.asarray(x, dtype=dt)
    ms = np.mean(np.square(x), axis=-1, keepdims=True)
    return (x / np.sqrt(ms + dt.type(eps))) * np.asarray(w, dtype=dt)


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x), numerically safe for large |x|."""
    return x * sigmoid(x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow warnings."""
    x = np.asarray(x)
    with np.errstate(over="ignore"):  # exp(-x) = inf for very negative x gives exactly 0
        return 1.0 / (1.0 + np.exp(-x))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), stable: max(x, 0) + log1p(exp(-|x|))."""
    x = np.asarray(x)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``; -inf entries get probability 0 (a row must have one finite entry)."""
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def swiglu(gate: np.ndarray, up: np.ndarray) -> np.ndarray:
    """SwiGLU activation ``silu(gate) * up`` (the down projection is the caller's)."""
    return silu(gate) * up


# --------------------------------------------------------------------------- RoPE
def rope_cos_sin(n: int, head_dim: int, theta: float, dtype=np.float32, offset: int = 0):
    """cos, sin tables [n, head_dim] for rotate-half (non-interleaved) RoPE.

    Positions offset..offset+n-1; inv_freq_i = theta^(-2i/head_dim), i < head_dim/2; the two
    halves of the table repeat the same frequencies (HF layout). Computed in float64.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
    inv = 1.0 / (float(theta) ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    pos = np.arange(offset, offset + n, dtype=np.float64)
    ang = np.outer(pos, inv)
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang).astype(dtype), np.sin(ang).astype(dtype)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate-half RoPE: ``x*cos + rotate_half(x)*sin``, rotate_half(x) = [-x2, x1].

    x [S, H, D]; cos, sin [S, D] -> [S, H, D].
    """
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, None, :] + rot * sin[:, None, :]


# --------------------------------------------------------------------------- softmax attention
def causal_mask(s: int) -> np.ndarray:
    """bool [S, S]: True where key j may be seen by query i (j <= i)."""
    return np.tril(np.ones((s, s), dtype=bool))


def window_mask(s: int, window: int | None) -> np.ndarray:
    """bool [S, S]: causal window of ``window`` tokens including the current one (i-window < j <= i).

    window None: plain causal mask.
    """
    m = causal_mask(s)
    if window is not None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        i = np.arange(s)
        m &= (i[:, None] - i[None, :]) < window
    return m


def attention(q, k, v, mask=None, scale=None, head_block: int | None = None) -> np.ndarray:
    """Grouped-query softmax attention.

    q [S, H, D]; k [T, KV, D]; v [T, KV, Dv]; H a multiple of KV (query head h uses KV head
    h // (H/KV)). mask: None (causal when S == T), bool [S, T] shared by all heads, or bool
    [H, S, T] per head; True = attend. scale default D**-0.5. Returns [S, H, Dv] in q's dtype.
    Heads are processed one KV group at a time to bound memory (G*S*T scores at once).
    """
    s, h, d = q.shape
    t, kv, dv = v.shape
    if h % kv:
        raise ValueError(f"{h} query heads are not a multiple of {kv} kv heads")
    g = h // kv
    dt = q.dtype
    scale = dt.type(d ** -0.5 if scale is None else scale)
    if mask is None:
        if s != t:
            raise ValueError("mask=None means causal, which needs as many queries as keys")
        mask = causal_mask(s)
    mask = np.asarray(mask, dtype=bool)
    out = np.empty((s, h, dv), dtype=dt)
    neg = dt.type(-np.inf)
    for j in range(kv):
        qg = np.ascontiguousarray(q[:, j * g:(j + 1) * g, :].transpose(1, 0, 2))  # [G, S, D]
        sc = np.matmul(qg, k[:, j, :].T) * scale  # [G, S, T]
        mg = mask if mask.ndim == 2 else mask[j * g:(j + 1) * g]
        sc = np.where(mg, sc, neg)
        p = softmax(sc, axis=-1)
        out[:, j * g:(j + 1) * g, :] = np.matmul(p, v[:, j, :]).transpose(1, 0, 2)
    return out


def sliding_window_attention(q, k, v, window: int | None, scale=None) -> np.ndarray:
    """Causal sliding-window GQA attention; each query sees the last ``window`` tokens incl. itself.

    q [S, H, D], k/v [S, KV, D] -> [S, H, D]. window None or >= S equals full causal attention.
    """
    return attention(q, k, v, mask=window_mask(q.shape[0], window), scale=scale)


#: block scores (heads x query rows x blocks) moba_select holds at once
MOBA_SCORES = 1 << 24


def moba_select(q, k, chunk: int, topk: int) -> np.ndarray:
    """MoBA block selection. q [S, H, D], k [S, KV, D] -> bool [H, S, n_blocks].

    Keys are split in blocks of ``chunk`` tokens (the last one may be shorter); block score =
    q . mean(keys of block) (per query head, against its KV head). Blocks after the query's own
    block are excluded; the query's own block is always selected and counts toward ``topk``.
    Ties go to the earlier block. Scored in blocks of query rows (at most ``MOBA_SCORES`` scores;
    each row's arithmetic is the same in any block).
    """
    s, h, _ = q.shape
    kv = k.shape[1]
    g = h // kv
    nb = -(-s // chunk)
    blk = np.arange(s) // chunk
    # mean of the keys of each block: [nb, KV, D]
    sums = np.zeros((nb, kv, k.shape[2]), dtype=np.float64)
    np.add.at(sums, blk, k.astype(np.float64))
    counts = np.bincount(blk, minlength=nb).astype(np.float64)
    kmean = (sums / counts[:, None, None]).astype(q.dtype)
    kmean_h = np.repeat(kmean, g, axis=1)  # [nb, H, D]
    sel = np.empty((h, s, nb), dtype=bool)
    b = np.arange(nb)[None, None, :]
    rows = max(1, MOBA_SCORES // (h * nb))   # query rows per block: the scores stay bounded
    for a in range(0, s, rows):
        e = min(a + rows, s)
        score = np.einsum("shd,bhd->hsb", q[a:e], kmean_h)  # [H, rows, nb]
        cur = blk[None, a:e, None]
        score = np.where(b > cur, -np.inf, score)
        score = np.where(b == cur, np.inf, score)
        order = np.argsort(-score, axis=-1, kind="stable")  # descending, earlier block first on ties
        rank = np.argsort(order, axis=-1)
        sel[:, a:e] = (rank < topk) & (b <= cur)
    return sel


def moba_mask(q, k, chunk: int, topk: int) -> np.ndarray:
    """Token-level MoBA mask bool [H, S, S]: selected blocks, causal inside the current block."""
    s = q.shape[0]
    sel = moba_select(q, k, chunk, topk)  # [H, S, nb]
    blk = np.arange(s) // chunk
    return sel[:, :, blk] & causal_mask(s)[None]


def moba_attention(q, k, v, chunk: int, topk: int, scale=None) -> np.ndarray:
    """MoBA attention: one softmax over the union of the selected blocks (see moba_select).

    q [S, H, D], k/v [S, KV, D] -> [S, H, D]. With topk >= number of blocks it is full causal
    attention. (Prefill only; the HF code uses dense attention for single-token decode steps.)
    """
    s, h, _ = q.shape
    kv = k.shape[1]
    g = h // kv
    sel = moba_select(q, k, chunk, topk)  # [H, S, nb]
    blk = np.arange(s) // chunk
    causal = causal_mask(s)
    out = np.empty((s, h, v.shape[2]), dtype=q.dtype)
    for j in range(kv):  # one KV group at a time: the token mask is [G, S, S], not [H, S, S]
        hs = slice(j * g, (j + 1) * g)
        mask = sel[hs][:, :, blk] & causal[None]
        out[:, hs] = attention(q[:, hs], k[:, j:j + 1], v[:, j:j + 1], mask=mask, scale=scale)
    return out


# --------------------------------------------------------------------------- row-exact attention
# One kernel for every softmax attention of the model (prefill and cached decode): each query row
# visits its key segments in ascending key order and its arithmetic never depends on how many other
# rows are computed with it or on keys it does not visit. So a decode step over a KV cache gives the
# same bits as the same row of a whole-sequence pass (see docs/model.md, "Decoding with a cache").

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


# --------------------------------------------------------------------------- gated delta rule
def l2_normalize(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """x / sqrt(sum(x^2, last axis) + eps) (flash-linear-attention's l2norm)."""
    return x / np.sqrt(np.sum(np.square(x), axis=-1, keepdims=True) + x.dtype.type(eps))


def _delta_numpy(q, k, v, g, beta, state, out):  # pragma: no cover - fallback only
    for h in range(q.shape[0]):
        S = state[h]
        for t in range(q.shape[1]):
            S *= np.exp(g[h, t])
            u = beta[h, t] * (v[h, t] - S.T @ k[h, t])
            S += np.outer(k[h, t], u)
            out[h, t] = S.T @ q[h, t]


if _HAVE_NUMBA:

    @njit(parallel=True, cache=True, fastmath=False)
    def _delta_kernel(q, k, v, g, beta, state, out):  # pragma: no cover - compiled
        """q,k [H,T,Dk], v [H,T,Dv], g,beta [H,T], state [H,Dk,Dv] (updated), out [H,T,Dv]."""
        nh, nt, dk = q.shape
        dv = v.shape[2]
        for h in prange(nh):
            S = state[h]
            u = np.empty(dv, dtype=v.dtype)
            for t in range(nt):
                dec = np.exp(g[h, t])
                for j in range(dv):
                    u[j] = 0.0
                for i in range(dk):
                    ki = k[h, t, i]
                    for j in range(dv):
                        S[i, j] *= dec
                        u[j] += S[i, j] * ki
                b = beta[h, t]
                for j in range(dv):
                    u[j] = b * (v[h, t, j] - u[j])
                    out[h, t, j] = 0.0
                for i in range(dk):
                    ki = k[h, t, i]
                    qi = q[h, t, i]
                    for j in range(dv):
                        S[i, j] += ki * u[j]
                        out[h, t, j] += S[i, j] * qi

else:  # pragma: no cover
    _delta_kernel = _delta_numpy  # type: ignore[assignment]  # the kernel's numpy form


def gated_delta_rule(q, k, v, g, beta, initial_state=None, dtype=None):
    """Gated delta rule, sequential per token (numba), one state per head.

    For each head: ``S = exp(g_t) S; v' = beta_t (v_t - S^T k_t); S = S + k_t v'^T; o_t = S^T q_t``.
    q, k [T, H, Dk] (already normalised/scaled by the caller), v [T, H, Dv], g, beta [T, H]
    (g is the log decay, <= 0). initial_state [H, Dk, Dv] or None (zeros).
    Returns (o [T, H, Dv], final state [H, Dk, Dv]) in ``dtype`` (default q's dtype); the state
    is kept in that dtype (the real model keeps it in float32).
    """
    dt = _dt(q, dtype)
    t, h, dk = q.shape
    dv = v.shape[2]
    qh = np.ascontiguousarray(np.asarray(q, dt).transpose(1, 0, 2))
    kh = np.ascontiguousarray(np.asarray(k, dt).transpose(1, 0, 2))
    vh = np.ascontiguousarray(np.asarray(v, dt).transpose(1, 0, 2))
    gh = np.ascontiguousarray(np.asarray(g, dt).T)
    bh = np.ascontiguousarray(np.asarray(beta, dt).T)
    state = (np.zeros((h, dk, dv), dt) if initial_state is None
             else np.array(initial_state, dtype=dt, copy=True, order="C"))
    out = np.empty((h, t, dv), dt)
    if t:
        _delta_kernel(qh, kh, vh, gh, bh, state, out)
    return out.transpose(1, 0, 2), state


def sse_route(logits: np.ndarray, topk: int):
    """SSE router: probs = softmax(logits) over partitions, top-k per token.

    logits [S, P] -> (idx int64 [S, topk] in descending probability, ties to the lower index;
    weight [S, topk] = the selected probabilities (not renormalised); probs [S, P]).
    """
    probs = softmax(logits, axis=-1)
    idx = np.argsort(-probs, axis=-1, kind="stable")[:, :topk]
    return idx, np.take_along_axis(probs, idx, axis=-1), probs


ROUTER_WEIGHT_MODES = ("qk", "none", "output")


def sse_recurrence(q1, k1, q2, k2, v, g, beta, route_idx, route_w, n_partitions: int,
                   router_weight: str = "qk", eps: float = 1e-6, state=None, return_state: bool = False):
    """SSE: shared gated-delta state plus ``n_partitions`` routed states, summed per token.

    q1, k1 (shared) and q2, k2 (partitions, = q1/k1 + lora terms) [S, H, Dk], after the
    activation (SiLU); v [S, H, Dv]. g, beta [S, 2H]: the first H channels drive the shared
    state, the last H channels drive every partition (the same per-head value for all
    partitions, as in flash-linear-attention's SSE-GDN). route_idx/route_w [S, K] from sse_route.
    Partition p's recurrence advances only on the tokens routed to it and outputs only there.
    q, k are L2-normalised (eps) and q scaled by Dk**-0.5 inside.

    router_weight: how the router probability w enters the partition path:
      "qk"     scale q2 and k2 by w before the L2 normalisation (what the public SSE code does;
               the normalisation cancels w up to eps, so this equals "none" to ~1e-7),
      "none"   unweighted sum o_shared + sum of the selected partitions (the reference code),
      "output" weight each partition's output by w.
    state: None (zeros) or (shared [H, Dk, Dv], partitions [P, H, Dk, Dv]) to continue from (a
    decode cache); with ``return_state`` the result is (o, (shared, partitions)), the states after
    the last token (a partition no token was routed to keeps its state).
    Returns o [S, H, Dv] (before the per-head output norm).
    """
    if router_weight not in ROUTER_WEIGHT_MODES:
        raise ValueError(f"router_weight must be one of {ROUTER_WEIGHT_MODES}, got {router_weight!r}")
    s, h, dk = q1.shape
    if g.shape[1] != 2 * h or beta.shape[1] != 2 * h:
        raise ValueError(f"g/beta must have 2*{h} channels, got {g.shape[1]}/{beta.shape[1]}")
    dt = q1.dtype
    qs = dt.type(dk ** -0.5)
    s0, sp = (None, [None] * n_partitions) if state is None else (state[0], list(state[1]))
    o, s_shared = gated_delta_rule(l2_normalize(q1, eps) * qs, l2_normalize(k1, eps), v, g[:, :h],
                                   beta[:, :h], initial_state=s0)
    for p in range(n_partitions):
        hit = route_idx == p  # [S, K]
        tok = np.nonzero(hit.any(axis=1))[0]
        if tok.size == 0:
            continue
        w = np.sum(np.where(hit, route_w, 0), axis=1)[tok].astype(dt)[:, None, None]  # [n, 1, 1]
        qp, kp = q2[tok], k2[tok]
        if router_weight == "qk":
            qp, kp = qp * w, kp * w
        op, sp[p] = gated_delta_rule(l2_normalize(qp, eps) * qs, l2_normalize(kp, eps), v[tok],
                                     g[tok, h:], beta[tok, h:], initial_state=sp[p])
        if router_weight == "output":
            op = op * w
        o[tok] += op
    if not return_state:
        return o
    dv = v.shape[2]
    parts = np.stack([np.zeros((h, dk, dv), s_shared.dtype) if x is None else x for x in sp])
    return o, (s_shared, parts)
