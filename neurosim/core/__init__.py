"""The golden integer model: INT8 quantizers, the four spike codings, and the event-driven engine.

Everything that must agree bit for bit (simulator, cocotb expectations, hardware stimulus) derives
from these functions. The public face (names load lazily from ``quant``, ``coding``, ``engine``)::

    from neurosim.core import quantize_activations, encode, spike_linear
"""

from neurosim.face import lazy_face

__all__, __getattr__, __dir__ = lazy_face(__name__, {
    "quant": ("SCALES", "VTH_MIN", "VTH_MAX", "ActQuant", "WeightQuant", "quantize_activations", "quantize_weights",
              "dequant_linear"),
    "coding": ("CODINGS", "BITWISE", "INT8_WINDOW", "WINDOW3", "check_coding", "required_steps", "fits",
               "resolve_steps", "step_weights", "encode", "decode", "spike_counts_per_value", "spike_stats"),
    "engine": ("TILE", "FLUSH", "SpikeLinearResult", "PackedWeights", "int_linear", "spike_linear"),
})
