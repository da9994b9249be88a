"""``neurosim models``: the models neurosim knows by name, with size, licence and where they are."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """``neurosim models`` takes no arguments."""


def run(args) -> int:
    """Print the table of known models."""
    from neurosim.model.fetch import models_table

    print(models_table())
    return 0
