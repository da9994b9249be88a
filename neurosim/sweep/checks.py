"""Each stage's own check of its parsed flags: the validator its command runs before any work.

A sweep point's settings are checked by the very function the command uses (``neurosim run``:
the run settings, ``neurosim eval``: the eval configuration, ``neurosim hw`` and ``neurosim energy``:
their ``check``), so a range the sweep accepts is a range the command accepts and the reverse;
the sweep keeps no table of ranges of its own.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

#: stage -> (module, function) validating that command's parsed flags (raises NeurosimError)
VALIDATORS = {
    "run": ("neurosim.run.settings", "settings_from_args"),
    "eval": ("neurosim.run.eval", "config_from_args"),
    "hw": ("neurosim.hwmodels.cli", "check"),
    "energy": ("neurosim.hwmodels.energy_cli", "check"),
}


def validator(stage: str) -> Callable[[argparse.Namespace], object]:
    """The function that checks ``stage``'s parsed flags as its command does."""
    module, name = VALIDATORS[stage]
    return getattr(importlib.import_module(module), name)


def check_flags(stage: str, args: argparse.Namespace) -> None:
    """Raise the command's own one-line NeurosimError when ``args`` hold a value it rejects."""
    validator(stage)(args)


__all__ = ["VALIDATORS", "check_flags", "validator"]
