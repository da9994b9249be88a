"""KV-cache decoding: prefill + cached decode steps against recomputing the whole sequence with the
same decode semantics (MoBA dense for generated tokens), in fp, int8 and spike fidelity, on every
layer kind; the attention-level statistics; the max_position_embeddings guard."""

import json

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.model import Model, load_checkpoint, make_checkpoint
from neurosim.model import layers as L
from neurosim.model import DecodeCache
from neurosim.model.decode_cache import KVBuffer
from neurosim.run import Settings, execute
from neurosim.run.fidelity import Int8Projection, Quantization, SpikeProjection

P, N = 30, 7      # prompt tokens, decode steps (tiny SpB2.0: MoBA chunk 8 / top-2, SWA window 8)


@pytest.fixture(scope="module", params=["sse_swa_moba", "qwen3", "qwen2", "llama"])
def ckpt(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / request.param
    make_checkpoint(out, request.param, "tiny", seed=3)
    return load_checkpoint(out)


@pytest.fixture(scope="module")
def spb2(tmp_path_factory):
    out = tmp_path_factory.mktemp("spb2") / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(out)]) == 0
    return out


def ids_for(model, n=P + N, seed=0):
    return np.random.default_rng(seed).integers(0, model.vocab_size, n)


class Capture:
    """A linear hook that keeps every call's integers (counts) and outputs, per weight name."""

    def __init__(self, projection):
        self.projection = projection
        self.counts, self.y = {}, {}

    def __call__(self, name, x, w):
        p = self.projection.product(name, x, w)
        self.counts.setdefault(name, []).append(p.acts.counts)
        self.y.setdefault(name, []).append(p.y)
        return p.y


def cached(model, ids, linear=None):
    """Prefill ids[:P], then one cached decode step per remaining token: logits [S-P+1, vocab]."""
    cache = DecodeCache(model.n_layers)
    out = [model.forward(ids[:P], linear, cache=cache)[-1]]
    out += [model.decode_step(int(t), cache, linear) for t in ids[P:]]
    return np.stack(out), cache


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_fp_cached_equals_recompute(ckpt, dtype, tol):
    m = Model(ckpt, dtype=dtype)
    ids = ids_for(m)
    got, cache = cached(m, ids)
    ref = m.forward(ids, dense_from=P)
    assert cache.pos == len(ids)
    # Norms, RoPE, attention (one row-exact kernel), the SSE recurrences and the router are the same
    # arithmetic per row in both; only BLAS differs: a 1-row product runs as gemv, the whole
    # sequence as gemm, which round differently (a few float ulps, amplified by depth <= 4 layers).
    scale = np.abs(ref).max()
    assert np.abs(got - ref[P - 1:]).max() <= tol * scale
    # the prefill itself is the ordinary forward pass, bit for bit
    c2 = DecodeCache(m.n_layers)
    assert np.array_equal(m.forward(ids[:P], cache=c2), m.forward(ids[:P]))


@pytest.fixture(scope="module")
def gguf_like(tmp_path_factory):
    """A tiny llama whose 2-D weights are Q4_1-dequantized (the form of the GGUF-converted SmolLM2),
    its embedding Q8_0-dequantized: every matrix has exact block codes."""
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import dequantize, quantize

    from neurosim.model.checkpoint import write_checkpoint

    src = load_checkpoint(make_checkpoint(tmp_path_factory.mktemp("src") / "llama", "llama", "tiny", seed=5))

    def produce(name):
        w = src.tensor(name)
        if w.ndim != 2:
            return w
        q = Q.Q8_0 if name == src.model_config.embed_name else Q.Q4_1
        return np.asarray(dequantize(quantize(w, q), q), dtype=np.float32).reshape(w.shape)

    out = tmp_path_factory.mktemp("gguf_like") / "llama"
    write_checkpoint(out, src.config, {n: src.shape(n) for n in src.names}, produce)
    return load_checkpoint(out)


def test_fp_decode_steps_read_exact_block_codes(gguf_like):
    m = Model(gguf_like)
    ids = ids_for(m, seed=2)
    got, cache = cached(m, ids)
    ref = m.forward(ids, dense_from=P)
    codes = m.derived["fp-block-weights"]
    mats = {n for i in range(m.n_layers) for n in m.projection_names(i)} | {m.lm_head_name}
    assert set(codes) == mats and all(bw is not None for bw in codes.values())
    for name, bw in codes.items():           # lossless: the codes stand for the stored float32 weights
        assert np.array_equal(bw.weights().view(np.uint32), cache.weights[name].view(np.uint32)), name
    # sequential float32 sums instead of BLAS: within the tolerance of the plain fp test
    assert np.abs(got - ref[P - 1:]).max() <= 2e-6 * np.abs(ref).max()
    for n in (P, 2):   # the prefill is the ordinary pass, even one of few rows
        assert np.array_equal(m.forward(ids[:n], cache=DecodeCache(m.n_layers)), m.forward(ids[:n]))
    # greedy tokens agree with the recompute; a float64 model keeps BLAS
    assert np.array_equal(m.generate(ids[:P], 5), m.generate(ids[:P], 5, use_cache=False))
    m64 = Model(gguf_like, dtype=np.float64)
    cached(m64, ids)
    assert "fp-block-weights" not in m64.derived


@pytest.mark.parametrize("proj", [Int8Projection, SpikeProjection])
def test_quantized_cached_gives_the_same_integers(ckpt, proj):
    m = Model(ckpt)
    ids = ids_for(m, seed=1)
    a = Capture(proj(Quantization()))
    got, _ = cached(m, ids, a)
    b = Capture(proj(Quantization()))
    ref = m.forward(ids, b, dense_from=P)
    assert set(a.counts) == set(b.counts) == {n for i in range(m.n_layers) for n in m.projection_names(i)}
    for name, (full,) in b.counts.items():
        # every projection's INT8 counts and dequantised products, row for row
        assert np.array_equal(np.concatenate(a.counts[name]), full), name
        assert np.array_equal(np.concatenate(a.y[name]), b.y[name][0]), name
    # the lm_head is float (gemv vs gemm, see the fp test); everything before it is identical
    assert np.abs(got - ref[P - 1:]).max() <= 2e-6 * np.abs(ref).max()


def test_moba_decode_is_dense_and_caches_are_bounded(spb2):
    m = Model(load_checkpoint(spb2))
    mc = m.model_config
    assert [m.layer_kind(i) for i in range(m.n_layers)] == ["moba", "sse_swa", "full", "sse_swa"]
    assert P > mc.moba_chunk_size * mc.moba_topk     # MoBA really skips blocks in the prompt
    ids = ids_for(m)
    got, cache = cached(m, ids)
    # dense decode differs from MoBA in prefill form over the same tokens ...
    assert np.abs(got[1:] - m.forward(ids)[P:]).max() > 1e-3
    # ... and a MoBA layer whose top-k covers every block is dense attention everywhere
    dense = Model(load_checkpoint(spb2), config=type(mc)(**{**mc.__dict__, "moba_topk": 10 ** 6}))
    assert np.abs(got[1:] - dense.forward(ids, dense_from=P)[P:]).max() > 1e-3   # prompt part differs
    assert np.allclose(m.forward(ids, dense_from=0), dense.forward(ids), rtol=0, atol=1e-5)
    # SWA keeps window-1 keys; MoBA/full keep all; SSE: shared + one state per partition
    assert cache.layers[1]["swa_k"].shape[0] == mc.window_size - 1
    assert cache.layers[1]["swa_base"] == len(ids) - (mc.window_size - 1)
    assert cache.layers[0]["k"].shape[0] == cache.layers[2]["k"].shape[0] == len(ids)
    shared, parts = cache.layers[3]["sse_state"]
    assert parts.shape[0] == mc.num_sparse_partition and parts.shape[1:] == shared.shape
    assert cache.nbytes() > 0


def test_sse_state_resume_equals_one_pass():
    rng = np.random.default_rng(2)
    s, h, d, parts = 12, 2, 4, 4
    q1, k1, q2, k2, v = (rng.standard_normal((s, h, d)) for _ in range(5))
    g, beta = -rng.random((s, 2 * h)), rng.random((s, 2 * h))
    idx, w, _ = L.sse_route(rng.standard_normal((s, parts)), 2)
    whole, st_whole = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, parts, return_state=True)
    a, st = L.sse_recurrence(*(x[:7] for x in (q1, k1, q2, k2, v, g, beta, idx, w)), parts, return_state=True)
    b, st2 = L.sse_recurrence(*(x[7:] for x in (q1, k1, q2, k2, v, g, beta, idx, w)), parts,
                              state=st, return_state=True)
    assert np.array_equal(np.concatenate([a, b]), whole)
    assert np.array_equal(st2[0], st_whole[0]) and np.array_equal(st2[1], st_whole[1])


def test_attend_matches_masked_attention_and_is_row_exact():
    rng = np.random.default_rng(4)
    s, h, kv, d = 40, 4, 2, 8
    q, k, v = (rng.standard_normal((s, n, d)).astype(np.float32) for n in (h, kv, kv))
    pos = np.arange(s)
    np.testing.assert_allclose(L.attend(q, k, v, *L.causal_segments(pos)), L.attention(q, k, v), atol=2e-6)
    np.testing.assert_allclose(L.attend(q, k, v, *L.window_segments(pos, 5)),
                               L.sliding_window_attention(q, k, v, 5), atol=2e-6)
    sel = L.moba_select(q, k, 8, 2)
    np.testing.assert_allclose(L.attend(q, k, v, *L.moba_segments(sel, 8, 2)), L.moba_attention(q, k, v, 8, 2),
                               atol=2e-6)
    # one row alone over only its keys == that row of the batch, bit for bit
    whole = L.attend(q, k, v, *L.causal_segments(pos))
    for i in (0, 17, s - 1):
        one = L.attend(q[i:i + 1], k[:i + 1], v[:i + 1], *L.causal_segments([i]))
        assert np.array_equal(one[0], whole[i])


def test_generate_cached_equals_recomputed(spb2):
    m = Model(load_checkpoint(spb2))
    ids = ids_for(m, n=P)
    assert np.array_equal(m.generate(ids, 6), m.generate(ids, 6, use_cache=False))
    hook = Int8Projection(Quantization())
    want = m.generate(ids, 4, hook, use_cache=False)
    assert np.array_equal(m.generate(ids, 4, hook), want)
    hook.weight_cache = {}      # what neurosim run sets while generating: weights quantised once
    assert np.array_equal(m.generate(ids, 4, hook), want)
    assert set(hook.weight_cache) == {n for i in range(m.n_layers) for n in m.projection_names(i)}
    assert not m.keep_weights and not m._cache       # weights were kept only while decoding


def test_attention_statistics(spb2):
    m = Model(load_checkpoint(spb2))
    mc = m.model_config
    ids = ids_for(m, n=37)
    m.forward(ids)
    st = m.attention_stats
    chunk, topk = mc.moba_chunk_size, mc.moba_topk
    blk = np.arange(37) // chunk
    # each query visits min(top-k, causal blocks) blocks (its own always among them)
    assert st[0]["type"] == "moba" and (st[0]["chunk"], st[0]["topk"]) == (chunk, topk)
    assert st[0]["block_fraction"] == pytest.approx(np.mean(np.minimum(topk, blk + 1) / (blk + 1)))
    # the visited keys: an independent count from the token-level MoBA mask of layer 0's q/k
    x = m._norm(m._names[0]["attn_norm"], m.embed(ids))
    d = mc.head_dim
    q, k = (m._norm(m._names[0][r + "_norm"], (x @ m.weight(m._names[0][r + "_proj"]).T).reshape(37, -1, d))
            for r in "qk")
    cos, sin = L.rope_cos_sin(37, d, mc.rope_theta, np.float32)
    mask = L.moba_mask(L.apply_rope(q, cos, sin), L.apply_rope(k, cos, sin), chunk, topk)
    assert st[0]["key_fraction"] == pytest.approx(np.mean(mask.sum(-1) / (np.arange(37) + 1)), rel=1e-9)
    assert st[2] == {"type": "full", "queries": 37, "block_fraction": 1.0, "key_fraction": 1.0}
    for i in (1, 3):
        hist = np.asarray(st[i]["partition_tokens"])
        assert hist.sum() == 37 * mc.num_writer and hist.size == mc.num_sparse_partition
        p = hist / hist.sum()
        assert st[i]["usage_entropy_bits"] == pytest.approx(-(p[p > 0] * np.log2(p[p > 0])).sum())
        assert 0 < st[i]["usage_entropy_bits"] <= st[i]["max_entropy_bits"] == 2.0
        assert st[i]["swa_key_fraction"] == pytest.approx(
            np.mean(np.minimum(mc.window_size, np.arange(37) + 1) / (np.arange(37) + 1)))
    # a decode step does not overwrite the prefill's statistics
    c = DecodeCache(m.n_layers)
    m.forward(ids, cache=c)
    before = dict(m.attention_stats)
    m.decode_step(5, c)
    assert m.attention_stats == before


def test_trace_layers_carry_attention(spb2, tmp_path):
    s = execute(Settings(model=str(spb2), prompt="To be, or not to be, that is the question", mode="int8",
                         generate=3, trace=str(tmp_path / "t")).validate(), quiet=True)
    layers = json.loads((tmp_path / "t" / "summary.json").read_text())["layers"]
    assert [L_["attention"]["type"] for L_ in layers] == ["moba", "sse", "full", "sse"]
    assert len(s["generated"]["ids"]) == 3


def test_report_shows_attention_sparsity(spb2, tmp_path):
    trace = tmp_path / "trace"
    assert main(["run", "--model", str(spb2), "--max-tokens", "40", "--mode", "int8", "--trace", str(trace)]) == 0
    assert main(["report", "--quiet", "--trace", str(trace), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    head = "| layer | kind | key blocks visited |"
    lines = md.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith(head))
    rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in lines[i + 2:i + 6]]
    layers = json.loads((trace / "summary.json").read_text())["layers"]
    for row, L_ in zip(rows, layers):
        a = L_["attention"]
        assert row[0] == str(L_["layer"])
        if a["type"] == "sse":
            assert row[4] == " / ".join(map(str, a["partition_tokens"]))
            assert row[5].startswith(f"{a['usage_entropy_bits']:.3f}") and row[6] == f"{100 * a['swa_key_fraction']:.2f}%"
        else:
            assert row[2:4] == [f"{100 * a['block_fraction']:.2f}%", f"{100 * a['key_fraction']:.2f}%"]
    assert rows[0][2] != "100.00%"          # MoBA at 40 tokens, chunk 8, top-2: blocks are skipped


def test_attention_results_file_is_the_rendering_of_its_json():
    from pathlib import Path

    from benchmarks.attention import render

    root = Path(__file__).resolve().parents[1] / "docs" / "results"
    res = json.loads((root / "attention.json").read_text())
    assert (root / "attention.md").read_text() == render(res)
    assert res["tokens"] == 4096 and res["layout"]["moba_chunk_size"] == 512 and res["layout"]["moba_topk"] == 4
    moba = next(L_["attention"] for L_ in res["layers"] if L_["kind"] == "moba")
    assert moba["block_fraction"] == pytest.approx(moba["block_fraction_expected"])


def test_generate_results_file_is_the_rendering_of_its_json():
    from pathlib import Path

    from benchmarks.generate import render

    root = Path(__file__).resolve().parents[1] / "docs" / "results"
    doc = json.loads((root / "generate.json").read_text())
    assert (root / "generate.md").read_text() == render(doc)
    for r in doc["results"]:
        assert r["tokens"] == 256 and r["new"] == 64
        # the cached decode is far cheaper than the former per-token re-run
        assert r["ratio_to_prefill"]["decode"] < r["ratio_to_prefill"]["recompute"] / 10


def test_longer_than_max_position_embeddings(spb2, tmp_path, capsys):
    short = tmp_path / "short"
    short.mkdir()
    for f in spb2.iterdir():
        (short / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((short / "config.json").read_text())
    cfg["max_position_embeddings"] = 12
    (short / "config.json").write_text(json.dumps(cfg))
    text = "To be, or not to be, that is the question: whether 'tis nobler in the mind"
    with pytest.raises(NeurosimError, match="max_position_embeddings 12"):
        execute(Settings(model=str(short), prompt=text, mode="fp").validate(), quiet=True)
    assert main(["run", "--model", str(short), "--prompt", text, "--mode", "fp"]) == 2
    err = capsys.readouterr().err.strip()
    assert "max_position_embeddings 12" in err and "--allow-longer" in err and "\n" not in err
    # input within the limit but input + generated past it: refused too
    with pytest.raises(NeurosimError, match="generated"):
        execute(Settings(model=str(short), prompt=text, max_tokens=10, generate=5, mode="fp").validate(), quiet=True)
    ok = execute(Settings(model=str(short), prompt=text, mode="fp", allow_longer=True).validate(), quiet=True)
    assert ok["tokens"] > 12
    assert main(["run", "--model", str(short), "--prompt", text, "--mode", "fp", "--allow-longer"]) == 0


def test_attend_cached_equals_attend_bit_for_bit():
    rng = np.random.default_rng(11)
    t, kv, h, d = 23, 2, 6, 8
    q = rng.standard_normal((3, h, d)).astype(np.float32)
    k = rng.standard_normal((t, kv, d)).astype(np.float32)
    v = rng.standard_normal((t, kv, d)).astype(np.float32)
    buf = KVBuffer(kv, d, d, np.float32)
    buf.append(k[:20], v[:20])
    buf.append(k[20:], v[20:])
    assert buf.kT.shape[2] > t          # spare slots after the keys are never read
    pos = np.arange(t - 3, t)
    for st, en in (L.causal_segments(pos), L.window_segments(pos, 5)):
        assert np.array_equal(L.attend_cached(q, buf.kT, buf.vh, buf.n, st, en), L.attend(q, k, v, st, en))
    with pytest.raises(ValueError):
        L.attend_cached(q, buf.kT, buf.vh, buf.n - 1, *L.causal_segments(pos))


def test_kv_buffer_window_keeps_the_latest_tokens():
    rng = np.random.default_rng(12)
    keep = 7
    buf = KVBuffer(1, 2, 3, np.float64, keep=keep)
    ks = rng.standard_normal((200, 1, 2))
    vs = rng.standard_normal((200, 1, 3))
    for i in range(200):     # one token at a time: compactions and growths on the way
        buf.append(ks[i:i + 1], vs[i:i + 1])
        k, v, base = buf.views()
        lo = max(i + 1 - keep, 0)
        assert base == lo and np.array_equal(k, ks[lo:i + 1]) and np.array_equal(v, vs[lo:i + 1])
        # the slots a window query reads are the same tokens
        assert np.array_equal(buf.kT[:, :, i - buf.base], ks[i]) and buf.n - 1 == i - buf.base
    assert buf.kT.shape[2] < 200    # compacted, not grown with the sequence


def test_long_decode_past_the_buffer_growth_equals_recompute(ckpt):
    m = Model(ckpt)
    ids = ids_for(m, n=5 + 90, seed=4)
    cache = DecodeCache(m.n_layers)
    got = [m.forward(ids[:5], cache=cache)[-1]]
    got += [m.decode_step(int(t), cache) for t in ids[5:]]
    ref = m.forward(ids, dense_from=5)[4:]
    assert np.abs(np.stack(got) - ref).max() <= 2e-6 * np.abs(ref).max()
    for entry in cache.layers:
        for s in ("", "swa_"):
            if s + "kv" in entry:
                k = entry[s + "k"]
                n = len(ids) - entry[s + "base"]
                assert k.shape[0] == n and (s == "swa_" or n == len(ids))


def test_decoding_reads_each_weight_once(ckpt):
    m = Model(ckpt)
    reads = []
    real = ckpt.tensor

    def counted(name):
        reads.append(name)
        return real(name)

    ckpt.tensor = counted
    try:
        ids = ids_for(m, n=P)
        cache = DecodeCache(m.n_layers)
        logits = m.forward(ids, cache=cache)           # the prefill keeps the weights in the cache
        assert set(cache.weights) == set(reads)
        n = len(reads)
        new = m.generate(ids, 4, cache=cache, logits=logits)
        assert len(reads) == n                          # no second read while decoding
        reads.clear()
        assert np.array_equal(m.generate(ids, 4), new)   # its own prefill: each weight read once
        assert len(reads) == len(set(reads)) == n
        m.forward(ids)                                  # a pass without a cache keeps nothing
        assert not m._cache and m._hold is None
    finally:
        ckpt.tensor = real
