"""The decoder stack, built from a :class:`~neurosim.model.config.ModelConfig` and run layer by layer
(prefill style).

``Model(ckpt, dtype=np.float32)`` supports ``model_type`` "llama", "qwen3", "qwen2" (plain GQA attention in
every layer, HF tensor names) and "sse_swa_moba" (SpikingBrain 2.0: MoBA / full attention / SSE+SWA
hybrid layers, tensor names of docs/model.md). Sizes, layer kinds and tensor names come from
the ModelConfig and its schema table (``ckpt.model_config`` unless ``config=`` is given). Weights are
read with ``ckpt.tensor(name)`` when a projection runs and dropped right after, so only one weight matrix (plus the
embedding/lm_head at the ends) is resident at a time.

Every linear projection inside the blocks goes through ``linear(name, x, w)``: name = the weight's
tensor name, x [S, in], w [out, in] (model dtype) -> [S, out]; default ``x @ w.T`` (in a float32
decode step, for weights with exact block codes, the same product from the codes: see
``Model.block_weights`` and :mod:`neurosim.core.blockweights`). Embeddings, lm_head, norms,
softmax, RoPE, router softmax and the delta-rule recurrences stay float.
See docs/model.md for the assumptions where the paper is silent.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from neurosim import NeurosimError
from neurosim.core.blockweights import BlockWeights, block_rows_linear, block_weights
from neurosim.core.gemv import FEW_ROWS
from neurosim.model import layers as L
from neurosim.model.attend import attend, attend_cached, causal_segments, moba_segments, window_segments
from neurosim.model.attention_stats import full_stats, moba_stats, sse_stats, swa_stats
from neurosim.model.config import ModelConfig
from neurosim.model.decode_cache import DecodeCache, KVBuffer

__all__ = ["GENERATE_WEIGHT_BYTES", "Model", "default_linear", "log_softmax", "perplexity", "token_nll"]

#: generate() keeps the float weights resident while decoding when they fit in this many bytes
GENERATE_WEIGHT_BYTES = 2 << 30

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


def sse_inputs(lin, n: dict, x, sigmoid, allow_neg_eigval: bool) -> tuple:
    """The SSE branch's projections of ``x`` (either backend: ``lin(name, x)`` applies the projection,
    ``sigmoid`` the backend's): ``(q1, k1, v, q2, k2, beta)`` with the low-rank second query and key."""
    q1, k1, v = lin(n["sse_q_proj"], x), lin(n["sse_k_proj"], x), lin(n["sse_v_proj"], x)
    q2 = q1 + lin(n["lora_q_proj.1"], lin(n["lora_q_proj.0"], x))
    k2 = k1 + lin(n["lora_k_proj.1"], lin(n["lora_k_proj.0"], x))
    beta = sigmoid(lin(n["sse_b_proj"], x))
    return q1, k1, v, q2, k2, beta * 2 if allow_neg_eigval else beta


def report_progress(progress, i: int, layers: int) -> None:
    """Layer ``i`` of ``layers`` is done: one step of a tqdm bar, or ``progress(i, layers)``."""
    if progress is None:
        return
    if hasattr(progress, "update"):
        progress.update(1)
    else:
        progress(i, layers)


class Model:
    """A float reference decoder (see module docstring).

    ckpt: the weights, an object with ``tensor(name)`` (a float array) and, unless ``config`` is
    given, ``model_config`` (a :class:`~neurosim.model.config.ModelConfig`), as a
    :class:`~neurosim.model.checkpoint.Checkpoint` has; ``names`` (every tensor name present) is
    optional: an untied config without ``lm_head.weight`` among them uses the embeddings as head.
    config: the model description (default ``ckpt.model_config``); it is the only source of sizes,
    layer kinds and tensor names (config.json is never read here).
    dtype: float32 (default) or float64 for all float math.
    sse_router_weight: how the SSE router probability enters the partitions, see
    ``layers.sse_recurrence`` ("qk" default, "none", "output").
    keep_weights: cache the float weights after first use (small models only; default False).
    """

    def __init__(self, ckpt, dtype=np.float32, *, config: ModelConfig | None = None,
                 sse_router_weight: str = "qk", keep_weights: bool = False):
        mc = config if config is not None else getattr(ckpt, "model_config", None)
        if not isinstance(mc, ModelConfig):
            raise NeurosimError("Model needs a ModelConfig: pass a checkpoint from load_checkpoint "
                                "or config=model_config(config_dict)")
        self.ckpt = ckpt
        self.model_config = mc
        self.model_type = mc.model_type
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise NeurosimError(f"dtype must be float32 or float64, got {self.dtype}")
        if sse_router_weight not in L.ROUTER_WEIGHT_MODES:
            raise NeurosimError(f"sse_router_weight must be one of {L.ROUTER_WEIGHT_MODES}")
        if mc.sse_v_dim != mc.sse_num_heads * mc.sse_head_dim:
            raise NeurosimError("config expand_v != 1 is not supported")
        if mc.num_reader != mc.num_writer:
            raise NeurosimError(f"num_reader {mc.num_reader} != num_writer {mc.num_writer} is not supported")
        self.sse_router_weight = sse_router_weight
        self.keep_weights = keep_weights
        self._cache: dict[str, np.ndarray] = {}
        #: weights derived from this model's by a projection hook (e.g. quantized codes), kept per
        #: model across passes by hooks that have ``bind_model`` (neurosim.run.fidelity)
        self.derived: dict = {}
        #: while decoding: a DecodeCache's ``weights`` dict that keeps every weight read (else None)
        self._hold: dict[str, np.ndarray] | None = None
        self._rope: dict = {}   # (t, pos0, head_dim) -> (cos, sin) of the current forward
        self._parameters: int | None = None   # count_parameters(config), for weights_fit
        #: within a pass that continues a cache with the float weights resident (a decode step):
        #: few-row float32 products read the weights' block codes (see _product)
        self._decoding = False
        self.hidden_size = mc.hidden_size
        self.n_layers = mc.num_layers
        self.vocab_size = mc.vocab_size
        self.embed_name = mc.embed_name
        self.lm_head_name = mc.head_name(getattr(ckpt, "names", None))
        self.tie_word_embeddings = self.lm_head_name == mc.embed_name
        self._names = [mc.names(i) for i in range(self.n_layers)]
        self._biases = {w: b for i in range(self.n_layers) for w, b in mc.bias_names(i).items()}
        #: layer -> attention-level statistics of the last whole-sequence pass (see attention_stats)
        self.attention_stats: dict[int, dict] = {}

    def layer_kind(self, i: int) -> str:
        """"attention" (llama/qwen3/qwen2), "moba", "full" or "sse_swa" (SpB2.0)."""
        return self.model_config.layer_kinds[i]

    def layer_prefix(self, i: int) -> str:
        """The tensor-name prefix of layer ``i`` (``model.layers.{i}.``)."""
        return self.model_config.layer_prefix(i)

    def projection_names(self, i: int) -> list[str]:
        """Weight names of layer i's linear projections, in the order ``linear`` is called."""
        return self.model_config.projection_names(i)

    # ------------------------------------------------------------------ weights
    def weight(self, name: str) -> np.ndarray:
        """The float tensor ``name`` in the model dtype (cached only with keep_weights)."""
        w = self._cache.get(name)
        if w is None and self._hold is not None:
            w = self._hold.get(name)
        if w is None:
            w = np.asarray(self.ckpt.tensor(name)).astype(self.dtype, copy=False)
            if self.keep_weights:
                self._cache[name] = w
            if self._hold is not None:
                self._hold[name] = w
        return w

    def weights_fit(self) -> bool:
        """Whether all float weights fit in GENERATE_WEIGHT_BYTES (kept resident while decoding)."""
        if self._parameters is None:
            from neurosim.model.config import count_parameters

            self._parameters = count_parameters(self.model_config)
        return self._parameters * self.dtype.itemsize <= GENERATE_WEIGHT_BYTES

    def block_weights(self, name: str) -> BlockWeights | None:
        """Weight ``name`` as exact INT8 block codes (:mod:`neurosim.core.blockweights`), or None
        when it has no exact block form; made at its first request and kept per model in
        ``derived["fp-block-weights"]`` (about 1.25 bytes per weight)."""
        store = self.derived.setdefault("fp-block-weights", {})
        if name not in store:
            store[name] = block_weights(self.weight(name))
        return store[name]

    def _product(self, linear: Linear, name: str, x: np.ndarray) -> np.ndarray:
        """linear(name, x, w) (w=None when the hook ``holds`` name); in a decode step the float32
        default projection of up to FEW_ROWS rows reads the weight's block codes when it has them
        (same weights, sequential sums)."""
        if self._decoding and linear is default_linear and x.shape[0] <= FEW_ROWS:
            bw = self.block_weights(name)
            if bw is not None:
                return block_rows_linear(x, bw)
        # a hook that already holds what it derives from the weight (``holds(name)``) gets None
        holds = getattr(linear, "holds", None)
        w = None if holds is not None and holds(name) else self.weight(name)
        return linear(name, x, w)  # type: ignore[arg-type]  # w is None only for a hook that holds it

    def _lin(self, linear: Linear, name: str, x: np.ndarray) -> np.ndarray:
        y = np.asarray(self._product(linear, name, x), dtype=self.dtype)
        bias = self._biases.get(name)
        if bias is not None:
            y = y + self.weight(bias)
        return y

    def _norm(self, name: str, x: np.ndarray) -> np.ndarray:
        return L.rms_norm(x, self.weight(name), self.model_config.norm_eps, dtype=self.dtype)

    # ------------------------------------------------------------------ blocks
    def _softmax_branch(self, linear, n: dict, s: str, x, mode: str, ctx: dict) -> np.ndarray:
        """One softmax branch (roles prefixed ``s``: "" or "swa_"): q/k/v, optional q/k norm,
        RoPE at the absolute positions, attention, o_proj. The head counts follow from the weight
        shapes. mode: "causal" (full / llama attention), "window" (SWA) or "moba". ctx: the
        pass's ``pos0`` (position of x's first row), ``entry`` (the layer's DecodeCache dict or
        None), ``dense_from``, ``stats`` (dict to fill or None)."""
        mc = self.model_config
        t, d = x.shape[0], mc.head_dim
        pos0, entry = ctx["pos0"], ctx["entry"]
        q, k, v = (self._lin(linear, n[f"{s}{r}_proj"], x).reshape(t, -1, d) for r in "qkv")
        if mc.qk_norm:
            q = self._norm(n[s + "q_norm"], q)
            k = self._norm(n[s + "k_norm"], k)
        rope = self._rope.get((t, pos0, d))
        if rope is None:   # the same table for every layer of a pass
            rope = self._rope[(t, pos0, d)] = L.rope_cos_sin(t, d, mc.rope_theta, self.dtype, offset=pos0)
        cos, sin = rope
        q, k = L.apply_rope(q, cos, sin), L.apply_rope(k, cos, sin)
        base = 0
        buf = None
        if entry is not None:
            buf = entry.get(s + "kv")
            if buf is None:
                keep = None if mode != "window" or mc.window_size is None else mc.window_size - 1
                buf = entry[s + "kv"] = KVBuffer(k.shape[1], d, v.shape[2], self.dtype, keep)
            buf.append(k, v)
            base = buf.base
        qpos = np.arange(pos0, pos0 + t, dtype=np.int64)
        stats = ctx["stats"]
        if mode == "window":
            st, en = window_segments(qpos, mc.window_size, base)
            if stats is not None:
                stats.update(swa_stats(st, en, qpos))
        elif mode == "moba" and not (t == 1 and pos0 > 0):
            # prefill form; a single-token decode step attends densely (the reference's decode)
            if pos0 != 0:
                raise NeurosimError("MoBA layers prefill only from an empty cache (multi-token chunks "
                                    "after a prompt are not supported)")
            chunk, topk = mc.moba_chunk_size, mc.moba_topk
            sel = L.moba_select(q, k, chunk, topk)                      # [H, S, nb]
            st, en = moba_segments(sel, chunk, topk, qpos)
            if ctx["dense_from"] is not None:
                late = qpos >= ctx["dense_from"]
                cs, ce = causal_segments(qpos, base)
                st = np.where(late[None, :, None], np.pad(cs, ((0, 0), (0, topk - 1)))[None], st)
                en = np.where(late[None, :, None], np.pad(ce, ((0, 0), (0, topk - 1)))[None], en)
                sel = sel | late[None, :, None] & (np.arange(sel.shape[2]) <= qpos[:, None] // chunk)[None]
            if stats is not None:
                stats.update(moba_stats(sel, st, en, qpos, chunk, topk))
        else:
            st, en = causal_segments(qpos, base)
            if stats is not None:
                stats.update(full_stats(t))
        if buf is None:
            o = attend(q, k, v, st, en)
        else:
            o = attend_cached(q, buf.kT, buf.vh, buf.n, st, en)
            entry[s + "k"], entry[s + "v"], entry[s + "base"] = buf.views()
        return self._lin(linear, n[s + "o_proj"], o.reshape(t, -1))

    def _attn_sse_swa(self, linear, n: dict, x, ctx: dict):
        mc = self.model_config
        s = x.shape[0]
        d = mc.sse_head_dim
        h = mc.sse_num_heads
        # ---- SSE branch (gated delta rule with sparse state expansion)
        q1, k1, v, q2, k2, beta = sse_inputs(lambda nm, t: self._lin(linear, nm, t), n, x, L.sigmoid,
                                             mc.allow_neg_eigval)
        g = -np.exp(self.weight(n["A_log"])) * L.softplus(
            self._lin(linear, n["sse_a_proj"], x) + self.weight(n["dt_bias"]))
        e = self._lin(linear, n["sse_e_proj"], x)
        idx, w, _ = L.sse_route(e, mc.num_writer)
        stats, entry = ctx["stats"], ctx["entry"]
        if stats is not None:
            stats.update(sse_stats(np.bincount(idx.ravel(), minlength=mc.num_sparse_partition), s))
        act = (lambda t: np.maximum(t, 0)) if mc.sse_qk_relu else L.silu
        q1, k1, q2, k2 = (act(t).reshape(s, h, d) for t in (q1, k1, q2, k2))
        v = L.silu(v).reshape(s, h, -1)
        o, state = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, mc.num_sparse_partition,
                                    router_weight=self.sse_router_weight, return_state=True,
                                    state=None if entry is None else entry.get("sse_state"))
        if entry is not None:
            entry["sse_state"] = state
        o = self._norm(n["sse_o_norm"], o)
        sse = self._lin(linear, n["sse_o_proj"], o.reshape(s, -1))
        del q1, k1, q2, k2, v, o
        # ---- SWA branch (top-level num_heads query heads, attn.num_kv_heads key/value heads)
        swa = self._softmax_branch(linear, n, "swa_", x, "window", ctx)
        # ---- merge
        return (self._norm(n["sse_merge_norm"], sse) + self._norm(n["swa_merge_norm"], swa)) / 2

    def _mlp(self, linear, n: dict, x):
        gate = self._lin(linear, n["gate_proj"], x)
        up = self._lin(linear, n["up_proj"], x)
        return self._lin(linear, n["down_proj"], L.swiglu(gate, up))

    # ------------------------------------------------------------------ public
    def embed(self, ids) -> np.ndarray:
        """Token embeddings [S, hidden] for int ids [S]."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise NeurosimError(f"token id out of range [0, {self.vocab_size})")
        return np.asarray(self.weight(self.embed_name)[ids], dtype=self.dtype)

    def run_layer(self, i: int, h: np.ndarray, linear: Linear | None = None, *, pos0: int = 0,
                  cache: DecodeCache | None = None, dense_from: int | None = None,
                  stats: dict | None = None) -> np.ndarray:
        """One pre-norm block: h [S, hidden] (tokens at positions pos0..pos0+S-1) -> [S, hidden].

        cache: a DecodeCache whose layer-i entries hold the tokens before pos0 and are extended
        with these. dense_from: MoBA attends densely for queries at positions >= dense_from (the
        decode semantics, for recomputing a cached decode). stats: a dict to fill with the layer's
        attention-level statistics (see ``attention_stats``).
        """
        linear = linear or default_linear
        n = self._names[i]
        kind = self.model_config.layer_kinds[i]
        ctx = dict(pos0=pos0, entry=None if cache is None else cache.layers[i], dense_from=dense_from,
                   stats=stats)
        x = self._norm(n["attn_norm"], h)
        if kind == "sse_swa":
            h = h + self._attn_sse_swa(linear, n, x, ctx)
        else:   # "moba", or "attention" / "full": dense causal
            h = h + self._softmax_branch(linear, n, "", x, "moba" if kind == "moba" else "causal", ctx)
        return h + self._mlp(linear, n, self._norm(n["mlp_norm"], h))

    def head(self, h: np.ndarray) -> np.ndarray:
        """Final norm and lm_head (tied: the embedding matrix): [S, hidden] -> logits [S, vocab]."""
        x = self._norm(self.model_config.final_norm_name, h)
        return self._product(default_linear, self.lm_head_name, x)

    def forward(self, ids, linear: Linear | None = None, progress=None, *, cache: DecodeCache | None = None,
                dense_from: int | None = None) -> np.ndarray:
        """Logits [S, vocab] (model dtype) for int token ids [S], whole sequence at once.

        linear: projection hook, see module docstring. progress: None, a tqdm-like object (its
        ``update(1)`` is called after each layer) or a callable ``progress(i, n_layers)`` called
        after layer i (0-based) has finished. cache: a :class:`DecodeCache` to continue from and
        to extend (``ids`` are the tokens after ``cache.pos``); an empty one is filled by the
        prefill. dense_from: MoBA layers attend densely for positions >= dense_from (how a cached
        decode treats the generated tokens; None: MoBA everywhere). A pass from position 0 records
        :attr:`attention_stats`.
        """
        bind = getattr(linear, "bind_model", None)
        if bind is not None:  # the hook may keep weights derived from this model's (quantized codes)
            bind(self)
        pos0 = 0 if cache is None else cache.pos
        hold = self._hold
        if cache is not None and hold is None and not self.keep_weights and self.weights_fit():
            self._hold = cache.weights   # the decode steps after this pass reuse its weights
        self._rope = {}
        # the prefill (pos0 0) stays the ordinary forward pass, bit for bit
        self._decoding = (pos0 > 0 and self.dtype == np.float32
                          and (self._hold is not None or self.keep_weights))
        try:
            return self._forward(ids, linear, progress, cache, dense_from, pos0)
        finally:
            self._hold = hold
            self._rope = {}
            self._decoding = False

    def _forward(self, ids, linear, progress, cache, dense_from, pos0):
        h = self.embed(ids)
        if pos0 == 0:
            self.attention_stats = {}
        for i in range(self.n_layers):
            stats = {} if pos0 == 0 else None
            h = self.run_layer(i, h, linear, pos0=pos0, cache=cache, dense_from=dense_from, stats=stats)
            if stats:
                self.attention_stats[i] = stats
            report_progress(progress, i, self.n_layers)
        if cache is not None:
            cache.pos = pos0 + h.shape[0]
        return self.head(h)

    __call__ = forward

    def decode_step(self, token: int, cache: DecodeCache, linear: Linear | None = None) -> np.ndarray:
        """One cached decode step: logits [vocab] of ``token`` at position ``cache.pos`` (cache extended).

        MoBA layers attend densely (the reference's single-token decode), SWA over the last
        ``window_size`` tokens, full/llama attention over all; SSE layers advance their states.
        """
        return self.forward(np.asarray([token]), linear, cache=cache)[-1]

    def generate(self, ids, n: int, linear: Linear | None = None, eos: int | None = None, *,
                 cache: DecodeCache | None = None, logits=None, use_cache: bool = True) -> np.ndarray:
        """Greedy decoding: the ``n`` new token ids (int64 [<= n]; stops after ``eos`` if given).

        A prefill of ``ids`` fills a :class:`DecodeCache`, then each new token is one cached
        :meth:`decode_step` (MoBA dense for generated tokens, as the reference decodes). To skip
        the prefill pass ``cache`` (filled by ``forward(ids, cache=...)``) and that pass's
        ``logits``. use_cache=False recomputes the whole sequence for every token with the same
        decode semantics (``forward(seq, dense_from=len(ids))``; slow, for checking). While
        decoding, the float weights stay resident when they fit in GENERATE_WEIGHT_BYTES (in the
        cache's ``weights``, shared with the prefill that filled it).
        """
        seq = [int(t) for t in np.asarray(ids).reshape(-1)]
        p = len(seq)
        new: list[int] = []
        if n <= 0:
            return np.asarray(new, dtype=np.int64)
        if use_cache:
            if cache is None:
                cache = DecodeCache(self.n_layers)
                logits = None
            elif logits is None or cache.pos != p:
                raise NeurosimError("generate: a given cache needs the logits of its prefill of ids")
        hold = self._hold
        if hold is None and not self.keep_weights and self.weights_fit():
            self._hold = cache.weights if use_cache and cache is not None else {}
        try:
            if use_cache:
                if logits is None:
                    logits = self.forward(np.asarray(seq), linear, cache=cache)
                last = np.asarray(logits)[-1]
            for _ in range(n):
                if not use_cache:
                    last = self.forward(np.asarray(seq), linear, dense_from=p)[-1]
                nxt = int(np.argmax(last))
                seq.append(nxt)
                new.append(nxt)
                if (eos is not None and nxt == eos) or len(new) == n:
                    break
                if use_cache:
                    assert cache is not None
                    last = self.decode_step(nxt, cache, linear)
        finally:
            self._hold = hold
        return np.asarray(new, dtype=np.int64)
