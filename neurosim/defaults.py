"""Shared defaults of the hardware side, used by the runner's tiles, the RTL generator, the hardware
flow and the reports (the window per coding lives with the codings: ``neurosim.core.coding.INT8_WINDOW``).
"""

from __future__ import annotations

#: Lanes (output channels computed in parallel) of the default lane arrays.
LANES = 16
#: Maximum dot-product length K of the default lane arrays (SpB2.0-5B hidden size).
K = 2560
#: Token rows of each hardware tile written into a trace (the full input width is kept).
TILE_TOKENS = 4

__all__ = ["LANES", "K", "TILE_TOKENS"]
