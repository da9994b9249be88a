"""Shared test inputs for the integer products (imported by test_engine and test_dense)."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurosim.core.coding import required_steps


def python_ints(counts, w):
    """Independent reference: Python integers, one dot product at a time (no overflow, no floats)."""
    c = np.asarray(counts).reshape(-1, counts.shape[-1]).tolist()
    W = w.astype(int).tolist()
    return np.array([[sum(a * b for a, b in zip(row, wr)) for wr in W] for row in c], dtype=object)


def draw_linear_case(data, coding: str, max_rows: int, max_in: int, max_out: int):
    """(counts [m, k] int32, w [n, k] int8, T) drawn by hypothesis: counts in the coding's range, the
    window T the data needs plus 0-2 spare steps for the bitwise codings (None otherwise)."""
    m = data.draw(st.integers(1, max_rows))
    k = data.draw(st.integers(1, max_in))
    n = data.draw(st.integers(1, max_out))
    lo = 0 if coding == "binary" else -128
    counts = data.draw(arrays(np.int32, (m, k), elements=st.integers(lo, 127)))
    w = data.draw(arrays(np.int8, (n, k), elements=st.integers(-128, 127)))
    extra = data.draw(st.integers(0, 2))
    T = required_steps(counts, coding) + extra if coding in ("bitwise", "bitwise_2c") else None
    return counts, w, T
