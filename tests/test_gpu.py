"""The torch backend (``--device cuda``): neurosim.core.gpu (quantizers, exact products, count
histograms on tensors), neurosim.model.torch_layers / torch_network (the forward on a device) and
neurosim.run.torch_fidelity (projections, recorder, accuracy), against the CPU golden model.

Markers: ``gpu`` = needs PyTorch (the extra neurosim[gpu]); ``cuda`` = needs a CUDA GPU too (every
cuda test also carries ``gpu``). ``make test`` deselects ``gpu``; ``make test-torch`` runs the
``gpu and not cuda`` tests on PyTorch's CPU device; ``make test-gpu`` runs all of them. The checks of
the one-line errors (no PyTorch, no GPU) run everywhere."""

import sys
import types

import numpy as np
import pytest

from benchmarks.gpu_report import record_schema
from neurosim import NeurosimError
from neurosim.core.coding import CODINGS, count_histogram, required_steps
from neurosim.core.engine import int_linear, spike_linear
from neurosim.core.quant import dequant_linear, quantize_activations, quantize_weights

PROMPT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"
#: the torch device of a test: PyTorch's CPU device (marker gpu) or a CUDA GPU (gpu + cuda)
DEVICES = [pytest.param("cpu", marks=pytest.mark.gpu),
           pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.cuda])]


def _fake_torch(monkeypatch, available: bool):
    fake = types.ModuleType("torch")
    fake.cuda = types.SimpleNamespace(is_available=lambda: available)
    monkeypatch.setitem(sys.modules, "torch", fake)


def test_device_cuda_without_torch_or_gpu_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    from neurosim.cli import main
    from neurosim.core.gpu import require_cuda

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(NeurosimError, match=r"needs PyTorch.*neurosim\[gpu\]"):
        require_cuda()
    out = tmp_path / "t"
    assert main(["run", "--device", "cuda", "--trace", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs PyTorch" in err and len(err.splitlines()) == 1
    assert not out.exists()
    _fake_torch(monkeypatch, available=False)
    assert main(["run", "--device", "cuda", "--mode", "int8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no usable CUDA GPU" in err and len(err.splitlines()) == 1


def test_device_cuda_rejects_the_event_engine(monkeypatch):
    from neurosim.run import Settings

    _fake_torch(monkeypatch, available=True)
    with pytest.raises(NeurosimError, match="engine event runs on the CPU"):
        Settings(device="cuda", engine="event").validate()
    with pytest.raises(NeurosimError, match="unknown device"):
        Settings(device="tpu").validate()


# --- the integer core on tensors: bit-identical to the golden model given the same inputs ---

def _cases(rng):
    for M, K, N in [(1, 5, 3), (7, 13, 17), (17, 64, 40), (40, 576, 1536), (3, 9728, 300)]:
        c = rng.integers(-127, 128, (M, K)).astype(np.int32)
        c[:, ::3] = 0
        yield c, rng.integers(-128, 128, (N, K)).astype(np.int8)
    K = 9728  # the int32 bound at its worst: 127 * 128 * 9728 < 2^31
    yield np.full((2, K), -127, np.int32), np.full((3, K), -128, np.int8)
    yield np.full((2, K), 127, np.int32), np.full((3, K), -128, np.int8)


@pytest.mark.parametrize("device", DEVICES)
def test_products_bit_identical_to_cpu(device):
    from neurosim.core.gpu import cuda_exact_linear

    rng = np.random.default_rng(0)
    for c, w in _cases(rng):
        got = cuda_exact_linear(c, w, device=device)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, int_linear(c, w))
    wide = rng.integers(-5000, 5000, (20, 300))  # counts beyond int8 (adaptive, no clamp): float64 path
    w = rng.integers(-128, 128, (33, 300)).astype(np.int8)
    np.testing.assert_array_equal(cuda_exact_linear(wide, w, device=device), int_linear(wide, w))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("coding", [c for c in CODINGS if c != "binary"])
def test_events_and_products_equal_engine(device, coding):
    from neurosim.core.gpu import cuda_dense_linear

    rng = np.random.default_rng(1)
    for c, w in _cases(rng):
        T = required_steps(c, coding)
        ev = spike_linear(c, w, coding, T)
        gp = cuda_dense_linear(c, w, coding, T, device=device)
        np.testing.assert_array_equal(gp.out, ev.out)
        assert (gp.events, gp.accumulates, gp.dense_macs) == (ev.events, ev.accumulates, ev.dense_macs)


def _activations(rng, dtype=np.float32):
    x = (rng.standard_normal((37, 200)) * rng.lognormal(0, 2, (37, 1))).astype(dtype)
    x[3] = 0                           # an all-zero row: scale 1, counts 0
    x[5] = 1e-42 if dtype == np.float32 else 1e-300   # below float32's normal range: counts 0
    x[7, :4] = [1e4, -1e4, 0.5, -0.5]  # outliers: adaptive counts beyond the clamp
    x[9] = np.float32(127 * 0.25) * (np.arange(200) % 3 - 1)  # exact halves after the division
    return x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("scale,clamp,levels", [("absmax", 127, 127), ("absmax", 2047, 2047), ("absmax", 127, 100),
                                                ("adaptive", 127, 127), ("adaptive", None, 127)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_counts_identical_to_cpu(device, scale, clamp, levels, dtype):
    import torch

    from neurosim.core.gpu import quantize_activations_tensor

    x = _activations(np.random.default_rng(2), dtype)
    ref = quantize_activations(x, scale, k=3.0, clamp=clamp, levels=levels)
    got = quantize_activations_tensor(torch.from_numpy(x).to(device), scale, k=3.0, clamp=clamp, levels=levels)
    np.testing.assert_array_equal(got.counts.cpu().numpy(), ref.counts)
    np.testing.assert_array_equal(got.scale.cpu().numpy(), ref.scale)
    assert int(got.clamped) == ref.clamped and int(got.nonfinite) == 0
    assert got.bound >= int(np.abs(ref.counts).max())
    if scale == "adaptive" and clamp == 127:
        assert ref.clamped > 0   # the outliers were clamped on both


@pytest.mark.parametrize("device", DEVICES)
def test_quantizer_refuses_what_the_cpu_refuses(device):
    import torch

    from neurosim.core.gpu import quantize_activations_tensor

    x = torch.ones((2, 8), device=device)
    with pytest.raises(NeurosimError, match="unknown activation scale"):
        quantize_activations_tensor(x, "max")
    with pytest.raises(NeurosimError, match="clamp=None only applies to adaptive"):
        quantize_activations_tensor(x, "absmax", clamp=None)
    x[0, 0] = float("nan")
    assert int(quantize_activations_tensor(x).nonfinite) == 1  # counted; the recorder raises it
    with pytest.raises(NeurosimError, match="exceed int32"):
        quantize_activations_tensor(torch.full((1, 4), 3e38, device=device) * torch.tensor([1, 0, 0, 0],
                                    device=device), "adaptive", k=1e-30, clamp=None)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("group", [None, 8])
def test_weights_and_dequantization_identical_to_cpu(device, group):
    import torch

    from neurosim.core.gpu import dequant_linear_tensor, quantize_activations_tensor, quantize_weights_tensor

    rng = np.random.default_rng(3)
    w = (rng.standard_normal((48, 40)) * rng.lognormal(0, 1, (48, 1))).astype(np.float32)
    w[2] = 0
    w[4, :8] = 1e-40
    wq = quantize_weights(w, group_size=group)
    tq = quantize_weights_tensor(torch.from_numpy(w).to(device), group)
    np.testing.assert_array_equal(tq.w_int.cpu().numpy(), wq.w_int)
    np.testing.assert_array_equal(tq.scale.cpu().numpy(), wq.scale)
    assert tq.clamped == wq.clamped
    x = rng.standard_normal((30, 40)).astype(np.float32)
    for scale, clamp in (("absmax", 127), ("adaptive", None)):
        aq = quantize_activations(x, scale, clamp=clamp)
        ta = quantize_activations_tensor(torch.from_numpy(x).to(device), scale, clamp=clamp)
        y = dequant_linear_tensor(ta, tq).cpu().numpy()
        np.testing.assert_array_equal(y, dequant_linear(aq, wq))


@pytest.mark.parametrize("device", DEVICES)
def test_histogram_and_record_identical_to_cpu(device):
    import torch

    from neurosim.core.gpu import count_histogram_tensor, histogram_to_host
    from neurosim.run.fidelity import Quantization
    from neurosim.run.recorder import projection_record

    rng = np.random.default_rng(4)
    c = rng.integers(-127, 128, (50, 64)).astype(np.int32)
    c[:, ::4] = 0
    for bound in (127, 2047, 1 << 21):
        v, f = histogram_to_host(*count_histogram_tensor(torch.from_numpy(c).to(device), bound))
        ref_v, ref_f = count_histogram(c)
        np.testing.assert_array_equal(v, ref_v)
        np.testing.assert_array_equal(f, ref_f)
    for coding in ("bitwise", "bitwise_2c", "ternary"):
        q = Quantization(coding=coding)
        rec = projection_record("p", "mlp", v, f, quant=q, features=(64, 9), silent_channels=16,
                                clamped=0, weight_clamped=0)
        ev = spike_linear(c, rng.integers(-5, 5, (9, 64)).astype(np.int8), coding, rec["T_engine"])
        assert rec["events"] == ev.events and rec["accumulates"] == ev.accumulates
        assert rec["tokens"] == 50 and rec["silent_channel_fraction"] == 0.25


# --- the float layers on tensors (float64: equal to the numpy layers up to float order) ---

@pytest.mark.parametrize("device", DEVICES)
def test_attention_kinds_equal_numpy_layers(device):
    import torch

    from neurosim.model import layers as L
    from neurosim.model import torch_layers as TL

    rng = np.random.default_rng(5)
    S, H, KV, D = 700, 4, 2, 8     # more than one query block
    q, k, v = (rng.standard_normal((S, n, D)) for n in (H, KV, KV))
    qt, kt, vt = (torch.from_numpy(a).to(device) for a in (q, k, v))
    qpos = np.arange(S)
    for window in (None, 5):
        ref = L.attend(q, k, v, *L.window_segments(qpos, window))
        np.testing.assert_allclose(TL.attention(qt, kt, vt, 0, 0, window).cpu().numpy(), ref, rtol=1e-10, atol=1e-12)
    sel = L.moba_select(q, k, 64, 3)
    np.testing.assert_array_equal(TL.moba_select(qt, kt, 64, 3).cpu().numpy(), sel)
    ref = L.attend(q, k, v, *L.moba_segments(sel, 64, 3))
    got = TL.attention(qt, kt, vt, 0, 0, None, torch.from_numpy(sel).to(device), 64)
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-10, atol=1e-12)
    # a decode-style call: 3 queries at positions 100.. over a cache that starts at position 90
    base, pos0 = 90, 100
    ref = L.attend(q[:3], k[:13], v[:13], *L.window_segments(np.arange(pos0, pos0 + 3), 6, base))
    got = TL.attention(qt[:3], kt[:13], vt[:13], pos0, base, 6)
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_chunked_delta_rule_equals_recurrence(device):
    import torch

    from neurosim.model import layers as L
    from neurosim.model import torch_layers as TL

    rng = np.random.default_rng(6)
    T, H, Dk, Dv = 150, 3, 8, 6     # chunks of 64 and a ragged last chunk
    q = L.l2_normalize(rng.standard_normal((T, H, Dk)))
    k = L.l2_normalize(rng.standard_normal((T, H, Dk)))
    v = rng.standard_normal((T, H, Dv))
    g = -rng.uniform(0, 2, (T, H))
    beta = rng.uniform(0, 2, (T, H))
    s0 = rng.standard_normal((H, Dk, Dv))
    ref, ref_s = L.gated_delta_rule(q, k, v, g, beta, initial_state=s0)

    def heads(a):
        return torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, 1, 0))).to(device)

    for chunk in (64, 1, 200):
        o, s = TL.gated_delta_rule(heads(q), heads(k), heads(v), heads(g), heads(beta),
                                   torch.from_numpy(s0).to(device), chunk=chunk)
        np.testing.assert_allclose(np.moveaxis(o.cpu().numpy(), 0, 1), ref, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(s.cpu().numpy(), ref_s, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("router_weight", ["qk", "none", "output"])
def test_sse_recurrence_equals_numpy(device, router_weight):
    import torch

    from neurosim.model import layers as L
    from neurosim.model import torch_layers as TL

    rng = np.random.default_rng(7)
    S, H, D, P = 90, 2, 4, 4
    q1, k1, q2, k2, v = (rng.standard_normal((S, H, D)) for _ in range(5))
    g, beta = -rng.uniform(0, 1, (S, 2 * H)), rng.uniform(0, 1, (S, 2 * H))
    logits = rng.standard_normal((S, P))
    logits[:, 3] = -50   # partition 3 never routed: keeps its initial state
    idx, w, _ = L.sse_route(logits, 2)
    state = (rng.standard_normal((H, D, D)), rng.standard_normal((P, H, D, D)))
    ref, (rs, rp) = L.sse_recurrence(q1, k1, q2, k2, v, g, beta, idx, w, P, router_weight=router_weight,
                                     state=state, return_state=True)
    t = [torch.from_numpy(a).to(device) for a in (q1, k1, q2, k2, v, g, beta)]
    ti, tw = TL.sse_route(torch.from_numpy(logits).to(device), 2)
    np.testing.assert_array_equal(ti.cpu().numpy(), idx)
    got, (gs, gp) = TL.sse_recurrence(*t, ti, tw, P, router_weight=router_weight,
                                      state=tuple(torch.from_numpy(a).to(device) for a in state))
    np.testing.assert_allclose(got.cpu().numpy(), ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gs.cpu().numpy(), rs, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gp.cpu().numpy(), rp, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(gp[3].cpu().numpy(), state[1][3])


# --- end to end on the tiny checkpoints ---

@pytest.fixture(scope="module", params=["sse_swa_moba", "qwen3", "qwen2", "llama"])
def arch_ckpt(request, tmp_path_factory):
    from neurosim.model import make_checkpoint

    out = tmp_path_factory.mktemp("ckpt") / request.param
    make_checkpoint(out, request.param, "tiny", seed=1)
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_forward_counts_and_records_match_cpu(arch_ckpt, device):
    from neurosim.model import Model, load_checkpoint
    from neurosim.model.torch_network import TorchModel
    from neurosim.run.fidelity import Quantization, SpikeProjection, projection_kinds
    from neurosim.run.recorder import Recorder
    from neurosim.run.metrics import accuracy
    from neurosim.run.torch_fidelity import TorchQuantizedProjection, TorchRecorder, torch_accuracy

    model = Model(load_checkpoint(arch_ckpt))
    ids = np.random.default_rng(8).integers(0, model.vocab_size, 70)
    kinds = projection_kinds(model)
    net = TorchModel(Model(load_checkpoint(arch_ckpt)), device)
    fp, fp_t = model.forward(ids), net.forward(ids)
    scale = np.abs(fp).max()
    np.testing.assert_allclose(fp_t.cpu().numpy(), fp, rtol=0, atol=1e-5 * scale)
    assert net.attention_stats == model.attention_stats
    q = Quantization()
    rec = Recorder(SpikeProjection(q, engine="dense"), kinds, keep_counts=True)
    trec = TorchRecorder(TorchQuantizedProjection("spike", q), kinds, keep_counts=True)
    lg, lg_t = model.forward(ids, linear=rec), net.forward(ids, linear=trec)
    cpu_recs, gpu_recs = rec.ordered_records(), trec.ordered_records()
    assert [r["name"] for r in gpu_recs] == [r["name"] for r in cpu_recs] == list(kinds)
    same = sum(int((rec.counts[n] == trec.counts[n]).sum()) for n in kinds)
    total = sum(rec.counts[n].size for n in kinds)
    assert same / total >= 0.999, same / total          # float order may flip a count, rarely
    for a, b in zip(cpu_recs, gpu_recs):
        assert record_schema(a) == record_schema(b)
        if np.array_equal(rec.counts[a["name"]], trec.counts[a["name"]]):
            assert a == b                               # identical counts: identical record
    np.testing.assert_allclose(lg_t.cpu().numpy(), lg, rtol=0, atol=1e-4 * scale)
    acc, acc_t = accuracy(fp, lg, ids), torch_accuracy(fp_t, lg_t, ids)
    assert acc.keys() == acc_t.keys()
    assert acc_t["ppl_fp"] == pytest.approx(acc["ppl_fp"], rel=1e-5)
    exact = torch_accuracy(*(net.torch.from_numpy(a).to(device) for a in (fp, lg)), ids)
    for key in acc:
        assert exact[key] == pytest.approx(acc[key], rel=1e-9, abs=1e-15)   # KL: a sum of small differences


@pytest.mark.parametrize("device", DEVICES)
def test_cached_decode_matches_cpu(arch_ckpt, device):
    from neurosim.model import Model, load_checkpoint
    from neurosim.model.decode_cache import DecodeCache
    from neurosim.model.torch_network import TorchModel

    model = Model(load_checkpoint(arch_ckpt))
    net = TorchModel(Model(load_checkpoint(arch_ckpt)), device)
    ids = np.random.default_rng(9).integers(0, model.vocab_size, 25)
    out = []
    for m in (model, net):
        cache = DecodeCache(m.n_layers)
        first = m.forward(ids[:20], cache=cache)[-1]
        steps = [m.decode_step(int(t), cache) for t in ids[20:]]
        out.append(np.stack([np.asarray(x.cpu() if hasattr(x, "cpu") else x) for x in [first] + steps]))
    np.testing.assert_allclose(out[1], out[0], rtol=0, atol=1e-5 * np.abs(out[0]).max())
    with pytest.raises(NeurosimError, match="CPU model only"):
        net.generate(ids, 2, use_cache=False)


@pytest.fixture
def torch_as_cuda(monkeypatch):
    """``--device cuda`` on PyTorch's CPU device (the runner's torch path without a GPU)."""
    import torch

    from neurosim.core import gpu

    if not torch.cuda.is_available():
        monkeypatch.setattr(gpu, "require_cuda", gpu.require_torch)
        monkeypatch.setattr(gpu, "torch_device", lambda device: (torch, torch.device("cpu")))


@pytest.mark.gpu
@pytest.mark.parametrize("mode,window_for", [("int8", {}), ("spike", {"down_proj": 11})])
def test_run_on_torch_has_the_cpu_summary(tiny, mode, window_for, tmp_path, torch_as_cuda):
    """``execute`` with device cuda (on a GPU, or PyTorch's CPU): the summary and trace of the CPU run
    (with a longer window for the down projections: their counts beyond INT8, the float64 product)."""
    from neurosim.run import Settings, execute, read_histograms, read_summary

    runs = {}
    for device in ("cpu", "cuda"):
        s = Settings(model=str(tiny), prompt=PROMPT, mode=mode, device=device, generate=3, window_for=window_for,
                     engine="dense" if mode == "spike" else None, trace=str(tmp_path / device)).validate()
        runs[device] = execute(s, quiet=True)
    cpu, gpu = runs["cpu"], runs["cuda"]
    assert record_schema(gpu["layers"]) == record_schema(cpu["layers"])
    assert record_schema(gpu["totals"]) == record_schema(cpu["totals"])
    assert gpu["totals"]["activations"] == cpu["totals"]["activations"] > 0
    assert gpu["totals"]["events"] == pytest.approx(cpu["totals"]["events"], rel=1e-3)
    assert [L.get("attention") for L in gpu["layers"]] == [L.get("attention") for L in cpu["layers"]]
    assert gpu["accuracy"]["ppl_fp"] == pytest.approx(cpu["accuracy"]["ppl_fp"], rel=1e-4)
    assert gpu["generated"]["ids"] == cpu["generated"]["ids"]
    for run in (cpu, gpu):
        downs = [r for L in run["layers"] for r in L["projections"] if "down_proj" in r["name"]]
        assert all(r["T_fixed"] == (11 if window_for else 7) for r in downs)
    assert gpu["tiles"] == cpu["tiles"] and len(gpu["tiles"]) == Settings().tiles
    assert {"weights_s", "fp_s", f"{mode}_s"} <= set(gpu["_timing"])
    a, b = read_summary(tmp_path / "cpu"), read_summary(tmp_path / "cuda")
    assert record_schema(a) == record_schema(b)
    assert read_histograms(tmp_path / "cpu").keys() == read_histograms(tmp_path / "cuda").keys()
