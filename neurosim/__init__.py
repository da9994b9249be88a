"""neurosim: spiking INT8 simulation, RTL and hardware models for SpikingBrain 2.0's claims.

Packages (folder -> import name): ``neurosim/core`` -> ``neurosim.core`` (the golden integer model),
``neurosim/model`` -> ``neurosim.model`` (config, checkpoints, the float model), ``neurosim/run`` ->
``neurosim.run`` (fidelities, metrics, runner, trace), ``rtl/`` -> ``neurosim.rtl``, ``hwmodels/`` ->
``neurosim.hwmodels``, ``reports/`` -> ``neurosim.reports``. Running a model programmatically::

    import neurosim
    neurosim.vectors.prefer_wide_vectors()   # optional: 512-bit numba kernels on AVX-512 hosts, as the CLI
    summary = neurosim.execute(neurosim.Settings(mode="spike", max_tokens=64).validate(), quiet=True)

Importing neurosim changes nothing in the process (no environment variable, no compiled code);
the command line applies the vector-width setting itself, before its first kernel.
"""

__version__ = "0.1.0"


class NeurosimError(Exception):
    """A user-facing error: bad input, impossible parameters, a missing tool.

    The CLI prints its message on one line and exits with status 2.
    """


from neurosim import vectors  # noqa: E402  (no side effect: its setting applies when called)
from neurosim.face import lazy_face  # noqa: E402  (after NeurosimError: submodules import it)

_all, __getattr__, __dir__ = lazy_face(__name__, {"neurosim.run.settings": ("Settings",),
                                                  "neurosim.run.runner": ("execute",)})
__all__ = ["__version__", "NeurosimError", "vectors", *_all]
del _all
