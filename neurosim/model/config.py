"""The model description: config.json normalisation and the tensor schema (the one owner of both).

:func:`model_config` validates a ``config.json`` dict of any supported ``model_type`` and returns a
:class:`ModelConfig` with the paper's defaults applied. The tensor schema (every tensor name and its
shape, per layer and role) is the table in :func:`layer_tensors`; :func:`expected_tensors`,
:meth:`ModelConfig.names`, :meth:`ModelConfig.projection_names` and the float model all read it, so
no other module spells a tensor name.

The ``sse_swa_moba`` rules follow the authors' reference implementation (docs/model.md): the SWA branch
has the top-level ``num_heads`` query heads and ``attn.num_kv_heads`` key/value heads; every softmax
branch uses the top-level ``head_dim``; an absent ``tie_word_embeddings`` means untied;
``num_writer`` and ``num_reader`` must be below ``num_sparse_partition``. ``attn.head_dim`` and
``num_v_heads`` are not read by the reference code, so a value that disagrees with ``head_dim`` /
``num_heads`` is refused rather than silently ignored.

Every problem is a one-line :class:`neurosim.NeurosimError` naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from neurosim import NeurosimError
from neurosim.model.config_keys import (
    KNOWN_ATTN_KEYS,
    KNOWN_KEYS,
    REQUIRED,
    REQUIRED_ATTN,
    WHERE,
    bool_key,
    check_keys,
    float_key,
    int_key,
    layer_list,
    same_or_refuse,
    suggest,
)

__all__ = [
    "SUPPORTED_MODEL_TYPES", "LAYER_KINDS", "ATTN_DEFAULTS", "LM_HEAD_NAME", "PROJECTION_ROLES",
    "ModelConfig", "model_config", "layer_tensors", "expected_tensors", "optional_tensors",
    "count_parameters",
]

SUPPORTED_MODEL_TYPES = ("sse_swa_moba", "qwen3", "qwen2", "llama")

#: "attention" (llama/qwen3/qwen2) and "full" (SpB2.0) are dense causal softmax; "moba" is block-sparse
#: softmax; "sse_swa" is the SSE (gated delta rule) + sliding-window softmax hybrid.
LAYER_KINDS = ("attention", "full", "moba", "sse_swa")

LM_HEAD_NAME = "lm_head.weight"

#: defaults of the SpB2.0 layout (attn sub-dict; docs/model.md) and of the HF configs
ATTN_DEFAULTS: dict = {"window_size": None, "moba_chunk_size": 1024, "moba_topk": 4, "qk_norm": False,
                 "qkv_bias": False, "rope_theta": 10000.0, "full_layers": []}

_SOFTMAX_PROJ = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP_PROJ = ("gate_proj", "up_proj", "down_proj")
_SSE_PROJ = ("sse_q_proj", "sse_k_proj", "sse_v_proj", "lora_q_proj.0", "lora_q_proj.1",
             "lora_k_proj.0", "lora_k_proj.1", "sse_b_proj", "sse_a_proj", "sse_e_proj", "sse_o_proj")

#: per layer kind, the roles of the linear projections in the order the float model calls them
PROJECTION_ROLES: dict[str, tuple[str, ...]] = {
    "attention": _SOFTMAX_PROJ + _MLP_PROJ,
    "full": _SOFTMAX_PROJ + _MLP_PROJ,
    "moba": _SOFTMAX_PROJ + _MLP_PROJ,
    "sse_swa": _SSE_PROJ + tuple("swa_" + r for r in _SOFTMAX_PROJ) + _MLP_PROJ,
}

# --------------------------------------------------------------------------------------------
# normalized config
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelConfig:
    """One normalized view of a config.json of any supported model_type, the layout's defaults applied.

    Sizes are element counts. MoBA/full softmax layers use ``num_heads`` / ``num_kv_heads`` /
    ``head_dim``; the SWA branch of ``sse_swa`` layers uses ``swa_num_heads`` (the top-level
    ``num_heads``, as the reference code has it) / ``num_kv_heads`` / ``head_dim``. RoPE is
    rotate-half with base ``rope_theta``. For qwen3/qwen2/llama every layer is ``attention`` and
    ``qk_norm`` is True for qwen3, False for qwen2/llama; qwen2 has biases on q/k/v (never on
    o_proj); the ``sse_*`` fields are 0 there.
    """

    model_type: str
    hidden_size: int
    num_layers: int
    intermediate_size: int
    vocab_size: int
    norm_eps: float
    tie_word_embeddings: bool
    hidden_act: str                    # "swish"/"silu": both mean SiLU
    # softmax attention
    num_heads: int                     # MoBA/full query heads (sse_swa_moba: attn.num_heads)
    num_kv_heads: int                  # default: num_heads
    head_dim: int                      # default hidden_size // num_heads (sse_swa_moba: top-level)
    qk_norm: bool
    qkv_bias: bool                     # biases on q/k/v projections
    o_bias: bool                       # bias on o_proj (llama/qwen3 attention_bias)
    mlp_bias: bool
    rope_theta: float
    window_size: int | None            # SWA window in tokens incl. the current one (default None)
    moba_chunk_size: int               # tokens per MoBA block (default 1024)
    moba_topk: int                     # default 4; the current block counts toward it
    layer_kinds: tuple[str, ...]       # per layer, one of LAYER_KINDS
    max_position_embeddings: int | None = None
    # SSE (gated delta rule) branch of sse_swa layers
    sse_num_heads: int = 0             # config num_heads (32 in SpB2.0); also the SWA query heads
    sse_head_dim: int = 0              # config head_dim
    sse_v_dim: int = 0                 # num_heads * head_dim * expand_v (width of sse_v_proj)
    sse_lora_rank: int = 0             # rank of lora_{q,k}_proj (assumed = head_dim; 128 in SpB2.0)
    num_sparse_partition: int = 0      # partitions of the SSE state (4)
    num_writer: int = 0                # partitions each token writes to (router top-k, 2)
    num_reader: int = 0                # partitions each token reads from (2)
    linear_attn_type: str = ""
    sse_qk_relu: bool = False          # ReLU instead of SiLU on the SSE q and k
    allow_neg_eigval: bool = False     # beta doubled (range 0..2)
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def swa_num_heads(self) -> int:
        """Query heads of the SWA branch: the top-level ``num_heads`` (reference sse_swa.py:774)."""
        return self.sse_num_heads

    def layer_kind(self, i: int) -> str:
        """The kind of layer ``i``, one of :data:`LAYER_KINDS`."""
        return self.layer_kinds[i]

    @staticmethod
    def layer_prefix(i: int) -> str:
        """The tensor-name prefix of layer ``i`` (``model.layers.{i}.``)."""
        return f"model.layers.{i}."

    @property
    def embed_name(self) -> str:
        """Tensor name of the input embeddings [vocab, hidden]."""
        return "model.embeddings.weight" if self.model_type == "sse_swa_moba" else "model.embed_tokens.weight"

    @property
    def final_norm_name(self) -> str:
        """Tensor name of the final RMSNorm weight [hidden]."""
        return "model.norm.weight"

    def head_name(self, names: Iterable[str] | None = None) -> str:
        """The tensor used as the output projection [vocab, hidden]: the embeddings when tied;
        otherwise ``lm_head.weight``, or the embeddings if ``names`` is given and lacks it."""
        if self.tie_word_embeddings or (names is not None and LM_HEAD_NAME not in set(names)):
            return self.embed_name
        return LM_HEAD_NAME

    def names(self, i: int) -> dict[str, str]:
        """Role -> tensor name for layer i (roles are the SpB2.0 short names, e.g. ``q_proj``,
        ``attn_norm``, ``gate_proj``, ``sse_q_proj``; llama/qwen3/qwen2 names are mapped onto them)."""
        return {role: name for role, (name, _) in layer_tensors(self, i).items()}

    def projection_names(self, i: int) -> list[str]:
        """Weight names of layer i's linear projections, in the order the float model calls them."""
        n = self.names(i)
        return [n[r] for r in PROJECTION_ROLES[self.layer_kinds[i]]]

    def bias_names(self, i: int) -> dict[str, str]:
        """Projection weight name -> its bias tensor name, for the projections of layer i that have one."""
        n = self.names(i)
        return {n[r]: n[b] for r in PROJECTION_ROLES[self.layer_kinds[i]]
                if (b := r.replace("_proj", "_bias")) in n}


def model_config(config: Mapping) -> ModelConfig:
    """Validate a config.json dict and return its normalized :class:`ModelConfig`.

    Raises NeurosimError for an unknown model_type, a missing required key, a misspelt key (with a
    suggestion), a value of the wrong type, inconsistent layer lists, or a feature without tensors
    or float math here (``rope_scaling``, ``use_short_conv``, ``use_output_gate``, non-SiLU).
    """
    if not isinstance(config, Mapping):
        raise NeurosimError("config.json: top level must be a JSON object")
    mt = config.get("model_type")
    if mt is None:
        guess = next((k for k in config if suggest(k, ["model_type"])), None)
        if guess:
            raise NeurosimError(f"config.json: unknown key '{guess}' (did you mean 'model_type'?)")
        raise NeurosimError("config.json: missing required key 'model_type'")
    if mt not in SUPPORTED_MODEL_TYPES:
        raise NeurosimError(f"config.json: unknown model_type '{mt}' "
                            f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
    where = WHERE
    check_keys(where, config, KNOWN_KEYS[mt], REQUIRED[mt])
    common = dict(
        model_type=mt, hidden_size=int_key(where, config, "hidden_size"),
        num_layers=int_key(where, config, "num_hidden_layers"),
        intermediate_size=int_key(where, config, "intermediate_size"),
        vocab_size=int_key(where, config, "vocab_size"),
        hidden_act=config.get("hidden_act", "silu"),
        max_position_embeddings=config.get("max_position_embeddings"),
        # HF LlamaConfig/Qwen3Config and the SpB2.0 reference code: absent = untied
        tie_word_embeddings=bool_key(where, config, "tie_word_embeddings", False),
        raw=dict(config),
    )
    if common["hidden_act"] not in ("silu", "swish"):
        raise NeurosimError(f"config.json: hidden_act '{common['hidden_act']}' is not supported (silu/swish only)")
    scaling = config.get("rope_scaling")
    if scaling and (not isinstance(scaling, Mapping)
                    or (scaling.get("rope_type") or scaling.get("type")) not in (None, "default")):
        raise NeurosimError(f"config.json: rope_scaling {scaling!r} is not supported")
    if mt == "sse_swa_moba":
        return _sse_config(config, common)
    H, L = common["hidden_size"], common["num_layers"]
    nh = int_key(where, config, "num_attention_heads")
    nkv = int_key(where, config, "num_key_value_heads", nh)
    hd = int_key(where, config, "head_dim", H // nh if H % nh == 0 else None)
    if nh % nkv:
        raise NeurosimError(f"config.json: num_attention_heads {nh} is not a multiple of num_key_value_heads {nkv}")
    if mt == "qwen2":
        # Qwen2 attention: biases on q/k/v always, none on o_proj (no config key for either)
        if config.get("use_sliding_window"):
            raise NeurosimError("config.json: use_sliding_window=true is not supported (full attention only)")
        qkv_bias, o_bias = True, False
    else:
        qkv_bias = o_bias = bool_key(where, config, "attention_bias", False)
    return ModelConfig(
        **common, norm_eps=float_key(where, config, "rms_norm_eps", 1e-6),
        num_heads=nh, num_kv_heads=nkv, head_dim=hd,
        qk_norm=(mt == "qwen3"), qkv_bias=qkv_bias, o_bias=o_bias,
        mlp_bias=bool_key(where, config, "mlp_bias", False),
        rope_theta=float_key(where, config, "rope_theta", 10000.0),
        window_size=None, moba_chunk_size=ATTN_DEFAULTS["moba_chunk_size"],
        moba_topk=ATTN_DEFAULTS["moba_topk"], layer_kinds=("attention",) * L,
    )


def _sse_config(config: Mapping, common: dict) -> ModelConfig:
    where = WHERE
    H, L = common["hidden_size"], common["num_layers"]
    attn = config["attn"]
    if not isinstance(attn, Mapping):
        raise NeurosimError("config.json: key 'attn' must be an object")
    aw = "config.json: attn"
    check_keys(aw, attn, KNOWN_ATTN_KEYS, REQUIRED_ATTN)
    for flag in ("use_short_conv", "use_output_gate"):
        if config.get(flag):
            raise NeurosimError(f"config.json: {flag}=true is not supported (no tensors defined for it)")
    nh_sse = int_key(where, config, "num_heads")
    hd = int_key(where, config, "head_dim", H // nh_sse if H % nh_sse == 0 else None)
    same_or_refuse(where, config, "num_v_heads", "num_v_heads", nh_sse, "num_heads")
    same_or_refuse(aw, attn, "head_dim", "attn.head_dim", hd, "the top-level head_dim")
    expand_v = config.get("expand_v", 1)
    if isinstance(expand_v, bool) or not isinstance(expand_v, (int, float)) or expand_v <= 0 \
            or (nh_sse * hd * expand_v) != int(nh_sse * hd * expand_v):
        raise NeurosimError("config.json: key 'expand_v' must be a positive number giving an integer width, "
                            f"got {expand_v!r}")
    P = int_key(where, config, "num_sparse_partition", 4)
    nw = int_key(where, config, "num_writer", 2)
    nr = int_key(where, config, "num_reader", 2)
    for key, v in (("num_writer", nw), ("num_reader", nr)):
        if v >= P:
            raise NeurosimError(f"config.json: key '{key}' ({v}) must be below num_sparse_partition ({P})")
    nh = int_key(aw, attn, "num_heads")
    nkv = int_key(aw, attn, "num_kv_heads", nh)
    for key, q in (("attn.num_heads", nh), ("num_heads", nh_sse)):
        if q % nkv:
            raise NeurosimError(f"config.json: {key} {q} is not a multiple of attn.num_kv_heads {nkv}")
    layers = layer_list(aw, attn, "layers", L)
    full = layer_list(aw, attn, "full_layers", L) if attn.get("full_layers") is not None else []
    for i in full:
        if i not in layers:
            raise NeurosimError(f"config.json: attn.full_layers contains {i}, which is not in attn.layers")
    ws = attn.get("window_size", None)
    if ws is not None:
        ws = int_key(aw, attn, "window_size")
    kinds = tuple("full" if i in full else "moba" if i in layers else "sse_swa" for i in range(L))
    linear_type = config.get("linear_attn_type", "gdn")
    if linear_type != "gdn":
        raise NeurosimError(f"config.json: linear_attn_type '{linear_type}' is not supported (gdn only)")
    return ModelConfig(
        **common, norm_eps=float_key(where, config, "norm_eps", 1e-6),
        num_heads=nh, num_kv_heads=nkv, head_dim=hd,
        qk_norm=bool_key(aw, attn, "qk_norm", False), qkv_bias=bool_key(aw, attn, "qkv_bias", False),
        o_bias=False, mlp_bias=False,
        rope_theta=float_key(aw, attn, "rope_theta", float_key(where, config, "rope_theta", 10000.0)),
        window_size=ws,
        moba_chunk_size=int_key(aw, attn, "moba_chunk_size", ATTN_DEFAULTS["moba_chunk_size"]),
        moba_topk=int_key(aw, attn, "moba_topk", ATTN_DEFAULTS["moba_topk"]),
        layer_kinds=kinds,
        sse_num_heads=nh_sse, sse_head_dim=hd, sse_v_dim=int(nh_sse * hd * expand_v),
        sse_lora_rank=hd, num_sparse_partition=P, num_writer=nw, num_reader=nr,
        linear_attn_type=linear_type, sse_qk_relu=bool_key(where, config, "sse_qk_relu", False),
        allow_neg_eigval=bool_key(where, config, "allow_neg_eigval", False),
    )


# --------------------------------------------------------------------------------------------
# tensor schema (the one table)
# --------------------------------------------------------------------------------------------

Spec = dict[str, tuple[str, tuple[int, ...]]]


def _softmax_tensors(t: Spec, mc: ModelConfig, a: str, s: str, heads: int, o_bias: bool) -> None:
    """q/k/v/o projections of one softmax branch (name prefix ``a + s``; roles prefixed ``s``)."""
    H, hd = mc.hidden_size, mc.head_dim
    qd, kvd = heads * hd, mc.num_kv_heads * hd
    for r, shape in (("q", (qd, H)), ("k", (kvd, H)), ("v", (kvd, H)), ("o", (H, qd))):
        t[f"{s}{r}_proj"] = (f"{a}{s}{r}_proj.weight", shape)
    if mc.qk_norm:
        for r in "qk":
            t[f"{s}{r}_norm"] = (f"{a}{s}{r}_norm.weight", (hd,))
    if mc.qkv_bias:
        for r, n in (("q", qd), ("k", kvd), ("v", kvd)):
            t[f"{s}{r}_bias"] = (f"{a}{s}{r}_proj.bias", (n,))
    if o_bias:
        t[f"{s}o_bias"] = (f"{a}{s}o_proj.bias", (H,))


def _mlp_tensors(t: Spec, mc: ModelConfig, p: str) -> None:
    H, inter = mc.hidden_size, mc.intermediate_size
    for r, shape, bias in (("gate", (inter, H), inter), ("up", (inter, H), inter), ("down", (H, inter), H)):
        t[f"{r}_proj"] = (f"{p}mlp.{r}_proj.weight", shape)
        if mc.mlp_bias:
            t[f"{r}_bias"] = (f"{p}mlp.{r}_proj.bias", (bias,))


def _sse_tensors(t: Spec, mc: ModelConfig, a: str) -> None:
    H = mc.hidden_size
    sq, g, r, vd = mc.sse_num_heads * mc.sse_head_dim, 2 * mc.sse_num_heads, mc.sse_lora_rank, mc.sse_v_dim
    for role, shape in (("sse_q_proj", (sq, H)), ("sse_k_proj", (sq, H)), ("sse_v_proj", (vd, H)),
                        ("sse_o_proj", (H, vd)), ("sse_a_proj", (g, H)), ("sse_b_proj", (g, H)),
                        ("sse_e_proj", (mc.num_sparse_partition, H)), ("sse_o_norm", (mc.sse_head_dim,)),
                        ("sse_merge_norm", (H,)), ("swa_merge_norm", (H,))):
        t[role] = (f"{a}{role}.weight", shape)
    for role in ("lora_q_proj", "lora_k_proj"):
        t[role + ".0"] = (f"{a}{role}.0.weight", (r, H))
        t[role + ".1"] = (f"{a}{role}.1.weight", (sq, r))
    t["A_log"] = (a + "A_log", (g,))
    t["dt_bias"] = (a + "dt_bias", (g,))


def layer_tensors(mc: ModelConfig, i: int) -> Spec:
    """The schema of layer ``i``: role -> (tensor name, shape), in checkpoint write order.

    llama/qwen3/qwen2: ``input_layernorm``, ``post_attention_layernorm``, ``self_attn.{q,k,v,o}_proj``
    (+ ``{q,k}_norm`` for qwen3, biases with ``attention_bias``; qwen2 always has
    ``self_attn.{q,k,v}_proj.bias``), ``mlp.{gate,up,down}_proj``.
    sse_swa_moba (docs/model.md): ``attn_norm``, ``mlp_norm``, ``mlp.*``; MoBA/full layers
    ``attn.{q,k,v,o}_proj`` with ``attn.num_heads`` query heads; SSE+SWA layers the SSE tensors and
    ``attn.swa_{q,k,v,o}_proj`` with the top-level ``num_heads`` query heads.
    """
    p = mc.layer_prefix(i)
    H = mc.hidden_size
    t: Spec = {}
    if mc.model_type != "sse_swa_moba":
        t["attn_norm"] = (p + "input_layernorm.weight", (H,))
        t["mlp_norm"] = (p + "post_attention_layernorm.weight", (H,))
        _softmax_tensors(t, mc, p + "self_attn.", "", mc.num_heads, mc.o_bias)
        _mlp_tensors(t, mc, p)
        return t
    a = p + "attn."
    t["attn_norm"] = (p + "attn_norm.weight", (H,))
    t["mlp_norm"] = (p + "mlp_norm.weight", (H,))
    _mlp_tensors(t, mc, p)
    if mc.layer_kinds[i] == "sse_swa":
        _sse_tensors(t, mc, a)
        _softmax_tensors(t, mc, a, "swa_", mc.swa_num_heads, False)
    else:
        _softmax_tensors(t, mc, a, "", mc.num_heads, False)
    return t


def _as_config(config: Mapping | ModelConfig) -> ModelConfig:
    return config if isinstance(config, ModelConfig) else model_config(config)


def expected_tensors(config: Mapping | ModelConfig) -> dict[str, tuple[int, ...]]:
    """The exact name -> shape schema of a checkpoint with this config (validates the config).

    ``lm_head.weight`` is listed only when ``tie_word_embeddings`` is false; with tied embeddings
    it is optional (see :func:`optional_tensors`).
    """
    mc = _as_config(config)
    H, V = mc.hidden_size, mc.vocab_size
    out: dict[str, tuple[int, ...]] = {mc.embed_name: (V, H)}
    for i in range(mc.num_layers):
        out.update(dict(layer_tensors(mc, i).values()))
    out[mc.final_norm_name] = (H,)
    if not mc.tie_word_embeddings:
        out[LM_HEAD_NAME] = (V, H)
    return out


def optional_tensors(config: Mapping | ModelConfig) -> dict[str, tuple[int, ...]]:
    """Tensors that may be present or absent: ``lm_head.weight`` when embeddings are tied."""
    mc = _as_config(config)
    return {LM_HEAD_NAME: (mc.vocab_size, mc.hidden_size)} if mc.tie_word_embeddings else {}


def count_parameters(config: Mapping | ModelConfig) -> int:
    """Number of parameters (elements) in :func:`expected_tensors` (tied lm_head not counted)."""
    return sum(math.prod(s) for s in expected_tensors(config).values())
