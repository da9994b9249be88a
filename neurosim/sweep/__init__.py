"""Design-space sweeps on Dask distributed: ``neurosim sweep SPEC.yaml --out DIR``.

:mod:`.spec` reads and checks the spec (each point's values with its command's own validator,
:mod:`.checks`), :mod:`.point` computes one point in a worker through the
commands' entry points, :mod:`.table` keeps the results table, :mod:`.cli` drives the cluster,
:mod:`.pareto` finds the frontiers the report draws.
"""

from .pareto import pareto_mask
from .spec import Point, Spec, load_spec
from .table import read_table

__all__ = ["Point", "Spec", "load_spec", "read_table", "pareto_mask", "run_sweep"]


def run_sweep(*args, **kwargs):
    """See :func:`neurosim.sweep.cli.run_sweep` (imported lazily: it pulls in Dask)."""
    from .cli import run_sweep as _run
    return _run(*args, **kwargs)
