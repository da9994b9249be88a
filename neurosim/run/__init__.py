"""Running a model: settings, fidelities (fp / int8 / spike) and their recorder, metrics, the runner,
the trace format, hardware tiles and the bundled text corpus.

The public face; names load lazily from their modules (``neurosim.run.<module>``)::

    from neurosim.run import Settings, execute
    summary = execute(Settings(mode="spike", max_tokens=64).validate(), quiet=True)
"""

from importlib import import_module

#: public name -> the module of neurosim.run that owns it
_OWNERS = {
    # settings
    "MODES": "settings", "Settings": "settings", "load_yaml": "settings", "parse_clamp": "settings",
    "add_arguments": "settings", "settings_from_args": "settings",
    # fidelities
    "Quantization": "fidelity", "Product": "fidelity", "Projection": "fidelity", "FloatProjection": "fidelity",
    "QuantizedProjection": "fidelity", "Int8Projection": "fidelity", "SpikeProjection": "fidelity",
    "FIDELITIES": "fidelity", "projection_for": "fidelity", "projection_kinds": "fidelity", "Recorder": "fidelity",
    # metrics
    "kl_divergence": "metrics", "top1_agreement": "metrics", "accuracy": "metrics", "aggregate_totals": "metrics",
    # orchestration
    "execute": "runner", "format_summary": "runner",
    # trace
    "SCHEMA_VERSION": "trace", "TraceWriter": "trace", "read_json": "trace", "read_summary": "trace",
    "read_histograms": "trace", "tiles_dir": "trace",
    # tiles
    "TILE_KEYS": "tiles", "choose_tiles": "tiles", "tile_rows": "tiles", "write_tile": "tiles",
    "read_tile": "tiles", "list_tiles": "tiles",
    # corpus
    "texts_dir": "corpus", "default_text": "corpus",
}

__all__ = list(_OWNERS)


def __getattr__(name):
    if name in _OWNERS:
        value = getattr(import_module(f"neurosim.run.{_OWNERS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurosim.run' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
