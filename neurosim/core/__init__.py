"""The golden integer model: INT8 quantizers, the four spike codings, the event-driven engine and
its exact dense counterpart.

Everything that must agree bit for bit (simulator, cocotb expectations, hardware stimulus) derives
from these functions. The public face (names load lazily from ``quant``, ``coding``, ``engine``, ``dense``)::

    from neurosim.core import quantize_activations, encode, spike_linear, dense_linear
"""

from neurosim.face import lazy_face

__all__, __getattr__, __dir__ = lazy_face(__name__, {
    "quant": ("SCALES", "VTH_MIN", "VTH_MAX", "ActQuant", "WeightQuant", "quantize_activations", "quantize_weights",
              "dequant_linear"),
    "coding": ("CODINGS", "BITWISE", "INT8_WINDOW", "WINDOW3", "check_coding", "count_range", "required_steps", "fits",
               "resolve_steps", "step_weights", "encode", "decode", "spike_counts_per_value", "spike_stats",
               "count_histogram", "histogram_stats"),
    "engine": ("MAX_TILE", "K_BUDGET", "FLUSH", "SpikeLinearResult", "PackedWeights", "int_linear", "spike_linear"),
    "dense": ("F32_EXACT", "F64_EXACT", "MIN_CHUNK", "exact_chunk", "exact_linear", "spike_events", "dense_linear"),
})
