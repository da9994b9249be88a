"""SmoothQuant-style per-input-channel migration, folded offline into the checkpoint's weights.

For a projection input X (tokens x channels) and the weights W of every projection reading it,
``X W^T = (X / s)(W * s)^T`` for any positive per-channel factor ``s``. With strength ``alpha``
(SmoothQuant, Xiao et al. 2023) ``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)`` (max over the
calibration tokens and over every output row of every consumer), which moves the outlier channels'
range from the activations into the weights. The chip still sees per-token INT8 counts of X / s,
INT8 weights (one scale per output row, of W * s) and one scale per token row: ``1 / s`` is folded
offline into whatever produces X, so nothing is computed online:

- behind an RMSNorm (q/k/v, gate/up; in SpB2.0 every SSE/SWA input projection behind ``attn_norm``,
  and ``sse_o_proj`` behind the per-head ``sse_o_norm``, whose weight is shared by all heads, so
  ``s`` is tied across heads): the norm weight is divided by ``s``;
- behind a linear projection with nothing non-linear in between: that projection's output rows
  (and bias) are divided by ``s`` (per-row INT8 weight scales make this free for its own
  quantization): ``o_proj`` through ``v_proj`` (softmax mixes tokens, not channels; with GQA one
  v channel feeds the same channel of every query head of its group, so ``s`` is tied over the
  group), ``down_proj`` through ``up_proj`` (SwiGLU is ``silu(gate) * up``, linear in ``up``),
  SpB2.0's ``lora_*_proj.1`` through ``lora_*_proj.0``.

Every block projection of the supported layouts (llama, qwen3, sse_swa_moba) can be smoothed this
way; what cannot be folded is listed by :func:`unsmoothable` (none for these layouts). ``alpha = 0``
gives ``s_j = 1 / max|W_j|`` (the weights' range only), ``alpha = 1`` puts the whole activation
range into the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurosim import NeurosimError

__all__ = ["FoldGroup", "fold_groups", "calibrate", "smoothing_factors", "SmoothedCheckpoint",
           "unsmoothable", "S_MIN", "S_MAX"]

#: Factors are clipped to this range (channels never seen in calibration keep s = 1).
S_MIN, S_MAX = 1e-5, 1e5


@dataclass(frozen=True)
class FoldGroup:
    """Projections that read one input, and where 1/s is folded.

    ``target`` is a norm weight (kind "norm") or a producing projection (kind "rows");
    ``tie[c]`` maps consumer input channel c to the index of the target's channel (its factor).
    """

    consumers: tuple[str, ...]
    kind: str  #: "norm" | "rows"
    target: str
    tie: np.ndarray = field(compare=False)


def _tie(model, consumer: str, target: str, kind: str) -> np.ndarray:
    """Consumer input channel -> target channel: a norm weight repeats per head (c mod width);
    a producing projection is the same channel, or with GQA the channel of the query head's KV head."""
    k_in = model.weight(consumer).shape[1]
    c = np.arange(k_in)
    width = model.weight(target).shape[0]
    if kind == "norm" or width == k_in:
        return c % width
    d = model.model_config.head_dim
    group = (k_in // d) // (width // d)  # query heads per KV head
    return (c // d) // group * d + c % d


#: (consumer roles, fold kind, target role) per layer kind; roles are ModelConfig.names() keys.
_PLAN = {
    "softmax": [
        (("q_proj", "k_proj", "v_proj"), "norm", "attn_norm"),
        (("o_proj",), "rows", "v_proj"),
    ],
    "sse_swa": [
        (("sse_q_proj", "sse_k_proj", "sse_v_proj", "lora_q_proj.0", "lora_k_proj.0", "sse_b_proj",
          "sse_a_proj", "sse_e_proj", "swa_q_proj", "swa_k_proj", "swa_v_proj"), "norm", "attn_norm"),
        (("lora_q_proj.1",), "rows", "lora_q_proj.0"),
        (("lora_k_proj.1",), "rows", "lora_k_proj.0"),
        (("sse_o_proj",), "norm", "sse_o_norm"),
        (("swa_o_proj",), "rows", "swa_v_proj"),
    ],
    "mlp": [
        (("gate_proj", "up_proj"), "norm", "mlp_norm"),
        (("down_proj",), "rows", "up_proj"),
    ],
}


def fold_groups(model) -> list[FoldGroup]:
    """The fold groups of every layer of ``model`` (a :class:`neurosim.model.network.Model`)."""
    mc = model.model_config
    out = []
    for i in range(model.n_layers):
        n = mc.names(i)
        kind = mc.layer_kinds[i]
        plan = (_PLAN["sse_swa"] if kind == "sse_swa" else _PLAN["softmax"]) + _PLAN["mlp"]
        for roles, fk, target in plan:
            cons = tuple(n[r] for r in roles)
            out.append(FoldGroup(cons, fk, n[target], _tie(model, cons[0], n[target], fk)))
    return out


def unsmoothable(model) -> list[str]:
    """Block projections that no fold group covers (their input cannot be smoothed offline)."""
    covered = {c for grp in fold_groups(model) for c in grp.consumers}
    return [nm for i in range(model.n_layers) for nm in model.projection_names(i) if nm not in covered]


def calibrate(model, chunks: list[np.ndarray]) -> dict[str, np.ndarray]:
    """max |x| per input channel (float64) of every block projection over the float passes of
    the token chunks."""
    amax: dict[str, np.ndarray] = {}

    def rec(name, x, w):
        a = np.abs(x).max(axis=0).astype(np.float64)
        amax[name] = a if name not in amax else np.maximum(amax[name], a)
        return x @ w.T

    for ids in chunks:
        model.forward(ids, linear=rec)
    return amax


def smoothing_factors(model, amax: dict[str, np.ndarray], alpha: float) -> dict[FoldGroup, tuple[np.ndarray, np.ndarray]]:
    """Per fold group: (s, tie): s float32, one factor per target channel, with strength ``alpha``
    in [0, 1]; tie int [consumer in_features] maps each consumer input channel to its factor."""
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise NeurosimError(f"smoothing strength alpha must be in [0, 1], got {alpha!r}")
    out = {}
    for grp in fold_groups(model):
        w_max = None
        for c in grp.consumers:
            wc = np.abs(model.weight(c)).max(axis=0).astype(np.float64)
            w_max = wc if w_max is None else np.maximum(w_max, wc)
        assert w_max is not None                  # a fold group has consumers
        x_max = amax[grp.consumers[0]]
        tie = grp.tie
        n = int(tie.max()) + 1
        xm = np.zeros(n)
        wm = np.zeros(n)
        np.maximum.at(xm, tie, x_max)
        np.maximum.at(wm, tie, w_max)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = xm ** alpha / wm ** (1.0 - alpha)
        s = np.where((xm > 0) & (wm > 0) & np.isfinite(s), np.clip(s, S_MIN, S_MAX), 1.0)
        out[grp] = (s.astype(np.float32), tie)
    return out


class SmoothedCheckpoint:
    """A checkpoint view with the factors folded in: consumers' columns times s, norm weights and
    producing rows (and biases) divided by s. Everything else is the base model's tensor."""

    def __init__(self, base_model, factors: dict, cached=None):
        self.base = base_model
        #: name -> True when the caller already holds the quantized smoothed weight and ignores the
        #: float one (then the base tensor is returned without recomputing the fold)
        self.cached = cached or (lambda name: False)
        ck = base_model.ckpt
        self.config = ck.config
        self.model_type = base_model.model_type
        self.model_config = base_model.model_config
        self.names = getattr(ck, "names", None)
        self.tokenizer = getattr(ck, "tokenizer", None)
        self.col: dict[str, np.ndarray] = {}
        self.row: dict[str, np.ndarray] = {}
        for grp, (s, tie) in factors.items():
            for c in grp.consumers:
                self.col[c] = s[tie]
            self.row[grp.target] = s
        self._small: dict[str, np.ndarray] = {}
        mc = base_model.model_config
        self._bias_of = {b: w for i in range(mc.num_layers) for w, b in mc.bias_names(i).items()}

    def tensor(self, name: str) -> np.ndarray:
        w = self.base.weight(name)
        if name in self._bias_of:
            r = self.row.get(self._bias_of[name])
            return w if r is None else (w / r).astype(w.dtype)
        r, c = self.row.get(name), self.col.get(name)
        if (r is None and c is None) or (w.ndim == 2 and self.cached(name)):
            return w
        if w.ndim == 1:  # a norm weight
            if name not in self._small:
                self._small[name] = (w / r).astype(w.dtype)
            return self._small[name]
        out = w
        if c is not None:
            out = out * c[None, :]
        if r is not None:
            out = out / r[:, None]
        return out.astype(w.dtype, copy=False)
