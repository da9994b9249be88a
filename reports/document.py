"""A tiny document model rendered twice: Markdown and a self-contained HTML page.

Blocks: headings, paragraphs (with `code` and **bold** inline marks), a section's one-line answer,
preformatted text (the verdict), tables, figures and collapsible details. HTML embeds each figure as a
base64 PNG, so the page needs no other file; a table wider than the page scrolls inside its own box.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    align: str | None = None  # one of "l"/"r" per column; default: first left, others right


@dataclass
class Answer:
    text: str        # a section's one-line answer


@dataclass
class Pre:
    lines: list[str]  # preformatted text, shown as is


@dataclass
class Details:
    summary: str | None  # opens a collapsible block with this summary; None closes the open one


@dataclass
class Figure:
    name: str        # file stem under figures/
    caption: str


@dataclass
class Document:
    """A titled list of blocks (:class:`Heading`, :class:`Para`, :class:`Table`, :class:`Figure`), added
    in reading order by the methods below."""

    title: str
    blocks: list = field(default_factory=list)

    def h(self, level: int, text: str):
        self.blocks.append(Heading(level, text))

    def p(self, text: str):
        self.blocks.append(Para(text))

    def table(self, header, rows, align=None):
        self.blocks.append(Table(list(header), [[str(c) for c in r] for r in rows], align))

    def figure(self, name: str, caption: str):
        self.blocks.append(Figure(name, caption))

    def answer(self, text: str):
        self.blocks.append(Answer(text))

    def pre(self, lines):
        self.blocks.append(Pre(list(lines)))

    def details(self, summary: str):
        """Open a collapsible block (closed by :meth:`end_details`)."""
        self.blocks.append(Details(summary))

    def end_details(self):
        self.blocks.append(Details(None))

    def figures(self) -> list[str]:
        return [b.name for b in self.blocks if isinstance(b, Figure)]

    def section(self, title: str, data, missing: str, hint: str) -> bool:
        """Open a level-1 section ``title``; when ``data`` is None, say ``**missing**: hint`` and
        return False (the caller then adds nothing more)."""
        self.h(1, title)
        if data is None:
            self.p(f"**{missing}**: {hint}")
            return False
        return True


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document, fig_dir: str = "figures") -> str:
    """``doc`` as Markdown; figures link to ``fig_dir/NAME.png``."""
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * (b.level + 1) + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Answer):
            out += [f"**{b.text}**", ""]
        elif isinstance(b, Pre):
            out += ["```text", *b.lines, "```", ""]
        elif isinstance(b, Details):
            out += ([f"<details><summary>{html.escape(b.summary)}</summary>", ""] if b.summary is not None
                    else ["</details>", ""])
        elif isinstance(b, Table):
            align = b.align or "l" + "r" * (len(b.header) - 1)
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
            for r in b.rows:
                out.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
            out.append("")
        elif isinstance(b, Figure):
            out += [f"![{b.caption}]({fig_dir}/{b.name}.png)", "", f"*Figure: {b.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_EM = re.compile(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])")


def _inline(text: str) -> str:
    s = html.escape(str(text), quote=False)
    s = _CODE.sub(r"<code>\1</code>", s)
    s = _BOLD.sub(r"<strong>\1</strong>", s)
    return _EM.sub(r"<em>\1</em>", s)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444;font-size:1.7em}h2{border-bottom:1px solid #bbb;margin-top:2em;font-size:1.35em}
pre.verdict{background:#f6f8fa;border:1px solid #d0d7de;padding:0.8em 1em;overflow-x:auto;font-size:0.95em;
line-height:1.35}
p.answer{font-size:1.1em;font-weight:600;margin:0.6em 0}
details{margin:1em 0;border:1px solid #ddd;padding:0.3em 0.8em}summary{cursor:pointer;font-weight:600}
div.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 7px;vertical-align:top}th{background:#f0f0f0}
td.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.9em;color:#444}code{background:#f3f3f3;padding:0 3px}
td code{overflow-wrap:anywhere;font-size:0.85em}
"""


def to_html(doc: Document, fig_dir: Path) -> str:
    """``doc`` as one self-contained HTML page; each figure ``fig_dir/NAME.png`` is embedded as base64."""
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{_inline(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            lvl = min(b.level + 1, 6)
            out.append(f"<h{lvl}>{_inline(b.text)}</h{lvl}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Answer):
            out.append(f"<p class=\"answer\">{_inline(b.text)}</p>")
        elif isinstance(b, Pre):
            out.append("<pre class=\"verdict\">" + html.escape("\n".join(b.lines), quote=False) + "</pre>")
        elif isinstance(b, Details):
            out.append(f"<details><summary>{_inline(b.summary)}</summary>" if b.summary is not None
                       else "</details>")
        elif isinstance(b, Table):
            align = b.align or "l" + "r" * (len(b.header) - 1)
            out.append("<div class=\"scroll\"><table><thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in b.header)
                       + "</tr></thead><tbody>")
            for r in b.rows:
                out.append("<tr>" + "".join(
                    f"<td class=\"{a}\">{_inline(c)}</td>" for c, a in zip(r, align)) + "</tr>")
            out.append("</tbody></table></div>")
        elif isinstance(b, Figure):
            data = base64.b64encode((Path(fig_dir) / f"{b.name}.png").read_bytes()).decode("ascii")
            out.append(f"<figure><img alt=\"{html.escape(b.caption)}\" src=\"data:image/png;base64,{data}\">"
                       f"<figcaption>Figure: {_inline(b.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
