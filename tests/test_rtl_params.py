"""neurosim.rtl.params: value ranges, ACC_W derivation and elaboration-time errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurosim import NeurosimError
from neurosim.core.coding import encode, decode
from neurosim.rtl.params import (DEFAULT_T, PIPELINES, acc_range, count_range, make_config,
                                 segment_bounds, signed_width)


@given(st.integers(-(1 << 40), 1 << 40), st.integers(0, 1 << 40))
def test_signed_width_is_minimal(lo, span):
    hi = lo + span
    w = signed_width(lo, hi)
    assert -(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1
    if w > 1:
        assert not (-(1 << (w - 2)) <= lo and hi <= (1 << (w - 2)) - 1)


@pytest.mark.parametrize("coding", ["binary", "ternary", "bitwise", "bitwise_2c"])
@pytest.mark.parametrize("t", [2, 3, 7, 8])
def test_count_range_matches_golden_coding(coding, t):
    """The unit's input range is exactly what neurosim.core.coding can encode in a window of t steps."""
    lo, hi = count_range("spike", coding, t)
    ok = np.array([lo, hi, (lo + hi) // 2])
    assert np.array_equal(decode(encode(ok, coding, t), coding), ok)
    for bad in (lo - 1, hi + 1):
        with pytest.raises(NeurosimError):
            encode(np.array([bad]), coding, t)


@pytest.mark.parametrize("design,coding", [("mac", None), ("spike", "binary"), ("spike", "ternary"),
                                           ("spike", "bitwise"), ("spike", "bitwise_2c")])
@pytest.mark.parametrize("k", [1, 24, 2560, 9728])
def test_acc_w_is_the_minimum_for_k(design, coding, k):
    cfg = make_config(design, coding=coding, k=k)
    lo, hi = acc_range(design, coding, cfg.t, k)
    assert (cfg.acc_min, cfg.acc_max) == (lo, hi)
    # brute force over the corners of the input and weight ranges
    clo, chi = count_range(design, coding, cfg.t)
    prods = [c * w for c in (clo, 0, chi) for w in (-128, 0, 127)]
    assert lo == k * min(prods) and hi == k * max(prods)
    W = cfg.acc_w
    assert -(1 << (W - 1)) <= lo and hi <= (1 << (W - 1)) - 1
    assert lo < -(1 << (W - 2)) or hi > (1 << (W - 2)) - 1, "one bit less would do"
    make_config(design, coding=coding, k=k, acc_w=W)          # exactly enough: accepted
    make_config(design, coding=coding, k=k, acc_w=W + 3)      # wider: accepted
    with pytest.raises(NeurosimError, match=f"acc_w={W - 1} is too small for k={k}.*needs {W} bits"):
        make_config(design, coding=coding, k=k, acc_w=W - 1)


def test_default_widths():
    """Defaults of the paper comparison (K = 2560): 27-bit accumulators for INT8 ranges."""
    assert make_config("mac", coding=None).acc_w == 27
    for coding in DEFAULT_T:
        assert make_config("spike", coding=coding).acc_w == 27
    assert make_config("spike", coding="bitwise", t=8).acc_w == 28   # bursts up to 255
    assert make_config("mac", coding=None, k=9728).acc_w == 29       # SpB2.0 down_proj


@pytest.mark.parametrize("kw,msg", [
    (dict(design="spike", coding="quaternary"), "unknown coding 'quaternary'"),
    (dict(design="adder"), "unknown design 'adder'"),
    (dict(design="spike", coding="ternary", variant="horner"), "coding ternary has no variant"),
    (dict(design="spike", coding="bitwise", variant="wallace"), "unknown variant 'wallace'"),
    (dict(design="mac", coding=None, variant="horner"), "mac design has no variant"),
    (dict(design="mac", coding=None, t=7), "takes no window"),
    (dict(design="mac", coding=None, pipeline=7), r"pipeline must be in \[0, 6\]"),
    (dict(design="spike", pipeline=5), r"pipeline must be in \[0, 4\]"),
    (dict(design="spike", pipeline=-1), "pipeline must be in"),
    (dict(design="spike", lanes=0), "lanes must be in"),
    (dict(design="spike", k=0), "k must be in"),
    (dict(design="spike", k=2.5), "k must be an integer"),
    (dict(design="spike", coding="bitwise", t=40), "t must be in"),
    (dict(design="spike", coding="bitwise_2c", t=1), "t must be in"),
    (dict(design="mac", coding=None, acc_w=65), r"acc_w must be in \[1, 64\]"),
])
def test_bad_parameters_are_clear_errors(kw, msg):
    kw = dict(kw)
    design = kw.pop("design")
    with pytest.raises(NeurosimError, match=msg):
        make_config(design, **kw)


def test_component_checks_width_at_elaboration():
    """The Amaranth components take a Config, so every path to the hardware goes through the checks."""
    from neurosim.rtl.mac import mac_array
    from neurosim.rtl.spike import spike_array

    with pytest.raises(NeurosimError, match="too small"):
        spike_array(coding="bitwise", k=100, acc_w=16)
    with pytest.raises(NeurosimError, match="too small"):
        mac_array(k=2560, acc_w=26)
    from amaranth.hdl import Fragment
    unit = spike_array(coding="bitwise", k=100, lanes=2)
    assert unit.acc.shape().size == 2 * 22
    Fragment.get(unit, None)       # elaborates


@given(st.integers(8, 64), st.integers(1, 4))
def test_segments_cover_the_accumulator(acc_w, segments):
    b = segment_bounds(acc_w, segments)
    assert b[0][0] == 0 and b[-1][1] == acc_w
    assert all(b[j][1] == b[j + 1][0] for j in range(len(b) - 1))
    widths = [h - l for l, h in b]
    assert min(widths) >= 2
    # near-even split; from 3 segments on, the top one (carry in, sign extension) is a bit shorter
    assert max(widths) - min(widths) <= (2 if segments >= 3 else 1)
    assert widths == sorted(widths, reverse=True)
    if segments >= 3 and acc_w >= 3 * segments:
        assert widths[-1] < widths[0]


def test_segments_of_the_default_accumulator():
    assert [h - l for l, h in segment_bounds(27, 3)] == [10, 9, 8]
    assert [h - l for l, h in segment_bounds(27, 4)] == [7, 7, 7, 6]
    assert [h - l for l, h in segment_bounds(27, 2)] == [14, 13]


def test_latency_and_gap():
    for design, plans in PIPELINES.items():
        for p, (stages, segs) in plans.items():
            cfg = make_config(design, coding=None if design == "mac" else "bitwise", pipeline=p)
            assert cfg.latency == 1 + p == 1 + len(stages) + segs - 1
            assert cfg.gap == segs - 1


def test_reset_cycles():
    """rst must reach through the plain (reset-less) MAC pair-sum/product registers: 2 cycles, plus
    one per such stage; the manifest carries the figure (checked at gate-like X start in
    testbench/test_xinit.py)."""
    from neurosim.rtl.build import manifest_entry
    want = {"mac": {0: 2, 1: 2, 2: 2, 3: 3, 4: 3, 5: 4, 6: 4}}
    for design, plans in PIPELINES.items():
        for p in plans:
            cfg = make_config(design, coding=None if design == "mac" else "bitwise", pipeline=p)
            assert cfg.reset_cycles == want.get(design, {}).get(p, 2)
            assert manifest_entry(cfg)["reset_cycles"] == cfg.reset_cycles
