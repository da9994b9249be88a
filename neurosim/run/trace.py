"""The trace format: what ``neurosim run --trace OUT`` writes and every later stage reads.

``OUT/`` holds (schema documented in docs/formats.md):

* ``summary.json``: schema version, model, settings, per-projection spike statistics, totals and
  accuracy against the float path; deterministic for the same inputs (no times in it);
* ``stats.npz``: per-projection histograms of the integer counts (``<proj>/values``, ``<proj>/freq``);
* ``tiles/*.npz``: small real tiles for hardware replay (:mod:`neurosim.run.tiles`);
* ``timing.json``: wall-clock durations (kept apart so the rest is byte-for-byte reproducible).

The directory is written under a temporary name beside ``OUT`` and renamed into place at the end,
so an interrupted run never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.formats import SUMMARY_VERSION as SCHEMA_VERSION
from neurosim.outdir import OutputFolder

__all__ = ["SCHEMA_VERSION", "SUMMARY", "STATS", "TILES", "TIMING", "dump_json", "TraceWriter", "read_json",
           "read_summary", "read_histograms", "tiles_dir"]

SUMMARY = "summary.json"
STATS = "stats.npz"
TILES = "tiles"
TIMING = "timing.json"


def dump_json(obj) -> str:
    """Canonical JSON (sorted keys, fixed indentation) so equal content gives equal bytes."""
    return json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n"


class TraceWriter:
    """Builds a trace in a temporary sibling folder; :meth:`commit` swaps it into ``out``
    (the rules of :mod:`neurosim.outdir`)."""

    def __init__(self, out):
        self.folder = OutputFolder(out, SUMMARY, "trace")
        self.out, self.tmp = self.folder.out, self.folder.building
        (self.tmp / TILES).mkdir()

    @property
    def tiles_dir(self) -> Path:
        """Where the tiles of the trace being built go (inside the temporary folder)."""
        return self.tmp / TILES

    def write(self, summary: dict, histograms: dict[str, tuple[np.ndarray, np.ndarray]], timing: dict) -> Path:
        """Write summary.json, stats.npz (count histograms) and timing.json (seconds), then commit;
        returns the trace folder."""
        summary = dict(summary, schema_version=SCHEMA_VERSION)
        (self.tmp / SUMMARY).write_text(dump_json(summary))
        arrays: dict = {}
        for name, (values, freq) in sorted(histograms.items()):
            arrays[f"{name}/values"] = np.asarray(values, np.int64)
            arrays[f"{name}/freq"] = np.asarray(freq, np.int64)
        with open(self.tmp / STATS, "wb") as f:
            np.savez(f, **arrays)
        (self.tmp / TIMING).write_text(dump_json(timing))
        return self.commit()

    def commit(self) -> Path:
        """Swap the finished trace into ``out``; returns ``out``."""
        return self.folder.commit()

    def abort(self) -> None:
        """Remove the partial trace; an earlier ``out`` stays as it was."""
        self.folder.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        return False


def read_json(path, missing_hint: str):
    """Parse a JSON file; a missing or unparsable file is a one-line NeurosimError."""
    path = Path(path)
    if not path.is_file():
        raise NeurosimError(f"{path} not found: {missing_hint}")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise NeurosimError(f"{path} is not valid JSON: {exc}") from None


def read_summary(out) -> dict:
    """Read ``OUT/summary.json``; a missing file or another schema version is a clear error."""
    path = Path(out) / SUMMARY
    summary = read_json(path, f"is {out} a trace written by `neurosim run --trace`?")
    version = summary.get("schema_version") if isinstance(summary, dict) else None
    if version != SCHEMA_VERSION:
        raise NeurosimError(
            f"{path} has trace schema version {version!r}; this neurosim reads version {SCHEMA_VERSION}"
            " (re-run `neurosim run --trace`)"
        )
    return summary


def read_histograms(out) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-projection histograms ``{name: (values, freq)}`` from ``OUT/stats.npz``."""
    path = Path(out) / STATS
    if not path.is_file():
        raise NeurosimError(f"{path} not found")
    with np.load(path, allow_pickle=False) as z:
        names = sorted({k.rsplit("/", 1)[0] for k in z.files})
        return {n: (z[f"{n}/values"], z[f"{n}/freq"]) for n in names}


def tiles_dir(out) -> Path:
    """The tiles folder of the trace ``out``."""
    return Path(out) / TILES
