"""GGUF import: the embedded SmolLM2 converts to a llama checkpoint that actually works.

The proof is a tiny float32 numpy llama forward pass written here (independent of
neurosim.model): greedy decoding of "The capital of France is" must produce " Paris".
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.checkpoint import load_checkpoint, smollm2_gguf_path
from neurosim.gguf_import import convert_gguf, permute_qk, unpermute_qk


def _smollm2():
    try:
        return smollm2_gguf_path()
    except NeurosimError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def smol_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gguf") / "smollm2"
    convert_gguf(_smollm2(), out, dtype="float32", progress=False)
    return out


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
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(S, self.nh, self.hd).transpose(1, 0, 2)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(S, self.nkv, self.hd).transpose(1, 0, 2)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(S, self.nkv, self.hd).transpose(1, 0, 2)
            q, k = _rope(q, self.theta), _rope(k, self.theta)
            rep = self.nh // self.nkv
            k, v = np.repeat(k, rep, 0), np.repeat(v, rep, 0)
            s = q @ k.transpose(0, 2, 1) / np.sqrt(self.hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            o = (s @ v).transpose(1, 0, 2).reshape(S, -1)
            x = x + o @ w[p + "self_attn.o_proj.weight"].T
            h = _rms(x, w[p + "post_attention_layernorm.weight"], self.eps)
            g = h @ w[p + "mlp.gate_proj.weight"].T
            u = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
        return _rms(x, w["model.norm.weight"], self.eps) @ self.head.T


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


def test_smollm2_greedy_paris(smol_dir):
    ck = load_checkpoint(smol_dir)
    model = _Llama(ck)
    ids = ck.tokenizer.encode("The capital of France is").ids
    for _ in range(3):
        ids.append(int(np.argmax(model.logits(np.array(ids))[-1])))
    text = ck.tokenizer.decode(ids)
    assert "Paris" in text, text


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


def test_smollm2_perplexity_needs_unpermuted_qk(smol_dir):
    """Short prompts survive permuted q/k rows, a passage does not: perplexity in the tens only
    with the rows put back (measured: about 10-30 correct vs over 2x that still permuted)."""
    ck = load_checkpoint(smol_dir)
    model = _Llama(ck)
    ids = np.array(ck.tokenizer.encode(HAMLET).ids)
    good = _ppl(model, ids)
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
