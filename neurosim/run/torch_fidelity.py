"""The fidelities and the recorder of :mod:`neurosim.run.fidelity` for the torch forward
(:class:`neurosim.model.torch_network.TorchModel`, ``--device cuda``): tensors in, tensors out.

* :class:`TorchFloatProjection` (``fp``): ``x @ w.T`` in the model dtype.
* :class:`TorchQuantizedProjection` (``int8`` and ``spike``: the same integers; spike mode is the
  dense path, its events counted from the counts): activations quantized per token row and
  weights per output channel (or group) on the device (:mod:`neurosim.core.gpu`, the CPU's
  formulas), the exact integer product (int8 tensor cores, int32 accumulation), one dequantization.
  Each weight is quantized once, on first use.
* :class:`TorchRecorder`: the :class:`~neurosim.run.recorder.Recorder` of the torch forward. Per
  recorded projection it keeps, on the device, the histogram of the INT8 counts, the number of
  silent input channels, the clamp count and (for requested tiles) the tile's rows; they are copied
  to the host once, when the records are asked for, and turned into the same records by the same
  function (:func:`~neurosim.run.recorder.projection_record`), so the trace and ``summary.json``
  have the CPU run's schema.
* :func:`torch_accuracy` / :func:`torch_perplexity`: :func:`neurosim.run.metrics.accuracy` and the
  perplexity on device logits (float64, in row blocks), so the logits never leave the device.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Iterable

import numpy as np

from neurosim import NeurosimError
from neurosim.defaults import LANES
from neurosim.run.fidelity import Quantization
from neurosim.run.recorder import RecorderBase, projection_record, write_request_tile
from neurosim.run.tiles import tile_rows

__all__ = ["TorchFloatProjection", "TorchQuantizedProjection", "TorchRecorder", "torch_projection_for",
           "torch_accuracy", "torch_perplexity", "LOGIT_ROWS"]

#: logits rows per block of the float64 accuracy metrics (bounds the device memory they take)
LOGIT_ROWS = 256


class TorchFloatProjection:
    """Float reference on the device: ``x @ w.T`` in the model dtype."""

    mode = "fp"

    def selected(self, name: str) -> bool:
        """Every projection runs in float."""
        return True

    def __call__(self, name: str, x, w):
        return x @ w.T


class TorchQuantizedProjection:
    """int8 or spike mode on the device (see module docstring); ``product`` also returns the
    quantized activations and weights of a selected projection."""

    def __init__(self, mode: str, quant: Quantization = Quantization(), projections: Iterable[str] = ("*",)):
        if mode not in ("int8", "spike"):
            raise ValueError(f"mode must be 'int8' or 'spike', got {mode!r}")
        self.mode = mode
        self.quant = quant
        self.projections = tuple(projections)
        #: name -> TensorWeightQuant, filled on first use (the weights do not change during a run)
        self.weights: dict = {}

    def selected(self, name: str) -> bool:
        """Whether ``name`` matches one of the fnmatch patterns ``projections`` (others stay float)."""
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.projections)

    def weight_quant(self, name: str, w):
        """The quantized weights of ``name`` (quantized from ``w`` on first use)."""
        from neurosim.core.gpu import quantize_weights_tensor

        wq = self.weights.get(name)
        if wq is None:
            wq = self.weights[name] = quantize_weights_tensor(w, self.quant.weight_group)
        return wq

    def product(self, name: str, x, w):
        """``(y, acts, weights)``: the output [S, out] in x's dtype and, for a selected projection,
        its :class:`~neurosim.core.gpu.TensorActQuant` and :class:`~neurosim.core.gpu.TensorWeightQuant`
        (None, None for a float product)."""
        from neurosim.core.gpu import dequant_linear_tensor, quantize_activations_tensor

        if not self.selected(name):
            return x @ w.T, None, None
        q = self.quant
        _, _, clamp, levels = q.plan(name)
        aq = quantize_activations_tensor(x, q.scale, k=q.k, clamp=clamp, levels=levels)
        wq = self.weight_quant(name, w)
        return dequant_linear_tensor(aq, wq).to(x.dtype), aq, wq

    def __call__(self, name: str, x, w):
        return self.product(name, x, w)[0]


def torch_projection_for(s):
    """The torch projection of a :class:`neurosim.run.settings.Settings` (mode, quantization, patterns)."""
    if s.mode == "fp":
        return TorchFloatProjection()
    return TorchQuantizedProjection(s.mode, Quantization.from_settings(s), s.projections)


class TorchRecorder(RecorderBase):
    """The torch forward's ``linear`` hook around a :class:`TorchQuantizedProjection`: forwards every
    call and, while ``recording``, keeps each projection's statistics on the device (module
    docstring). Attributes and arguments as :class:`neurosim.run.recorder.Recorder`; ``records``,
    ``histograms`` and the tiles are complete after :meth:`finish` (``ordered_records`` calls it).
    ``keep_counts``: also keep every recorded projection's INT8 counts (host copies, in ``counts``),
    to compare them with a CPU run."""

    def __init__(self, projection: TorchQuantizedProjection, kinds: dict[str, str], *,
                 tiles: dict[str, str] | None = None, tiles_out: Path | None = None,
                 source: str = "smollm2-135m-instruct", keep_counts: bool = False):
        super().__init__(projection, kinds, tiles=tiles, tiles_out=tiles_out, source=source, keep_counts=keep_counts)
        self._pending: dict[str, dict] = {}
        self._tokens: int | None = None

    def __call__(self, name: str, x, w):
        y, aq, wq = self.projection.product(name, x, w)
        if self.recording and aq is not None:
            self._observe(name, aq, wq)
        return y

    def begin_pass(self, tokens: int) -> None:
        """A forward pass of ``tokens`` rows begins: its projections may come in row blocks, which
        :meth:`_observe` adds up (the tiles take their rows from the whole pass)."""
        self._tokens = tokens

    def _observe(self, name: str, aq, wq) -> None:
        """Add the statistics of one call (all the pass's rows of ``name``, or the next block of them)."""
        from neurosim.core.gpu import count_histogram_tensor

        c = aq.counts
        p = self._pending.get(name)
        if p is None or p["rows"] >= self._tokens_of(p):   # a new pass over this projection
            p = self._pending[name] = dict(hists=[], active=None, clamped=0, nonfinite=0, rows=0, wq=wq,
                                           in_f=int(c.shape[1]), tokens=self._tokens, tile=[], counts=[])
        a = p["rows"]
        p["hists"].append(count_histogram_tensor(c, aq.bound))
        active = (c != 0).any(dim=0)
        p["active"] = active if p["active"] is None else p["active"] | active
        p["clamped"] = p["clamped"] + aq.clamped
        p["nonfinite"] = p["nonfinite"] + aq.nonfinite
        p["rows"] = a + int(c.shape[0])
        if name in self.tile_requests and self.tiles_out is not None:
            rows = tile_rows(self._tokens_of(p))
            lo, hi = max(rows.start, a), min(rows.stop, p["rows"])
            if lo < hi:
                # copies: a view would keep the whole [rows, in] counts alive until the pass ends
                p["tile"].append((rows, c[lo - a:hi - a].clone(), aq.scale[lo - a:hi - a].clone()))
        if self.keep_counts:
            p["counts"].append(c)

    def _tokens_of(self, p: dict) -> int:
        """The rows of the pass a pending entry belongs to (its own rows without ``begin_pass``)."""
        return p["tokens"] if p["tokens"] is not None else p["rows"]

    def finish(self) -> None:
        """Copy the pending device statistics to the host and build the records, histograms and
        tiles. Non-finite activations (counted on the device) raise a one-line error here."""
        from neurosim.core.gpu import histogram_to_host

        q = self.projection.quant
        for name, p in self._pending.items():
            bad = int(p["nonfinite"])
            if bad:
                raise NeurosimError(f"activations of {name} contain {bad} NaN/inf value(s)")
            values, freq = _merged(histogram_to_host(*hist) for hist in p["hists"])
            self.histograms[name] = values, freq
            wq = p["wq"]
            self.records[name] = projection_record(
                name, self.kinds.get(name, "unknown"), values, freq, quant=q,
                features=(p["in_f"], int(wq.w_int.shape[0])), silent_channels=int((~p["active"]).sum()),
                clamped=int(p["clamped"]), weight_clamped=wq.clamped)
            if p["tile"] and self.tiles_out is not None:   # tiles are kept only with a folder
                import torch

                rows = p["tile"][0][0]
                counts = torch.cat([t[1] for t in p["tile"]])
                scale = torch.cat([t[2] for t in p["tile"]])
                path = self.tiles_out / f"{self.tile_requests[name]}.npz"
                write_request_tile(path, name, counts.cpu().numpy(), wq.w_int[:LANES].cpu().numpy(), q,
                                   scale.cpu().numpy(), f"{self.source}:{name}:tokens{rows.start}+")
                self.tiles_written.append(path.name)
            if p["counts"]:
                import torch

                self.counts[name] = torch.cat(p["counts"]).cpu().numpy()
        self._pending = {}

    def ordered_records(self) -> list[dict]:
        """The records in the model's call order (after :meth:`finish`)."""
        self.finish()
        return [self.records[n] for n in self.kinds if n in self.records]


def _merged(hists) -> tuple[np.ndarray, np.ndarray]:
    """One ``(values, freq)`` histogram from several (the row blocks of one projection)."""
    hists = list(hists)
    if len(hists) == 1:
        return hists[0]
    values = np.concatenate([v for v, _ in hists])
    freq = np.concatenate([f for _, f in hists])
    uniq, inv = np.unique(values, return_inverse=True)
    return uniq, np.bincount(inv, weights=freq, minlength=len(uniq)).astype(np.int64)


def _log_softmax(x):
    import torch

    x = x.to(torch.float64)
    m = x.amax(dim=-1, keepdim=True)
    return x - m - torch.log(torch.exp(x - m).sum(dim=-1, keepdim=True))


def torch_perplexity(logits, ids) -> float:
    """``neurosim.model.perplexity`` of device logits [S, vocab] (a tensor or a
    :class:`~neurosim.model.torch_network.LogitRows`): exp(mean next-token NLL), float64."""
    import torch

    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=logits.device)
    total = torch.zeros((), dtype=torch.float64, device=logits.device)
    for a in range(0, len(ids) - 1, LOGIT_ROWS):
        b = min(a + LOGIT_ROWS, len(ids) - 1)
        lp = _log_softmax(logits[a:b])
        total = total - lp.gather(1, ids_t[a + 1:b + 1, None]).sum()
    return float(np.exp(float(total) / (len(ids) - 1)))


def torch_accuracy(fp_logits, q_logits, ids) -> dict:
    """:func:`neurosim.run.metrics.accuracy` of device logits (tensors or
    :class:`~neurosim.model.torch_network.LogitRows`; same keys, float64 in row blocks)."""
    import torch

    n = int(fp_logits.shape[0])
    kl = torch.zeros((), dtype=torch.float64, device=fp_logits.device)
    same = torch.zeros((), dtype=torch.int64, device=fp_logits.device)
    for a in range(0, n, LOGIT_ROWS):
        bf, bq = fp_logits[a:a + LOGIT_ROWS], q_logits[a:a + LOGIT_ROWS]
        lp, lq = _log_softmax(bf), _log_softmax(bq)
        kl = kl + (torch.exp(lp) * (lp - lq)).sum()
        same = same + (bf.argmax(-1) == bq.argmax(-1)).sum()
    out = {"positions": n, "top1_agreement": int(same) / n, "mean_kl": float(kl) / n}
    if len(ids) > 1:
        out["ppl_fp"] = torch_perplexity(fp_logits, ids)
        out["ppl_quant"] = torch_perplexity(q_logits, ids)
        out["ppl_change"] = out["ppl_quant"] / out["ppl_fp"] - 1.0
    return out
