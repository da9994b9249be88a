import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim import NeurosimError
from neurosim.core import dense_linear, exact_chunk, exact_linear, spike_events
from neurosim.core.coding import CODINGS, encode, required_steps
from neurosim.core.dense import F32_EXACT, MIN_CHUNK
from neurosim.core.engine import PackedWeights, int_linear, spike_linear

from cases import draw_linear_case, python_ints


@pytest.mark.parametrize("coding", CODINGS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_dense_equals_engine(coding, data):
    """Same integers (and dtype), same events, accumulates and dense MACs as the event engine."""
    counts, w, T = draw_linear_case(data, coding, 4, 60, 70)
    ev = spike_linear(counts, w, coding, T)
    de = dense_linear(counts, w, coding, T)
    assert de.out.dtype == ev.out.dtype
    np.testing.assert_array_equal(de.out, ev.out)
    assert (de.events, de.accumulates, de.dense_macs) == (ev.events, ev.accumulates, ev.dense_macs)
    Tt = T if T is not None else required_steps(counts, coding)
    assert de.events == int((encode(counts, coding, Tt) != 0).sum())


def test_chunks_keep_float32_exact():
    # worst case per chunk: 127 * 128 * chunk <= 2^24, and the sum over K = 9728 is far above 2^24
    assert exact_chunk(127) * 127 * 128 <= F32_EXACT < (exact_chunk(127) + 1) * 127 * 128
    K = 9728
    for sign in (1, -1):
        counts = np.full((2, K), 127 * sign, np.int32)
        counts[1, ::2] = -128
        w = np.full((3, K), -128, np.int8)
        w[1] = 127
        w[2, ::3] = 127
        got = exact_linear(counts, w)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, python_ints(counts, w).astype(np.int64))
        np.testing.assert_array_equal(got, int_linear(counts, w))


def test_large_counts_use_wider_exact_paths():
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (5, 300)).astype(np.int8)
    # float64 chunks: chunk of float32 would be < MIN_CHUNK
    big = rng.integers(-(2**20), 2**20, (3, 300))
    assert exact_chunk(np.abs(big).max()) < MIN_CHUNK
    got = exact_linear(big, w)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, python_ints(big, w).astype(np.int64))
    # beyond every float: int64 matmul
    huge = np.full((1, 300), 2**47, np.int64)
    huge[0, 1::2] = -(2**47) + 3
    np.testing.assert_array_equal(exact_linear(huge, w), python_ints(huge, w).astype(np.int64))


def test_leading_dims_packed_weights_and_bad_input():
    rng = np.random.default_rng(2)
    counts = rng.integers(-30, 30, (2, 3, 40))
    w = rng.integers(-128, 128, (9, 40)).astype(np.int8)
    r = dense_linear(counts, PackedWeights(w), "ternary")
    assert r.out.shape == (2, 3, 9)
    np.testing.assert_array_equal(r.out, int_linear(counts, w))
    assert r.events == int(np.abs(counts).sum()) == spike_events(counts, "ternary", 30)
    with pytest.raises(NeurosimError, match="does not match"):
        exact_linear(np.zeros((1, 41), np.int32), w)
    with pytest.raises(NeurosimError, match="int8"):
        dense_linear(np.zeros((1, 40), np.int32), w.astype(np.int16), "bitwise")
    with pytest.raises(NeurosimError, match="do not fit"):
        dense_linear(np.full((1, 40), 200), w, "bitwise", T=7)


# --- the runner's --engine option (spike mode: event | dense, identical integers and counts) ---

PROMPT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from neurosim.cli import main

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(out)]) == 0
    return out


@pytest.mark.parametrize("coding", ["bitwise", "bitwise_2c"])
def test_runner_engine_dense_equals_event(tiny, coding):
    from neurosim.run import Settings, execute

    runs = {}
    for mode, engine in (("spike", None), ("spike", "dense"), ("int8", None)):
        s = Settings(model=str(tiny), prompt=PROMPT, mode=mode, engine=engine, coding=coding).validate()
        runs[mode, engine] = execute(s, quiet=True)
    ev, de, i8 = runs["spike", None], runs["spike", "dense"], runs["int8", None]
    assert ev["totals"]["events"] > 0
    for other in (de, i8):
        assert other["accuracy"] == ev["accuracy"]
        assert other["totals"] == ev["totals"] and other["layers"] == ev["layers"]


@pytest.mark.parametrize("argv, msg", [
    (["--mode", "int8", "--engine", "event"], "engine event applies to spike mode"),
    (["--engine", "sparse"], "invalid choice"),
])
def test_runner_engine_bad_input(tiny, tmp_path, capsys, argv, msg):
    from neurosim.cli import main

    out = tmp_path / "t"
    try:
        rc = main(["run", "--model", str(tiny), "--trace", str(out)] + argv)
    except SystemExit as exc:  # argparse rejects an unknown choice itself
        rc = exc.code
    assert rc == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()
