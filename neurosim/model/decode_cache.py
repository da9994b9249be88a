"""What decoding keeps between steps: the per-layer cache of keys, values and SSE states
(:class:`DecodeCache`) and one softmax branch's growable key/value buffer (:class:`KVBuffer`)."""

from __future__ import annotations

import numpy as np

__all__ = ["DecodeCache", "KVBuffer"]


class DecodeCache:
    """What a decode step needs from the tokens before it (filled by ``Model.forward(..., cache=)``).

    ``pos``: tokens seen so far (the next token's position). ``layers[i]``: layer i's entries:
    ``"{branch}k"``/``"{branch}v"`` the post-norm, post-RoPE keys [T, KV, D] and the values
    [T, KV, Dv] of its softmax branch (branch "" or "swa_"; the SWA branch keeps only the last
    ``window - 1`` tokens, ``"{branch}base"`` = the position of its first kept key) and, for SSE
    layers, ``"sse_state"`` = (shared [H, Dk, Dv], partitions [P, H, Dk, Dv]) after the last token.
    The keys and values live in preallocated head-major buffers (``"{branch}kv"``, a
    :class:`KVBuffer`, grown geometrically); ``"{branch}k"``/``"{branch}v"`` are views of them.

    ``weights``: name -> float weight kept by the prefill that filled the cache and by the decode
    steps after it (``Model.forward(..., cache=)`` keeps them when the model's float weights fit in
    GENERATE_WEIGHT_BYTES), so decoding does not read the checkpoint again; dropped with the cache
    (or by ``weights.clear()``).
    """

    def __init__(self, n_layers: int):
        self.pos = 0
        self.layers: list[dict] = [dict() for _ in range(n_layers)]
        self.weights: dict[str, np.ndarray] = {}

    def nbytes(self) -> int:
        """Bytes held by the cached keys, values and states."""
        total = 0
        for entry in self.layers:
            for v in entry.values():
                arrs = v if isinstance(v, tuple) else (v,)
                total += sum(a.nbytes for a in arrs if isinstance(a, np.ndarray))
        return total


class KVBuffer:
    """One softmax branch's cached keys and values, head-major for :func:`neurosim.model.attend.attend_cached`:
    ``kT`` [KV, D, cap] (keys transposed), ``vh`` [KV, cap, Dv]; slots ``0..n-1`` hold the tokens
    at positions ``base..base+n-1``. ``keep``: None (keep every token) or how many of the latest
    tokens later queries still need (a sliding window's ``window - 1``); older ones are dropped
    when the buffer is full (compacted to the front), never while a pass still reads them."""

    def __init__(self, kv: int, d: int, dv: int, dtype, keep: int | None = None):
        self.kT = np.empty((kv, d, 0), dtype)
        self.vh = np.empty((kv, 0, dv), dtype)
        self.n = 0
        self.base = 0
        self.keep = keep

    def append(self, k: np.ndarray, v: np.ndarray) -> None:
        """Store keys k [t, KV, D] and values v [t, KV, Dv] after the cached ones."""
        t = k.shape[0]
        cap = self.kT.shape[2]
        if self.n + t > cap and self.keep is not None and self.n > self.keep:
            cut = self.n - self.keep   # only the last `keep` tokens are seen from here on
            self.kT[:, :, :self.keep] = self.kT[:, :, cut:self.n].copy()
            self.vh[:, :self.keep] = self.vh[:, cut:self.n].copy()
            self.n, self.base = self.keep, self.base + cut
        if self.n + t > cap:
            new = max(2 * cap, self.n + t + 64)
            kT = np.empty(self.kT.shape[:2] + (new,), self.kT.dtype)
            vh = np.empty((self.vh.shape[0], new, self.vh.shape[2]), self.vh.dtype)
            kT[:, :, :self.n] = self.kT[:, :, :self.n]
            vh[:, :self.n] = self.vh[:, :self.n]
            self.kT, self.vh = kT, vh
        self.kT[:, :, self.n:self.n + t] = k.transpose(1, 2, 0)
        self.vh[:, self.n:self.n + t] = v.transpose(1, 0, 2)
        self.n += t

    def views(self):
        """(keys [T, KV, D], values [T, KV, Dv], position of the first): the tokens later queries
        need (the last ``keep``, or all), as views of the buffers."""
        lo = 0 if self.keep is None else max(self.n - self.keep, 0)
        return (self.kT[:, :, lo:self.n].transpose(2, 0, 1), self.vh[:, lo:self.n].transpose(1, 0, 2),
                self.base + lo)
