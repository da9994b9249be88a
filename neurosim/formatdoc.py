"""Checking a JSON document against its description in :mod:`neurosim.formats`, and docs/formats.md's
member tables generated from those descriptions.

``python -m neurosim.formatdoc --write docs/formats.md`` regenerates the tables; ``--check`` exits 1
when they are stale.
"""

import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, NotRequired, Union

from neurosim import NeurosimError
from neurosim.formats import FILES

__all__ = ["problems", "markdown", "update_page", "main"]


_MEMBER_RE = re.compile(r"^\s+(\w+): .*?  # (.*)$")
_MORE_RE = re.compile(r"^\s+#   (.*)$")


def _meanings(td: type) -> dict[str, str]:
    """member -> the comment after it in the source (with its continuation lines)."""
    out: dict[str, str] = {}
    last = None
    for line in inspect.getsourcelines(td)[0]:
        m = _MEMBER_RE.match(line)
        if m:
            last = m.group(1)
            out[last] = m.group(2).strip()
        elif last and (m := _MORE_RE.match(line)):
            out[last] += " " + m.group(1).strip()
    return out


def _members(td: type) -> dict[str, tuple[Any, str, bool]]:
    """name -> (type, meaning, required) of a TypedDict."""
    meanings = _meanings(td)
    out = {}
    for name, hint in typing.get_type_hints(td, include_extras=True).items():
        if typing.get_origin(hint) in (NotRequired, typing.Required):
            hint = typing.get_args(hint)[0]
        out[name] = (hint, meanings.get(name, ""), name in getattr(td, "__required_keys__"))
    return out


def _is_typeddict(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, dict) and hasattr(t, "__required_keys__")


def _check(value: Any, t: Any, where: str, out: list[str]) -> None:
    """Append to ``out`` where ``value`` does not match the type ``t``."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if t is Any:
        return
    if origin in (Union, types.UnionType):
        trial: list[list[str]] = []
        for a in args:
            trial.append([])
            _check(value, a, where, trial[-1])
            if not trial[-1]:
                return
        out.append(f"{where}: {type(value).__name__} is none of {_type_name(t)}")
    elif t is type(None):
        if value is not None:
            out.append(f"{where}: expected None, got {type(value).__name__}")
    elif _is_typeddict(t):
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        members = _members(t)
        out += [f"{where}: lacks {k!r}" for k, (_, _, req) in members.items() if req and k not in value]
        out += [f"{where}: {k!r} is not described" for k in value if k not in members]
        for k, v in value.items():
            if k in members:
                _check(v, members[k][0], f"{where}/{k}", out)
    elif origin is list:
        if not isinstance(value, list):
            out.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            _check(v, args[0], f"{where}/{i}", out)
    elif origin is dict:
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for k, v in value.items():
            _check(v, args[1], f"{where}/{k}", out)
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{where}: expected a number, got {type(value).__name__}")
    elif t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{where}: expected an integer, got {type(value).__name__}")
    elif not isinstance(value, t):
        out.append(f"{where}: expected {t.__name__}, got {type(value).__name__}")


def problems(doc: Any, description: type) -> list[str]:
    """Where ``doc`` (a parsed JSON file) departs from ``description`` (one of :data:`FILES`): missing
    or undescribed members and wrong types, as JSON pointers; empty when it matches."""
    out: list[str] = []
    _check(doc, description, "", out)
    return out


def _type_name(t: Any) -> str:
    """A type as the docs show it: int, float, str, bool, null, list of X, object of X, or a TypedDict's name."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if t is Any:
        return "any"
    if t is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "object" if args[1] is Any else f"object of {_type_name(args[1])}"
    return getattr(t, "__name__", str(t))


def _nested(t: Any) -> list[type]:
    """The TypedDicts a type refers to, in order."""
    if _is_typeddict(t):
        return [t]
    return [x for a in typing.get_args(t) for x in _nested(a)]


def markdown(file: str) -> str:
    """The member tables of one file of :data:`FILES`: its description and every record it nests."""
    todo, seen, parts = [FILES[file]], set(), []
    while todo:
        td = todo.pop(0)
        if td in seen:
            continue
        seen.add(td)
        title = f"`{file}`" if td is FILES[file] else f"`{td.__name__}`"
        rows = [f"**{title}**", "", "| member | type | meaning |", "|---|---|---|"]
        for name, (t, meaning, req) in _members(td).items():
            rows.append(f"| `{name}`{'' if req else ' (optional)'} | {_type_name(t)} | {meaning} |")
            todo += _nested(t)
        parts.append("\n".join(rows))
    return "\n\n".join(parts) + "\n"


BEGIN = "<!-- members of {file}: generated by `python -m neurosim.formatdoc --write docs/formats.md` -->"
END = "<!-- end of {file} -->"


def update_page(text: str) -> str:
    """``text`` (docs/formats.md) with every generated block replaced by the current tables."""
    for file in FILES:
        begin, end = BEGIN.format(file=file), END.format(file=file)
        head, sep, rest = text.partition(begin)
        if not sep:
            raise NeurosimError(f"the page has no block for {file} (a line {begin!r})")
        _, sep, tail = rest.partition(end)
        if not sep:
            raise NeurosimError(f"the block for {file} has no end line {end!r}")
        text = f"{head}{begin}\n\n{markdown(file)}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m neurosim.formatdoc --write PAGE`` regenerates the blocks; ``--check PAGE`` exits 1 when stale."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("--write", "--check"):
        print("usage: python -m neurosim.formatdoc --write|--check docs/formats.md", file=sys.stderr)
        return 2
    page = Path(args[1])
    try:
        text = page.read_text()
        new = update_page(text)
    except (NeurosimError, OSError) as e:
        print(f"error: {page}: {e}", file=sys.stderr)
        return 2
    if args[0] == "--check":
        if new != text:
            print(f"{page}: the member tables are stale; run python -m neurosim.formatdoc --write {page}",
                  file=sys.stderr)
            return 1
        return 0
    page.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
