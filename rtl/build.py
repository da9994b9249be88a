"""Emit Verilog for the lane arrays and describe them in a JSON manifest.

``emit(design, ...)`` writes ``<out_dir>/<top>.v`` and returns the design's manifest entry;
``emit_defaults(out_dir)`` writes the default configurations and ``<out_dir>/manifest.json``.
The API is shared with :mod:`neurosim.hwmodels` (which synthesizes what ``emit`` writes): keep it stable.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from neurosim import NeurosimError
from neurosim.defaults import K as DEFAULT_K, LANES as DEFAULT_LANES

from .params import CODINGS, PIPELINES, VARIANTS, Config, make_config
from .protocol import PORT_DOC, ManifestEntry, Port

#: version of manifest.json's format
MANIFEST_VERSION = 1


def build_unit(cfg: Config):
    """The Amaranth component for ``cfg``."""
    if cfg.design == "mac":
        from .mac import MacArray
        return MacArray(cfg)
    from .spike import SpikeArray
    return SpikeArray(cfg)


def ports(unit) -> list[Port]:
    """The unit's ports (clock and reset first, then its Amaranth signature) with their docs."""
    out = [Port("clk", "in", 1, False, PORT_DOC["clk"]), Port("rst", "in", 1, False, PORT_DOC["rst"])]
    for name, member in unit.signature.members.items():
        shape = member.shape
        d = "in" if member.flow == wiring.In else "out"
        if isinstance(shape, data.ArrayLayout):
            elem = shape.elem_shape
            out.append(Port(name, d, shape.size, elem.signed, PORT_DOC.get(name, ""), elem.width, shape.length))
        else:
            s = Shape.cast(shape)
            out.append(Port(name, d, s.width, s.signed, PORT_DOC.get(name, "")))
    return out


def manifest_entry(cfg: Config, unit=None, verilog_name: str | None = None) -> dict:
    """The manifest entry of ``cfg`` (a :class:`~neurosim.rtl.protocol.ManifestEntry` as a dict)."""
    unit = unit if unit is not None else build_unit(cfg)
    return ManifestEntry.from_config(cfg, ports(unit), verilog_name).to_dict()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_verilog(cfg: Config) -> tuple[str, object]:
    """(Verilog text, Amaranth component) of ``cfg``; the module is named ``cfg.top``."""
    unit = build_unit(cfg)
    text = verilog.convert(unit, name=cfg.top, emit_src=False)
    return text, unit


def emit(design: str, *, coding: str | None = "bitwise", lanes: int = DEFAULT_LANES,
         k: int = DEFAULT_K, pipeline: int = 0, variant: str | None = None, out_dir,
         t: int | None = None, acc_w: int | None = None) -> dict:
    """Write ``<out_dir>/<top>.v`` for one configuration and return its manifest entry.

    Parameters
    ----------
    design : "spike" | "mac"
    coding : one of ``binary, ternary, bitwise, bitwise_2c`` (ignored for ``mac``)
    lanes, k, pipeline : lanes of the array, maximum dot-product length, pipeline depth
    variant : ``barrel`` (default) or ``horner`` for the bitwise codings; None otherwise
    t : window in time steps (default: the INT8 range of the coding)
    acc_w : force an accumulator width (an error if smaller than K requires)

    Raises :class:`neurosim.NeurosimError` for impossible parameters.
    """
    cfg = make_config(design, coding=None if design == "mac" else coding, variant=variant,
                      lanes=lanes, k=k, t=t, pipeline=pipeline, acc_w=acc_w)
    text, unit = to_verilog(cfg)
    out = Path(out_dir)
    _write_atomic(out / f"{cfg.top}.v", text)
    return manifest_entry(cfg, unit)


def default_configs(lanes: int = DEFAULT_LANES, k: int = DEFAULT_K) -> list[dict]:
    """Keyword sets of the default configurations: the MAC at every depth, and every coding/variant
    of the spiking unit at every depth."""
    cfgs = [dict(design="mac", coding=None, variant=None, pipeline=p, lanes=lanes, k=k)
            for p in PIPELINES["mac"]]
    for coding in CODINGS:
        variants = VARIANTS if coding in ("bitwise", "bitwise_2c") else (None,)
        for variant in variants:
            for p in PIPELINES["spike"]:
                cfgs.append(dict(design="spike", coding=coding, variant=variant, pipeline=p,
                                 lanes=lanes, k=k))
    return cfgs


def write_manifest(out_dir, entries: list[dict]) -> dict:
    """Write ``<out_dir>/manifest.json`` (version, generator, the entries) atomically; return it."""
    manifest = {"version": MANIFEST_VERSION, "generator": "neurosim.rtl", "designs": entries}
    _write_atomic(Path(out_dir) / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def emit_defaults(out_dir, *, lanes: int = DEFAULT_LANES, k: int = DEFAULT_K) -> dict:
    """Emit every default configuration into ``out_dir`` and write ``manifest.json``; return it."""
    entries = []
    for kw in default_configs(lanes, k):
        design = kw.pop("design")
        entries.append(emit(design, out_dir=out_dir, **kw))
    return write_manifest(out_dir, entries)


def load_manifest(out_dir) -> dict:
    """Read ``<out_dir>/manifest.json``; a missing file or another version is a one-line NeurosimError."""
    path = Path(out_dir) / "manifest.json"
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise NeurosimError(f"no manifest at {path}; run `neurosim rtl --defaults --out {out_dir}`") from None
    if m.get("version") != MANIFEST_VERSION:
        raise NeurosimError(f"{path}: manifest version {m.get('version')!r}, expected {MANIFEST_VERSION}")
    return m
