"""The decoder stack, built from a checkpoint's config and run layer by layer (prefill style).

``Model(ckpt, dtype=np.float32)`` supports ``model_type`` "llama", "qwen3" (plain GQA attention in
every layer, HF tensor names) and "sse_swa_moba" (SpikingBrain 2.0: MoBA / full attention / SSE+SWA
hybrid layers, tensor names of SPEC.md section 4). Weights are read with ``ckpt.tensor(name)``
when a projection runs and dropped right after, so only one weight matrix (plus the
embedding/lm_head at the ends) is resident at a time.

Every linear projection inside the blocks goes through ``linear(name, x, w)``: name = the weight's
tensor name, x [S, in], w [out, in] (model dtype) -> [S, out]; default ``x @ w.T``. Embeddings,
lm_head, norms, softmax, RoPE, router softmax and the delta-rule recurrences stay float.
See docs/model.md for the assumptions where SPEC.md is silent.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from neurosim import NeurosimError
from neurosim.model import layers as L

__all__ = ["Model", "default_linear", "log_softmax", "token_nll", "perplexity", "LAYER_KINDS"]

LAYER_KINDS = ("attention", "moba", "full", "sse_swa")
SUPPORTED = ("llama", "qwen3", "sse_swa_moba")

Linear = Callable[[str, np.ndarray, np.ndarray], np.ndarray]


def default_linear(name: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The float projection: x [S, in] @ w.T -> [S, out]."""
    return x @ w.T


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, computed in float64."""
    x = np.asarray(logits, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def token_nll(logits: np.ndarray, ids) -> np.ndarray:
    """Next-token negative log-likelihood (nats) [S-1]: -log p(ids[t+1] | logits[t])."""
    ids = np.asarray(ids)
    lp = log_softmax(logits[:-1])
    return -lp[np.arange(len(ids) - 1), ids[1:]]


def perplexity(logits: np.ndarray, ids) -> float:
    """exp(mean next-token NLL) of ``ids`` under ``logits`` [S, vocab]."""
    return float(np.exp(token_nll(logits, ids).mean()))


def _get(cfg: dict, *keys, default=None):
    for k in keys:
        if k in cfg and cfg[k] is not None:
            return cfg[k]
    return default


class Model:
    """A float reference decoder built from ``ckpt`` (see module docstring).

    ckpt: an object with ``config`` (dict), ``model_type`` (str) and ``tensor(name)`` (float
    array); ``names`` (list of tensor names) is optional and enables optional tensors (biases,
    an untied ``lm_head.weight``). dtype: float32 (default) or float64 for all float math.
    sse_router_weight: how the SSE router probability enters the partitions, see
    ``layers.sse_recurrence`` ("qk" default, "none", "output").
    keep_weights: cache the float weights after first use (small models only; default False).
    """

    def __init__(self, ckpt, dtype=np.float32, *, sse_router_weight: str = "qk",
                 keep_weights: bool = False):
        self.ckpt = ckpt
        self.config = dict(ckpt.config)
        self.model_type = getattr(ckpt, "model_type", None) or self.config.get("model_type")
        if self.model_type not in SUPPORTED:
            raise NeurosimError(f"model_type {self.model_type!r} is not supported (one of {', '.join(SUPPORTED)})")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise NeurosimError(f"dtype must be float32 or float64, got {self.dtype}")
        if sse_router_weight not in L.ROUTER_WEIGHT_MODES:
            raise NeurosimError(f"sse_router_weight must be one of {L.ROUTER_WEIGHT_MODES}")
        self.sse_router_weight = sse_router_weight
        self.keep_weights = keep_weights
        self._cache: dict[str, np.ndarray] = {}
        names = getattr(ckpt, "names", None)
        self._names = set(names) if names is not None else None
        c = self.config
        self.hidden_size = int(c["hidden_size"])
        self.n_layers = int(c["num_hidden_layers"])
        self.vocab_size = int(c["vocab_size"])
        scaling = c.get("rope_scaling")
        if scaling and (scaling.get("rope_type") or scaling.get("type")) not in (None, "default"):
            raise NeurosimError(f"rope_scaling {scaling!r} is not supported")
        if self.model_type == "sse_swa_moba":
            self._init_spb2(c)
        else:
            self._init_hf(c)
        self.tie_word_embeddings = bool(c.get("tie_word_embeddings", False))
        if not self.tie_word_embeddings and self._names is not None and "lm_head.weight" not in self._names:
            self.tie_word_embeddings = True  # no separate head stored: it is the embedding
        self.lm_head_name = self.embed_name if self.tie_word_embeddings else "lm_head.weight"

    # ------------------------------------------------------------------ config
    def _init_hf(self, c):
        self.embed_name = "model.embed_tokens.weight"
        self.norm_eps = float(_get(c, "rms_norm_eps", "norm_eps", default=1e-6))
        self.num_heads = int(c["num_attention_heads"])
        self.num_kv_heads = int(_get(c, "num_key_value_heads", default=self.num_heads))
        self.head_dim = int(_get(c, "head_dim", default=self.hidden_size // self.num_heads))
        self.rope_theta = float(_get(c, "rope_theta", default=10000.0))
        self.qk_norm = self.model_type == "qwen3"
        act = _get(c, "hidden_act", default="silu")
        if act not in ("silu", "swish"):
            raise NeurosimError(f"hidden_act {act!r} is not supported (silu/swish)")
        self._kinds = ["attention"] * self.n_layers

    def _init_spb2(self, c):
        self.embed_name = "model.embeddings.weight"
        self.norm_eps = float(_get(c, "norm_eps", "rms_norm_eps", default=1e-6))
        a = c.get("attn") or {}
        self.num_heads = int(_get(a, "num_heads", default=c.get("num_heads")))
        self.num_kv_heads = int(_get(a, "num_kv_heads", default=self.num_heads))
        self.sse_num_heads = int(_get(c, "num_heads", default=self.num_heads))
        self.sse_head_dim = int(_get(c, "head_dim", default=self.hidden_size // self.sse_num_heads))
        self.head_dim = int(_get(a, "head_dim", default=self.sse_head_dim))
        self.rope_theta = float(_get(a, "rope_theta", default=_get(c, "rope_theta", default=10000.0)))
        self.qk_norm = bool(a.get("qk_norm", False))
        self.window_size = a.get("window_size")
        self.moba_chunk_size = int(_get(a, "moba_chunk_size", default=1024))
        self.moba_topk = int(_get(a, "moba_topk", default=4))
        self.n_partitions = int(_get(c, "num_sparse_partition", default=4))
        self.n_writer = int(_get(c, "num_writer", default=2))
        n_reader = int(_get(c, "num_reader", default=self.n_writer))
        if n_reader != self.n_writer:
            raise NeurosimError(f"num_reader {n_reader} != num_writer {self.n_writer} is not supported")
        for key in ("use_output_gate", "use_short_conv"):
            if c.get(key):
                raise NeurosimError(f"config {key}=true is not supported")
        if float(_get(c, "expand_v", default=1)) != 1:
            raise NeurosimError("config expand_v != 1 is not supported")
        lat = _get(c, "linear_attn_type", default="gdn")
        if lat != "gdn":
            raise NeurosimError(f"linear_attn_type {lat!r} is not supported (gdn)")
        self.sse_qk_relu = bool(c.get("sse_qk_relu", False))
        self.allow_neg_eigval = bool(c.get("allow_neg_eigval", False))
        act = _get(c, "hidden_act", default="swish")
        if act not in ("silu", "swish"):
            raise NeurosimError(f"hidden_act {act!r} is not supported (silu/swish)")
        attn_layers = {int(i) for i in a.get("layers", [])}
        full = {int(i) for i in a.get("full_layers", [])}
        self._kinds = ["full" if i in full else "moba" if i in attn_layers else "sse_swa"
                       for i in range(self.n_layers)]

    def layer_kind(self, i: int) -> str:
        """"attention" (llama/qwen3), "moba", "full" or "sse_swa" (SpB2.0)."""
        return self._kinds[i]

    def layer_prefix(self, i: int) -> str:
        return f"model.layers.{i}."

    def projection_names(self, i: int) -> list[str]:
        """Weight names of layer i's linear projections, in the order ``linear`` is called."""
        p = self.layer_prefix(i)
        mlp = [p + f"mlp.{n}_proj.weight" for n in ("gate", "up", "down")]
        kind = self._kinds[i]
        if kind == "attention":
            return [p + f"self_attn.{n}_proj.weight" for n in "qkvo"] + mlp
        a = p + "attn."
        if kind in ("moba", "full"):
            return [a + f"{n}_proj.weight" for n in "qkvo"] + mlp
        sse = [a + n + ".weight" for n in ("sse_q_proj", "sse_k_proj", "sse_v_proj", "lora_q_proj.0",
                                          "lora_q_proj.1", "lora_k_proj.0", "lora_k_proj.1", "sse_b_proj",
                                          "sse_a_proj", "sse_e_proj", "sse_o_proj")]
        return sse + [a + f"swa_{n}_proj.weight" for n in "qkvo"] + mlp

    # ------------------------------------------------------------------ weights
    def _has(self, name: str) -> bool:
        return self._names is not None and name in self._names

    def weight(self, name: str) -> np.ndarray:
        """The float tensor ``name`` in the model dtype (cached only with keep_weights)."""
        w = self._cache.get(name)
        if w is None:
            w = np.asarray(self.ckpt.tensor(name)).astype(self.dtype, copy=False)
            if self.keep_weights:
                self._cache[name] = w
        return w

    def _lin(self, linear: Linear, name: str, x: np.ndarray) -> np.ndarray:
        y = np.asarray(linear(name, x, self.weight(name)), dtype=self.dtype)
        bias = name[: -len("weight")] + "bias"
        if name.endswith(".weight") and self._has(bias):
            y = y + self.weight(bias)
        return y

    def _norm(self, name: str, x: np.ndarray) -> np.ndarray:
        return L.rms_norm(x, self.weight(name), self.norm_eps, dtype=self.dtype)

    # ------------------------------------------------------------------ blocks
    def _qkv(self, linear, p: str, x, q_name, k_name, v_name, qn_name, kn_name, use_norm: bool):
        s = x.shape[0]
        d = self.head_dim
        q = self._lin(linear, p + q_name, x).reshape(s, -1, d)
        k = self._lin(linear, p + k_name, x).reshape(s, -1, d)
        v = self._lin(linear, p + v_name, x).reshape(s, -1, d)
        if use_norm:
            q = self._norm(p + qn_name, q)
            k = self._norm(p + kn_name, k)
        cos, sin = L.rope_cos_sin(s, d, self.rope_theta, self.dtype)
        return L.apply_rope(q, cos, sin), L.apply_rope(k, cos, sin), v

    def _attn_hf(self, linear, p, x):
        a = p + "self_attn."
        q, k, v = self._qkv(linear, a, x, "q_proj.weight", "k_proj.weight", "v_proj.weight",
                            "q_norm.weight", "k_norm.weight", self.qk_norm)
        o = L.attention(q, k, v)
        return self._lin(linear, a + "o_proj.weight", o.reshape(x.shape[0], -1))

    def _attn_softmax(self, linear, p, x, kind):
        a = p + "attn."
        q, k, v = self._qkv(linear, a, x, "q_proj.weight", "k_proj.weight", "v_proj.weight",
                            "q_norm.weight", "k_norm.weight", self.qk_norm)
        if kind == "moba":
            o = L.moba_attention(q, k, v, self.moba_chunk_size, self.moba_topk)
        else:
            o = L.attention(q, k, v)
        return self._lin(linear, a + "o_proj.weight", o.reshape(x.shape[0], -1))

    def _attn_sse_swa(self, linear, p, x):
        a = p + "attn."
        s = x.shape[0]
        d = self.sse_head_dim
        h = self.sse_num_heads
        # ---- SSE branch (gated delta rule with sparse state expansion)
        q1 = self._lin(linear, a + "sse_q_proj.weight", x)
        k1 = self._lin(linear, a + "sse_k_proj.weight", x)
        v = self._lin(linear, a + "sse_v_proj.weight", x)
        q2 = q1 + self._lin(linear, a + "lora_q_proj.1.weight", self._lin(linear, a + "lora_q_proj.0.weight", x))
        k2 = k1 + self._lin(linear, a + "lora_k_proj.1.weight", self._lin(linear, a + "lora_k_proj.0.weight", x))
        beta = L.sigmoid(self._lin(linear, a + "sse_b_proj.weight", x))
        if self.allow_neg_eigval:
            beta = beta * 2
        g = -np.exp(self.weight(a + "A_log")) * L.softplus(
            self._lin(linear, a + "sse_a_proj.weight", x) + self.weight(a + "dt_bias"))
        e = self._lin(linear, a + "sse_e_proj.weight", x)
        idx, w, _ = L.sse_route(e, self.n_writer)
        act = (lambda t: np.maximum(t, 0)) if self.sse_qk_relu else L.silu
        q1, k1, q2, k2 = (act(t).reshape(s, h, d) for t in (q1, k1, q2, k2))
        v = L.silu(v).reshape(s, h, -1)
        o = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, self.n_partitions,
                             router_weight=self.sse_router_weight)
        o = self._norm(a + "sse_o_norm.weight", o)
        sse = self._lin(linear, a + "sse_o_proj.weight", o.reshape(s, -1))
        del q1, k1, q2, k2, v, o
        # ---- SWA branch
        q, k, vv = self._qkv(linear, a, x, "swa_q_proj.weight", "swa_k_proj.weight", "swa_v_proj.weight",
                             "swa_q_norm.weight", "swa_k_norm.weight", self.qk_norm)
        o = L.sliding_window_attention(q, k, vv, self.window_size)
        swa = self._lin(linear, a + "swa_o_proj.weight", o.reshape(s, -1))
        # ---- merge
        return (self._norm(a + "sse_merge_norm.weight", sse) + self._norm(a + "swa_merge_norm.weight", swa)) / 2

    def _mlp(self, linear, p, x):
        m = p + "mlp."
        gate = self._lin(linear, m + "gate_proj.weight", x)
        up = self._lin(linear, m + "up_proj.weight", x)
        return self._lin(linear, m + "down_proj.weight", L.swiglu(gate, up))

    # ------------------------------------------------------------------ public
    def embed(self, ids) -> np.ndarray:
        """Token embeddings [S, hidden] for int ids [S]."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise NeurosimError(f"token id out of range [0, {self.vocab_size})")
        return np.asarray(self.weight(self.embed_name)[ids], dtype=self.dtype)

    def run_layer(self, i: int, h: np.ndarray, linear: Linear | None = None) -> np.ndarray:
        """One pre-norm block: h [S, hidden] -> [S, hidden]."""
        linear = linear or default_linear
        p = self.layer_prefix(i)
        kind = self._kinds[i]
        if kind == "attention":
            h = h + self._attn_hf(linear, p, self._norm(p + "input_layernorm.weight", h))
            return h + self._mlp(linear, p, self._norm(p + "post_attention_layernorm.weight", h))
        x = self._norm(p + "attn_norm.weight", h)
        if kind == "sse_swa":
            h = h + self._attn_sse_swa(linear, p, x)
        else:
            h = h + self._attn_softmax(linear, p, x, kind)
        return h + self._mlp(linear, p, self._norm(p + "mlp_norm.weight", h))

    def head(self, h: np.ndarray) -> np.ndarray:
        """Final norm and lm_head (tied: the embedding matrix): [S, hidden] -> logits [S, vocab]."""
        x = self._norm("model.norm.weight", h)
        return x @ self.weight(self.lm_head_name).T

    def forward(self, ids, linear: Linear | None = None, progress=None) -> np.ndarray:
        """Logits [S, vocab] (model dtype) for int token ids [S], whole sequence at once.

        linear: projection hook, see module docstring. progress: None, a tqdm-like object (its
        ``update(1)`` is called after each layer) or a callable ``progress(i, n_layers)`` called
        after layer i (0-based) has finished.
        """
        h = self.embed(ids)
        for i in range(self.n_layers):
            h = self.run_layer(i, h, linear)
            if progress is not None:
                if hasattr(progress, "update"):
                    progress.update(1)
                else:
                    progress(i, self.n_layers)
        return self.head(h)

    __call__ = forward

    def generate(self, ids, n: int, linear: Linear | None = None, eos: int | None = None) -> np.ndarray:
        """Greedy decoding: the ``n`` new token ids (int64 [<= n]; stops after ``eos`` if given).

        Re-runs the full sequence for every new token (no KV cache), so MoBA stays in its
        prefill form.
        """
        seq = [int(t) for t in np.asarray(ids).reshape(-1)]
        new: list[int] = []
        for _ in range(n):
            nxt = int(np.argmax(self.forward(np.asarray(seq), linear)[-1]))
            seq.append(nxt)
            new.append(nxt)
            if eos is not None and nxt == eos:
                break
        return np.asarray(new, dtype=np.int64)
