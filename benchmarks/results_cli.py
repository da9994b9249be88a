"""The command line the result benchmarks share: ``--out`` (the results folder) and ``--render-only``."""

from __future__ import annotations

import argparse
from pathlib import Path


def result_parser(doc: str, name: str) -> argparse.ArgumentParser:
    """A parser described by the docstring's first line, with ``--out`` (default docs/results) and
    ``--render-only`` (re-render OUT/NAME.md from OUT/NAME.json, measure nothing)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", default="docs/results", help="the results folder (default docs/results)")
    ap.add_argument("--render-only", action="store_true", help=f"re-render OUT/{name}.md from OUT/{name}.json")
    return ap


def parse_results_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, Path]:
    """The parsed arguments and the results folder, made when missing."""
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    return a, out
