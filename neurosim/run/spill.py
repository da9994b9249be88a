"""Folded float weights kept on disk instead of in memory, for models too large to hold a second copy.

A rotated model (:mod:`neurosim.run.rotate`) is a second set of float weights: for SmolLM2-135M it
is kept in memory (about 0.5 GB), for Qwen2.5-Coder-1.5B it would be about 7 GB more. Above
:data:`neurosim.model.network.GENERATE_WEIGHT_BYTES` of float weights, :class:`SpilledCheckpoint`
computes each folded tensor once, writes it to a private temporary folder (``TMPDIR``) and reads it
back on every later request: the same bits as the in-memory copy, one tensor resident at a time.
The folder is removed when the model is dropped or the process ends (also on Ctrl-C; a process
killed outright, e.g. by SIGKILL, leaves its ``neurosim-fold-*`` folder behind).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from neurosim import NeurosimError

__all__ = ["SpilledCheckpoint", "check_spill_space"]


def check_spill_space(where: str | Path, need: int, what: str) -> None:
    """One-line error when the file system of ``where`` has less than ``need`` bytes free."""
    usage = shutil.disk_usage(where)
    if usage.total and need > usage.free:
        raise NeurosimError(f"not enough disk space for {what}: {need / 1e9:.2f} GB needed, "
                            f"{usage.free / 1e9:.2f} GB free in {where} (set TMPDIR to a larger disk)")


class SpilledCheckpoint:
    """A checkpoint view of ``ckpt`` (an object with ``tensor(name)``, as
    :class:`neurosim.run.rotate.RotatedCheckpoint`) whose tensors are computed once and then read
    from ``.npy`` files in a temporary folder. ``need`` (bytes) is checked against the free space
    before anything is written; ``what`` names the weights in that error. Other attributes are the
    wrapped checkpoint's."""

    def __init__(self, ckpt, need: int, what: str = "the folded weights"):
        check_spill_space(tempfile.gettempdir(), int(need), what)
        self.ckpt = ckpt
        self._dir = tempfile.TemporaryDirectory(prefix="neurosim-fold-")
        self._files: dict[str, Path] = {}

    @property
    def folder(self) -> Path:
        """The temporary folder holding the written tensors."""
        return Path(self._dir.name)

    def __getattr__(self, name):
        if name in ("ckpt", "_dir", "_files"):
            raise AttributeError(name)
        return getattr(self.ckpt, name)

    def tensor(self, name: str) -> np.ndarray:
        """The wrapped checkpoint's tensor ``name``: computed and written on the first request, read
        from its file afterwards."""
        f = self._files.get(name)
        if f is not None:
            return np.load(f)
        t = np.asarray(self.ckpt.tensor(name))
        f = self.folder / f"{len(self._files)}.npy"
        np.save(f, t)
        self._files[name] = f
        return t

    def close(self) -> None:
        """Remove the temporary folder now."""
        self._files.clear()
        self._dir.cleanup()
