"""neurosim: spiking INT8 simulation, RTL and hardware models for SpikingBrain 2.0's claims."""

__version__ = "0.1.0"


class NeurosimError(Exception):
    """A user-facing error: bad input, impossible parameters, a missing tool.

    The CLI prints its message on one line and exits with status 2.
    """
