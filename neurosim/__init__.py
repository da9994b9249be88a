"""neurosim: spiking INT8 simulation, RTL and hardware models for SpikingBrain 2.0's claims.

Packages (folder -> import name): ``neurosim/core`` -> ``neurosim.core`` (the golden integer model),
``neurosim/model`` -> ``neurosim.model`` (config, checkpoints, the float model), ``neurosim/run`` ->
``neurosim.run`` (fidelities, metrics, runner, trace), ``rtl/`` -> ``neurosim.rtl``, ``hwmodels/`` ->
``neurosim.hwmodels``, ``reports/`` -> ``neurosim.reports``. Running a model programmatically::

    import neurosim
    summary = neurosim.execute(neurosim.Settings(mode="spike", max_tokens=64).validate(), quiet=True)
"""

__version__ = "0.1.0"

from neurosim.vectors import prefer_wide_vectors  # noqa: E402  (before any module builds a numba kernel)

#: whether numba's kernels use 512-bit vectors (AVX-512 hosts; see neurosim.vectors)
WIDE_VECTORS = prefer_wide_vectors()


class NeurosimError(Exception):
    """A user-facing error: bad input, impossible parameters, a missing tool.

    The CLI prints its message on one line and exits with status 2.
    """


from neurosim.face import lazy_face  # noqa: E402  (after NeurosimError: submodules import it)

_all, __getattr__, __dir__ = lazy_face(__name__, {"neurosim.run.settings": ("Settings",),
                                                  "neurosim.run.runner": ("execute",)})
__all__ = ["__version__", "NeurosimError", "WIDE_VECTORS", *_all]
del _all
