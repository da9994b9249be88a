"""The JSON files other stages read, described once: ``summary.json`` (a trace), ``hw.json``
(``neurosim hw``) and ``energy.json`` (``neurosim energy``).

This module owns the format versions the writers stamp and the readers check.
"""

from __future__ import annotations

#: ``hw.json``'s ``schema`` member (written by ``neurosim hw``, read by ``neurosim energy`` and the report)
HW_SCHEMA = "neurosim.hw/1"
#: ``energy.json``'s ``schema`` member (written by ``neurosim energy``, read by the report)
ENERGY_SCHEMA = "neurosim.energy/1"

__all__ = ["HW_SCHEMA", "ENERGY_SCHEMA"]
