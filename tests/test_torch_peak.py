"""The GPU-memory pre-flight estimate bounds what a torch spike run keeps alive: live tensor bytes
(:class:`benchmarks.torch_live.LiveBytes`) on PyTorch's CPU device, the tiny SpB2.0 layout with
work areas far shorter than its sequences (marker ``gpu``: ``make test-torch``)."""

import pytest

LENGTHS = (512, 1024)


@pytest.fixture(scope="module")
def runs(tiny):
    """Two lengths of the run that ``neurosim run --device cuda --mode spike --trace`` makes, measured;
    the logits made a row block at a time, as at long context."""
    from benchmarks.torch_peak import estimate_terms, measure_pass, scaled_blocks
    from neurosim.model import load_checkpoint
    from neurosim.model import torch_network as TN

    mc = load_checkpoint(tiny).model_config
    with scaled_blocks(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(TN, "LOGIT_ELEMENTS", LENGTHS[0] * mc.vocab_size // 2)
        return [dict(measure_pass(tiny, n, tiles=8), estimate=estimate_terms(mc, n)) for n in LENGTHS]


@pytest.mark.gpu
def test_live_bytes_count_each_storage_once_and_drop_freed_ones():
    """Views share their storage; a freed storage leaves the count; what existed before is not counted."""
    import torch

    from benchmarks.torch_live import LiveBytes

    before = torch.ones(1000)
    with LiveBytes() as lb:
        a = before * 2                   # 4,000 bytes
        views = (a[10:20], a.reshape(10, 100), before.view(10, 100))
        assert lb.live == 4000
        b = a + 1
        assert lb.live == lb.peak == 8000
        del a, views
        assert lb.live == 4000
        del b
        assert lb.live == 0 and lb.peak == 8000


@pytest.mark.gpu
def test_estimate_bounds_the_measured_peak_at_each_length(runs):
    """The estimate's activation part (less the weights and the reserve) is at least the peak of live
    tensor bytes of the whole run at every length."""
    for r in runs:
        assert r["peak_bytes"] <= r["estimate"]["activation_bytes"], r["tokens"]
        assert r["phase_peak_bytes"]["spike pass"] > 0 and r["phase_peak_bytes"]["fp pass"] > 0


@pytest.mark.gpu
def test_per_token_term_bounds_the_measured_slope(runs):
    """Between the two lengths, the measured bytes per token (of the whole run and of each pass) are at
    most the estimate's per-token term, and not far below it (a term twice too large fails too)."""
    from benchmarks.torch_peak_report import slopes

    per_token = runs[-1]["estimate"]["per_token_bytes"]
    measured = [s for _, _, s in slopes(runs)]
    for phase in ("fp pass", "spike pass"):
        measured += [s for _, _, s in slopes([dict(r, p=r["phase_peak_bytes"][phase]) for r in runs], "p")]
    assert max(measured) <= per_token
    assert max(measured) >= per_token / 2
