"""Orthogonal rotation of the residual stream (QuaRot-style), folded offline into the weights.

For an orthogonal Q [d, d] (d = hidden size) the model with residual stream ``h Q`` computes the
same logits as the original, with nothing computed online, once the weights are rewritten:

- every RMSNorm that reads the residual stream (``attn_norm``, ``mlp_norm``, the final norm) is
  made rotation-invariant by folding its weight into the projections that read it: the norm
  weight becomes 1, since ``rms(h Q) = rms(h)`` (Q keeps the Euclidean norm) and so
  ``rmsnorm_1(h Q) = rmsnorm_1(h) Q``;
- the input side of every reader of the residual stream: ``W' = (W diag(w_norm)) Q`` for q/k/v
  and gate/up (and the head: ``lm_head' = (lm_head diag(w_final)) Q``);
- the output side of every writer into it: ``W' = Q^T W`` (and its bias ``b' = b Q``) for o_proj
  and down_proj; the embeddings ``E' = E Q``.

Tied embeddings are untied in memory (the embedding is ``E Q``, the head ``(E diag(w_final)) Q``).
The rotation spreads outlier channels of the residual stream over all channels, so the per-token
INT8 absmax scale of every projection that reads it (q/k/v, gate/up) loses less resolution; the
chip still sees per-token INT8 counts, INT8 weights (of the rotated matrices) and one scale per
token row.

Q is ``H / sqrt(d)`` for a Hadamard matrix H of order d when one can be built here (Sylvester
doubling, Paley I (q + 1, q prime = 3 mod 4), Paley II (2 (q + 1), q prime = 1 mod 4) and
Kronecker products of these; SmolLM2's 576 = Sylvester 16 x Paley II 36, Qwen2.5-Coder-1.5B's
1536 = Sylvester 128 x Paley I 12, the 0.5B's 896 = Sylvester 32 x Paley II 28), else (or with
``rotate: random``) a seeded random orthogonal matrix (QR of a Gaussian, signs fixed by R's
diagonal). :func:`rotation_matrix` says which was used.

Where an online transform would be needed (not done here): the input of down_proj (after the
SwiGLU non-linearity ``silu(gate) * up``, no linear producer to fold a rotation into; QuaRot
applies an online Hadamard there; one of Qwen2.5-Coder-1.5B's FFN width 8960 = Sylvester 64 x
Paley I 140 exists, but it would be a transform the chip computes per token, not a fold) and
anything after RoPE (q and k, e.g. to quantize the KV cache: RoPE is position-dependent, so a
rotation of q / k cannot be folded into q_proj / k_proj).
Here q.k and the KV cache stay float, so neither is needed. SpikingBrain 2.0's SSE+SWA layers
cannot be rotated offline: their branch outputs pass through RMSNorms (``sse_merge_norm``,
``swa_merge_norm``) with their own weights on the way into the residual stream, and an
elementwise weight after a norm does not commute with Q, with no projection after it to fold into
(:func:`unrotatable` names the layers; run and eval refuse such a model before any work).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from neurosim import NeurosimError
from neurosim.model.config import LM_HEAD_NAME

__all__ = ["ROTATIONS", "hadamard", "rotation_matrix", "unrotatable", "check_rotatable", "RotatedCheckpoint"]

#: values of the ``rotate`` setting
ROTATIONS = ("none", "hadamard", "random")

#: rows of a weight rotated at once (float64 intermediates of about ROW_BLOCK x hidden x 8 bytes)
ROW_BLOCK = 8192


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, int(n ** 0.5) + 1))


def _jacobsthal(q: int) -> np.ndarray:
    """Q[i, j] = chi(j - i), chi the quadratic character mod the prime q (0 at 0)."""
    chi = np.full(q, -1, dtype=np.int64)
    chi[0] = 0
    chi[[(x * x) % q for x in range(1, q)]] = 1
    i = np.arange(q)
    return chi[(i[None, :] - i[:, None]) % q]


def _paley1(q: int) -> np.ndarray:
    """Hadamard of order q + 1 for a prime q = 3 mod 4."""
    n = q + 1
    s = np.zeros((n, n), dtype=np.int64)
    s[0, 1:] = 1
    s[1:, 0] = -1
    s[1:, 1:] = _jacobsthal(q)
    return s + np.eye(n, dtype=np.int64)


def _paley2(q: int) -> np.ndarray:
    """Hadamard of order 2 (q + 1) for a prime q = 1 mod 4."""
    n = q + 1
    c = np.zeros((n, n), dtype=np.int64)
    c[0, 1:] = 1
    c[1:, 0] = 1
    c[1:, 1:] = _jacobsthal(q)
    zero = np.array([[1, -1], [-1, -1]])
    one = np.array([[1, 1], [1, -1]])
    return np.block([[zero if v == 0 else v * one for v in row] for row in c])


_H2 = np.array([[1, 1], [1, -1]], dtype=np.int64)


@lru_cache(maxsize=None)
def _construct(n: int) -> tuple[tuple[str, int, int], ...] | None:
    """The factors of a Hadamard construction of order n: a tuple of (kind, order, q) or None."""
    if n == 1:
        return ()
    if n == 2:
        return (("sylvester", 2, 0),)
    if n % 4:
        return None
    sub = _construct(n // 2)
    if sub is not None:
        return (("sylvester", 2, 0),) + sub
    if _is_prime(n - 1) and (n - 1) % 4 == 3:
        return (("paley1", n, n - 1),)
    if _is_prime(n // 2 - 1) and (n // 2 - 1) % 4 == 1:
        return (("paley2", n, n // 2 - 1),)
    for a in range(4, int(n ** 0.5) + 1, 4):
        if n % a == 0 and (n // a) % 4 == 0:
            fa, fb = _construct(a), _construct(n // a)
            if fa is not None and fb is not None:
                return fa + fb
    return None


def _describe(factors) -> str:
    two = sum(1 for k, _, _ in factors if k == "sylvester")
    parts = [f"Sylvester {2 ** two}"] if two else []
    parts += [f"Paley {'I' if k == 'paley1' else 'II'} {m} (q={q})" for k, m, q in factors if k != "sylvester"]
    return " x ".join(parts) or "1"


def hadamard(n: int) -> tuple[np.ndarray, str] | None:
    """(H, construction) with H int64 [n, n] of +-1 and ``H H^T = n I``, or None when none of the
    constructions here gives order n."""
    factors = _construct(int(n))
    if factors is None:
        return None
    h = np.ones((1, 1), dtype=np.int64)
    for kind, m, q in factors:
        h = np.kron(h, _H2 if kind == "sylvester" else _paley1(q) if kind == "paley1" else _paley2(q))
    assert np.array_equal(h @ h.T, n * np.eye(n, dtype=np.int64)), n
    return h, f"Hadamard {n} = {_describe(factors)}"


def rotation_matrix(d: int, kind: str, seed: int = 0) -> tuple[np.ndarray, str]:
    """(Q float64 [d, d] orthogonal, description of the construction used).

    kind "hadamard": ``H / sqrt(d)`` if a Hadamard of order d can be built, else the seeded random
    orthogonal matrix (the description says so); "random": QR of a d x d standard Gaussian drawn
    with ``numpy.random.default_rng(seed)``, columns' signs fixed by R's diagonal.
    """
    if kind not in ("hadamard", "random"):
        raise NeurosimError(f"unknown rotation {kind!r}; choose one of {', '.join(ROTATIONS)}")
    if kind == "hadamard":
        h = hadamard(d)
        if h is not None:
            return h[0].astype(np.float64) / np.sqrt(d), h[1]
    g = np.random.default_rng(seed).standard_normal((d, d))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))[None, :]
    what = f"random orthogonal {d} (QR of a Gaussian, seed {seed})"
    return q, what if kind == "random" else f"{what}: no Hadamard of order {d} here"


def unrotatable(model_config) -> list[int]:
    """The layers whose structure a residual rotation cannot be folded into (SpB2.0 SSE+SWA layers:
    RMSNorms with their own weights between the branch outputs and the residual stream)."""
    return [i for i, k in enumerate(model_config.layer_kinds) if k == "sse_swa"]


def check_rotatable(model_config) -> None:
    """One-line error when the model cannot be rotated offline (see :func:`unrotatable`)."""
    bad = unrotatable(model_config)
    if bad:
        raise NeurosimError(
            f"rotation does not fold into {model_config.model_type} SSE+SWA layers ({', '.join(map(str, bad))}): "
            "their merge RMSNorm weights sit between the branch outputs and the residual stream; use rotate none")


class RotatedCheckpoint:
    """A checkpoint view of ``base_model`` (a :class:`neurosim.model.network.Model`) with the residual
    stream rotated by ``q`` (float64 [hidden, hidden], orthogonal), see the module docstring.

    Tensors are computed in float64 from the base model's tensors on each call and returned in the
    base model's dtype (wrap it in a ``Model(..., keep_weights=True)`` or a
    :class:`neurosim.run.spill.SpilledCheckpoint` to compute each once). ``model_config`` is the
    base's with untied embeddings; ``names`` adds ``lm_head.weight``.
    """

    def __init__(self, base_model, q: np.ndarray, description: str = ""):
        mc = base_model.model_config
        check_rotatable(mc)
        if q.shape != (mc.hidden_size, mc.hidden_size):
            raise NeurosimError(f"rotation of shape {q.shape} does not match hidden size {mc.hidden_size}")
        self.base = base_model
        self.q = np.asarray(q, dtype=np.float64)
        self.description = description
        ck = base_model.ckpt
        self.config = {**getattr(ck, "config", {}), "tie_word_embeddings": False}
        self.model_config = replace(mc, tie_word_embeddings=False)
        self.model_type = mc.model_type
        self.names = list(dict.fromkeys(list(getattr(ck, "names", None) or []) + [LM_HEAD_NAME]))
        self.tokenizer = getattr(ck, "tokenizer", None)
        self.readers: dict[str, str] = {}  # projection -> the norm whose output it reads
        self.writers: set[str] = set()     # projections (and their biases) writing into the residual
        self.norms = {mc.final_norm_name}
        for i in range(mc.num_layers):
            n = mc.names(i)
            self.norms |= {n["attn_norm"], n["mlp_norm"]}
            for r in ("q_proj", "k_proj", "v_proj"):
                self.readers[n[r]] = n["attn_norm"]
            for r in ("gate_proj", "up_proj"):
                self.readers[n[r]] = n["mlp_norm"]
            self.writers |= {n["o_proj"], n["down_proj"]}
            bias = mc.bias_names(i)
            self.writers |= {bias[w] for w in (n["o_proj"], n["down_proj"]) if w in bias}

    def _w(self, name: str) -> np.ndarray:
        return np.asarray(self.base.weight(name), dtype=np.float64)

    def _rows_times_q(self, name: str, scale: np.ndarray | None) -> np.ndarray:
        """``(W diag(scale)) Q`` for the base weight ``name`` [rows, hidden], in float64 over blocks
        of ROW_BLOCK rows, each cast to the base model's dtype as it is done: the float64
        intermediates of a large matrix (an embedding of 152k rows) never exist whole. Row blocks
        give the same values as one product (each output row is its own dot products)."""
        w = self.base.weight(name)
        out = np.empty(w.shape, dtype=self.base.dtype)
        for a in range(0, w.shape[0], ROW_BLOCK):
            blk = np.asarray(w[a:a + ROW_BLOCK], dtype=np.float64)
            if scale is not None:
                blk = blk * scale[None, :]
            out[a:a + ROW_BLOCK] = blk @ self.q
        return out

    def tensor(self, name: str) -> np.ndarray:
        """The rotated tensor ``name`` (computed in float64, returned in the base model's dtype;
        norms of the residual stream are ones)."""
        mc = self.base.model_config
        if name == LM_HEAD_NAME:
            return self._rows_times_q(self.base.lm_head_name, self._w(mc.final_norm_name))
        if name == mc.embed_name:
            return self._rows_times_q(name, None)
        if name in self.norms:
            return np.ones(mc.hidden_size, dtype=self.base.dtype)
        if name in self.readers:
            return self._rows_times_q(name, self._w(self.readers[name]))
        if name in self.writers:
            w = self._w(name)
            return (w @ self.q if w.ndim == 1 else self.q.T @ w).astype(self.base.dtype)
        return self.base.weight(name)
