"""Random-initialised checkpoints in the exact HF layouts (``neurosim make-checkpoint``).

``neurosim make-checkpoint --arch sse_swa_moba|qwen3|qwen2|llama --preset tiny|full [--seed S] OUT``
(or ``--out DIR``; ``--config FILE`` writes the layout of any config.json instead of a preset)

- ``tiny``: hidden 64, 4 heads (2 KV heads), head_dim 16, MLP 128, 4 layers, float32, one file.
  For ``sse_swa_moba``: ``attn.layers [0, 2]``, ``full_layers [2]`` -> layer 0 MoBA, layer 2 full
  attention, layers 1 and 3 SSE+SWA; ``moba_chunk_size 8``, ``moba_topk 2``, ``window_size 8``, so
  ~32 tokens exercise block selection and windows.
  ``qwen2`` tiny has an untied ``lm_head.weight`` (the other tiny presets tie it, as their full ones do).
- ``full``: the SpB2.0-5B layout (docs/model.md; 36 layers, hidden 2560, MLP 9728, vocab
  151936; qwen3/llama: the same dimensions with attention in every layer), bfloat16, sharded into
  5 GB files with ``model.safetensors.index.json``, written tensor by tensor (about 10 GB on disk,
  one float32 tensor in memory at a time). ``qwen2`` full is the Qwen2.5-1.5B layout instead
  (28 layers, hidden 1536, MLP 8960, 12 query / 2 KV heads of 128, q/k/v biases, RoPE base 1e6,
  tied embeddings; about 3.1 GB).

Every checkpoint gets the same small byte-level BPE ``tokenizer.json`` (512 tokens, trained
deterministically on a built-in English text); for ``full`` it covers only the first 512 ids.

Initialisation (per tensor, seeded by (seed, crc32(name)) so the result is independent of the write
order): linear weights and embeddings N(0, 0.02); every norm weight 1; q/k/v biases N(0, 0.1)
(Qwen2's are large and must reach the output); other biases 0;
``A_log = log(U(1, 16))``; ``dt_bias = softplus^-1(dt)`` with ``dt = exp(U(log 1e-3, log 0.1))``
(the Mamba/GDN initialisation).
"""

from __future__ import annotations

import argparse
import copy
import re
import zlib
from pathlib import Path
from typing import Mapping

import numpy as np

from neurosim import NeurosimError
from neurosim.console import fit
from neurosim.model.checkpoint import write_checkpoint
from neurosim.model.config import SUPPORTED_MODEL_TYPES, count_parameters, expected_tensors, model_config
from neurosim.model.safetensors_io import read_json

ARCHES = SUPPORTED_MODEL_TYPES   # every supported model_type has a preset
PRESETS = ("tiny", "full")
TOKENIZER_VOCAB = 512
INIT_STD = 0.02

_SPB2_FULL = {
    "architectures": ["SSESWAMoBAForCausalLM"],
    "model_type": "sse_swa_moba",
    "attn": {
        "layers": [0, 1, 2, 3, 6, 12, 17, 21, 24, 35],
        "full_layers": [35],
        "moba_chunk_size": 4096,
        "moba_topk": 12,
        "num_heads": 32,
        "num_kv_heads": 8,
        "qk_norm": True,
        "qkv_bias": False,
        "rope_theta": 5000000,
        "window_size": 128,
    },
    "allow_neg_eigval": False,
    "attention_dropout": 0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "expand_v": 1,
    "head_dim": 128,
    "hidden_act": "swish",
    "hidden_ratio": 4,
    "hidden_size": 2560,
    "initializer_range": 0.02,
    "intermediate_size": 9728,
    "linear_attn_type": "gdn",
    "max_position_embeddings": 524288,
    "norm_eps": 1e-06,
    "num_heads": 32,
    "num_hidden_layers": 36,
    "num_reader": 2,
    "num_sparse_partition": 4,
    "num_v_heads": 32,
    "num_writer": 2,
    "rope_scaling": None,
    "sse_qk_relu": False,
    "tie_word_embeddings": True,
    "use_cache": True,
    "use_output_gate": False,
    "use_short_conv": False,
    "vocab_size": 151936,
}

_QWEN3_FULL = {   # Qwen3-4B dimensions (the model SpB2.0 was converted from)
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "attention_bias": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 2560,
    "initializer_range": 0.02,
    "intermediate_size": 9728,
    "max_position_embeddings": 40960,
    "num_attention_heads": 32,
    "num_hidden_layers": 36,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000,
    "tie_word_embeddings": True,
    "use_cache": True,
    "vocab_size": 151936,
}

_LLAMA_FULL = {   # the same block shape without q/k norms, untied head
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "attention_bias": False,
    "mlp_bias": False,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 2560,
    "initializer_range": 0.02,
    "intermediate_size": 9728,
    "max_position_embeddings": 8192,
    "num_attention_heads": 32,
    "num_hidden_layers": 36,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 500000,
    "tie_word_embeddings": False,
    "use_cache": True,
    "vocab_size": 151936,
}

_QWEN2_FULL = {   # Qwen2.5-1.5B dimensions (the Qwen2.5-Coder-1.5B GGUF that fetch-model converts)
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "hidden_act": "silu",
    "hidden_size": 1536,
    "initializer_range": 0.02,
    "intermediate_size": 8960,
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "num_attention_heads": 12,
    "num_hidden_layers": 28,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "tie_word_embeddings": True,
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 151936,
}

_TINY_COMMON = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4, "head_dim": 16,
                "vocab_size": TOKENIZER_VOCAB, "bos_token_id": 1, "eos_token_id": 2,
                "max_position_embeddings": 4096}


def preset_config(arch: str, preset: str) -> dict:
    """The config.json dict of a preset (a fresh copy)."""
    if arch not in ARCHES:
        raise NeurosimError(f"unknown --arch '{arch}' (one of {', '.join(ARCHES)})")
    if preset not in PRESETS:
        raise NeurosimError(f"unknown --preset '{preset}' (one of {', '.join(PRESETS)})")
    full = {"sse_swa_moba": _SPB2_FULL, "qwen3": _QWEN3_FULL, "qwen2": _QWEN2_FULL, "llama": _LLAMA_FULL}[arch]
    cfg: dict = copy.deepcopy(full)
    if preset == "full":
        return cfg
    cfg.update(_TINY_COMMON)
    if arch == "sse_swa_moba":
        cfg["num_heads"] = 4
        cfg["num_v_heads"] = 4
        cfg["max_position_embeddings"] = 4096
        cfg["attn"].update({"layers": [0, 2], "full_layers": [2], "moba_chunk_size": 8,
                            "moba_topk": 2, "num_heads": 4, "num_kv_heads": 2, "window_size": 8,
                            "rope_theta": 10000})
    else:
        cfg.update({"num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 10000})
    if arch == "qwen2":
        cfg.update({"tie_word_embeddings": False, "max_window_layers": 4, "sliding_window": 4096})
    return cfg


# ---------------------------------------------------------------------------------- tokenizer

_TRAINING_TEXT = """\
A spiking neural network passes information as short events called spikes. Each neuron keeps a
membrane potential; when it crosses a threshold the neuron fires and the potential is reset. The
timing and the number of spikes carry the signal, so a silent neuron costs almost no energy.
Neuromorphic hardware exploits this: instead of multiplying every weight by every input, it adds
the weights of the inputs that fired. When most inputs are zero, most additions are skipped.
Large language models are built from stacked blocks of attention and feed-forward layers. Each
block reads the hidden state, normalises it, projects it into queries, keys and values, mixes the
tokens, and adds the result back. The feed-forward part expands the state, applies a gate, and
projects it down again. Quantization turns floating point numbers into small integers with a
scale; eight bits are enough for most weights and, with care, for most activations as well.
The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs. How
vexingly quick daft zebras jump! Sphinx of black quartz, judge my vow.
In 1958 the perceptron learned to separate two classes; in 2014 a chip held one million neurons
and 256 million synapses; in 2025 models with 7 billion parameters were converted to spikes.
Numbers such as 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 32, 64, 128, 256, 512 and 1024 appear often.
The capital of France is Paris. The capital of Italy is Rome. The capital of Japan is Tokyo.
Once upon a time there was a small village by the sea, where the people fished in the morning and
told stories in the evening. The children asked questions about the stars, the tides and the wind,
and the old sailors answered them with patience, because they remembered asking the same things.
def forward(x): return x @ weight.T + bias  # a linear layer in Python
for (int i = 0; i < n; i++) { acc += w[i] * s[i]; }  /* an accumulator in C */
"""

_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tiny_tokenizer_json(vocab_size: int = TOKENIZER_VOCAB) -> str:
    """A byte-level BPE tokenizer (GPT-2 style) with exactly ``vocab_size`` tokens, deterministic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, special_tokens=_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # repeated lines give the trainer enough pair counts to reach vocab_size merges
    lines = _TRAINING_TEXT.splitlines() * 3
    tok.train_from_iterator(lines, trainer)
    if tok.get_vocab_size() != vocab_size:
        raise NeurosimError(f"tiny tokenizer reached {tok.get_vocab_size()} tokens, wanted {vocab_size}")
    return tok.to_str()


# ---------------------------------------------------------------------------------- init

def init_tensor(name: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The random float32 initial value of one tensor (see module docstring)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if name.endswith("A_log"):
        return np.log(rng.uniform(1.0, 16.0, size=shape)).astype(np.float32)
    if name.endswith("dt_bias"):
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(0.1), size=shape))
        return (dt + np.log(-np.expm1(-dt))).astype(np.float32)   # inverse softplus
    if re.search(r"[qkv]_proj\.bias$", name):
        return (rng.standard_normal(size=shape) * 0.1).astype(np.float32)
    if name.endswith(".bias"):
        return np.zeros(shape, np.float32)
    if re.search(r"(norm|layernorm)\.weight$", name):
        return np.ones(shape, np.float32)
    out = rng.standard_normal(size=shape, dtype=np.float32)
    out *= INIT_STD
    return out


def parse_size(text: str) -> int:
    """'5GB' / '500MB' / '2GiB' / '123456' -> bytes (GB/MB/KB decimal, GiB/MiB/KiB binary)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?i?B?)?\s*", text, re.I)
    if not m:
        raise NeurosimError(f"cannot parse size '{text}' (e.g. 5GB, 500MB, 1048576)")
    unit = (m.group(2) or "").upper()
    base = 1024 if "I" in unit else 1000
    mult = {"": 1, "B": 1}.get(unit) or base ** "KMGT".index(unit[0]) * base
    n = int(float(m.group(1)) * mult)
    if n <= 0:
        raise NeurosimError(f"size '{text}' must be positive")
    return n


def make_checkpoint(out, arch: str = "sse_swa_moba", preset: str = "tiny", *, seed: int = 0,
                    dtype: str | None = None, shard_bytes: int | None = None, progress: bool | None = None,
                    force: bool = False, config: Mapping | None = None) -> Path:
    """Write a random-initialised checkpoint into folder ``out``; returns its path.

    The layout is the preset's (``arch``, ``preset``), or with ``config`` (a config.json dict of any
    supported model_type, validated by :func:`neurosim.model.config.model_config`) that config's:
    every tensor of :func:`~neurosim.model.config.expected_tensors`. Defaults: tiny and custom
    configs are float32 in one file; full is bfloat16 in 5 GB shards (``shard_bytes``, in bytes),
    with a progress bar. The 512-token tokenizer is written when the vocabulary has room for it.
    """
    if config is not None:
        cfg = copy.deepcopy(dict(config))
        full = False
    else:
        cfg = preset_config(arch, preset)
        full = preset == "full"
    dtype = dtype or ("bfloat16" if full else "float32")
    cfg["torch_dtype"] = dtype
    if shard_bytes is None and full:
        shard_bytes = 5 * 10**9
    specs = expected_tensors(cfg)
    tokenizer = tiny_tokenizer_json() if model_config(cfg).vocab_size >= TOKENIZER_VOCAB else None
    return write_checkpoint(out, cfg, specs, lambda n: init_tensor(n, specs[n], seed), dtype=dtype,
                            shard_bytes=shard_bytes, tokenizer_json=tokenizer,
                            progress=full if progress is None else progress, force=force)


# ---------------------------------------------------------------------------------- CLI

def configure(parser: argparse.ArgumentParser) -> None:
    """The ``neurosim make-checkpoint`` arguments."""
    parser.add_argument("out", metavar="OUT", nargs="?", default=None,
                        help="output checkpoint directory (must not exist; or give --out)")
    parser.add_argument("--out", dest="out_option", metavar="DIR", default=None,
                        help="output checkpoint directory (the same as OUT; one of them is required)")
    parser.add_argument("--arch", choices=ARCHES, default=None, help="model_type (default sse_swa_moba)")
    parser.add_argument("--preset", choices=PRESETS, default=None,
                        help="tiny (tests) or full (SpB2.0-5B size; qwen2: Qwen2.5-1.5B size; default tiny)")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="a config.json to use instead of --arch/--preset (any supported model_type; "
                             "default: none)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                        help="stored dtype (default: bfloat16 for full, float32 otherwise)")
    parser.add_argument("--shard-size", default=None, metavar="SIZE",
                        help="split into shards of at most SIZE (e.g. 5GB; default: 5GB for full, one file otherwise)")
    parser.add_argument("--force", action="store_true", help="replace an existing checkpoint directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    """``neurosim make-checkpoint``: write the checkpoint and print one line about it."""
    if args.out is not None and args.out_option is not None:
        raise NeurosimError("give the output directory once: as OUT or as --out DIR, not both")
    out = args.out if args.out is not None else args.out_option
    if out is None:
        raise NeurosimError("missing the output directory (OUT or --out DIR)")
    config = None
    if args.config is not None:
        if args.arch is not None or args.preset is not None:
            raise NeurosimError("--config replaces --arch/--preset: give either, not both")
        config = read_json(Path(args.config), "model configuration")
    arch, preset = args.arch or "sse_swa_moba", args.preset or "tiny"
    shard = parse_size(args.shard_size) if args.shard_size else None
    out = make_checkpoint(out, arch, preset, seed=args.seed, dtype=args.dtype, shard_bytes=shard,
                          progress=False if args.quiet else None, force=args.force, config=config)
    cfg = config if config is not None else preset_config(arch, preset)
    label = f"{cfg['model_type']} from {Path(args.config).name}" if config is not None else f"{arch} {preset}"
    print(fit(f"wrote {label}, {cfg['num_hidden_layers']} layers, "
              f"{count_parameters(cfg) / 1e6:.2f} M parameters: {out}"))
    return 0
