"""Float reference layers against independent float64 re-implementations (loops, explicit math)."""

import math

import numpy as np
import pytest

from neurosim.model import layers as L


def rnd(rng, *shape):
    return rng.standard_normal(shape)


# --------------------------------------------------------------------------- naive references
def naive_softmax_attend(qv, keys, vals, scale):
    s = np.array([scale * float(np.dot(qv, kk)) for kk in keys])
    s = np.exp(s - s.max())
    p = s / s.sum()
    return sum(pi * vv for pi, vv in zip(p, vals))


def naive_attention(q, k, v, allowed):
    """allowed(h, i, j) -> bool; q [S,H,D], k/v [T,KV,D]."""
    s, h, d = q.shape
    g = h // k.shape[1]
    out = np.zeros((s, h, v.shape[2]))
    for hh in range(h):
        kvh = hh // g
        for i in range(s):
            js = [j for j in range(k.shape[0]) if allowed(hh, i, j)]
            out[i, hh] = naive_softmax_attend(q[i, hh], [k[j, kvh] for j in js], [v[j, kvh] for j in js],
                                              1 / math.sqrt(d))
    return out


def naive_moba_blocks(q, k, chunk, topk, hh, i, g):
    """Set of block ids selected for query i of head hh (current block + best past blocks)."""
    cur = i // chunk
    past = []
    for b in range(cur):
        keys = k[b * chunk:(b + 1) * chunk, hh // g]
        mean = keys.sum(axis=0) / len(keys)
        past.append((-float(np.dot(q[i, hh], mean)), b))
    past.sort()  # highest score first, ties: earlier block
    return {cur} | {b for _, b in past[: max(topk - 1, 0)]}


# --------------------------------------------------------------------------- tests
def test_rms_norm_formula():
    rng = np.random.default_rng(0)
    x, w = rnd(rng, 3, 7), rnd(rng, 7)
    y = L.rms_norm(x, w, 1e-5, dtype=np.float64)
    for r in range(3):
        rms = math.sqrt(sum(v * v for v in x[r]) / 7 + 1e-5)
        np.testing.assert_allclose(y[r], [x[r, c] / rms * w[c] for c in range(7)], rtol=1e-13)
    assert L.rms_norm(x, w, 1e-5).dtype == np.float64
    assert L.rms_norm(x.astype(np.float32), w, 1e-5).dtype == np.float32


def test_rope_matches_complex_rotation_and_preserves_norm():
    rng = np.random.default_rng(1)
    s, h, d, theta = 9, 2, 8, 10000.0
    x = rnd(rng, s, h, d)
    cos, sin = L.rope_cos_sin(s, d, theta, np.float64)
    y = L.apply_rope(x, cos, sin)
    half = d // 2
    for t in range(s):
        for i in range(half):
            ang = t * theta ** (-2 * i / d)
            z = complex(x[t, 0, i], x[t, 0, i + half]) * complex(math.cos(ang), math.sin(ang))
            assert abs(y[t, 0, i] - z.real) < 1e-12 and abs(y[t, 0, i + half] - z.imag) < 1e-12
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)


def test_rope_relative_position():
    rng = np.random.default_rng(2)
    d = 16
    q, k = rnd(rng, d), rnd(rng, d)
    cos, sin = L.rope_cos_sin(40, d, 500.0, np.float64)

    def at(v, p):
        return L.apply_rope(np.tile(v, (40, 1, 1)), cos, sin)[p, 0]

    base = np.dot(at(q, 7), at(k, 3))
    for shift in (1, 5, 20, 32):
        assert abs(np.dot(at(q, 7 + shift), at(k, 3 + shift)) - base) < 1e-10


@pytest.mark.parametrize("h,kv", [(4, 4), (6, 2), (3, 1)])
def test_causal_gqa_attention_vs_loop(h, kv):
    rng = np.random.default_rng(3)
    s, d = 7, 5
    q, k, v = rnd(rng, s, h, d), rnd(rng, s, kv, d), rnd(rng, s, kv, d)
    ref = naive_attention(q, k, v, lambda hh, i, j: j <= i)
    np.testing.assert_allclose(L.attention(q, k, v), ref, rtol=1e-10, atol=1e-12)
    out32 = L.attention(*(t.astype(np.float32) for t in (q, k, v)))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("s,window", [(10, 3), (10, 1), (12, 5), (6, 6)])
def test_sliding_window_vs_loop(s, window):
    rng = np.random.default_rng(4)
    q, k, v = rnd(rng, s, 4, 6), rnd(rng, s, 2, 6), rnd(rng, s, 2, 6)
    ref = naive_attention(q, k, v, lambda hh, i, j: i - window < j <= i)
    np.testing.assert_allclose(L.sliding_window_attention(q, k, v, window), ref, rtol=1e-10, atol=1e-12)


def test_sliding_window_longer_than_sequence_is_full():
    rng = np.random.default_rng(5)
    q, k, v = rnd(rng, 8, 4, 6), rnd(rng, 8, 2, 6), rnd(rng, 8, 2, 6)
    full = L.attention(q, k, v)
    for w in (8, 9, 1000, None):
        np.testing.assert_allclose(L.sliding_window_attention(q, k, v, w), full, rtol=1e-12)


@pytest.mark.parametrize("s,chunk", [(10, 3), (16, 4), (5, 8), (13, 1)])
def test_moba_topk_all_blocks_is_full_attention(s, chunk):
    rng = np.random.default_rng(6)
    q, k, v = rnd(rng, s, 4, 6), rnd(rng, s, 2, 6), rnd(rng, s, 2, 6)
    nb = -(-s // chunk)
    np.testing.assert_allclose(L.moba_attention(q, k, v, chunk, nb), L.attention(q, k, v), rtol=1e-12)
    np.testing.assert_allclose(L.moba_attention(q, k, v, chunk, nb + 3), L.attention(q, k, v), rtol=1e-12)


@pytest.mark.parametrize("s,chunk,topk,h,kv", [(17, 3, 2, 4, 2), (20, 4, 3, 2, 2), (11, 2, 1, 3, 1),
                                               (24, 5, 2, 6, 3)])
def test_moba_vs_per_query_loop(s, chunk, topk, h, kv):
    rng = np.random.default_rng(7 + s)
    q, k, v = rnd(rng, s, h, 6), rnd(rng, s, kv, 6), rnd(rng, s, kv, 6)
    g = h // kv
    sel = {(hh, i): naive_moba_blocks(q, k, chunk, topk, hh, i, g) for hh in range(h) for i in range(s)}
    ref = naive_attention(q, k, v, lambda hh, i, j: j <= i and (j // chunk) in sel[hh, i])
    np.testing.assert_allclose(L.moba_attention(q, k, v, chunk, topk), ref, rtol=1e-10, atol=1e-12)
    blocks = L.moba_select(q, k, chunk, topk)
    for (hh, i), want in sel.items():
        assert set(np.nonzero(blocks[hh, i])[0]) == want
    # top-k=1 selects only the current block: block-diagonal causal attention
    ref1 = naive_attention(q, k, v, lambda hh, i, j: j <= i and j // chunk == i // chunk)
    np.testing.assert_allclose(L.moba_attention(q, k, v, chunk, 1), ref1, rtol=1e-10, atol=1e-12)


def naive_delta(q, k, v, g, beta):
    """Per-token, per-head float64 loop with explicit matrices."""
    t, h, dk = q.shape
    dv = v.shape[2]
    out = np.zeros((t, h, dv))
    for hh in range(h):
        S = np.zeros((dk, dv))
        for i in range(t):
            S = math.exp(g[i, hh]) * S
            pred = np.array([sum(S[a, b] * k[i, hh, a] for a in range(dk)) for b in range(dv)])
            vn = beta[i, hh] * (v[i, hh] - pred)
            S = S + np.outer(k[i, hh], vn)
            out[i, hh] = np.array([sum(S[a, b] * q[i, hh, a] for a in range(dk)) for b in range(dv)])
    return out


def test_gated_delta_rule_vs_naive_loop():
    rng = np.random.default_rng(8)
    t, h, dk, dv = 13, 3, 5, 4
    q, k, v = rnd(rng, t, h, dk), rnd(rng, t, h, dk), rnd(rng, t, h, dv)
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    g = -rng.uniform(0, 1, (t, h))
    beta = rng.uniform(0, 1, (t, h))
    ref = naive_delta(q, k, v, g, beta)
    o, state = L.gated_delta_rule(q, k, v, g, beta)
    np.testing.assert_allclose(o, ref, rtol=1e-11, atol=1e-12)
    assert state.shape == (h, dk, dv)
    # continuing from the final state equals running the whole sequence
    o1, s1 = L.gated_delta_rule(q[:6], k[:6], v[:6], g[:6], beta[:6])
    o2, s2 = L.gated_delta_rule(q[6:], k[6:], v[6:], g[6:], beta[6:], initial_state=s1)
    np.testing.assert_allclose(np.concatenate([o1, o2]), ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(s2, state, rtol=1e-12)
    o32, _ = L.gated_delta_rule(*(a.astype(np.float32) for a in (q, k, v, g, beta)))
    assert o32.dtype == np.float32
    np.testing.assert_allclose(o32, ref, rtol=1e-4, atol=1e-4)


def test_sse_route_vs_naive():
    rng = np.random.default_rng(9)
    logits = rnd(rng, 20, 4)
    logits[3] = [1.0, 2.0, 2.0, 0.5]  # a tie: the lower index comes first
    idx, w, probs = L.sse_route(logits, 2)
    for t in range(20):
        p = [math.exp(x) for x in logits[t]]
        p = [x / sum(p) for x in p]
        order = sorted(range(4), key=lambda j: (-p[j], j))[:2]
        assert list(idx[t]) == order
        np.testing.assert_allclose(w[t], [p[j] for j in order], rtol=1e-12)
    assert list(idx[3]) == [1, 2]


def naive_sse(q1, k1, q2, k2, v, g, beta, route, weights, n_part, mode):
    """Token loop holding the shared state and n_part partition states per head explicitly."""
    t, h, dk = q1.shape
    dv = v.shape[2]

    def l2(x):
        return x / math.sqrt(float(np.dot(x, x)) + 1e-6)

    shared = [np.zeros((dk, dv)) for _ in range(h)]
    parts = [[np.zeros((dk, dv)) for _ in range(h)] for _ in range(n_part)]
    out = np.zeros((t, h, dv))

    def step(S, qv, kv_, vv, gg, bb):
        S = math.exp(gg) * S
        S = S + np.outer(kv_, bb * (vv - S.T @ kv_))
        return S, S.T @ qv

    for i in range(t):
        for hh in range(h):
            shared[hh], o = step(shared[hh], l2(q1[i, hh]) / math.sqrt(dk), l2(k1[i, hh]), v[i, hh],
                                 g[i, hh], beta[i, hh])
            out[i, hh] += o
            for p, w in zip(route[i], weights[i]):
                qs, ks = q2[i, hh], k2[i, hh]
                if mode == "qk":
                    qs, ks = qs * w, ks * w
                parts[p][hh], o = step(parts[p][hh], l2(qs) / math.sqrt(dk), l2(ks), v[i, hh],
                                       g[i, h + hh], beta[i, h + hh])
                out[i, hh] += w * o if mode == "output" else o
    return out


@pytest.mark.parametrize("mode", ["qk", "none", "output"])
def test_sse_partitions_vs_naive_loop(mode):
    rng = np.random.default_rng(10)
    t, h, d, P = 15, 2, 4, 4
    q1, k1, q2, k2 = (L.silu(rnd(rng, t, h, d)) for _ in range(4))
    v = L.silu(rnd(rng, t, h, d))
    g = -rng.uniform(0.01, 1, (t, 2 * h))
    beta = rng.uniform(0, 1, (t, 2 * h))
    idx, w, _ = L.sse_route(rnd(rng, t, P), 2)
    ref = naive_sse(q1, k1, q2, k2, v, g, beta, idx, w, P, mode)
    out = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, P, router_weight=mode)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


def test_sse_router_weight_qk_equals_unweighted_up_to_eps():
    rng = np.random.default_rng(11)
    t, h, d, P = 12, 2, 8, 4
    q1, k1, q2, k2, v = (L.silu(rnd(rng, t, h, d)) + 0.1 for _ in range(5))
    g = -rng.uniform(0.01, 1, (t, 2 * h))
    beta = rng.uniform(0, 1, (t, 2 * h))
    idx, w, _ = L.sse_route(rnd(rng, t, P), 2)
    a = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, P, router_weight="qk")
    b = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, P, router_weight="none")
    c = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, P, router_weight="output")
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert np.abs(b - c).max() > 1e-2


def test_sse_partition_only_advances_on_routed_tokens():
    """A partition that never gets a token contributes nothing; routing everything to one
    partition equals a second plain delta-rule run on the q2/k2 path."""
    rng = np.random.default_rng(12)
    t, h, d = 9, 2, 4
    q1, k1, q2, k2, v = (L.silu(rnd(rng, t, h, d)) for _ in range(5))
    g = -rng.uniform(0.01, 1, (t, 2 * h))
    beta = rng.uniform(0, 1, (t, 2 * h))
    idx = np.tile([[2]], (t, 1))
    w = np.ones((t, 1))
    out = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, 4, router_weight="none")
    qs = d ** -0.5
    o1, _ = L.gated_delta_rule(L.l2_normalize(q1) * qs, L.l2_normalize(k1), v, g[:, :h], beta[:, :h])
    o2, _ = L.gated_delta_rule(L.l2_normalize(q2) * qs, L.l2_normalize(k2), v, g[:, h:], beta[:, h:])
    np.testing.assert_allclose(out, o1 + o2, rtol=1e-12)


def test_elementwise():
    x = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    np.testing.assert_allclose(L.sigmoid(x), [0.0, 1 / (1 + math.exp(3)), 0.5, 1 / (1 + math.exp(-2)), 1.0])
    np.testing.assert_allclose(L.softplus(x), [0.0, math.log1p(math.exp(-3)), math.log(2),
                                               math.log1p(math.exp(2)), 800.0])
    np.testing.assert_allclose(L.silu(x), x * L.sigmoid(x))
    np.testing.assert_allclose(L.swiglu(np.array([1.0]), np.array([3.0])), [3.0 / (1 + math.exp(-1))])
