"""The environment every lane array is measured in, the same for synthesis (ABC), timing
(OpenSTA) and power: what drives its primary inputs and what loads its output ports.

* **driver**: the library's smallest-area buffer (:meth:`.liberty.Library.driver_cell`): ``BUFX2``
  in OSU 0.18 um, ``sky130_fd_sc_hd__buf_1`` in sky130 hd;
* **output load**: :data:`OUTPUT_LOAD_PF` on every output port bit, in both libraries (about one
  OSU ``FAX1`` input, four sky130 hd ``inv_1`` inputs).

The clock is ideal (no clock tree) and nets have no wire load (unplaced netlists).
"""

from __future__ import annotations

#: load on each output port bit [pF]
OUTPUT_LOAD_PF = 0.010
#: the same load in ABC's unit (fF) for its ``set_load`` constraint
ABC_LOAD_FF = round(OUTPUT_LOAD_PF * 1000)


def driver(lib) -> tuple[str, str]:
    """(cell, output pin) driving the primary inputs in library ``lib``."""
    return lib.driver_cell()


__all__ = ["OUTPUT_LOAD_PF", "ABC_LOAD_FF", "driver"]
