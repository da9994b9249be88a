"""RTL generators (Amaranth): the event-driven spiking accumulate unit, the INT8 MAC baseline, their
lane arrays, and a builder that emits Verilog plus a JSON manifest. See docs/rtl.md.

Public surface::

    from neurosim.rtl import make_config, emit, emit_defaults, MacArray, SpikeArray
"""

from .params import CODINGS, DESIGNS, PIPELINES, VARIANTS, Config, acc_range, make_config

__all__ = ["CODINGS", "DESIGNS", "PIPELINES", "VARIANTS", "Config", "acc_range", "make_config",
           "emit", "emit_defaults", "MacArray", "SpikeArray"]


def __getattr__(name):   # Amaranth is imported only when a design is built
    if name in ("emit", "emit_defaults"):
        from . import build
        return getattr(build, name)
    if name == "MacArray":
        from .mac import MacArray
        return MacArray
    if name == "SpikeArray":
        from .spike import SpikeArray
        return SpikeArray
    raise AttributeError(name)
