"""The verdict: the report's first screen, the paper's headline claims next to what was measured, in at
most 12 lines of at most 80 columns.

``verdict_doc(claims, model, tokens)`` is the input (also what ``report.json`` and
``docs/results/verdict.json`` hold); ``verdict_lines(doc)`` the lines; ``render_result(doc)`` the
Markdown of ``docs/results/verdict.md`` (``python -m neurosim.results verdict REPORT_DIR``).
"""

from __future__ import annotations

__all__ = ["MAX_LINES", "WIDTH", "verdict_doc", "verdict_lines", "render_result"]

#: the verdict's size: lines and columns
MAX_LINES, WIDTH = 12, 80
_CLAIM_W, _PAPER_W = 37, 15


def verdict_doc(claims: list, model: str, tokens: int | None = None) -> dict:
    """The verdict's input: the model's display name, the tokens traced and the claims rows (as dicts)."""
    rows = [c if isinstance(c, dict) else c.as_dict() for c in claims]
    return {"model": model, "tokens": tokens,
            "claims": [{k: r.get(k) for k in ("claim", "paper", "measured", "value", "file", "source")}
                       for r in rows]}


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def verdict_lines(doc: dict) -> list[str]:
    """The verdict: a title line, a header and one line per headline claim (rows marked ``alt.`` are
    left to the claims table), each at most ``WIDTH`` columns, ``MAX_LINES`` lines in all."""
    tokens = f", {doc['tokens']:,} tokens" if doc.get("tokens") else ""
    lines = [_cut(f"Verdict: SpikingBrain 2.0 vs measured, {doc['model']}{tokens}", WIDTH),
             f"{'claim':<{_CLAIM_W}}  {'paper':<{_PAPER_W}}  measured"]
    main = [c for c in doc["claims"] if not c["claim"].endswith(", alt.") and ", alt. (" not in c["claim"]]
    room = MAX_LINES - len(lines)
    shown = main if len(main) <= room else main[:room - 1]
    for c in shown:
        paper = str(c["paper"]).split(" (")[0]   # "48.1% (other point, ...)": the figure; the table has the rest
        left = f"{_cut(c['claim'], _CLAIM_W):<{_CLAIM_W}}  {_cut(paper, _PAPER_W):<{_PAPER_W}}  "
        measured = c["measured"] if c.get("value") is not None else "not measured"  # the table says why
        lines.append(left + _cut(measured, WIDTH - len(left)))
    if len(shown) < len(main):
        lines.append(f"... {len(main) - len(shown)} more in the claims table")
    return lines


def render_result(doc: dict) -> str:
    """``docs/results/verdict.md``: the verdict as a text block, with the command that made it."""
    cmd = doc.get("command", "make main")
    return "\n".join([f"What `{cmd}` ends with (the claims table follows it in full):", "", "```text",
                      *verdict_lines(doc), "```"]) + "\n"
