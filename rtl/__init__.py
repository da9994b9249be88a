"""RTL generators (Amaranth): the event-driven spiking accumulate unit, the INT8 MAC baseline, their
lane arrays, the one port protocol they share, and a builder that emits Verilog plus a JSON
manifest. See docs/rtl.md.

Public face (names load lazily: Amaranth is imported only when a design is built)::

    from neurosim.rtl import make_config, emit, emit_defaults, ManifestEntry, dot_product, decode_acc
"""

from neurosim.face import lazy_face

__all__, __getattr__, __dir__ = lazy_face(__name__, {
    "params": ("CODINGS", "DESIGNS", "PIPELINES", "VARIANTS", "DEFAULT_T", "MAX_K", "MAX_LANES", "Config",
               "acc_range", "count_range", "make_config", "segment_bounds", "signed_width"),
    "protocol": ("PORT_DOC", "PORT_ROLES", "CONTROL", "OPERANDS", "Port", "ManifestEntry", "as_entry",
                 "pack_weights", "decode_acc", "idle_cycle", "mac_events", "spike_events", "frame",
                 "dot_product", "pack_cycles", "port_streams"),
    "build": ("MANIFEST_VERSION", "emit", "emit_defaults", "default_configs", "load_manifest",
              "manifest_entry", "write_manifest"),
    "mac": ("MacArray",),
    "spike": ("SpikeArray",),
})
