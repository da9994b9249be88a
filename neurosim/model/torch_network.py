"""The decoder stack of :mod:`neurosim.model.network` on a torch device (``--device cuda``): weights
uploaded once, every activation resident on the device.

``TorchModel(model, device="cuda")`` is the PyTorch backend of a numpy :class:`~neurosim.model.network.Model`
(the golden model): it takes the model's config, tensor names, dtype and router mode from it, uploads
every tensor at construction (bf16/f16 bit patterns widened on the device, exactly as
``safetensors_io.to_float32``) and runs the same blocks with the layers of
:mod:`neurosim.model.torch_layers`. ``forward(ids, linear)`` returns the logits as a device tensor;
``linear(name, x, w)`` is the projection hook as in ``Model`` but on tensors (default ``x @ w.T``).
``attention_stats`` holds the attention-level statistics of the last whole-sequence pass, the same
dicts as ``Model.attention_stats`` (computed by the same functions from the device's MoBA selection
and SSE routing, copied to the host once at the end of the pass). Cached decoding
(``decode_step``, ``generate``) follows ``Model``'s decode semantics; ``dense_from`` (recomputing a
decode) and ``generate(use_cache=False)`` are the numpy model's only.
"""

from __future__ import annotations

import warnings

import numpy as np

from neurosim import NeurosimError
from neurosim.model import layers as L
from neurosim.model import torch_layers as TL
from neurosim.model.attention_stats import full_stats, moba_count_stats, sse_stats, swa_stats
from neurosim.model.decode_cache import DecodeCache
from neurosim.model.network import report_progress, sse_inputs

__all__ = ["TorchModel", "LogitRows", "default_linear", "MLP_ROWS", "LOGIT_ELEMENTS"]

#: token rows per block of the MLP (its [S, intermediate] tensors are the largest of a pass)
MLP_ROWS = 16384
#: ``forward(rows=True)`` still returns the whole logits while they have at most this many values
LOGIT_ELEMENTS = 1 << 30


class TorchModel:
    """``model`` (a :class:`~neurosim.model.network.Model`) on the torch device ``device`` ("cuda",
    or "cpu" for tests). Construction uploads every weight (the weight-loading phase)."""

    def __init__(self, model, device: str = "cuda"):
        from neurosim.core.gpu import torch_device

        self.torch, self.device = torch_device(device)
        torch = self.torch
        self.model = model
        self.model_config = mc = model.model_config
        self.dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[model.dtype]
        self.n_layers = model.n_layers
        self.vocab_size = model.vocab_size
        self.sse_router_weight = model.sse_router_weight
        self._names = [mc.names(i) for i in range(self.n_layers)]
        self._biases = {w: b for i in range(self.n_layers) for w, b in mc.bias_names(i).items()}
        self.attention_stats: dict[int, dict] = {}
        self._pending: list = []
        names = [mc.embed_name, mc.final_norm_name, model.lm_head_name]
        names += [nm for n in self._names for nm in n.values()]
        self.weights: dict = {}
        bad = []
        for name in dict.fromkeys(names):
            t = self._upload(name)
            self.weights[name] = t
            bad.append((~torch.isfinite(t)).sum())
        nonfinite = torch.stack(bad).cpu().numpy() if bad else np.zeros(0)
        for name, n_bad in zip(dict.fromkeys(names), nonfinite):
            if n_bad:
                raise NeurosimError(f"tensor '{name}' contains {int(n_bad)} non-finite value(s)")
        if hasattr(model.ckpt, "close"):
            model.ckpt.close()  # drop the host memory maps; the weights live on the device now

    def _upload(self, name: str):
        """One tensor on the device in the model dtype (read from the checkpoint's stored bytes)."""
        torch = self.torch
        ckpt = self.model.ckpt
        if not (hasattr(ckpt, "raw") and hasattr(ckpt, "dtype")):  # any object with tensor(name)
            return torch.from_numpy(np.ascontiguousarray(self.model.weight(name))).to(self.device)
        raw, stored = ckpt.raw(name), ckpt.dtype(name)
        with warnings.catch_warnings():  # a read-only memory map: only read (copied to the device)
            warnings.simplefilter("ignore")
            t = torch.from_numpy(raw.view(np.int16) if stored == "BF16" else raw).to(self.device)
        if stored == "BF16":
            t = t.view(torch.bfloat16)
        return t.to(torch.float32).to(self.dtype)  # float32 first, as the CPU reader (exact for 16 bits)

    def synchronize(self) -> None:
        """Wait for the device's queued work (for timing; a no-op on the CPU)."""
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    # ------------------------------------------------------------------ the Model interface
    def layer_kind(self, i: int) -> str:
        """The kind of layer ``i`` (see ``Model.layer_kind``)."""
        return self.model.layer_kind(i)

    def layer_prefix(self, i: int) -> str:
        """The tensor-name prefix of layer ``i``."""
        return self.model.layer_prefix(i)

    def projection_names(self, i: int) -> list[str]:
        """Weight names of layer i's projections, in the order ``linear`` is called."""
        return self.model.projection_names(i)

    def weight(self, name: str):
        """The device tensor ``name`` (model dtype)."""
        return self.weights[name]

    def _lin(self, linear, name: str, x):
        y = linear(name, x, self.weights[name])
        bias = self._biases.get(name)
        return y if bias is None else y + self.weights[bias]

    def _norm(self, name: str, x):
        return TL.rms_norm(x, self.weights[name], self.model_config.norm_eps)

    def _rope(self, t: int, pos0: int):
        mc = self.model_config
        cos, sin = L.rope_cos_sin(t, mc.head_dim, mc.rope_theta, self.model.dtype, offset=pos0)
        return (self.torch.from_numpy(cos).to(self.device), self.torch.from_numpy(sin).to(self.device))

    # ------------------------------------------------------------------ blocks
    def _softmax_branch(self, linear, n: dict, s: str, x, mode: str, ctx: dict):
        """``Model._softmax_branch`` on the device (mode "causal", "window" or "moba")."""
        torch = self.torch
        mc = self.model_config
        t, d = x.shape[0], mc.head_dim
        pos0, entry, stats = ctx["pos0"], ctx["entry"], ctx["stats"]
        q, k, v = (self._lin(linear, n[f"{s}{r}_proj"], x).reshape(t, -1, d) for r in "qkv")
        if mc.qk_norm:
            q = self._norm(n[s + "q_norm"], q)
            k = self._norm(n[s + "k_norm"], k)
        cos, sin = self._rope(t, pos0)
        q, k = TL.apply_rope(q, cos, sin), TL.apply_rope(k, cos, sin)
        base = 0
        if entry is not None and (s + "k") in entry:
            base = entry[s + "base"]
            k = torch.cat([entry[s + "k"], k])
            v = torch.cat([entry[s + "v"], v])
        qpos = np.arange(pos0, pos0 + t, dtype=np.int64)
        window, sel, chunk = None, None, None
        if mode == "window":
            window = mc.window_size
            if stats is not None:
                st, en = L.window_segments(qpos, window, base)
                stats.update(swa_stats(st, en, qpos))
        elif mode == "moba" and not (t == 1 and pos0 > 0):
            # prefill form; a single-token decode step attends densely (the reference's decode)
            if pos0 != 0:
                raise NeurosimError("MoBA layers prefill only from an empty cache (multi-token chunks "
                                    "after a prompt are not supported)")
            chunk = mc.moba_chunk_size
            sel = TL.moba_select(q, k, chunk, mc.moba_topk)  # [H, S, nb]
            if stats is not None:
                self._pending.append((stats, "moba", _moba_counts(torch, sel, chunk, pos0), qpos))
        elif stats is not None:
            stats.update(full_stats(t))
        o = TL.attention(q, k, v, pos0, base, window, sel, chunk)
        if entry is not None:
            keep = k.shape[0] if mode != "window" or mc.window_size is None else mc.window_size - 1
            cut = max(k.shape[0] - keep, 0)
            entry[s + "k"], entry[s + "v"], entry[s + "base"] = k[cut:], v[cut:], base + cut
        return self._lin(linear, n[s + "o_proj"], o.reshape(t, -1))

    def _attn_sse_swa(self, linear, n: dict, x, ctx: dict):
        """``Model._attn_sse_swa`` on the device: the SSE branch (chunked gated delta rule, partitions
        batched) and the SWA branch, merged."""
        torch = self.torch
        mc = self.model_config
        s, d, h = x.shape[0], mc.sse_head_dim, mc.sse_num_heads
        q1, k1, v, q2, k2, beta = sse_inputs(lambda nm, t: self._lin(linear, nm, t), n, x, TL.sigmoid,
                                             mc.allow_neg_eigval)
        g = -torch.exp(self.weights[n["A_log"]]) * TL.softplus(
            self._lin(linear, n["sse_a_proj"], x) + self.weights[n["dt_bias"]])
        idx, w = TL.sse_route(self._lin(linear, n["sse_e_proj"], x), mc.num_writer)
        stats, entry = ctx["stats"], ctx["entry"]
        if stats is not None:
            self._pending.append((stats, "sse", torch.bincount(idx.reshape(-1), minlength=mc.num_sparse_partition), s))
        act = torch.relu if mc.sse_qk_relu else TL.silu
        q1 = act(q1).reshape(s, h, d)   # one at a time: each input freed as its activation is made
        k1 = act(k1).reshape(s, h, d)
        q2 = act(q2).reshape(s, h, d)
        k2 = act(k2).reshape(s, h, d)
        v = TL.silu(v).reshape(s, h, -1)
        o, state = TL.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, mc.num_sparse_partition,
                                     router_weight=self.sse_router_weight,
                                     state=None if entry is None else entry.get("sse_state"))
        if entry is not None:
            entry["sse_state"] = state
        del q1, k1, q2, k2, v   # free the branch's tensors before the SWA branch
        o = self._norm(n["sse_o_norm"], o)
        sse = self._lin(linear, n["sse_o_proj"], o.reshape(s, -1))
        del o
        swa = self._softmax_branch(linear, n, "swa_", x, "window", ctx)
        return (self._norm(n["sse_merge_norm"], sse) + self._norm(n["swa_merge_norm"], swa)) / 2

    def _mlp(self, linear, n: dict, x):
        """SwiGLU MLP, ``MLP_ROWS`` token rows at a time (each row's arithmetic is the same)."""
        if x.shape[0] <= MLP_ROWS:
            return self._mlp_rows(linear, n, x)
        out = None
        for a in range(0, x.shape[0], MLP_ROWS):
            y = self._mlp_rows(linear, n, x[a:a + MLP_ROWS])
            if out is None:
                out = y.new_empty((x.shape[0],) + tuple(y.shape[1:]))
            out[a:a + MLP_ROWS] = y
        return out

    def _mlp_rows(self, linear, n: dict, x):
        gate = self._lin(linear, n["gate_proj"], x)
        up = self._lin(linear, n["up_proj"], x)
        return self._lin(linear, n["down_proj"], TL.silu(gate).mul_(up))

    def _finish_stats(self) -> None:
        """The pending attention statistics of the pass as host dicts (one copy each, at the end)."""
        mc = self.model_config
        for stats, kind, tensor, extra in self._pending:
            if kind == "moba":
                blocks, keys = (t.cpu().numpy().astype(np.int64) for t in tensor)
                stats.update(moba_count_stats(blocks, keys, extra, mc.moba_chunk_size, mc.moba_topk))
            else:
                stats.update(sse_stats(tensor.cpu().numpy(), extra))
        self._pending = []

    # ------------------------------------------------------------------ public
    def embed(self, ids):
        """Token embeddings [S, hidden] (device tensor) for int ids [S]."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise NeurosimError(f"token id out of range [0, {self.vocab_size})")
        return self.weights[self.model_config.embed_name][self.torch.from_numpy(ids).to(self.device)]  # a copy

    def run_layer(self, i: int, h, linear=None, *, pos0: int = 0, cache: DecodeCache | None = None,
                  stats: dict | None = None, in_place: bool = False):
        """One pre-norm block on the device (``Model.run_layer``). ``in_place``: add both branches
        into ``h`` itself (the same additions; the pass holds one residual stream, not three)."""
        linear = linear or default_linear
        n = self._names[i]
        kind = self.model_config.layer_kinds[i]
        ctx = dict(pos0=pos0, entry=None if cache is None else cache.layers[i], stats=stats)
        x = self._norm(n["attn_norm"], h)
        if kind == "sse_swa":
            a = self._attn_sse_swa(linear, n, x, ctx)
        else:
            a = self._softmax_branch(linear, n, "", x, "moba" if kind == "moba" else "causal", ctx)
        del x
        h = h.add_(a) if in_place else h + a
        del a
        m = self._mlp(linear, n, self._norm(n["mlp_norm"], h))
        return h.add_(m) if in_place else h + m

    def head(self, h):
        """Final norm and lm_head: [S, hidden] -> logits [S, vocab] (device tensor)."""
        x = self._norm(self.model_config.final_norm_name, h)
        return x @ self.weights[self.model.lm_head_name].T

    def forward(self, ids, linear=None, progress=None, *, cache: DecodeCache | None = None,
                dense_from: int | None = None, rows: bool = False):
        """Logits [S, vocab] (device tensor, model dtype) for int token ids [S] (``Model.forward``).
        A pass from position 0 records :attr:`attention_stats`. ``rows``: when the logits would have
        more than ``LOGIT_ELEMENTS`` values, return a :class:`LogitRows` instead (made on demand, a
        row block at a time: long sequences never hold [S, vocab]). A ``linear`` with a ``begin_pass(tokens)`` method is told the pass's length."""
        torch = self.torch
        if dense_from is not None:
            raise NeurosimError("dense_from (recomputing a cached decode) runs on the CPU model only")
        with TL.float32_exact(), torch.inference_mode():
            h = self.embed(ids)
            if hasattr(linear, "begin_pass"):
                linear.begin_pass(int(h.shape[0]))
            pos0 = 0 if cache is None else cache.pos
            if pos0 == 0:
                self.attention_stats = {}
            self._pending = []
            for i in range(self.n_layers):
                stats: dict | None = {} if pos0 == 0 else None
                h = self.run_layer(i, h, linear, pos0=pos0, cache=cache, stats=stats, in_place=True)
                if stats is not None:
                    self.attention_stats[i] = stats
                report_progress(progress, i, self.n_layers)
            if cache is not None:
                cache.pos = pos0 + h.shape[0]
            big = rows and h.shape[0] * self.weights[self.model.lm_head_name].shape[0] > LOGIT_ELEMENTS
            logits = LogitRows(self, h) if big else self.head(h)
            self._finish_stats()
            self.attention_stats = {i: st for i, st in self.attention_stats.items() if st}
        return logits

    __call__ = forward

    def decode_step(self, token: int, cache: DecodeCache, linear=None):
        """One cached decode step: logits [vocab] (device tensor) of ``token`` at ``cache.pos``."""
        return self.forward(np.asarray([token]), linear, cache=cache)[-1]

    def generate(self, ids, n: int, linear=None, eos: int | None = None, *, cache: DecodeCache | None = None,
                 logits=None, use_cache: bool = True) -> np.ndarray:
        """Greedy decoding with a cache, as ``Model.generate``: the ``n`` new token ids (int64 [<= n])."""
        if not use_cache:
            raise NeurosimError("generate without a cache runs on the CPU model only")
        seq = [int(t) for t in np.asarray(ids).reshape(-1)]
        new: list[int] = []
        if n <= 0:
            return np.asarray(new, dtype=np.int64)
        if cache is None:
            cache = DecodeCache(self.n_layers)
            logits = self.forward(np.asarray(seq), linear, cache=cache)
        elif logits is None or cache.pos != len(seq):
            raise NeurosimError("generate: a given cache needs the logits of its prefill of ids")
        last = logits[-1]
        for _ in range(n):
            nxt = int(self.torch.argmax(last))
            new.append(nxt)
            if (eos is not None and nxt == eos) or len(new) == n:
                break
            last = self.decode_step(nxt, cache, linear)
        return np.asarray(new, dtype=np.int64)


class LogitRows:
    """The logits [S, vocab] of a pass, made from its last hidden states [S, hidden] when asked for:
    ``rows[a:b]`` (or ``rows[i]``) is ``net.head(h[a:b])``; ``shape`` as the logits'. (A product of
    fewer rows may sum in another float order than the whole [S, vocab] product.)"""

    def __init__(self, net: TorchModel, h):
        self.net, self.h = net, h
        self.shape = (int(h.shape[0]), int(net.weights[net.model.lm_head_name].shape[0]))
        self.device = h.device

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx):
        with TL.float32_exact(), self.net.torch.inference_mode():
            if isinstance(idx, int):
                return self.net.head(self.h[idx:idx + 1 if idx != -1 else None])[0]
            return self.net.head(self.h[idx])


def _moba_counts(torch, sel, chunk: int, pos0: int):
    """(selected blocks, visited keys) int32 [H, S] of a MoBA selection sel [H, S, nb] for queries at
    positions pos0..: what ``moba_count_stats`` needs, without keeping the selection (kept until the
    pass ends: 8 bytes per query head and token)."""
    h, s, nb = sel.shape
    qpos = torch.arange(pos0, pos0 + s, device=sel.device)
    b = torch.arange(nb, device=sel.device)
    keys = (torch.minimum((b[None] + 1) * chunk, qpos[:, None] + 1) - b[None] * chunk).clamp(min=0)  # [S, nb]
    blocks = torch.zeros((h, s), dtype=torch.int32, device=sel.device)
    visited = torch.zeros((h, s), dtype=torch.int32, device=sel.device)
    for j in range(nb):   # a block at a time: no [H, S, nb] integer tensor (S < 2^31: int32 is exact)
        blocks += sel[:, :, j]
        visited += sel[:, :, j] * keys[:, j].to(torch.int32)
    return blocks, visited


def default_linear(name: str, x, w):
    """The float projection on tensors: x [S, in] @ w.T -> [S, out]."""
    return x @ w.T
