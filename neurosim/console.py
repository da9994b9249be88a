"""Console output that fits a terminal of :data:`WIDTH` columns.

:func:`fit` takes the text a command prints (plain lines and Markdown tables) and returns it with
every line at most ``width`` characters: prose lines wrap with an indent, a Markdown table is
printed aligned when it fits and otherwise as one block per row (its first cell, then one
``column: value`` line per other cell). A word longer than a line (a deep path) is kept whole on a
line of its own, so it can be copied. The files a command writes keep the full tables.
"""

from __future__ import annotations

import re
import textwrap

__all__ = ["WIDTH", "fit", "shorten"]

#: columns of the console output (the classic terminal width)
WIDTH = 80

_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, a cut one ending in ``~``."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "~"


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [c.strip().replace("`", "") for c in re.split(r"(?<!\\)\|", inner)]


def _table(rows: list[list[str]], width: int) -> list[str]:
    """A Markdown table's rows (header first) as aligned columns, or one block per row."""
    head, body = rows[0], rows[1:]
    n = len(head)
    body = [(r + [""] * n)[:n] for r in body]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(n)]
    if sum(widths) + 2 * (n - 1) <= width:
        out = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip(),
               "  ".join("-" * w for w in widths)]
        return out + ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    out = []
    for r in body:
        out += _wrap(r[0] or "-", width)
        for h, c in zip(head[1:], r[1:]):
            if c and c != "-":
                out += _wrap(f"  {h}: {c}", width, indent="      ")
    return out


def _wrap(line: str, width: int, indent: str | None = None) -> list[str]:
    if len(line) <= width:
        return [line]
    lead = line[: len(line) - len(line.lstrip())]
    return textwrap.wrap(line, width, initial_indent="", subsequent_indent=indent if indent is not None else lead + "  ",
                         break_on_hyphens=False, break_long_words=False) or [""]


def fit(text: str, width: int = WIDTH) -> str:
    """``text`` with every line at most ``width`` characters (see the module's rules)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1].strip()):
            rows = [_cells(lines[i])]
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            out += _table(rows, width)
            continue
        out += _wrap(lines[i].rstrip(), width)
        i += 1
    return "\n".join(out)
