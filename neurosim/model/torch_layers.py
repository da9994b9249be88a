"""The float layers of :mod:`neurosim.model.layers` on PyTorch tensors (any device), for ``--device cuda``.

Each function computes what its numpy namesake computes, in the tensors' dtype, up to float order
(reductions and matmuls sum in another order; exp/log are the device's). Float32 matmuls run in
IEEE float32 (the caller keeps TF32 off: :func:`float32_exact`). Shapes as in ``layers``:
S tokens, H query heads, KV key/value heads, D head dim.

* Softmax attention (causal, sliding window, MoBA) is computed in blocks of query rows, each
  against the key range its rows can see, with the masked scores set to -inf: the same scores,
  the same softmax over the same keys as ``attend.attend``.
* The gated delta rule (SSE) uses the chunked form of the recurrence (the WY form of
  flash-linear-attention's chunk kernels): within a chunk of C tokens with cumulative log decays
  G, ``A_ij = beta_i (k_i . k_j) exp(G_i - G_j)`` (j < i), ``U = (I + A)^-1 beta V``,
  ``W = (I + A)^-1 beta exp(G) K``; then, chunk after chunk, ``V' = U - W S``,
  ``O = exp(G) Q S + (Q K^T * exp(G_i - G_j), j <= i) V'``, ``S = exp(G_C) S + (exp(G_C - G) K)^T V'``.
  Algebraically the token-by-token recurrence of ``layers.gated_delta_rule``; in floats it differs
  by reassociation, the triangular solve and ``exp(sum g)`` in place of ``prod exp(g)``.

Memory stays linear in the sequence: an attention block takes fewer KV heads at a time as the key
range grows, so its score tensor stays within ``SCORE_ELEMENTS`` floats (the 5B layout: every head
at once up to 16,384 tokens, one KV head at a time at 131,072; fewer query rows only beyond that);
MoBA's block scores are computed in row blocks of the same bound; SSE runs its streams
``SSE_SEGMENT`` packed positions at a time, each segment continuing from the states the previous
one left. Head groups and segments run the same per-row and per-chunk operations, so they change
memory, not results.
"""

from __future__ import annotations

import contextlib

__all__ = ["float32_exact", "rms_norm", "silu", "sigmoid", "softplus", "apply_rope", "attention",
           "moba_select", "l2_normalize", "gated_delta_rule", "sse_route", "sse_recurrence",
           "QUERY_BLOCK", "DELTA_CHUNK", "SCORE_ELEMENTS", "SSE_SEGMENT", "attention_blocks"]

#: query rows per attention block (bounds the score tensor to H * QUERY_BLOCK * keys)
QUERY_BLOCK = 512
#: tokens per chunk of the chunked gated delta rule
DELTA_CHUNK = 64
#: the most attention scores (query heads x rows x keys) one block holds (1 GiB in float32)
SCORE_ELEMENTS = 1 << 28
#: packed positions per SSE segment (a multiple of DELTA_CHUNK): bounds the recurrence's intermediates
SSE_SEGMENT = 4096


def attention_blocks(heads: int, kv_heads: int, keys: int) -> tuple[int, int]:
    """(query rows, KV heads) per attention block over ``keys`` keys: ``QUERY_BLOCK`` rows and every
    KV head while the scores fit ``SCORE_ELEMENTS``; else fewer KV heads at a time (a row's
    arithmetic is unchanged: each head's products are their own batch entries); only when one KV
    head's query heads alone exceed it, fewer rows (which can change the float order of the products)."""
    g = heads // kv_heads
    per_head = g * QUERY_BLOCK * keys
    if per_head > SCORE_ELEMENTS:
        return max(1, SCORE_ELEMENTS // (g * keys)), 1
    return QUERY_BLOCK, max(1, min(kv_heads, SCORE_ELEMENTS // max(1, per_head)))


@contextlib.contextmanager
def float32_exact():
    """Float32 matmuls in IEEE float32 (no TF32) while inside; the previous setting is restored."""
    import torch

    prev = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(prev)


def rms_norm(x, w, eps: float):
    """``x / sqrt(mean(x^2) + eps) * w`` over the last axis (x's dtype)."""
    return x / (x.square().mean(dim=-1, keepdim=True) + eps).sqrt() * w


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    import torch

    return torch.sigmoid(x)


def silu(x):
    """x * sigmoid(x) (the product made in place in the sigmoid's tensor: the same product)."""
    return sigmoid(x).mul_(x)


def softplus(x):
    """max(x, 0) + log1p(exp(-|x|))."""
    import torch

    return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))


def apply_rope(x, cos, sin):
    """Rotate-half RoPE of x [S, H, D] with tables cos, sin [S, D] (``layers.apply_rope``)."""
    import torch

    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[:, None, :] + rot * sin[:, None, :]


def attention(q, k, v, pos0: int = 0, base: int = 0, window: int | None = None, sel=None,
              chunk: int | None = None, scale: float | None = None):
    """Grouped-query softmax attention (``attend.attend`` with the segments of ``causal_segments``,
    ``window_segments`` or ``moba_segments``) of queries at positions pos0..pos0+S-1 over cached
    keys (cache index = position - ``base``): causal, within the last ``window`` positions (incl. the
    query's), or with ``sel`` (bool [H, S, n_blocks], MoBA blocks of ``chunk`` positions) only the
    selected blocks, causal inside the query's own. q [S, H, D], k [T, KV, D], v [T, KV, Dv] ->
    [S, H, Dv]; scale default D**-0.5. Query head h uses KV head h // (H / KV)."""
    import torch

    s, h, d = q.shape
    t, kv, dv = v.shape
    g = h // kv
    scale = d ** -0.5 if scale is None else scale
    out = torch.empty((s, h, dv), dtype=q.dtype, device=q.device)
    kT = k.permute(1, 2, 0)  # [KV, D, T]
    vh = v.permute(1, 0, 2)  # [KV, T, Dv]
    rel = torch.arange(s, device=q.device)
    rows, kvg = attention_blocks(h, kv, t if window is None else min(t, window + QUERY_BLOCK))
    for a in range(0, s, rows):
        b = min(a + rows, s)
        khi = pos0 + b - base  # one past the last key any row of the block sees
        klo = 0 if window is None else max(0, pos0 + a - window + 1 - base)
        hi = pos0 + rel[a:b] - base  # last visible key of each row
        j = torch.arange(klo, khi, device=q.device)
        ok = j[None, :] <= hi[:, None]  # [s, t]
        if window is not None:
            ok = ok & (j[None, :] > hi[:, None] - window)
        qb = q[a:b].reshape(b - a, kv, g, d).permute(1, 2, 0, 3).reshape(kv, g * (b - a), d)
        for c in range(0, kv, kvg):   # KV heads c..e-1 and their query heads
            e = min(c + kvg, kv)
            sc = torch.bmm(qb[c:e], kT[c:e, :, klo:khi]) * scale  # [KVg, G*s, t]
            if sel is not None:
                okc = ok[None] & sel[c * g:e * g, a:b][:, :, (j + base) // chunk]  # [Hg, s, t]
                okc = okc.reshape(e - c, g * (b - a), khi - klo)
            else:
                okc = ok[None].expand(g, -1, -1).reshape(1, g * (b - a), khi - klo)
            p = torch.softmax(sc.masked_fill(~okc, float("-inf")), dim=-1)
            del sc, okc
            ob = torch.bmm(p, vh[c:e, klo:khi])  # [KVg, G*s, Dv]
            out[a:b, c * g:e * g] = ob.reshape(e - c, g, b - a, dv).permute(2, 0, 1, 3).reshape(b - a, (e - c) * g, dv)
    return out


def moba_select(q, k, chunk: int, topk: int):
    """MoBA block selection (``layers.moba_select``): bool [H, S, n_blocks]. Block means of the keys
    in float64 (rounded to q's dtype), scores q . mean per query head against its KV head, the
    query's own block always in, later blocks out, top-k by score with ties to the earlier block.
    Scored in row blocks of at most ``SCORE_ELEMENTS`` scores."""
    import torch

    s, h, d = q.shape
    kv = k.shape[1]
    nb = -(-s // chunk)
    kp = torch.zeros((nb * chunk, kv, d), dtype=torch.float64, device=k.device)
    kp[:s] = k
    n_in = torch.full((nb,), float(chunk), dtype=torch.float64, device=k.device)
    n_in[-1] = s - (nb - 1) * chunk
    kmean = (kp.reshape(nb, chunk, kv, d).sum(dim=1) / n_in[:, None, None]).to(q.dtype)
    kmean_h = kmean.repeat_interleave(h // kv, dim=1)  # [nb, H, D]
    sel = torch.zeros((h, s, nb), dtype=torch.bool, device=q.device)
    rows = max(1, SCORE_ELEMENTS // (h * nb))
    for a in range(0, s, rows):
        e = min(a + rows, s)
        score = torch.einsum("shd,bhd->hsb", q[a:e], kmean_h)
        cur = (torch.arange(a, e, device=q.device) // chunk)[None, :, None]
        b = torch.arange(nb, device=q.device)[None, None, :]
        score = torch.where(b > cur, float("-inf"), score)
        score = torch.where(b == cur, float("inf"), score)
        order = torch.sort(score, dim=-1, descending=True, stable=True).indices[..., :topk]
        blk = torch.zeros(score.shape, dtype=torch.bool, device=q.device)
        blk.scatter_(-1, order, True)
        sel[:, a:e] = blk & (b <= cur)
    return sel


def l2_normalize(x, eps: float = 1e-6):
    """x / sqrt(sum(x^2, last axis) + eps)."""
    return x / (x.square().sum(dim=-1, keepdim=True) + eps).sqrt()


def gated_delta_rule(q, k, v, g, beta, state=None, chunk: int = DELTA_CHUNK):
    """The gated delta rule of ``layers.gated_delta_rule`` in chunked form (module docstring), batched
    over B independent heads: q, k [B, L, Dk], v [B, L, Dv], g (log decay), beta [B, L]; state
    [B, Dk, Dv] or None (zeros). Returns (o [B, L, Dv], final state [B, Dk, Dv]). Tokens with
    ``g = beta = 0`` and zero k are identities (they pad sequences of different lengths)."""
    import torch
    import torch.nn.functional as F

    B, L, dk = q.shape
    dv = v.shape[-1]
    S = (torch.zeros((B, dk, dv), dtype=q.dtype, device=q.device) if state is None
         else state.to(q.dtype).clone())
    if L == 0:
        return v.new_zeros((B, 0, dv)), S
    C = min(chunk, L)
    n = -(-L // C)
    pad = n * C - L
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        g, beta = (F.pad(t, (0, pad)) for t in (g, beta))
    q, k, v = q.reshape(B, n, C, dk), k.reshape(B, n, C, dk), v.reshape(B, n, C, dv)
    G = g.reshape(B, n, C).cumsum(dim=-1)
    beta = beta.reshape(B, n, C)
    causal = torch.ones((C, C), dtype=torch.bool, device=q.device).tril()
    decay = torch.exp((G[..., :, None] - G[..., None, :]).masked_fill(~causal, float("-inf")))  # [B,n,C,C]
    kkT = k @ k.transpose(-1, -2)
    A = (kkT * decay * beta[..., :, None]).masked_fill(~causal.tril(-1), 0.0)
    eye = torch.eye(C, dtype=q.dtype, device=q.device)
    rhs = torch.cat([v * beta[..., None], k * (beta * torch.exp(G))[..., None]], dim=-1)
    X = torch.linalg.solve_triangular(A + eye, rhs, upper=False, unitriangular=True)
    U, W = X[..., :dv], X[..., dv:]
    qk = (q @ k.transpose(-1, -2)) * decay
    qg = q * torch.exp(G)[..., None]
    kd = (k * torch.exp(G[..., -1:] - G)[..., None]).transpose(-1, -2)  # [B,n,Dk,C]
    last = torch.exp(G[..., -1])[..., None, None]  # [B,n,1,1]
    out = torch.empty((B, n, C, dv), dtype=q.dtype, device=q.device)
    for c in range(n):
        vn = torch.baddbmm(U[:, c], W[:, c], S, alpha=-1.0)
        out[:, c] = torch.baddbmm(qk[:, c] @ vn, qg[:, c], S)
        S = torch.baddbmm(S * last[:, c], kd[:, c], vn)
    return out.reshape(B, n * C, dv)[:, :L], S


def sse_route(logits, topk: int):
    """SSE router (``layers.sse_route``): (idx int64 [S, topk] by descending probability, ties to the
    lower index; the selected probabilities [S, topk])."""
    import torch

    probs = torch.softmax(logits, dim=-1)
    idx = torch.sort(probs, dim=-1, descending=True, stable=True).indices[:, :topk]
    return idx, probs.gather(-1, idx)


def sse_recurrence(q1, k1, q2, k2, v, g, beta, route_idx, route_w, n_partitions: int,
                   router_weight: str = "qk", eps: float = 1e-6, state=None, segment: int | None = None):
    """``layers.sse_recurrence`` (returning the states too): the shared state and the partitions,
    each partition over the tokens routed to it, all run as one batch of gated delta rules (the
    partitions' token lists packed to the front and padded with identity tokens to S), ``segment``
    packed positions at a time (default ``SSE_SEGMENT``; a multiple of ``DELTA_CHUNK``), each segment
    continuing from the states the last one left. Inputs as there ([S, H, D]; g, beta [S, 2H]);
    state None or (shared [H, Dk, Dv], partitions [P, H, Dk, Dv]). Returns (o [S, H, Dv], (shared,
    partitions)); partition outputs are added in partition order."""
    import torch

    s, h, dk = q1.shape
    dv = v.shape[-1]
    P, K = n_partitions, route_idx.shape[1]
    R = P + 1
    seg = SSE_SEGMENT if segment is None else segment
    if seg % DELTA_CHUNK:
        raise ValueError(f"segment must be a multiple of {DELTA_CHUNK}, got {seg}")
    qs = dk ** -0.5
    dev = q1.device
    hit = route_idx[:, :, None] == torch.arange(P, device=dev)  # [S, K, P]
    routed = hit.any(dim=1)  # [S, P]
    w = torch.where(hit, route_w[:, :, None], 0.0).sum(dim=1).to(q1.dtype)  # [S, P]
    rank = routed.long().cumsum(dim=1) - 1  # [S, P]: the token's slot among its routed partitions
    # order[p] = the tokens routed to p, ascending, then the others (packed positions >= n[p] are padding)
    order = torch.sort((~routed).T.to(torch.int8), dim=1, stable=True).indices  # [P, S]
    n_routed = routed.sum(dim=0)  # [P]
    pidx = torch.arange(P, device=dev)[:, None]
    shared = torch.empty((s, h, dv), dtype=q1.dtype, device=dev)
    parts = torch.zeros((s, K, h, dv), dtype=q1.dtype, device=dev)  # each token's partition outputs
    S = None
    if state is not None:
        S = torch.cat([state[0][None], state[1]], dim=0).reshape(R * h, dk, dv).to(q1.dtype)

    def heads(t):  # [R, L, H, D] -> [R*H, L, D] and [R, L, H] -> [R*H, L]
        t = t.transpose(1, 2)
        return t.reshape(R * h, *t.shape[2:])

    pad_to = min(DELTA_CHUNK, s)   # the last segment is padded as the whole sequence would be
    for a in range(0, s, seg):
        e = min(a + seg, s)
        L = e - a
        Lp = -(-L // pad_to) * pad_to
        tok = order[:, a:e]  # [P, L]
        live = (torch.arange(a, e, device=dev)[None] < n_routed[:, None])  # [P, L]
        q2p, k2p = q2[tok], k2[tok]  # [P, L, H, D]
        if router_weight == "qk":
            wt = w.T.gather(1, tok)[:, :, None, None]
            q2p, k2p = q2p * wt, k2p * wt
        packed = []
        for x, xs in ((l2_normalize(q2p, eps) * qs, l2_normalize(q1[a:e], eps) * qs),
                      (l2_normalize(k2p, eps), l2_normalize(k1[a:e], eps)),
                      (v[tok], v[a:e]),
                      (g[tok, h:], g[a:e, :h]),
                      (beta[tok, h:], beta[a:e, :h])):
            m = live.reshape(live.shape + (1,) * (x.dim() - 2))
            x = torch.cat([xs[None], torch.where(m, x, 0.0)], dim=0)  # [R, L, ...]
            if Lp > L:
                x = torch.cat([x, x.new_zeros((R, Lp - L) + tuple(x.shape[2:]))], dim=1)
            packed.append(heads(x))
        o, S = gated_delta_rule(*packed, S)  # type: ignore[call-arg]  # packed: q, k, v, g, beta
        o = o.reshape(R, h, Lp, dv)[:, :, :L].transpose(1, 2)  # [R, L, H, Dv]
        shared[a:e] = o[0]
        slot = rank[tok, pidx]  # [P, L]
        keep = live.reshape(-1)
        parts[tok.reshape(-1)[keep], slot.reshape(-1)[keep]] = o[1:].reshape(P * L, h, dv)[keep]
    if S is None:   # no tokens
        S = torch.zeros((R * h, dk, dv), dtype=q1.dtype, device=dev)
    S = S.reshape(R, h, dk, dv)
    out = shared
    for p in range(P):   # in place, over the routed tokens only: one add per element, as out + op
        sel = routed[:, p].nonzero().squeeze(1)
        op = parts[sel, rank[sel, p]]  # the routed tokens' rows of partition p
        if router_weight == "output":
            op = op * w[sel, p, None, None]
        out.index_add_(0, sel, op)
    return out, (S[0], S[1:])
