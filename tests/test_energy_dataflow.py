"""Dataflow access counts against hand-computed counts on small hand-made traces."""

import json

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.hwmodels import dataflow as df

ACC = 27


def proj(counts, n=16, name="p"):
    return df.Projection.from_counts(name, np.array(counts, dtype=np.int64), n)


def test_all_zero_rows():
    p = proj([[0, 0, 0, 0], [0, 0, 0, 0]])          # 2 tokens, K = 4, N = 16: 2 groups
    d = df.mac_dense(p)
    assert (d.groups, d.busy_cycles, d.weight_row_reads) == (2, 8, 8)
    assert d.buffer_write_bits == 2 * 4 * 8 and d.buffer_read_bits == 8 * 8
    assert d.output_write_bits == 2 * 16 * ACC and d.accumulator_updates == 8 * 16
    z = df.mac_zero_skip(p)
    assert (z.busy_cycles, z.weight_row_reads, z.buffer_write_bits, z.buffer_read_bits) == (0, 0, 0, 0)
    for fn in (df.spike_barrel_held, df.spike_barrel_per_event, df.spike_horner):
        a = fn(p)
        assert (a.busy_cycles, a.weight_row_reads, a.buffer_read_bits) == (0, 0, 0)
        assert a.output_write_bits == 2 * 16 * ACC   # outputs are written even when they are zero


def test_one_spike():
    p = proj([[0, 1, 0, 0]])
    for fn in (df.spike_barrel_held, df.spike_barrel_per_event, df.spike_horner):
        a = fn(p)
        assert (a.busy_cycles, a.weight_row_reads) == (1, 1)
        # entry: channel 2 bits (K=4) + step 3 bits (T=7) + sign 1 bit
        assert a.notes["entry_bits"] == 6 and a.buffer_write_bits == 6 and a.buffer_read_bits == 6
    z = df.mac_zero_skip(p)
    assert (z.busy_cycles, z.weight_row_reads, z.buffer_write_bits) == (1, 1, 8 + 2)
    assert df.mac_dense(p).weight_row_reads == 4


def test_channel_with_several_bits_and_two_groups():
    p = proj([[7, 0, 0, 0]], n=32)                   # 7 = 0b111: three events; N=32: 2 groups
    held, per_ev, horner = df.spike_barrel_held(p), df.spike_barrel_per_event(p), df.spike_horner(p)
    assert held.groups == 2
    assert held.busy_cycles == 2 * 3 and held.weight_row_reads == 2 * 1      # row held across its spikes
    assert per_ev.weight_row_reads == 2 * 3 and horner.weight_row_reads == 2 * 3
    assert held.buffer_write_bits == 3 * 6 and held.buffer_read_bits == 2 * 3 * 6
    assert df.mac_zero_skip(p).weight_row_reads == 2 and df.mac_dense(p).weight_row_reads == 8
    # ternary (unary): 7 events of one channel, no step field
    t = df.spike_barrel_held(p, coding="ternary")
    assert (t.busy_cycles, t.weight_row_reads, t.notes["entry_bits"]) == (14, 2, 3)
    assert df.spike_horner(p, coding="ternary").weight_row_reads == 14


def test_negative_counts():
    p = proj([[-5, -1, 0, 0]])
    # sign-magnitude: |-5| = 0b101 (2 events), |-1| (1 event)
    assert df.spike_horner(p).busy_cycles == 3
    assert df.spike_barrel_held(p).weight_row_reads == 2
    # two's complement, T=8: -5 = 0b11111011 (7 ones), -1 = 0b11111111 (8 ones); no sign field
    h2 = df.spike_horner(p, coding="bitwise_2c")
    assert h2.busy_cycles == 15 and h2.notes["entry_bits"] == 2 + 3
    assert df.spike_barrel_held(p, coding="bitwise_2c").weight_row_reads == 2
    assert df.spike_barrel_held(p, coding="ternary").busy_cycles == 6
    with pytest.raises(NeurosimError, match="binary coding cannot carry negative counts"):
        df.spike_horner(p, coding="binary")


def test_window_and_histogram_checks():
    with pytest.raises(NeurosimError, match="do not fit"):
        df.spike_horner(proj([[200, 0]]))
    with pytest.raises(NeurosimError, match="expected tokens x in_features"):
        df.Projection("p", 4, 16, 2, np.array([0]), np.array([3]))
    with pytest.raises(NeurosimError, match="unknown dataflow"):
        df.accesses(proj([[1]]), "mac_sparse")


def test_reads_a_trace_folder(tmp_path):
    counts = np.array([[0, 3, -2, 0], [1, 0, 0, 0]], dtype=np.int64)
    v, f = np.unique(counts, return_counts=True)
    summary = {"schema_version": 1, "layers": [{"layer": 0, "kind": "attention", "projections": [
        {"name": "model.layers.0.mlp.up_proj.weight", "kind": "mlp", "in_features": 4, "out_features": 20,
         "tokens": 2}]}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    np.savez(tmp_path / "stats.npz", **{"model.layers.0.mlp.up_proj.weight/values": v,
                                        "model.layers.0.mlp.up_proj.weight/freq": f})
    (p,) = df.projections_from_trace(tmp_path)
    assert (p.in_features, p.out_features, p.tokens, p.nonzero) == (4, 20, 2, 3)
    # 3 = 0b11 (2 events), -2 = 0b10 (1), 1 (1): 4 events; N=20 -> 2 groups per token
    a = df.spike_horner(p)
    assert (a.groups, a.busy_cycles, a.weight_row_reads) == (4, 8, 8)
    assert df.spike_barrel_held(p).weight_row_reads == 2 * 3
