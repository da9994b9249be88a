import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurosim import NeurosimError
from neurosim.core.coding import CODINGS, decode, encode, required_steps, spike_stats, step_weights

shapes = st.tuples(st.integers(1, 5), st.integers(1, 12))


def counts_for(coding, lo=-300, hi=300):
    lo = 0 if coding == "binary" else lo
    return arrays(np.int64, shapes, elements=st.integers(lo, hi))


@pytest.mark.parametrize("coding", CODINGS)
@given(data=st.data())
def test_round_trip_data_derived_T(coding, data):
    c = data.draw(counts_for(coding))
    s = encode(c, coding)
    assert s.dtype == np.int8 and s.shape == (required_steps(c, coding),) + c.shape
    np.testing.assert_array_equal(decode(s, coding), c)


@pytest.mark.parametrize("coding", CODINGS)
@given(data=st.data())
def test_round_trip_fixed_T_and_values(coding, data):
    c = data.draw(counts_for(coding, -128, 127))
    T = data.draw(st.integers(required_steps(c, coding), required_steps(c, coding) + 3))
    s = encode(c, coding, T)
    assert s.shape[0] == T
    allowed = {0, 1} if coding in ("binary", "bitwise_2c") else {-1, 0, 1}
    assert set(np.unique(s).tolist()) <= allowed
    np.testing.assert_array_equal(decode(s, coding), c)


def test_known_patterns():
    assert encode(np.array([5]), "bitwise", 4)[:, 0].tolist() == [0, 1, 0, 1]
    assert encode(np.array([-5]), "bitwise", 3)[:, 0].tolist() == [-1, 0, -1]
    assert encode(np.array([-1]), "bitwise_2c", 4)[:, 0].tolist() == [1, 1, 1, 1]
    assert encode(np.array([-128]), "bitwise_2c", 8)[:, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert encode(np.array([3]), "binary", 5)[:, 0].tolist() == [1, 1, 1, 0, 0]
    assert encode(np.array([-2]), "ternary", 3)[:, 0].tolist() == [-1, -1, 0]
    assert step_weights("bitwise_2c", 4).tolist() == [-8, 4, 2, 1]
    assert step_weights("bitwise", 3).tolist() == [4, 2, 1]
    assert step_weights("ternary", 3).tolist() == [1, 1, 1]


def test_required_steps():
    assert required_steps(np.array([127, -127]), "bitwise") == 7
    assert required_steps(np.array([-128, 127]), "bitwise_2c") == 8
    assert required_steps(np.array([128]), "bitwise_2c") == 9
    assert required_steps(np.array([0, 0]), "bitwise") == 1
    assert required_steps(np.array([-9, 4]), "ternary") == 9


def test_counts_that_do_not_fit_raise():
    with pytest.raises(NeurosimError, match="do not fit a bitwise window of T=7"):
        encode(np.array([200]), "bitwise", 7)
    with pytest.raises(NeurosimError, match="bitwise_2c"):
        encode(np.array([-129]), "bitwise_2c", 8)
    with pytest.raises(NeurosimError, match="non-negative"):
        encode(np.array([-1]), "binary")
    with pytest.raises(NeurosimError, match="unknown coding"):
        encode(np.array([1]), "unary")
    with pytest.raises(NeurosimError, match="integers"):
        encode(np.array([1.5]), "bitwise")
    with pytest.raises(NeurosimError, match="positive integer"):
        encode(np.array([1]), "bitwise", 0)
    with pytest.raises(NeurosimError, match="values in"):
        decode(np.array([[2]], np.int8), "bitwise")


def test_spike_stats_by_hand():
    # counts of 2 rows x 3 channels; channel 2 silent over both rows
    c = np.array([[3, -1, 0], [4, 0, 0]])
    st_ = spike_stats(c, "bitwise", T=8)
    # bitwise spikes: 3 -> 2, -1 -> 1, 4 -> 1; data T = 3 bits
    assert st_["spikes"] == 4 and st_["T_data"] == 3 and st_["T_fixed"] == 8
    assert st_["sparsity_fixed"] == pytest.approx(1 - 4 / 48)
    assert st_["sparsity_data"] == pytest.approx(1 - 4 / 18)
    assert st_["sparsity_window3"] == pytest.approx(1 - 4 / 18)
    assert st_["spikes_per_activation"] == pytest.approx(4 / 6)
    assert st_["zero_fraction"] == pytest.approx(3 / 6)
    assert st_["silent_channel_fraction"] == pytest.approx(1 / 3)
    # fixed window of 8, MSB first: bit 2 (4) at step 5, bit 1 at step 6, bit 0 at step 7
    assert st_["spikes_per_step"] == [0, 0, 0, 0, 0, 1, 1, 2]
    t = spike_stats(c, "ternary")
    assert t["spikes"] == 8 and t["T_data"] == 4 and t["spikes_per_step"] == [3, 2, 2, 1]
    assert spike_stats(np.array([[5]]), "bitwise")["sparsity_window3"] == pytest.approx(1 - 2 / 3)
    assert spike_stats(np.array([[9]]), "bitwise")["sparsity_window3"] == pytest.approx(1 - 2 / 6)


@pytest.mark.parametrize("coding", CODINGS)
@given(data=st.data())
def test_stats_agree_with_spike_tensor(coding, data):
    c = data.draw(counts_for(coding, -128, 127))
    T = required_steps(c, coding) + data.draw(st.integers(0, 2))
    s = encode(c, coding, T)
    st_ = spike_stats(c, coding, T)
    assert st_["spikes"] == int((s != 0).sum())
    assert st_["zeros_fixed"] == int((s == 0).sum())
    assert st_["spikes_per_step"] == (s != 0).reshape(T, -1).sum(axis=1).tolist()
    assert st_["sparsity_fixed"] == pytest.approx(float((s == 0).mean()))
    sd = encode(c, coding)
    assert st_["sparsity_data"] == pytest.approx(float((sd == 0).mean()))


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("T", [1, 2, 3, 7, 8])
def test_count_range_is_what_the_window_encodes(coding, T):
    """count_range's ends are exactly the decodes of every spike train of T steps."""
    import itertools

    from neurosim.core.coding import count_range
    steps = (0, 1) if coding in ("binary", "bitwise_2c") else (-1, 0, 1)
    trains = np.array(list(itertools.product(steps, repeat=T)), dtype=np.int8).T
    values = decode(trains, coding)
    if coding in ("binary", "ternary"):           # unary codes: a count is a prefix of ones
        values = values[np.all(np.diff(np.abs(trains.astype(int)), axis=0) <= 0, axis=0)]
    assert count_range(coding, T) == (int(values.min()), int(values.max()))
    with pytest.raises(NeurosimError, match="positive integer"):
        count_range(coding, 0)


def test_count_range_unknown_coding():
    from neurosim.core.coding import count_range
    with pytest.raises(NeurosimError, match="unknown coding"):
        count_range("morse", 3)
