"""Long context on the torch backend: the bounded blocks (attention rows, MoBA scores, SSE segments,
MLP rows, logits per row block) change memory, not results; the GPU-memory pre-flight; the
context-dependent energy terms.

The torch tests run on PyTorch's CPU device (marker ``gpu``: ``make test-torch``)."""

import types

import numpy as np
import pytest

from neurosim import NeurosimError

PROMPT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


def _small_blocks(monkeypatch):
    """Blocks far smaller than the tiny model's sequences: every blocked path runs many times."""
    from neurosim.model import torch_layers as TL
    from neurosim.model import torch_network as TN

    monkeypatch.setattr(TL, "SCORE_ELEMENTS", 2 * TL.QUERY_BLOCK * 200)   # one KV head (2 query heads) at a time
    monkeypatch.setattr(TL, "SSE_SEGMENT", 64)
    monkeypatch.setattr(TN, "MLP_ROWS", 24)


def _spike_pass(tiny, ids, device="cpu"):
    from neurosim.model import Model, load_checkpoint
    from neurosim.model.torch_network import TorchModel
    from neurosim.run.fidelity import Quantization, projection_kinds
    from neurosim.run.torch_fidelity import TorchQuantizedProjection, TorchRecorder, torch_accuracy

    model = Model(load_checkpoint(tiny))
    net = TorchModel(model, device)
    kinds = projection_kinds(model)
    fp = net.forward(ids, rows=True)
    rec = TorchRecorder(TorchQuantizedProjection("spike", Quantization()), kinds, keep_counts=True)
    q = net.forward(ids, linear=rec)
    recs = rec.ordered_records()
    return dict(logits=q.cpu().numpy(), counts=rec.counts, records=recs, histograms=rec.histograms,
                stats=net.attention_stats, accuracy=torch_accuracy(fp, q, ids))


@pytest.mark.gpu
def test_small_blocks_give_identical_integers_statistics_and_logits(tiny, monkeypatch):
    """A 200-token spike pass of the tiny SpB2.0 (MoBA, full, SSE+SWA layers) with the default
    blocks (one block each) and with small ones (attention one KV head at a time, SSE segments of 64
    with a ragged last one, MLP rows of 24): every INT8 count, record, histogram, attention statistic and
    logit is the same, bit for bit."""
    ids = np.random.default_rng(3).integers(0, 512, 200)
    whole = _spike_pass(tiny, ids)
    _small_blocks(monkeypatch)
    blocked = _spike_pass(tiny, ids)
    assert whole["counts"].keys() == blocked["counts"].keys() and whole["counts"]
    for name, c in whole["counts"].items():
        np.testing.assert_array_equal(blocked["counts"][name], c)
    assert blocked["records"] == whole["records"]
    for name, (v, f) in whole["histograms"].items():
        np.testing.assert_array_equal(blocked["histograms"][name][0], v)
        np.testing.assert_array_equal(blocked["histograms"][name][1], f)
    assert blocked["stats"] == whole["stats"]
    assert {st["type"] for st in whole["stats"].values()} == {"moba", "full", "sse"}
    np.testing.assert_array_equal(blocked["logits"], whole["logits"])
    assert blocked["accuracy"] == whole["accuracy"]


@pytest.mark.gpu
def test_attention_statistics_equal_the_golden_model(tiny):
    """The MoBA statistics kept as per-query counts equal the golden model's (from the selection)."""
    from neurosim.model import Model, load_checkpoint
    from neurosim.model.torch_network import TorchModel

    ids = np.random.default_rng(4).integers(0, 512, 90)
    model = Model(load_checkpoint(tiny))
    model.forward(ids)
    net = TorchModel(Model(load_checkpoint(tiny)), "cpu")
    net.forward(ids)
    assert net.attention_stats == model.attention_stats
    assert model.attention_stats[0]["type"] == "moba" and model.attention_stats[0]["key_fraction"] < 1


@pytest.mark.gpu
@pytest.mark.parametrize("router_weight", ["qk", "output"])
def test_sse_segments_equal_one_segment(router_weight):
    """``sse_recurrence`` in segments of 64 packed positions (states carried, a partition routed
    nothing keeps its state) equals the single segment, bit for bit."""
    import torch

    from neurosim.model import layers as L
    from neurosim.model import torch_layers as TL

    rng = np.random.default_rng(11)
    S, H, D, P = 300, 2, 8, 4
    q1, k1, q2, k2, v = (torch.from_numpy(rng.standard_normal((S, H, D)).astype(np.float32)) for _ in range(5))
    g = torch.from_numpy(-rng.uniform(0, 1, (S, 2 * H)).astype(np.float32))
    beta = torch.from_numpy(rng.uniform(0, 1, (S, 2 * H)).astype(np.float32))
    logits = rng.standard_normal((S, P)).astype(np.float32)
    logits[:, 2] = -50
    idx, w = TL.sse_route(torch.from_numpy(logits), 2)
    state = (torch.from_numpy(rng.standard_normal((H, D, D)).astype(np.float32)),
             torch.from_numpy(rng.standard_normal((P, H, D, D)).astype(np.float32)))
    args = (q1, k1, q2, k2, v, g, beta, idx, w, P)
    one, (s1, p1) = TL.sse_recurrence(*args, router_weight=router_weight, state=state, segment=512)
    seg, (s2, p2) = TL.sse_recurrence(*args, router_weight=router_weight, state=state, segment=64)
    assert torch.equal(one, seg) and torch.equal(s1, s2) and torch.equal(p1, p2)
    assert torch.equal(p2[2], state[1][2])
    ref = L.sse_recurrence(*(a.double().numpy() for a in (q1, k1, q2, k2, v, g, beta)), idx.numpy(),
                           w.double().numpy(), P, router_weight=router_weight,
                           state=tuple(s.double().numpy() for s in state))
    np.testing.assert_allclose(seg.numpy(), ref, rtol=1e-4, atol=1e-4)   # float32 vs float64 golden
    with pytest.raises(ValueError, match="multiple of 64"):
        TL.sse_recurrence(*args, segment=100)


def test_attention_blocks_take_fewer_heads_then_fewer_rows():
    from neurosim.model import torch_layers as TL

    assert TL.attention_blocks(32, 8, 4096) == (TL.QUERY_BLOCK, 8)      # the 5B layout at 4,096 tokens
    assert TL.attention_blocks(32, 8, 16384) == (TL.QUERY_BLOCK, 8)
    assert TL.attention_blocks(32, 8, 32768) == (TL.QUERY_BLOCK, 4)
    assert TL.attention_blocks(32, 8, 131072) == (TL.QUERY_BLOCK, 1)
    assert TL.attention_blocks(32, 8, 262144) == (TL.QUERY_BLOCK // 2, 1)
    assert TL.attention_blocks(32, 8, 1 << 40) == (1, 1)


# --- the GPU-memory pre-flight ---

def test_estimate_grows_linearly_and_refuses_in_one_line():
    from neurosim.model.config import model_config
    from neurosim.model.maker import preset_config
    from neurosim.model.torch_memory import check_fits, estimate_bytes

    mc = model_config(preset_config("sse_swa_moba", "full"))
    e = [estimate_bytes(mc, n) for n in (32768, 65536, 131072)]
    assert e[2] - e[1] == 2 * (e[1] - e[0]) > 0                      # linear in the tokens
    assert estimate_bytes(mc, 4096, quantized=False) < estimate_bytes(mc, 4096)
    gib = 1 << 30
    assert check_fits(mc, 32768, 4, True, 80 * gib, "GPU") == e[0]
    with pytest.raises(NeurosimError, match=r"^131072 tokens need about [\d.]+ GiB of GPU memory \(estimate\), "
                                            r"more than the 40.0 GiB of the Fake GPU; run fewer tokens") as err:
        check_fits(mc, 131072, 4, True, 40 * gib, "Fake GPU")
    assert "\n" not in str(err.value)


@pytest.mark.gpu
def test_run_refuses_a_length_the_gpu_cannot_hold(tiny, tmp_path, monkeypatch, rejected):
    """``neurosim run --device cuda`` on a (fake) 1 GiB GPU: exit 2, one line with the estimate and
    the device's memory, before any work (no trace)."""
    import neurosim.core.gpu as gpu

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(
        is_available=lambda: True, mem_get_info=lambda dev: (1 << 30, 1 << 30),
        get_device_name=lambda dev: "Fake GPU"))
    monkeypatch.setattr(gpu, "require_cuda", gpu.require_torch)
    monkeypatch.setattr(gpu, "torch_device", lambda device: (fake, types.SimpleNamespace(type="cuda")))
    out = tmp_path / "trace"
    rejected(["run", "--model", str(tiny), "--prompt", PROMPT, "--device", "cuda", "--mode", "spike",
              "--trace", str(out)], r"tokens need about [\d.]+ GiB of GPU memory \(estimate\), more than the "
             r"1.0 GiB of the Fake GPU", out)


# --- the context-dependent energy terms ---

def test_context_terms_count_the_products_and_traffic():
    from hwmodels.context_energy import ContextShape, context_terms

    shape = ContextShape(("moba", "full", "sse_swa"), heads=4, kv_heads=2, head_dim=8, moba_chunk=16,
                         window=8, sse_heads=4, sse_head_dim=8, sse_writers=2, swa_heads=4)
    n = 1023
    dense = context_terms(shape, n, mac_pj=1.0, mem_pj_per_bit=0.0)
    assert dense["macs"]["full"] == dense["macs"]["moba"] == 2 * 4 * 8 * 512   # (n + 1) / 2 keys
    assert dense["macs"]["swa"] == 2 * 4 * 8 * 8 and dense["macs"]["sse"] == 4 * 4 * 3 * 64
    assert dense["macs"]["gate"] == 0
    sparse = context_terms(shape, n, mac_pj=1.0, mem_pj_per_bit=0.0, moba_keys=128)
    assert sparse["macs"]["moba"] == dense["macs"]["moba"] / 4
    past = sum(i // 16 for i in range(n)) / n                                 # past blocks per query (mean)
    assert sparse["macs"]["gate"] == pytest.approx(4 * 8 * past + 2 * 8, rel=1e-12)
    mem = context_terms(shape, n, mac_pj=0.0, mem_pj_per_bit=1.0, kv_bits=8)
    assert mem["bits"]["full"] == 2 * 2 * 8 * 8 * 513       # own K, V written + 512 keys read
    assert mem["total_pj"] == pytest.approx(sum(mem["bits"].values()))
    far = context_terms(shape, 4 * n + 3, mac_pj=1.0, mem_pj_per_bit=0.0)
    assert far["macs"]["full"] == 4 * dense["macs"]["full"] and far["macs"]["swa"] == dense["macs"]["swa"]


def _visited_keys(n: int, chunk: int, topk: int) -> np.ndarray:
    """The formula, query by query: own block up to the query, min(topk - 1, c) whole past blocks."""
    i = np.arange(n)
    c = i // chunk
    return i - c * chunk + 1 + np.minimum(topk - 1, c) * chunk


@pytest.mark.parametrize("chunk,topk", [(8, 2), (8, 1), (4, 3), (16, 5), (4096, 12)])
def test_moba_mean_keys_is_exact_and_dense_up_to_chunk_times_topk(chunk, topk):
    """The O(1) sum equals the query-by-query sum at every length around the block edges; the mean
    is the causal mean (n + 1) / 2 exactly when n <= chunk x topk, and below it beyond."""
    from hwmodels.context_energy import causal_keys, moba_key_share, moba_mean_keys, moba_past_blocks, moba_total_keys

    cap = chunk * topk
    lengths = sorted({n for m in (1, chunk, cap, 3 * cap + 1) for n in (m - 1, m, m + 1) if n > 0} | {7, 33, 100})
    for n in lengths:
        k = _visited_keys(n, chunk, topk)
        assert moba_total_keys(n, chunk, topk) == int(k.sum())
        assert moba_mean_keys(n, chunk, topk) == int(k.sum()) / n
        assert moba_past_blocks(n, chunk) == int((np.arange(n) // chunk).sum()) / n
        assert moba_key_share(n, chunk, topk) == pytest.approx(np.mean(k / (np.arange(n) + 1)), rel=1e-12)
        assert (moba_mean_keys(n, chunk, topk) == causal_keys(n)) == (n <= cap), n
        assert (moba_key_share(n, chunk, topk) == 1.0) == (n <= cap), n


@pytest.mark.parametrize("chunk,topk", [(8, 2), (8, 3), (5, 1)])
def test_moba_selection_visits_the_structural_keys(chunk, topk):
    """``moba_select`` on random q/k: every query visits min(topk, c + 1) blocks, and the keys it
    visits (its own block causally, whole past blocks) are the formula's, whatever the scores."""
    from hwmodels.context_energy import moba_mean_keys
    from neurosim.model import layers as L

    rng = np.random.default_rng(chunk * 10 + topk)
    for n in (7, 33, 100):
        sel = L.moba_select(rng.standard_normal((n, 4, 8)).astype(np.float32),
                            rng.standard_normal((n, 2, 8)).astype(np.float32), chunk, topk)
        mask = sel[:, :, np.arange(n) // chunk] & np.tri(n, dtype=bool)[None]     # token-level [H, S, S]
        keys = mask.sum(axis=2)
        np.testing.assert_array_equal(keys, np.broadcast_to(_visited_keys(n, chunk, topk), keys.shape))
        assert int(keys.sum()) / keys.size == moba_mean_keys(n, chunk, topk)


def _traced_moba(tiny, n: int, device: str = "cpu") -> list[dict]:
    from neurosim.run import Settings, execute

    summ = execute(Settings(model=str(tiny), prompt=PROMPT * 20, max_tokens=n, mode="int8", device=device),
                   quiet=True)
    return [L["attention"] for L in summ["layers"] if L.get("attention", {}).get("type") == "moba"]


@pytest.mark.parametrize("n", [7, 33, 100])
def test_traced_moba_mean_keys_equal_the_exact_count(tiny, n):
    """A run of the tiny SpB2.0 (MoBA chunk 8, top-2) on the numpy backend records the exact mean
    visited keys, at lengths inside, at and past chunk x top-k and not multiples of the chunk."""
    from hwmodels.context_energy import moba_key_share, moba_mean_keys

    moba = _traced_moba(tiny, n)
    assert moba and all(a["queries"] == n and (a["chunk"], a["topk"]) == (8, 2) for a in moba)
    for a in moba:
        assert a["mean_keys"] == moba_mean_keys(n, 8, 2)
        assert a["key_fraction"] == pytest.approx(moba_key_share(n, 8, 2), rel=1e-12)
    assert (moba[0]["key_fraction"] == 1.0) == (n <= 16)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [33, 100])
def test_torch_traced_moba_mean_keys_equal_the_exact_count(tiny, n):
    """The torch backend (``TorchModel``, from its per-query counts) records the same exact mean keys."""
    from hwmodels.context_energy import moba_mean_keys
    from neurosim.model import Model, load_checkpoint
    from neurosim.model.torch_network import TorchModel

    ids = np.random.default_rng(n).integers(0, 512, n)
    net = TorchModel(Model(load_checkpoint(tiny)), "cpu")
    net.forward(ids)
    moba = [st for st in net.attention_stats.values() if st["type"] == "moba"]
    assert moba and all(st["mean_keys"] == moba_mean_keys(n, 8, 2) for st in moba)


def test_baseline_comparison_uses_the_fields_both_record():
    """An earlier trace without ``mean_keys`` compares equal on the fields both record, and says
    which field it lacks; a differing shared field or a layer missing its statistics differs."""
    from benchmarks.longctx import same_attention

    new = [dict(type="moba", key_fraction=0.5, mean_keys=10.5), None, dict(type="full", key_fraction=1.0)]
    old = [dict(type="moba", key_fraction=0.5), None, dict(type="full", key_fraction=1.0)]
    assert same_attention(old, new) == (True, ["mean_keys"])
    assert same_attention(new, new) == (True, [])
    assert same_attention([dict(old[0], key_fraction=0.4)] + old[1:], new)[0] is False
    assert same_attention(old[:2] + [None], new)[0] is False


def test_baseline_runs_the_earlier_neurosim_with_this_checkouts_benchmarks(tmp_path):
    """``--baseline SRC`` imports neurosim from SRC and the benchmarks from this checkout (not SRC's own);
    a folder without a neurosim package and a failing run are one-line errors."""
    from benchmarks.earlier import ROOT, with_package

    old = tmp_path / "old"
    (old / "neurosim").mkdir(parents=True)
    (old / "neurosim" / "__init__.py").write_text("VERSION = 'earlier'\n")
    (old / "benchmarks").mkdir()
    (old / "benchmarks" / "__init__.py").write_text("raise ImportError('the earlier benchmarks')\n")
    got = with_package(str(old), "import neurosim, benchmarks", "[neurosim.VERSION, benchmarks.__file__]")
    assert got == ["earlier", str(ROOT / "benchmarks" / "__init__.py")]
    with pytest.raises(RuntimeError, match="holds no neurosim package"):
        with_package(str(tmp_path), "", "1")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        with_package(str(old), "", "1 / 0")


def test_measuring_command_is_recorded_as_run_and_listed_in_the_header():
    """Each measuring call's command, flags as given (paths named DIR and SRC), heads the rendering;
    optional flags left out are not named."""
    import argparse

    from benchmarks.longctx import invocation
    from benchmarks.longctx_report import render

    full = argparse.Namespace(tokens="4096,131072", baseline="/x/old", check_blocks=True, refuse=1048576, memory_gib=79.0,
                              repeats=0)
    bare = argparse.Namespace(tokens="4096,262144", baseline=None, check_blocks=False, refuse=None, memory_gib=None,
                              repeats=0)
    assert invocation(full) == ("python -m benchmarks.longctx --spb5b DIR --tokens 4096,131072 --baseline SRC "
                                "--check-blocks --refuse 1048576 --memory-gib 79")
    assert invocation(bare) == "python -m benchmarks.longctx --spb5b DIR --tokens 4096,262144"
    assert invocation(argparse.Namespace(**dict(vars(full), repeats=5))).endswith("--memory-gib 79 --repeats 5")
    head = render({"commands": [invocation(full), invocation(bare)]}).splitlines()[0]
    assert head.startswith(f"Long context (`{invocation(full)}`, then `{invocation(bare)}`)")


def test_alternating_timings_give_medians_and_the_ratio():
    """Repeated runs of this code and the earlier one: medians of fp + spike + accuracy and their ratio;
    a pair whose earlier run failed is left out."""
    from benchmarks.longctx_report import timing_sentence

    def ph(t):
        return dict(fp_s=t, spike_s=1.0, accuracy_s=0.0)
    pairs = [dict(current=ph(c), baseline=ph(b)) for c, b in ((2.0, 3.0), (1.0, 2.0), (5.0, 1.5))]
    text = timing_sentence(pairs + [dict(current=ph(9.0), baseline=None)])
    assert text.startswith("Timed 3 more times each, alternating: median fp + spike + accuracy 3.00 s against 3.00 s")
    assert "(1.000x; fastest 2.00 s against 2.50 s)" in text


def test_reach_names_the_longest_run_and_the_peak_share_per_gpu():
    """Per GPU the longest run and the range of peak / estimate; no H200 run is said so."""
    from benchmarks.longctx_report import _reach_lines

    run = dict(gpu="G", tokens=4096, peak_gib=30.0, estimate_gib=40.0, phases=dict(total_s=7.0))
    long = dict(run, tokens=131072, peak_gib=45.0, estimate_gib=50.0, phases=dict(total_s=300.0))
    text = " ".join(_reach_lines([run, long]))
    assert "Reach on the G: 131,072 tokens ran (peak 45.0 GiB, estimate 50.0 GiB, run 300 s)" in text
    assert "0.75 to 0.90 of its estimate" in text and "No run on an H200" in text
    assert "No run on an H200" not in " ".join(_reach_lines([dict(run, gpu="NVIDIA H200")]))


def test_energy_table_checks_the_measured_moba_fraction():
    """Rendering checks each GPU run's MoBA statistics against the exact count and refuses a run
    that disagrees; the rows cover 4,096 x 2^k up to 1,048,576 tokens and the measured lengths."""
    from benchmarks.longctx_report import ENERGY_LENGTHS, measured_moba
    from hwmodels.context_energy import moba_key_share, moba_mean_keys

    run = dict(tokens=65536, gpu="G", moba_key_fraction=moba_key_share(65536, 4096, 12),
               moba_key_fractions=[moba_key_share(65536, 4096, 12)] * 2, moba_mean_keys=[moba_mean_keys(65536, 4096, 12)])
    assert measured_moba({"runs": {"a": run}}, 4096, 12) == {65536: dict(gpus=["G"], key_fraction=run["moba_key_fraction"])}
    with pytest.raises(ValueError, match="key fraction measured at 65,536 tokens on the G"):
        measured_moba({"runs": {"a": dict(run, moba_key_fraction=1.0)}}, 4096, 12)
    with pytest.raises(ValueError, match="mean keys measured at 65,536 tokens"):
        measured_moba({"runs": {"a": dict(run, moba_mean_keys=[32768.5])}}, 4096, 12)
    assert ENERGY_LENGTHS[0] == 4096 and ENERGY_LENGTHS[-1] == 1 << 20


def test_energy_section_rows_crossovers_and_a_refused_run():
    """From the committed energy.json: a row per scenario at every 4,096 x 2^k length up to 1,048,576
    plus a measured one, MoBA equal to dense attention's keys up to chunk x top-k and fewer beyond,
    the crossovers the first lengths where the context terms reach the projections; a measured run
    whose fraction is not the exact one stops the rendering."""
    import json
    from pathlib import Path

    from benchmarks.longctx_report import ENERGY_LENGTHS, energy_section
    from hwmodels.context_energy import moba_key_share

    energy = json.loads((Path(__file__).parent.parent / "docs" / "results" / "energy.json").read_text())
    run = dict(tokens=100000, gpu="G", moba_key_fraction=moba_key_share(100000, 4096, 12))
    en = energy_section({"runs": {"a": run}}, energy)
    assert en["measured_lengths"] == [100000] and len(en["scenarios"]) == 2
    for sc in en["scenarios"]:
        rs = [r for r in en["rows"] if r["scenario"] == sc["label"]]
        assert [r["tokens"] for r in rs] == sorted([*ENERGY_LENGTHS, 100000])
        for r in rs:
            assert (r["moba_mean_keys"] == r["causal_keys"]) == (r["tokens"] <= 49152)
            assert r["moba_mean_keys"] <= r["causal_keys"] and r["measured_on"] == (["G"] if r["tokens"] == 100000 else [])
        for key, n in (("context_uj", sc["crossover_moba_tokens"]), ("context_dense_uj", sc["crossover_dense_tokens"])):
            assert all((r[key] >= r["projections_mac_uj"]) == (r["tokens"] >= n) for r in rs)
    with pytest.raises(ValueError, match="100,000 tokens on the G"):
        energy_section({"runs": {"a": dict(run, moba_key_fraction=0.5)}}, energy)


@pytest.mark.gpu
def test_logit_rows_give_the_metrics_of_their_rows(tiny, monkeypatch):
    """``forward(rows=True)``: the whole logits while small (today's product); beyond
    ``LOGIT_ELEMENTS`` a ``LogitRows`` whose blocks are the head of those rows, with the accuracy
    metrics and perplexity of the whole logits up to the float order of the head's product, and the
    same greedy continuation."""
    import torch

    from neurosim.model import Model, load_checkpoint
    from neurosim.model import torch_network as TN
    from neurosim.model.network import DecodeCache
    from neurosim.run import torch_fidelity as TF

    ids = np.random.default_rng(5).integers(0, 512, 300)
    net = TN.TorchModel(Model(load_checkpoint(tiny)), "cpu")
    whole = net.forward(ids)
    assert torch.equal(net.forward(ids, rows=True), whole)
    monkeypatch.setattr(TN, "LOGIT_ELEMENTS", 1000)
    rows = net.forward(ids, rows=True)
    assert isinstance(rows, TN.LogitRows) and rows.shape == tuple(whole.shape)
    with torch.inference_mode():
        assert torch.equal(rows[10:20], net.head(rows.h[10:20])) and torch.equal(rows[-1], net.head(rows.h[-1:])[0])
    np.testing.assert_allclose(rows[0:300].numpy(), whole.numpy(), rtol=0, atol=1e-6)
    q = whole * 1.01
    got, ref = TF.torch_accuracy(rows, q, ids), TF.torch_accuracy(whole, q, ids)
    assert got.keys() == ref.keys()
    for key in ref:
        assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-9)
    assert TF.torch_perplexity(rows, ids) == pytest.approx(TF.torch_perplexity(whole, ids), rel=1e-9)
    gens = []
    for lazy in (False, True):
        cache = DecodeCache(net.n_layers)
        logits = net.forward(ids[:40], cache=cache, rows=lazy)
        gens.append(net.generate(ids[:40], 4, cache=cache, logits=logits).tolist())
    assert gens[0] == gens[1]


def test_golden_moba_selection_in_row_blocks_is_unchanged(monkeypatch):
    """The golden model's MoBA selection scored a few query rows at a time equals the one-block selection."""
    from neurosim.model import layers as L

    rng = np.random.default_rng(12)
    q, k = rng.standard_normal((300, 4, 16)).astype(np.float32), rng.standard_normal((300, 2, 16)).astype(np.float32)
    whole = L.moba_select(q, k, 8, 3)
    monkeypatch.setattr(L, "MOBA_SCORES", 4 * 38 * 7)      # 7 rows per block
    np.testing.assert_array_equal(L.moba_select(q, k, 8, 3), whole)
    assert whole.sum(axis=2).max() == 3
