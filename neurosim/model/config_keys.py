"""The keys of a config.json: the required and known keys per ``model_type`` and the typed readers
that refuse a missing, misspelt or ill-typed key with a one-line :class:`neurosim.NeurosimError`
(used by :func:`neurosim.model.config.model_config`)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping

from neurosim import NeurosimError

__all__ = ["KNOWN_ATTN_KEYS", "KNOWN_KEYS", "REQUIRED", "REQUIRED_ATTN", "WHERE", "bool_key", "check_keys",
           "float_key", "int_key", "layer_list", "same_or_refuse", "suggest"]


_HF_REQUIRED = ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size", "num_attention_heads")
#: required top-level keys per model_type (checked before anything else)
REQUIRED = {
    "sse_swa_moba": ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size",
                     "num_heads", "attn"),
    "qwen3": _HF_REQUIRED,
    "qwen2": _HF_REQUIRED,
    "llama": _HF_REQUIRED,
}
REQUIRED_ATTN = ("layers", "num_heads")

#: keys commonly found in HF configs; an unknown key close to one of these is reported as a typo
_COMMON_KEYS = {
    "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "bos_token_id", "eos_token_id", "pad_token_id", "initializer_range", "hidden_size",
    "num_hidden_layers", "intermediate_size", "vocab_size", "max_position_embeddings",
    "tie_word_embeddings", "hidden_act", "rope_scaling", "rope_theta", "head_dim", "auto_map",
    "attention_dropout", "name_or_path", "_name_or_path",
}
_HF_KEYS = _COMMON_KEYS | {"num_attention_heads", "num_key_value_heads", "rms_norm_eps", "attention_bias"}
KNOWN_KEYS = {
    "sse_swa_moba": _COMMON_KEYS | {
        "allow_neg_eigval", "attn", "attn_mode", "aux_loss_coef", "conv_size", "expand_v",
        "fuse_cross_entropy", "fuse_linear_cross_entropy", "fuse_norm", "fuse_swiglu",
        "hidden_ratio", "linear_attn_type", "norm_eps", "num_heads", "num_reader",
        "num_sparse_partition", "num_v_heads", "num_writer", "sse_implementation", "sse_qk_relu",
        "swa_dropout", "use_l2warp", "use_output_gate", "use_short_conv",
    },
    "qwen3": _HF_KEYS | {"max_window_layers", "sliding_window", "use_sliding_window", "layer_types"},
    "qwen2": _HF_KEYS | {"max_window_layers", "sliding_window", "use_sliding_window", "layer_types"},
    "llama": _HF_KEYS | {"mlp_bias", "pretraining_tp"},
}
KNOWN_ATTN_KEYS = {
    "layers", "full_layers", "num_heads", "num_kv_heads", "qk_norm", "qkv_bias", "rope_theta",
    "window_size", "moba_chunk_size", "moba_topk", "head_dim",
}
WHERE = "config.json"


def suggest(key: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt ``key`` (difflib ratio >= 0.8), or None."""
    m = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
    return m[0] if m else None


def check_keys(where: str, cfg: Mapping, known: set, required: Iterable[str]) -> None:
    """Refuse a key close to a known one (a typo, with the suggestion) and a missing required key."""
    for key in cfg:
        if key in known:
            continue
        guess = suggest(key, known)
        if guess is not None:
            raise NeurosimError(f"{where}: unknown key '{key}' (did you mean '{guess}'?)")
    for key in required:
        if key not in cfg:
            raise NeurosimError(f"{where}: missing required key '{key}'")


def int_key(where: str, cfg: Mapping, key: str, default=None, minimum: int = 1) -> int:
    """An integer config value; a missing or null key takes ``default`` (None: required)."""
    v = cfg.get(key)
    if v is None:
        v = default
    if v is None:
        raise NeurosimError(f"{where}: missing required key '{key}'")
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise NeurosimError(f"{where}: key '{key}' must be an integer >= {minimum}, got {v!r}")
    return v


def _checked(where: str, cfg: Mapping, key: str, default, ok, expected: str):
    """``cfg[key]`` (``default`` when absent or None), refused with a one-line error unless ``ok(v)``."""
    v = cfg.get(key, default)
    if v is None:
        return default
    if not ok(v):
        raise NeurosimError(f"{where}: key '{key}' must be {expected}, got {v!r}")
    return v


def bool_key(where: str, cfg: Mapping, key: str, default: bool) -> bool:
    """A true/false config value (``default`` when absent or null)."""
    return _checked(where, cfg, key, default, lambda v: isinstance(v, bool), "true or false")


def float_key(where: str, cfg: Mapping, key: str, default: float) -> float:
    """A positive finite number (``default`` when absent or null), as a float."""
    def ok(v):
        return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v > 0

    return float(_checked(where, cfg, key, default, ok, "a positive number"))


def same_or_refuse(where: str, cfg: Mapping, key: str, label: str, value: int, owner: str) -> None:
    """Refuse a key (``label`` in messages) that the reference code does not read when its value
    disagrees with the one it uses instead (``owner``)."""
    v = cfg.get(key)
    if v is not None and v != value:
        raise NeurosimError(f"{where}: key '{key}' ({v!r}) differs from {owner} ({value}); the reference "
                            f"code ignores {label} and uses {owner}: set it equal or remove it")


def layer_list(where: str, cfg: Mapping, key: str, L: int) -> list[int]:
    """A list of distinct layer indices in 0..L-1, sorted."""
    v = cfg.get(key)
    if not isinstance(v, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        raise NeurosimError(f"{where}: key '{key}' must be a list of layer indices, got {v!r}")
    for i in v:
        if not 0 <= i < L:
            raise NeurosimError(f"{where}: key '{key}' has layer {i}, outside 0..{L - 1}")
    if len(set(v)) != len(v):
        raise NeurosimError(f"{where}: key '{key}' lists a layer twice")
    return sorted(v)
