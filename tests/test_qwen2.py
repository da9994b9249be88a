"""The qwen2 layout (Qwen2.5): q/k/v biases, no o_proj bias, untied lm_head where the config says so,
its RoPE base and norm epsilon; the random-weight presets; fp/int8/spike runs of the tiny one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.model import Model, load_checkpoint
from neurosim.model.config import count_parameters, expected_tensors, model_config
from neurosim.model.maker import preset_config
from neurosim.run import Settings, execute


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("qwen2") / "tiny"
    assert main(["make-checkpoint", "--arch", "qwen2", "--preset", "tiny", "--seed", "2", str(out)]) == 0
    return out


def test_tiny_layout_has_qkv_biases_and_untied_head(tiny):
    ck = load_checkpoint(tiny)
    assert ck.model_type == "qwen2" and ck.lm_head_name == "lm_head.weight"
    a = "model.layers.0.self_attn."
    for r in "qkv":
        b = ck.tensor(a + f"{r}_proj.bias")
        assert b.shape == (ck.shape(a + f"{r}_proj.weight")[0],) and np.abs(b).max() > 0.05
    assert a + "o_proj.bias" not in ck.names and a + "q_norm.weight" not in ck.names
    assert not any(n.startswith("model.layers.0.mlp.") and n.endswith(".bias") for n in ck.names)


def test_full_preset_is_the_qwen25_15b_layout():
    cfg = preset_config("qwen2", "full")
    mc = model_config(cfg)
    assert (mc.num_layers, mc.hidden_size, mc.intermediate_size) == (28, 1536, 8960)
    assert (mc.num_heads, mc.num_kv_heads, mc.head_dim, mc.vocab_size) == (12, 2, 128, 151936)
    assert mc.rope_theta == 1e6 and mc.norm_eps == 1e-6 and mc.tie_word_embeddings
    assert mc.qkv_bias and not mc.o_bias and not mc.qk_norm
    s = expected_tensors(mc)
    assert s["model.layers.27.self_attn.k_proj.bias"] == (256,) and "lm_head.weight" not in s
    # Qwen2.5-1.5B: 1.54 B parameters with the tied head
    assert count_parameters(mc) == 1_543_714_304


def test_rope_base_and_eps_reach_the_forward(tiny, tmp_path):
    """The config's rope_theta and rms_norm_eps are the ones used: changing either changes logits."""
    ids = np.arange(3, 40)
    base = Model(load_checkpoint(tiny)).forward(ids)
    for key, value in (("rope_theta", 1e6), ("rms_norm_eps", 0.5)):
        cfg = json.loads((tiny / "config.json").read_text())
        cfg[key] = value
        other = model_config(cfg)
        assert not np.allclose(Model(load_checkpoint(tiny), config=other).forward(ids), base), key


def test_biases_matter(tiny):
    """Dropping the q/k/v biases from the config changes the logits (the biases are applied)."""
    ck = load_checkpoint(tiny)
    m = Model(ck)
    ids = np.arange(5, 30)
    seen = {}

    def hook(name, x, w):
        seen[name] = True
        return x @ w.T

    with_b = m.forward(ids, hook)
    no_b = m.forward(ids, lambda n, x, w: x @ w.T)
    np.testing.assert_array_equal(with_b, no_b)       # the hook does not own the bias: the model adds it
    cfg = json.loads((tiny / "config.json").read_text())
    cfg["model_type"] = "llama"                        # same tensors, biases not read
    cfg.pop("max_window_layers"), cfg.pop("sliding_window"), cfg.pop("use_sliding_window")
    llama = Model(ck, config=model_config(cfg))
    assert np.abs(llama.forward(ids) - with_b).max() > 1e-3


def test_tiny_runs_in_fp(tiny):
    s = execute(Settings(model=str(tiny), prompt="The quick brown fox jumps over the lazy dog. " * 3,
                         mode="fp", max_tokens=40).validate())
    assert s["model"]["model_type"] == "qwen2" and s["tokens"] > 20 and s["accuracy"]["ppl_fp"] > 1


def test_spike_logits_equal_int8_and_generate(tiny, tmp_path, capsys):
    text = "def forward(x): return x @ weight.T + bias"
    for mode in ("int8", "spike"):
        assert main(["run", "--model", str(tiny), "--prompt", text, "--mode", mode, "--generate", "5",
                     "--trace", str(tmp_path / mode)]) == 0
    out = capsys.readouterr().out
    a = json.loads((tmp_path / "int8" / "summary.json").read_text())
    b = json.loads((tmp_path / "spike" / "summary.json").read_text())
    assert a["accuracy"] == b["accuracy"]            # spike logits are int8's, bit for bit
    assert 0 < b["totals"]["sparsity_data"] < 1 and b["totals"]["spikes_per_activation"] > 0
    assert a["generated"]["ids"] == b["generated"]["ids"] and len(a["generated"]["ids"]) == 5
    assert "qwen2" in out


def test_sliding_window_config_is_refused():
    cfg = preset_config("qwen2", "tiny")
    cfg["use_sliding_window"] = True
    with pytest.raises(NeurosimError, match="^config.json: use_sliding_window=true is not supported"):
        model_config(cfg)
