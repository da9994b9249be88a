"""One way to replace an output folder: build it under a temporary sibling name, then swap it in.

Rules (the same for checkpoints, traces, hardware results and reports):

- ``out`` may be missing, an empty folder, or a folder this kind of output wrote before (it holds
  ``marker``); a file, or a non-empty folder without ``marker``, is refused with a one-line error.
- Everything is written into ``building`` (a hidden sibling of ``out``); :meth:`OutputFolder.commit`
  moves the earlier folder aside, renames ``building`` to ``out`` and deletes the earlier folder; if
  the rename fails the earlier folder is put back.
- On an error or an interrupt before the commit, the partial folder is deleted and ``out`` is left as
  it was, so a folder that looks complete always is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from neurosim import NeurosimError
from neurosim.interrupts import deferred


class OutputFolder:
    """Context manager building ``out`` atomically; ``what`` names the output in error messages."""

    def __init__(self, out, marker: str, what: str, force: bool = False):
        self.out = Path(out)
        self.marker = marker
        self.what = what
        check_replaceable(self.out, marker, what, force)
        try:
            self.building = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.partial-"))
        except OSError as exc:
            raise NeurosimError(cannot_write(self.out, what, exc)) from None
        os.chmod(self.building, file_mode(0o777))   # mkdtemp makes it 0700
        self.force = force
        self.committed = False

    def commit(self) -> Path:
        """Swap the finished folder into place (see the module's rules); returns ``out``."""
        check_replaceable(self.out, self.marker, self.what, self.force)   # another process may have written it
        with deferred():   # an interrupt waits until the swap is done (or undone)
            return self._swap()

    def _swap(self) -> Path:
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.old-"))
            os.replace(self.out, old / "previous")
        try:
            os.replace(self.building, self.out)
        except BaseException:
            if old is not None and not self.out.exists():
                os.replace(old / "previous", self.out)
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        self.committed = True
        return self.out

    def abort(self) -> None:
        """Delete the partial folder (``out`` is untouched)."""
        shutil.rmtree(self.building, ignore_errors=True)

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or not self.committed:
            self.abort()
        return False


def file_mode(mode: int = 0o666) -> int:
    """``mode`` less the process umask: the permissions ``open()`` gives a new file (``0o666``) or
    ``mkdir()`` a new folder (``0o777``); for files made by ``tempfile``, which makes them 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def cannot_write(out: Path, what: str, exc: OSError) -> str:
    """The one-line message for an output folder ``out`` that cannot be made (OS error ``exc``)."""
    block = next((p for p in Path(out).absolute().parents if p.exists()), None)
    why = f"{block} is not a folder" if block is not None and not block.is_dir() else (exc.strerror or str(exc))
    return f"cannot write the {what} output {out}: {why}"


def check_writable(out: Path, what: str) -> None:
    """Make the parent folders of ``out`` and check that a folder can be made next to it (a real
    try: permissions, read-only or immutable file systems); a one-line error otherwise."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.check-"))
    except OSError as exc:
        raise NeurosimError(cannot_write(out, what, exc)) from None


def check_replaceable(out: Path, marker: str, what: str, force: bool = False) -> None:
    """Refuse an ``out`` that is a file or a non-empty folder that is not a ``what`` (no ``marker``),
    or one that cannot be written (:func:`check_writable`)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NeurosimError(f"{what} output {out} exists and is not a directory")
    if (out.is_dir() and not force and any(out.iterdir()) and not (out / marker).exists()):
        raise NeurosimError(f"{what} output {out} is a non-empty folder that is not a {what} "
                            f"(no {marker}); refusing to replace it")
    check_writable(out, what)


__all__ = ["OutputFolder", "check_replaceable", "check_writable", "cannot_write", "file_mode"]
