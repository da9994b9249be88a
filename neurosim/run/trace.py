"""The trace format: what ``neurosim run --trace OUT`` writes and every later stage reads.

``OUT/`` holds (schema documented in README.md, "Trace format"):

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
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from neurosim import NeurosimError

SCHEMA_VERSION = 1
SUMMARY = "summary.json"
STATS = "stats.npz"
TILES = "tiles"
TIMING = "timing.json"


def dump_json(obj) -> str:
    """Canonical JSON (sorted keys, fixed indentation) so equal content gives equal bytes."""
    return json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n"


class TraceWriter:
    """Builds a trace in a temporary sibling directory; :meth:`commit` renames it to ``out``."""

    def __init__(self, out):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise NeurosimError(f"trace output {self.out} exists and is not a directory")
        if self.out.is_dir() and any(self.out.iterdir()) and not (self.out / SUMMARY).is_file():
            raise NeurosimError(f"trace output {self.out} is a non-empty folder that is not a trace; refusing to replace it")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.partial-"))
        (self.tmp / TILES).mkdir()

    @property
    def tiles_dir(self) -> Path:
        return self.tmp / TILES

    def write(self, summary: dict, histograms: dict[str, tuple[np.ndarray, np.ndarray]], timing: dict) -> Path:
        summary = dict(summary, schema_version=SCHEMA_VERSION)
        (self.tmp / SUMMARY).write_text(dump_json(summary))
        arrays = {}
        for name, (values, freq) in sorted(histograms.items()):
            arrays[f"{name}/values"] = np.asarray(values, np.int64)
            arrays[f"{name}/freq"] = np.asarray(freq, np.int64)
        with open(self.tmp / STATS, "wb") as f:
            np.savez(f, **arrays)
        (self.tmp / TIMING).write_text(dump_json(timing))
        return self.commit()

    def commit(self) -> Path:
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.old-"))
            os.replace(self.out, old / "trace")
        try:
            os.replace(self.tmp, self.out)
        except BaseException:
            if old is not None and not self.out.exists():
                os.replace(old / "trace", self.out)  # put the earlier trace back
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

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
    return Path(out) / TILES
