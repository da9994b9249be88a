"""few_rows_linear (the decode steps' INT8 product) against the integer reference, every regime."""

import numpy as np
import pytest

from neurosim.core.dense import exact_linear
from neurosim.core.engine import int_linear
from neurosim.core.gemv import FEW_ROWS, few_rows_linear


@pytest.mark.parametrize("max_abs", [0, 1, 127, 2047, 2**15 - 1, 2**15, 2**20, 2**30, 2**45])
@pytest.mark.parametrize("rows", [0, 1, 3, FEW_ROWS, 9])
def test_equals_the_integer_reference(max_abs, rows):
    rng = np.random.default_rng(max_abs % 1000 + rows)
    k = 576 if max_abs < 2**20 else 37
    w = rng.integers(-127, 128, (45, k)).astype(np.int8)
    w[0] = -127
    w[1, :3] = 127
    c = rng.integers(-max_abs, max_abs + 1, (rows, k), dtype=np.int64)
    if rows:
        c[0, :5] = max_abs
        c[-1, -5:] = -max_abs
    cd = c.astype(np.int32) if max_abs < 2**31 else c
    got = few_rows_linear(cd, w)
    ref = c @ w.T.astype(np.int64)
    assert np.array_equal(got, ref)
    if rows and max_abs < 2**31:
        assert got.dtype == exact_linear(cd, w).dtype          # the same dtype rule as exact_linear
    if rows and max_abs <= 2047:
        assert np.array_equal(got, int_linear(cd, w))


def test_batch_axes_and_weight_slices():
    rng = np.random.default_rng(5)
    w = rng.integers(-127, 128, (30, 64)).astype(np.int8)
    c = rng.integers(-127, 128, (2, 1, 64)).astype(np.int32)
    assert few_rows_linear(c, w).shape == (2, 1, 30)
    assert np.array_equal(few_rows_linear(c, w), exact_linear(c, w))
    # a per-group product passes column slices of the weights (not contiguous)
    assert np.array_equal(few_rows_linear(c[..., 16:48], w[:, 16:48]), exact_linear(c[..., 16:48], w[:, 16:48]))


def test_rejects_what_it_cannot_multiply():
    w = np.zeros((3, 4), np.int8)
    with pytest.raises(ValueError):
        few_rows_linear(np.zeros((1, 5), np.int32), w)
    with pytest.raises(ValueError):
        few_rows_linear(np.zeros((1, 4), np.float32), w)
    with pytest.raises(ValueError):
        few_rows_linear(np.zeros((1, 4), np.int32), w.astype(np.int16))
    with pytest.raises(ValueError):
        few_rows_linear(np.full((1, 4), 2**50, np.int64), w)
