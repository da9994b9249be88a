"""Energy per token of the context-dependent work: attention products, the KV cache and SSE's state.

The projections' energy per token does not depend on the context; these terms grow with it. Per
layer kind, for a prefill of ``n`` tokens (averages over its queries), counted per token:

* **MoBA**: QK^T and S*V over the keys the trace says were visited (``key_fraction`` x the causal
  keys, (n + 1) / 2 on average), plus the gate: one score per query head and past block (q . block
  mean) and the block means' running sums (one add per key element);
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
result is in pJ per token. Assumptions (element widths, chunk size, key averages) are arguments so a
caller can state them and show how far the answer moves.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ContextShape", "context_terms", "causal_keys", "moba_keys"]


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

    @classmethod
    def from_config(cls, mc) -> "ContextShape":
        """The shape of a :class:`neurosim.model.config.ModelConfig`."""
        return cls(tuple(mc.layer_kinds), mc.num_heads, mc.num_kv_heads, mc.head_dim, mc.moba_chunk_size,
                   mc.window_size, mc.sse_num_heads, mc.sse_head_dim, mc.num_writer,
                   mc.sse_num_heads or mc.num_heads)


def causal_keys(n: int) -> float:
    """Mean causal keys per query of a prefill of n tokens: (n + 1) / 2."""
    return (n + 1) / 2


def moba_keys(n: int, key_fraction: float) -> float:
    """Mean keys a MoBA query visits: its measured share of the causal keys x the mean causal keys
    (an approximation: the trace keeps the mean share, not the mean count)."""
    return key_fraction * causal_keys(n)


def _softmax_terms(heads: int, kv_heads: int, d: int, keys: float, kv_bits: int) -> tuple[float, float]:
    """(MACs, memory bits) per token of one softmax attention layer over ``keys`` keys."""
    macs = 2 * heads * d * keys                       # QK^T and S*V
    bits = (2 * kv_heads * d * kv_bits) * (1 + keys)  # write own K, V; read the visited K, V per KV head
    return macs, bits


def context_terms(shape: ContextShape, n: int, *, mac_pj: float, mem_pj_per_bit: float,
                  moba_key_fraction: float | None = None, kv_bits: int = 16, state_bits: int = 32,
                  chunk: int = 64) -> dict:
    """Energy per token [pJ] of the context-dependent terms at prefill length ``n``.

    ``moba_key_fraction``: the measured share of causal keys MoBA visits (None: dense, every causal
    key). Returns ``{"macs": {kind: MACs}, "bits": {kind: memory bits}, "pj": {kind: pJ},
    "total_pj": pJ}`` per token, summed over the layers of each kind ("moba", "full", "swa", "sse",
    "gate")."""
    macs = dict(moba=0.0, gate=0.0, full=0.0, swa=0.0, sse=0.0)
    bits = dict(moba=0.0, gate=0.0, full=0.0, swa=0.0, sse=0.0)
    h, kv, d = shape.heads, shape.kv_heads, shape.head_dim
    for kind in shape.layer_kinds:
        if kind == "moba":
            keys = causal_keys(n) if moba_key_fraction is None else moba_keys(n, moba_key_fraction)
            m, b = _softmax_terms(h, kv, d, keys, kv_bits)
            macs["moba"] += m
            bits["moba"] += b
            if moba_key_fraction is not None:
                blocks = causal_keys(n) / shape.moba_chunk          # past blocks scored per query (mean)
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
