"""The backends of a run, selected by name (``Settings.device``): ``cpu``, the golden numpy model with
the projections of :mod:`neurosim.run.fidelity`, and ``cuda``, the whole forward on the GPU
(:class:`neurosim.model.torch_network.TorchModel`, PyTorch) with those of :mod:`neurosim.run.torch_fidelity`.

Each is a :class:`Backend`: the network a model runs on, its projection and recorder, its accuracy
metrics. :func:`backend` returns the one of a name; :data:`BACKENDS` lists them.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

from neurosim import NeurosimError

__all__ = ["Backend", "CpuBackend", "TorchBackend", "BACKENDS", "backend", "projection_for"]


class Backend(Protocol):
    """What a run needs of the machinery a device runs on."""

    name: str
    #: extra keyword arguments of the network's ``forward`` (the GPU makes the logits in row blocks)
    forward_options: dict

    def check_memory(self, model, tokens: int, quantized: bool) -> None:
        """Refuse (one line, before any work) a pass the device cannot hold."""

    def network(self, model, timing: dict):
        """The network that runs ``model`` on the device (seconds of an upload added to ``timing``)."""

    def synchronize(self, net) -> None:
        """Wait until the device has finished the work queued on ``net`` (for timings)."""

    def projection(self, s):
        """The projection of settings ``s`` (mode, quantization, patterns, engine)."""

    def recorder(self, projection, kinds: dict[str, str], **options):
        """The recording hook around ``projection`` (arguments of :class:`neurosim.run.recorder.Recorder`)."""

    def hold_weights(self, projection, on: bool) -> None:
        """Keep each quantized weight across calls (``on``) or stop keeping them (decoding)."""

    def accuracy(self, fp_logits, q_logits, ids) -> dict:
        """:func:`neurosim.run.metrics.accuracy` of the network's logits."""

    def perplexity(self, logits, ids) -> float:
        """``exp(mean next-token NLL)`` of the network's logits."""


class CpuBackend:
    """The golden model: numpy forward, :mod:`neurosim.run.fidelity` projections."""

    name = "cpu"
    forward_options: dict = {}

    def check_memory(self, model, tokens: int, quantized: bool) -> None:
        """No check: the model's memory is the host's."""

    def network(self, model, timing: dict):
        """The model itself."""
        return model

    def synchronize(self, net) -> None:
        """Nothing to wait for."""

    def projection(self, s):
        """:class:`~neurosim.run.fidelity.FloatProjection`, ``Int8Projection`` or ``SpikeProjection``."""
        from neurosim.run.fidelity import FloatProjection, Int8Projection, Quantization, SpikeProjection

        if s.mode == "fp":
            return FloatProjection()
        q = Quantization.from_settings(s)
        if s.mode == "spike":
            return SpikeProjection(q, s.projections, engine=s.engine or "event")
        return Int8Projection(q, s.projections)

    def recorder(self, projection, kinds: dict[str, str], **options):
        """A :class:`neurosim.run.recorder.Recorder`."""
        from neurosim.run.recorder import Recorder

        return Recorder(projection, kinds, **options)

    def hold_weights(self, projection, on: bool) -> None:
        """The projection's weight cache (quantize each weight once while the weights are fixed)."""
        if not on:
            projection.weight_cache = None
        elif projection.weight_cache is None:
            projection.weight_cache = {}

    def accuracy(self, fp_logits, q_logits, ids) -> dict:
        """:func:`neurosim.run.metrics.accuracy`."""
        from neurosim.run.metrics import accuracy

        return accuracy(fp_logits, q_logits, ids)

    def perplexity(self, logits, ids) -> float:
        """:func:`neurosim.model.perplexity`."""
        from neurosim.model import perplexity

        return perplexity(logits, ids)


class TorchBackend:
    """The whole forward on a CUDA GPU (PyTorch): :mod:`neurosim.run.torch_fidelity` projections; the
    logits stay on the device."""

    name = "cuda"
    forward_options = {"rows": True}

    def check_memory(self, model, tokens: int, quantized: bool) -> None:
        """:func:`neurosim.model.torch_memory.check_fits` against the GPU's memory (no check on
        PyTorch's CPU device)."""
        from neurosim.core.gpu import torch_device
        from neurosim.model.torch_memory import check_fits

        torch, dev = torch_device("cuda")
        if dev.type == "cuda":
            total = torch.cuda.mem_get_info(dev)[1]
            check_fits(model.model_config, tokens, model.dtype.itemsize, quantized, total,
                       torch.cuda.get_device_name(dev))

    def network(self, model, timing: dict):
        """``model`` as a :class:`neurosim.model.torch_network.TorchModel` on the GPU; the upload's
        seconds are added to ``timing["weights_s"]``."""
        from neurosim.model.torch_network import TorchModel

        t0 = time.perf_counter()
        net = TorchModel(model, "cuda")
        net.synchronize()
        timing["weights_s"] = timing.get("weights_s", 0.0) + time.perf_counter() - t0
        return net

    def synchronize(self, net) -> None:
        """``net.synchronize()``."""
        net.synchronize()

    def projection(self, s):
        """:func:`neurosim.run.torch_fidelity.torch_projection_for`."""
        from neurosim.run.torch_fidelity import torch_projection_for

        return torch_projection_for(s)

    def recorder(self, projection, kinds: dict[str, str], **options):
        """A :class:`neurosim.run.torch_fidelity.TorchRecorder`."""
        from neurosim.run.torch_fidelity import TorchRecorder

        return TorchRecorder(projection, kinds, **options)

    def hold_weights(self, projection, on: bool) -> None:
        """Nothing: the torch projection keeps its quantized weights anyway."""

    def accuracy(self, fp_logits, q_logits, ids) -> dict:
        """:func:`neurosim.run.torch_fidelity.torch_accuracy`."""
        from neurosim.run.torch_fidelity import torch_accuracy

        return torch_accuracy(fp_logits, q_logits, ids)

    def perplexity(self, logits, ids) -> float:
        """:func:`neurosim.run.torch_fidelity.torch_perplexity`."""
        from neurosim.run.torch_fidelity import torch_perplexity

        return torch_perplexity(logits, ids)


#: device name -> its backend (the names of ``neurosim.run.settings.DEVICES``)
BACKENDS: dict[str, Callable[[], Backend]] = {"cpu": CpuBackend, "cuda": TorchBackend}


def backend(name: str) -> Backend:
    """The backend of device ``name``."""
    if name not in BACKENDS:
        raise NeurosimError(f"unknown device {name!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]()


def projection_for(s):
    """The projection of a :class:`neurosim.run.settings.Settings` on its device (``s.device``)."""
    return backend(s.device).projection(s)
