"""GGUF -> HF-style llama / qwen2 checkpoint directory (``neurosim convert --gguf FILE --out DIR``).

Reads the file with the PyPI ``gguf`` package (``GGUFReader``, memory-mapped), dequantizes one tensor
at a time with ``gguf.quants.dequantize`` (float32, exactly the package's values) and writes through
:func:`neurosim.model.checkpoint.write_checkpoint` (atomic, streaming, disk space checked first).
Supported: ``general.architecture`` ``llama`` or ``qwen2`` (q/k/v biases) with a ``gpt2`` (byte-level
BPE) tokenizer, tensor types :data:`SUPPORTED_TENSOR_TYPES` (the legacy 32-weight blocks and the
256-weight k-quants Q4_K, Q5_K, Q6_K). llama.cpp's converter permutes the rows of
``attn_q``/``attn_k`` of llama models for its interleaved RoPE; they are permuted back here so the HF
rotate-half RoPE applies (qwen2 is stored unpermuted: llama.cpp runs it with rotate-half RoPE).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.console import fit
from neurosim.model.checkpoint import write_checkpoint
from neurosim.model.config import LM_HEAD_NAME, expected_tensors, model_config

SUPPORTED_ARCHITECTURES = ("llama", "qwen2")
#: GGUF architecture -> (HF model_type, architectures entry)
_MODEL_TYPES = {"llama": ("llama", "LlamaForCausalLM"), "qwen2": ("qwen2", "Qwen2ForCausalLM")}
#: tensor types dequantized here (by gguf.quants.dequantize, checked type by type in the tests)
SUPPORTED_TENSOR_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K")

#: GGUF per-layer tensor name -> its role in the schema (neurosim.model.config; the HF names come from there)
_LAYER_ROLES = {
    "attn_norm": "attn_norm",
    "ffn_norm": "mlp_norm",
    "attn_q": "q_proj",
    "attn_k": "k_proj",
    "attn_v": "v_proj",
    "attn_output": "o_proj",
    "ffn_gate": "gate_proj",
    "ffn_up": "up_proj",
    "ffn_down": "down_proj",
}
#: GGUF bias tensors (qwen2 only) -> their schema role
_BIAS_ROLES = {"attn_q": "q_bias", "attn_k": "k_bias", "attn_v": "v_bias"}
_EMBED, _HEAD = "token_embd.weight", "output.weight"
_GLOBALS = (_EMBED, "output_norm.weight", _HEAD)
_BLK = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$")

#: llama.cpp pre-tokenizer name -> split regex (None: GPT-2's, built into ByteLevel)
_GPT2 = None
_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
           r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_PRE = {"default": _GPT2, "gpt-2": _GPT2, "gpt2": _GPT2, "smollm": _GPT2, "llama-bpe": _LLAMA3,
        "llama3": _LLAMA3, "smaug-bpe": _LLAMA3, "qwen2": _QWEN2}
#: pre-tokenizers that split every digit on its own before the regex
_DIGITS_FIRST = {"smollm"}


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's ``permute``: rows per head go from interleaved pairs back to two halves.

    ``w``: [n_head * head_dim, in]. llama.cpp stored ``w.reshape(n, 2, hd/2, in).swapaxes(1, 2)``.
    """
    rows = w.shape[0]
    if rows % (2 * n_head):
        raise NeurosimError(f"cannot unpermute a [{rows}, ...] q/k weight for {n_head} heads")
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's permutation (the inverse of :func:`unpermute_qk`); used by tests."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _field(reader, key: str, default=None, required: bool = True):
    f = reader.fields.get(key)
    if f is None:
        if required and default is None:
            raise NeurosimError(f"{Path(reader.data.filename).name}: missing metadata key '{key}'")
        return default
    return f.contents()


def _open(path: Path):
    from gguf import GGUFReader

    if not path.is_file():
        raise NeurosimError(f"{path}: no such GGUF file")
    try:
        return GGUFReader(str(path), "r")
    except Exception as exc:  # gguf raises ValueError/struct errors/... on bad input
        msg = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        raise NeurosimError(f"{path.name}: not a readable GGUF file ({msg})") from None


def build_tokenizer_json(tokens: list[str], merges: list[str], token_types: list[int] | None,
                         pre: str, bos_id: int | None, add_bos: bool) -> str:
    """A byte-level BPE ``tokenizer.json`` (GPT-2 style) from a GGUF ``gpt2`` vocabulary."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    if pre not in _PRE:
        raise NeurosimError(f"GGUF: tokenizer.ggml.pre '{pre}' is not supported "
                            f"(supported: {', '.join(sorted(_PRE))})")
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise NeurosimError("GGUF: tokenizer.ggml.tokens contains duplicate tokens")
    pairs = []
    for m in merges:
        parts = m.split(" ")
        if len(parts) != 2:
            raise NeurosimError(f"GGUF: malformed merge {m!r} in tokenizer.ggml.merges")
        pairs.append((parts[0], parts[1]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
    steps: list = []
    if pre in _DIGITS_FIRST:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    regex = _PRE[pre]
    if regex is None:
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    else:
        steps.append(pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False))
        steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps) if len(steps) > 1 else steps[0]
    tok.decoder = decoders.ByteLevel()
    # CONTROL (3) tokens are special; USER_DEFINED (4) are added but kept in decoded text
    if token_types is not None:
        special = [AddedToken(tokens[i], special=True, normalized=False)
                   for i, t in enumerate(token_types) if t == 3]
        user = [AddedToken(tokens[i], special=False, normalized=False)
                for i, t in enumerate(token_types) if t == 4]
        if special:
            tok.add_special_tokens(special)
        if user:
            tok.add_tokens(user)
    if add_bos and bos_id is not None:
        bos = tokens[bos_id]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)])
    return tok.to_str()


def convert_gguf(gguf_path: str | os.PathLike, out: str | os.PathLike, *, dtype: str = "float32",
                 progress: bool = True, force: bool = False) -> Path:
    """Convert a llama- or qwen2-architecture GGUF file into an HF-style directory ``out`` (atomic)."""
    from gguf.quants import dequantize

    gguf_path = Path(gguf_path)
    r = _open(gguf_path)
    arch = _field(r, "general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise NeurosimError(f"{gguf_path.name}: unsupported GGUF architecture '{arch}' "
                            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})")
    a = arch + "."
    L = int(_field(r, a + "block_count"))
    H = int(_field(r, a + "embedding_length"))
    I = int(_field(r, a + "feed_forward_length"))  # noqa: E741 (I: the intermediate size)
    nh = int(_field(r, a + "attention.head_count"))
    nkv = int(_field(r, a + "attention.head_count_kv", nh))
    hd = int(_field(r, a + "attention.key_length", H // nh, required=False))
    # stored as float32: its shortest decimal (1e-06, as config.json had it, not 9.99999997e-07)
    eps = float(str(np.float32(_field(r, a + "attention.layer_norm_rms_epsilon"))))
    theta = float(_field(r, a + "rope.freq_base", 10000.0, required=False))
    ctx = int(_field(r, a + "context_length", 2048, required=False))
    if _field(r, a + "rope.scaling.type", "none", required=False) not in ("none", None):
        raise NeurosimError(f"{gguf_path.name}: RoPE scaling is not supported")
    rot = _field(r, a + "rope.dimension_count", hd, required=False)
    if int(rot) != hd:
        raise NeurosimError(f"{gguf_path.name}: partial RoPE ({a}rope.dimension_count {rot} < head_dim {hd}) "
                            "is not supported")

    found = {}   # (layer or None, role or GGUF global name) -> (GGUF tensor, numpy shape)
    for t in r.tensors:
        name = t.name
        if t.tensor_type.name not in SUPPORTED_TENSOR_TYPES:
            raise NeurosimError(f"{gguf_path.name}: tensor '{name}' has type {t.tensor_type.name}, which is not "
                                f"supported (supported: {', '.join(SUPPORTED_TENSOR_TYPES)})")
        if name in _GLOBALS:
            key: tuple[int | None, str] = (None, name)
        else:
            m = _BLK.match(name)
            roles = _LAYER_ROLES if m and m.group(3) == "weight" else _BIAS_ROLES if arch == "qwen2" else {}
            if not m or m.group(2) not in roles:
                raise NeurosimError(f"{gguf_path.name}: unsupported tensor '{name}' for a {arch} model")
            key = (int(m.group(1)), roles[m.group(2)])
        # GGUF shapes are ggml order (fastest dimension first); numpy/HF order is reversed
        found[key] = (t, tuple(int(x) for x in reversed(t.shape.tolist())) if len(t.shape) > 1
                      else (int(t.shape[0]),))
    emb = found.get((None, _EMBED))
    if emb is None:
        raise NeurosimError(f"{gguf_path.name}: missing tensor '{_EMBED}'")
    V = emb[1][0]
    tied = (None, _HEAD) not in found

    tok_model = _field(r, "tokenizer.ggml.model")
    if tok_model != "gpt2":
        raise NeurosimError(f"{gguf_path.name}: tokenizer.ggml.model '{tok_model}' is not supported "
                            "(only 'gpt2' byte-level BPE)")
    tokens = list(_field(r, "tokenizer.ggml.tokens"))
    merges = list(_field(r, "tokenizer.ggml.merges"))
    ttypes = _field(r, "tokenizer.ggml.token_type", required=False)
    bos = _field(r, "tokenizer.ggml.bos_token_id", required=False)
    eos = _field(r, "tokenizer.ggml.eos_token_id", required=False)
    pad = _field(r, "tokenizer.ggml.padding_token_id", required=False)
    if len(tokens) > V:
        raise NeurosimError(f"{gguf_path.name}: {len(tokens)} tokens but token_embd has {V} rows")
    tok_json = build_tokenizer_json(
        tokens, merges, list(ttypes) if ttypes is not None else None,
        str(_field(r, "tokenizer.ggml.pre", "default", required=False)),
        bos, bool(_field(r, "tokenizer.ggml.add_bos_token", False, required=False)))

    model_type, hf_arch = _MODEL_TYPES[arch]
    config = {
        "architectures": [hf_arch], "model_type": model_type,
        "hidden_size": H, "intermediate_size": I, "num_hidden_layers": L,
        "num_attention_heads": nh, "num_key_value_heads": nkv, "head_dim": hd,
        "vocab_size": V, "rms_norm_eps": eps, "rope_theta": theta,
        "max_position_embeddings": ctx, "tie_word_embeddings": tied, "hidden_act": "silu",
        "torch_dtype": dtype, "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad,
    }
    if model_type == "llama":
        config.update({"attention_bias": False, "mlp_bias": False})
    mc = model_config(config)
    schema = expected_tensors(mc)
    tensors, roles = {}, {}   # HF name -> (GGUF tensor, shape); HF name -> role
    for (layer, role), (t, shape) in found.items():
        if layer is None:
            hf = {_EMBED: mc.embed_name, "output_norm.weight": mc.final_norm_name, _HEAD: LM_HEAD_NAME}[role]
        elif layer < mc.num_layers:
            hf = mc.names(layer)[role]
        else:
            raise NeurosimError(f"{gguf_path.name}: tensor '{t.name}' is not in the {model_type} schema "
                                f"(the model has {mc.num_layers} layers)")
        tensors[hf], roles[hf] = (t, shape), role
    for hf, (t, shape) in tensors.items():
        want = schema.get(hf)
        if want is None:
            raise NeurosimError(f"{gguf_path.name}: tensor '{t.name}' ({hf}) is not in the {model_type} schema")
        if shape != want:
            raise NeurosimError(f"{gguf_path.name}: tensor '{t.name}' has shape {shape}, expected {want}")
    missing = [n for n in schema if n not in tensors]
    if missing:
        raise NeurosimError(f"{gguf_path.name}: missing tensor for '{missing[0]}'"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))

    def produce(hf: str) -> np.ndarray:
        t, shape = tensors[hf]
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)
        if arch == "llama" and roles[hf] == "q_proj":
            w = unpermute_qk(w, nh)
        elif arch == "llama" and roles[hf] == "k_proj":
            w = unpermute_qk(w, nkv)
        if not np.isfinite(w).all():
            raise NeurosimError(f"{gguf_path.name}: tensor '{t.name}' contains NaN/inf")
        return w

    specs = {hf: tensors[hf][1] for hf in schema}
    extra = {
        "neurosim_source.json": json.dumps({"converted_from": gguf_path.name,
                                            "general.name": _field(r, "general.name", "", required=False),
                                            "tool": "neurosim convert"}, indent=2) + "\n",
    }
    tmpl = _field(r, "tokenizer.chat_template", required=False)
    tc = {"add_bos_token": False, "bos_token": tokens[bos] if bos is not None else None,
          "eos_token": tokens[eos] if eos is not None else None}
    if tmpl:
        tc["chat_template"] = tmpl
    extra["tokenizer_config.json"] = json.dumps(tc, indent=2) + "\n"
    return write_checkpoint(out, config, specs, produce, dtype=dtype, tokenizer_json=tok_json,
                            extra_files=extra, progress=progress, force=force)


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``neurosim convert`` arguments."""
    parser.add_argument("--gguf", required=True, metavar="FILE", help="input GGUF file (llama or qwen2 architecture)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output checkpoint directory (must not exist)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="safetensors dtype of the written weights (default float32)")
    parser.add_argument("--force", action="store_true", help="replace an existing output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    """``neurosim convert``: convert the GGUF file and print one line about the result."""
    out = convert_gguf(args.gguf, args.out, dtype=args.dtype, progress=not args.quiet,
                       force=args.force)
    cfg = json.loads((out / "config.json").read_text())
    print(fit(f"wrote {cfg['model_type']}, {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
              f"vocab {cfg['vocab_size']}, {args.dtype}: {out}"))
    return 0
