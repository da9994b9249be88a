"""neurosim.run.rotate: Hadamard constructions, the offline fold (the float model's logits do not
change), refusal where it does not fold, composition with smoothing, and the eval's record of it."""

import json
from dataclasses import replace

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.model import Model, default_model_dir, load_checkpoint
from neurosim.model.maker import make_checkpoint, preset_config
from neurosim.run import rotate as RT
from neurosim.run import smooth as SM

TEXT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings "
        "and arrows of outrageous fortune, or to take arms against a sea of troubles and by opposing end "
        "them. To die, to sleep, no more; and by a sleep to say we end the heart-ache and the thousand "
        "natural shocks that flesh is heir to. ") * 6


class Jittered:
    """A checkpoint whose norm weights and biases are random (a fresh tiny checkpoint has ones and
    zeros, which would let a wrong fold pass), and whose config may switch the biases on."""

    def __init__(self, ckpt, **config):
        self.ckpt = ckpt
        self.config = ckpt.config
        self.model_config = replace(ckpt.model_config, **config)
        self.tokenizer = ckpt.tokenizer
        mc = self.model_config
        bias = {b for i in range(mc.num_layers) for b in mc.bias_names(i).values()}
        self.names = list(ckpt.names) + sorted(bias)
        self.rng = np.random.default_rng(7)
        self.extra: dict[str, np.ndarray] = {}
        self.bias = bias

    def tensor(self, name):
        if name not in self.extra:
            if name in self.bias:
                shape = (self.ckpt.shape(name.replace(".bias", ".weight"))[0],)
                self.extra[name] = self.rng.normal(0, 0.1, shape).astype(np.float32)
            else:
                w = self.ckpt.tensor(name)
                if w.ndim == 1 and "norm" in name:
                    w = (w * self.rng.uniform(0.2, 3.0, w.shape)).astype(np.float32)
                self.extra[name] = w
        return self.extra[name]


def _ckpt(tmp_path_factory, arch, **cfg):
    out = tmp_path_factory.mktemp("ckpt") / arch
    c = preset_config(arch, "tiny")
    c.update(cfg)
    make_checkpoint(out, config=c)
    return out


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    """Tiny llama, untied head, with attention and MLP biases."""
    return _ckpt(tmp_path_factory, "llama", attention_bias=True, mlp_bias=True)


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    """Tiny qwen3: tied embeddings, q/k norms."""
    return _ckpt(tmp_path_factory, "qwen3")


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory):
    """Tiny qwen2 (q/k/v biases, untied head) of hidden 96 = Sylvester 8 x Paley I 12: a Kronecker
    Hadamard of a size that is not a power of two, as Qwen2.5-Coder-1.5B's 1536 = 128 x 12."""
    return _ckpt(tmp_path_factory, "qwen2", hidden_size=96, num_attention_heads=6, head_dim=16)


@pytest.fixture(scope="module")
def spb_softmax(tmp_path_factory):
    """Tiny SpB2.0 whose layers are all MoBA / full softmax (no SSE+SWA layer)."""
    c = preset_config("sse_swa_moba", "tiny")
    c["attn"] = {**c["attn"], "layers": [0, 1, 2, 3], "full_layers": [2]}
    out = tmp_path_factory.mktemp("ckpt") / "spb_softmax"
    make_checkpoint(out, config=c)
    return out


@pytest.fixture(scope="module")
def spb(tiny):
    """The session's tiny SpB2.0 checkpoint (conftest), read only here."""
    return tiny


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("text") / "t.txt"
    p.write_text(TEXT)
    return p


@pytest.mark.parametrize("n, what", [(1, "1"), (2, "Sylvester 2"), (12, "Paley I 12 (q=11)"),
                                     (20, "Paley I 20 (q=19)"), (28, "Paley II 28 (q=13)"),
                                     (36, "Paley II 36 (q=17)"), (64, "Sylvester 64"),
                                     (576, "Sylvester 16 x Paley II 36 (q=17)"),
                                     (768, "Sylvester 64 x Paley I 12 (q=11)"), (2304, "Sylvester 64 x Paley II 36")])
def test_hadamard_constructions(n, what):
    h, desc = RT.hadamard(n)
    assert desc.startswith(f"Hadamard {n} = {what}")
    assert h.shape == (n, n) and set(np.unique(h)) <= {-1, 1}
    assert np.array_equal(h @ h.T, n * np.eye(n, dtype=np.int64))


@pytest.mark.parametrize("n", [3, 6, 18, 50])
def test_no_hadamard_falls_back_to_a_seeded_random_orthogonal_matrix(n):
    assert RT.hadamard(n) is None
    q, desc = RT.rotation_matrix(n, "hadamard", seed=5)
    assert "random orthogonal" in desc and "no Hadamard" in desc and "seed 5" in desc
    assert np.allclose(q @ q.T, np.eye(n), atol=1e-12)
    assert np.array_equal(q, RT.rotation_matrix(n, "random", seed=5)[0])
    assert not np.array_equal(q, RT.rotation_matrix(n, "random", seed=6)[0])


def test_rotation_matrix_is_orthogonal_and_normalized():
    q, desc = RT.rotation_matrix(576, "hadamard")
    assert np.allclose(q @ q.T, np.eye(576), atol=1e-12) and np.allclose(np.abs(q), 1 / 24)
    with pytest.raises(NeurosimError, match="unknown rotation"):
        RT.rotation_matrix(64, "givens")


def _rel_diff(base, other, ids):
    a, b = base.forward(ids), other.forward(ids)
    return float(np.abs(a - b).max() / np.abs(a).max())


@pytest.mark.parametrize("which", ["llama", "qwen3", "qwen2", "spb_softmax"])
@pytest.mark.parametrize("kind", ["hadamard", "random"])
def test_fold_preserves_the_float_logits(request, which, kind):
    path = request.getfixturevalue(which)
    ck = load_checkpoint(path)
    jit = Jittered(ck) if which != "llama" else Jittered(ck, qkv_bias=True, o_bias=True, mlp_bias=True)
    ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:40])
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        base = Model(jit, dtype=dtype, keep_weights=True)
        q, desc = RT.rotation_matrix(base.hidden_size, kind, seed=1)
        rck = RT.RotatedCheckpoint(base, q, desc)
        rot = Model(rck, dtype=dtype, keep_weights=True)
        assert not rot.tie_word_embeddings and rot.lm_head_name == "lm_head.weight"
        assert _rel_diff(base, rot, ids) < tol
        # the weights did change: the residual stream is rotated, every norm of it is ones
        n = ck.model_config.names(0)
        assert not np.allclose(rot.weight(n["q_proj"]), base.weight(n["q_proj"]))
        assert np.array_equal(rot.weight(n["attn_norm"]), np.ones(base.hidden_size, dtype=dtype))
        h_base, h_rot = base.embed(ids), rot.embed(ids)
        assert np.allclose(h_base.astype(np.float64) @ q, h_rot, atol=1e-5)


def test_fold_preserves_smollm2_logits_and_spreads_outliers():
    """SmolLM2-135M (576 = Sylvester 16 x Paley II 36, tied embeddings): same logits up to float32
    rounding; the q_proj inputs' peak-to-RMS ratio per token drops (what helps absmax INT8)."""
    ck = load_checkpoint(default_model_dir())
    ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:48])
    base = Model(ck, keep_weights=True)
    q, desc = RT.rotation_matrix(576, "hadamard")
    assert desc == "Hadamard 576 = Sylvester 16 x Paley II 36 (q=17)"
    rot = Model(RT.RotatedCheckpoint(base, q, desc), keep_weights=True)
    peaks = {}

    def rec(tag):
        def lin(name, x, w):
            if name.endswith("q_proj.weight"):
                peaks.setdefault(tag, []).append(np.abs(x).max(axis=1) / np.sqrt((x ** 2).mean(axis=1)))
            return x @ w.T
        return lin

    a, b = base.forward(ids, linear=rec("base")), rot.forward(ids, linear=rec("rot"))
    assert np.abs(a - b).max() < 1e-4 * np.abs(a).max()
    assert np.median(np.concatenate(peaks["rot"])) < 0.5 * np.median(np.concatenate(peaks["base"]))


def test_sse_swa_layers_are_refused(spb, text_file, tmp_path, rejected):
    base = Model(load_checkpoint(spb))
    assert RT.unrotatable(base.model_config) == [1, 3]
    with pytest.raises(NeurosimError, match="does not fold"):
        RT.RotatedCheckpoint(base, np.eye(base.hidden_size))
    out = tmp_path / "ev"
    rejected(["eval", "--model", str(spb), "--text-file", str(text_file), "--windows", "2", "--window-tokens",
              "16", "--rotate", "hadamard", "--out", str(out)], r"rotation does not fold into .* SSE\+SWA layers \(1, 3\)",
             out)


@pytest.mark.parametrize("extra, msg", [(["--rotate", "givens"], "invalid choice: 'givens'"),
                                        (["--rotate", "random", "--rotate-seed", "-1"], "rotate_seed must be")])
def test_bad_rotation_settings(llama, text_file, tmp_path, rejected, extra, msg):
    out = tmp_path / "ev"
    rejected(["eval", "--model", str(llama), "--text-file", str(text_file), "--windows", "2", "--window-tokens",
              "16", "--out", str(out), *extra], msg, out)


def test_rotation_then_smoothing_keeps_the_float_model_and_calibrates_the_rotated_inputs(qwen3):
    """Rotate first, then smooth on the rotated model: the composed float model still gives the
    same logits, and the smoothed inputs are the rotated model's inputs divided by s."""
    ck = load_checkpoint(qwen3)
    ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:40])
    base = Model(Jittered(ck), dtype=np.float64, keep_weights=True)
    q, desc = RT.rotation_matrix(base.hidden_size, "hadamard")
    rot = Model(RT.RotatedCheckpoint(base, q, desc), dtype=np.float64, keep_weights=True)
    amax = SM.calibrate(rot, [ids])
    assert not np.allclose(amax[ck.model_config.names(0)["q_proj"]], SM.calibrate(base, [ids])[ck.model_config.names(0)["q_proj"]])
    f = SM.smoothing_factors(rot, amax, 0.5)
    both = Model(SM.SmoothedCheckpoint(rot, f), dtype=np.float64)
    assert _rel_diff(base, both, ids) < 1e-12
    seen = {}

    def keep(tag):
        def lin(name, x, w):
            seen[(tag, name)] = x
            return x @ w.T
        return lin

    rot.forward(ids, linear=keep("rot"))
    both.forward(ids, linear=keep("both"))
    for grp, (s, tie) in f.items():
        c = grp.consumers[0]
        assert np.allclose(seen[("both", c)], seen[("rot", c)] / s[tie][None, :], rtol=1e-10, atol=1e-12)


def test_eval_records_the_rotation_and_composes_with_smoothing(llama, text_file, tmp_path, capsys):
    calib = tmp_path / "calib.txt"
    calib.write_text("A completely different calibration text about spikes, chips and tiles. " * 20)
    cfg = tmp_path / "s.yaml"
    cfg.write_text("settings:\n"
                   "  - {label: absmax}\n"
                   "  - {label: rot, rotate: hadamard}\n"
                   "  - {label: rand, rotate: random, rotate_seed: 2}\n"
                   f"  - {{label: rot smooth, rotate: hadamard, smooth: 0.5, calib_file: {calib}, calib_tokens: 32}}\n"
                   f"  - {{label: smooth, smooth: 0.5, calib_file: {calib}, calib_tokens: 32}}\n")
    out = tmp_path / "ev"
    assert main(["eval", "--model", str(llama), "--text-file", str(text_file), "--windows", "3", "--window-tokens",
                 "16", "--settings", str(cfg), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "eval.json").read_text())
    by = {s["label"]: s for s in res["settings"]}
    assert by["absmax"]["rotation"] is None and by["smooth"]["rotation"] is None
    assert by["rot"]["rotation"] == by["rot smooth"]["rotation"] == "Hadamard 64 = Sylvester 64"
    assert by["rand"]["rotation"] == "random orthogonal 64 (QR of a Gaussian, seed 2)"
    assert by["rot"]["quantizer"]["rotate"] == "hadamard"
    assert "Rotation of rot: Hadamard 64 = Sylvester 64" in printed
    assert "Rotation of rand: random orthogonal 64" in (out / "eval.md").read_text()
    # each rotated setting quantizes other weights than the plain one: the figures differ
    assert len({by[k]["nll_quant"] for k in by}) == 5


def test_qwen2_rotation_is_a_kronecker_hadamard_computed_in_row_blocks(qwen2, monkeypatch):
    """The rotated weights of a qwen2 model do not depend on how many rows are rotated at once (the
    row blocks that keep a 152k-row embedding's float64 intermediates small)."""
    ck = load_checkpoint(qwen2)
    base = Model(Jittered(ck), keep_weights=True)
    q, desc = RT.rotation_matrix(base.hidden_size, "hadamard")
    assert desc == "Hadamard 96 = Sylvester 8 x Paley I 12 (q=11)"
    names = [base.embed_name, "lm_head.weight", *ck.model_config.names(1).values(),
             *ck.model_config.bias_names(1).values()]
    whole = {n: RT.RotatedCheckpoint(base, q, desc).tensor(n) for n in names}
    monkeypatch.setattr(RT, "ROW_BLOCK", 7)
    blocks = RT.RotatedCheckpoint(base, q, desc)
    for n in names:
        t = blocks.tensor(n)
        assert t.dtype == np.float32 and np.array_equal(t, whole[n]), n
    assert not np.array_equal(whole[base.embed_name], base.weight(base.embed_name))


def test_rotated_qwen2_integer_paths_are_the_int8_gemm(qwen2):
    """On the rotated qwen2 model every projection's spike product (event engine, bitwise coding)
    equals the exact INT8 GEMM of the same codes, and int8 / spike runs give the same logits."""
    from neurosim.core.engine import spike_linear
    from neurosim.core.quant import quantize_activations, quantize_weights

    ck = load_checkpoint(qwen2)
    ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:32])
    base = Model(Jittered(ck), keep_weights=True)
    q, desc = RT.rotation_matrix(base.hidden_size, "hadamard")
    rot = Model(RT.RotatedCheckpoint(base, q, desc), keep_weights=True)
    seen = []

    def check(name, x, w):
        aq, wq = quantize_activations(x), quantize_weights(w)
        gemm = aq.counts.astype(np.int64) @ wq.w_int.astype(np.int64).T
        assert np.array_equal(spike_linear(aq.counts, wq.w_int, "bitwise", 7).out, gemm), name
        seen.append(name)
        return x @ w.T

    rot.forward(ids, linear=check)
    assert len(seen) == 7 * base.n_layers


def test_run_rotates_qwen2_and_spike_equals_int8(qwen2, tmp_path, capsys):
    for mode in ("int8", "spike"):
        assert main(["run", "--model", str(qwen2), "--prompt", TEXT[:200], "--mode", mode, "--rotate", "hadamard",
                     "--trace", str(tmp_path / mode)]) == 0
    assert "Hadamard 96 = Sylvester 8 x Paley I 12" in capsys.readouterr().out
    a = json.loads((tmp_path / "int8" / "summary.json").read_text())
    b = json.loads((tmp_path / "spike" / "summary.json").read_text())
    assert a["rotation"] == b["rotation"] == "Hadamard 96 = Sylvester 8 x Paley I 12 (q=11)"
    assert a["accuracy"] == b["accuracy"]            # spike logits are int8's, bit for bit
    assert np.isfinite(a["accuracy"]["ppl_fp"]) and a["accuracy"]["ppl_quant"] != a["accuracy"]["ppl_fp"]


def test_rotated_weights_of_a_large_model_go_to_disk_with_the_same_bits(qwen2, monkeypatch):
    """Above GENERATE_WEIGHT_BYTES of float weights the rotated weights are written to a temporary
    folder once and read back: the logits equal the in-memory fold's bit for bit; the folder goes
    with the model."""
    from neurosim.model import network
    from neurosim.run import folds as FO
    from neurosim.run.spill import SpilledCheckpoint

    ck = load_checkpoint(qwen2)
    ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:24])
    kept, what = FO.rotated_model(Model(ck), "hadamard", 0)
    assert not isinstance(kept.ckpt, SpilledCheckpoint)
    monkeypatch.setattr(network, "GENERATE_WEIGHT_BYTES", 1000)
    spilled, what2 = FO.rotated_model(Model(ck), "hadamard", 0)
    assert isinstance(spilled.ckpt, SpilledCheckpoint) and what2 == what
    a = kept.forward(ids)
    b = spilled.forward(ids)
    files = sorted(spilled.ckpt.folder.glob("*.npy"))
    assert len(files) >= 7 * ck.model_config.num_layers + 2     # every projection, the embedding and the head
    assert np.array_equal(a, b) and np.array_equal(spilled.forward(ids), a)   # second pass: from the files
    folder = spilled.ckpt.folder
    spilled.ckpt.close()
    assert not folder.exists()


def test_no_disk_space_for_the_rotated_weights_is_one_line(qwen2, text_file, tmp_path, rejected, monkeypatch):
    import shutil as sh

    from neurosim.model import network
    from neurosim.run import spill

    monkeypatch.setattr(network, "GENERATE_WEIGHT_BYTES", 1000)
    monkeypatch.setattr(spill.shutil, "disk_usage", lambda p: sh._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "ev"
    rejected(["eval", "--model", str(qwen2), "--text-file", str(text_file), "--windows", "2", "--window-tokens",
              "16", "--rotate", "hadamard", "--out", str(out)],
             r"not enough disk space for the rotated weights: 0\.00 GB needed, 0\.00 GB free in .*TMPDIR", out)
