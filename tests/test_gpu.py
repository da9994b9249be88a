"""The CUDA backend (neurosim.core.gpu): bit-identical integer products and event counts against the
CPU golden model. Tests marked ``gpu`` need PyTorch and a CUDA GPU: ``make test-gpu`` runs them,
``make test`` deselects them (-m "not gpu"). The CPU-side checks (the one-line errors) run everywhere."""

import sys
import types

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.core.coding import CODINGS, required_steps
from neurosim.core.engine import int_linear, spike_linear

PROMPT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


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


# --- on a CUDA GPU ---

def _cases(rng):
    for M, K, N in [(1, 5, 3), (7, 13, 17), (17, 64, 40), (40, 576, 1536), (3, 9728, 300)]:
        c = rng.integers(-127, 128, (M, K)).astype(np.int32)
        c[:, ::3] = 0
        yield c, rng.integers(-128, 128, (N, K)).astype(np.int8)
    K = 9728  # the int32 bound at its worst: 127 * 128 * 9728 < 2^31
    yield np.full((2, K), -127, np.int32), np.full((3, K), -128, np.int8)
    yield np.full((2, K), 127, np.int32), np.full((3, K), -128, np.int8)


@pytest.mark.gpu
def test_cuda_products_bit_identical_to_cpu():
    from neurosim.core.gpu import cuda_exact_linear

    rng = np.random.default_rng(0)
    for c, w in _cases(rng):
        ref = int_linear(c, w)
        got = cuda_exact_linear(c, w)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, ref)
    wide = rng.integers(-5000, 5000, (20, 300))  # counts beyond int8 (adaptive, no clamp): float64 path
    w = rng.integers(-128, 128, (33, 300)).astype(np.int8)
    np.testing.assert_array_equal(cuda_exact_linear(wide, w), int_linear(wide, w))


@pytest.mark.gpu
@pytest.mark.parametrize("coding", [c for c in CODINGS if c != "binary"])
def test_cuda_events_and_products_equal_engine(coding):
    from neurosim.core.gpu import WeightCache, cuda_dense_linear, require_cuda

    rng = np.random.default_rng(1)
    cache = WeightCache()
    for i, (c, w) in enumerate(_cases(rng)):
        T = required_steps(c, coding)
        ev = spike_linear(c, w, coding, T)
        w_gpu = cache.get(("w", i), w, require_cuda(), "cuda")
        gp = cuda_dense_linear(c, w, coding, T, w_gpu=w_gpu)
        np.testing.assert_array_equal(gp.out, ev.out)
        assert (gp.events, gp.accumulates, gp.dense_macs) == (ev.events, ev.accumulates, ev.dense_macs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from neurosim.cli import main

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(out)]) == 0
    return out


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["int8", "spike"])
def test_cuda_run_identical_to_cpu(tiny, mode):
    from neurosim.run import Settings, execute

    cpu = execute(Settings(model=str(tiny), prompt=PROMPT, mode=mode).validate(), quiet=True)
    gpu = execute(Settings(model=str(tiny), prompt=PROMPT, mode=mode, device="cuda").validate(), quiet=True)
    # the quantized pass: identical INT8 counts, integers, events and statistics
    assert gpu["totals"] == cpu["totals"] and gpu["layers"] == cpu["layers"]
    assert cpu["totals"]["events"] > 0
    # the float reference pass ran on the GPU (float32, another summation order): close, not equal
    assert gpu["accuracy"]["ppl_fp"] == pytest.approx(cpu["accuracy"]["ppl_fp"], rel=1e-4)


@pytest.mark.gpu
def test_cuda_float_pass_close_to_cpu(tiny):
    from neurosim.model import Model, load_checkpoint
    from neurosim.run.fidelity import CudaFloatProjection

    model = Model(load_checkpoint(tiny))
    ids = np.arange(1, 40)
    cpu, gpu = model.forward(ids), model.forward(ids, linear=CudaFloatProjection())
    assert gpu.shape == cpu.shape and gpu.dtype == cpu.dtype
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3 * float(np.abs(cpu).max()))
