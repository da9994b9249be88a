"""Reading and checking the report's inputs: a trace (``neurosim run --trace``) and ``hw.json``.

Everything is validated here, before any output is created, so that a bad input is one clear
:class:`neurosim.NeurosimError` and no half-written report directory.

Aggregates over several projections (a layer's attention block, all MLP down projections, ...)
use :func:`neurosim.run.aggregate_totals`, the same function ``neurosim run`` uses for its per-layer
table and for ``summary.json``'s ``totals``: the report never re-derives a number another way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.formats import HW_SCHEMA
from neurosim.run.trace import read_json

#: human names of the layer kinds (``Model.layer_kind``)
KIND_LABELS = {"moba": "MoBA", "full": "full attention", "sse_swa": "SSE+SWA", "attention": "attention"}
#: plot colours of the attention blocks by layer kind, and of the MLP projections
KIND_COLORS = {"moba": "#1b9e77", "full": "#d95f02", "sse_swa": "#7570b3", "attention": "#1f78b4",
               "mlp": "#999999"}

_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+?)(?:\.weight)?$")

#: projection classes, by the input tensor they read (names inside a block, without ".weight")
CLASS_ORDER = ("attention in", "attention out", "LoRA hidden", "MLP gate/up", "MLP down", "other")
CLASS_HELP = {
    "attention in": "q/k/v (and SSE q/k/v/a/b/e, SWA q/k/v, LoRA down) projections: the attention-norm output",
    "attention out": "o_proj / sse_o_proj / swa_o_proj: the attention (or SSE/SWA) output",
    "LoRA hidden": "the second LoRA projection of SSE layers: the 128-wide LoRA hidden state",
    "MLP gate/up": "gate_proj and up_proj: the MLP-norm output",
    "MLP down": "down_proj: silu(gate) * up",
    "other": "projections neurosim does not classify",
}


def short_name(name: str) -> str:
    """``model.layers.3.mlp.down_proj.weight`` -> ``mlp.down_proj``."""
    m = _LAYER_RE.match(name)
    return m.group(2) if m else name.removesuffix(".weight")


def is_mlp(name: str) -> bool:
    """Whether the projection ``name`` is one of the block's MLP projections."""
    return short_name(name).startswith("mlp.")


def projection_class(name: str) -> str:
    """The class of a projection by the tensor it reads (see :data:`CLASS_HELP`)."""
    s = short_name(name)
    last = s.split(".")
    if s.startswith("mlp."):
        return "MLP down" if last[-1] == "down_proj" else "MLP gate/up"
    if len(last) >= 2 and last[-2].startswith("lora_"):
        return "LoRA hidden" if last[-1] == "1" else "attention in"
    base = last[-1]
    if base in ("o_proj", "sse_o_proj", "swa_o_proj"):
        return "attention out"
    if base.endswith("_proj"):
        return "attention in"
    return "other"


#: the display name of the embedded default model (a trace of it records no ``--model``)
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


def model_name(summary: dict) -> str:
    """The model's display name with its layout (``model_type``) in brackets: the name the trace
    records, else the embedded default's name, else the checkpoint folder's name. ``summary`` may
    also be an ``eval.json``."""
    model = summary.get("model", {})
    given = next((d.get("model") for d in (summary.get("settings"), summary.get("config")) if isinstance(d, dict)),
                 None)
    name = model.get("name") or (Path(given).name if given else DEFAULT_MODEL_NAME)
    return f"{name} ({model.get('model_type', '?')})"


def kind_label(kind: str) -> str:
    """The human name of a layer kind (``sse_swa`` -> ``SSE+SWA``)."""
    return KIND_LABELS.get(kind, kind)


def totals(records: list[dict]) -> dict:
    """Aggregate projection records exactly as ``neurosim run`` does (``summary.json`` totals)."""
    from neurosim.run.metrics import aggregate_totals

    return aggregate_totals(records)


@dataclass
class Trace:
    """A loaded trace: its summary, count histograms, the projection records and one chosen tile."""

    path: Path
    summary: dict
    histograms: dict[str, tuple[np.ndarray, np.ndarray]]
    tile_name: str | None = None
    tile: dict | None = None
    records: list[dict] = field(default_factory=list)

    @property
    def settings(self) -> dict:
        """The run's settings as recorded in summary.json."""
        return self.summary["settings"]

    @property
    def coding(self) -> str:
        """The spike coding of the run."""
        return self.settings["coding"]


def load_trace(path, tile: str | None = None) -> Trace:
    """Read and check a trace directory; ``tile`` picks the raster tile (default: the first)."""
    from neurosim.run.tiles import read_tile
    from neurosim.run.trace import read_histograms, read_summary, tiles_dir

    path = Path(path)
    if not path.is_dir():
        raise NeurosimError(f"trace directory {path} not found (write one with `neurosim run --trace {path}`)")
    summary = read_summary(path)
    for key in ("settings", "model", "tokens"):
        if key not in summary:
            raise NeurosimError(f"{path / 'summary.json'} lacks {key!r}")
    if "layers" not in summary or "totals" not in summary:
        raise NeurosimError(f"{path} holds no spike statistics (mode {summary['settings'].get('mode')!r}): "
                            "re-run `neurosim run --mode spike --trace`")
    records = [p for L in summary["layers"] for p in L["projections"]]
    if not records:
        raise NeurosimError(f"{path / 'summary.json'} has no projections (did --projections match nothing?)")
    need = ("name", "kind", "activations", "spikes", "spikes_data", "T_data", "T_fixed", "sparsity_data",
            "sparsity_fixed", "sparsity_window3", "events", "accumulates", "dense_macs", "clamped",
            "firing_rate", "spikes_per_step", "in_features", "out_features", "tokens")
    for r in records:
        missing = [k for k in need if k not in r]
        if missing:
            raise NeurosimError(f"{path / 'summary.json'}: projection {r.get('name', '?')} lacks "
                                f"{', '.join(missing)}")
    hist = read_histograms(path)
    absent = [r["name"] for r in records if r["name"] not in hist]
    if absent:
        raise NeurosimError(f"{path / 'stats.npz'} has no histogram for {absent[0]}"
                            + (f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""))
    listed = list(summary.get("tiles") or [])
    name, data = None, None
    if tile is not None:
        if tile not in listed and tile + ".npz" not in listed:
            raise NeurosimError(f"tile {tile!r} is not in the trace; it has: {', '.join(listed) or 'none'}")
        name = tile if tile in listed else tile + ".npz"
    elif listed:
        name = listed[0]
    if name is not None:
        tpath = tiles_dir(path) / name
        if not tpath.is_file():
            raise NeurosimError(f"tile {tpath} listed in summary.json is missing")
        data = read_tile(tpath)
    return Trace(path=path, summary=summary, histograms=hist, tile_name=name, tile=data, records=records)


def load_hw(path) -> tuple[Path, dict]:
    """Read ``hw.json`` (``path`` is the ``neurosim hw --out`` folder or the file) and check its schema."""
    p = Path(path)
    f = p / "hw.json" if p.is_dir() else p
    doc = read_json(f, "give the folder written by `neurosim hw --out HWOUT`")
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema != HW_SCHEMA:
        raise NeurosimError(f"{f} has hardware schema {schema!r}; this report reads {HW_SCHEMA!r} "
                            "(re-run `neurosim hw`)")
    for key in ("settings", "comparison", "results"):
        if not isinstance(doc.get(key), dict):
            raise NeurosimError(f"{f} lacks {key!r}")
    if not doc["comparison"]:
        raise NeurosimError(f"{f} compares no clock: both designs are needed at one frequency at least")
    for fk, c in doc["comparison"].items():
        for key in ("area_mac_um2", "area_spike_um2", "area_reduction_pct", "both_meet_timing"):
            if key not in c:
                raise NeurosimError(f"{f}: comparison[{fk!r}] lacks {key!r}")
    return f, doc


def sim_label(comp: dict) -> str | None:
    """The gate-level simulation a clock's figures come from: ``gspecify`` (cell delays, glitches)
    when it ran, else ``zero_delay`` (the same choice as ``neurosim hw``'s printout); None if neither."""
    for label in ("gspecify", "zero_delay"):
        if "energy_per_cycle_pj" in comp.get(label, {}):
            return label
    return None


def freq_keys(doc: dict) -> list[str]:
    """The clock keys of ``hw.json``'s comparison (MHz, as strings), in increasing frequency."""
    return sorted(doc["comparison"], key=float)
