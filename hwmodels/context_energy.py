"""Energy per token of the context-dependent work: attention products, the KV cache and SSE's state.

The projections' energy per token does not depend on the context; these terms grow with it. Per
layer kind, for a prefill of ``n`` tokens (averages over its queries), counted per token:

* **MoBA**: QK^T and S*V over the keys a query visits. The count is structural: a query at position
  i, in block c = i // chunk, always visits its own block up to itself and min(topk - 1, c) whole
  past blocks (its own block is forced in, later blocks are out, the rest ranked), so its keys are
  (i - c chunk + 1) + min(topk - 1, c) chunk whatever the weights (:func:`moba_mean_keys`). Plus
  the gate: one score per query head and past block (q . block mean, :func:`moba_past_blocks`) and
  the block means' running sums (one add per key element);
* **full attention**: QK^T and S*V over every causal key; **SWA**: over the window (capped at the
  causal keys);
* **SSE**: the gated delta rule's state update and read per token for the shared state and the
  ``num_writer`` partitions a token writes (decay, S^T k, the rank-1 update, S^T q: 4 Dk x Dv
  multiply-adds per head and state), and the state's memory traffic: in the chunked form each state
  is read and written once per chunk of ``chunk`` tokens;
* **KV cache**: every token's K and V written once; every visited key's K and V read once per KV
  head (the query heads of a group share the read), from SRAM or DRAM per scenario.

The products are priced as MACs (``mac_pj`` each, the dense MAC's measured compute energy per
multiply-accumulate) unless a spiking form is stated; memory per bit (``mem_pj_per_bit``). Every
result is in pJ per token. Assumptions (element widths, chunk size) are arguments so a caller can
state them and show how far the answer moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ContextShape", "context_terms", "causal_keys", "moba_key_share", "moba_mean_keys", "moba_past_blocks",
           "moba_total_keys"]


@dataclass(frozen=True)
class ContextShape:
    """The attention-side shape of a model: heads, head dims, MoBA/SWA/SSE sizes and layer kinds."""

    layer_kinds: tuple[str, ...]   #: per layer: "moba", "full" or "sse_swa" (others count as full)
    heads: int                     #: softmax-attention query heads
    kv_heads: int
    head_dim: int
    moba_chunk: int
    window: int | None
    sse_heads: int = 0
    sse_head_dim: int = 0
    sse_writers: int = 0           #: partitions each token writes (num_writer)
    swa_heads: int = 0             #: SWA query heads (SpB2.0: the SSE head count)
    moba_topk: int = 0             #: blocks a MoBA query visits at most (its own included)

    @classmethod
    def from_config(cls, mc) -> "ContextShape":
        """The shape of a :class:`neurosim.model.config.ModelConfig`."""
        return cls(tuple(mc.layer_kinds), mc.num_heads, mc.num_kv_heads, mc.head_dim, mc.moba_chunk_size,
                   mc.window_size, mc.sse_num_heads, mc.sse_head_dim, mc.num_writer,
                   mc.sse_num_heads or mc.num_heads, mc.moba_topk)


def causal_keys(n: int) -> float:
    """Mean causal keys per query of a prefill of n tokens: (n + 1) / 2."""
    return (n + 1) / 2


def moba_total_keys(n: int, chunk: int, topk: int) -> int:
    """Keys visited by the queries 0..n-1 of a MoBA prefill, summed (exact integer, O(1)).

    Query i in block c = i // chunk visits (i - c chunk + 1) + min(topk - 1, c) chunk keys."""
    full, rest = divmod(n, chunk)                  # whole blocks, queries in the last partial one
    own = full * chunk * (chunk + 1) // 2 + rest * (rest + 1) // 2        # own block, causal part
    t = topk - 1
    a = min(full, t + 1)                           # whole blocks with c <= topk - 1: min(t, c) = c
    past = chunk * (a * (a - 1) // 2 + t * (full - a)) + rest * min(t, full)   # past blocks, summed
    return own + chunk * past


def moba_mean_keys(n: int, chunk: int, topk: int) -> float:
    """Mean keys a MoBA query visits over a prefill of n tokens (keys per query; exact sum, one
    rounding). Equals the causal mean (n + 1) / 2 exactly when n <= chunk x topk."""
    return moba_total_keys(n, chunk, topk) / n


def moba_key_share(n: int, chunk: int, topk: int) -> float:
    """Mean over queries of (keys visited / causal keys): what a trace's ``key_fraction`` measures
    (O(n) float sum, exactly 1.0 when n <= chunk x topk)."""
    i = np.arange(n, dtype=np.int64)
    c = i // chunk
    keys = i - c * chunk + 1 + np.minimum(topk - 1, c) * chunk
    return 1.0 if n <= chunk * topk else float(np.mean(keys / (i + 1)))


def moba_past_blocks(n: int, chunk: int) -> float:
    """Mean past blocks per query (blocks the gate scores) over a prefill of n tokens: the mean of
    i // chunk over i = 0..n-1 (exact sum, one rounding)."""
    full, rest = divmod(n, chunk)
    return (chunk * full * (full - 1) // 2 + rest * full) / n


def _softmax_terms(heads: int, kv_heads: int, d: int, keys: float, kv_bits: int) -> tuple[float, float]:
    """(MACs, memory bits) per token of one softmax attention layer over ``keys`` keys."""
    macs = 2 * heads * d * keys                       # QK^T and S*V
    bits = (2 * kv_heads * d * kv_bits) * (1 + keys)  # write own K, V; read the visited K, V per KV head
    return macs, bits


def context_terms(shape: ContextShape, n: int, *, mac_pj: float, mem_pj_per_bit: float,
                  moba_keys: float | None = None, kv_bits: int = 16, state_bits: int = 32,
                  chunk: int = 64) -> dict:
    """Energy per token [pJ] of the context-dependent terms at prefill length ``n``.

    ``moba_keys``: the mean keys a MoBA query visits (:func:`moba_mean_keys`; None: MoBA layers
    attend densely, every causal key, and no gate). Returns ``{"macs": {kind: MACs}, "bits": {kind: memory bits}, "pj": {kind: pJ},
    "total_pj": pJ}`` per token, summed over the layers of each kind ("moba", "full", "swa", "sse",
    "gate")."""
    macs = dict(moba=0.0, gate=0.0, full=0.0, swa=0.0, sse=0.0)
    bits = dict(moba=0.0, gate=0.0, full=0.0, swa=0.0, sse=0.0)
    h, kv, d = shape.heads, shape.kv_heads, shape.head_dim
    for kind in shape.layer_kinds:
        if kind == "moba":
            m, b = _softmax_terms(h, kv, d, causal_keys(n) if moba_keys is None else moba_keys, kv_bits)
            macs["moba"] += m
            bits["moba"] += b
            if moba_keys is not None:
                blocks = moba_past_blocks(n, shape.moba_chunk)      # past blocks scored per query (mean)
                macs["gate"] += h * d * blocks + kv * d             # scores + the running block sums
                bits["gate"] += h * d * blocks * kv_bits / (h // kv)  # block means read per KV head
        elif kind == "sse_swa":
            win = causal_keys(n) if shape.window is None else min(shape.window, n)
            m, b = _softmax_terms(shape.swa_heads, kv, d, win, kv_bits)
            macs["swa"] += m
            bits["swa"] += b
            states = 1 + shape.sse_writers
            dkdv = shape.sse_head_dim * shape.sse_head_dim
            macs["sse"] += 4 * shape.sse_heads * states * dkdv
            bits["sse"] += 2 * shape.sse_heads * states * dkdv * state_bits / chunk
        else:
            m, b = _softmax_terms(h, kv, d, causal_keys(n), kv_bits)
            macs["full"] += m
            bits["full"] += b
    pj = {k: macs[k] * mac_pj + bits[k] * mem_pj_per_bit for k in macs}
    return {"macs": macs, "bits": bits, "pj": pj, "total_pj": sum(pj.values())}
