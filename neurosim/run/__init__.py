"""Running a model: settings, fidelities (fp / int8 / spike), their recorder and the backends that
select them by device, metrics, the runner, the trace format, hardware tiles and the bundled text corpus.

The public face (names load lazily from their submodules)::

    from neurosim.run import Settings, execute
    summary = execute(Settings(mode="spike", max_tokens=64).validate(), quiet=True)
"""

from neurosim.face import lazy_face

__all__, __getattr__, __dir__ = lazy_face(__name__, {
    "settings": ("MODES", "Settings", "load_yaml", "parse_clamp", "add_arguments", "settings_from_args"),
    "fidelity": ("Quantization", "Product", "Projection", "FloatProjection", "QuantizedProjection",
                 "Int8Projection", "SpikeProjection", "FIDELITIES", "projection_kinds"),
    "recorder": ("Recorder",),
    "backends": ("Backend", "BACKENDS", "backend", "projection_for"),
    "metrics": ("kl_divergence", "top1_agreement", "accuracy", "aggregate_totals"),
    "runner": ("execute", "format_summary"),
    "trace": ("SCHEMA_VERSION", "TraceWriter", "read_json", "read_summary", "read_histograms", "tiles_dir"),
    "tiles": ("TILE_KEYS", "choose_tiles", "tile_rows", "write_tile", "read_tile", "list_tiles"),
    "corpus": ("texts_dir", "default_text"),
})
