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

import numpy as np

try:  # numba is a dependency; keep a pure-numpy fallback so the module imports without it
    from numba import njit, prange

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False

from neurosim.model.attend import attend, attend_cached, causal_segments, moba_segments, window_segments

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
    if dtype is not None:
        return np.dtype(dtype)
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)


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
