"""Attention-level statistics of a whole-sequence pass (``Model.attention_stats``), one formula each,
shared by the numpy and the torch forward: the fraction of blocks and keys a MoBA query visits and
its mean keys, the keys a sliding window sees, and how evenly SSE routes tokens over its partitions
(bits)."""

from __future__ import annotations

import numpy as np

__all__ = ["entropy_bits", "full_stats", "moba_count_stats", "moba_stats", "sse_stats", "swa_stats"]


def entropy_bits(counts) -> float:
    """Shannon entropy (bits) of the distribution given by non-negative ``counts``; 0 when empty."""
    p = np.asarray(counts, dtype=np.float64)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log2(p)).sum()) if p.size else 0.0


def moba_stats(sel, st, en, qpos, chunk: int, topk: int) -> dict:
    """MoBA: selection sel [H, S, nb], key segments st/en [H, S, topk], query positions qpos [S]."""
    return moba_count_stats(sel.sum(axis=2), (en - st).sum(axis=2), qpos, chunk, topk)


def moba_count_stats(blocks, keys, qpos, chunk: int, topk: int) -> dict:
    """MoBA from per-query counts: blocks / keys int [H, S] = selected blocks / visited keys of each
    query head and query (what a pass can keep instead of the whole selection). ``mean_keys``: the
    mean visited keys per query (an exact integer sum, one rounding)."""
    cur = qpos // chunk + 1
    keys = np.asarray(keys)
    return dict(type="moba", chunk=chunk, topk=topk, queries=int(len(qpos)),
                block_fraction=float(np.mean(blocks / cur[None])),
                key_fraction=float(np.mean(keys / (qpos + 1)[None])),
                mean_keys=int(keys.sum(dtype=np.int64)) / keys.size)


def full_stats(queries: int) -> dict:
    """Full attention: every query visits every causal block and key."""
    return dict(type="full", queries=int(queries), block_fraction=1.0, key_fraction=1.0)


def swa_stats(st, en, qpos) -> dict:
    """SWA: the mean fraction of the causal keys each query sees (segments st/en [S, 1])."""
    return {"swa_key_fraction": float(np.mean((en - st)[:, 0] / (qpos + 1)))}


def sse_stats(hist, queries: int) -> dict:
    """SSE: hist [P] = tokens routed to each partition (top-k routes per token)."""
    return dict(type="sse", queries=int(queries), partition_tokens=[int(c) for c in hist],
                usage_entropy_bits=entropy_bits(hist), max_entropy_bits=float(np.log2(len(hist))))
