"""The command reference of the documentation site, generated from the ``neurosim`` argparse parsers
(so it cannot drift from ``--help``).

``command_reference(name)`` is the Markdown of one subcommand: its usage line and one table row per
option (flags, value, default, choices, help). The documentation build (``scripts/docs_hooks.py``) replaces
every ``<!-- neurosim-command: NAME -->`` line of a page with it.
"""

from __future__ import annotations

import argparse
import re

from neurosim import NeurosimError

__all__ = ["MARKER", "command_reference", "expand_markers"]

#: a line a page holds where the generated reference of one subcommand goes
MARKER = re.compile(r"^<!-- neurosim-command: (?P<name>[\w-]+) -->$", re.M)


def _subparser(name: str) -> argparse.ArgumentParser:
    from neurosim.cli import COMMANDS, build_parser

    if name not in COMMANDS:
        raise NeurosimError(f"no neurosim command '{name}' (known: {', '.join(COMMANDS)})")
    parser = build_parser(only=name)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise NeurosimError("the neurosim parser has no subcommands")


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(action: argparse.Action) -> str:
    """The parser's default; "see meaning" where the parser leaves it to the command (``None``) and
    the help text states it."""
    d = action.default
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if d is None or d is argparse.SUPPRESS or isinstance(action, argparse._StoreFalseAction):
        return "see meaning" if "default" in (action.help or "") else "-"
    if isinstance(d, (list, tuple)):
        return "`" + " ".join(map(str, d)) + "`" if d else "-"
    return f"`{d}`"


def command_reference(name: str) -> str:
    """Markdown reference of ``neurosim NAME``: usage, then a table of its arguments."""
    p = _subparser(name)
    head = "usage: "
    usage = "\n".join(ln[len(head):] if ln.startswith(" " * len(head)) else ln.removeprefix(head)
                      for ln in p.format_usage().strip().splitlines())
    out = ["```text", usage, "```", "", "| argument | value | default | choices | meaning |",
           "|---|---|---|---|---|"]
    for a in p._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        flags = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.metavar or a.dest}` (positional)"
        if a.required:
            flags += " (required)"
        takes = a.nargs != 0
        value = "-" if not takes else f"`{a.metavar or a.dest.upper()}`" + (
            " ..." if a.nargs in ("+", "*") or isinstance(a.nargs, int) and a.nargs > 1 else "")
        choices = ", ".join(f"`{c}`" for c in a.choices) if a.choices else "-"
        help_text = (a.help or "").replace("%%", "%")
        if "%(default)" in help_text:
            help_text = help_text.replace("%(default)s", str(a.default))
        out.append(f"| {flags} | {value} | {_default(a)} | {_cell(choices)} | {_cell(help_text)} |")
    return "\n".join(out) + "\n"


def expand_markers(markdown: str) -> str:
    """``markdown`` with every ``<!-- neurosim-command: NAME -->`` line replaced by its reference."""
    return MARKER.sub(lambda m: command_reference(m["name"]).rstrip("\n"), markdown)
