"""neurosim.rtl.protocol: the one lane-array port protocol (manifest entry, packing, sequencer)."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.core.coding import encode
from neurosim.rtl import protocol
from neurosim.rtl.build import emit


def test_weights_and_accumulators_round_trip():
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, size=5)
    v = protocol.pack_weights(w)
    assert [((v >> (8 * i)) & 0xFF) - (256 if (v >> (8 * i + 7)) & 1 else 0) for i in range(5)] == w.tolist()
    lanes, acc_w = 4, 11
    vals = [-1024, 1023, 0, -1]
    packed = sum((x & ((1 << acc_w) - 1)) << (acc_w * i) for i, x in enumerate(vals))
    assert protocol.decode_acc(packed, lanes, acc_w) == vals


def test_manifest_entry_round_trip(tmp_path):
    d = emit("spike", coding="bitwise", variant="horner", lanes=2, k=8, pipeline=2, out_dir=tmp_path)
    e = protocol.ManifestEntry.from_dict(dict(d, _dir="ignored", family="generator"))
    assert e.to_dict() == d
    assert set(e.inputs) == {"clk", "rst", "valid", "clear", "last", "neg", "step", "w"}
    assert {p.name: p.role for p in e.ports}["step"] == "control"
    assert e.inputs["w"].width == 16 and e.inputs["w"].elems == 2


def test_port_streams_hold_operands_and_zero_controls(tmp_path):
    d = emit("mac", lanes=2, k=4, pipeline=1, out_dir=tmp_path)
    counts, W = np.array([3, -2, 0, 5]), np.array([[1, 2, 3, 4], [-1, -2, -3, -4]], np.int8)
    cycles, expected = protocol.dot_product(d, counts, W)
    assert expected.tolist() == (W.astype(np.int64) @ counts).tolist()
    cols = protocol.port_streams(d, cycles + [protocol.idle_cycle()])
    assert cols["valid"] == [1, 1, 1, 1, 0] and cols["clear"] == [1, 0, 0, 0, 0]
    assert cols["last"] == [0, 0, 0, 1, 0]
    assert cols["a"] == [3, 254, 0, 5, 5]             # unsigned; held in the idle cycle
    assert cols["w"][-1] == cols["w"][-2] == protocol.pack_weights([4, -4])


@pytest.mark.parametrize("coding,variant", [("bitwise", "barrel"), ("bitwise", "horner"),
                                            ("bitwise_2c", "barrel"), ("ternary", None)])
def test_spike_events_one_cycle_per_spike(coding, variant):
    counts = np.array([5, 0, -3, 7])
    T = 8 if coding == "bitwise_2c" else 7
    spikes = encode(counts[None, :], coding, T)[:, 0, :]
    W = np.ones((1, 4), np.int8)
    cyc = protocol.spike_events(spikes, coding, variant, W)
    assert sum(c["valid"] for c in cyc) == np.count_nonzero(spikes)
    if variant == "horner":                       # every step after the first starts with a strobe
        assert sum(c["step"] for c in cyc) == T - 1
    framed = protocol.frame([])
    assert framed == [dict(protocol.idle_cycle(), clear=1, last=1)]


def test_hw_stream_for_every_spike_kind(tmp_path):
    """The gate-level stimulus uses the same sequencer: Horner and two's complement streams too."""
    from neurosim.hwmodels.stimulus import build_stream, synthetic_source
    src = synthetic_source(2, 6, 2, "bitwise_2c", T=8, seed=1)
    for variant in ("barrel", "horner"):
        d = emit("spike", coding="bitwise_2c", variant=variant, lanes=2, k=6, pipeline=1, out_dir=tmp_path)
        st = build_stream(src, "spike", d)
        assert st.events == np.count_nonzero(src.spikes)
        assert ("step" in st.inputs) == (variant == "horner")


def test_stimulus_never_wraps_weights_counts_or_operands(tmp_path):
    """The RTL stimulus refuses values the ports cannot hold instead of masking them to the width."""
    from neurosim import NeurosimError
    with pytest.raises(NeurosimError, match=r"weight w\[1\] = 128 is outside INT8"):
        protocol.pack_weights([3, 128])
    with pytest.raises(NeurosimError, match=r"weight w\[0\] = -129"):
        protocol.pack_weights([-129])
    d = emit("mac", lanes=2, k=4, pipeline=0, out_dir=tmp_path)
    counts = np.array([3, -2, 0, 5])
    with pytest.raises(NeurosimError, match=r"^W: 1 code\(s\) outside INT8"):
        protocol.dot_product(d, counts, np.array([[1, 2, 3, 200], [0, 0, 0, 0]], np.int16))
    with pytest.raises(NeurosimError, match=r"counts reach \[-2, 300\], outside the range \[-128, 127\]"):
        protocol.dot_product(d, np.array([3, -2, 0, 300]), np.zeros((2, 4), np.int8))
    # in-range wide integer weights are accepted and give the same stream as int8 ones
    W = np.array([[1, 2, 3, -128], [0, 127, 0, 0]])
    assert protocol.dot_product(d, counts, W)[0] == protocol.dot_product(d, counts, W.astype(np.int8))[0]
    with pytest.raises(NeurosimError, match=r"port a = 200 is outside its range \[-128, 127\]"):
        protocol.pack_cycles(d, [{"valid": 1, "a": 200, "w": [0, 0]}])
    s = emit("spike", coding="bitwise", variant="barrel", lanes=2, k=4, pipeline=0, out_dir=tmp_path)
    with pytest.raises(NeurosimError, match=r"port sh = 8 is outside its range \[0, 7\]"):
        protocol.pack_cycles(s, [{"valid": 1, "sh": 8, "neg": 0, "w": [0, 0]}])
    with pytest.raises(NeurosimError, match=r"counts reach \[0, 128\], outside the range \[-127, 127\]"):
        protocol.dot_product(s, np.array([0, 128, 1, 1]), np.zeros((2, 4), np.int8))
