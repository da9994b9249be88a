"""The projection hook of one eval setting: the run's fidelity (:class:`~neurosim.run.fidelity.Int8Projection`
or :class:`~neurosim.run.fidelity.SpikeProjection`) inside a :class:`~neurosim.run.recorder.Recorder`
in its lean recording mode, one spike record per projection call (:func:`neurosim.run.evalstats.count_record`)."""

from __future__ import annotations

from neurosim.run import evalstats as ES
from neurosim.run.eval_settings import QuantSetting
from neurosim.run.fidelity import Int8Projection, Product, QuantizedProjection, Quantization, SpikeProjection
from neurosim.run.recorder import Recorder

__all__ = ["eval_hook", "projection_windows"]


def _projection(q: QuantSetting, quant: Quantization) -> QuantizedProjection:
    """The run's projection of mode ``q.mode`` (spike: the event-driven engine)."""
    return (SpikeProjection if q.mode == "spike" else Int8Projection)(quant, q.projections)


def eval_hook(q: QuantSetting, kinds: dict[str, str], keep_weights: bool = False) -> Recorder:
    """The model's ``linear`` hook of setting ``q``: quantize, multiply exactly, dequantize (the run's
    products, so the logits equal ``neurosim run``'s bit for bit) and record each call's counts in the
    projection's fixed window (``window_for``: window T, absmax levels ``window_levels(T)``).
    kinds: weight name -> layer kind (:func:`neurosim.run.fidelity.projection_kinds`). ``records``
    holds one record per projection until cleared. keep_weights: keep each quantized weight across
    forward passes (not for models too large to hold them)."""
    quant = Quantization.from_settings(q)
    projection = _projection(q, quant)
    if keep_weights:
        projection.weight_cache = {}

    def lean(name: str, p: Product) -> dict:
        acts, wq = p.acts, p.weights
        assert acts is not None and wq is not None, "the recorder records quantized products only"
        T_fix = quant.plan(name)[1]
        rec = ES.count_record(acts.counts, quant.coding, T_fix)
        rec.update(name=name, kind=ES.projection_kind(name), out_features=int(wq.w_int.shape[0]),
                   clamped=acts.clamped, T_window=T_fix)
        if p.events is not None:  # the engine's events (spike mode); int8 counts them from the counts
            rec["events"] = p.events
        return rec

    return Recorder(projection, kinds, lean=lean)


def projection_windows(q: QuantSetting, names) -> dict[str, int]:
    """Weight name -> fixed window T (steps) of every projection in ``names`` that setting ``q`` quantizes."""
    quant = Quantization.from_settings(q)
    projection = _projection(q, quant)
    return {nm: quant.plan(nm)[1] for nm in names if projection.selected(nm)}
