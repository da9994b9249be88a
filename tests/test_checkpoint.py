"""Checkpoint loading, the tensor schema, make-checkpoint, and the broken-input corpus.

Every broken input is built here from a valid tiny checkpoint and must be refused with a one-line
NeurosimError that names the problem (tensor, key or file).
"""

from __future__ import annotations

import json
import math
import shutil
import struct

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy as stn

from neurosim import NeurosimError
from neurosim.model import (
    Checkpoint, count_parameters, expected_tensors, load_checkpoint, model_config, optional_tensors,
    write_checkpoint,
)
from neurosim.model.safetensors_io import plan_shards
from neurosim.model.maker import init_tensor, make_checkpoint, parse_size, preset_config
from neurosim.cli import main as cli_main


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    return {a: make_checkpoint(root / a, a, "tiny", seed=0) for a in ("sse_swa_moba", "qwen3", "llama")}


@pytest.fixture
def tiny(tiny_dirs, tmp_path):
    """A fresh, writable copy of the tiny sse_swa_moba checkpoint."""
    d = tmp_path / "tiny"
    shutil.copytree(tiny_dirs["sse_swa_moba"], d)
    return d


def _err(path) -> str:
    with pytest.raises(NeurosimError) as ei:
        load_checkpoint(path)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def _edit_config(d, fn):
    cfg = json.loads((d / "config.json").read_text())
    fn(cfg)
    (d / "config.json").write_text(json.dumps(cfg))


# ------------------------------------------------------------------------------- valid inputs

@pytest.mark.parametrize("arch", ["sse_swa_moba", "qwen3", "llama"])
def test_tiny_round_trip(tiny_dirs, arch):
    ck = load_checkpoint(tiny_dirs[arch])
    assert isinstance(ck, Checkpoint) and ck.model_type == arch
    exp = expected_tensors(ck.config)
    assert set(ck.names) == set(exp)
    for name, shape in exp.items():
        assert ck.shape(name) == shape
    w = ck.tensor(ck.model_config.names(1)["gate_proj"])
    assert w.dtype == np.float32 and w.shape == (128, 64)
    assert ck.tokenizer is not None and ck.tokenizer.get_vocab_size() == ck.config["vocab_size"] == 512
    text = "The capital of France is Paris."
    assert ck.tokenizer.decode(ck.tokenizer.encode(text).ids) == text
    # cross-check with the official safetensors reader
    ref = stn.load_file(str(tiny_dirs[arch] / "model.safetensors"))
    assert set(ref) == set(ck.names)
    for name in list(ref)[:12]:
        np.testing.assert_array_equal(ref[name], ck.tensor(name))


def test_tiny_spb2_layout_and_config_accessor(tiny_dirs):
    ck = load_checkpoint(tiny_dirs["sse_swa_moba"])
    mc = ck.model_config
    assert mc.layer_kinds == ("moba", "sse_swa", "full", "sse_swa")
    assert (mc.num_heads, mc.num_kv_heads, mc.head_dim, mc.hidden_size) == (4, 2, 16, 64)
    assert (mc.window_size, mc.moba_chunk_size, mc.moba_topk) == (8, 8, 2)
    assert mc.qk_norm and mc.tie_word_embeddings and mc.sse_num_heads == 4
    assert (mc.num_sparse_partition, mc.num_writer, mc.num_reader) == (4, 2, 2)
    assert ck.lm_head_name == "model.embeddings.weight" and "lm_head.weight" not in ck.names
    assert ck.shape("model.layers.1.attn.sse_a_proj.weight") == (8, 64)          # 2 * num_heads
    assert ck.shape("model.layers.1.attn.lora_q_proj.1.weight") == (64, 16)
    assert ck.shape("model.layers.0.attn.k_proj.weight") == (32, 64)             # GQA 4/2
    assert "model.layers.0.attn.sse_q_proj.weight" not in ck.names
    assert "model.layers.1.attn.q_proj.weight" not in ck.names
    names = mc.names(3)
    assert names["swa_q_norm"] == "model.layers.3.attn.swa_q_norm.weight"
    assert names["A_log"] == "model.layers.3.attn.A_log"


def test_config_defaults_of_spec():
    cfg = preset_config("sse_swa_moba", "tiny")
    for k in ("num_kv_heads", "window_size", "moba_chunk_size", "moba_topk"):
        del cfg["attn"][k]
    del cfg["head_dim"]
    mc = model_config(cfg)
    assert mc.num_kv_heads == mc.num_heads == 4
    assert mc.window_size is None and mc.moba_chunk_size == 1024 and mc.moba_topk == 4
    assert mc.head_dim == 64 // 4
    llama = preset_config("llama", "tiny")
    del llama["head_dim"], llama["num_key_value_heads"]
    ml = model_config(llama)
    assert ml.head_dim == 16 and ml.num_kv_heads == 4 and not ml.qk_norm
    assert ml.layer_kinds == ("attention",) * 4
    assert model_config(preset_config("qwen3", "tiny")).qk_norm


def test_qwen3_and_llama_names(tiny_dirs):
    q = load_checkpoint(tiny_dirs["qwen3"])
    assert "model.layers.2.self_attn.q_norm.weight" in q.names
    assert "model.embed_tokens.weight" in q.names
    ll = load_checkpoint(tiny_dirs["llama"])
    assert "model.layers.2.self_attn.q_norm.weight" not in ll.names
    assert ll.lm_head_name == "lm_head.weight" and ll.shape("lm_head.weight") == (512, 64)
    assert ll.model_config.names(0)["mlp_norm"] == "model.layers.0.post_attention_layernorm.weight"


def test_init_statistics(tiny_dirs):
    ck = load_checkpoint(tiny_dirs["sse_swa_moba"])
    w = ck.tensor("model.layers.1.mlp.up_proj.weight")
    assert 0.017 < w.std() < 0.023 and abs(w.mean()) < 0.002
    np.testing.assert_array_equal(ck.tensor("model.layers.1.attn.sse_o_norm.weight"), 1.0)
    np.testing.assert_array_equal(ck.tensor("model.norm.weight"), 1.0)
    a = ck.tensor("model.layers.1.attn.A_log")
    assert (a >= 0).all() and (a <= np.log(16) + 1e-6).all()
    dt = np.log1p(np.exp(ck.tensor("model.layers.1.attn.dt_bias")))     # softplus
    assert (dt > 0.9e-3).all() and (dt < 0.11).all()


def test_seed_determinism(tmp_path):
    a = make_checkpoint(tmp_path / "a", seed=7)
    b = make_checkpoint(tmp_path / "b", seed=7)
    c = make_checkpoint(tmp_path / "c", seed=8)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    # independent of write order: a tensor's value depends only on (seed, name)
    np.testing.assert_array_equal(init_tensor("x.weight", (3, 4), 7), init_tensor("x.weight", (3, 4), 7))


def test_bf16_sharded_round_trip(tmp_path, tiny_dirs):
    """bf16 + shards (the full preset's format) on the tiny preset: same values as float32 rounded."""
    d = make_checkpoint(tmp_path / "bf", "sse_swa_moba", "tiny", dtype="bfloat16", shard_bytes=100_000)
    idx = json.loads((d / "model.safetensors.index.json").read_text())
    shards = sorted(set(idx["weight_map"].values()))
    assert len(shards) >= 3 and not (d / "model.safetensors").exists()
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    for s in shards:   # every shard within the limit unless it holds a single bigger tensor
        hdr = json.loads((d / s).read_bytes()[8:8 + struct.unpack("<Q", (d / s).read_bytes()[:8])[0]])
        hdr.pop("__metadata__")
        assert len(hdr) == 1 or (d / s).stat().st_size < 100_000 + 20_000
    ref = load_checkpoint(tiny_dirs["sse_swa_moba"])
    ck = load_checkpoint(d)
    assert set(ck.names) == set(ref.names)
    assert idx["metadata"]["total_size"] == 2 * count_parameters(ck.config)
    for name in ck.names:
        assert ck.dtype(name) == "BF16"
        want = ref.tensor(name).astype(ml_dtypes.bfloat16).astype(np.float32)
        np.testing.assert_array_equal(ck.tensor(name), want)


def test_reads_files_written_by_safetensors_package(tmp_path, tiny_dirs):
    src = tiny_dirs["qwen3"]
    d = tmp_path / "ext"
    shutil.copytree(src, d)
    tensors = stn.load_file(str(src / "model.safetensors"))
    tensors = {k: v.astype(np.float16) for k, v in tensors.items()}
    stn.save_file(tensors, str(d / "model.safetensors"))
    ck = load_checkpoint(d)
    name = "model.layers.0.self_attn.q_proj.weight"
    assert ck.dtype(name) == "F16"
    np.testing.assert_array_equal(ck.tensor(name), tensors[name].astype(np.float32))


def test_full_preset_schema():
    """The exact SpB2.0-5B layout (no data written): the paper's layout has about 5.17 B parameters."""
    cfg = preset_config("sse_swa_moba", "full")
    mc = model_config(cfg)
    kinds = mc.layer_kinds
    assert len(kinds) == 36 and kinds[35] == "full"
    assert [i for i, k in enumerate(kinds) if k == "moba"] == [0, 1, 2, 3, 6, 12, 17, 21, 24]
    assert kinds.count("sse_swa") == 26
    n = count_parameters(cfg)
    assert abs(n - 5.17e9) / 5.17e9 < 0.005, n
    exp = expected_tensors(cfg)
    assert exp["model.embeddings.weight"] == (151936, 2560)
    assert exp["model.layers.0.attn.q_proj.weight"] == (4096, 2560)
    assert exp["model.layers.0.attn.k_proj.weight"] == (1024, 2560)
    assert exp["model.layers.0.attn.o_proj.weight"] == (2560, 4096)
    assert exp["model.layers.4.attn.sse_a_proj.weight"] == (64, 2560)
    assert exp["model.layers.4.attn.A_log"] == (64,)
    assert exp["model.layers.4.attn.sse_e_proj.weight"] == (4, 2560)
    assert exp["model.layers.4.attn.lora_q_proj.0.weight"] == (128, 2560)
    assert exp["model.layers.4.attn.lora_k_proj.1.weight"] == (4096, 128)
    assert exp["model.layers.4.attn.sse_o_norm.weight"] == (128,)
    assert exp["model.layers.4.attn.swa_merge_norm.weight"] == (2560,)
    assert exp["model.layers.4.mlp.down_proj.weight"] == (2560, 9728)
    assert "lm_head.weight" not in exp and "lm_head.weight" in optional_tensors(cfg)
    # 5 GB bf16 shards: 3 files, each within the limit
    shards = plan_shards(exp, 2, 5 * 10**9)
    assert len(shards) == 3
    assert all(sum(math.prod(exp[n]) * 2 for n in s) <= 5 * 10**9 for s in shards)
    assert count_parameters(preset_config("qwen3", "full")) == 4_022_468_096   # Qwen3-4B


def test_parse_size():
    assert parse_size("5GB") == 5 * 10**9
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size("1000") == 1000
    assert parse_size("1.5MB") == 1_500_000
    with pytest.raises(NeurosimError, match="cannot parse size"):
        parse_size("five")


# ------------------------------------------------------------------------------- broken inputs

def test_truncated_safetensors(tiny):
    f = tiny / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    msg = _err(tiny)
    assert msg.startswith("model.safetensors: tensor '") and "beyond the end of the file" in msg


def test_header_length_larger_than_file(tiny):
    f = tiny / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[:8] = struct.pack("<Q", len(data) * 10)
    f.write_bytes(bytes(data))
    assert f"header length {len(data) * 10} exceeds the file size {len(data)} bytes" in _err(tiny)


def test_file_too_short(tiny):
    (tiny / "model.safetensors").write_bytes(b"\x01\x02")
    assert "too short for a safetensors header" in _err(tiny)


def test_header_not_json(tiny):
    f = tiny / "model.safetensors"
    data = bytearray(f.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    data[8:8 + n] = b"#" * n
    f.write_bytes(bytes(data))
    assert _err(tiny).startswith("model.safetensors: header is not valid JSON")


def _resave(d, fn):
    t = stn.load_file(str(d / "model.safetensors"))
    fn(t)
    stn.save_file(t, str(d / "model.safetensors"))


def test_wrong_dtype(tiny):
    name = "model.layers.0.attn.q_proj.weight"
    _resave(tiny, lambda t: t.__setitem__(name, t[name].astype(np.int32)))
    assert _err(tiny) == f"tensor '{name}' has dtype I32; supported: F32, F16, BF16, F64"


def test_missing_tensor(tiny):
    name = "model.layers.3.attn.A_log"
    _resave(tiny, lambda t: t.pop(name))
    assert _err(tiny) == f"missing tensor '{name}'"


def test_extra_tensor(tiny):
    _resave(tiny, lambda t: t.__setitem__("model.layers.1.attn.q_proj.weight", np.zeros((64, 64), np.float32)))
    assert _err(tiny) == ("unexpected tensor 'model.layers.1.attn.q_proj.weight' "
                          "(not in the sse_swa_moba schema)")


def test_shape_mismatch(tiny):
    name = "model.layers.2.mlp.down_proj.weight"
    _resave(tiny, lambda t: t.__setitem__(name, np.zeros((64, 96), np.float32)))
    assert _err(tiny) == f"tensor '{name}' has shape (64, 96), config expects (64, 128)"


def test_shape_mismatch_from_config(tiny):
    _edit_config(tiny, lambda c: c.__setitem__("intermediate_size", 256))
    assert _err(tiny) == "tensor 'model.layers.0.mlp.gate_proj.weight' has shape (128, 64), config expects (256, 64)"


def test_nan_weights_detected_on_read(tiny):
    name = "model.layers.1.attn.sse_v_proj.weight"

    def poison(t):
        w = t[name].copy()
        w[3, 5] = np.nan
        w[0, 0] = np.inf
        t[name] = w

    _resave(tiny, poison)
    ck = load_checkpoint(tiny)          # structure is fine
    ck.tensor("model.layers.1.attn.sse_q_proj.weight")
    with pytest.raises(NeurosimError) as ei:
        ck.tensor(name)
    assert str(ei.value) == (f"tensor '{name}' in model.safetensors contains non-finite values "
                             f"(1 NaN, 1 inf of {64 * 64})")


def test_misspelt_config_key(tiny):
    _edit_config(tiny, lambda c: c.__setitem__("hiden_size", c.pop("hidden_size")))
    assert _err(tiny) == "config.json: unknown key 'hiden_size' (did you mean 'hidden_size'?)"


def test_misspelt_attn_key(tiny):
    _edit_config(tiny, lambda c: c["attn"].__setitem__("moba_chunksize", c["attn"].pop("moba_chunk_size")))
    assert _err(tiny) == "config.json: attn: unknown key 'moba_chunksize' (did you mean 'moba_chunk_size'?)"


def test_misspelt_model_type_key(tiny):
    _edit_config(tiny, lambda c: c.__setitem__("modeltype", c.pop("model_type")))
    assert _err(tiny) == "config.json: unknown key 'modeltype' (did you mean 'model_type'?)"


def test_missing_required_key(tiny):
    _edit_config(tiny, lambda c: c.pop("vocab_size"))
    assert _err(tiny) == "config.json: missing required key 'vocab_size'"


def test_missing_attn_key(tiny):
    _edit_config(tiny, lambda c: c["attn"].pop("layers"))
    assert _err(tiny) == "config.json: attn: missing required key 'layers'"


def test_unknown_model_type(tiny):
    _edit_config(tiny, lambda c: c.__setitem__("model_type", "mamba"))
    assert _err(tiny) == "config.json: unknown model_type 'mamba' (supported: sse_swa_moba, qwen3, qwen2, llama)"


def test_bad_values(tiny):
    _edit_config(tiny, lambda c: c.__setitem__("hidden_size", "64"))
    assert _err(tiny) == "config.json: key 'hidden_size' must be an integer >= 1, got '64'"


def test_full_layer_not_attention_layer(tiny):
    _edit_config(tiny, lambda c: c["attn"].__setitem__("full_layers", [3]))
    assert _err(tiny) == "config.json: attn.full_layers contains 3, which is not in attn.layers"


def test_layer_index_out_of_range(tiny):
    _edit_config(tiny, lambda c: c["attn"].__setitem__("layers", [0, 2, 9]))
    assert _err(tiny) == "config.json: attn: key 'layers' has layer 9, outside 0..3"


def test_config_not_json(tiny):
    (tiny / "config.json").write_text("{ not json")
    assert _err(tiny).startswith("config.json: not valid JSON")


def test_missing_config_and_weights(tiny):
    (tiny / "model.safetensors").unlink()
    assert _err(tiny).endswith("no model.safetensors or model.safetensors.index.json")
    (tiny / "config.json").unlink()
    assert "no config.json" in _err(tiny)
    assert "not a checkpoint directory" in _err(tiny / "nope")


def test_tokenizer_larger_than_vocab(tiny):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny / "tokenizer.json"))
    tok.add_tokens([f"<extra_{i}>" for i in range(20)])
    tok.save(str(tiny / "tokenizer.json"))
    assert _err(tiny) == "tokenizer.json: has 532 tokens but config vocab_size is 512"


def test_vocab_size_disagrees_with_embeddings(tiny):
    _edit_config(tiny, lambda c: c.__setitem__("vocab_size", 100))
    assert _err(tiny) == "tensor 'model.embeddings.weight' has shape (512, 64), config expects (100, 64)"


def test_null_head_dim_takes_default(tiny):
    _edit_config(tiny, lambda c: c.__setitem__("head_dim", None))
    assert load_checkpoint(tiny).model_config.head_dim == 16


def test_corrupt_tokenizer(tiny):
    (tiny / "tokenizer.json").write_text('{"model": 3}')
    assert _err(tiny).startswith("tokenizer.json: cannot be loaded")
    (tiny / "tokenizer.json").unlink()
    assert load_checkpoint(tiny).tokenizer is None


def test_sharded_index_problems(tmp_path):
    d = make_checkpoint(tmp_path / "sh", shard_bytes=300_000)
    idx_file = d / "model.safetensors.index.json"
    idx = json.loads(idx_file.read_text())
    name = "model.layers.3.mlp.up_proj.weight"
    bad = dict(idx, weight_map=dict(idx["weight_map"], **{name: "model-00009-of-00009.safetensors"}))
    idx_file.write_text(json.dumps(bad))
    assert _err(d) == "model.safetensors.index.json: shard file 'model-00009-of-00009.safetensors' not found"
    wm = dict(idx["weight_map"])
    shard = wm.pop(name)
    idx_file.write_text(json.dumps(dict(idx, weight_map=wm)))
    assert _err(d) == f"{shard}: tensor '{name}' is not mapped to this shard in model.safetensors.index.json"
    idx_file.write_text(json.dumps({"metadata": {}}))
    assert _err(d) == "model.safetensors.index.json: missing or malformed 'weight_map'"


def test_unknown_tensor_name_suggests(tiny_dirs):
    ck = load_checkpoint(tiny_dirs["sse_swa_moba"])
    with pytest.raises(NeurosimError, match="no tensor 'model.layers.1.attn.A_lg' \\(did you mean 'model.layers.1.attn.A_log'\\?\\)"):
        ck.tensor("model.layers.1.attn.A_lg")


# ------------------------------------------------------------------------------- writing / CLI

def test_write_is_atomic_on_error(tmp_path):
    specs = {"a": (2, 2), "b": (3,)}

    def produce(name):
        if name == "b":
            raise NeurosimError("boom")
        return np.zeros(specs[name], np.float32)

    with pytest.raises(NeurosimError, match="boom"):
        write_checkpoint(tmp_path / "out", {"model_type": "llama"}, specs, produce)
    assert list(tmp_path.iterdir()) == []


def test_cli_make_checkpoint(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["make-checkpoint", "--arch", "qwen3", "--preset", "tiny", "--seed", "3", str(out)]) == 0
    assert "qwen3 tiny" in capsys.readouterr().out
    assert load_checkpoint(out).model_type == "qwen3"
    # refusing to overwrite: exit 2, one-line message, the old directory untouched
    before = (out / "model.safetensors").read_bytes()
    assert cli_main(["make-checkpoint", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"neurosim make-checkpoint: error: {out}: already exists (remove it first)"
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli"]
    # --force replaces it
    assert cli_main(["make-checkpoint", "--force", "--seed", "4", str(out)]) == 0
    assert load_checkpoint(out).model_type == "sse_swa_moba"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli"]


def test_cli_exit_status_in_a_subprocess(tmp_path):
    """The real process exit status is 2 for bad input, with the one-line message on stderr."""
    import subprocess
    import sys

    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "neurosim", "convert", "--gguf", str(tmp_path / "none.gguf"),
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == f"neurosim convert: error: {tmp_path / 'none.gguf'}: no such GGUF file"
    assert not out.exists()


def test_raw_views_survive_page_release_and_close(tmp_path):
    d = make_checkpoint(tmp_path / "bf", dtype="bfloat16")
    ck = load_checkpoint(d)
    name = "model.layers.1.attn.sse_q_proj.weight"
    raw = ck.raw(name)
    assert raw.dtype == np.uint16 and raw.shape == (64, 64) and not raw.flags.writeable
    first = ck.tensor(name)              # releases the mapped pages of this tensor
    np.testing.assert_array_equal((raw.astype(np.uint32) << 16).view(np.float32), first)
    ck.close()
    np.testing.assert_array_equal(ck.tensor(name), first)


# ------------------------------------------------------------------------------- reference rules (the authors' code)

def _spb2(**changes):
    cfg = preset_config("sse_swa_moba", "tiny")
    attn = changes.pop("attn", {})
    cfg.update(changes)
    cfg["attn"].update(attn)
    return cfg


def test_reference_schema_swa_heads_from_top_level_num_heads():
    cfg = _spb2(attn={"num_heads": 8, "num_kv_heads": 2})       # num_heads 4, head_dim 16, hidden 64
    exp = expected_tensors(cfg)
    assert exp["model.layers.1.attn.swa_q_proj.weight"] == (4 * 16, 64)
    assert exp["model.layers.1.attn.swa_o_proj.weight"] == (64, 4 * 16)
    assert exp["model.layers.1.attn.swa_k_proj.weight"] == (2 * 16, 64)
    assert exp["model.layers.1.attn.swa_v_proj.weight"] == (2 * 16, 64)
    assert exp["model.layers.0.attn.q_proj.weight"] == (8 * 16, 64)     # MoBA: attn.num_heads
    assert exp["model.layers.2.attn.o_proj.weight"] == (64, 8 * 16)     # full: attn.num_heads
    mc = model_config(cfg)
    assert (mc.num_heads, mc.swa_num_heads, mc.num_kv_heads, mc.head_dim) == (8, 4, 2, 16)


def test_reference_tie_word_embeddings_absent_is_untied():
    cfg = _spb2()
    del cfg["tie_word_embeddings"]
    assert not model_config(cfg).tie_word_embeddings
    assert expected_tensors(cfg)["lm_head.weight"] == (512, 64) and not optional_tensors(cfg)


@pytest.mark.parametrize("key", ["num_writer", "num_reader"])
def test_reference_writer_reader_below_partitions(key):
    with pytest.raises(NeurosimError) as ei:
        model_config(_spb2(**{key: 4}))
    assert str(ei.value) == f"config.json: key '{key}' (4) must be below num_sparse_partition (4)"
    assert model_config(_spb2(**{key: 3})).num_sparse_partition == 4


def test_reference_ignored_keys_must_agree():
    assert model_config(_spb2(num_v_heads=4, attn={"head_dim": 16})).head_dim == 16
    with pytest.raises(NeurosimError) as ei:
        model_config(_spb2(num_v_heads=8))
    assert str(ei.value) == ("config.json: key 'num_v_heads' (8) differs from num_heads (4); the reference "
                             "code ignores num_v_heads and uses num_heads: set it equal or remove it")
    with pytest.raises(NeurosimError) as ei:
        model_config(_spb2(attn={"head_dim": 32}))
    assert str(ei.value) == ("config.json: attn: key 'head_dim' (32) differs from the top-level head_dim (16); "
                             "the reference code ignores attn.head_dim and uses the top-level head_dim: "
                             "set it equal or remove it")


def test_heads_must_be_multiples_of_kv_heads():
    with pytest.raises(NeurosimError, match="attn.num_heads 6 is not a multiple of attn.num_kv_heads 4"):
        model_config(_spb2(attn={"num_heads": 6, "num_kv_heads": 4}))
    with pytest.raises(NeurosimError, match="^config.json: num_heads 4 is not a multiple of attn.num_kv_heads 3$"):
        model_config(_spb2(attn={"num_heads": 6, "num_kv_heads": 3}))


# ------------------------------------------------------------------------------- output-folder rules

def _zeros_writer(fail_on=None):
    specs = {"a": (2, 2), "b": (3,)}

    def produce(name):
        if name == fail_on:
            raise NeurosimError("boom")
        return np.zeros(specs[name], np.float32)

    return specs, produce


def test_write_refuses_a_foreign_folder_even_with_force(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep\n")
    specs, produce = _zeros_writer()
    for force in (False, True):
        with pytest.raises(NeurosimError) as ei:
            write_checkpoint(out, {"model_type": "llama"}, specs, produce, force=force)
        assert str(ei.value) == (f"checkpoint output {out} is a non-empty folder that is not a checkpoint "
                                 "(no config.json); refusing to replace it")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NeurosimError, match="exists and is not a directory"):
        write_checkpoint(f, {"model_type": "llama"}, specs, produce, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mine"]


def test_write_keeps_the_earlier_checkpoint_on_error_and_replaces_it_with_force(tmp_path):
    out = tmp_path / "ck"
    specs, produce = _zeros_writer()
    write_checkpoint(out, {"model_type": "llama", "v": 1}, specs, produce)
    before = (out / "model.safetensors").read_bytes()
    _, failing = _zeros_writer(fail_on="b")
    with pytest.raises(NeurosimError, match="boom"):
        write_checkpoint(out, {"model_type": "llama", "v": 2}, specs, failing, force=True)
    assert json.loads((out / "config.json").read_text())["v"] == 1
    assert (out / "model.safetensors").read_bytes() == before
    write_checkpoint(out, {"model_type": "llama", "v": 3}, specs, produce, force=True)
    assert json.loads((out / "config.json").read_text())["v"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]      # no temporary left
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_checkpoint(empty, {"model_type": "llama"}, specs, produce) == empty


def test_cli_make_checkpoint_out_option(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli_main(["make-checkpoint", "--arch", "llama", "--out", str(out), "--quiet"]) == 0
    assert "llama tiny" in capsys.readouterr().out and load_checkpoint(out).model_type == "llama"
    for argv, msg in (
        (["make-checkpoint", str(tmp_path / "a"), "--out", str(tmp_path / "b")],
         "give the output directory once: as OUT or as --out DIR, not both"),
        (["make-checkpoint"], "missing the output directory (OUT or --out DIR)"),
        (["make-checkpoint", "--config", str(out / "config.json"), "--arch", "llama", str(tmp_path / "c")],
         "--config replaces --arch/--preset: give either, not both"),
        (["make-checkpoint", "--config", str(tmp_path / "none.json"), str(tmp_path / "c")],
         f"{tmp_path}: no none.json (model configuration)"),
    ):
        assert cli_main(argv) == 2
        assert capsys.readouterr().err.strip() == f"neurosim make-checkpoint: error: {msg}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_make_checkpoint_from_a_config(tmp_path, capsys):
    cfg = preset_config("qwen3", "tiny")
    cfg.update(vocab_size=100, num_hidden_layers=2)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert cli_main(["make-checkpoint", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "q")]) == 0
    assert "qwen3 from cfg.json, 2 layers" in capsys.readouterr().out
    ck = load_checkpoint(tmp_path / "q")
    assert set(ck.names) == set(expected_tensors(cfg)) and ck.shape("model.embed_tokens.weight") == (100, 64)
    assert ck.tokenizer is None          # 100 ids leave no room for the 512-token tokenizer


def test_one_table_of_kinds_and_projection_roles():
    from neurosim.model import LAYER_KINDS, PROJECTION_ROLES, SUPPORTED_MODEL_TYPES, layer_tensors
    from neurosim.model.maker import ARCHES

    assert set(PROJECTION_ROLES) == set(LAYER_KINDS) and ARCHES == SUPPORTED_MODEL_TYPES
    for arch in SUPPORTED_MODEL_TYPES:
        mc = model_config(preset_config(arch, "full"))
        assert set(mc.layer_kinds) <= set(LAYER_KINDS)
        for i in range(mc.num_layers):
            names = mc.names(i)
            assert set(PROJECTION_ROLES[mc.layer_kinds[i]]) <= set(names)
            # every 2-D tensor of a layer is one of its projections, in the order the model calls them
            mats = [n for n, shape in layer_tensors(mc, i).values() if len(shape) == 2]
            assert sorted(mats) == sorted(mc.projection_names(i))


def test_float32_tensors_are_read_whole_and_equal_the_stored_bytes(tmp_path):
    """float32 tensors are read into a fresh writable array (not through the memory map); the values
    are the stored ones bit for bit, in shards too."""
    out = tmp_path / "q2"
    make_checkpoint(out, "qwen2", "tiny", dtype="float32", shard_bytes=200_000)
    ck = load_checkpoint(out)
    assert len({ck._entry(n).file for n in ck.names}) > 1
    for n in ck.names:
        t, raw = ck.tensor(n), ck.raw(n)
        assert t.dtype == np.float32 and t.flags.writeable and t.shape == raw.shape
        assert np.array_equal(t.view(np.uint32), raw.view(np.uint32)), n
