"""The projection hook of one eval setting: the run's fidelity (:class:`~neurosim.run.fidelity.Int8Projection`
or :class:`~neurosim.run.fidelity.SpikeProjection`) inside a :class:`~neurosim.run.fidelity.Recorder`
in its lean recording mode, one spike record per projection call (:func:`neurosim.run.evalstats.count_record`)."""

from __future__ import annotations

from neurosim.run import evalstats as ES
from neurosim.run.eval_settings import QuantSetting
from neurosim.run.fidelity import FIDELITIES, Product, Quantization, Recorder

__all__ = ["eval_hook", "projection_windows"]


def eval_hook(q: QuantSetting, kinds: dict[str, str]) -> Recorder:
    """The model's ``linear`` hook of setting ``q``: quantize, multiply exactly, dequantize (the run's
    products, so the logits equal ``neurosim run``'s bit for bit) and record each call's counts in the
    projection's fixed window (``window_for``: window T, absmax levels ``window_levels(T)``).
    kinds: weight name -> layer kind (:func:`neurosim.run.fidelity.projection_kinds`). ``records``
    holds one record per projection until cleared."""
    quant = Quantization.from_settings(q)
    projection = FIDELITIES[q.mode](quant, q.projections)

    def lean(name: str, p: Product) -> dict:
        T_fix = quant.plan(name)[1]
        rec = ES.count_record(p.acts.counts, quant.coding, T_fix)
        rec.update(name=name, kind=ES.projection_kind(name), out_features=int(p.weights.w_int.shape[0]),
                   clamped=p.acts.clamped, T_window=T_fix)
        if p.events is not None:  # the engine's events (spike mode); int8 counts them from the counts
            rec["events"] = p.events
        return rec

    return Recorder(projection, kinds, lean=lean)


def projection_windows(q: QuantSetting, names) -> dict[str, int]:
    """Weight name -> fixed window T (steps) of every projection in ``names`` that setting ``q`` quantizes."""
    quant = Quantization.from_settings(q)
    projection = FIDELITIES[q.mode](quant, q.projections)
    return {nm: quant.plan(nm)[1] for nm in names if projection.selected(nm)}
